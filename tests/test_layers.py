"""Every layer's backward pass against central differences (float64), plus forward values checked
against plain loops and the numerical edge cases (overflow, ties) the docstrings promise.

A backward pass returns the vector-Jacobian product dout^T J; it is checked as the gradient of the
scalar <forward(inputs), dout> for a random dout (gradcheck.vjp_objective). The checks of the
pieces that are workbook exercises are the workbook's (minil2o/workbook/checks_*.py, every drawn
case), which `minil2o workbook check` runs on a learner's functions too."""
import numpy as np
import pytest

from minil2o import convolution, layers, lstm
from minil2o.backend import asarray, to_numpy, xp
from minil2o.errors import DataError, UsageError
from exercise_tools import assert_right as exercise_right, library
from gradient_checks import activation_backward, away_from_zero, f64, layer_errors, lstm_weights
from helpers import assert_right

TOL = 1e-7


def check_layer(forward, backward, inputs, names, seed=1234, **kwargs):
    """Check backward(dout, cache) against central differences of <forward(**inputs), dout>
    (gradient_checks.layer_errors); names: the inputs that backward's return values are gradients for."""
    errors = layer_errors(forward, backward, inputs, names, seed, **kwargs)
    print(f"  {errors}")
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("name", ["linear_backward", "sigmoid_backward", "tanh_backward",
                                  "softmax_cross_entropy", "lstm_step_backward", "lstm_backward"])
def test_exercise_pieces(name):
    """The library's pieces that are workbook exercises, on every case of their checks."""
    exercise_right(name, library(name))


@pytest.mark.parametrize("name", sorted(layers.ACTIVATIONS))
def test_activation(name):
    assert_right(activation_backward(name))


def test_elu_values_and_no_overflow():
    x = asarray([-1000.0, -1.0, 0.0, 2.0, 1000.0], dtype="float32")
    out, _ = layers.elu_forward(x)
    expected = [-1.0, np.expm1(-1.0), 0.0, 2.0, 1000.0]
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-6)
    assert np.all(np.isfinite(to_numpy(out)))


def test_elu_alpha(rng):
    inputs = {"x": f64(away_from_zero(rng, (3, 4)))}
    check_layer(layers.elu_forward, layers.elu_backward, inputs, ["x"], alpha=0.5)
    check_layer(layers.elu_forward, layers.elu_backward, inputs, ["x"], alpha=0.0)


def test_elu_backward_needs_only_the_output():
    """The cache keeps out, not x: the branch is read from out > 0, which holds exactly where
    x > 0 (also at 0, at tiny x and where exp(x) - 1 rounds to 0)."""
    x = asarray([-1e-30, -1e-8, 0.0, 1e-30, 1e-8, -3.0, 3.0], dtype="float32")
    out, cache = layers.elu_forward(x)
    assert not any(c is x for c in cache)
    got = to_numpy(layers.elu_backward(xp.ones_like(x), cache))
    x_np = to_numpy(x)
    want = np.where(x_np > 0, 1.0, np.exp(x_np))
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("alpha", [-1.0, float("nan")])
def test_elu_refuses_a_negative_alpha(alpha):
    with pytest.raises(UsageError, match="ELU alpha .* is not allowed: use a number >= 0"):
        layers.elu_forward(asarray([1.0, -1.0], dtype="float32"), alpha=alpha)


def test_softmax_cross_entropy_large_logits_are_stable():
    logits = asarray([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], dtype="float32")
    y = layers.one_hot(np.array([0, 2]), 3)
    loss, dlogits = layers.softmax_cross_entropy(logits, y)
    np.testing.assert_allclose(float(to_numpy(loss)), np.log(3.0) / 2, rtol=1e-6)
    assert np.all(np.isfinite(to_numpy(dlogits)))


def test_one_hot_values_and_errors():
    Y = to_numpy(layers.one_hot(np.array([2, 0, 1]), 4))
    np.testing.assert_array_equal(Y, np.eye(4, dtype=np.float32)[[2, 0, 1]])
    assert Y.dtype == np.float32
    with pytest.raises(DataError, match="labels in"):
        layers.one_hot(np.array([0, 4]), 4)
    with pytest.raises(DataError, match="1-D integer"):
        layers.one_hot(np.array([0.0, 1.0]), 4)


def conv_reference(x, w, b):
    """SAME convolution by explicit loops over kernel offsets, on the host."""
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    p = k // 2
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((N, F, H, W)) + b[None, :, None, None]
    for i in range(k):
        for j in range(k):
            out += np.einsum("nchw,fc->nfhw", xpad[:, :, i:i + H, j:j + W], w[:, :, i, j])
    return out


@pytest.mark.parametrize("k", [3, 5])
def test_conv2d(rng, k):
    x = rng.standard_normal((2, 3, 5, 4))
    w = rng.standard_normal((2, 3, k, k))
    b = rng.standard_normal(2)
    out, _ = convolution.conv2d_forward(f64(x), f64(w), f64(b))
    np.testing.assert_allclose(to_numpy(out), conv_reference(x, w, b), rtol=1e-12, atol=1e-12)
    check_layer(convolution.conv2d_forward, convolution.conv2d_backward,
                {"x": f64(x), "w": f64(w), "b": f64(b)}, ["x", "w", "b"])


def test_conv2d_rejects_even_kernel(rng):
    with pytest.raises(UsageError, match="k odd"):
        convolution.conv2d_forward(f64(np.zeros((1, 2, 4, 4))), f64(np.zeros((3, 2, 2, 2))),
                              f64(np.zeros(3)))


def test_maxpool2x2(rng):
    x = rng.permutation(2 * 3 * 4 * 6).reshape(2, 3, 4, 6) * 0.1   # distinct values: no ties
    out, _ = convolution.maxpool2x2_forward(f64(x))
    expected = x.reshape(2, 3, 2, 2, 3, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(to_numpy(out), expected)
    check_layer(convolution.maxpool2x2_forward, convolution.maxpool2x2_backward, {"x": f64(x)}, ["x"])


def test_maxpool2x2_ties_go_to_the_first_entry():
    x = f64(np.array([[[[1.0, 1.0], [1.0, 1.0]]]]))      # one window, four equal entries
    out, cache = convolution.maxpool2x2_forward(x)
    dx = convolution.maxpool2x2_backward(f64(np.full((1, 1, 1, 1), 3.0)), cache)
    np.testing.assert_array_equal(to_numpy(dx)[0, 0], [[3.0, 0.0], [0.0, 0.0]])
    with pytest.raises(UsageError, match="even"):
        convolution.maxpool2x2_forward(f64(np.zeros((1, 1, 3, 4))))


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 3, 2)])
def test_batchnorm(rng, shape):
    D = shape[1]
    inputs = {"x": f64(2.0 * rng.standard_normal(shape) + 1.0),
              "gamma": f64(rng.standard_normal(D)), "beta": f64(rng.standard_normal(D))}
    out, _ = convolution.batchnorm_forward(**inputs)
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    beta = to_numpy(inputs["beta"]).reshape((1, D) + (1,) * (len(shape) - 2))
    np.testing.assert_allclose(to_numpy(out).mean(axis=axes, keepdims=True), beta, atol=1e-12)
    check_layer(convolution.batchnorm_forward, convolution.batchnorm_backward, inputs,
                ["x", "gamma", "beta"])


def test_lstm_sequence_matches_steps(rng):
    N, T, D, H = 2, 3, 3, 4
    x, h0 = f64(rng.standard_normal((N, T, D))), f64(rng.standard_normal((N, H)))
    w = lstm_weights(rng, D, H)
    hs, _ = lstm.lstm_forward(x, h0, **w)
    h, c = h0, xp.zeros_like(h0)
    for t in range(T):
        h, c, _ = lstm.lstm_step_forward(x[:, t, :], h, c, w["Wx"], w["Wh"], w["b"])
        np.testing.assert_allclose(to_numpy(hs[:, t, :]), to_numpy(h), rtol=1e-14)
