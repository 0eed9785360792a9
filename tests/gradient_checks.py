"""The suite's gradient checks of the pieces that are not workbook exercises: the ReLU's and ELU's
backward passes, the autograd engine's ops, the optimizees' Hessian-vector products, and the
meta-gradient of a whole truncation three ways (the manual BPTT, the autograd engine, central
differences). The exercises' checks are the workbook's (minil2o/workbook/checks_*.py); the tests
run them on the library with tests/exercise_tools.py."""
import math
from dataclasses import dataclass, field

import numpy as np

from minil2o import layers
from minil2o.autograd import Tensor
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.gradcheck import (check_gradients, hvp_by_differences, numerical_gradient, rel_error,
                               vjp_objective)
from minil2o.meta import meta_gradient, meta_weights, unroll, unroll_loss
from minil2o.meta_engine import engine_meta_gradient
from minil2o.optimizers.learned import DMOptimizer, RNNprop
from minil2o.problems import MLPFamily, make_family
from minil2o.problems.mlp import MLPProblem
from minil2o.workbook.measure import Measure, measures, named

TOL = 1e-7


@dataclass
class Report:
    """A check's measures, and notes for further assertions."""
    measures: list
    notes: dict = field(default_factory=dict)

    @property
    def right(self):
        return bool(self.measures) and all(m.right for m in self.measures)

    def __str__(self):
        return "; ".join(str(m) for m in self.measures)


def f64(a):
    """A host array (or list) as a float64 backend array."""
    return asarray(np.asarray(a, dtype=np.float64), dtype="float64")


def away_from_zero(rng, shape, gap=0.1):
    """Normal entries pushed at least `gap` from 0, so kinks (ReLU, ELU) are not straddled."""
    x = rng.standard_normal(shape)
    return x + gap * np.sign(x)


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


def activation_backward(name):
    """The backward pass of activation `name` (layers.ACTIVATIONS) on a (3, 4) input kept 0.2
    from 0."""
    forward, backward = layers.ACTIVATIONS[name]
    x = 2.0 * away_from_zero(np.random.default_rng(0), (3, 4))
    errors = layer_errors(forward, backward, {"x": f64(x)}, ["x"])
    return Report(measures(errors, TOL, prefix="d"))


def lstm_weights(rng, D, H):
    """Wx: (D, 4H), Wh: (H, 4H), b: (4H,) with N(0, 0.25) entries."""
    return {"Wx": f64(0.5 * rng.standard_normal((D, 4 * H))),
            "Wh": f64(0.5 * rng.standard_normal((H, 4 * H))),
            "b": f64(0.5 * rng.standard_normal(4 * H))}


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


def problem_report(problem, rng, theta, batch, loss_and_grad, hvp, h=1e-6, bound=1e-6):
    """f of loss_and_grad against problem.loss; its gradient against central differences of
    problem.loss; hvp(v) against the central difference of the gradient (5.4),
    (grad(theta + h v) - grad(theta - h v)) / 2h, for v drawn from rng."""
    f, grad = loss_and_grad(problem, theta, batch)
    err_f = abs(to_float(f) - to_float(problem.loss(theta, batch)))
    err_grad = check_gradients(lambda theta: problem.loss(theta, batch), {"theta": theta},
                               {"theta": grad}, verbose=False)["theta"]
    v = asarray(rng.standard_normal(problem.n), dtype="float64")
    numeric = hvp_by_differences(lambda theta: loss_and_grad(problem, theta, batch)[1], theta, v, h)
    err_hvp = rel_error(numeric, hvp(problem, theta, v, batch))
    return Report([Measure("f", err_f, 1e-12, kind="absolute error"),
                   Measure("grad", err_grad, bound), Measure("hvp", err_hvp, bound)])


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
    for W, b in problem.layers(theta)[:-1]:
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
    report = problem_report(problem, rng, theta, batch, MLPProblem.loss_and_grad, MLPProblem.hvp)
    report.notes["min_abs_preactivation"] = min_abs_preactivation(problem, theta, batch)
    return report


def flat(d, like):
    """The arrays of dict d, in the order of like's keys, as one host vector."""
    return np.concatenate([to_numpy(d[k]).ravel() for k in like])


DROPPED = "(4.1) to (4.4), chapter 4"
"""The equations of the meta-gradient with the dashed edges dropped."""


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
    manual = meta_gradient(opt, phi, problem, tr, w)
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
    second = meta_gradient(opt, phi, problem, tr, w, second_derivatives=True)
    dropped = meta_gradient(opt, phi, problem, tr, w)
    plain = lambda **p: unroll_loss(opt, p, problem, theta, state, batches, w)  # noqa: E731
    numeric = {k: numerical_gradient(plain, phi, k, h=1e-5) for k in phi}
    err_second = rel_error(flat(second, phi), flat(numeric, phi))
    err_dropped = rel_error(flat(dropped, phi), flat(numeric, phi))
    return Report([Measure("d_phi (second derivatives)", err_second, 1e-6, "(4.5), chapter 4")],
                  {"err_second": err_second, "err_dropped": err_dropped})
