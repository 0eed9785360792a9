"""Meta-training a learned optimizer (Andrychowicz et al. 2016, section 2; Lv et al. 2017, section 4).

Each meta-iteration samples an optimizee, runs it for `horizon` steps in truncations of `unroll`
steps, and after every truncation takes one Adam step on phi with the meta-gradient of
minil2o/meta.py. After every epoch the optimizer is scored (on validation problems for the DM
optimizer, by the moving average of the training meta-loss for RNNprop), the best phi is kept, and a
checkpoint holding everything needed to continue is written atomically: a run killed at any moment
and resumed ends with exactly the parameters an uninterrupted run would have.
"""
import dataclasses
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from . import checkpoint
from .backend import asarray, get_backend, to_float, xp
from .errors import DataError, NumericalError, UsageError
from .evaluate import check_positive_int, learning_curves
from .meta import meta_gradient, meta_loss, meta_weights, unroll
from .optimizers.hand import Adam
from .optimizers.learned import DMOptimizer, RNNprop
from .problems import make_family
from .problems.wrappers import ConvexCombinedFamily, ProblemBatch, RandomScaledFamily

LEARNED = {"dm": DMOptimizer, "rnnprop": RNNprop}


@dataclass
class TrainConfig:
    """Everything that defines a meta-training run (saved in every checkpoint)."""
    problem: str = "quadratic"              # problem family (minil2o.problems.FAMILIES)
    problem_kwargs: dict = field(default_factory=dict)
    optimizer: str = "dm"                   # "dm" or "rnnprop"
    optimizer_kwargs: dict = field(default_factory=dict)
    horizon: int = 100                      # T: optimizee steps per problem
    unroll: int = 20                        # K: steps per truncation (one meta-update each)
    weighting: str = "all"                  # meta-loss weights w_t: "all" (DM) or "last" (RNNprop)
    meta_lr: float = 1e-3                   # Adam's learning rate on phi
    meta_batch: int = 1                     # problems per meta-update, run as one coordinate array
    epochs: int = 10
    problems_per_epoch: int = 20
    clip_norm: float = 0.0                  # clip the meta-gradient's norm (0: off)
    second_derivatives: bool = False        # keep the dashed edges (Hessian-vector products)
    random_scaling: float = 0.0             # RNNprop's r: c = exp(U(-r, r)) per coordinate (0: off)
    convex_combination: bool = False        # RNNprop: add a randomly scaled 20-d quadratic
    selection: str = "validation"           # "validation" (DM) or "train-average" (RNNprop)
    validation_problems: int = 10
    seed: int = 0
    dtype: str = "float32"
    on_nonfinite: str = "skip"              # "skip" the truncation, or "stop"

    def validate(self):
        for name in ("horizon", "unroll", "meta_batch", "epochs", "problems_per_epoch",
                     "validation_problems"):
            check_positive_int(getattr(self, name), name)
        if self.unroll > self.horizon:
            raise UsageError(f"unroll {self.unroll} is longer than the horizon {self.horizon}: "
                             "it must be at most the horizon")
        choices = {"optimizer": tuple(LEARNED), "weighting": ("all", "last"),
                   "selection": ("validation", "train-average"), "on_nonfinite": ("skip", "stop"),
                   "dtype": ("float32", "float64")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UsageError(f"unknown {name} {getattr(self, name)!r}: choose one of {', '.join(allowed)}")
        if not (self.meta_lr > 0 and math.isfinite(self.meta_lr)):
            raise UsageError(f"meta_lr must be a positive number, got {self.meta_lr!r}")
        if self.clip_norm < 0 or self.random_scaling < 0:
            raise UsageError("clip_norm and random_scaling must be >= 0")
        return self


def build_optimizer(kind, **kwargs):
    """A learned optimizer by kind ('dm' or 'rnnprop') with its keyword arguments."""
    if kind not in LEARNED:
        raise UsageError(f"unknown learned optimizer {kind!r}: choose one of {', '.join(LEARNED)}")
    return LEARNED[kind](**kwargs)


def build_family(config, split=None):
    """The problem family of a config, wrapped by RNNprop's training tricks when they are on."""
    kwargs = dict(config.problem_kwargs)
    kwargs.setdefault("dtype", config.dtype)
    if split is not None and config.problem in ("mnist-mlp", "cnn"):
        kwargs["split"] = split
    family = make_family(config.problem, **kwargs)
    if config.random_scaling > 0 and split == "train":
        family = RandomScaledFamily(family, config.random_scaling)
    if config.convex_combination and split == "train":
        family = ConvexCombinedFamily(family, r=config.random_scaling or 1.0)
    return family


def flatten(d):
    """A dict of arrays as one vector (in key order)."""
    return xp.concat([xp.reshape(v, (-1,)) for v in d.values()])


def unflatten(vec, like):
    """The inverse of flatten: a vector back to a dict shaped like `like`."""
    out, i = {}, 0
    for k, v in like.items():
        size = math.prod(v.shape)
        out[k] = xp.reshape(vec[i:i + size], v.shape)
        i += size
    return out


class Trainer:
    """Meta-trains one learned optimizer as `config` says; checkpoints into `out_dir` if given.

        trainer = Trainer(TrainConfig(problem="quadratic", ...), out_dir="runs/quad")
        result = trainer.run()           # the best phi is in trainer.best_phi
    """

    def __init__(self, config, out_dir=None, resume=False, log=print):
        self.config = config.validate()
        self.out_dir, self.log = out_dir, log
        self.opt = build_optimizer(config.optimizer, **config.optimizer_kwargs)
        self.family = build_family(config, "train")
        self.weights = meta_weights(config.unroll, config.weighting)
        self.meta_opt = Adam(lr=config.meta_lr)              # the meta-optimizer, on flatten(phi)
        self.rng = np.random.default_rng(config.seed)
        self.phi = self.opt.init_params(self.rng, config.dtype)
        self.adam_state = self.meta_opt.init_state(flatten(self.phi).shape[0], config.dtype)
        self.best_phi, self.best_score, self.epoch = dict(self.phi), math.inf, 0
        self.ema, self.history, self.skipped = None, [], 0
        if resume:
            self.restore()

    # -- one problem: horizon / unroll truncations, one meta-update each -----------------------
    def sample_problem(self):
        c = self.config
        problems = [self.family.sample(self.rng) for _ in range(c.meta_batch)]
        return problems[0] if c.meta_batch == 1 else ProblemBatch(problems)

    def train_problem(self, index):
        """Optimize one freshly sampled problem for the whole horizon, updating phi after every
        truncation. Returns the meta-losses of its truncations."""
        c, problem = self.config, self.sample_problem()
        theta = problem.init(self.rng)
        state = self.opt.init_state(problem.n, c.dtype)
        batches, start, losses = [problem.sample_batch(self.rng)], None, []
        for k in range(c.horizon // c.unroll):
            batches += [problem.sample_batch(self.rng) for _ in range(c.unroll)]
            tr = unroll(self.opt, self.phi, problem, theta, state, batches, start)
            loss = meta_loss(tr, self.weights, problem.num_problems)
            d_phi = meta_gradient(self.opt, self.phi, problem, tr, self.weights, c.second_derivatives)
            bad = self.nonfinite(loss, d_phi)
            if bad:
                where = f"epoch {self.epoch}, problem {index}, truncation {k}"
                if c.on_nonfinite == "stop":
                    raise NumericalError(f"{bad} is not finite at {where}; stopping (nothing saved)")
                self.skipped += 1
                self.log(f"skipped: {bad} is not finite at {where}")
                break                                   # this problem's trajectory is lost
            step, self.adam_state = self.meta_opt.step(flatten(self.clip(d_phi)), self.adam_state)
            self.phi = unflatten(flatten(self.phi) + step, self.phi)
            theta, state = tr.thetas[-1], tr.state
            start, batches = (tr.losses[-1], tr.grads[-1]), batches[-1:]
            losses.append(to_float(loss))
        return losses

    def nonfinite(self, loss, d_phi):
        """Name of the first non-finite quantity among the meta-loss and meta-gradient, or ''."""
        if not math.isfinite(to_float(loss)):
            return "the meta-loss"
        for k, g in d_phi.items():
            if not bool(xp.all(xp.isfinite(g))):
                return f"the meta-gradient of {k}"
        return ""

    def clip(self, d_phi):
        """Rescale the meta-gradient to norm clip_norm when it is longer (clip_norm = 0: off)."""
        if self.config.clip_norm <= 0:
            return d_phi
        norm = math.sqrt(sum(to_float(xp.sum(g * g)) for g in d_phi.values()))
        scale = min(1.0, self.config.clip_norm / (norm + 1e-12))
        return {k: g * scale for k, g in d_phi.items()}

    # -- epochs, model selection, checkpoints ---------------------------------------------------
    def run(self, progress=True):
        """Train until config.epochs epochs are done (continuing after a resume). Returns history."""
        from tqdm.auto import tqdm
        c = self.config
        total = c.epochs * c.problems_per_epoch
        bar = tqdm(total=total, initial=self.epoch * c.problems_per_epoch, disable=not progress,
                   desc=f"meta-training {c.optimizer} on {c.problem}", unit="problem")
        while self.epoch < c.epochs:
            epoch_losses = []
            for i in range(c.problems_per_epoch):
                losses = self.train_problem(i)
                for loss in losses:
                    self.ema = loss if self.ema is None else 0.95 * self.ema + 0.05 * loss
                epoch_losses += losses
                bar.update(1)
                bar.set_postfix(meta_loss=f"{np.mean(losses):.4g}" if losses else "skipped")
            self.epoch += 1
            self.end_epoch(float(np.mean(epoch_losses)) if epoch_losses else math.nan)
        bar.close()
        return self.history

    def score(self):
        """Lower is better: mean loss over the horizon on validation problems (DM), or the moving
        average of the training meta-loss (RNNprop)."""
        c = self.config
        if c.selection == "train-average":
            return self.ema if self.ema is not None else math.inf
        if not hasattr(self, "validation_family"):
            self.validation_family = build_family(c, "validation")
        opt = build_optimizer(c.optimizer, **c.optimizer_kwargs)
        opt.phi = self.phi
        curves = learning_curves(self.validation_family, opt, c.validation_problems, c.horizon,
                                 seed=c.seed + 1_000_003)
        return float(curves.mean()) if np.all(np.isfinite(curves)) else math.inf

    def end_epoch(self, train_loss):
        score = self.score()
        if score < self.best_score:
            self.best_score, self.best_phi = score, dict(self.phi)
        self.history.append({"epoch": self.epoch, "train_meta_loss": train_loss, "score": score,
                             "best_score": self.best_score, "skipped": self.skipped})
        self.log(f"epoch {self.epoch}/{self.config.epochs}: meta-loss {train_loss:.5g}, "
                 f"{self.config.selection} score {score:.5g} (best {self.best_score:.5g})")
        if self.out_dir is not None:
            self.save()

    def state_meta(self):
        return {"config": dataclasses.asdict(self.config), "optimizer": self.opt.config(),
                "epoch": self.epoch, "adam_t": self.adam_state["t"], "best_score": self.best_score,
                "ema": self.ema, "history": self.history, "skipped": self.skipped,
                "rng_state": self.rng.bit_generator.state, "backend": get_backend()}

    def save(self):
        """Write train_state.npz (everything to resume) and optimizer.npz (the best phi)."""
        arrays = {f"phi/{k}": v for k, v in self.phi.items()}
        arrays.update({f"best/{k}": v for k, v in self.best_phi.items()})
        arrays.update({"adam/m": self.adam_state["m"], "adam/v": self.adam_state["v"]})
        checkpoint.save(os.path.join(self.out_dir, "train_state.npz"), arrays, self.state_meta())
        save_optimizer(os.path.join(self.out_dir, "optimizer.npz"), self.opt, self.best_phi,
                       {"config": dataclasses.asdict(self.config), "epoch": self.epoch,
                        "score": self.best_score})

    def restore(self):
        """Continue from out_dir/train_state.npz, which must come from the same config."""
        path = os.path.join(self.out_dir or ".", "train_state.npz")
        if not os.path.exists(path):
            self.log(f"no checkpoint at {path}: starting from scratch")
            return
        arrays, meta = checkpoint.load(path)
        saved = meta.get("config")
        if saved != json.loads(json.dumps(dataclasses.asdict(self.config))):
            raise UsageError(f"checkpoint {path} was written by a different configuration; "
                             "use another --out directory or the same settings")
        group = lambda prefix: {k: asarray(arrays[f"{prefix}/{k}"], self.config.dtype) for k in self.phi}
        try:
            self.phi, self.best_phi = group("phi"), group("best")
            self.adam_state = {"t": meta["adam_t"], "m": asarray(arrays["adam/m"], self.config.dtype),
                               "v": asarray(arrays["adam/v"], self.config.dtype)}
            self.epoch, self.best_score, self.ema = meta["epoch"], meta["best_score"], meta["ema"]
            self.history, self.skipped = meta["history"], meta["skipped"]
            self.rng.bit_generator.state = meta["rng_state"]
        except KeyError as e:
            raise DataError(f"checkpoint {path} lacks {e}: not a training checkpoint") from None
        self.log(f"resumed from {path} after epoch {self.epoch}")


def save_optimizer(path, opt, phi, meta):
    """Save a learned optimizer's parameters and configuration (npz + JSON, atomically)."""
    checkpoint.save(path, {f"phi/{k}": v for k, v in phi.items()}, {"optimizer": opt.config(), **meta})


def load_optimizer(path, dtype="float32"):
    """A learned optimizer with its parameters from a file written by save_optimizer."""
    arrays, meta = checkpoint.load(path)
    cfg = dict(meta.get("optimizer") or {})
    kind = cfg.pop("kind", None)
    if kind not in LEARNED:
        raise DataError(f"{path}: not a learned-optimizer checkpoint (kind {kind!r}; "
                        f"expected one of {', '.join(LEARNED)})")
    try:
        opt = build_optimizer(kind, **cfg)
    except TypeError as e:
        raise DataError(f"{path}: optimizer settings do not fit {kind}: {e}") from None
    expected = opt.param_shapes()
    found = {k[4:]: tuple(a.shape) for k, a in arrays.items() if k.startswith("phi/")}
    if found != expected:
        raise DataError(f"{path}: parameters {found} do not match a {kind} optimizer with these "
                        f"settings, which has {expected}")
    opt.phi = {k: asarray(arrays[f"phi/{k}"], dtype) for k in expected}
    opt.meta = meta
    return opt
