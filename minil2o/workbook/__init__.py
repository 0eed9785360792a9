"""The workbook: minil2o's gradient checks as exercises, run on a learner's own functions.

    minil2o workbook new w.py        a file of stubs, one per hand-written piece, in learner order
    minil2o workbook check w.py      the suite's own checks on the learner's functions
    minil2o workbook hint NAME       the derivation of one exercise, step by step

    table.py         the exercises: name -> library function, equation, checks, hint
    lookup.py        impl(name): the function a check tests (the library's, or a learner's)
    measure.py       what a check returns: per output, its error and its bound
    checks.py        the checks of the layers, the autograd engine and the optimizees
    checks_meta.py   the checks of the learned optimizers and of the meta-gradient
    api.py           check(name, fn): one exercise's verdict, as the chapters call it
    stubs.py         the learner's file
    cli.py           the `minil2o workbook` command
"""
from .lookup import impl  # noqa: F401
from .table import EXERCISES  # noqa: F401


def __getattr__(name):
    """`check` and `Result` load the checks (and the library they test) on first use only, so
    that `minil2o <command>` does not import them to build its parser."""
    if name in ("check", "Result"):
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'minil2o.workbook' has no attribute {name!r}")
