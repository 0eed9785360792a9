"""Small shared pieces of the tests."""
import numpy as np

from minil2o.problems.mlp import MLPFamily
from minil2o.train import TrainConfig


def tiny_config(**changes):
    """A meta-training run that takes a few hundredths of a second (quadratics, 2 epochs of 2
    problems, horizon 10 in truncations of 5, an LSTM of 4 units)."""
    base = dict(problem="quadratic", problem_kwargs={"num_functions": 2, "dim": 3}, horizon=10,
                unroll=5, epochs=2, problems_per_epoch=2, validation_problems=1,
                optimizer_kwargs={"hidden": 4})
    base.update(changes)
    return TrainConfig(**base)


def tiny_family(activation, hidden, dtype="float64", **kwargs):
    """An MLP family on 40 random examples: 12 inputs, 3 classes, minibatch 4."""
    data = np.random.default_rng(7)
    X = data.standard_normal((40, 12))
    y = data.integers(0, 3, size=40)
    return MLPFamily(X, y, hidden=hidden, activation=activation, batch_size=4, num_classes=3,
                     init_std=0.5, dtype=dtype, **kwargs)
