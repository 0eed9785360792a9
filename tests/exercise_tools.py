"""What the exercise tests share: a right version must pass every case of its exercise with a
margin (each output at most 1/100 of its bound), a wrong version must not pass.

    assert_right("linear_backward", my_loop_version)
    assert_flagged("linear_backward", my_wrong_version)

Right and wrong versions are plain functions with the library function's signature, written with
`xp` so that they run under every backend (MINIL2O_BACKEND=strict included)."""
from minil2o import workbook
from minil2o.workbook.lookup import resolve

MARGIN = 0.01
"""A right answer's largest error, as a fraction of its bound, on every case."""


def library(name):
    """The library function an exercise mirrors (a right version by definition)."""
    return resolve(workbook.table.BY_NAME[name].library)


def assert_right(name, fn, seed=None):
    """fn passes every case of exercise `name`, each output below MARGIN of its bound."""
    result = workbook.check(name, fn, quiet=True, seed=seed)
    assert result.right, result.line()
    worst = max((m.error / m.bound for m in result.measures if m.kind != "contract"), default=0.0)
    assert worst < MARGIN, f"{name}: a right answer reaches {worst:.2g} of its bound"
    return result


def assert_flagged(name, fn, seed=None):
    """fn is graded wrong (or raises: an error naming the case) on exercise `name`."""
    result = workbook.check(name, fn, quiet=True, seed=seed)
    assert result.status in ("wrong", "error"), f"{name}: a wrong version passed: {result.line()}"
    return result
