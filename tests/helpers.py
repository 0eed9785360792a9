"""Small shared pieces of the tests."""
import importlib.util
import os
import pathlib
import subprocess
import sys

from minil2o.cli import main
from minil2o.training.train import TrainConfig
from gradient_checks import tiny_family  # noqa: F401  (an MLP family on 40 examples)


def assert_right(report):
    """Every output of a workbook check within its bound; the errors are printed (pytest -s)."""
    print(f"  {report}")
    assert report.measures and report.right, str(report)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--problem-arg", "num_functions=2", "--problem-arg", "dim=3", "--horizon", "10",
        "--unroll", "5", "--epochs", "1", "--problems-per-epoch", "1", "--validation-problems", "1",
        "--optimizer-arg", "hidden=4", "--quiet"]


def run_cli(capsys, *argv):
    """minil2o.cli.main in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:                       # argparse exits on its own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err, *words):
    """stderr is one line without a traceback that names every word."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


def refused(call, *words):
    """call() raises a UsageError of one line naming every word; returns its message."""
    import pytest
    from minil2o.errors import UsageError
    with pytest.raises(UsageError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    return message


def run_subprocess(args, env_changes, path_first=None, timeout=60):
    """`python -m minil2o args` in a fresh interpreter; returns (code, stdout, stderr)."""
    env = dict(os.environ, **env_changes)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (path_first, REPO, env.get("PYTHONPATH")) if p)
    r = subprocess.run([sys.executable, "-m", "minil2o", *args], env=env, capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def tiny_config(**changes):
    """A meta-training run that takes a few hundredths of a second (quadratics, 2 epochs of 2
    problems, horizon 10 in truncations of 5, an LSTM of 4 units)."""
    base = dict(problem="quadratic", problem_kwargs={"num_functions": 2, "dim": 3}, horizon=10,
                unroll=5, epochs=2, problems_per_epoch=2, validation_problems=1,
                optimizer_kwargs={"hidden": 4})
    base.update(changes)
    return TrainConfig(**base)


def tool_module(name):
    """tools/NAME.py (a script of the repository, not of the package) as a module."""
    path = pathlib.Path(REPO) / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
