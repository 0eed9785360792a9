"""The optimizees (problems) and the table of problem families, each built by name.

    family = make_family("mnist-mlp", hidden=(20,), activation="sigmoid")
    problem = family.sample(rng)

FAMILIES is the table: name -> FamilyEntry, in the order registered. Each entry says everything
the rest of the library needs to know about a family: how to build it, which settings it accepts,
whether it has data splits (train/validation/test) and its smaller settings for `--quick`.
Training (minil2o.training.factories), the experiments (runner, registry), `minil2o train
--problem`, TrainConfig.problem and make_family all read it, so a new family is one module and
one `register_family(FamilyEntry(...))`. Shipped: 'quadratic' (QuadraticFamily), 'mnist-mlp'
(MLPFamily on MNIST), 'cnn' (CNNFamily on MNIST or CIFAR-10), 'sine-lstm' (SineLSTMFamily) and
'neural-art' (NeuralArtFamily). A family given as a dotted path is imported only when its name
is asked for, so a family whose module or data is missing does not break the others.
"""
import importlib
import inspect
from dataclasses import dataclass, field

from ..errors import UsageError
from ..validate import build_with_settings
from ..validate import check_choice
from .base import Family, Problem, ProblemBatch  # noqa: F401
from .mlp import MLPFamily, MLPProblem  # noqa: F401
from .quadratic import QuadraticFamily, QuadraticProblem  # noqa: F401
from .wrappers import (ConvexCombined, ConvexCombinedFamily, ConvexSquare,  # noqa: F401
                       RandomScaled, RandomScaledFamily)


@dataclass(frozen=True)
class FamilyEntry:
    """One problem family of the table.

    name:     what make_family, TrainConfig.problem and `minil2o train --problem` call it
    family:   the Family class whose keyword arguments are its settings, or its path
              'package.module:Class' ('.module:Class' inside minil2o.problems), imported only
              when the family is asked for
    builder:  what builds it from its settings (None: the family class itself), e.g. a function
              that loads a data split and passes **kwargs on to the class
    supplied: the class's arguments the builder gives itself, which are not settings
    splits:   whether it has train/validation/test data, chosen by the setting `split`: training
              passes train (validation when scoring), the experiments validation and test
    quick:    `--quick`'s smaller settings laid over the given ones: a dict, or a function of the
              given settings returning one
    """
    name: str
    family: object
    builder: object = None
    supplied: tuple = ("X", "y")
    splits: bool = False
    quick: object = field(default_factory=dict)

    def family_class(self):
        """The family class (imported now when given by its path)."""
        if not isinstance(self.family, str):
            return self.family
        module, _, attribute = self.family.partition(":")
        return getattr(importlib.import_module(module, __name__), attribute)

    def settings(self):
        """The settings it accepts: the builder's keyword arguments and those of the family class
        the builder passes **kwargs on to, less the data the builder supplies."""
        targets = [self.builder, self.family_class()] if self.builder else [self.family_class()]
        names = [p.name for target in targets
                 for p in inspect.signature(target).parameters.values()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                 and p.name not in self.supplied]
        return list(dict.fromkeys(names))

    def split_settings(self, split):
        """The settings that choose data split `split` (None: the builder's default): {} for a
        family without splits."""
        return {"split": split} if self.splits and split is not None else {}

    def shrink(self, kwargs):
        """Settings `kwargs` made cheap for `--quick` (same family, smaller batches or images)."""
        small = self.quick(kwargs) if callable(self.quick) else self.quick
        return {**kwargs, **small}


# -- the shipped families -------------------------------------------------------------------------
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


def _quick_mlp(kwargs):
    """4 hidden units in each of the MLP's layers, minibatch 16."""
    return {"batch_size": 16, "hidden": [4] * len(kwargs.get("hidden", [20]))}


def _quick_art(kwargs):
    """8x8 images (16x16 for those above 64x64) through two 4-channel feature layers."""
    return {"size": 8 if kwargs.get("size", 64) <= 64 else 16, "widths": [4, 4]}


FAMILIES = {entry.name: entry for entry in (
    FamilyEntry("quadratic", QuadraticFamily),
    FamilyEntry("mnist-mlp", MLPFamily, _mnist_mlp, splits=True, quick=_quick_mlp),
    FamilyEntry("cnn", ".cnn:CNNFamily", _cnn, supplied=("X", "y", "num_classes", "image_shape"),
                splits=True, quick={"batch_size": 4, "channels": 2, "hidden": 4}),
    FamilyEntry("sine-lstm", ".sequence:SineLSTMFamily", quick={"batch_size": 8, "hidden": 4}),
    FamilyEntry("neural-art", ".art:NeuralArtFamily", quick=_quick_art))}
"""The table of problem families: name -> FamilyEntry (register_family adds one)."""


def register_family(entry):
    """Add a FamilyEntry to the table (FAMILIES); a name already there is refused. Returns it."""
    if not isinstance(entry, FamilyEntry):
        raise UsageError(f"register_family takes a FamilyEntry, got {type(entry).__name__}")
    if entry.name in FAMILIES:
        raise UsageError(f"problem family {entry.name!r} is already registered")
    FAMILIES[entry.name] = entry
    return entry


def family_entry(name):
    """The table's entry for `name`, or a UsageError naming the families there are."""
    return FAMILIES[check_choice(name, "problem family", FAMILIES)]


def accepted_kwargs(name):
    """The settings family `name` accepts (FamilyEntry.settings)."""
    return family_entry(name).settings()


def make_family(name, **kwargs):
    """The problem family registered as `name` (a key of FAMILIES), built with kwargs.
    An unknown name or setting raises UsageError naming it and what is allowed."""
    entry = family_entry(name)
    return build_with_settings(entry.builder or entry.family_class(), kwargs,
                               f"problem family {name!r}", entry.settings())
