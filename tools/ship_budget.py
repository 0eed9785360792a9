"""Choose, on validation, which meta-training seed of the budget runs to ship, and ship it.

For dm-mnist and rnnprop-mnist, the snapshots ROOT/NAME-sSEED/at-BUDGET.npz that
tools/train_budget.py keeps, at the largest budget every seed reached (or --budget): each seed's
optimizer is scored on the same validation problems by the meta-loss it was trained for
(minil2o.experiments.shipped.validation_score: the mean loss over the horizon for the DM
optimizer, the final loss for RNNprop), and the lowest is chosen. Prints every seed's score as the
rows of the pretrained README's table; with --write, copies the chosen snapshot to
minil2o/datasets/pretrained/NAME.npz (replacing the shipped file: the flag says so) and prints the
TrainConfig that the registry (minil2o/experiments/dm.py, rnnprop.py) must then record.

    python tools/ship_budget.py                      # scores only; nothing is written
    python tools/ship_budget.py --write              # ship the chosen seeds
    python tools/ship_budget.py --optimizers rnnprop-mnist --write   # one recipe, once its
                                                                     # seeds are all done
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minil2o.files.checkpoint import load  # noqa: E402
from minil2o.experiments.budget import BUDGET_NAMES, DEFAULT_ROOT, SEEDS, snapshots  # noqa: E402
from minil2o.experiments.shipped import choose_on_validation, pretrained_path  # noqa: E402


def candidates(found, name, budget=None):
    """(budget, {seed: path}): the snapshots of `name` at `budget` of its seeds budget.SEEDS (the
    runs of Table 4's further seeds stop at 1,000 problems), by default the largest budget that
    every one of them reached."""
    seeds = {s for n, s, _ in found if n == name and s in SEEDS}    # not Table 4's further seeds
    reached = [b for b in sorted({b for n, _, b in found if n == name})
               if all((name, s, b) in found for s in seeds)]
    if budget is None:
        if not reached:
            raise SystemExit(f"no budget reached by every seed of {name}")
        budget = reached[-1]
    paths = {s: found[(name, s, budget)] for s in sorted(seeds) if (name, s, budget) in found}
    if not paths:
        raise SystemExit(f"no snapshot of {name} at budget {budget}")
    return budget, paths


def ship(name, path):
    """Copy the chosen snapshot over the shipped file (whole or not at all); print the config."""
    target = pretrained_path(name)
    shutil.copyfile(path, f"{target}.tmp")
    os.replace(f"{target}.tmp", target)
    config = load(target)[1]["config"]
    print(f"  shipped {path} as {target}; record in the registry:\n  TrainConfig("
          + ", ".join(f"{k}={v!r}" for k, v in sorted(config.items())) + ")")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=DEFAULT_ROOT)
    parser.add_argument("--budget", type=int, default=None)
    parser.add_argument("--problems", type=int, default=100, help="validation problems (100)")
    parser.add_argument("--optimizers", default=",".join(BUDGET_NAMES),
                        help=f"comma-separated, of {', '.join(BUDGET_NAMES)} (all)")
    parser.add_argument("--write", action="store_true", help="ship the chosen seeds")
    args = parser.parse_args()
    names = args.optimizers.split(",")
    unknown = sorted(set(names) - set(BUDGET_NAMES))
    if unknown:
        raise SystemExit(f"--optimizers: unknown {', '.join(unknown)}; "
                         f"allowed: {', '.join(BUDGET_NAMES)}")
    found, _ = snapshots(args.root)
    print("| optimizer | training problems | seed | validation score | shipped |")
    print("|---|---:|---:|---:|---|")
    chosen = {}
    for name in names:
        budget, paths = candidates(found, name, args.budget)
        best, scores = choose_on_validation(paths, args.problems)
        chosen[name] = paths[best]
        for seed, score in scores.items():
            mark = "yes" if seed == best else ""
            print(f"| `{name}` | {budget:,} | {seed} | {score:.5g} | {mark} |", flush=True)
    print(f"(validation score: the meta-loss each was trained for, mean over {args.problems} "
          f"validation problems, the same for every seed)")
    if args.write:
        for name, path in chosen.items():
            ship(name, path)


if __name__ == "__main__":
    main()
