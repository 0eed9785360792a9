"""The graded exercises of the chapters: `check(name, fn)` runs the learner's function `fn` on tiny
float64 inputs with a fixed seed and compares every output with an independent answer (the
library's reference, or central differences of a loss computed by the library, never by `fn`). It
prints the relative error (chapter 2, eq. (2.5)) of each output and whether all are below 1e-7.

Where the `minil2o workbook` has the same exercise (WORKBOOK: an exercise here has the workbook's
name and signature), `check` also runs the workbook's checks (the suite's own gradient checks,
minil2o/workbook/checks*.py) on `fn` and prints their one-line verdict: an exercise passes when
both agree it is right. `minil2o workbook check w.py NAME` runs the same checks on a file.

A function that still raises NotImplementedError is reported as not attempted yet, so a chapter runs
top to bottom before its exercises are done."""
from dataclasses import dataclass

import numpy as np

from minil2o import convolution, lstm, workbook
from minil2o.autograd import Tensor
from minil2o.backend import asarray, to_numpy, xp
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective

TOL = 1e-7


@dataclass
class Grade:
    """The verdict on one exercise: the relative error of each output against this file's
    independent answer, and the workbook's Result for the same function (None where the workbook
    has no such exercise)."""
    errors: dict
    workbook: object = None

    def passed(self, tol=TOL):
        return (all(e < tol for e in self.errors.values())
                and (self.workbook is None or self.workbook.right))


def check(name, fn, tol=TOL, verbose=True):
    """Grade exercise `name` with the learner's `fn`: this chapter's check, then the workbook's
    where it has the exercise. Returns a Grade, or None when `fn` raises NotImplementedError."""
    try:
        errors = GRADERS[name](fn)
    except NotImplementedError:
        if verbose:
            print(f"{name}: not attempted yet (the chapter goes on with the library's version)")
        return None
    grade = Grade(errors, workbook.check(name, fn, quiet=True) if name in WORKBOOK else None)
    if verbose:
        for output, error in errors.items():
            print(f"  {output:10s} relative error {error:.1e}")
        failed = [k for k, e in errors.items() if not e < tol]
        print(f"{name}: " + (f"all below {tol:g}, passed" if not failed else
                             f"FAILED ({', '.join(failed)} at or above {tol:g})"))
        if grade.workbook is not None:
            print(f"workbook: {grade.workbook.line()}")
    return grade


def passed(grade, tol=TOL):
    """Whether check(...) found the exercise right (False when it was not attempted)."""
    return grade is not None and grade.passed(tol)


def f64(rng, shape, scale=1.0):
    return asarray(scale * rng.standard_normal(shape), dtype="float64")


# ------------------------------------------------------------------ chapter 1
def adagrad_step(fn):
    """fn(g, state, lr, eps) -> (update, {"G": G}), Table 1 of Lv et al. 2017; against hand.Adagrad."""
    from minil2o.optimizers import hand
    grads = np.random.default_rng(0).standard_normal((20, 5))
    opt = hand.Adagrad(lr=0.1, eps=1e-10)
    state, lib = opt.init_state(5, "float64"), {"G": xp.zeros((5,), dtype=xp.float64)}
    mine, ref = [], []
    for g in grads:
        g = asarray(g, dtype="float64")
        update, lib = fn(g, lib, 0.1, 1e-10)
        mine.append(to_numpy(update))
        update, state = opt.step(g, state)
        ref.append(to_numpy(update))
    return {"updates": rel_error(np.stack(mine), np.stack(ref)), "G": rel_error(lib["G"], state["G"])}


# ------------------------------------------------------------------ chapter 2
def tensor_sigmoid(fn):
    """fn(x: Tensor) -> Tensor, sigma(x) as an engine op with the backward rule (2.6); against
    1 / (1 + e^-x) and central differences of it. Workbook: tensor_sigmoid."""
    rng = np.random.default_rng(1)
    x0, s_bar = f64(rng, (3, 4)), f64(rng, (3, 4))
    x = Tensor(x0)
    s = fn(x)
    (s * s_bar).sum().backward()
    sigmoid = lambda x: 1.0 / (1.0 + xp.exp(-x))  # noqa: E731
    errors = check_gradients(vjp_objective(sigmoid, s_bar), {"x": x0}, {"x": x.grad}, verbose=False)
    return {"s": rel_error(s.data, sigmoid(x0)), "x_bar": errors["x"]}


# ------------------------------------------------------------------ chapter 3
def _lstm_weights(rng, D, H):
    return f64(rng, (D, 4 * H), 0.5), f64(rng, (H, 4 * H), 0.5), f64(rng, 4 * H, 0.5)


def lstm_step_backward(fn):
    """fn(dh, dc, cache) -> dx, dh_prev, dc_prev, dWx, dWh, db, eqs. (3.5) to (3.8); against
    central differences of <h, dh> + <c, dc> through lstm.lstm_step_forward."""
    rng = np.random.default_rng(0)
    N, D, H = 2, 3, 4
    names = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
    inputs = dict(zip(names, (f64(rng, (N, D)), f64(rng, (N, H)), f64(rng, (N, H)),
                              *_lstm_weights(rng, D, H))))
    dh, dc = f64(rng, (N, H)), f64(rng, (N, H))

    def objective(**inp):
        h, c, _ = lstm.lstm_step_forward(**inp)
        return xp.sum(h * dh) + xp.sum(c * dc)

    grads = fn(dh, dc, lstm.lstm_step_forward(**inputs)[2])
    return check_gradients(objective, inputs, dict(zip(names, grads)), verbose=False)


def lstm_backward(fn):
    """fn(dhs, caches) -> dx, dh0, dWx, dWh, db, eq. (3.10); against central differences of
    <hs, dhs> through lstm.lstm_forward."""
    rng = np.random.default_rng(2)
    N, T, D, H = 2, 5, 3, 4
    Wx, Wh, b = _lstm_weights(rng, D, H)
    inputs = {"x": f64(rng, (N, T, D)), "h0": f64(rng, (N, H)), "Wx": Wx, "Wh": Wh, "b": b}
    dhs = f64(rng, (N, T, H))
    grads = fn(dhs, lstm.lstm_forward(**inputs)[1])
    objective = vjp_objective(lambda **inp: lstm.lstm_forward(**inp)[0], dhs)
    return check_gradients(objective, inputs, dict(zip(inputs, grads)), verbose=False)


# ------------------------------------------------------------------ chapter 4
def meta_gradient(fn):
    """fn(opt, phi, problem, tr, weights, second_derivatives) -> d_phi, eqs. (4.1) to (4.5), on a
    meta-batch of B = 2 quadratics; against central differences of the unroll's loss (3) with the
    recorded gradients as constants (dashed edges dropped), and of the true meta-loss (kept)."""
    from minil2o.workbook.checks_meta import tiny_unroll      # the workbook's own set-up
    opt, phi, problem, tr, weights, loss = tiny_unroll()
    errors = {}
    for kept, fixed in ((False, tr.grads[:len(weights)]), (True, None)):
        mine = fn(opt, phi, problem, tr, weights, kept)
        err = check_gradients(loss(fixed), phi, mine, h=1e-5, verbose=False)
        errors.update({f"{k} ({'kept' if kept else 'dropped'})": e for k, e in err.items()})
    return errors


# ------------------------------------------------------------------ chapter 5
def _quadratic():
    from minil2o.problems import QuadraticFamily
    rng = np.random.default_rng(0)
    p = QuadraticFamily(dim=4, num_functions=2, init_std=1.0, dtype="float64").sample(rng)
    return p, p.init(rng), f64(rng, p.n)


def quadratic_loss_and_grad(fn):
    """fn(problem, theta, batch=None) -> (f, grad), eqs. (5.1) and (5.2); the loss against the
    library's `problem.loss`, the gradient against central differences of that loss."""
    p, theta, _ = _quadratic()
    f, grad = fn(p, theta, None)
    errors = check_gradients(lambda theta: p.loss(theta), {"theta": theta}, {"theta": grad},
                             verbose=False)
    return {"f": rel_error(f, p.loss(theta)), "grad": errors["theta"]}


def quadratic_hvp(fn):
    """fn(problem, theta, v, batch=None) -> H v, eq. (5.3); against the central difference (5.4)
    of the library's gradient."""
    p, theta, v = _quadratic()
    h = 1e-5
    numeric = (p.loss_and_grad(theta + h * v)[1] - p.loss_and_grad(theta - h * v)[1]) / (2 * h)
    return {"Hv": rel_error(fn(p, theta, v, None), numeric)}


# ------------------------------------------------------------------ chapter 6
def mlp_loss_and_grad(fn):
    """fn(problem, theta, batch) -> (f, grad), eqs. (6.1) to (6.3), on a 6-5-3 sigmoid network
    over all its 20 examples (batch None; the workbook's checks add a minibatch and two layers); the loss against the library's `problem.loss`, the gradient against
    central differences of it."""
    from minil2o.problems import MLPFamily
    rng = np.random.default_rng(0)
    p = MLPFamily(rng.standard_normal((20, 6)), rng.integers(0, 3, 20), hidden=(5,), num_classes=3,
                  batch_size=20, init_std=0.5, dtype="float64").sample(rng)
    theta = p.init(rng)
    f, grad = fn(p, theta, None)
    errors = check_gradients(lambda theta: p.loss(theta, None), {"theta": theta}, {"theta": grad},
                             verbose=False)
    return {"f": rel_error(f, p.loss(theta, None)), "grad": errors["theta"]}


# ------------------------------------------------------------------ chapter 7
def conv2d_backward(fn):
    """fn(dout, cache) -> dx, dw, db, eq. (7.2); against central differences of
    <out, dout> through convolution.conv2d_forward."""
    rng = np.random.default_rng(0)
    inputs = {"x": f64(rng, (2, 3, 5, 5)), "w": f64(rng, (4, 3, 3, 3)), "b": f64(rng, 4)}
    dout = f64(rng, (2, 4, 5, 5))
    grads = fn(dout, convolution.conv2d_forward(**inputs)[1])
    objective = vjp_objective(lambda **inp: convolution.conv2d_forward(**inp)[0], dout)
    return check_gradients(objective, inputs, dict(zip(("x", "w", "b"), grads)), verbose=False)


# ------------------------------------------------------------------ chapter 8
def gram_backward(fn):
    """fn(dG, F, shape) -> dfeat, eq. (8.5), for a dG that is not symmetric; against central
    differences of <G, dG> through gram_forward."""
    from minil2o.problems.art import gram_forward
    rng = np.random.default_rng(0)
    feat, dG = f64(rng, (1, 3, 4, 4)), f64(rng, (3, 3))
    objective = vjp_objective(lambda feat: gram_forward(feat)[0], dG)
    mine = fn(dG, gram_forward(feat)[1], feat.shape)
    return check_gradients(objective, {"feat": feat}, {"feat": mine}, verbose=False)


# ------------------------------------------------------------------ chapter 9
def rnnprop_relative_inputs_backward(fn):
    """fn(opt, d_x, grad, d_state, parts) -> (d m_prev, d v_prev, d grad), eqs. (9.10) to (9.13).
    The independent answer is the workbook's own check: central differences of
    <x, d_x> + <m, d_m> + <v, d_v> through RNNprop.relative_inputs at step 4."""
    from minil2o.workbook.checks_meta import rnnprop_relative_inputs_backward as suite_check
    from minil2o.workbook.lookup import substituted
    with substituted({"rnnprop_relative_inputs_backward": fn}):
        report = suite_check()
    return {m.output: m.error for m in report.measures}


def rnnprop_step_backward(fn):
    """fn(opt, phi, d_update, d_state, cache, need_d_grad) -> (d_phi, d_state_prev, d_grad), the
    backward pass of eqs. (9.7) to (9.13); against central differences of
    <update, d_update> + sum_k <state'_k, d_state_k> through RNNprop.step_forward."""
    from minil2o.optimizers.learned import RNNprop
    rng = np.random.default_rng(0)
    opt, n = RNNprop(hidden=3), 6
    phi = {k: v + asarray(0.1 * rng.standard_normal(v.shape), "float64")
           for k, v in opt.init_params(rng, "float64").items()}
    state = {k: f64(rng, v.shape, 0.5) if hasattr(v, "shape") else 3
             for k, v in opt.init_state(n, "float64").items()}
    state["v"] = xp.abs(state["v"]) + 0.1                             # a second moment is positive
    grad = asarray(rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-3, 1, n), "float64")
    _, new_state, cache = opt.step_forward(phi, grad, state)
    d_update = f64(rng, n)
    d_state = {k: f64(rng, v.shape) for k, v in new_state.items() if k != "t"}

    def objective(grad, **inputs):
        phi_ = {k: v for k, v in inputs.items() if not k.startswith("s_")}
        state_ = {**{k[2:]: v for k, v in inputs.items() if k.startswith("s_")}, "t": 3}
        update, new, _ = opt.step_forward(phi_, grad, state_)
        return xp.sum(update * d_update) + sum(xp.sum(new[k] * d) for k, d in d_state.items())

    d_phi, d_prev, d_grad = fn(opt, phi, d_update, d_state, cache, True)
    inputs = {"grad": grad, **phi, **{f"s_{k}": v for k, v in state.items() if k != "t"}}
    analytic = {"grad": d_grad, **d_phi, **{f"s_{k}": d_prev[k] for k in state if k != "t"}}
    return check_gradients(objective, inputs, analytic, verbose=False)


GRADERS = {f.__name__: f for f in (
    adagrad_step, tensor_sigmoid, lstm_step_backward, lstm_backward, meta_gradient,
    quadratic_loss_and_grad, quadratic_hvp, mlp_loss_and_grad, conv2d_backward, gram_backward,
    rnnprop_relative_inputs_backward, rnnprop_step_backward)}
"""exercise name -> its grader."""

WORKBOOK = [name for name in GRADERS if name in workbook.table.BY_NAME]
"""The exercises the workbook has too, under the same name and signature: every one but Adagrad's
step (chapter 1), the convolution's and the Gram matrix's backward passes (chapters 7 and 8) and
RNNprop's whole step backward (chapter 9)."""
