"""The checks of the learned optimizers' exercises: Appendix A's gradient preprocessing forwards
and backwards (chapter 6), one step of the DM optimizer backwards (chapter 4), RNNprop's relative
inputs forwards and backwards and one step of RNNprop backwards (chapter 9).

Each check is a property over drawn cases (minil2o/workbook/measure.py): every setting the function
reads (mode, p, output scale, beta1, beta2, eps, alpha, hidden size, layers, need_d_grad) is drawn
per case, away from its default, and the gradients are drawn where each term matters: on both
sides of e^-p (exactly 0 and exactly e^-p among them), and second moments near eps^2 so that where
eps sits shows. The independent answers:

* the preprocessing and the relative inputs on the host in float64, written from their equations;
  their backward passes against the host's closed-form derivative and against central differences
  of a 4-point stencil whose step is relative to each coordinate (every coordinate's outputs depend
  on that coordinate only, so one evaluation perturbs them all);
* a whole step's backward pass against the autograd engine (minil2o.autograd), which is exact to
  rounding. Central differences are not: with an absolute step h = 1e-6, the DM step's d grad at a
  log-preprocessed |g| = 1.5e-3 is off by (h/g)^2/3 = 6.4e-8, where the old check's right answer
  sat against its 1e-7 bound. The engine gives the gradient on the step's input x, which the
  host's closed form carries back to the raw gradient.

Outputs whose entries span many scales (d grad near e^-p is e^p times larger than far from it;
eps-sized second moments beside ordinary ones) are compared entry by entry, each relative to the
size of the terms it sums, so that a mistake on the small entries cannot hide behind the large.
"""
import math

import numpy as np
from .measure import host


TERMS = "largest entrywise error, relative to the size of its terms"
MODES = ("clamped", "none", "log")
"""Preprocessing modes in the order the cases take them: case 0 is not the default 'log'."""
CLAMP_EPS = 1e-8
"""The eps inside the clamped mode's log (minil2o.optimizers.learned.preprocess_forward)."""


def terms_error(actual, candidates, scale):
    """max over entries of min over candidates of |actual - c| / scale: each entry against the
    size of the terms it sums (an entry of scale 0 must equal a candidate exactly). A shape that
    differs is an infinite error, a NaN a NaN."""
    a = host(actual)
    if a.shape != scale.shape:
        return math.inf
    if np.isnan(a).any():
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        errs = [np.where(np.abs(a - c) == 0, 0.0, np.abs(a - c) / scale) for c in candidates]
    return float(np.max(np.min(errs, axis=0), initial=0.0))


def draw_setting(rng, low, high, default, digits=2):
    """A number log-uniform in [low, high] with `digits` significant digits, never the default."""
    value = float(f"{10 ** rng.uniform(math.log10(low), math.log10(high)):.{digits}g}")
    return value if value != default else float(f"{value * 1.3:.{digits}g}")


# ---------------------------------------------------------------------------------------------
# Appendix A's preprocessing on the host
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# One step of a learned optimizer, backwards, against the autograd engine
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# RNNprop's relative inputs (Lv et al. 2017, section 4.3; chapter 9)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# One step of RNNprop, backwards
# ---------------------------------------------------------------------------------------------


