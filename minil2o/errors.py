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
    raises a UsageError naming it and `what` is being built (e.g. "problem family 'quadratic'")."""
    unknown = [k for k in settings if k not in allowed]
    if unknown:
        raise UsageError(f"unknown setting {unknown[0]!r} for {what}: choose from {', '.join(allowed)}")
    try:
        return builder(**settings)
    except UsageError:
        raise
    except (TypeError, ValueError) as e:   # e.g. hidden='abc' fails inside int()
        raise UsageError(f"bad settings {settings} for {what}: {e}") from None
