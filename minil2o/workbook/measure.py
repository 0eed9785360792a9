"""What a check returns, and the tools every check shares to build it.

A check is a property over many drawn cases: `check(case) -> [Measure]` draws case i's settings and
inputs from `case.rng` (a generator of the check's own, never a chapter's), calls the function under
test, and compares every documented output with an independent answer (central differences in
float64, a host computation, the autograd engine), each with its bound. It also enforces the
exercise's contract: the output has the input's dtype and shape, the inputs are left as they were
(or changed exactly as the contract says), gradients accumulate. The Case names the settings and
shapes drawn and the settings' defaults, so that a verdict can say "wrong when p = 5 ... (is 10
written in?)".

The suite's tests assert every measure of every case right; the workbook prints the first that is
not. `case.notes` carry values a test asserts on beyond the bounds.
"""
import copy
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..backend import asarray, to_numpy


@dataclass
class Measure:
    """One compared output: right when error < bound (a NaN error is never right). A contract
    (kind "contract") is a yes/no property; its `detail` says what was broken."""
    output: str                   # e.g. "dx" or "d_phi[Wx1]"
    error: float
    bound: float
    equation: str = ""            # where this output is derived, when it is not the exercise's
    kind: str = "relative error"  # or "absolute error", "largest entrywise relative error", ...
    detail: str = ""              # for a contract: what was broken

    @property
    def right(self):
        return bool(self.error < self.bound)

    def __str__(self):
        if self.kind == "contract":
            return f"{self.output}: {self.detail}"
        return f"{self.output}: {self.kind} {self.error:.1e} (bound {self.bound:.0e})"


def describe_case(case, defaults=None, suspects=()):
    """'p = 5, mode = log, n = 7 (p is not its default 10 here: is 10 written in?)': the settings
    of a case, those off their defaults named, with the question for the `suspects` (settings
    that passed at their defaults in earlier cases of the same run)."""
    text = ", ".join(f"{k} = {v}" for k, v in case.items())
    defaults = defaults or {}
    moved = [k for k, v in case.items() if k in defaults and v != defaults[k]]
    asked = [k for k in moved if k in suspects]
    if asked:
        text += " (" + "; ".join(f"{k} is not its default {defaults[k]} here: is {defaults[k]} "
                                 "written in?" for k in asked) + ")"
    elif moved:
        text += f" (off their defaults: {', '.join(moved)})"
    return text


# -- comparing outputs ----------------------------------------------------------------------------
def measures(errors, bound, equation="", prefix=""):
    """{output: relative error} as Measures with one bound; names get `prefix` (e.g. 'd')."""
    return [Measure(f"{prefix}{name}", float(error), bound, equation)
            for name, error in errors.items()]


def entry_error(actual, desired):
    """The largest |actual - desired| / |desired| over the entries (numpy's assert_allclose with
    atol = 0 passes when this is at most rtol); an entry where desired is 0 counts 0 if actual is
    0 too, else infinity. A shape that differs is an infinite error."""
    a = np.asarray(to_numpy(actual), dtype=np.float64)
    d = np.asarray(to_numpy(desired), dtype=np.float64)
    if a.shape != d.shape:
        return math.inf
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


# -- contracts ------------------------------------------------------------------------------------
def contract(output, ok, detail, equation=""):
    """A yes/no property as a Measure: right when ok."""
    return Measure(output, 0.0 if ok else math.inf, 1.0, equation, "contract", detail)


def shape_and_dtype(outputs, like):
    """Contracts: each output of {name: array} has the shape and dtype of like[name] (an array, or
    a (shape, dtype) pair). A missing or non-array output breaks both."""
    found = []
    for name, expected in like.items():
        shape, dtype = ((tuple(expected.shape), expected.dtype) if hasattr(expected, "shape")
                        else expected)
        out = outputs.get(name)
        if not hasattr(out, "shape"):
            found.append(contract(name, False, f"returned {type(out).__name__}, expected an "
                                  f"array of shape {shape}"))
            continue
        found.append(contract(f"{name} shape", tuple(out.shape) == tuple(shape),
                              f"shape {tuple(out.shape)}, expected {tuple(shape)}"))
        found.append(contract(f"{name} dtype", dtype_name(out.dtype) == dtype_name(dtype),
                              f"dtype {dtype_name(out.dtype)}, expected {dtype_name(dtype)} (the "
                              "inputs' dtype: keep it; "
                              "a float64 result in a float32 library doubles its memory)"))
    return found


def dtype_name(dtype):
    """'float32' for a dtype of any backend (numpy's, array_api_strict's) or its name."""
    return str(dtype).rsplit(".", 1)[-1]


def host_copy(tree):
    """A host copy of every array in a nested dict/list/tuple (other leaves deep-copied)."""
    if isinstance(tree, dict):
        return {k: host_copy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(host_copy(v) for v in tree) if isinstance(tree, list) else \
            tuple(host_copy(v) for v in tree)
    if hasattr(tree, "shape") and hasattr(tree, "dtype"):
        return np.array(to_numpy(tree), copy=True)
    try:
        return copy.deepcopy(tree)
    except Exception:  # an object that cannot be copied (a problem, an optimizer): not compared
        return None


def same(a, b):
    """Whether two host_copy trees hold the same values (NaN equal to NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.shape == b.shape
                and bool(np.array_equal(a, b, equal_nan=True)))
    if type(a) is type(b) and hasattr(a, "__dict__") and (type(a).__eq__ is object.__eq__
                                                         or dataclasses.is_dataclass(a)):
        return same(host_copy(vars(a)), host_copy(vars(b)))      # an object: its attributes
    return a is None or b is None or bool(a == b)


def guarded_call(fn, inputs, names=None):
    """Call fn(*inputs) and check that it left every input as it was. names: a name for each
    input (or None to skip one, e.g. an object not compared). Returns (output, [Measure])."""
    names = names or [f"argument {k + 1}" for k in range(len(inputs))]
    before = [host_copy(x) if name else None for x, name in zip(inputs, names)]
    out = fn(*inputs)
    found = [contract(f"{name} (an input)", same(b, host_copy(x)),
                      f"{name} was changed in place: the contract is to leave the inputs as "
                      "they were (work on a copy, or on new arrays)")
             for x, b, name in zip(inputs, before, names) if name]
    return out, found


# -- what every check shares ----------------------------------------------------------------------
TOL = 1e-7
"""The bar of a gradient check (chapter 2): a right backward pass shows ~1e-10, a wrong one ~1."""
F32 = 1e-4
"""The bar of a float32 case against a float64 answer on the same (rounded) inputs."""


def float32_case(case, every=4):
    """Whether case i runs in float32 (one case in `every`): the dtype contract's cases."""
    return case.index % every == every - 1


def host(a):
    """A host float64 copy of an array (any backend) or number."""
    return np.array(to_numpy(a), dtype=np.float64)


def rounded(a, dtype):
    """Host float64 values of `a` as a function sees them in `dtype` (exactly representable):
    a float32 case and its float64 twin start from the very same numbers."""
    return np.asarray(host(a).astype(dtype), dtype=np.float64)


# -- drawing cases --------------------------------------------------------------------------------
@dataclass
class Case:
    """One drawn case of a check: its generator, and what the verdict says about it. A check
    calls `case.note(p=5, n=7)` as it draws (before it calls the learner's function, so that an
    exception is reported with the case), and `case.default(p=10)` for the library's defaults."""
    index: int
    rng: np.random.Generator
    settings: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    def note(self, **settings):
        self.settings.update(settings)

    def default(self, **defaults):
        self.defaults.update(defaults)

    def __str__(self):
        return describe_case(self.settings, self.defaults)


def case_rng(seed, i):
    """The generator of case i of a check run with `seed` (independent of every other case)."""
    return np.random.default_rng([int(seed), int(i)])


def draw_dims(rng, count, low=1, high=7):
    """`count` sizes in [low, high]: size 1, odd and even sizes all occur across cases."""
    return [int(d) for d in rng.integers(low, high + 1, size=count)]


def normal(rng, shape, scale=1.0, dtype="float64"):
    """N(0, scale^2) entries as a backend array of `dtype`."""
    return asarray(scale * rng.standard_normal(shape), dtype=dtype)
