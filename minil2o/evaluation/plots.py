"""Figures (matplotlib on the file-only Agg backend, saved as PNG): learning curves with their
spread over test problems, final losses per setting, the styled images of neural art and the
per-coordinate updates of Appendix B. Every function takes the numbers it draws and a path."""
import os

import numpy as np

from ..files.atomic import file_mode, replace_with

VARIANT_LINES = {"-sub": "--", "-tricks": "--", "-rs-only": "--", "-cc-only": ":", "-e10": ":"}
BASELINE_COLORS = {"SGD": "tab:blue", "NAG": "tab:purple", "RMSprop": "tab:green", "Adam": "tab:gray",
                   "Adagrad": "tab:olive", "Momentum": "tab:cyan", "Adadelta": "tab:pink"}


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, path, dpi=90):
    """fig as a PNG at path, whole or not at all, with the permissions of the file it replaces
    (else the umask's, as for the JSON files); matplotlib is handed an open file, never the name,
    so any name the file system takes (one that is not valid UTF-8 too) can be written."""
    fig.tight_layout()

    def write(tmp):
        with open(tmp, "wb") as fh:
            os.fchmod(fh.fileno(), file_mode(path))         # as atomic_file: the old file's
            fig.savefig(fh, dpi=dpi, format="png")
    try:
        replace_with(path, write)                               # never a half-written PNG
    finally:
        plt.close(fig)
    return path


def line_style(label, learned=None):
    """Line style by optimizer: learned ones thick (DM orange, RNNprop red, any other black; the
    variants of the control and LSTM-sub experiments dashed or dotted), baselines thin.
    learned: whether `label` is a learned optimizer (default: judged from the label)."""
    shipped = label[label.find("[") + 1:label.find("]")] if "[" in label else ""
    line = next((ls for end, ls in VARIANT_LINES.items() if shipped.endswith(end)), "-")
    if label.startswith("RNNprop"):
        return dict(lw=2.2, color="tab:red", ls=line)
    if label.startswith("DM"):
        return dict(lw=2.2, color="tab:orange", ls=line)
    if learned:
        return dict(lw=2.2, color="black", ls=line)
    return dict(lw=1.1, color=BASELINE_COLORS.get(label))


def plot_panels(panels, path, title, ylabel="loss (mean over test problems)", log_y=True):
    """One subplot per panel: mean loss per step with a band of +- one standard error, one line
    per optimizer. panels: list of (label, results), results as minil2o.evaluation.evaluate.compare returns
    (label -> {"lr", "mean" (S,), "stderr" (S,)}). Returns path."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    for ax, (label, results) in zip(axes[0], panels):
        for name, r in results.items():
            steps = np.arange(len(r["mean"]))
            line, = ax.plot(steps, r["mean"], label=name, **line_style(name, r.get("lr") is None))
            ax.fill_between(steps, r["mean"] - r["stderr"], r["mean"] + r["stderr"], alpha=0.2,
                            color=line.get_color())
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(label, fontsize=9)
    axes[0][0].legend(frameon=False, fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(plt, fig, path)


def plot_curves(results, path, title, ylabel="loss", log_y=True):
    """plot_panels for a single comparison (results: label -> {"lr", "mean", "stderr"})."""
    return plot_panels([("", results)], path, title, ylabel, log_y)


def final_score(r):
    """(mean, standard error) of one optimizer's score at the end: of its per-problem criterion
    values r["values"] over the finished runs when present, else of the loss at the last step."""
    if "values" not in r:
        return r["mean"][-1], r["stderr"][-1]
    ok = np.asarray(r["values"], float)
    ok = ok[np.isfinite(ok)]
    if len(ok) == 0:
        return np.nan, np.nan
    return ok.mean(), ok.std(ddof=1) / np.sqrt(len(ok)) if len(ok) > 1 else 0.0


def plot_final(panels, path, title):
    """Final score (mean +- standard error, final_score) per panel, one marker series per
    optimizer. panels: list of (label, results) as for plot_panels."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(panels) + 2), 3.8))
    names = list(dict.fromkeys(n for _, results in panels for n in results))
    width = 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(panels))]
        mean, se = zip(*(final_score(results[name]) for _, results in panels))
        style = line_style(name, panels[0][1][name].get("lr") is None)
        marker = {"-": "o", "--": "s", ":": "^"}.get(style.get("ls", "-"), "o")
        ax.errorbar(xs, mean, yerr=se, fmt=marker, ms=4, capsize=2, label=name,
                    color=style.get("color"))
    ax.set_xticks(range(len(panels)))
    ax.set_xticklabels([label for label, _ in panels], fontsize=8, rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("final loss (mean +- s.e.)")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=7)
    return _save(plt, fig, path)


def plot_budget(numbers, path, title):
    """Test score against training problems seen, one subplot per criterion: a line per learned
    optimizer and meta-training seed (mean +- standard error over test problems), the tuned
    baselines (dashed) and learned references (dotted) as horizontal lines. numbers: criterion -> {"references": label -> {"value_mean"},
    "runs": name -> seed -> budget -> {"value_mean", "value_stderr"}} (strings as keys)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(numbers), figsize=(5.2 * len(numbers) + 2, 3.8), squeeze=False)
    for ax, (criterion, part) in zip(axes[0], numbers.items()):
        for name, seeds in part["runs"].items():
            for k, (seed, at) in enumerate(sorted(seeds.items())):
                budgets = sorted(at, key=int)
                xs = [max(int(b), 1) for b in budgets]
                ys = [np.nan if at[b]["value_mean"] is None else at[b]["value_mean"]
                      for b in budgets]
                se = [at[b]["value_stderr"] or 0.0 for b in budgets]
                style = line_style("RNNprop" if name.startswith("rnnprop") else "DM", True)
                ax.errorbar(xs, ys, yerr=se, marker="osd^v"[k % 5], ms=4, capsize=2, lw=1.2,
                            ls=":" if name.endswith("no-cc") else "-", color=style["color"],
                            label=f"{name}, seed {seed}")
        for label, ref in part["references"].items():      # tuned baselines, learned references
            if ref["value_mean"] is not None:
                tuned = ref["lr"] is not None
                ax.axhline(ref["value_mean"], lw=1.0, ls="--" if tuned else ":",
                           color=BASELINE_COLORS.get(label) if tuned else line_style(label)["color"],
                           label=f"{label} (tuned)" if tuned else label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training problems seen")
        ax.set_ylabel(f"{criterion} loss, mean over test problems", fontsize=8)
    axes[0][-1].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(title, fontsize=10)
    return _save(plt, fig, path)


def plot_images(rows, path):
    """A grid of images, one row per entry of `rows`: a list of [(image (H, W, 3), title), ...]
    (values clipped to [0, 1])."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), len(rows[0]), figsize=(9, 2.4 * len(rows)), squeeze=False)
    for row, images in zip(axes, rows):
        for ax, (image, title) in zip(row, images):
            ax.imshow(np.clip(image, 0, 1))
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    return _save(plt, fig, path, dpi=80)


def plot_update_traces(traces, path, title):
    """Appendix B: per row (one test problem and one learned optimizer), per coordinate, the update
    the optimizer returns (orange, left axis) beside the gradient it receives (blue, right axis).
    traces: list of {"label" (the problem), "optimizer", "coordinates" (k,), "gradient" (steps, k),
    "update" (steps, k)}."""
    plt = _pyplot()
    k = len(traces[0]["coordinates"])
    fig, axes = plt.subplots(len(traces), k, figsize=(2.6 * k, 2.3 * len(traces)), squeeze=False)
    for row, trace in zip(axes, traces):
        for j, ax in enumerate(row):
            ax.plot(trace["update"][:, j], color="tab:orange", lw=1.5, label="update")
            ax.set_title(f"coordinate {trace['coordinates'][j]}", fontsize=7)
            twin = ax.twinx()
            twin.plot(trace["gradient"][:, j], color="tab:blue", lw=0.8, alpha=0.7,
                      label="gradient")
            twin.tick_params(labelsize=6, colors="tab:blue")
            ax.tick_params(labelsize=6)
        row[0].legend(frameon=False, fontsize=6, loc="upper right")
        row[0].set_ylabel(f"{trace['label']}\n{trace['optimizer']}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)
