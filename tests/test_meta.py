"""The meta-gradient of one truncation, three ways (issue: manual BPTT = engine = central differences).

For the DM optimizer (Appendix A preprocessing) and RNNprop, over a truncation of several steps, on a
quadratic and on a small MLP, in float64:
  * the paper's meta-gradient (dashed edges dropped): manual BPTT (minil2o.meta) = the autograd engine
    (minil2o.meta_engine) = central differences of the meta-loss with every optimizee gradient held
    at its recorded value;
  * with second derivatives: manual BPTT = central differences of the plain meta-loss;
  * and the two meta-gradients differ, so the option is not a no-op.
"""
import numpy as np
import pytest

from minil2o.backend import asarray, to_numpy
from minil2o.gradcheck import check_gradients, numerical_gradient, rel_error
from minil2o.meta import meta_gradient, meta_weights, unroll, unroll_loss
from minil2o.meta_engine import engine_meta_gradient
from minil2o.optimizers.learned import DMOptimizer, RNNprop
from minil2o.problems import MLPFamily, make_family

K = 4            # steps in the truncation


def flat(d):
    return np.concatenate([to_numpy(v).ravel() for v in d.values()])


def quadratic(rng):
    return make_family("quadratic", dim=5, num_functions=2, init_std=1.0, dtype="float64").sample(rng)


def small_mlp(rng):
    X = rng.uniform(0, 1, (40, 12)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    return MLPFamily(X, y, hidden=(5,), activation="sigmoid", batch_size=8, num_classes=3,
                     init_std=0.5, dtype="float64").sample(rng)


OPTIMIZERS = {"dm": lambda: DMOptimizer(hidden=4, preprocess="log", output_scale=0.1),
              "rnnprop": lambda: RNNprop(hidden=4)}
PROBLEMS = {"quadratic": quadratic, "mlp": small_mlp}


def setup(opt_name, problem_name, seed=0):
    """A problem, an optimizer with random (non-zero) parameters, a start point and K+1 batches."""
    rng = np.random.default_rng(seed)
    problem = PROBLEMS[problem_name](rng)
    opt = OPTIMIZERS[opt_name]()
    phi = opt.init_params(rng, "float64")
    phi = {k: v + asarray(0.1 * rng.standard_normal(v.shape), "float64") if k.startswith("b") else v
           for k, v in phi.items()}                  # non-zero biases, so every path is exercised
    theta = problem.init(rng)
    state = opt.init_state(problem.n, "float64")
    batches = [problem.sample_batch(rng) for _ in range(K + 1)]
    return opt, phi, problem, theta, state, batches


@pytest.mark.parametrize("weighting", ["all", "last"])
@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_manual_equals_engine_equals_numeric(opt_name, problem_name, weighting):
    opt, phi, problem, theta, state, batches = setup(opt_name, problem_name)
    w = meta_weights(K, weighting)
    tr = unroll(opt, phi, problem, theta, state, batches)
    manual = meta_gradient(opt, phi, problem, tr, w)
    _, engine = engine_meta_gradient(opt, phi, problem, theta, state, batches, w)
    print(f"\n{opt_name} on {problem_name}, w = {weighting}: manual vs engine "
          f"{rel_error(flat(manual), flat(engine)):.1e}")
    assert rel_error(flat(manual), flat(engine)) < 1e-6

    fixed = tr.grads[:K]                      # the optimizee gradients, held at recorded values
    errors = check_gradients(
        lambda **p: unroll_loss(opt, p, problem, theta, state, batches, w, fixed_grads=fixed),
        phi, manual, h=1e-5)
    assert max(errors.values()) < 1e-6


@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_second_derivatives_match_plain_meta_loss(opt_name, problem_name):
    """With nothing held fixed, only the second-order meta-gradient matches central differences;
    the paper's (dropped) one misses them by far more than the check's own error."""
    opt, phi, problem, theta, state, batches = setup(opt_name, problem_name, seed=1)
    w = meta_weights(K, "all")
    tr = unroll(opt, phi, problem, theta, state, batches)
    second = meta_gradient(opt, phi, problem, tr, w, second_derivatives=True)
    dropped = meta_gradient(opt, phi, problem, tr, w)
    plain = lambda **p: unroll_loss(opt, p, problem, theta, state, batches, w)
    numeric = {k: numerical_gradient(plain, phi, k, h=1e-5) for k in phi}
    err_second = rel_error(flat(second), flat(numeric))
    err_dropped = rel_error(flat(dropped), flat(numeric))
    print(f"\n{opt_name} on {problem_name}: vs central differences of the plain meta-loss, "
          f"second-order {err_second:.1e}, dashed edges dropped {err_dropped:.1e}")
    assert err_second < 1e-6
    assert err_dropped > 10 * err_second
