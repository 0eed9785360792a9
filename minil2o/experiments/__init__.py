"""The experiments of both papers as named configurations: `minil2o reproduce NAME` runs one and
writes its numbers (JSON) and its figure (PNG); `minil2o reproduce --list` names them all.

Every experiment is an `Experiment` (spec.py), written as data with its paper: dm.py for
Andrychowicz et al. 2016, rnnprop.py for Lv et al. 2017, budget.py for the training budget. It names
the shipped optimizers it loads (PRETRAINED, files in minil2o/datasets/pretrained/), the test
problems (one `Panel` per problem family setting), how many steps, which hand-designed baselines,
the criteria it reports (minil2o.evaluation.evaluate.CRITERIA: the final loss, the mean loss over the horizon,
Lv et al.'s loss at the final parameters) and the paper's claims, quoted and split into parts
(`Claim`, `Part`), which the verdict rule (minil2o/evaluation/verdicts.py) judges. Each runs
through the one comparison of minil2o.evaluation.evaluate (runner.py): for each criterion, each baseline's
learning rate is tuned for it by grid search (the lowest mean score, a diverged rate scoring +inf;
the grid grows past an edge while the best rate sits there) on tuning problems: the MNIST
validation split, or other seeds where a problem has no data. Every optimizer then runs on the
same fresh test problems (the MNIST test split, seeds never used in training or tuning). The JSON
keeps each optimizer's score on every test problem, its paired comparison to each learned
optimizer (statistics.py: the raw difference and the log ratio with 95% t-intervals, the
signed-rank test) and the verdicts (verdicts.py), which tools/render_results.py writes into
RESULTS.md. A learned recipe kept at several meta-training seeds (shipped.SEED_RUNS) runs at each.

    minil2o reproduce dm-fig4-mnist                 the headline (Andrychowicz et al., Fig. 4)
    minil2o reproduce dm-fig4-mnist --quick         a few problems and steps: seconds (CI)
    minil2o reproduce dm-fig4-mnist --retrain       retrain the optimizers with their recorded
                                                    configuration instead of loading the shipped ones
    minil2o reproduce all --quick                   every experiment, reduced
    minil2o reproduce dm-fig4-mnist --extend        add the learned optimizers (seeds) the JSON
                                                    lacks, on the same test problems

Curves already computed are kept in --cache (keyed by optimizer, problem setting, steps and seed),
so experiments that share a setting (the base MLP appears in five of them) pay for it once.
A shipped optimizer that is missing is replaced by its named stand-in, or by an untrained network,
and the JSON and the figure say so.

    spec.py       what an experiment, a panel and a shipped optimizer are
    dm.py         Andrychowicz et al. 2016: optimizers, experiments, art images, Appendix B traces
    rnnprop.py    Lv et al. 2017: optimizers, control optimizers, experiments
    registry.py   all of them by name, and the quick version of each
    shipped.py    the shipped optimizers and their other seeds: train commands, loading, retraining
    runner.py     one experiment's panels through minil2o.evaluation.evaluate.compare, curves cached, JSON
    budget.py     dm-budget: test loss against training problems, and Lv et al.'s Table 4
    reproduce.py  the `minil2o reproduce` command: a whole run, or --extend; the JSON judged
"""
from .registry import EXPERIMENTS, PRETRAINED, quick_version  # noqa: F401
from .reproduce import add_arguments, list_experiments, run, run_experiment  # noqa: F401
from .shipped import (PRETRAINED_DIR, load_learned, pretrained_path, superseded,  # noqa: F401
                      train_command)
from .spec import Claim, Experiment, Panel, Part, Pretrained  # noqa: F401
