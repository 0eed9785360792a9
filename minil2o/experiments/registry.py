"""The registry: every named experiment and every shipped optimizer of both papers, and the
quick version of each experiment (seconds, for CI and `minil2o reproduce NAME --quick`)."""
import dataclasses

from ..problems import family_entry
from . import budget, dm, rnnprop
from .runner import default_grid

PRETRAINED = {**dm.PRETRAINED, **rnnprop.PRETRAINED}
EXPERIMENTS = {e.name: e for e in dm.EXPERIMENTS + rnnprop.EXPERIMENTS + budget.EXPERIMENTS}


def shrink_kwargs(problem, kwargs):
    """Problem settings made cheap for a quick run: the family's own `--quick` settings
    (minil2o.problems.FAMILIES) laid over them."""
    return family_entry(problem).shrink(kwargs)


def quick_version(exp):
    """The experiment at a size that runs in seconds: 2 test problems, 1 tuning problem, at most
    4 steps, three learning rates per baseline (one more allowed beyond an edge), shrunk problems
    (4 hidden units per MLP layer)."""
    grids = {}
    for name in exp.baselines:
        grid = exp.grids.get(name, default_grid(name))
        grids[name] = tuple(grid[len(grid) // 2 - 2:len(grid) // 2 + 3:2])
    shrink = lambda p, kwargs: None if kwargs is None else shrink_kwargs(p.problem, kwargs)
    panels = tuple(dataclasses.replace(p, kwargs=shrink(p, p.kwargs), cifar=shrink(p, p.cifar))
                   for p in exp.panels)
    return dataclasses.replace(exp, steps=min(exp.steps, 4), num_test=2, num_tune=1,
                               grids=grids, panels=panels[:2], extend=1)


def quick_config(config):
    """A training configuration shrunk to seconds (for --retrain --quick)."""
    kwargs = shrink_kwargs(config.problem, dict(config.problem_kwargs))
    return dataclasses.replace(config, problem_kwargs=kwargs, horizon=4, unroll=2, epochs=1,
                               problems_per_epoch=1, validation_problems=1)
