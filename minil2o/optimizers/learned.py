"""The learned optimizers: the coordinatewise LSTM of Andrychowicz et al. 2016 ("DM optimizer") and
RNNprop of Lv, Jiang & Li 2017, each with a forward pass and a hand-derived backward pass for one step
of optimization. Each is written as its paper writes it, from the layer pairs of minil2o.layers and
the LSTM stack of minil2o.lstm:

    DM optimizer   Andrychowicz et al. eqs. (1) and (3), section 2.1, Appendix A (preprocessing)
                   x = preprocess(grad);  h = LSTM_2(LSTM_1(x));  update = scale * linear(h)
    RNNprop        Lv et al. section 4.3 ("RNNprop Model"): Adam-like relative inputs,
                   z = ELU(linear(x));  h = LSTM_2(LSTM_1(z));  update = -alpha tanh(linear(h))

Both see the optimizee only through its gradient, one coordinate at a time: the n coordinates are the
n rows of every array, and the same small network (parameters phi, a dict of named arrays) serves all
of them, each row with its own recurrent state (Andrychowicz et al., section 2.1). One step is

    [update_t, state_{t+1}] = m(grad_t, state_t; phi)  (3),   theta_{t+1} = theta_t + update_t  (1)

and the interface is shared with the hand-designed optimizers:

    state = opt.init_state(n)
    update, state = opt.step(grad, state)                         (uses opt.phi)

where step refuses a gradient of the wrong length or dtype, or one holding NaN or Inf
(minil2o.validate.check_gradient), leaving the state as it was.

For meta-training, the step is split into a forward pass that keeps what the backward pass needs,

    update, state, cache = opt.step_forward(phi, grad, state)
    d_phi, d_state, d_grad = opt.step_backward(phi, d_update, d_state_next, cache)

where d_state_next is the gradient of the meta-loss (3) with respect to the state this step
produced, and d_grad its gradient with respect to this step's input gradient (needed only when second
derivatives are kept; see minil2o/meta.py).
"""
import math

import numpy as np

from ..backend import asarray, xp
from ..backend import dtype as as_dtype
from ..errors import UsageError
from ..validate import check_choice, check_gradient, check_positive_int, check_settings
from ..layers import (elu_backward, elu_forward, linear_backward, linear_forward, tanh_backward,
                      tanh_forward)
from ..lstm import init_lstm_params, lstm_stack_backward, lstm_stack_forward

PREPROCESSING = ("none", "log", "clamped")


class PublicStep:
    """The public step of an optimizer with learned parameters phi (each learned optimizer, and
    the per-group one of optimizers/grouped.py), the interface shared with the hand-designed ones.
    It checks its input; the meta-training loop calls step_forward, which does not."""

    def step(self, grad, state):
        """theta_{t+1} = theta_t + update, eq. (1). grad is first checked against the state by
        minil2o.validate.check_gradient (its length and dtype; a NaN or Inf is refused with a
        GradientError counting them): a refused gradient leaves the state as it was."""
        if self.phi is None:
            raise UsageError(f"{self.kind} optimizer has no parameters: call init_params or load a checkpoint")
        check_gradient(grad, *self.state_size(state))
        update, state, _ = self.step_forward(self.phi, grad, state)
        return update, state


class LearnedOptimizer(PublicStep):
    """What the DM optimizer and RNNprop share: parameters phi, an LSTM stack, the plain step."""

    kind = None

    def __init__(self, hidden=20, num_layers=2, phi=None, **settings):
        """hidden units in each of num_layers LSTM layers; phi (None until init_params or a
        checkpoint); settings: the subclass's own (p, output_scale, beta1, ...). All of them are
        checked by name (minil2o.validate.SETTINGS), as when built from the command line."""
        check_settings(dict(hidden=hidden, num_layers=num_layers, **settings))
        self.hidden = check_positive_int(hidden, "hidden")   # one size, the same in every layer
        self.num_layers = int(num_layers)
        self.phi = phi

    def lstm_state(self, n, dtype):
        return {f"{hc}{layer}": xp.zeros((n, self.hidden), dtype=dtype)
                for layer in range(1, self.num_layers + 1) for hc in "hc"}

    def state_size(self, state):
        """(n, dtype) of a state made by init_state(n, dtype): its first layer's h is (n, H)."""
        h = state.get("h1") if isinstance(state, dict) else None
        if not hasattr(h, "shape") or len(h.shape) != 2 or h.shape[1] != self.hidden:
            raise UsageError(f"state must be what {type(self).__name__}.init_state(n) returned, "
                             f"got {type(state).__name__}")
        return h.shape[0], h.dtype

    def zeros_like_phi(self, phi):
        return {k: xp.zeros_like(v) for k, v in phi.items()}

    def param_shapes(self):
        phi = self.init_params(np.random.default_rng(0), "float64")
        return {k: tuple(v.shape) for k, v in phi.items()}


# ---------------------------------------------------------------------------------------------
# The DM optimizer (Andrychowicz et al. 2016, eqs. (1) and (3), section 2.1, Appendix A)
# ---------------------------------------------------------------------------------------------

def preprocess_forward(grad, mode, p):
    """Map each gradient coordinate to the optimizer's input, (n,) -> (n, D).

    'none':    x = g                                                     (D = 1)
    'log':     Appendix A:  x = (log|g| / p, sign g)   if |g| >= e^-p
                                (-1, e^p g)            otherwise        (D = 2)
    'clamped': a public variant: x = (max(log(|g| + eps) / p, -1), clip(e^p g, -1, 1))    (D = 2)
    """
    if mode == "none":
        return grad[:, None]                                               # (n, 1)
    abs_g = xp.abs(grad)
    if mode == "log":
        big = abs_g >= math.exp(-p)                                        # (n,) bool
        safe = xp.where(big, abs_g, xp.ones_like(abs_g))                   # avoid log(0)
        x0 = xp.where(big, xp.log(safe) / p, -xp.ones_like(grad))
        x1 = xp.where(big, xp.sign(grad), math.exp(p) * grad)
    else:
        x0 = xp.maximum(xp.log(abs_g + 1e-8) / p, -xp.ones_like(grad))
        x1 = xp.clip(math.exp(p) * grad, -1.0, 1.0)
    return xp.stack([x0, x1], axis=1)                                      # (n, 2)


def preprocess_backward(dx, grad, mode, p):
    """Gradient of the preprocessed input x (n, D) with respect to the raw gradient g (n,).
    'log' (Appendix A): d(log|g|/p)/dg = 1 / (p g) and d(sign g)/dg = 0 when |g| >= e^-p,
    else (0, e^p)."""
    if mode == "none":
        return dx[:, 0]
    abs_g = xp.abs(grad)
    if mode == "log":
        big = abs_g >= math.exp(-p)
        safe = xp.where(big, grad, xp.ones_like(grad))
        return xp.where(big, dx[:, 0] / (p * safe), math.exp(p) * dx[:, 1])
    inside0 = xp.log(abs_g + 1e-8) / p > -1.0
    inside1 = xp.abs(math.exp(p) * grad) < 1.0
    d0 = xp.where(inside0, dx[:, 0] * xp.sign(grad) / (p * (abs_g + 1e-8)), xp.zeros_like(grad))
    d1 = xp.where(inside1, math.exp(p) * dx[:, 1], xp.zeros_like(grad))
    return d0 + d1


class DMOptimizer(LearnedOptimizer):
    """Coordinatewise two-layer LSTM optimizer (Andrychowicz et al. 2016, section 2.1, Fig. 3):

        x_t = preprocess(grad_t)                          (Appendix A, or none)
        h_t, state = LSTM_2(LSTM_1(x_t, state))           20 units per layer, shared weights
        update_t = output_scale * (h_t W_out + b_out)     linear read-out, then postprocessing
        theta_{t+1} = theta_t + update_t                  eq. (1)

    output_scale is 0.1 on MNIST and 1.0 on quadratics in the paper.
    """

    kind = "dm"

    def __init__(self, hidden=20, num_layers=2, preprocess="log", p=10.0, output_scale=0.1, phi=None):
        super().__init__(hidden, num_layers, phi, p=p, output_scale=output_scale)
        self.preprocess = check_choice(preprocess, "preprocessing", PREPROCESSING)
        self.p, self.output_scale = float(p), float(output_scale)
        self.input_dim = 1 if preprocess == "none" else 2

    def config(self):
        return dict(kind=self.kind, hidden=self.hidden, num_layers=self.num_layers,
                    preprocess=self.preprocess, p=self.p, output_scale=self.output_scale)

    def init_params(self, rng, dtype="float32"):
        """LSTM weights uniform, read-out W_out ~ U(-0.1/sqrt(H), 0.1/sqrt(H)) so first steps are small."""
        phi = init_lstm_params(rng, self.input_dim, self.hidden, self.num_layers, dtype)
        k = 0.1 / math.sqrt(self.hidden)
        phi["Wout"] = asarray(rng.uniform(-k, k, (self.hidden, 1)), dtype)   # (H, 1)
        phi["bout"] = xp.zeros((1,), dtype=as_dtype(dtype))                  # (1,)
        return phi

    def init_state(self, n, dtype="float32"):
        return self.lstm_state(n, as_dtype(dtype))

    def step_forward(self, phi, grad, state):
        """grad (n,) -> update (n,), the new state, and the cache for step_backward (eq. (3)'s m)."""
        x = preprocess_forward(grad, self.preprocess, self.p)                 # (n, D), Appendix A
        top, new_state, caches = lstm_stack_forward(phi, x, state, self.num_layers)  # (n, H)
        out, readout = linear_forward(top, phi["Wout"], phi["bout"])          # (n, 1)
        update = self.output_scale * out[:, 0]                                # (n,)
        return update, new_state, (grad, readout, caches)

    def step_backward(self, phi, d_update, d_state, cache, need_d_grad=False):
        """d_update (n,): dL/d update_t; d_state: dL/d state_{t+1}. Returns d_phi, the step's term
        of (4.4), dL/d state_t, and dL/d grad_t (None unless need_d_grad). Back through the
        output scale and the read-out (4.7), then the LSTM stack and the preprocessing."""
        grad, readout, caches = cache
        d_phi = self.zeros_like_phi(phi)
        d_out = self.output_scale * d_update[:, None]                         # (n, 1)
        d_top, dWout, dbout = linear_backward(d_out, readout)                 # (n, H), (H, 1), (1,)
        d_phi["Wout"] += dWout
        d_phi["bout"] += dbout
        dx, d_prev = lstm_stack_backward(d_top, d_state, caches, d_phi)
        d_grad = preprocess_backward(dx, grad, self.preprocess, self.p) if need_d_grad else None
        return d_phi, d_prev, d_grad


# ---------------------------------------------------------------------------------------------
# RNNprop (Lv, Jiang & Li 2017, section 4.3 "RNNprop Model")
# ---------------------------------------------------------------------------------------------

class RNNprop(LearnedOptimizer):
    """RNNprop: the LSTM optimizer fed with Adam-like relative gradients (Lv et al. 2017, sec. 4.3).

        m_t = beta1 m_{t-1} + (1 - beta1) g_t,    v_t = beta2 v_{t-1} + (1 - beta2) g_t^2     (9.1)
        m^_t = m_t / (1 - beta1^t),               v^_t = v_t / (1 - beta2^t)                  (9.1)
        x_t = ( m^_t / (sqrt(v^_t) + eps),  g_t / (sqrt(v^_t) + eps) )  relative inputs, (n, 2) (9.2)
        z_t = ELU(x_t W_in + b_in)                                       preprocessing, (n, 20)
        h_t = LSTM_2(LSTM_1(z_t))                                        (n, 20)
        update_t = -alpha tanh(h_t W_out + b_out)                       alpha = 0.1          (9.3)

    Dividing by sqrt(v^) makes the inputs invariant to a rescaling of f, as Adam's step is.
    """

    kind = "rnnprop"

    def __init__(self, hidden=20, num_layers=2, beta1=0.95, beta2=0.95, eps=1e-8, alpha=0.1, phi=None):
        super().__init__(hidden, num_layers, phi, beta1=beta1, beta2=beta2, eps=eps, alpha=alpha)
        self.beta1, self.beta2, self.eps, self.alpha = float(beta1), float(beta2), float(eps), float(alpha)

    def config(self):
        return dict(kind=self.kind, hidden=self.hidden, num_layers=self.num_layers, beta1=self.beta1,
                    beta2=self.beta2, eps=self.eps, alpha=self.alpha)

    def init_params(self, rng, dtype="float32"):
        H = self.hidden
        phi = {"Win": asarray(rng.uniform(-1 / math.sqrt(2), 1 / math.sqrt(2), (2, H)), dtype),  # (2, H)
               "bin": xp.zeros((H,), dtype=as_dtype(dtype))}                                      # (H,)
        phi.update(init_lstm_params(rng, H, H, self.num_layers, dtype))
        phi["Wout"] = asarray(rng.uniform(-1 / math.sqrt(H), 1 / math.sqrt(H), (H, 1)), dtype)  # (H, 1)
        phi["bout"] = xp.zeros((1,), dtype=as_dtype(dtype))                                     # (1,)
        return phi

    def init_state(self, n, dtype="float32"):
        state = self.lstm_state(n, as_dtype(dtype))
        state["m"] = xp.zeros((n,), dtype=as_dtype(dtype))
        state["v"] = xp.zeros((n,), dtype=as_dtype(dtype))
        state["t"] = 0                                                     # steps taken (a number)
        return state

    def relative_inputs(self, grad, state):
        """The Adam-like moving averages (9.1) and the two relative inputs (9.2) of section 4.3, with
        the eps of section 5 in the denominators; returns x (n, 2) and parts."""
        t = state["t"] + 1
        m = self.beta1 * state["m"] + (1.0 - self.beta1) * grad            # (n,)
        v = self.beta2 * state["v"] + (1.0 - self.beta2) * grad * grad     # (n,)
        c1, c2 = 1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t              # bias corrections
        sqrt_v = xp.sqrt(v / c2)                                           # (n,)
        denom = sqrt_v + self.eps                                          # (n,)
        x = xp.stack([(m / c1) / denom, grad / denom], axis=1)             # (n, 2)
        return x, (t, m, v, c1, c2, sqrt_v, denom)

    def step_forward(self, phi, grad, state):
        """grad (n,) -> update (n,), the new state, and the cache for step_backward: the relative
        inputs, the ELU layer, the LSTM stack and update = -alpha tanh(...) (9.3), section 4.3."""
        x, parts = self.relative_inputs(grad, state)                       # (n, 2)
        pre, layer_in = linear_forward(x, phi["Win"], phi["bin"])          # (n, H)
        z, elu_cache = elu_forward(pre)                                    # (n, H)
        top, new_state, caches = lstm_stack_forward(phi, z, state, self.num_layers)  # (n, H)
        out, readout = linear_forward(top, phi["Wout"], phi["bout"])       # (n, 1)
        y, tanh_cache = tanh_forward(out)                                  # (n, 1)
        update = -self.alpha * y[:, 0]                                     # (n,)
        t, m, v = parts[:3]
        new_state.update(m=m, v=v, t=t)
        return update, new_state, (grad, parts, layer_in, elu_cache, caches, readout, tanh_cache)

    def step_backward(self, phi, d_update, d_state, cache, need_d_grad=False):
        """Backward of step_forward: d_phi, dL/d state_t, and dL/d grad_t if need_d_grad.

        Back through -alpha tanh and the read-out (9.7), the LSTM stack, ELU (9.8) and the input
        layer (9.9), by the layer pairs of minil2o.layers; d_phi is the step's term of (4.4). With
        need_d_grad, also through the relative inputs and the moving averages (m and v carry
        gradient back to earlier steps' gradients)."""
        grad, parts, layer_in, elu_cache, caches, readout, tanh_cache = cache
        d_phi = self.zeros_like_phi(phi)
        d_out = tanh_backward((-self.alpha * d_update)[:, None], tanh_cache)   # (n, 1)
        d_top, dWout, dbout = linear_backward(d_out, readout)              # (n, H), (H, 1), (1,)
        d_phi["Wout"] += dWout
        d_phi["bout"] += dbout
        d_z, d_prev = lstm_stack_backward(d_top, d_state, caches, d_phi)   # (n, H)
        d_pre = elu_backward(d_z, elu_cache)                               # (n, H)
        d_x, dWin, dbin = linear_backward(d_pre, layer_in)                 # (n, 2), (2, H), (H,)
        d_phi["Win"] += dWin
        d_phi["bin"] += dbin
        d_prev["t"] = 0
        if not need_d_grad:  # m and v do not depend on phi: nothing to carry back
            d_prev["m"] = d_prev["v"] = 0.0
            return d_phi, d_prev, None
        d_prev["m"], d_prev["v"], d_grad = self.relative_inputs_backward(d_x, grad, d_state, parts)
        return d_phi, d_prev, d_grad

    def relative_inputs_backward(self, d_x, grad, d_state, parts):
        """Backward of relative_inputs, (9.10) to (9.13): from d_x (n, 2) and the gradients on m_t,
        v_t from the next step, to dL/d grad_t and to the gradients on m_{t-1}, v_{t-1}:
            d denom = -(d_x0 m^ + d_x1 g) / denom^2,   d v = d denom / (2 sqrt(v^)) / c2 + d v_next
            d m = d_x0 / (denom c1) + d m_next
            d g = d_x1 / denom + (1 - beta1) d m + 2 (1 - beta2) g d v
        """
        t, m, v, c1, c2, sqrt_v, denom = parts
        d_x0, d_x1 = d_x[:, 0], d_x[:, 1]
        d_denom = -(d_x0 * (m / c1) + d_x1 * grad) / (denom * denom)       # (n,)
        safe = xp.where(sqrt_v > 0, sqrt_v, xp.ones_like(sqrt_v))
        d_v = xp.where(sqrt_v > 0, d_denom / (2.0 * safe), xp.zeros_like(sqrt_v)) / c2 + d_state["v"]
        d_m = d_x0 / (denom * c1) + d_state["m"]                           # (n,)
        d_grad = d_x1 / denom + (1.0 - self.beta1) * d_m + 2.0 * (1.0 - self.beta2) * grad * d_v
        return self.beta1 * d_m, self.beta2 * d_v, d_grad
