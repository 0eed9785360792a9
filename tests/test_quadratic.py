"""The quadratic optimizee: loss against a direct formula, gradient and Hessian-vector product
against central differences in float64 (tests/gradient_checks.py), and the workbook's two quadratic
exercises on every case (which `minil2o workbook check` also runs on a learner's functions)."""
import numpy as np
import pytest

from minil2o.backend import asarray, to_numpy
from minil2o.errors import UsageError
from minil2o.gradcheck import rel_error
from minil2o.problems.quadratic import QuadraticFamily
from exercise_tools import assert_right as exercise_right, library
from gradient_checks import problem_report
from helpers import assert_right


def test_gradient_and_hvp():
    """f against problem.loss, the gradient by central differences, H v against the central
    difference of the gradient (5.4), on three 10-d quadratics."""
    rng = np.random.default_rng(0)
    problem = QuadraticFamily(dim=10, num_functions=3, dtype="float64").sample(rng)
    theta = asarray(rng.standard_normal(problem.n), dtype="float64")
    assert problem.n == 30 and problem.num_problems == 3
    assert_right(problem_report(problem, rng, theta, None, type(problem).loss_and_grad,
                                type(problem).hvp))


@pytest.mark.parametrize("name", ["quadratic_loss_and_grad", "quadratic_hvp"])
def test_exercises(name):
    exercise_right(name, library(name))


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
