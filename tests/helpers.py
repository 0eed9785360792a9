"""Small shared pieces of the tests."""
from minil2o.train import TrainConfig
from minil2o.workbook.checks import tiny_family  # noqa: F401  (an MLP family on 40 examples)


def assert_right(report):
    """Every output of a workbook check within its bound; the errors are printed (pytest -s)."""
    print(f"  {report}")
    assert report.measures and report.right, str(report)


def tiny_config(**changes):
    """A meta-training run that takes a few hundredths of a second (quadratics, 2 epochs of 2
    problems, horizon 10 in truncations of 5, an LSTM of 4 units)."""
    base = dict(problem="quadratic", problem_kwargs={"num_functions": 2, "dim": 3}, horizon=10,
                unroll=5, epochs=2, problems_per_epoch=2, validation_problems=1,
                optimizer_kwargs={"hidden": 4})
    base.update(changes)
    return TrainConfig(**base)
