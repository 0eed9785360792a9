"""The learned optimizers: the coordinatewise LSTM of Andrychowicz et al. 2016 ("DM optimizer")
and RNNprop of Lv, Jiang & Li 2017, each with a forward pass and a hand-derived backward pass for one
step of optimization.

Both see the optimizee only through its gradient, one coordinate at a time: the n coordinates are the
n rows of every array, and the same small network (parameters phi, a dict of named arrays) serves all
of them, each row with its own recurrent state. One step is

    update_t, state_{t+1} = m(grad_t, state_t; phi)          theta_{t+1} = theta_t + update_t   (1)

and the interface is shared with the hand-designed optimizers:

    state = opt.init_state(n)
    update, state = opt.step(grad, state)                         (uses opt.phi)

For meta-training, the step is split into a forward pass that keeps what the backward pass needs,

    update, state, cache = opt.step_forward(phi, grad, state)
    d_phi, d_state, d_grad = opt.step_backward(phi, d_update, d_state_next, cache)

where d_state_next is the gradient of the meta-loss with respect to the state this step produced, and
d_grad its gradient with respect to this step's input gradient (needed only when second derivatives
are kept; see minil2o/meta.py).
"""
import math

import numpy as np

from ..backend import asarray, get_backend, xp
from ..backend import dtype as as_dtype
from ..errors import UsageError
from ..layers import lstm_step_backward, lstm_step_forward

PREPROCESSING = ("none", "log", "clamped")


# ---------------------------------------------------------------------------------------------
# The LSTM stack shared by both optimizers: num_layers LSTMs of `hidden` units, one row per coordinate.
# ---------------------------------------------------------------------------------------------

def init_lstm_params(rng, input_dim, hidden, num_layers, dtype):
    """LSTM weights W ~ U(-1/sqrt(H), 1/sqrt(H)), biases zero. Returns a dict of named arrays."""
    k = 1.0 / math.sqrt(hidden)
    phi = {}
    for layer in range(1, num_layers + 1):
        d_in = input_dim if layer == 1 else hidden
        phi[f"Wx{layer}"] = asarray(rng.uniform(-k, k, (d_in, 4 * hidden)), dtype)   # (D, 4H)
        phi[f"Wh{layer}"] = asarray(rng.uniform(-k, k, (hidden, 4 * hidden)), dtype)  # (H, 4H)
        phi[f"b{layer}"] = xp.zeros((4 * hidden,), dtype=as_dtype(dtype))                      # (4H,)
    return phi


FUSED_KERNELS = True
"""On the cupy backend, run the LSTM cell's elementwise work as fused CuPy kernels (below), and the
weight gradients as chunked products. tests/test_bench.py checks on a GPU that they agree with the
plain xp layers, which stay the reference (set this to False to run those on the GPU too)."""


def lstm_step_functions():
    """The (forward, backward) pair for one LSTM step: the fused CuPy kernels on the GPU when
    FUSED_KERNELS is on, else the plain xp layers of minil2o.layers (the reference)."""
    if FUSED_KERNELS and get_backend() == "cupy":
        return fused_lstm_step_forward, fused_lstm_step_backward
    return lstm_step_forward, lstm_step_backward


def lstm_stack_forward(phi, x, state, num_layers):
    """Run x (n, D) through the stacked LSTMs. state holds h{l}, c{l} (n, H) for l = 1..L.
    Returns the top hidden state (n, H), the new state and the per-layer caches."""
    step_forward = lstm_step_functions()[0]
    new_state, caches = {}, []
    for layer in range(1, num_layers + 1):
        x, c, cache = step_forward(x, state[f"h{layer}"], state[f"c{layer}"],
                                   phi[f"Wx{layer}"], phi[f"Wh{layer}"], phi[f"b{layer}"])
        new_state[f"h{layer}"], new_state[f"c{layer}"] = x, c
        caches.append(cache)
    return x, new_state, caches


def lstm_stack_backward(d_top, d_state, caches, d_phi):
    """Backward of lstm_stack_forward. d_top (n, H) is the gradient on the top hidden state from
    this step's output; d_state the gradients on the state this step produced (from the next step).
    Accumulates into d_phi; returns the gradient on the input x (n, D) and on the previous state."""
    step_backward = lstm_step_functions()[1]
    d_prev, dx = {}, d_top
    for layer in range(len(caches), 0, -1):
        dh = dx + d_state[f"h{layer}"]                                                 # (n, H)
        dx, dh_prev, dc_prev, dWx, dWh, db = step_backward(dh, d_state[f"c{layer}"],
                                                           caches[layer - 1])
        d_phi[f"Wx{layer}"] += dWx
        d_phi[f"Wh{layer}"] += dWh
        d_phi[f"b{layer}"] += db
        d_prev[f"h{layer}"], d_prev[f"c{layer}"] = dh_prev, dc_prev
    return dx, d_prev


# ---------------------------------------------------------------------------------------------
# The same LSTM step with its elementwise work fused into one CuPy kernel each way (GPU only).
# Every thread handles one (row, unit) pair: it reads the four gate pre-activations of that unit
# and writes the gates, c, tanh(c) and h (forward), or the four entries of da and dc_prev
# (backward), so each array is read and written once instead of once per operation. The
# equations are those of lstm_step_forward / lstm_step_backward; tests/test_bench.py checks that
# both give the same numbers.
# ---------------------------------------------------------------------------------------------

_CELL_FORWARD = """
    ptrdiff_t r = (ptrdiff_t)(i / H) * 4 * H + i % H;       // row i / H, unit i % H, gate i
    T gi = 1 / (1 + exp(-a[r])), gf = 1 / (1 + exp(-a[r + H])), go = 1 / (1 + exp(-a[r + 2 * H]));
    T gg = tanh(a[r + 3 * H]);
    gates[r] = gi; gates[r + H] = gf; gates[r + 2 * H] = go; gates[r + 3 * H] = gg;
    c = gf * c_prev + gi * gg;
    tanh_c = tanh(c);
    h = go * tanh_c;
"""

_CELL_BACKWARD = """
    ptrdiff_t r = (ptrdiff_t)(i / H) * 4 * H + i % H;
    T gi = gates[r], gf = gates[r + H], go = gates[r + 2 * H], gg = gates[r + 3 * H];
    T dct = dc + dh * go * (1 - tanh_c * tanh_c);
    da[r] = dct * gg * gi * (1 - gi);
    da[r + H] = dct * c_prev * gf * (1 - gf);
    da[r + 2 * H] = dh * tanh_c * go * (1 - go);
    da[r + 3 * H] = dct * gi * (1 - gg * gg);
    dc_prev = dct * gf;
"""

_cupy_kernels = {}


def cupy_cell_kernels():
    """The two cupy.ElementwiseKernel objects (built on first use; CuPy compiles and caches them)."""
    if not _cupy_kernels:
        import cupy
        _cupy_kernels["forward"] = cupy.ElementwiseKernel(
            "raw T a, T c_prev, int32 H", "raw T gates, T c, T tanh_c, T h",
            _CELL_FORWARD, "minil2o_lstm_cell_forward")
        _cupy_kernels["backward"] = cupy.ElementwiseKernel(
            "raw T gates, T c_prev, T tanh_c, T dh, T dc, int32 H", "raw T da, T dc_prev",
            _CELL_BACKWARD, "minil2o_lstm_cell_backward")
    return _cupy_kernels


def fused_lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """lstm_step_forward (same inputs, outputs and cache) with the gates and the cell computed by
    one CuPy kernel after the matrix products a = x Wx + h_prev Wh + b: (N, 4H)."""
    import cupy
    H = h_prev.shape[1]
    a = cupy.ascontiguousarray(x @ Wx + h_prev @ Wh + b)   # (N, 4H)
    gates = cupy.empty_like(a)                             # [i, f, o, g], (N, 4H)
    c, tanh_c, h = (cupy.empty_like(a, shape=c_prev.shape) for _ in range(3))  # (N, H) each
    cupy_cell_kernels()["forward"](a, c_prev, H, gates, c, tanh_c, h)
    i, f, o, g = (gates[:, k * H:(k + 1) * H] for k in range(4))  # (N, H) views
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c)


def fused_lstm_step_backward(dh, dc, cache):
    """lstm_step_backward with da: (N, 4H) and dc_prev: (N, H) computed by one CuPy kernel; the
    matrix products are those of lstm_step_backward. The gates are read whole from the (N, 4H)
    array that the cache's i, f, o, g are column views of (i.base)."""
    import cupy
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    whole = i.base is not None and i.base.shape == (i.shape[0], 4 * i.shape[1])
    gates = cupy.ascontiguousarray(i.base if whole else cupy.concatenate([i, f, o, g], axis=1))
    da, dc_prev = cupy.empty_like(gates), cupy.empty_like(tanh_c)  # (N, 4H), (N, H)
    cupy_cell_kernels()["backward"](gates, c_prev, tanh_c, dh, dc, h_prev.shape[1], da, dc_prev)
    dx = da @ Wx.T                                         # (N, D)
    dh_prev = da @ Wh.T                                    # (N, H)
    dWx = tall_product(x, da)                              # (D, 4H) = x^T da
    dWh = tall_product(h_prev, da)                         # (H, 4H) = h_prev^T da
    db = cupy.sum(da, axis=0)                              # (4H,)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def tall_product(a, b, rows=16384):
    """a^T b for tall a: (N, D) and b: (N, M) on the GPU. As one GEMM, a sum over N in the millions
    into a small (D, M) result keeps few of the GPU's cores busy (measured: 12 ms for N = 1e6,
    D = 20, M = 80). Splitting the rows into chunks of `rows` gives one batched GEMM of
    (C, D, rows) @ (C, rows, M) with C times the parallelism, then a sum over the C partial results."""
    import cupy
    chunks = a.shape[0] // rows
    if chunks < 2:
        return a.T @ b                                     # (D, M)
    head = chunks * rows
    parts = cupy.matmul(a[:head].reshape(chunks, rows, -1).transpose(0, 2, 1),
                        b[:head].reshape(chunks, rows, -1))  # (C, D, M)
    return parts.sum(axis=0) + a[head:].T @ b[head:]       # (D, M)


class LearnedOptimizer:
    """What the DM optimizer and RNNprop share: parameters phi, an LSTM stack, the plain step."""

    kind = None

    def __init__(self, hidden=20, num_layers=2, phi=None):
        if int(hidden) != hidden or hidden < 1:
            raise UsageError(f"hidden must be a positive integer, got {hidden!r}")
        if int(num_layers) != num_layers or num_layers < 1:
            raise UsageError(f"num_layers must be a positive integer, got {num_layers!r}")
        self.hidden, self.num_layers, self.phi = int(hidden), int(num_layers), phi

    def lstm_state(self, n, dtype):
        return {f"{hc}{layer}": xp.zeros((n, self.hidden), dtype=dtype)
                for layer in range(1, self.num_layers + 1) for hc in "hc"}

    def zeros_like_phi(self, phi):
        return {k: xp.zeros_like(v) for k, v in phi.items()}

    def step(self, grad, state):
        """theta_{t+1} = theta_t + update; the interface shared with hand-designed optimizers."""
        if self.phi is None:
            raise UsageError(f"{self.kind} optimizer has no parameters: call init_params or load a checkpoint")
        update, state, _ = self.step_forward(self.phi, grad, state)
        return update, state

    def param_shapes(self):
        phi = self.init_params(np.random.default_rng(0), "float64")
        return {k: tuple(v.shape) for k, v in phi.items()}


# ---------------------------------------------------------------------------------------------
# The DM optimizer (Andrychowicz et al. 2016, section 2.1 and Appendix A)
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
    'log': d(log|g|/p)/dg = 1 / (p g) and d(sign g)/dg = 0 when |g| >= e^-p, else (0, e^p)."""
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
    """Coordinatewise two-layer LSTM optimizer (eq. 1 and Fig. 3 of Andrychowicz et al. 2016):

        x_t = preprocess(grad_t)                          (Appendix A, or none)
        h_t, state = LSTM_2(LSTM_1(x_t, state))           20 units per layer, shared weights
        update_t = output_scale * (h_t W_out + b_out)     linear read-out, then postprocessing

    output_scale is 0.1 on MNIST and 1.0 on quadratics in the paper.
    """

    kind = "dm"

    def __init__(self, hidden=20, num_layers=2, preprocess="log", p=10.0, output_scale=0.1, phi=None):
        super().__init__(hidden, num_layers, phi)
        if preprocess not in PREPROCESSING:
            raise UsageError(f"unknown preprocessing {preprocess!r}: choose one of {', '.join(PREPROCESSING)}")
        self.preprocess, self.p, self.output_scale = preprocess, float(p), float(output_scale)
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
        """grad (n,) -> update (n,), the new state, and the cache for step_backward."""
        x = preprocess_forward(grad, self.preprocess, self.p)                 # (n, D)
        top, new_state, caches = lstm_stack_forward(phi, x, state, self.num_layers)  # (n, H)
        update = self.output_scale * (top @ phi["Wout"] + phi["bout"])[:, 0]  # (n,)
        return update, new_state, (grad, top, caches)

    def step_backward(self, phi, d_update, d_state, cache, need_d_grad=False):
        """d_update (n,): dL/d update_t; d_state: dL/d state_{t+1}. Returns d_phi, dL/d state_t, and
        dL/d grad_t (None unless need_d_grad)."""
        grad, top, caches = cache
        d_phi = self.zeros_like_phi(phi)
        d_out = self.output_scale * d_update[:, None]                         # (n, 1)
        d_phi["Wout"] += top.T @ d_out                                        # (H, 1)
        d_phi["bout"] += xp.sum(d_out, axis=0)                                # (1,)
        d_top = d_out @ phi["Wout"].T                                         # (n, H)
        dx, d_prev = lstm_stack_backward(d_top, d_state, caches, d_phi)
        d_grad = preprocess_backward(dx, grad, self.preprocess, self.p) if need_d_grad else None
        return d_phi, d_prev, d_grad


# ---------------------------------------------------------------------------------------------
# RNNprop (Lv, Jiang & Li 2017, section 4)
# ---------------------------------------------------------------------------------------------

def elu(x):
    """ELU(x) = x for x > 0, exp(x) - 1 otherwise (exp of min(x, 0), so it never overflows)."""
    return xp.where(x > 0, x, xp.exp(xp.minimum(x, 0.0)) - 1.0)


class RNNprop(LearnedOptimizer):
    """RNNprop: the LSTM optimizer fed with Adam-like relative gradients (Lv et al. 2017, sec. 4).

        m_t = beta1 m_{t-1} + (1 - beta1) g_t,    v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
        m^_t = m_t / (1 - beta1^t),               v^_t = v_t / (1 - beta2^t)
        x_t = ( m^_t / (sqrt(v^_t) + eps),  g_t / (sqrt(v^_t) + eps) )      relative inputs, (n, 2)
        z_t = ELU(x_t W_in + b_in)                                           preprocessing, (n, 20)
        h_t = LSTM_2(LSTM_1(z_t))                                            (n, 20)
        update_t = -alpha tanh(h_t W_out + b_out)                           alpha = 0.1

    Dividing by sqrt(v^) makes the inputs invariant to a rescaling of f, as Adam's step is.
    """

    kind = "rnnprop"

    def __init__(self, hidden=20, num_layers=2, beta1=0.95, beta2=0.95, eps=1e-8, alpha=0.1, phi=None):
        super().__init__(hidden, num_layers, phi)
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
        """The Adam-like moving averages and the two relative inputs; returns x (n, 2) and parts."""
        t = state["t"] + 1
        m = self.beta1 * state["m"] + (1.0 - self.beta1) * grad            # (n,)
        v = self.beta2 * state["v"] + (1.0 - self.beta2) * grad * grad     # (n,)
        c1, c2 = 1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t              # bias corrections
        sqrt_v = xp.sqrt(v / c2)                                           # (n,)
        denom = sqrt_v + self.eps                                          # (n,)
        x = xp.stack([(m / c1) / denom, grad / denom], axis=1)             # (n, 2)
        return x, (t, m, v, c1, c2, sqrt_v, denom)

    def step_forward(self, phi, grad, state):
        """grad (n,) -> update (n,), the new state, and the cache for step_backward."""
        x, parts = self.relative_inputs(grad, state)                       # (n, 2)
        pre = x @ phi["Win"] + phi["bin"]                                  # (n, H)
        z = elu(pre)                                                       # (n, H)
        top, new_state, caches = lstm_stack_forward(phi, z, state, self.num_layers)  # (n, H)
        out = xp.tanh(top @ phi["Wout"] + phi["bout"])[:, 0]               # (n,)
        update = -self.alpha * out                                         # (n,)
        t, m, v = parts[:3]
        new_state.update(m=m, v=v, t=t)
        return update, new_state, (grad, x, pre, z, top, out, caches, parts)

    def step_backward(self, phi, d_update, d_state, cache, need_d_grad=False):
        """Backward of step_forward: d_phi, dL/d state_t, and dL/d grad_t if need_d_grad.

        Through the read-out: d_out = -alpha (1 - tanh^2) d_update; through ELU: d_pre = d_z *
        (1 if pre > 0 else exp(pre)). With need_d_grad, also through the relative inputs and the
        moving averages (m and v carry gradient back to earlier steps' gradients)."""
        grad, x, pre, z, top, out, caches, parts = cache
        d_phi = self.zeros_like_phi(phi)
        d_o = (-self.alpha * d_update * (1.0 - out * out))[:, None]        # (n, 1)
        d_phi["Wout"] += top.T @ d_o                                       # (H, 1)
        d_phi["bout"] += xp.sum(d_o, axis=0)                               # (1,)
        d_z, d_prev = lstm_stack_backward(d_o @ phi["Wout"].T, d_state, caches, d_phi)
        d_pre = d_z * xp.where(pre > 0, xp.ones_like(pre), z + 1.0)        # (n, H); exp(pre) = z + 1
        d_phi["Win"] += x.T @ d_pre                                        # (2, H)
        d_phi["bin"] += xp.sum(d_pre, axis=0)                              # (H,)
        d_prev["t"] = 0
        if not need_d_grad:  # m and v do not depend on phi: nothing to carry back
            d_prev["m"] = d_prev["v"] = 0.0
            return d_phi, d_prev, None
        d_x = d_pre @ phi["Win"].T                                         # (n, 2)
        d_prev["m"], d_prev["v"], d_grad = self.relative_inputs_backward(d_x, grad, d_state, parts)
        return d_phi, d_prev, d_grad

    def relative_inputs_backward(self, d_x, grad, d_state, parts):
        """Backward of relative_inputs: from d_x (n, 2) and the gradients on m_t, v_t from the next
        step, to dL/d grad_t and to the gradients on m_{t-1}, v_{t-1}:
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
