"""Checks of user-given values: each returns the value (as int or float) or raises a UsageError
that names the value and what is allowed, in one line ("horizon must be a positive integer,
got 0"). Every module that takes settings from its user checks them with these.

    check_positive_int(value, name)          1, 2, 3, ...          (sizes, step counts)
    check_seed(value, name="seed")           0, 1, 2, ...          (numpy.random.default_rng)
    check_number(value, name, minimum=...)   a finite real number, > minimum or >= minimum
    check_choice(value, name, allowed)       one of a few names
    check_bool(value, name)                  True or False

A bool is never taken for a number (True would pass isinstance(True, int)).
"""
import math
import numbers

from .errors import UsageError


def is_integer(value):
    """An int or numpy integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """A finite real number (int, float or numpy scalar) that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_positive_int(value, name):
    """value as an int >= 1, or a UsageError naming it."""
    if not is_integer(value) or value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_seed(value, name="seed"):
    """value as an int >= 0 (what numpy.random.default_rng accepts), or a UsageError."""
    if not is_integer(value) or value < 0:
        raise UsageError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


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
