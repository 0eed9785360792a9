"""Meta-train dm-mnist and rnnprop-mnist at growing budgets, several seeds, resumably.

Each (optimizer, seed) is one ordinary `minil2o train` run in `ROOT/NAME-sSEED/`, continued with
`--resume` and a larger `--epochs` each time a budget is reached; after reaching a budget its
selected optimizer is copied to `ROOT/NAME-sSEED/at-BUDGET.npz`. The recipes: dm-mnist,
rnnprop-mnist, and rnnprop-mnist-no-cc (rnnprop-mnist without the convex combination, for Lv et
al.'s Table 4, measured by `minil2o reproduce dm-budget` from the snapshots at 100, 300 and 1,000
problems; run it with `--optimizers rnnprop-mnist-no-cc --budgets 100,300,1000`). Budgets are
taken in order across all runs (every seed reaches 100 problems before any reaches 300), so a stop
at any time leaves the small budgets complete. Run it again to continue where it stopped:

    python tools/train_budget.py --root results/dm-budget/runs
    python tools/train_budget.py --seeds 0,1 &      # on two cores: two drivers,
    python tools/train_budget.py --seeds 2 &        # each with its own seeds

(two drivers must not share a seed: a run folder has one writer at a time, and the second would stop
at its lock). Then `minil2o reproduce dm-budget` measures them, and tools/ship_budget.py chooses on
validation which seed of each recipe to ship.
"""
import argparse
import os
import shutil
import subprocess
import sys

PER_EPOCH = 50
COMMON = ["--problem", "mnist-mlp", "--problems-per-epoch", str(PER_EPOCH), "--quiet"]
RECIPES = {
    # the shipped dm-mnist settings (Andrychowicz et al.: Appendix A preprocessing, output x 0.1)
    "dm-mnist": ["--optimizer", "dm", "--optimizer-arg", "preprocess=log",
                 "--optimizer-arg", "output_scale=0.1", "--meta-lr", "0.002"],
    # RNNprop as in its public code: both tricks, meta learning rate 1e-4 (the shipped
    # rnnprop-mnist used 1e-3)
    "rnnprop-mnist": ["--optimizer", "rnnprop", "--random-scaling", "3", "--convex-combination",
                      "--convex-scaling", "3", "--meta-lr", "0.0001"],    # g at r = 3, as trained
    # Lv et al. Table 4's control: the same without the convex combination (section 4.2); not in
    # the default --optimizers, run it with --optimizers rnnprop-mnist-no-cc
    "rnnprop-mnist-no-cc": ["--optimizer", "rnnprop", "--random-scaling", "3", "--meta-lr", "0.0001"],
}
DEFAULT_OPTIMIZERS = ("dm-mnist", "rnnprop-mnist")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="results/dm-budget/runs")
    parser.add_argument("--budgets", default="100,300,1000,3000",
                        help="training problems at which to keep a snapshot, in increasing order "
                             "(the public budget, 10,000, can follow: ...,3000,10000)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--optimizers", default=",".join(DEFAULT_OPTIMIZERS),
                        help=f"comma-separated, of {', '.join(RECIPES)}")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    for budget in budgets:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name in args.optimizers.split(","):
                reach(args.root, name, seed, budget)


def reach(root, name, seed, budget):
    """Train run NAME-sSEED until it has seen `budget` problems; keep its optimizer then."""
    out = os.path.join(root, f"{name}-s{seed}")
    snapshot = os.path.join(out, f"at-{budget}.npz")
    if os.path.exists(snapshot):
        return
    resume = ["--resume"] if os.path.isdir(out) else []    # a run there is continued, never replaced
    command = [sys.executable, "-m", "minil2o", "train", *COMMON, *RECIPES[name], "--seed", str(seed),
               "--epochs", str(budget // PER_EPOCH), "--out", out, *resume]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)
    shutil.copyfile(os.path.join(out, "optimizer.npz"), snapshot + ".tmp")
    os.replace(snapshot + ".tmp", snapshot)


if __name__ == "__main__":
    sys.exit(main())
