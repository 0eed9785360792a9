"""`minil2o reproduce NAME --extend`: adding meta-training seeds to a results JSON runs only them,
on the same test problems, and gives the JSON a whole run would; a JSON measured otherwise is
refused in one line before anything runs."""
import argparse
import dataclasses
import json

import pytest

from minil2o.errors import UsageError
from minil2o.experiments import registry, reproduce

NAME = "rnnprop-mlp-100"            # both MNIST recipes, two criteria, a BEST baseline


def args_for(out, *extra):
    parser = argparse.ArgumentParser()
    reproduce.add_arguments(parser)
    return parser.parse_args([NAME, "--quick", "--out", str(out), "--cache", "", *extra])


def without_seeds(monkeypatch):
    """The experiment as it was before its recipes' other seeds were kept."""
    exp = dataclasses.replace(registry.EXPERIMENTS[NAME], every_seed=False)
    monkeypatch.setitem(reproduce.EXPERIMENTS, NAME, exp)


def strip(numbers):
    """The JSON as written, less its timings and its record of what was added."""
    return json.loads(json.dumps({k: v for k, v in numbers.items()
                                  if k not in ("seconds", "extended")}))


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    return reproduce.run_experiment(NAME, args_for(out), log=lambda *a: None)


@pytest.fixture(scope="module")
def shipped_only(tmp_path_factory):
    """The JSON's text as written before the other seeds were kept."""
    out = tmp_path_factory.mktemp("shipped")
    with pytest.MonkeyPatch.context() as m:
        without_seeds(m)
        reproduce.run_experiment(NAME, args_for(out), log=lambda *a: None)
    return (out / f"{NAME}.json").read_text()


def test_extending_gives_the_json_of_a_whole_run(tmp_path, shipped_only, whole):
    (tmp_path / f"{NAME}.json").write_text(shipped_only)
    first = json.loads(shipped_only)
    assert {e["seed"] for e in first["learned"].values()} == {0, 2}       # the shipped files
    extended = reproduce.extend_experiment(NAME, args_for(tmp_path), log=lambda *a: None)
    assert len(extended["learned"]) == 6 and extended["extended"][0]["learned"]
    assert strip(extended) == strip(whole)
    assert strip(json.loads((tmp_path / f"{NAME}.json").read_text())) == strip(whole)
    again = reproduce.extend_experiment(NAME, args_for(tmp_path), log=lambda *a: None)
    assert strip(again) == strip(whole)                                 # nothing left to add


def tampered(path, change):
    numbers = json.loads(path.read_text())
    change(numbers)
    path.write_text(json.dumps(numbers))


def scores_of_another_draw(numbers):
    """Another draw of the test problems moves every run's scores (here by 1% > SAME_SCORE)."""
    for entry in numbers["panels"][0]["optimizers"].values():
        entry["final_per_problem"][0] *= 1.01


def another_file_without_a_digest(numbers):
    """A learned optimizer recorded without a digest whose file now scores otherwise."""
    numbers["learned"]["dm-mnist"].pop("digest")
    numbers["panels"][0]["optimizers"]["DM [dm-mnist]"]["final_per_problem"][0] *= 1.01


@pytest.mark.parametrize("change, says", [
    (scores_of_another_draw, "other test problems"),
    (another_file_without_a_digest, "another file of DM \\[dm-mnist\\]"),
    (lambda n: n.update(num_test=7), "num_test 7"),
    (lambda n: n.update(steps=3), "steps 3"),
    (lambda n: n.update(seed=5), "seed 5"),
    (lambda n: n.update(quick=False), "quick False"),
    (lambda n: n.update(experiment="dm-fig4-mnist"), "experiment 'dm-fig4-mnist'"),
    (lambda n: n.update(panels=n["panels"] * 2), "panels 2"),
    (lambda n: n.update(panels={}), "not a results JSON"),
    (lambda n: n.clear(), "not a results JSON")])
def test_a_json_measured_otherwise_is_refused(tmp_path, shipped_only, change, says):
    path = tmp_path / f"{NAME}.json"
    path.write_text(shipped_only)
    tampered(path, change)
    before = path.read_bytes()
    with pytest.raises(UsageError, match=says):
        reproduce.extend_experiment(NAME, args_for(tmp_path), log=lambda *a: None)
    assert path.read_bytes() == before                                  # nothing written


@pytest.mark.parametrize("label", ["DM [dm-mnist]", "RNNprop [rnnprop-mnist]", "SGD"])
def test_one_run_that_scores_otherwise_does_not_refuse(tmp_path, shipped_only, whole, label):
    """A chaotic run (another machine's rounding, another final loss) is not another draw: while
    some stored run scores the same again, the seeds are added as a whole run would give them."""
    path = tmp_path / f"{NAME}.json"
    path.write_text(shipped_only)
    tampered(path, lambda n: n["panels"][0]["optimizers"][label]["final_per_problem"].__setitem__(
        0, 2.0 * n["panels"][0]["optimizers"][label]["final_per_problem"][0]))
    extended = reproduce.extend_experiment(NAME, args_for(tmp_path), log=lambda *a: None)
    assert len(extended["learned"]) == 6
    added, expected = (n["panels"][0]["optimizers"]["DM [dm-mnist, seed 1]"] for n in (extended, whole))
    assert added["final_per_problem"] == expected["final_per_problem"]


def test_not_json_and_other_kinds_are_refused(tmp_path):
    (tmp_path / f"{NAME}.json").write_text("{ not json")
    with pytest.raises(UsageError, match="is not JSON"):
        reproduce.extend_experiment(NAME, args_for(tmp_path), log=lambda *a: None)
    parser = argparse.ArgumentParser()
    reproduce.add_arguments(parser)
    art = parser.parse_args(["dm-appendix-b-updates", "--quick", "--out", str(tmp_path)])
    with pytest.raises(UsageError, match="adds to curves, final and budget experiments"):
        reproduce.extend_experiment("dm-appendix-b-updates", art, log=lambda *a: None)


def budget_args(out, root):
    parser = argparse.ArgumentParser()
    reproduce.add_arguments(parser)
    return parser.parse_args(["dm-budget", "--quick", "--out", str(out), "--cache", "",
                              "--budget-runs", str(root)])


def snapshot(path, seed):
    """An untrained DM network saved as a budget snapshot (different per seed)."""
    import numpy as np
    from minil2o.optimizers.learned import DMOptimizer
    from minil2o.training.runs import save_optimizer
    opt = DMOptimizer(hidden=20, preprocess="log", output_scale=0.1)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_optimizer(str(path), opt, opt.init_params(np.random.default_rng(seed)), {"epoch": 1})


def test_extending_dm_budget_adds_the_snapshots_it_lacks(tmp_path):
    """Table 4's runs at further seeds arrive after dm-budget was measured: --extend evaluates
    only them, against the stored references, and gives the JSON a whole run would."""
    root = tmp_path / "runs"
    snapshot(root / "rnnprop-mnist-s0" / "at-100.npz", 0)
    snapshot(root / "rnnprop-mnist-no-cc-s0" / "at-100.npz", 1)
    part = reproduce.run_experiment("dm-budget", budget_args(tmp_path / "a", root),
                                    log=lambda *a: None)
    assert set(part["budget"]["criteria"]["final"]["runs"]["rnnprop-mnist"]) == {"0"}
    snapshot(root / "rnnprop-mnist-s3" / "at-100.npz", 2)
    snapshot(root / "rnnprop-mnist-no-cc-s3" / "at-100.npz", 3)
    whole = reproduce.run_experiment("dm-budget", budget_args(tmp_path / "b", root),
                                     log=lambda *a: None)
    extended = reproduce.extend_experiment("dm-budget", budget_args(tmp_path / "a", root),
                                           log=lambda *a: None)
    assert sorted(extended["extended"][0]["learned"]) == ["rnnprop-mnist-no-cc-s3/at-100.npz",
                                                          "rnnprop-mnist-s3/at-100.npz"]
    assert strip(extended) == strip(whole)
    seeds = extended["verdicts"]["criteria"]["final"][0]["parts"][0]["seeds"]
    assert set(seeds) == set()            # no seed has Table 4's three budgets yet: none judged
    for name in ("rnnprop-mnist", "rnnprop-mnist-no-cc"):
        for budget in (300, 1000):
            snapshot(root / f"{name}-s3" / f"at-{budget}.npz", budget + len(name))
    again = reproduce.extend_experiment("dm-budget", budget_args(tmp_path / "a", root),
                                        log=lambda *a: None)
    seeds = again["verdicts"]["criteria"]["final"][0]["parts"][0]["seeds"]
    assert set(seeds) == {"3"} and len(seeds["3"]["comparisons"]) == 3


@pytest.mark.parametrize("moved, refused", [("one snapshot", False), ("one reference", False),
                                             ("every run", True)])
def test_dm_budget_refuses_another_draw_not_one_run_that_scores_otherwise(tmp_path, moved,
                                                                        refused):
    """Before snapshots are added, one stored run must score the same again: one run that scores
    otherwise (a chaotic one) does not refuse; every run moved (another draw) does, unwritten."""
    root = tmp_path / "runs"
    snapshot(root / "rnnprop-mnist-s0" / "at-100.npz", 0)
    reproduce.run_experiment("dm-budget", budget_args(tmp_path, root), log=lambda *a: None)
    path = tmp_path / "dm-budget.json"

    def move(numbers):
        final = numbers["budget"]["criteria"]["final"]
        runs = [final["runs"]["rnnprop-mnist"]["0"]["100"]] if moved != "one reference" else []
        refs = list(final["references"].values())
        for entry in runs + (refs[:1] if moved == "one reference" else refs if refused else []):
            entry["per_problem"][0] *= 1.01
    tampered(path, move)
    before = path.read_bytes()
    snapshot(root / "rnnprop-mnist-s3" / "at-100.npz", 2)
    if refused:
        with pytest.raises(UsageError, match="other test problems"):
            reproduce.extend_experiment("dm-budget", budget_args(tmp_path, root),
                                        log=lambda *a: None)
        assert path.read_bytes() == before
    else:
        extended = reproduce.extend_experiment("dm-budget", budget_args(tmp_path, root),
                                               log=lambda *a: None)
        assert "3" in extended["budget"]["criteria"]["final"]["runs"]["rnnprop-mnist"]


def test_digests_name_the_files_a_json_was_measured_with(tmp_path, shipped_only):
    """A JSON without digests (written before they were kept) gets, from --extend, the digest of
    each file that scores what it holds; superseded() then reads digests, not commands."""
    from minil2o.experiments import superseded
    path = tmp_path / f"{NAME}.json"
    numbers = json.loads(shipped_only)
    for entry in numbers["learned"].values():
        entry.pop("digest")
        entry["train_command"] += " --an-older-spelling"            # commands differ, files not
    path.write_text(json.dumps(numbers))
    assert superseded(json.loads(path.read_text())) == ["dm-mnist", "rnnprop-mnist"]
    with pytest.MonkeyPatch.context() as m:
        without_seeds(m)
        checked = reproduce.extend_experiment(NAME, args_for(tmp_path), log=lambda *a: None)
    assert all("digest" in e for e in checked["learned"].values())
    assert superseded(checked) == []
    checked["learned"]["dm-mnist"]["digest"] = "0" * 16                 # another file
    assert superseded(checked) == ["dm-mnist"]
