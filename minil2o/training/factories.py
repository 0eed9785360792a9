"""What a training configuration builds: a learned optimizer by kind, one per parameter group when
asked, and the problem family, wrapped by RNNprop's training tricks (Lv et al. 2017, sections
4.1 and 4.2) on the training split.
"""
import inspect

import numpy as np

from ..validate import build_with_settings
from ..optimizers.grouped import PerGroupOptimizer
from ..optimizers.learned import DMOptimizer, RNNprop
from ..problems import family_entry, make_family
from ..problems.wrappers import ConvexCombinedFamily, RandomScaledFamily
from ..validate import check_choice, check_memory

LEARNED = {"dm": DMOptimizer, "rnnprop": RNNprop}


def build_optimizer(kind, **kwargs):
    """A learned optimizer by kind ('dm' or 'rnnprop') with its keyword arguments."""
    check_choice(kind, "learned optimizer", tuple(LEARNED))
    allowed = [p for p in inspect.signature(LEARNED[kind]).parameters if p != "phi"]
    return build_with_settings(LEARNED[kind], kwargs, f"{kind} optimizer", allowed)


def build_learned(config, family):
    """The learned optimizer a config trains: one optimizer, or with per_group one for each of the
    problem's parameter groups (read off one sampled problem; a family's problems share them)."""
    if not config.per_group:
        return build_optimizer(config.optimizer, **config.optimizer_kwargs)
    groups = family.sample(np.random.default_rng(0)).groups
    return PerGroupOptimizer({g: build_optimizer(config.optimizer, **config.optimizer_kwargs)
                              for g in groups}, {g: s.stop - s.start for g, s in groups.items()})


def build_family(config, split=None):
    """The problem family of a config on data split `split` (for the families with data splits,
    minil2o.problems.FAMILIES), wrapped by RNNprop's training tricks when they are on."""
    kwargs = dict(config.problem_kwargs)
    kwargs.setdefault("dtype", config.dtype)
    kwargs.update(family_entry(config.problem).split_settings(split))   # families with data
    family = make_family(config.problem, **kwargs)
    if config.random_scaling > 0 and split == "train":
        family = RandomScaledFamily(family, config.random_scaling)
    if config.convex_combination and split == "train":
        family = ConvexCombinedFamily(family, r=config.convex_scaling)
    return family


def check_truncation_memory(config, family, opt):
    """Refuse, before training, a truncation whose saved activations would not fit in memory: per
    step and coordinate, about 12 floats per LSTM unit and layer (gates, cell, output) and a few
    more for theta and the gradient. The problem's size is read off one sampled problem."""
    n = family.sample(np.random.default_rng(0)).n * config.meta_batch
    subs = getattr(opt, "optimizers", {"": opt}).values()
    width = max(getattr(o, "hidden", 20) * getattr(o, "num_layers", 2) for o in subs)
    itemsize = 4 if config.dtype == "float32" else 8
    check_memory(itemsize * (config.unroll + 1) * n * (12 * width + 8),
                 f"a truncation of {config.unroll} steps on {n} coordinates")
