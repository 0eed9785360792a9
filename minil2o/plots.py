"""Figures: learning curves with their spread over test problems (matplotlib, saved as PNG)."""
import numpy as np


def plot_curves(results, path, title, ylabel="loss", log_y=True):
    """Mean loss per step with a band of +- one standard error, one line per optimizer.

    results: dict label -> {"mean": (S,), "stderr": (S,)} (as minil2o.evaluate.compare returns).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, r in results.items():
        steps = np.arange(len(r["mean"]))
        style = dict(lw=2.2, color="black") if r.get("lr") is None else dict(lw=1.2)
        ax.plot(steps, r["mean"], label=label, **style)
        ax.fill_between(steps, r["mean"] - r["stderr"], r["mean"] + r["stderr"], alpha=0.2,
                        color=ax.lines[-1].get_color())
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
