"""Meta-train Lv et al.'s control recipes (section 5.5) at several seeds, resumably.

Each (recipe, seed) is the shipped control optimizer's training configuration
(minil2o/experiments/rnnprop.py) with its seed replaced, trained into `ROOT/NAME-sSEED/`; a run
there is continued with resume, never replaced. Seeds are taken in order across the recipes (every
recipe reaches seed 1 before any reaches seed 2), so a stop at any time leaves whole seeds behind.
Seed 0 is the shipped file itself (the same configuration, bit for bit). Run it again to continue:

    python tools/train_control.py --root results/rnnprop-control/runs --seeds 1,2,3,4

A variant is a shipped recipe with some settings changed (VARIANTS; no shipped file, so its seed 0
is trained here too): `rnnprop-mnist-e10-r1` is `rnnprop-mnist-e10` with the convex function
random-scaled at r = 1, as in Lv et al.'s code (the shipped RNNprops used r = 3), measured by
`python tools/convex_scaling.py`:

    python tools/train_control.py --recipes rnnprop-mnist-e10-r1 --seeds 0,1,2,3,4
"""
import argparse
import dataclasses
import os
import shutil
import sys

RECIPES = ("rnnprop-mnist-e10", "rnnprop-mnist-rs-only", "rnnprop-mnist-cc-only",
           "dm-mnist-tricks", "dm-mnist-e10")
VARIANTS = {"rnnprop-mnist-e10-r1": ("rnnprop-mnist-e10", {"convex_scaling": 1.0})}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="results/rnnprop-control/runs")
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--recipes", default=",".join(RECIPES),
                        help=f"comma-separated, of {', '.join(RECIPES + tuple(VARIANTS))}")
    args = parser.parse_args()
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in args.recipes.split(","):
            reach(args.root, name, seed)


def reach(root, name, seed):
    """Train NAME at `seed` to its full budget; keep its selected optimizer as final.npz."""
    from minil2o.experiments.registry import PRETRAINED
    from minil2o.training.train import Trainer
    out = os.path.join(root, f"{name}-s{seed}")
    final = os.path.join(out, "final.npz")
    if os.path.exists(final):
        return
    shipped, changed = VARIANTS.get(name, (name, {}))
    config = dataclasses.replace(PRETRAINED[shipped].config, seed=seed, **changed)
    resume = os.path.exists(os.path.join(out, "train_state.npz"))
    print(f"{name} seed {seed} -> {out}" + (" (resumed)" if resume else ""), flush=True)
    Trainer(config, out_dir=out, resume=resume, overwrite=False).run(progress=False)
    shutil.copyfile(os.path.join(out, "optimizer.npz"), final + ".tmp")
    os.replace(final + ".tmp", final)


if __name__ == "__main__":
    sys.exit(main())
