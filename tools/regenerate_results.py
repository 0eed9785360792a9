"""Regenerate every results JSON at full size, one experiment at a time, in the background.

Each experiment is one `python -m minil2o reproduce NAME --out results` (curves cached in
runs/reproduce-cache, so experiments sharing a setting pay for it once; its log in
runs/regenerate/NAME.log). An experiment whose results/NAME.json is already a full-size run with the
paired statistics (schema 2, not --quick), made with the learned optimizers shipped now, is
skipped, so the tool can be stopped at any moment and started again to continue; an interrupted
experiment restarts, its finished curves read back from the cache. A cache entry is read back only
if it proves itself (a sha256 of its curves and of the settings they were computed with,
minil2o.experiments.runner.CurveCache); one that does not, and one written before entries carried
a checksum, is recomputed with a one-line warning. Start it and leave it:

    nohup python tools/regenerate_results.py > runs/regenerate.log 2>&1 &
    python tools/regenerate_results.py --estimate      # CPU hours per experiment, from a timing
    python tools/regenerate_results.py --only dm-fig4-mnist,rnnprop-mlp-100
    python tools/regenerate_results.py --only dm-fig7-cnn --panel 2   # its third panel's curves
    python tools/render_results.py                     # afterwards: RESULTS.md

Estimate (`--estimate`, NumPy, one thread, measured on the shared 2-core CPU: 3 steps of Adam and
of the DM optimizer on each panel's problem, times the steps each experiment runs at full size:
every baseline's coarse-to-fine tuning on the tuning problems, shared by the criteria, and every
test run, a baseline once per criterion): about 13.5 CPU hours in all.

    dm-fig7-cnn 5.7 h, rnnprop-cnn 4.3 h (the CNNs; minutes each with MINIL2O_BACKEND=cupy on a GPU)
    dm-budget 1 h (33 snapshots with Table 4's), rnnprop-mlp-10000 0.5 h, neural art 0.4 h,
    rnnprop-mlp-2000 0.2 h, the 100- and 200-step MLP, quadratic and sine experiments 1.7 h

Without the two CNN experiments the rest takes about 3.6 CPU hours. Measured here, the CNNs took
more than estimated: dm-fig7-cnn about 6.8 CPU hours, rnnprop-cnn about 4.6 (two panels, one core
each, 2.1 and 2.5 hours).

An experiment runs its panels one after the other. `--panel K` computes the curves of its K-th
panel alone (from 0) into the cache and writes nothing else, so that a second core can work on a
later panel while `reproduce` works on an earlier one; `reproduce` then reads them back.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

ORDER = ("dm-fig4-quadratic", "dm-fig4-mnist", "rnnprop-mlp-100", "dm-fig4-mnist-200",
         "dm-fig5-generalization", "dm-fig6-architectures", "dm-appendix-b-updates",
         "rnnprop-activations", "rnnprop-deeper-mlp", "rnnprop-sine-lstm", "rnnprop-control",
         "rnnprop-mlp-2000", "rnnprop-mlp-10000", "dm-fig8-9-neural-art", "dm-fig7-cnn",
         "rnnprop-cnn", "dm-budget")


def finished(out, name):
    """Whether OUT/NAME.json is a full-size run with the paired statistics of the experiment as
    it is defined now (its learned optimizers and number of test problems), made with the learned
    optimizers shipped now (each one's train command as the registry gives it) and, for dm-budget,
    with every snapshot the budget runs are to keep."""
    from minil2o.experiments import EXPERIMENTS, superseded
    path = os.path.join(out, f"{name}.json")
    if not os.path.exists(path):
        return False
    with open(path) as fh:
        numbers = json.load(fh)
    exp = EXPERIMENTS[name]
    current = (set(numbers.get("learned", {})) == set(exp.learned)
               and numbers.get("num_test") == exp.num_test and not superseded(numbers))
    complete = not numbers.get("budget", {}).get("missing")     # dm-budget: every snapshot there
    return numbers.get("schema", 1) >= 2 and not numbers.get("quick") and current and complete


def regenerate(names, out, cache, logs):
    """Run `minil2o reproduce` for each unfinished name in turn; returns the failed names."""
    os.makedirs(logs, exist_ok=True)
    failed = []
    for name in names:
        if finished(out, name):
            print(f"{name}: done already, skipped", flush=True)
            continue
        start = time.time()
        print(f"{name}: running (log {os.path.join(logs, name + '.log')})", flush=True)
        with open(os.path.join(logs, f"{name}.log"), "a") as log:
            code = subprocess.call([sys.executable, "-m", "minil2o", "reproduce", name,
                                    "--out", out, "--cache", cache],
                                   stdout=log, stderr=subprocess.STDOUT)
        print(f"{name}: {'done' if code == 0 else f'FAILED (exit {code})'} in "
              f"{(time.time() - start) / 3600:.2f} h", flush=True)
        if code:
            failed.append(name)
    return failed


def warm_panel(name, index, cache, out, quick=False):
    """Compute panel `index` of experiment `name` into the cache (every criterion's tuning and test
    runs), as `minil2o reproduce NAME [--quick]` would, without writing its JSON or figure."""
    import numpy as np
    from minil2o.experiments import EXPERIMENTS
    from minil2o.experiments.registry import quick_version
    from minil2o.experiments.reproduce import add_arguments, load_experiment_optimizers
    from minil2o.experiments.runner import Runner
    from minil2o.experiments.spec import panels_to_run
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([name, "--out", out, "--cache", cache] + ["--quick"] * quick)
    exp = panels_to_run(EXPERIMENTS[name], args.cifar_dir)[0]
    exp = quick_version(exp) if quick else exp
    if not 0 <= index < len(exp.panels):
        raise SystemExit(f"--panel {index} is not allowed for {name}: use 0 to "
                         f"{len(exp.panels) - 1} ({', '.join(p.label for p in exp.panels)})")
    learned = load_experiment_optimizers(exp, args)[0]
    runner = Runner(exp, args)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # as the CLI runs it
        for criterion in exp.criteria:
            runner.run_panel(exp.panels[index], learned, criterion)
    print(f"{name}: panel {index} ({exp.panels[index].label}) is in {cache}", flush=True)


def seconds_per_step(panel, optimizer, cache, steps=3):
    """Seconds one optimizer step (with its loss and gradient) takes on a test problem of panel."""
    import numpy as np
    from minil2o.evaluation.evaluate import run_optimizer
    from minil2o.experiments.runner import panel_kwargs
    from minil2o.problems import make_family
    kwargs = panel_kwargs(panel, "test", None)[0]
    key = (panel.problem, json.dumps({k: v for k, v in kwargs.items() if k != "content_images"},
                                     sort_keys=True), type(optimizer).__name__)
    if key not in cache:
        rng = np.random.default_rng(0)
        problem = make_family(panel.problem, **kwargs).sample(rng)
        start = time.perf_counter()
        run_optimizer(problem, optimizer, steps, rng)
        cache[key] = (time.perf_counter() - start) / (steps + 1)
    return cache[key]


def estimate_hours(exp, cache):
    """CPU hours of one experiment: per panel, tuning (each baseline's coarse pass, every
    exp.stride-th rate of its grid, plus three rates for the fine steps and an extension, num_tune
    problems; shared by the criteria but Lv's) and testing (every optimizer, num_test
    problems, a second tuned rate per baseline for a second criterion)."""
    from minil2o.experiments import budget, load_learned
    from minil2o.experiments.runner import default_grid
    from minil2o.experiments.spec import panels_to_run
    from minil2o.optimizers.hand import Adam
    learned = load_learned("dm-mnist", log=lambda *a: None)[0]
    snapshots = len(budget.SEEDS) * (2 * len(budget.BUDGETS) + len(budget.TABLE4_BUDGETS))
    runs_learned = len(exp.learned) + (snapshots if exp.kind == "budget" else 0)
    total = 0.0
    for panel in panels_to_run(exp, None)[0].panels:          # without CIFAR-10
        base, lstm = (seconds_per_step(panel, o, cache) for o in (Adam(0.01), learned))
        tune = sum(len(exp.grids.get(b, default_grid(b))[::exp.stride]) + 3
                   for b in exp.baselines) * exp.num_tune
        test = len(exp.baselines) * len(exp.criteria) * exp.num_test
        total += exp.steps * ((tune + test) * base + runs_learned * exp.num_test * lstm)
    return total / 3600


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results")
    parser.add_argument("--cache", default="runs/reproduce-cache")
    parser.add_argument("--logs", default="runs/regenerate")
    parser.add_argument("--only", help="comma-separated experiment names (default: all)")
    parser.add_argument("--panel", type=int,
                        help="with --only NAME: compute that panel's curves into the cache, "
                             "and exit")
    parser.add_argument("--estimate", action="store_true",
                        help="print the CPU hours each experiment should take, and exit")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(ORDER)
    if args.panel is not None:
        if len(names) != 1:
            raise SystemExit("--panel needs one experiment: --only NAME")
        warm_panel(names[0], args.panel, args.cache, args.out)
        return 0
    if args.estimate:
        from minil2o.experiments import EXPERIMENTS
        cache, total = {}, 0.0
        for name in names:
            hours = estimate_hours(EXPERIMENTS[name], cache)
            total += hours
            print(f"{name:<26} {hours:7.2f} h", flush=True)
        print(f"{'total':<26} {total:7.2f} h")
        return 0
    failed = regenerate(names, args.out, args.cache, args.logs)
    print("failed: " + ", ".join(failed) if failed else "every experiment is regenerated")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
