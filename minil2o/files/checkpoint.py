"""Checkpoints: named arrays in an .npz file, with JSON metadata stored inside it.

    save(path, arrays, meta)      -> writes atomically: a temporary file, fsync, then rename
    arrays, meta = load(path)     -> np.load(allow_pickle=False): nothing in the file is executed

A checkpoint is never half-written (a crash leaves the previous one intact), never holds NaN or Inf
(save refuses), and a truncated, corrupt or pickle-bearing file is refused with a one-line DataError.
Reads are bounded: a file, or the sizes its members declare, beyond read_limit() bytes
(MINIL2O_MAX_READ_BYTES, 2 GiB by default) is refused before anything is allocated, and so is
metadata nested deeper than MAX_DEPTH or of a format_version other than FORMAT_VERSION. What the
arrays must be (names, dtypes, shapes) is checked by minil2o.files.loader.

    array = read_cache(path, log)    -> a cached .npy array (None, with a warning, when damaged)
    write_cache(path, array)         -> written atomically
"""
import io
import json
import math
import os
import zipfile
import zlib

import numpy as np

from .atomic import atomic_file, publish_or_remove, write_pending
from ..backend import to_numpy
from ..errors import DataError, NumericalError
from .bounded import read_bounded
from ..validate import is_integer, read_limit

FORMAT = "minil2o-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "__meta__"
MAX_MEMBERS = 10_000           # arrays in one checkpoint
MAX_DEPTH = 32                 # nesting of the JSON metadata


def save(path, arrays, meta, tmp=None):
    """Write arrays (dict name -> array, any backend) and meta (JSON-able dict) to `path`
    atomically (minil2o.files.atomic), through the temporary file `tmp` if given."""
    publish_or_remove([(write(path, arrays, meta, tmp), os.fspath(path))])


def write(path, arrays, meta, tmp=None):
    """Write a checkpoint for `path` into a temporary file beside it (named `tmp`, or a unique
    name), fsynced but not yet in place; returns its name, for minil2o.files.atomic.publish. Refuses
    NaN or Inf before anything is written."""
    host = {name: to_numpy(a) for name, a in arrays.items()}
    for name, a in host.items():
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise NumericalError(f"refusing to save checkpoint {path}: array {name!r} holds NaN or Inf")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    host[_META_KEY] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    return write_pending(path, lambda fh: np.savez(fh, **host), tmp)


def _check_members(raw, limit):
    """Read only the central directory and the header of every array in the archive and refuse,
    before anything is allocated or unpickled: more than MAX_MEMBERS members, declared sizes
    whose sum exceeds `limit` bytes, object arrays (they would need pickle) and arrays whose
    stored bytes do not match their declared shape (truncated, or crafted to allocate terabytes).
    A member that inflates to more than its declared size is cut there by zipfile and fails its
    CRC check, so the declared sizes bound what is read."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"{len(infos)} members, more than {MAX_MEMBERS}")
        declared = sum(info.file_size for info in infos)
        if declared > limit:
            raise ValueError(f"its members declare {declared} bytes uncompressed, more than the "
                             f"limit of {limit} (MINIL2O_MAX_READ_BYTES)")
        for info in infos:
            with archive.open(info) as fh:
                read_npy_header(fh, info.file_size, f"member {info.filename!r}")


def read_npy_header(fh, stored, what):
    """(shape, dtype) from the header of the .npy data in fh, which stores `stored` bytes in all;
    a ValueError for another version, Python objects, or a shape that does not fit the bytes."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"{what} has npy format version {version}")
    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, _, dtype = read(fh)
    if dtype.hasobject:
        raise ValueError(f"{what} holds Python objects (pickle)")
    size = math.prod(shape) * dtype.itemsize
    if fh.tell() + size != stored:
        raise ValueError(f"{what} declares {shape} {dtype} ({size} bytes) but stores "
                         f"{stored - fh.tell()}")
    return shape, dtype


def load(path):
    """Read a checkpoint written by save. Returns (arrays as host numpy, meta dict)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"checkpoint {path!r} not found: expected an .npz file written by minil2o")
    try:
        raw = read_bounded(path, "checkpoint")
    except OSError as e:
        raise DataError(f"checkpoint {path!r} could not be read ({e})") from None
    try:
        _check_members(raw, read_limit())
        npz = np.load(io.BytesIO(raw), allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError,
            NotImplementedError, zlib.error, OverflowError, MemoryError) as e:
        reason = "it holds pickled objects, which are never loaded" if "pickle" in str(e).lower() else e
        raise DataError(f"checkpoint {path!r} is corrupt or not an npz file ({reason})") from None
    meta = _read_meta(arrays, path)
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise DataError(f"checkpoint {path!r}: array {name!r} holds NaN or Inf")
    version = meta.get("format_version")
    if not is_integer(version) or version != FORMAT_VERSION:
        raise DataError(f"checkpoint {path!r}: field format_version is {version!r}, but this "
                        f"minil2o reads format_version {FORMAT_VERSION} only (a file of another "
                        "version: use the minil2o that wrote it)")
    return arrays, meta


def _read_meta(arrays, path):
    """The JSON metadata of a loaded checkpoint (removed from arrays), checked for its format and
    for nesting deeper than MAX_DEPTH."""
    if _META_KEY not in arrays:
        raise DataError(f"checkpoint {path!r} has no minil2o metadata: not a minil2o checkpoint")
    try:
        meta = json.loads(arrays.pop(_META_KEY).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise DataError(f"checkpoint {path!r} has corrupt metadata (not JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"checkpoint {path!r} is not a minil2o checkpoint (format {meta.get('format')!r})"
                        if isinstance(meta, dict) else f"checkpoint {path!r} has corrupt metadata")
    if nesting_depth(meta) > MAX_DEPTH:
        raise DataError(f"checkpoint {path!r} has metadata nested deeper than {MAX_DEPTH} levels")
    return meta


def nesting_depth(value):
    """How deeply lists and dicts nest in a JSON value (0 for a number or a string)."""
    depth, level = 0, [(value, 0)]
    while level:
        item, d = level.pop()
        depth = max(depth, d)
        if isinstance(item, dict):
            level.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            level.extend((v, d + 1) for v in item)
    return depth


# -- caches: one .npy array per file --------------------------------------------------------------
def read_cache(path, log=print, columns=None):
    """The float array cached in .npy file `path`, or None when there is none. A damaged entry
    (truncated, not .npy, objects, a size beyond read_limit(), not a 2-d float array, or not
    `columns` wide when given) is reported by log and treated as missing, to be recomputed."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return None
    try:
        raw = read_bounded(path, "cache entry")
        shape, dtype = read_npy_header(io.BytesIO(raw), len(raw), "it")
        if dtype.kind != "f" or len(shape) != 2:
            raise ValueError(f"holds {dtype} of shape {shape}, not a 2-d float array")
        if columns is not None and shape[1] != columns:
            raise ValueError(f"has {shape[1]} columns, expected {columns}")
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError, DataError) as e:
        log(f"warning: cache entry {path} is damaged ({e}): recomputing it")
        return None


def write_cache(path, array):
    """Write `array` to the .npy file `path` atomically (a reader never sees half of it)."""
    with atomic_file(path) as fh:
        np.save(fh, to_numpy(array), allow_pickle=False)
