"""The quadratic optimizee: loss against a direct formula, gradient and Hessian-vector product
against central differences in float64 (the check is minil2o/workbook/checks.py's, which `minil2o
workbook check` also runs on a learner's functions)."""
import numpy as np
import pytest

from minil2o.backend import asarray, to_numpy
from minil2o.errors import UsageError
from minil2o.gradcheck import rel_error
from minil2o.problems.quadratic import QuadraticFamily
from minil2o.workbook import checks

from helpers import assert_right


def test_gradient_and_hvp():
    """f against problem.loss, the gradient by central differences, H v against the central
    difference of the gradient, on three 10-d quadratics (checks.quadratic_problem)."""
    report = checks.quadratic_problem()
    assert report.notes["n"] == 30 and report.notes["num_problems"] == 3
    assert_right(report)


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
