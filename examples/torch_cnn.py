"""A problem the learned optimizers never saw: a small PyTorch CNN on the bundled MNIST digits,
trained by minil2o's shipped optimizers through `minil2o.torch.LearnedOptimizer` and by tuned
torch Adam.

    pip install -e ".[torch]"
    python examples/torch_cnn.py [--out FOLDER]   # about 2.5 minutes of one CPU core

The CNN (conv 3x3 8 + ReLU + max pool, conv 3x3 16 + ReLU + max pool, linear 784 -> 10; 9,098
parameters) is ordinary PyTorch; swapping the optimizer is one line. The shipped optimizers were
trained on a sigmoid MLP (rnnprop-mnist, dm-mnist) or on a batch-normalized CNN of another shape
(dm-cnn, one LSTM for the conv filters and one for the rest: by default minil2o gives it every
4-d weight as "conv" and the biases and the linear layer as "fc"). Protocol, table and figure:
examples/compare.py. Writes own_torch_cnn.png into --out
(default out/examples).
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pathlib  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import minil2o.torch  # noqa: E402
from minil2o.problems.data import load_mnist  # noqa: E402
from minil2o.errors import UsageError  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from compare import figure, output_path, table, tune_adam  # noqa: E402

NUM_STEPS, BATCH, EVERY, NUM_EVAL = 200, 64, 20, 500
LEARNED = ["rnnprop-mnist", "dm-mnist", "dm-cnn"]
ADAM_GRID = [2.0 ** k for k in range(-11, -2)]
TUNING_SEEDS, TEST_SEEDS = [100, 101], list(range(5))
FIGURE = "own_torch_cnn.png"


def make_cnn(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),     # 8x14x14
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),    # 16x7x7
        torch.nn.Flatten(), torch.nn.Linear(16 * 7 * 7, 10))


def make_optimizer(name, params, lr=None):
    """torch's Adam, or a minil2o optimizer: the one line a user changes."""
    if name == "Adam":
        return torch.optim.Adam(params, lr=lr)
    return minil2o.torch.LearnedOptimizer(params, name)


@torch.no_grad()
def evaluate(model, X, y):
    return torch.nn.functional.cross_entropy(model(X), y).item()


def train(name, seed, data, lr=None):
    """NUM_STEPS minibatch steps; (loss on NUM_EVAL fixed training digits every EVERY steps,
    held-out accuracy)."""
    X, y, X_test, y_test = data
    model = make_cnn(seed)
    opt = make_optimizer(name, model.parameters(), lr)
    rng, losses = np.random.default_rng(seed), []
    for t in range(NUM_STEPS + 1):
        if t % EVERY == 0:
            losses.append(evaluate(model, X[:NUM_EVAL], y[:NUM_EVAL]))
        if t == NUM_STEPS:
            break
        batch = torch.from_numpy(rng.integers(0, len(y), BATCH))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
        try:
            opt.step()
        except UsageError:                                  # a diverged run: NaN gradients
            return np.array(losses + [np.inf] * (NUM_STEPS // EVERY + 1 - len(losses))), 0.0
    with torch.no_grad():
        accuracy = (model(X_test).argmax(dim=1) == y_test).float().mean().item()
    return np.array(losses), accuracy


def digits(split, part=None):
    """(images (N, 1, 28, 28), labels) as tensors; part 0 or 1: one random half of the split."""
    X, y = load_mnist(split)
    if part is not None:
        order = np.random.default_rng(0).permutation(len(y))
        half = order[:len(y) // 2] if part == 0 else order[len(y) // 2:]
        X, y = X[half], y[half]
    return torch.from_numpy(X).reshape(-1, 1, 28, 28), torch.from_numpy(y)


def main():
    out = output_path(FIGURE, __doc__.split("\n\n")[0])
    torch.set_num_threads(1)
    test = digits("test")                                   # held-out accuracy
    tune_data, run_data = digits("train", 1) + test, digits("train", 0) + test
    lr = tune_adam(lambda lr, seed: train("Adam", seed, tune_data, lr)[0][-1], ADAM_GRID,
                   TUNING_SEEDS)
    results, accuracy = {}, {}
    for name in ["Adam"] + LEARNED:
        runs = [train(name, seed, run_data, lr) for seed in TEST_SEEDS]
        results[name] = np.stack([r[0] for r in runs])
        accuracy[name] = np.array([r[1] for r in runs])
    print(f"\nCNN on 1,500 digits, {NUM_STEPS} steps of minibatch {BATCH}, {len(TEST_SEEDS)} "
          f"seeds; torch Adam's tuned learning rate {lr:g}; loss on {NUM_EVAL} training digits")
    table(results, accuracy)
    figure(np.arange(0, NUM_STEPS + 1, EVERY), results, out,
           f"PyTorch CNN, bundled MNIST ({len(TEST_SEEDS)} seeds)")


if __name__ == "__main__":
    main()
