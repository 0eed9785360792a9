"""The shipped optimizers (minil2o/datasets/pretrained/NAME.npz): the `minil2o train` command that
reproduces each, and loading one for an experiment (or retraining it, or standing in for it)."""
import json
import os

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


def train_command(name):
    """The `minil2o train` command line that reproduces shipped optimizer `name`."""
    c, default = PRETRAINED[name].config, TrainConfig()
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
    return " ".join(parts + [f"--out runs/pretrained/{name}"])


def superseded(numbers):
    """The learned optimizers of a results JSON (its "learned" entries) that are not the files
    shipped now: those whose recorded train command is not the registry's, since the file was
    replaced by another run (or the JSON recorded none)."""
    return [name for name, entry in numbers.get("learned", {}).items()
            if name in PRETRAINED and entry.get("train_command") != train_command(name)]


def train_best(config, out_dir, progress=True, log=print):
    """Meta-train a learned optimizer as `config` says (checkpoints in out_dir); returns it with
    the parameters phi its selection rule chose (TrainConfig.selection)."""
    trainer = Trainer(config, out_dir=out_dir, log=log)
    trainer.run(progress=progress)
    trainer.opt.phi = trainer.best_phi
    return trainer.opt


def load_learned(name, retrain=False, quick=False, out_dir="runs/reproduce", log=print):
    """(optimizer, status) for PRETRAINED[name]: the shipped file; with retrain, a fresh training
    run of its recorded configuration (shrunk when quick); when the file is missing, its stand-in,
    else an untrained network. status says which, for the JSON and the figure."""
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


def learned_label(name, status):
    """The legend label of a learned optimizer, naming what stands in when it is not trained."""
    kind = "RNNprop" if PRETRAINED[name].config.optimizer == "rnnprop" else "DM"
    return f"{kind} [{name}]" if status in ("shipped", "retrained") else f"{kind} [{name}: {status}]"


VALIDATION_SEED = 1_000_003    # the validation problems every candidate is scored on


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
