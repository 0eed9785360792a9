"""The held-out problems the shipped optimizers' cards are measured on (minil2o/use/cards.py):
problems none of them was trained on, each drawn afresh from a seed, run through the same public
interface a user calls (minil2o.pretrained(...).update, or minil2o.torch.LearnedOptimizer).

    least-squares  f(x) = mean((A x - b)^2), A (40, 20) and b (40,) standard normal, x0 ~ N(0, 1);
                   the loss reported is the excess f(x) - min f
    rosenbrock     f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from a start uniform in [-2, 2]^2
    mlp            a torch MLP 64-64-10 (ReLU) on scikit-learn's 8x8 digits, cross-entropy
    cnn            a torch CNN (conv 3x3 8, pool, conv 3x3 16, pool, linear 64 -> 10; ReLU) on them

The first two are NumPy (the backend's xp); the digits problems need torch and scikit-learn (the
`examples` extra). The 1,797 digits are split once in two halves (a fixed permutation): the tuning
runs train on one, the test runs on the other, with other seeds, so that nothing a baseline was
tuned on is reused in the comparison. A torch run draws its minibatches of 64 from its seed.

A run returns (initial loss, final loss), both on the whole problem (all of a half's digits for
the torch ones); a step refused for a NaN or inf gradient (minil2o.errors.GradientError) ends the
run with a final loss of NaN (diverged)."""
import functools
import math
from dataclasses import dataclass

import numpy as np

from ..backend import to_numpy, xp
from ..errors import GradientError
from .dropin import pretrained

DIGITS_BATCH = 64


@dataclass(frozen=True)
class HeldOut:
    """A held-out problem: its name, one line on what it is, whether it needs torch, and
    run(optimizer name, settings, seed, split, steps) -> (initial loss, final loss)."""
    name: str
    about: str
    needs_torch: bool
    run: object


def run_arrays(x0, loss, grad, name, settings, steps):
    """`steps` updates of the optimizer over the one array x0 (n,) through minil2o.pretrained."""
    opt = pretrained(name, **settings)
    params = {"x": x0}
    state = opt.init(params)
    initial = loss(x0)
    for _ in range(steps):
        try:
            params, state = opt.update({"x": grad(params["x"])}, state, params)
        except GradientError:
            return initial, math.nan
    return initial, loss(params["x"])


def least_squares(name, settings, seed, split, steps):
    """f(x) = mean((A x - b)^2) of an instance drawn from (split, seed); the loss reported is its
    excess over the minimum, f(x) - f(x*) (x* by numpy.linalg.lstsq, in float64 on the host),
    so that it falls towards 0 rather than to the residual every optimizer reaches."""
    rng = np.random.default_rng([11, split == "test", seed])
    A64, b64 = rng.standard_normal((40, 20)), rng.standard_normal(40)         # (40, 20), (40,)
    best = float(np.mean((A64 @ np.linalg.lstsq(A64, b64, rcond=None)[0] - b64) ** 2))
    A, b = xp.asarray(A64.astype(np.float32)), xp.asarray(b64.astype(np.float32))
    x0 = xp.asarray(rng.standard_normal(20).astype(np.float32))               # (20,)
    loss = lambda x: float(np.mean((A64 @ to_numpy(x).astype(np.float64) - b64) ** 2)) - best
    grad = lambda x: (2.0 / 40) * (A.T @ (A @ x - b))                         # (20,)
    return run_arrays(x0, loss, grad, name, settings, steps)


def rosenbrock(name, settings, seed, split, steps):
    """Rosenbrock's function from a start drawn from (split, seed); (f(start), f(end))."""
    rng = np.random.default_rng([13, split == "test", seed])
    x0 = xp.asarray(rng.uniform(-2.0, 2.0, 2).astype(np.float32))             # (2,)

    def loss(p):
        return float((1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2)

    def grad(p):
        x, y = p[0], p[1]
        return xp.stack([-2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2)])  # (2,)
    return run_arrays(x0, loss, grad, name, settings, steps)


@functools.lru_cache(maxsize=2)
def digits_half(split):
    """(images (N, 64) in [0, 1] or (N, 1, 8, 8) as torch tensors, labels) of one half of
    scikit-learn's digits: the tuning half or the test half."""
    import torch
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    rows = order[: len(y) // 2] if split == "tune" else order[len(y) // 2:]
    return (torch.from_numpy((X[rows] / 16.0).astype(np.float32)),             # (N, 64)
            torch.from_numpy(y[rows].astype(np.int64)))


def make_mlp(torch):
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def make_cnn(torch):
    return torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)),
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),      # 8x4x4
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),     # 16x2x2
        torch.nn.Flatten(), torch.nn.Linear(16 * 2 * 2, 10))


def run_torch(make, name, settings, seed, split, steps):
    """A model of `make` from torch seed `seed`, trained on a half of the digits by
    minil2o.torch.LearnedOptimizer; the cross-entropy on the whole half before and after."""
    import torch

    from .torch import LearnedOptimizer
    X, y = digits_half(split)
    torch.manual_seed(seed + (10 ** 6 if split == "test" else 0))
    model = make(torch)
    opt = LearnedOptimizer(model.parameters(), name, **settings)
    rng = np.random.default_rng([17, split == "test", seed])

    def full_loss():
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model(X), y))
    initial = full_loss()
    for _ in range(steps):
        rows = torch.from_numpy(rng.integers(0, len(y), DIGITS_BATCH))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[rows]), y[rows]).backward()
        try:
            opt.step()
        except GradientError:
            return initial, math.nan
    return initial, full_loss()


PROBLEMS = {p.name: p for p in (
    HeldOut("mlp", "a torch MLP 64-64-10 (ReLU) on scikit-learn's 8x8 digits", True,
            lambda *a: run_torch(make_mlp, *a)),
    HeldOut("cnn", "a torch CNN (conv 8, pool, conv 16, pool, linear; ReLU) on the 8x8 digits",
            True, lambda *a: run_torch(make_cnn, *a)),
    HeldOut("least-squares", "least squares, 40 equations in 20 unknowns, the excess loss over "
            "its minimum (NumPy)", False,
            least_squares),
    HeldOut("rosenbrock", "Rosenbrock's function in 2-d from a random start (NumPy)", False,
            rosenbrock),
)}
