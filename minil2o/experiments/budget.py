"""The training budget (`minil2o reproduce dm-budget`): the test loss of dm-mnist and rnnprop-mnist
against the number of training problems they saw, each meta-training seed apart, with tuned NAG and
Adam and rnnprop-mnist-e10 (meta learning rate 1e-3, 100 problems) as reference lines; and Lv et
al.'s Table 4 (section 5.5: the final loss of RNNprop trained with and without the convex
combination, after the same numbers of training iterations), measured on the same test problems
after TABLE4_BUDGETS training problems, at each of TABLE4_SEEDS. The budgets and seeds are fixed
here, before the runs; the verdict rule (minil2o/evaluation/verdicts.py) compares the two recipes
at each budget and seed.

The optimizers are the snapshots tools/train_budget.py keeps (read, never written, here):

    ROOT/NAME-sSEED/at-BUDGET.npz      NAME in BUDGET_NAMES (or WITHOUT_CC), BUDGET in BUDGETS

Whatever snapshots exist are evaluated; the JSON and the figure name the missing ones. With none at
all (a fresh checkout, or --quick before any run reached a budget), untrained networks stand in,
labelled as such.
"""
import glob
import os
import re

import numpy as np

from ..evaluation.evaluate import criterion_values, curves_for
from ..optimizers.hand import HAND_OPTIMIZERS, make_hand_optimizer
from ..training.factories import build_optimizer
from ..evaluation.plots import plot_budget
from ..training.runs import load_optimizer
from . import dm, rnnprop
from .runner import rounded, value_summary
from .spec import MLP, Claim, Experiment, Part
from ..evaluation.statistics import paired_difference

BUDGET_NAMES = ("dm-mnist", "rnnprop-mnist")
BUDGETS = (100, 300, 1000, 3000)     # the public 10,000: about 40 more CPU hours on a 2-core CPU
SEEDS = (0, 1, 2)
DEFAULT_ROOT = os.path.join("results", "dm-budget", "runs")
WITH_CC, WITHOUT_CC = "rnnprop-mnist", "rnnprop-mnist-no-cc"     # Table 4's two recipes
TABLE4_BUDGETS = (100, 300, 1000)    # Table 4's training budgets (the no-cc runs stop at 1,000)
TABLE4_SEEDS = (0, 1, 2, 3, 4)       # Table 4's meta-training seeds, for both recipes
# No loss threshold: Table 4 reads the loss after fixed numbers of training iterations, so the
# budgets above are the criterion; a threshold read off the test curves would be chosen after
# seeing them
TABLE4_THRESHOLD = None

EXPERIMENTS = [
    Experiment("dm-budget", "training budget (Andrychowicz et al. 2016, Fig. 4; Lv et al. 2017, "
               "Table 4)", "Table 4: with the convex combination RNNprop reaches a lower loss "
               "after the same number of training problems (beside it, a measurement: the test "
               "loss at step 100 against the training problems seen)", "budget", (MLP,),
               baselines=("nag", "adam"),
               # a reference beside the 1e-4 runs: RNNprop at meta learning rate 1e-3 after 100
               # problems (the control experiment's)
               learned=("rnnprop-mnist-e10",), every_seed=False,
               criteria=("final", "horizon-mean"),
               claims=(Claim("With this trick RNN optimizer can achieve a good result with fewer "
                             "iterations of training.", "section 5.5, Table 4",
                             (Part("after 100, 300 and 1,000 training problems, RNNprop trained "
                                   "with the convex combination below RNNprop trained without it",
                                   WITH_CC, (WITHOUT_CC,)),)),)),
]


def snapshots(root):
    """(found, missing): found a dict (name, seed, budget) -> path of every at-BUDGET.npz under
    root (BUDGET_NAMES and Table 4's WITHOUT_CC); missing the expected NAME-sSEED/at-BUDGET.npz
    (BUDGET_NAMES x SEEDS x BUDGETS, and Table 4's two recipes x TABLE4_SEEDS x TABLE4_BUDGETS)
    that do not exist."""
    found = {}
    for path in glob.glob(os.path.join(root, "*-s*", "at-*.npz")):
        m = re.fullmatch(r"(.+)-s(\d+)[/\\]at-(\d+)\.npz", os.path.relpath(path, root))
        if m and m.group(1) in BUDGET_NAMES + (WITHOUT_CC,):
            found[(m.group(1), int(m.group(2)), int(m.group(3)))] = path
    expected = {(n, s, b) for n in BUDGET_NAMES for s in SEEDS for b in BUDGETS}
    expected |= {(n, s, b) for n in (WITH_CC, WITHOUT_CC) for s in TABLE4_SEEDS
                 for b in TABLE4_BUDGETS}
    missing = [f"{n}-s{s}/at-{b}.npz" for n, s, b in sorted(expected) if (n, s, b) not in found]
    return found, missing


def untrained(name):
    """An untrained network of the kind of shipped optimizer `name` (the stand-in without runs)."""
    shipped = dm.PRETRAINED if name in dm.PRETRAINED else rnnprop.PRETRAINED
    config = shipped[name].config
    opt = build_optimizer(config.optimizer, **config.optimizer_kwargs)
    opt.phi = opt.init_params(np.random.default_rng(0))
    return opt


def scored(runner, family, opt, criteria):
    """Per criterion, the scores (num_test,) of `opt` on the experiment's test problems."""
    exp = runner.exp
    out = {}
    for c in criteria:
        full = curves_for(runner.curves, c)(family, opt, exp.num_test, exp.steps, runner.seed + 2)
        out[c] = criterion_values(full, exp.steps, c)
    return out


def references(runner, criteria, learned):
    """Per criterion, the tuned baselines (tuned for that criterion) and the learned references:
    label -> results."""
    panel = runner.exp.panels[0]
    return {c: runner.run_panel(panel, learned, c) for c in criteria}


def add_snapshot(numbers, key, values):
    """Put one snapshot's numbers under each criterion (numbers: criterion -> {"references",
    "runs"}; values: criterion -> scores (num_test,)): their summary, and for each reference the
    paired difference reference - snapshot (positive: the snapshot lower), against the reference's
    scores as stored (so that a snapshot added later is compared as one evaluated with them)."""
    name, seed, budget = key
    for c, scores in values.items():
        refs = numbers[c]["references"]
        stored = {label: np.array([np.nan if v is None else v for v in r["per_problem"]])
                  for label, r in refs.items()}
        numbers[c]["runs"].setdefault(name, {}).setdefault(str(seed), {})[str(budget)] = {
            **value_summary(scores),
            "paired": {label: paired_difference(v, scores) for label, v in stored.items()}}


def run_budget(exp, runner, args, out_dir, learned):
    """Evaluate every snapshot found (or untrained stand-ins), the tuned baselines and the learned
    references (label -> optimizer) on the same test problems; draw OUT/dm-budget.png. Returns the
    JSON part."""
    root = getattr(args, "budget_runs", None) or DEFAULT_ROOT
    found, missing = snapshots(root)
    stand_in = not found
    if stand_in:
        runner.log(f"  no snapshots under {root}: untrained networks stand in (budget 0)")
        found = {(name, 0, 0): None for name in BUDGET_NAMES}
    family, refs = runner.family(exp.panels[0], "test"), references(runner, exp.criteria, learned)
    numbers = {c: {"references": {label: {"lr": r["lr"], "tuning": r.get("tuning"),
                                          **value_summary(r["values"])}
                                  for label, r in refs[c].items()},
                   "runs": {}} for c in exp.criteria}
    for (name, seed, budget), path in sorted(found.items()):
        opt = untrained(name) if path is None else load_optimizer(path)
        add_snapshot(numbers, (name, seed, budget), scored(runner, family, opt, exp.criteria))
    expected = len(missing) + (0 if stand_in else len(found))
    plot_budget(numbers, os.path.join(out_dir, f"{exp.name}.png"),
                f"{exp.source}: {exp.name}" + (" (UNTRAINED stand-ins)" if stand_in else "")
                + f"\n{len(missing)} of {expected} snapshots missing")
    initial = float(next(iter(refs[exp.criteria[0]].values()))["mean"][0])
    return {"budget": {"root": root, "budgets": list(BUDGETS), "missing": missing,
                       "untrained_stand_in": stand_in, "criteria": numbers,
                       "table4_budgets": list(TABLE4_BUDGETS), "table4_seeds": list(TABLE4_SEEDS),
                       "table4_threshold": TABLE4_THRESHOLD, "initial_loss": rounded([initial])[0]}}


def extend_budget(exp, runner, numbers, args, out_dir, same_scores):
    """Add to dm-budget's JSON the snapshots it lacks (further seeds or budgets): only they run,
    on the same test problems, against the references' stored scores; one stored snapshot runs
    again first on a few problems and must score what the JSON holds (same_scores); the figure is
    drawn again from the JSON's numbers. Returns the snapshots added, as NAME-sSEED/at-BUDGET."""
    b, root = numbers["budget"], getattr(args, "budget_runs", None) or DEFAULT_ROOT
    found, missing = snapshots(root)
    first = exp.criteria[0]
    held = lambda n, s, k: str(k) in b["criteria"][first]["runs"].get(n, {}).get(str(s), {})
    new = {key: path for key, path in found.items() if not held(*key)}
    family = runner.family(exp.panels[0], "test")
    if new:
        check_snapshot(exp, runner, family, b, found, held, same_scores)
    for key, path in sorted(new.items()):
        add_snapshot(b["criteria"], key, scored(runner, family, load_optimizer(path), exp.criteria))
    if b.get("initial_loss") is None:             # a JSON written before it was recorded
        start = curves_for(runner.curves, first)(family, untrained(BUDGET_NAMES[0]),
                                                 exp.num_test, 1, runner.seed + 2)[:, 0]
        b["initial_loss"] = rounded([float(start.mean())])[0]
    b["missing"], b["table4_threshold"] = missing, TABLE4_THRESHOLD
    plot_budget(b["criteria"], os.path.join(out_dir, f"{exp.name}.png"),
                f"{exp.source}: {exp.name}\n{len(missing)} of {len(missing) + len(found)} "
                "snapshots missing")
    return [f"{n}-s{s}/at-{k}.npz" for n, s, k in sorted(new)]


CHECKED = 3          # problems a stored run runs again on before anything is added


def check_snapshot(exp, runner, family, b, found, held, same_scores):
    """The JSON's test problems must be the ones this code draws: one stored run, run again on
    the first CHECKED test problems, must score what the JSON holds, tried in turn (the tuned
    references, then the stored snapshots) until one does, since a chaotic run can turn another
    machine's rounding into another final loss on the same problem (else UsageError)."""
    from ..errors import UsageError
    c, num = exp.criteria[0], min(CHECKED, exp.num_test)

    def stored_runs():
        for label, r in b["criteria"][c]["references"].items():
            if r.get("lr") is not None and label.lower() in HAND_OPTIMIZERS:
                yield make_hand_optimizer(label, r["lr"]), r["per_problem"]
        for name, seed, budget in (k for k in sorted(found) if held(*k)):
            yield (load_optimizer(found[(name, seed, budget)]),
                   b["criteria"][c]["runs"][name][str(seed)][str(budget)]["per_problem"])

    def again(opt):
        full = curves_for(runner.curves, c)(family, opt, num, exp.steps, runner.seed + 2)
        return rounded(criterion_values(full, exp.steps, c))

    if not any(same_scores(again(opt), stored[:num]) for opt, stored in stored_runs()):
        raise UsageError("the JSON was measured on other test problems than this code draws (no "
                         "stored run scores the same again): run it whole")
