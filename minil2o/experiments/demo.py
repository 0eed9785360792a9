"""`minil2o demo`: the paper's Fig. 4 (left) in a few minutes on a laptop CPU.

Meta-trains the DM optimizer (no pre- or postprocessing, as the paper does for quadratics) on random
10-dimensional quadratics f(theta) = ||W theta - y||^2, tunes the learning rates of SGD, NAG, RMSprop
and Adam by grid search, runs all of them on 100 fresh functions for 100 steps, prints the table and
writes the figure and the numbers. The training run is the shipped `dm-quadratic` optimizer's
(minil2o.experiments.dm), with the demo's seed and number of epochs.
"""
import dataclasses
import json
import os
import time

from ..files.atomic import atomic_file, check_output
from ..evaluation.evaluate import BASELINES, CompareSettings, compare, format_table
from . import PRETRAINED
from .shipped import train_best
from ..evaluation.plots import plot_curves
from ..problems import make_family
from ..validate import check_bound, shown


def demo_config(seed=0, epochs=15):
    """The demo's meta-training run: the `dm-quadratic` configuration (64 functions per problem,
    640 coordinates, meta-lr 0.005) with this seed and number of epochs."""
    return dataclasses.replace(PRETRAINED["dm-quadratic"].config, seed=seed, epochs=epochs)


def run_demo(out_dir="minil2o-demo", seed=0, epochs=15, num_test=100, progress=True, log=print):
    """Train, tune, evaluate, report. Returns the comparison results (see evaluate.compare).
    Before any work: seed, epochs and num_test against minil2o.validate.BOUNDS, and out_dir a
    folder that can be written (a file there, /dev/null, is refused in one line)."""
    start = time.time()
    for name, value in (("base_seed", seed), ("epochs", epochs), ("num_test", num_test)):
        check_bound(name, value, name.removeprefix("base_"))
    check_output(out_dir, folder=True)
    log("1/3 meta-training the LSTM optimizer on 10-d quadratics (Andrychowicz et al. 2016, Fig. 4 left)")
    learned = train_best(demo_config(seed, epochs), os.path.join(out_dir, "run"), progress, log)
    log("2/3 tuning SGD, NAG, RMSprop and Adam; 3/3 evaluating everything on "
        f"{num_test} fresh functions")
    family = make_family("quadratic")
    settings = CompareSettings(steps=100, num_test=num_test, seed=seed + 100)
    results = compare(family, {"LSTM (learned)": learned}, BASELINES, settings, log=log)
    table = format_table(results, reference="LSTM (learned)")
    log("\n" + table)
    figure = plot_curves(results, os.path.join(out_dir, "quadratic.png"),
                         "10-d quadratics, 100 fresh functions")
    numbers = {label: {"lr": r["lr"], "mean": r["mean"].tolist(), "stderr": r["stderr"].tolist(),
                       "diverged": r["diverged"]} for label, r in results.items()}
    with atomic_file(os.path.join(out_dir, "quadratic.json"), "w") as fh:
        json.dump(numbers, fh)
    log(f"\nfigure: {shown(figure)}\nnumbers: {shown(os.path.join(out_dir, 'quadratic.json'))}\n"
        f"optimizer: {shown(os.path.join(out_dir, 'run', 'optimizer.npz'))}\n"
        f"done in {time.time() - start:.0f} s")
    return results
