"""Robustness of the command line: no traceback for anything a user or a file can cause. Ctrl-C
(also while modules load) exits with code 130 and one line; a closed pipe exits quietly; an
OverflowError, TypeError or MemoryError from a bad value is one line; --debug shows the
traceback; output paths are checked before any work and figures are written atomically.

docs/ROBUSTNESS.md lists each case with the test that checks it.
"""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minil2o.backend
import minil2o.evaluation.evaluate
from helpers import REPO, TINY, assert_one_line, run_cli, run_subprocess

INTERRUPT_AT_IMPORT = """import os, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ.get("INTERRUPT_AT_IMPORT"):
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
"""


@pytest.mark.parametrize("module", ["numpy", "minil2o.backend", "minil2o.use.dropin",
                                    "minil2o.optimizers.learned", "minil2o.training.options",
                                    "minil2o.training.train", "tqdm"])
def test_ctrl_c_while_modules_load_exits_130_in_one_line(tmp_path, module):
    """A KeyboardInterrupt raised when `module` is imported, as Ctrl-C at that instant would."""
    (tmp_path / "sitecustomize.py").write_text(INTERRUPT_AT_IMPORT)
    code, _, err = run_subprocess(["train", *TINY, "--out", str(tmp_path / "out")],
                                  {"INTERRUPT_AT_IMPORT": module}, str(tmp_path))
    assert code == 130
    assert_one_line(err, "minil2o: interrupted")


def test_ctrl_c_while_training_exits_130_and_frees_the_folder(capsys, tmp_path, monkeypatch):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("minil2o.training.train.Trainer.train_problem", interrupted)
    code, _, err = run_cli(capsys, "train", *TINY, "--out", tmp_path)
    assert code == 130
    assert_one_line(err, "minil2o: interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == []          # no lock left behind


def test_sigint_at_random_moments_never_prints_a_traceback(tmp_path):
    """SIGINT sent to `python -m minil2o train` at three random instants: while numpy and minil2o
    load, or while training (a long run, so that it never comes during the interpreter's exit)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (REPO, os.environ.get("PYTHONPATH")) if p))
    chance = random.Random()
    for i in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "minil2o", "train", *TINY, "--epochs",
                                 "5000", "--out", str(tmp_path / f"run{i}")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(chance.uniform(0.3, 1.5))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 130, -signal.SIGINT), err  # -2: before Python's handler
        if proc.returncode == 130:
            assert err.strip().splitlines()[-1] == "minil2o: interrupted"


def test_a_closed_pipe_exits_quietly(tmp_path):
    """`minil2o reproduce --list | head -0`: the reader is gone before anything is written."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (REPO, os.environ.get("PYTHONPATH")) if p))
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run([sys.executable, "-m", "minil2o", "reproduce", "--list"], env=env,
                          stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 141


@pytest.mark.parametrize("error, words", [
    (OverflowError("int too large to convert to float"), ["OverflowError", "too large",
                                                          "--debug"]),
    (TypeError("unsupported operand type(s)"), ["TypeError", "unsupported", "--debug"]),
    (MemoryError(), ["out of memory", "smaller sizes"]),
], ids=["overflow", "type", "memory"])
def test_errors_from_bad_values_are_one_line_and_debug_shows_them(capsys, monkeypatch, error,
                                                                  words):
    def fail():
        raise error
    monkeypatch.setattr(minil2o.backend, "device_name", fail)
    code, _, err = run_cli(capsys, "info")
    assert code == 1
    assert_one_line(err, *words)
    with pytest.raises(type(error)):
        run_cli(capsys, "info", "--debug")


# ================================================================ output paths, before any work

def no_work(*args, **kwargs):
    raise AssertionError("the work started before the output path was checked")


def test_evaluate_out_under_a_file_is_refused_before_any_work(capsys, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setattr(minil2o.evaluation.evaluate, "compare", no_work)
    for out, words in ((tmp_path / "a-file", "is a file"),
                       (tmp_path / "a-file" / "sub", "is a file")):
        code, _, err = run_cli(capsys, "evaluate", "--baselines", "sgd", "--out", out)
        assert code == 2
        assert_one_line(err, str(out), words)


def unwritable_folder(tmp_path):
    """A folder this process cannot write into: a read-only one, or (for root, who may write
    anywhere on disk) one below /sys, where no one may create a folder."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        return locked
    if os.path.isdir("/sys/kernel"):
        return "/sys/kernel/minil2o-test-out"
    pytest.skip("running as root without /sys: no folder is unwritable")


def test_evaluate_out_unwritable_is_refused_before_any_work(capsys, tmp_path, monkeypatch):
    out = unwritable_folder(tmp_path)
    monkeypatch.setattr(minil2o.evaluation.evaluate, "compare", no_work)
    code, _, err = run_cli(capsys, "evaluate", "--baselines", "sgd", "--out", out)
    assert code == 1
    assert_one_line(err, "minil2o: error:", str(out))


def test_evaluate_figure_is_written_atomically(capsys, tmp_path, monkeypatch):
    """A plot that fails half-way leaves no partial curves.png (and no temporary file)."""
    def half_a_figure(results, path, title):
        with open(path, "wb") as fh:
            fh.write(b"\x89PNG half")
        raise OSError("disk full")
    monkeypatch.setattr("minil2o.evaluation.plots.plot_curves", half_a_figure)
    code, _, err = run_cli(capsys, "evaluate", "--baselines", "sgd", "--steps", "2",
                           "--num-test", "1", "--num-tune", "1", "--out", tmp_path)
    assert code == 1
    assert_one_line(err, "disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_train_out_under_a_file_is_refused(capsys, tmp_path):
    (tmp_path / "a-file").write_text("x")
    code, _, err = run_cli(capsys, "train", *TINY, "--out", tmp_path / "a-file" / "run")
    assert code == 2
    assert_one_line(err, "a-file", "is a file", "give a folder")


def test_a_deeply_nested_setting_is_one_line(capsys, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    code, _, err = run_cli(capsys, "train", *TINY, "--problem-arg", f"hidden={deep}", "--out",
                           tmp_path)
    assert code == 2
    assert_one_line(err, "bad --problem-arg 'hidden': its value is nested too deeply")


def test_check_output_of_a_file(tmp_path):
    """atomic.check_output(path): what `bench --out` and `reproduce --out` are to call before any
    work. A folder where a file is wanted, or a file where a folder is needed, is refused; a
    writable place is created and nothing is left in it."""
    from minil2o.files.atomic import check_output
    from minil2o.errors import UsageError
    assert check_output(tmp_path / "new" / "bench.json") == str(tmp_path / "new" / "bench.json")
    assert list((tmp_path / "new").iterdir()) == []
    with pytest.raises(UsageError, match="is a folder: give a file name"):
        check_output(tmp_path / "new")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UsageError, match="a-file' is a file, so"):
        check_output(tmp_path / "a-file" / "bench.json")


def test_bench_refuses_an_empty_optimizer_list_and_a_bad_out_before_any_work(tmp_path, capsys):
    """`bench --optimizers ''` names no optimizer (before: the previous JSON overwritten with
    nothing measured); `bench --out` below a file is refused before anything is timed."""
    out = tmp_path / "bench.json"
    out.write_text('{"kept": true}')
    code, _, err = run_cli(capsys, "bench", "--optimizers", "", "--out", out)
    assert code == 2
    assert_one_line(err, "--optimizers ''", "names no optimizer")
    assert out.read_text() == '{"kept": true}'
    (tmp_path / "a-file").write_text("x")
    code, stdout, err = run_cli(capsys, "bench", "--quick", "--out", tmp_path / "a-file" / "b.json")
    assert code == 2 and "meta-epochs" not in stdout
    assert_one_line(err, "is a file, so")


def test_ctrl_c_during_a_checkpoint_write_takes_effect_after_it(tmp_path):
    """SIGINT while a checkpoint is written (inside numpy's zip writer it could leave the writer
    half-closed and surface as a ValueError with a traceback) is held back: the file is written
    whole, then the KeyboardInterrupt arrives."""
    from minil2o.files import checkpoint
    from minil2o.files.atomic import uninterrupted
    from minil2o.backend import to_numpy
    written = False
    with pytest.raises(KeyboardInterrupt):
        with uninterrupted():
            os.kill(os.getpid(), signal.SIGINT)
            checkpoint.save(tmp_path / "a.npz", {"x": np.ones(3)}, {"k": 1})
            written = True
    assert written
    arrays, meta = checkpoint.load(tmp_path / "a.npz")
    assert meta["k"] == 1 and to_numpy(arrays["x"]).tolist() == [1.0, 1.0, 1.0]


def test_evaluate_labels_every_checkpoint_apart():
    """Two checkpoints never share a row of `minil2o evaluate`'s table: a run's optimizer.npz is
    named by its folder, a snapshot by its file, and by folder and file where those repeat."""
    from minil2o.cli import checkpoint_labels
    paths = ["a/run1/optimizer.npz", "b/run2/optimizer.npz", "pretrained/dm-mnist.npz",
             "runs/s1/at-1000.npz", "runs/s1/at-3000.npz", "runs/s2/at-3000.npz",
             "runs/s1/at-1000.npz"]
    labels = checkpoint_labels(paths)
    assert labels[:3] == ["run1", "run2", "dm-mnist"]
    assert labels[4:6] == ["s1/at-3000", "s2/at-3000"]
    assert len(set(labels)) == len(paths)
