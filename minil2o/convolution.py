"""Convolutional layers as forward/backward pairs (the CS231n pattern of minil2o.layers).

Every `<layer>_forward(...)` returns `(out, cache)`; the matching `<layer>_backward(dout, cache)`
returns the gradient of the loss with respect to each input. Each backward pass is derived in its
docstring and checked against central differences in tests/test_layers.py.

    im2col, col2im         k x k neighbourhoods as matrix columns, and the adjoint
    conv2d                 k x k convolution, SAME, stride 1      (N, C, H, W) -> (N, F, H, W)
    maxpool2x2             2x2 max pooling, stride 2              (N, C, H, W) -> (N, C, H/2, W/2)
    batchnorm              batch norm with batch statistics       (N, D) or (N, C, H, W)

Images are laid out NCHW (batch, channel, row, column). No function loops over examples or pixels:
a convolution is one matrix product on an im2col matrix built from k*k shifted slices.
"""
from .backend import xp
from .errors import UsageError


# ---------------------------------------------------------------------------------------------
# Convolution (SAME padding, stride 1) by im2col, and 2x2 max pooling
# ---------------------------------------------------------------------------------------------

def im2col(x, k):
    """The k x k neighbourhoods of every pixel, as the columns of one matrix: (C*k*k, N*H*W).

    x: (N, C, H, W), k odd. With p = (k - 1) // 2 and xpad = x padded by p zeros on each side,
        cols[(c, i, j), (n, h, w)] = xpad[n, c, h + i, w + j]                         (7.3)
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
    """The adjoint of im2col (7.4): add every column entry back onto the pixel it was copied from.

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

        out[n, f, h, w'] = b_f + sum_{c, i, j} w[f, c, i, j] xpad[n, c, h + i, w' + j]      (7.1)

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
    """Backward pass of conv2d_forward (7.2): a linear layer's, then col2im.

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

        dx[n, c, 2h + r, 2w + s] = dout[n, c, h, w] * mask[n, c, 2h + r, 2w + s]       (7.5)

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
