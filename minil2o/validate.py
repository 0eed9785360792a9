"""Checks of user-given values: each returns the value (as int or float) or raises a UsageError
that names the value and what is allowed, in one line ("horizon must be a positive integer,
got 0"). Every module that takes settings from its user checks them with these.

    check_positive_int(value, name, maximum) 1, 2, 3, ... maximum  (sizes, step counts)
    check_seed(value, name="seed")           0, 1, 2, ... < 2**63  (numpy.random.default_rng)
    check_number(value, name, minimum=...)   a finite real number, > minimum or >= minimum
    check_range(value, name, low, high)      a finite real number in [low, high] (or open ends)
    check_choice(value, name, allowed)       one of a few names
    check_bool(value, name)                  True or False
    check_setting(name, value)               a problem's or optimizer's setting, by its name
    check_settings(settings, defaults)       all of them, and the memory they multiply to
    check_bound(name, value, label)          a number against its row of BOUNDS, the one table
                                             of every number a flag or an API setting takes
    flag_type(name, flag)                    the same as an argparse type: refused while parsing
    check_memory(nbytes, what)               an estimate of memory against the limit
    check_gradient(grad, n, dtype)           a gradient handed to an optimizer's public step

No value given is ever replaced by a default: a flag left out is None (or its documented
default), a value given is used as given or refused. A bool is never taken for a number (True
would pass isinstance(True, int)). Sizes have sane upper bounds (a hidden layer of 10^9 units is
a typo, not a plan): they end in one line here instead of a MemoryError, an OverflowError or a
hang later. Settings of the problems and the learned optimizers are checked by name (SETTINGS,
from BOUNDS), the same rule wherever the name appears, when minil2o builds an object from user
settings (build_with_settings below).
"""
import argparse
import inspect
import math
import numbers
import os
import sys
from typing import NamedTuple

from .errors import GradientError, UsageError

SEED_LIMIT = 2 ** 63


def is_integer(value):
    """An int or numpy integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """A finite real number (int, float or numpy scalar) that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_positive_int(value, name, maximum=None):
    """value as an int >= 1 (and <= maximum if given), or a UsageError naming it."""
    if not is_integer(value) or value < 1 or (maximum is not None and value > maximum):
        most = f" <= {maximum}" if maximum is not None else ""
        raise UsageError(f"{name} must be a positive integer{most}, got {value!r}")
    return int(value)


def check_seed(value, name="seed"):
    """value as an int >= 0 (what numpy.random.default_rng accepts) below 2**63, or a UsageError."""
    return check_bound("seed", value, name)


def check_range(value, name, low, high, open_low=False, open_high=False):
    """value as a float: a finite number in [low, high], or (low, ... / ..., high) when open."""
    ok = is_number(value) and (value > low if open_low else value >= low) \
        and (value < high if open_high else value <= high)
    if not ok:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise UsageError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def check_number(value, name, minimum=0.0, strict=False, note=""):
    """value as a float: a finite number >= minimum (> minimum when strict), or a UsageError.
    note is added to the message after what is allowed, e.g. " (0: off)"."""
    if not (is_number(value) and (value > minimum if strict else value >= minimum)):
        allowed = ("a positive number" if strict and minimum == 0
                   else f"a number {'>' if strict else '>='} {minimum:g}")
        raise UsageError(f"{name} must be {allowed}{note}, got {value!r}")
    return float(value)


def check_choice(value, name, allowed):
    """value if it is one of `allowed` (names), or a UsageError listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise UsageError(f"unknown {name} {value!r}: choose one of {', '.join(allowed)}")
    return value


def check_bool(value, name):
    """value if it is True or False, or a UsageError."""
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be True or False, got {value!r}")
    return value


# -- the table of bounds: every number a command-line flag or an API setting takes ----------------
class Bound(NamedTuple):
    """The values one number may take: kind "int" (a whole number) or "float" (a finite real
    number) in [low, high], an end refused where it is open. A bound that holds 0 says what 0
    means in `note` (" (0: off)"), unless 0 is an ordinary value of it (a seed, a momentum)."""
    kind: str
    low: float
    high: float
    open_low: bool = False
    open_high: bool = False
    note: str = ""


LARGEST = sys.float_info.max            # no upper bound but finiteness
UNIT_INTERVAL = Bound("float", 0, 1, open_high=True)          # a decay or momentum: [0, 1)
NONNEGATIVE = Bound("float", 0, LARGEST)


def _counts(high, *names):
    return {name: Bound("int", 1, high) for name in names}


BOUNDS = {
    # sizes and counts: TrainConfig's fields (minil2o.training.train) and the commands' flags
    **_counts(10 ** 7, "horizon", "epochs", "problems_per_epoch", "sizes"),
    **_counts(10 ** 5, "unroll", "meta_batch", "validation_problems", "mnist_meta_batch",
              "num_test"),
    **_counts(10 ** 6, "steps"), **_counts(10 ** 4, "num_tune"),
    **_counts(1000, "repeat", "unrolls", "threads"),          # bench: timed runs, a sweep, PyTorch
    "seed": Bound("int", 0, SEED_LIMIT - 1),
    "base_seed": Bound("int", 0, 2 ** 62 - 1),   # a command's seed that derives seed+1, seed+100
    # real numbers: training, bench, workbook
    "meta_lr": Bound("float", 0, 10, open_low=True),
    "clip_norm": Bound("float", 0, LARGEST, note=" (0: off)"),
    "random_scaling": Bound("float", 0, 20, note=" (0: off)"),     # exp(20) = 4.9e8
    "convex_scaling": Bound("float", 0, 20, note=" (0: off)"),
    "max_gb": Bound("float", 0, 1e6, open_low=True),
    "time_limit": Bound("float", 0, 86400, open_low=True),
    # the hand-designed optimizers (minil2o.optimizers.hand) and the learned ones (Andrychowicz
    # et al. 2016, Appendix A; Lv et al. 2017, section 4)
    "lr": Bound("float", 0, 1000, open_low=True),
    "momentum": UNIT_INTERVAL, "decay": UNIT_INTERVAL, "rho": UNIT_INTERVAL,
    "nag_momentum": Bound("float", 0, 1, open_low=True, open_high=True),
    "beta1": UNIT_INTERVAL, "beta2": UNIT_INTERVAL,
    "eps": Bound("float", 0, 1, open_low=True), "alpha": Bound("float", 0, 1e6, open_low=True),
    "p": Bound("float", 0, 80, open_low=True),     # exp(p) overflows float32 from p = 88.7
    "output_scale": Bound("float", 0, 1e6, open_low=True), "num_layers": Bound("int", 1, 16),
    # the problem families
    **_counts(100_000, "dim", "seq_len"), **_counts(1_000_000, "num_functions", "batch_size"),
    **_counts(4096, "channels", "size"), "kernel_size": Bound("int", 1, 99),
    **{name: NONNEGATIVE for name in ("init_std", "init_scale", "noise", "init_noise",
                                      "content_weight", "style_weight", "tv_weight")},
}


def check_bound(name, value, label=None):
    """value checked against BOUNDS[name] (label: how the message names it, default name): the
    int or float, or a UsageError naming it, the value given and the range allowed."""
    b = BOUNDS[name]
    ok = is_integer(value) if b.kind == "int" else is_number(value)
    ok = ok and (value > b.low if b.open_low else value >= b.low) \
        and (value < b.high if b.open_high else value <= b.high)
    if not ok:
        raise UsageError(f"{label or name} must be {allowed_text(name)}, got {value!r}")
    return int(value) if b.kind == "int" else float(value)


def allowed_text(name):
    """What BOUNDS[name] allows, in words: "a number in (0, 1000]", "an integer >= 0 and < 2**63"."""
    b = BOUNDS[name]
    if b.kind == "int":
        most = (f"< 2**{(b.high + 1).bit_length() - 1}" if (b.high + 1) & b.high == 0
                else f"<= {b.high}")
        return f"a positive integer <= {b.high}" if b.low == 1 else \
            f"an integer >= {b.low} and {most}"
    if b.high == LARGEST:
        return ("a positive number" if b.open_low and b.low == 0 else
                f"a number {'>' if b.open_low else '>='} {b.low:g}") + b.note
    return (f"a number in {'(' if b.open_low else '['}{b.low:g}, {b.high:g}"
            f"{')' if b.open_high else ']'}{b.note}")


def flag_type(name, flag, separator=None):
    """An argparse type for `flag`: its text read as BOUNDS[name]'s kind (or, with a separator, a
    list of them, where "1e3" is read as 1000) and checked, so that a bad value is refused while
    the line is parsed, in one line naming the flag, the value given and the range allowed."""
    b, label = BOUNDS[name], flag.lstrip("-").replace("-", "_")

    def one(text):
        try:
            return check_bound(name, read_number(text, b.kind, separator is not None), label)
        except UsageError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    def read(text):
        if separator is None:
            return one(text)
        return [one(part) for part in text.split(separator) if part.strip()] or one(text)
    read.__name__, read.bound = b.kind, name       # argparse names the kind; tests read `bound`
    return read


def read_number(text, kind, scientific=False):
    """text as an int or a float (kind); "1e3" as the int 1000 where scientific; the text
    itself where it is not such a number (then refused, by name, by check_bound)."""
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        pass
    try:
        value = float(text) if scientific else None
    except ValueError:
        return text
    whole = value is not None and abs(value) < 2 ** 63 and value == int(value)
    return int(value) if whole else text


def shown(path):
    """A path as it can be printed: a name that is not valid UTF-8 (bytes the file system kept as
    surrogate escapes) with those bytes as \\xNN, instead of a UnicodeEncodeError on stdout."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


# -- settings of the problems and the learned optimizers, by name -------------------------------
def _sizes_rule(maximum, max_layers=16):
    """A positive int <= maximum, or a list of 1..max_layers of them (layer sizes)."""
    def rule(value, name):
        sizes = list(value) if isinstance(value, (list, tuple)) else [value]
        if not 1 <= len(sizes) <= max_layers:
            raise UsageError(f"{name} must be 1 to {max_layers} layer sizes, got {value!r}")
        for size in sizes:
            if not is_integer(size) or not 1 <= size <= maximum:
                raise UsageError(f"{name} must be positive integers <= {maximum}, got {value!r}")
        return value
    return rule


SETTING_NAMES = ("num_layers", "p", "output_scale", "beta1", "beta2", "eps", "alpha", "dim",
                 "num_functions", "batch_size", "channels", "seq_len", "kernel_size", "size",
                 "init_std", "init_scale", "noise", "init_noise", "content_weight",
                 "style_weight", "tv_weight")
SETTINGS = {"hidden": _sizes_rule(4096),
            **{name: lambda value, name: check_bound(name, value) for name in SETTING_NAMES}}


def check_setting(name, value):
    """A setting of a problem family or a learned optimizer checked by its name (SETTINGS):
    its type, finiteness and range. Names without a rule are left to their constructor."""
    rule = SETTINGS.get(name)
    if rule is not None:
        rule(value, name)
    return value


def check_settings(settings, defaults=None):
    """Every setting checked by name, then the memory that settings which multiply take (with
    `defaults` for those not given): a batch of quadratics holds num_functions x dim x dim."""
    for name, value in settings.items():
        check_setting(name, value)
    every = {**(defaults or {}), **settings}
    if is_integer(every.get("num_functions")) and is_integer(every.get("dim")):
        check_memory(8 * every["num_functions"] * every["dim"] ** 2,
                     f"{every['num_functions']} quadratics of dimension {every['dim']}")
    return settings


# -- memory ---------------------------------------------------------------------------------------
def memory_limit():
    """The most bytes one allocation estimate may reach: MINIL2O_MAX_MEMORY_BYTES if set, else the
    machine's physical memory (else 64 GiB where it cannot be read)."""
    return _limit_from_env("MINIL2O_MAX_MEMORY_BYTES", _physical_memory)


def read_limit():
    """The most bytes a file may hold or inflate to when read (checkpoints, caches, data):
    MINIL2O_MAX_READ_BYTES if set, else 2 GiB."""
    return _limit_from_env("MINIL2O_MAX_READ_BYTES", lambda: 2 << 30)


def _limit_from_env(variable, default):
    text = os.environ.get(variable)
    if text is None:
        return default()
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(f"{variable} must be a positive number of bytes, got {text!r}")
    return int(text)


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 64 << 30


def check_memory(nbytes, what):
    """A UsageError when an estimate of nbytes for `what` exceeds memory_limit()."""
    limit = memory_limit()
    if nbytes > limit:
        raise UsageError(f"{what} would need about {nbytes / 2**30:.3g} GiB, more than the "
                         f"{limit / 2**30:.3g} GiB allowed (the machine's memory, or "
                         "MINIL2O_MAX_MEMORY_BYTES): use smaller sizes")
    return nbytes


# -- a gradient handed to an optimizer's public step ---------------------------------------------
def check_gradient(grad, n=None, dtype=None, what="gradient"):
    """The policy of the public step of the learned optimizers (LearnedOptimizer.step, the
    per-group optimizer's step) and of the drop-in API (minil2o.use.dropin): a gradient must be a
    backend vector (n,) of real floats of the state's dtype, with every value finite. A NaN or Inf
    is refused with a GradientError (both a NumericalError and a UsageError) counting them, rather
    than silently making the state of those coordinates NaN for good; a wrong length (which could
    broadcast into the state), a matrix, a complex or integer dtype are refused with a UsageError.
    Nothing is changed when it refuses. One pass over grad. Returns grad."""
    from .backend import xp
    if not (hasattr(grad, "shape") and hasattr(grad, "dtype")):
        raise UsageError(f"{what} must be an array, got {type(grad).__name__}")
    if len(grad.shape) != 1 or (n is not None and grad.shape[0] != n):
        want = f"({n},)" if n is not None else "a vector (n,)"
        raise UsageError(f"{what} must have shape {want}, got {tuple(grad.shape)}")
    if grad.dtype not in (xp.float32, xp.float64) or (dtype is not None and grad.dtype != dtype):
        want = _dtype_name(dtype) if dtype is not None else "float32 or float64"
        raise UsageError(f"{what} must hold real floats of dtype {want}, got {_dtype_name(grad.dtype)}")
    bad = count_nonfinite(grad)
    if bad:
        raise GradientError(f"{what} holds {bad} NaN or Inf value(s) out of {grad.shape[0]}: "
                            "refused (they would turn those coordinates' state NaN for good)", bad)
    return grad


def _dtype_name(dtype):
    """'float32' for numpy's, CuPy's and array_api_strict's float32 alike."""
    return str(getattr(dtype, "__name__", dtype)).rsplit(".", 1)[-1]


def count_nonfinite(array):
    """How many entries of a backend array are NaN or Inf, as an int (one pass over it)."""
    from .backend import xp
    return int(xp.sum(xp.astype(~xp.isfinite(array), xp.int64)))


def build_with_settings(builder, settings, what, allowed):
    """builder(**settings), where a setting not in `allowed`, or one of the wrong type or value,
    raises a UsageError naming it and `what` is being built (e.g. "problem family 'quadratic'").
    Each setting is first checked by its name (minil2o.validate.SETTINGS: finite, in range, a sane
    size), so NaN, Inf or a size that would exhaust memory never reaches the constructor."""
    unknown = [k for k in settings if k not in allowed]
    if unknown:
        raise UsageError(f"unknown setting {unknown[0]!r} for {what}: choose from {', '.join(allowed)}")
    try:
        defaults = {name: p.default for name, p in inspect.signature(builder).parameters.items()
                    if p.default is not p.empty}
    except (TypeError, ValueError):                 # a builder without a signature
        defaults = {}
    check_settings(settings, defaults)   # type, range and size of each (minil2o.validate)
    try:
        return builder(**settings)
    except UsageError:
        raise
    except (TypeError, ValueError, OverflowError) as e:   # e.g. hidden='abc' fails inside int()
        raise UsageError(f"bad settings {settings} for {what}: {e}") from None
