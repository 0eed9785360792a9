"""The graded exercises of the tutorials, run on the library's reference implementations.

Each tutorial exercise says "implement X; the check below should print a relative error below 1e-7"
and starts from the library call; these are the same checks, on the same tiny sizes and seeds, so the
reference keeps passing them under every backend. Those of chapters 2 to 6 are workbook
exercises: their checks live in minil2o/workbook/ (checks.py, checks_meta.py), where `minil2o
workbook check` runs them on a learner's functions."""
import numpy as np

from minil2o import convolution
from minil2o.backend import asarray, to_numpy, xp
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective
from minil2o.optimizers import hand
from minil2o.workbook import checks, checks_meta

from helpers import assert_right

TOL = 1e-7


def f64(rng, shape, scale=1.0):
    return asarray(scale * rng.standard_normal(shape), dtype="float64")


def test_ch01_adagrad_matches_table_1():
    """Chapter 1, exercise 1: Adagrad's row of Table 1 (Lv et al. 2017) against hand.Adagrad."""
    grads = np.random.default_rng(0).standard_normal((20, 5))
    opt, state = hand.Adagrad(lr=0.1), hand.Adagrad().init_state(5, "float64")
    G, mine, lib = np.zeros(5), [], []
    for g in grads:
        G = G + g * g                                          # G_t = G_{t-1} + g_t^2
        mine.append(-0.1 * g / (np.sqrt(G) + 1e-10))           # -alpha g_t / (sqrt(G_t) + eps)
        update, state = opt.step(asarray(g, dtype="float64"), state)
        lib.append(to_numpy(update))
    assert rel_error(np.stack(mine), np.stack(lib)) < TOL


def test_ch02_sigmoid_backward_via_the_engine():
    """Chapter 2, exercise 1: the engine's sigmoid backward against central differences
    (workbook exercise tensor_sigmoid)."""
    assert_right(checks.tensor_sigmoid())


def test_ch03_lstm_step_backward():
    """Chapter 3, exercise 1: lstm_step_backward against central differences."""
    assert_right(checks.lstm_step_backward())


def test_ch03_lstm_backward_through_time():
    """Chapter 3, exercise 2: lstm_backward (BPTT) against central differences."""
    assert_right(checks.lstm_backward())


def test_ch04_meta_gradient_dashed_edges_dropped():
    """Chapter 4, exercise 1: the meta-gradient with d grad / d phi = 0 against central differences
    of the unroll's loss with the optimizer fed the recorded gradients (h = 1e-5)."""
    assert_right(checks_meta.meta_gradient_dropped())


def test_ch04_meta_gradient_second_derivatives():
    """Chapter 4, exercise 1: the meta-gradient with second derivatives against central
    differences of the true meta-loss (h = 1e-5); it differs from the dropped one."""
    report = checks_meta.meta_gradient_kept()
    assert_right(report)
    assert report.notes["difference"] > 1e-5


def test_ch05_quadratic_gradient_and_hvp():
    """Chapter 5, exercise 1: the quadratic's gradient (5.2) against central differences, and its
    Hessian-vector product (5.3) against the central difference of the gradient (5.4)."""
    assert_right(checks.quadratic_gradient_and_hvp())


def test_ch06_mlp_gradient():
    """Chapter 6, exercise 1: the MLP's hand-written gradient (6.3) against central differences on
    a 6-5-3 sigmoid network over 20 examples (the whole data set as the batch)."""
    assert_right(checks.mlp_gradient())


def test_ch07_conv2d_backward():
    """Chapter 7, exercise 1: conv2d_backward (7.2) against central differences."""
    rng = np.random.default_rng(0)
    inputs = {"x": f64(rng, (2, 3, 5, 5)), "w": f64(rng, (4, 3, 3, 3)), "b": f64(rng, 4)}
    dout = f64(rng, (2, 4, 5, 5))
    _, cache = convolution.conv2d_forward(**inputs)
    objective = vjp_objective(lambda **inp: convolution.conv2d_forward(**inp)[0], dout)
    grads = dict(zip(("x", "w", "b"), convolution.conv2d_backward(dout, cache)))
    errors = check_gradients(objective, inputs, grads, verbose=False)
    assert max(errors.values()) < TOL, errors


def test_ch08_gram_backward():
    """Chapter 8, exercise 1: the Gram matrix's backward pass (8.5) against central differences,
    for a dG that is not symmetric."""
    from minil2o.problems.art import gram_backward, gram_forward
    rng = np.random.default_rng(0)
    feat, dG = f64(rng, (1, 3, 4, 4)), f64(rng, (3, 3))
    _, F = gram_forward(feat)
    objective = vjp_objective(lambda feat: gram_forward(feat)[0], dG)
    errors = check_gradients(objective, {"feat": feat}, {"feat": gram_backward(dG, F, feat.shape)},
                             verbose=False)
    assert errors["feat"] < TOL, errors


def test_ch09_rnnprop_step_backward():
    """Chapter 9, exercise 1: RNNprop.step_backward (with need_d_grad) against central differences
    for phi, the incoming state (m, v, LSTM) and the input gradient."""
    from minil2o.optimizers.learned import RNNprop
    rng = np.random.default_rng(0)
    opt, n = RNNprop(hidden=3), 6
    phi = {k: v + asarray(0.1 * rng.standard_normal(v.shape), "float64")
           for k, v in opt.init_params(rng, "float64").items()}
    state = {k: asarray(0.5 * rng.standard_normal(v.shape), "float64") if hasattr(v, "shape") else 3
             for k, v in opt.init_state(n, "float64").items()}
    state["v"] = xp.abs(state["v"]) + 0.1
    grad = asarray(rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-3, 1, n), "float64")
    _, new_state, cache = opt.step_forward(phi, grad, state)
    d_update = f64(rng, n)
    d_state = {k: asarray(rng.standard_normal(v.shape), "float64")
               for k, v in new_state.items() if k != "t"}

    def objective(grad, **inputs):
        phi_ = {k: v for k, v in inputs.items() if not k.startswith("s_")}
        state_ = {**{k[2:]: v for k, v in inputs.items() if k.startswith("s_")}, "t": 3}
        update, new, _ = opt.step_forward(phi_, grad, state_)
        return xp.sum(update * d_update) + sum(xp.sum(new[k] * d) for k, d in d_state.items())

    d_phi, d_prev, d_grad = opt.step_backward(phi, d_update, d_state, cache, need_d_grad=True)
    inputs = {"grad": grad, **phi, **{f"s_{k}": v for k, v in state.items() if k != "t"}}
    analytic = {"grad": d_grad, **d_phi, **{f"s_{k}": d_prev[k] for k in state if k != "t"}}
    errors = check_gradients(objective, inputs, analytic, verbose=False)
    assert max(errors.values()) < TOL, errors
