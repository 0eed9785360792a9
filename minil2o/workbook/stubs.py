"""A learner's workbook file: one stub per exercise, in the table's order.

Each stub has the library function's name and signature (a method's `self` gets the name the
table gives it), a docstring with what it computes, the shapes, the equation to implement and a
`Library:` line naming the function it mirrors, and the body `raise NotImplementedError`.
"""
import inspect

from .lookup import resolve
from .table import EXERCISES

HEADER = '''"""My minil2o workbook.

Replace each `raise NotImplementedError` by your own code, then run

    minil2o workbook check {path}

to check every exercise (name some after the file to check only those), and

    minil2o workbook hint NAME

for the derivation of one, step by step.

The checks are minil2o's own gradient checks (float64, central differences or an independent
answer), run over many drawn cases with your function in place of the library's. Write array
code with `xp` (or, where the docstring says so, the namespace of the inputs:
`array_namespace(x)`), so the checks also run under MINIL2O_BACKEND=strict and cupy.
"""
import math

import numpy as np
from array_api_compat import array_namespace

from minil2o.autograd import Tensor
from minil2o.backend import xp
'''


def signature(ex):
    """The learner's signature: the library function's, with a method's `self` renamed."""
    sig = inspect.signature(resolve(ex.library))
    if ex.self_name:
        params = list(sig.parameters.values())
        sig = sig.replace(parameters=[params[0].replace(name=ex.self_name), *params[1:]])
    return sig


def stub(ex):
    """The source of one stub."""
    method = ""
    if ex.self_name:
        owner = ".".join(ex.library.split(".")[-2:])
        method = (f"\n\n    The method {owner}, as a function:\n"
                  f"    its `self` is the argument `{ex.self_name}`.")
    shapes = "\n    ".join(ex.shapes.splitlines())
    return (f"def {ex.name}{signature(ex)}:\n"
            f'    """{ex.title}.{method}\n\n'
            f"    {shapes}\n\n"
            f"    Equation: {ex.equation}.\n"
            f"    Library: {ex.library}\n"
            f'    """\n'
            f"    raise NotImplementedError\n")


def workbook_source(path):
    """The whole file: the header, then every stub in learner order."""
    return HEADER.format(path=path) + "".join(f"\n\n{stub(ex)}" for ex in EXERCISES)
