"""Layers as forward/backward pairs (the CS231n pattern).

Every `<layer>_forward(...)` returns `(out, cache)`; the matching `<layer>_backward(dout, cache)`
returns the gradient of the loss with respect to each input, given dout = dL/d(out). Each backward
pass is derived in its docstring and checked against central differences in tests/test_layers.py.
All functions call the backend's `xp`, so they run on NumPy, CuPy and array_api_strict.

    linear                 out = x W + b                          (N, D) -> (N, M)
    sigmoid tanh relu elu  elementwise activations                any shape
    softmax_cross_entropy  mean cross entropy and its gradient    (N, C) -> scalar
    conv2d                 k x k convolution, SAME, stride 1      (N, C, H, W) -> (N, F, H, W)
    maxpool2x2             2x2 max pooling, stride 2              (N, C, H, W) -> (N, C, H/2, W/2)
    batchnorm              batch norm with batch statistics       (N, D) or (N, C, H, W)
    lstm_step, lstm        one LSTM step; an LSTM over a sequence (N, T, D) -> (N, T, H)

Images are laid out NCHW (batch, channel, row, column). No function loops over examples or pixels:
a convolution is one matrix product on an im2col matrix built from k*k shifted slices.
"""
import numpy as np

from .backend import asarray, xp
from .errors import DataError, UsageError


def sigmoid(x):
    """sigma(x) = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2, which never overflows."""
    return 0.5 * xp.tanh(0.5 * x) + 0.5


# ---------------------------------------------------------------------------------------------
# Fully connected layer and elementwise activations
# ---------------------------------------------------------------------------------------------

def linear_forward(x, W, b):
    """Affine layer out = x W + b.

    x: (N, D), W: (D, M), b: (M,). Returns out: (N, M) and the cache (x, W).
    """
    out = x @ W + b                                        # (N, M)
    return out, (x, W)


def linear_backward(dout, cache):
    """Backward pass of linear_forward.

    out_nm = sum_d x_nd W_dm + b_m, so with dout: (N, M) = dL/d(out):
        dx = dout W^T        dL/dx_nd = sum_m dout_nm W_dm               (N, D)
        dW = x^T dout        dL/dW_dm = sum_n x_nd dout_nm               (D, M)
        db = sum_n dout_n    (b is added to every row)                   (M,)
    """
    x, W = cache
    dx = dout @ W.T                                        # (N, D)
    dW = x.T @ dout                                        # (D, M)
    db = xp.sum(dout, axis=0)                              # (M,)
    return dx, dW, db


def sigmoid_forward(x):
    """out = sigma(x) elementwise, any shape; the cache is out itself."""
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    """sigma'(x) = sigma(x) (1 - sigma(x)), so dx = dout * out * (1 - out)."""
    out = cache
    return dout * out * (1.0 - out)


def tanh_forward(x):
    """out = tanh(x) elementwise, any shape; the cache is out itself."""
    out = xp.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """tanh'(x) = 1 - tanh(x)^2, so dx = dout * (1 - out^2)."""
    out = cache
    return dout * (1.0 - out * out)


def relu_forward(x):
    """out = max(x, 0) elementwise, any shape; the cache is x."""
    return xp.maximum(x, 0.0), x


def relu_backward(dout, cache):
    """relu'(x) = 1 where x > 0, else 0 (at x = 0 we take 0), so dx = dout * [x > 0]."""
    x = cache
    return dout * xp.astype(x > 0, dout.dtype)


def elu_forward(x, alpha=1.0):
    """Exponential linear unit (Clevert et al. 2016), elementwise, any shape:

        elu(x) = x                        for x > 0
                 alpha (exp(x) - 1)       for x <= 0

    exp is evaluated at min(x, 0) only, so a large positive x cannot overflow. The cache is
    (x, out, alpha). RNNprop's input layer (minil2o.optimizers.learned), the MLP's ELU
    (minil2o.problems.mlp) and the engine's Tensor.elu (minil2o.autograd) all compute this.
    """
    neg = alpha * (xp.exp(xp.minimum(x, 0.0)) - 1.0)       # the x <= 0 branch, finite everywhere
    out = xp.where(x > 0, x, neg)
    return out, (x, out, alpha)


def elu_backward(dout, cache):
    """elu'(x) = 1 for x > 0 and alpha exp(x) = out + alpha for x <= 0, so
    dx = dout where x > 0, and dout * (out + alpha) elsewhere."""
    x, out, alpha = cache
    return xp.where(x > 0, dout, dout * (out + alpha))


ACTIVATIONS = {
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "relu": (relu_forward, relu_backward),
    "elu": (elu_forward, elu_backward),
}
"""name -> (forward, backward) for the activations above (elu with alpha = 1)."""


# ---------------------------------------------------------------------------------------------
# Classification loss
# ---------------------------------------------------------------------------------------------

def one_hot(labels, num_classes, dtype="float32"):
    """Host integer labels (N,) as a backend one-hot matrix Y: (N, num_classes), Y[n, y_n] = 1.

    Built on the host (numpy) and moved once with `asarray`, because integer-array indexing on the
    device is not part of the array API standard. dtype: 'float32', 'float64' or a backend dtype.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"labels of shape {labels.shape} and dtype {labels.dtype} are not allowed: "
                        "use a 1-D integer array")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"labels in [{labels.min()}, {labels.max()}] are not allowed: "
                        f"use 0 .. {num_classes - 1} for num_classes={num_classes}")
    Y = np.zeros((labels.shape[0], num_classes))           # (N, C)
    Y[np.arange(labels.shape[0]), labels] = 1.0
    return asarray(Y, dtype=dtype)


def softmax_cross_entropy(logits, y):
    """Mean cross entropy of softmax(logits) against one-hot targets, and its gradient.

    logits: (N, C) scores; y: (N, C) one-hot rows (see one_hot). With the shifted scores
    z_n = logits_n - max_c logits_nc (the same softmax, and exp cannot overflow),

        log p_nc = z_nc - log sum_c' exp(z_nc')                         (stable log-sum-exp)
        L = -(1/N) sum_n sum_c y_nc log p_nc
        dL/dlogits_nc = (p_nc - y_nc) / N                                (rows of y sum to 1)

    Returns the loss as a 0-d array and dlogits: (N, C).
    """
    N = logits.shape[0]
    z = logits - xp.max(logits, axis=1, keepdims=True)     # (N, C)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))  # (N, C)
    loss = -xp.sum(y * log_p) / N
    dlogits = (xp.exp(log_p) - y) / N                      # (N, C)
    return loss, dlogits


# ---------------------------------------------------------------------------------------------
# Convolution (SAME padding, stride 1) by im2col, and 2x2 max pooling
# ---------------------------------------------------------------------------------------------

def im2col(x, k):
    """The k x k neighbourhoods of every pixel, as the columns of one matrix: (C*k*k, N*H*W).

    x: (N, C, H, W), k odd. With p = (k - 1) // 2 and xpad = x padded by p zeros on each side,
        cols[(c, i, j), (n, h, w)] = xpad[n, c, h + i, w + j]
    built from the k*k shifted slices xpad[:, :, i:i+H, j:j+W], one per kernel offset (i, j).
    The channel axis goes first (xpad is kept as (C, N, H+2p, W+2p)) so that the convolution of
    all N images is a single 2-D matrix product.
    """
    N, C, H, W = x.shape
    p = (k - 1) // 2
    xpad = xp.zeros((C, N, H + 2 * p, W + 2 * p), dtype=x.dtype)
    xpad[:, :, p:p + H, p:p + W] = xp.permute_dims(x, (1, 0, 2, 3))     # zero padding
    shifted = [xpad[:, :, i:i + H, j:j + W] for i in range(k) for j in range(k)]
    cols = xp.stack(shifted, axis=1)                       # (C, k*k, N, H, W)
    return xp.reshape(cols, (C * k * k, N * H * W))


def col2im(dcols, x_shape, k):
    """The adjoint of im2col: add every column entry back onto the pixel it was copied from.

    dcols: (C*k*k, N*H*W); x_shape: (N, C, H, W). im2col copies xpad[n, c, h+i, w+j] into
    cols[(c, i, j), (n, h, w)], so its transpose sums, for each offset (i, j),
    dxpad[:, :, i:i+H, j:j+W] += dcols[(:, i, j), :], and dx is dxpad without its border.
    Returns dx: (N, C, H, W).
    """
    N, C, H, W = x_shape
    p = (k - 1) // 2
    dcols = xp.reshape(dcols, (C, k * k, N, H, W))
    dxpad = xp.zeros((C, N, H + 2 * p, W + 2 * p), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxpad[:, :, i:i + H, j:j + W] += dcols[:, i * k + j, :, :, :]
    return xp.permute_dims(dxpad[:, :, p:p + H, p:p + W], (1, 0, 2, 3))


def conv2d_forward(x, w, b):
    """2-D convolution (cross-correlation, as deep learning libraries define it), SAME padding,
    stride 1, odd kernel size k:

        out[n, f, h, w'] = b_f + sum_{c, i, j} w[f, c, i, j] xpad[n, c, h + i, w' + j]

    x: (N, C, H, W), w: (F, C, k, k), b: (F,). With cols = im2col(x, k): (C*k*k, N*H*W) and
    W2 = w reshaped to (F, C*k*k), this is one matrix product, out2 = W2 cols + b: (F, N*H*W),
    which is out with its first two axes swapped. Returns out: (N, F, H, W) and the cache.
    """
    N, C, H, W = x.shape
    F, C_w, k, k2 = w.shape
    if k != k2 or k % 2 != 1 or C_w != C:
        raise UsageError(f"conv2d kernel of shape {tuple(w.shape)} is not allowed for input of "
                         f"shape {tuple(x.shape)}: use (F, {C}, k, k) with k odd")
    cols = im2col(x, k)                                    # (C*k*k, N*H*W)
    W2 = xp.reshape(w, (F, C * k * k))                     # (F, C*k*k)
    out2 = W2 @ cols + xp.reshape(b, (F, 1))               # (F, N*H*W)
    out = xp.permute_dims(xp.reshape(out2, (F, N, H, W)), (1, 0, 2, 3))  # (N, F, H, W)
    return out, (x.shape, cols, w)


def conv2d_backward(dout, cache):
    """Backward pass of conv2d_forward.

    dout: (N, F, H, W), rearranged as dout2: (F, N*H*W). From out2 = W2 cols + b (a linear layer
    whose rows are the N*H*W pixel positions):
        dW2 = dout2 cols^T                      -> dw: (F, C, k, k)
        db_f = sum_{n, h, w} dout[n, f, h, w]   -> db: (F,)
        dcols = W2^T dout2                      -> dx = col2im(dcols): (N, C, H, W)
    """
    x_shape, cols, w = cache
    N, F, H, W = dout.shape
    k = w.shape[2]
    dout2 = xp.reshape(xp.permute_dims(dout, (1, 0, 2, 3)), (F, N * H * W))  # (F, N*H*W)
    dw = xp.reshape(dout2 @ cols.T, w.shape)               # (F, C, k, k)
    db = xp.sum(dout2, axis=1)                             # (F,)
    dx = col2im(xp.reshape(w, (F, cols.shape[0])).T @ dout2, x_shape, k)  # (N, C, H, W)
    return dx, dw, db


def maxpool2x2_forward(x):
    """2x2 max pooling with stride 2: out[n, c, h, w] = max of the window x[n, c, 2h:2h+2, 2w:2w+2].

    x: (N, C, H, W) with H and W even. Reshaping x to (N, C, H/2, 2, W/2, 2) puts each window on
    axes 3 and 5; its four corners are slices of that view, and out is their elementwise maximum.
    The cache is a 0/1 mask of x's shape marking the one maximum per window (on ties the first in
    reading order (0,0), (0,1), (1,0), (1,1)). Returns out: (N, C, H/2, W/2) and the cache.
    """
    N, C, H, W = x.shape
    if H % 2 or W % 2:
        raise UsageError(f"maxpool2x2 input of spatial size {H}x{W} is not allowed: "
                         "use even height and width")
    x6 = xp.reshape(x, (N, C, H // 2, 2, W // 2, 2))       # window rows on axis 3, columns on 5
    corners = [x6[:, :, :, r, :, s] for r in (0, 1) for s in (0, 1)]  # 4 x (N, C, H/2, W/2)
    out = xp.maximum(xp.maximum(corners[0], corners[1]), xp.maximum(corners[2], corners[3]))
    taken = xp.zeros_like(out)                             # 1 once a window's maximum is marked
    marks = []
    for corner in corners:
        is_max = xp.astype(corner == out, x.dtype) * (1.0 - taken)
        taken = taken + is_max
        marks.append(is_max)                               # (N, C, H/2, W/2)
    rows = [xp.stack(marks[0:2], axis=-1), xp.stack(marks[2:4], axis=-1)]  # (N, C, H/2, W/2, 2)
    mask = xp.reshape(xp.stack(rows, axis=3), x.shape)     # (N, C, H, W)
    return out, mask


def maxpool2x2_backward(dout, cache):
    """Backward pass of maxpool2x2_forward: the max passes its gradient to the entry that won,

        dx[n, c, 2h + r, 2w + s] = dout[n, c, h, w] * mask[n, c, 2h + r, 2w + s]

    dout: (N, C, H/2, W/2), broadcast over each window by a reshape. Returns dx: (N, C, H, W).
    """
    mask = cache
    N, C, Ho, Wo = dout.shape
    mask6 = xp.reshape(mask, (N, C, Ho, 2, Wo, 2))
    dx6 = mask6 * xp.reshape(dout, (N, C, Ho, 1, Wo, 1))   # (N, C, H/2, 2, W/2, 2)
    return xp.reshape(dx6, mask.shape)


# ---------------------------------------------------------------------------------------------
# Batch normalization (Ioffe & Szegedy 2015), training mode
# ---------------------------------------------------------------------------------------------

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Batch normalization with the statistics of the batch itself (training mode).

    x: (N, D) normalizes each feature d over the N rows; x: (N, C, H, W) normalizes each channel c
    over N, H and W (the M values a channel sees). gamma, beta: (D,) or (C,).

        mu = mean(x),  var = mean((x - mu)^2)                      per feature / channel
        xhat = (x - mu) / sqrt(var + eps)
        out = gamma * xhat + beta

    Returns out (same shape as x) and the cache for batchnorm_backward.
    """
    if x.ndim == 2:
        axes, pshape = (0,), (1, x.shape[1])
    elif x.ndim == 4:
        axes, pshape = (0, 2, 3), (1, x.shape[1], 1, 1)
    else:
        raise UsageError(f"batchnorm input of shape {tuple(x.shape)} is not allowed: "
                         "use (N, D) or (N, C, H, W)")
    mu = xp.mean(x, axis=axes, keepdims=True)
    xc = x - mu
    inv_std = 1.0 / xp.sqrt(xp.mean(xc * xc, axis=axes, keepdims=True) + eps)
    xhat = xc * inv_std
    g = xp.reshape(gamma, pshape)
    out = g * xhat + xp.reshape(beta, pshape)
    return out, (xhat, g, inv_std, axes)


def batchnorm_backward(dout, cache):
    """Backward pass of batchnorm_forward, in the compact form.

    dbeta = sum dout,  dgamma = sum dout * xhat  (sums over the M values of each feature/channel).
    With dxhat = gamma * dout and s = 1 / sqrt(var + eps), differentiating xhat_j = (x_j - mu) s
    through mu and var (dmu/dx_i = 1/M, ds/dx_i = -s^3 (x_i - mu) / M) gives
        dxhat_j/dx_i = s (delta_ij - 1/M - xhat_i xhat_j / M),   so
        dx = s * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

    Returns dx (shape of x), dgamma, dbeta ((D,) or (C,)).
    """
    xhat, g, inv_std, axes = cache
    dbeta = xp.sum(dout, axis=axes)
    dgamma = xp.sum(dout * xhat, axis=axes)
    dxhat = dout * g
    dx = inv_std * (dxhat - xp.mean(dxhat, axis=axes, keepdims=True)
                    - xhat * xp.mean(dxhat * xhat, axis=axes, keepdims=True))
    return dx, dgamma, dbeta


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


def lstm_forward(x, h0, Wx, Wh, b):
    """An LSTM over a whole sequence: lstm_step_forward at t = 0, ..., T-1, starting from the
    hidden state h0 and a zero cell.

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
    """Backward pass of lstm_forward (backpropagation through time).

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
