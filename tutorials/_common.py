"""The set-up every chapter shares: the checkout on sys.path (so a chapter runs without
`pip install`), one figure style (mathtext labels, 100 dpi), the version and the folder minil2o is
imported from printed once, and `check`, the workbook's grader: `check("name", my_function)` runs
the exercise's checks (many drawn cases, every setting, the contracts) on the learner's function
and prints the same one-line verdict as `minil2o workbook check`."""
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


def draw_graph(ax, nodes, edges, title=None):
    """Draw a computation graph: nodes {name: (x, y, label)} as labelled boxes, edges
    [(from, to, style)] as arrows, style "-" (solid) or "--" (dashed)."""
    boxes = {name: ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=3,
                           bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.3"))
             for name, (x, y, label) in nodes.items()}
    for a, b, style in edges:
        dx, dy = nodes[b][0] - nodes[a][0], nodes[b][1] - nodes[a][1]
        if abs(dx) >= abs(dy):                  # leave by the side facing the target
            start, end = ((1, 0.5), (0, 0.5)) if dx > 0 else ((0, 0.5), (1, 0.5))
        else:
            start, end = ((0.5, 1), (0.5, 0)) if dy > 0 else ((0.5, 0), (0.5, 1))
        ax.annotate("", xy=end, xycoords=boxes[b], xytext=start, textcoords=boxes[a],
                    arrowprops=dict(arrowstyle="-|>", ls=style, lw=1.2, color="0.2",
                                    shrinkA=4, shrinkB=4))
    xs, ys = [v[0] for v in nodes.values()], [v[1] for v in nodes.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6); ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)


from minil2o.workbook import check  # noqa: E402,F401  (the exercises' grader)
