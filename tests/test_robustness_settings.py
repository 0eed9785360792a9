"""Robustness of numbers and settings: every setting from a flag, a --*-arg or the API is checked
for its type, finiteness, range and a sane size before any work, with one line naming the value
and what is allowed; a gradient handed to a learned optimizer's step is checked by one function.

docs/ROBUSTNESS.md lists each case with the test that checks it.
"""
import numpy as np
import pytest

import minil2o
from helpers import TINY, assert_one_line, run_cli, tiny_config
from minil2o.errors import NumericalError, UsageError
from minil2o.factories import build_optimizer
from minil2o.problems import make_family
from minil2o.train import Trainer
from minil2o.validate import check_gradient


@pytest.mark.parametrize("kind, settings, words", [
    ("dm", {"p": float("nan")}, ["p must be a number in (0, 80]", "nan"]),
    ("dm", {"p": 0}, ["p must be a number in (0, 80]", "got 0"]),
    ("dm", {"p": 1000.0}, ["p must be", "1000.0"]),
    ("dm", {"output_scale": 0.0}, ["output_scale must be a number in (0, 1e+06]", "0.0"]),
    ("dm", {"output_scale": float("inf")}, ["output_scale", "inf"]),
    ("dm", {"output_scale": -0.1}, ["output_scale", "-0.1"]),
    ("rnnprop", {"beta1": 1.0}, ["beta1 must be a number in [0, 1)", "1.0"]),
    ("rnnprop", {"beta2": -0.1}, ["beta2 must be a number in [0, 1)", "-0.1"]),
    ("rnnprop", {"eps": -1e-8}, ["eps must be a number in (0, 1]", "-1e-08"]),
    ("rnnprop", {"eps": 0.0}, ["eps must be", "0.0"]),
    ("rnnprop", {"alpha": float("nan")}, ["alpha must be", "nan"]),
    ("dm", {"hidden": 10 ** 9}, ["hidden must be positive integers <= 4096", "1000000000"]),
    ("dm", {"hidden": True}, ["hidden must be positive integers", "True"]),
    ("rnnprop", {"num_layers": 100}, ["num_layers must be a positive integer <= 16", "100"]),
], ids=["p-nan", "p-zero", "p-huge", "output-scale-zero", "output-scale-inf",
        "output-scale-negative", "beta1-one", "beta2-negative", "eps-negative", "eps-zero",
        "alpha-nan", "hidden-huge", "hidden-bool", "num-layers-huge"])
def test_optimizer_settings_are_checked(kind, settings, words):
    with pytest.raises(UsageError) as info:
        build_optimizer(kind, **settings)
    assert_one_line(str(info.value), *words)


@pytest.mark.parametrize("family, settings, words", [
    ("quadratic", {"init_std": float("inf")}, ["init_std must be a number >= 0", "inf"]),
    ("quadratic", {"init_std": float("nan")}, ["init_std", "nan"]),
    ("quadratic", {"init_std": -1.0}, ["init_std", "-1.0"]),
    ("quadratic", {"dim": 10 ** 9}, ["dim must be a positive integer <= 100000"]),
    ("quadratic", {"num_functions": 10 ** 5, "dim": 10 ** 4},
     ["100000 quadratics of dimension 10000 would need about", "GiB"]),
    ("mnist-mlp", {"hidden": [10 ** 7]}, ["hidden must be positive integers <= 4096"]),
    ("mnist-mlp", {"hidden": [[[20]]]}, ["hidden must be positive integers", "[[[20]]]"]),
    ("mnist-mlp", {"hidden": []}, ["hidden must be 1 to 16 layer sizes", "[]"]),
    ("mnist-mlp", {"batch_size": 10 ** 9}, ["batch_size must be a positive integer <= 1000000"]),
    ("sine-lstm", {"seq_len": 10 ** 9}, ["seq_len must be a positive integer <= 100000"]),
    ("sine-lstm", {"noise": float("nan")}, ["noise must be a number >= 0", "nan"]),
    ("sine-lstm", {"init_scale": float("inf")}, ["init_scale", "inf"]),
    ("cnn", {"channels": 10 ** 6}, ["channels must be a positive integer <= 4096"]),
    ("neural-art", {"size": 10 ** 6}, ["size must be a positive integer <= 4096"]),
    ("neural-art", {"tv_weight": -1.0}, ["tv_weight must be a number >= 0", "-1.0"]),
], ids=["init-std-inf", "init-std-nan", "init-std-negative", "dim-huge", "quadratics-memory",
        "mlp-hidden-huge", "mlp-hidden-nested", "mlp-hidden-empty", "batch-size-huge",
        "seq-len-huge", "noise-nan", "init-scale-inf", "channels-huge", "art-size-huge",
        "tv-weight-negative"])
def test_problem_settings_are_checked_before_building(family, settings, words):
    with pytest.raises(UsageError) as info:
        make_family(family, **settings)
    assert_one_line(str(info.value), *words)


@pytest.mark.parametrize("field, value, words", [
    ("horizon", 10 ** 12, ["horizon must be a positive integer <= 10000000"]),
    ("unroll", 10 ** 6, ["unroll must be a positive integer <= 100000"]),
    ("meta_batch", 10 ** 6, ["meta_batch must be a positive integer <= 100000"]),
    ("validation_problems", 10 ** 9, ["validation_problems must be a positive integer <= 100000"]),
    ("epochs", 10 ** 12, ["epochs must be a positive integer <= 10000000"]),
    ("problems_per_epoch", 10 ** 12, ["problems_per_epoch must be a positive integer"]),
    ("seed", 2 ** 64, ["seed must be an integer >= 0 and < 2**63"]),
    ("meta_lr", 1e6, ["meta_lr must be a number in (0, 10]", "1000000.0"]),
    ("random_scaling", 1e3, ["random_scaling must be a number in [0, 20]", "1000.0"]),
])
def test_train_config_sizes_have_sane_bounds(field, value, words):
    with pytest.raises(UsageError) as info:
        tiny_config(**{field: value}).validate()
    assert_one_line(str(info.value), *words)


def test_a_truncation_that_would_not_fit_in_memory_is_refused(monkeypatch):
    """meta_batch 1000 of 1000-d quadratics: 10^6 coordinates, 20 steps, 2 layers of 20 units: about
    38 GiB of saved activations; refused against a 1 GiB limit before the batch is sampled."""
    monkeypatch.setenv("MINIL2O_MAX_MEMORY_BYTES", str(2 ** 30))
    config = tiny_config(meta_batch=1000, problem_kwargs={"dim": 1000}, horizon=20, unroll=20,
                         optimizer_kwargs={})
    with pytest.raises(UsageError, match="a truncation of 20 steps on 1000000 coordinates would "
                                         "need about 3.*GiB, more than the 1 GiB"):
        Trainer(config)
    monkeypatch.setenv("MINIL2O_MAX_MEMORY_BYTES", "lots")
    with pytest.raises(UsageError, match="MINIL2O_MAX_MEMORY_BYTES must be a positive number"):
        Trainer(config)


@pytest.mark.parametrize("argv, words", [
    (["--problem-arg", "init_std=NaN"], ["init_std must be a number >= 0", "nan"]),
    (["--problem-arg", "init_std=Infinity"], ["init_std", "inf"]),
    (["--optimizer-arg", "p=-Infinity"], ["p must be a number in (0, 80]", "-inf"]),
    (["--optimizer-arg", "output_scale=0"], ["output_scale", "got 0"]),
    (["--optimizer", "rnnprop", "--optimizer-arg", "beta1=1"], ["beta1", "[0, 1)", "got 1"]),
    (["--problem-arg", "dim=1e9"], ["dim must be a positive integer", "1000000000.0"]),
    (["--seed", "99999999999999999999999"], ["seed", "2**63"]),
    (["--horizon", "99999999999999999999"], ["horizon", "<= 10000000"]),
    (["--validation-problems", "1000000000"], ["validation_problems", "<= 100000"]),
], ids=["init-std-nan", "init-std-inf", "p-minus-inf", "output-scale-0", "beta1-1", "dim-float",
        "seed-huge", "horizon-huge", "validation-problems-huge"])
def test_cli_bad_numbers_one_line_before_any_work(capsys, tmp_path, argv, words):
    code, _, err = run_cli(capsys, "train", *TINY, *argv, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line(err, *words)
    assert not (tmp_path / "out" / "train_state.npz").exists()


@pytest.mark.parametrize("argv, words", [
    (["--problem-arg", "dtype=float64"], ["dtype='float64' conflicts with dtype 'float32'",
                                          "--dtype"]),
    (["--problem", "mnist-mlp", "--problem-arg", "split=test"], ["split is chosen by the run"]),
], ids=["dtype-twice", "split"])
def test_cli_conflicting_settings(capsys, tmp_path, argv, words):
    code, _, err = run_cli(capsys, "train", *TINY, *argv, "--out", tmp_path)
    assert code == 2
    assert_one_line(err, *words)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, words", [
    (["--steps", "1000000000"], ["steps must be a positive integer <= 1000000"]),
    (["--num-test", "10000000000"], ["num_test must be a positive integer <= 100000"]),
    (["--num-tune", "0"], ["num_tune must be a positive integer", "0"]),
], ids=["eval-steps-huge", "eval-num-test-huge", "eval-num-tune-0"])
def test_cli_evaluate_sizes(capsys, tmp_path, argv, words):
    code, _, err = run_cli(capsys, "evaluate", "--baselines", "sgd", *argv, "--out", tmp_path)
    assert code == 2
    assert_one_line(err, *words)


# ================================================================ a learned optimizer's gradient

def test_gradient_policy_of_a_learned_optimizers_step():
    """validate.check_gradient, the policy for LearnedOptimizer.step: NaN or Inf refused and
    counted, a wrong length, a matrix, a complex or integer gradient refused."""
    xp = minil2o.backend.xp
    ok = minil2o.backend.asarray(np.ones(3), "float32")
    assert check_gradient(ok, 3, ok.dtype) is ok
    with pytest.raises(NumericalError, match="holds 2 NaN or Inf value.s. out of 3"):
        check_gradient(minil2o.backend.asarray(np.array([1.0, np.nan, -np.inf]), "float32"), 3)
    with pytest.raises(UsageError, match=r"shape \(4,\), got \(3,\)"):
        check_gradient(ok, 4)
    with pytest.raises(UsageError, match=r"shape \(3,\), got \(3, 1\)"):
        check_gradient(xp.reshape(ok, (3, 1)), 3)
    with pytest.raises(UsageError, match="real floats.*complex"):
        check_gradient(xp.asarray([1 + 2j, 0j, 1j]), 3)
    with pytest.raises(UsageError, match="real floats of dtype .*float64"):
        check_gradient(ok, 3, xp.float64)
    with pytest.raises(UsageError, match="must be an array, got list"):
        check_gradient([1.0, 2.0, 3.0], 3)
