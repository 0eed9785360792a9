"""The checks of the two exercises whose contract is about what outlives a call: Adagrad's step
(chapter 1), whose state the caller keeps and may replay, and the autograd engine's sigmoid op
(chapter 2), whose gradient adds to what x.grad already holds. Shared tools:
minil2o/workbook/checks_layers.py."""
import numpy as np

from ..autograd import Tensor
from ..backend import to_numpy
from ..optimizers import hand
from .checks_layers import any_shape, compared, host_sigmoid, on_backend
from .lookup import impl
from .measure import (contract, draw_dims, float32_case, guarded_call, host, named, same,
                      shape_and_dtype)


# -- the autograd engine's sigmoid ----------------------------------------------------------------
X_REGIMES = ("entries at +-800", "scale 3", "scale 0.5")
"""The inputs of tensor_sigmoid per case in turn."""


def draw_x(case, shape, regime, dtype):
    """x of `shape` in `regime`; in the first, a third of the entries (at least one) at +-800,
    where exp(|x|) overflows in every dtype and sigma is exactly 0 or 1. In float32 the other
    entries stay within 1.5 (a sigma near 0 carries float32 rounding relative to itself)."""
    rng = case.rng
    x = (3.0 if regime == "scale 3" else 0.5 if regime == "scale 0.5" else 2.0) \
        * rng.standard_normal(shape)                                        # shape
    x = np.clip(x, -1.5, 1.5) if dtype == "float32" else x
    if regime.startswith("entries"):
        flat = x.reshape(-1)
        big = rng.choice(flat.size, max(1, flat.size // 3), replace=False)
        flat[big] = rng.choice([-800.0, 800.0], big.size)
    return x


def tensor_sigmoid(case):
    """Tensor.sigmoid on x of 1 to 3 axes (or all sizes 1), with entries at +-800 in turn: the
    forward value against a host sigma (no overflow, no NaN); the returned Tensor has x among its
    inputs; its backward closure, run with x.grad already holding a value, adds g s (1 - s) to it
    (2.1); x used more than once (sigmoid(x) * x + x, then sigmoid(x) + sigmoid(x)) gets every
    path's gradient after backward(). Each gradient is compared with its host closed form; out.data
    and x.grad keep x's dtype (float32 in one case in four, against the float64 closed form of its
    rounded inputs)."""
    shape = any_shape(case)
    dtype = "float32" if float32_case(case) else "float64"
    regime = X_REGIMES[case.index % len(X_REGIMES)]
    case.note(x=regime, dtype=dtype)
    rng = case.rng
    x, g = draw_x(case, shape, regime, dtype), rng.standard_normal(shape)  # shape, shape
    held = np.sign(g) * np.abs(rng.standard_normal(shape))  # x.grad before: no cancellation
    (x0, g, held), (xh, gh, heldh) = on_backend(dtype, x, g, held)
    sigmoid = impl("tensor_sigmoid")
    s, x = host_sigmoid(xh), Tensor(x0)
    out = sigmoid(x)
    if not isinstance(out, Tensor):
        return [contract("out", False, f"returned {type(out).__name__}, expected a Tensor")]
    found = [contract("x.data (an input)", same(host(x.data), xh), "x.data was changed in "
                      "place: the contract is to leave the input as it was"),
             contract("out's inputs", any(p is x for p in out._prev), "x is not among the "
                      "returned Tensor's inputs (_prev): backward() would never reach x; make it "
                      "with Tensor(data, (x,), 'sigmoid')", "(2.1), chapter 2"),
             *shape_and_dtype({"out.data": out.data}, {"out.data": (shape, dtype)})]
    if not all(m.right for m in found):
        return found
    found.append(compared("out.data", out.data, s, dtype, "sigma(x) = 1 / (1 + exp(-x)), "
                          "computed so that exp never overflows"))
    x.grad, out.grad = held, g
    out._backward()
    found += grad_measures(x, heldh + gh * s * (1 - s), shape, dtype,
                           "x.grad (it held a value before: add to it)")
    x = Tensor(x0)
    (sigmoid(x) * x + x).backward(g)        # d/dx = s + x s (1 - s) + 1 >= 0.9: no cancellation
    found += grad_measures(x, gh * (s + xh * s * (1 - s) + 1), shape, dtype,
                           "x.grad of sigmoid(x) * x + x (x used three times)")
    x = Tensor(x0)
    (sigmoid(x) + sigmoid(x)).backward(g)
    found += grad_measures(x, 2 * gh * s * (1 - s), shape, dtype,
                           "x.grad of sigmoid(x) + sigmoid(x)")
    return found


def grad_measures(x, want, shape, dtype, name):
    """x.grad's shape and dtype contract and its error against the host `want`."""
    if x.grad is None:
        return [contract(name, False, "x.grad is None: nothing was added to it")]
    shapes = shape_and_dtype({name: x.grad}, {name: (shape, dtype)})
    return shapes if not all(m.right for m in shapes) else \
        [*shapes, compared(name, x.grad, want, dtype, "(2.1) and (2.6), chapter 2")]


# -- Adagrad's step -------------------------------------------------------------------------------
GRAD_REGIMES = ("gradients near eps", "gradients of scale 1", "gradients spread over decades")
"""The gradients (and so G) per case in turn: where eps decides the step, where it does not, and
both in one vector."""


MOVED = ("lr", "eps", "lr and eps")
"""The settings drawn away from their defaults, per three cases in turn (each meets every regime),
so that a verdict names the one setting that was written in."""


def draw_grads(case, regime, eps, count, n):
    """(count, n) host gradients of `regime`: |g| = eps times 10^U(-1, 1), N(0, 1), or N(0, 1)
    times 10^U(log10 eps - 1, 1) entry by entry."""
    rng = case.rng
    signs = rng.choice([-1.0, 1.0], (count, n))                             # (count, n)
    if regime == "gradients near eps":
        return signs * eps * 10.0 ** rng.uniform(-1.0, 1.0, (count, n))
    if regime == "gradients of scale 1":
        return rng.standard_normal((count, n))
    return signs * 10.0 ** rng.uniform(np.log10(eps) - 1.0, 1.0, (count, n))


def host_adagrad(lr, eps, grads, G):
    """Adagrad's updates for the rows of grads (each a step) from G on the host: (updates, G)."""
    updates = []
    for g in grads:
        G = G + g * g
        updates.append(-lr * g / (np.sqrt(G) + eps))
    return np.stack(updates), G


def adagrad_step(case):
    """Adagrad.step(opt, grad, state) on n = 1 to 9 coordinates, lr = 10^U(-4, 0.5) and/or
    eps = 10^U(-10, -1) (else their defaults 1e-3 and 1e-10: MOVED), with gradients near eps
    (eps decides the step), of scale 1 (it does not) and spread over decades in turn: one step
    from a state after t = 0 to 30 steps, then 2 to 4 steps from a fresh state, each step's
    update and G against the host recursion (largest entrywise relative error). Contract: grad,
    state and opt are left as they were; the new state is a dict with t + 1 and G; update and G
    keep grad's dtype (float32 in one case in four, against the float64 recursion on its rounded
    inputs)."""
    rng = case.rng
    n = draw_dims(rng, 1, 1, 9)[0]
    dtype = "float32" if float32_case(case) else "float64"
    regime = GRAD_REGIMES[case.index % len(GRAD_REGIMES)]
    lr, eps = (float(f"{10.0 ** rng.uniform(*r):.3g}") for r in ((-4.0, 0.5), (-10.0, -1.0)))
    moved = MOVED[case.index // 3 % len(MOVED)]
    lr = lr if "lr" in moved else hand.Adagrad.default_lr
    eps = eps if "eps" in moved else hand.Adagrad.hyper["eps"][0]
    t = int(rng.integers(0, 31))
    case.note(lr=lr, eps=eps, n=n, t=t, grads=regime, dtype=dtype)
    case.default(lr=hand.Adagrad.default_lr, eps=hand.Adagrad.hyper["eps"][0])
    opt = hand.Adagrad(lr=lr, eps=eps)
    past = draw_grads(case, regime, eps, t, n)                              # (t, n)
    (grad, G), (g_h, G_h) = on_backend(dtype, draw_grads(case, regime, eps, 1, n)[0],
                                       np.sum(past * past, axis=0))
    settings = dict(vars(opt))
    fn = impl("adagrad_step")
    got, kept = guarded_call(fn, (opt, grad, {"t": t, "G": G}), [None, "grad", "state"])
    found = [*kept, contract("opt (an input)", vars(opt) == settings, "opt's attributes were "
                             "changed: the state lives in the returned dict, never on opt")]
    found += step_measures(got, t + 1, host_adagrad(lr, eps, g_h[None, :], G_h), n, dtype, "")
    if not all(m.right for m in found):
        return found
    K = int(rng.integers(2, 5))
    case.note(steps_from_fresh=K)
    grads, hosts = on_backend(dtype, *draw_grads(case, regime, eps, K, n))
    state, updates = opt.init_state(n, dtype), []
    for g in grads:
        step = named(("update", "state"), fn(opt, g, state), "outputs")
        updates.append(host(step["update"]))
        state = step["state"]
    want = host_adagrad(lr, eps, np.stack(hosts), np.zeros(n))
    return found + step_measures((np.stack(updates), state), K, want, n, dtype,
                                 f" after {K} steps from a fresh state", host_arrays=True)


def step_measures(got, t, want, n, dtype, where, host_arrays=False):
    """A step's (update, state) against the host's (updates, G): the state's form, t, the
    shapes and dtypes, and the errors."""
    update, state = named(("update", "state"), got, "outputs").values()
    if not (isinstance(state, dict) and "t" in state and "G" in state):
        return [contract("state" + where, False, f"returned {type(state).__name__} "
                         f"{sorted(state) if isinstance(state, dict) else ''}, expected a dict "
                         "with 't' and 'G'")]
    found = [contract("state['t']" + where, same_count(state["t"], t), f"t = {state['t']}, "
                      f"expected {t} (one more per step)")]
    like = {"G" + where: ((n,), dtype)}
    if not host_arrays:
        like["update" + where] = ((n,), dtype)
    found += shape_and_dtype({"update" + where: update, "G" + where: state["G"]}, like)
    if not all(m.right for m in found):
        return found
    updates, G = want
    return found + [compared("update" + where, update, updates[-1] if not host_arrays else updates,
                             dtype, "(1.6), chapter 1", entrywise=True),
                    compared("G" + where, state["G"], G, dtype, "(1.6), chapter 1 (G_t = "
                             "G_{t-1} + g_t^2)", entrywise=True)]


def same_count(a, b):
    """Whether a (an int, a 0-d array, anything) is the whole number b."""
    try:
        return float(to_numpy(a)) == b
    except (TypeError, ValueError):
        return False
