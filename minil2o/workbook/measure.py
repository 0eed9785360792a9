"""What a check returns: one Measure per output it compared, each with its error and its bound.

A check compares each output of the function under test with an independent answer (central
differences in float64, a host computation, the autograd engine) and reports, per output, the error
and the bound it must stay below. The suite's tests assert every measure is right; the workbook
prints the first one that is not. `notes` carry values a test asserts on beyond the bounds (facts
about the set-up, such as how far a point is from a ReLU's kink).
"""
import math
from dataclasses import dataclass, field

import numpy as np

from ..backend import to_numpy


@dataclass
class Measure:
    """One compared output: right when error < bound (a NaN error is never right)."""
    output: str                   # e.g. "dx" or "d_phi[Wx1]"
    error: float
    bound: float
    equation: str = ""            # where this output is derived, when it is not the exercise's
    kind: str = "relative error"  # or "absolute error", "largest entrywise relative error"

    @property
    def right(self):
        return bool(self.error < self.bound)

    def __str__(self):
        return f"{self.output}: {self.kind} {self.error:.1e} (bound {self.bound:.0e})"


@dataclass
class Report:
    """A check's measures, and notes for the suite's own further assertions."""
    measures: list
    notes: dict = field(default_factory=dict)

    @property
    def right(self):
        return bool(self.measures) and all(m.right for m in self.measures)

    def __str__(self):
        return "; ".join(str(m) for m in self.measures)


def measures(errors, bound, equation="", prefix=""):
    """{output: relative error} as Measures with one bound; names get `prefix` (e.g. 'd')."""
    return [Measure(f"{prefix}{name}", float(error), bound, equation)
            for name, error in errors.items()]


def entry_error(actual, desired):
    """The largest |actual - desired| / |desired| over the entries (numpy's assert_allclose with
    atol = 0 passes when this is at most rtol); an entry where desired is 0 counts 0 if actual is
    0 too, else infinity."""
    a = np.asarray(to_numpy(actual), dtype=np.float64)
    d = np.asarray(to_numpy(desired), dtype=np.float64)
    if a.shape != d.shape:
        raise ValueError(f"output of shape {a.shape}, expected {d.shape}")
    diff = np.abs(a - d)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(diff == 0, 0.0, diff / np.abs(d))
    return float(np.max(ratios, initial=0.0)) if not np.isnan(diff).any() else math.nan


def named(names, values, what="gradients"):
    """dict(zip(names, values)), or a ValueError when a function returned another count."""
    values = values if isinstance(values, (tuple, list)) else (values,)
    if len(values) != len(names):
        raise ValueError(f"returned {len(values)} {what}, expected {len(names)}: "
                         f"{', '.join(names)}")
    return dict(zip(names, values))
