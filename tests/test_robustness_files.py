"""Robustness of files: bounded reads (a checkpoint, cache or data file that would inflate beyond
the read limit is refused before allocating), training states and optimizer files edited by hand,
and caches validated on read and written atomically.

docs/ROBUSTNESS.md lists each case with the test that checks it.
"""
import gzip
import io
import json
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from helpers import tiny_config
from minil2o import checkpoint
from minil2o.data import load_cifar10, read_idx
from minil2o.errors import DataError
from minil2o.train import Trainer, load_optimizer

LIMIT = 1 << 20                                      # a 1 MiB read limit for these tests


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setenv("MINIL2O_MAX_READ_BYTES", str(LIMIT))


def npy_bytes(array):
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def zip_of(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


# ==================================================================== bounded reads: checkpoints

def test_a_member_inflating_beyond_the_limit_is_refused_before_allocating(tmp_path, small_limit):
    """8 MiB of zeros deflate to 8 KiB: the member's declared size is over the limit."""
    path = zip_of(tmp_path / "bomb.npz", {"phi/x.npy": npy_bytes(np.zeros(2 ** 20))})
    assert path.stat().st_size < LIMIT // 16
    tracemalloc.start()
    with pytest.raises(DataError, match="declare 8388736 bytes uncompressed, more than the limit"):
        checkpoint.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < LIMIT


def test_a_zip_directory_that_lies_about_sizes_is_refused(tmp_path, small_limit):
    """The central directory says 136 bytes (a header and 8 values); the stream inflates to 8 MiB:
    zipfile stops at the declared size and the CRC check fails; nothing large is allocated."""
    small = npy_bytes(np.zeros(1, np.float64))                    # what the directory declares
    big = npy_bytes(np.zeros(2 ** 20))[:len(small) - 8] + bytes(8 * 2 ** 20)
    path = zip_of(tmp_path / "liar.npz", {"phi/x.npy": big})
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):   # local, central
        at = raw.index(signature)
        raw[at + offset:at + offset + 4] = struct.pack("<I", len(small))
    path.write_bytes(bytes(raw))
    tracemalloc.start()
    with pytest.raises(DataError, match="corrupt or not an npz file"):
        checkpoint.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < LIMIT


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path, small_limit):
    path = tmp_path / "big.npz"
    path.write_bytes(bytes(LIMIT + 1))
    with pytest.raises(DataError, match=f"is {LIMIT + 1} bytes, more than the limit of {LIMIT}"):
        checkpoint.load(path)


def test_too_many_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "MAX_MEMBERS", 3)
    path = zip_of(tmp_path / "many.npz", {f"m{i}.npy": npy_bytes(np.zeros(1)) for i in range(4)})
    with pytest.raises(DataError, match="4 members, more than 3"):
        checkpoint.load(path)


def nested(depth):
    return json.loads("[" * depth + "]" * depth)


@pytest.mark.parametrize("depth, words", [(40, "nested deeper than 32 levels"),
                                          (200_000, "corrupt metadata")],
                         ids=["deep", "recursion"])
def test_metadata_nested_too_deeply_is_refused(tmp_path, depth, words):
    text = json.dumps({"format": checkpoint.FORMAT, "x": nested(40)}) if depth == 40 else \
        '{"format": "' + checkpoint.FORMAT + '", "x": ' + "[" * depth + "]" * depth + "}"
    path = zip_of(tmp_path / "deep.npz", {"__meta__.npy": npy_bytes(
        np.frombuffer(text.encode(), dtype=np.uint8))})
    with pytest.raises(DataError, match=words):
        checkpoint.load(path)


# ==================================================================== bounded reads: data files

def test_an_idx_gz_inflating_beyond_the_limit_is_refused(tmp_path, small_limit):
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", 8 * LIMIT)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(8 * LIMIT)))
    assert path.stat().st_size < LIMIT
    with pytest.raises(DataError, match="inflates to more than 1048576 bytes"):
        read_idx(path)
    raw = tmp_path / "raw-idx1-ubyte"
    raw.write_bytes(header + bytes(LIMIT))
    with pytest.raises(DataError, match="more than the limit"):
        read_idx(raw)


def test_a_cifar_batch_beyond_the_limit_is_refused(tmp_path, small_limit):
    batch = {b"data": np.zeros((400, 3072), np.uint8), b"labels": [0] * 400}
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(batch))
    with pytest.raises(DataError, match="CIFAR-10 batch .* more than the limit"):
        load_cifar10(tmp_path, "train")


# ==================================================================== caches

def test_cache_entries_are_validated_on_read_and_written_atomically(tmp_path, monkeypatch):
    path, messages = tmp_path / "c.npy", []
    assert checkpoint.read_cache(path, messages.append) is None and not messages   # missing
    curves = np.arange(6.0).reshape(2, 3)
    checkpoint.write_cache(path, curves)
    assert np.array_equal(checkpoint.read_cache(path, messages.append, columns=3), curves)
    damaged = {"truncated": path.read_bytes()[:-5], "not npy": b"hello",
               "objects": npy_bytes(np.array([None, 1], dtype=object)),
               "wrong type": npy_bytes(np.arange(3))}
    for name, raw in damaged.items():
        path.write_bytes(raw)
        assert checkpoint.read_cache(path, messages.append) is None, name
    checkpoint.write_cache(path, curves)
    assert checkpoint.read_cache(path, messages.append, columns=4) is None     # wrong shape
    assert len(messages) == 5 and all("damaged" in m and "recomputing" in m for m in messages)
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        checkpoint.write_cache(path, curves * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy"]         # old entry intact
    monkeypatch.setenv("MINIL2O_MAX_READ_BYTES", "64")
    assert checkpoint.read_cache(path, messages.append) is None and "limit" in messages[-1]


# ==================================================================== edited by hand

@pytest.fixture
def finished_run(tmp_path):
    Trainer(tiny_config(epochs=1), out_dir=tmp_path, log=lambda *_: None).run(progress=False)
    return tmp_path


def edit_state(folder, arrays=None, **meta_changes):
    path = folder / "train_state.npz"
    found, meta = checkpoint.load(path)
    checkpoint.save(path, {**found, **(arrays or {})}, {**meta, **meta_changes})


@pytest.mark.parametrize("changes, words", [
    ({"adam_t": -5}, "adam_t (Adam's step count) must be an integer in [0, "),
    ({"adam_t": 1.5}, "adam_t"),
    ({"adam_t": "3"}, "adam_t"),
    ({"epoch": -1}, "epoch must be an integer in [0, "),
    ({"epoch": 10 ** 30}, "epoch must be an integer"),
    ({"best_score": float("nan")}, "best_score must be a number or Infinity, got nan"),
    ({"ema": "low"}, "ema must be a number"),
    ({"ema": float("inf")}, "ema must be a number"),
    ({"history": "all good"}, "history must list epochs 1 to 1"),
    ({"history": []}, "history must list epochs 1 to 1"),
    ({"skipped": -1}, "skipped must be an integer"),
    ({"rng_state": [1, 2]}, "rng_state must be a dict"),
    ({"rng_state": {"bit_generator": "PCG64", "state": {"state": 2 ** 200, "inc": 1},
                    "has_uint32": 0, "uinteger": 0}}, "malformed training state"),
], ids=["adam-t-negative", "adam-t-float", "adam-t-string", "epoch-negative", "epoch-huge",
        "best-score-nan", "ema-string", "ema-inf", "history-string", "history-short",
        "skipped-negative", "rng-state-list", "rng-state-huge"])
def test_a_training_state_edited_by_hand_is_refused(finished_run, changes, words):
    edit_state(finished_run, **changes)
    with pytest.raises(DataError) as info:
        Trainer(tiny_config(epochs=1), out_dir=finished_run, resume=True, log=lambda *_: None)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_state_arrays_edited_by_hand_are_refused(finished_run):
    n = checkpoint.load(finished_run / "train_state.npz")[0]["adam/v"].shape[0]
    for arrays, words in (({"adam/v": -np.ones(n, np.float32)}, "negative values"),
                          ({"adam/m": np.zeros(n, np.int64)}, "dtype int64")):
        edit_state(finished_run, arrays)
        with pytest.raises(DataError, match=words):
            Trainer(tiny_config(epochs=1), out_dir=finished_run, resume=True, log=lambda *_: None)


@pytest.mark.parametrize("settings, words", [
    ({"p": float("nan")}, "p must be a number in (0, 80]"),
    ({"hidden": 10 ** 9}, "hidden must be positive integers <= 4096"),
    ({"output_scale": -1.0}, "output_scale must be"),
], ids=["p-nan", "hidden-huge", "output-scale-negative"])
def test_an_optimizer_file_with_bad_settings_is_refused(finished_run, settings, words):
    path = finished_run / "optimizer.npz"
    arrays, meta = checkpoint.load(path)
    checkpoint.save(path, arrays, {**meta, "optimizer": {**meta["optimizer"], **settings}})
    with pytest.raises(DataError) as info:
        load_optimizer(path)
    assert "optimizer settings do not fit dm" in str(info.value) and words in str(info.value)
