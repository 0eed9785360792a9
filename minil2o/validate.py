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
    check_memory(nbytes, what)               an estimate of memory against the limit
    check_gradient(grad, n, dtype)           a gradient handed to an optimizer's public step

A bool is never taken for a number (True would pass isinstance(True, int)). Sizes have sane upper
bounds (a hidden layer of 10^9 units is a typo, not a plan): they end in one line here instead of a
MemoryError, an OverflowError or a hang later. Settings of the problems and the learned optimizers
are checked by name (SETTINGS), the same rule wherever the name appears, when minil2o builds an
object from user settings (build_with_settings below).
"""
import inspect
import math
import numbers
import os

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
    if not is_integer(value) or not 0 <= value < SEED_LIMIT:
        raise UsageError(f"{name} must be an integer >= 0 and < 2**63, got {value!r}")
    return int(value)


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


# -- settings of the problems and the learned optimizers, by name -------------------------------
def _int_rule(maximum):
    return lambda value, name: check_positive_int(value, name, maximum)


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


def _range_rule(low, high, open_low=False, open_high=False):
    return lambda value, name: check_range(value, name, low, high, open_low, open_high)


def _nonnegative(value, name):
    return check_number(value, name)


SETTINGS = {
    # the learned optimizers (Andrychowicz et al. 2016, Appendix A; Lv et al. 2017, section 4)
    "hidden": _sizes_rule(4096), "num_layers": _int_rule(16),
    "p": _range_rule(0, 80, open_low=True),         # exp(p) overflows float32 from p = 88.7
    "output_scale": _range_rule(0, 1e6, open_low=True),
    "beta1": _range_rule(0, 1, open_high=True), "beta2": _range_rule(0, 1, open_high=True),
    "eps": _range_rule(0, 1, open_low=True), "alpha": _range_rule(0, 1e6, open_low=True),
    # the problem families
    "dim": _int_rule(100_000), "num_functions": _int_rule(1_000_000),
    "batch_size": _int_rule(1_000_000), "channels": _int_rule(4096), "seq_len": _int_rule(100_000),
    "kernel_size": _int_rule(99), "size": _int_rule(4096),
    "init_std": _nonnegative, "init_scale": _nonnegative, "noise": _nonnegative,
    "init_noise": _nonnegative, "content_weight": _nonnegative, "style_weight": _nonnegative,
    "tv_weight": _nonnegative,
}


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
