"""The MLP optimizee: gradient and R-operator Hessian-vector product against central differences
in float64 for every activation at one and two hidden layers (tests/gradient_checks.py), the
workbook's mlp_loss_and_grad exercise on every case, and a short Adam run on MNIST."""
import numpy as np
import pytest

from minil2o.backend import to_float, to_numpy, xp
from minil2o.errors import DataError, UsageError
from minil2o.problems.mlp import ACTIVATIONS, MLPFamily
import gradient_checks as checks
from exercise_tools import assert_right as exercise_right, library
from helpers import assert_right, tiny_family


def test_loss_and_grad_exercise():
    exercise_right("mlp_loss_and_grad", library("mlp_loss_and_grad"))


@pytest.mark.parametrize("hidden", [(5,), (5, 4)])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradient_and_hvp(activation, hidden):
    """f, the gradient and H v of a tiny MLP (checks.mlp_gradient_and_hvp), at a point away from
    the activations' kinks."""
    report = checks.mlp_gradient_and_hvp(activation, hidden)
    assert report.notes["min_abs_preactivation"] > 1e-4
    assert_right(report)


def test_layout_batches_and_groups(rng):
    family = tiny_family("sigmoid", (5, 4), dtype="float32", group_by="layer")
    problem = family.sample(rng)
    assert problem.n == 12 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3 and problem.num_problems == 1
    assert problem.groups == {"layer1": slice(0, 65), "layer2": slice(65, 89),
                              "layer3": slice(89, 104)}
    assert tiny_family("sigmoid", (5,)).sample(rng).groups == {"all": slice(0, 83)}
    batch = to_numpy(problem.sample_batch(rng))
    assert batch.shape == (4,) and len(set(batch.tolist())) == 4 and batch.max() < 40
    theta = problem.init(rng)
    assert to_numpy(theta).dtype == np.float32 and to_numpy(theta).shape == (problem.n,)
    f_all, grad_all = problem.loss_and_grad(theta, None)          # None: the whole data set
    assert to_numpy(grad_all).dtype == np.float32 and 0.5 < to_float(f_all) < 3.0


def test_loss_matches_numpy_reference(rng):
    problem = tiny_family("tanh", (5,)).sample(rng)
    theta, batch = problem.init(rng), problem.sample_batch(rng)
    t, idx = to_numpy(theta), to_numpy(batch)
    X, y = to_numpy(problem.family.X)[idx], to_numpy(problem.family.Y)[idx].argmax(axis=1)
    W1, b1 = t[:60].reshape(12, 5), t[60:65]
    W2, b2 = t[65:80].reshape(5, 3), t[80:83]
    z = np.tanh(X @ W1 + b1) @ W2 + b2
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert abs(to_float(problem.loss(theta, batch)) + log_p[np.arange(4), y].mean()) < 1e-12


def test_bad_arguments():
    X, y = np.zeros((10, 3)), np.zeros(10, dtype=int)
    with pytest.raises(UsageError, match="activation"):
        MLPFamily(X, y, activation="softplus")
    with pytest.raises(UsageError, match="batch_size"):
        MLPFamily(X, y, batch_size=11)
    with pytest.raises(UsageError, match="hidden"):
        MLPFamily(X, y, hidden=(20, 0))
    with pytest.raises(DataError, match="labels"):
        MLPFamily(X, y + 10, batch_size=4)
    with pytest.raises(DataError, match="y has shape"):
        MLPFamily(X, y[:5], batch_size=4)


def test_adam_trains_mnist_mlp():
    """784-20-10 sigmoid on real MNIST: Adam (lr 0.03) takes the loss from ~2.3 to below 1.0."""
    data = pytest.importorskip("minil2o.problems.data", reason="the MNIST loader minil2o.problems.data is missing")
    try:
        X, y = data.load_mnist("train")
    except (OSError, DataError) as e:
        pytest.skip(f"MNIST is not available here: {e}")
    problem = MLPFamily(X, y, hidden=(20,), activation="sigmoid").sample(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    theta = problem.init(rng)
    m, v = xp.zeros_like(theta), xp.zeros_like(theta)
    losses = []
    for t in range(1, 101):                                       # Adam, Kingma & Ba 2015
        f, g = problem.loss_and_grad(theta, problem.sample_batch(rng))
        losses.append(to_float(f))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta = theta - 0.03 * (m / (1 - 0.9 ** t)) / (xp.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    first, last = np.mean(losses[:5]), np.mean(losses[-10:])
    print(f"  Adam on MNIST: loss {first:.3f} -> {last:.3f}")
    assert 2.0 < first < 2.6 and last < 1.0
