"""A problem family written outside the package, as a contributor would add one: multinomial
logistic regression on the bundled MNIST, its inputs average-pooled (28x28 -> 14x14 by default).

With a minibatch X: (N, D), one-hot labels Y: (N, C) and theta = [W (D x C, row-major), b (C,)],

    z = X W + b                                             logits, (N, C)
    f = (1/N) sum_n [ log sum_c exp(z_nc) - sum_c Y_nc z_nc ]        mean softmax cross entropy
    dF/dz = (P - Y) / N,   P = softmax(z)
    dF/dW = X^T dF/dz,     dF/db = sum_n dF/dz_n                     (the gradient, by hand)

Each sampled problem is fresh N(0, init_std^2) weights over the family's data; a batch is
batch_size distinct rows. tests/test_new_family.py registers it as "logistic-mnist":

    FamilyEntry("logistic-mnist", LogisticFamily, logistic_mnist, splits=True,
                quick={"batch_size": 8})
"""
import numpy as np

from minil2o.backend import asarray, xp
from minil2o.errors import UsageError
from minil2o.layers import softmax_cross_entropy_probs
from minil2o.problems import Family, Problem
from minil2o.validate import check_settings

CLASSES = 10


def pooled(X, pool):
    """MNIST rows (N, 784) average-pooled over pool x pool squares: (N, (28 / pool)^2)."""
    side = 28 // pool
    return X.reshape(-1, side, pool, side, pool).mean(axis=(2, 4)).reshape(-1, side * side)


class LogisticProblem(Problem):
    """One logistic regression: theta = [W (D x C), b (C,)], n = D C + C."""

    def __init__(self, family):
        self.family, self.dtype = family, family.dtype
        self.n = family.dim * CLASSES + CLASSES

    def init(self, rng):
        """theta_0 ~ N(0, init_std^2): (n,)."""
        return asarray(self.family.init_std * rng.standard_normal(self.n), dtype=self.dtype)

    def sample_batch(self, rng):
        """batch_size distinct row indices: (batch_size,)."""
        family = self.family
        rows = rng.choice(family.num_examples, size=family.batch_size, replace=False)
        return asarray(rows.astype(np.int64))

    def forward(self, theta, batch):
        """The batch's X: (N, D), Y: (N, C) and the logits z: (N, C); batch None: every row."""
        family = self.family
        X = family.X if batch is None else xp.take(family.X, batch, axis=0)     # (N, D)
        Y = family.Y if batch is None else xp.take(family.Y, batch, axis=0)     # (N, C)
        W = xp.reshape(theta[:family.dim * CLASSES], (family.dim, CLASSES))     # (D, C)
        return X, Y, X @ W + theta[family.dim * CLASSES:]                       # (N, C)

    def loss(self, theta, batch):
        X, Y, z = self.forward(theta, batch)
        return softmax_cross_entropy_probs(z, Y)[0]

    def loss_and_grad(self, theta, batch):
        """f and (dF/dW flattened, dF/db): (n,), as the module docstring writes them."""
        X, Y, z = self.forward(theta, batch)
        f, P = softmax_cross_entropy_probs(z, Y)
        dz = (P - Y) / z.shape[0]                                               # (N, C)
        dW = X.T @ dz                                                           # (D, C)
        return f, xp.concat([xp.reshape(dW, (-1,)), xp.sum(dz, axis=0)])        # (n,)


class LogisticFamily(Family):
    """Logistic regressions over one data set. X: host (N_data, 784) MNIST rows in [0, 1];
    y: (N_data,) labels; pool: 1, 2, 4, 7 or 14 (the side of the averaged squares); batch_size:
    the minibatch; init_std: the weights' scale; dtype: 'float32' or 'float64'."""

    split = None                                    # the data split, where logistic_mnist knows it

    def __init__(self, X, y, pool=2, batch_size=32, init_std=0.01, dtype="float32"):
        if pool not in (1, 2, 4, 7, 14):
            raise UsageError(f"pool={pool!r} is not allowed: choose 1, 2, 4, 7 or 14")
        check_settings(dict(batch_size=batch_size, init_std=init_std))
        if batch_size > len(y):
            raise UsageError(f"batch_size={batch_size} is more than the {len(y)} examples")
        X = pooled(np.asarray(X, dtype=np.float64), pool)                       # (N_data, D)
        self.num_examples, self.dim = X.shape
        self.batch_size, self.init_std, self.dtype = batch_size, init_std, dtype
        self.X = asarray(X, dtype=dtype)                                        # (N_data, D)
        self.Y = asarray(np.eye(CLASSES)[y], dtype=dtype)                       # (N_data, C)

    def sample(self, rng):
        return LogisticProblem(self)


def logistic_mnist(split="train", **kwargs):
    """LogisticFamily over the bundled MNIST's split `split`; kwargs go to LogisticFamily."""
    from minil2o.problems.data import load_mnist
    family = LogisticFamily(*load_mnist(split), **kwargs)
    family.split = split
    return family
