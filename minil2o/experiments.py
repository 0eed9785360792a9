"""The experiments of both papers as named configurations: `minil2o reproduce NAME` runs one and
writes its numbers (JSON) and its figure (PNG); `minil2o reproduce --list` names them all.

Every experiment is an `Experiment` below: which shipped optimizers it loads (PRETRAINED, files in
minil2o/datasets/pretrained/), which test problems (one `Panel` per problem family setting), how
many steps, which hand-designed baselines. Each baseline's learning rate is tuned by grid search
(as minil2o.evaluate.tune_learning_rate does: the lowest mean final loss at the horizon, a diverged
rate scoring +inf) on tuning problems: the MNIST validation split, or other seeds where a problem
has no data. Every optimizer then runs on the same fresh test problems (the MNIST test split, seeds
never used in training or tuning). The numbers are the mean and standard error over test problems
of the minibatch loss at each step.

    minil2o reproduce dm-fig4-mnist                 the headline (Andrychowicz et al., Fig. 4)
    minil2o reproduce dm-fig4-mnist --quick         a few problems and steps: seconds (CI)
    minil2o reproduce dm-fig4-mnist --retrain       retrain the optimizers with their recorded
                                                    configuration instead of loading the shipped ones
    minil2o reproduce all --quick                   every experiment, reduced

Curves already computed are kept in --cache (keyed by optimizer, problem setting, steps and seed),
so experiments that share a setting (the base MLP appears in five of them) pay for it once.
A shipped optimizer that is missing is replaced by its named stand-in, or by an untrained network,
and the JSON and the figure say so.
"""
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .data import DATASETS_DIR
from .errors import UsageError
from .evaluate import check_positive_int, fit_to_problem, learning_curves, summarize
from .optimizers.hand import HAND_OPTIMIZERS, make_hand_optimizer
from .problems import make_family
from .train import TrainConfig, Trainer, build_optimizer, load_optimizer

PRETRAINED_DIR = DATASETS_DIR / "pretrained"
BASELINES = ("sgd", "nag", "rmsprop", "adam")
CIFAR_ENV = "MINIL2O_CIFAR10"            # folder of cifar-10-batches-py, when CIFAR-10 is at hand
ART_TEST_CONTENT = "grace_hopper"        # the content image held out from neural-art training
ART_TRAIN_CONTENT = ["astronaut", "chelsea", "coffee"]


# ---------------------------------------------------------------------------------------------
# The trained optimizers: the exact configuration that produced each shipped file
# ---------------------------------------------------------------------------------------------

DM_MNIST = dict(problem="mnist-mlp", optimizer="dm",
                optimizer_kwargs={"preprocess": "log", "output_scale": 0.1}, meta_lr=0.002,
                problems_per_epoch=10, validation_problems=10, seed=0)
RNNPROP_MNIST = dict(problem="mnist-mlp", optimizer="rnnprop", weighting="last",
                     selection="train-average", random_scaling=3.0, convex_combination=True,
                     meta_lr=0.001, problems_per_epoch=10, seed=0)


@dataclass
class Pretrained:
    """A shipped optimizer: the TrainConfig that trained it, what it is, and a stand-in to use
    (another shipped name) while it has not been trained."""
    config: TrainConfig
    about: str
    stand_in: str = ""


PRETRAINED = {
    "dm-quadratic": Pretrained(TrainConfig(
        problem="quadratic", problem_kwargs={"num_functions": 64}, optimizer="dm",
        optimizer_kwargs={"preprocess": "none", "output_scale": 1.0}, meta_lr=0.005, epochs=15,
        problems_per_epoch=10, validation_problems=20, seed=0),
        "DM optimizer on 10-d quadratics (the demo's run; Andrychowicz et al., Fig. 4 left)"),
    "dm-mnist": Pretrained(TrainConfig(epochs=40, **DM_MNIST),
                           "DM optimizer on the base MNIST MLP 784-20-10 sigmoid, 100 steps"),
    "rnnprop-mnist": Pretrained(TrainConfig(epochs=10, **RNNPROP_MNIST),
                                "RNNprop on the base MLP with Random Scaling (r = 3) and the "
                                "convex combination (Lv et al., section 4)"),
    "dm-mnist-e10": Pretrained(TrainConfig(epochs=10, **DM_MNIST),
                               "control: the dm-mnist run stopped after 10 epochs, the training "
                               "budget of the other control optimizers", stand_in="dm-mnist"),
    "dm-mnist-tricks": Pretrained(TrainConfig(
        epochs=10, **{**DM_MNIST, "random_scaling": 3.0, "convex_combination": True}),
        "control: DM optimizer trained with both RNNprop tricks", stand_in="dm-mnist"),
    "rnnprop-mnist-rs-only": Pretrained(TrainConfig(
        epochs=10, **{**RNNPROP_MNIST, "convex_combination": False}),
        "control: RNNprop with Random Scaling only", stand_in=""),
    "rnnprop-mnist-cc-only": Pretrained(TrainConfig(
        epochs=10, **{**RNNPROP_MNIST, "random_scaling": 0.0}),
        "control: RNNprop with the convex combination only", stand_in=""),
    "dm-cnn": Pretrained(TrainConfig(
        problem="cnn", problem_kwargs={"layers": "c-p-c-p-f-f", "kernel_size": 5,
                                       "batch_norm": True, "batch_size": 32},
        optimizer="dm", optimizer_kwargs={"preprocess": "log", "output_scale": 0.01}, per_group=True,
        meta_lr=0.01, epochs=10, problems_per_epoch=5, validation_problems=3, seed=0),
        "DM optimizers (one LSTM for the conv, one for the fc parameters) on the MNIST stand-in of "
        "the CIFAR-10 CNN",
        stand_in="dm-mnist"),
    "dm-cnn-sub": Pretrained(TrainConfig(
        problem="cnn", problem_kwargs={"layers": "c-p-c-p-f-f", "kernel_size": 5,
                                       "batch_norm": True, "batch_size": 32,
                                       "classes": [5, 6, 7, 8, 9]},
        optimizer="dm", optimizer_kwargs={"preprocess": "log", "output_scale": 0.01}, per_group=True,
        meta_lr=0.01, epochs=10, problems_per_epoch=5, validation_problems=3, seed=0),
        "'LSTM-sub': DM optimizer trained only on the held-out labels 5-9", stand_in="dm-mnist"),
    "dm-art": Pretrained(TrainConfig(
        problem="neural-art", problem_kwargs={"style_image": "gravel", "size": 64,
                                              "content_images": ART_TRAIN_CONTENT},
        optimizer="dm", optimizer_kwargs={"preprocess": "log", "output_scale": 1.0},
        horizon=128, unroll=32, meta_lr=0.005, epochs=15, problems_per_epoch=5,
        validation_problems=3, seed=0),
        "DM optimizer on neural art, 64x64, style 'gravel' (Appendix A preprocessing, no "
        "postprocessing)", stand_in="dm-mnist"),
}


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
             "validation-problems": c.validation_problems, "seed": c.seed}
    for flag, value in flags.items():
        if flag in ("epochs", "seed") or value != getattr(default, flag.replace("-", "_")):
            parts.append(f"--{flag} {value:g}" if isinstance(value, float) else f"--{flag} {value}")
    if c.init_from:
        parts.append(f"--init-from {c.init_from}")
    parts += [flag for flag, on in (("--convex-combination", c.convex_combination),
                                    ("--per-group", c.per_group)) if on]
    return " ".join(parts + [f"--out runs/pretrained/{name}"])


def quick_config(config):
    """A training configuration shrunk to seconds (for --retrain --quick)."""
    kwargs = shrink_kwargs(config.problem, dict(config.problem_kwargs))
    return dataclasses.replace(config, problem_kwargs=kwargs, horizon=4, unroll=2, epochs=1,
                               problems_per_epoch=1, validation_problems=1)


# ---------------------------------------------------------------------------------------------
# The experiments
# ---------------------------------------------------------------------------------------------

@dataclass
class Panel:
    """One test setting: a problem family and its keyword arguments. With `cifar`, the panel
    wants CIFAR-10 and `kwargs` is its MNIST stand-in, used when CIFAR-10 is not at hand."""
    label: str
    problem: str
    kwargs: dict = field(default_factory=dict)
    cifar: dict = None


@dataclass
class Experiment:
    """A named experiment. kind: 'curves' (learning curves per panel), 'final' (final loss per
    panel, a table), 'art' (curves and styled images) or 'updates' (Appendix B)."""
    name: str
    source: str                          # paper and figure
    claim: str                           # what the paper reports
    kind: str
    panels: tuple
    learned: tuple = ("dm-mnist",)
    baselines: tuple = BASELINES
    steps: int = 100
    num_test: int = 100
    num_tune: int = 10
    grids: dict = field(default_factory=dict)   # baseline -> lr grid replacing its lr_grid
    note: str = ""


MLP = Panel("base MLP 784-20-10 sigmoid", "mnist-mlp")
LONG_GRIDS = {"adam": tuple(2.0 ** k for k in range(-10, -3)),
              "rmsprop": tuple(2.0 ** k for k in range(-12, -5))}
CNN_MNIST = {"layers": "c-p-c-p-f-f", "kernel_size": 5, "batch_norm": True}


def _cifar_panel(label, classes=None):
    """A Fig. 7 panel: the paper's CIFAR-10 CNN, with the MNIST CNN as its stand-in; classes: an
    optional label subset (CIFAR-5, CIFAR-2)."""
    sub = {} if classes is None else {"classes": classes}
    return Panel(label, "cnn", {"dataset": "mnist", **CNN_MNIST, **sub},
                 cifar={"dataset": "cifar10", "layers": "dm-cifar", **sub})


EXPERIMENTS = {e.name: e for e in [
    Experiment("dm-fig4-quadratic", "Andrychowicz et al. 2016, Fig. 4 (left)",
               "on 10-d quadratics the LSTM optimizer beats SGD, NAG, RMSprop and ADAM",
               "curves", (Panel("10-d quadratic ||W theta - y||^2", "quadratic"),),
               learned=("dm-quadratic",), num_tune=20,
               grids={b: tuple(2.0 ** k for k in range(-12, 3)) for b in ("adam", "rmsprop")}),
    Experiment("dm-fig4-mnist", "Andrychowicz et al. 2016, Fig. 4 (centre)",
               "on the base MNIST MLP the LSTM optimizer beats all tuned baselines over 100 steps",
               "curves", (MLP,)),
    Experiment("dm-fig4-mnist-200", "Andrychowicz et al. 2016, Fig. 4 (right)",
               "run for 200 steps (twice its training horizon) the LSTM optimizer keeps its lead",
               "curves", (MLP,), steps=200),
    Experiment("dm-fig5-generalization", "Andrychowicz et al. 2016, Fig. 5",
               "the optimizer trained on 1x20 sigmoid generalizes to 40 units and to 2 hidden "
               "layers, but fails on ReLU", "curves",
               (Panel("40 hidden units", "mnist-mlp", {"hidden": [40]}),
                Panel("2 hidden layers", "mnist-mlp", {"hidden": [20, 20]}),
                Panel("ReLU", "mnist-mlp", {"activation": "relu"})), num_test=20),
    Experiment("dm-fig6-architectures", "Andrychowicz et al. 2016, Fig. 6",
               "final loss as units and layers vary: the LSTM (trained on 1 layer of 20) stays "
               "at or below the baselines", "final",
               tuple(Panel(f"{L}x{u}", "mnist-mlp", {"hidden": [u] * L})
                     for L in (1, 2) for u in (5, 20, 80)), num_test=10, num_tune=5),
    Experiment("dm-fig7-cnn", "Andrychowicz et al. 2016, Fig. 7",
               "on CIFAR-10, CIFAR-5 and CIFAR-2 the LSTM (conv and fc LSTMs) learns much faster "
               "than the baselines; LSTM-sub, trained on held-out labels, transfers",
               "curves", (_cifar_panel("10 classes"), _cifar_panel("5 classes", [0, 1, 2, 3, 4]),
                          _cifar_panel("2 classes", [0, 1])),
               learned=("dm-cnn", "dm-cnn-sub"), num_test=5, num_tune=2,
               note="without CIFAR-10 batches the same CNN runs on MNIST (2 conv layers: "
                    "28x28 pools to 7x7)"),
    Experiment("dm-fig8-9-neural-art", "Andrychowicz et al. 2016, Fig. 8 and 9",
               "on test content images the LSTM trained at 64x64 on one style beats the baselines, "
               "also on a new style at 128x128", "art",
               (Panel("training style, 64x64", "neural-art", {"style_image": "gravel", "size": 64}),
                Panel("new style, 64x64", "neural-art", {"style_image": "wood", "size": 64}),
                Panel("new style, 128x128", "neural-art", {"style_image": "wood", "size": 128})),
               learned=("dm-art",), steps=128, num_test=5, num_tune=2),
    Experiment("dm-appendix-b-updates", "Andrychowicz et al. 2016, Appendix B",
               "the updates the LSTM chooses per coordinate, beside the gradients it sees", "updates",
               (Panel("10-d quadratic", "quadratic"), MLP),
               learned=("dm-quadratic", "dm-mnist"), baselines=(), num_test=1),
    Experiment("rnnprop-mlp-100", "Lv et al. 2017, Fig. 3 (base MLP, 100 steps)",
               "RNNprop is comparable to the best tuned baseline and the DM optimizer at 100 steps",
               "curves", (MLP,), learned=("dm-mnist", "rnnprop-mnist")),
    Experiment("rnnprop-mlp-2000", "Lv et al. 2017, Fig. 4 (left)",
               "at 2,000 steps RNNprop keeps decreasing the loss while the DM optimizer fails",
               "curves", (MLP,), learned=("dm-mnist", "rnnprop-mnist"),
               baselines=("rmsprop", "adam"), steps=2000, num_test=3, num_tune=2,
               grids=LONG_GRIDS),
    Experiment("rnnprop-mlp-10000", "Lv et al. 2017, Fig. 4 (right)",
               "at 10,000 steps RNNprop still decreases the loss, slightly worse than the best "
               "baselines; the DM optimizer's loss increases", "curves", (MLP,),
               learned=("dm-mnist", "rnnprop-mnist"), baselines=("rmsprop", "adam"), steps=10000,
               num_test=1, num_tune=1, grids=LONG_GRIDS),
    Experiment("rnnprop-activations", "Lv et al. 2017, Table 2",
               "RNNprop (trained on sigmoid) is best or near best for sigmoid, ReLU, ELU and tanh; "
               "the DM optimizer fails on ReLU and ELU", "final",
               tuple(Panel(a, "mnist-mlp", {"activation": a})
                     for a in ("sigmoid", "relu", "elu", "tanh")),
               learned=("dm-mnist", "rnnprop-mnist"), baselines=("adam",), num_test=20),
    Experiment("rnnprop-deeper-mlp", "Lv et al. 2017, Fig. 6",
               "with more sigmoid hidden layers of 20 units RNNprop outperforms Adam until the "
               "network is too deep for anyone", "final",
               tuple(Panel(f"{L} hidden layers", "mnist-mlp", {"hidden": [20] * L})
                     for L in (1, 2, 3, 4, 5)),
               learned=("dm-mnist", "rnnprop-mnist"), baselines=("adam",), num_test=10),
    Experiment("rnnprop-cnn", "Lv et al. 2017, Fig. 8",
               "RNNprop (trained on the MLP) beats the baselines on c-c-p-f MNIST; on the other two "
               "only the best baseline beats it; the DM optimizer fails on all three", "curves",
               (Panel("c-c-p-f, MNIST", "cnn", {"layers": "c-c-p-f"}),
                Panel("c-c-p-c-c-p-f-f, MNIST", "cnn", {"layers": "c-c-p-c-c-p-f-f"}),
                Panel("c-c-p-f, CIFAR-10", "cnn", {"layers": "c-c-p-f", "dataset": "mnist"},
                      cifar={"layers": "c-c-p-f", "dataset": "cifar10"})),
               learned=("dm-mnist", "rnnprop-mnist"), num_test=5, num_tune=2),
    Experiment("rnnprop-sine-lstm", "Lv et al. 2017, Table 3 and Fig. 9",
               "on the noisy-sine LSTM task RNNprop (trained on the MLP) is comparable to or "
               "better than Adam, also with two layers and with smaller noise", "final",
               (Panel("default", "sine-lstm"), Panel("2 layers", "sine-lstm", {"num_layers": 2}),
                Panel("small noise", "sine-lstm", {"noise": 0.01})),
               learned=("dm-mnist", "rnnprop-mnist"), baselines=("adam", "adagrad"), num_test=20,
               num_tune=5),
    Experiment("rnnprop-control", "Lv et al. 2017, section 6.4 (control experiment)",
               "on the ReLU MLP, Random Scaling is the most effective trick; DM with both tricks "
               "improves on DM", "final",
               (Panel("base MLP, ReLU", "mnist-mlp", {"activation": "relu"}),),
               learned=("rnnprop-mnist", "rnnprop-mnist-rs-only", "rnnprop-mnist-cc-only",
                        "dm-mnist-tricks", "dm-mnist-e10"), baselines=("adam",), num_test=20),
]}


# ---------------------------------------------------------------------------------------------
# Quick versions (CI): few problems, few steps, small problems, three learning rates per grid
# ---------------------------------------------------------------------------------------------

def shrink_kwargs(problem, kwargs):
    """Problem settings made cheap for a quick run (same family, smaller batches or images)."""
    small = {"mnist-mlp": {"batch_size": 16, "hidden": [4] * len(kwargs.get("hidden", [20]))},
             "sine-lstm": {"batch_size": 8, "hidden": 4}, "quadratic": {},
             "cnn": {"batch_size": 4, "channels": 2, "hidden": 4}}
    if problem == "neural-art":
        return {**kwargs, "size": 8 if kwargs.get("size", 64) <= 64 else 16, "widths": [4, 4]}
    return {**kwargs, **small[problem]}


def quick_version(exp):
    """The experiment at a size that runs in seconds: 2 test problems, 1 tuning problem, at most
    4 steps, three learning rates per baseline, shrunk problems (4 hidden units per MLP layer)."""
    grids = {}
    for name in exp.baselines:
        grid = exp.grids.get(name, default_grid(name))
        grids[name] = tuple(grid[len(grid) // 2 - 2:len(grid) // 2 + 3:2])
    panels = tuple(dataclasses.replace(p, kwargs=shrink_kwargs(p.problem, p.kwargs),
                                       cifar=None if p.cifar is None else
                                       shrink_kwargs(p.problem, p.cifar)) for p in exp.panels)
    return dataclasses.replace(exp, steps=min(exp.steps, 4), num_test=2, num_tune=1,
                               grids=grids, panels=panels[:2])


# ---------------------------------------------------------------------------------------------
# Loading (or retraining) the learned optimizers
# ---------------------------------------------------------------------------------------------

def pretrained_path(name):
    """Where shipped optimizer `name` lives: minil2o/datasets/pretrained/NAME.npz."""
    return PRETRAINED_DIR / f"{name}.npz"


def load_learned(name, retrain=False, quick=False, out_dir="runs/reproduce", log=print):
    """(optimizer, status) for PRETRAINED[name]: the shipped file; with retrain, a fresh training
    run of its recorded configuration (shrunk when quick); when the file is missing, its stand-in,
    else an untrained network. status says which, for the JSON and the figure."""
    spec = PRETRAINED[name]
    if retrain:
        config = quick_config(spec.config) if quick else spec.config
        log(f"retraining {name}: {train_command(name)}")
        trainer = Trainer(config, out_dir=os.path.join(out_dir, "train", name), log=log)
        trainer.run(progress=not quick)
        trainer.opt.phi = trainer.best_phi
        return trainer.opt, "retrained"
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


# ---------------------------------------------------------------------------------------------
# Running: tune the baselines, run everything on the same test problems, cache the curves
# ---------------------------------------------------------------------------------------------

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
        from .problems.art import load_art_images
        contents = load_art_images()[0]
        kwargs["content_images"] = [im for k, im in contents.items()
                                    if (k == ART_TEST_CONTENT) == (split == "test")]
    return kwargs, label


class Runner:
    """Runs optimizers on the panels of one experiment, caching curves in cache_dir."""

    def __init__(self, exp, args, log=print):
        self.exp, self.args, self.log = exp, args, log
        self.seed, self.cache_dir = args.seed, args.cache
        self.families = {}

    def family(self, panel, split):
        """The problem family of a panel for a split, built once."""
        key = (panel.label, split)
        if key not in self.families:
            kwargs, _ = panel_kwargs(panel, split, self.args.cifar_dir)
            self.families[key] = make_family(panel.problem, **kwargs)
        return self.families[key]

    def curves(self, panel, split, what, opt, num, seed):
        """learning_curves of `opt` (described by the JSON-able `what`) on `num` problems, from
        the cache when an earlier run computed at least as many with the same settings."""
        kwargs, _ = panel_kwargs(panel, split, self.args.cifar_dir)
        kwargs.pop("content_images", None)
        key = json.dumps([what, panel.problem, kwargs, split, self.exp.steps, seed], sort_keys=True)
        path = None
        if self.cache_dir:
            digest = hashlib.sha1(key.encode()).hexdigest()[:16]
            path = os.path.join(self.cache_dir, f"{digest}.npy")
            if os.path.exists(path):
                cached = np.load(path, allow_pickle=False)
                if cached.shape[0] >= num:
                    return cached[:num]
        result = learning_curves(self.family(panel, split), opt, num, self.exp.steps, seed)
        if path:
            os.makedirs(self.cache_dir, exist_ok=True)
            np.save(path, result)
        return result

    def tune(self, panel, name):
        """Grid search of baseline `name`'s learning rate on tuning problems. Returns (lr, scores)."""
        grid = self.exp.grids.get(name, default_grid(name))
        scores = {}
        for lr in grid:
            what = {"baseline": name, "lr": lr}
            final = self.curves(panel, "validation", what, make_hand_optimizer(name, lr),
                                self.exp.num_tune, self.seed + 1)[:, -1]
            scores[lr] = float(final.mean()) if np.all(np.isfinite(final)) else math.inf
        best = min(scores, key=scores.get)
        if len(grid) > 3 and best in (grid[0], grid[-1]):
            self.log(f"  note: the best {name} learning rate {best:g} is at the edge of its grid")
        return best, scores

    def run_panel(self, panel, learned):
        """Tune the baselines, then run them and the learned optimizers on the test problems.
        Returns dict label -> {"lr", "curves", "mean", "stderr", "diverged", ...}."""
        results, exp = {}, self.exp
        for name in exp.baselines:
            lr, scores = self.tune(panel, name)
            self.log(f"  {panel.label}: tuned {name} lr = {lr:g}")
            curves = self.curves(panel, "test", {"baseline": name, "lr": lr},
                                 make_hand_optimizer(name, lr), exp.num_test, self.seed + 2)
            results[HAND_OPTIMIZERS[name].__name__] = {"lr": lr, "grid_scores": scores,
                                                       "curves": curves}
        for label, (opt, digest) in learned.items():
            t0 = time.time()
            curves = self.curves(panel, "test", {"learned": digest}, opt, exp.num_test, self.seed + 2)
            self.log(f"  {panel.label}: {label} done ({time.time() - t0:.0f} s)")
            results[label] = {"lr": None, "curves": curves}
        for r in results.values():
            r["mean"], r["stderr"], r["diverged"] = summarize(r["curves"])
        return results


def optimizer_digest(opt):
    """A short fingerprint of a learned optimizer's parameters (the cache key of its curves)."""
    from .backend import to_numpy
    h = hashlib.sha1(json.dumps(opt.config(), sort_keys=True).encode())
    for k in sorted(opt.phi):
        h.update(np.ascontiguousarray(to_numpy(opt.phi[k]), dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Numbers (JSON) and figures (PNG)
# ---------------------------------------------------------------------------------------------

def _round(values):
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
        out[label] = {"lr": r["lr"], "final_mean": _round([r["mean"][-1]])[0],
                      "final_stderr": _round([r["stderr"][-1]])[0], "diverged": r["diverged"],
                      "num_runs": int(r["curves"].shape[0]),
                      "mean": _round(r["mean"][at]), "stderr": _round(r["stderr"][at])}
        if "grid_scores" in r:
            out[label]["grid"] = {f"{lr:g}": _round([s])[0] for lr, s in r["grid_scores"].items()}
    return {"steps": at.tolist(), "optimizers": out}


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


VARIANT_LINES = {"-sub": "--", "-tricks": "--", "-rs-only": "--", "-cc-only": ":", "-e10": ":"}


def _style(label):
    """Line style by optimizer: learned ones thick (DM orange, RNNprop red; the variants of the
    control and LSTM-sub experiments dashed or dotted), baselines thin."""
    shipped = label[label.find("[") + 1:label.find("]")] if "[" in label else ""
    line = next((ls for end, ls in VARIANT_LINES.items() if shipped.endswith(end)), "-")
    if label.startswith("RNNprop"):
        return dict(lw=2.2, color="tab:red", ls=line)
    if label.startswith("DM"):
        return dict(lw=2.2, color="tab:orange", ls=line)
    colors = {"SGD": "tab:blue", "NAG": "tab:purple", "RMSprop": "tab:green", "Adam": "tab:gray",
              "Adagrad": "tab:olive", "Momentum": "tab:cyan", "Adadelta": "tab:pink"}
    return dict(lw=1.1, color=colors.get(label))


def plot_panel_curves(panels, path, title):
    """One subplot per panel: mean loss per step with a +- one standard error band.
    panels: list of (label, results as Runner.run_panel returns)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    for ax, (label, results) in zip(axes[0], panels):
        for name, r in results.items():
            steps = np.arange(len(r["mean"]))
            line, = ax.plot(steps, r["mean"], label=name, **_style(name))
            ax.fill_between(steps, r["mean"] - r["stderr"], r["mean"] + r["stderr"], alpha=0.2,
                            color=line.get_color())
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (mean over test problems)")
        ax.set_title(label, fontsize=9)
    axes[0][0].legend(frameon=False, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_final(panels, path, title):
    """Final loss (mean +- standard error) per panel, one marker series per optimizer."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(panels) + 2), 3.8))
    names = list(dict.fromkeys(n for _, results in panels for n in results))
    width = 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(panels))]
        mean = [results[name]["mean"][-1] for _, results in panels]
        se = [results[name]["stderr"][-1] for _, results in panels]
        style = _style(name)
        marker = {"-": "o", "--": "s", ":": "^"}.get(style.get("ls", "-"), "o")
        ax.errorbar(xs, mean, yerr=se, fmt=marker, ms=4, capsize=2, label=name,
                    color=style.get("color"))
    ax.set_xticks(range(len(panels)))
    ax.set_xticklabels([label for label, _ in panels], fontsize=8, rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("final loss (mean +- s.e.)")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# The four kinds of experiment
# ---------------------------------------------------------------------------------------------

def run_comparison(exp, runner, learned, out_dir):
    """'curves' and 'final': every panel's comparison; the figure by kind. Returns the JSON part."""
    panels, numbers = [], []
    for panel in exp.panels:
        results = runner.run_panel(panel, learned)
        label = panel_kwargs(panel, "test", runner.args.cifar_dir)[1]
        panels.append((label, results))
        numbers.append({"label": label, "problem": panel.problem, "kwargs": panel.kwargs,
                        **panel_numbers(results, exp.steps)})
        runner.log(format_final(label, results))
    plot = plot_final if exp.kind == "final" else plot_panel_curves
    plot(panels, os.path.join(out_dir, f"{exp.name}.png"), f"{exp.source}: {exp.name}")
    return {"panels": numbers}


def format_final(label, results):
    """Text table of the final loss per optimizer, best first."""
    lines = [f"{label}:"]
    for name, r in sorted(results.items(), key=lambda kv: np.nan_to_num(kv[1]["mean"][-1], nan=1e30)):
        lr = "" if r["lr"] is None else f" (lr {r['lr']:g})"
        lines.append(f"  {name + lr:<58} {r['mean'][-1]:.4g} +- {r['stderr'][-1]:.2g}"
                     f"  diverged {r['diverged']}")
    return "\n".join(lines)


def run_art(exp, runner, learned, out_dir):
    """Neural art: the comparison of every panel, then the images styled by the first learned
    optimizer and by tuned Adam on the first test content of each panel."""
    part = run_comparison(exp, runner, learned, out_dir)
    plt = _pyplot()
    fig, axes = plt.subplots(len(exp.panels), 4, figsize=(9, 2.4 * len(exp.panels)), squeeze=False)
    (label, (opt, _)), = list(learned.items())[:1]
    for row, (panel, numbers) in enumerate(zip(exp.panels, part["panels"])):
        rng = np.random.default_rng([runner.seed + 2, 0])
        problem = runner.family(panel, "test").sample(rng)
        lr = numbers["optimizers"].get("Adam", {}).get("lr") or 0.01
        images = [problem.content, runner.family(panel, "test").style]
        for o in (opt, make_hand_optimizer("adam", lr)):
            images.append(problem.to_image(final_theta(problem, o, exp.steps, rng)))
        titles = ["content (test)", "style", label, f"Adam (lr {lr:g})"]
        for ax, image, title in zip(axes[row], images, titles):
            ax.imshow(np.clip(image, 0, 1))
            ax.set_title(f"{title}\n{numbers['label']}" if ax is axes[row][0] else title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, f"{exp.name}-images.png"), dpi=80)
    plt.close(fig)
    return part


def final_theta(problem, opt, steps, rng):
    """theta after `steps` steps of `opt` from problem.init(rng)."""
    opt = fit_to_problem(opt, problem)
    theta = problem.init(rng)
    state = opt.init_state(problem.n, problem.dtype)
    for _ in range(steps):
        _, grad = problem.loss_and_grad(theta, problem.sample_batch(rng))
        update, state = opt.step(grad, state)
        theta = theta + update
    return theta


def run_updates(exp, runner, learned, out_dir, num_coords=4):
    """Appendix B: for a few coordinates of one test problem per panel, the gradient the learned
    optimizer receives and the update it returns, step by step (panel k uses learned optimizer k)."""
    from .backend import to_numpy
    plt = _pyplot()
    fig, axes = plt.subplots(len(exp.panels), num_coords, figsize=(2.6 * num_coords, 2.3 * len(exp.panels)),
                             squeeze=False)
    traces = []
    for row, (panel, (label, (opt, _))) in enumerate(zip(exp.panels, learned.items())):
        rng = np.random.default_rng([runner.seed + 2, 0])
        problem = runner.family(panel, "test").sample(rng)
        coords = np.sort(np.random.default_rng(runner.seed).choice(problem.n, num_coords, replace=False))
        opt = fit_to_problem(opt, problem)
        theta, state = problem.init(rng), opt.init_state(problem.n, problem.dtype)
        grads, updates = [], []
        for _ in range(exp.steps):
            _, grad = problem.loss_and_grad(theta, problem.sample_batch(rng))
            update, state = opt.step(grad, state)
            theta = theta + update
            grads.append(to_numpy(grad)[coords])
            updates.append(to_numpy(update)[coords])
        grads, updates = np.array(grads), np.array(updates)                  # (steps, k)
        traces.append({"label": panel.label, "optimizer": label, "coordinates": coords.tolist(),
                       "gradient": [_round(g) for g in grads.T], "update": [_round(u) for u in updates.T]})
        for j, ax in enumerate(axes[row]):
            ax.plot(updates[:, j], color="tab:orange", lw=1.5, label="update")
            ax.set_title(f"{panel.label}, coordinate {coords[j]}", fontsize=7)
            twin = ax.twinx()
            twin.plot(grads[:, j], color="tab:blue", lw=0.8, alpha=0.7, label="gradient")
            twin.tick_params(labelsize=6, colors="tab:blue")
            ax.tick_params(labelsize=6)
        axes[row][0].legend(frameon=False, fontsize=6, loc="upper right")
    fig.suptitle(f"{exp.source}: updates (orange, left axis) beside gradients (blue, right axis)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, f"{exp.name}.png"), dpi=90)
    plt.close(fig)
    return {"traces": traces}


KINDS = {"curves": run_comparison, "final": run_comparison, "art": run_art, "updates": run_updates}


def run_experiment(name, args, log=print):
    """Run experiment `name` as `args` says (quick, out, num_test, retrain, seed, cache,
    cifar_dir); write OUT/NAME.json and OUT/NAME.png. Returns the JSON dict."""
    if name not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)} "
                         "(or see `minil2o reproduce --list`)")
    exp = quick_version(EXPERIMENTS[name]) if args.quick else EXPERIMENTS[name]
    if args.num_test is not None:
        exp = dataclasses.replace(exp, num_test=check_positive_int(args.num_test, "--num-test"))
    start = time.time()
    log(f"== {exp.name}: {exp.source} ({exp.num_test} test problems, {exp.steps} steps)")
    os.makedirs(args.out, exist_ok=True)
    learned, status = {}, {}
    for key in exp.learned:
        opt, state = load_learned(key, args.retrain, args.quick, args.out, log)
        label = learned_label(key, state)
        learned[label] = (opt, optimizer_digest(opt))
        status[key] = {"status": state, "label": label, "train_command": train_command(key)}
    runner = Runner(exp, args, log)
    part = KINDS[exp.kind](exp, runner, learned, args.out)
    numbers = {"experiment": exp.name, "source": exp.source, "claim": exp.claim, "note": exp.note,
               "quick": bool(args.quick), "steps": exp.steps, "num_test": exp.num_test,
               "num_tune": exp.num_tune, "seed": args.seed, "tune_seed": args.seed + 1,
               "test_seed": args.seed + 2, "learned": status, "seconds": round(time.time() - start, 1),
               **part}
    path = os.path.join(args.out, f"{exp.name}.json")
    with open(path, "w") as fh:
        json.dump(numbers, fh, indent=1)
    log(f"numbers: {path}\nfigure: {os.path.join(args.out, exp.name + '.png')}\n"
        f"done in {time.time() - start:.0f} s")
    return numbers


# ---------------------------------------------------------------------------------------------
# The command line (wired into `minil2o reproduce` by minil2o/cli.py)
# ---------------------------------------------------------------------------------------------

def add_arguments(parser):
    """The arguments of `minil2o reproduce` (parser: an argparse parser)."""
    parser.add_argument("name", nargs="?", help="experiment name (see --list), or 'all'")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--quick", action="store_true",
                        help="reduced size (2 test problems, a few steps, small problems): seconds")
    parser.add_argument("--out", default="runs/reproduce", help="where NAME.json and NAME.png go")
    parser.add_argument("--num-test", type=int, help="test problems (default: the experiment's)")
    parser.add_argument("--retrain", action="store_true",
                        help="retrain the optimizers from their recorded configuration instead "
                             "of loading the shipped ones (with --quick: a tiny training run)")
    parser.add_argument("--seed", type=int, default=0, help="tuning uses seed+1, testing seed+2")
    parser.add_argument("--cache", default="runs/reproduce-cache",
                        help="folder of cached curves ('' to turn the cache off)")
    parser.add_argument("--cifar-dir", default=os.environ.get(CIFAR_ENV),
                        help=f"cifar-10-batches-py folder (default: ${CIFAR_ENV}); without it "
                             "the CIFAR-10 panels run on MNIST and say so")


def list_experiments():
    """One line per experiment: name, source, claim."""
    return "\n".join(f"{e.name:<24} {e.source}\n{'':<24} {e.claim}" for e in EXPERIMENTS.values())


def run(args):
    """Entry point of `minil2o reproduce`. Returns the exit code."""
    if args.list:
        print(list_experiments())
        return 0
    if not args.name:
        raise UsageError("name an experiment (minil2o reproduce NAME) or pass --list to see them")
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    for name in names:
        run_experiment(name, args)
    return 0
