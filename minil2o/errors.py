"""The errors minil2o raises on purpose: a bad input from its user, or a bad file."""


class UsageError(ValueError):
    """A bad input: the message names the bad value and what is allowed. The CLI prints it in one
    line and exits with code 2."""


class DataError(UsageError):
    """A data file or checkpoint that is missing, truncated, corrupt or unsafe to load."""


class NumericalError(ArithmeticError):
    """A quantity became NaN or infinite (which quantity, at which step, is in the message)."""



class GradientError(NumericalError, UsageError):
    """A gradient handed to an optimizer's public step holds NaN or Inf (`count` entries): a
    numerical fault (NumericalError) in what the caller handed in (UsageError). The step refuses
    it and the optimizer's state is left as it was (minil2o.validate.check_gradient)."""

    def __init__(self, message, count):
        super().__init__(message)
        self.count = count
