"""A meta-batch of MLPs computed as one problem (MLPFamily.sample_many) against the ProblemBatch of
the same instances: the same random draws, the same loss, gradient and Hessian-vector product, the
same meta-gradient; and its gradient against central differences, in float64."""
import numpy as np
import pytest

from minil2o.backend import asarray, to_float, to_numpy
from minil2o.errors import UsageError
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.meta import meta_gradient, meta_weights, unroll
from minil2o.optimizers.learned import DMOptimizer
from minil2o.problems import MLPProblem, ProblemBatch
from minil2o.training.train import Trainer

from helpers import tiny_config, tiny_family

B = 3            # instances in the meta-batch


def both_ways(family, num_problems=B):
    """The meta-batch computed together, and the ProblemBatch of as many single instances."""
    together = family.sample_many(np.random.default_rng(0), num_problems)
    rng = np.random.default_rng(0)
    one_by_one = ProblemBatch([family.sample(rng) for _ in range(num_problems)])
    return together, one_by_one


def start(problem, seed=1, steps=1):
    """theta_0 and `steps` batches drawn from one seed."""
    rng = np.random.default_rng(seed)
    return problem.init(rng), [problem.sample_batch(rng) for _ in range(steps)]


def test_layout_and_random_draws_match_problem_batch():
    together, one_by_one = both_ways(tiny_family("sigmoid", (5,), dtype="float32"))
    assert isinstance(together, MLPProblem) and together.num_problems == B
    assert together.n == one_by_one.n == B * 83 and together.groups == one_by_one.groups
    theta, batches = start(together, steps=2)
    theta_ref, batches_ref = start(one_by_one, steps=2)
    assert to_numpy(theta).dtype == np.float32
    np.testing.assert_array_equal(to_numpy(theta), to_numpy(theta_ref))
    for batch, parts in zip(batches, batches_ref):                 # (B, batch_size) vs B of them
        assert to_numpy(batch).shape == (B, 4)
        np.testing.assert_array_equal(to_numpy(batch), np.stack([to_numpy(p) for p in parts]))


@pytest.mark.parametrize("hidden", [(5,), (5, 4)])
@pytest.mark.parametrize("activation", ["sigmoid", "elu"])
def test_loss_gradient_and_hvp_match_problem_batch(activation, hidden):
    together, one_by_one = both_ways(tiny_family(activation, hidden))
    theta, (batch,) = start(together)
    _, (parts,) = start(one_by_one)
    v = asarray(np.random.default_rng(2).standard_normal(together.n), dtype="float64")
    for b, b_ref in ((batch, parts), (None, None)):               # a minibatch, then all rows
        f, grad = together.loss_and_grad(theta, b)
        f_ref, grad_ref = one_by_one.loss_and_grad(theta, b_ref)
        f_ref = to_float(f_ref)
        assert abs(to_float(f) - f_ref) < 1e-12 * f_ref
        assert abs(to_float(together.loss(theta, b)) - f_ref) < 1e-12 * f_ref
        assert rel_error(grad, grad_ref) < 1e-12
        assert rel_error(together.hvp(theta, v, b), one_by_one.hvp(theta, v, b_ref)) < 1e-12


def test_gradient_by_central_differences():
    together = tiny_family("tanh", (3,)).sample_many(np.random.default_rng(0), B)
    theta, (batch,) = start(together)
    _, grad = together.loss_and_grad(theta, batch)
    err = check_gradients(lambda theta: together.loss(theta, batch), {"theta": theta},
                          {"theta": grad})["theta"]                 # B * 51 = 153 entries, each
    assert err < 1e-6


def test_hvp_blocks_are_the_single_problem_hvp():
    """H is block-diagonal: block k of H v is instance k's own H_k v_k."""
    family = tiny_family("sigmoid", (5, 4))
    rng = np.random.default_rng(0)
    together, single = family.sample_many(rng, B), family.sample(rng)
    theta, (batch,) = start(together)
    v = asarray(np.random.default_rng(2).standard_normal(together.n), dtype="float64")
    hv, n = to_numpy(together.hvp(theta, v, batch)), family.n
    for k in range(B):
        own = single.hvp(theta[k * n:(k + 1) * n], v[k * n:(k + 1) * n], batch[k, :])
        assert rel_error(hv[k * n:(k + 1) * n], own) < 1e-12


@pytest.mark.parametrize("second_derivatives", [False, True])
def test_meta_gradient_matches_problem_batch(second_derivatives):
    together, one_by_one = both_ways(tiny_family("sigmoid", (5,)))
    opt = DMOptimizer(hidden=4, preprocess="log", output_scale=0.1)
    phi = opt.init_params(np.random.default_rng(3), "float64")
    weights = meta_weights(3, "all")
    d_phis = []
    for problem in (together, one_by_one):
        theta, batches = start(problem, steps=4)
        tr = unroll(opt, phi, problem, theta, opt.init_state(problem.n, "float64"), batches)
        d_phis.append(meta_gradient(opt, phi, problem, tr, weights, second_derivatives))
    for name in phi:
        assert rel_error(d_phis[0][name], d_phis[1][name]) < 1e-10, name


def test_layer_groups_stay_a_problem_batch():
    family = tiny_family("sigmoid", (5,), group_by="layer")
    batch = family.sample_many(np.random.default_rng(0), B)
    assert isinstance(batch, ProblemBatch) and batch.num_problems == B
    assert batch.groups == {"layer1": slice(0, B * 65), "layer2": slice(B * 65, B * 83)}
    with pytest.raises(UsageError, match="group_by='layer'"):
        MLPProblem(family, num_problems=2)
    with pytest.raises(UsageError, match="num_problems"):
        MLPProblem(tiny_family("sigmoid", (5,)), num_problems=0)


def test_trainer_samples_the_batched_problem():
    trainer = Trainer(tiny_config(problem="mnist-mlp", problem_kwargs={"hidden": (3,)},
                                  meta_batch=B), log=lambda *a: None)
    problem = trainer.sample_problem()
    assert isinstance(problem, MLPProblem) and problem.num_problems == B
    assert problem.n == B * (784 * 3 + 3 + 3 * 10 + 10)
