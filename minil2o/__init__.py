"""minil2o: learned optimizers from scratch, in array code that runs on NumPy and CuPy.

Reproduces Andrychowicz et al. 2016 ("Learning to learn by gradient descent by gradient descent")
and Lv, Jiang & Li 2017 ("Learning Gradient Descent: Better Generalization and Longer Horizons").
"""
from .backend import get_backend, set_backend, to_numpy, xp  # noqa: F401

__version__ = "0.1.0"
