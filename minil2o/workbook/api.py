"""The one grader: an exercise's checks run on a learner's function, and the one-line verdict.

    from minil2o.workbook import check
    result = check("lstm_step_backward", my_lstm_step_backward)
    # lstm_step_backward                 right        24 cases (seed 412923), largest error 1.2e-10

A chapter's `check(name, fn)` and `minil2o workbook check` are this code and print this line.
`check` runs the exercise's checks (minil2o/workbook/checks*.py), each over its drawn cases, with
the function in place of the library's; every other piece stays the library's, so one exercise's
mistakes never reach another's verdict. The verdict is `right` (every output of every case within
its bound, every contract kept), `wrong` (the first case that fails: its settings, the output that
differs and the equation to revisit), `not started` (the function raises NotImplementedError),
`error` (any other exception, SystemExit and KeyboardInterrupt included, in one line with the line
of the learner's code it came from) or `timed out`; `minil2o workbook check` adds `missing` for a
function its file lacks. The cases come from a seed of the exercise's own, printed with a failure
so that `--seed` replays it.
"""
import ctypes
import math
import os
import threading
import traceback
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import (checks_layers, checks_learned_steps, checks_meta, checks_optimizees, checks_own,
               checks_preprocessing, checks_rnnprop, checks_sequences, checks_stateful)
from .lookup import substituted
from .measure import Case, case_rng, describe_case
from .table import Exercise, exercise

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
TIME_LIMIT = 60.0
"""Seconds one exercise may run before it is stopped and reported `timed out`."""
CHECK_MODULES = (checks_stateful, checks_layers, checks_sequences, checks_meta, checks_optimizees,
                 checks_preprocessing, checks_learned_steps, checks_rnnprop, checks_own)


def check_function(name):
    """The check called `name` (a function of one of CHECK_MODULES)."""
    for module in CHECK_MODULES:
        if hasattr(module, name):
            return getattr(module, name)
    raise KeyError(f"no check called {name!r}")


def default_seed(name):
    """The exercise's own seed (never a chapter's): a number drawn from its name."""
    return zlib.crc32(f"minil2o workbook {name}".encode()) % 1_000_000


@dataclass
class Result:
    """The verdict on one exercise."""
    exercise: Exercise
    status: str                                   # right, wrong, not started, error, timed out,
    measures: list = field(default_factory=list)  # missing; the outputs compared, in order
    message: str = ""                             # for an error: the exception in one line
    case: Case = None                             # the case that failed (or raised)
    seed: int = None
    cases: int = 0                                # cases run
    suspects: tuple = ()                          # settings that passed at their defaults

    @property
    def right(self):
        return self.status == "right"

    def where(self, hint=True):
        """'when p = 5, n = 7 (...)' for the failing case, '' when there is none; hint: say which
        settings are off their defaults."""
        if self.case is None or not self.case.settings:
            return ""
        text = describe_case(self.case.settings, self.case.defaults if hint else None,
                             self.suspects)
        return f"when {text}: "

    def replay(self):
        return f" [case {self.case.index}, seed {self.seed}: replay with --seed {self.seed}]" \
            if self.case is not None else ""

    def line(self):
        """The exercise's name, its status and what to do next, on one line."""
        head = f"{self.exercise.name:<34s} {self.status:<12s}"
        if self.status == "right":
            numeric = [m.error / m.bound for m in self.measures if m.kind != "contract"]
            return (f"{head} {self.cases} cases (seed {self.seed}), every output within its "
                    f"bound (at most {max(numeric, default=0.0):.0e} of it)")
        if self.status == "wrong":
            bad = max((m for m in self.measures if not m.right),
                      key=lambda m: math.inf if math.isnan(m.error) else m.error / m.bound)
            then = ("the contract is in the function's docstring" if bad.kind == "contract"
                    else f"revisit {bad.equation or self.exercise.equation}")
            return f"{head} {self.where(bad.kind != 'contract')}{bad}; {then}{self.replay()}"
        if self.status == "error":
            return f"{head} {self.where()}{self.message}{self.replay()}"
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


def grade(ex, source, seed):
    """Every case of every check of `ex`, stopping at the first wrong one. Runs with the learner's
    function already substituted. Returns a Result."""
    found, count, passed = [], 0, set()
    for name in ex.checks:
        for i in range(ex.cases):
            case = Case(count, case_rng(seed, count))
            count += 1
            try:
                with np.errstate(all="ignore"):
                    got = check_function(name)(case)
            except NotImplementedError:
                return Result(ex, "not started", seed=seed)
            except BaseException as e:  # the learner's code may raise anything, SystemExit too
                return Result(ex, "error", found, describe(e, source), case, seed, count,
                              tuple(passed))
            found += got
            if not all(m.right for m in got):
                return Result(ex, "wrong", found, case=case, seed=seed, cases=count,
                              suspects=tuple(passed))
            passed |= {k for k, v in case.settings.items() if case.defaults.get(k, v) == v
                       and k in case.defaults}
    return Result(ex, "right", found, seed=seed, cases=count)


def interrupt(thread):
    """Raise TimeoutError in `thread` at its next Python instruction (a loop in the learner's code
    stops there; a call into compiled code stops when it returns)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                               ctypes.py_object(TimeoutError))


def run(ex, fn, source=None, seed=None, time_limit=TIME_LIMIT):
    """Run exercise `ex`'s checks with `fn` in place of its library function, in a thread of their
    own stopped after `time_limit` seconds. `source`: the learner's file, to name the line that
    raised; `seed`: the cases' seed (default: the exercise's own). Returns a Result."""
    seed = default_seed(ex.name) if seed is None else int(seed)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(grade(ex, source, seed)),
                              name=f"workbook check {ex.name}", daemon=True)
    with substituted({ex.name: fn}), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker.start()
        worker.join(time_limit)
        if worker.is_alive():
            interrupt(worker)
            worker.join(1.0)
            return Result(ex, "timed out", message=f"still running after {time_limit:g} s (a "
                          "loop that never ends?); it was stopped", seed=seed)
    if not outcome:
        return Result(ex, "error", message="the check ended without a verdict", seed=seed)
    return outcome[0]


def check(name, fn, quiet=False, seed=None, time_limit=TIME_LIMIT):
    """Run workbook exercise `name`'s checks on `fn` (a function with the library function's
    signature), print the one-line verdict unless quiet, and return the Result."""
    result = run(exercise(name), fn, seed=seed, time_limit=time_limit)
    if not quiet:
        print(result.line())
    return result
