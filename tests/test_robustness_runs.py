"""Robustness of run folders: one writer at a time (a lock that a dead process does not hold
forever), no run overwritten without --overwrite, only a run's own temporary files cleaned up, and
a checkpoint's two files moving together.

docs/ROBUSTNESS.md lists each case with the test that checks it.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import REPO, TINY, assert_one_line, run_cli, run_subprocess, tiny_config
from minil2o.files import checkpoint
from minil2o.errors import UsageError
from minil2o.files.runlock import LOCK_NAME, RunLock, process_start
from minil2o.training.train import Trainer
from test_resume import assert_same_checkpoints


def quiet(config, out_dir, **kwargs):
    return Trainer(config, out_dir=out_dir, log=lambda *_: None, **kwargs)


def file_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def dead_pid():
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_lock(folder, **content):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps(content))


# ====================================================================== never overwritten

def test_train_into_a_folder_holding_a_run_is_refused(capsys, tmp_path):
    assert run_cli(capsys, "train", *TINY, "--out", tmp_path)[0] == 0
    before = file_bytes(tmp_path)
    code, _, err = run_cli(capsys, "train", *TINY, "--seed", 5, "--out", tmp_path)
    assert code == 2
    assert_one_line(err, "already holds a run", "--resume", "--overwrite")
    assert file_bytes(tmp_path) == before                       # nothing touched
    code, _, err = run_cli(capsys, "train", *TINY, "--resume", "--overwrite", "--out", tmp_path)
    assert code == 2
    assert_one_line(err, "--resume", "--overwrite", "one of them")
    assert run_cli(capsys, "train", *TINY, "--seed", 5, "--overwrite", "--out", tmp_path)[0] == 0
    assert checkpoint.load(tmp_path / "optimizer.npz")[1]["config"]["seed"] == 5


def test_library_overwrite_policy(tmp_path):
    """Trainer(overwrite=False) refuses a run already there; None (the default) and True replace
    it, removing the old files first (a kill before the first save cannot resume the old run)."""
    quiet(tiny_config(epochs=1), tmp_path).run(progress=False)
    with pytest.raises(UsageError, match="already holds a run"):
        quiet(tiny_config(epochs=1), tmp_path, overwrite=False)
    quiet(tiny_config(epochs=1, seed=3), tmp_path)                  # not run: nothing saved yet
    assert not (tmp_path / "train_state.npz").exists()
    assert not (tmp_path / LOCK_NAME).exists()                      # released when collected


# ====================================================================== one writer at a time

def test_a_second_writer_is_refused_while_the_first_runs(capsys, tmp_path):
    first = quiet(tiny_config(epochs=1), tmp_path)                # holds the lock until it ends
    with pytest.raises(UsageError, match=f"in use by process {os.getpid()}"):
        quiet(tiny_config(epochs=1), tmp_path)
    code, _, err = run_cli(capsys, "train", *TINY, "--resume", "--out", tmp_path)
    assert code == 2                                  # a second --resume does not kill the first
    assert_one_line(err, "in use by process", LOCK_NAME)
    first.run(progress=False)
    assert not (tmp_path / LOCK_NAME).exists()
    quiet(tiny_config(epochs=1), tmp_path, resume=True).run(progress=False)


def test_a_second_process_cannot_resume_a_running_run(tmp_path):
    """A real run in another process: `--resume` into its folder while it runs is refused with
    its pid, and the first run still ends normally."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (REPO, os.environ.get("PYTHONPATH")) if p))
    first = subprocess.Popen([sys.executable, "-m", "minil2o", "train", *TINY, "--epochs", "5000",
                              "--out", str(tmp_path)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    while not (tmp_path / LOCK_NAME).exists():
        assert first.poll() is None, first.communicate()[1]
        time.sleep(0.01)
    code, _, err = run_subprocess(["train", *TINY, "--epochs", "5000", "--resume", "--out",
                                   str(tmp_path)], {})
    assert first.poll() is None, "the first run ended before the second started"
    first.send_signal(signal.SIGINT)                         # ends it (code 130) early
    assert first.wait(timeout=60) == 130
    assert code == 2
    assert_one_line(err, f"in use by process {first.pid}")
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_dead_process_lock_is_taken_over_with_a_warning(tmp_path):
    host, messages = socket.gethostname(), []
    write_lock(tmp_path, pid=dead_pid(), host=host, token="x", started=None)
    Trainer(tiny_config(epochs=1), out_dir=tmp_path, log=messages.append).run(progress=False)
    assert any("taking over the lock" in m and "no longer running" in m for m in messages)
    # a live pid that now belongs to another program (its start time differs): taken over too
    started = process_start(os.getpid())
    if started is not None:
        write_lock(tmp_path, pid=os.getpid(), host=host, token="y", started=started + 1)
        quiet(tiny_config(epochs=1), tmp_path, resume=True).run(progress=False)
        assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_of_another_host_or_being_written_is_refused(tmp_path):
    write_lock(tmp_path, pid=dead_pid(), host="elsewhere.example", token="x")
    with pytest.raises(UsageError, match="on 'elsewhere.example'"):
        quiet(tiny_config(epochs=1), tmp_path)
    (tmp_path / LOCK_NAME).write_bytes(b"")                         # just created, not written
    with pytest.raises(UsageError, match="not written yet"):
        quiet(tiny_config(epochs=1), tmp_path)
    old = time.time() - 3600                                        # ... and never written
    os.utime(tmp_path / LOCK_NAME, (old, old))
    quiet(tiny_config(epochs=1), tmp_path).run(progress=False)
    assert (tmp_path / "train_state.npz").exists()


def test_release_leaves_a_lock_that_is_not_its_own(tmp_path):
    lock = RunLock(tmp_path, log=lambda *_: None).acquire()
    write_lock(tmp_path, pid=os.getpid(), host=socket.gethostname(), token="someone else")
    lock.release()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["token"] == "someone else"


# ====================================================================== cleaning up

def test_resume_removes_only_its_own_temporary_files(tmp_path):
    """A folder whose name is a glob pattern (run[ab]) does not reach into runa/; a temporary file
    of another program in the run folder itself is kept too."""
    run, neighbour = tmp_path / "run[ab]", tmp_path / "runa"
    quiet(tiny_config(epochs=1), run).run(progress=False)
    neighbour.mkdir()
    theirs = [neighbour / ".train_state.npz.tmp", neighbour / ".tmp-x.npz", run / ".tmp-y.npz"]
    for path in theirs:
        path.write_bytes(b"someone else's")
    (run / ".train_state.npz.tmp").write_bytes(b"cut short")
    quiet(tiny_config(epochs=2), run, resume=True).run(progress=False)
    assert all(path.read_bytes() == b"someone else's" for path in theirs)
    assert not (run / ".train_state.npz.tmp").exists()


# ====================================================================== files that move together

class Killed(BaseException):
    """Stands for a SIGKILL at one instant (raised where the process would have died)."""


def kill_at_replace(monkeypatch, number):
    """Make the number-th os.replace from now on "kill" the process before it renames."""
    real, calls = os.replace, [0]

    def replace(*args, **kwargs):
        calls[0] += 1
        if calls[0] == number:
            monkeypatch.setattr(os, "replace", real)
            raise Killed
        return real(*args, **kwargs)
    monkeypatch.setattr(os, "replace", replace)


def test_a_kill_between_the_last_epochs_two_renames_is_repaired(tmp_path, monkeypatch):
    """optimizer.npz is renamed first, train_state.npz last; a kill between the two leaves the
    state of epoch 1 beside the optimizer of epoch 2, and --resume redoes epoch 2: both files end
    as an uninterrupted run's."""
    quiet(tiny_config(), tmp_path / "reference").run(progress=False)
    cut = quiet(tiny_config(), tmp_path / "cut")
    kill_at_replace(monkeypatch, 4)               # epoch 1: 1, 2; epoch 2: optimizer 3, state 4
    with pytest.raises(Killed):
        cut.run(progress=False)
    assert checkpoint.load(tmp_path / "cut" / "optimizer.npz")[1]["epoch"] == 2
    assert checkpoint.load(tmp_path / "cut" / "train_state.npz")[1]["epoch"] == 1
    quiet(tiny_config(), tmp_path / "cut", resume=True).run(progress=False)
    assert_same_checkpoints(tmp_path / "reference", tmp_path / "cut")
    assert not [p for p in (tmp_path / "cut").iterdir() if p.name.endswith(".tmp")]


def test_a_stale_optimizer_beside_a_finished_state_is_rewritten(tmp_path):
    """A folder where train_state.npz is finished but optimizer.npz is older (or missing, or
    damaged): resuming the finished run rewrites optimizer.npz instead of reporting success."""
    quiet(tiny_config(), tmp_path / "reference").run(progress=False)
    quiet(tiny_config(epochs=1), tmp_path / "old").run(progress=False)
    run = tmp_path / "run"
    quiet(tiny_config(), run).run(progress=False)
    for damage in ("stale", "missing", "damaged"):
        if damage == "stale":
            (tmp_path / "old" / "optimizer.npz").replace(run / "optimizer.npz")
        elif damage == "missing":
            (run / "optimizer.npz").unlink()
        else:
            (run / "optimizer.npz").write_bytes(b"PK\x03\x04 not a zip")
        messages = []
        Trainer(tiny_config(), out_dir=run, resume=True, log=messages.append).run(progress=False)
        assert any("rewritten" in m for m in messages), damage
        assert_same_checkpoints(tmp_path / "reference", run)


def test_a_failed_write_of_either_file_leaves_the_previous_pair(tmp_path, monkeypatch):
    quiet(tiny_config(epochs=1), tmp_path).run(progress=False)
    before = file_bytes(tmp_path)
    real, calls = np.savez, [0]

    def savez(*args, **kwargs):               # the first file writes, the second fails
        calls[0] += 1
        if calls[0] == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)
    monkeypatch.setattr(np, "savez", savez)
    with pytest.raises(OSError, match="disk full"):
        quiet(tiny_config(epochs=2), tmp_path, resume=True).run(progress=False)
    assert file_bytes(tmp_path) == before                      # no temporary file, no lock
