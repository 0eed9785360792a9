"""Paired statistics: every optimizer of a comparison runs on the same test problems (same
initializations, same minibatches), so two optimizers are compared through their per-problem
differences, not through two separate means.

For a test problem i let a_i be the score of optimizer A and r_i that of the reference R (a learned
optimizer). The paired difference is d_i = a_i - r_i: positive where R ends lower. Over the N
problems, the 95% interval is Student's t-interval on the differences,

    mean(d) -/+ t_{0.975, n-1} * sd(d) / sqrt(n)        (sd with n - 1 in the denominator),

taken over the n problems on which both runs finished. A diverged run (NaN) is worse than any
finite one: where exactly one of the two diverged, d_i is +inf or -inf, and the comparison goes
against the optimizer that diverged (sign below) unless the interval on the finished problems
excludes zero in its favour, or both diverged somewhere the other did not (then it is level).
Problems on which both diverged are dropped and counted.

    sign  +1: R lower than A (the interval above zero, or only A diverged)
          -1: R higher than A
           0: level (the interval includes zero)
        None: undecided (fewer than 2 finished problems and no divergence that decides)
"""
import math
from functools import lru_cache

import numpy as np

LEVEL = 0.95


def t_density(x, df):
    """Student's t probability density with df degrees of freedom at x."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))


def t_cdf(x, df, intervals=400):
    """P(T <= x) for Student's t: 1/2 plus the density integrated from 0 to x (Simpson's rule)."""
    h = x / intervals
    inner = sum((4 if k % 2 else 2) * t_density(k * h, df) for k in range(1, intervals))
    return 0.5 + h / 3 * (t_density(0.0, df) + inner + t_density(x, df))


@lru_cache(maxsize=None)
def t_quantile(p, df):
    """The p-quantile of Student's t with df degrees of freedom, p in (0.5, 1), by bisection."""
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def t_interval(d, level=LEVEL):
    """(mean, low, high) of the t-interval on finite differences d (n >= 2)."""
    n = len(d)
    mean, sd = float(np.mean(d)), float(np.std(d, ddof=1))
    half = t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def interval_sign(low, high):
    """+1 above zero, -1 below zero, 0 when [low, high] includes zero."""
    return 1 if low > 0 else -1 if high < 0 else 0


def paired_difference(values, reference, level=LEVEL):
    """The paired comparison of `values` (A) with `reference` (R), both (N,) host floats with NaN
    for a diverged run: a JSON-able dict with n, n_finite, mean/low/high (the t-interval on the
    finished problems; None below 2), the divergence counts and the sign (module docstring)."""
    a, r = np.asarray(values, float), np.asarray(reference, float)
    a_bad, r_bad = ~np.isfinite(a), ~np.isfinite(r)
    ok = ~(a_bad | r_bad)
    d = a[ok] - r[ok]                                                  # (n_finite,)
    out = {"n": int(len(a)), "n_finite": int(ok.sum()), "level": level, "mean": None, "low": None,
           "high": None, "diverged_this": int((a_bad & ~r_bad).sum()),
           "diverged_reference": int((r_bad & ~a_bad).sum()),
           "diverged_both": int((a_bad & r_bad).sum())}
    sign = None
    if len(d) >= 2:
        out["mean"], out["low"], out["high"] = (float(f"{v:.5g}") for v in t_interval(d, level))
        sign = interval_sign(out["low"], out["high"])
    elif len(d) == 1:
        out["mean"] = float(f"{d[0]:.5g}")
    return {**out, "sign": divergence_sign(sign, out["diverged_this"], out["diverged_reference"])}


def divergence_sign(sign, this, reference):
    """The sign once diverged runs are counted (module docstring): the one that diverged where
    the other did not is worse, unless the finished problems say the opposite."""
    if this and reference:
        return 0
    if this:
        return 1 if sign in (None, 0, 1) else 0
    if reference:
        return -1 if sign in (None, 0, -1) else 0
    return sign


def paired_to_learned(values, learned_labels):
    """For every optimizer, its paired difference to each learned optimizer (other than itself).
    values: dict label -> (N,) per-problem scores. Returns dict label -> {learned label: paired}."""
    return {label: {ref: paired_difference(v, values[ref])
                    for ref in learned_labels if ref != label} for label, v in values.items()}
