"""The LSTM (Hochreiter & Schmidhuber 1997, with a forget gate) as forward/backward pairs, and the
stacked LSTM of the learned optimizers.

    lstm_step              one step for N independent rows        (N, D) -> (N, H)
    lstm                   an LSTM over a sequence (BPTT)         (N, T, D) -> (N, T, H)
    lstm_step_functions    the (forward, backward) pair of one step that runs: the reference above,
                           the in-place NumPy pair (minil2o.fast_lstm) or the CuPy kernels
    lstm_stack             num_layers LSTMs stacked, one step     (n, D) -> (n, H)

The learned optimizers run the stack with one row per coordinate of the optimizee (Andrychowicz et
al. 2016, section 2.1: "a two-layer LSTM ... shared parameters, but separate hidden states"); the
sequence optimizee of RNNprop (minil2o/problems/sequence.py) runs lstm_forward over time. Each
backward pass is checked against central differences in tests/test_layers.py.
"""
import math
from functools import partial

from .backend import asarray, fused_kernels, get_backend, xp
from .backend import dtype as as_dtype
from .fast_lstm import active_workspace, fast_step_backward, fast_step_forward
from .layers import sigmoid


# ---------------------------------------------------------------------------------------------
# One step, and a sequence: used by the learned optimizers, where the N rows are the N coordinates
# of the optimizee, and by the sequence optimizee of RNNprop.
# ---------------------------------------------------------------------------------------------

def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step for N independent rows.

        a = x Wx + h_prev Wh + b                          gate pre-activations, (N, 4H)   (3.1)
        i, f, o = sigma(a_i), sigma(a_f), sigma(a_o)      input, forget, output gates     (3.2)
        g = tanh(a_g)                                     candidate cell                  (3.2)
        c = f * c_prev + i * g                            new cell                        (3.3)
        h = o * tanh(c)                                   new hidden state                (3.4)

    x: (N, D), h_prev: (N, H), c_prev: (N, H), Wx: (D, 4H), Wh: (H, 4H), b: (4H,); gates in the
    order i, f, o, g. Returns h: (N, H), c: (N, H) and the cache for lstm_step_backward.
    """
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                           # (N, 4H)
    ifo = sigmoid(a[:, :3 * H])                            # (N, 3H)
    i, f, o = ifo[:, :H], ifo[:, H:2 * H], ifo[:, 2 * H:]  # (N, H) each
    g = xp.tanh(a[:, 3 * H:])                              # (N, H)
    c = f * c_prev + i * g                                 # (N, H)
    tanh_c = xp.tanh(c)                                    # (N, H)
    h = o * tanh_c                                         # (N, H)
    cache = (x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c)
    return h, c, cache


def lstm_step_backward(dh, dc, cache):
    """Backward pass of lstm_step_forward.

    dh, dc: (N, H), gradients of the loss with respect to h and c (dc is what flows back from the
    next step's cell; zero at the last step). By the chain rule through the forward equations:

        dc_total = dc + dh * o * (1 - tanh(c)^2)                                           (3.5)
        do = dh * tanh(c);  di = dc_total * g;  df = dc_total * c_prev;  dg = dc_total * i   (3.6)
        dc_prev = dc_total * f                                                             (3.6)
        da = [di * i(1-i), df * f(1-f), do * o(1-o), dg * (1-g^2)]            (N, 4H)      (3.7)
        dx = da Wx^T;  dh_prev = da Wh^T;  dWx = x^T da;  dWh = h_prev^T da;  db = sum_n da  (3.8)

    Returns dx: (N, D), dh_prev: (N, H), dc_prev: (N, H), dWx: (D, 4H), dWh: (H, 4H), db: (4H,).
    """
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dc_total = dc + dh * o * (1.0 - tanh_c * tanh_c)       # (N, H)
    da = xp.concat([dc_total * g * i * (1.0 - i),          # d a_i
                    dc_total * c_prev * f * (1.0 - f),     # d a_f
                    dh * tanh_c * o * (1.0 - o),           # d a_o
                    dc_total * i * (1.0 - g * g)], axis=1)  # d a_g, together (N, 4H)
    dx = da @ Wx.T                                         # (N, D)
    dh_prev = da @ Wh.T                                    # (N, H)
    dc_prev = dc_total * f                                 # (N, H)
    dWx = x.T @ da                                         # (D, 4H)
    dWh = h_prev.T @ da                                    # (H, 4H)
    db = xp.sum(da, axis=0)                                # (4H,)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    """An LSTM over a whole sequence, (3.9): lstm_step_forward at t = 0, ..., T-1, starting from
    the hidden state h0 and a zero cell.

    x: (N, T, D), h0: (N, H), Wx: (D, 4H), Wh: (H, 4H), b: (4H,). Returns the hidden states
    h: (N, T, H) and the cache (one step cache per t) for lstm_backward.
    """
    T = x.shape[1]
    h, c = h0, xp.zeros_like(h0)                           # (N, H) each
    hs, caches = [], []
    for t in range(T):
        h, c, cache = lstm_step_forward(x[:, t, :], h, c, Wx, Wh, b)  # (N, H) each
        hs.append(h)
        caches.append(cache)
    return xp.stack(hs, axis=1), caches                    # (N, T, H)


def lstm_backward(dh, cache):
    """Backward pass of lstm_forward (backpropagation through time, (3.10)).

    dh: (N, T, H), the gradient of the loss with respect to every hidden state from outside the
    LSTM. The state h_t also feeds step t+1, so the gradient entering step t is
    dh[:, t] + dh_prev (from step t+1), and the cell gradient dc_prev of step t+1 enters step t as
    its dc (zero after the last step). Weights are shared across steps, so their gradients add.

    Returns dx: (N, T, D), dh0: (N, H), dWx: (D, 4H), dWh: (H, 4H), db: (4H,).
    """
    T = dh.shape[1]
    dh_next = xp.zeros_like(dh[:, 0, :])                   # (N, H)
    dc_next = xp.zeros_like(dh_next)                       # (N, H)
    dxs = [None] * T
    dWx = dWh = db = 0.0
    for t in reversed(range(T)):
        dxs[t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t, :] + dh_next, dc_next, cache[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return xp.stack(dxs, axis=1), dh_next, dWx, dWh, db


# ---------------------------------------------------------------------------------------------
# Which step runs: chosen here, by the backend
# ---------------------------------------------------------------------------------------------

def lstm_step_functions():
    """The (forward, backward) pair for one LSTM step, chosen here and nowhere else.

    * On the cupy backend, while fused kernels are on (minil2o.backend.fused_kernels; the default,
      switched off inside `with use_fused_kernels(False):`), the pair of minil2o.kernels: the same
      equations with the cell's elementwise work fused into one CuPy kernel each way
      (tests/test_bench.py checks on a GPU that both give the same numbers).
    * On the numpy backend, inside an unroll that owns a workspace (minil2o.fast_lstm.Workspace,
      given to minil2o.meta.unroll), fast_step_forward / fast_step_backward: the same equations,
      block by block of rows, written in place into the workspace's reused arrays (the same
      numbers to rounding; tests/test_fast_lstm.py). NumPy only: the array API has no out=.
    * Everywhere else lstm_step_forward / lstm_step_backward above, the reference.
    """
    if fused_kernels():
        from .kernels import fused_lstm_step_backward, fused_lstm_step_forward
        return fused_lstm_step_forward, fused_lstm_step_backward
    workspace = active_workspace()
    if workspace is not None and get_backend() == "numpy":
        return partial(fast_step_forward, workspace), partial(fast_step_backward, workspace)
    return lstm_step_forward, lstm_step_backward


# ---------------------------------------------------------------------------------------------
# The LSTM stack of the learned optimizers: num_layers LSTMs of `hidden` units, one row per
# coordinate, one step at a time.
# ---------------------------------------------------------------------------------------------

def init_lstm_params(rng, input_dim, hidden, num_layers, dtype):
    """LSTM weights W ~ U(-1/sqrt(H), 1/sqrt(H)), biases zero. Returns a dict of named arrays:
    Wx{l}: (D_l, 4H), Wh{l}: (H, 4H), b{l}: (4H,) for l = 1..num_layers (D_1 = input_dim, else H)."""
    k = 1.0 / math.sqrt(hidden)
    phi = {}
    for layer in range(1, num_layers + 1):
        d_in = input_dim if layer == 1 else hidden
        phi[f"Wx{layer}"] = asarray(rng.uniform(-k, k, (d_in, 4 * hidden)), dtype)   # (D, 4H)
        phi[f"Wh{layer}"] = asarray(rng.uniform(-k, k, (hidden, 4 * hidden)), dtype)  # (H, 4H)
        phi[f"b{layer}"] = xp.zeros((4 * hidden,), dtype=as_dtype(dtype))             # (4H,)
    return phi


def lstm_stack_forward(phi, x, state, num_layers):
    """Run x (n, D) through the stacked LSTMs, one row per coordinate (Andrychowicz et al.,
    section 2.1). state holds h{l}, c{l} (n, H) for l = 1..L.
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
    """Backward of lstm_stack_forward (section 2.1's stack). d_top (n, H) is the gradient on the
    top hidden state from this step's output; d_state the gradients on the state this step produced
    (from the next step). A layer's hidden state feeds the layer above and the next step, so its
    gradient is the sum of the two (4.8). Accumulates into d_phi; returns the gradient on the input
    x (n, D) and on the previous state."""
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
