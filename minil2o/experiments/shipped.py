"""The shipped optimizers (minil2o/datasets/pretrained/NAME.npz): the `minil2o train` command that
reproduces each, and loading one for an experiment (or retraining it, or standing in for it)."""
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from ..files.checkpoint import load
from ..problems.data import PRETRAINED_DIR
from ..evaluation.evaluate import learning_curves
from ..training.factories import build_family, build_optimizer
from ..training.runs import load_optimizer
from ..training.train import TrainConfig, Trainer
from .registry import PRETRAINED, quick_config



def pretrained_path(name):
    """Where shipped optimizer `name` lives: minil2o/datasets/pretrained/NAME.npz."""
    return PRETRAINED_DIR / f"{name}.npz"


def train_command(key):
    """The `minil2o train` command line that reproduces shipped optimizer `key` (or its recipe at
    another seed, NAME@SEED)."""
    name, seed = recipe_and_seed(key)
    c, default = dataclasses.replace(PRETRAINED[name].config, seed=seed), TrainConfig()
    parts = ["minil2o train", f"--problem {c.problem}"]
    for k, v in c.problem_kwargs.items():
        text = v if isinstance(v, str) else json.dumps(v).replace(" ", "")
        parts.append(f"--problem-arg '{k}={text}'" if "[" in text else f"--problem-arg {k}={text}")
    parts.append(f"--optimizer {c.optimizer}")
    parts += [f"--optimizer-arg {k}={v}" for k, v in c.optimizer_kwargs.items()]
    flags = {"horizon": c.horizon, "unroll": c.unroll, "meta-lr": c.meta_lr, "epochs": c.epochs,
             "problems-per-epoch": c.problems_per_epoch, "random-scaling": c.random_scaling,
             "convex-scaling": c.convex_scaling, "validation-problems": c.validation_problems, "seed": c.seed}
    for flag, value in flags.items():
        if flag in ("epochs", "seed") or value != getattr(default, flag.replace("-", "_")):
            parts.append(f"--{flag} {value:g}" if isinstance(value, float) else f"--{flag} {value}")
    if c.init_from:
        parts.append(f"--init-from {c.init_from}")
    parts += [flag for flag, on in (("--convex-combination", c.convex_combination),
                                    ("--per-group", c.per_group)) if on]
    out = name if key == name else f"{name}-s{seed}"
    return " ".join(parts + [f"--out runs/pretrained/{out}"])


def superseded(numbers):
    """The learned optimizers of a results JSON (its "learned" entries) that are not the files
    shipped now: by the digest of the file's network where the JSON records one
    (runner.optimizer_digest), else by the recorded train command (the registry's since, or
    none recorded)."""
    from .runner import optimizer_digest
    out = []
    for name, entry in numbers.get("learned", {}).items():
        if name not in PRETRAINED:
            continue
        if "digest" in entry:
            if not pretrained_path(name).exists() or \
                    entry["digest"] != optimizer_digest(load_optimizer(pretrained_path(name))):
                out.append(name)
        elif entry.get("train_command") != train_command(name):
            out.append(name)
    return out


def train_best(config, out_dir, progress=True, log=print):
    """Meta-train a learned optimizer as `config` says (checkpoints in out_dir); returns it with
    the parameters phi its selection rule chose (TrainConfig.selection)."""
    trainer = Trainer(config, out_dir=out_dir, log=log)
    trainer.run(progress=progress)
    trainer.opt.phi = trainer.best_phi
    return trainer.opt


REPOSITORY = Path(__file__).resolve().parents[2]          # where results/ lives in a checkout
CONTROLS = ("rnnprop-mnist-e10", "rnnprop-mnist-rs-only", "rnnprop-mnist-cc-only",
            "dm-mnist-tricks", "dm-mnist-e10")
# Every meta-training seed of a recipe that the repository keeps, at the shipped file's budget: the
# file pattern and the seeds. The shipped file is one of them (its recipe's seed, bit for bit); an
# experiment that names the recipe runs every seed ("every seed" in RESULTS.md's rule).
SEED_RUNS = {
    "dm-mnist": ("results/dm-budget/runs/dm-mnist-s{seed}/at-3000.npz", (0, 1, 2)),
    "rnnprop-mnist": ("results/dm-budget/runs/rnnprop-mnist-s{seed}/at-3000.npz", (0, 1, 2)),
    "dm-quadratic": ("results/seed-runs/dm-quadratic-s{seed}/final.npz", (0, 1, 2)),
    **{name: (f"results/rnnprop-control/runs/{name}-s{{seed}}/final.npz", (0, 1, 2, 3, 4))
       for name in CONTROLS},
}
SEED_MARK = "@"                   # "dm-mnist@1": recipe dm-mnist at meta-training seed 1


def recipe_and_seed(key):
    """("dm-mnist", 1) for "dm-mnist@1"; (name, the shipped file's seed) for a shipped name."""
    name, mark, seed = key.partition(SEED_MARK)
    return name, int(seed) if mark else PRETRAINED[name].config.seed


def seed_keys(name, log=print):
    """The shipped name and a NAME@SEED key for each other seed of its recipe kept in the
    repository (SEED_RUNS); a seed whose file is missing (an installed package has no results/)
    is left out and said."""
    if name not in SEED_RUNS:
        return [name]
    pattern, seeds = SEED_RUNS[name]
    keys = [name]
    for seed in seeds:
        if seed == PRETRAINED[name].config.seed:
            continue
        if (REPOSITORY / pattern.format(seed=seed)).exists():
            keys.append(f"{name}{SEED_MARK}{seed}")
        else:
            log(f"  {name} at seed {seed}: {pattern.format(seed=seed)} is not here; left out")
    return keys


def load_seed(key):
    """(optimizer, status) for NAME@SEED: the kept run of recipe NAME at that seed."""
    name, seed = recipe_and_seed(key)
    return load_optimizer(REPOSITORY / SEED_RUNS[name][0].format(seed=seed)), "shipped"


def load_learned(name, retrain=False, quick=False, out_dir="runs/reproduce", log=print):
    """(optimizer, status) for PRETRAINED[name]: the shipped file; with retrain, a fresh training
    run of its recorded configuration (shrunk when quick); when the file is missing, its stand-in,
    else an untrained network. status says which, for the JSON and the figure."""
    if SEED_MARK in name:
        return load_seed(name)
    spec = PRETRAINED[name]
    if retrain:
        config = quick_config(spec.config) if quick else spec.config
        log(f"retraining {name}: {train_command(name)}")
        return train_best(config, os.path.join(out_dir, "train", name), not quick, log), "retrained"
    if pretrained_path(name).exists():
        return load_optimizer(pretrained_path(name)), "shipped"
    if spec.stand_in and pretrained_path(spec.stand_in).exists():
        return load_optimizer(pretrained_path(spec.stand_in)), f"not trained: {spec.stand_in} stands in"
    opt = build_optimizer(spec.config.optimizer, **spec.config.optimizer_kwargs)
    opt.phi = opt.init_params(np.random.default_rng(0))
    return opt, "not trained: untrained network"


def learned_label(key, status):
    """The legend label of a learned optimizer, naming its seed when it is not the shipped file
    and what stands in when it is not trained."""
    name, seed = recipe_and_seed(key)
    kind = "RNNprop" if PRETRAINED[name].config.optimizer == "rnnprop" else "DM"
    what = name if key == name else f"{name}, seed {seed}"
    trained = status in ("shipped", "retrained")
    return f"{kind} [{what}]" if trained else f"{kind} [{what}: {status}]"


# The validation problems every candidate seed is scored on to choose the file to ship: disjoint
# from those each run picked its checkpoints on (training.train.Trainer.score: seed + 1_000_003
# for the run's seed, 0 to 4 here).
VALIDATION_SEED = 2_000_003


def validation_score(path, num_problems=100):
    """Lower is better: the meta-loss the optimizer in checkpoint `path` was trained for (the mean
    loss over the horizon for weighting 'all', the DM optimizer; the final loss for 'last',
    RNNprop), on `num_problems` problems of its family's validation split (never used for testing),
    the same problems for every checkpoint of a family. A run that diverges scores inf."""
    config = TrainConfig(**load(path)[1]["config"])
    curves = learning_curves(build_family(config, "validation"), load_optimizer(path),
                             num_problems, config.horizon, seed=VALIDATION_SEED)  # (P, T + 1)
    losses = curves[:, 1:].mean(axis=1) if config.weighting == "all" else curves[:, -1]
    return float(losses.mean()) if np.all(np.isfinite(losses)) else float("inf")


def choose_on_validation(paths, num_problems=100):
    """(best key, {key: score}) for candidate checkpoints {key: path}, e.g. the meta-training seeds
    of one recipe: each scored by validation_score on the same validation problems."""
    scores = {key: validation_score(path, num_problems) for key, path in paths.items()}
    return min(scores, key=scores.get), scores
