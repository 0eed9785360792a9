"""One loader for what minil2o reads back: optimizer files, per-group optimizer files and training
states (minil2o.training.runs), read by minil2o.files.checkpoint (allow_pickle=False, bounded
reads, the format and its format_version checked). Before any array is used, this checks it:

    arrays = check_arrays(arrays, expected, dtype)        exactly the expected names, each a real
                                                          float32/float64 array of its shape,
                                                          finite once cast to the run's dtype
    groups, sizes = group_config(cfg, path)               a per-group optimizer's saved settings
    check_parameter_count(least, stored, kind, path)      settings implying more parameters
                                                          than the file holds, refused first
    check_state(found, fresh)                             a state handed back to an optimizer
                                                          (minil2o.use.dropin, minil2o.use.torch)

Each refusal is one line naming the file and the field, and what is allowed: a DataError (a
UsageError for a state). check_arrays raises a ValueError naming the array, and its caller adds
the file: load_optimizer and TrainState.from_arrays (minil2o.training.runs).
"""
import math

import numpy as np

from ..errors import DataError, UsageError
from ..validate import count_nonfinite, is_integer

REAL_FLOATS = ("float32", "float64")
MAX_GROUPS = 64                    # parameter groups of one per-group optimizer
MAX_GROUP_SIZE = 2 ** 40           # coordinates of one group per problem


class Mismatch(ValueError):
    """Arrays of other names or shapes than expected: a file of another optimizer or settings."""


def check_array(name, array, shape, dtype):
    """`array` (host numpy) as a numpy array of `dtype`: a ValueError naming array `name` unless
    it is a real float32 or float64 array of `shape` whose values stay finite in `dtype` (a
    float64 of 1e300 read into a float32 run would be Inf)."""
    kind, name = array.dtype, label(name)
    if kind.kind != "f" or kind.itemsize not in (4, 8) or kind.fields is not None:
        raise ValueError(f"array {name} has dtype {kind}: expected real float32 or float64")
    if tuple(array.shape) != tuple(shape):
        raise Mismatch(f"array {name} has shape {tuple(array.shape)}, expected "
                         f"{tuple(shape)}")
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(dtype, copy=False)
    bad = int(np.size(cast) - np.count_nonzero(np.isfinite(cast)))
    if bad:
        raise ValueError(f"array {name} holds {bad} value(s) that are NaN or Inf as {dtype} "
                         f"(finite {dtype} values are allowed, at most {np.finfo(dtype).max:.3g})")
    return cast


def check_arrays(arrays, expected, dtype):
    """{name: array cast to dtype} for exactly the names of `expected` ({name: shape}), each
    checked by check_array; a ValueError names a missing, an unexpected or the first bad array
    (a Mismatch, for names and shapes)."""
    missing = [name for name in expected if name not in arrays]
    if missing:
        raise Mismatch(f"array {label(missing[0])} is missing ({len(missing)} of the "
                         f"{len(expected)} expected arrays are)")
    extra = sorted(name for name in arrays if name not in expected)
    if extra:
        raise Mismatch(f"array {label(extra[0])} is not expected (expected only "
                         f"{', '.join(sorted(expected))})")
    return {name: check_array(name, arrays[name], shape, dtype)
            for name, shape in expected.items()}


def group_config(cfg, path):
    """(optimizers {group: settings dict}, sizes {group: int}) of a per-group optimizer's saved
    settings `cfg`, checked: 1 to MAX_GROUPS groups named by non-empty strings without '/', each
    with a dict of settings and a size in [1, MAX_GROUP_SIZE], the same groups in both."""
    subs, sizes = cfg.get("optimizers"), cfg.get("sizes")
    field = f"optimizer file {str(path)!r}: field optimizer"
    if not isinstance(subs, dict) or not 1 <= len(subs) <= MAX_GROUPS:
        raise DataError(f"{field}.optimizers must be a dict of 1 to {MAX_GROUPS} groups' "
                        f"settings, got {short(subs)}")
    for group, sub in subs.items():
        if not isinstance(group, str) or not group or "/" in group or len(group) > 100:
            raise DataError(f"{field}.optimizers has group name {short(group)}: expected a "
                            "non-empty name without '/'")
        if not isinstance(sub, dict):
            raise DataError(f"{field}.optimizers[{group!r}] must be a dict of settings, got "
                            f"{short(sub)}")
    if not isinstance(sizes, dict) or set(sizes) != set(subs):
        raise DataError(f"{field}.sizes must be a dict with the groups {sorted(subs)}, got "
                        f"{short(sizes)}")
    for group, size in sizes.items():
        if not is_integer(size) or not 1 <= size <= MAX_GROUP_SIZE:
            raise DataError(f"{field}.sizes[{group!r}] must be an integer in [1, "
                            f"{MAX_GROUP_SIZE}], got {short(size)}")
    return subs, sizes


def check_parameter_count(least, stored, kind, path):
    """A DataError when the settings of a `kind` optimizer imply at least `least` parameters but
    the file stores only `stored` numbers: refused before building them (a 1 KB file must not
    make minil2o allocate gigabytes)."""
    if least > stored:
        raise DataError(f"optimizer file {str(path)!r}: its field optimizer gives settings with "
                        f"at least {least} parameters, but it holds {stored} numbers: its arrays "
                        f"do not match a {kind} optimizer with these settings")


def stored_numbers(arrays):
    """How many numbers the arrays of a loaded file hold in all."""
    return sum(math.prod(a.shape) for a in arrays.values())


def label(name):
    """An array's name as a refusal shows it: as it is, or quoted when it holds odd characters."""
    plain = isinstance(name, str) and name.isprintable() and " " not in name and len(name) <= 60
    return name if plain else short(name)


def short(value):
    """repr(value), cut to 60 characters (a refusal stays one short line)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- states handed back to an optimizer (minil2o.use.dropin, minil2o.use.torch) -----------------
def check_state(found, fresh, where="state"):
    """`found`, a state handed back to an optimizer's update (or loaded from a state dict), checked
    against `fresh`, that optimizer's own init_state for the same arrays: the same keys at every
    level, each array of the backend with fresh's shape and dtype and every value finite, each
    number (the step count t) an integer in [0, 2**53]. A one-line UsageError names the first
    bad entry (state['h1']) and what is allowed; nothing is changed."""
    if isinstance(fresh, dict):
        if not isinstance(found, dict):
            raise UsageError(f"{where} must be a dict with keys {sorted(fresh)}, got "
                             f"{type(found).__name__}")
        if set(found) != set(fresh):
            keys = sorted(map(short, found))[:8]
            raise UsageError(f"{where} has keys {', '.join(keys)}; this optimizer's state has "
                             f"{', '.join(map(repr, sorted(fresh)))}: was it made by another "
                             "optimizer, or edited?")
        for key in fresh:
            check_state(found[key], fresh[key], f"{where}[{key!r}]")
    elif hasattr(fresh, "shape"):
        _check_state_array(found, fresh, where)
    elif not is_integer(found) or not 0 <= found <= 2 ** 53:
        raise UsageError(f"{where} must be an integer in [0, 2**53] (a step count), got "
                         f"{short(found)}")


def _check_state_array(found, fresh, where):
    """One array of a state: of the backend, fresh's shape and dtype, finite."""
    from ..backend import get_backend
    module = type(found).__module__.split(".")[0]
    backend = {"numpy": "numpy", "cupy": "cupy", "array_api_strict": "strict"}.get(module)
    if backend != get_backend() or not hasattr(found, "dtype"):
        raise UsageError(f"{where} must be an array of the {get_backend()} backend, got "
                         f"{module}.{type(found).__name__}")
    if tuple(found.shape) != tuple(fresh.shape) or found.dtype != fresh.dtype:
        raise UsageError(f"{where} has shape {tuple(found.shape)} and dtype {found.dtype}, but "
                         f"this optimizer's state for these arrays has {tuple(fresh.shape)} "
                         f"{fresh.dtype}")
    bad = count_nonfinite(found)
    if bad:
        raise UsageError(f"{where} holds {bad} NaN or Inf value(s): a state must be finite "
                         "(start again from opt.init(params))")
