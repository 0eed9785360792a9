"""Robustness, categories "work lost" and "nothing hangs": `--resume` never starts over a folder
holding a run it cannot resume, no write follows a symbolic link (or waits on a FIFO) at any
name a run writes, nothing at the lock path (special files, absurd pids) hangs or crashes, and a
resume killed at every file-system call of its saves leaves the optimizer whole and resumes
bitwise. Each case is generated over its variants (every kind of file, every damage, every pid
nobody would write), not only the one an issue named.

docs/ROBUSTNESS.md lists the categories with the tests that prove them.
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import time

import pytest

from helpers import TINY, assert_one_line, run_cli
from minil2o.cli import main
from minil2o.errors import UsageError
from minil2o.files import checkpoint
from minil2o.files.atomic import atomic_file, replace_with, special_file, write_pending
from minil2o.files.runlock import LOCK_NAME, MAX_PID, RunLock, process_alive
from test_resume import assert_same_checkpoints, killable

RUN_NAMES = ("optimizer.npz", "train_state.npz", ".optimizer.npz.tmp", ".train_state.npz.tmp")


@contextlib.contextmanager
def no_hang(seconds=20):
    """Fail, instead of hanging the suite, when the block runs longer than `seconds`."""
    def alarm(signum, frame):
        raise AssertionError(f"hung for more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cli(capsys, *argv):
    with no_hang():
        return run_cli(capsys, "train", *TINY, *argv)


def snapshot(*folders):
    """Every entry under the folders: a file's bytes, a link's target, a special file's kind."""
    found = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = os.path.join(root, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    found[path] = special_file(path)
                else:
                    with open(path, "rb") as fh:
                        found[path] = fh.read()
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Finished tiny runs to copy: 1 and 2 epochs of TINY, and 1 epoch of another seed."""
    base = tmp_path_factory.mktemp("runs")
    for name, extra in (("one", []), ("two", ["--epochs", "2"]), ("seed5", ["--seed", "5"])):
        assert main([str(a) for a in ("train", *TINY, *extra, "--out", base / name)]) == 0
    return base


def place(kind, path, outside):
    """Put an entry of `kind` at path (outside: a folder beside the run for link targets)."""
    if kind == "missing":
        return
    if kind == "folder":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        bind_socket(path)
    elif kind == "dangling-link":
        os.symlink(outside / "nothing-here", path)
    elif kind == "link-to-file":
        (outside / "target").write_bytes(b"the user's file, not the run's")
        os.symlink(outside / "target", path)
    elif kind == "link-to-folder":
        (outside / "folder").mkdir(exist_ok=True)
        os.symlink(outside / "folder", path)
    elif kind == "link-to-fifo":
        os.mkfifo(outside / "fifo")
        os.symlink(outside / "fifo", path)
    else:
        raise ValueError(kind)


def bind_socket(path):
    """A Unix socket at path (bound from its folder: socket paths are limited to 108 bytes)."""
    here = os.getcwd()
    os.chdir(os.path.dirname(path))
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(os.path.basename(path))
        sock.close()
    finally:
        os.chdir(here)


SPECIAL_KINDS = ("folder", "fifo", "socket", "dangling-link", "link-to-file", "link-to-folder",
                 "link-to-fifo")


# ====================================================================== work lost: --resume

def damaged_states(tmp_path, runs):
    """{name: bytes} of train_state.npz variants that cannot be resumed, generated."""
    good = (runs / "two" / "train_state.npz").read_bytes()
    variants = {"empty": b"", "random": os.urandom(len(good)),
                "optimizer-file": (runs / "two" / "optimizer.npz").read_bytes(),
                "other-config": (runs / "seed5" / "train_state.npz").read_bytes()}
    for cut in (1, 10, len(good) // 3, len(good) // 2, len(good) - 5, len(good) - 1):
        variants[f"truncated-{cut}"] = good[:cut]
    for at in (0, 40, len(good) // 2, len(good) - 30):
        flipped = bytearray(good)
        flipped[at] ^= 0xFF
        variants[f"flipped-{at}"] = bytes(flipped)
    return variants


@pytest.mark.parametrize("optimizer", ["trained", "missing"])
def test_resume_refuses_a_state_it_cannot_read(capsys, tmp_path, runs, optimizer):
    """Every damaged train_state.npz (each damage, beside a trained optimizer.npz or alone):
    `--resume` is refused in one line saying how to go on; nothing in the folder changes."""
    for name, data in damaged_states(tmp_path, runs).items():
        folder = tmp_path / name
        shutil.copytree(runs / "two", folder)
        if optimizer == "missing":
            os.remove(folder / "optimizer.npz")
        (folder / "train_state.npz").write_bytes(data)
        before = snapshot(folder)
        code, _, err = cli(capsys, "--epochs", 2, "--resume", "--out", folder)
        assert code == 2, (name, err)
        how = "same settings" if name == "other-config" else "--overwrite"
        assert_one_line(err, "train_state.npz", how, "--out")
        assert snapshot(folder) == before, name


@pytest.mark.parametrize("state", ("missing",) + SPECIAL_KINDS)
def test_resume_never_starts_over_a_trained_optimizer(capsys, tmp_path, runs, state):
    """A trained optimizer.npz (2 epochs) beside no usable train_state.npz (missing, a link,
    a folder, a FIFO...): refused in one line, the optimizer and any link's target untouched;
    --overwrite then replaces the run (the link itself, never its target)."""
    folder, outside = tmp_path / "run", tmp_path / "outside"
    outside.mkdir()
    shutil.copytree(runs / "two", folder)
    os.remove(folder / "train_state.npz")
    place(state, str(folder / "train_state.npz"), outside)
    before = snapshot(folder, outside)
    code, _, err = cli(capsys, "--epochs", 3, "--resume", "--out", folder)
    assert code == 2
    assert_one_line(err, "train_state.npz", "--out")
    assert snapshot(folder, outside) == before
    code, _, err = cli(capsys, "--epochs", 3, "--overwrite", "--out", folder)
    if state == "folder":
        assert code == 2
        assert_one_line(err, "is a folder", "move it away")
    else:
        assert code == 0, err
        assert special_file(folder / "train_state.npz") is None
        assert snapshot(outside) == {k: v for k, v in before.items() if str(outside) in k}


@pytest.mark.parametrize("variant", ["epoch-2", "other-seed", "truncated", "epoch-1-same"])
def test_an_optimizer_without_its_state(capsys, tmp_path, runs, variant):
    """optimizer.npz alone: only epoch 1 of this very configuration (what a kill between the
    first save's two renames leaves) starts again, ending as a run never stopped; any other
    (later epoch, other settings, unreadable) is refused, the file untouched."""
    folder = tmp_path / "run"
    source = {"epoch-2": "two", "other-seed": "seed5"}.get(variant, "one")
    shutil.copytree(runs / source, folder)
    os.remove(folder / "train_state.npz")
    if variant == "truncated":
        (folder / "optimizer.npz").write_bytes((runs / "one" / "optimizer.npz").read_bytes()[:99])
    before = snapshot(folder)
    code, out, err = cli(capsys, "--resume", "--out", folder)
    if variant == "epoch-1-same":
        assert code == 0, err
        assert_same_checkpoints(runs / "one", folder)
    else:
        assert code == 2
        assert_one_line(err, "holds optimizer.npz but no train_state.npz", "--overwrite", "--out")
        assert snapshot(folder) == before


@pytest.mark.parametrize("where", ["missing", "empty", "other-files"])
def test_resume_into_a_folder_without_a_run_starts_one(capsys, tmp_path, runs, where):
    """Nothing of a run there (no folder, an empty one, files of no run, a run's temporary
    files): --resume starts a new run, says so, and ends as a plain run."""
    folder = tmp_path / "run"
    if where != "missing":
        folder.mkdir()
    if where == "other-files":
        (folder / "notes.txt").write_text("mine")
        (folder / ".optimizer.npz.tmp").write_bytes(b"PK half written")
    code, out, err = run_cli(capsys, "train", *TINY[:-1], "--resume", "--out", folder)
    assert code == 0, err
    assert "nothing to resume" in out + err
    assert_same_checkpoints(runs / "one", folder)
    assert where != "other-files" or (folder / "notes.txt").read_text() == "mine"


# ====================================================================== work lost: links

@pytest.mark.parametrize("name", RUN_NAMES)
@pytest.mark.parametrize("kind", SPECIAL_KINDS)
@pytest.mark.parametrize("mode", ["plain", "resume", "overwrite"])
def test_no_write_follows_a_link_at_any_name_a_run_writes(capsys, tmp_path, runs, name, kind,
                                                          mode):
    """A link (to a file, folder or FIFO outside, or dangling), a folder, FIFO or socket at any
    name a run writes: plain and --resume are refused in one line naming it, before any work;
    --overwrite removes the entry itself (a folder is refused); no link's target ever changes."""
    folder, outside = tmp_path / "run", tmp_path / "outside"
    outside.mkdir()
    shutil.copytree(runs / "one", folder)
    path = folder / name
    if path.exists():
        os.remove(path)
    place(kind, str(path), outside)
    before_outside = snapshot(outside)
    flags = {"plain": [], "resume": ["--resume"], "overwrite": ["--overwrite"]}[mode]
    code, _, err = cli(capsys, "--epochs", 2, *flags, "--out", folder)
    assert snapshot(outside) == before_outside
    if mode == "overwrite" and kind != "folder":
        assert code == 0, err
        assert all(special_file(folder / n) is None for n in RUN_NAMES)
    else:
        assert code == 2
        assert_one_line(err, str(path), "is a", "--out")


@pytest.mark.parametrize("kind", SPECIAL_KINDS)
def test_atomic_writes_never_go_through_a_special_temporary_name(tmp_path, kind):
    """A fixed temporary name holding anything but a regular file is refused (UsageError, at
    once: a FIFO is not waited on); a target that is a link is replaced by the new file, its
    target untouched; replace_with removes a link planted at its temporary name."""
    outside = tmp_path / "outside"
    outside.mkdir()
    place(kind, str(tmp_path / ".x.tmp"), outside)
    before = snapshot(outside)
    with no_hang(), pytest.raises(UsageError, match=r"\.x\.tmp is a"):
        write_pending(tmp_path / "x", lambda fh: fh.write(b"new"), tmp=str(tmp_path / ".x.tmp"))
    assert snapshot(outside) == before
    if kind.startswith("link"):
        os.symlink(outside / "target-of-y", tmp_path / "y")
        with atomic_file(tmp_path / "y") as fh:
            fh.write(b"new")
        assert (tmp_path / "y").read_bytes() == b"new" and not os.path.islink(tmp_path / "y")
        assert not (outside / "target-of-y").exists()
        planted = tmp_path / f".fig.{os.getpid()}.tmp.png"
        os.symlink(outside / "victim.png", planted)
        (outside / "victim.png").write_bytes(b"keep")
        replace_with(tmp_path / "fig.png", lambda tmp: open(tmp, "wb").write(b"png"))
        assert (outside / "victim.png").read_bytes() == b"keep"
        assert (tmp_path / "fig.png").read_bytes() == b"png"


# ====================================================================== nothing hangs: the lock

@pytest.mark.parametrize("kind", SPECIAL_KINDS + ("device",))
def test_a_special_file_at_the_lock_path_is_refused_at_once(capsys, tmp_path, kind):
    """A FIFO, socket, folder, device or link (dangling, to a file, folder or FIFO) at
    .minil2o.lock: one line naming the lock path, at once; the entry is left as it is."""
    folder, outside = tmp_path / "run", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    lock = folder / LOCK_NAME
    if kind == "device":
        try:
            os.mknod(lock, stat.S_IFCHR | 0o600, os.makedev(1, 3))    # what /dev/null is
        except PermissionError:
            pytest.skip("creating a device node needs privileges")
    else:
        place(kind, str(lock), outside)
    before = snapshot(folder, outside)
    code, _, err = cli(capsys, "--out", folder)
    assert code == 2
    assert_one_line(err, str(lock), "not a lock file", "remove it")
    assert snapshot(folder, outside) == before


BAD_PIDS = [2 ** 41, 2 ** 31, MAX_PID + 1, 2 ** 63, 2 ** 64, 10 ** 30, -1, -2 ** 41, 0, 1.5,
            1e308, "123", "", None, True, False, [], {}, [1234]]
NOT_OBJECTS = ["123", "[1]", "null", '"lock"', "true", "1e400"]


@pytest.mark.parametrize("content", [json.dumps({"pid": p, "host": socket.gethostname(),
                                                 "token": "t"}) for p in BAD_PIDS]
                         + [json.dumps({"host": socket.gethostname()})] + NOT_OBJECTS)
def test_a_lock_naming_no_valid_pid_is_taken_over(tmp_path, content):
    """A lock whose pid is no process id (huge, negative, 0, a float, a string, null...) or whose
    JSON is not an object: no process can hold it; taken over at once with a warning naming it,
    never an OverflowError."""
    (tmp_path / LOCK_NAME).write_text(content)
    messages = []
    with no_hang():
        lock = RunLock(tmp_path, log=messages.append).acquire()
    assert len(messages) == 1 and "taking over the lock" in messages[0]
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


NOT_JSON = [b"", b"{", b'{"pid": 12', b"garbage", b"\xff\xfe\x00", b"x" * 100_000,
            b'{"pid": 1' + b"0" * 5000 + b"}"]


@pytest.mark.parametrize("raw", NOT_JSON, ids=range(len(NOT_JSON)))
def test_a_lock_that_is_not_json_waits_its_grace_then_is_taken_over(tmp_path, raw):
    """Text that is not JSON may be a lock being written: refused in one line while young,
    taken over once old; never a crash."""
    path = tmp_path / LOCK_NAME
    path.write_bytes(raw)
    with no_hang(), pytest.raises(UsageError, match="not written yet"):
        RunLock(tmp_path, log=lambda *_: None).acquire()
    old = time.time() - 3600
    os.utime(path, (old, old))
    RunLock(tmp_path, log=lambda *_: None).acquire().release()
    assert not path.exists()


def test_huge_pids_are_not_alive_and_the_cli_takes_their_lock(capsys, tmp_path):
    """process_alive is False for pids no process can have; `train` over a lock of pid 2**41
    runs, with one warning."""
    for pid in (2 ** 41, 2 ** 63, 10 ** 30):
        assert process_alive(pid, None) is False
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 2 ** 41, "host": socket.gethostname()}))
    code, out, err = cli(capsys, "--out", tmp_path)
    assert code == 0, err
    assert "taking over the lock" in out + err and "OverflowError" not in out + err


# ====================================================================== kills

def test_resume_killed_at_every_call_of_its_saves_keeps_the_optimizer(tmp_path):
    """A half-finished folder (3 epochs of 4), resumed and SIGKILLed at each file-system call in
    turn (a fresh copy each time): what is left always loads, its optimizer.npz is the epoch-3
    one bitwise or a whole epoch-4 one, and a plain --resume then ends bitwise as a run never
    stopped. Then the same for a new run killed at each call of its first save: --resume ends
    bitwise, never refused and never starting over a later epoch."""
    reference = killable(tmp_path / "reference", 4, resume=False, wait=False)
    half = tmp_path / "half"
    assert killable(half, 3, resume=False) == 0
    optimizer3 = (half / "optimizer.npz").read_bytes()
    assert reference.wait(timeout=120) == 0
    seen = []
    for kill_at in range(1, 40):
        victim = tmp_path / f"resume-{kill_at}"
        shutil.copytree(half, victim)
        if killable(victim, 4, kill_at) == 0:
            break
        epochs = [checkpoint.load(victim / n)[1]["epoch"] for n in ("optimizer.npz",
                                                                    "train_state.npz")]
        assert epochs in ([3, 3], [4, 3], [4, 4]), (kill_at, epochs)
        seen.append(epochs)
        assert epochs[0] == 4 or (victim / "optimizer.npz").read_bytes() == optimizer3
        assert killable(victim, 4) == 0
        assert_same_checkpoints(tmp_path / "reference", victim)
        shutil.rmtree(victim)
    assert kill_at > 12 and [4, 3] in seen, "the sweep missed the window between the renames"
    one = tmp_path / "one"
    assert killable(one, 1, resume=False) == 0
    alone = 0
    for kill_at in range(1, 40):
        victim = tmp_path / f"first-{kill_at}"
        if killable(victim, 1, kill_at, resume=False) == 0:
            break
        alone += (victim / "optimizer.npz").exists() and not (victim / "train_state.npz").exists()
        assert killable(victim, 1) == 0
        assert_same_checkpoints(one, victim)
        shutil.rmtree(victim)
    assert alone >= 1, "no kill fell between the first save's two renames"
