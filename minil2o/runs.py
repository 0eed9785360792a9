"""The files of a training run, written with minil2o.checkpoint (npz + JSON, atomically):

    out_dir/optimizer.npz      the best phi and the optimizer's settings: save_optimizer,
                               load_optimizer (what `minil2o evaluate` and the experiments read)
    out_dir/train_state.npz    everything needed to continue a run: save_run, restore_run

A run killed at any moment and resumed from train_state.npz ends with exactly the parameters an
uninterrupted run would have: the file holds phi, the best phi, Adam's moments and step count,
the epoch, the score's moving average, the history and the random generator's state.
"""
import dataclasses
import glob
import json
import os

from . import checkpoint
from .backend import asarray, get_backend
from .errors import DataError, UsageError
from .factories import LEARNED, build_optimizer
from .flat import flatten
from .optimizers.grouped import PerGroupOptimizer
from .validate import check_choice

STATE, OPTIMIZER = "train_state.npz", "optimizer.npz"


# -- optimizer.npz: a learned optimizer's settings and parameters -------------------------------
def save_optimizer(path, opt, phi, meta):
    """Save a learned optimizer's parameters and configuration (npz + JSON, atomically)."""
    checkpoint.save(path, {f"phi/{k}": v for k, v in phi.items()},
                    {"optimizer": opt.config(), **meta})


def load_optimizer(path, dtype="float32"):
    """A learned optimizer with its parameters from a file written by save_optimizer.
    A file of another kind of optimizer, other settings or other shapes raises DataError."""
    check_choice(dtype, "dtype", ("float32", "float64"))
    arrays, meta = checkpoint.load(path)
    if "adam/m" in arrays:
        raise DataError(f"{path} is a training state ({STATE}): pass the {OPTIMIZER} "
                        "written next to it")
    opt = optimizer_from_config(meta.get("optimizer"), path)
    expected = opt.param_shapes()
    found = {k[4:]: tuple(a.shape) for k, a in arrays.items() if k.startswith("phi/")}
    if found != expected or len(found) != len(arrays):
        raise DataError(f"{path}: arrays {sorted(arrays)} with shapes {found} do not match a "
                        f"{opt.kind} optimizer with these settings, which has phi/ arrays "
                        f"{expected}")
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


def initial_phi(path, opt, phi, config):
    """phi read from a saved optimizer file to start a run from (config.init_from). The file's
    parameters must have the shapes of `phi`, the trained optimizer opt's own; with per_group, a
    single optimizer's phi starts every group."""
    loaded = load_optimizer(path, config.dtype)
    found_phi = loaded.phi
    if isinstance(opt, PerGroupOptimizer) and not isinstance(loaded, PerGroupOptimizer):
        found_phi = {f"{g}/{k}": v for g in opt.optimizers for k, v in loaded.phi.items()}
    want = {k: tuple(v.shape) for k, v in phi.items()}
    found = {k: tuple(v.shape) for k, v in found_phi.items()}
    if found != want:
        raise UsageError(f"init_from {path!r} holds parameters {found}, but this run's "
                         f"{config.optimizer} optimizer has {want}: use a file trained "
                         "with the same optimizer settings")
    return found_phi


# -- train_state.npz: a run to continue --------------------------------------------------------
def save_run(trainer):
    """Write train_state.npz (everything to resume) and optimizer.npz (the best phi) into the
    trainer's out_dir."""
    t, config = trainer, dataclasses.asdict(trainer.config)
    arrays = {f"phi/{k}": v for k, v in t.phi.items()}
    arrays.update({f"best/{k}": v for k, v in t.best_phi.items()})
    arrays.update({"adam/m": t.adam_state["m"], "adam/v": t.adam_state["v"]})
    meta = {"config": config, "optimizer": t.opt.config(), "epoch": t.epoch,
            "adam_t": t.adam_state["t"], "best_score": t.best_score, "ema": t.ema,
            "history": t.history, "skipped": t.skipped, "rng_state": t.rng.bit_generator.state,
            "backend": get_backend()}
    checkpoint.save(os.path.join(t.out_dir, STATE), arrays, meta)
    save_optimizer(os.path.join(t.out_dir, OPTIMIZER), t.opt, t.best_phi,
                   {"config": config, "epoch": t.epoch, "score": t.best_score})


def restore_run(trainer):
    """Continue the trainer from its out_dir/train_state.npz, which must come from the same config
    (except `epochs`: a finished run can be continued for more epochs). No file: nothing changes."""
    t = trainer
    path = os.path.join(t.out_dir, STATE)
    for stale in glob.glob(os.path.join(t.out_dir, ".tmp-*.npz")):
        os.remove(stale)                    # a write cut short by a kill; never renamed into place
    if not os.path.exists(path):
        t.log(f"no checkpoint at {path}: starting from scratch")
        return
    arrays, meta = checkpoint.load(path)
    check_same_config(meta.get("config"), t.config, path)
    try:
        restore_arrays(t, arrays, meta["adam_t"])
        t.epoch, t.ema = int(meta["epoch"]), meta["ema"]
        t.best_score = meta["best_score"]
        t.history, t.skipped = list(meta["history"]), int(meta["skipped"])
        t.rng.bit_generator.state = meta["rng_state"]
    except KeyError as e:
        raise DataError(f"checkpoint {path} lacks {e}: not a training checkpoint") from None
    except (TypeError, ValueError) as e:
        raise DataError(f"checkpoint {path} holds a malformed training state ({e})") from None
    t.log(f"resumed from {path} after epoch {t.epoch}")


def check_same_config(saved, config, path):
    """A UsageError unless the saved configuration (a dict from the checkpoint's JSON) is config,
    up to `epochs` and to settings added since it was written (those take their defaults)."""
    ours = json.loads(json.dumps(dataclasses.asdict(config)))
    if isinstance(saved, dict):
        defaults = json.loads(json.dumps(dataclasses.asdict(type(config)())))
        saved = {**defaults, **saved, "epochs": ours["epochs"]}   # more epochs may follow
    if saved != ours:
        diff = sorted(k for k in ours if not isinstance(saved, dict) or saved.get(k) != ours[k])
        shown = ", ".join(f"{k}={saved.get(k)!r} there, {ours[k]!r} here" for k in diff[:3]) \
            if isinstance(saved, dict) else "no configuration"
        raise UsageError(f"checkpoint {path} was written by a different configuration "
                         f"({shown}): use another --out directory or the same settings")


def restore_arrays(trainer, arrays, adam_t):
    """phi, best phi and Adam's state from checkpoint arrays, each checked for its shape."""
    t = trainer
    n = flatten(t.phi).shape[0]
    expected = {f"{group}/{k}": tuple(v.shape)
                for group in ("phi", "best") for k, v in t.phi.items()}
    expected.update({"adam/m": (n,), "adam/v": (n,)})
    for name, shape in expected.items():
        if tuple(arrays[name].shape) != shape:
            raise ValueError(f"array {name} has shape {tuple(arrays[name].shape)}, "
                             f"expected {shape}")
    load = lambda name: asarray(arrays[name], t.config.dtype)
    t.phi = {k: load(f"phi/{k}") for k in t.phi}
    t.best_phi = {k: load(f"best/{k}") for k in t.phi}
    t.adam_state = {"t": int(adam_t), "m": load("adam/m"), "v": load("adam/v")}


def kept_checkpoint(out_dir, epoch):
    """What a run stopped now leaves behind: its last training state, or nothing."""
    path = os.path.join(out_dir or ".", STATE)
    if out_dir is not None and os.path.exists(path):
        return f"the checkpoint {path} of epoch {epoch} is kept"
    return "nothing was saved"
