"""Paired statistics: every optimizer of a comparison runs on the same test problems (same
initializations, same minibatches), so two optimizers are compared through their per-problem
differences, not through two separate means.

For a test problem i let a_i be the score of optimizer A and r_i that of the reference R (a learned
optimizer). The paired difference is d_i = a_i - r_i: positive where R ends lower. Over the N
problems, the 95% interval is Student's t-interval on the differences,

    mean(d) -/+ t_{0.975, n-1} * sd(d) / sqrt(n)        (sd with n - 1 in the denominator),

taken over the n problems on which both runs finished (t_{p, df}: scipy.stats.t.ppf). A diverged
run (NaN) is worse than any finite one: where exactly one of the two diverged, d_i is +inf or -inf,
and the comparison goes against the optimizer that diverged (sign below) unless the interval on
the finished problems excludes zero in its favour, or both diverged somewhere the other did not
(then it is level). Problems on which both diverged are dropped and counted.

    sign  +1: R lower than A (the interval above zero, or only A diverged)
          -1: R higher than A
           0: level (the interval includes zero)
        None: undecided (fewer than 2 finished problems and no divergence that decides)

Beside it, for losses that span orders of magnitude (heavy_tail_tests, added to every paired
entry, with the raw interval and its sign unchanged):

    log10_ratio  l_i = log10(a_i) - log10(r_i), its mean and t-interval as above, and its sign by
                 the same rule (divergence_sign). A diverged run ranks worst: a problem where only
                 one run diverged is left out of the interval and decides as for the raw sign; one
                 where both diverged is dropped. A loss <= 0 cannot be logged: a problem where both
                 finished but a_i <= 0 or r_i <= 0 is left out of the log interval and counted
                 ("nonpositive"); it still counts in the signed-rank test and the sign counts.
    wilcoxon     the two-sided p-value of Wilcoxon's signed-rank test on the raw d_i
                 (scipy.stats.wilcoxon, method "auto"): W+ = sum of the ranks of |d_i| over d_i > 0.
                 Zero differences are dropped first (Wilcoxon's method, zero_method="wilcox"; their
                 number is signs["tied"]); d_i = +/-inf (one run diverged) takes the largest
                 |d| rank (all such tie at the top). p is None when no nonzero difference is left.
    signs        reference_lower (d_i > 0, or only A diverged), reference_higher (d_i < 0, or only
                 R diverged), tied (d_i = 0); problems where both diverged are in diverged_both.

Divergence rule (diverged): a run has diverged when its final loss is non-finite or exceeds
DIVERGENCE_FACTOR times |its initial loss|: diverged_i = not finite(f_i) or f_i > 1e3 |f0_i|.
The stored JSON holds no per-problem initial losses, so there only non-finite (None) counts;
callers that have the initial losses mark such runs NaN first (as_diverged).
"""
import math

import numpy as np
from scipy import stats

LEVEL = 0.95
DIVERGENCE_FACTOR = 1e3          # a final loss above 1e3 times the initial one: diverged
ZERO_METHOD = "wilcox"           # zero differences dropped before the signed-rank test


def t_quantile(p, df):
    """The p-quantile of Student's t with df degrees of freedom (scipy.stats.t.ppf)."""
    return float(stats.t.ppf(p, df))


def t_interval(d, level=LEVEL):
    """(mean, low, high) of the t-interval on finite differences d (n >= 2)."""
    n = len(d)
    mean, sd = float(np.mean(d)), float(np.std(d, ddof=1))
    half = t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def diverged(final, initial, factor=DIVERGENCE_FACTOR):
    """Boolean (N,): the final loss is non-finite or above factor * |initial loss|."""
    f, f0 = np.asarray(final, float), np.asarray(initial, float)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(f) | (f > factor * np.abs(f0))


def as_diverged(final, initial, factor=DIVERGENCE_FACTOR):
    """The final losses with NaN where the divergence rule says diverged (for paired_difference)."""
    return np.where(diverged(final, initial, factor), np.nan, np.asarray(final, float))


def rounded(x):
    """A float rounded to 5 significant digits, as every stored number."""
    return float(f"{x:.5g}")


def interval_sign(low, high):
    """+1 above zero, -1 below zero, 0 when [low, high] includes zero."""
    return 1 if low > 0 else -1 if high < 0 else 0


def paired_difference(values, reference, level=LEVEL, heavy_tails=True):
    """The paired comparison of `values` (A) with `reference` (R), both (N,) host floats with NaN
    for a diverged run: a JSON-able dict with n, n_finite, mean/low/high (the t-interval on the
    finished problems; None below 2), the divergence counts and the sign (module docstring), then
    (heavy_tails) the log-ratio interval, the signed-rank test and the sign counts."""
    a, r = np.asarray(values, float), np.asarray(reference, float)
    a_bad, r_bad = ~np.isfinite(a), ~np.isfinite(r)
    ok = ~(a_bad | r_bad)
    d = a[ok] - r[ok]                                                  # (n_finite,)
    out = {"n": int(len(a)), "n_finite": int(ok.sum()), "level": level, "mean": None, "low": None,
           "high": None, "diverged_this": int((a_bad & ~r_bad).sum()),
           "diverged_reference": int((r_bad & ~a_bad).sum()),
           "diverged_both": int((a_bad & r_bad).sum())}
    sign = summarize_interval(d, level, out)
    out["sign"] = divergence_sign(sign, out["diverged_this"], out["diverged_reference"])
    return {**out, **heavy_tail_tests(a, r, level)} if heavy_tails else out


def summarize_interval(d, level, out):
    """Fill out's mean/low/high from the differences d (the t-interval from 2 of them, the mean
    alone from 1) and return the interval's sign (None below 2)."""
    if len(d) == 1:
        out["mean"] = rounded(d[0])
    if len(d) < 2:
        return None
    out["mean"], out["low"], out["high"] = (rounded(v) for v in t_interval(d, level))
    return interval_sign(out["low"], out["high"])


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


def signed_differences(values, reference):
    """d_i = a_i - r_i with +inf where only A diverged, -inf where only R did; problems where both
    diverged are dropped."""
    a, r = np.asarray(values, float), np.asarray(reference, float)
    a_bad, r_bad = ~np.isfinite(a), ~np.isfinite(r)
    with np.errstate(invalid="ignore"):
        d = np.where(a_bad, np.inf, np.where(r_bad, -np.inf, a - r))
    return d[~(a_bad & r_bad)]


def log_ratio(values, reference, level=LEVEL):
    """log10(a_i) - log10(r_i) on the problems where both finished with a loss > 0: n_finite,
    nonpositive (left out), mean/low/high (t-interval) and its sign (module docstring)."""
    a, r = np.asarray(values, float), np.asarray(reference, float)
    a_bad, r_bad = ~np.isfinite(a), ~np.isfinite(r)
    ok = ~(a_bad | r_bad)
    with np.errstate(invalid="ignore"):
        pos = ok & (a > 0) & (r > 0)
    lr = np.log10(a[pos]) - np.log10(r[pos])
    out = {"n_finite": int(pos.sum()), "nonpositive": int((ok & ~pos).sum()), "mean": None,
           "low": None, "high": None}
    sign = summarize_interval(lr, level, out)
    return {**out, "sign": divergence_sign(sign, int((a_bad & ~r_bad).sum()),
                                           int((r_bad & ~a_bad).sum()))}


def signed_rank(values, reference):
    """Wilcoxon's signed-rank test on d_i (module docstring): n_nonzero and the two-sided p."""
    d = signed_differences(values, reference)
    d = d[d != 0]
    if not len(d):
        return {"n_nonzero": 0, "p": None}
    finite = np.isfinite(d)
    top = 2 * float(np.max(np.abs(d[finite]), initial=0.0)) + 1       # above every finite |d|
    d = np.where(finite, d, np.sign(d) * top)
    p = stats.wilcoxon(d, zero_method=ZERO_METHOD, alternative="two-sided", method="auto").pvalue
    return {"n_nonzero": int(len(d)), "p": rounded(p) if np.isfinite(p) else None}


def sign_counts(values, reference):
    """On how many problems R is lower (d_i > 0), higher (d_i < 0), tied (d_i = 0)."""
    d = signed_differences(values, reference)
    return {"reference_lower": int((d > 0).sum()), "reference_higher": int((d < 0).sum()),
            "tied": int((d == 0).sum())}


def heavy_tail_tests(values, reference, level=LEVEL):
    """The fields added beside the raw paired difference: log10_ratio, wilcoxon, signs."""
    return {"log10_ratio": log_ratio(values, reference, level),
            "wilcoxon": signed_rank(values, reference), "signs": sign_counts(values, reference)}


def paired_to_learned(values, learned_labels):
    """For every optimizer, its paired difference to each learned optimizer (other than itself).
    values: dict label -> (N,) per-problem scores. Returns dict label -> {learned label: paired}."""
    return {label: {ref: paired_difference(v, values[ref])
                    for ref in learned_labels if ref != label} for label, v in values.items()}
