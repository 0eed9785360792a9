"""Two learned optimizers in one run, one per parameter group (Andrychowicz et al. 2016, Fig. 7)."""
import numpy as np

from minil2o.backend import asarray, to_numpy
from minil2o.gradcheck import check_gradients
from minil2o.meta import meta_gradient, meta_weights, unroll, unroll_loss
from minil2o.optimizers.grouped import PerGroupOptimizer
from minil2o.optimizers.learned import DMOptimizer, RNNprop
from minil2o.problems import MLPFamily, ProblemBatch


def two_group_problem(rng, batch=1):
    X = rng.uniform(0, 1, (30, 6)).astype(np.float32)
    family = MLPFamily(X, rng.integers(0, 3, 30), hidden=(4,), num_classes=3, batch_size=5,
                       init_std=0.5, group_by="layer", dtype="float64")
    problems = [family.sample(rng) for _ in range(batch)]
    return problems[0] if batch == 1 else ProblemBatch(problems)


def per_group_optimizer(problem):
    groups = list(problem.groups)
    sizes = {g: s.stop - s.start for g, s in problem.groups.items()}
    return PerGroupOptimizer({groups[0]: DMOptimizer(hidden=3, output_scale=1.0),
                              groups[1]: RNNprop(hidden=2, alpha=1.0)}, sizes)


def test_each_group_gets_its_own_optimizer():
    rng = np.random.default_rng(0)
    problem = two_group_problem(rng)
    opt = per_group_optimizer(problem)
    phi = opt.init_params(rng, "float64")
    grad = asarray(rng.standard_normal(problem.n), "float64")
    update, _, _ = opt.step_forward(phi, grad, opt.init_state(problem.n, "float64"))
    for g, s in problem.groups.items():
        sub = opt.optimizers[g]
        alone, _, _ = sub.step_forward(opt.part(phi, g), grad[s], sub.init_state(s.stop - s.start, "float64"))
        np.testing.assert_array_equal(to_numpy(update)[s], to_numpy(alone))


def test_meta_gradient_of_two_optimizers_on_a_meta_batch():
    rng = np.random.default_rng(1)
    problem = two_group_problem(rng, batch=2)
    opt = per_group_optimizer(problem)
    assert problem.groups == opt.slices(problem.n)
    phi = opt.init_params(rng, "float64")
    theta, state = problem.init(rng), opt.init_state(problem.n, "float64")
    batches = [problem.sample_batch(rng) for _ in range(4)]
    w = meta_weights(3, "all")
    tr = unroll(opt, phi, problem, theta, state, batches)
    d_phi = meta_gradient(opt, phi, problem, tr, w)
    # h = 1e-4: the single-entry output bias has a small derivative next to the loss, so with
    # h = 1e-5 rounding (about eps |L| / h) dominates its central difference (7e-7 here, 3e-6 on a
    # GPU's summation order); at 1e-4 every entry is truncation-limited, below 5e-8.
    errors = check_gradients(
        lambda **p: unroll_loss(opt, p, problem, theta, state, batches, w, fixed_grads=tr.grads[:3]),
        phi, d_phi, h=1e-4)
    assert max(errors.values()) < 1e-6


def test_train_and_load_per_group(tmp_path):
    """`per_group` meta-trains one optimizer per group; the saved file loads back as one."""
    from minil2o.training.runs import load_optimizer
    from minil2o.training.train import Trainer, TrainConfig
    config = TrainConfig(problem="quadratic", per_group=True, horizon=4, unroll=2, epochs=1,
                         problems_per_epoch=1, validation_problems=1)
    trainer = Trainer(config, out_dir=str(tmp_path), log=lambda s: None)
    trainer.run(progress=False)
    opt = load_optimizer(str(tmp_path / "optimizer.npz"))
    assert opt.kind == "per-group" and list(opt.sizes) == ["all"]
    assert sorted(opt.phi) == sorted(trainer.best_phi)


def test_warm_start_copies_one_optimizer_into_every_group(tmp_path):
    """init_from starts phi from a saved optimizer: with per_group, every group gets a copy; a
    file whose shapes do not fit is refused with one line naming it."""
    import pytest

    from minil2o.errors import UsageError
    from minil2o.training.runs import load_optimizer
    from minil2o.training.train import Trainer, TrainConfig
    small = dict(problem="quadratic", horizon=4, unroll=2, epochs=1, problems_per_epoch=1,
                 validation_problems=1)
    Trainer(TrainConfig(**small), out_dir=str(tmp_path / "one"), log=lambda s: None).run(progress=False)
    path = str(tmp_path / "one" / "optimizer.npz")
    saved = load_optimizer(path, "float32").phi
    grouped = Trainer(TrainConfig(**small, per_group=True, init_from=path), log=lambda s: None)
    for group in grouped.opt.optimizers:
        for k, v in saved.items():
            np.testing.assert_array_equal(to_numpy(grouped.phi[f"{group}/{k}"]), to_numpy(v))
    with pytest.raises(UsageError, match="init_from .* same optimizer settings") as e:
        Trainer(TrainConfig(**{**small, "optimizer": "rnnprop"}, init_from=path), log=lambda s: None)
    assert "\n" not in str(e.value)
