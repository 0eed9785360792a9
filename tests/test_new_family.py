"""A new problem family added as CONTRIBUTING's "Adding an optimizee" says, touching no file of the
package: its module (tests/logistic_family.py, a logistic regression on the bundled MNIST) and one
entry of the table minil2o.problems.FAMILIES. Its gradient is checked against central differences;
then training, validation on its own split, `--quick`'s smaller settings and a comparison with a
tuned baseline all find it through the table."""
import numpy as np
import pytest

from logistic_family import LogisticFamily, logistic_mnist
from minil2o.backend import asarray, to_float, to_numpy
from minil2o.errors import UsageError
from minil2o.evaluation.evaluate import CompareSettings, compare
from minil2o.experiments.registry import quick_config, quick_version, shrink_kwargs
from minil2o.experiments.runner import panel_kwargs
from minil2o.experiments.spec import Experiment, Panel
from minil2o.gradcheck import check_gradients
from minil2o.problems import FAMILIES, FamilyEntry, accepted_kwargs, make_family, register_family
from minil2o.training.factories import build_family
from minil2o.training.runs import load_optimizer
from minil2o.training.train import TrainConfig, Trainer

NAME = "logistic-mnist"
ENTRY = FamilyEntry(NAME, LogisticFamily, logistic_mnist, splits=True, quick={"batch_size": 8})


@pytest.fixture(autouse=True)
def registered():
    """The family in the table for the test, and out of it afterwards."""
    register_family(ENTRY)
    yield ENTRY
    FAMILIES.pop(NAME)


def config(**changes):
    """A tiny meta-training run on the new family (7x7 inputs: n = 49 * 10 + 10)."""
    base = dict(problem=NAME, problem_kwargs={"pool": 4, "batch_size": 16}, horizon=6, unroll=3,
                epochs=1, problems_per_epoch=2, validation_problems=1,
                optimizer_kwargs={"hidden": 4})
    return TrainConfig(**{**base, **changes})


def test_its_gradient_matches_central_differences(rng):
    problem = make_family(NAME, pool=7, batch_size=8, init_std=0.5, dtype="float64").sample(rng)
    theta, batch = problem.init(rng), problem.sample_batch(rng)
    f, grad = problem.loss_and_grad(theta, batch)
    assert problem.n == 16 * 10 + 10 and tuple(grad.shape) == (problem.n,)
    assert abs(to_float(f) - to_float(problem.loss(theta, batch))) < 1e-12
    errors = check_gradients(lambda theta: problem.loss(theta, batch), {"theta": theta},
                             {"theta": grad}, verbose=False)
    assert errors["theta"] < 1e-7, errors


def test_the_table_alone_makes_it_a_family():
    assert tuple(FAMILIES)[-1] == NAME
    assert accepted_kwargs(NAME) == ["split", "pool", "batch_size", "init_std", "dtype"]
    config().validate()                                          # TrainConfig.problem allows it
    with pytest.raises(UsageError, match="unknown setting 'hidden' for problem family"):
        make_family(NAME, hidden=4)
    with pytest.raises(UsageError, match="already registered"):
        register_family(ENTRY)


def test_splits_reach_training_and_the_experiments():
    for split in ("train", "validation", "test"):
        assert build_family(config(), split).split == split
    panel = Panel("logistic 7x7", NAME, {"pool": 4})
    for split in ("validation", "test"):
        kwargs, label = panel_kwargs(panel, split, None)
        assert kwargs == {"pool": 4, "split": split} and label == panel.label


def test_quick_shrinks_it():
    assert shrink_kwargs(NAME, {"pool": 4, "batch_size": 16}) == {"pool": 4, "batch_size": 8}
    assert quick_config(config()).problem_kwargs == {"pool": 4, "batch_size": 8}
    exp = Experiment("logistic", "this test", "", "curves", (Panel("7x7", NAME, {"pool": 4}),))
    assert quick_version(exp).panels[0].kwargs == {"pool": 4, "batch_size": 8}


def test_meta_trains_and_compares_with_a_tuned_baseline(tmp_path):
    """The quick version of a run meta-trains (scored on the validation split), and the trained
    optimizer is compared with Adam, tuned on the validation split, on two test problems."""
    trainer = Trainer(quick_config(config()), out_dir=str(tmp_path), log=lambda s: None)
    history = trainer.run(progress=False)
    assert len(history) == 1
    learned = load_optimizer(str(tmp_path / "optimizer.npz"))
    assert all(np.all(np.isfinite(to_numpy(a))) for a in learned.phi.values())
    panel = Panel("logistic 7x7", NAME, {"pool": 4})
    test, tune = (make_family(NAME, **panel_kwargs(panel, split, None)[0])
                  for split in ("test", "validation"))
    settings = CompareSettings(steps=4, num_test=2, num_tune=1, grids={"adam": (0.01, 0.1)})
    results = compare(test, {"learned": learned}, ("adam",), settings, tune_family=tune,
                      log=lambda s: None)
    assert sorted(results) == ["Adam", "learned"]
    for r in results.values():
        assert r["curves"].shape == (2, 5) and np.all(np.isfinite(r["curves"]))
    adam = results["Adam"]
    assert adam["lr"] in (0.01, 0.1) and adam["mean"][-1] < adam["mean"][0]
