"""A problem the learned optimizers never saw: multinomial logistic regression on the bundled
digits, in plain NumPy, trained by minil2o's shipped optimizers and by tuned Adam.

    python examples/logistic_regression.py [--out FOLDER]  # about 70 s of one CPU core (pip install -e . first)

The model is softmax(x W + b) with W (784, 10), b (10,): convex, no hidden layer, where the
shipped optimizers were trained on a sigmoid MLP with a hidden layer, for 100 steps; here they run
for 300. The optimizer is one line (`minil2o.pretrained(...)`); everything else is the user's own
code. Protocol, table and figure: examples/compare.py. Writes own_logistic_regression.png into --out
(default out/examples).
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")           # one thread, as the table was measured

import pathlib  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

import minil2o  # noqa: E402
from minil2o.problems.data import load_mnist  # noqa: E402
from minil2o.errors import UsageError  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from compare import figure, output_path, table, tune_adam  # noqa: E402

NUM_STEPS, BATCH, EVERY = 300, 128, 10
LEARNED = ["rnnprop-mnist", "dm-mnist"]
ADAM_GRID = [2.0 ** k for k in range(-10, 1)]
TUNING_SEEDS, TEST_SEEDS = [100, 101, 102], list(range(10))
FIGURE = "own_logistic_regression.png"


def loss_and_grads(params, X, y):
    """Mean softmax cross-entropy of softmax(X W + b) and its gradients {"W", "b"}."""
    logits = X @ params["W"] + params["b"]                            # (B, 10)
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)                                 # (B, 10)
    loss = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
    d = p.copy()
    d[np.arange(len(y)), y] -= 1.0
    d /= len(y)                                                       # (B, 10)
    return loss, {"W": X.T @ d, "b": d.sum(axis=0)}


def train(opt, seed, X, y, X_test, y_test):
    """NUM_STEPS minibatch steps from a seeded start; (full-data losses every EVERY steps, accuracy)."""
    rng = np.random.default_rng(seed)
    params = {"W": (0.01 * rng.standard_normal((784, 10))).astype(np.float32),
              "b": np.zeros(10, np.float32)}
    state, losses = opt.init(params), []
    for t in range(NUM_STEPS + 1):
        if t % EVERY == 0:
            losses.append(loss_and_grads(params, X, y)[0])
        if t == NUM_STEPS:
            break
        batch = rng.integers(0, len(y), BATCH)
        _, grads = loss_and_grads(params, X[batch], y[batch])
        try:
            params, state = opt.update(grads, state, params)
        except UsageError:                                            # a diverged run: NaN gradients
            return np.array(losses + [np.inf] * (NUM_STEPS // EVERY + 1 - len(losses))), 0.0
    accuracy = np.mean(np.argmax(X_test @ params["W"] + params["b"], axis=1) == y_test)
    return np.array(losses), accuracy


def halves(X, y):
    """The training digits split at random into two halves of the same size: one for the test
    runs, one for tuning (so Adam is tuned on a problem of the same size, on other digits)."""
    order = np.random.default_rng(0).permutation(len(y))
    a, b = order[:len(y) // 2], order[len(y) // 2:]
    return X[a], y[a], X[b], y[b]


def main():
    out = output_path(FIGURE, __doc__.split("\n\n")[0])
    X, y, X_tune, y_tune = halves(*load_mnist("train"))   # test runs / tuning runs: 1,500 each
    X_test, y_test = load_mnist("test")                   # held-out accuracy: 1,000 other digits
    lr = tune_adam(lambda lr, seed: train(minil2o.pretrained("adam", lr=lr), seed, X_tune, y_tune,
                                          X_test, y_test)[0][-1], ADAM_GRID, TUNING_SEEDS)
    names = {"Adam": minil2o.pretrained("adam", lr=lr), **{n: minil2o.pretrained(n) for n in LEARNED}}
    results, accuracy = {}, {}
    for name, opt in names.items():
        runs = [train(opt, seed, X, y, X_test, y_test) for seed in TEST_SEEDS]
        results[name] = np.stack([r[0] for r in runs])
        accuracy[name] = np.array([r[1] for r in runs])
    print(f"\nlogistic regression on 1,500 digits, {NUM_STEPS} steps of minibatch {BATCH}, "
          f"{len(TEST_SEEDS)} seeds; Adam's tuned learning rate {lr:g}")
    table(results, accuracy)
    figure(np.arange(0, NUM_STEPS + 1, EVERY), results, out,
           f"logistic regression, bundled digits ({len(TEST_SEEDS)} seeds)")


if __name__ == "__main__":
    main()
