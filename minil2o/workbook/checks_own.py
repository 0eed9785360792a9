"""The checks of chapters 10 and 11's exercises: a log-sum-exp written against the array API (it
must run on NumPy and on array_api_strict arrays in one process), and Adam's update over a
learner's own list, tuple or dict of arrays.

Each check is a property over drawn cases (minil2o/workbook/measure.py): `check(case)` draws the
case's shapes, settings and regime from `case.rng`, notes them on the case, calls the function
under test through `impl(name)` and returns its Measures: every output against a host computation
in numpy float64, and the exercise's contract (namespace, container, shapes, dtypes, inputs left
as they were).
"""
import math

import numpy as np

from ..backend import asarray
from ..errors import UsageError
from ..optimizers.hand import Adam
from .lookup import impl
from .measure import (F32, TOL, Measure, contract, draw_dims, guarded_call, host, host_copy, named,
                      same, shape_and_dtype)


def scaled_error(actual, desired, scale):
    """max |actual - desired| / scale; infinite for another shape, NaN when actual holds NaN."""
    a, d = host(actual), host(desired)
    if a.shape != d.shape:
        return math.inf
    diff = np.abs(a - d)
    return float(np.max(diff, initial=0.0) / scale) if not np.isnan(diff).any() else math.nan


# -- chapter 10: logsumexp on NumPy and array_api_strict arrays ----------------------------------
LSE_REGIMES = ("slices offset by up to 1e3 either way", "moderate entries", "entries near 800",
               "a wide spread (uniform in [-1e3, 1e3])")


def strict_namespace():
    """array_api_strict (a test dependency of minil2o, and the strict backend's namespace); a
    one-line UsageError where it is not installed (this exercise cannot be checked without it)."""
    try:
        import array_api_strict
    except ImportError:
        raise UsageError("array_api_strict is needed: pip install array-api-strict") from None
    return array_api_strict


def lse_input(rng, shape, axis, regime):
    """Host float64 entries of `shape` for a regime of LSE_REGIMES."""
    x = rng.standard_normal(shape)                                         # shape
    if regime == LSE_REGIMES[0]:
        offsets = list(shape)
        offsets[axis] = 1
        return 3.0 * x + rng.uniform(-1000.0, 1000.0, size=offsets)       # one offset per slice
    if regime == LSE_REGIMES[1]:
        return 2.0 * x
    if regime == LSE_REGIMES[2]:
        return 5.0 * x + 800.0
    return rng.uniform(-1000.0, 1000.0, size=shape)


def lse_host(x, axis, keepdims):
    """The host answer in float64: m + log sum exp(x - m), (10.1)."""
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def in_namespace(out, name):
    """Whether `out` is an array of namespace `name` (numpy: an ndarray or a numpy scalar)."""
    if name == "numpy":
        return isinstance(out, (np.ndarray, np.generic))
    return type(out).__module__.split(".")[0] == name


def lse_measures(fn, x_host, axis, keepdims, dtype, name, make):
    """Call fn on x as an array of namespace `name` (built by `make`) and measure it."""
    x = make(x_host.astype(dtype))
    out, kept = guarded_call(fn, (x, axis, keepdims), [f"x ({name} input)", None, None])
    label = f"logsumexp ({name} input)"
    kind = f"{type(out).__module__.split('.')[0]}.{type(out).__name__}"
    found = [contract(f"{label} namespace", in_namespace(out, name),
                      f"returned a {kind} when x is a {name} array: take the namespace from x "
                      "(ns = array_namespace(x)) and call only its functions; numpy's functions "
                      "and NumPy-only methods turn a strict (or CuPy) array into a NumPy one, or "
                      "fail")]
    want = lse_host(x_host.astype(dtype).astype(np.float64), axis, keepdims)
    shapes = shape_and_dtype({label: out}, {label: (want.shape, dtype)})
    found += shapes
    if all(m.right for m in shapes):
        scale = 1.0 + float(np.max(np.abs(x_host)))
        found.append(Measure(label, scaled_error(out, want, scale),
                             F32 if dtype == "float32" else TOL,
                             kind="largest error / (1 + max |x|)"))
    return [*found, *kept]


def logsumexp(case):
    """logsumexp(x, axis, keepdims) on the same entries as a NumPy array AND as an array_api_strict
    array in every case, whatever the backend, against the host's float64 m + log sum exp(x - m).
    x: 1 to 3 dimensions of sizes 1 to 6, axis anywhere (negative too), keepdims both ways; regimes
    spread over the cases: slices offset by up to +-1e3 (no max, or one max for all slices,
    overflows or underflows), entries near 800 (exp overflows even in float64), a wide spread (a
    shift by anything but the max overflows) and
    moderate entries; one case in five float32. The error is max |got - want| / (1 + max |x|): an
    input rounded to the dtype moves log-sum-exp by up to its rounding of max |x| (d lse = sum_i
    p_i dx_i), so this measures the answer in units of what the inputs can resolve."""
    rng = case.rng
    ndim = 3 if case.index == 0 else int(rng.integers(1, 4))
    shape = tuple(draw_dims(rng, ndim, 1, 6))
    axis = int(rng.integers(-ndim, ndim)) if case.index else 0
    axis = -1 if axis % ndim == ndim - 1 else axis          # the default, whichever way written
    keepdims = bool(rng.integers(2)) if case.index else True
    regime = LSE_REGIMES[case.index % len(LSE_REGIMES)]
    dtype = "float32" if case.index % 5 == 3 else "float64"
    case.note(shape=shape, axis=axis, keepdims=keepdims, regime=regime, dtype=dtype)
    case.default(axis=-1, keepdims=False)
    x = lse_input(rng, shape, axis, regime)                                # shape, host float64
    fn = impl("logsumexp")
    strict = strict_namespace()
    return [*lse_measures(fn, x, axis, keepdims, dtype, "numpy", np.asarray),
            *lse_measures(fn, x, axis, keepdims, dtype, "array_api_strict",
                          lambda a: strict.asarray(np.ascontiguousarray(a)))]


# -- chapter 11: Adam over a learner's own arrays -------------------------------------------------
ADAM_REGIMES = ("gradients near eps", "unit gradients", "arrays of mixed scales",
                "large gradients")
ADAM_EQUATION = "(11.3), chapter 11 (Adam's row of Table 1, chapter 1)"
KINDS = (dict, list, tuple)
KEYS = ("w_in", "bias", "scale", "filters")


def draw_shapes(rng, count, first):
    """`count` array shapes: 0-d, size 1, vectors, matrices and 3-d arrays of sizes 1 to 5; the
    first one's kind is menu[first % 5], so that every kind occurs across cases."""
    def shape(kind):
        return [(), (1,), tuple(draw_dims(rng, 1, 1, 5)), tuple(draw_dims(rng, 2, 1, 5)),
                tuple(draw_dims(rng, 3, 1, 4))][kind]
    return [shape(first % 5)] + [shape(int(rng.integers(5))) for _ in range(count - 1)]


def container(kind, arrays):
    """arrays (a list) in a container of `kind`; a dict takes the first len(arrays) of KEYS."""
    return dict(zip(KEYS, arrays)) if kind is dict else kind(arrays)


def items(tree):
    """[(key, value)] of a dict, list or tuple."""
    return list(tree.items()) if isinstance(tree, dict) else list(enumerate(tree))


def adam_settings(case):
    """lr, beta1, beta2, eps across their ranges (never exactly the defaults), and t."""
    rng = case.rng
    lr = float(10.0 ** rng.uniform(-3, -0.5))
    beta1 = 0.0 if case.index % 7 == 5 else float(rng.uniform(0.5, 0.98))
    beta2 = float(rng.uniform(0.9, 0.9999) if rng.integers(2) else rng.uniform(0.5, 0.9))
    eps = float(10.0 ** rng.uniform(-9, -6))
    t = int(rng.choice([0, 0, 1, 2, 3, 7, 40]))
    return lr, beta1, beta2, eps, t


def adam_host(opt, g, m, v, t, p):
    """One Adam step on host float64 arrays: (new params, m_t, v_t, update)."""
    b1, b2 = opt.beta1, opt.beta2
    m = b1 * m + (1.0 - b1) * g
    v = b2 * v + (1.0 - b2) * g * g
    m_hat, v_hat = m / (1.0 - b1 ** (t + 1)), v / (1.0 - b2 ** (t + 1))
    update = -opt.lr * m_hat / (np.sqrt(v_hat) + opt.eps)
    return p + update, m, v, update


def largest(*arrays):
    """The largest |entry| of host arrays (a sum's rounding is relative to its largest term)."""
    return max(max(float(np.max(np.abs(a), initial=0.0)) for a in arrays), 1e-300)


def same_structure(name, out, like):
    """Contract: `out` is a container of like's kind with like's keys (or length)."""
    ok = type(out) is type(like) and [k for k, _ in items(out)] == [k for k, _ in items(like)]
    got = (f"a {type(out).__name__} of {len(out)}" if isinstance(out, (dict, list, tuple))
           else f"a {type(out).__name__}")
    keys = f" with keys {list(like)}" if isinstance(like, dict) else ""
    return contract(f"{name} structure", ok, f"returned {got}, expected a {type(like).__name__} "
                    f"of {len(like)}{keys}: keep the container and its keys (order included)")


def adam_step_measures(opt, t, grads, state, params, dtype):
    """One call of the function under test, its contract and its outputs against adam_host.
    Returns (measures, new params, new state) (None, None when the structure is broken)."""
    fn = impl("adam_update")
    before = dict(vars(opt))
    out, kept = guarded_call(fn, (opt, grads, state, params), [None, "grads", "state", "params"])
    kept.append(contract("opt (an input)", vars(opt) == before, "opt was changed: keep the "
                         "step count in the state, not on the optimizer"))
    got = named(("new params", "new state"), out, "values")
    new_params, new_state = got["new params"], got["new state"]
    found = [*kept, same_structure("new params", new_params, params),
             contract("new state", isinstance(new_state, dict) and {"t", "m", "v"} <= set(
                 new_state), "the new state must be a dict with t, m and v")]
    if not all(m.right for m in found[-2:]):
        return found, None, None
    found += [same_structure(f"new state['{s}']", new_state[s], params) for s in ("m", "v")]
    found.append(contract("new state['t']", new_state["t"] == t + 1,
                          f"t = {new_state['t']!r}, expected {t + 1} (one more step taken)",
                          ADAM_EQUATION))
    if not all(m.right for m in found):
        return found, None, None
    bound = F32 if dtype == "float32" else TOL
    for (k, p), (_, g), (_, m), (_, v), (_, p1), (_, m1), (_, v1) in zip(
            items(params), items(grads), items(state["m"]), items(state["v"]),
            items(new_params), items(new_state["m"]), items(new_state["v"])):
        like = (tuple(p.shape), dtype)
        shapes = shape_and_dtype({f"params[{k!r}]": p1, f"m[{k!r}]": m1, f"v[{k!r}]": v1},
                                 {f"params[{k!r}]": like, f"m[{k!r}]": like, f"v[{k!r}]": like})
        found += shapes
        if not all(s.right for s in shapes):
            continue
        g, m, v, p = host(g), host(m), host(v), host(p)
        want_p, want_m, want_v, update = adam_host(opt, g, m, v, t, p)
        if dtype == "float64":      # the update itself: new params minus params, which rounds
            found.append(Measure(f"params[{k!r}] (its update)", scaled_error(   # at 1e-16 |p|
                host(p1) - p, update, max(largest(update), 1e-6 * largest(p))), bound,
                ADAM_EQUATION, "largest error / largest update"))
        else:                       # float32 rounds each sum at its largest term
            found.append(Measure(f"params[{k!r}]", scaled_error(p1, want_p, largest(
                want_p, p, update)), bound, ADAM_EQUATION, "largest error / largest term"))
        b1, b2 = opt.beta1, opt.beta2
        found += [Measure(f"new state {name}[{k!r}]", scaled_error(got, want, largest(
            want, *terms)), bound, ADAM_EQUATION, "largest error / largest term")
            for name, got, want, terms in (("m", m1, want_m, (b1 * m, (1 - b1) * g)),
                                           ("v", v1, want_v, (b2 * v, (1 - b2) * g * g)))]
    return found, new_params, new_state


def adam_update(case):
    """adam_update(opt, grads, state, params) over a dict, list or tuple of 1 to 4 arrays (0-d,
    size 1, vectors, matrices, 3-d), all float32 (one case in five) or all float64, against Adam on
    host float64 arrays, for two steps in a row (the second from the function's own new params and
    state) and once more on the first step's inputs (a replay must give the same answer). lr,
    beta1 (0 included), beta2 and eps are drawn across their ranges, t (steps taken) from 0 to 40;
    regimes over the cases: gradients near eps (where eps's place matters), unit, mixed scales
    across the arrays, large. The update is compared as new params minus params (exact in
    float64), so that an error in it is not hidden by the size of params."""
    rng = case.rng
    lr, beta1, beta2, eps, t = adam_settings(case)
    kind = KINDS[case.index % len(KINDS)]
    shapes = draw_shapes(rng, int(rng.integers(1, 5)), case.index)
    regime = ADAM_REGIMES[case.index % len(ADAM_REGIMES)]
    dtype = "float32" if case.index % 5 == 2 else "float64"
    case.note(lr=round(lr, 6), beta1=round(beta1, 4), beta2=round(beta2, 5), eps=f"{eps:.1e}",
              t=t, container=kind.__name__, shapes=shapes, regime=regime, dtype=dtype)
    case.default(lr=1e-3, beta1=0.9, beta2=0.999, eps="1.0e-08")
    opt = Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    scales = [{"gradients near eps": eps * 10.0 ** rng.uniform(-0.5, 0.5),
               "unit gradients": 1.0, "arrays of mixed scales": 10.0 ** rng.uniform(-3, 3),
               "large gradients": 1e3}[regime] for _ in shapes]

    def arrays(scale_of, positive=False):
        out = [s * rng.standard_normal(shape) for s, shape in zip(scale_of, shapes)]
        return container(kind, [asarray(np.abs(a) if positive else a, dtype) for a in out])
    params = arrays([1.0] * len(shapes))
    fresh = t == 0
    state = {"t": t, "m": arrays([0.0 if fresh else 0.5 * s for s in scales]),
             "v": arrays([0.0 if fresh else s * s for s in scales], positive=True)}
    found = []
    for step in range(2):
        grads = arrays(scales)
        measured, new_params, new_state = adam_step_measures(opt, t, grads, state, params, dtype)
        found += measured
        if new_params is None or not all(m.right for m in measured):
            return found
        if step == 0:
            again = impl("adam_update")(opt, grads, state, params)
            found.append(contract("a replay", same(host_copy(tuple(again)), host_copy(
                (new_params, new_state))), "the same inputs gave another answer the second time: "
                "keep nothing between calls (no global or attribute counts the steps)"))
        params, state, t = new_params, new_state, t + 1
    return found
