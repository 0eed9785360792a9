"""What the two examples share: tune Adam's learning rate on a grid, compare on paired seeds, print a
table, draw one figure.

The protocol, the same in both examples:
  1. Adam's learning rate is tuned on a grid of powers of two, on tuning runs that use other seeds
     and other data (the validation digits) than the test runs; the rate with the lowest mean
     final loss is taken, and it must lie inside the grid (not on its edge).
  2. Every optimizer then trains the same model from the same initialisations on the same
     minibatches (one seed per test run), so the runs pair up seed by seed.
  3. The table gives, per optimizer, the mean ± standard error of the final training loss, the
     paired difference to tuned Adam (mean ± standard error over seeds; negative: lower than
     Adam), how many seeds it beat Adam on, and the held-out accuracy.

Each example writes its figure into an output folder, --out (default out/examples, below the folder
it is run from; the checkout's .gitignore ignores /out/), never into the checkout's docs/.
"""
import argparse
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


DEFAULT_OUT = os.path.join("out", "examples")


def output_path(file_name, description):
    """Where an example writes `file_name`: the folder given by --out (created), default
    out/examples; description: the example's --help text."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"the folder its figure is written into (default {DEFAULT_OUT})")
    folder = parser.parse_args().out
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, file_name)


def mean_se(x):
    x = np.asarray(x, dtype=np.float64)
    return x.mean(), (x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else 0.0)


def tune_adam(run, grid, seeds):
    """The grid rate with the lowest mean final loss over `seeds`; run(lr, seed) -> final loss.
    Prints the grid's losses and raises if the best rate lies on the grid's edge."""
    scores = []
    for lr in grid:
        finals = [run(lr, seed) for seed in seeds]
        scores.append(np.mean(finals) if np.all(np.isfinite(finals)) else np.inf)
    best = int(np.argmin(scores))
    print("Adam tuning (mean final loss over tuning runs): " +
          ", ".join(f"2^{int(round(math.log2(lr)))}: {s:.4g}" for lr, s in zip(grid, scores)))
    if best in (0, len(grid) - 1):
        raise SystemExit(f"the best learning rate {grid[best]:g} is on the edge of the grid: widen it")
    return grid[best]


def table(results, accuracy, baseline="Adam"):
    """Print one row per optimizer: final loss, paired difference to the baseline, wins, accuracy.
    results: {name: (seeds, points) losses}; accuracy: {name: (seeds,) held-out accuracy}."""
    base = results[baseline][:, -1]
    head = (f"{'optimizer':<22} {'final loss':>20} {'minus Adam (paired)':>24} {'beats Adam':>11} "
            f"{'held-out acc.':>14}")
    print(head)
    print("-" * len(head))
    for name, losses in results.items():
        final = losses[:, -1]
        m, s = mean_se(final)
        line = f"{name:<22} {m:>11.4f} ± {s:<6.4f}"
        if name == baseline:
            line += f" {'-':>24} {'-':>11}"
        else:
            dm, ds = mean_se(final - base)
            line += f" {dm:>+14.4f} ± {ds:<7.4f} {int(np.sum(final < base)):>5}/{len(final):<5}"
        am, se = mean_se(accuracy[name])
        print(line + f" {100 * am:>8.1f}% ± {100 * se:.1f}")


def figure(steps, results, path, title, baseline="Adam"):
    """Left: mean loss ± s.e. per optimizer against steps (log scale). Right: each seed's paired
    difference of the final loss to the baseline, with the mean ± s.e."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    base = results[baseline][:, -1]
    others = [n for n in results if n != baseline]
    for i, (name, losses) in enumerate(results.items()):
        m = losses.mean(axis=0)
        s = losses.std(axis=0, ddof=1) / math.sqrt(losses.shape[0])
        line, = left.plot(steps, m, label=name, lw=2 if name == baseline else 1.5,
                          color="black" if name == baseline else None)
        left.fill_between(steps, np.maximum(m - s, 1e-12), m + s, color=line.get_color(), alpha=0.2)
        if name != baseline:
            j = others.index(name)
            diff = losses[:, -1] - base
            right.scatter(np.full(len(diff), j) + np.linspace(-0.15, 0.15, len(diff)), diff,
                          color=line.get_color(), s=14, alpha=0.7)
            dm, ds = mean_se(diff)
            right.errorbar([j + 0.3], [dm], yerr=[ds], fmt="o", color=line.get_color(), capsize=4)
    left.set(yscale="log", xlabel="step", ylabel="training loss", title=title)
    left.legend(fontsize=8)
    right.axhline(0.0, color="black", lw=1)
    right.set_xticks(range(len(others)), others, rotation=15, fontsize=8)
    right.set(ylabel=f"final loss minus {baseline}'s (same seed)",
              title="paired difference per seed (below 0: beats Adam)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")
