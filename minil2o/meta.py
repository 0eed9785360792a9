"""Unrolling an optimizee under a learned optimizer, and the meta-gradient by hand.

Andrychowicz et al. 2016, eq. (3): the optimizer's parameters phi are trained on

    L(phi) = sum_{t=1..K} w_t f(theta_t),   theta_{t+1} = theta_t + g_t,
    [g_t, h_{t+1}] = m(grad_t, h_t; phi),   grad_t = grad f(theta_t)                       (3)

over one truncation of K steps (truncated BPTT: theta_0 and h_0 are constants). w_t = 1 for all t
(DM optimizer) or only w_K = 1 (RNNprop).

The meta-gradient, written by hand. Let a_t = dL/d theta_t be the adjoint of theta_t. theta_t reaches
L three ways: through f(theta_t) (weight w_t), through theta_{t+1} = theta_t + g_t, and through
grad_t into the optimizer (the dashed edges of the paper's Fig. 2). The paper drops the last one,
d grad_t / d phi = 0, and then

    a_K = w_K grad_K,    a_t = w_t grad_t + a_{t+1}          (4.1): a reverse cumulative sum (4.2)

The update g_t reaches L only through theta_{t+1}, so dL/d g_t = a_{t+1} (4.3): the error signal fed
into the optimizer's backward pass (opt.step_backward) at step t, and backpropagation through
time carries the LSTM state gradient from step t+1 back to step t. Keeping the dashed edges adds
one term, with H_t the optimizee's Hessian at theta_t and d grad_t = dL/d grad_t from the step's
backward pass:

    a_t = w_t grad_t + a_{t+1} + H_t d grad_t                        (4.5), second derivatives

which costs one Hessian-vector product per step (problem.hvp). (N.M) are the equations of tutorial
chapter 4, where this is derived (docs/EQUATIONS.md).
"""
import contextlib
from dataclasses import dataclass, field

from .backend import xp


def zeros_like_state(state):
    """Zero gradients for every entry of an optimizer state (arrays -> zeros, counters -> 0)."""
    return {k: (zeros_like_state(v) if isinstance(v, dict) else
                xp.zeros_like(v) if hasattr(v, "shape") else 0) for k, v in state.items()}


def copy_state(state):
    """An optimizer state with every array copied (so that it outlives a reused workspace)."""
    return {k: (copy_state(v) if isinstance(v, dict) else
                xp.asarray(v, copy=True) if hasattr(v, "shape") else v) for k, v in state.items()}


def meta_weights(K, weighting):
    """w_1..w_K of eq. (3) as a list: 'all' (w_t = 1, the DM paper) or 'last' (w_K = 1 only, the
    final loss of eq. (2) for one truncation; RNNprop, Lv et al. section 5)."""
    if weighting == "all":
        return [1.0] * K
    if weighting == "last":
        return [0.0] * (K - 1) + [1.0]
    raise ValueError(f"unknown meta-loss weighting {weighting!r}: choose 'all' or 'last'")


@dataclass
class Truncation:
    """What one forward unroll of K steps keeps for the backward pass (index t = 0..K)."""
    thetas: list = field(default_factory=list)    # theta_t, (n,) each
    losses: list = field(default_factory=list)    # f(theta_t), 0-d each
    grads: list = field(default_factory=list)     # grad_t, (n,) each (the optimizer's inputs)
    batches: list = field(default_factory=list)   # the minibatch each f and grad was taken on
    caches: list = field(default_factory=list)    # optimizer step caches, t = 0..K-1
    state: dict = None                            # optimizer state after the last step
    workspace: object = None                      # where the caches live (see unroll)


def unroll(opt, phi, problem, theta, state, batches, start=None, fixed_grads=None, workspace=None):
    """Run K = len(batches) - 1 optimizer steps from theta (n,) and state: eq. (1), with the
    [g_t, h_{t+1}] = m(grad_t, h_t; phi) of eq. (3); the loop of Lv et al., section 3.1.

    batches[t] is the minibatch for f and grad at theta_t (t = 0..K). `start` = (f_0, grad_0) when
    already known (the last step of the previous truncation). With `fixed_grads`, the optimizer is
    fed those gradients instead of the true ones (the dashed edges cut, for numerical checks).
    With a `workspace` (minil2o.fast_lstm.Workspace, kept by the caller from one truncation to the
    next), the LSTM steps keep their caches in its reused arrays (on NumPy; the same numbers to
    rounding): the Truncation is then valid until the next unroll with that workspace, and its
    final state is copied out of it. Returns a Truncation.
    """
    tr = Truncation(workspace=workspace)
    with workspace.forward_pass() if workspace else contextlib.nullcontext():
        tr.state = unroll_steps(tr, opt, phi, problem, theta, state, batches, start, fixed_grads)
    if workspace:
        tr.state = copy_state(tr.state)
    return tr


def unroll_steps(tr, opt, phi, problem, theta, state, batches, start, fixed_grads):
    """The loop of unroll: fills tr step by step and returns the optimizer's final state."""
    f, grad = start if start is not None else problem.loss_and_grad(theta, batches[0])
    for t in range(len(batches)):
        tr.thetas.append(theta)
        tr.losses.append(f)
        tr.grads.append(grad)
        tr.batches.append(batches[t])
        if t == len(batches) - 1:
            break
        g_in = grad if fixed_grads is None else fixed_grads[t]
        update, state, cache = opt.step_forward(phi, g_in, state)     # (n,)
        tr.caches.append(cache)
        theta = theta + update                                        # eq. (1)
        f, grad = problem.loss_and_grad(theta, batches[t + 1])
    return state


def meta_loss(tr, weights, num_problems=1):
    """L = sum_{t=1..K} w_t f(theta_t) of eq. (3), averaged over the problems held in one."""
    return sum(w * f for w, f in zip(weights, tr.losses[1:]) if w != 0.0) / num_problems


def meta_gradient(opt, phi, problem, tr, weights, second_derivatives=False):
    """dL/d phi for one truncation by backpropagation through time, by hand (the graph of Fig. 2).

    Walks t = K..1: a_t = w_t grad_t + a_{t+1} (4.1), so a_t = sum_{s>=t} w_s grad_s (4.2), with
    w_t / B for B problems held in one (4.6); the step that produced theta_t receives
    d update = a_t (4.3); its backward pass gives d phi, summed over the steps (4.4), the state
    gradient for the step before, and with second derivatives (the dashed edges kept) d grad_{t-1},
    which adds H_{t-1} d grad_{t-1} to a_{t-1} (4.5). Returns d_phi, a dict shaped like phi.
    """
    K = len(tr.caches)
    scale = 1.0 / getattr(problem, "num_problems", 1)
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_state = zeros_like_state(tr.state)
    a = xp.zeros_like(tr.grads[0])                                    # a_{K+1} = 0, (n,)
    for t in range(K, 0, -1):
        if weights[t - 1] != 0.0:
            a = a + (weights[t - 1] * scale) * tr.grads[t]            # a_t = w_t grad_t + a_{t+1}
        with tr.workspace.step() if tr.workspace else contextlib.nullcontext():
            d_phi_t, d_state, d_grad = opt.step_backward(phi, a, d_state, tr.caches[t - 1],
                                                         need_d_grad=second_derivatives)
        for k in d_phi:
            d_phi[k] += d_phi_t[k]
        if second_derivatives:                                        # the dashed edge of step t-1
            a = a + problem.hvp(tr.thetas[t - 1], d_grad, tr.batches[t - 1])
    return d_phi


def unroll_loss(opt, phi, problem, theta, state, batches, weights, fixed_grads=None):
    """The meta-loss of one truncation as a function of phi (for central differences)."""
    tr = unroll(opt, phi, problem, theta, state, batches, fixed_grads=fixed_grads)
    return meta_loss(tr, weights, getattr(problem, "num_problems", 1))
