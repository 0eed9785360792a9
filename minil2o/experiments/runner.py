"""Running one experiment's panels: the problem families of each panel (tuning and test splits),
the comparison of minil2o.evaluate with the curves cached on disk, and the numbers it writes
(JSON). Both papers' experiments run through here."""
import hashlib
import json
import os
import time

import numpy as np

from ..backend import to_numpy
from ..evaluate import compare, learning_curves
from ..optimizers.hand import HAND_OPTIMIZERS, HandOptimizer
from ..plots import plot_final, plot_panels
from ..problems import make_family
from .spec import ART_TEST_CONTENT


def default_grid(name):
    """The learning rates tried for baseline `name`: its lr_grid (powers of two), for SGD and NAG
    extended by three more powers upward (on the MNIST MLP their best rates, 1 to 4, sit at or
    above the top of the Torch-style grid)."""
    grid = HAND_OPTIMIZERS[name].lr_grid
    return grid + tuple(grid[-1] * 2.0 ** k for k in (1, 2, 3)) if name in ("sgd", "nag") else grid


def panel_kwargs(panel, split, cifar_dir):
    """The family keyword arguments of a panel for data split `split` ('validation' for tuning,
    'test' for the test problems); returns (kwargs, label)."""
    kwargs, label = dict(panel.kwargs), panel.label
    if panel.cifar is not None:
        if cifar_dir:
            kwargs = {**panel.cifar, "data_dir": cifar_dir}
        else:
            label += " [MNIST stand-in for CIFAR-10]"
    if panel.problem in ("mnist-mlp", "cnn"):
        kwargs["split"] = split
    if panel.problem == "neural-art":
        from ..problems.art import load_art_images
        contents = load_art_images()[0]
        kwargs["content_images"] = [im for k, im in contents.items()
                                    if (k == ART_TEST_CONTENT) == (split == "test")]
    return kwargs, label


def optimizer_digest(opt):
    """A short fingerprint of a learned optimizer's parameters (the cache key of its curves)."""
    h = hashlib.sha1(json.dumps(opt.config(), sort_keys=True).encode())
    for k in sorted(opt.phi):
        h.update(np.ascontiguousarray(to_numpy(opt.phi[k]), dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def optimizer_key(opt):
    """What an optimizer is, as JSON: a baseline's name and learning rate, a learned one's digest."""
    if isinstance(opt, HandOptimizer):
        return {"baseline": opt.name, "lr": opt.lr}
    return {"learned": optimizer_digest(opt)}


class CurveCache:
    """learning_curves with the results kept in `folder` ('' keeps nothing), keyed by the
    optimizer (optimizer_key), the family (its description), the steps and the seed. A file with at
    least as many problems serves a smaller count: problem i depends only on (seed, i)."""

    def __init__(self, folder):
        self.folder, self.described = folder, {}

    def describe(self, family, description):
        """Register `family` under a JSON-able description (its part of the key); returns it."""
        self.described[id(family)] = (family, description)
        return family

    def __call__(self, family, optimizer, num, steps, seed):
        if not self.folder:
            return learning_curves(family, optimizer, num, steps, seed)
        key = json.dumps([optimizer_key(optimizer), *self.described[id(family)][1], steps, seed],
                         sort_keys=True)
        path = os.path.join(self.folder, f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npy")
        if os.path.exists(path):
            cached = np.load(path, allow_pickle=False)
            if cached.shape[0] >= num:
                return cached[:num]
        result = learning_curves(family, optimizer, num, steps, seed)
        os.makedirs(self.folder, exist_ok=True)
        np.save(path, result)
        return result


class Runner:
    """Runs optimizers on the panels of one experiment, caching curves in args.cache."""

    def __init__(self, exp, args, log=print):
        self.exp, self.args, self.log = exp, args, log
        self.seed, self.cache = args.seed, CurveCache(args.cache)
        self.families = {}

    def family(self, panel, split):
        """The problem family of a panel for a split, built once."""
        key = (panel.label, split)
        if key not in self.families:
            kwargs, _ = panel_kwargs(panel, split, self.args.cifar_dir)
            family = make_family(panel.problem, **kwargs)
            kwargs.pop("content_images", None)
            self.families[key] = self.cache.describe(family, [panel.problem, kwargs, split])
        return self.families[key]

    def run_panel(self, panel, learned):
        """minil2o.evaluate.compare on one panel: the baselines tuned on the validation split over
        their grids, then everything on the test problems. learned: dict label -> optimizer."""
        exp = self.exp
        grids = {name: exp.grids.get(name, default_grid(name)) for name in exp.baselines}
        results = compare(self.family(panel, "test"), learned, exp.baselines, exp.steps,
                          exp.num_test, exp.num_tune, self.seed,
                          log=lambda message: self.log(f"  {panel.label}: {message}"),
                          tune_family=self.family(panel, "validation") if exp.baselines else None,
                          grids=grids, curves=self.cache)
        for name, grid in grids.items():
            lr = results[HAND_OPTIMIZERS[name].__name__]["lr"]
            if len(grid) > 3 and lr in (grid[0], grid[-1]):
                self.log(f"  note: the best {name} learning rate {lr:g} is at the edge of its grid")
        return results


def rounded(values):
    """Host floats rounded to 5 significant digits (NaN becomes None, which JSON can hold)."""
    return [None if not np.isfinite(v) else float(f"{v:.5g}") for v in np.asarray(values, float)]


def logged_steps(steps, limit=400):
    """The steps whose mean and standard error the JSON keeps: all of them up to `limit`, else
    `limit` + 1 evenly spaced (the last step always included)."""
    if steps <= limit:
        return np.arange(steps + 1)
    return np.unique(np.linspace(0, steps, limit + 1).round().astype(int))


def panel_numbers(results, steps):
    """The JSON-able summary of one panel: per optimizer the learning rate, the mean and standard
    error at the final step, the number of diverged runs, and the curves at logged_steps."""
    at = logged_steps(steps)
    out = {}
    for label, r in results.items():
        out[label] = {"lr": r["lr"], "final_mean": rounded([r["mean"][-1]])[0],
                      "final_stderr": rounded([r["stderr"][-1]])[0], "diverged": r["diverged"],
                      "num_runs": int(r["curves"].shape[0]),
                      "mean": rounded(r["mean"][at]), "stderr": rounded(r["stderr"][at])}
        if "grid_scores" in r:
            out[label]["grid"] = {f"{lr:g}": rounded([s])[0] for lr, s in r["grid_scores"].items()}
    return {"steps": at.tolist(), "optimizers": out}


def format_final(label, results, seconds):
    """Text table of the final loss per optimizer, best first."""
    lines = [f"{label} ({seconds:.0f} s):"]
    for name, r in sorted(results.items(), key=lambda kv: np.nan_to_num(kv[1]["mean"][-1], nan=1e30)):
        lr = "" if r["lr"] is None else f" (lr {r['lr']:g})"
        lines.append(f"  {name + lr:<58} {r['mean'][-1]:.4g} +- {r['stderr'][-1]:.2g}"
                     f"  diverged {r['diverged']}")
    return "\n".join(lines)


def run_comparison(exp, runner, learned, out_dir):
    """Every panel's comparison, and the figure: learning curves per panel ('curves', 'art') or
    the final losses side by side ('final'). Returns the JSON part {"panels": [...]}."""
    panels, numbers = [], []
    for panel in exp.panels:
        start = time.time()
        results = runner.run_panel(panel, learned)
        label = panel_kwargs(panel, "test", runner.args.cifar_dir)[1]
        panels.append((label, results))
        numbers.append({"label": label, "problem": panel.problem, "kwargs": panel.kwargs,
                        **panel_numbers(results, exp.steps)})
        runner.log(format_final(label, results, time.time() - start))
    plot = plot_final if exp.kind == "final" else plot_panels
    plot(panels, os.path.join(out_dir, f"{exp.name}.png"), f"{exp.source}: {exp.name}")
    return {"panels": numbers}
