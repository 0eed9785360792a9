"""Faults during training and determinism: a run killed at any moment (SIGKILL) and resumed with
`minil2o train --resume` ends with bitwise the same checkpoints as a run never stopped; the same
seed gives the same numbers on one backend; numpy and array_api_strict agree to float tolerance.
"""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import helpers
import minil2o
from minil2o.files import checkpoint
from minil2o.backend import to_numpy
from minil2o.evaluation.evaluate import learning_curves
from minil2o.optimizers.hand import Adam
from minil2o.problems import QuadraticFamily
from minil2o.training.train import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILL_RUN = ["train", "--problem", "quadratic", "--problem-arg", "num_functions=4",
            "--horizon", "20", "--unroll", "5", "--epochs", "12", "--problems-per-epoch", "2",
            "--validation-problems", "2", "--seed", "7", "--quiet"]


def assert_same_checkpoints(dir_a, dir_b):
    """optimizer.npz and train_state.npz of two runs hold bitwise the same arrays and metadata."""
    for name in ("optimizer.npz", "train_state.npz"):
        arrays_a, meta_a = checkpoint.load(os.path.join(dir_a, name))
        arrays_b, meta_b = checkpoint.load(os.path.join(dir_b, name))
        assert sorted(arrays_a) == sorted(arrays_b)
        for key in arrays_a:
            a, b = arrays_a[key], arrays_b[key]
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), \
                f"{name}: {key} differs"
        assert meta_a == meta_b, name


def start_training(out_dir, resume=False, stderr=subprocess.DEVNULL):
    paths = [p for p in (REPO, os.environ.get("PYTHONPATH")) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    argv = [sys.executable, "-m", "minil2o", *KILL_RUN, "--out", str(out_dir)]
    return subprocess.Popen(argv + (["--resume"] if resume else []), env=env,
                            stdout=subprocess.DEVNULL, stderr=stderr)


def wait_for_new_checkpoint(path, proc, old_inode, timeout=60.0):
    """Poll until `path` exists with an inode other than old_inode (each save renames a fresh file
    into place); returns False when the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.stat(path).st_ino != old_inode:
                return True
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError(f"no checkpoint at {path} after {timeout} s")


def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(tmp_path):
    reference = start_training(tmp_path / "reference")          # runs beside the victim
    victim, path = tmp_path / "victim", tmp_path / "victim" / "train_state.npz"
    chance = random.Random()
    proc, kills, log = start_training(victim), 0, []
    for _ in range(2):
        inode = os.stat(path).st_ino if path.exists() else None
        if wait_for_new_checkpoint(path, proc, inode):
            delay = chance.uniform(0.0, 0.4)
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                epoch = checkpoint.load(path)[1]["epoch"]       # what is on disk is whole
                log.append(f"killed {delay:.3f} s after a checkpoint, on disk: epoch {epoch}")
        proc.wait()
        proc = start_training(victim, resume=True, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert reference.wait(timeout=120) == 0
    print("\n".join(log))                          # shown by pytest if the comparison fails
    assert kills >= 1, "the run ended before it could be killed"
    assert_same_checkpoints(tmp_path / "reference", victim)


# A run of 4 tiny epochs; each resume of its last epoch makes 13 counted file-system calls.
SWEEP_RUN = ["train", "--problem", "quadratic", "--problem-arg", "num_functions=2", "--problem-arg",
             "dim=3", "--optimizer-arg", "hidden=4", "--horizon", "10", "--unroll", "5",
             "--problems-per-epoch", "2", "--validation-problems", "2", "--seed", "11", "--quiet"]


def killable(out_dir, epochs, kill_at=0, resume=True, wait=True):
    """`minil2o train` (SWEEP_RUN) into out_dir that kills itself at its kill_at-th file-system
    call (tests/kill_at_write.py); returns the exit code (-9: killed), or the process."""
    paths = [p for p in (REPO, os.environ.get("PYTHONPATH")) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), KILL_AT=str(kill_at))
    argv = [sys.executable, os.path.join(REPO, "tests", "kill_at_write.py"), *SWEEP_RUN,
            "--epochs", str(epochs), "--out", str(out_dir)] + (["--resume"] if resume else [])
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait:
        return proc
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, -signal.SIGKILL), err.decode()
    return proc.returncode


def on_disk(folder):
    """What a kill left: the epochs of optimizer.npz and train_state.npz, temporary files."""
    epochs = []
    for name in ("optimizer.npz", "train_state.npz"):
        path = folder / name
        epochs.append(checkpoint.load(path)[1]["epoch"] if path.exists() else None)
    return epochs, sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_killed_at_every_write_of_the_last_epoch_and_at_random_moments(tmp_path):
    """At least 20 SIGKILLs: one at each file-system call of a resume that trains the last epoch
    and saves it (13 instants, between the two renames included), then random ones (at a random
    call, or after a random time) in a second run; every resume ends bitwise identical to an
    uninterrupted run."""
    epochs, chance = 4, random.Random()
    reference = killable(tmp_path / "reference", epochs, resume=False, wait=False)
    sweep, left = tmp_path / "sweep", []
    assert killable(sweep, epochs - 1, resume=False) == 0      # 3 epochs; the 4th is swept
    for kill_at in range(1, 40):
        if killable(sweep, epochs, kill_at) == 0:
            break
        left.append(on_disk(sweep))
    assert kill_at > 13, "the sweep ended before the last epoch's saves"
    assert ([3, 3], [".optimizer.npz.tmp"]) in left           # the first file written
    assert ([4, 3], [".train_state.npz.tmp"]) in left          # between the two renames
    victim, log = tmp_path / "random", []
    while len(left) + sum("killed" in line for line in log) < 24 and len(log) < 40:
        if chance.random() < 0.7:                  # a process makes 4-9 calls, then 8 an epoch
            kill_at = chance.randint(1, 14)
            code = killable(victim, epochs, kill_at)
            log.append(f"at call {kill_at}: {'killed' if code else 'finished'}, {on_disk(victim)}")
        else:
            proc, delay = killable(victim, epochs, wait=False), chance.uniform(0.5, 1.5)
            time.sleep(delay)
            proc.kill()
            code = proc.wait()
            log.append(f"after {delay:.2f} s: {'killed' if code else 'finished'}")
    assert killable(victim, epochs) == 0
    assert reference.wait(timeout=120) == 0
    print("\n".join(log))                          # shown by pytest if the comparison fails
    assert_same_checkpoints(tmp_path / "reference", sweep)
    assert_same_checkpoints(tmp_path / "reference", victim)


def tiny_config(**changes):
    """The shared tiny run (tests/helpers.py), with 3 epochs."""
    return helpers.tiny_config(**{"epochs": 3, **changes})


def run(config, out_dir=None, **kwargs):
    trainer = Trainer(config, out_dir=out_dir, log=lambda *_: None, **kwargs)
    trainer.run(progress=False)
    return trainer


@pytest.mark.parametrize("optimizer", ["dm", "rnnprop"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, optimizer):
    config = tiny_config(optimizer=optimizer, random_scaling=1.0 if optimizer == "rnnprop" else 0.0,
                         selection="train-average" if optimizer == "rnnprop" else "validation")
    run(config, tmp_path / "reference")
    cut = Trainer(config, out_dir=tmp_path / "cut", log=lambda *_: None)
    original, calls = cut.train_problem, [0]

    def train_problem(index):                    # interrupted in epoch 2, in its second problem
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt
        return original(index)
    cut.train_problem = train_problem
    with pytest.raises(KeyboardInterrupt):
        cut.run(progress=False)
    (tmp_path / "cut" / ".tmp-left-by-a-kill.npz").write_bytes(b"half a file")
    resumed = Trainer(config, out_dir=tmp_path / "cut", resume=True, log=lambda *_: None)
    assert resumed.epoch == 1
    resumed.run(progress=False)
    assert_same_checkpoints(tmp_path / "reference", tmp_path / "cut")
    done = run(config, tmp_path / "reference", resume=True)     # a finished run stays finished
    assert done.epoch == 3
    assert_same_checkpoints(tmp_path / "reference", tmp_path / "cut")


def host(phi):
    return {k: to_numpy(v).copy() for k, v in phi.items()}


def test_same_seed_same_numbers():
    a, b = run(tiny_config(seed=3)), run(tiny_config(seed=3))
    for k, v in host(a.phi).items():
        assert v.tobytes() == to_numpy(b.phi[k]).tobytes()
    assert a.history == b.history
    c = run(tiny_config(seed=4))
    assert not np.array_equal(to_numpy(a.phi["Wout"]), to_numpy(c.phi["Wout"]))
    family = QuadraticFamily(dim=3)
    assert np.array_equal(learning_curves(family, Adam(0.1), 2, 6, seed=5),
                          learning_curves(family, Adam(0.1), 2, 6, seed=5))


def test_numpy_and_strict_agree():
    results = {}
    for name in ("numpy", "strict"):
        minil2o.set_backend(name)
        trainer = run(tiny_config(seed=2))
        curves = learning_curves(QuadraticFamily(dim=3), Adam(0.1), 2, 6, seed=5)
        results[name] = host(trainer.phi), trainer.history, curves
    (phi_n, hist_n, curves_n), (phi_s, hist_s, curves_s) = results["numpy"], results["strict"]
    for k in phi_n:
        np.testing.assert_allclose(phi_s[k], phi_n[k], rtol=1e-5, atol=1e-6)
    for h_n, h_s in zip(hist_n, hist_s):
        assert h_n["train_meta_loss"] == pytest.approx(h_s["train_meta_loss"], rel=1e-5)
    np.testing.assert_allclose(curves_s, curves_n, rtol=1e-5)


def test_a_finished_run_continues_for_more_epochs(tmp_path):
    """Resuming with a larger `epochs` continues a finished run; it ends as a run that was given
    that many epochs from the start (the first epochs do not depend on how many follow)."""
    short, extended, straight = tmp_path / "short", tmp_path / "extended", tmp_path / "straight"
    Trainer(tiny_config(epochs=2), out_dir=str(short), log=lambda s: None).run(progress=False)
    os.rename(short, extended)
    Trainer(tiny_config(epochs=3), out_dir=str(extended), resume=True,
            log=lambda s: None).run(progress=False)
    Trainer(tiny_config(epochs=3), out_dir=str(straight), log=lambda s: None).run(progress=False)
    assert_same_checkpoints(extended, straight)


def test_resume_removes_a_half_written_temporary_file(tmp_path):
    """A kill during a write leaves only a temporary file beside the checkpoint; resuming removes
    it, by its exact name: a file that looks temporary but that a run never writes is kept."""
    run(tiny_config(epochs=1), tmp_path)
    stale = [tmp_path / ".train_state.npz.tmp", tmp_path / ".optimizer.npz.tmp"]
    for path in stale:
        path.write_bytes(b"PK\x03\x04 cut short")
    foreign = tmp_path / ".tmp-killed.npz"
    foreign.write_bytes(b"not written by a run")
    Trainer(tiny_config(epochs=2), out_dir=str(tmp_path), resume=True, log=lambda s: None)
    assert not any(path.exists() for path in stale)
    assert foreign.exists()
