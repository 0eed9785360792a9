"""minil2o: learned optimizers from scratch, in array code that runs on NumPy and CuPy.

Reproduces Andrychowicz et al. 2016 ("Learning to learn by gradient descent by gradient descent")
and Lv, Jiang & Li 2017 ("Learning Gradient Descent: Better Generalization and Longer Horizons").

Docstrings cite equations by number: (1) to (3) are Andrychowicz et al.'s; Lv et al.'s by section,
as the paper's headings number them, and Table 1; (N.M) is equation M of tutorial chapter N.
docs/EQUATIONS.md maps every number to the functions that implement it.
"""
import os
import sys

# The learned optimizers multiply tall, thin matrices (n coordinates x 20 units). Multithreaded BLAS
# gains little on them and, on a machine that is busy with anything else, loses up to ten times
# (threads spin waiting for a core). Unless the user has chosen, BLAS gets one thread; this only
# takes effect when numpy has not been imported yet. Set OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS,
# MKL_NUM_THREADS) before importing minil2o to choose otherwise (docs/BENCHMARKS.md has the numbers).
if "numpy" not in sys.modules:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

try:
    from .backend import get_backend, set_backend, to_numpy, xp  # noqa: F401
    from .use.dropin import pretrained  # noqa: F401
except KeyboardInterrupt:   # Ctrl-C while numpy or minil2o loads: the command line exits in one line
    if sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0]) == "minil2o":
        print("minil2o: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise

__version__ = "0.1.0"
