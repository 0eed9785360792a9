"""The verdict rule: how a paper's claim, split into its parts, is judged from a results JSON.
RESULTS.md states the same rule in words; tests/test_verdicts.py checks that every verdict there is
this rule applied to the JSON beside it.

The rule's points, numbered as at the top of RESULTS.md:

  1. Claims in parts. A claim is a sentence of a paper (quoted); a part is one thing it asserts,
     as comparisons: on some panels a learned optimizer is lower than ('<'), higher than ('>') or
     not worse than ('<=') each of some others. Every optimizer ran on the same test problems, so
     a comparison is judged on the paired scores (other_i, learned_i) of the N test problems.
  2. The log scale decides. Losses span orders of magnitude, and a t-interval on raw differences
     is decided by its few largest values (heavy tails), so the deciding statistic is the paired
     log ratio l_i = log10(other_i) - log10(learned_i) and its 95% t-interval [low, high].
     Beside it, never deciding: the raw difference's interval, Wilcoxon's signed-rank p and the
     sign counts (statistics.heavy_tail_tests).
  3. Divergence. A run has diverged when its score is not finite or above DIVERGENCE_FACTOR times
     the panel's mean initial loss (the loss at step 0, the same for every optimizer). A diverged
     run ranks below every finished one (statistics.divergence_sign).
  4. A comparison's outcome, with m = log10(MARGIN) for '<=' and m = 0 otherwise:
         as claimed   '<': low > 0      '>': high < 0      '<=': low > -m
         opposite     '<': high < 0     '>': low > 0       '<=': high < -m
         level        otherwise (the interval includes the boundary)
         undecided    fewer than 2 problems where both finished, and no divergence decides
  5. A part, for one meta-training seed: agrees when every comparison is as claimed; does not
     agree when any is opposite; level otherwise; inconclusive when any is undecided (and every
     part of a --quick run).
  6. Seeds. A part naming a recipe kept at several meta-training seeds is judged for each seed
     (both sides of a recipe-against-recipe comparison at the same seed). Across seeds it agrees,
     does not agree, is level or is inconclusive when every seed says so; otherwise it is "split"
     and the counts are given.
  7. A claim's summary counts its parts: "2 of 3 parts agree".

No part is carried by a baseline the paper did not name: a part names its baselines, or BEST
(the panel's tuned baseline with the lowest mean score) or REST (every other tuned baseline).
"""
import math

import numpy as np

from .statistics import DIVERGENCE_FACTOR, divergence_sign, interval_sign, paired_difference

RULE = 3                       # the rule's version, stored with every verdict
MARGIN = 1.25                  # '<=': the learned optimizer's loss at most 1.25 times the other's
BEST, REST = "best baseline", "other baselines"
OUTCOMES = ("as claimed", "level", "opposite", "undecided")
VERDICTS = ("agrees", "level", "does not agree", "inconclusive")


# -- one comparison ----------------------------------------------------------------------------
def comparison_outcome(paired, direction, margin=MARGIN):
    """The outcome (rule 4) of a paired entry (statistics.paired_difference, other - learned) for
    the claimed direction."""
    log = paired["log10_ratio"]
    shift = math.log10(margin) if direction == "<=" else 0.0
    sign = None if log["low"] is None else interval_sign(log["low"] + shift, log["high"] + shift)
    sign = divergence_sign(sign, paired["diverged_this"], paired["diverged_reference"])
    if sign is None:
        return "undecided"
    want = -1 if direction == ">" else 1
    return "as claimed" if sign == want else "level" if sign == 0 else "opposite"


def part_verdict(outcomes, quick=False):
    """A part's verdict for one seed from its comparisons' outcomes (rule 5)."""
    if quick or not outcomes or "undecided" in outcomes:
        return "inconclusive"
    if all(o == "as claimed" for o in outcomes):
        return "agrees"
    return "does not agree" if "opposite" in outcomes else "level"


def across_seeds(by_seed):
    """The part's verdict over its seeds' verdicts (rule 6): the common word, else 'split (...)'."""
    words = list(by_seed.values())
    if len(set(words)) == 1:
        return words[0]
    counts = ", ".join(f"{words.count(w)} {w}" for w in VERDICTS if w in words)
    return f"split ({counts})"


def summary(part_words):
    """A claim's summary (rule 7): how many of its parts agree."""
    return f"{sum(w == 'agrees' for w in part_words)} of {len(part_words)} parts agree"


# -- scores from the JSON ----------------------------------------------------------------------
def scores(entry):
    """(N,) per-problem scores of a JSON entry, NaN where the run diverged (None)."""
    values = entry.get("final_per_problem", entry.get("per_problem"))
    return np.array([np.nan if v is None else v for v in values], float)


def with_divergence(values, initial, factor=DIVERGENCE_FACTOR):
    """Scores with NaN where rule 3 says diverged: not finite, or above factor * initial loss
    (initial None: a JSON that did not record it; then only the non-finite)."""
    bound = np.inf if initial is None else factor * abs(initial)
    with np.errstate(invalid="ignore"):
        return np.where(~np.isfinite(values) | (values > bound), np.nan, values)


def initial_loss(panel):
    """The panel's mean loss at step 0 (every optimizer starts from the same problems)."""
    return next(iter(panel["optimizers"].values()))["mean"][0]


def block(panel, criterion):
    """label -> entry of a panel for one criterion (the panel's own, or under "criteria")."""
    if panel.get("criterion", "final") == criterion:
        return panel["optimizers"]
    return panel.get("criteria", {}).get(criterion, {})


def tuned(entries):
    """The tuned baselines' labels, lowest mean score first."""
    rows = [(e["value_mean"], label) for label, e in entries.items()
            if e.get("lr") is not None and e.get("value_mean") is not None]
    return [label for _, label in sorted(rows)]


def paired_entry(entries, other, learned, initial):
    """The paired comparison (other - learned) by rule 3, recomputed from the stored scores."""
    return paired_difference(with_divergence(scores(entries[other]), initial),
                             with_divergence(scores(entries[learned]), initial))


def runs_by_recipe(numbers):
    """recipe -> {seed: JSON label} of the learned optimizers a JSON holds ("learned" entries;
    one without a recipe is its own recipe, at seed None)."""
    runs = {}
    for key, entry in numbers.get("learned", {}).items():
        runs.setdefault(entry.get("recipe", key), {})[entry.get("seed")] = entry["label"]
    return runs


def seed_pairs(runs, part):
    """[(seed, {recipe: label})] for the part's learned recipe at each of its seeds, with each
    recipe among its others at the same seed (or at its only one, when it has one)."""
    recipes = [part["learned"]] + [o for o in part["others"] if o in runs]
    out = []
    for seed in sorted(runs.get(part["learned"], {}), key=lambda s: (s is None, s)):
        chosen = {}
        for recipe in recipes:
            have = runs[recipe]
            if seed in have or len(have) == 1:
                chosen[recipe] = have[seed] if seed in have else next(iter(have.values()))
        if len(chosen) == len(recipes):
            out.append((seed, chosen))
    return out


def other_labels(entries, others, chosen):
    """[(shown name, JSON label)] of a part's others on one panel: recipes at the chosen seed,
    BEST and REST from the panel's tuned baselines, baselines by name."""
    ranked = tuned(entries)
    out = []
    for other in others:
        if other == BEST:
            out += [(f"{ranked[0]} (the best baseline)", ranked[0])] if ranked else []
        elif other == REST:
            out += [(label, label) for label in ranked[1:]]
        else:
            label = chosen.get(other, other)
            out.append((label, label))
    return out


def comparison(panel_label, learned, shown, direction, paired):
    """One comparison's record for the JSON: the deciding log-ratio interval, the signed-rank p,
    the sign counts and the raw interval beside it, and the outcome."""
    log = paired["log10_ratio"]
    return {"panel": panel_label, "learned": learned, "other": shown, "direction": direction,
            "n": paired["n"], "log10_ratio": {k: log[k] for k in ("mean", "low", "high")},
            "wilcoxon_p": paired["wilcoxon"]["p"], "signs": paired["signs"],
            "raw": {k: paired[k] for k in ("mean", "low", "high")},
            "diverged": {"other": paired["diverged_this"], "learned": paired["diverged_reference"],
                         "both": paired["diverged_both"]},
            "outcome": comparison_outcome(paired, direction)}


def panel_comparisons(numbers, part, criterion, chosen):
    """The part's comparisons for one seed (chosen: recipe -> label) on its panels."""
    panels, out = numbers.get("panels", []), []
    learned = chosen[part["learned"]]
    for i in part["panels"] if part["panels"] is not None else range(len(panels)):
        if i >= len(panels):
            continue                                  # a quick run keeps only the first panels
        entries, initial = block(panels[i], criterion), initial_loss(panels[i])
        for shown, label in other_labels(entries, part["others"], chosen):
            if label not in entries or learned not in entries:
                continue
            paired = paired_entry(entries, label, learned, initial)
            out.append(comparison(panels[i]["label"], learned, shown, part["direction"], paired))
    return out


def budget_comparisons(numbers, part, criterion, seed):
    """dm-budget's comparisons for one seed: recipe against recipe after each of Table 4's
    training budgets, on the same test problems (a budget is a panel here)."""
    b, out = numbers["budget"], []
    runs, initial = b["criteria"][criterion]["runs"], b.get("initial_loss")
    recipes = [part["learned"], *part["others"]]
    for budget in b.get("table4_budgets", []):
        at = [runs.get(r, {}).get(seed, {}).get(str(budget)) for r in recipes]
        if any(e is None for e in at):
            continue
        learned = with_divergence(scores(at[0]), initial)
        for other, entry in zip(part["others"], at[1:]):
            paired = paired_difference(with_divergence(scores(entry), initial), learned)
            out.append(comparison(f"after {budget} training problems",
                                  f"{part['learned']}, seed {seed}", f"{other}, seed {seed}",
                                  part["direction"], paired))
    return out


def budget_seeds(numbers, part, criterion):
    """[(seed, None)]: the seeds at which dm-budget holds every recipe the part names at every one
    of Table 4's budgets (a seed still training is not judged on some of them)."""
    runs, budgets = numbers["budget"]["criteria"][criterion]["runs"], numbers["budget"].get(
        "table4_budgets", [])
    recipes = [part["learned"], *part["others"]]
    whole = lambda seed: all(str(b) in runs.get(r, {}).get(seed, {}) for r in recipes
                             for b in budgets)
    seeds = set.intersection(*(set(runs.get(r, {})) for r in recipes))
    return [(seed, None) for seed in sorted(seeds, key=int) if whole(seed)]


def judge_part(numbers, part, criterion):
    """A part's verdict for each seed and across seeds (rules 4 to 6)."""
    quick, by_seed = bool(numbers.get("quick")), {}
    budget = "budget" in numbers
    pairs = budget_seeds(numbers, part, criterion) if budget else \
        seed_pairs(runs_by_recipe(numbers), part)
    for seed, chosen in pairs:
        comps = (budget_comparisons(numbers, part, criterion, seed) if budget else
                 panel_comparisons(numbers, part, criterion, chosen))
        by_seed[str(seed)] = {"verdict": part_verdict([c["outcome"] for c in comps], quick),
                              "comparisons": comps}
    words = {s: r["verdict"] for s, r in by_seed.items()}
    word = across_seeds(words) if by_seed else "inconclusive"
    return {"says": part["says"], "verdict": word, "seeds": by_seed}


def judge(numbers, criteria=None):
    """Every claim of a results JSON judged by the rule, per criterion: {"rule", "margin",
    "divergence_factor", "criteria": {criterion: [{"quote", "where", "summary", "parts"}]}}."""
    if criteria is None:
        criteria = ["final"] if "budget" in numbers else list(numbers.get("criteria") or ["final"])
    out = {}
    for criterion in criteria:
        claims = []
        for claim in numbers.get("claims", []):
            parts = [judge_part(numbers, part, criterion) for part in claim["parts"]]
            claims.append({"quote": claim["quote"], "where": claim["where"],
                           "summary": summary([p["verdict"] for p in parts]), "parts": parts})
        out[criterion] = claims
    return {"rule": RULE, "margin": MARGIN, "divergence_factor": DIVERGENCE_FACTOR,
            "criteria": out}


def restate_paired(numbers):
    """Every paired entry of a JSON's panels recomputed from the stored per-problem scores by
    rule 3 (so the tables show what the verdicts read), with the diverged count beside it."""
    learned = [entry["label"] for entry in numbers.get("learned", {}).values()]
    for panel in numbers.get("panels", []):
        initial = initial_loss(panel)
        blocks = [panel["optimizers"]] + list(panel.get("criteria", {}).values())
        for entries in blocks:
            values = {label: with_divergence(scores(e), initial) for label, e in entries.items()}
            for label, entry in entries.items():
                entry["paired"] = {ref: paired_difference(values[label], values[ref])
                                   for ref in learned if ref in values and ref != label}
                entry["diverged_by_criterion"] = int(np.isnan(values[label]).sum())
    return numbers
