"""The CNN optimizee: its hand-written gradient against central differences (float64), its parameter
groups, its data handling, and plain SGD making progress on a tiny synthetic task."""
import numpy as np
import pytest

from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.errors import DataError, UsageError
from minil2o.gradcheck import check_gradients, directional_derivative, rel_error
from minil2o.problems.cnn import CNNFamily, CNNProblem

ARCHITECTURES = ["c-c-p-f", "c-c-p-c-c-p-f-f", "dm-cifar"]


def tiny_family(layers, activation="relu", dtype="float64", **kwargs):
    """4-channel 8x8 random images, 3 classes, batch of 4."""
    rng = np.random.default_rng(1)
    X = rng.uniform(0.0, 1.0, size=(10, 4, 8, 8))
    y = rng.integers(0, 3, size=10)
    return CNNFamily(X, y, 3, layers=layers, channels=3, hidden=5, activation=activation,
                     batch_size=4, dtype=dtype, **kwargs)


def per_parameter_errors(problem, loss, theta, grad):
    """Relative error of the directional derivative along a random direction inside each
    parameter array's slice of theta (zero elsewhere), so no single array's error can hide."""
    rng = np.random.default_rng(3)
    errors, start = {}, 0
    for p, size in zip(problem.params, problem.sizes):
        d = np.zeros(problem.n)
        d[start:start + size] = rng.standard_normal(size)
        start += size
        numeric = directional_derivative(loss, {"theta": theta}, "theta", d)
        errors[p.name] = rel_error(np.array([numeric]), np.array([to_numpy(grad) @ d]))
    print("  per parameter:", {k: f"{v:.1e}" for k, v in errors.items()})
    return errors


@pytest.mark.parametrize("layers", ARCHITECTURES)
def test_gradient_matches_central_differences(layers):
    rng = np.random.default_rng(0)
    problem = tiny_family(layers).sample(rng)
    theta = problem.init(rng)
    batch = problem.sample_batch(rng)
    f, grad = problem.loss_and_grad(theta, batch)
    assert grad.shape == (problem.n,)
    assert to_float(f) == pytest.approx(to_float(problem.loss(theta, batch)), rel=1e-14)
    loss = lambda theta: problem.loss(theta, batch)                       # noqa: E731
    errors = check_gradients(loss, {"theta": theta}, {"theta": grad}, max_full=0)
    errors.update(per_parameter_errors(problem, loss, theta, grad))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "elu"])
def test_gradient_other_activations(activation):
    rng = np.random.default_rng(0)
    problem = tiny_family("c-p-f-f", activation=activation).sample(rng)
    theta = problem.init(rng)
    batch = problem.sample_batch(rng)
    _, grad = problem.loss_and_grad(theta, batch)
    errors = check_gradients(lambda theta: problem.loss(theta, batch), {"theta": theta},
                             {"theta": grad}, max_full=0, num_directions=4)
    assert errors["theta"] < 1e-6, errors


@pytest.mark.parametrize("layers", ARCHITECTURES)
def test_groups_cover_theta_exactly_once(layers):
    problem = tiny_family(layers).sample(None)
    groups = problem.groups
    assert set(groups) == {"conv", "fc"}
    covered = np.concatenate([np.arange(problem.n)[s] for s in groups.values()])
    np.testing.assert_array_equal(np.sort(covered), np.arange(problem.n))
    conv_params = [p for p in problem.params if p.group == "conv"]
    assert groups["conv"].stop == sum(int(np.prod(p.shape)) for p in conv_params)
    assert all(p.name.startswith(("conv", "bn")) for p in conv_params)


def test_dm_cifar_preset_structure():
    problem = tiny_family("dm-cifar").sample(None)
    names = [p.name for p in problem.params]
    assert names == ["conv0.w", "bn0.gamma", "bn0.beta", "conv1.w", "bn1.gamma", "bn1.beta",
                     "conv2.w", "bn2.gamma", "bn2.beta", "fc0.W", "fc0.b", "fc1.W", "fc1.b"]
    shapes = {p.name: p.shape for p in problem.params}
    assert shapes["conv0.w"] == (3, 4, 5, 5)                 # 5x5 filters
    assert shapes["fc0.W"] == (3 * 1 * 1, 5)                 # 8 -> 4 -> 2 -> 1 pixels
    assert shapes["fc1.W"] == (5, 3)


def test_init_and_batches(rng):
    family = tiny_family("c-c-p-f", dtype="float32")
    problem = family.sample(rng)
    theta = problem.init(rng)
    assert theta.shape == (problem.n,) and theta.dtype == xp.float32
    assert not np.allclose(to_numpy(theta), to_numpy(family.sample(rng).init(rng)))
    b1 = problem.sample_batch(np.random.default_rng(5))
    b2 = problem.sample_batch(np.random.default_rng(5))
    assert b1["x"].shape == (4, 4, 8, 8) and b1["y"].shape == (4, 3)
    np.testing.assert_array_equal(to_numpy(b1["x"]), to_numpy(b2["x"]))
    idx = np.random.default_rng(5).integers(0, 10, size=4)
    np.testing.assert_array_equal(to_numpy(b1["x"]), to_numpy(family.X)[idx])
    f, grad = problem.loss_and_grad(theta, b1)
    assert f.dtype == xp.float32 and grad.dtype == xp.float32


def test_flat_images_and_class_subset():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 36))                           # MNIST-like rows, 6x6 images
    y = np.arange(30) % 5
    family = CNNFamily(X, y, 5, layers="c-p-f", channels=2, image_shape=(6, 6), classes=(3, 1))
    assert family.X.shape == (12, 1, 6, 6) and family.Y.shape == (12, 2)
    labels = to_numpy(family.Y).argmax(axis=1)
    np.testing.assert_array_equal(labels, (y[np.isin(y, (3, 1))] == 1).astype(int))  # 3->0, 1->1
    np.testing.assert_array_equal(to_numpy(family.X)[0, 0], X[1].reshape(6, 6).astype(np.float32))


def test_bad_inputs_are_refused():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(6, 1, 6, 6)), np.arange(6) % 2
    with pytest.raises(DataError, match="image_shape"):
        CNNFamily(X.reshape(6, 36), y, 2)
    with pytest.raises(DataError, match="labels"):
        CNNFamily(X, y + 1, 2)
    with pytest.raises(UsageError, match="layers="):
        CNNFamily(X, y, 2, layers="c-f-c")
    with pytest.raises(UsageError, match="layers="):
        CNNFamily(X, y, 2, layers="c-x-f")
    with pytest.raises(UsageError, match="even height"):
        CNNFamily(X, y, 2, layers="c-p-p-f")                 # 6 -> 3 -> cannot pool
    with pytest.raises(UsageError, match="activation"):
        CNNFamily(X, y, 2, activation="softplus")
    with pytest.raises(UsageError, match="classes"):
        CNNFamily(X, y, 2, classes=(0, 2))


def bars_dataset(rng, N=64):
    """Class 0: a bright top half; class 1: a bright bottom half; plus noise. (N, 1, 8, 8)."""
    y = np.arange(N) % 2
    X = 0.3 * rng.uniform(size=(N, 1, 8, 8))
    X[y == 0, :, :4, :] += 0.6
    X[y == 1, :, 4:, :] += 0.6
    return X, y


@pytest.mark.parametrize("layers", ["c-c-p-f", "dm-cifar"])
def test_sgd_reduces_the_loss(layers):
    rng = np.random.default_rng(0)
    X, y = bars_dataset(rng)
    problem = CNNFamily(X, y, 2, layers=layers, channels=4, hidden=8, batch_size=16).sample(rng)
    theta = problem.init(rng)
    everything = problem.take_batch(np.arange(64))
    before = to_float(problem.loss(theta, everything))
    for _ in range(30):
        _, grad = problem.loss_and_grad(theta, problem.sample_batch(rng))
        theta = theta - 0.1 * grad
    after = to_float(problem.loss(theta, everything))
    assert after < 0.5 * before, (before, after)
    assert to_float(problem.accuracy(theta, everything)) > 0.9


def test_problem_accepts_backend_arrays_directly():
    X = asarray(np.zeros((2, 1, 4, 4)), dtype="float32")
    Y = asarray(np.eye(2), dtype="float32")
    problem = CNNProblem(X, Y, layers="c-p-f", channels=2)
    assert problem.n == (2 * 9 + 2) + (2 * 2 * 2 * 2 + 2)
    assert "n=" in repr(problem)
