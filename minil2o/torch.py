"""`minil2o.torch.LearnedOptimizer`: the PyTorch face of minil2o.use.torch (the adapter lives with
the drop-in API it wraps; this name is the one users import)."""
from .use.torch import LearnedOptimizer  # noqa: F401
