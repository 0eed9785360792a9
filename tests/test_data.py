"""Data loaders: the bundled MNIST subset, and full MNIST / CIFAR-10 read from small files that the
tests write in the exact published formats (IDX; CIFAR-10 python batches), plus corrupt and
malicious files that must be refused."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from minil2o.problems.data import SPLITS, bundled_file, load_cifar10, load_mnist, read_idx
from minil2o.errors import DataError, UsageError

# ------------------------------------------------------------------------------- bundled MNIST

SIZES = {"train": 3000, "validation": 1000, "test": 1000, "all": 5000}


@pytest.mark.parametrize("split", SPLITS)
def test_bundled_mnist_shapes_ranges_and_classes(split):
    X, y = load_mnist(split)
    n = SIZES[split]
    assert X.shape == (n, 784) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0                 # 0 and 255 both occur
    assert np.array_equal(np.bincount(y, minlength=10), np.full(10, n // 10))


def test_bundled_mnist_splits_are_disjoint_and_shuffled():
    with np.load(bundled_file("mnist_5k.npz"), allow_pickle=False) as archive:
        rows = {s: set(archive[f"{s}_csv_rows"].tolist()) for s in ("train", "validation", "test")}
    assert set.union(*rows.values()) == set(range(5000))
    assert sum(len(r) for r in rows.values()) == 5000
    images = {s: {x.tobytes() for x in load_mnist(s)[0]} for s in ("train", "validation", "test")}
    assert not images["train"] & images["validation"]
    assert not images["train"] & images["test"]
    assert not images["validation"] & images["test"]
    y = load_mnist("train")[1]
    assert len(set(y[:20].tolist())) > 3                      # not sorted by label


def test_bundled_all_is_train_validation_test():
    X, y = load_mnist("all")
    parts = [load_mnist(s) for s in ("train", "validation", "test")]
    assert np.array_equal(X, np.concatenate([p[0] for p in parts]))
    assert np.array_equal(y, np.concatenate([p[1] for p in parts]))


def test_bad_split_and_bundled_num_validation_are_usage_errors():
    with pytest.raises(UsageError, match="split"):
        load_mnist("valid")
    with pytest.raises(UsageError, match="num_validation"):
        load_mnist("train", num_validation=10)


# ---------------------------------------------------------------------------------- IDX format

def write_idx(path, array, type_code=0x08, big_endian_dtype=">u1", gz=False):
    """Write `array` as an IDX file: magic 0x0000<type><ndim>, big-endian uint32 sizes, data."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(big_endian_dtype).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_uint8_images_and_labels(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    got = read_idx(write_idx(tmp_path / "images", images, gz=gz))
    assert got.dtype == np.uint8 and np.array_equal(got, images)
    assert np.array_equal(read_idx(write_idx(tmp_path / "labels", labels, gz=gz)), labels)
    raw = gzip.decompress((tmp_path / "images").read_bytes()) if gz else \
        (tmp_path / "images").read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03" and raw[4:8] == struct.pack(">I", 3)


def test_read_idx_other_types_are_big_endian(tmp_path):
    a = np.array([[1.5, -2.25], [3.0, 1e-3]])
    got = read_idx(write_idx(tmp_path / "f8", a, type_code=0x0E, big_endian_dtype=">f8"))
    assert got.dtype == np.float64 and np.array_equal(got, a)
    b = np.array([-70000, 5, 123456], dtype=np.int32)
    got = read_idx(write_idx(tmp_path / "i4", b, type_code=0x0C, big_endian_dtype=">i4"))
    assert np.array_equal(got, b)


def write_mnist(folder, n_train=12, n_test=5, gz_train=True):
    """Four IDX files of a tiny MNIST in `folder` (training files gzipped, test files raw)."""
    rng = np.random.default_rng(1)
    data = {}
    for prefix, n, gz in (("train", n_train, gz_train), ("t10k", n_test, False)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz=gz)
        data[prefix] = (images.reshape(n, 784) / 255.0, labels.astype(np.int64))
    return data


def test_load_full_mnist_from_idx_files(tmp_path):
    data = write_mnist(tmp_path)
    (Xtr, ytr), (Xte, yte) = data["train"], data["t10k"]
    expect = {"train": (Xtr[:8], ytr[:8]), "validation": (Xtr[8:], ytr[8:]), "test": (Xte, yte),
              "all": (np.concatenate([Xtr, Xte]), np.concatenate([ytr, yte]))}
    for split, (X_want, y_want) in expect.items():
        X, y = load_mnist(split, data_dir=tmp_path, num_validation=4)
        assert X.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_allclose(X, X_want, rtol=1e-6, atol=0)
        assert np.array_equal(y, y_want)


def test_full_mnist_missing_file_and_bad_num_validation(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*" + str(tmp_path)):
        load_mnist("test", data_dir=tmp_path)
    with pytest.raises(UsageError, match="num_validation"):
        load_mnist("train", data_dir=tmp_path, num_validation=12)
    with pytest.raises(DataError, match="not a folder"):
        load_mnist("train", data_dir=tmp_path / "nowhere")


def test_full_mnist_mismatched_labels_refused(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))  # 5 images, 4 labels
    with pytest.raises(DataError, match="labels"):
        load_mnist("test", data_dir=tmp_path)


@pytest.mark.parametrize("damage", ["bad magic", "unknown type", "truncated data",
                                    "truncated header", "trailing bytes", "corrupt gzip", "empty"])
def test_corrupt_idx_refused(tmp_path, damage):
    raw = (write_idx(tmp_path / "good", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
           .read_bytes())
    bad = {"bad magic": b"\x08\x03\x00\x00" + raw[4:], "unknown type": raw[:2] + b"\x07" + raw[3:],
           "truncated data": raw[:-1], "truncated header": raw[:10], "trailing bytes": raw + b"\0",
           "corrupt gzip": gzip.compress(raw)[:-12], "empty": b""}[damage]
    (tmp_path / "bad").write_bytes(bad)
    with pytest.raises(DataError, match="bad"):
        read_idx(tmp_path / "bad")


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "train-images-idx3-ubyte")


# --------------------------------------------------------------------------------------- CIFAR-10

def cifar_batch(n, first_label, planes=(10, 20, 30)):
    """A batch dict exactly as CIFAR-10's python version stores it; each image's red, green and
    blue planes are constant (planes[c] + image index), so the channel layout can be checked."""
    data = np.concatenate([np.full((n, 1024), p, dtype=np.uint8) for p in planes], axis=1)
    data += np.arange(n, dtype=np.uint8)[:, None]                       # (n, 3072)
    return {b"batch_label": b"a test batch", b"labels": [(first_label + i) % 10 for i in range(n)],
            b"data": data, b"filenames": [b"img_%d.png" % i for i in range(n)]}


def write_cifar(folder, n=3):
    """data_batch_1..5 and test_batch, n images each, pickled with protocol 2 like the originals."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        (folder / name).write_bytes(pickle.dumps(cifar_batch(n, k), protocol=2))
    return folder


def test_load_cifar10_splits_and_layout(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    X, y = load_cifar10(tmp_path, "train", num_validation=4)
    assert X.shape == (11, 3, 32, 32) and X.dtype == np.float32 and y.dtype == np.int64
    assert y.tolist() == [0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4]
    for c, plane in enumerate((10, 20, 30)):                           # image 1 of batch 1
        assert np.all(X[1, c] == np.float32((plane + 1) / 255.0))
    Xv, yv = load_cifar10(tmp_path, "validation", num_validation=4)
    assert Xv.shape == (4, 3, 32, 32) and yv.tolist() == [5, 4, 5, 6]
    Xt, yt = load_cifar10(tmp_path / "cifar-10-batches-py", "test", num_validation=4)
    assert Xt.shape == (3, 3, 32, 32) and yt.tolist() == [5, 6, 7]
    Xa, ya = load_cifar10(tmp_path, "all", num_validation=4)
    assert np.array_equal(Xa, np.concatenate([X, Xv, Xt])) and len(ya) == 18


def test_cifar10_numpy1_pickle_names_load(tmp_path):
    """Files written by older numpy name numpy.core.multiarray._reconstruct; they load too."""
    folder = write_cifar(tmp_path)
    raw = (folder / "test_batch").read_bytes()
    assert b"numpy._core.multiarray" in raw
    (folder / "test_batch").write_bytes(raw.replace(b"numpy._core.multiarray",
                                                    b"numpy.core.multiarray"))
    assert load_cifar10(folder, "test")[1].tolist() == [5, 6, 7]


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _RunsEval:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


@pytest.mark.parametrize("payload", ["os.system", "eval", "codecs"])
def test_malicious_cifar_pickle_runs_nothing(tmp_path, payload):
    folder = write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    batch = cifar_batch(3, 5)
    batch[b"data"] = {"os.system": _RunsShell(marker), "eval": _RunsEval()}.get(payload, "x")
    raw = pickle.dumps(batch, protocol=2)
    if payload == "codecs":               # ask _codecs.encode for a codec other than latin-1
        raw = raw.replace(b"X\x06\x00\x00\x00latin1", b"X\x06\x00\x00\x00rot_13", 1)
    (folder / "test_batch").write_bytes(raw)
    with pytest.raises(DataError, match="test_batch.*refused"):
        load_cifar10(folder, "test")
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "no labels", "wrong width", "not a dict",
                                    "float data", "label out of range"])
def test_corrupt_cifar_batch_refused(tmp_path, damage):
    folder = write_cifar(tmp_path)
    batch = cifar_batch(3, 5)
    if damage == "no labels":
        del batch[b"labels"]
    elif damage == "wrong width":
        batch[b"data"] = batch[b"data"][:, :3000]
    elif damage == "float data":
        batch[b"data"] = batch[b"data"].astype(np.float32)
    elif damage == "label out of range":
        batch[b"labels"][0] = 10
    raw = pickle.dumps([1, 2] if damage == "not a dict" else batch, protocol=2)
    (folder / "test_batch").write_bytes(raw[:len(raw) // 2] if damage == "truncated" else raw)
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10(folder, "test")


def test_cifar10_missing_batch_names_file_and_folder(tmp_path):
    folder = write_cifar(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match=f"data_batch_3 not found in {folder}"):
        load_cifar10(folder, "train", num_validation=2)
