"""The gradient checker itself: rel_error, central differences, and that check_gradients accepts a
correct gradient and flags a wrong one, entry by entry and along random directions."""
import numpy as np
import pytest

from minil2o.backend import asarray, to_numpy, xp
from minil2o.gradcheck import (check_gradients, directional_derivative, numerical_gradient,
                               rel_error, vjp_objective)


def test_rel_error_basics():
    a = np.array([3.0, 4.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0          # no 0/0
    assert rel_error(a, np.zeros(2)) == 1.0
    assert rel_error(a, -a) == 1.0
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 2.1)
    assert rel_error(asarray(a, dtype="float64"), a) == 0.0    # backend array against host array
    assert rel_error(a.reshape(2, 1), a) == 0.0                # compares entries, not shapes


def _problem(rng):
    """f(x, W) = sum(tanh(W x)) with gradients df/dx = W^T (1 - t^2), df/dW = (1 - t^2) x^T."""
    inputs = {"x": asarray(rng.standard_normal(4), dtype="float64"),
              "W": asarray(rng.standard_normal((3, 4)), dtype="float64")}

    def f(x, W):
        return xp.sum(xp.tanh(W @ x))

    t = xp.tanh(inputs["W"] @ inputs["x"])                     # (3,)
    s = 1.0 - t * t                                            # (3,)
    grads = {"x": inputs["W"].T @ s,                           # (4,)
             "W": xp.reshape(s, (3, 1)) * xp.reshape(inputs["x"], (1, 4))}  # (3, 4)
    return f, inputs, grads


@pytest.mark.parametrize("max_full", [400, 2], ids=["full", "directions"])
def test_check_gradients_accepts_a_correct_gradient(max_full, rng):
    f, inputs, grads = _problem(rng)
    errors = check_gradients(f, inputs, grads, max_full=max_full, verbose=False)
    assert set(errors) == {"x", "W"}
    assert max(errors.values()) < 1e-8


@pytest.mark.parametrize("max_full", [400, 2], ids=["full", "directions"])
def test_check_gradients_flags_a_wrong_gradient(max_full, rng):
    f, inputs, grads = _problem(rng)
    wrong = {"x": 2.0 * grads["x"],                            # off by a factor
             "W": grads["W"] + 0.1 * xp.ones_like(grads["W"])}  # off by a shift
    errors = check_gradients(f, inputs, wrong, max_full=max_full, verbose=False)
    assert min(errors.values()) > 1e-2


def test_check_gradients_prints_and_checks_shapes(rng, capsys):
    f, inputs, grads = _problem(rng)
    check_gradients(f, inputs, {"x": grads["x"]}, max_full=2, num_directions=3)
    printed = capsys.readouterr().out
    assert "d/dx" in printed and "3 directions" in printed
    with pytest.raises(ValueError, match="shape"):
        check_gradients(f, inputs, {"x": grads["W"]}, verbose=False)


def test_numerical_and_directional_derivatives(rng):
    f, inputs, grads = _problem(rng)
    numeric = numerical_gradient(f, inputs, "W")
    assert numeric.shape == (3, 4)
    assert rel_error(numeric, grads["W"]) < 1e-8
    d = rng.standard_normal(4)
    exact = float(np.sum(to_numpy(grads["x"]) * d))
    assert directional_derivative(f, inputs, "x", d) == pytest.approx(exact, rel=1e-8)


def test_vjp_objective(rng):
    x = asarray(rng.standard_normal((2, 3)), dtype="float64")
    dout = asarray(rng.standard_normal((2, 3)), dtype="float64")

    def square(x):
        return x * x                                           # (2, 3), Jacobian diag(2 x)

    objective = vjp_objective(square, dout)
    assert rel_error(objective(x=x), np.sum(to_numpy(x * x * dout))) < 1e-15
    right = check_gradients(objective, {"x": x}, {"x": 2.0 * x * dout}, verbose=False)
    wrong = check_gradients(objective, {"x": x}, {"x": x * dout}, verbose=False)
    assert right["x"] < 1e-8 and wrong["x"] > 1e-2
