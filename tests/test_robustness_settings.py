"""Robustness of numbers and settings: every setting from a flag, a --*-arg or the API is checked
for its type, finiteness, range and a sane size before any work, with one line naming the value
and what is allowed; a gradient handed to an optimizer's public step is checked by one function
(minil2o.validate.check_gradient), and a constructor called directly checks its settings by name.

docs/ROBUSTNESS.md lists each case with the test that checks it.
"""
import warnings

import numpy as np
import pytest

import minil2o
from helpers import TINY, assert_one_line, run_cli, tiny_config
from minil2o.backend import asarray, to_numpy
from minil2o.errors import GradientError, NumericalError, UsageError
from minil2o.evaluation.evaluate import learning_curves
from minil2o.training.factories import build_optimizer
from minil2o.meta import unroll
from minil2o.optimizers.grouped import PerGroupOptimizer
from minil2o.optimizers.learned import DMOptimizer, RNNprop
from minil2o.problems import make_family
from minil2o.problems.art import NeuralArtFamily
from minil2o.problems.cnn import CNNFamily
from minil2o.problems.mlp import MLPFamily
from minil2o.problems.quadratic import QuadraticFamily
from minil2o.problems.sequence import SineLSTM
from minil2o.training.train import Trainer
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


# ================================================================ an optimizer's public step

def public_optimizer(kind, dtype="float32"):
    """A learned optimizer of `kind` (dm, rnnprop, per-group over 3 + 2 coordinates) with
    parameters, and its state for 5 coordinates after one step."""
    if kind == "per-group":
        opt = PerGroupOptimizer({"a": DMOptimizer(hidden=3), "b": RNNprop(hidden=2)},
                                {"a": 3, "b": 2})
    else:
        opt = {"dm": DMOptimizer, "rnnprop": RNNprop}[kind](hidden=3)
    opt.phi = opt.init_params(np.random.default_rng(0), dtype)
    grad = asarray(np.linspace(-1.0, 1.0, 5), dtype)
    _, state = opt.step(grad, opt.init_state(5, dtype))
    return opt, state, grad


def host_copy(state):
    return {k: host_copy(v) if isinstance(v, dict) else
            (to_numpy(v).copy() if hasattr(v, "shape") else v) for k, v in state.items()}


def assert_same_state(a, b):
    assert set(a) == set(b)
    for k in a:
        if isinstance(a[k], dict):
            assert_same_state(a[k], b[k])
        else:
            np.testing.assert_array_equal(to_numpy(a[k]), to_numpy(b[k]))


@pytest.mark.parametrize("kind", ["dm", "rnnprop", "per-group"])
def test_public_step_refuses_a_bad_gradient_and_keeps_the_state(kind):
    """LearnedOptimizer.step and the per-group optimizer's step go through check_gradient first:
    NaN or Inf refused with a GradientError (a NumericalError and a UsageError) counting them; a
    wrong length, dtype or a complex gradient refused; the state left as it was."""
    xp = minil2o.backend.xp
    opt, state, grad = public_optimizer(kind)
    before = host_copy(state)
    expected, _ = opt.step(grad, state)
    bad = asarray(np.array([1.0, np.nan, 0.5, np.inf, 0.0]), "float32")
    with pytest.raises(GradientError, match=r"gradient holds 2 NaN or Inf value.s. out of 5") as info:
        opt.step(bad, state)
    assert isinstance(info.value, NumericalError) and isinstance(info.value, UsageError)
    assert info.value.count == 2
    for wrong, words in [(grad[:4], r"shape \(5,\), got \(4,\)"),
                         (xp.reshape(grad, (5, 1)), r"shape \(5,\), got \(5, 1\)"),
                         (asarray(to_numpy(grad), "float64"), "dtype float32, got float64"),
                         (xp.asarray(np.ones(5, dtype=np.complex64)), "real floats")]:
        with pytest.raises(UsageError, match=words):
            opt.step(wrong, state)
    assert_same_state(state, before)
    update, _ = opt.step(grad, state)                   # the next good step is unchanged
    np.testing.assert_array_equal(to_numpy(update), to_numpy(expected))


@pytest.mark.parametrize("kind", ["dm", "per-group"])
def test_public_step_refuses_a_foreign_state_and_missing_parameters(kind):
    opt, state, grad = public_optimizer(kind)
    with pytest.raises(UsageError, match="state must be what"):
        opt.step(grad, {"t": 0})
    opt.phi = None
    with pytest.raises(UsageError, match="has no parameters"):
        opt.step(grad, state)


def test_meta_training_does_not_check_gradients(monkeypatch):
    """The check costs one pass over the gradient on the public step only: an unroll of
    meta-training (step_forward) never calls it; the public step calls it once per step."""
    opt, state, grad = public_optimizer("dm")
    calls = []
    real = minil2o.optimizers.learned.check_gradient
    monkeypatch.setattr(minil2o.optimizers.learned, "check_gradient",
                        lambda *args, **kw: calls.append(1) or real(*args, **kw))
    problem = QuadraticFamily(dim=5).sample(np.random.default_rng(1))
    theta = problem.init(np.random.default_rng(2))
    unroll(opt, opt.phi, problem, theta, opt.init_state(5), [None] * 6)
    assert calls == []
    opt.step(grad, state)
    assert calls == [1]


def test_evaluation_of_a_learned_optimizer_whose_gradient_overflows():
    """A loss that overflows with a finite gradient marks the run (NaN curve); so does a gradient
    that is NaN or Inf: evaluation ends the run there, before the learned optimizer's public step
    (which would refuse it) sees it."""
    opt, _, _ = public_optimizer("dm")
    with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        curves = learning_curves(QuadraticFamily(dim=3, init_std=1e30), opt, 2, 3, seed=0)
        assert np.all(np.isnan(curves))
        curves = learning_curves(QuadraticFamily(dim=3, init_std=1e300), opt, 1, 3, seed=0)
        assert np.all(np.isnan(curves))


@pytest.mark.parametrize("name", ["adam", "dm-mnist"])
def test_dropin_refuses_with_the_same_policy(name):
    """minil2o.pretrained(...).update, for a hand-designed optimizer too, refuses a NaN gradient
    through validate.check_gradient: a GradientError naming the arrays that hold them."""
    params = [asarray(np.ones((2, 2)), "float32"), asarray(np.ones(3), "float32")]
    opt = minil2o.pretrained(name)
    state = opt.init(params)
    grads = [asarray(np.array([[0.0, np.inf], [np.nan, 1.0]]), "float32"), params[1]]
    with pytest.raises(GradientError) as info:
        opt.update(grads, state, params)
    assert info.value.count == 2 and isinstance(info.value, NumericalError)
    assert_one_line(str(info.value), "grads hold 2 non-finite entries", "grads[0]", "unchanged")


X_TINY = np.linspace(0.0, 1.0, 8 * 16).reshape(8, 16)       # 8 examples of 16 features, or 4x4
Y_TINY = np.arange(8) % 2


@pytest.mark.parametrize("build, words", [
    (lambda: DMOptimizer(p=float("nan")), ["p must be a number in (0, 80]", "nan"]),
    (lambda: DMOptimizer(output_scale=0.0), ["output_scale must be a number in (0, 1e+06]"]),
    (lambda: DMOptimizer(preprocess="cube"), ["unknown preprocessing 'cube'", "log"]),
    (lambda: DMOptimizer(hidden=10 ** 9), ["hidden must be positive integers <= 4096"]),
    (lambda: DMOptimizer(hidden=[20, 20]), ["hidden must be a positive integer", "[20, 20]"]),
    (lambda: RNNprop(beta1=1.0), ["beta1 must be a number in [0, 1)", "1.0"]),
    (lambda: RNNprop(eps=-1e-8), ["eps must be a number in (0, 1]", "-1e-08"]),
    (lambda: RNNprop(alpha=float("inf")), ["alpha must be", "inf"]),
    (lambda: RNNprop(num_layers=100), ["num_layers must be a positive integer <= 16", "100"]),
    (lambda: QuadraticFamily(init_std=float("inf")), ["init_std must be a number >= 0", "inf"]),
    (lambda: QuadraticFamily(dim=10 ** 9), ["dim must be a positive integer <= 100000"]),
    (lambda: QuadraticFamily(num_functions=10 ** 5, dim=10 ** 4),
     ["100000 quadratics of dimension 10000 would need about", "GiB"]),
    (lambda: MLPFamily(X_TINY, Y_TINY, hidden=[10 ** 7]), ["hidden must be positive integers <= 4096"]),
    (lambda: MLPFamily(X_TINY, Y_TINY, hidden=()), ["hidden must be 1 to 16 layer sizes"]),
    (lambda: MLPFamily(X_TINY, Y_TINY, init_std=float("inf")), ["init_std must be a number >= 0"]),
    (lambda: MLPFamily(X_TINY, Y_TINY, batch_size=9), ["batch_size=9 is not allowed", "[1, 8]"]),
    (lambda: SineLSTM(noise=float("inf")), ["noise must be a number >= 0", "inf"]),
    (lambda: SineLSTM(init_scale=float("nan")), ["init_scale must be a number >= 0", "nan"]),
    (lambda: SineLSTM(hidden=10 ** 9), ["hidden must be positive integers <= 4096"]),
    (lambda: CNNFamily(X_TINY, Y_TINY, 2, image_shape=(4, 4), channels=10 ** 6),
     ["channels must be a positive integer <= 4096"]),
    (lambda: CNNFamily(X_TINY, Y_TINY, 2, image_shape=(4, 4), kernel_size=10 ** 6),
     ["kernel_size must be a positive integer <= 99"]),
    (lambda: NeuralArtFamily(size=10 ** 6), ["size must be a positive integer <= 4096"]),
], ids=["dm-p-nan", "dm-output-scale-zero", "dm-preprocess", "dm-hidden-huge", "dm-hidden-list",
        "rnnprop-beta1-one", "rnnprop-eps-negative", "rnnprop-alpha-inf", "rnnprop-layers-huge",
        "quadratic-init-std-inf", "quadratic-dim-huge", "quadratic-memory", "mlp-hidden-huge",
        "mlp-hidden-empty", "mlp-init-std-inf", "mlp-batch-size", "sine-noise-inf",
        "sine-init-scale-nan", "sine-hidden-huge", "cnn-channels-huge", "cnn-kernel-huge",
        "art-size-huge"])
def test_direct_constructors_check_settings_by_name(build, words):
    """A constructor called directly checks its settings by name (validate.SETTINGS), as
    make_family and build_optimizer do, in one line."""
    with pytest.raises(UsageError) as info:
        build()
    assert_one_line(str(info.value), *words)
