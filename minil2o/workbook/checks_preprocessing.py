"""The checks of Appendix A's gradient preprocessing (Andrychowicz et al. 2016; chapter 6), forward
and backward: every mode, p across its range, gradients on both sides of e^-p, at it and at 0.
Shared tools: minil2o/workbook/checks_learned.py."""
import itertools
import math

import numpy as np

from ..backend import asarray
from .checks_learned import CLAMP_EPS, MODES, TERMS, terms_error
from .lookup import impl
from .measure import (F32, TOL, draw_dims, float32_case, guarded_call, host, Measure,
                      shape_and_dtype)


def host_preprocess(g, mode, p):
    """(A) on host float64 g: (n,) -> (n, D) (Andrychowicz et al., Appendix A)."""
    if mode == "none":
        return g[:, None]                                                 # (n, 1)
    a = np.abs(g)
    if mode == "log":
        big = a >= math.exp(-p)
        x0 = np.where(big, np.log(np.where(big, a, 1.0)) / p, -1.0)
        x1 = np.where(big, np.sign(g), math.exp(p) * g)
    else:
        x0 = np.maximum(np.log(a + CLAMP_EPS) / p, -1.0)
        x1 = np.clip(math.exp(p) * g, -1.0, 1.0)
    return np.stack([x0, x1], axis=1)                                     # (n, 2)


def host_jacobian(g, mode, p, at=None):
    """d x_d / d g per coordinate, (n, D): the large branch (1/(p g), 0), the small (0, e^p); in
    'clamped' each channel's derivative where it is not clamped. The branches (and the sign of
    |g|'s derivative) are those at `at` (default g): sign(0) = 0 at a kink at 0."""
    if mode == "none":
        return np.ones((g.shape[0], 1))
    a, at = np.abs(g), g if at is None else at
    if mode == "log":
        big = np.abs(at) >= math.exp(-p)
        return np.stack([np.where(big, 1.0 / (p * np.where(big, g, 1.0)), 0.0),
                         np.where(big, 0.0, math.exp(p))], axis=1)
    inside0 = np.abs(at) + CLAMP_EPS > math.exp(-p)
    inside1 = math.exp(p) * np.abs(at) < 1.0
    return np.stack([np.where(inside0, np.sign(at) / (p * (a + CLAMP_EPS)), 0.0),
                     np.where(inside1, math.exp(p), 0.0)], axis=1)


def jacobian_candidates(g, mode, p, tol):
    """The Jacobians a right answer may use: each channel's derivative at g, its one-sided limits
    (the branch taken at g moved by a relative `tol`, or by 1e-300 at 0; the value at g) or
    their mean, chosen channel by channel. At a branch point (|g| = e^-p, |g| = e^-p - 1e-8 in
    'clamped', 0 there when p > 18.4) either side's derivative is accepted; in float32
    (tol 1e-6) so is either side of a point that float32 cannot tell from it."""
    step = np.maximum(np.abs(g) * tol, 1e-300)
    left, right = host_jacobian(g, mode, p, g - step), host_jacobian(g, mode, p, g + step)
    per_channel = [host_jacobian(g, mode, p), left, right, 0.5 * (left + right)]
    return [np.stack([per_channel[k][:, d] for d, k in enumerate(choice)], axis=1)
            for choice in itertools.product(range(4), repeat=per_channel[0].shape[1])]


def chained(dx, jacobians):
    """The gradients sum_d dx_d J_d for each Jacobian, and the size of their terms (n,)."""
    values = [np.sum(dx * J, axis=1) for J in jacobians]
    scale = np.max([np.sum(np.abs(dx * J), axis=1) for J in jacobians], axis=0)
    return values, scale


def kinks(mode, p):
    """|g| where the preprocessing's derivative jumps."""
    if mode == "none":
        return []
    if mode == "log":
        return [math.exp(-p)]
    return [math.exp(-p), max(math.exp(-p) - CLAMP_EPS, 0.0)]


GRAD_KINDS = ("small", "large", "edge", "zero", "near")


def preprocess_grads(rng, n, p, index, kinds=GRAD_KINDS):
    """n gradient coordinates on both sides of e^-p: below it (down to 1e-4 e^-p), above it (up to
    10, never within 2% of |g| = 1), exactly +-e^-p, exactly 0, within 1% of e^-p (0.1% at least).
    Coordinate k is of kind kinds[(index + k) % len], so one coordinate still cycles them."""
    edge = math.exp(-p)
    g = np.zeros(n)
    for k in range(n):
        kind = kinds[(index + k) % len(kinds)]
        if kind == "small":
            g[k] = edge * 10 ** -rng.uniform(0.01, 4)
        elif kind == "large":
            log_g = rng.uniform(-p + 0.01, math.log(10))
            g[k] = math.exp(log_g if abs(log_g) > 0.02 else log_g + 0.05)
        elif kind == "edge":
            g[k] = edge
        elif kind == "near":
            g[k] = edge * (1 + rng.choice([-1, 1]) * rng.uniform(1e-3, 1e-2))
    return g * rng.choice([-1.0, 1.0], n)                                  # (n,)


def draw_p(rng):
    """p in [2, 25] with two decimals, at least 0.5 from the default 10 (e^-p falls below the
    clamped mode's 1e-8 from p = 18.4, where its first channel is no longer clamped at 0)."""
    p = round(float(rng.uniform(2.0, 25.0)), 2)
    return p if abs(p - 10.0) > 0.5 else p + 3.0


def preprocess_case(case):
    """Draw mode (by case index), p (draw_p), n in 1..9, dtype. Returns them."""
    mode = MODES[case.index % len(MODES)]
    p = draw_p(case.rng)
    (n,) = draw_dims(case.rng, 1, 1, 9)
    dtype = "float32" if float32_case(case) else "float64"
    case.note(mode=mode, p=p, n=n, dtype=dtype)
    case.default(mode="log", p=10.0)
    return mode, p, n, dtype


def preprocess_forward(case):
    """preprocess_forward(grad, mode, p) for every mode, p drawn in [2, 25], n in 1..9, gradients
    on both sides of e^-p (exactly 0 and exactly +-e^-p too), against (A) on the host: every
    entry relative to itself. A float32 case is compared with the host's float64 answer on its
    float32-rounded gradient. Contract: (n, 2) ((n, 1) for 'none'), the gradient's dtype, the
    gradient left as it was."""
    mode, p, n, dtype = preprocess_case(case)
    g = preprocess_grads(case.rng, n, p, case.index)
    grad = asarray(g, dtype=dtype)
    got, kept = guarded_call(impl("preprocess_forward"), (grad, mode, p), ["grad", None, None])
    shapes = shape_and_dtype({"x": got}, {"x": ((n, 1 if mode == "none" else 2), dtype)})
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    want = host_preprocess(host(grad), mode, p)
    scale = np.abs(want)
    return [*kept, *shapes,
            Measure("x", terms_error(got, [want], scale), F32 if dtype == "float32" else TOL,
                    kind="largest entrywise relative error")]


def central_derivative(f, g, h):
    """d f(g)_{i,d} / d g_i: (n, D), by the 4-point stencil with a step h_i per coordinate (f maps
    (n,) to (n, D), each row depending on its own coordinate only). Each channel is differenced on
    its own, so that a large constant channel adds no rounding to another's derivative."""
    step = h[:, None]
    return (8 * (f(g + h) - f(g - h)) - (f(g + 2 * h) - f(g - 2 * h))) / (12 * step)


def preprocess_backward(case):
    """preprocess_backward(dx, grad, mode, p), drawn as preprocess_forward's check draws, against
    the host's closed-form derivative (at |g| = e^-p either side's is accepted) and, on the
    coordinates at least 0.1% from a branch point, against central differences of <x, dx> (the
    4-point stencil with a step 2e-4 of |g|, of |g| + 1e-8 for 'clamped'). Contract: (n,), the
    dtype, the inputs left as they were."""
    mode, p, n, dtype = preprocess_case(case)
    g = preprocess_grads(case.rng, n, p, case.index)
    D = 1 if mode == "none" else 2
    grad, dx = asarray(g, dtype=dtype), asarray(case.rng.standard_normal((n, D)), dtype=dtype)
    got, kept = guarded_call(impl("preprocess_backward"), (dx, grad, mode, p),
                             ["dx", "grad", None, None])
    shapes = shape_and_dtype({"d_grad": got}, {"d_grad": ((n,), dtype)})
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    g64, dx64 = host(grad), host(dx)
    tol = 1e-6 if dtype == "float32" else 1e-12
    values, scale = chained(dx64, jacobian_candidates(g64, mode, p, tol))
    bound = F32 if dtype == "float32" else TOL
    found = [*kept, *shapes, Measure("d_grad", terms_error(got, values, scale), bound,
                                     "the derivative of (A), Appendix A", TERMS)]
    if dtype == "float64":
        smooth = np.abs(g64) + (CLAMP_EPS if mode == "clamped" else 0.0)   # log's scale
        h = 2e-4 * np.where(smooth > 0, smooth, math.exp(-p))
        far = np.all([np.abs(np.abs(g64) - k) > 2.2 * h for k in kinks(mode, p)], axis=0)
        numeric = np.sum(dx64 * central_derivative(lambda v: host_preprocess(v, mode, p), g64,
                                                   h), axis=1)
        found.append(Measure("d_grad (against central differences)",
                             terms_error(host(got)[far], [numeric[far]], scale[far]), TOL,
                             "the derivative of (A), Appendix A", TERMS))
    return found
