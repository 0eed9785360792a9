"""The quadratic optimizee: loss against a direct formula, gradient and Hessian-vector product
against central differences in float64."""
import numpy as np
import pytest

from minil2o.backend import asarray, to_numpy
from minil2o.errors import UsageError
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.problems.quadratic import QuadraticFamily


def check_problem(problem, rng, theta, batch=None, h=1e-6):
    """Gradient of problem.loss by central differences, and H v against the central difference of
    the hand-written gradient, (g(theta + h v) - g(theta - h v)) / 2h. Returns both errors."""
    f, grad = problem.loss_and_grad(theta, batch)
    assert abs(float(to_numpy(f)) - float(to_numpy(problem.loss(theta, batch)))) < 1e-12
    err_grad = check_gradients(lambda theta: problem.loss(theta, batch), {"theta": theta},
                               {"theta": grad})["theta"]
    v = asarray(rng.standard_normal(problem.n), dtype="float64")
    g_plus = problem.loss_and_grad(theta + h * v, batch)[1]
    g_minus = problem.loss_and_grad(theta - h * v, batch)[1]
    err_hvp = rel_error((g_plus - g_minus) / (2 * h), problem.hvp(theta, v, batch))
    print(f"  hvp relative error {err_hvp:.2e}")
    assert err_grad < 1e-6 and err_hvp < 1e-6, (err_grad, err_hvp)
    return err_grad, err_hvp


def test_gradient_and_hvp(rng):
    problem = QuadraticFamily(dim=10, num_functions=3, dtype="float64").sample(rng)
    assert problem.n == 30 and problem.num_problems == 3
    theta = asarray(rng.standard_normal(problem.n), dtype="float64")
    check_problem(problem, rng, theta)


def test_loss_matches_formula(rng):
    family = QuadraticFamily(dim=4, num_functions=2, dtype="float64")
    problem = family.sample(np.random.default_rng(1))
    W, y = to_numpy(problem.W), to_numpy(problem.y)
    theta = rng.standard_normal(8)
    expected = sum(np.sum((W[b] @ theta[4 * b:4 * b + 4] - y[b]) ** 2) for b in range(2))
    assert abs(float(to_numpy(problem.loss(asarray(theta)))) - expected) < 1e-10
    grad = np.concatenate([2 * W[b].T @ (W[b] @ theta[4 * b:4 * b + 4] - y[b]) for b in range(2)])
    assert rel_error(problem.loss_and_grad(asarray(theta), None)[1], grad) < 1e-12


def test_sampling_is_seeded_and_init_small():
    family = QuadraticFamily(num_functions=5)
    a, b = family.sample(np.random.default_rng(3)), family.sample(np.random.default_rng(3))
    assert np.array_equal(to_numpy(a.W), to_numpy(b.W))
    assert np.array_equal(to_numpy(a.y), to_numpy(b.y))
    theta0 = to_numpy(a.init(np.random.default_rng(0)))
    assert theta0.shape == (50,) and theta0.dtype == np.float32 and 0.005 < theta0.std() < 0.02
    assert a.sample_batch(np.random.default_rng(0)) is None
    assert a.groups == {"all": slice(0, 50)}


@pytest.mark.parametrize("kwargs", [dict(dim=0), dict(num_functions=2.5), dict(init_std=-1.0),
                                    dict(dtype="float16")])
def test_bad_arguments(kwargs):
    with pytest.raises(UsageError):
        QuadraticFamily(**kwargs)
