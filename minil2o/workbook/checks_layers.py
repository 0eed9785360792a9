"""The checks of the layers' exercises (chapters 2, 3 and 6): the linear layer's, the sigmoid's and
the tanh's backward passes, and softmax cross entropy; and the tools the checks of
minil2o/workbook/checks_stateful.py share with them.

Each check is a property over drawn cases (minil2o/workbook/measure.py): `check(case)` draws the
case's shapes and settings from `case.rng`, notes them on the case, calls the function under test
through `impl(name)` and returns its Measures: every output against an independent answer, and the
exercise's contract (shapes, dtypes, inputs left as they were).
"""
import numpy as np

from .. import layers
from ..backend import asarray
from ..gradcheck import check_gradients, rel_error, vjp_objective
from .lookup import impl
from .measure import (F32, TOL, draw_dims, entry_error, float32_case, guarded_call, host, Measure,
                      named, normal, shape_and_dtype)


def linear_backward(case):
    """linear_backward(dout, cache) on x: (N, D), W: (D, M), sizes 1 to 7 drawn per case, against
    central differences of <x W + b, dout> with h = 1 (the function is linear in each input, so a
    difference quotient has no truncation error, and a large h leaves rounding at ~1e-16: with
    h = 1e-6 a right dx of N = 1 reached 3e-7); in a float32 case, against its own float64
    answer on the same (rounded) inputs."""
    N, D, M = draw_dims(case.rng, 3)
    dtype = "float32" if float32_case(case) else "float64"
    case.note(N=N, D=D, M=M, dtype=dtype)
    x, W, b = (normal(case.rng, s) for s in ((N, D), (D, M), (M,)))
    dout = normal(case.rng, (N, M))
    fn = impl("linear_backward")
    if dtype == "float32":
        as32 = lambda a: asarray(a, dtype="float32")  # noqa: E731
        got, kept = guarded_call(fn, (as32(dout), (as32(x), as32(W))), ["dout", "cache"])
        got = named(("dx", "dW", "db"), got)
        up = lambda a: asarray(as32(a), dtype="float64")  # noqa: E731
        want = named(("dx", "dW", "db"), fn(up(dout), (up(x), up(W))))
        return [*kept, *shape_and_dtype(got, {"dx": ((N, D), "float32"), "dW": ((D, M), "float32"),
                                              "db": ((M,), "float32")}),
                *[Measure(k, rel_error(got[k], want[k]), F32, kind="float32 against float64")
                  for k in got]]
    got, kept = guarded_call(fn, (dout, (x, W)), ["dout", "cache"])
    got = named(("dx", "dW", "db"), got)
    shapes = shape_and_dtype(got, {"dx": x, "dW": W, "db": b})
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    forward = lambda x, W, b: layers.linear_forward(x, W, b)[0]  # noqa: E731
    errors = check_gradients(vjp_objective(forward, dout), {"x": x, "W": W, "b": b},
                             {"x": got["dx"], "W": got["dW"], "b": got["db"]}, h=1.0,
                             verbose=False)
    return [*kept, *shapes, *[Measure(f"d{k}", e, TOL) for k, e in errors.items()]]


# -- shared: drawing inputs -----------------------------------------------------------------------
SHAPE_KINDS = ("2-d", "1-d", "3-d", "2-d", "size 1")
"""The shapes an elementwise function is tried on, one per case in turn."""


def any_shape(case):
    """A shape for case i: 1-d, 2-d or 3-d with sizes 1 to 6 drawn, or every size 1 (of 1 to 3
    axes); noted on the case."""
    kind = SHAPE_KINDS[case.index % len(SHAPE_KINDS)]
    ndim = {"1-d": 1, "2-d": 2, "3-d": 3}.get(kind, int(case.rng.integers(1, 4)))
    shape = (1,) * ndim if kind == "size 1" else tuple(draw_dims(case.rng, ndim, 1, 6))
    case.note(shape=shape)
    return shape


def on_backend(dtype, *arrays):
    """Host arrays as backend arrays of `dtype`, with host float64 copies of the very values the
    backend holds (a float32 case's reference is computed on its rounded inputs)."""
    moved = [asarray(np.asarray(a, dtype=dtype), dtype=dtype) for a in arrays]
    return moved, [np.asarray(a, dtype=dtype).astype(np.float64) for a in arrays]


def compared(name, got, want, dtype, equation="", entrywise=False):
    """The Measure of output `name` against its float64 reference `want`: the relative error
    (2.5) within TOL in a float64 case (the largest entrywise one when `entrywise`), within F32 in
    a float32 case (float32 rounding)."""
    if dtype == "float32":
        return Measure(name, rel_error(got, want), F32, equation, "float32 relative error")
    if entrywise:
        return Measure(name, entry_error(got, want), TOL, equation,
                       "largest entrywise relative error")
    return Measure(name, rel_error(got, want), TOL, equation)


# -- the activations' backward passes -------------------------------------------------------------
def host_sigmoid(x):
    """sigma(x) on the host, in float64, accurate for every x (no exp of a positive number)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


ACTIVATIONS = {
    # name: (host forward, sigma' from the output, the equation, |x| at most)
    "sigmoid": (host_sigmoid, lambda out: out * (1.0 - out), "(2.6), chapter 2", 7.0),
    "tanh": (np.tanh, lambda out: 1.0 - out * out, "(3.7), chapter 3", 3.5),
}
X_SCALES = (2.0, 0.3, 5.0)
"""The spread of x per case in turn: the middle, near 0, the saturated tails."""


def stencil(f, x, h=1e-3):
    """f'(x) elementwise by the 4-point central difference (f(x-2h) - 8 f(x-h) + 8 f(x+h) -
    f(x+2h)) / 12h: truncation O(h^4) ~ 1e-13 and rounding ~ 1e-16 / h, both far below 1e-9."""
    return (f(x - 2 * h) - 8 * f(x - h) + 8 * f(x + h) - f(x + 2 * h)) / (12 * h)


def activation_backward(case, name):
    """{name}_backward(dout, cache = out) for out = f(x) elementwise, on a shape of 1 to 3 axes
    (sizes 1 to 6, or all 1), x spread by 0.3, 2 or 5 (clipped where f saturates so far that a
    difference quotient loses its digits). dx is compared with the host closed form dout f'(x)
    (f' from out) and with a 4-point central difference of the host f at x; dout and out must be
    left as they were, dx must have dout's shape and dtype. A float32 case (x within 1.5: the
    closed form's rounding stays ~1e-7) is compared with the float64 closed form of its rounded
    inputs at the float32 bound."""
    forward, derivative, equation, limit = ACTIVATIONS[name]
    shape = any_shape(case)
    dtype = "float32" if float32_case(case) else "float64"
    scale = X_SCALES[case.index % len(X_SCALES)]
    limit = 1.5 if dtype == "float32" else limit
    case.note(x_scale=scale, dtype=dtype)
    x = np.clip(scale * case.rng.standard_normal(shape), -limit, limit)     # shape
    (dout, out), (dout_h, out_h) = on_backend(dtype, case.rng.standard_normal(shape), forward(x))
    got, kept = guarded_call(impl(f"{name}_backward"), (dout, out), ["dout", "cache"])
    shapes = shape_and_dtype({"dx": got}, {"dx": (shape, dtype)})
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    found = [*kept, *shapes, compared("dx", got, dout_h * derivative(out_h), dtype, equation)]
    if dtype == "float64":
        found.append(Measure("dx (against central differences)",
                             rel_error(got, dout_h * stencil(forward, x)), TOL, equation))
    return found


def sigmoid_backward(case):
    """sigmoid_backward: see activation_backward."""
    return activation_backward(case, "sigmoid")


def tanh_backward(case):
    """tanh_backward: see activation_backward."""
    return activation_backward(case, "tanh")


# -- softmax cross entropy ------------------------------------------------------------------------
LOGIT_REGIMES = ("scale 1e3", "rows offset by 3e2 to 1e4", "scale 3", "scale 3")
"""The logits per case in turn (a float32 case, one in four, takes the last)."""


def draw_logits(case, regime, N, C):
    """(N, C) host logits of `regime`: scale 1e3 with every row's largest entry above 750 (exp of
    it overflows), rows offset by +-3e2 to 1e4 (one shift for all rows underflows some), or
    scale 3."""
    rng = case.rng
    if regime == "scale 1e3":
        z = 1e3 * rng.standard_normal((N, C))                               # (N, C)
        top = rng.integers(0, C, size=N)
        z[np.arange(N), top] = np.abs(z[np.arange(N), top]) + 750.0
        return z
    if regime.startswith("rows offset"):
        offsets = rng.choice([-1.0, 1.0], N) * 10.0 ** rng.uniform(2.5, 4.0, N)   # (N,)
        return 3.0 * rng.standard_normal((N, C)) + offsets[:, None]
    return 3.0 * rng.standard_normal((N, C))


def host_softmax_cross_entropy(z, labels):
    """The mean loss and (p - y) / N in float64 on the host, by a row-wise log-sum-exp."""
    N = z.shape[0]
    m = np.max(z, axis=1, keepdims=True)                                    # (N, 1)
    lse = m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))          # (N, 1)
    y = np.eye(z.shape[1])[labels]                                          # (N, C)
    loss = np.mean(lse[:, 0] - z[np.arange(N), labels])
    return loss, (np.exp(z - lse) - y) / N


def softmax_cross_entropy(case):
    """softmax_cross_entropy(logits, y) on N = 1 to 7 rows (N = 1 every sixth case) of C = 2 to 7
    classes (C = 2 every fifth), one-hot y, logits of scale 1e3, rows offset by up to 1e4 and of
    scale 3 in turn. The loss is compared with a host log-sum-exp as |L - L_ref| / (1 + |L_ref|)
    (a loss that is ~0 while the logits are ~1e3 has rounding ~1e-13 in absolute terms, none
    relative), dlogits with the host closed form (p - y) / N (central differences lose all digits
    at 1e3) by a relative error whose norms are taken at least 1/N (one row's largest entry: where
    every row is right with certainty, p - y is known to ~1e-16 in absolute terms only).
    Contract: the loss is 0-d, both outputs keep the logits' dtype, logits and y are left as they
    were; a float32 case (scale 3) against the float64 answer of its rounded inputs."""
    rng = case.rng
    dtype = "float32" if float32_case(case) else "float64"
    regime = LOGIT_REGIMES[case.index % len(LOGIT_REGIMES)]
    N = 1 if case.index % 6 == 4 else int(rng.integers(2, 8))
    C = 2 if case.index % 5 == 1 else int(rng.integers(2, 8))
    case.note(N=N, C=C, logits=regime, dtype=dtype)
    labels = rng.integers(0, C, size=N)                                     # (N,)
    (logits, y), (z, _) = on_backend(dtype, draw_logits(case, regime, N, C), np.eye(C)[labels])
    got, kept = guarded_call(impl("softmax_cross_entropy"), (logits, y), ["logits", "y"])
    got = named(("loss", "dlogits"), got, "outputs")
    shapes = shape_and_dtype(got, {"loss": ((), dtype), "dlogits": ((N, C), dtype)})
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    loss, dlogits = host_softmax_cross_entropy(z, labels)
    error = abs(float(host(got["loss"])) - loss) / (1.0 + abs(loss))
    return [*kept, *shapes,
            Measure("loss", error, F32 if dtype == "float32" else TOL,
                    "(6.2), chapter 6 (the mean over the N rows)", "error relative to 1 + |loss|"),
            Measure("dlogits", floored_error(got["dlogits"], dlogits, 1.0 / N),
                    F32 if dtype == "float32" else TOL, "(6.3), chapter 6",
                    "relative error (norms at least 1/N)")]


def floored_error(actual, desired, floor):
    """The relative error (2.5) with ||actual|| + ||desired|| taken at least `floor`: where every
    row is predicted right with certainty, p - y is ~1e-16 and known to ~1e-16 only."""
    a, d = host(actual).ravel(), desired.ravel()
    return float(np.linalg.norm(a - d) / max(np.linalg.norm(a) + np.linalg.norm(d), floor))


