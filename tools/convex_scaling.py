"""The convex function's Random Scaling at r = 3 (the shipped RNNprops) against r = 1 (Lv et al.'s
code), measured at the control budget and written to results/convex-scaling.json.

Lv et al. random-scale the optimizee (the MNIST MLP) with r = 3 and the convex function g of the
convex combination with r = 1; the shipped RNNprop optimizers were trained with g scaled at r = 3
too. The measurement: `rnnprop-mnist-e10` (both tricks, 10 epochs of 10 problems, meta learning rate
1e-3) at each of SEEDS, beside the same recipe with g at r = 1 (`rnnprop-mnist-e10-r1`, trained by
`python tools/train_control.py --recipes rnnprop-mnist-e10-r1 --seeds 0,1,2,3,4`), each pair on the
same NUM_TEST test problems of the base MLP, scored by Lv et al.'s loss at the final parameters.
Per seed, the paired comparison of the verdict rule (log10(r3 / r1) with its 95% t-interval, the
signed-rank test): r = 1 lower, level or higher. Fixed before the runs: the recipe, the seeds,
the problems, the criterion, and that no r is called better unless its interval excludes zero.

    python tools/convex_scaling.py            # then: python tools/render_results.py
"""
import argparse
import json
import os
import sys

import numpy as np

SEEDS = (0, 1, 2, 3, 4)
NUM_TEST, STEPS, CRITERION = 100, 100, "lv"
TEST_SEED = 2                  # the experiments' test problems (minil2o reproduce: seed + 2)
RUNS = "results/rnnprop-control/runs"
R3 = RUNS + "/rnnprop-mnist-e10-s{seed}/final.npz"
SHIPPED = "minil2o/datasets/pretrained/rnnprop-mnist-e10.npz"       # r = 3 at seed 0
R1 = RUNS + "/rnnprop-mnist-e10-r1-s{seed}/final.npz"
OUT = "results/convex-scaling.json"


def scores(family, path):
    """Lv et al.'s loss at the final parameters (NUM_TEST,) of the optimizer at `path`, rounded as
    the JSON stores it (so that the paired entry is the one its scores give), NaN where the run
    diverged."""
    from minil2o.evaluation.evaluate import criterion_values, final_batches, learning_curves
    from minil2o.experiments.runner import rounded
    from minil2o.training.runs import load_optimizer
    curves = learning_curves(family, load_optimizer(path), NUM_TEST, STEPS, TEST_SEED,
                             final_batches(CRITERION))
    return np.array(rounded(criterion_values(curves, STEPS, CRITERION)), dtype=float)


def entry(path, values):
    from minil2o.experiments.runner import optimizer_digest
    from minil2o.training.runs import load_optimizer
    finite = values[np.isfinite(values)]
    return {"file": path, "digest": optimizer_digest(load_optimizer(path)),
            "mean": float(finite.mean()) if finite.size else None,
            "per_problem": [float(v) if np.isfinite(v) else None for v in values]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    from minil2o.evaluation.statistics import paired_difference
    from minil2o.experiments.runner import panel_kwargs
    from minil2o.experiments.spec import MLP
    from minil2o.problems import make_family
    family = make_family(MLP.problem, **panel_kwargs(MLP, "test", None)[0])
    numbers = {"what": __doc__.split("\n\n")[0].replace("\n", " "), "panel": MLP.label,
               "criterion": CRITERION, "num_test": NUM_TEST, "steps": STEPS,
               "test_seed": TEST_SEED, "seeds": {}}
    for seed in SEEDS:
        paths = {"r3": SHIPPED if seed == 0 else R3.format(seed=seed), "r1": R1.format(seed=seed)}
        missing = [p for p in paths.values() if not os.path.exists(p)]
        if missing:
            print(f"seed {seed}: {', '.join(missing)} not here; left out", flush=True)
            continue
        values = {r: scores(family, p) for r, p in paths.items()}
        numbers["seeds"][str(seed)] = {
            **{r: entry(paths[r], v) for r, v in values.items()},
            "paired": paired_difference(values["r3"], values["r1"])}     # r3 - r1: + where r1 lower
        print(f"seed {seed}: r = 3 {numbers['seeds'][str(seed)]['r3']['mean']:.4g}, "
              f"r = 1 {numbers['seeds'][str(seed)]['r1']['mean']:.4g}", flush=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(numbers, f, indent=1, allow_nan=False)
    os.replace(tmp, args.out)
    print(f"numbers: {args.out}")


if __name__ == "__main__":
    sys.exit(main())
