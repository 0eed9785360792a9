"""Running one exercise's checks on a learner's function, and the one-line verdict.

    from minil2o.workbook import check
    result = check("lstm_step_backward", my_lstm_step_backward)
    # lstm_step_backward                 right        largest relative error 7.0e-10

`check` runs the exercise's checks (the suite's own, minil2o/workbook/checks*.py) with the function
in place of the library's; every other piece stays the library's, so one exercise's mistakes never
reach another's verdict. The verdict is `right` (every output within its bound), `wrong` (the
worst output, its error and the equation to revisit), `not started` (the function raises
NotImplementedError) or `error` (any other exception, in one line, with the line of the learner's
code it came from); `minil2o workbook check` adds `missing` for a function its file lacks.
"""
import math
import os
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import checks, checks_meta
from .lookup import substituted
from .table import Exercise, exercise

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def check_function(name):
    """The check called `name` (a function of minil2o.workbook.checks or checks_meta)."""
    for module in (checks, checks_meta):
        if hasattr(module, name):
            return getattr(module, name)
    raise KeyError(f"no check called {name!r}")


@dataclass
class Result:
    """The verdict on one exercise."""
    exercise: Exercise
    status: str                                   # right, wrong, not started, error, missing
    measures: list = field(default_factory=list)  # the outputs compared, in order
    message: str = ""                             # for an error: the exception in one line

    @property
    def right(self):
        return self.status == "right"

    def line(self):
        """The exercise's name, its status and what to do next, on one line."""
        head = f"{self.exercise.name:<34s} {self.status:<12s}"
        if self.status == "right":
            relative = [m.error for m in self.measures if m.kind != "absolute error"]
            return f"{head} largest relative error {max(relative, default=0.0):.1e}"
        if self.status == "wrong":
            bad = max((m for m in self.measures if not m.right),
                      key=lambda m: math.inf if math.isnan(m.error) else m.error / m.bound)
            return f"{head} {bad}; revisit {bad.equation or self.exercise.equation}"
        return f"{head} {self.message}".rstrip()


def where_raised(error, source=None):
    """'file:line' of the learner's code that raised: the last frame in `source` if given, else
    the last frame outside the minil2o package; '' when there is none."""
    frames = traceback.extract_tb(error.__traceback__)
    if source is not None:
        mine = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(source)]
    else:
        mine = [f for f in frames if not os.path.abspath(f.filename).startswith(PACKAGE_DIR)]
    return f"{os.path.basename(mine[-1].filename)}:{mine[-1].lineno}" if mine else ""


def describe(error, source=None):
    """An exception as one line: 'TypeError: message (file.py:12)'."""
    text = " ".join(str(error).split())
    text = text if len(text) <= 120 else text[:117] + "..."
    place = where_raised(error, source)
    return f"{type(error).__name__}: {text}" + (f" ({place})" if place else "")


def run(ex, fn, source=None):
    """Run exercise `ex`'s checks with `fn` in place of its library function; stop at the first
    check that finds a wrong output. `source`: the learner's file, to name the line that raised.
    Returns a Result."""
    found = []
    with substituted({ex.name: fn}), np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ex.checks:
            try:
                report = check_function(name)()
            except NotImplementedError:
                return Result(ex, "not started")
            except Exception as e:  # the learner's code may raise anything
                return Result(ex, "error", found, describe(e, source))
            found += report.measures
            if not report.right:
                return Result(ex, "wrong", found)
    return Result(ex, "right", found)


def check(name, fn, quiet=False):
    """Run workbook exercise `name`'s checks on `fn` (a function with the library function's
    signature), print the one-line verdict unless quiet, and return the Result."""
    result = run(exercise(name), fn)
    if not quiet:
        print(result.line())
    return result
