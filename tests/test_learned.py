"""One step of each learned optimizer: its hand-written backward pass against central differences
(float64), for the parameters phi, the incoming state and the input gradient."""
import math

import numpy as np
import pytest

from minil2o.backend import asarray, to_numpy, xp
from minil2o.gradcheck import check_gradients
from minil2o.optimizers.learned import DMOptimizer, RNNprop, preprocess_forward

N = 6  # coordinates


def scalar_objective(opt, d_update, d_state):
    """<update, d_update> + sum over state entries <state', d_state>: its gradient is what
    step_backward returns for upstream gradients (d_update, d_state)."""
    def objective(grad, **inputs):
        phi = {k: v for k, v in inputs.items() if not k.startswith("s_")}
        state = {k[2:]: v for k, v in inputs.items() if k.startswith("s_")}
        state["t"] = 3
        update, new_state, _ = opt.step_forward(phi, grad, state)
        total = xp.sum(update * d_update)
        for k, d in d_state.items():
            if k != "t":
                total = total + xp.sum(new_state[k] * d)
        return total
    return objective


def random_inputs(opt, rng):
    phi = {k: v + asarray(0.1 * rng.standard_normal(v.shape), "float64")
           for k, v in opt.init_params(rng, "float64").items()}
    state = {k: asarray(0.5 * rng.standard_normal(v.shape), "float64") if hasattr(v, "shape") else 3
             for k, v in opt.init_state(N, "float64").items()}
    if "v" in state:
        state["v"] = xp.abs(state["v"]) + 0.1                       # a second moment is positive
    grad = asarray(rng.choice([-1, 1], N) * 10.0 ** rng.uniform(-3, 1, N), "float64")
    return phi, state, grad


@pytest.mark.parametrize("make", [lambda: DMOptimizer(hidden=3, preprocess="log"),
                                  lambda: DMOptimizer(hidden=3, preprocess="clamped"),
                                  lambda: DMOptimizer(hidden=3, preprocess="none", num_layers=1),
                                  lambda: RNNprop(hidden=3)],
                         ids=["dm-log", "dm-clamped", "dm-none-1layer", "rnnprop"])
def test_step_backward(make):
    rng = np.random.default_rng(0)
    opt = make()
    phi, state, grad = random_inputs(opt, rng)
    update, new_state, cache = opt.step_forward(phi, grad, state)
    d_update = asarray(rng.standard_normal(N), "float64")
    d_state = {k: asarray(rng.standard_normal(v.shape), "float64") if hasattr(v, "shape") else 0
               for k, v in new_state.items()}
    d_phi, d_prev, d_grad = opt.step_backward(phi, d_update, d_state, cache, need_d_grad=True)
    inputs = {"grad": grad, **phi, **{f"s_{k}": v for k, v in state.items() if k != "t"}}
    analytic = {"grad": d_grad, **d_phi, **{f"s_{k}": d_prev[k] for k in state if k != "t"}}
    errors = check_gradients(scalar_objective(opt, d_update, d_state), inputs, analytic)
    assert max(errors.values()) < 1e-7


def test_appendix_a_preprocessing():
    """(log|g| / p, sign g) when |g| >= e^-p, else (-1, e^p g), with p = 10."""
    g = asarray([1.0, -1e-3, 1e-6, -1e-6, 0.0], "float64")
    x = to_numpy(preprocess_forward(g, "log", 10.0))
    expected = [[0.0, 1.0], [math.log(1e-3) / 10, -1.0], [-1.0, math.exp(10) * 1e-6],
                [-1.0, -math.exp(10) * 1e-6], [-1.0, 0.0]]
    np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_rnnprop_inputs_are_scale_invariant():
    """Multiplying every gradient by c > 0 leaves RNNprop's relative inputs unchanged."""
    rng = np.random.default_rng(1)
    opt = RNNprop(hidden=3)
    grads = [asarray(rng.standard_normal(N), "float64") for _ in range(3)]
    xs = {}
    for c in (1.0, 1e3):
        state = opt.init_state(N, "float64")
        for g in grads:
            x, (t, m, v, *_) = opt.relative_inputs(c * g, state)
            state = {**state, "m": m, "v": v, "t": t}
        xs[c] = to_numpy(x)
    np.testing.assert_allclose(xs[1.0], xs[1e3], rtol=1e-6)
