"""Datasets: the bundled 5,000-digit MNIST subset, full MNIST from IDX files, CIFAR-10 from its
python batches.

Loaders work on the host: they return numpy arrays, and a problem moves what it needs onto the
backend with `minil2o.backend.asarray`. Images come back as float32 in [0, 1], labels as int64.

    load_mnist("train")                       bundled subset: (3000, 784), val/test (1000, 784)
    load_mnist("train", data_dir="mnist/")    full MNIST: (55000, 784), val 5000, test 10000
    load_cifar10("cifar/", "test")            CIFAR-10, (N, 3, 32, 32)
    read_idx("t10k-labels-idx1-ubyte.gz")     any IDX file, as an array of its stored shape

Splits are "train", "validation", "test" and "all" (the three in that order). Full MNIST and
CIFAR-10 take "validation" as the last `num_validation` examples of their training files (5,000 by
default, as in the usual 55,000 / 5,000 MNIST cut), so the test files stay untouched for final
numbers.

Bundled files live in `minil2o/datasets/` (a folder inside the package, installed with it);
data/README.md at the top of the repository gives the provenance and licence of each.

A missing, truncated or malformed file raises DataError naming the file, what was expected and
where it was looked for; a file, or a .gz stream inflated, beyond the read limit (minil2o.files.bounded)
is refused before it is allocated. CIFAR-10 batches are pickles, and unpickling can run arbitrary code, so
they are read by an unpickler that refuses every global except the few a numpy array needs.
"""
import io
import pickle
import struct
from pathlib import Path

import numpy as np

from ..files.bounded import gunzip_bounded, read_bounded
from ..errors import DataError, UsageError
from ..validate import check_choice, is_integer

SPLITS = ("train", "validation", "test", "all")
DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"     # minil2o/datasets
PRETRAINED_DIR = DATASETS_DIR / "pretrained"      # the shipped learned optimizers
MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


def bundled_file(*parts):
    """Path of a file shipped in minil2o/datasets/ (e.g. bundled_file("mnist_5k.npz"))."""
    path = DATASETS_DIR.joinpath(*parts)
    if not path.is_file():
        raise DataError(f"bundled file {'/'.join(parts)} not found in {DATASETS_DIR}: the package "
                        "installation is incomplete (reinstall minil2o; see data/README.md)")
    return path


def _as_float_images(images):
    """uint8 pixels 0..255 -> float32 in [0, 1]."""
    return images.astype(np.float32) / 255.0


# ----------------------------------------------------------------------------------------- MNIST

def load_mnist(split="train", data_dir=None, num_validation=None):
    """MNIST digits as (X float32 (N, 784) in [0, 1], y int64 (N,)).

    split: "train" | "validation" | "test" | "all".
    data_dir: None for the bundled 5,000-digit subset (3,000 / 1,000 / 1,000, every class equally
        in each split); otherwise a folder with the four IDX files of full MNIST
        (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
        t10k-labels-idx1-ubyte, each raw or with .gz).
    num_validation: full MNIST only: how many of the last training digits form "validation"
        (default 5,000, leaving 55,000 for "train"); "test" is the 10,000 t10k digits.
    """
    check_choice(split, "split", SPLITS)
    if data_dir is None:
        if num_validation is not None:
            raise UsageError(f"num_validation={num_validation!r} applies only with data_dir: the "
                             "bundled subset has a fixed 3000/1000/1000 split")
        return _load_bundled_mnist(split)
    folder = _existing_dir(data_dir, "MNIST")

    def read_pair(prefix):
        images = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
        _check_mnist_pair(images, labels, folder / f"{prefix}-*")
        return images.reshape(images.shape[0], 784), labels

    X, y = _select(split, lambda: read_pair("train"), lambda: read_pair("t10k"),
                   5000 if num_validation is None else num_validation)
    return _as_float_images(X), y.astype(np.int64)


def _load_bundled_mnist(split):
    """The bundled subset from minil2o/datasets/mnist_5k.npz (uint8 arrays per split)."""
    path = bundled_file("mnist_5k.npz")
    names = ("train", "validation", "test") if split == "all" else (split,)
    try:
        with np.load(path, allow_pickle=False) as archive:
            images = [archive[f"{name}_images"] for name in names]
            labels = [archive[f"{name}_labels"] for name in names]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path} is not a readable MNIST archive (expected arrays <split>_images "
                        f"and <split>_labels; {type(e).__name__}: {e}); reinstall minil2o") from e
    X, y = np.concatenate(images), np.concatenate(labels)      # (N, 784), (N,)
    return _as_float_images(X), y.astype(np.int64)


def _check_mnist_pair(images, labels, where):
    """Images (N, 28, 28) uint8 and labels (N,) uint8 in 0..9, with the same N."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{where}: expected MNIST images of shape (N, 28, 28) uint8, "
                        f"got {images.shape} {images.dtype}")
    if labels.dtype != np.uint8 or labels.shape != (images.shape[0],) or labels.max(initial=0) > 9:
        raise DataError(f"{where}: expected {images.shape[0]} uint8 labels in 0..9 to match the "
                        f"images, got shape {labels.shape} {labels.dtype}")


def _find_idx(folder, name):
    """folder/name or folder/name.gz, whichever exists."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"MNIST file {name} not found: looked for {folder / name} and "
                    f"{folder / name}.gz (expected the IDX files from {MNIST_URL})")


# IDX type codes (third byte of the magic number) and the big-endian numpy dtype each stores.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX file (raw or gzip-compressed) as a numpy array of its stored shape and type.

    Format (big-endian): magic = 0x00 0x00 <type> <ndim>, e.g. 0x00000803 for uint8 images
    (N, rows, cols) and 0x00000801 for uint8 labels (N,); then ndim uint32 sizes; then the
    prod(sizes) values, row-major. Anything else (bad magic, short or overlong data) is a DataError.
    """
    path = Path(path)
    raw = _read_bytes(path, "IDX")
    if raw[:2] == b"\x1f\x8b":
        raw = gunzip_bounded(raw, path)              # at most read_limit() bytes
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES or raw[3] == 0:
        magic = raw[:4].hex() or "nothing"
        raise DataError(f"{path}: bad IDX magic number 0x{magic}: expected 0x0000TTDD with type "
                        "TT in 08, 09, 0b, 0c, 0d, 0e and DD >= 1 dimensions (e.g. 0x00000803)")
    ndim, header = raw[3], 4 + 4 * raw[3]
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimension sizes need {header} "
                        f"bytes, the file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX data of shape {shape} needs {expected} bytes after the "
                        f"header, the file has {len(raw) - header} (truncated or corrupt)")
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))               # native byte order, a copy


def _read_bytes(path, what):
    try:
        return read_bounded(path, f"{what} file")
    except FileNotFoundError as e:
        raise DataError(f"{what} file {path.name} not found at {path}") from e
    except OSError as e:
        raise DataError(f"{what} file {path} could not be read: {e}") from e


def _existing_dir(data_dir, what):
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"{what} data_dir {str(data_dir)!r} is not a folder (resolved to "
                        f"{folder.resolve()})")
    return folder


def _select(split, read_train, read_test, num_validation):
    """Cut a split from the training files (train | validation) and the test files.

    read_train, read_test: functions returning (X, y); only the ones the split needs are called.
    num_validation: the last num_validation training examples are "validation".
    """
    if split != "test":
        X, y = read_train()
        if not is_integer(num_validation) or not 0 < num_validation < len(y):
            raise UsageError(f"num_validation={num_validation!r}: must be an integer between 1 and "
                             f"{len(y) - 1} (the training files hold {len(y)} examples)")
        cut = len(y) - num_validation
        if split == "train":
            return X[:cut], y[:cut]
        if split == "validation":
            return X[cut:], y[cut:]
    X_test, y_test = read_test()
    if split == "test":
        return X_test, y_test
    return np.concatenate([X, X_test]), np.concatenate([y, y_test])


# -------------------------------------------------------------------------------------- CIFAR-10

def load_cifar10(data_dir, split="train", num_validation=5000):
    """CIFAR-10 images as (X float32 (N, 3, 32, 32) in [0, 1], y int64 (N,) in 0..9).

    data_dir: the folder cifar-10-batches-py/ of the python version of CIFAR-10, or a folder that
        contains it; it holds data_batch_1 .. data_batch_5 (training) and test_batch.
    split: "train" | "validation" | "test" | "all".
    num_validation: the last num_validation training images form "validation" (default 5,000,
        leaving 45,000 for "train"); "test" is test_batch (10,000).
    Each batch is a pickled dict {b"data": uint8 (n, 3072), b"labels": [n ints], ...}; a row of
    b"data" is the red 32x32 plane, then green, then blue, each row-major, hence (n, 3, 32, 32).
    """
    check_choice(split, "split", SPLITS)
    folder = _existing_dir(data_dir, "CIFAR-10")
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"

    def read_batches(names):
        parts = [_read_cifar_batch(folder, name) for name in names]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    X, y = _select(split, lambda: read_batches([f"data_batch_{i}" for i in range(1, 6)]),
                   lambda: read_batches(["test_batch"]), num_validation)
    return _as_float_images(X.reshape(-1, 3, 32, 32)), y


def _read_cifar_batch(folder, name):
    """One python batch as (uint8 (n, 3072), int64 (n,)), unpickled without running any code."""
    path = folder / name
    if not path.is_file():
        raise DataError(f"CIFAR-10 batch {name} not found in {folder}: expected the python "
                        f"version of CIFAR-10 (cifar-10-python.tar.gz from {CIFAR10_URL}), "
                        "extracted")
    raw = read_bounded(path, "CIFAR-10 batch")          # at most read_limit() bytes
    try:
        batch = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _RefusedGlobal as e:
        raise DataError(f"{path}: refused to load: the pickle asks for {e}, but a CIFAR-10 batch "
                        "needs only numpy array constructors (loading a pickle may not run code)"
                        ) from e
    except Exception as e:  # a malformed pickle can fail in many ways; none of them runs code
        raise DataError(f"{path}: not a readable CIFAR-10 python batch "
                        f"({type(e).__name__}: {e})") from e
    return _check_cifar_batch(batch, path)


def _check_cifar_batch(batch, path):
    """The (data, labels) of an unpickled batch, after checking keys, shapes, dtypes and range."""
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        raise DataError(f"{path}: expected a dict with b'data' a uint8 array of shape (n, 3072)")
    if not isinstance(labels, list) or len(labels) != data.shape[0] \
            or not all(type(v) is int and 0 <= v <= 9 for v in labels):
        raise DataError(f"{path}: expected b'labels' a list of {data.shape[0]} ints in 0..9")
    return data, np.asarray(labels, dtype=np.int64)


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list."""


def _latin1_encode(text, encoding):
    """Python 3 writes bytes into protocol-2 pickles as _codecs.encode(str, 'latin1'); allow only
    that call, nothing else _codecs.encode could do."""
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise _RefusedGlobal("_codecs.encode with anything but (str, 'latin1')")
    return text.encode("latin-1")


_NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]     # numpy's own array-unpickling constructor


def _reconstruct_ndarray(cls, shape, typecode):
    """numpy's _reconstruct, restricted to building a plain ndarray."""
    if cls is not np.ndarray:
        raise _RefusedGlobal(f"_reconstruct of {cls!r} (only numpy.ndarray is allowed)")
    return _NUMPY_RECONSTRUCT(cls, shape, typecode)


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild dicts, lists, ints, bytes and numpy arrays, and nothing else.

    Unpickling calls whatever global the file names (a pickle of os.system("...") runs a shell
    command when loaded), so a downloaded pickle must never meet pickle.load. Every global goes
    through find_class; this one answers only the names a pickled numpy array uses (written by
    numpy 1 as numpy.core.multiarray, by numpy 2 as numpy._core.multiarray) and the latin-1 bytes
    encoder of Python 3's protocol 2. Everything else raises, before anything is called.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct_ndarray,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct_ndarray,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise _RefusedGlobal(f"{module}.{name}") from None
