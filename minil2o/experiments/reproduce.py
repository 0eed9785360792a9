"""`minil2o reproduce`: run a named experiment (minil2o.experiments.registry) and write its numbers
(OUT/NAME.json) and its figure (OUT/NAME.png); the command's arguments and entry point."""
import dataclasses
import json
import os
import time

from ..files.atomic import atomic_file, check_output
from ..files.bounded import read_bounded
from ..errors import UsageError
from ..evaluation import verdicts
from ..evaluation.evaluate import criterion_values, curves_for
from ..optimizers.hand import HAND_OPTIMIZERS, make_hand_optimizer
from ..validate import check_bound, flag_type, shown
from . import budget, dm
from .registry import EXPERIMENTS, quick_version
from .runner import Runner, optimizer_digest, panel_numbers, rounded, run_comparison
from .shipped import learned_label, load_learned, recipe_and_seed, seed_keys, train_command
from .spec import panels_to_run

CIFAR_ENV = "MINIL2O_CIFAR10"            # folder of cifar-10-batches-py, when CIFAR-10 is at hand
SCHEMA = 2       # 2: per-problem scores, paired differences, tuning records, criteria, claims


def run_kind(exp, runner, learned, out_dir, status):
    """What the experiment's kind computes and draws; returns the JSON part. 'curves' and 'final'
    compare on every panel; 'art' adds the styled images; 'updates' traces single runs (each
    panel's recipe at each of its seeds); 'budget' evaluates the budget runs' snapshots
    (budget.py). status: load_experiment_optimizers' record of each learned optimizer."""
    if exp.kind == "updates":
        recipes = {entry["label"]: entry["recipe"] for entry in status.values()}
        return dm.update_traces(exp, runner, learned, out_dir, recipes)
    if exp.kind == "budget":
        return budget.run_budget(exp, runner, runner.args, out_dir, learned)
    part = run_comparison(exp, runner, learned, out_dir)
    if exp.kind == "art":
        dm.art_images(exp, runner, learned, part, out_dir)
    return part


def load_experiment_optimizers(exp, args, log=print):
    """The experiment's learned optimizers as {label: optimizer}: each shipped one and its recipe's
    other meta-training seeds (shipped.SEED_RUNS; with --retrain, the shipped seed retrained),
    and for the JSON each one's {key: {status, label, recipe, seed, train_command, digest}}
    (digest: runner.optimizer_digest of the file's network)."""
    learned, status = {}, {}
    for name in exp.learned:
        for key in seed_keys(name, log) if exp.every_seed and not args.retrain else [name]:
            opt, state = load_learned(key, args.retrain, args.quick, args.out, log)
            label = learned_label(key, state)
            recipe, seed = recipe_and_seed(key)
            learned[label] = opt
            status[key] = {"status": state, "label": label, "recipe": recipe, "seed": seed,
                           "train_command": train_command(key), "digest": optimizer_digest(opt)}
    return learned, status


def run_experiment(name, args, log=print):
    """Run experiment `name` as `args` says (quick, out, num_test, retrain, seed, cache,
    cifar_dir); write OUT/NAME.json and OUT/NAME.png. Returns the JSON dict."""
    exp, skipped = prepared(name, args, log)
    start = time.time()
    log(f"== {exp.name}: {exp.source} ({exp.num_test} test problems, {exp.steps} steps)")
    for label in skipped:
        log(f"  panel {label!r} left out: it needs CIFAR-10 (--cifar-dir or ${CIFAR_ENV})")
    os.makedirs(args.out, exist_ok=True)
    learned, status = load_experiment_optimizers(exp, args, log)
    part = run_kind(exp, Runner(exp, args, log), learned, args.out, status)
    numbers = {"experiment": exp.name, "source": exp.source, "claim": exp.claim, "note": exp.note,
               "quick": bool(args.quick), "steps": exp.steps, "num_test": exp.num_test,
               "num_tune": exp.num_tune, "seed": args.seed, "tune_seed": args.seed + 1,
               "test_seed": args.seed + 2, "learned": status, "schema": SCHEMA,
               "panels_left_out": [{"label": label, "needs": "CIFAR-10"} for label in skipped],
               "seconds": round(time.time() - start, 1), **part}
    numbers = judged(numbers, exp)
    path = os.path.join(args.out, f"{exp.name}.json")
    with atomic_file(path, "w") as fh:
        json.dump(numbers, fh, indent=1)
    log(f"numbers: {shown(path)}\nfigure: {shown(os.path.join(args.out, exp.name + '.png'))}\n"
        f"done in {time.time() - start:.0f} s")
    return numbers


def prepared(name, args, log=print):
    """(experiment as args say: CIFAR panels, --quick, --num-test; the panels left out)."""
    if name not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)} "
                         "(or see `minil2o reproduce --list`)")
    exp, skipped = panels_to_run(EXPERIMENTS[name], args.cifar_dir)
    exp = quick_version(exp) if args.quick else exp
    if args.num_test is not None:
        exp = dataclasses.replace(exp, num_test=check_bound("num_test", args.num_test,
                                                            "--num-test"))
    return exp, skipped


def read_results(path, exp, args):
    """OUT/NAME.json, checked to be the same measurement that `exp` and args would make (its
    experiment, size, seeds, criteria and panels), before anything is added to it."""
    raw = read_bounded(path, "results JSON")
    try:
        numbers = json.loads(raw)
    except ValueError as e:
        raise UsageError(f"{shown(path)} is not JSON ({e}); --extend adds to a JSON that "
                         "`minil2o reproduce` wrote") from None
    part, kind = ("budget", dict) if exp.kind == "budget" else ("panels", list)
    if not isinstance(numbers, dict) or not isinstance(numbers.get(part), kind):
        raise UsageError(f"{shown(path)} is not a results JSON of `minil2o reproduce`")
    want = {"experiment": exp.name, "quick": bool(args.quick), "steps": exp.steps,
            "num_test": exp.num_test, "seed": args.seed}
    have = {k: numbers.get(k) for k in want}
    if exp.kind != "budget":
        want.update(criteria=list(exp.criteria), panels=len(exp.panels))
        have.update(criteria=list(numbers.get("criteria") or []), panels=len(numbers["panels"]))
    for key, value in want.items():
        if have[key] != value:
            raise UsageError(f"{shown(path)} has {key} {have[key]!r}, not {value!r}: --extend "
                             "adds only to the same measurement (run it whole without --extend)")
    return numbers


CHECKED_PROBLEMS = 3     # --extend: the stored problems run again before anything is added
SAME_SCORE = 1e-3        # ... and how close their scores must be (floating-point reorderings
                         # move the 5th digit; another draw of the problems moves the first)


def same_scores(again, stored):
    """Whether two lists of scores (None: diverged) are the same runs' within SAME_SCORE."""
    return len(again) == len(stored) and all(
        (a is None) == (b is None) and (a is None or abs(a - b) <= SAME_SCORE * abs(b))
        for a, b in zip(again, stored))


def scores_again(exp, runner, opt):
    """`opt`'s scores on the first CHECKED_PROBLEMS test problems of the first panel (problem i
    is drawn from (seed, i) alone, so they are the JSON's first ones), rounded as stored."""
    criterion, family = exp.criteria[0], runner.family(exp.panels[0], "test")
    num = min(CHECKED_PROBLEMS, exp.num_test)
    return rounded(criterion_values(curves_for(runner.curves, criterion)(
        family, opt, num, exp.steps, runner.seed + 2), exp.steps, criterion))


def stored_scores(numbers, exp, label):
    """A learned optimizer's per-problem scores on the first panel as the JSON holds them
    (dm-budget keeps its learned references beside the tuned baselines)."""
    if exp.kind == "budget":
        return numbers["budget"]["criteria"][exp.criteria[0]]["references"][label]["per_problem"]
    return numbers["panels"][0]["optimizers"][label]["final_per_problem"]


def check_stored(numbers, exp, runner, learned, path, adding):
    """The JSON's learned optimizers checked against the files loaded now: each one without a
    recorded digest (a JSON written before digests were kept) runs again on a few test problems
    and must score what the JSON holds (SAME_SCORE), then gets the digest of the file that did.
    When optimizers are being added, the JSON's test problems must be the ones this code draws:
    one stored run must score again what the JSON holds, tried in turn (the first panel's tuned
    baselines, then the learned optimizers) until one does, since a chaotic run (the DM optimizer
    on a CNN, SGD at the edge of its stable rates) can turn another machine's rounding into
    another final loss on the same problem. A mismatch refuses (UsageError) before anything is
    added."""
    entries = [e for e in numbers["learned"].values() if e["label"] in learned]
    for entry in [e for e in entries if "digest" not in e]:
        if not reproduces(numbers, exp, runner, entry["label"], learned[entry["label"]]):
            raise UsageError(f"{shown(path)} was measured with another file of {entry['label']} "
                             "than this code uses (it scores differently): run it whole without "
                             "--extend")
        entry["digest"] = optimizer_digest(learned[entry["label"]])
    if adding and not any(reproduces(numbers, exp, runner, label, opt)
                          for label, opt in stored_runs(numbers, entries, learned)):
        raise UsageError(f"{shown(path)} was measured on other test problems than this code draws "
                         "(no stored run scores the same again): run it whole without --extend")


def reproduces(numbers, exp, runner, label, opt):
    """Whether `opt` scores again, on the first test problems, what the JSON holds for `label`."""
    again = scores_again(exp, runner, opt)
    return same_scores(again, stored_scores(numbers, exp, label)[:len(again)])


def stored_runs(numbers, entries, learned):
    """(label, optimizer) of the JSON's runs that can run again, lazily: the first panel's tuned
    baselines at their stored learning rates, then its learned optimizers."""
    for label, entry in numbers["panels"][0]["optimizers"].items():
        if entry.get("lr") is not None and label.lower() in HAND_OPTIMIZERS:
            yield label, make_hand_optimizer(label, entry["lr"])
    for entry in entries:
        yield entry["label"], learned[entry["label"]]


def extend_experiment(name, args, log=print):
    """Add to OUT/NAME.json the learned optimizers it lacks (further meta-training seeds, a new
    shipped optimizer): only they run, on the same test problems as the JSON's (same seeds,
    same minibatches), and every comparison is restated and judged again; the figure is left as
    it was. For dm-budget, the snapshots it lacks (budget.extend_budget), and its figure drawn
    again. Returns the JSON dict."""
    exp, _ = prepared(name, args, log)
    if exp.kind not in ("curves", "final", "budget"):
        raise UsageError(f"--extend adds to curves, final and budget experiments; {name} is "
                         f"{exp.kind!r}")
    path = os.path.join(args.out, f"{exp.name}.json")
    numbers, start = read_results(path, exp, args), time.time()
    if exp.kind == "budget":
        runner = Runner(exp, args, log)
        check_stored(numbers, exp, runner, load_experiment_optimizers(exp, args, log)[0], path,
                     adding=False)
        added = budget.extend_budget(exp, runner, numbers, args, args.out, same_scores)
        log(f"== {exp.name}: added {', '.join(added) or 'nothing (every snapshot is in it)'}")
        return write_extended(numbers, exp, path, added, start, log)
    learned, status = load_experiment_optimizers(exp, args, log)
    new = {entry["label"]: learned[entry["label"]] for key, entry in status.items()
           if key not in numbers["learned"]}
    log(f"== {exp.name}: adding {', '.join(new) or 'nothing (every learned optimizer is in it)'}")
    runner = Runner(exp, args, log)
    check_stored(numbers, exp, runner, learned, path, adding=bool(new))
    for panel, part in zip(exp.panels, numbers["panels"]):
        if not new:
            break
        added = panel_numbers({c: runner.run_panel(panel, new, c, baselines=())
                               for c in exp.criteria}, exp.steps, list(new))
        part["optimizers"].update(added["optimizers"])
        for c, entries in added["criteria"].items():
            part["criteria"][c].update(entries)
    numbers["learned"].update({k: v for k, v in status.items() if k not in numbers["learned"]})
    return write_extended(numbers, exp, path, list(new), start, log)


def write_extended(numbers, exp, path, added, start, log):
    """The extended JSON judged and written (whole or not at all); what was added recorded."""
    numbers.setdefault("extended", []).append({"learned": added,
                                                "seconds": round(time.time() - start, 1)})
    numbers = judged(numbers, exp)
    with atomic_file(path, "w") as fh:
        json.dump(numbers, fh, indent=1)
    log(f"numbers: {shown(path)}")
    return numbers


def judged(numbers, exp):
    """The JSON with the verdict rule applied (minil2o/evaluation/verdicts.py): the experiment's
    claim and its claims in parts, each learned optimizer's recipe and seed, every paired entry
    restated from the stored scores, and the verdicts."""
    numbers["claim"], numbers["claims"] = exp.claim, [dataclasses.asdict(c) for c in exp.claims]
    for key, entry in numbers.get("learned", {}).items():
        entry["recipe"], entry["seed"] = recipe_and_seed(key)
    numbers["verdicts"] = verdicts.judge(verdicts.restate_paired(numbers))
    return numbers


def add_arguments(parser):
    """The arguments of `minil2o reproduce` (parser: an argparse parser)."""
    parser.add_argument("name", nargs="?", help="experiment name (see --list), or 'all'")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--quick", action="store_true",
                        help="reduced size (2 test problems, a few steps, small problems): seconds")
    parser.add_argument("--out", default="runs/reproduce", help="where NAME.json and NAME.png go")
    parser.add_argument("--num-test", type=flag_type("num_test", "--num-test"),
                        help="test problems (default: the experiment's)")
    parser.add_argument("--extend", action="store_true",
                        help="add to OUT/NAME.json the learned optimizers it lacks (further "
                             "meta-training seeds): only they run, on the same test problems")
    parser.add_argument("--retrain", action="store_true",
                        help="retrain the optimizers from their recorded configuration instead "
                             "of loading the shipped ones (with --quick: a tiny training run)")
    parser.add_argument("--seed", type=flag_type("base_seed", "--seed"), default=0,
                        help="tuning uses seed+1, testing seed+2")
    parser.add_argument("--cache", default="runs/reproduce-cache",
                        help="folder of cached curves ('' to turn the cache off)")
    parser.add_argument("--budget-runs", default=budget.DEFAULT_ROOT,
                        help="dm-budget: the folder of tools/train_budget.py's runs (read only)")
    parser.add_argument("--cifar-dir", default=os.environ.get(CIFAR_ENV),
                        help=f"cifar-10-batches-py folder (default: ${CIFAR_ENV}); without it "
                             "the CIFAR-10 panels run on MNIST and say so")


def list_experiments():
    """One line per experiment: name, source, claim."""
    return "\n".join(f"{e.name:<24} {e.source}\n{'':<24} {e.claim}" for e in EXPERIMENTS.values())


def run(args):
    """Entry point of `minil2o reproduce`. Returns the exit code."""
    if args.list:
        print(list_experiments())
        return 0
    if not args.name:
        raise UsageError("name an experiment (minil2o reproduce NAME) or pass --list to see them")
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    check_output(args.out, folder=True)                # before any work: --out can be written
    if args.cache:
        check_output(args.cache, folder=True)
    for name in names:
        (extend_experiment if args.extend else run_experiment)(name, args)
    return 0
