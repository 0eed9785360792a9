"""The statistics every comparison reports: the paired difference and its t-interval (against a
hand computation, and its coverage), diverged runs, the learning-rate grid that grows past an edge,
the criteria (final loss, mean over the horizon, Lv et al.'s loss at the final parameters), the
training-budget experiment (the verdict rule is tests/test_verdicts.py)."""
import argparse
import json
import math
import dataclasses
import pathlib
import types

import numpy as np
import pytest

from minil2o import experiments
from helpers import tool_module
from minil2o.evaluation.evaluate import (criterion_values, format_table, learning_curves, run_optimizer,
                              tune_learning_rate, tuning_record)
from minil2o.experiments import budget
from minil2o.evaluation.statistics import (DIVERGENCE_FACTOR, as_diverged, diverged,
                                          paired_difference, t_quantile)
from minil2o.optimizers.hand import Adam, make_hand_optimizer
from minil2o.optimizers.learned import DMOptimizer
from minil2o.problems import QuadraticFamily
from minil2o.training.runs import load_optimizer, save_optimizer

ROOT = pathlib.Path(__file__).resolve().parents[1]


def quick_args(tmp_path, **changes):
    args = dict(quick=True, out=str(tmp_path), num_test=None, retrain=False, seed=0, cache="",
                cifar_dir=None, budget_runs=str(tmp_path / "no-runs"))
    return types.SimpleNamespace(**{**args, **changes})


# ============================================================ the paired t-interval

@pytest.mark.parametrize("df, table", [(1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571),
                                       (10, 2.228), (30, 2.042), (99, 1.984)])
def test_t_quantile_matches_the_printed_table(df, table):
    assert abs(t_quantile(0.975, df) - table) < 5e-4


def test_paired_difference_by_hand():
    a, r = [1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 2.0, 5.0]
    # d = (0.5, 1, 1, -1): mean 0.375, sum of squared deviations 2.6875, sd = sqrt(2.6875 / 3)
    half = 3.182446 * math.sqrt(2.6875 / 3) / 2                   # t(0.975, 3) sd / sqrt(4)
    p = paired_difference(a, r)
    assert p["n"] == p["n_finite"] == 4 and p["mean"] == 0.375
    assert abs(p["low"] - (0.375 - half)) < 1e-4 and abs(p["high"] - (0.375 + half)) < 1e-4
    assert p["sign"] == 0                                         # the interval includes zero
    assert paired_difference([2.0, 3.0, 4.0], [1.0, 1.5, 2.0])["sign"] == 1
    assert paired_difference([1.0, 1.5, 2.0], [2.0, 3.0, 4.0])["sign"] == -1


def test_evaluate_table_gives_each_optimizer_its_paired_difference_to_the_reference():
    """`minil2o evaluate` and the demo print, beside the means, the paired interval of each
    optimizer against the learned one: the numbers of paired_difference, never an unpaired one."""
    ref, other = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.4, 3.7, 4.2])
    row = lambda v, lr: {"lr": lr, "values": v, "mean": np.array([v.mean()]),
                         "stderr": np.array([v.std(ddof=1) / 2]), "diverged": 0}
    results = {"LSTM a-rather-long-checkpoint-label": row(ref, None), "Adam": row(other, 0.1)}
    table = format_table(results, reference="LSTM a-rather-long-checkpoint-label")
    d = paired_difference(other, ref)
    adam, = [line for line in table.splitlines() if line.startswith("Adam")]
    assert adam.endswith(f"{d['mean']:+.3g} [{d['low']:+.3g}, {d['high']:+.3g}]")
    assert d["low"] > 0                                    # Adam ends higher on every problem
    assert "minus" not in format_table(results)            # no reference: no column


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    trials, covered = 2000, 0
    for _ in range(trials):
        ref = rng.standard_normal(8)
        p = paired_difference(ref + 0.3 + 0.5 * rng.standard_normal(8), ref)
        covered += p["low"] <= 0.3 <= p["high"]
    assert 0.93 <= covered / trials <= 0.97


def test_diverged_runs_count_against_the_optimizer_that_diverged():
    nan = float("nan")
    only_this = paired_difference([nan, 1.0, 1.1, 0.9], [1.0, 1.0, 1.0, 1.0])
    assert only_this["diverged_this"] == 1 and only_this["sign"] == 1
    only_ref = paired_difference([1.0, 1.0, 1.0], [nan, 1.2, 0.8])
    assert only_ref["diverged_reference"] == 1 and only_ref["sign"] == -1
    both_ways = paired_difference([nan, 1.0, 1.0], [1.0, nan, 1.0])
    assert both_ways["sign"] == 0
    clearly_better_otherwise = paired_difference([nan, 0.1, 0.2, 0.1], [1.0, 1.0, 1.1, 1.0])
    assert clearly_better_otherwise["sign"] == 0          # diverged once, far better elsewhere
    assert paired_difference([nan, nan], [nan, nan])["sign"] is None
    assert paired_difference([1.0], [2.0])["sign"] is None          # one problem: undecided


def test_t_quantile_is_scipys():
    from scipy import stats
    for df in (1, 3, 19, 99):
        assert t_quantile(0.975, df) == float(stats.t.ppf(0.975, df))


def test_log_ratio_wilcoxon_and_signs_against_independent_computations():
    from scipy import stats
    rng = np.random.default_rng(3)
    r = rng.lognormal(0.0, 1.0, 15)
    a = r * rng.lognormal(0.2, 0.8, 15)
    p = paired_difference(a, r)
    l = np.log10(a) - np.log10(r)                                     # by hand, numpy only
    half = stats.t.ppf(0.975, 14) * l.std(ddof=1) / math.sqrt(15)
    lr = p["log10_ratio"]
    assert lr["n_finite"] == 15 and lr["nonpositive"] == 0
    assert lr["mean"] == pytest.approx(l.mean(), rel=1e-4)
    assert lr["low"] == pytest.approx(l.mean() - half, rel=1e-4, abs=1e-9)
    assert lr["high"] == pytest.approx(l.mean() + half, rel=1e-4, abs=1e-9)
    want = stats.wilcoxon(a - r).pvalue
    assert p["wilcoxon"] == {"n_nonzero": 15, "p": pytest.approx(want, rel=1e-4)}
    assert p["signs"] == {"reference_lower": int((a > r).sum()),
                          "reference_higher": int((a < r).sum()), "tied": 0}
    raw = paired_difference(a, r, heavy_tails=False)
    assert {k: p[k] for k in raw} == raw                   # the raw fields as before, unchanged


def test_heavy_tails_leave_the_raw_interval_level_but_not_the_log_scale():
    """R lower on all 20 problems, but two huge values of A: the raw t-interval includes zero;
    the log-ratio interval and the signed-rank test show the difference."""
    rng = np.random.default_rng(7)
    r = rng.uniform(1e-3, 2e-3, 20)
    a = r * rng.uniform(1.5, 3.0, 20)
    a[:2] = [117.0, 157.0]
    p = paired_difference(a, r)
    assert p["low"] < 0 < p["high"] and p["sign"] == 0                # raw: level
    assert p["log10_ratio"]["low"] > 0 and p["log10_ratio"]["sign"] == 1
    assert p["wilcoxon"]["p"] == pytest.approx(2 / 2 ** 20, rel=1e-4)   # exact: 20 of 20 signs
    assert p["signs"] == {"reference_lower": 20, "reference_higher": 0, "tied": 0}


def test_ties_are_dropped_from_the_signed_rank_test_and_counted():
    from scipy import stats
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    r = np.array([1.0, 2.0, 2.5, 3.1, 4.2, 5.0, 5.5, 9.0])           # two ties
    p = paired_difference(a, r)
    assert p["signs"] == {"reference_lower": 5, "reference_higher": 1, "tied": 2}
    nonzero = (a - r)[a != r]
    assert p["wilcoxon"]["n_nonzero"] == 6
    assert p["wilcoxon"]["p"] == pytest.approx(stats.wilcoxon(nonzero).pvalue, rel=1e-4)
    same = paired_difference([1.0, 2.0], [1.0, 2.0])
    assert same["wilcoxon"] == {"n_nonzero": 0, "p": None} and same["signs"]["tied"] == 2


def test_non_finite_and_non_positive_losses_on_the_log_scale():
    from scipy import stats
    nan, inf = float("nan"), float("inf")
    a = np.array([nan, inf, 0.0, 2.0, 3.0, 4.0, 5.0, nan])
    r = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, nan])
    p = paired_difference(a, r)
    lr = p["log10_ratio"]
    assert p["diverged_this"] == 2 and p["diverged_both"] == 1
    assert lr["n_finite"] == 4 and lr["nonpositive"] == 1            # a = 0 cannot be logged
    assert lr["mean"] == pytest.approx(np.log10([2.0, 3.0, 4.0, 5.0]).mean(), rel=1e-4)
    assert lr["sign"] == 1                                       # only A diverged: against A
    # the diverged runs rank worst: their differences take the top |d| rank, both-diverged dropped
    assert p["signs"] == {"reference_lower": 6, "reference_higher": 1, "tied": 0}
    ranked = np.array([100.0, 100.0, -1.0, 1.0, 2.0, 3.0, 4.0])
    assert p["wilcoxon"]["p"] == pytest.approx(stats.wilcoxon(ranked).pvalue, rel=1e-4)
    assert paired_difference([-1.0, 2.0], [1.0, 1.0])["log10_ratio"]["nonpositive"] == 1


def test_divergence_rule():
    initial = np.array([2.0, 2.0, 2.0, 2.0, 1.0])
    final = np.array([0.1, 2.0 * DIVERGENCE_FACTOR, 2.0 * DIVERGENCE_FACTOR * 1.01, float("nan"),
                      float("inf")])
    assert DIVERGENCE_FACTOR == 1e3
    assert diverged(final, initial).tolist() == [False, False, True, True, True]
    marked = as_diverged(final, initial)
    assert marked[0] == 0.1 and marked[1] == 2000.0 and np.isnan(marked[2:]).all()
    assert diverged([5.0], [1.0], factor=4.0).tolist() == [True]


# ============================================================ tuning: grid extension and criteria

def fake_curves(loss_of_lr, steps=4):
    """A curves function whose every problem's curve is loss_of_lr(lr) (a list of steps + 1)."""
    def curves(family, opt, num, steps_, seed, final_batches=0):
        row = list(loss_of_lr(opt.lr)) + [loss_of_lr(opt.lr)[-1]] * final_batches
        return np.tile(np.array(row, float), (num, 1))
    return curves


def test_grid_extends_past_an_edge_until_the_best_rate_is_interior():
    curve = lambda lr: [5.0] * 4 + [1 + (math.log2(lr) - 3) ** 2]           # best at lr = 8
    make = lambda lr: make_hand_optimizer("sgd", lr)
    best, scores = tune_learning_rate(None, make, (0.25, 0.5, 1.0, 2.0), 2, 4, 0,
                                      fake_curves(curve), extend=5)
    assert best == 8.0 and list(scores) == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    short, scores = tune_learning_rate(None, make, (0.25, 0.5, 1.0, 2.0), 2, 4, 0,
                                       fake_curves(curve), extend=2)
    assert short == 8.0 and max(scores) == 8.0                 # the limit: still at the edge
    down, scores = tune_learning_rate(None, make, (64.0, 128.0), 2, 4, 0, fake_curves(curve),
                                      extend=5)
    assert down == 8.0 and min(scores) == 4.0
    plain, scores = tune_learning_rate(None, make, (0.25, 0.5), 2, 4, 0, fake_curves(curve))
    assert plain == 0.5 and list(scores) == [0.25, 0.5]          # extend=0: the grid as given


def test_coarse_to_fine_search_finds_the_best_rate_of_the_full_grid_with_fewer_runs():
    grid = tuple(2.0 ** k for k in range(-10, 6))                        # 16 rates
    make = lambda lr: make_hand_optimizer("sgd", lr)
    for best_exponent in range(-9, 5):                                   # every interior rate
        curve = lambda lr: [5.0] * 4 + [1 + (math.log2(lr) - best_exponent) ** 2]
        full, all_scores = tune_learning_rate(None, make, grid, 2, 4, 0, fake_curves(curve))
        best, scores = tune_learning_rate(None, make, grid, 2, 4, 0, fake_curves(curve), stride=3)
        assert best == full == 2.0 ** best_exponent
        assert len(scores) <= 9 < len(all_scores)                       # 6 coarse + at most 3
        k = list(scores).index(best)
        assert list(scores)[k - 1] == best / 2 and list(scores)[k + 1] == best * 2
        assert all(scores[lr] == all_scores[lr] for lr in scores)
    edge = lambda lr: [5.0] * 4 + [1 + (math.log2(lr) - 7) ** 2]          # beyond the top
    best, scores = tune_learning_rate(None, make, grid, 2, 4, 0, fake_curves(edge), extend=4,
                                      stride=3)
    assert best == 128.0 and max(scores) == 256.0                        # grown, then interior
    record = tuning_record(best, scores, 4, 3)
    assert record["interior"] and record["stride"] == 3 and record["grid"][record["chosen"]] == 128.0


def test_tuning_for_the_mean_over_the_horizon_picks_differently_from_the_final_loss():
    fast_then_flat = [1.0, 0.2, 0.2, 0.2, 0.2]      # lr 1: low early, mean 0.2 over steps 1..4
    slow_but_lower = [1.0, 0.9, 0.6, 0.3, 0.1]      # lr 0.1: lowest at the end, mean 0.475
    curves = fake_curves(lambda lr: fast_then_flat if lr == 1.0 else slow_but_lower)
    make = lambda lr: make_hand_optimizer("sgd", lr)
    final, _ = tune_learning_rate(None, make, (0.1, 1.0), 1, 4, 0, curves, criterion="final")
    mean, scores = tune_learning_rate(None, make, (0.1, 1.0), 1, 4, 0, curves,
                                      criterion="horizon-mean")
    assert final == 0.1 and mean == 1.0 and scores == pytest.approx({0.1: 0.475, 1.0: 0.2})


def test_lv_criterion_scores_the_final_parameters_on_further_minibatches():
    family = QuadraticFamily(dim=3)
    rng_a, rng_b = np.random.default_rng([2, 0]), np.random.default_rng([2, 0])
    plain = run_optimizer(family.sample(rng_a), Adam(0.1), 5, rng_a)
    lv = run_optimizer(family.sample(rng_b), Adam(0.1), 5, rng_b, final_batches=3)
    assert lv.shape == (9,) and np.array_equal(lv[:6], plain)
    curves = learning_curves(family, Adam(0.1), 2, 5, 0, final_batches=3)
    assert np.allclose(criterion_values(curves, 5, "lv"), curves[:, 6:].mean(axis=1))
    assert np.allclose(criterion_values(curves, 5, "horizon-mean"), curves[:, 1:6].mean(axis=1))
    curves[0, 7] = np.nan                                 # a non-finite evaluation: diverged
    assert np.isnan(criterion_values(curves, 5, "lv")[0])
    assert not np.isnan(criterion_values(curves, 5, "final")).any()   # it reads the trajectory only


# ============================================================ dm-budget

def untrained_snapshot(path):
    opt = DMOptimizer(hidden=20, preprocess="log", output_scale=0.1)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_optimizer(str(path), opt, opt.init_params(np.random.default_rng(0)), {"epoch": 1})


def test_dm_budget_quick_without_snapshots_uses_labelled_untrained_networks(tmp_path):
    numbers = experiments.run_experiment("dm-budget", quick_args(tmp_path), log=lambda *a: None)
    part, e10 = numbers["budget"], "RNNprop [rnnprop-mnist-e10]"       # a learned reference
    expected = (2 * len(budget.SEEDS) * len(budget.BUDGETS)          # dm-mnist, rnnprop-mnist
                + (len(budget.TABLE4_SEEDS) - len(budget.SEEDS)) * len(budget.TABLE4_BUDGETS)
                + len(budget.TABLE4_SEEDS) * len(budget.TABLE4_BUDGETS))    # without the cc
    assert part["untrained_stand_in"] and len(part["missing"]) == expected
    for criterion in ("final", "horizon-mean"):
        runs = part["criteria"][criterion]["runs"]
        assert set(runs) == {"dm-mnist", "rnnprop-mnist"} and list(runs["dm-mnist"]["0"]) == ["0"]
        assert set(part["criteria"][criterion]["references"]) == {"NAG", "Adam", e10}
    assert (tmp_path / "dm-budget.png").stat().st_size > 1000


def test_dm_budget_reads_the_snapshots_that_exist(tmp_path):
    root = tmp_path / "runs"
    untrained_snapshot(root / "dm-mnist-s1" / "at-300.npz")
    numbers = experiments.run_experiment("dm-budget", quick_args(tmp_path, budget_runs=str(root)),
                                         log=lambda *a: None)
    part = numbers["budget"]
    assert not part["untrained_stand_in"] and "dm-mnist-s1/at-300.npz" not in part["missing"]
    entry = part["criteria"]["final"]["runs"]["dm-mnist"]["1"]["300"]
    assert len(entry["per_problem"]) == 2
    assert set(entry["paired"]) == {"NAG", "Adam", "RNNprop [rnnprop-mnist-e10]"}
    assert "rnnprop-mnist" not in part["criteria"]["final"]["runs"]


def test_the_seed_to_ship_is_chosen_on_validation(tmp_path):
    """Each candidate is scored by the meta-loss its configuration trains for, on the same
    validation problems: the mean over the horizon (weighting 'all') or the final loss ('last');
    the lowest is chosen."""
    from minil2o.experiments.shipped import VALIDATION_SEED, choose_on_validation
    from minil2o.training.train import TrainConfig
    paths, weighting = {}, {0: "all", 1: "all", 2: "last"}
    for seed, scale in ((0, 1.0), (1, 0.05), (2, 1.0)):
        config = dataclasses.asdict(TrainConfig(problem="quadratic", horizon=6, optimizer="dm",
                                                optimizer_kwargs={"output_scale": scale},
                                                weighting=weighting[seed]))
        opt = DMOptimizer(output_scale=scale)
        paths[seed] = str(tmp_path / f"s{seed}.npz")
        save_optimizer(paths[seed], opt, opt.init_params(np.random.default_rng(seed)),
                       {"epoch": 1, "config": config})
    best, scores = choose_on_validation(paths, num_problems=4)
    assert best == min(scores, key=scores.get) and set(scores) == {0, 1, 2}
    for seed, path in paths.items():
        curves = learning_curves(QuadraticFamily(), load_optimizer(path), 4, 6,
                                 seed=VALIDATION_SEED)
        want = curves[:, 1:].mean() if weighting[seed] == "all" else curves[:, -1].mean()
        assert scores[seed] == pytest.approx(want, rel=1e-12)


def regenerate_tool():
    """tools/regenerate_results.py as a module."""
    return tool_module("regenerate_results")


def test_regeneration_redoes_a_json_made_otherwise_than_the_experiment_is_now(tmp_path):
    """tools/regenerate_results.py skips only a full-size JSON with the paired statistics of the
    experiment as defined now: its learned optimizers (shipped by the same command), its number
    of test problems and, for dm-budget, every snapshot."""
    regen = regenerate_tool()
    assert set(regen.ORDER) == set(experiments.EXPERIMENTS)
    exp = experiments.EXPERIMENTS["dm-fig4-mnist"]
    now = {"schema": 2, "quick": False, "num_test": exp.num_test,
           "learned": {k: {"train_command": experiments.train_command(k)} for k in exp.learned}}

    def finished(name="dm-fig4-mnist", **changes):
        (tmp_path / f"{name}.json").write_text(json.dumps({**now, **changes}))
        return regen.finished(str(tmp_path), name)

    assert finished() and not regen.finished(str(tmp_path), "dm-fig5-generalization")
    assert not finished(schema=1) and not finished(quick=True)
    assert not finished(num_test=exp.num_test // 2)
    assert not finished(learned={"dm-mnist": {"train_command": "minil2o train --epochs 1"}})
    assert not finished(learned={})
    exp = experiments.EXPERIMENTS["dm-budget"]
    budget_now = {"learned": {k: {"train_command": experiments.train_command(k)}
                              for k in exp.learned}, "num_test": exp.num_test}
    assert finished("dm-budget", **budget_now, budget={"missing": []})
    assert not finished("dm-budget", **budget_now, budget={"missing": ["dm-mnist-s0/at-3000.npz"]})


def test_a_panel_computed_on_its_own_is_read_back_by_reproduce(tmp_path):
    """regenerate_results --panel K fills the cache with exactly curves that `minil2o reproduce`
    asks for: reproducing afterwards reads them back untouched, and its JSON is the one a run
    from an empty cache writes."""
    from minil2o.experiments.reproduce import add_arguments, run_experiment
    regen, name = regenerate_tool(), "dm-fig5-generalization"

    def reproduce(cache):
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = parser.parse_args([name, "--quick", "--out", str(tmp_path / cache),
                                  "--cache", str(tmp_path / cache)])
        numbers = run_experiment(name, args, log=lambda *a: None)
        return {k: v for k, v in numbers.items() if k != "seconds"}

    regen.warm_panel(name, 1, str(tmp_path / "warm"), str(tmp_path / "warm"), quick=True)
    warmed = {f.name: f.stat().st_mtime_ns for f in (tmp_path / "warm").glob("*.npy")}
    fresh = reproduce("fresh")
    assert warmed and set(warmed) < {f.name for f in (tmp_path / "fresh").glob("*.npy")}
    assert reproduce("warm") == fresh
    assert all((tmp_path / "warm" / f).stat().st_mtime_ns == t for f, t in warmed.items())
    with pytest.raises(SystemExit, match="--panel 9 is not allowed"):
        regen.warm_panel(name, 9, str(tmp_path / "warm"), str(tmp_path / "warm"), quick=True)
