"""The meta-gradient of minil2o/meta.py again, computed by the autograd engine instead of by hand.

Every piece of the unroll is written in engine ops (minil2o/autograd.py): the LSTM cells, the
optimizers' read-outs, theta_{t+1} = theta_t + g_t, and the meta-loss sum_t w_t f(theta_t). The
optimizee enters through custom ops: its loss f(theta_t) is a node whose vector-Jacobian product
uses the hand-written gradient, and the gradient handed to the optimizer is a constant leaf, which
is exactly the paper's d grad_t / d phi = 0 (the dashed edges of Fig. 2 dropped). This file is the
reference the hand-written BPTT is tested against (tests/test_meta.py); it is slower, not different.
"""
from .autograd import Tensor, custom_op
from .optimizers.learned import DMOptimizer, RNNprop, preprocess_forward


def lstm_cell(x, h, c, Wx, Wh, b):
    """One LSTM step in engine ops: (3.1) to (3.4), as minil2o.lstm.lstm_step_forward."""
    H = h.shape[1]
    a = x @ Wx + h @ Wh + b                                            # (n, 4H)
    i, f, o = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid(), a[:, 2 * H:3 * H].sigmoid()
    g = a[:, 3 * H:].tanh()
    c = f * c + i * g                                                  # (n, H)
    return o * c.tanh(), c                                             # (n, H) each


def lstm_stack(phi, x, state, num_layers):
    """The stacked LSTMs of minil2o.lstm.lstm_stack_forward in engine ops."""
    new_state = {}
    for layer in range(1, num_layers + 1):
        x, c = lstm_cell(x, state[f"h{layer}"], state[f"c{layer}"],
                         phi[f"Wx{layer}"], phi[f"Wh{layer}"], phi[f"b{layer}"])
        new_state[f"h{layer}"], new_state[f"c{layer}"] = x, c
    return x, new_state


def engine_step(opt, phi, grad, state):
    """One step of a DM optimizer or RNNprop with parameters phi (Tensors); grad is a constant."""
    if isinstance(opt, DMOptimizer):
        x = Tensor(preprocess_forward(grad, opt.preprocess, opt.p))    # a constant, (n, D)
        top, new_state = lstm_stack(phi, x, state, opt.num_layers)
        return (top @ phi["Wout"] + phi["bout"])[:, 0] * opt.output_scale, new_state
    if isinstance(opt, RNNprop):
        x, (t, m, v, *_) = opt.relative_inputs(grad, state)            # constants, (n, 2)
        z = (Tensor(x) @ phi["Win"] + phi["bin"]).elu()                # (n, H)
        top, new_state = lstm_stack(phi, z, state, opt.num_layers)
        new_state.update(m=m, v=v, t=t)
        return (top @ phi["Wout"] + phi["bout"])[:, 0].tanh() * (-opt.alpha), new_state
    raise TypeError(f"no engine version of {type(opt).__name__}")


def engine_meta_gradient(opt, phi, problem, theta, state, batches, weights):
    """Meta-loss (3) and dL/d phi of one truncation (K = len(batches) - 1 steps), by the engine,
    along the solid edges of Fig. 2 (the optimizer's input gradients are constants).
    phi: dict of arrays; state: the optimizer state from opt.init_state. Returns (L, d_phi)."""
    phi_t = {k: Tensor(v) for k, v in phi.items()}
    state = {k: Tensor(v) if k[0] in "hc" else v for k, v in state.items()}
    theta_t, loss = Tensor(theta), None
    for t in range(len(batches)):
        f, grad = problem.loss_and_grad(theta_t.data, batches[t])
        f_node = custom_op([theta_t], f, lambda df, grad=grad: [df * grad], name="loss")
        if t > 0 and weights[t - 1] != 0.0:                            # w_t f(theta_t), t = 1..K
            term = f_node * (weights[t - 1] / problem.num_problems)
            loss = term if loss is None else loss + term
        if t < len(batches) - 1:
            update, state = engine_step(opt, phi_t, grad, state)
            theta_t = theta_t + update                                 # eq. (1)
    loss.backward()
    return loss.data, {k: v.grad for k, v in phi_t.items()}
