"""The files of a training run, written with minil2o.files.checkpoint (npz + JSON, atomically):

    out_dir/optimizer.npz      the best phi and the optimizer's settings: save_optimizer,
                               load_optimizer (what `minil2o evaluate` and the experiments read)
    out_dir/train_state.npz    everything needed to continue a run: save_run, restore_run

A run killed at any moment and resumed from train_state.npz ends with exactly the parameters an
uninterrupted run would have: the file holds phi, the best phi, Adam's moments and step count,
the epoch, the score's moving average, the history and the random generator's state.

The two files move together (minil2o.files.atomic): both are written as temporary files (.NAME.tmp),
then optimizer.npz is renamed into place and train_state.npz last, the commit point. A kill
between the two renames leaves an optimizer.npz ahead of or behind train_state.npz; resuming
finds it out of step and rewrites it from the training state, which holds the best phi. Resuming
removes exactly those two temporary names, under the folder's lock (minil2o.files.runlock), so no file
of another run or another folder is ever touched.
"""
import dataclasses
import json
import os

import numpy as np

from ..files import checkpoint
from ..files.atomic import check_output, publish_or_remove, remove_quietly, temp_name, uninterrupted
from ..backend import asarray, get_backend
from ..errors import DataError, UsageError
from .factories import LEARNED, build_optimizer
from .flat import flatten
from ..optimizers.grouped import PerGroupOptimizer
from ..validate import check_choice, check_number, is_integer, is_number

STATE, OPTIMIZER = "train_state.npz", "optimizer.npz"
RUN_FILES = (OPTIMIZER, STATE)              # in the order they are renamed into place


# -- optimizer.npz: a learned optimizer's settings and parameters -------------------------------
def save_optimizer(path, opt, phi, meta):
    """Save a learned optimizer's parameters and configuration (npz + JSON, atomically)."""
    checkpoint.save(path, *optimizer_file(opt, phi, meta))


def optimizer_file(opt, phi, meta):
    """(arrays, meta) of an optimizer.npz holding `phi` of optimizer `opt`."""
    return {f"phi/{k}": v for k, v in phi.items()}, {"optimizer": opt.config(), **meta}


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
def run_files(trainer, config=None):
    """{file name: (arrays, meta)} of the trainer's checkpoint: optimizer.npz and train_state.npz
    (config: the configuration to record, as a dict; by default the trainer's)."""
    t, config = trainer, config or dataclasses.asdict(trainer.config)
    arrays = {f"phi/{k}": v for k, v in t.phi.items()}
    arrays.update({f"best/{k}": v for k, v in t.best_phi.items()})
    arrays.update({"adam/m": t.adam_state["m"], "adam/v": t.adam_state["v"]})
    meta = {"config": config, "optimizer": t.opt.config(), "epoch": t.epoch,
            "adam_t": t.adam_state["t"], "best_score": t.best_score, "ema": t.ema,
            "history": t.history, "skipped": t.skipped, "rng_state": t.rng.bit_generator.state,
            "backend": get_backend()}
    best = optimizer_file(t.opt, t.best_phi, {"config": config, "epoch": t.epoch,
                                              "score": t.best_score})
    return {OPTIMIZER: best, STATE: (arrays, meta)}


def save_run(trainer):
    """Write optimizer.npz (the best phi) and train_state.npz (everything to resume) into the
    trainer's out_dir, together: both written first, then renamed, train_state.npz last."""
    files, d = run_files(trainer), trainer.out_dir
    pending = []
    with uninterrupted():                        # Ctrl-C takes effect once both are in place
        try:
            for name in RUN_FILES:
                path = os.path.join(d, name)
                pending.append((checkpoint.write(path, *files[name], tmp=temp_name(path)), path))
        except BaseException:
            for tmp, _ in pending:
                remove_quietly(tmp)
            raise
        publish_or_remove(pending)


def remove_temporaries(out_dir):
    """Remove the temporary files a run writing into out_dir leaves when killed (exact names)."""
    for name in RUN_FILES:
        remove_quietly(temp_name(os.path.join(out_dir, name)))


def holds_run(out_dir):
    """The run files out_dir already holds (a run to --resume or to --overwrite)."""
    if out_dir is None:
        return []
    return [name for name in RUN_FILES if os.path.exists(os.path.join(out_dir, name))]


def check_out_dir(out_dir, resume, overwrite):
    """Where a run is to be written, checked before any work: a folder (or nothing yet)."""
    if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"output directory {os.fspath(out_dir)!r} is a file: give a folder "
                         "(it is created if missing)")
    if out_dir is not None:
        check_output(out_dir, folder=True)        # creates it; refused when it cannot be written
    if resume and out_dir is None:
        raise UsageError("resume=True needs out_dir, the folder holding train_state.npz")
    if resume and overwrite:
        raise UsageError("--resume continues the run in the folder and --overwrite replaces it: "
                         "give one of them")


def start_fresh(out_dir, overwrite, log):
    """Prepare out_dir (locked) for a new run: a run already there is refused unless overwrite
    is True or None, and then its files are removed."""
    found = holds_run(out_dir)
    if found and overwrite is False:
        raise UsageError(f"the folder {os.fspath(out_dir)} already holds a run "
                         f"({', '.join(found)}): continue it with --resume, replace it with "
                         "--overwrite, or choose another --out")
    for name in found:
        log(f"replacing {os.path.join(out_dir, name)} (a new run)")
        remove_quietly(os.path.join(out_dir, name))
    if out_dir is not None:
        remove_temporaries(out_dir)


def restore_run(trainer):
    """Continue the trainer from its out_dir/train_state.npz, which must come from the same config
    (except `epochs`: a finished run can be continued for more epochs). No file: nothing changes.
    The folder must be locked by the caller (minil2o.files.runlock)."""
    t = trainer
    path = os.path.join(t.out_dir, STATE)
    remove_temporaries(t.out_dir)         # a write cut short by a kill; never renamed into place
    if not os.path.exists(path):
        t.log(f"no checkpoint at {path}: starting from scratch")
        return
    arrays, meta = checkpoint.load(path)
    check_same_config(meta.get("config"), t.config, path)
    try:
        check_state_meta(meta)
        restore_arrays(t, arrays, meta["adam_t"])
        t.epoch, t.ema = int(meta["epoch"]), meta["ema"]
        t.best_score = float(meta["best_score"])
        t.history, t.skipped = list(meta["history"]), int(meta["skipped"])
        t.rng.bit_generator.state = meta["rng_state"]
    except KeyError as e:
        raise DataError(f"checkpoint {path} lacks {e}: not a training checkpoint") from None
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"checkpoint {path} holds a malformed training state ({e})") from None
    sync_optimizer_file(t, meta["config"])
    t.log(f"resumed from {path} after epoch {t.epoch}")


def check_state_meta(meta):
    """The numbers of a training state's metadata: types, finiteness and ranges (a ValueError
    naming the first bad one). An edited file must not skip Adam's steps or train forever."""
    epoch = check_int_at_least(meta["epoch"], "epoch", 0)
    check_int_at_least(meta["adam_t"], "adam_t (Adam's step count)", 0)
    check_int_at_least(meta["skipped"], "skipped", 0)
    if not (is_number(meta["best_score"]) or meta["best_score"] == float("inf")):
        raise ValueError(f"best_score must be a number or Infinity, got {meta['best_score']!r}")
    if meta["ema"] is not None:
        check_number(meta["ema"], "ema", minimum=-float("inf"))
    history = meta["history"]
    if not isinstance(history, list) or len(history) != epoch or \
            not all(isinstance(h, dict) and h.get("epoch") == i + 1 for i, h in enumerate(history)):
        raise ValueError(f"history must list epochs 1 to {epoch}, one dict each")
    if not isinstance(meta["rng_state"], dict):
        raise ValueError(f"rng_state must be a dict, got {type(meta['rng_state']).__name__}")


def check_int_at_least(value, name, low, high=2 ** 53):
    """value as an int in [low, high], or a ValueError naming it."""
    if not is_integer(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def sync_optimizer_file(trainer, config):
    """Rewrite out_dir/optimizer.npz from the restored training state (whose configuration is
    `config`) unless it is already the one of this epoch (a kill between the two renames of a
    save leaves it out of step)."""
    path = os.path.join(trainer.out_dir, OPTIMIZER)
    arrays, meta = run_files(trainer, config)[OPTIMIZER]
    expected = json.loads(json.dumps({"format": checkpoint.FORMAT,
                                      "format_version": checkpoint.FORMAT_VERSION, **meta}))
    try:
        found, found_meta = checkpoint.load(path)
        same = found_meta == expected and sorted(found) == sorted(arrays) and all(
            np.array_equal(found[k], np.asarray(checkpoint.to_numpy(v))) for k, v in arrays.items())
    except DataError:
        same = False
    if not same:
        checkpoint.save(path, arrays, meta, tmp=temp_name(path))
        trainer.log(f"{path} was not the optimizer of {STATE}'s epoch {trainer.epoch}: rewritten")


def saved_defaults(saved, config_type):
    """What a configuration saved before a setting existed meant by its absence: the setting's
    default, except convex_scaling, which was the optimizee's random_scaling (or 1)."""
    defaults = json.loads(json.dumps(dataclasses.asdict(config_type())))
    if "convex_scaling" not in saved:
        defaults["convex_scaling"] = saved.get("random_scaling") or 1.0
    return defaults


def check_same_config(saved, config, path):
    """A UsageError unless the saved configuration (a dict from the checkpoint's JSON) is config,
    up to `epochs` and to settings added since it was written (those take their defaults)."""
    ours = json.loads(json.dumps(dataclasses.asdict(config)))
    if isinstance(saved, dict):
        saved = {**saved_defaults(saved, type(config)), **saved,
                 "epochs": ours["epochs"]}                         # more epochs may follow
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
        if tuple(arrays[name].shape) != shape or arrays[name].dtype.kind != "f":
            raise ValueError(f"array {name} has shape {tuple(arrays[name].shape)} and dtype "
                             f"{arrays[name].dtype}, expected {shape} floats")
    if np.any(arrays["adam/v"] < 0):
        raise ValueError("array adam/v (Adam's second moment) holds negative values")
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
