"""Layers as forward/backward pairs (the CS231n pattern).

Every `<layer>_forward(...)` returns `(out, cache)`; the matching `<layer>_backward(dout, cache)`
returns the gradient of the loss with respect to each input, given dout = dL/d(out). Each backward
pass is derived in its docstring and checked against central differences in tests/test_layers.py.
All functions call the backend's `xp`, so they run on NumPy, CuPy and array_api_strict.
"""
from .backend import xp


def sigmoid(x):
    """sigma(x) = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2, which never overflows."""
    return 0.5 * xp.tanh(0.5 * x) + 0.5


# ---------------------------------------------------------------------------------------------
# LSTM (Hochreiter & Schmidhuber 1997, with a forget gate): used by the learned optimizers, where
# the N rows are the N coordinates of the optimizee, and by the sequence optimizee of RNNprop.
# ---------------------------------------------------------------------------------------------

def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step for N independent rows.

        a = x Wx + h_prev Wh + b                          gate pre-activations, (N, 4H)
        i, f, o = sigma(a_i), sigma(a_f), sigma(a_o)      input, forget, output gates
        g = tanh(a_g)                                     candidate cell
        c = f * c_prev + i * g                            new cell
        h = o * tanh(c)                                   new hidden state

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

        dc_total = dc + dh * o * (1 - tanh(c)^2)
        do = dh * tanh(c);  di = dc_total * g;  df = dc_total * c_prev;  dg = dc_total * i
        dc_prev = dc_total * f
        da = [di * i(1-i), df * f(1-f), do * o(1-o), dg * (1-g^2)]            (N, 4H)
        dx = da Wx^T;  dh_prev = da Wh^T;  dWx = x^T da;  dWh = h_prev^T da;  db = sum_rows da

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
