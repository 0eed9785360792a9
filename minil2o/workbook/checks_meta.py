"""The gradient checks of the learned optimizers and of the meta-gradient, in float64.

As in minil2o/workbook/checks.py: plain functions with fixed seeds, the function under test looked
up through `impl(name)`, a Report of errors returned. tests/test_learned.py and tests/test_meta.py
call them; `minil2o workbook check` runs them on a learner's file. One optimizer step is checked
as the gradient of <update, d_update> + sum_k <state'_k, d_state_k> with respect to the input
gradient, phi and the incoming state; a meta-gradient against central differences of the
truncation's meta-loss (with the optimizee's gradients held at their recorded values when the
dashed edges are dropped) and against the autograd engine.
"""
import math

import numpy as np

from ..backend import asarray, to_numpy, xp
from ..gradcheck import check_gradients, numerical_gradient, rel_error
from ..meta import meta_weights, unroll, unroll_loss
from ..meta_engine import engine_meta_gradient
from ..optimizers import learned
from ..optimizers.learned import DMOptimizer, RNNprop
from ..problems import MLPFamily, QuadraticFamily, make_family
from .checks import TOL, f64
from .lookup import impl
from .measure import Measure, Report, entry_error, measures, named

N = 6  # coordinates in the one-step checks


# ---------------------------------------------------------------------------------------------
# Appendix A's preprocessing (Andrychowicz et al. 2016)
# ---------------------------------------------------------------------------------------------

def preprocess_forward():
    """(log|g| / p, sign g) when |g| >= e^-p, else (-1, e^p g), with p = 10, at five points."""
    g = asarray([1.0, -1e-3, 1e-6, -1e-6, 0.0], "float64")
    x = impl("preprocess_forward")(g, "log", 10.0)
    expected = [[0.0, 1.0], [math.log(1e-3) / 10, -1.0], [-1.0, math.exp(10) * 1e-6],
                [-1.0, -math.exp(10) * 1e-6], [-1.0, 0.0]]
    return Report([Measure("x", entry_error(x, expected), 1e-12, "(A), Appendix A",
                           "largest entrywise relative error")])


def preprocess_backward():
    """preprocess_backward(dx, g, 'log', 10) against central differences of
    <preprocess_forward(g), dx>, at points on both sides of |g| = e^-p and away from it."""
    g = f64([0.5, -2.0, 0.03, -0.01, 1e-6, -3e-6])         # (6,): four large, two small
    dx = f64(np.random.default_rng(3).standard_normal((6, 2)))
    d_grad = impl("preprocess_backward")(dx, g, "log", 10.0)
    objective = lambda grad: xp.sum(learned.preprocess_forward(grad, "log", 10.0) * dx)  # noqa: E731
    errors = check_gradients(objective, {"grad": g}, {"grad": d_grad}, verbose=False)
    return Report(measures(errors, TOL, "(A), Appendix A", prefix="d_"))


# ---------------------------------------------------------------------------------------------
# One step of a learned optimizer, backwards
# ---------------------------------------------------------------------------------------------

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
    """Random phi (init plus noise), state (t = 3, v > 0) and a gradient spanning 1e-3 to 10."""
    phi = {k: v + asarray(0.1 * rng.standard_normal(v.shape), "float64")
           for k, v in opt.init_params(rng, "float64").items()}
    state = {k: asarray(0.5 * rng.standard_normal(v.shape), "float64") if hasattr(v, "shape") else 3
             for k, v in opt.init_state(N, "float64").items()}
    if "v" in state:
        state["v"] = xp.abs(state["v"]) + 0.1                       # a second moment is positive
    grad = asarray(rng.choice([-1, 1], N) * 10.0 ** rng.uniform(-3, 1, N), "float64")
    return phi, state, grad


def step_backward_report(opt, step_backward):
    """step_backward(opt, phi, d_update, d_state, cache, need_d_grad=True) against central
    differences for the input gradient, every entry of phi and the incoming state."""
    rng = np.random.default_rng(0)
    phi, state, grad = random_inputs(opt, rng)
    _, new_state, cache = opt.step_forward(phi, grad, state)
    d_update = asarray(rng.standard_normal(N), "float64")
    d_state = {k: asarray(rng.standard_normal(v.shape), "float64") if hasattr(v, "shape") else 0
               for k, v in new_state.items()}
    d_phi, d_prev, d_grad = named(("d_phi", "d_state", "d_grad"),
                                  step_backward(opt, phi, d_update, d_state, cache,
                                                need_d_grad=True), "values").values()
    inputs = {"grad": grad, **phi, **{f"s_{k}": v for k, v in state.items() if k != "t"}}
    analytic = {"grad": d_grad, **{k: d_phi[k] for k in phi},
                **{f"s_{k}": d_prev[k] for k in state if k != "t"}}
    errors = check_gradients(scalar_objective(opt, d_update, d_state), inputs, analytic,
                             verbose=False)
    label = {"grad": "d_grad", **{k: f"d_phi[{k}]" for k in phi},
             **{f"s_{k}": f"d_state[{k}]" for k in state}}
    return Report([Measure(label[k], e, TOL) for k, e in errors.items()])


def dm_step_backward(preprocess="log", num_layers=2):
    """DMOptimizer.step_backward, LSTM of 3 units, with the given preprocessing."""
    opt = DMOptimizer(hidden=3, preprocess=preprocess, num_layers=num_layers)
    return step_backward_report(opt, impl("dm_step_backward"))


def dm_step_backward_clamped():
    return dm_step_backward("clamped")


def dm_step_backward_none_1layer():
    return dm_step_backward("none", num_layers=1)


def rnnprop_step_backward():
    """RNNprop.step_backward (the library's; not a workbook exercise), LSTM of 3 units."""
    return step_backward_report(RNNprop(hidden=3), RNNprop.step_backward)


# ---------------------------------------------------------------------------------------------
# RNNprop's relative inputs (Lv et al. 2017; chapter 9)
# ---------------------------------------------------------------------------------------------

def relative_inputs_host(opt, grads):
    """(9.1) and (9.2) over the steps of grads: (T, n) on the host. Returns x: (n, 2), m, v."""
    m = v = np.zeros(grads.shape[1])
    for t, g in enumerate(grads, start=1):
        m = opt.beta1 * m + (1 - opt.beta1) * g
        v = opt.beta2 * v + (1 - opt.beta2) * g * g
        denom = np.sqrt(v / (1 - opt.beta2 ** t)) + opt.eps
    return np.stack([m / (1 - opt.beta1 ** t), g], axis=1) / denom[:, None], m, v


def rnnprop_relative_inputs():
    """Three steps of relative_inputs against (9.1) and (9.2) on the host, and invariance to
    multiplying every gradient by 1000."""
    rng = np.random.default_rng(1)
    opt = RNNprop(hidden=3)
    grads = [asarray(rng.standard_normal(N), "float64") for _ in range(3)]
    relative_inputs = impl("rnnprop_relative_inputs")
    out = {}
    for c in (1.0, 1e3):
        state = opt.init_state(N, "float64")
        for g in grads:
            x, (t, m, v, *_) = relative_inputs(opt, c * g, state)
            state = {**state, "m": m, "v": v, "t": t}
        out[c] = to_numpy(x), m, v
    x_ref, m_ref, v_ref = relative_inputs_host(opt, np.stack([to_numpy(g) for g in grads]))
    (x, m, v), x_scaled = out[1.0], out[1e3][0]
    return Report([Measure("m", rel_error(m, m_ref), TOL, "(9.1), chapter 9"),
                   Measure("v", rel_error(v, v_ref), TOL, "(9.1), chapter 9"),
                   Measure("x", rel_error(x, x_ref), TOL, "(9.2), chapter 9"),
                   Measure("x for 1000 g", entry_error(x, x_scaled), 1e-6, "(9.2), chapter 9",
                           "largest entrywise relative error")])


def rnnprop_relative_inputs_backward():
    """relative_inputs_backward against central differences of <x, d_x> + <m, d_m> + <v, d_v>
    with respect to the gradient and the previous m and v (at step t = 4)."""
    rng = np.random.default_rng(4)
    opt = RNNprop(hidden=3)
    inputs = {"grad": f64(rng.standard_normal(N)), "m": f64(0.5 * rng.standard_normal(N)),
              "v": f64(np.abs(rng.standard_normal(N)) + 0.1)}
    d_x = f64(rng.standard_normal((N, 2)))
    d_state = {"m": f64(rng.standard_normal(N)), "v": f64(rng.standard_normal(N))}

    def objective(grad, m, v):
        x, (t, m_new, v_new, *_) = opt.relative_inputs(grad, {"m": m, "v": v, "t": 3})
        return xp.sum(x * d_x) + xp.sum(m_new * d_state["m"]) + xp.sum(v_new * d_state["v"])
    _, parts = opt.relative_inputs(inputs["grad"], {"m": inputs["m"], "v": inputs["v"], "t": 3})
    returned = impl("rnnprop_relative_inputs_backward")(opt, d_x, inputs["grad"], d_state, parts)
    grads = named(("m", "v", "grad"), returned)
    errors = check_gradients(objective, inputs, grads, verbose=False)
    label = {"grad": "d_grad", "m": "d m_prev", "v": "d v_prev"}
    return Report([Measure(label[k], e, TOL) for k, e in errors.items()])


# ---------------------------------------------------------------------------------------------
# The meta-gradient of one truncation (minil2o/meta.py)
# ---------------------------------------------------------------------------------------------

def flat(d, like):
    """The arrays of dict d, in the order of like's keys, as one host vector."""
    return np.concatenate([to_numpy(d[k]).ravel() for k in like])


DROPPED = "(4.1) to (4.4), chapter 4"
"""The equations of the meta-gradient with the dashed edges dropped."""


def tiny_unroll():
    """Chapter 4's set-up: a meta-batch of two 3-d quadratics (so the meta-loss's mean over
    them, the 1/B of (4.6), is tested), a 2-layer LSTM of 4 units, K = 5 steps, float64."""
    rng = np.random.default_rng(2)
    problem = QuadraticFamily(dim=3, num_functions=2, init_std=1.0, dtype="float64").sample(rng)
    opt = DMOptimizer(hidden=4, num_layers=2, preprocess="none", output_scale=1.0)
    phi = opt.init_params(rng, "float64")
    theta0, state0 = problem.init(rng), opt.init_state(problem.n, "float64")
    K = 5
    batches, weights = [None] * (K + 1), meta_weights(K, "all")
    tr = unroll(opt, phi, problem, theta0, state0, batches)

    def loss(fixed_grads=None):
        return lambda **p: unroll_loss(opt, p, problem, theta0, state0, batches, weights,
                                       fixed_grads)
    return opt, phi, problem, tr, weights, loss


def meta_gradient_dropped():
    """Chapter 4: the meta-gradient with d grad / d phi = 0 against central differences of the
    unroll's loss with the optimizer fed the recorded gradients (h = 1e-5)."""
    opt, phi, problem, tr, weights, loss = tiny_unroll()
    d_phi = impl("meta_gradient")(opt, phi, problem, tr, weights)
    errors = check_gradients(loss(tr.grads[:len(weights)]), phi, {k: d_phi[k] for k in phi},
                             h=1e-5, verbose=False)
    return Report([Measure(f"d_phi[{k}]", e, TOL, DROPPED) for k, e in errors.items()])


def meta_gradient_kept():
    """Chapter 4: with second derivatives, against central differences of the true meta-loss
    (h = 1e-5). notes['difference']: how far it is from the dropped one (asserted > 1e-5)."""
    opt, phi, problem, tr, weights, loss = tiny_unroll()
    meta_gradient = impl("meta_gradient")
    kept = meta_gradient(opt, phi, problem, tr, weights, second_derivatives=True)
    errors = check_gradients(loss(), phi, {k: kept[k] for k in phi}, h=1e-5, verbose=False)
    dropped = meta_gradient(opt, phi, problem, tr, weights)
    return Report([Measure(f"d_phi[{k}] (second derivatives)", e, TOL, "(4.5), chapter 4")
                   for k, e in errors.items()],
                  {"difference": rel_error(flat(dropped, phi), flat(kept, phi))})


K = 4  # steps in the truncation of the three-way checks


def small_mlp(rng):
    X = rng.uniform(0, 1, (40, 12)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    return MLPFamily(X, y, hidden=(5,), activation="sigmoid", batch_size=8, num_classes=3,
                     init_std=0.5, dtype="float64").sample(rng)


OPTIMIZERS = {"dm": lambda: DMOptimizer(hidden=4, preprocess="log", output_scale=0.1),
              "rnnprop": lambda: RNNprop(hidden=4)}
PROBLEMS = {"quadratic": lambda rng: make_family("quadratic", dim=5, num_functions=2, init_std=1.0,
                                                 dtype="float64").sample(rng),
            "mlp": small_mlp}


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


def meta_gradient_three_ways(opt_name="dm", problem_name="quadratic", weighting="all"):
    """Dashed edges dropped: the meta-gradient against the autograd engine
    (minil2o.meta_engine) and against central differences of the meta-loss with every optimizee
    gradient held at its recorded value (h = 1e-5), over a truncation of K = 4 steps."""
    opt, phi, problem, theta, state, batches = setup(opt_name, problem_name)
    w = meta_weights(K, weighting)
    tr = unroll(opt, phi, problem, theta, state, batches)
    manual = impl("meta_gradient")(opt, phi, problem, tr, w)
    _, engine = engine_meta_gradient(opt, phi, problem, theta, state, batches, w)
    errors = check_gradients(
        lambda **p: unroll_loss(opt, p, problem, theta, state, batches, w, tr.grads[:K]),
        phi, {k: manual[k] for k in phi}, h=1e-5, verbose=False)
    against_engine = rel_error(flat(manual, phi), flat(engine, phi))
    return Report([Measure("d_phi (against the engine)", against_engine, 1e-6, DROPPED),
                   *[Measure(f"d_phi[{k}]", e, 1e-6, DROPPED) for k, e in errors.items()]])


def meta_gradient_second_order(opt_name, problem_name):
    """With nothing held fixed, the second-order meta-gradient against central differences of
    the plain meta-loss; notes hold both errors (the dropped one is asserted far larger)."""
    opt, phi, problem, theta, state, batches = setup(opt_name, problem_name, seed=1)
    w = meta_weights(K, "all")
    tr = unroll(opt, phi, problem, theta, state, batches)
    meta_gradient = impl("meta_gradient")
    second = meta_gradient(opt, phi, problem, tr, w, second_derivatives=True)
    dropped = meta_gradient(opt, phi, problem, tr, w)
    plain = lambda **p: unroll_loss(opt, p, problem, theta, state, batches, w)  # noqa: E731
    numeric = {k: numerical_gradient(plain, phi, k, h=1e-5) for k in phi}
    err_second = rel_error(flat(second, phi), flat(numeric, phi))
    err_dropped = rel_error(flat(dropped, phi), flat(numeric, phi))
    return Report([Measure("d_phi (second derivatives)", err_second, 1e-6, "(4.5), chapter 4")],
                  {"err_second": err_second, "err_dropped": err_dropped})
