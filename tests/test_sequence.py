"""RNNprop's sine-sequence LSTM optimizee: BPTT gradient against central differences, the data,
a few descent steps."""
import math

import numpy as np
import pytest

from minil2o.backend import to_float, to_numpy
from minil2o.errors import UsageError
from minil2o.gradcheck import check_gradients
from minil2o.problems.sequence import SineLSTM, SineLSTMFamily, sample_sine_sequences


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("predict", ["last", "every"])
def test_bptt_gradient_matches_central_differences(num_layers, predict):
    rng = np.random.default_rng(1)
    problem = SineLSTMFamily(num_layers=num_layers, hidden=3, seq_len=4, batch_size=2,
                             predict=predict, init_scale=0.5, dtype="float64").sample(rng)
    theta = problem.init(rng)
    batch = problem.sample_batch(rng)
    f, grad = problem.loss_and_grad(theta, batch)
    assert abs(to_float(f) - to_float(problem.loss(theta, batch))) < 1e-12
    errors = check_gradients(lambda theta: problem.loss(theta, batch), {"theta": theta},
                             {"theta": grad})
    assert errors["theta"] < 1e-6


def test_parameter_count_matches_the_papers_lstm():
    # 1 layer, 20 units: Wx (1, 80), Wh (20, 80), b (80,), Wo (20, 1), bo (1,)
    assert SineLSTM().n == 80 + 1600 + 80 + 20 + 1
    assert SineLSTM(num_layers=2).n == 1781 + 1600 + 1600 + 80
    assert SineLSTM().groups == {"all": slice(0, 1781)}


def test_batches_follow_the_sine_model():
    rng = np.random.default_rng(0)
    x, y = sample_sine_sequences(rng, 500, 10, 0.0)
    assert x.shape == (500, 10) and y.shape == (500, 10)
    np.testing.assert_allclose(x[:, 1:], y[:, :-1])        # without noise, targets are x shifted
    assert np.abs(y).max() <= 10.0
    x_noisy, y_noisy = sample_sine_sequences(np.random.default_rng(0), 500, 10, 0.1)
    np.testing.assert_allclose(y_noisy, y)                 # targets stay clean
    assert 0.08 < np.std(x_noisy - x) < 0.12


def test_default_problem_is_float32_and_seeded():
    problem = SineLSTMFamily().sample(np.random.default_rng(0))
    theta = problem.init(np.random.default_rng(3))
    batch = problem.sample_batch(np.random.default_rng(4))
    f, grad = problem.loss_and_grad(theta, batch)
    assert to_numpy(grad).dtype == np.float32 and to_numpy(grad).shape == (problem.n,)
    assert to_numpy(batch["x"]).shape == (128, 10)
    again = problem.sample_batch(np.random.default_rng(4))
    np.testing.assert_array_equal(to_numpy(again["x"]), to_numpy(batch["x"]))
    assert math.isfinite(to_float(f))


@pytest.mark.parametrize("num_layers", [1, 2])
def test_adam_steps_decrease_the_loss(num_layers):
    rng = np.random.default_rng(0)
    problem = SineLSTM(num_layers=num_layers, batch_size=32, dtype="float64")
    theta = problem.init(rng)
    batch = problem.sample_batch(rng)
    f0 = to_float(problem.loss(theta, batch))
    m, v = 0.0 * theta, 0.0 * theta
    for t in range(1, 21):                                 # Adam, lr 0.03, on one fixed batch
        _, grad = problem.loss_and_grad(theta, batch)
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad * grad
        theta = theta - 0.03 * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)) ** 0.5 + 1e-8)
    assert to_float(problem.loss(theta, batch)) < 0.5 * f0


@pytest.mark.parametrize("kwargs", [{"num_layers": 0}, {"hidden": 2.5}, {"seq_len": 0},
                                    {"batch_size": True}, {"predict": "all"}, {"noise": -1.0}])
def test_bad_arguments_raise_usage_error(kwargs):
    with pytest.raises(UsageError):
        SineLSTMFamily(**kwargs)
