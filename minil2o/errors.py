"""The errors minil2o raises on purpose: a bad input from its user, or a bad file."""


class UsageError(ValueError):
    """A bad input: the message names the bad value and what is allowed. The CLI prints it in one
    line and exits with code 2."""


class DataError(UsageError):
    """A data file or checkpoint that is missing, truncated, corrupt or unsafe to load."""


class NumericalError(ArithmeticError):
    """A quantity became NaN or infinite (which quantity, at which step, is in the message)."""


def build_with_settings(builder, settings, what, allowed):
    """builder(**settings), where a setting not in `allowed`, or one of the wrong type or value,
    raises a UsageError naming it and `what` is being built (e.g. "problem family 'quadratic'").
    Each setting is first checked by its name (minil2o.validate.SETTINGS: finite, in range, a sane
    size), so NaN, Inf or a size that would exhaust memory never reaches the constructor."""
    import inspect

    from .validate import check_settings
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
