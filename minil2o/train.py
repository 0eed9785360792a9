"""Meta-training a learned optimizer (Andrychowicz et al. 2016, section 2; Lv et al. 2017, section 4).

Each meta-iteration samples an optimizee, runs it for `horizon` steps in truncations of `unroll`
steps, and after every truncation takes one Adam step on phi with the meta-gradient of
minil2o/meta.py. After every epoch the optimizer is scored (on validation problems for the DM
optimizer, by the moving average of the training meta-loss for RNNprop), the best phi is kept, and a
checkpoint holding everything needed to continue is written atomically: a run killed at any moment
and resumed ends with exactly the parameters an uninterrupted run would have.

Numerical faults are caught where they happen. After every truncation the meta-loss and the
meta-gradient are checked; when one is NaN or Inf, the truncation is searched for the first
non-finite quantity (the learned optimizer's update, the optimizee's loss or gradient, the
meta-gradient), and the message names it with its optimizee step, epoch and problem. An Adam step
whose result would not be finite (a meta-gradient so large that its square overflows) is refused
the same way. Then, as `on_nonfinite` says, the rest of that problem is skipped (counted in the
history as `skipped`) or training stops with a NumericalError; phi is never updated with a
non-finite value, so no checkpoint ever holds one.
"""
import dataclasses
import glob
import inspect
import json
import math
import numbers
import os
from dataclasses import dataclass, field

import numpy as np

from . import checkpoint
from .backend import asarray, get_backend, to_float, xp
from .errors import DataError, NumericalError, UsageError, build_with_settings
from .evaluate import all_finite, check_positive_int, check_seed, learning_curves
from .meta import meta_gradient, meta_loss, meta_weights, unroll
from .optimizers.hand import Adam
from .optimizers.grouped import PerGroupOptimizer
from .optimizers.learned import DMOptimizer, RNNprop
from .problems import FAMILIES, make_family
from .problems.wrappers import ConvexCombinedFamily, RandomScaledFamily

LEARNED = {"dm": DMOptimizer, "rnnprop": RNNprop}


@dataclass
class TrainConfig:
    """Everything that defines a meta-training run (saved in every checkpoint)."""
    problem: str = "quadratic"              # problem family (minil2o.problems.FAMILIES)
    problem_kwargs: dict = field(default_factory=dict)
    optimizer: str = "dm"                   # "dm" or "rnnprop"
    optimizer_kwargs: dict = field(default_factory=dict)
    per_group: bool = False                 # one optimizer per parameter group (e.g. conv, fc)
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
    init_from: str = ""                     # start phi from this optimizer file ("": random init)

    def validate(self):
        """Check every field; a bad one raises UsageError naming it and what is allowed."""
        for name in ("horizon", "unroll", "meta_batch", "epochs", "problems_per_epoch",
                     "validation_problems"):
            check_positive_int(getattr(self, name), name)
        if self.unroll > self.horizon:
            raise UsageError(f"unroll {self.unroll} is longer than the horizon {self.horizon}: "
                             "it must be at most the horizon")
        if self.horizon % self.unroll:
            raise UsageError(f"horizon {self.horizon} is not a multiple of unroll {self.unroll}: "
                             f"its last {self.horizon % self.unroll} steps would never be trained")
        choices = {"problem": FAMILIES, "optimizer": tuple(LEARNED), "weighting": ("all", "last"),
                   "selection": ("validation", "train-average"), "on_nonfinite": ("skip", "stop"),
                   "dtype": ("float32", "float64")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UsageError(f"unknown {name} {getattr(self, name)!r}: choose one of {', '.join(allowed)}")
        if not (_is_number(self.meta_lr) and self.meta_lr > 0):
            raise UsageError(f"meta_lr must be a positive number, got {self.meta_lr!r}")
        for name in ("clip_norm", "random_scaling"):
            value = getattr(self, name)
            if not (_is_number(value) and value >= 0):
                raise UsageError(f"{name} must be a number >= 0 (0: off), got {value!r}")
        for name in ("problem_kwargs", "optimizer_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise UsageError(f"{name} must be a dict, got {getattr(self, name)!r}")
        if not isinstance(self.init_from, str):
            raise UsageError(f"init_from must be a path to an optimizer .npz (or ''), got "
                             f"{self.init_from!r}")
        for name in ("second_derivatives", "convex_combination", "per_group"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_seed(self.seed)
        return self


def _is_number(value):
    """A finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def build_optimizer(kind, **kwargs):
    """A learned optimizer by kind ('dm' or 'rnnprop') with its keyword arguments."""
    if kind not in LEARNED:
        raise UsageError(f"unknown learned optimizer {kind!r}: choose one of {', '.join(LEARNED)}")
    allowed = [p for p in inspect.signature(LEARNED[kind]).parameters if p != "phi"]
    return build_with_settings(LEARNED[kind], kwargs, f"{kind} optimizer", allowed)


def build_learned(config, family):
    """The learned optimizer a config trains: one optimizer, or with per_group one for each of the
    problem's parameter groups (read off one sampled problem; every problem of a family shares them)."""
    if not config.per_group:
        return build_optimizer(config.optimizer, **config.optimizer_kwargs)
    groups = family.sample(np.random.default_rng(0)).groups
    return PerGroupOptimizer({g: build_optimizer(config.optimizer, **config.optimizer_kwargs)
                              for g in groups}, {g: s.stop - s.start for g, s in groups.items()})


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


def vector_norm(v):
    """||v||_2 of a 1-D backend array as a Python float, without overflow in float32:
    ||v|| = m ||v / m|| with m = max_i |v_i|."""
    m = to_float(xp.max(xp.abs(v)))
    if m == 0.0 or not math.isfinite(m):
        return m
    return m * math.sqrt(to_float(xp.sum((v / m) * (v / m))))


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
        if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise UsageError(f"output directory {os.fspath(out_dir)!r} is a file: give a folder "
                             "(it is created if missing)")
        if resume and out_dir is None:
            raise UsageError("resume=True needs out_dir, the folder holding train_state.npz")
        self.out_dir, self.log = out_dir, log
        self.family = build_family(config, "train")
        self.opt = build_learned(config, self.family)
        self.weights = meta_weights(config.unroll, config.weighting)
        self.meta_opt = Adam(lr=config.meta_lr)              # the meta-optimizer, on flatten(phi)
        self.rng = np.random.default_rng(config.seed)
        self.phi = self.opt.init_params(self.rng, config.dtype)
        if config.init_from:
            self.phi = self.warm_start(config.init_from)
        self.adam_state = self.meta_opt.init_state(flatten(self.phi).shape[0], config.dtype)
        self.best_phi, self.best_score, self.epoch = dict(self.phi), math.inf, 0
        self.ema, self.history, self.skipped, self.skipped_epoch = None, [], 0, 0
        if resume:
            self.restore()

    def warm_start(self, path):
        """phi from a saved optimizer file instead of the random initialisation (which still draws
        its numbers, so the rest of the run sees the same stream). The file's parameters must have
        this optimizer's shapes; with per_group, a single optimizer's phi starts every group."""
        loaded = load_optimizer(path, self.config.dtype)
        phi = loaded.phi
        if isinstance(self.opt, PerGroupOptimizer) and not isinstance(loaded, PerGroupOptimizer):
            phi = {f"{g}/{k}": v for g in self.opt.optimizers for k, v in loaded.phi.items()}
        want = {k: tuple(v.shape) for k, v in self.phi.items()}
        found = {k: tuple(v.shape) for k, v in phi.items()}
        if found != want:
            raise UsageError(f"init_from {path!r} holds parameters {found}, but this run's "
                             f"{self.config.optimizer} optimizer has {want}: use a file trained "
                             "with the same optimizer settings")
        return phi

    # -- one problem: horizon / unroll truncations, one meta-update each -----------------------
    def sample_problem(self):
        """meta_batch fresh problems as one (Family.sample_many: batched where the family can)."""
        return self.family.sample_many(self.rng, self.config.meta_batch)

    def train_problem(self, index):
        """Optimize one freshly sampled problem for the whole horizon, updating phi after every
        truncation. Returns the meta-losses of its truncations (fewer after a skipped fault)."""
        c, problem = self.config, self.sample_problem()
        theta = problem.init(self.rng)
        state = self.opt.init_state(problem.n, c.dtype)
        batches, start, losses = [problem.sample_batch(self.rng)], None, []
        for k in range(c.horizon // c.unroll):
            batches += [problem.sample_batch(self.rng) for _ in range(c.unroll)]
            tr = unroll(self.opt, self.phi, problem, theta, state, batches, start)
            loss = to_float(meta_loss(tr, self.weights, problem.num_problems))
            d_phi = self.meta_gradient(problem, tr)
            flat = flatten(d_phi)                                           # (P,)
            fault = self.find_fault(tr, loss, d_phi, flat) or self.meta_step(flat)
            if fault:
                self.on_fault(fault, index, k)
                break                                   # this problem's trajectory is lost
            theta, state = tr.thetas[-1], tr.state
            start, batches = (tr.losses[-1], tr.grads[-1]), batches[-1:]
            losses.append(loss)
        return losses

    def meta_gradient(self, problem, tr):
        """dL/d phi of one truncation (minil2o.meta.meta_gradient)."""
        try:
            return meta_gradient(self.opt, self.phi, problem, tr, self.weights,
                                 self.config.second_derivatives)
        except NotImplementedError as e:
            raise UsageError(f"second_derivatives needs Hessian-vector products, which problem "
                             f"{self.config.problem!r} does not have ({e}): turn it off") from None

    def find_fault(self, tr, loss, d_phi, flat):
        """None when the meta-loss (a float) and the meta-gradient d_phi (flat: the same as one
        vector) are finite; otherwise (t, quantity): the first non-finite quantity of the
        truncation tr and its step t in it (None when it belongs to the whole truncation)."""
        if math.isfinite(loss) and all_finite(flat):
            return None
        for t in range(len(tr.thetas)):
            if not all_finite(tr.thetas[t]):       # theta_t = theta_{t-1} + update_{t-1}
                return (t - 1, "the learned optimizer's update") if t else (0, "theta at the start")
            if not math.isfinite(to_float(tr.losses[t])):
                return t, "the optimizee's loss"
            if not all_finite(tr.grads[t]):
                return t, "the optimizee's gradient"
        if not math.isfinite(loss):
            return None, "the meta-loss"
        name = next(k for k, g in d_phi.items() if not all_finite(g))
        return None, f"the meta-gradient of {name}"

    def meta_step(self, flat_d_phi):
        """One Adam step on flatten(phi) with the meta-gradient (rescaled to norm clip_norm when
        longer). Commits it and returns None when phi and Adam's moments stay finite; otherwise
        changes nothing and returns (None, quantity)."""
        clip, norm = self.config.clip_norm, None
        if clip > 0:
            norm = vector_norm(flat_d_phi)
            if norm > clip:
                flat_d_phi = flat_d_phi * (clip / norm)
        step, adam_state = self.meta_opt.step(flat_d_phi, self.adam_state)
        phi = flatten(self.phi) + step
        if not bool(xp.all(xp.isfinite(phi)) & xp.all(xp.isfinite(adam_state["v"]))):
            norm = vector_norm(flat_d_phi) if norm is None else norm
            return None, (f"the meta-optimizer's state (the meta-gradient, of norm {norm:.3g}, "
                          "overflows Adam's second moment: set clip_norm)")
        self.phi, self.adam_state = unflatten(phi, self.phi), adam_state
        return None

    def on_fault(self, fault, index, k):
        """Report a fault (t, quantity) of truncation k of problem `index`; stop or count it."""
        c, (t, quantity) = self.config, fault
        first = k * c.unroll
        step = f"optimizee step {first + t}" if t is not None else \
            f"optimizee steps {first}-{first + c.unroll}"
        where = (f"{step} (epoch {self.epoch + 1}, problem {index + 1} of {c.problems_per_epoch}, "
                 f"truncation {k + 1}, family {c.problem!r})")
        if c.on_nonfinite == "stop":
            path = os.path.join(self.out_dir or ".", "train_state.npz")
            kept = (f"the checkpoint {path} of epoch {self.epoch} is kept"
                    if self.out_dir is not None and os.path.exists(path) else "nothing was saved")
            raise NumericalError(f"{quantity} is not finite at {where}; stopping: {kept}")
        self.skipped += 1
        self.skipped_epoch += 1
        self.log(f"skipped the rest of the problem: {quantity} is not finite at {where}")

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
        frozen = build_learned(c, self.family)          # the optimizer as it stands, frozen
        frozen.phi = self.phi
        curves = learning_curves(self.validation_family, frozen, c.validation_problems, c.horizon,
                                 seed=c.seed + 1_000_003)
        return float(curves.mean()) if np.all(np.isfinite(curves)) else math.inf

    def end_epoch(self, train_loss):
        score = self.score()
        if score < self.best_score:
            self.best_score, self.best_phi = score, dict(self.phi)
        self.history.append({"epoch": self.epoch, "train_meta_loss": train_loss, "score": score,
                             "best_score": self.best_score, "skipped": self.skipped,
                             "skipped_in_epoch": self.skipped_epoch})
        self.skipped_epoch = 0
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
        """Continue from out_dir/train_state.npz, which must come from the same config (except
        `epochs`: a finished run can be continued for more epochs)."""
        path = os.path.join(self.out_dir, "train_state.npz")
        for stale in glob.glob(os.path.join(self.out_dir, ".tmp-*.npz")):
            os.remove(stale)                    # a write cut short by a kill; never renamed into place
        if not os.path.exists(path):
            self.log(f"no checkpoint at {path}: starting from scratch")
            return
        arrays, meta = checkpoint.load(path)
        ours = json.loads(json.dumps(dataclasses.asdict(self.config)))
        saved = meta.get("config")
        if isinstance(saved, dict):   # settings added since it was written take their defaults;
            defaults = json.loads(json.dumps(dataclasses.asdict(TrainConfig())))
            saved = {**defaults, **saved, "epochs": ours["epochs"]}   # more epochs may follow
        if saved != ours:
            diff = sorted(k for k in ours if not isinstance(saved, dict) or saved.get(k) != ours[k])
            shown = ", ".join(f"{k}={saved.get(k)!r} there, {ours[k]!r} here" for k in diff[:3]) \
                if isinstance(saved, dict) else "no configuration"
            raise UsageError(f"checkpoint {path} was written by a different configuration "
                             f"({shown}): use another --out directory or the same settings")
        try:
            self.restore_arrays(arrays, meta["adam_t"])
            self.epoch, self.ema = int(meta["epoch"]), meta["ema"]
            self.best_score = meta["best_score"]
            self.history, self.skipped = list(meta["history"]), int(meta["skipped"])
            self.rng.bit_generator.state = meta["rng_state"]
        except KeyError as e:
            raise DataError(f"checkpoint {path} lacks {e}: not a training checkpoint") from None
        except (TypeError, ValueError) as e:
            raise DataError(f"checkpoint {path} holds a malformed training state ({e})") from None
        self.log(f"resumed from {path} after epoch {self.epoch}")

    def restore_arrays(self, arrays, adam_t):
        """phi, best phi and Adam's state from checkpoint arrays, each checked for its shape."""
        n = flatten(self.phi).shape[0]
        expected = {f"{group}/{k}": tuple(v.shape)
                    for group in ("phi", "best") for k, v in self.phi.items()}
        expected.update({"adam/m": (n,), "adam/v": (n,)})
        for name, shape in expected.items():
            if tuple(arrays[name].shape) != shape:
                raise ValueError(f"array {name} has shape {tuple(arrays[name].shape)}, "
                                 f"expected {shape}")
        load = lambda name: asarray(arrays[name], self.config.dtype)
        self.phi = {k: load(f"phi/{k}") for k in self.phi}
        self.best_phi = {k: load(f"best/{k}") for k in self.phi}
        self.adam_state = {"t": int(adam_t), "m": load("adam/m"), "v": load("adam/v")}


def save_optimizer(path, opt, phi, meta):
    """Save a learned optimizer's parameters and configuration (npz + JSON, atomically)."""
    checkpoint.save(path, {f"phi/{k}": v for k, v in phi.items()}, {"optimizer": opt.config(), **meta})


def load_optimizer(path, dtype="float32"):
    """A learned optimizer with its parameters from a file written by save_optimizer.
    A file of another kind of optimizer, other settings or other shapes raises DataError."""
    if dtype not in ("float32", "float64"):
        raise UsageError(f"dtype {dtype!r} is not allowed: choose float32 or float64")
    arrays, meta = checkpoint.load(path)
    if "adam/m" in arrays:
        raise DataError(f"{path} is a training state (train_state.npz): pass the optimizer.npz "
                        "written next to it")
    opt = optimizer_from_config(meta.get("optimizer"), path)
    expected = opt.param_shapes()
    found = {k[4:]: tuple(a.shape) for k, a in arrays.items() if k.startswith("phi/")}
    if found != expected or len(found) != len(arrays):
        raise DataError(f"{path}: arrays {sorted(arrays)} with shapes {found} do not match a "
                        f"{opt.kind} optimizer with these settings, which has phi/ arrays {expected}")
    opt.phi = {k: asarray(arrays[f"phi/{k}"], dtype) for k in expected}
    opt.meta = meta
    return opt


def optimizer_from_config(cfg, path):
    """A learned optimizer (without parameters) from the settings saved in a checkpoint."""
    kind = cfg.get("kind") if isinstance(cfg, dict) else None
    if kind == PerGroupOptimizer.kind:
        subs = cfg.get("optimizers") or {}
        return PerGroupOptimizer({g: optimizer_from_config(c, path) for g, c in subs.items()},
                                 cfg.get("sizes") or {})
    if kind not in LEARNED:
        raise DataError(f"{path}: not a learned-optimizer checkpoint (kind {kind!r}; "
                        f"expected one of {', '.join(LEARNED)} or {PerGroupOptimizer.kind})")
    try:
        return build_optimizer(kind, **{k: v for k, v in cfg.items() if k != "kind"})
    except UsageError as e:
        raise DataError(f"{path}: optimizer settings do not fit {kind}: {e}") from None
