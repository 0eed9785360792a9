"""Reading files with a bound on what they hold: a file, or the data a compressed file inflates
to, beyond validate.read_limit() bytes (MINIL2O_MAX_READ_BYTES, 2 GiB by default) is refused with a
DataError before it is allocated, so a crafted or damaged file cannot exhaust memory.

    raw = read_bounded(path, "checkpoint")     the bytes of a file of at most the limit
    raw = gunzip_bounded(raw, path)            a gzip stream inflated to at most the limit
"""
import os
import zlib

from ..errors import DataError
from ..validate import read_limit


def read_bounded(path, what):
    """The bytes of file `path`, refused (DataError) when it holds more than read_limit()."""
    size, limit = os.path.getsize(path), read_limit()
    if size > limit:
        raise DataError(f"{what} {os.fspath(path)!r} is {size} bytes, more than the limit of "
                        f"{limit} (MINIL2O_MAX_READ_BYTES)")
    with open(path, "rb") as fh:
        return fh.read(size + 1)            # (a file growing meanwhile is cut short)


def gunzip_bounded(raw, path):
    """Inflate the gzip stream `raw` (read from `path`), stopping one byte past read_limit():
    more is refused, and so is a stream that is corrupt or cut short."""
    limit = read_limit()
    inflater = zlib.decompressobj(wbits=31)                 # 31: the gzip container
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as e:
        raise DataError(f"{os.fspath(path)}: corrupt gzip stream ({e}); expected a "
                        "gzip-compressed file") from None
    if len(out) > limit:
        raise DataError(f"{os.fspath(path)}: inflates to more than {limit} bytes, the limit "
                        "(MINIL2O_MAX_READ_BYTES): not the expected data")
    if not inflater.eof:
        raise DataError(f"{os.fspath(path)}: corrupt gzip stream (cut short); expected a "
                        "gzip-compressed file")
    return out
