"""The grader itself: one grader for the chapters and the workbook, exercises in chapter order, every
exercise proven by right and wrong versions (tests/test_exercises_*.py), a verdict that names the
case, and a runner that cannot be fooled or hung (a time limit, SystemExit and KeyboardInterrupt
as errors, leftover threads, `workbook new --force` whole or not at all)."""
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

from minil2o import layers, workbook
from minil2o.workbook.stubs import HEADER, workbook_source

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent
CHAPTERS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
NAMES = [ex.name for ex in workbook.EXERCISES]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def called_in(path):
    return re.findall(r'^check\("(\w+)"', path.read_text(encoding="utf-8"), re.M)


def test_one_grader_for_chapters_and_workbook():
    """The chapters' check is the workbook's (no second grader to disagree with it), and every
    exercise a chapter grades is the workbook's, in chapter order."""
    assert not (ROOT / "tutorials" / "checks.py").exists()
    common = (ROOT / "tutorials" / "_common.py").read_text(encoding="utf-8")
    assert "from minil2o.workbook import check" in common
    in_chapters = [name for p in CHAPTERS for name in called_in(p)]
    assert set(in_chapters) <= set(NAMES) and len(set(in_chapters)) == len(in_chapters)
    chapters = [ex.chapter for ex in workbook.EXERCISES]
    assert chapters == sorted(chapters) and min(chapters) >= 1
    for p in CHAPTERS:
        for name in called_in(p):
            assert workbook.table.BY_NAME[name].chapter == int(p.name[:2]), (p.name, name)


@pytest.mark.parametrize("chapter", [p.name for p in CHAPTERS])
def test_chapter_exercises_start_unsolved(chapter):
    """Every cell of a chapter that calls check(...) defines the learner's function unsolved."""
    text = (ROOT / "tutorials" / chapter).read_text(encoding="utf-8")
    for cell in [c for c in text.split("\n# %%") if "\ncheck(" in "\n" + c]:
        assert "raise NotImplementedError" in cell, f"{chapter}: an exercise starts solved"


def test_chapters_ten_and_eleven_have_exercises():
    assert called_in(ROOT / "tutorials" / "10_gpu.py")
    assert called_in(ROOT / "tutorials" / "11_own_model.py")


def test_every_exercise_is_proven_by_right_and_wrong_versions():
    """Each exercise's group test passes it right versions and flags wrong ones."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in TESTS.glob("test_exercises_*.py"))
    for name in NAMES:
        assert re.search(rf'assert_right\(\s*"{name}"', text), f"{name}: no right version tested"
        assert re.search(rf'assert_flagged\(\s*"{name}"', text), f"{name}: no wrong version"


def test_stubs_state_their_contract_and_use_public_names(tmp_path):
    source = workbook_source("w.py")
    assert "problem._" not in source and "._" not in source.replace("__", "")
    order = re.findall(r"^def (\w+)\(", source, re.M)
    assert order == NAMES


def test_a_verdict_names_the_case_the_output_and_the_equation():
    def mean_for_sum(dout, cache):
        x, W = cache
        return dout @ W.T, x.T @ dout, layers.xp.mean(dout, axis=0)
    result = workbook.check("linear_backward", mean_for_sum, quiet=True)
    line = result.line()
    assert result.status == "wrong" and "when N = " in line and "db:" in line
    assert "revisit (2.2) and (2.3)" in line and f"--seed {result.seed}" in line
    again = workbook.check("linear_backward", mean_for_sum, quiet=True, seed=result.seed)
    assert again.line() == line                                   # the seed replays it


def never_returns(dout, cache):
    while True:
        pass


def exits(dout, cache):
    sys.exit(0)


def interrupts(dout, cache):
    raise KeyboardInterrupt


def test_time_limit():
    start = time.perf_counter()
    result = workbook.check("linear_backward", never_returns, quiet=True, time_limit=0.5)
    assert result.status == "timed out" and "0.5 s" in result.line()
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("fn, what", [(exits, "SystemExit"), (interrupts, "KeyboardInterrupt")])
def test_base_exceptions_are_errors_never_success(fn, what):
    result = workbook.check("linear_backward", fn, quiet=True)
    assert result.status == "error" and what in result.line()


LEARNER = HEADER.format(path="w.py") + '''
import sys
import threading
import time


def linear_backward(dout, cache):
    sys.exit(0)


def sigmoid_backward(dout, cache):
    threading.Thread(target=lambda: time.sleep(3600)).start()     # left running, not a daemon
    return dout * cache * (1.0 - cache)


def tanh_backward(dout, cache):
    while True:
        pass
'''


def test_the_command_cannot_be_fooled_or_hung(tmp_path):
    """sys.exit inside a learner's function is an error (exit 1), a loop that never ends is timed
    out, and a thread left running does not keep the command alive."""
    (tmp_path / "w.py").write_text(LEARNER)
    done = subprocess.run([sys.executable, "-m", "minil2o", "workbook", "check", "w.py",
                           "linear_backward", "sigmoid_backward", "tanh_backward",
                           "--time-limit", "1"], cwd=tmp_path, env=ENV, capture_output=True,
                          text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert lines[0].split()[:2] == ["linear_backward", "error"] and "SystemExit" in lines[0]
    assert lines[1].split()[:2] == ["sigmoid_backward", "right"]
    assert lines[2].split()[:3] == ["tanh_backward", "timed", "out"]
    assert lines[3] == "1 of 3 right (1 error, 1 timed out)"


def test_new_force_is_whole_or_not_at_all(tmp_path):
    """`workbook new --force` killed at every file-system call it makes leaves the learner's file
    either as it was or as the new stubs, never half-written."""
    path, mine = tmp_path / "w.py", "def linear_backward(dout, cache):\n    return 'mine'\n"
    whole = workbook_source(str(path))
    outcomes, kill_at = set(), 1
    while True:
        for p in tmp_path.iterdir():
            p.unlink()                     # a kill leaves its temporary file: start clean
        path.write_text(mine)
        done = subprocess.run([sys.executable, str(TESTS / "kill_at_write.py"), "workbook", "new",
                               str(path), "--force"], env={**ENV, "KILL_AT": str(kill_at)},
                              capture_output=True, text=True, timeout=120)
        text = path.read_text()
        assert text in (mine, whole), f"killed at write {kill_at}: the file is half-written"
        outcomes.add(text == whole)
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "w.py"]
        assert done.returncode != 0 or not leftovers, leftovers
        if done.returncode == 0:
            break
        kill_at += 1
    assert kill_at > 1 and outcomes == {False, True}
