"""Checkpoints: named arrays in an .npz file, with JSON metadata stored inside it.

    save(path, arrays, meta)      -> writes atomically: a temporary file, fsync, then rename
    arrays, meta = load(path)     -> np.load(allow_pickle=False): nothing in the file is executed

A checkpoint is never half-written (a crash leaves the previous one intact), never holds NaN or Inf
(save refuses), and a truncated, corrupt or pickle-bearing file is refused with a one-line DataError.
"""
import io
import json
import math
import os
import zipfile
import zlib

import numpy as np

from .atomic import publish_or_remove, write_pending
from .backend import to_numpy
from .errors import DataError, NumericalError

FORMAT = "minil2o-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "__meta__"


def save(path, arrays, meta, tmp=None):
    """Write arrays (dict name -> array, any backend) and meta (JSON-able dict) to `path`
    atomically (minil2o.atomic), through the temporary file `tmp` if given."""
    publish_or_remove([(write(path, arrays, meta, tmp), os.fspath(path))])


def write(path, arrays, meta, tmp=None):
    """Write a checkpoint for `path` into a temporary file beside it (named `tmp`, or a unique
    name), fsynced but not yet in place; returns its name, for minil2o.atomic.publish. Refuses
    NaN or Inf before anything is written."""
    host = {name: to_numpy(a) for name, a in arrays.items()}
    for name, a in host.items():
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise NumericalError(f"refusing to save checkpoint {path}: array {name!r} holds NaN or Inf")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    host[_META_KEY] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    return write_pending(path, lambda fh: np.savez(fh, **host), tmp)


def _check_members(raw):
    """Read only the header of every array in the archive and refuse, before anything is
    allocated or unpickled, object arrays (they would need pickle) and arrays whose stored bytes
    do not match their declared shape (truncated, or crafted to allocate terabytes)."""
    fmt = np.lib.format
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for info in archive.infolist():
            with archive.open(info) as fh:
                version = fmt.read_magic(fh)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f"member {info.filename!r} has npy format version {version}")
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read(fh)
                if dtype.hasobject:
                    raise ValueError(f"member {info.filename!r} holds Python objects (pickle)")
                size = math.prod(shape) * dtype.itemsize
                if fh.tell() + size != info.file_size:
                    raise ValueError(f"member {info.filename!r} declares {shape} {dtype} "
                                     f"({size} bytes) but stores {info.file_size - fh.tell()}")


def load(path):
    """Read a checkpoint written by save. Returns (arrays as host numpy, meta dict)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"checkpoint {path!r} not found: expected an .npz file written by minil2o")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        _check_members(raw)
        npz = np.load(io.BytesIO(raw), allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError,
            NotImplementedError, zlib.error) as e:
        reason = "it holds pickled objects, which are never loaded" if "pickle" in str(e).lower() else e
        raise DataError(f"checkpoint {path!r} is corrupt or not an npz file ({reason})") from None
    if _META_KEY not in arrays:
        raise DataError(f"checkpoint {path!r} has no minil2o metadata: not a minil2o checkpoint")
    try:
        meta = json.loads(arrays.pop(_META_KEY).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"checkpoint {path!r} has corrupt metadata (not JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"checkpoint {path!r} is not a minil2o checkpoint (format {meta.get('format')!r})"
                        if isinstance(meta, dict) else f"checkpoint {path!r} has corrupt metadata")
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise DataError(f"checkpoint {path!r}: array {name!r} holds NaN or Inf")
    return arrays, meta
