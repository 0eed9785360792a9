"""The optimizees (problems) and a registry that builds a problem family by name.

    family = make_family("mnist-mlp", hidden=(20,), activation="sigmoid")
    problem = family.sample(rng)

Names: 'quadratic' (QuadraticFamily), 'mnist-mlp' (MLPFamily on MNIST), 'cnn' (CNNFamily on
MNIST or CIFAR-10), 'sine-lstm' (SineLSTMFamily) and 'neural-art' (NeuralArtFamily). Each
module is imported only when its name is asked for, so a family whose module or data is missing
does not break the others.
"""
import inspect

from ..errors import UsageError
from ..validate import build_with_settings
from ..validate import check_choice
from .base import Family, Problem, ProblemBatch  # noqa: F401
from .mlp import MLPFamily, MLPProblem  # noqa: F401
from .quadratic import QuadraticFamily, QuadraticProblem  # noqa: F401
from .wrappers import (ConvexCombined, ConvexCombinedFamily, ConvexSquare,  # noqa: F401
                       RandomScaled, RandomScaledFamily)

FAMILIES = ("quadratic", "mnist-mlp", "cnn", "sine-lstm", "neural-art")


def _mnist_mlp(split="train", data_dir=None, **kwargs):
    """MLPFamily over MNIST split `split` (loaded by minil2o.problems.data.load_mnist); kwargs go to
    MLPFamily (hidden, activation, batch_size, init_std, dtype, group_by)."""
    from .data import load_mnist
    X, y = load_mnist(split) if data_dir is None else load_mnist(split, data_dir=data_dir)
    return MLPFamily(X, y, **kwargs)


def _cnn(dataset="mnist", split="train", data_dir=None, **kwargs):
    """CNNFamily over MNIST (bundled subset unless data_dir names full MNIST) or CIFAR-10
    (data_dir required); kwargs go to CNNFamily (layers, channels, classes, ...)."""
    from .data import load_cifar10, load_mnist
    from .cnn import CNNFamily
    check_choice(dataset, "dataset", ("mnist", "cifar10"))
    if dataset == "mnist":
        X, y = load_mnist(split) if data_dir is None else load_mnist(split, data_dir=data_dir)
        return CNNFamily(X, y, 10, image_shape=(1, 28, 28), **kwargs)
    if data_dir is None:
        raise UsageError("dataset='cifar10' needs data_dir: the folder of the python "
                         "version of CIFAR-10 (cifar-10-batches-py)")
    X, y = load_cifar10(data_dir, split)
    return CNNFamily(X, y, 10, **kwargs)


def _sine_lstm(**kwargs):
    from .sequence import SineLSTMFamily
    return SineLSTMFamily(**kwargs)


def _neural_art(**kwargs):
    from .art import NeuralArtFamily
    return NeuralArtFamily(**kwargs)


_BUILDERS = {"quadratic": QuadraticFamily, "mnist-mlp": _mnist_mlp, "cnn": _cnn,
             "sine-lstm": _sine_lstm, "neural-art": _neural_art}


def accepted_kwargs(name):
    """The settings family `name` accepts: its builder's keyword arguments and those of the
    family class the builder passes **kwargs on to (minus the data the builder supplies)."""
    targets = [_BUILDERS[name]]
    if name == "mnist-mlp":
        targets.append(MLPFamily)
    elif name == "cnn":
        from .cnn import CNNFamily
        targets.append(CNNFamily)
    elif name == "sine-lstm":
        from .sequence import SineLSTMFamily
        targets = [SineLSTMFamily]
    elif name == "neural-art":
        from .art import NeuralArtFamily
        targets = [NeuralArtFamily]
    supplied = {"X", "y", "num_classes", "image_shape"} if name == "cnn" else {"X", "y"}
    names = []
    for target in targets:
        for p in inspect.signature(target).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in supplied:
                names.append(p.name)
    return list(dict.fromkeys(names))


def make_family(name, **kwargs):
    """The problem family registered as `name` (one of FAMILIES), built with kwargs.
    An unknown name or setting raises UsageError naming it and what is allowed."""
    if name not in _BUILDERS:
        raise UsageError(f"unknown problem family {name!r}: choose one of {', '.join(FAMILIES)}")
    return build_with_settings(_BUILDERS[name], kwargs, f"problem family {name!r}",
                               accepted_kwargs(name))
