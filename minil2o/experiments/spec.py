"""What an experiment is: a shipped optimizer (`Pretrained`), a test setting (`Panel`) and a named
experiment (`Experiment`), plus the settings both papers share. The experiments themselves are data
in minil2o/experiments/dm.py (Andrychowicz et al. 2016) and rnnprop.py (Lv et al. 2017)."""
from dataclasses import dataclass, field, replace

from ..evaluation.evaluate import BASELINES
from ..training.train import TrainConfig

ART_TRAIN_CONTENT = ["astronaut", "chelsea", "coffee"]
# the images held out from neural-art training, as test contents: the bundle's fourth photograph
# and the two bundled style images no art experiment styles with (kind/name in datasets/images)
ART_TEST_CONTENT = ("content/grace_hopper", "style/brick", "style/grass")


@dataclass
class Pretrained:
    """A shipped optimizer: the TrainConfig that trained it, what it is, and a stand-in to use
    (another shipped name) while it has not been trained."""
    config: TrainConfig
    about: str
    stand_in: str = ""


@dataclass
class Panel:
    """One test setting: a problem family and its keyword arguments. With `cifar`, the panel
    wants CIFAR-10 and `kwargs` is its MNIST stand-in, used when CIFAR-10 is not at hand; kwargs
    None: no stand-in (it would repeat another panel), the panel runs only with CIFAR-10."""
    label: str
    problem: str
    kwargs: dict = field(default_factory=dict)
    cifar: dict = None


def panels_to_run(exp, cifar_dir):
    """The experiment with only the panels that can run (CIFAR-only panels need cifar_dir), and
    the labels of those left out."""
    keep = tuple(p for p in exp.panels if p.kwargs is not None or cifar_dir)
    skipped = [p.label for p in exp.panels if p not in keep]
    return replace(exp, panels=keep), skipped


@dataclass
class Claim:
    """One part of a paper's claim as comparisons the verdict rule can check: on `panels` (their
    indices; None: every panel) the learned optimizer `learned` (a shipped name) is `direction`
    than each of `others` (baseline names as in the JSON, e.g. "NAG", shipped names, or BEST: on
    each panel the tuned baseline with the lowest mean score): "<" lower (better), ">" higher
    (worse), "<=" comparable or lower (not significantly worse)."""
    learned: str
    others: tuple
    direction: str = "<"
    panels: tuple = None


ALL_BASELINES = ("SGD", "NAG", "RMSprop", "Adam")
BEST = "best baseline"              # in Claim.others: the panel's best tuned baseline


@dataclass
class Experiment:
    """A named experiment. kind: 'curves' (learning curves per panel), 'final' (final loss per
    panel, a table), 'art' (curves and styled images) or 'updates' (Appendix B)."""
    name: str
    source: str                          # paper and figure
    claim: str                           # what the paper reports
    kind: str
    panels: tuple
    learned: tuple = ("dm-mnist",)       # names of shipped optimizers (PRETRAINED)
    baselines: tuple = BASELINES
    steps: int = 100
    num_test: int = 100
    num_tune: int = 10
    grids: dict = field(default_factory=dict)   # baseline -> lr grid replacing its default grid
    note: str = ""
    criteria: tuple = ("final",)         # minil2o.evaluation.evaluate.CRITERIA; the first is the panel's
    extend: int = 4                      # rates a grid may grow by while its best is at an edge
    stride: int = 3                      # tuning's coarse pass: every third rate (factor 8), then
                                         # the neighbours of the best (evaluate.tune_learning_rate)
    claims: tuple = ()                   # Claim: what the verdict rule checks


MLP = Panel("base MLP 784-20-10 sigmoid", "mnist-mlp")   # the training problem of both papers
