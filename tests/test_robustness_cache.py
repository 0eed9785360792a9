"""Robustness of the reproduce cache (minil2o.experiments.runner.CurveCache): an entry is used only
if it proves itself (its sha256 over the curves' dtype, shape and bytes and the settings it was
computed with; exactly the settings asked for; float64 of the right shape). Anything else is
recomputed with one warning line, never used, and the result equals the fresh computation.

Generated variants: a bit flipped at random positions of each part of an entry (the curves' data,
their .npy header, the checksum, the settings, the zip structure), both as stored (the zip's CRC
sees it) and with the zip rebuilt around the flipped member (only the checksum sees it); the
entry cut at every offset; the curves replaced by an array of every numpy dtype, an object array
or a wrong shape (with the old checksum and with one forged to match); each settings field
changed; the metadata and the archive's members malformed; entries of older minil2o without a
checksum; special files; writes that fail or are killed. docs/ROBUSTNESS.md (cache) cites them.
"""
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from helpers import REPO, run_cli, tool_module
from minil2o.evaluation.evaluate import learning_curves
from minil2o.experiments import runner
from minil2o.experiments.runner import CurveCache, curves_checksum, write_entry
from minil2o.optimizers.hand import make_hand_optimizer
from minil2o.problems import QuadraticFamily

FAMILY, DESCRIPTION = QuadraticFamily(dim=3), ["quadratic", {"dim": 3}, "test"]
SGD = make_hand_optimizer("sgd", 0.01)
NUM, STEPS, SEED = 3, 4, 0
FRESH = learning_curves(FAMILY, SGD, NUM, STEPS, SEED)
RNG = np.random.default_rng(20240603)


def make_cache(folder, messages):
    cache = CurveCache(str(folder), messages.append)
    cache.describe(FAMILY, DESCRIPTION)
    return cache


@pytest.fixture
def computed(monkeypatch):
    """The calls that reach learning_curves (a cache hit makes none)."""
    calls, real = [], runner.learning_curves
    monkeypatch.setattr(runner, "learning_curves", lambda *a: calls.append(a) or real(*a))
    return calls


@pytest.fixture
def entry(tmp_path):
    """The path of a good entry for (SGD, FAMILY, NUM, STEPS, SEED) in tmp_path."""
    cache = make_cache(tmp_path, [])
    cache(FAMILY, SGD, NUM, STEPS, SEED)
    return tmp_path / os.path.basename(cache.entry_path(FAMILY, SGD, STEPS, SEED))


def serve(folder):
    """A new cache's answer for the entry's call, and its messages."""
    messages = []
    return make_cache(folder, messages)(FAMILY, SGD, NUM, STEPS, SEED), messages


def assert_same(curves):
    assert curves.dtype == FRESH.dtype and curves.shape == FRESH.shape
    assert curves.tobytes() == FRESH.tobytes()                           # bitwise, NaN included


def assert_recomputed(entry, computed, *words, warned=True):
    """The entry is not used: one warning line naming it (and `words`), the curves computed anew
    equal the fresh ones, and the entry rewritten proves itself on the next read."""
    before = len(computed)
    curves, messages = serve(entry.parent)
    assert_same(curves)
    assert messages or not warned
    if messages:
        assert len(messages) == 1 and "\n" not in messages[0], messages
        for word in (str(entry), "recomputing it", *words):
            assert word in messages[0], (word, messages[0])
    assert len(computed) == before + bool(messages)     # unwarned: the entry proved itself
    after = len(computed)
    again, messages = serve(entry.parent)
    assert_same(again)
    assert not messages and len(computed) == after                # read back, not recomputed


def members(path):
    """The archive's members as raw .npy bytes, by name."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(path, parts):
    """Write the archive anew from raw .npy bytes by name (a valid zip, CRCs matching)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, raw in parts.items():
            archive.writestr(name, raw)
    path.write_bytes(buffer.getvalue())


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def stored_meta(path):
    with np.load(path) as npz:
        return json.loads(npz["meta"].tobytes())


def rewrite(path, curves=None, forge=True, **meta_changes):
    """Replace the entry's curves and/or meta fields; forge=True recomputes the checksum (and
    dtype, shape) to match, so that only the other checks can refuse it."""
    with np.load(path) as npz:
        old, meta = npz["curves"], json.loads(npz["meta"].tobytes())
    curves = old if curves is None else curves
    meta.update(meta_changes)
    if forge:
        meta.update(dtype=curves.dtype.str, shape=list(curves.shape),
                    sha256=curves_checksum(curves, meta["settings"]))
    rezip(path, {"curves.npy": npy(curves), "meta.npy": npy(np.frombuffer(
        json.dumps(meta).encode(), np.uint8))})


# ==================================================================== good entries

def test_a_good_entry_is_read_back_bitwise_and_not_recomputed(entry, computed):
    curves, messages = serve(entry.parent)
    assert_same(curves)
    assert not messages and not computed
    with np.load(entry) as npz:                     # an .npz a person can open
        assert sorted(npz.files) == ["curves", "meta"]
        meta = json.loads(npz["meta"].tobytes())
    assert meta["sha256"] == curves_checksum(FRESH, meta["settings"])
    assert meta["settings"] == {"optimizer": {"baseline": "sgd", "lr": 0.01},
                                "family": DESCRIPTION, "steps": STEPS, "seed": SEED,
                                "final_batches": 0}


# ==================================================================== flipped bits

def byte_classes(path):
    """Offsets of each part of the stored file: the curves' data, their .npy header, the checksum
    and the settings (in the metadata), and the zip's own structure (the rest)."""
    raw = path.read_bytes()
    data = raw.find(FRESH.tobytes())
    header = raw.rfind(b"\x93NUMPY", 0, data)
    meta = stored_meta(path)
    checksum = raw.find(meta["sha256"].encode())
    settings = raw.find(b'"settings"')
    parts = {"data": range(data, data + FRESH.nbytes), "npy-header": range(header, data),
             "checksum": range(checksum, checksum + 64), "settings": range(settings, checksum)}
    used = set().union(*parts.values())
    parts["zip-structure"] = [i for i in range(len(raw)) if i not in used]
    return parts


@pytest.mark.parametrize("part", ["data", "npy-header", "checksum", "settings", "zip-structure"])
def test_a_bit_flipped_in_the_stored_file_is_never_used(entry, computed, part):
    good, offsets = entry.read_bytes(), byte_classes(entry)[part]
    for offset in RNG.choice(offsets, size=min(12, len(offsets)), replace=False):
        flipped = bytearray(good)
        flipped[offset] ^= 1 << int(RNG.integers(8))
        entry.write_bytes(bytes(flipped))
        # the zip's structure has fields nobody reads (a time stamp): a flip there may be harmless
        assert_recomputed(entry, computed, warned=part != "zip-structure")


@pytest.mark.parametrize("member, part", [("curves.npy", "data"), ("curves.npy", "header"),
                                          ("meta.npy", "checksum"), ("meta.npy", "settings"),
                                          ("meta.npy", "header")])
def test_a_bit_flipped_inside_a_member_with_the_zip_rebuilt_is_seen_by_the_checksum(
        entry, computed, member, part):
    """The zip's CRC cannot see a bit flipped before the archive was written; the entry's own
    checks must."""
    good = members(entry)
    raw = good[member]
    body = raw.index(b"\n") + 1                           # the end of the .npy header
    text = raw[body:].decode("latin-1")
    checksum, settings = body + text.find('"sha256": "') + 11, body + text.find('"settings"')
    spans = {"data": range(body, len(raw)), "header": range(0, body),
             "checksum": range(checksum, checksum + 64), "settings": range(settings, checksum)}
    for offset in RNG.choice(spans[part], size=min(12, len(spans[part])), replace=False):
        flipped = bytearray(raw)
        flipped[offset] ^= 1 << int(RNG.integers(8))
        rezip(entry, {**good, member: bytes(flipped)})
        # a flip in the .npy header's padding may leave the same array: then nothing is wrong
        assert_recomputed(entry, computed, warned=part != "header")


# ==================================================================== cut short

def test_an_entry_cut_at_any_offset_is_never_used(entry, computed):
    good = entry.read_bytes()
    for offset in range(0, len(good), 3):
        entry.write_bytes(good[:offset])
        assert_recomputed(entry, computed, "is damaged")


# ==================================================================== other arrays

def every_dtype():
    """One dtype of each code numpy has (but the float64 an entry holds and objects, tested
    apart), another byte order, sized strings, time units, a structured dtype."""
    codes = [np.dtype(c) for c in np.typecodes["All"] if c not in "dO"]
    return codes + [np.dtype(t) for t in (">f8", "M8[s]", "m8[s]", "U8", "S8", "V8")] \
        + [np.dtype([("a", "<f8"), ("b", "<i4")])]


def array_of(dtype):
    try:
        return FRESH.astype(dtype)
    except (TypeError, ValueError):
        return np.zeros(FRESH.shape, dtype)


@pytest.mark.parametrize("forge", [False, True], ids=["old-checksum", "forged-checksum"])
@pytest.mark.parametrize("dtype", every_dtype(), ids=str)
def test_curves_of_every_other_dtype_are_never_used(entry, computed, dtype, forge):
    rewrite(entry, array_of(dtype), forge=forge)
    assert_recomputed(entry, computed, "is damaged")


@pytest.mark.parametrize("forge", [False, True], ids=["old-checksum", "forged-checksum"])
def test_an_object_array_is_never_unpickled(entry, computed, forge, monkeypatch):
    monkeypatch.setattr("pickle.loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr("pickle.load", lambda *a, **k: pytest.fail("unpickled"))
    rewrite(entry, FRESH.astype(object), forge=forge)
    assert_recomputed(entry, computed, "Python objects")


SHAPES = {"1-d": (15,), "3-d": (3, 5, 1), "scalar": (), "transposed": (5, 3), "wider": (3, 6),
          "narrower": (3, 4), "no-problems": (0, 5), "one-column": (15, 1)}


@pytest.mark.parametrize("forge", [False, True], ids=["old-checksum", "forged-checksum"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_curves_of_a_wrong_shape_are_never_used(entry, computed, shape, forge):
    size = int(np.prod(shape))
    curves = np.resize(FRESH.ravel(), size).reshape(shape)
    rewrite(entry, curves, forge=forge)
    assert_recomputed(entry, computed, "is damaged")


def test_an_entry_with_fewer_problems_is_extended_silently(entry, computed):
    """Not a lie: an entry for fewer problems than asked is recomputed, as before, unwarned."""
    rewrite(entry, FRESH[:2].copy())
    curves, messages = serve(entry.parent)
    assert_same(curves)
    assert not messages and len(computed) == 1


# ==================================================================== other settings

CHANGED = {"optimizer": [{"baseline": "sgd", "lr": 0.02}, {"baseline": "adam", "lr": 0.01},
                         {"learned": "0123456789abcdef"}, None],
           "family": [["quadratic", {"dim": 4}, "test"], ["quadratic", {"dim": 3}, "validation"],
                      ["mnist-mlp", {"dim": 3}, "test"], ["quadratic", {"dim": 3.0}, "test"]],
           "steps": [5, 3, 4.0, "4", True, None], "seed": [1, 0.0, False, -1, 2 ** 70, None],
           "final_batches": [1, 0.0, False, None]}
VARIANTS = [(field, value) for field, values in CHANGED.items() for value in values]


@pytest.mark.parametrize("forge", [False, True], ids=["old-checksum", "forged-checksum"])
@pytest.mark.parametrize("field, value", VARIANTS, ids=[f"{f}={v}" for f, v in VARIANTS])
def test_an_entry_for_other_settings_is_never_used(entry, computed, field, value, forge):
    settings = stored_meta(entry)["settings"]
    rewrite(entry, forge=forge, settings={**settings, field: value})
    assert_recomputed(entry, computed, "is stale", f"computed with other settings: {field} ")


@pytest.mark.parametrize("settings", [None, [], "all", {}, {"extra": 1}],
                         ids=["null", "list", "string", "empty", "extra-field"])
def test_settings_missing_or_malformed_are_never_used(entry, computed, settings):
    if settings == {"extra": 1}:
        settings = {**stored_meta(entry)["settings"], **settings}
    rewrite(entry, settings=settings)
    assert_recomputed(entry, computed, "is stale", "computed with other settings")


@pytest.mark.parametrize("call", [dict(seed=1), dict(steps=5), dict(final_batches=2),
                                  dict(optimizer=make_hand_optimizer("sgd", 0.02))],
                         ids=["seed", "steps", "final-batches", "learning-rate"])
def test_an_entry_of_another_call_copied_over_is_never_used(entry, computed, call):
    """A real entry, computed for other settings, put under this entry's name."""
    other = entry.parent / "other"
    args = {**dict(optimizer=SGD, steps=STEPS, seed=SEED, final_batches=0), **call}
    optimizer = args.pop("optimizer")
    make_cache(other, [])(FAMILY, optimizer, NUM, **args)
    (copied,) = other.iterdir()
    entry.write_bytes(copied.read_bytes())
    assert_recomputed(entry, computed, "is stale", "computed with other settings")


# ==================================================================== metadata and members

def meta_bytes(text):
    return npy(np.frombuffer(text.encode("latin-1"), np.uint8))


@pytest.mark.parametrize("meta", [
    meta_bytes("not json"), meta_bytes("\xff\xfe"), meta_bytes("[1, 2]"), meta_bytes("null"),
    meta_bytes('{"format": "minil2o-checkpoint", "version": 1}'),
    meta_bytes("[" * 100_000 + "]" * 100_000), npy(np.arange(5)), npy(np.zeros((2, 2), np.uint8)),
], ids=["not-json", "not-utf8", "list", "null", "other-format", "nested-deep", "int64", "2-d"])
def test_metadata_malformed_is_never_used(entry, computed, meta):
    rezip(entry, {**members(entry), "meta.npy": meta})
    assert_recomputed(entry, computed, "is damaged")


@pytest.mark.parametrize("change", [dict(version=v) for v in (0, 2, 999, "1", None)]
                         + [dict(sha256=v) for v in (None, 0, "", "0" * 64)]
                         + [dict(dtype="<f4"), dict(shape=[5, 3]), dict(shape=None)],
                         ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_metadata_fields_changed_are_never_used(entry, computed, change):
    rewrite(entry, forge=False, **change)
    assert_recomputed(entry, computed)


@pytest.mark.parametrize("edit", ["drop-curves", "drop-meta", "extra-member", "renamed",
                                  "duplicate"])
def test_archive_members_wrong_are_never_used(entry, computed, edit):
    good = members(entry)
    parts = {"drop-curves": {"meta.npy": good["meta.npy"]},
             "drop-meta": {"curves.npy": good["curves.npy"]},
             "extra-member": {**good, "x.npy": npy(np.zeros(1))},
             "renamed": {"curves2.npy": good["curves.npy"], "meta.npy": good["meta.npy"]}}
    if edit == "duplicate":
        with pytest.warns(UserWarning):                       # zipfile: duplicate name
            rezip(entry, good)
            with zipfile.ZipFile(entry, "a") as archive:
                archive.writestr("curves.npy", npy(FRESH + 1))
    else:
        rezip(entry, parts[edit])
    assert_recomputed(entry, computed, "is damaged")


def test_a_compressed_archive_with_the_same_content_still_proves_itself(entry, computed):
    with np.load(entry) as npz:
        curves, meta = npz["curves"], npz["meta"]
    with open(entry, "wb") as fh:
        np.savez_compressed(fh, curves=curves, meta=meta)
    curves, messages = serve(entry.parent)
    assert_same(curves)
    assert not messages and not computed


# ==================================================================== older entries, odd files

@pytest.mark.parametrize("old", [FRESH, FRESH * 2, FRESH.astype(np.float32), FRESH[:, :3]],
                         ids=["same-curves", "other-curves", "float32", "narrower"])
def test_an_entry_of_older_minil2o_without_checksum_is_recomputed(entry, computed, old):
    """Entries written before the checksum (a bare .npy array under the same name) are never
    trusted, even when they hold the right numbers: recomputed once, then replaced."""
    np.save(entry, old)
    assert_recomputed(entry, computed, "is stale", "without checksum")


def test_special_files_at_the_entry_path(entry, computed, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.npy"
    outside.write_bytes(b"garbage")
    for make in (lambda: os.mkfifo(entry), lambda: os.symlink(outside, entry),
                 lambda: os.symlink(tmp_path / "missing", entry)):
        entry.unlink()
        make()
        assert_recomputed(entry, computed, "is damaged")          # no hang on the FIFO
        assert entry.is_file() and not entry.is_symlink()
    assert outside.read_bytes() == b"garbage"                       # a link's target untouched


def test_an_entry_over_the_read_limit_is_not_read(entry, computed, monkeypatch):
    monkeypatch.setenv("MINIL2O_MAX_READ_BYTES", "64")
    curves, messages = serve(entry.parent)
    assert_same(curves)
    assert len(messages) == 1 and "more than the read limit of 64" in messages[0]


# ==================================================================== whole or not at all

def test_a_failed_write_leaves_the_old_entry_and_no_temporary_file(entry, computed, monkeypatch):
    good = entry.read_bytes()

    def half_then_fail(fh, **arrays):
        fh.write(good[:100])
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_entry(str(entry), FRESH * 2, {})
    assert entry.read_bytes() == good and os.listdir(entry.parent) == [entry.name]


KILLED_WRITER = """
import sys, numpy as np
from minil2o.experiments.runner import write_entry
curves = np.random.default_rng(0).normal(size=(400, 2000))
print("ready", flush=True)
while True:
    write_entry(sys.argv[1], curves, {"steps": 1999})
"""


def test_a_writer_killed_at_random_instants_leaves_a_whole_entry_or_none(tmp_path):
    path = tmp_path / "entry.npy"
    for _ in range(4):
        child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=REPO,
                                 stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": REPO})
        child.stdout.readline()
        time.sleep(float(RNG.uniform(0.05, 0.6)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        if path.exists():
            curves = runner.read_entry(path, {"steps": 1999}, 2000)
            assert curves.shape == (400, 2000)


# ==================================================================== the command line, the tool

def reproduce_numbers(capsys, cache, out):
    code, printed, err = run_cli(capsys, "reproduce", "dm-fig4-quadratic", "--quick",
                                 "--cache", cache, "--out", out)
    assert code == 0, err
    numbers = json.loads((out / "dm-fig4-quadratic.json").read_text())
    numbers.pop("seconds", None)
    return numbers, printed


def test_reproduce_twice_gives_the_same_numbers_and_reads_the_cache(tmp_path, capsys, computed):
    first, _ = reproduce_numbers(capsys, tmp_path / "cache", tmp_path / "a")
    made = len(computed)
    second, printed = reproduce_numbers(capsys, tmp_path / "cache", tmp_path / "b")
    assert made and len(computed) == made and second == first and "warning" not in printed
    victim = sorted((tmp_path / "cache").iterdir())[0]
    raw = bytearray(victim.read_bytes())
    raw[raw.index(b"\n", raw.index(b"\x93NUMPY")) + 4] ^= 4      # a bit of the first curve
    victim.write_bytes(bytes(raw))
    third, printed = reproduce_numbers(capsys, tmp_path / "cache", tmp_path / "c")
    warnings = [line for line in printed.splitlines() if "warning" in line]
    assert third == first and len(computed) == made + 1
    assert len(warnings) == 1 and victim.name in warnings[0] and "recomputing it" in warnings[0]


def test_regenerate_results_warms_a_cache_that_reproduce_reads(tmp_path, capsys, computed):
    regenerate = tool_module("regenerate_results")
    regenerate.warm_panel("dm-fig4-quadratic", 0, str(tmp_path / "cache"),
                                 str(tmp_path / "out"), quick=True)
    warmed = len(computed)
    fresh, _ = reproduce_numbers(capsys, tmp_path / "fresh", tmp_path / "a")
    computed.clear()
    numbers, printed = reproduce_numbers(capsys, tmp_path / "cache", tmp_path / "b")
    assert warmed and numbers == fresh and not computed and "warning" not in printed
