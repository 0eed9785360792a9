"""What an experiment is: a shipped optimizer (`Pretrained`), a test setting (`Panel`) and a named
experiment (`Experiment`), plus the settings both papers share. The experiments themselves are data
in minil2o/experiments/dm.py (Andrychowicz et al. 2016) and rnnprop.py (Lv et al. 2017)."""
from dataclasses import dataclass, field, replace

from ..evaluation import verdicts
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
class Part:
    """One thing a claim asserts, as comparisons the verdict rule checks
    (minil2o/evaluation/verdicts.py): on `panels` (their indices; None: every panel) the learned
    optimizer `learned` (a shipped name: every kept meta-training seed of its recipe is judged) is
    `direction` than each of `others` (baseline names as in the JSON, e.g. "NAG", shipped names,
    BEST: the panel's best tuned baseline, REST: every other tuned baseline): "<" lower (better),
    ">" higher (worse), "<=" not worse (at most verdicts.MARGIN times the other's loss)."""
    says: str
    learned: str
    others: tuple
    direction: str = "<"
    panels: tuple = None


@dataclass
class Claim:
    """A claim of a paper, quoted, and the parts it is split into, fixed before the numbers."""
    quote: str                           # the paper's words (numbers its text lost in brackets)
    where: str                           # section or figure
    parts: tuple


ALL_BASELINES = ("SGD", "NAG", "RMSprop", "Adam")
BEST, REST = verdicts.BEST, verdicts.REST


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
    claims: tuple = ()                   # Claim: the paper's claims, in parts, for the verdict rule
    every_seed: bool = True              # run each learned recipe at every kept seed (SEED_RUNS)


MLP = Panel("base MLP 784-20-10 sigmoid", "mnist-mlp")   # the training problem of both papers
