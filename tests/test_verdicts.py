"""The verdict rule (minil2o/evaluation/verdicts.py): each step on constructed data, heavy tails
that no longer decide, seeds, and that every verdict in results/*.json, RESULTS.md and README.md is
the rule applied to the JSON's stored scores."""
import copy
import dataclasses
import json
import math
import pathlib

import numpy as np
import pytest

from minil2o.evaluation import verdicts
from minil2o.evaluation.statistics import paired_difference
from minil2o.experiments import EXPERIMENTS
from helpers import tool_module

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = sorted(p for p in (ROOT / "results").glob("*.json") if p.stem in EXPERIMENTS)


def losses(rng, n, scale=1.0, spread=0.3):
    """n positive losses around `scale`, log-normal."""
    return scale * np.exp(spread * rng.standard_normal(n))


# ============================================================ one comparison

@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ratio, direction, outcome", [
    (3.0, "<", "as claimed"), (1 / 3, "<", "opposite"), (1.0, "<", "level"),
    (1 / 3, ">", "as claimed"), (3.0, ">", "opposite"), (1.0, ">", "level"),
    (1.1, "<=", "as claimed"), (1 / 1.1, "<=", "as claimed"),     # within the margin
    (1 / 2, "<=", "opposite"), (1 / 1.25, "<=", "level")])       # at the margin: undecided
def test_outcome_follows_the_log_ratio_interval(seed, ratio, direction, outcome):
    """other = ratio * learned * noise: the log ratio's interval sits around log10(ratio)."""
    rng = np.random.default_rng(seed)
    learned = losses(rng, 400)
    other = ratio * learned * np.exp(0.02 * rng.standard_normal(400))
    paired = paired_difference(other, learned)
    assert verdicts.comparison_outcome(paired, direction) == outcome


@pytest.mark.parametrize("seed", range(10))
def test_heavy_tails_do_not_decide(seed):
    """The learned optimizer ends 10^3 times lower on 18 of 20 problems, and on two it ends at
    100 to 200 (finite, below the divergence bound): the raw interval includes zero, the log
    ratio is far above it."""
    rng = np.random.default_rng(seed)
    other = losses(rng, 20, 2.3)                          # chance level, ln 10
    learned = other * 1e-3
    learned[:2] = rng.uniform(100, 200, 2)
    paired = paired_difference(other, learned)
    assert paired["sign"] == 0                            # raw: level
    assert verdicts.comparison_outcome(paired, "<") == "as claimed"


def test_divergence_ranks_worst_and_uses_the_bound():
    learned, other = np.full(10, 0.1), np.full(10, 0.2)
    other[3] = 5e3                                        # above 1e3 x the initial loss 2.3
    values = verdicts.with_divergence(other, 2.3)
    assert np.isnan(values[3]) and np.isfinite(values[:3]).all()
    paired = paired_difference(values, learned)
    assert paired["diverged_this"] == 1
    assert verdicts.comparison_outcome(paired, "<") == "as claimed"
    flipped = paired_difference(learned, values)          # now the learned one diverged
    assert verdicts.comparison_outcome(flipped, "<") == "opposite"
    assert verdicts.comparison_outcome(paired_difference([0.1], [0.2]), "<") == "undecided"


# ============================================================ parts, seeds, claims

@pytest.mark.parametrize("outcomes, word", [
    (["as claimed"] * 3, "agrees"), (["as claimed", "level"], "level"),
    (["as claimed", "opposite"], "does not agree"), (["level", "level"], "level"),
    (["as claimed", "undecided"], "inconclusive"), ([], "inconclusive")])
def test_part_verdict(outcomes, word):
    assert verdicts.part_verdict(outcomes) == word
    assert verdicts.part_verdict(outcomes, quick=True) == "inconclusive"


def test_across_seeds_and_summary():
    assert verdicts.across_seeds({"0": "agrees", "1": "agrees"}) == "agrees"
    assert verdicts.across_seeds({"0": "agrees", "1": "level", "2": "agrees"}) == \
        "split (2 agrees, 1 level)"
    assert verdicts.summary(["agrees", "level", "agrees"]) == "2 of 3 parts agree"


def constructed(rng, ratios, seeds=(0, 1, 2), n=30):
    """A JSON of one panel: NAG, Adam, and a recipe 'dm-mnist' at each seed, whose losses are
    NAG's divided by ratios[seed] (so NAG / DM = ratio); Adam twice NAG."""
    nag = losses(rng, n, 0.1)
    entries = {"NAG": {"lr": 0.1, "value_mean": 0.1, "final_per_problem": nag.tolist(),
                       "mean": [2.3, 0.1]},
               "Adam": {"lr": 0.01, "value_mean": 0.2, "final_per_problem": (2 * nag).tolist()}}
    learned = {}
    for seed in seeds:
        label = f"DM [dm-mnist, seed {seed}]"
        noise = np.exp(0.01 * rng.standard_normal(n))
        entries[label] = {"lr": None, "value_mean": 0.1 / ratios[seed],
                          "final_per_problem": (nag / ratios[seed] * noise).tolist()}
        learned[f"dm-mnist@{seed}"] = {"label": label, "recipe": "dm-mnist", "seed": seed}
    part = {"says": "DM below NAG and Adam", "learned": "dm-mnist", "others": ["NAG", "Adam"],
            "direction": "<", "panels": None}
    return {"quick": False, "criteria": {"final": ""}, "learned": learned,
            "panels": [{"label": "p", "criterion": "final", "optimizers": entries}],
            "claims": [{"quote": "q", "where": "w", "parts": [part]}]}


def test_every_seed_is_judged_and_a_split_is_said():
    numbers = constructed(np.random.default_rng(0), {0: 3.0, 1: 3.0, 2: 0.25})
    claim, = verdicts.judge(numbers)["criteria"]["final"]
    part, = claim["parts"]
    assert {s: r["verdict"] for s, r in part["seeds"].items()} == \
        {"0": "agrees", "1": "agrees", "2": "does not agree"}
    assert part["verdict"] == "split (2 agrees, 1 does not agree)"
    assert claim["summary"] == "0 of 1 parts agree"
    comparison = part["seeds"]["0"]["comparisons"][0]
    assert comparison["log10_ratio"]["mean"] == pytest.approx(math.log10(3.0), abs=0.01)
    assert comparison["wilcoxon_p"] < 1e-4 and comparison["signs"]["reference_lower"] == 30


def test_best_and_rest_are_the_panel_s_tuned_baselines():
    numbers = constructed(np.random.default_rng(1), {0: 1.5}, seeds=(0,))
    part = numbers["claims"][0]["parts"][0]
    part["others"] = [verdicts.BEST]
    first = verdicts.judge(numbers)["criteria"]["final"][0]["parts"][0]["seeds"]["0"]
    assert [c["other"] for c in first["comparisons"]] == ["NAG (the best baseline)"]
    part["others"] = [verdicts.REST]
    rest = verdicts.judge(numbers)["criteria"]["final"][0]["parts"][0]["seeds"]["0"]
    assert [c["other"] for c in rest["comparisons"]] == ["Adam"]


# ============================================================ the stored results

def stored():
    return [(path.stem, json.loads(path.read_text())) for path in RESULTS]


@pytest.mark.parametrize("name, numbers", stored(), ids=[p.stem for p in RESULTS])
def test_stored_verdicts_are_the_rule_applied_to_the_stored_scores(name, numbers):
    """The JSON's claims are the registry's (fixed in the code, quoted from the paper), its
    paired entries are restated from its per-problem scores, and its verdicts are the rule's."""
    exp = EXPERIMENTS[name]
    assert numbers["claims"] == json.loads(json.dumps([dataclasses.asdict(c) for c in exp.claims]))
    again = verdicts.restate_paired(copy.deepcopy(numbers))
    assert again.get("panels") == numbers.get("panels")
    assert verdicts.judge(again) == numbers["verdicts"]
    for claims in numbers["verdicts"]["criteria"].values():
        for claim in claims:
            assert claim["quote"] and claim["where"]
            for part in claim["parts"]:
                assert part["seeds"], f"{name}: {part['says']} has no comparison"
                for result in part["seeds"].values():
                    for c in result["comparisons"]:
                        assert c["log10_ratio"]["low"] is not None and "wilcoxon_p" in c


def render_module():
    return tool_module("render_results")


def test_results_md_and_readme_are_rendered_from_the_json(monkeypatch):
    """RESULTS.md is tools/RESULTS.md.in rendered from results/*.json (so every verdict and number
    there is the JSON's), and README's results table is the same summary."""
    render = render_module()
    monkeypatch.chdir(ROOT)
    template = (ROOT / "tools" / "RESULTS.md.in").read_text(encoding="utf-8")
    assert render.render(template) == (ROOT / "RESULTS.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render.readme_with_table(readme) == readme
    for name, numbers in stored():
        for claims in numbers["verdicts"]["criteria"].values():
            for claim in claims:
                assert f"**{claim['summary']}**" in render.verdict_section(name)


def test_tables_mark_a_rate_at_the_edge_and_a_tuned_rate_that_diverged():
    render = render_module()
    entry = {"lr": 4.0, "tuning": {"interior": False}, "final_per_problem": [0.1, None, None]}
    assert render.rate_text(entry) == "4 (edge of grid) (diverged on 2 of 3 test problems)"
    assert render.rate_text({"lr": None}) == "learned"
    assert render.cell("||W theta - y||^2") == "\\|\\|W theta - y\\|\\|^2"


def test_the_seed_to_ship_is_chosen_on_problems_no_run_picked_its_checkpoints_on():
    """Trainer.score draws its validation problems from seed + 1_000_003; choosing among the
    seeds uses another seed, so the two selections never share a problem."""
    from minil2o.experiments.shipped import SEED_RUNS, VALIDATION_SEED
    seeds = {seed for _, kept in SEED_RUNS.values() for seed in kept}
    assert VALIDATION_SEED not in {seed + 1_000_003 for seed in seeds}


@pytest.mark.parametrize("seed", range(5))
def test_a_finite_run_far_above_its_start_is_counted_diverged(seed):
    """A tuned run that ends at 5.8e28 is finite, but diverged: summaries and scores say so
    (statistics.diverged: above 1e3 times its initial loss at some step)."""
    from minil2o.evaluation.evaluate import criterion_values, summarize
    rng = np.random.default_rng(seed)
    curves = np.exp(-np.linspace(0, 3, 11))[None, :] * losses(rng, 6, 2.3)[:, None]   # (6, 11)
    curves[2, 5:] = 5.8e28                                          # finite, exploded
    curves[4, 7:] = np.nan                                          # marked
    curves[5, 3] = 500 * curves[5, 0]                               # a spike below the bound
    _, _, count = summarize(curves)
    assert count == 2
    for criterion in ("final", "horizon-mean"):
        values = criterion_values(curves, 10, criterion)
        assert np.isnan(values[[2, 4]]).all() and np.isfinite(values[[0, 1, 3, 5]]).all()


# ============================================================ every seed, in every stored result

@pytest.mark.parametrize("name, numbers", stored(), ids=[p.stem for p in RESULTS])
def test_every_kept_seed_of_every_recipe_is_in_the_json(name, numbers):
    """An experiment that runs each recipe at every seed (Experiment.every_seed) holds, for each
    learned optimizer with kept seeds (shipped.SEED_RUNS), every one of them, and each part of
    its claims is judged at each."""
    from minil2o.experiments.shipped import SEED_RUNS, recipe_and_seed
    exp = EXPERIMENTS[name]
    if not exp.every_seed:
        return
    held = {}
    for key in numbers["learned"]:
        recipe, seed = recipe_and_seed(key)
        held.setdefault(recipe, set()).add(seed)
    for recipe in exp.learned:
        if recipe in SEED_RUNS:
            assert held.get(recipe) == set(SEED_RUNS[recipe][1]), (name, recipe, held.get(recipe))
    for claims in numbers["verdicts"]["criteria"].values():
        for claim in claims:
            for part, spec in zip(claim["parts"], exp.claims[0].parts if len(exp.claims) == 1
                                  else [p for c in exp.claims if c.quote == claim["quote"]
                                        for p in c.parts]):
                if spec.learned in SEED_RUNS:
                    assert {int(s) for s in part["seeds"]} == set(SEED_RUNS[spec.learned][1])


def test_table_4_and_the_control_have_five_seeds_per_recipe_at_every_budget():
    """Lv et al.'s Table 4 (both recipes after each of its budgets) and the control experiment
    (each recipe) are measured at five meta-training seeds or more, and judged at each."""
    from minil2o.experiments import budget
    b = json.loads((ROOT / "results" / "dm-budget.json").read_text())["budget"]
    assert len(budget.TABLE4_SEEDS) >= 5
    for c, numbers in b["criteria"].items():
        for name in (budget.WITH_CC, budget.WITHOUT_CC):
            runs = numbers["runs"][name]
            for seed in budget.TABLE4_SEEDS:
                assert {str(k) for k in budget.TABLE4_BUDGETS} <= set(runs[str(seed)]), \
                    (c, name, seed)
    control = json.loads((ROOT / "results" / "rnnprop-control.json").read_text())
    from minil2o.experiments.shipped import recipe_and_seed
    seeds = {}
    for key in control["learned"]:
        recipe, seed = recipe_and_seed(key)
        seeds.setdefault(recipe, set()).add(seed)
    assert all(len(s) >= 5 for s in seeds.values()) and len(seeds) == 5, seeds


def test_the_convex_function_at_r_1_is_measured_at_every_seed_and_paired_from_its_scores():
    """results/convex-scaling.json (tools/convex_scaling.py): each of its seeds measured, both
    recipes on the same problems, the paired entry restated from the stored scores."""
    scaling = tool_module("convex_scaling")
    numbers = json.loads((ROOT / "results" / "convex-scaling.json").read_text())
    assert [int(s) for s in numbers["seeds"]] == list(scaling.SEEDS)
    for s in numbers["seeds"].values():
        r3, r1 = ([np.nan if v is None else v for v in s[r]["per_problem"]] for r in ("r3", "r1"))
        assert len(r3) == len(r1) == numbers["num_test"]
        assert s["paired"] == json.loads(json.dumps(paired_difference(r3, r1)))
