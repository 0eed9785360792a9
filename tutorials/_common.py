"""The set-up every chapter shares: the checkout on sys.path (so a chapter runs without
`pip install`), one figure style (mathtext labels, 100 dpi), the versions printed once, and `check`,
which grades an exercise against an independent answer."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # the checkout

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minil2o  # noqa: E402

plt.rcParams.update({"figure.figsize": (6.4, 3.0), "figure.dpi": 100, "savefig.dpi": 100,
                     "axes.grid": True, "grid.alpha": 0.3})
_here = os.path.dirname(os.path.abspath(__file__))
print(f"minil2o {minil2o.__version__} from {os.path.relpath(os.path.dirname(minil2o.__file__), _here)} "
      f"| backend: {minil2o.get_backend()}")

from checks import check  # noqa: E402,F401  (the exercises' check: check("name", my_function))
