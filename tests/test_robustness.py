"""Robustness: every bad input gets a one-line error naming the bad value and what is allowed (the
CLI exits with code 2, no traceback); numerical faults in training are found at the step where
they happen and either skipped (counted) or stop training cleanly; evaluation marks diverged runs.
The other kinds have files of their own: test_robustness_files.py (unsafe, damaged, edited and
oversized files), test_robustness_runs.py (run folders), test_robustness_settings.py (numbers and
settings), test_robustness_cli.py (interrupts, pipes, output paths).

docs/ROBUSTNESS.md lists each case with the test that checks it.
"""
import math
import os

import numpy as np
import pytest

import minil2o
from helpers import TINY, assert_one_line, run_cli, run_subprocess, tiny_config
from minil2o.files import checkpoint
from minil2o.backend import to_numpy
from minil2o.errors import DataError, NumericalError, UsageError
from minil2o.evaluation.evaluate import (CompareSettings, compare, format_table, learning_curves,
                                         run_optimizer, summarize)
from minil2o.optimizers.hand import SGD
from minil2o.problems import QuadraticFamily, make_family
from minil2o.problems.base import Family, Problem
from minil2o.training.runs import load_optimizer
from minil2o.training.train import Trainer


# ============================================================================ bad input: the CLI

CLI_CASES = ["unknown-problem", "unknown-optimizer", "horizon-0", "epochs-negative",
             "unroll-over-horizon", "horizon-not-int", "unknown-problem-setting",
             "setting-without-value", "unknown-optimizer-setting", "optimizer-setting-bad-type",
             "negative-seed", "negative-meta-lr", "nan-clip-norm", "unknown-on-nonfinite",
             "unknown-baseline", "eval-steps-0", "eval-num-test-0", "eval-negative-seed",
             "eval-nothing", "eval-unknown-problem", "unknown-command"]


@pytest.mark.parametrize("argv, words", [
    (["train", "--problem", "nope"], ["'nope'", "quadratic"]),
    (["train", "--optimizer", "adam"], ["'adam'", "dm, rnnprop"]),
    (["train", "--horizon", "0"], ["horizon", "positive integer"]),
    (["train", "--epochs", "-3"], ["epochs", "-3"]),
    (["train", "--horizon", "10", "--unroll", "20"], ["unroll 20", "horizon 10"]),
    (["train", "--horizon", "x"], ["--horizon", "'x'"]),
    (["train", "--problem-arg", "foo=1"], ["'foo'", "num_functions"]),
    (["train", "--problem-arg", "dim"], ["'dim'", "KEY=VALUE"]),
    (["train", "--optimizer-arg", "foo=1"], ["'foo'", "hidden"]),
    (["train", "--optimizer-arg", "hidden=abc"], ["hidden", "abc"]),
    (["train", "--seed", "-1"], ["seed", "-1"]),
    (["train", "--meta-lr", "-1"], ["meta_lr", "-1"]),
    (["train", "--clip-norm", "nan"], ["clip_norm", "nan"]),
    (["train", "--on-nonfinite", "ignore"], ["--on-nonfinite", "'ignore'"]),
    (["evaluate", "--baselines", "sgd,foo"], ["'foo'", "adam"]),
    (["evaluate", "--baselines", "sgd", "--steps", "0"], ["steps", "0"]),
    (["evaluate", "--baselines", "sgd", "--num-test", "0"], ["num_test", "0"]),
    (["evaluate", "--baselines", "sgd", "--seed", "-3"], ["seed", "-3"]),
    (["evaluate", "--baselines", ""], ["nothing to evaluate"]),
    (["evaluate", "--problem", "nope", "--baselines", "sgd"], ["'nope'"]),
    (["bogus"], ["'bogus'", "train"]),
], ids=CLI_CASES)
def test_cli_bad_input_one_line_exit_2(capsys, tmp_path, argv, words):
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "out") if argv[0] != "bogus" \
        else run_cli(capsys, *argv)
    assert code == 2
    assert_one_line(err, *words)
    assert not (tmp_path / "out" / "train_state.npz").exists()


def test_cli_out_is_a_file(capsys, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    code, _, err = run_cli(capsys, "train", *TINY, "--out", target)
    assert code == 2
    assert_one_line(err, str(target), "folder")
    assert target.read_text() == "not a folder"


def test_cli_unknown_experiment(capsys):
    pytest.importorskip("minil2o.experiments")
    code, _, err = run_cli(capsys, "reproduce", "no-such-experiment")
    assert code == 2
    assert_one_line(err, "no-such-experiment")


def test_cli_data_dir_without_the_files(capsys, tmp_path):
    empty = tmp_path / "mnist"
    empty.mkdir()
    code, _, err = run_cli(capsys, "train", "--problem", "mnist-mlp", "--problem-arg",
                           f"data_dir={empty}", "--out", tmp_path / "out")
    assert code == 2
    assert_one_line(err, "train-images-idx3-ubyte", str(empty))


def test_cli_subprocess_prints_no_traceback(tmp_path):
    code, _, err = run_subprocess(["train", "--problem", "nope", "--out", str(tmp_path)], {})
    assert code == 2
    assert_one_line(err, "'nope'")


def test_cli_missing_dependency_is_named_in_one_line(tmp_path):
    """A command that needs a package that is not installed says which, in one line (exit 1)."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['matplotlib'] = None\n")
    code, _, err = run_subprocess(["evaluate", "--baselines", "sgd", "--steps", "2", "--num-test",
                                   "1", "--num-tune", "1", "--out", str(tmp_path / "ev")], {},
                                  str(tmp_path))
    assert code == 1
    assert_one_line(err, "'matplotlib'", "pip install matplotlib")


def test_cli_keeps_a_command_whose_module_cannot_be_imported(capsys, monkeypatch):
    """No command is dropped: one whose module fails to import is still listed, and running it
    reports the missing package."""
    import importlib
    real = importlib.import_module

    def import_module(name, *args):
        if name == "minil2o.bench.throughput":
            raise ModuleNotFoundError("No module named 'torchx'", name="torchx")
        return real(name, *args)
    monkeypatch.setattr(importlib, "import_module", import_module)
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "bench" in out and "reproduce" in out
    code, _, err = run_cli(capsys, "bench", "--steps", "3")
    assert code == 1
    assert_one_line(err, "'torchx'", "pip install torchx")


def test_train_flags_are_the_fields_of_train_config():
    """`minil2o train` without flags is TrainConfig(); --optimizer rnnprop takes RNNprop's
    weighting and selection unless they are given."""
    from minil2o.cli import build_parser
    from minil2o.training.options import from_options
    from minil2o.training.train import TrainConfig
    parse = build_parser().parse_args
    assert from_options(TrainConfig, parse(["train"])) == TrainConfig()
    rnnprop = from_options(TrainConfig, parse(["train", "--optimizer", "rnnprop"]))
    assert (rnnprop.weighting, rnnprop.selection) == ("last", "train-average")
    given = from_options(TrainConfig, parse(["train", "--optimizer", "rnnprop", "--weighting",
                                             "all", "--per-group", "--problem-arg", "dim=3"]))
    assert (given.weighting, given.per_group, given.problem_kwargs) == ("all", True, {"dim": 3})


# ======================================================================== bad input: the backend

def test_backend_bogus_exit_2():
    code, _, err = run_subprocess(["info"], {"MINIL2O_BACKEND": "bogus"})
    assert code == 2
    assert_one_line(err, "'bogus'", "numpy, cupy, strict")


def test_backend_cupy_not_installed(tmp_path):
    # A `cupy` entry of None in sys.modules blocks the import, as if CuPy were not installed;
    # sitecustomize installs it in the child interpreter (on a GPU machine CuPy may be real).
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['cupy'] = None\n")
    code, _, err = run_subprocess(["info"], {"MINIL2O_BACKEND": "cupy"}, str(tmp_path))
    assert code != 0
    assert_one_line(err, "not installed", "pip install", "MINIL2O_BACKEND=numpy")


STUB_CUPY = """
class CUDARuntimeError(RuntimeError):
    pass

class runtime:
    @staticmethod
    def getDeviceCount():
        {body}

class cuda:
    runtime = runtime
"""


@pytest.mark.parametrize("body, words", [
    ("return 0", ["no CUDA GPU"]),
    ("raise CUDARuntimeError('cudaErrorNoDevice: no CUDA-capable device is detected\\nmore')",
     ["no CUDA GPU", "CUDARuntimeError", "cudaErrorNoDevice"]),
])
def test_backend_cupy_without_a_gpu(tmp_path, body, words):
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(STUB_CUPY.replace("{body}", body))
    code, _, err = run_subprocess(["info"], {"MINIL2O_BACKEND": "cupy"}, str(tmp_path))
    assert code == 2
    assert_one_line(err, *words, "MINIL2O_BACKEND=numpy")


def test_backend_cupy_that_fails_to_import(tmp_path):
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text("raise ImportError('libcudart.so.12: cannot "
                                                   "open shared object file')\n")
    code, _, err = run_subprocess(["info"], {"MINIL2O_BACKEND": "cupy"}, str(tmp_path))
    assert code == 2
    assert_one_line(err, "fails to import", "libcudart", "pip install")


def test_set_backend_bad_names():
    for name in ("bogus", None, 3):
        with pytest.raises(UsageError, match="numpy, cupy, strict"):
            minil2o.set_backend(name)
    assert minil2o.get_backend() == os.environ.get("MINIL2O_BACKEND", "numpy")


# ========================================================================== bad input: the API

@pytest.mark.parametrize("field, value", [
    ("horizon", 0), ("unroll", -1), ("epochs", 1.5), ("meta_batch", True),
    ("problems_per_epoch", "3"), ("validation_problems", None), ("seed", -1), ("seed", 0.5),
    ("meta_lr", 0.0), ("meta_lr", math.inf), ("clip_norm", -1.0), ("clip_norm", math.nan),
    ("random_scaling", "big"), ("optimizer", "lstm"), ("problem", "rosenbrock"),
    ("weighting", "first"), ("selection", "best"), ("on_nonfinite", "ignore"),
    ("dtype", "float16"), ("problem_kwargs", [1]), ("second_derivatives", "yes"),
])
def test_train_config_names_the_bad_field(field, value):
    with pytest.raises(UsageError) as info:
        tiny_config(**{field: value}).validate()
    message = str(info.value)
    assert field in message and repr(value) in message and "\n" not in message


def test_unroll_longer_than_horizon_or_not_dividing_it():
    with pytest.raises(UsageError, match="unroll 20 is longer than the horizon 10"):
        tiny_config(horizon=10, unroll=20).validate()
    with pytest.raises(UsageError, match="horizon 30 is not a multiple of unroll 20: its last 10"):
        tiny_config(horizon=30, unroll=20).validate()


def test_unknown_problem_and_optimizer_settings():
    with pytest.raises(UsageError, match="'foo'.*quadratic.*dim, num_functions"):
        make_family("quadratic", foo=1)
    with pytest.raises(UsageError, match="'rosenbrock'.*quadratic, mnist-mlp"):
        make_family("rosenbrock")
    with pytest.raises(UsageError, match="'beta3'.*beta1"):
        Trainer(tiny_config(optimizer="rnnprop", optimizer_kwargs={"beta3": 0.9}))
    with pytest.raises(UsageError, match="hidden"):
        Trainer(tiny_config(optimizer_kwargs={"hidden": "abc"}))


def test_data_dir_without_the_expected_files(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte not found"):
        make_family("mnist-mlp", data_dir=tmp_path)
    with pytest.raises(DataError, match="data_batch_1 not found"):
        make_family("cnn", dataset="cifar10", data_dir=tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        make_family("mnist-mlp", data_dir=tmp_path / "missing")


def test_second_derivatives_need_a_hessian_vector_product():
    config = tiny_config(problem="sine-lstm", problem_kwargs={"hidden": 2, "batch_size": 2},
                         horizon=2, unroll=2, epochs=1, problems_per_epoch=1,
                         second_derivatives=True)
    with pytest.raises(UsageError, match="second_derivatives.*'sine-lstm'"):
        Trainer(config, log=lambda *_: None).run(progress=False)


def test_resume_needs_a_folder_and_the_same_configuration(tmp_path):
    with pytest.raises(UsageError, match="out_dir"):
        Trainer(tiny_config(), resume=True)
    Trainer(tiny_config(epochs=1), out_dir=tmp_path, log=lambda *_: None).run(progress=False)
    with pytest.raises(UsageError, match="different configuration.*meta_lr=0.001 there, 0.01 here"):
        Trainer(tiny_config(epochs=1, meta_lr=0.01), out_dir=tmp_path, resume=True)


def test_evaluation_inputs():
    family = QuadraticFamily(dim=2)
    with pytest.raises(UsageError, match="steps must be a positive integer, got 0"):
        rng = np.random.default_rng(0)
        run_optimizer(family.sample(rng), SGD(0.1), 0, rng)
    with pytest.raises(UsageError, match="num_problems"):
        learning_curves(family, SGD(0.1), 0, 5, seed=0)
    with pytest.raises(UsageError, match=r"seed must be an integer >= 0 and < 2\*\*63, got -1"):
        learning_curves(family, SGD(0.1), 1, 5, seed=-1)
    with pytest.raises(UsageError, match="'adamw'"):
        compare(family, {}, ["adamw"], CompareSettings(steps=5))


# =========================================================================== numerical faults

def nan_update_at(opt, call):
    """Make opt's step_forward return a NaN update on its `call`-th call (1-based)."""
    original, count = opt.step_forward, [0]

    def step_forward(phi, grad, state):
        update, state, cache = original(phi, grad, state)
        count[0] += 1
        return (update * float("nan") if count[0] == call else update), state, cache
    opt.step_forward = step_forward


class InfLossAt(Problem):
    """A problem whose loss overflows to +inf on the `call`-th loss evaluation (1-based), counted
    over all problems of the family; its gradient stays finite."""

    def __init__(self, problem, counter, call):
        self.problem, self.counter, self.call = problem, counter, call
        self.n, self.dtype, self.num_problems = problem.n, problem.dtype, problem.num_problems

    def init(self, rng):
        return self.problem.init(rng)

    def loss_and_grad(self, theta, batch):
        f, grad = self.problem.loss_and_grad(theta, batch)
        self.counter[0] += 1
        return (f + float("inf") if self.counter[0] == self.call else f), grad


class InfLossFamily(Family):
    def __init__(self, family, call):
        self.family, self.call, self.counter = family, call, [0]

    def sample(self, rng):
        return InfLossAt(self.family.sample(rng), self.counter, self.call)


def quiet_trainer(config, out_dir=None, **kwargs):
    messages = []
    trainer = Trainer(config, out_dir=out_dir, log=messages.append, **kwargs)
    return trainer, messages


def host(phi):
    return {k: to_numpy(v).copy() for k, v in phi.items()}


def test_nan_update_skip_counts_and_reports(tmp_path):
    trainer, messages = quiet_trainer(tiny_config(), tmp_path)
    nan_update_at(trainer.opt, call=13)              # problem 2, step 2 (10 steps per problem)
    history = trainer.run(progress=False)
    assert [h["skipped_in_epoch"] for h in history] == [1, 0]
    assert history[-1]["skipped"] == 1 and trainer.skipped == 1
    skip = [m for m in messages if m.startswith("skipped")]
    assert skip == ["skipped the rest of the problem: the learned optimizer's update is not finite "
                    "at optimizee step 2 (epoch 1, problem 2 of 2, truncation 1, family "
                    "'quadratic')"]
    arrays, meta = checkpoint.load(tmp_path / "train_state.npz")
    assert meta["skipped"] == 1 and all(np.all(np.isfinite(a)) for a in arrays.values())


def test_nan_update_stop_keeps_the_last_checkpoint(tmp_path):
    trainer, _ = quiet_trainer(tiny_config(on_nonfinite="stop"), tmp_path)
    nan_update_at(trainer.opt, call=25)              # epoch 2, problem 1, step 4
    before = {}
    original_save = trainer.save

    def save():
        original_save()
        before.update(host(trainer.phi))
    trainer.save = save
    with pytest.raises(NumericalError) as info:
        trainer.run(progress=False)
    message = str(info.value)
    for words in ("the learned optimizer's update", "optimizee step 4", "epoch 2", "problem 1 of 2",
                  "'quadratic'", "train_state.npz of epoch 1 is kept"):
        assert words in message, message
    arrays, meta = checkpoint.load(tmp_path / "train_state.npz")
    assert meta["epoch"] == 1
    for k, v in before.items():
        assert np.array_equal(arrays[f"phi/{k}"], v)
    assert load_optimizer(tmp_path / "optimizer.npz").phi
    resumed, _ = quiet_trainer(tiny_config(on_nonfinite="stop"), tmp_path, resume=True)
    assert resumed.epoch == 1


def test_loss_overflow_is_named_with_its_step():
    trainer, messages = quiet_trainer(tiny_config(epochs=1))
    trainer.family = InfLossFamily(trainer.family, call=9)   # steps 0-5, then 6, 7, 8
    trainer.run(progress=False)
    assert trainer.skipped == 1
    assert "the optimizee's loss is not finite at optimizee step 8 (epoch 1, problem 1 of 2, " \
           "truncation 2" in messages[0]
    with pytest.raises(NumericalError, match="optimizee's loss is not finite at optimizee step 8"):
        trainer, _ = quiet_trainer(tiny_config(epochs=1, on_nonfinite="stop"))
        trainer.family = InfLossFamily(trainer.family, call=9)
        trainer.run(progress=False)


def scaled_meta_gradient_at(monkeypatch, call, factor):
    """Multiply the meta-gradient of the `call`-th truncation (1-based) by factor."""
    import minil2o.training.train as train
    original, count = train.meta_gradient, [0]

    def meta_gradient(*args, **kwargs):
        d_phi = original(*args, **kwargs)
        count[0] += 1
        return {k: g * factor for k, g in d_phi.items()} if count[0] == call else d_phi
    monkeypatch.setattr(train, "meta_gradient", meta_gradient)


def test_huge_meta_gradient_with_clipping_is_clipped(monkeypatch):
    trainer, messages = quiet_trainer(tiny_config(epochs=1, clip_norm=1.0, meta_lr=0.01))
    scaled_meta_gradient_at(monkeypatch, call=2, factor=1e30)
    before = host(trainer.phi)
    trainer.run(progress=False)
    assert trainer.skipped == 0 and not any(m.startswith("skipped") for m in messages)
    after = host(trainer.phi)
    for k in before:       # Adam moves a coordinate by a few lr per step at most: 4 steps here
        assert np.all(np.isfinite(after[k])) and np.max(np.abs(after[k] - before[k])) < 0.4
    assert np.all(np.isfinite(to_numpy(trainer.adam_state["v"])))


def test_huge_meta_gradient_without_clipping_is_refused(monkeypatch):
    trainer, messages = quiet_trainer(tiny_config(epochs=1))
    scaled_meta_gradient_at(monkeypatch, call=2, factor=1e30)
    with np.errstate(over="ignore"):                 # the overflow this test provokes
        trainer.run(progress=False)
    assert trainer.skipped == 1
    assert "meta-optimizer's state" in messages[0] and "set clip_norm" in messages[0]
    assert "optimizee steps 5-10" in messages[0]
    assert np.all(np.isfinite(to_numpy(trainer.adam_state["v"])))
    trainer, _ = quiet_trainer(tiny_config(epochs=1, on_nonfinite="stop"))
    scaled_meta_gradient_at(monkeypatch, call=2, factor=1e30)
    with pytest.raises(NumericalError, match="overflows Adam's second moment"), \
            np.errstate(over="ignore"):
        trainer.run(progress=False)


def test_infinite_meta_gradient_is_named(monkeypatch):
    trainer, messages = quiet_trainer(tiny_config(epochs=1, clip_norm=1.0))
    scaled_meta_gradient_at(monkeypatch, call=3, factor=float("inf"))
    trainer.run(progress=False)
    assert trainer.skipped == 1 and "the meta-gradient of" in messages[0]
    assert "optimizee steps 0-5 (epoch 1, problem 2 of 2, truncation 1" in messages[0]
    assert all(np.all(np.isfinite(v)) for v in host(trainer.phi).values())


def test_cli_stop_on_overflow_exits_3(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", *TINY, "--problem-arg", "init_std=1e30",
                           "--on-nonfinite", "stop", "--out", tmp_path)
    assert code == 3
    assert_one_line(err, "the optimizee's loss", "optimizee step 0", "nothing was saved")
    assert not (tmp_path / "train_state.npz").exists()


def test_an_epoch_where_every_problem_is_skipped_stops(capsys, tmp_path):
    """With the default --on-nonfinite skip, settings that make every problem fail at once end
    in exit 3 instead of an untrained optimizer saved with exit 0."""
    code, out, err = run_cli(capsys, "train", *TINY, "--problem-arg", "init_std=1e30",
                             "--out", tmp_path)
    assert code == 3
    assert "skipped the rest of the problem" in out                     # the log names it
    assert_one_line(err, "every problem of epoch 1 was skipped", "nothing was saved")
    assert not (tmp_path / "optimizer.npz").exists()


# ================================================================ evaluation marks diverged runs

class NaNAfter:
    """A hand-designed optimizer whose update turns NaN at step `step` of its `run`-th run."""

    def __init__(self, optimizer, step, run):
        self.optimizer, self.step_at, self.run, self.runs = optimizer, step, run, 0

    def init_state(self, n, dtype="float32"):
        self.runs += 1
        return self.optimizer.init_state(n, dtype)

    def step(self, grad, state):
        update, state = self.optimizer.step(grad, state)
        if self.runs == self.run and state["t"] == self.step_at + 1:
            update = update * float("nan")
        return update, state


def test_evaluation_marks_a_nan_run_instead_of_averaging_it():
    family = QuadraticFamily(dim=3)
    curves = learning_curves(family, NaNAfter(SGD(0.01), step=4, run=2), 3, 8, seed=0)
    assert np.all(np.isfinite(curves[[0, 2]]))
    assert np.all(np.isfinite(curves[1, :5])) and np.all(np.isnan(curves[1, 5:]))
    mean, stderr, diverged = summarize(curves)
    assert diverged == 1 and np.allclose(mean, curves[[0, 2]].mean(axis=0))
    clean = learning_curves(family, SGD(0.01), 3, 8, seed=0)
    assert np.array_equal(clean[[0, 2]], curves[[0, 2]])


def test_evaluation_marks_an_overflowing_loss():
    family = QuadraticFamily(dim=3, init_std=1e30)             # ||W theta - y||^2 overflows
    with np.errstate(over="ignore", invalid="ignore"):
        results = compare(family, {}, ["sgd"], CompareSettings(steps=4, num_test=2, num_tune=1),
                          log=lambda *_: None)
    r = results["SGD"]
    assert r["diverged"] == 2 and np.all(np.isnan(r["curves"]))
    assert "SGD" in format_table(results)
