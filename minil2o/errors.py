"""The errors minil2o raises on purpose: a bad input from its user, or a bad file."""


class UsageError(ValueError):
    """A bad input: the message names the bad value and what is allowed. The CLI prints it in one
    line and exits with code 2."""


class DataError(UsageError):
    """A data file or checkpoint that is missing, truncated, corrupt or unsafe to load."""


class NumericalError(ArithmeticError):
    """A quantity became NaN or infinite (which quantity, at which step, is in the message)."""

