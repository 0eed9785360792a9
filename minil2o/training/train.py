"""Meta-training a learned optimizer (Andrychowicz et al. 2016, section 2; Lv et al. 2017, sections
4.1-4.2 for the training tricks, section 5 for the set-up).

Each meta-iteration samples an optimizee and runs it for `horizon` steps in truncations of
`unroll` steps; after every truncation (minil2o/meta.py: unroll, meta_loss, meta_gradient) the
meta-gradient is checked for NaN and Inf, clipped, and Adam takes one step on phi. After every
epoch the optimizer is scored (on validation problems for the DM optimizer, by the moving average
of the training meta-loss for RNNprop), the best phi is kept, and the run's state (one TrainState,
minil2o/training/runs.py) is written whole and atomically, its two files together, by one process
at a time (the folder's lock, minil2o/files/runlock.py): a run killed at any moment and resumed
ends with exactly the parameters an uninterrupted run would have. Every setting is checked
(minil2o.validate) before a file is touched.

Numerical faults are caught where they happen: the meta-update checks that every number it uses
and makes is finite, and on a fault minil2o/training/faults.py names the first non-finite quantity
with its optimizee step, epoch and problem. Then, as `on_nonfinite` says, the rest of that
problem is skipped (counted in the history as `skipped`) or training stops with a NumericalError;
phi is never updated with a non-finite value, so no checkpoint ever holds one.

    TrainConfig    every setting of a run, each with its default and help (also the CLI's flags)
    Trainer        the loop: train_problem (truncations, meta_update), run (epochs), score; its
                   state, everything a resume needs, is one object: trainer.state
"""
import math
import time
import weakref
from dataclasses import dataclass, fields

import numpy as np

from ..backend import all_finite, to_float
from ..errors import NumericalError, UsageError
from ..evaluation.evaluate import learning_curves
from .factories import LEARNED, build_family, build_learned, check_truncation_memory
from ..fast_lstm import Workspace
from .faults import adam_fault, describe, find_fault
from .flat import clip_by_norm, flatten, unflatten
from ..meta import meta_gradient, meta_loss, meta_weights, unroll
from ..optimizers.hand import Adam
from .options import allowed_values, option
from ..problems import FAMILIES
from ..files.runlock import RunLock
from .runs import (TrainState, check_out_dir, initial_phi, kept_checkpoint, restore_run,
                   save_run, start_fresh)
from ..validate import (check_bool, check_choice, check_number, check_positive_int, check_range,
                       check_seed, check_settings)


@dataclass
class TrainConfig:
    """Everything that defines a meta-training run (saved in every checkpoint). Each field is also
    a flag of `minil2o train` (minil2o.training.options): --problem, --problem-arg KEY=VALUE, ..."""
    problem: str = option("quadratic", "problem family: " + ", ".join(FAMILIES), allowed=FAMILIES)
    problem_kwargs: dict = option({}, "problem setting, e.g. num_functions=64 or hidden=[40]",
                                  flag="--problem-arg")
    optimizer: str = option("dm", "learned optimizer: dm or rnnprop", allowed=tuple(LEARNED))
    optimizer_kwargs: dict = option({}, "optimizer setting, e.g. preprocess=none or "
                                    "output_scale=1.0", flag="--optimizer-arg")
    per_group: bool = option(False, "one learned optimizer per parameter group (e.g. conv and fc "
                             "of a CNN)")
    horizon: int = option(100, "T: optimizee steps per problem", maximum=10 ** 7)
    unroll: int = option(20, "K: steps per truncation (one meta-update each)", maximum=10 ** 5)
    weighting: str = option("all", "meta-loss weights w_t (dm: all; rnnprop: last)",
                            choices=("all", "last"), by=("optimizer", {"rnnprop": "last"}))
    meta_lr: float = option(1e-3, "Adam's learning rate on phi")
    meta_batch: int = option(1, "problems per meta-update, run as one coordinate array",
                             maximum=10 ** 5)
    epochs: int = option(10, "epochs of problems_per_epoch problems", maximum=10 ** 7)
    problems_per_epoch: int = option(20, "problems per epoch", maximum=10 ** 7)
    clip_norm: float = option(0.0, "clip the meta-gradient's norm (0: off)")
    second_derivatives: bool = option(False, "keep the dashed edges (Hessian-vector products)")
    random_scaling: float = option(0.0, "RNNprop's r: c = exp(U(-r, r)) per coordinate (0: off)")
    convex_combination: bool = option(False, "RNNprop: add a randomly scaled 20-d quadratic")
    convex_scaling: float = option(1.0, "the convex function's own Random Scaling r (Lv et al.'s "
                                   "code: 1, beside r = 3 for the MNIST MLP)")
    selection: str = option("validation", "checkpoint selection (dm: validation; rnnprop: "
                            "train-average)", choices=("validation", "train-average"),
                            by=("optimizer", {"rnnprop": "train-average"}))
    validation_problems: int = option(10, "validation problems scored after every epoch",
                                      maximum=10 ** 5)
    seed: int = option(0, "seed of the run's random numbers")
    dtype: str = option("float32", "float type of phi and the problems",
                        choices=("float32", "float64"))
    on_nonfinite: str = option("skip", "what to do when a loss or meta-gradient is NaN or Inf",
                               choices=("skip", "stop"))
    init_from: str = option("", "start from this optimizer.npz instead of a random phi (with "
                            "--per-group, a single optimizer's file starts every group)",
                            metavar="PATH")

    def validate(self):
        """Check every field; a bad one raises UsageError naming it and what is allowed."""
        for f in fields(self):
            if f.type is int and f.name != "seed":
                check_positive_int(getattr(self, f.name), f.name, f.metadata.get("maximum"))
        if self.unroll > self.horizon:
            raise UsageError(f"unroll {self.unroll} is longer than the horizon {self.horizon}: "
                             "it must be at most the horizon")
        if self.horizon % self.unroll:
            raise UsageError(f"horizon {self.horizon} is not a multiple of unroll {self.unroll}: "
                             f"its last {self.horizon % self.unroll} steps would never be trained")
        for f in fields(self):
            if allowed_values(f):
                check_choice(getattr(self, f.name), f.name, allowed_values(f))
        check_number(self.meta_lr, "meta_lr", strict=True)
        check_range(self.meta_lr, "meta_lr", 0, 10, open_low=True)
        check_number(self.clip_norm, "clip_norm", note=" (0: off)")
        check_range(self.random_scaling, "random_scaling", 0, 20)   # exp(20) = 4.9e8
        check_range(self.convex_scaling, "convex_scaling", 0, 20)
        for name in ("problem_kwargs", "optimizer_kwargs"):
            settings = getattr(self, name)
            if not isinstance(settings, dict) or not all(isinstance(k, str) for k in settings):
                raise UsageError(f"{name} must be a dict of named settings, got {settings!r}")
            check_settings(settings)                     # by name: minil2o.validate.SETTINGS
        self.check_conflicts()
        if not isinstance(self.init_from, str):
            raise UsageError(f"init_from must be a path to an optimizer .npz (or ''), got "
                             f"{self.init_from!r}")
        for name in ("second_derivatives", "convex_combination", "per_group"):
            check_bool(getattr(self, name), name)
        check_seed(self.seed)
        return self


    def check_conflicts(self):
        """Problem settings that a run chooses itself must not be given twice, differently."""
        given = self.problem_kwargs.get("dtype", self.dtype)
        if given != self.dtype:
            raise UsageError(f"problem setting dtype={given!r} conflicts with dtype "
                             f"{self.dtype!r} (--dtype): set the dtype once, with --dtype")
        if "split" in self.problem_kwargs:
            raise UsageError("problem setting split is chosen by the run itself (train for "
                             "training, validation for scoring): remove it")


def state_field(name):
    """A read-only attribute of the Trainer: the field `name` of its TrainState."""
    return property(lambda trainer: getattr(trainer.state, name),
                    doc=f"trainer.state.{name}, read-only")


class Trainer:
    """Meta-trains one learned optimizer as `config` says; checkpoints into `out_dir` if given.

        trainer = Trainer(TrainConfig(problem="quadratic", ...), out_dir="runs/quad")
        result = trainer.run()           # the best phi is in trainer.best_phi

    What a run carries from one step to the next, and over a resume, is one object: trainer.state
    (minil2o.training.runs.TrainState), whose fields also read as the trainer's (trainer.phi).
    One process at a time writes out_dir (its lock, minil2o.files.runlock). resume=True continues
    the run there; otherwise a run already there is refused when overwrite is False (what `minil2o
    train` passes without --overwrite) and replaced when it is True or None (the default, for
    callers that own their folder).
    """
    phi, best_phi, best_score, adam_state, epoch, history, skipped = map(
        state_field, ("phi", "best_phi", "best_score", "adam_state", "epoch", "history", "skipped"))

    def __init__(self, config, out_dir=None, resume=False, log=print, overwrite=None):
        self.config = config.validate()
        check_out_dir(out_dir, resume, overwrite)
        self.out_dir, self.log, self.lock = out_dir, log, None
        self.lock_folder()
        try:
            self.build()                     # every setting checked before a file is touched
            if resume:
                self.state = restore_run(out_dir, self.state, self.opt, self.config, log)
            else:
                start_fresh(out_dir, overwrite, log)
        except BaseException:
            self.unlock_folder()
            raise

    def build(self):
        """The problem family, the learned optimizer, the meta-optimizer and a fresh state: a
        random phi (or config.init_from's), Adam's zero moments, the seeded random generator."""
        config = self.config
        self.family = build_family(config, "train")
        self.opt = build_learned(config, self.family)
        check_truncation_memory(config, self.family, self.opt)
        self.weights = meta_weights(config.unroll, config.weighting)
        self.meta_opt = Adam(lr=config.meta_lr)              # the meta-optimizer, on flatten(phi)
        self.workspace = Workspace()          # the unroll's reused arrays (minil2o.fast_lstm)
        rng = np.random.default_rng(config.seed)
        phi = self.opt.init_params(rng, config.dtype)
        if config.init_from:           # (the random phi is still drawn, so that the rest of the
            phi = initial_phi(config.init_from, self.opt, phi, config)   # run draws the same)
        adam_state = self.meta_opt.init_state(flatten(phi).shape[0], config.dtype)
        self.state = TrainState(phi, dict(phi), adam_state, rng)

    def lock_folder(self):
        """Take out_dir's lock (minil2o.files.runlock) unless held; released by run() when it
        ends, or when the trainer is garbage-collected."""
        if self.out_dir is not None and self.lock is None:
            self.lock = RunLock(self.out_dir, self.log).acquire()
            self._finalizer = weakref.finalize(self, self.lock.release)

    def unlock_folder(self):
        if self.lock is not None:
            self._finalizer()
            self.lock = None

    # -- one problem: horizon / unroll truncations, one meta-update each -----------------------
    def sample_problem(self):
        """meta_batch fresh problems as one (Family.sample_many: batched where the family can)."""
        return self.family.sample_many(self.state.rng, self.config.meta_batch)

    def train_problem(self, index):
        """Optimize one freshly sampled problem for the whole horizon T in truncations of K steps,
        after each one Adam step on phi. Returns the meta-losses of its truncations (fewer after a
        skipped fault)."""
        c, s = self.config, self.state
        problem = self.sample_problem()
        theta, opt_state = problem.init(s.rng), self.opt.init_state(problem.n, c.dtype)
        batches, start, losses = [problem.sample_batch(s.rng)], None, []
        for k in range(c.horizon // c.unroll):
            batches += [problem.sample_batch(s.rng) for _ in range(c.unroll)]
            tr = unroll(self.opt, s.phi, problem, theta, opt_state, batches, start,
                        workspace=self.workspace)                   # K steps of eq. (1)
            loss = to_float(meta_loss(tr, self.weights, problem.num_problems))     # eq. (3)
            d_phi = self.meta_gradient(problem, tr)                 # dL/d phi
            fault = self.meta_update(tr, loss, d_phi)       # checked, clipped, Adam's step
            if fault:
                self.on_fault(fault, index, k)
                break                                   # this problem's trajectory is lost
            theta, opt_state = tr.thetas[-1], tr.state
            start, batches = (tr.losses[-1], tr.grads[-1]), batches[-1:]
            losses.append(loss)
        return losses

    def meta_gradient(self, problem, tr):
        """dL/d phi of one truncation (minil2o.meta.meta_gradient)."""
        try:
            return meta_gradient(self.opt, self.state.phi, problem, tr, self.weights,
                                 self.config.second_derivatives)
        except NotImplementedError as e:
            raise UsageError(f"second_derivatives needs Hessian-vector products, which problem "
                             f"{self.config.problem!r} does not have ({e}): turn it off") from None

    def meta_update(self, tr, loss, d_phi):
        """Adam's step on phi with the meta-gradient d_phi clipped to clip_norm. When the meta-loss,
        the meta-gradient or the step would not be finite, phi stays and the fault is returned
        (minil2o.training.faults): the first non-finite quantity of truncation tr."""
        s, flat = self.state, flatten(d_phi)                                # (P,)
        if not (math.isfinite(loss) and all_finite(flat)):
            return find_fault(tr, loss, d_phi)
        step, adam_state = self.meta_opt.step(clip_by_norm(flat, self.config.clip_norm),
                                              s.adam_state)
        phi = flatten(s.phi) + step                                         # (P,)
        if not all_finite(phi, adam_state["v"]):
            return adam_fault(flat)
        s.phi, s.adam_state = unflatten(phi, s.phi), adam_state
        return None

    def on_fault(self, fault, index, k):
        """Report a fault (t, quantity) of truncation k of problem `index`; stop or count it."""
        c, s = self.config, self.state
        context = (f"epoch {s.epoch + 1}, problem {index + 1} of {c.problems_per_epoch}, "
                   f"truncation {k + 1}, family {c.problem!r}")
        message = describe(fault, k * c.unroll, c.unroll, context)
        if c.on_nonfinite == "stop":
            raise NumericalError(f"{message}; stopping: {kept_checkpoint(self.out_dir, s.epoch)}")
        s.skipped += 1
        s.skipped_epoch += 1
        self.log(f"skipped the rest of the problem: {message}")

    # -- epochs, model selection, checkpoints ---------------------------------------------------
    def run(self, progress=True):
        """Train until config.epochs epochs are done (continuing after a resume). Returns the
        history."""
        self.lock_folder()
        try:
            return self.run_epochs(progress)
        finally:
            self.unlock_folder()

    def run_epochs(self, progress):
        from tqdm.auto import tqdm
        c, s = self.config, self.state
        total = c.epochs * c.problems_per_epoch
        bar = tqdm(total=total, initial=s.epoch * c.problems_per_epoch, disable=not progress,
                   desc=f"meta-training {c.optimizer} on {c.problem}", unit="problem")
        while s.epoch < c.epochs:
            epoch_losses, self.epoch_started = [], time.perf_counter()
            for i in range(c.problems_per_epoch):
                losses = self.train_problem(i)
                for loss in losses:
                    s.ema = loss if s.ema is None else 0.95 * s.ema + 0.05 * loss
                epoch_losses += losses
                bar.update(1)
                bar.set_postfix(meta_loss=f"{np.mean(losses):.4g}" if losses else "skipped")
            if not epoch_losses:
                bar.close()
                self.nothing_learned()
            s.epoch += 1
            self.end_epoch(float(np.mean(epoch_losses)))
        bar.close()
        return s.history

    def nothing_learned(self):
        """An epoch whose every problem was skipped at its first truncation has taught phi
        nothing: the settings make every problem fail (e.g. an init_std that overflows the loss).
        Stop with a NumericalError instead of saving an untrained optimizer as if trained."""
        epoch = self.state.epoch
        raise NumericalError(f"every problem of epoch {epoch + 1} was skipped before its "
                             "first meta-update, so nothing was learned (the log names each "
                             "fault; --on-nonfinite stop stops at the first): check the settings; "
                             f"{kept_checkpoint(self.out_dir, epoch)}")

    def score(self):
        """Lower is better: mean loss over the horizon on validation problems (DM), or the moving
        average of the training meta-loss (RNNprop)."""
        c = self.config
        if c.selection == "train-average":
            return self.state.ema if self.state.ema is not None else math.inf
        if not hasattr(self, "validation_family"):
            self.validation_family = build_family(c, "validation")
        frozen = build_learned(c, self.family)          # the optimizer as it stands, frozen
        frozen.phi = self.state.phi
        curves = learning_curves(self.validation_family, frozen, c.validation_problems, c.horizon,
                                 seed=c.seed + 1_000_003)
        return float(curves.mean()) if np.all(np.isfinite(curves)) else math.inf

    def end_epoch(self, train_loss):
        c, s, score = self.config, self.state, self.score()
        if score < s.best_score:
            s.best_score, s.best_phi = score, dict(s.phi)
        s.history.append({"epoch": s.epoch, "train_meta_loss": train_loss, "score": score,
                          "best_score": s.best_score, "skipped": s.skipped,
                          "skipped_in_epoch": s.skipped_epoch})
        s.skipped_epoch = 0
        per_hour = c.problems_per_epoch * 3600 / (time.perf_counter() - self.epoch_started)
        self.log(f"epoch {s.epoch}/{c.epochs}: meta-loss {train_loss:.5g}, {c.selection} score "
                 f"{score:.5g} (best {s.best_score:.5g}), {per_hour:.4g} problems/hour")
        if self.out_dir is not None:
            self.save()

    def save(self):
        """Write out_dir/train_state.npz and out_dir/optimizer.npz (minil2o.training.runs)."""
        save_run(self.out_dir, self.state, self.opt, self.config)
