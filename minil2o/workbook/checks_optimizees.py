"""The checks of the optimizees' exercises (chapters 5 and 6) and of the meta-gradient (chapter 4):
the quadratic's loss, gradient and Hessian-vector product, the MLP's loss and gradient by
backpropagation, and the meta-gradient of one truncation by hand.

Each check is a property over drawn cases (minil2o/workbook/measure.py): `check(case)` draws the
case's sizes and settings from `case.rng`, notes them on the case, calls the function under test
through `impl(name)` and returns its Measures: every output against an independent answer (a host
computation in numpy float64, the autograd engine, central differences of the meta-loss), and the
exercise's contract (shapes, dtypes, inputs left as they were). In a float32 case (one in four;
one in three for the meta-gradient) the function also runs on the same numbers in float32 and is
compared with its own float64 answer.
"""
import numpy as np

from ..backend import asarray, to_numpy
from ..gradcheck import rel_error
from ..problems.mlp import MLPFamily
from ..problems.quadratic import QuadraticProblem
from .lookup import impl
from .measure import (F32, TOL, draw_dims, float32_case, guarded_call, Measure, named, rounded,
                      shape_and_dtype)


def outputs_measures(got, want, names, bound, kind="relative error", equations=None):
    """One Measure per output: rel_error(got[k], want[k]) against `bound`."""
    equations = equations or {}
    return [Measure(k, rel_error(got[k], want[k]), bound, equations.get(k, ""), kind)
            for k in names]


def float32_twin(call, like, names, bound=F32):
    """A float32 case: call("float32") against call("float64") on the same numbers. like:
    {output: (shape, dtype)}. Returns the Measures (contracts, then errors at the float32 bar)."""
    got, kept = call("float32")
    want, _ = call("float64")
    shapes = shape_and_dtype(got, like)
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    return [*kept, *shapes, *outputs_measures(got, want, names, bound, "float32 against float64")]


# -- the quadratic (chapter 5) --------------------------------------------------------------------
THETA_SCALES = (1.0, 10.0, 0.01)
"""theta of order 1, far from the minimum, and at the initial scale 0.01 of the public code."""


def draw_quadratic(case):
    """B functions of dimension d (B = 1 and d = 1 included), W, y ~ N(0, 1), theta and v at a
    scale, drawn on the host. Returns the host numbers as a dict."""
    B = (3, 1, 2, 4, 2, 1)[case.index % 6]
    d = 1 if case.index % 6 == 4 else draw_dims(case.rng, 1, 2, 7)[0]
    scale = THETA_SCALES[case.index % 3]
    case.note(B=B, d=d, theta_scale=scale,
              dtype="float32 and float64" if float32_case(case) else "float64")
    case.default(B=1, d=10)
    rng = case.rng
    return {"W": rounded(rng.standard_normal((B, d, d)), "float32"),
            "y": rounded(rng.standard_normal((B, d)), "float32"),
            "theta": rounded(scale * rng.standard_normal(B * d), "float32"),
            "v": rounded(rng.standard_normal(B * d), "float32")}


def quadratic_problem(host, dtype):
    """A QuadraticProblem holding the host numbers in `dtype`."""
    return QuadraticProblem(asarray(host["W"], dtype=dtype), asarray(host["y"], dtype=dtype),
                            dtype=dtype)


def quadratic_host(host):
    """F = sum_b ||W_b theta_b - y_b||^2 (5.1), its gradient 2 W_b^T r_b (5.2) and
    H v = 2 W_b^T W_b v_b (5.3), in numpy float64."""
    W, y = host["W"], host["y"]                                     # (B, d, d), (B, d)
    B, d = y.shape
    r = np.einsum("bij,bj->bi", W, host["theta"].reshape(B, d)) - y  # (B, d)
    Wv = np.einsum("bij,bj->bi", W, host["v"].reshape(B, d))        # (B, d)
    return {"F": np.sum(r * r), "grad": 2.0 * np.einsum("bji,bj->bi", W, r).reshape(-1),
            "Hv": 2.0 * np.einsum("bji,bj->bi", W, Wv).reshape(-1)}


def quadratic_call(name, host, arguments, outputs):
    """A function of (dtype) that runs exercise `name` on the quadratic of `host` in that dtype,
    with `arguments` (theta, v) of host's, guarding them and problem.W, problem.y.
    Returns ({output: array}, [contract Measures])."""
    def call(dtype):
        p = quadratic_problem(host, dtype)
        args = [asarray(host[a], dtype=dtype) for a in arguments]
        fn = impl(name)
        got, kept = guarded_call(lambda W, y, *args: fn(p, *args, None), (p.W, p.y, *args),
                                 ["problem.W", "problem.y", *arguments])
        return named(outputs, got, "values"), kept
    return call


def quadratic_measures(name, case, arguments, outputs, equations):
    """The quadratic's check of exercise `name`: float64 against the host, and a float32 twin."""
    host = draw_quadratic(case)
    want = quadratic_host(host)
    B, d = host["y"].shape
    like = {"F": ((), "float64"), "grad": ((B * d,), "float64"), "Hv": ((B * d,), "float64")}
    call = quadratic_call(name, host, arguments, outputs)
    got, kept = call("float64")
    shapes = shape_and_dtype(got, {k: like[k] for k in outputs})
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    found = [*kept, *shapes, *outputs_measures(got, want, outputs, TOL, equations=equations)]
    if float32_case(case):
        found += float32_twin(call, {k: (like[k][0], "float32") for k in outputs}, outputs)
    return found


def quadratic_loss_and_grad(case):
    """loss_and_grad(problem, theta, batch) of B quadratics of dimension d (B from 1 to 4, d from
    1 to 7, W not symmetric), theta at scales 0.01, 1 and 10: F (5.1) and the
    gradient (5.2) against numpy float64 on the host; theta, W and y left as they were."""
    return quadratic_measures("quadratic_loss_and_grad", case, ["theta"], ("F", "grad"),
                              {"F": "(5.1), chapter 5", "grad": "(5.2), chapter 5"})


def quadratic_hvp(case):
    """hvp(problem, theta, v, batch) of B quadratics of dimension d (as quadratic_loss_and_grad)
    against 2 W_b^T W_b v_b (5.3) on the host; theta, v, W and y left as they were. The quadratic's
    Hessian is constant, so an HVP taken at another theta cannot show here: the meta-gradient's
    check, on an MLP, is where it does."""
    return quadratic_measures("quadratic_hvp", case, ["theta", "v"], ("Hv",),
                              {"Hv": "(5.3), chapter 5"})


# -- the MLP (chapter 6) --------------------------------------------------------------------------
ACTIVATIONS = ("tanh", "relu", "elu", "sigmoid")
"""Every activation MLPFamily takes; case 0 is not the default sigmoid."""
KINK_GAP = 1e-3
"""The smallest |a| a hidden pre-activation may have: far from ReLU's (and ELU's) kink, so float32
and float64 see the same side of it."""


def host_activation(name, a):
    """phi(a) and phi'(a) of MLPFamily's activations, in numpy float64."""
    if name == "sigmoid":
        h = 1.0 / (1.0 + np.exp(-a))
        return h, h * (1.0 - h)
    if name == "tanh":
        h = np.tanh(a)
        return h, 1.0 - h * h
    if name == "relu":
        return np.maximum(a, 0.0), (a > 0).astype(np.float64)
    return np.where(a > 0, a, np.expm1(np.minimum(a, 0.0))), np.where(a > 0, 1.0, np.exp(a))


def mlp_host(X, Y, params, activation):
    """F = sum over instances of the mean cross entropy (6.1), (6.2), and dF/dtheta by
    backpropagation (6.3), in numpy float64. X: (B or 1, N, D), Y: (B or 1, N, C); params:
    [(W_l: (B, D_{l-1}, D_l), b_l: (B, D_l))]. Returns F, grad: (B n,) and the smallest |a| of a
    hidden pre-activation."""
    hs, slopes, gap = [X], [], np.inf
    for W, b in params[:-1]:
        a = hs[-1] @ W + b[:, None, :]                           # (B, N, D_l)
        gap = min(gap, float(np.min(np.abs(a))))
        h, slope = host_activation(activation, a)
        hs.append(h)
        slopes.append(slope)
    z = hs[-1] @ params[-1][0] + params[-1][1][:, None, :]       # (B, N, C)
    z = z - np.max(z, axis=-1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    N = X.shape[1]
    F = -np.sum(Y * log_p) / N
    delta = (np.exp(log_p) - Y) / N                             # (B, N, C)
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        dW = np.swapaxes(hs[layer], 1, 2) @ delta                # (B, D_{l-1}, D_l)
        grads = [dW.reshape(dW.shape[0], -1), np.sum(delta, axis=1)] + grads
        if layer > 0:
            delta = (delta @ np.swapaxes(params[layer][0], 1, 2)) * slopes[layer - 1]
    return F, np.concatenate(grads, axis=1).reshape(-1), gap


def draw_mlp(case):
    """An MLP family and B instances: an activation of ACTIVATIONS, 1 to 3 hidden layers of widths
    1 to 6, D from 1 to 5 inputs, C from 2 to 4 classes, a minibatch or every row. Returns the
    host numbers and settings as a dict."""
    rng, i = case.rng, case.index
    activation = ACTIVATIONS[(i + i // 4) % 4]
    hidden = tuple(draw_dims(rng, (2, 3, 1)[(i // 2) % 3], 1, 6))
    D, C = draw_dims(rng, 1, 1, 5)[0], draw_dims(rng, 1, 2, 4)[0]
    N_data = draw_dims(rng, 1, 4, 9)[0]
    B = 2 if i == 0 else int(rng.integers(1, 4))
    every_row = i % 3 == 2
    batch_size = N_data if every_row else int(rng.integers(2, N_data + 1))
    case.note(activation=activation, hidden=hidden, D=D, C=C, B=B,
              batch=f"None (all {N_data} rows)" if every_row else f"{batch_size} of {N_data} rows",
              dtype="float32 and float64" if float32_case(case) else "float64")
    case.default(activation="sigmoid", hidden=(20,), B=1)
    return {"X": rounded(rng.standard_normal((N_data, D)), "float32"),
            "y": rng.integers(0, C, N_data), "hidden": hidden, "activation": activation, "C": C,
            "B": B, "batch_size": batch_size, "every_row": every_row}


def mlp_problem(host, dtype):
    """The MLPProblem of B instances over host's data, in dtype."""
    family = MLPFamily(host["X"], host["y"], hidden=host["hidden"], activation=host["activation"],
                       batch_size=host["batch_size"], num_classes=host["C"], init_std=1.0,
                       dtype=dtype)
    return family.sample_many(None, host["B"])


def mlp_reference(problem, host, theta, batch):
    """mlp_host on the problem's layout: theta: host (B n,), batch: host indices or None."""
    B, X, Y = host["B"], host["X"], np.eye(host["C"])[host["y"]]
    if batch is None:
        X, Y = X[None], Y[None]                                  # (1, N_data, D), (1, N_data, C)
    else:
        rows = batch.reshape(B, -1)                              # (B, N)
        X, Y = X[rows], Y[rows]                                  # (B, N, D), (B, N, C)
    thetas = theta.reshape(B, -1)                                # (B, n)
    params = [(thetas[:, w].reshape((B,) + shape), thetas[:, b])
              for w, b, shape in problem.family.slices]
    return mlp_host(X, Y, params, host["activation"])


def mlp_point(case, host, problem):
    """theta ~ N(0, 1) (rounded to float32) and a batch, redrawn until every hidden pre-activation
    is at least KINK_GAP from 0. Returns host theta, host batch (or None) and the reference."""
    for _ in range(100):
        theta = rounded(case.rng.standard_normal(problem.n), "float32")
        batch = None if host["every_row"] else to_numpy(problem.sample_batch(case.rng))
        F, grad, gap = mlp_reference(problem, host, theta, batch)
        if gap >= KINK_GAP:
            return theta, batch, {"F": F, "grad": grad}
    raise RuntimeError("no point away from the kinks was found")  # never seen


def mlp_loss_and_grad(case):
    """loss_and_grad(problem, theta, batch) of B = 1 to 3 MLP instances with every activation of
    MLPFamily, 1 to 3 hidden layers of widths 1 to 6, on a minibatch or on every row: F and
    dF/dtheta against backpropagation in numpy float64 on the host (tests/test_exercises_optimizees
    .py checks that reference against central differences), at points away from the ReLU's kink;
    theta and the batch left as they were."""
    host = draw_mlp(case)
    problem = mlp_problem(host, "float64")
    theta, batch, want = mlp_point(case, host, problem)

    def call(dtype):
        p = problem if dtype == "float64" else mlp_problem(host, dtype)
        fn = impl("mlp_loss_and_grad")
        b = None if batch is None else asarray(batch)
        got, kept = guarded_call(lambda theta, batch: fn(p, theta, batch),
                                 (asarray(theta, dtype=dtype), b), ["theta", "batch"])
        return named(("F", "grad"), got, "values"), kept
    got, kept = call("float64")
    like = {"F": ((), "float64"), "grad": ((problem.n,), "float64")}
    shapes = shape_and_dtype(got, like)
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    found = [*kept, *shapes, *outputs_measures(got, want, ("F", "grad"), TOL, equations={
        "F": "(6.1) and (6.2), chapter 6", "grad": "(6.3), chapter 6"})]
    if float32_case(case):
        found += float32_twin(call, {k: (s, "float32") for k, (s, _) in like.items()},
                              ("F", "grad"))
    return found


