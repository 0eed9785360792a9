"""Which function a check tests: the library's, or a learner's in its place.

Every check that tests a piece named in the workbook's table calls it through `impl(name)`: the
library function on the exercise's `library` line, or, inside `substituted({name: fn})`, the
learner's `fn`. This one indirection lets `minil2o workbook check` run the suite's own gradient
checks on a learner's file, and lets a chapter run them on the function a learner just wrote.
"""
import contextlib
import importlib

from .table import BY_NAME

_substitutes = {}


def resolve(dotted):
    """The object a dotted name minil2o.MODULE.NAME[.ATTR] stands for (a function or a method)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"no module in {dotted!r}")


def impl(name, default=None):
    """The function under test called `name`: the learner's while one is substituted, else the
    library's. A name that is not an exercise gives `default` (for checks shared with
    non-exercise pieces, such as the ReLU's backward pass)."""
    if name in _substitutes:
        return _substitutes[name]
    if name in BY_NAME:
        return resolve(BY_NAME[name].library)
    if default is None:
        raise KeyError(f"{name!r} is not a workbook exercise")
    return default


@contextlib.contextmanager
def substituted(functions):
    """Within the block, impl(name) returns functions[name] for each name given."""
    unknown = [name for name in functions if name not in BY_NAME]
    if unknown:
        raise KeyError(f"unknown exercise {unknown[0]!r}: choose from {', '.join(BY_NAME)}")
    saved = dict(_substitutes)
    _substitutes.update(functions)
    try:
        yield
    finally:
        _substitutes.clear()
        _substitutes.update(saved)
