"""Robustness of files: checkpoints that are truncated, corrupt or malicious are refused without
running anything; bounded reads (a checkpoint, cache or data file that would inflate beyond
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

from helpers import assert_one_line, run_cli, tiny_config
from minil2o.files import checkpoint
from minil2o.backend import asarray, to_numpy
from minil2o.problems.data import load_cifar10, read_idx
from minil2o.errors import DataError, NumericalError, UsageError
from minil2o.optimizers.learned import DMOptimizer
from minil2o.training.runs import load_optimizer, save_optimizer
from minil2o.training.train import Trainer

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

def assert_refused_within_limit(path, match):
    """checkpoint.load refuses `path` with a DataError matching `match`, having allocated less
    than LIMIT bytes on the way."""
    tracemalloc.start()
    with pytest.raises(DataError, match=match):
        checkpoint.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < LIMIT


def test_a_member_inflating_beyond_the_limit_is_refused_before_allocating(tmp_path, small_limit):
    """8 MiB of zeros deflate to 8 KiB: the member's declared size is over the limit."""
    path = zip_of(tmp_path / "bomb.npz", {"phi/x.npy": npy_bytes(np.zeros(2 ** 20))})
    assert path.stat().st_size < LIMIT // 16
    assert_refused_within_limit(path, "declare 8388736 bytes uncompressed, more than the limit")


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
    assert_refused_within_limit(path, "corrupt or not an npz file .Bad CRC-32")


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


# ====================================================================== damaged checkpoints

def saved_optimizer(path, **kwargs):
    """A small DM optimizer saved to path; returns the optimizer."""
    opt = DMOptimizer(hidden=4, **kwargs)
    phi = opt.init_params(np.random.default_rng(0))
    save_optimizer(path, opt, phi, {"note": "test"})
    opt.phi = phi
    return opt


def write_npz(path, arrays, meta=None):
    """An npz written directly (no checks), with meta as minil2o's JSON metadata if given."""
    if meta is not None:
        arrays = dict(arrays, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    np.savez(path, **arrays)


class Marker:
    """Unpickling this object would create a marker file (by calling open)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_object_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "marker"
    good = tmp_path / "good.npz"
    saved_optimizer(good)
    arrays, meta = checkpoint.load(good)
    evil = tmp_path / "evil.npz"
    write_npz(evil, {**arrays, "phi/Wout": np.array([Marker(str(marker))], dtype=object)}, meta)
    with pytest.raises(DataError, match="pickled objects, which are never loaded"):
        checkpoint.load(evil)
    with pytest.raises(DataError, match="pickled"):
        load_optimizer(evil)
    with open(tmp_path / "plain.pkl", "wb") as f:              # a bare pickle named .npz
        np.save(f, np.array([Marker(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="corrupt or not an npz file"):
        checkpoint.load(tmp_path / "plain.pkl")
    assert not marker.exists()


def test_truncated_checkpoint_refused(tmp_path):
    path = tmp_path / "optimizer.npz"
    saved_optimizer(path)
    raw = path.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 5):
        (tmp_path / "cut.npz").write_bytes(raw[:cut])
        with pytest.raises(DataError, match="corrupt or not an npz file"):
            checkpoint.load(tmp_path / "cut.npz")


def test_random_bytes_and_flipped_bytes_refused(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.npz"
    path.write_bytes(rng.bytes(4096))
    with pytest.raises(DataError, match="corrupt or not an npz file"):
        checkpoint.load(path)
    good = tmp_path / "good.npz"
    saved_optimizer(good)
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 3] ^= 0xFF                                  # one flipped byte in array data
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError):
        checkpoint.load(path)


def test_header_declaring_a_huge_array_refused_before_allocating(tmp_path):
    import io
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10 ** 12,)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:
        z.writestr("phi/Wout.npy", header.getvalue() + bytes(64))
    with pytest.raises(DataError, match="declares"):
        checkpoint.load(tmp_path / "huge.npz")


def test_missing_meta_wrong_format_and_bad_json_refused(tmp_path):
    arrays = {"phi/x": np.zeros(3, np.float32)}
    write_npz(tmp_path / "nometa.npz", arrays)
    with pytest.raises(DataError, match="no minil2o metadata"):
        checkpoint.load(tmp_path / "nometa.npz")
    write_npz(tmp_path / "other.npz", arrays, {"format": "someone-else"})
    with pytest.raises(DataError, match="format 'someone-else'"):
        checkpoint.load(tmp_path / "other.npz")
    np.savez(tmp_path / "badjson.npz", __meta__=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(DataError, match="not JSON"):
        checkpoint.load(tmp_path / "badjson.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(DataError, match="not an npz"):
        checkpoint.load(tmp_path / "single.npy")
    with pytest.raises(DataError, match="not found"):
        checkpoint.load(tmp_path / "missing.npz")


def test_nan_arrays_refused_on_save_and_on_load(tmp_path):
    path = tmp_path / "ck.npz"
    checkpoint.save(path, {"x": np.ones(3, np.float32)}, {"step": 1})
    with pytest.raises(NumericalError, match="'x' holds NaN or Inf"):
        checkpoint.save(path, {"x": np.array([1.0, np.nan], np.float32)}, {"step": 2})
    arrays, meta = checkpoint.load(path)                        # the old file is intact
    assert meta["step"] == 1 and np.all(arrays["x"] == 1)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]  # no temporary file left
    write_npz(tmp_path / "nan.npz", {"x": np.array([np.inf])}, {"format": checkpoint.FORMAT})
    with pytest.raises(DataError, match="'x' holds NaN or Inf"):
        checkpoint.load(tmp_path / "nan.npz")


def test_checkpoint_of_another_kind_or_shape(tmp_path, capsys):
    path = tmp_path / "dm.npz"
    saved_optimizer(path)
    arrays, meta = checkpoint.load(path)
    meta.pop("format")
    cases = {
        "rnnprop.npz": ({**meta, "optimizer": {"kind": "rnnprop", "hidden": 4}},
                        "do not match a rnnprop optimizer"),
        "adam.npz": ({**meta, "optimizer": {"kind": "adam", "lr": 0.1}}, "kind 'adam'"),
        "none.npz": ({"step": 3}, "kind None"),
        "wide.npz": ({**meta, "optimizer": {**meta["optimizer"], "hidden": 8}},
                     "do not match a dm optimizer"),
        "bad.npz": ({**meta, "optimizer": {**meta["optimizer"], "preprocess": "cube"}},
                    "'cube'"),
    }
    for name, (bad_meta, words) in cases.items():
        checkpoint.save(tmp_path / name, arrays, bad_meta)
        with pytest.raises(DataError, match=words):
            load_optimizer(tmp_path / name)
        code, _, err = run_cli(capsys, "evaluate", tmp_path / name, "--baselines", "sgd",
                               "--out", tmp_path / "ev")
        assert code == 2
        assert_one_line(err, name)
    with pytest.raises(UsageError, match="float16"):
        load_optimizer(path, dtype="float16")


def test_training_state_passed_as_an_optimizer(tmp_path, capsys):
    Trainer(tiny_config(epochs=1), out_dir=tmp_path, log=lambda *_: None).run(progress=False)
    load_optimizer(tmp_path / "optimizer.npz")
    with pytest.raises(DataError, match="training state.*optimizer.npz"):
        load_optimizer(tmp_path / "train_state.npz")
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "train_state.npz", "--baselines", "sgd")
    assert code == 2
    assert_one_line(err, "train_state.npz")


def test_resume_from_a_tampered_training_state(tmp_path):
    Trainer(tiny_config(epochs=1), out_dir=tmp_path, log=lambda *_: None).run(progress=False)
    path = tmp_path / "train_state.npz"
    arrays, meta = checkpoint.load(path)
    checkpoint.save(path, {**arrays, "adam/m": np.zeros(7, np.float32)}, meta)
    with pytest.raises(DataError, match="adam/m has shape"):
        Trainer(tiny_config(epochs=1), out_dir=tmp_path, resume=True, log=lambda *_: None)
    del arrays["best/Wout"]
    checkpoint.save(path, arrays, meta)
    with pytest.raises(DataError, match="best/Wout"):
        Trainer(tiny_config(epochs=1), out_dir=tmp_path, resume=True, log=lambda *_: None)
    checkpoint.save(path, checkpoint.load(tmp_path / "optimizer.npz")[0],
                    {**meta, "rng_state": {"bit_generator": "nonsense"}})
    with pytest.raises(DataError):
        Trainer(tiny_config(epochs=1), out_dir=tmp_path, resume=True, log=lambda *_: None)


# ===================================================================== faults while writing

def test_crash_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    checkpoint.save(path, {"x": np.arange(4, dtype=np.float32)}, {"step": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(checkpoint.np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"x": np.zeros(4, np.float32)}, {"step": 2})
    monkeypatch.undo()
    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(OSError):
        checkpoint.save(path, {"x": np.zeros(4, np.float32)}, {"step": 3})
    monkeypatch.undo()
    arrays, meta = checkpoint.load(path)
    assert meta["step"] == 1 and np.array_equal(arrays["x"], np.arange(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


def test_backend_arrays_round_trip_through_a_checkpoint(tmp_path):
    x = asarray(np.linspace(-1, 1, 5), "float32")
    checkpoint.save(tmp_path / "a.npz", {"x": x}, {"n": 5})
    arrays, meta = checkpoint.load(tmp_path / "a.npz")
    assert arrays["x"].dtype == np.float32 and np.array_equal(arrays["x"], to_numpy(x))
    assert meta["n"] == 5 and meta["format"] == checkpoint.FORMAT


def test_reproduce_cache_entry_damaged_or_wrong_shaped_is_recomputed(tmp_path):
    """A reproduce cache entry cut short, or of another width, is reported and recomputed (before:
    a traceback on every later run, or a wrong-shaped entry used silently); entries are written
    atomically."""
    from minil2o.experiments.runner import CurveCache
    from minil2o.problems import QuadraticFamily
    from minil2o.optimizers.hand import make_hand_optimizer
    messages = []
    cache, family = CurveCache(str(tmp_path), messages.append), QuadraticFamily(dim=3)
    cache.describe(family, ["quadratic", 3])
    sgd = make_hand_optimizer("sgd", 0.01)
    first = cache(family, sgd, 2, 4, seed=0)
    (entry,) = tmp_path.glob("*.npy")
    entry.write_bytes(entry.read_bytes()[:40])                     # cut short
    again = CurveCache(str(tmp_path), messages.append)
    again.describe(family, ["quadratic", 3])
    np.testing.assert_array_equal(again(family, sgd, 2, 4, seed=0), first)
    assert len(messages) == 1 and "is damaged" in messages[0] and "recomputing" in messages[0]
    np.save(entry, np.zeros((2, 9)))                               # another number of steps
    third = CurveCache(str(tmp_path), messages.append)
    third.describe(family, ["quadratic", 3])
    np.testing.assert_array_equal(third(family, sgd, 2, 4, seed=0), first)
    assert len(messages) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry.name]


def test_reproduce_out_under_a_file_is_refused_before_any_work(tmp_path, capsys):
    """`reproduce --out` below a file: one line, exit 2, before anything is loaded or tuned."""
    (tmp_path / "a-file").write_text("x")
    code, out, err = run_cli(capsys, "reproduce", "dm-fig4-quadratic", "--quick", "--out",
                             tmp_path / "a-file" / "out", "--cache", "")
    assert code == 2 and "tuned" not in out
    assert_one_line(err, "is a file")
