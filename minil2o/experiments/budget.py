"""The training budget (`minil2o reproduce dm-budget`): the test loss of dm-mnist and rnnprop-mnist
against the number of training problems they saw, each meta-training seed apart, with tuned NAG and
Adam and rnnprop-mnist-e10 (meta learning rate 1e-3, 100 problems) as reference lines; and Lv et
al.'s Table 4 (training needed with and without the convex combination, section 4.2), measured
from the snapshots of rnnprop-mnist and rnnprop-mnist-no-cc runs on the same test problems (and,
indicatively, from their training histories).

The optimizers are the snapshots tools/train_budget.py keeps (read, never written, here):

    ROOT/NAME-sSEED/at-BUDGET.npz      NAME in BUDGET_NAMES (or WITHOUT_CC), BUDGET in BUDGETS
    ROOT/NAME-sSEED/train_state.npz    the run's history: its selection score after each epoch

Whatever snapshots exist are evaluated; the JSON and the figure name the missing ones. With none at
all (a fresh checkout, or --quick before any run reached a budget), untrained networks stand in,
labelled as such.
"""
import glob
import os
import re

import numpy as np

from ..files.checkpoint import load
from ..evaluation.evaluate import criterion_values, curves_for
from ..training.factories import build_optimizer
from ..evaluation.plots import plot_budget
from ..training.runs import STATE, load_optimizer
from . import dm, rnnprop
from .runner import value_summary
from .spec import MLP, Experiment
from ..evaluation.statistics import paired_difference

BUDGET_NAMES = ("dm-mnist", "rnnprop-mnist")
BUDGETS = (100, 300, 1000, 3000)     # the public 10,000: about 40 more CPU hours on a 2-core CPU
SEEDS = (0, 1, 2)
DEFAULT_ROOT = os.path.join("results", "dm-budget", "runs")
WITH_CC, WITHOUT_CC = "rnnprop-mnist", "rnnprop-mnist-no-cc"     # Table 4's two recipes
TABLE4_BUDGETS = (100, 300, 1000)    # the snapshots of the rnnprop-mnist-no-cc runs

EXPERIMENTS = [
    Experiment("dm-budget", "training budget (Andrychowicz et al. 2016, Fig. 4; Lv et al. 2017, "
               "Table 4)", "more training problems bring the learned optimizers' test loss at step "
               "100 down to tuned NAG and Adam; the convex combination needs fewer training "
               "problems", "budget", (MLP,), baselines=("nag", "adam"),
               # a reference beside the 1e-4 runs: RNNprop at meta learning rate 1e-3 after 100
               # problems (the control experiment's)
               learned=("rnnprop-mnist-e10",),
               criteria=("final", "horizon-mean")),
]


def snapshots(root):
    """(found, missing): found a dict (name, seed, budget) -> path of every at-BUDGET.npz under
    root (BUDGET_NAMES and Table 4's WITHOUT_CC); missing the expected NAME-sSEED/at-BUDGET.npz
    (BUDGET_NAMES x SEEDS x BUDGETS, WITHOUT_CC x SEEDS x TABLE4_BUDGETS, and any further seed
    found) that do not exist."""
    found = {}
    for path in glob.glob(os.path.join(root, "*-s*", "at-*.npz")):
        m = re.fullmatch(r"(.+)-s(\d+)[/\\]at-(\d+)\.npz", os.path.relpath(path, root))
        if m and m.group(1) in BUDGET_NAMES + (WITHOUT_CC,):
            found[(m.group(1), int(m.group(2)), int(m.group(3)))] = path
    seeds = sorted(set(SEEDS) | {seed for _, seed, _ in found})
    expected = [(n, BUDGETS) for n in BUDGET_NAMES] + [(WITHOUT_CC, TABLE4_BUDGETS)]
    missing = [f"{n}-s{s}/at-{b}.npz" for n, budgets in expected for s in seeds for b in budgets
               if (n, s, b) not in found]
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


def budget_entry(values, refs):
    """One snapshot's numbers for one criterion: its scores, their summary, and for each reference
    baseline the paired difference baseline - snapshot (positive: the snapshot lower)."""
    return {**value_summary(values),
            "paired": {label: paired_difference(r["values"], values) for label, r in refs.items()}}


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
    runs = {c: {} for c in exp.criteria}
    for (name, seed, budget), path in sorted(found.items()):
        opt = untrained(name) if path is None else load_optimizer(path)
        for c, values in scored(runner, family, opt, exp.criteria).items():
            runs[c].setdefault(name, {}).setdefault(str(seed), {})[str(budget)] = \
                budget_entry(values, refs[c])
    numbers = {c: {"references": {label: {"lr": r["lr"], "tuning": r.get("tuning"),
                                          **value_summary(r["values"])}
                                  for label, r in refs[c].items()},
                   "runs": runs[c]} for c in exp.criteria}
    expected = len(missing) + (0 if stand_in else len(found))
    plot_budget(numbers, os.path.join(out_dir, f"{exp.name}.png"),
                f"{exp.source}: {exp.name}" + (" (UNTRAINED stand-ins)" if stand_in else "")
                + f"\n{len(missing)} of {expected} snapshots missing")
    return {"budget": {"root": root, "budgets": list(BUDGETS), "missing": missing,
                       "untrained_stand_in": stand_in, "criteria": numbers},
            "convex_combination": {"from_snapshots": table4_from_snapshots(runs["final"]),
                                   "from_histories": convex_combination_table(root)}}


# -- Lv et al.'s Table 4: training with and without the convex combination ----------------------
def snapshot_curve(at):
    """[(training problems, mean test score)] of one run's snapshots, in increasing problems
    (untrained stand-ins and diverged means left out). at: budget -> budget_entry."""
    return sorted((int(b), e["value_mean"]) for b, e in at.items()
                  if int(b) > 0 and e["value_mean"] is not None)


def problems_to_reach_by_snapshots(curve, threshold):
    """The training problems at which a run's snapshot score first reaches `threshold` (<=),
    interpolated linearly in log(problems) between the two snapshots around it; NaN if never."""
    for k, (problems, score) in enumerate(curve):
        if score <= threshold:
            if k == 0:
                return float(problems)
            before, worse = curve[k - 1]
            return float(before * (problems / before) ** ((worse - threshold) / (worse - score)))
    return np.nan


def table4_from_snapshots(runs):
    """Table 4 measured on the test problems (the loss at the last step, the same problems for
    both recipes): per seed run with and without the convex combination, the training problems
    needed to first reach the worst of the runs' best scores (problems_to_reach_by_snapshots).
    The paired difference is on log10(problems): without - with (positive: the convex combination
    needs fewer). runs: name -> seed -> budget -> budget_entry (criterion "final")."""
    curves = {(n, s): snapshot_curve(at) for n in (WITH_CC, WITHOUT_CC)
              for s, at in runs.get(n, {}).items()}
    both = sorted({s for (_, s), c in curves.items() if c and curves.get((WITH_CC, s))
                   and curves.get((WITHOUT_CC, s))}, key=int)
    if not both:
        return {"threshold": None, "seeds": [],
                "note": "needs snapshots of both recipes with the same seed"}
    threshold = max(min(v for _, v in curves[(n, s)]) for n in (WITH_CC, WITHOUT_CC) for s in both)
    needed = {n: [problems_to_reach_by_snapshots(curves[(n, s)], threshold) for s in both]
              for n in (WITH_CC, WITHOUT_CC)}
    return {"threshold": threshold, "seeds": [int(s) for s in both],
            "problems_needed": {n: [round(v, 1) for v in vs] for n, vs in needed.items()},
            "paired_log10": paired_difference(np.log10(needed[WITHOUT_CC]),
                                              np.log10(needed[WITH_CC]), heavy_tails=False)}


def run_history(root, name, seed):
    """(problems per epoch, [score after each epoch]) of run NAME-sSEED, or None without one."""
    path = os.path.join(root, f"{name}-s{seed}", STATE)
    if not os.path.exists(path):
        return None
    _, meta = load(path)
    return meta["config"]["problems_per_epoch"], [h["score"] for h in meta["history"]]


def problems_to_reach(history, threshold):
    """The training problems seen when the score first reached `threshold` (<=); NaN if never."""
    per_epoch, scores = history
    hit = [i for i, s in enumerate(scores) if s <= threshold]
    return float((hit[0] + 1) * per_epoch) if hit else np.nan


def convex_combination_table(root, seeds=SEEDS):
    """Table 4 from the training histories: per seed, the training problems each recipe needed to
    first reach a score threshold: the worst of the runs' best scores, so that every run reaches
    it (a run that never does counts as diverged). The score is the one the run's selection rule
    records each epoch: for RNNprop the moving average of the training meta-loss, which with the
    convex combination includes the convex term, so the two recipes' scores are not on one scale
    (indicative only; table4_from_snapshots is the measurement). The paired difference is
    without - with (positive: the convex combination needs fewer problems)."""
    histories = {(n, s): run_history(root, n, s) for n in (WITH_CC, WITHOUT_CC) for s in seeds}
    missing = [f"{n}-s{s}" for (n, s), h in histories.items() if not (h and h[1])]
    both = [s for s in seeds if all(histories[(n, s)] and histories[(n, s)][1]
                                    for n in (WITH_CC, WITHOUT_CC))]
    if not both:
        return {"threshold": None, "seeds": [], "missing": missing,
                "note": "needs a run of both recipes with the same seed"}
    threshold = max(min(histories[(n, s)][1]) for n in (WITH_CC, WITHOUT_CC) for s in both)
    needed = {n: [problems_to_reach(histories[(n, s)], threshold) for s in both]
              for n in (WITH_CC, WITHOUT_CC)}
    return {"threshold": threshold, "seeds": both, "missing": missing,
            "problems_needed": {n: [None if np.isnan(v) else v for v in vs]
                                for n, vs in needed.items()},
            "paired": paired_difference(needed[WITHOUT_CC], needed[WITH_CC])}
