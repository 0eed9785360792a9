"""The graded exercises of the tutorials, run on the library's reference implementations.

Each tutorial exercise says "implement X; the check below should print a relative error below 1e-7"
and starts from the library call; these are the same checks, on the same tiny sizes and seeds, so the
reference keeps passing them under every backend."""
import os

import numpy as np
import pytest

import minil2o
from minil2o import convolution, lstm
from minil2o.autograd import Tensor
from minil2o.backend import asarray, to_numpy, xp
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective
from minil2o.meta import meta_gradient, meta_weights, unroll, unroll_loss
from minil2o.optimizers import hand
from minil2o.optimizers.learned import DMOptimizer
from minil2o.problems import QuadraticFamily
from minil2o.train import flatten

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
    """Chapter 2, exercise 1: the engine's sigmoid backward against central differences."""
    x0 = f64(np.random.default_rng(1), (3, 4))
    s_bar = f64(np.random.default_rng(2), (3, 4))
    x = Tensor(x0)
    (x.sigmoid() * s_bar).sum().backward()
    errors = check_gradients(lambda x: xp.sum(Tensor(x).sigmoid().data * s_bar), {"x": x0},
                             {"x": x.grad})
    assert errors["x"] < TOL
    assert rel_error(Tensor(x0).sigmoid().data, 1 / (1 + xp.exp(-x0))) < 1e-12


def _lstm_weights(rng, D=3, H=4):
    return f64(rng, (D, 4 * H), 0.5), f64(rng, (H, 4 * H), 0.5), f64(rng, 4 * H, 0.5)


def test_ch03_lstm_step_backward():
    """Chapter 3, exercise 1: lstm_step_backward against central differences."""
    rng = np.random.default_rng(0)
    N, D, H = 2, 3, 4
    x, h_prev, c_prev = f64(rng, (N, D)), f64(rng, (N, H)), f64(rng, (N, H))
    Wx, Wh, b = _lstm_weights(rng, D, H)
    names = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
    inputs = dict(zip(names, (x, h_prev, c_prev, Wx, Wh, b)))
    dh, dc = f64(rng, (N, H)), f64(rng, (N, H))
    _, _, cache = lstm.lstm_step_forward(**inputs)

    def objective(**inp):
        h, c, _ = lstm.lstm_step_forward(**inp)
        return xp.sum(h * dh) + xp.sum(c * dc)

    grads = lstm.lstm_step_backward(dh, dc, cache)
    errors = check_gradients(objective, inputs, dict(zip(names, grads)), verbose=False)
    assert max(errors.values()) < TOL, errors


def test_ch03_lstm_backward_through_time():
    """Chapter 3, exercise 2: lstm_backward (BPTT) against central differences."""
    rng = np.random.default_rng(2)
    N, T, D, H = 2, 5, 3, 4
    Wx, Wh, b = _lstm_weights(rng, D, H)
    inputs = {"x": f64(rng, (N, T, D)), "h0": f64(rng, (N, H)), "Wx": Wx, "Wh": Wh, "b": b}
    dhs = f64(rng, (N, T, H))
    _, caches = lstm.lstm_forward(**inputs)
    objective = vjp_objective(lambda **inp: lstm.lstm_forward(**inp)[0], dhs)
    grads = lstm.lstm_backward(dhs, caches)
    errors = check_gradients(objective, inputs, dict(zip(inputs, grads)), verbose=False)
    assert max(errors.values()) < TOL, errors


@pytest.fixture(scope="module")
def tiny_unroll():
    """Chapter 4's set-up: a 3-d quadratic, a 2-layer LSTM of 4 units, K = 5 steps, float64 (built
    once per module, so the backend is selected here, before the per-test fixture runs)."""
    minil2o.set_backend(os.environ.get("MINIL2O_BACKEND", "numpy"))
    rng = np.random.default_rng(0)
    problem = QuadraticFamily(dim=3, init_std=1.0, dtype="float64").sample(rng)
    opt = DMOptimizer(hidden=4, num_layers=2, preprocess="none", output_scale=1.0)
    phi = opt.init_params(rng, "float64")
    theta0, state0 = problem.init(rng), opt.init_state(problem.n, "float64")
    K = 5
    batches, weights = [None] * (K + 1), meta_weights(K, "all")
    tr = unroll(opt, phi, problem, theta0, state0, batches)

    def loss(fixed_grads=None):
        return lambda **p: unroll_loss(opt, p, problem, theta0, state0, batches, weights, fixed_grads)
    return dict(opt=opt, phi=phi, problem=problem, tr=tr, weights=weights, loss=loss, K=K)


def test_ch04_meta_gradient_dashed_edges_dropped(tiny_unroll):
    """Chapter 4, exercise 1: the meta-gradient with d grad / d phi = 0 against central differences
    of the unroll's loss with the optimizer fed the recorded gradients (h = 1e-5)."""
    u = tiny_unroll
    d_phi = meta_gradient(u["opt"], u["phi"], u["problem"], u["tr"], u["weights"])
    errors = check_gradients(u["loss"](u["tr"].grads[:u["K"]]), u["phi"], d_phi, h=1e-5,
                             verbose=False)
    assert max(errors.values()) < TOL, errors


def test_ch04_meta_gradient_second_derivatives(tiny_unroll):
    """Chapter 4, exercise 1: the meta-gradient with second derivatives against central
    differences of the true meta-loss (h = 1e-5); it differs from the dropped one."""
    u = tiny_unroll
    kept = meta_gradient(u["opt"], u["phi"], u["problem"], u["tr"], u["weights"],
                         second_derivatives=True)
    errors = check_gradients(u["loss"](), u["phi"], kept, h=1e-5, verbose=False)
    assert max(errors.values()) < TOL, errors
    dropped = meta_gradient(u["opt"], u["phi"], u["problem"], u["tr"], u["weights"])
    assert rel_error(flatten(dropped), flatten(kept)) > 1e-5


def test_ch05_quadratic_gradient_and_hvp():
    """Chapter 5, exercise 1: the quadratic's gradient (5.2) against central differences, and its
    Hessian-vector product (5.3) against the central difference of the gradient (5.4)."""
    rng = np.random.default_rng(0)
    p = QuadraticFamily(dim=4, num_functions=2, init_std=1.0, dtype="float64").sample(rng)
    theta, v = p.init(rng), f64(rng, p.n)
    _, grad = p.loss_and_grad(theta)
    errors = check_gradients(lambda theta: p.loss(theta), {"theta": theta}, {"theta": grad},
                             verbose=False)
    assert errors["theta"] < TOL, errors
    h = 1e-5
    numeric = (p.loss_and_grad(theta + h * v)[1] - p.loss_and_grad(theta - h * v)[1]) / (2 * h)
    assert rel_error(p.hvp(theta, v), numeric) < TOL


def test_ch06_mlp_gradient():
    """Chapter 6, exercise 1: the MLP's hand-written gradient (6.3) against central differences on
    a 6-5-3 sigmoid network over 20 examples (the whole data set as the batch)."""
    from minil2o.problems import MLPFamily
    rng = np.random.default_rng(0)
    tiny = MLPFamily(rng.standard_normal((20, 6)), rng.integers(0, 3, 20), hidden=(5,),
                     num_classes=3, batch_size=20, init_std=0.5, dtype="float64").sample(rng)
    theta = tiny.init(rng)
    _, grad = tiny.loss_and_grad(theta, None)
    errors = check_gradients(lambda theta: tiny.loss(theta, None), {"theta": theta},
                             {"theta": grad}, verbose=False)
    assert errors["theta"] < TOL, errors


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
