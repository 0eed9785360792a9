"""The checks of chapters 3, 7 and 8's backward passes: one LSTM step, backpropagation through
time, the convolution and the Gram matrix.

Each check is a property over drawn cases (minil2o/workbook/measure.py): `check(case)` draws the
case's shapes and regimes from `case.rng`, notes them on the case, calls the function under test
through `impl(name)` and returns its Measures: every output against the complex-step derivative
of the library's forward pass (float64 exact), and the exercise's contract (shapes, dtypes,
inputs left as they were). One case in four runs in float32 and is compared with the same
function's float64 answer on the same (float32-rounded) numbers.

The defaults a case names are the chapters' sizes (chapter 3's H = 4 and T = 5, the feature
network's k = 3): sizes a learner may have written in from the chapter's cells.
"""
import numpy as np

from .. import convolution, lstm
from ..backend import asarray, to_numpy, xp
from ..gradcheck import rel_error, vjp_objective
from ..problems import art_features
from .lookup import impl
from .measure import draw_dims, float32_case, guarded_call, Measure, named, shape_and_dtype, TOL

F32 = 1e-3
"""The bar of a float32 case against the same function's float64 answer on the same numbers. Not
the 1e-4 of checks_layers: a right LSTM backward pass in float32 shows up to 6e-7 here (dWh summed
over rows that cancel, dh0 carried back through T steps that shrink it), and a right answer must
stay a hundredth below its bar. A float64 result is caught by the dtype contract, a wrong formula
by the float64 cases; what this bar catches beyond them (a float16 cast, a float32-only branch)
is off by far more than 1e-3."""
STEP = 1e-30
"""The step h of the complex-step derivative (complex_step_errors)."""


# -- the independent answer -----------------------------------------------------------------------
def complex_value(f, inputs, name, x):
    """Im f(**inputs) with input `name` replaced by the complex host array x."""
    args = dict(inputs)
    args[name] = asarray(x)
    return float(np.imag(to_numpy(f(**args))))


def complex_step_errors(f, inputs, grads, h=STEP):
    """{name: relative error} of grads[name] against the complex-step derivative of scalar
    f(**inputs), entry by entry (every input drawn here has at most 225 entries):

        df/dx_k = Im f(x + i h e_k) / h + O(h^2)                     (Squire & Trapp 1998)

    No two nearly equal numbers are subtracted, so at h = 1e-30 the answer is exact to float64
    rounding, also for a gradient a millionth of f (a BPTT gradient that has vanished through
    saturated gates), where a central difference (gradcheck.check_gradients) loses its digits to
    cancellation: 2e-9 of rounding on an ordinary LSTM step, 2e-8 on a vanished dh0, where a
    right answer must stay below 1e-9. It needs a forward pass made of analytic operations
    (products, sums, tanh, slices: the LSTM, the convolution and the Gram matrix are; abs, max
    and comparisons are not), which the library's forward passes run on complex arrays as is."""
    errors = {}
    for name, analytic in grads.items():
        x = np.array(to_numpy(inputs[name]), dtype=np.complex128)
        numeric = np.zeros(x.shape)
        for k in np.ndindex(x.shape):
            old = x[k]
            x[k] = old + 1j * h
            numeric[k] = complex_value(f, inputs, name, x) / h
            x[k] = old
        errors[name] = rel_error(numeric, analytic)
    return errors


# -- drawing and the float32 cases ----------------------------------------------------------------
def two_sizes(rng, low, high):
    """Two different sizes in [low, high] (D != H, H != W): a swapped pair cannot pass."""
    a, b = draw_dims(rng, 2, low, high)
    return (a, b) if a != b else (a, b + 1 if b < high else b - 1)


def on_backend(host, dtype):
    """Host arrays (a dict or a tuple) on the backend in `dtype`."""
    if isinstance(host, dict):
        return {k: asarray(a, dtype=dtype) for k, a in host.items()}
    return tuple(asarray(a, dtype=dtype) for a in host)


def upcast(tree):
    """Every array of a nested tuple/list as float64 (the same numbers; other leaves kept): the
    float64 twin of a float32 case's arguments, caches included."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(upcast(v) for v in tree)
    return xp.astype(tree, xp.float64) if hasattr(tree, "dtype") else tree


def float32_measures(fn, args, names, arg_names, like, equations):
    """A float32 case: fn(*args) keeps the inputs and float32 (shapes `like`: {output: shape}),
    and each output is within F32 of fn(*upcast(args)), the same numbers in float64 (caches
    included, so that only the backward pass's own rounding counts)."""
    got, kept = guarded_call(fn, args, arg_names)
    got = named(names, got)
    shapes = shape_and_dtype(got, {k: (s, "float32") for k, s in like.items()})
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    want = named(names, fn(*upcast(args)))
    return [*kept, *shapes, *[Measure(k, rel_error(got[k], want[k]), F32, equations.get(k, ""),
                                      kind="float32 against float64") for k in names]]


def gradient_measures(got, like, objective, inputs, equations):
    """A float64 case: each output has the shape and dtype of its input (like: {output: input
    name}) and is within TOL of the complex-step derivative of `objective` at `inputs`."""
    shapes = shape_and_dtype(got, {k: inputs[v] for k, v in like.items()})
    if not all(m.right for m in shapes):
        return shapes
    errors = complex_step_errors(objective, inputs, {v: got[k] for k, v in like.items()})
    return [*shapes, *[Measure(k, errors[v], TOL, equations.get(k, "")) for k, v in like.items()]]


# -- chapter 3: one LSTM step, and a sequence -----------------------------------------------------
WEIGHTS = (("moderate", 0.6), ("small", 0.15), ("saturating", 1.2))
"""Weight scales: gates near 1/2, gates linear, and gates near 0 or 1 (sigma' down to ~1e-2).
A float32 case never saturates: there a gradient that has vanished to 1e-3 of its inputs carries
float32's rounding times 1e3, and the float64 cases check the regime."""
UPSTREAM = ("dh and dc", "dc = 0", "dh = 0")
"""Which gradients reach the step: both, only h's (the path through (3.5)), only the cell's."""
STEP_OUTPUTS = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
STEP_INPUTS = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
CHAPTER3 = {"H": 4}
"""Chapter 3's hidden size (its cells define N, D, H = 2, 3, 4 and T = 5 at module level): named
in a step's verdict when a case's H differs, since the gate blocks are sliced by H (a sequence's
verdict names T instead)."""


def lstm_weights_host(rng, D, H, scale):
    """Wx: (D, 4H), Wh: (H, 4H), b: (4H,) with N(0, scale^2) entries, on the host."""
    return {"Wx": scale * rng.standard_normal((D, 4 * H)),
            "Wh": scale * rng.standard_normal((H, 4 * H)),
            "b": scale * rng.standard_normal(4 * H)}


def lstm_weights_regime(i, dtype):
    """WEIGHTS[i % 3], the moderate scale instead of the saturating one in a float32 case."""
    weights = WEIGHTS[i % len(WEIGHTS)]
    return WEIGHTS[0] if dtype == "float32" and weights[0] == "saturating" else weights


def upstream_host(rng, shape, upstream):
    """dh, dc on the host, one of them zero when `upstream` says so."""
    dh, dc = rng.standard_normal(shape), rng.standard_normal(shape)
    return (0.0 * dh if upstream == "dh = 0" else dh), (0.0 * dc if upstream == "dc = 0" else dc)


def lstm_step_backward(case):
    """lstm_step_backward(dh, dc, cache) on N, D, H drawn from 1 to 5 (D != H, N = 1 in case 1 and
    every fourth after), weights small, moderate and saturating, with dh or dc zero in two cases
    of three so that the path through (3.5) and the cell's own path are each checked alone;
    all six outputs against complex-step derivatives of <h, dh> + <c, dc>, or in a float32 case
    against its own float64 answer."""
    N, = draw_dims(case.rng, 1, 1, 5)
    D, H = two_sizes(case.rng, 1, 5)
    N = 1 if case.index % 4 == 1 else N
    dtype = "float32" if float32_case(case) else "float64"
    weights, scale = lstm_weights_regime(case.index // 3, dtype)
    upstream = UPSTREAM[case.index % 3]                    # with the weights: all nine pairs
    case.note(N=N, D=D, H=H, weights=weights, upstream=upstream, dtype=dtype)
    case.default(**CHAPTER3)
    host = {"x": case.rng.standard_normal((N, D)), "h_prev": case.rng.standard_normal((N, H)),
            "c_prev": case.rng.standard_normal((N, H)),
            **lstm_weights_host(case.rng, D, H, scale)}
    dh_dc = upstream_host(case.rng, (N, H), upstream)
    fn = impl("lstm_step_backward")
    equations = {"dc_prev": "(3.5) and (3.6), chapter 3"}
    if dtype == "float32":
        args = (*on_backend(dh_dc, dtype), lstm.lstm_step_forward(**on_backend(host, dtype))[2])
        like = dict(zip(STEP_OUTPUTS, ((N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H),
                                       (4 * H,))))
        return float32_measures(fn, args, STEP_OUTPUTS, ["dh", "dc", "cache"], like,
                                equations)
    inputs = on_backend(host, dtype)
    dh, dc = on_backend(dh_dc, dtype)
    _, _, cache = lstm.lstm_step_forward(**inputs)
    got, kept = guarded_call(fn, (dh, dc, cache), ["dh", "dc", "cache"])
    got = named(STEP_OUTPUTS, got)

    def objective(**a):
        h, c, _ = lstm.lstm_step_forward(**a)
        return xp.sum(h * dh) + xp.sum(c * dc)
    return [*kept, *gradient_measures(got, dict(zip(STEP_OUTPUTS, STEP_INPUTS)), objective,
                                      inputs, equations)]


SEQUENCE_OUTPUTS = ("dx", "dh0", "dWx", "dWh", "db")
SEQUENCE_INPUTS = ("x", "h0", "Wx", "Wh", "b")
DH_SEQUENCE = ("every step", "last step only")
"""Where dh is nonzero: at every step, or only at the last (earlier steps then get their
gradient only through the recursion of (3.10): dh_prev and dc_prev carried back)."""


def lstm_backward(case):
    """lstm_backward(dh, caches) on N, D, H drawn from 1 to 4 (D != H) and T from 2 to 6 (T = 1
    in case 1 and every fourth after, N = 1 in case 2 and every fourth after), weights small,
    moderate and saturating, dh at every step or at the last step only; dx, dh0 and the weight
    gradients summed over t against complex-step derivatives of <lstm_forward(x, h0, Wx, Wh, b),
    dh>, or in a float32 case against the function's own float64 answer."""
    N, = draw_dims(case.rng, 1, 1, 4)
    D, H = two_sizes(case.rng, 1, 4)
    T = 1 if case.index % 4 == 1 else int(case.rng.integers(2, 7))
    N = 1 if case.index % 4 == 2 else N
    dtype = "float32" if float32_case(case) else "float64"
    weights, scale = lstm_weights_regime(case.index // 2, dtype)
    where = DH_SEQUENCE[case.index % 2]
    case.note(N=N, T=T, D=D, H=H, weights=weights, dh=where, dtype=dtype)
    case.default(T=5)                                      # chapter 3's T
    host = {"x": case.rng.standard_normal((N, T, D)), "h0": case.rng.standard_normal((N, H)),
            **lstm_weights_host(case.rng, D, H, scale)}
    dh_host = case.rng.standard_normal((N, T, H))
    if where == "last step only":
        dh_host[:, :T - 1, :] = 0.0
    fn = impl("lstm_backward")
    equations = {"dh0": "(3.10), chapter 3 (dh0 is what step 0 returns as dh_prev)"}
    if dtype == "float32":
        args = (*on_backend((dh_host,), dtype), lstm.lstm_forward(**on_backend(host, dtype))[1])
        like = dict(zip(SEQUENCE_OUTPUTS, ((N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))))
        return float32_measures(fn, args, SEQUENCE_OUTPUTS, ["dh", "cache"], like,
                                equations)
    inputs = on_backend(host, dtype)
    dh, = on_backend((dh_host,), dtype)
    _, caches = lstm.lstm_forward(**inputs)
    got, kept = guarded_call(fn, (dh, caches), ["dh", "cache"])
    got = named(SEQUENCE_OUTPUTS, got)
    objective = vjp_objective(lambda **a: lstm.lstm_forward(**a)[0], dh)
    return [*kept, *gradient_measures(got, dict(zip(SEQUENCE_OUTPUTS, SEQUENCE_INPUTS)),
                                      objective, inputs, equations)]


# -- chapter 7: the convolution -------------------------------------------------------------------
KERNELS = (5, 1, 3)
"""Kernel sizes k, one per case in turn: conv2d_forward takes any odd k (SAME padding, stride 1,
no other setting); 3 is the feature network's, 1 a pure channel mix, 5 pads wider than some
images."""


def conv2d_backward(case):
    """conv2d_backward(dout, cache) on x: (N, C, H, W), w: (F, C, k, k) with k = 5, 1, 3 in turn,
    N from 1 to 2, C and F from 1 to 3, H != W from 1 to 6 (H = 1 under k = 5 in case 0 and every
    sixth after); dx, dw, db against complex-step derivatives of <conv2d_forward(x, w, b), dout>,
    or in a float32 case against the function's own float64 answer. (*) In a float32 case dout
    has mean 1, so that db's sum over N H W does not cancel down to where float32's rounding of it
    is more than 1e-6 of it."""
    k = KERNELS[case.index % len(KERNELS)]
    N, = draw_dims(case.rng, 1, 1, 2)
    C, F = draw_dims(case.rng, 2, 1, 3)
    H, W = two_sizes(case.rng, 1, 6)
    H, W = (1, max(W, 2)) if case.index % 6 == 0 else (H, W)  # one row under a 5 x 5 kernel
    dtype = "float32" if float32_case(case) else "float64"
    case.note(N=N, C=C, F=F, H=H, W=W, k=k, dtype=dtype)
    case.default(k=3)
    host = {"x": case.rng.standard_normal((N, C, H, W)),
            "w": case.rng.standard_normal((F, C, k, k)) / k,
            "b": case.rng.standard_normal(F)}
    dout_host = case.rng.standard_normal((N, F, H, W)) + (dtype == "float32")  # (*)
    fn = impl("conv2d_backward")
    equations = {"dx": "(7.2) and col2im (7.4), chapter 7"}
    if dtype == "float32":
        args = (*on_backend((dout_host,), dtype),
                convolution.conv2d_forward(**on_backend(host, dtype))[1])
        like = {"dx": (N, C, H, W), "dw": (F, C, k, k), "db": (F,)}
        return float32_measures(fn, args, ("dx", "dw", "db"), ["dout", "cache"], like,
                                equations)
    inputs = on_backend(host, dtype)
    dout, = on_backend((dout_host,), dtype)
    _, cache = convolution.conv2d_forward(**inputs)
    got, kept = guarded_call(fn, (dout, cache), ["dout", "cache"])
    got = named(("dx", "dw", "db"), got)
    objective = vjp_objective(lambda **a: convolution.conv2d_forward(**a)[0], dout)
    return [*kept, *gradient_measures(got, {"dx": "x", "dw": "w", "db": "b"}, objective, inputs,
                                      equations)]


# -- chapter 8: the Gram matrix -------------------------------------------------------------------
DG_KINDS = ("general", "mostly antisymmetric", "symmetric")
"""dG drawn with no symmetry, as 0.1 S + A (so 2 dG and dG + dG^T differ by far), or symmetric
(the style loss's: only the 1/M and the shapes are checked there)."""


def gram_backward(case):
    """gram_backward(dG, F, shape) on feature maps (1, C, H, W), C from 1 to 5 (C = 1 in case 1
    and every fourth after), H != W from 1 to 6, signed or nonnegative (ReLU) features, dG general,
    mostly antisymmetric or symmetric; dfeat against complex-step derivatives of <G, dG> through
    gram_forward, or in a float32 case against the function's own float64 answer."""
    C = 1 if case.index % 4 == 1 else int(case.rng.integers(2, 6))
    H, W = two_sizes(case.rng, 1, 6)
    kind = DG_KINDS[case.index % len(DG_KINDS)]
    features = "nonnegative" if case.index % 2 else "signed"
    dtype = "float32" if float32_case(case) else "float64"
    case.note(C=C, H=H, W=W, M=H * W, dG=kind, features=features, dtype=dtype)
    feat_host = case.rng.standard_normal((1, C, H, W))
    feat_host = np.abs(feat_host) if features == "nonnegative" else feat_host
    A = case.rng.standard_normal((C, C))
    dG_host = {"general": A, "mostly antisymmetric": A - A.T + 0.1 * (A + A.T),
               "symmetric": A + A.T}[kind]
    fn = impl("gram_backward")
    shape = (1, C, H, W)
    dG, feat = on_backend((dG_host, feat_host), dtype)
    _, F = art_features.gram_forward(feat)
    if dtype == "float32":
        return float32_measures(fn, (dG, F, shape), ("dfeat",), ["dG", "F", "shape"],
                                {"dfeat": shape}, {})
    got, kept = guarded_call(fn, (dG, F, shape), ["dG", "F", "shape"])
    got = named(("dfeat",), got, "outputs")
    objective = vjp_objective(lambda feat: art_features.gram_forward(feat)[0], dG)
    return [*kept, *gradient_measures(got, {"dfeat": "feat"}, objective, {"feat": feat}, {})]
