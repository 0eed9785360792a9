"""Add the heavy-tail statistics (statistics.heavy_tail_tests: log10_ratio, wilcoxon, signs) to
every paired entry of results/*.json, from the per-problem scores the JSON already holds, leaving
every existing field as it is (only keys are added; a file already augmented gets the same keys
again, so the tool can be rerun).

Where the per-problem scores are (A: the compared optimizer, R: the reference of the entry):

    panels[k].optimizers[A].paired[R]          A, R: optimizers[.].final_per_problem
    panels[k].criteria[c][A].paired[R]          A, R: criteria[c][.].per_problem
    budget.criteria[c].runs[name][seed][b]      R: the snapshot's per_problem,
        .paired[A]                              A: budget.criteria[c].references[A].per_problem
    convex_combination.from_snapshots           A: problems_needed["rnnprop-mnist-no-cc"],
        .paired_log10, .from_histories.paired   R: problems_needed["rnnprop-mnist"] (the raw
                                                counts: log10_ratio is then the stored log10 interval)

None in a per-problem list is a diverged run (NaN). Each file is written back atomically in the
writer's format (json.dump, indent=1). With --check nothing is written: it recomputes every stored
raw interval from the per-problem scores and prints the largest deviation at printing precision.

    python tools/augment_results.py [--check] [results/NAME.json ...]
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minil2o.evaluation.statistics import heavy_tail_tests, paired_difference  # noqa: E402
from minil2o.files.atomic import atomic_file  # noqa: E402

WITH_CC, WITHOUT_CC = "rnnprop-mnist", "rnnprop-mnist-no-cc"
RAW_FIELDS = ("n", "n_finite", "mean", "low", "high", "diverged_this", "diverged_reference",
              "diverged_both", "sign")


def scores(values):
    """A JSON per-problem list as (N,) floats, None (diverged) as NaN."""
    return np.array([np.nan if v is None else v for v in values], float)


def by_label(entries, key, paired_key="paired"):
    """(entry, A, R) for every paired entry of a label -> entry block, scores under `key`."""
    for label, entry in entries.items():
        for ref, paired in entry.get(paired_key, {}).items():
            yield paired, entries[label][key], entries[ref][key], False


def comparisons(numbers):
    """Every (paired entry, A scores, R scores, A and R are logged) of one results JSON."""
    for panel in numbers.get("panels", []):
        yield from by_label(panel.get("optimizers", {}), "final_per_problem")
        for block in panel.get("criteria", {}).values():
            yield from by_label(block, "per_problem")
    for criterion in numbers.get("budget", {}).get("criteria", {}).values():
        refs = criterion["references"]
        for seeds in criterion["runs"].values():
            for budgets in seeds.values():
                for entry in budgets.values():
                    for ref, paired in entry["paired"].items():
                        yield paired, refs[ref]["per_problem"], entry["per_problem"], False
    cc = numbers.get("convex_combination", {})
    for part, key in (("from_snapshots", "paired_log10"), ("from_histories", "paired")):
        entry = cc.get(part, {})
        if key in entry and WITH_CC in entry.get("problems_needed", {}):
            needed = entry["problems_needed"]
            yield entry[key], needed[WITHOUT_CC], needed[WITH_CC], key == "paired_log10"


def count_paired(x):
    """How many paired entries a JSON holds anywhere (to check that comparisons() finds all)."""
    if isinstance(x, list):
        return sum(count_paired(v) for v in x)
    if not isinstance(x, dict):
        return 0
    own = sum(len(v) for k, v in x.items() if k == "paired" and "sign" not in v)
    own += sum(1 for k, v in x.items() if k in ("paired", "paired_log10") and "sign" in v)
    return own + sum(count_paired(v) for v in x.values())


def deviation(paired, a, r, logged):
    """The largest |stored - recomputed| / max(|stored|, 1e-300) of the raw interval, and whether
    every field agrees at the renderer's printing precision (3 significant digits)."""
    if logged:
        a, r = np.log10(a), np.log10(r)
    again = paired_difference(a, r, heavy_tails=False)
    worst, printed = 0.0, True
    for k in RAW_FIELDS:
        s, n = paired[k], again[k]
        if isinstance(s, float) and isinstance(n, float):
            worst = max(worst, abs(s - n) / max(abs(s), 1e-300))
            printed &= f"{s:.3g}" == f"{n:.3g}"
        else:
            printed &= s == n
    return worst, printed


def augment(path, check=False):
    """Add the new fields to every paired entry of one JSON (or only check). Returns counts."""
    with open(path) as fh:
        numbers = json.load(fh)
    found, worst, unprinted = 0, 0.0, 0
    for paired, a, r, logged in comparisons(numbers):
        a, r = scores(a), scores(r)
        dev, printed = deviation(paired, a, r, logged)
        found, worst, unprinted = found + 1, max(worst, dev), unprinted + (not printed)
        paired.update(heavy_tail_tests(a, r, paired.get("level", 0.95)))
    total = count_paired(numbers)
    if not check:
        with atomic_file(path, "w") as fh:
            json.dump(numbers, fh, indent=1)
    return {"entries": found, "paired_in_file": total, "worst_relative": worst,
            "not_at_printing_precision": unprinted}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="JSON files (default: results/*.json)")
    parser.add_argument("--check", action="store_true", help="recompute and compare; write nothing")
    args = parser.parse_args(argv)
    for path in args.paths or sorted(glob.glob("results/*.json")):
        c = augment(path, args.check)
        print(f"{path}: {c['entries']} of {c['paired_in_file']} paired entries; raw intervals "
              f"recomputed: worst relative deviation {c['worst_relative']:.2e}, "
              f"{c['not_at_printing_precision']} differ at 3 significant digits")


if __name__ == "__main__":
    main()
