"""Apply the verdict rule (minil2o/evaluation/verdicts.py) to results/*.json as they are: each file
gets its experiment's claims in parts (the registry's, fixed before the numbers), its learned
optimizers' recipes and seeds, every paired entry restated from its stored per-problem scores, and
its verdicts; `minil2o reproduce` writes the same fields when it runs an experiment
(reproduce.judged). A learned optimizer's recorded train command is made the registry's when the
file it was measured with is the one kept now (same digest): a command recorded before a setting
was added may no longer reproduce it (a new default). No optimizer runs here. Each file is written back atomically in the writer's
format (json.dump, indent=1); rerunning gives the same files.

    python tools/judge_results.py [results/NAME.json ...]
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minil2o.experiments import EXPERIMENTS  # noqa: E402
from minil2o.experiments.budget import TABLE4_BUDGETS, TABLE4_SEEDS  # noqa: E402
from minil2o.experiments.reproduce import judged  # noqa: E402
from minil2o.experiments.runner import optimizer_digest  # noqa: E402
from minil2o.experiments.shipped import (SEED_MARK, load_learned, load_seed,  # noqa: E402
                                         train_command)
from minil2o.files.atomic import atomic_file  # noqa: E402


def main(paths):
    for path in paths or sorted(f"results/{name}.json" for name in EXPERIMENTS):
        if not os.path.exists(path):
            continue
        with open(path) as fh:
            numbers = json.load(fh)
        if "budget" in numbers:                    # written before Table 4 was read at budgets
            numbers.pop("convex_combination", None)
            numbers["budget"].setdefault("table4_budgets", list(TABLE4_BUDGETS))
            numbers["budget"].setdefault("table4_seeds", list(TABLE4_SEEDS))
        numbers = judged(numbers, EXPERIMENTS[numbers["experiment"]])
        for key, entry in numbers.get("learned", {}).items():
            if entry.get("train_command") not in (None, train_command(key)) and \
                    entry.get("digest") == digest_now(key):
                entry["train_command"] = train_command(key)
        with atomic_file(path, "w") as fh:
            json.dump(numbers, fh, indent=1)
        print(f"{path}: " + "; ".join(f"{c}: " + ", ".join(claim["summary"] for claim in claims)
                                      for c, claims in numbers["verdicts"]["criteria"].items()))


def digest_now(key):
    """The digest of the file kept now for learned optimizer `key` (NAME or NAME@SEED)."""
    opt, _ = load_seed(key) if SEED_MARK in key else load_learned(key)
    return optimizer_digest(opt)


if __name__ == "__main__":
    main(sys.argv[1:])
