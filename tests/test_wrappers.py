"""Random Scaling, combination with a convex function, ProblemBatch and the family registry:
gradients and Hessian-vector products of every wrapper around a quadratic and an MLP against
central differences in float64, and the identities that define each wrapper."""
import numpy as np
import pytest

from minil2o.backend import asarray, to_float, to_numpy
from minil2o.errors import UsageError
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.problems import (FAMILIES, ConvexCombined, ConvexCombinedFamily, MLPFamily,
                              ProblemBatch, QuadraticFamily, RandomScaled, RandomScaledFamily,
                              make_family)


def quadratic(rng):
    return QuadraticFamily(dim=4, num_functions=3, init_std=0.5, dtype="float64").sample(rng)


def mlp(rng, group_by="all"):
    data = np.random.default_rng(5)
    X, y = data.standard_normal((30, 6)), data.integers(0, 3, size=30)
    return MLPFamily(X, y, hidden=(4,), activation="tanh", batch_size=4, num_classes=3,
                     init_std=0.5, dtype="float64", group_by=group_by).sample(rng)


def check_problem(problem, rng, h=1e-6):
    """Gradient against central differences of the loss, and H v against the central difference
    of the gradient along v, at theta_0 perturbed (so no coordinate sits at a special value)."""
    theta = problem.init(rng) + asarray(0.3 * rng.standard_normal(problem.n), dtype="float64")
    batch = problem.sample_batch(rng)
    f, grad = problem.loss_and_grad(theta, batch)
    assert abs(to_float(f) - to_float(problem.loss(theta, batch))) < 1e-12
    err = check_gradients(lambda theta: problem.loss(theta, batch), {"theta": theta},
                          {"theta": grad})["theta"]
    v = asarray(rng.standard_normal(problem.n), dtype="float64")
    numeric = (problem.loss_and_grad(theta + h * v, batch)[1]
               - problem.loss_and_grad(theta - h * v, batch)[1]) / (2 * h)
    err_hvp = rel_error(numeric, problem.hvp(theta, v, batch))
    print(f"  hvp relative error {err_hvp:.2e}")
    assert err < 1e-6 and err_hvp < 1e-6, (err, err_hvp)


@pytest.mark.parametrize("make", [quadratic, mlp])
def test_random_scaled_gradient_and_hvp(make, rng):
    check_problem(RandomScaled(make(rng), 2.0, rng), rng)


@pytest.mark.parametrize("make", [quadratic, mlp])
@pytest.mark.parametrize("clip_square", [10.0, None])
def test_convex_combined_gradient_and_hvp(make, clip_square, rng):
    problem = ConvexCombined(RandomScaled(make(rng), 1.0, rng), rng, dim=5, r=1.0,
                             clip_square=clip_square, x0="uniform")
    check_problem(problem, rng)


def test_random_scaling_identities(rng):
    base = quadratic(np.random.default_rng(1))
    scaled = RandomScaled(base, 3.0, np.random.default_rng(2))
    c = to_numpy(scaled.scale)
    assert c.shape == (12,) and np.all(c > np.exp(-3.0)) and np.all(c < np.exp(3.0))
    theta0 = scaled.init(np.random.default_rng(4))
    assert rel_error(scaled.scale * theta0, base.init(np.random.default_rng(4))) < 1e-15
    f_base = to_float(base.loss(scaled.scale * theta0))
    assert abs(to_float(scaled.loss(theta0, None)) - f_base) < 1e-12
    assert scaled.num_problems == 3 and scaled.groups == base.groups and scaled.dtype == "float64"
    assert np.all(to_numpy(RandomScaled(base, 0.0, rng).scale) == 1.0)


def test_convex_part_value_clip_and_groups(rng):
    problem = ConvexCombined(quadratic(rng), rng, dim=4, r=0.0)
    assert problem.n == 16 and problem.num_problems == 3
    assert problem.groups == {"all": slice(0, 16)}
    theta0 = to_numpy(problem.init(rng))
    assert np.all(theta0[12:] == 0.0)                              # x_0 = 0 (public code)
    v = to_numpy(problem.convex.v)
    x = v + np.array([0.5, -1.0, 4.0, -5.0])                       # the last two squares clip
    g, grad = problem.convex.loss_and_grad(asarray(x), None)
    assert abs(to_float(g) - (0.25 + 1.0 + 10.0 + 10.0) / 4) < 1e-12
    assert rel_error(grad, [0.25, -0.5, 0.0, 0.0]) < 1e-12        # (2/dim)(x - v), 0 if clipped
    hv = problem.convex.hvp(asarray(x), asarray(np.ones(4)), None)
    assert rel_error(hv, [0.5, 0.5, 0.0, 0.0]) < 1e-12              # 2/dim, 0 if clipped
    own = ConvexCombined(mlp(rng, group_by="layer"), rng, dim=4, group="convex")
    assert own.groups == {"layer1": slice(0, 28), "layer2": slice(28, 43),
                          "convex": slice(43, 47)}
    joined = ConvexCombined(mlp(rng, group_by="layer"), rng, dim=4)
    assert joined.groups["layer2"] == slice(28, 47)


def test_problem_batch_gradient_hvp_and_layout(rng):
    check_problem(ProblemBatch([quadratic(rng), mlp(rng), quadratic(rng)]), rng)
    parts = [mlp(rng, group_by="layer"), mlp(rng, group_by="layer")]
    batch = ProblemBatch(parts)
    assert batch.num_problems == 2 and batch.n == 86
    assert batch.groups == {"layer1": slice(0, 56), "layer2": slice(56, 86)}   # group by group
    thetas = [asarray(np.arange(43.0)), asarray(100.0 + np.arange(43.0))]
    theta = batch._join(thetas)
    assert rel_error(theta[28:56], 100.0 + np.arange(28.0)) == 0.0
    assert all(rel_error(a, b) == 0.0 for a, b in zip(batch._split(theta), thetas))
    check_problem(batch, rng)


def test_families_sample_fresh_wrappers(rng):
    family = ConvexCombinedFamily(RandomScaledFamily(QuadraticFamily(num_functions=2), 3.0))
    a, b = family.sample(rng), family.sample(rng)
    assert a.n == 40 and a.num_problems == 2 and a.dtype == "float32"
    assert not np.array_equal(to_numpy(a.problem.scale), to_numpy(b.problem.scale))
    assert to_numpy(a.init(rng)).dtype == np.float32


def test_registry(rng):
    assert tuple(FAMILIES) == ("quadratic", "mnist-mlp", "cnn", "sine-lstm", "neural-art")
    problem = make_family("quadratic", num_functions=2).sample(rng)
    assert problem.n == 20
    with pytest.raises(UsageError, match="quadratic, mnist-mlp"):
        make_family("resnet")


def test_registry_mnist_mlp():
    pytest.importorskip("minil2o.problems.data", reason="the MNIST loader minil2o.problems.data is missing")
    family = make_family("mnist-mlp", hidden=(20,), activation="relu", split="validation")
    problem = family.sample(None)
    assert problem.n == 784 * 20 + 20 + 20 * 10 + 10 and family.activation == "relu"


@pytest.mark.parametrize("name, module", [("sine-lstm", "sequence"), ("neural-art", "art"),
                                          ("cnn", "cnn")])
def test_registry_builds_the_other_families(name, module, rng):
    pytest.importorskip(f"minil2o.problems.{module}", reason=f"{name} is not written yet")
    problem = make_family(name).sample(rng)
    assert problem.n > 0 and problem.num_problems >= 1


def test_bad_arguments(rng):
    with pytest.raises(UsageError, match="r must be a number >= 0, got -1.0"):
        RandomScaled(quadratic(rng), -1.0, rng)
    with pytest.raises(UsageError, match="dim must be a positive integer, got 0"):
        ConvexCombined(quadratic(rng), rng, dim=0)
    with pytest.raises(UsageError, match="x0"):
        ConvexCombined(quadratic(rng), rng, x0="ones")
    with pytest.raises(UsageError, match="already a group"):
        ConvexCombined(quadratic(rng), rng, group="all")
    with pytest.raises(UsageError, match="dtypes"):
        ProblemBatch([quadratic(rng), QuadraticFamily().sample(rng)])
