"""`minil2o evaluate-shipped`: every shipped optimizer against tuned Adam on the held-out problems
(minil2o/use/heldout.py), the numbers its card is made of (minil2o/use/cards.py).

For each problem: each baseline (Adam, and SGD with momentum) is tuned on its own grid of learning
rates (the optimizer's lr_grid, powers of two), on tuning instances (other seeds, the other half
of the digits): the rate with the lowest mean final log10 loss is taken, and the grid is widened by
one power of two at a time (at most MAX_WIDEN times) while that rate is on its edge, so that the
chosen rate is interior (the JSON says so for each). Then every optimizer runs on the same `seeds`
test instances, and each shipped optimizer is compared with tuned Adam, seed by seed
(minil2o.evaluation.statistics.paired_difference, Adam as A and the learned optimizer as the
reference R: the raw interval, the log10 ratio log10(f_Adam) - log10(f_learned) with its
interval, Wilcoxon's p and the sign counts). Its verdict is the log10 ratio's sign: "wins" (lower
than tuned Adam), "loses", "level" (the interval includes zero). A run "diverged" by the
project's rule (statistics.diverged: non-finite, or above 1e3 times its initial loss); one that
ended above its initial loss is counted too ("above_start"), with the worst final loss.

Without torch (or scikit-learn) the torch problems are skipped, with one line saying so. The JSON
(default results/shipped-cards.json) is written atomically and only over an existing file with
--overwrite; --render (or --render-only, from the JSON already there) writes the cards."""
import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import UsageError
from ..evaluation.statistics import as_diverged, diverged, paired_difference, rounded
from ..optimizers.hand import HAND_OPTIMIZERS
from .dropin import shipped
from .heldout import PROBLEMS

FORMAT = "minil2o shipped-optimizer cards"
VERSION = 1
BASELINES = ("adam", "momentum")
MAX_WIDEN = 4


@dataclass(frozen=True)
class ShippedSettings:
    """What evaluate-shipped runs: steps per run, test and tuning seeds, problems, optimizers."""
    steps: int = 200
    seeds: int = 5
    tune_seeds: int = 3
    problems: tuple = tuple(PROBLEMS)
    optimizers: tuple = field(default_factory=lambda: tuple(shipped()))
    baselines: tuple = BASELINES


def torch_missing():
    """None when torch and scikit-learn import, else the line saying which is missing."""
    try:
        import sklearn  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        return (f"{error.name} is not installed: the torch problems are skipped (pip install "
                "'minil2o[examples]')")
    return None


def log10_score(finals):
    """The tuning score of a rate: the mean log10 final loss, inf when a run diverged."""
    f = np.asarray(finals, float)
    return float(np.mean(np.log10(np.maximum(f, 1e-30)))) if np.all(np.isfinite(f)) else math.inf


def tune(problem, baseline, settings):
    """{lr, grid, scores, interior} of `baseline` on the problem's tuning instances."""
    scores = {}

    def score(lr):
        if lr not in scores:
            runs = [problem.run(baseline, {"lr": lr}, seed, "tune", settings.steps)
                    for seed in range(settings.tune_seeds)]
            scores[lr] = log10_score([final for _, final in runs])
        return scores[lr]
    grid = list(HAND_OPTIMIZERS[baseline].lr_grid)
    for lr in grid:
        score(lr)
    for _ in range(MAX_WIDEN):
        lrs = sorted(scores)
        best = min(lrs, key=scores.get)
        if best not in (lrs[0], lrs[-1]):
            break
        score(best / 2 if best == lrs[0] else best * 2)
    lrs = sorted(scores)
    best = min(lrs, key=scores.get)
    return {"lr": best, "grid": lrs, "scores": [rounded(scores[lr]) if math.isfinite(scores[lr])
                                                 else None for lr in lrs],
            "interior": best not in (lrs[0], lrs[-1])}


def held_out_runs(problem, name, settings_of, settings):
    """{initial, final} over the test seeds, or {not_applicable: the one-line reason}."""
    try:
        runs = [problem.run(name, settings_of, seed, "test", settings.steps)
                for seed in range(settings.seeds)]
    except UsageError as error:
        return {"not_applicable": str(error)}
    return {"initial": [rounded(i) for i, _ in runs],
            "final": [rounded(f) if math.isfinite(f) else None for _, f in runs]}


def finals(entry):
    return np.array([math.nan if f is None else f for f in entry["final"]], float)


def versus_adam(entry, adam):
    """The learned optimizer's runs against tuned Adam's: divergence counts, the paired
    statistics and the verdict (module docstring)."""
    f, f0 = finals(entry), np.asarray(entry["initial"], float)
    a = as_diverged(finals(adam), adam["initial"])                           # (seeds,)
    paired = paired_difference(a, as_diverged(f, f0))
    with np.errstate(invalid="ignore"):
        above = ~np.isnan(f) & (f > f0)
    sign = paired["log10_ratio"]["sign"]
    return {"diverged": int(diverged(f, f0).sum()), "above_start": int(above.sum()),
            "worst": rounded(float(np.nanmax(f))) if np.isfinite(f).any() else None,
            "paired": paired,
            "verdict": {1: "wins", -1: "loses", 0: "level"}.get(sign, "undecided")}


def evaluate_problem(problem, settings, log):
    """The problem's entry: its baselines (tuned, then on the test seeds) and each optimizer."""
    out = {"about": problem.about, "baselines": {}, "learned": {}}
    for baseline in settings.baselines:
        tuned = tune(problem, baseline, settings)
        runs = held_out_runs(problem, baseline, {"lr": tuned["lr"]}, settings)
        out["baselines"][baseline] = {**tuned, **runs}
        log(f"{problem.name}: {baseline} tuned to lr {tuned['lr']:g}"
            f"{'' if tuned['interior'] else ' (ON THE EDGE of its grid)'}")
    adam = out["baselines"]["adam"]
    for name in settings.optimizers:
        entry = held_out_runs(problem, name, {}, settings)
        if "final" in entry:
            entry.update(versus_adam(entry, adam))
        out["learned"][name] = entry
        log(f"{problem.name}: {name}: {entry.get('verdict', 'not applicable')}")
    return out


def evaluate_shipped(settings, log=print):
    """The JSON-able results of every problem (module docstring), with the settings and what was
    skipped. Learned optimizers: settings.optimizers; Adam must be among the baselines."""
    if "adam" not in settings.baselines:
        raise UsageError("evaluate-shipped compares with tuned Adam: keep adam among the baselines")
    missing = torch_missing()
    problems = [PROBLEMS[p] for p in settings.problems]
    skipped = [p.name for p in problems if p.needs_torch and missing]
    if skipped:
        log(f"{', '.join(skipped)}: {missing}")
    results = {"format": FORMAT, "version": VERSION, "settings": asdict(settings),
               "skipped": {p: missing for p in skipped}, "problems": {}}
    for problem in problems:
        if problem.name not in skipped:
            results["problems"][problem.name] = evaluate_problem(problem, settings, log)
    return results


# -- the command line ------------------------------------------------------------------------------
def add_arguments(p):
    from ..validate import flag_type
    p.add_argument("--out", default="results/shipped-cards.json", help="the results JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--steps", type=flag_type("steps", "--steps"), default=200)
    p.add_argument("--seeds", type=flag_type("num_test", "--seeds"), default=5,
                   help="test instances per problem")
    p.add_argument("--tune-seeds", type=flag_type("num_tune", "--tune-seeds"), default=3,
                   help="tuning instances per problem (other seeds)")
    p.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated: "
                   + ", ".join(PROBLEMS))
    p.add_argument("--optimizers", default="", help="comma-separated shipped names (default: all)")
    p.add_argument("--render", action="store_true", help="then write the cards (the section of "
                   "minil2o/datasets/pretrained/README.md and cards.json) from the JSON")
    p.add_argument("--render-only", action="store_true", help="run nothing: write the cards from "
                   "the JSON already at --out")


def command_of(settings):
    """The command line that runs `settings` again."""
    s = ShippedSettings()
    flags = [f"--{k.replace('_', '-')} {v}" for k, v in (("steps", settings.steps),
             ("seeds", settings.seeds), ("tune_seeds", settings.tune_seeds))
             if v != getattr(s, k)]
    flags += [f"--{k} {','.join(v)}" for k, v in (("problems", settings.problems),
              ("optimizers", settings.optimizers)) if v != getattr(s, k)]
    return " ".join(["minil2o evaluate-shipped"] + flags)


def chosen(text, allowed, what):
    """A comma-separated list, each item among `allowed`; a one-line UsageError otherwise."""
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in items if t not in allowed]
    if unknown or not items:
        raise UsageError(f"{what} {', '.join(unknown) or '(none)'} not known: choose from "
                         f"{', '.join(allowed)}")
    return items


def run(args):
    import json

    from ..files.atomic import atomic_file, check_output
    from ..validate import shown
    from .cards import write_cards
    if args.render_only:
        with open(args.out, encoding="utf-8") as fh:
            results = json.load(fh)
        if not isinstance(results, dict) or (results.get("format"), results.get("version")) != \
                (FORMAT, VERSION):
            raise UsageError(f"{shown(args.out)} is not evaluate-shipped's JSON (format "
                             f"{FORMAT!r}, version {VERSION}): run minil2o evaluate-shipped")
    else:
        settings = ShippedSettings(
            steps=args.steps, seeds=args.seeds, tune_seeds=args.tune_seeds,
            problems=chosen(args.problems, tuple(PROBLEMS), "problem"),
            optimizers=chosen(args.optimizers, tuple(shipped()), "optimizer")
            if args.optimizers else tuple(shipped()))
        check_output(args.out)
        if os.path.exists(args.out) and not args.overwrite:
            raise UsageError(f"{shown(args.out)} exists: pass --overwrite to replace it, or "
                             "another --out")
        results = evaluate_shipped(settings)
        results["command"] = command_of(settings)
        with atomic_file(args.out) as fh:
            fh.write((json.dumps(results, indent=1) + "\n").encode("utf-8"))
        print(f"results: {shown(args.out)}")
    if args.render or args.render_only:
        for path in write_cards(results):
            print(f"cards: {shown(path)}")
    return 0
