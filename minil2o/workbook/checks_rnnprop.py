"""The checks of RNNprop's relative inputs (Lv et al. 2017; chapter 9), forward and backward: the
betas and eps drawn, second moments near eps^2 (where eps's place matters), fresh states and
later steps, every part compared. Shared tools: minil2o/workbook/checks_learned.py."""
import numpy as np

from ..backend import asarray
from ..optimizers.learned import RNNprop
from .checks_learned import TERMS, draw_setting, terms_error
from .checks_preprocessing import central_derivative
from .lookup import impl
from .measure import (contract, draw_dims, F32, float32_case, guarded_call, host, Measure, named,
                      rounded, shape_and_dtype, TOL)


MOMENT_KINDS = ("eps", "ordinary", "zero")


def rnnprop_opt(case, hidden=1, num_layers=1):
    """An RNNprop with beta1, beta2 in [0.5, 0.999], eps log-uniform in [1e-10, 1e-3] and alpha in
    [0.01, 10] drawn, never their defaults."""
    beta1 = round(1 - draw_setting(case.rng, 0.001, 0.5, 0.05, 2), 4)
    beta2 = round(1 - draw_setting(case.rng, 0.001, 0.5, 0.05, 2), 4)
    eps = draw_setting(case.rng, 1e-10, 1e-3, 1e-8)
    alpha = draw_setting(case.rng, 0.01, 10.0, 0.1)
    case.note(beta1=beta1, beta2=beta2, eps=eps)
    case.default(beta1=0.95, beta2=0.95, eps=1e-8)
    return RNNprop(hidden, num_layers, beta1, beta2, eps, alpha)


def moments(case, opt, n, fresh, kinds=MOMENT_KINDS):
    """A gradient and the averages before the step, on the host: from a fresh state (m = v = 0,
    t = 0) in even cases, else after t in [1, 40] steps of gradients drawn at the same scale.
    Coordinate k is of kind
    kinds[(index + k) % len]: 'eps' (gradient and sqrt(v) about eps, where eps's place shows),
    'ordinary' (about 1e-2 to 10), 'zero' (a zero gradient); a gradient is 0.3 to 3 times its
    coordinate's scale, so that none is far below it. Returns g, m, v, t and the scales."""
    rng = case.rng
    s = np.array([opt.eps * 10 ** rng.uniform(-1, 1) if kinds[(case.index + k) % len(kinds)] ==
                  "eps" else 10 ** rng.uniform(-2, 1) for k in range(n)])          # (n,)
    zero = np.array([kinds[(case.index + k) % len(kinds)] == "zero" for k in range(n)])
    g = np.where(zero, 0.0, s * rng.choice([-1.0, 1.0], n) * rng.uniform(0.3, 3.0, n))
    t = 0 if fresh else int(rng.integers(1, 41))
    m, v = np.zeros(n), np.zeros(n)
    for _ in range(t):                      # t earlier gradients of the same scale, so that the
        g_k = s * rng.standard_normal(n)    # averages are ones (9.1) can reach: |m^| ~ sqrt(v^)
        m, v = opt.beta1 * m + (1 - opt.beta1) * g_k, opt.beta2 * v + (1 - opt.beta2) * g_k * g_k
    case.note(t=t)
    return g, m, v, t, s


def host_relative_inputs(opt, g, m_prev, v_prev, t_prev):
    """(9.1) and (9.2) on the host: the parts (t, m, v, c1, c2, sqrt_v, denom), x and the sizes of
    the terms of m and of x's entries."""
    t = t_prev + 1
    m = opt.beta1 * m_prev + (1 - opt.beta1) * g
    v = opt.beta2 * v_prev + (1 - opt.beta2) * g * g
    c1, c2 = 1 - opt.beta1 ** t, 1 - opt.beta2 ** t
    sqrt_v = np.sqrt(v / c2)
    denom = sqrt_v + opt.eps
    x = np.stack([m / c1 / denom, g / denom], axis=1)                      # (n, 2)
    m_terms = np.abs(opt.beta1 * m_prev) + np.abs((1 - opt.beta1) * g)
    x_terms = np.stack([m_terms / c1 / denom, np.abs(g) / denom], axis=1)
    return (t, m, v, c1, c2, sqrt_v, denom), x, m_terms, x_terms


PARTS = ("t", "m", "v", "c1", "c2", "sqrt_v", "denom")


def rnnprop_relative_inputs(case):
    """RNNprop.relative_inputs(opt, grad, state) with beta1, beta2, eps drawn, from a fresh state
    and after t in [1, 40] steps, coordinates with gradients and sqrt(v) about eps (where eps's
    place shows), ordinary ones and zero gradients; x and every part (t, m, v, c1, c2, sqrt_v,
    denom) against (9.1) and (9.2) on the host, each entry relative to the size of its terms.
    Contract: x (n, 2) and the (n,) parts in the gradient's dtype; grad and state left as they
    were."""
    opt = rnnprop_opt(case)
    (n,) = draw_dims(case.rng, 1, 1, 9)
    dtype = "float32" if float32_case(case) else "float64"
    case.note(n=n, dtype=dtype)
    g, m_prev, v_prev, t_prev, _ = moments(case, opt, n, fresh=case.index % 2 == 0)
    state = opt.init_state(n, dtype)
    if t_prev:
        state.update(m=asarray(m_prev, dtype=dtype), v=asarray(v_prev, dtype=dtype), t=t_prev)
    grad = asarray(g, dtype=dtype)
    got, kept = guarded_call(impl("rnnprop_relative_inputs"), (opt, grad, state),
                             [None, "grad", "state"])
    x, parts = named(("x", "parts"), got, "values").values()
    parts = named(PARTS, parts, "parts")
    vectors = ("m", "v", "sqrt_v", "denom")
    shapes = shape_and_dtype({"x": x, **{k: parts[k] for k in vectors}},
                             {"x": ((n, 2), dtype), **{k: ((n,), dtype) for k in vectors}})
    found = [*kept, *shapes, contract("t", parts["t"] == t_prev + 1,
                                      f"t = {parts['t']}, expected {t_prev + 1}: count the step")]
    if not all(m.right for m in found):
        return found
    want, x_want, m_terms, x_terms = host_relative_inputs(
        opt, host(grad), host(state["m"]), host(state["v"]), t_prev)
    terms = dict(zip(PARTS, (None, m_terms, *[np.abs(w) for w in want[2:]])))
    bound = F32 if dtype == "float32" else TOL
    return [*found, Measure("x", terms_error(x, [x_want], x_terms), bound, "(9.2), chapter 9",
                            TERMS),
            *[Measure(k, terms_error(parts[k], [w], terms[k]), bound,
                      "(9.1), chapter 9" if k in ("m", "v", "c1", "c2") else "(9.2), chapter 9",
                      TERMS) for k, w in zip(PARTS[1:], want[1:])]]


def host_relative_backward(opt, d_x, g, d_next_m, d_next_v, parts):
    """The backward pass of (9.1) and (9.2) on the host, from the chain rule: (d m_prev, d v_prev,
    d grad) and the sizes of their terms."""
    t, m, v, c1, c2, sqrt_v, denom = parts
    d_x0, d_x1 = d_x[:, 0], d_x[:, 1]
    d_denom = -(d_x0 * m / c1 + d_x1 * g) / denom ** 2
    s_denom = (np.abs(d_x0 * m / c1) + np.abs(d_x1 * g)) / denom ** 2
    d_v = d_denom / (2 * sqrt_v * c2) + d_next_v          # d sqrt(v/c2) / dv = 1 / (2 sqrt_v c2)
    s_v = s_denom / (2 * sqrt_v * c2) + np.abs(d_next_v)
    d_m = d_x0 / (denom * c1) + d_next_m
    s_m = np.abs(d_x0 / (denom * c1)) + np.abs(d_next_m)
    d_g = d_x1 / denom + (1 - opt.beta1) * d_m + 2 * (1 - opt.beta2) * g * d_v
    s_g = np.abs(d_x1 / denom) + (1 - opt.beta1) * s_m + 2 * (1 - opt.beta2) * np.abs(g) * s_v
    return (opt.beta1 * d_m, opt.beta2 * d_v, d_g), (opt.beta1 * s_m, opt.beta2 * s_v, s_g)


BACKWARD_KINDS = ("eps", "ordinary", "zero", "ordinary")
"""A zero gradient only after some steps: from a fresh state it would make v = 0 exactly, where
d v is 0 * infinity (the library takes 0 there; the chapter's solution gives NaN)."""


def relative_backward_inputs(case, n, dtype):
    """opt, g, m, v, t and the state's dict drawn as the forward check draws them (no zero
    gradient on a fresh state)."""
    opt = rnnprop_opt(case)
    fresh = case.index % 2 == 0
    g, m_prev, v_prev, t_prev, s = moments(case, opt, n, fresh,
                                           ("eps", "ordinary") if fresh else BACKWARD_KINDS)
    g, m_prev, v_prev = (rounded(a, dtype) for a in (g, m_prev, v_prev))
    return opt, g, m_prev, v_prev, t_prev, s


def rnnprop_relative_inputs_backward(case):
    """RNNprop.relative_inputs_backward(opt, d_x, grad, d_state, parts), drawn as the forward
    check draws (beta1, beta2, eps; a fresh state or t in [1, 40]; eps-sized moments, ordinary
    ones, zero gradients after the first step), parts from the library's relative_inputs; against
    the host's chain rule and, in float64, central differences of <x, d_x> + <m, d_m> + <v, d_v>
    (the 4-point stencil, steps 1e-3 of each coordinate's size), each entry relative to the size
    of its terms. Contract: three (n,) arrays in the dtype; inputs left as they were."""
    (n,) = draw_dims(case.rng, 1, 1, 9)
    dtype = "float32" if float32_case(case) else "float64"
    case.note(n=n, dtype=dtype)
    opt, g, m_prev, v_prev, t_prev, s = relative_backward_inputs(case, n, dtype)
    state = {"m": asarray(m_prev, dtype=dtype), "v": asarray(v_prev, dtype=dtype), "t": t_prev}
    grad = asarray(g, dtype=dtype)
    _, parts = opt.relative_inputs(grad, state)
    d_x = asarray(case.rng.standard_normal((n, 2)), dtype=dtype)
    d_state = {"m": asarray(case.rng.standard_normal(n), dtype=dtype),
               "v": asarray(case.rng.standard_normal(n) / s, dtype=dtype)}   # v's scale is s^2
    got, kept = guarded_call(impl("rnnprop_relative_inputs_backward"),
                             (opt, d_x, grad, d_state, parts),
                             [None, "d_x", "grad", "d_state", "parts"])
    names = ("d_m_prev", "d_v_prev", "d_grad")
    got = named(names, got)
    shapes = shape_and_dtype(got, {k: ((n,), dtype) for k in names})
    if not all(m.right for m in [*kept, *shapes]):
        return [*kept, *shapes]
    d_x64, dm64, dv64 = host(d_x), host(d_state["m"]), host(d_state["v"])
    host_parts = [host(p) if i else p for i, p in enumerate(parts)]
    want, terms = host_relative_backward(opt, d_x64, g, dm64, dv64, host_parts)
    bound = F32 if dtype == "float32" else TOL
    equations = ("(9.12) and (9.13), chapter 9", "(9.11) and (9.13), chapter 9",
                 "(9.13), chapter 9")
    found = [*kept, *shapes, *[Measure(k, terms_error(got[k], [w], sc), bound, eq, TERMS)
                               for k, w, sc, eq in zip(names, want, terms, equations)]]
    if dtype == "float64":
        found += relative_central_differences(opt, g, m_prev, v_prev, t_prev, s,
                                              (d_x64, dm64, dv64), got, terms)
    return found


def relative_central_differences(opt, g, m_prev, v_prev, t_prev, s, upstream, got, terms):
    """Measures of got against central differences of <x, d_x> + <m, d_m> + <v, d_v> with respect
    to m_prev, v_prev and g (each coordinate's terms depend on that coordinate only)."""
    d_x, dm, dv = upstream
    weights = np.concatenate([d_x, dm[:, None], dv[:, None]], axis=1)           # (n, 4)

    def columns(gv, mv, vv):
        """x0, x1, m, v: (n, 4), the outputs <., upstream> weighs."""
        (_, m, v, *_), x, *_ = host_relative_inputs(opt, gv, mv, vv, t_prev)
        return np.concatenate([x, m[:, None], v[:, None]], axis=1)

    v_new = opt.beta2 * v_prev + (1 - opt.beta2) * g * g
    # steps 1e-3 of the distance to the nearest singularity: v_prev = -(1 - beta2) g^2 / beta2
    # for v_prev, g = +-i sqrt(beta2 v_prev / (1 - beta2)) for g (x is linear in m_prev)
    steps = (1e-3 * s, 1e-3 * v_new / opt.beta2,
             1e-3 * np.sqrt(g * g + opt.beta2 * v_prev / (1 - opt.beta2)))
    derivatives = (central_derivative(lambda a: columns(g, a, v_prev), m_prev, steps[0]),
                   central_derivative(lambda a: columns(g, m_prev, a), v_prev, steps[1]),
                   central_derivative(lambda a: columns(a, m_prev, v_prev), g, steps[2]))
    numeric = dict(zip(("d_m_prev", "d_v_prev", "d_grad"),
                       (np.sum(weights * d, axis=1) for d in derivatives)))
    return [Measure(f"{k} (against central differences)", terms_error(got[k], [numeric[k]], sc),
                    TOL, "(9.10) to (9.13), chapter 9", TERMS)
            for k, sc in zip(("d_m_prev", "d_v_prev", "d_grad"), terms)]
