"""A training run's state and its files, written with minil2o.files.checkpoint (npz + JSON,
atomically):

    TrainState                 everything needed to continue a run, one object: phi, the best phi
                               and its score, Adam's moments and step count, the epoch, the
                               history, the meta-loss's moving average, the skip count and the
                               random generator's state (to_arrays, from_arrays)
    out_dir/optimizer.npz      the best phi and the optimizer's settings: save_optimizer,
                               load_optimizer (what `minil2o evaluate` and the experiments read)
    out_dir/train_state.npz    the TrainState, saved and restored whole: save_run, restore_run

A run killed at any moment and resumed from train_state.npz ends with exactly the parameters an
uninterrupted run would have.

The two files move together (minil2o.files.atomic): both are written as temporary files
(.NAME.tmp), then optimizer.npz is renamed into place and train_state.npz last, the commit point.
A kill between the two renames leaves an optimizer.npz ahead of or behind train_state.npz;
resuming finds it out of step and rewrites it from the training state, which holds the best phi.
Resuming removes exactly those two temporary names, under the folder's lock
(minil2o.files.runlock), so no file of another run or another folder is ever touched.
"""
import json
import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from ..files import checkpoint, loader
from ..files.atomic import (check_output, publish_or_remove, remove_quietly, special_file,
                            temp_name, uninterrupted)
from ..backend import asarray, get_backend
from ..errors import DataError, UsageError
from .factories import LEARNED, build_optimizer
from ..optimizers.grouped import PerGroupOptimizer
from ..validate import check_choice, check_number, is_integer, is_number

STATE, OPTIMIZER = "train_state.npz", "optimizer.npz"
RUN_FILES = (OPTIMIZER, STATE)              # in the order they are renamed into place
HOW = "keep it and choose another --out, or replace the run with --overwrite"


# -- optimizer.npz: a learned optimizer's settings and parameters -------------------------------
def save_optimizer(path, opt, phi, meta):
    """Save a learned optimizer's parameters and configuration (npz + JSON, atomically)."""
    checkpoint.save(path, *optimizer_file(opt, phi, meta))


def optimizer_file(opt, phi, meta):
    """(arrays, meta) of an optimizer.npz holding `phi` of optimizer `opt`."""
    return {f"phi/{k}": v for k, v in phi.items()}, {"optimizer": opt.config(), **meta}


def load_optimizer(path, dtype="float32"):
    """A learned optimizer with its parameters from a file written by save_optimizer, read through
    minil2o.files.loader: its settings, then its arrays' names, dtypes (real float32/float64),
    shapes and values (finite in `dtype`) are checked before any is used. A file of another kind
    of optimizer, other settings or other shapes raises a one-line DataError naming the field."""
    check_choice(dtype, "dtype", ("float32", "float64"))
    arrays, meta = checkpoint.load(path)
    if "adam/m" in arrays:
        raise DataError(f"{path} is a training state ({STATE}): pass the {OPTIMIZER} "
                        "written next to it")
    opt = optimizer_from_config(meta.get("optimizer"), path)
    loader.check_parameter_count(least_parameters(opt), loader.stored_numbers(arrays), opt.kind,
                                 path)
    expected = {f"phi/{k}": shape for k, shape in opt.param_shapes().items()}
    try:
        phi = loader.check_arrays(arrays, expected, dtype)
    except ValueError as e:
        why = (f": the arrays do not match a {opt.kind} optimizer with these settings"
               if isinstance(e, loader.Mismatch) else "")
        raise DataError(f"optimizer file {str(path)!r}: {e}{why}") from None
    opt.phi = {k[len("phi/"):]: asarray(a, dtype) for k, a in phi.items()}
    opt.meta = meta
    return opt


def least_parameters(opt):
    """A lower bound on the parameters of optimizer opt, known before building them: each layer's
    recurrent weights Wh (H, 4H) alone (minil2o.lstm.init_lstm_params)."""
    if isinstance(opt, PerGroupOptimizer):
        return sum(least_parameters(sub) for sub in opt.optimizers.values())
    return opt.num_layers * 4 * opt.hidden ** 2


def optimizer_from_config(cfg, path, nested=False):
    """A learned optimizer (without parameters) from the settings saved in a checkpoint (field
    optimizer), checked: a learned kind, or per-group ones (minil2o.files.loader.group_config)."""
    kind = cfg.get("kind") if isinstance(cfg, dict) else None
    kind = kind if isinstance(kind, str) or kind is None else loader.short(kind)
    if kind == PerGroupOptimizer.kind and not nested:
        subs, sizes = loader.group_config(cfg, path)
        return PerGroupOptimizer({g: optimizer_from_config(c, path, nested=True)
                                  for g, c in subs.items()}, sizes)
    if kind not in LEARNED:
        where = "a group of a per-group" if nested else "a learned-optimizer"
        raise DataError(f"{path}: not {where} checkpoint (kind {loader.short(kind)}; "
                        f"expected one of {', '.join(LEARNED)}"
                        f"{'' if nested else ' or ' + PerGroupOptimizer.kind})")
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
@dataclass
class TrainState:
    """Everything of a run that must outlive its process, saved whole into train_state.npz
    (to_arrays) and restored whole from it (from_arrays, which checks every value)."""
    phi: dict                    # the learned optimizer's parameters {name: array}
    best_phi: dict               # phi of the best-scoring epoch so far
    adam_state: dict             # the meta-optimizer's state on flatten(phi): t, m (P,), v (P,)
    rng: np.random.Generator     # the run's random numbers: problems, batches, initial states
    best_score: float = math.inf
    epoch: int = 0               # epochs done
    history: list = field(default_factory=list)      # one dict per epoch done
    ema: float = None            # moving average of the training meta-loss (RNNprop's score)
    skipped: int = 0             # problems cut short by a numerical fault, in all
    skipped_epoch: int = 0       # of them in the epoch under way (0 at every save: not saved)

    def to_arrays(self):
        """(arrays, meta) of train_state.npz, less the run's configuration."""
        arrays = {f"phi/{k}": v for k, v in self.phi.items()}
        arrays.update({f"best/{k}": v for k, v in self.best_phi.items()})
        arrays.update({"adam/m": self.adam_state["m"], "adam/v": self.adam_state["v"]})
        meta = {"epoch": self.epoch, "adam_t": self.adam_state["t"],
                "best_score": self.best_score, "ema": self.ema, "history": self.history,
                "skipped": self.skipped, "rng_state": self.rng.bit_generator.state}
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays, meta, like, dtype):
        """The state that to_arrays gave as (arrays, meta), every value checked (a KeyError or
        ValueError names the first bad one); `like` is a fresh state of the same run (phi's names
        and shapes), dtype phi's float type."""
        check_state_meta(meta)
        arrays = check_state_arrays(arrays, like.phi, dtype)
        load = lambda name: asarray(arrays[name], dtype)
        rng = np.random.default_rng()                    # its state: the saved one
        rng.bit_generator.state = meta["rng_state"]
        return cls(phi={k: load(f"phi/{k}") for k in like.phi},
                   best_phi={k: load(f"best/{k}") for k in like.phi},
                   adam_state={"t": int(meta["adam_t"]), "m": load("adam/m"), "v": load("adam/v")},
                   rng=rng, best_score=float(meta["best_score"]), epoch=int(meta["epoch"]),
                   history=list(meta["history"]), ema=meta["ema"], skipped=int(meta["skipped"]))


def run_files(state, opt, config):
    """{file name: (arrays, meta)} of a run's checkpoint: optimizer.npz (the best phi of
    optimizer opt) and train_state.npz (the state); config: the run's configuration, a dict."""
    arrays, numbers = state.to_arrays()
    meta = {"config": config, "optimizer": opt.config(), **numbers, "backend": get_backend()}
    best = optimizer_file(opt, state.best_phi, {"config": config, "epoch": state.epoch,
                                                "score": state.best_score})
    return {OPTIMIZER: best, STATE: (arrays, meta)}


def save_run(out_dir, state, opt, config):
    """Write optimizer.npz (the best phi of optimizer opt) and train_state.npz (the TrainState)
    of the run configured by `config` into out_dir, together: both written first, then renamed,
    train_state.npz last."""
    files, pending = run_files(state, opt, asdict(config)), []
    with uninterrupted():                        # Ctrl-C takes effect once both are in place
        try:
            for name in RUN_FILES:
                path = os.path.join(out_dir, name)
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
    """The run files out_dir already holds, links included (a run to --resume or --overwrite)."""
    if out_dir is None:
        return []
    return [name for name in RUN_FILES if os.path.lexists(os.path.join(out_dir, name))]


def check_out_dir(out_dir, resume, overwrite):
    """Where a run is to be written, checked before any work: a folder (or nothing yet) whose
    names a run writes are regular files or absent (check_run_names)."""
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
    if out_dir is not None:
        check_run_names(out_dir, replace=not resume and overwrite is not False)


def check_run_names(out_dir, replace):
    """A run writes only regular files, never through a symbolic link: a link (even dangling),
    folder, FIFO, socket or device at optimizer.npz, train_state.npz or their temporary names is
    refused in one line naming it, unless `replace` (--overwrite, or the library's default):
    start_fresh then removes the entry itself, never a link's target; a folder is always refused."""
    for name in RUN_FILES:
        for path in (os.path.join(out_dir, name), temp_name(os.path.join(out_dir, name))):
            kind = special_file(path)
            if kind and (not replace or kind == "a folder"):
                how = "move it away" if kind == "a folder" else "replace it with --overwrite"
                raise UsageError(f"{path} is {kind}: a run writes only regular files in its "
                                 f"folder, never through a link; {how}, or choose another --out")


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


def restore_run(out_dir, fresh, opt, config, log):
    """The TrainState of the run in out_dir (its train_state.npz), which must come from the same
    config (except `epochs`: a finished run can be continued for more epochs); no file: see
    nothing_to_resume. A train_state.npz that cannot be read is refused (DataError), never
    started over. opt is the run's optimizer (for its optimizer.npz). The folder must be locked
    by the caller (minil2o.files.runlock)."""
    path = os.path.join(out_dir, STATE)
    remove_temporaries(out_dir)           # a write cut short by a kill; never renamed into place
    if not os.path.lexists(path):
        return nothing_to_resume(out_dir, fresh, config, log)
    try:
        arrays, meta = checkpoint.load(path)
        check_same_config(meta.get("config"), config, path)
        state = TrainState.from_arrays(arrays, meta, fresh, config.dtype)
    except KeyError as e:
        raise DataError(f"checkpoint {path} lacks {e}: not a training checkpoint; {HOW}") from None
    except (TypeError, ValueError, OverflowError, DataError) as e:
        what = e if isinstance(e, DataError) else f"checkpoint {path} holds a malformed " \
                                                  f"training state ({e})"
        raise DataError(f"{what}; --resume cannot continue it: {HOW}") from None
    sync_optimizer_file(out_dir, state, opt, meta["config"], log)
    log(f"resumed from {path} after epoch {state.epoch}")
    return state


def nothing_to_resume(out_dir, fresh, config, log):
    """What --resume starts from in out_dir without a train_state.npz: `fresh` when it holds no
    optimizer.npz either, or only epoch 1 of this very configuration (a kill between the two
    renames of a run's first save, which starting again rewrites bitwise). Any other optimizer.npz
    is work that cannot be resumed: refused (UsageError) saying how to go on."""
    path = os.path.join(out_dir, OPTIMIZER)
    if not os.path.lexists(path):
        log(f"nothing to resume in {out_dir} (no {STATE}): starting a new run there")
        return fresh
    try:
        meta = checkpoint.load(path)[1]
        check_same_config(meta.get("config"), config, path)
        first = type(meta.get("epoch")) is int and meta["epoch"] == 1
    except (DataError, UsageError, OSError):
        first = False
    if not first:
        raise UsageError(f"--resume: {out_dir} holds {OPTIMIZER} but no {STATE} to continue it "
                         f"from: {HOW}")
    log(f"{path} is epoch 1 of this run, whose {STATE} was never written: starting it again")
    return fresh


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


def sync_optimizer_file(out_dir, state, opt, config, log):
    """Rewrite out_dir/optimizer.npz from the restored training state (whose configuration is
    `config`, a dict) unless it is already the one of this epoch (a kill between the two renames
    of a save leaves it out of step)."""
    path = os.path.join(out_dir, OPTIMIZER)
    arrays, meta = run_files(state, opt, config)[OPTIMIZER]
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
        log(f"{path} was not the optimizer of {STATE}'s epoch {state.epoch}: rewritten")


def saved_defaults(saved, config_type):
    """What a configuration saved before a setting existed meant by its absence: the setting's
    default, except convex_scaling, which was the optimizee's random_scaling (or 1)."""
    defaults = json.loads(json.dumps(asdict(config_type())))
    if "convex_scaling" not in saved:
        defaults["convex_scaling"] = saved.get("random_scaling") or 1.0
    return defaults


def check_same_config(saved, config, path):
    """A UsageError unless the saved configuration (a dict from the checkpoint's JSON) is config,
    up to `epochs` and to settings added since it was written (those take their defaults)."""
    ours = json.loads(json.dumps(asdict(config)))
    if isinstance(saved, dict):
        saved = {**saved_defaults(saved, type(config)), **saved,
                 "epochs": ours["epochs"]}                         # more epochs may follow
    if saved != ours:
        diff = sorted(k for k in ours if not isinstance(saved, dict) or saved.get(k) != ours[k])
        shown = ", ".join(f"{k}={saved.get(k)!r} there, {ours[k]!r} here" for k in diff[:3]) \
            if isinstance(saved, dict) else "no configuration"
        raise UsageError(f"checkpoint {path} was written by a different configuration "
                         f"({shown}): use another --out directory or the same settings")


def check_state_arrays(arrays, phi, dtype):
    """The arrays of a training state cast to dtype: exactly phi/, best/ (shaped like phi) and
    adam/m, adam/v (P,), real float32/float64, finite in dtype (minil2o.files.loader), Adam's
    second moment not negative; a ValueError names the first bad one."""
    n = sum(math.prod(v.shape) for v in phi.values())                   # P
    expected = {f"{group}/{k}": tuple(v.shape) for group in ("phi", "best") for k, v in phi.items()}
    expected.update({"adam/m": (n,), "adam/v": (n,)})
    arrays = loader.check_arrays(arrays, expected, dtype)
    if np.any(arrays["adam/v"] < 0):
        raise ValueError("array adam/v (Adam's second moment) holds negative values")
    return arrays


def kept_checkpoint(out_dir, epoch):
    """What a run stopped now leaves behind: its last training state, or nothing."""
    path = os.path.join(out_dir or ".", STATE)
    if out_dir is not None and os.path.exists(path):
        return f"the checkpoint {path} of epoch {epoch} is kept"
    return "nothing was saved"
