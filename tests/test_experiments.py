"""The papers' experiments: every name is listed, every quick version runs and writes its numbers
and its figure, shipped optimizers match the configuration recorded for them."""
import dataclasses
import json
import types

import pytest

from minil2o import cli, experiments
from minil2o.checkpoint import load
from minil2o.errors import UsageError

REQUIRED = ["dm-fig4-quadratic", "dm-fig4-mnist", "dm-fig4-mnist-200", "dm-fig5-generalization",
            "dm-fig6-architectures", "dm-fig7-cnn", "dm-fig8-9-neural-art", "dm-appendix-b-updates",
            "rnnprop-mlp-100", "rnnprop-mlp-2000", "rnnprop-mlp-10000", "rnnprop-activations",
            "rnnprop-deeper-mlp", "rnnprop-cnn", "rnnprop-sine-lstm", "rnnprop-control"]
SLOW = {"dm-fig7-cnn", "rnnprop-cnn", "dm-fig8-9-neural-art"}


def quick_args(tmp_path, **changes):
    args = dict(quick=True, out=str(tmp_path), num_test=None, retrain=False, seed=0, cache="",
                cifar_dir=None)
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


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in REQUIRED])
def test_quick_version_writes_numbers_and_figure(name, tmp_path):
    numbers = experiments.run_experiment(name, quick_args(tmp_path), log=lambda *a: None)
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["experiment"] == name and on_disk["quick"]
    for panel in numbers.get("panels", []):
        for label, r in panel["optimizers"].items():
            assert r["num_runs"] == 2 and len(r["mean"]) == numbers["steps"] + 1, label
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
    defaults = dataclasses.asdict(experiments.TrainConfig())
    for key in set(recorded) - set(stored):      # settings added after the file was trained
        assert recorded.pop(key) == defaults[key], key
    assert stored == json.loads(json.dumps(recorded))
    lstms = len(meta["optimizer"].get("optimizers", {})) or 1    # per_group: one LSTM per group
    assert sum(a.size for a in arrays.values()) < 10_000 * lstms   # a few thousand numbers each
    command = experiments.train_command(name)
    assert command.startswith("minil2o train") and f"--seed {recorded['seed']}" in command
    readme = (experiments.PRETRAINED_DIR / "README.md").read_text()
    assert command in readme
