"""The papers' experiments: every name is listed, every quick version runs and writes its numbers
and its figure, shipped optimizers match the configuration recorded for them; the one evaluation
pipeline they share (the loop, the tuner, the comparison, the curve cache)."""
import dataclasses
import json
import types

import numpy as np
import pytest

from minil2o import cli, experiments
from minil2o.backend import to_float, to_numpy
from minil2o.files.checkpoint import load
from minil2o.experiments.demo import demo_config
from minil2o.errors import UsageError
from minil2o.evaluation.evaluate import (CompareSettings, compare, final_theta, learning_curves,
                                         run_optimizer, trajectory)
from minil2o.experiments.runner import CurveCache
from minil2o.optimizers.hand import Adam
from minil2o.optimizers.learned import DMOptimizer
from minil2o.problems import QuadraticFamily
from minil2o.training.runs import saved_defaults
from minil2o.training.train import TrainConfig

REQUIRED = ["dm-fig4-quadratic", "dm-fig4-mnist", "dm-fig4-mnist-200", "dm-fig5-generalization",
            "dm-fig6-architectures", "dm-fig7-cnn", "dm-fig8-9-neural-art", "dm-appendix-b-updates",
            "rnnprop-mlp-100", "rnnprop-mlp-2000", "rnnprop-mlp-10000", "rnnprop-activations",
            "rnnprop-deeper-mlp", "rnnprop-cnn", "rnnprop-sine-lstm", "rnnprop-control",
            "dm-budget"]
SLOW = {"dm-fig7-cnn", "rnnprop-cnn", "dm-fig8-9-neural-art"}
EXPERIMENTS_BY_NAME = experiments.EXPERIMENTS


def quick_args(tmp_path, **changes):
    args = dict(quick=True, out=str(tmp_path), num_test=None, retrain=False, seed=0, cache="",
                cifar_dir=None, budget_runs=str(tmp_path / "no-budget-runs"))
    return types.SimpleNamespace(**{**args, **changes})


def test_list_names_every_experiment(capsys):
    assert cli.main(["reproduce", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in REQUIRED:
        assert name in listed
    assert sorted(REQUIRED) == sorted(experiments.EXPERIMENTS)


def test_unknown_name_is_a_usage_error(capsys):
    assert cli.main(["reproduce", "no-such-figure"]) == 2
    assert "no-such-figure" in capsys.readouterr().err
    with pytest.raises(UsageError):
        experiments.run(types.SimpleNamespace(list=False, name=None))


def test_a_cifar_only_panel_is_left_out_without_cifar_and_said_so():
    from minil2o.experiments.spec import panels_to_run
    exp = EXPERIMENTS_BY_NAME["rnnprop-cnn"]
    kept, skipped = panels_to_run(exp, None)
    assert skipped == ["c-c-p-f, CIFAR-10"] and len(kept.panels) == len(exp.panels) - 1
    assert panels_to_run(exp, "/some/cifar-10-batches-py") == (exp, [])
    stand_ins, none_skipped = panels_to_run(EXPERIMENTS_BY_NAME["dm-fig7-cnn"], None)
    assert none_skipped == [] and len(stand_ins.panels) == 3      # their stand-ins differ


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in REQUIRED])
def test_quick_version_writes_numbers_and_figure(name, tmp_path):
    numbers = experiments.run_experiment(name, quick_args(tmp_path), log=lambda *a: None)
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["experiment"] == name and on_disk["quick"]
    learned = [v["label"] for v in numbers["learned"].values()]
    for panel in numbers.get("panels", []):
        assert panel["criterion"] == EXPERIMENTS_BY_NAME[name].criteria[0]
        blocks = [panel["optimizers"], *panel["criteria"].values()]
        for label, r in panel["optimizers"].items():
            assert r["num_runs"] == 2 and len(r["mean"]) == numbers["steps"] + 1, label
            assert len(r["final_per_problem"]) == 2, label
        for block in blocks:
            for label, r in block.items():
                assert set(r["paired"]) == set(learned) - {label}, label
                assert all(p["n"] == 2 for p in r["paired"].values()), label
                if r["lr"] is not None:
                    assert r["tuning"]["grid"][r["tuning"]["chosen"]] == r["lr"], label
    if name == "dm-fig8-9-neural-art":
        assert (tmp_path / f"{name}-images.png").exists()


def test_retrain_quick_trains_from_the_recorded_configuration(tmp_path):
    numbers = experiments.run_experiment("dm-fig4-quadratic", quick_args(tmp_path, retrain=True),
                                         log=lambda *a: None)
    assert numbers["learned"]["dm-quadratic"]["status"] == "retrained"
    assert (tmp_path / "train" / "dm-quadratic" / "optimizer.npz").exists()


def test_cache_reuses_curves(tmp_path):
    args = quick_args(tmp_path / "out", cache=str(tmp_path / "cache"))
    first = experiments.run_experiment("dm-fig4-mnist", args, log=lambda *a: None)
    cached = len(list((tmp_path / "cache").iterdir()))
    second = experiments.run_experiment("dm-fig4-mnist", args, log=lambda *a: None)
    assert len(list((tmp_path / "cache").iterdir())) == cached
    assert first["panels"] == second["panels"]


@pytest.mark.parametrize("name", sorted(experiments.PRETRAINED))
def test_shipped_optimizers_match_their_recorded_configuration(name):
    path = experiments.pretrained_path(name)
    if not path.exists():
        pytest.skip(f"{name} is not shipped (RESULTS.md says so)")
    arrays, meta = load(path)
    recorded = dataclasses.asdict(experiments.PRETRAINED[name].config)
    stored = dict(meta["config"])
    assert meta["epoch"] == recorded["epochs"]          # the run was stopped after `epochs`
    stored.pop("epochs"), recorded.pop("epochs")
    defaults = saved_defaults(stored, TrainConfig)
    for key in set(recorded) - set(stored):      # settings added after the file was trained
        assert recorded.pop(key) == defaults[key], key
    assert stored == json.loads(json.dumps(recorded))
    lstms = len(meta["optimizer"].get("optimizers", {})) or 1    # per_group: one LSTM per group
    assert sum(a.size for a in arrays.values()) < 10_000 * lstms   # a few thousand numbers each
    command = experiments.train_command(name)
    assert command.startswith("minil2o train") and f"--seed {recorded['seed']}" in command
    readme = (experiments.PRETRAINED_DIR / "README.md").read_text()
    assert command in readme


# ============================================================ the one evaluation pipeline

def loop_written_out(problem, opt, steps, rng):
    """The optimization loop as the papers state it, for comparison with evaluate.trajectory."""
    theta, state, losses = problem.init(rng), opt.init_state(problem.n, problem.dtype), []
    for _ in range(steps):
        f, grad = problem.loss_and_grad(theta, problem.sample_batch(rng))
        update, state = opt.step(grad, state)
        theta, losses = theta + update, losses + [to_float(f)]
    return losses, theta


def test_trajectory_is_the_loop_written_out():
    family, steps = QuadraticFamily(dim=3), 6
    rng_a, rng_b, rng_c = (np.random.default_rng([5, 0]) for _ in range(3))
    losses, theta = loop_written_out(family.sample(rng_a), Adam(0.1), steps, rng_a)
    problem = family.sample(rng_b)
    run = list(trajectory(problem, Adam(0.1), steps, rng_b))
    assert [s.t for s in run] == list(range(steps + 1)) and run[-1].update is None
    assert [to_float(s.loss) for s in run[:-1]] == losses
    assert np.array_equal(to_numpy(run[-2].next_theta), to_numpy(theta))
    assert np.array_equal(to_numpy(final_theta(family.sample(rng_c), Adam(0.1), steps, rng_c)),
                          to_numpy(theta))
    assert rng_c.random() == rng_a.random()      # final_theta draws no minibatch after its last step
    rng_d = np.random.default_rng([5, 0])
    curve = run_optimizer(family.sample(rng_d), Adam(0.1), steps, rng_d)
    assert curve.tolist() == [to_float(s.loss) for s in run]


def test_compare_tunes_on_the_tuning_family_and_tests_on_the_test_family():
    test, tune, calls = QuadraticFamily(dim=3), QuadraticFamily(dim=3), []

    def curves(family, opt, num, steps, seed):
        calls.append((family, seed, num))
        return learning_curves(family, opt, num, steps, seed)

    grid = (0.01, 0.1)
    settings = CompareSettings(steps=3, num_test=2, num_tune=1, seed=4, grids={"adam": grid})
    results = compare(test, {}, ["adam"], settings, tune_family=tune, curves=curves,
                      log=lambda *_: None)
    assert results["Adam"]["lr"] in grid and tuple(results["Adam"]["grid_scores"]) == grid
    assert calls == [(tune, 5, 1), (tune, 5, 1), (test, 6, 2)]
    plain = compare(test, {}, ["adam"], settings, tune_family=tune, log=lambda *_: None)
    assert np.array_equal(plain["Adam"]["curves"], results["Adam"]["curves"])


def test_curve_cache_tells_optimizers_apart(tmp_path):
    cache, family = CurveCache(str(tmp_path)), QuadraticFamily(dim=3)
    cache.describe(family, ["quadratic", {"dim": 3}, "test"])
    opt = DMOptimizer(hidden=4)
    opt.phi = opt.init_params(np.random.default_rng(0))
    first = cache(family, opt, 2, 3, 0)
    assert np.array_equal(first, learning_curves(family, opt, 2, 3, 0))
    assert np.array_equal(cache(family, opt, 1, 3, 0), first[:1])        # served from the file
    opt.phi = opt.init_params(np.random.default_rng(1))
    cache(family, opt, 2, 3, 0)
    cache(family, Adam(0.1), 2, 3, 0)
    cache(family, Adam(0.2), 2, 3, 0)
    assert len(list(tmp_path.iterdir())) == 4


def test_demo_trains_the_shipped_quadratic_configuration():
    shipped = experiments.PRETRAINED["dm-quadratic"].config
    assert demo_config(seed=3, epochs=2) == dataclasses.replace(shipped, seed=3, epochs=2)
