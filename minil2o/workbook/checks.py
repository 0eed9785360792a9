"""The gradient checks of the layers, the autograd engine and the optimizees, in float64.

Each check is a plain function that builds its inputs from fixed seeds, calls the function under
test through `impl(name)` (the library's, or a learner's in its place: minil2o/workbook/lookup.py),
and returns a Report of its outputs' errors against central differences or an independent answer.
The suite's tests (tests/test_layers.py, test_autograd.py, test_quadratic.py, test_mlp.py,
test_exercises.py) call these very functions and assert that every measure is right; `minil2o
workbook check` runs them on a learner's file. A backward pass returns the vector-Jacobian product
dout^T J, so it is checked as the gradient of the scalar <forward(inputs), dout> for a random dout.
"""
import math

import numpy as np

from .. import layers, lstm
from ..autograd import Tensor
from ..backend import asarray, to_float, to_numpy, xp
from ..gradcheck import check_gradients, rel_error, vjp_objective
from ..problems.mlp import MLPFamily, MLPProblem
from ..problems.quadratic import QuadraticFamily
from .lookup import impl
from .measure import Measure, Report, entry_error, measures, named

TOL = 1e-7
"""The bar of a gradient check (chapter 2): a right backward pass shows ~1e-9, a wrong one ~1."""


def f64(a):
    """A host array (or list) as a float64 backend array."""
    return asarray(np.asarray(a, dtype=np.float64), dtype="float64")


def away_from_zero(rng, shape, gap=0.1):
    """Normal entries pushed at least `gap` from 0, so kinks (ReLU, ELU) are not straddled."""
    x = rng.standard_normal(shape)
    return x + gap * np.sign(x)


# ---------------------------------------------------------------------------------------------
# Layers (minil2o/layers.py)
# ---------------------------------------------------------------------------------------------

def layer_errors(forward, backward, inputs, names, seed=1234, **kwargs):
    """backward(dout, cache) against central differences of <forward(**inputs), dout>, as
    {name: relative error}. names: the inputs that backward's return values are gradients for,
    in its return order. dout comes from its own seed: drawn from the stream the inputs came
    from, it could be a function of them (batch norm's dx vanishes exactly when dout is affine
    in x)."""
    out, cache = forward(**inputs, **kwargs)
    dout = f64(np.random.default_rng(seed).standard_normal(tuple(out.shape)))
    grads = named(names, backward(dout, cache))
    scalar = vjp_objective(lambda **a: forward(**a, **kwargs)[0], dout)
    return check_gradients(scalar, inputs, grads, verbose=False)


def linear_backward():
    """linear_backward on x: (4, 5), W: (5, 3), b: (3,)."""
    rng = np.random.default_rng(0)
    inputs = {"x": f64(rng.standard_normal((4, 5))), "W": f64(rng.standard_normal((5, 3))),
              "b": f64(rng.standard_normal(3))}
    errors = layer_errors(layers.linear_forward, impl("linear_backward"), inputs, ["x", "W", "b"])
    return Report(measures(errors, TOL, prefix="d"))


def activation_backward(name):
    """The backward pass of activation `name` (layers.ACTIVATIONS) on a (3, 4) input kept 0.2
    from 0; the function under test is impl('<name>_backward') where that is an exercise."""
    forward, backward = layers.ACTIVATIONS[name]
    x = 2.0 * away_from_zero(np.random.default_rng(0), (3, 4))
    errors = layer_errors(forward, impl(f"{name}_backward", backward), {"x": f64(x)}, ["x"])
    return Report(measures(errors, TOL, prefix="d"))


def sigmoid_backward():
    return activation_backward("sigmoid")


def tanh_backward():
    return activation_backward("tanh")


def softmax_cross_entropy():
    """The gradient against central differences of the loss, and the loss against a direct
    host computation, on (6, 5) logits."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=6)
    y = layers.one_hot(labels, 5, dtype="float64")
    inputs = {"logits": f64(3.0 * rng.standard_normal((6, 5)))}
    loss_and_grad = impl("softmax_cross_entropy")
    loss, dlogits = loss_and_grad(inputs["logits"], y)
    errors = check_gradients(lambda logits: loss_and_grad(logits, y)[0], inputs,
                             {"logits": dlogits}, verbose=False)
    z = to_numpy(inputs["logits"])
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -log_p[np.arange(6), labels].mean()
    return Report([Measure("loss", entry_error(to_float(loss), expected), 1e-12, "(6.2), chapter 6",
                           "largest entrywise relative error"),
                   Measure("dlogits", errors["logits"], TOL, "(6.3), chapter 6")])


def lstm_step_backward(N=2, D=3, H=4):
    """lstm_step_backward against central differences of <h, dh> + <c, dc>."""
    rng = np.random.default_rng(0)
    names = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
    shapes = ((N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))
    scales = (1.0, 1.0, 1.0, 0.5, 0.5, 0.5)                # small weights: gates not saturated
    inputs = {n: f64(s * rng.standard_normal(shape)) for n, shape, s in zip(names, shapes, scales)}
    dh, dc = f64(rng.standard_normal((N, H))), f64(rng.standard_normal((N, H)))
    _, _, cache = lstm.lstm_step_forward(**inputs)

    def scalar(**a):
        h, c, _ = lstm.lstm_step_forward(**a)
        return xp.sum(h * dh) + xp.sum(c * dc)
    grads = named(names, impl("lstm_step_backward")(dh, dc, cache))
    errors = check_gradients(scalar, inputs, grads, verbose=False)
    where = {"c_prev": "(3.5) and (3.6), chapter 3"}
    return Report([Measure(f"d{k}", e, TOL, where.get(k, "(3.7) and (3.8), chapter 3"))
                   for k, e in errors.items()])


def lstm_weights(rng, D, H):
    """Wx: (D, 4H), Wh: (H, 4H), b: (4H,) with N(0, 0.25) entries."""
    return {"Wx": f64(0.5 * rng.standard_normal((D, 4 * H))),
            "Wh": f64(0.5 * rng.standard_normal((H, 4 * H))),
            "b": f64(0.5 * rng.standard_normal(4 * H))}


def lstm_backward():
    """BPTT (chapter 3's check): x: (2, 5, 3), h0: (2, 4), H = 4, against central differences."""
    rng = np.random.default_rng(2)
    N, T, D, H = 2, 5, 3, 4
    weights = lstm_weights(rng, D, H)
    inputs = {"x": f64(rng.standard_normal((N, T, D))), "h0": f64(rng.standard_normal((N, H))),
              **weights}
    dhs = f64(rng.standard_normal((N, T, H)))
    _, caches = lstm.lstm_forward(**inputs)
    objective = vjp_objective(lambda **inp: lstm.lstm_forward(**inp)[0], dhs)
    grads = named(list(inputs), impl("lstm_backward")(dhs, caches))
    errors = check_gradients(objective, inputs, grads, verbose=False)
    return Report(measures(errors, TOL, prefix="d"))


def lstm_backward_as_layer():
    """BPTT as a layer pair (lstm_forward, lstm_backward): x: (2, 4, 3), H = 4."""
    rng = np.random.default_rng(0)
    N, T, D, H = 2, 4, 3, 4
    inputs = {"x": f64(rng.standard_normal((N, T, D))), "h0": f64(rng.standard_normal((N, H))),
              **lstm_weights(rng, D, H)}
    errors = layer_errors(lstm.lstm_forward, impl("lstm_backward"), inputs,
                          ["x", "h0", "Wx", "Wh", "b"])
    return Report(measures(errors, TOL, prefix="d"))


# ---------------------------------------------------------------------------------------------
# The autograd engine (minil2o/autograd.py)
# ---------------------------------------------------------------------------------------------

def to_backend(x):
    """A float64 host array on the backend (a 0-d one passed as a float, so it stays 0-d)."""
    return asarray(float(x) if x.ndim == 0 else x, dtype="float64")


def random_arrays(rng, shapes, low=None):
    """Random float64 backend arrays, one per name: standard normal, or with |x| in [low, low + 1]
    and a random sign when `low` is given (to stay away from kinks and poles at 0)."""
    out = {}
    for name, shape in shapes.items():
        x = rng.standard_normal(shape)
        if low is not None:
            x = np.sign(x) * (low + rng.random(shape))
        out[name] = to_backend(x)
    return out


def engine_error(build, inputs, seed=1):
    """Run build(**Tensors) -> Tensor, backpropagate a random upstream gradient g, and compare every
    input's .grad (zero where none arrived) with central differences of <build(**inputs), g>.
    Returns the largest relative error."""
    tensors = {name: Tensor(x) for name, x in inputs.items()}
    out = build(**tensors)
    g = to_backend(np.random.default_rng(seed).standard_normal(out.shape))
    out.backward(g)

    def forward(**arrays):
        return build(**{name: Tensor(x) for name, x in arrays.items()}).data
    grads = {name: xp.zeros_like(t.data) if t.grad is None else t.grad
             for name, t in tensors.items()}
    errors = check_gradients(vjp_objective(forward, g), inputs, grads, verbose=False)
    return max(errors.values())


def tensor_sigmoid():
    """The engine's sigmoid: chapter 2's check (backward against central differences, forward
    against 1 / (1 + exp(-x))) and the engine's op check on a (2, 3) input."""
    sigmoid = impl("tensor_sigmoid")
    x0 = f64(np.random.default_rng(1).standard_normal((3, 4)))
    s_bar = f64(np.random.default_rng(2).standard_normal((3, 4)))
    x = Tensor(x0)
    (sigmoid(x) * s_bar).sum().backward()
    grad = xp.zeros_like(x0) if x.grad is None else x.grad
    errors = check_gradients(lambda x: xp.sum(sigmoid(Tensor(x)).data * s_bar), {"x": x0},
                             {"x": grad}, verbose=False)
    value = rel_error(sigmoid(Tensor(x0)).data, 1 / (1 + xp.exp(-x0)))
    op = engine_error(lambda x: sigmoid(x), random_arrays(np.random.default_rng(0), {"x": (2, 3)}))
    return Report([Measure("out.data", value, 1e-12, "sigma(x) = 1 / (1 + exp(-x))"),
                   Measure("x.grad", errors["x"], TOL),
                   Measure("x.grad (op check)", op, TOL)])


# ---------------------------------------------------------------------------------------------
# The optimizees (minil2o/problems/quadratic.py and mlp.py)
# ---------------------------------------------------------------------------------------------

def problem_report(problem, rng, theta, batch, loss_and_grad, hvp, h=1e-6, bound=1e-6):
    """f of loss_and_grad against problem.loss; its gradient against central differences of
    problem.loss; hvp(v) against the central difference of the gradient (5.4),
    (grad(theta + h v) - grad(theta - h v)) / 2h, for v drawn from rng."""
    f, grad = loss_and_grad(problem, theta, batch)
    err_f = abs(to_float(f) - to_float(problem.loss(theta, batch)))
    err_grad = check_gradients(lambda theta: problem.loss(theta, batch), {"theta": theta},
                               {"theta": grad}, verbose=False)["theta"]
    v = asarray(rng.standard_normal(problem.n), dtype="float64")
    numeric = (loss_and_grad(problem, theta + h * v, batch)[1]
               - loss_and_grad(problem, theta - h * v, batch)[1]) / (2 * h)
    err_hvp = rel_error(numeric, hvp(problem, theta, v, batch))
    return Report([Measure("f", err_f, 1e-12, kind="absolute error"),
                   Measure("grad", err_grad, bound), Measure("hvp", err_hvp, bound)])


def quadratic_problem():
    """Three 10-d quadratics, theta ~ N(0, 1)."""
    rng = np.random.default_rng(0)
    problem = QuadraticFamily(dim=10, num_functions=3, dtype="float64").sample(rng)
    theta = asarray(rng.standard_normal(problem.n), dtype="float64")
    report = problem_report(problem, rng, theta, None, impl("quadratic_loss_and_grad"),
                            impl("quadratic_hvp"))
    report.notes.update(n=problem.n, num_problems=problem.num_problems)
    return report


def quadratic_gradient_and_hvp():
    """Chapter 5's check: two 4-d quadratics; the gradient (5.2) against central differences, and
    H v (5.3) against the central difference of the gradient (5.4) with h = 1e-5."""
    rng = np.random.default_rng(0)
    p = QuadraticFamily(dim=4, num_functions=2, init_std=1.0, dtype="float64").sample(rng)
    theta, v = p.init(rng), f64(rng.standard_normal(p.n))
    loss_and_grad = impl("quadratic_loss_and_grad")
    _, grad = loss_and_grad(p, theta)
    errors = check_gradients(lambda theta: p.loss(theta), {"theta": theta}, {"theta": grad},
                             verbose=False)
    h = 1e-5
    numeric = (loss_and_grad(p, theta + h * v)[1] - loss_and_grad(p, theta - h * v)[1]) / (2 * h)
    return Report([Measure("grad", errors["theta"], TOL, "(5.2), chapter 5"),
                   Measure("hvp", rel_error(impl("quadratic_hvp")(p, theta, v), numeric), TOL,
                           "(5.3), chapter 5")])


def tiny_family(activation, hidden, dtype="float64", **kwargs):
    """An MLP family on 40 random examples: 12 inputs, 3 classes, minibatch 4."""
    data = np.random.default_rng(7)
    X = data.standard_normal((40, 12))
    y = data.integers(0, 3, size=40)
    return MLPFamily(X, y, hidden=hidden, activation=activation, batch_size=4, num_classes=3,
                     init_std=0.5, dtype=dtype, **kwargs)


def min_abs_preactivation(problem, theta, batch):
    """The smallest |a_l| over the hidden layers: how far the point is from a ReLU/ELU kink."""
    h, smallest = xp.take(problem.family.X, batch, axis=0), math.inf
    for W, b in problem._layers(theta)[:-1]:
        a = h @ W + b
        smallest = min(smallest, float(np.min(np.abs(to_numpy(a)))))
        h = problem.phi(a)[0]
    return smallest


def mlp_gradient_and_hvp(activation="sigmoid", hidden=(5,)):
    """A 12-hidden-3 MLP on a minibatch of 4: f, the gradient (6.3) and the R-operator's H v.
    notes['min_abs_preactivation']: the point's distance from a kink (the suite asserts > 1e-4)."""
    rng = np.random.default_rng(0)
    problem = tiny_family(activation, hidden).sample(rng)
    theta, batch = problem.init(rng), problem.sample_batch(rng)
    report = problem_report(problem, rng, theta, batch, impl("mlp_loss_and_grad"), MLPProblem.hvp)
    report.notes["min_abs_preactivation"] = min_abs_preactivation(problem, theta, batch)
    return report


def mlp_two_hidden_layers():
    return mlp_gradient_and_hvp("sigmoid", (5, 4))


def mlp_gradient():
    """Chapter 6's check: a 6-5-3 sigmoid MLP over all its 20 examples, the gradient (6.3)
    against central differences."""
    rng = np.random.default_rng(0)
    tiny = MLPFamily(rng.standard_normal((20, 6)), rng.integers(0, 3, 20), hidden=(5,),
                     num_classes=3, batch_size=20, init_std=0.5, dtype="float64").sample(rng)
    theta = tiny.init(rng)
    _, grad = impl("mlp_loss_and_grad")(tiny, theta, None)
    errors = check_gradients(lambda theta: tiny.loss(theta, None), {"theta": theta},
                             {"theta": grad}, verbose=False)
    return Report([Measure("grad", errors["theta"], TOL)])
