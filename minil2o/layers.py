"""Layers as forward/backward pairs (the CS231n pattern).

Every `<layer>_forward(...)` returns `(out, cache)`; the matching `<layer>_backward(dout, cache)`
returns the gradient of the loss with respect to each input, given dout = dL/d(out). Each backward
pass is derived in its docstring and checked against central differences in tests/test_layers.py.
All functions call the backend's `xp`, so they run on NumPy, CuPy and array_api_strict.

    linear                 out = x W + b                          (N, D) -> (N, M)
    sigmoid tanh relu elu  elementwise activations                any shape
    one_hot                integer labels as one-hot rows         (N,) -> (N, C)
    softmax_cross_entropy  mean cross entropy and its gradient    (N, C) -> scalar
    logsumexp              stable log sum exp, any namespace      (..., n, ...) -> (..., ...)

The convolutional layers are in minil2o.convolution, the LSTM in minil2o.lstm.
"""
import numpy as np
from array_api_compat import array_namespace

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
        dx = dout W^T        dL/dx_nd = sum_m dout_nm W_dm               (N, D)     (2.2)
        dW = x^T dout        dL/dW_dm = sum_n x_nd dout_nm               (D, M)     (2.2)
        db = sum_n dout_n    (b is added to every row)                   (M,)       (2.3)
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
    """sigma'(x) = sigma(x) (1 - sigma(x)), so dx = dout * out * (1 - out)  (2.6)."""
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
    (out, alpha): the derivative needs nothing else (elu_backward). RNNprop's input layer
    (minil2o.optimizers.learned), the MLP's ELU (minil2o.problems.mlp) and the engine's Tensor.elu
    (minil2o.autograd) all compute this.
    """
    if not alpha >= 0:                                     # elu_backward relies on it
        raise UsageError(f"ELU alpha {alpha!r} is not allowed: use a number >= 0")
    neg = alpha * (xp.exp(xp.minimum(x, 0.0)) - 1.0)       # the x <= 0 branch, finite everywhere
    out = xp.where(x > 0, x, neg)
    return out, (out, alpha)


def elu_backward(dout, cache):
    """elu'(x) = 1 for x > 0 and alpha exp(x) = out + alpha for x <= 0, so
    dx = dout where x > 0, and dout * (out + alpha) elsewhere (9.8). For alpha >= 0, out > 0
    exactly where x > 0 (out = x there, and alpha (exp(x) - 1) <= 0 elsewhere), so out alone says
    which branch: x need not be kept."""
    out, alpha = cache
    return xp.where(out > 0, dout, dout * (out + alpha))


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


def softmax_cross_entropy_probs(z, y):
    """Mean cross entropy of softmax(z) against one-hot targets, and the probabilities.

    z: (..., N, C) scores; y: (..., N, C) one-hot rows (see one_hot); leading axes are independent
    instances (the MLP's meta-batch). With m_n = max_c z_nc (so exp cannot overflow),

        log sum_c exp(z_nc) = m_n + log sum_c exp(z_nc - m_n)       (stable log-sum-exp)
        L = (1/N) sum_n [ log sum_c exp(z_nc) - sum_c y_nc z_nc ]    (= -(1/N) sum y log p)  (6.2)
        p = softmax(z),   dL/dz_nc = (p_nc - y_nc) / N               (rows of y sum to 1)    (6.4)

    Returns L: (...) (0-d for (N, C) scores) and p: (..., N, C).
    """
    m = xp.max(z, axis=-1, keepdims=True)                  # (..., N, 1)
    e = xp.exp(z - m)                                      # (..., N, C)
    s = xp.sum(e, axis=-1, keepdims=True)                  # (..., N, 1)
    loss = xp.mean(xp.log(s[..., 0]) - xp.sum(y * (z - m), axis=-1), axis=-1)  # (...)
    return loss, e / s


def softmax_cross_entropy(logits, y):
    """Mean cross entropy of softmax(logits) against one-hot targets y, and its gradient.

    logits, y: (N, C). L and p as in softmax_cross_entropy_probs; dL/dlogits = (p - y) / N (6.4).
    Returns the loss as a 0-d array and dlogits: (N, C).
    """
    loss, p = softmax_cross_entropy_probs(logits, y)
    return loss, (p - y) / logits.shape[0]                # (N, C)


def logsumexp(x, axis=-1, keepdims=False):
    """log sum_i exp(x_i) along `axis`, without overflow, for an array of any array API namespace:

        m = max_i x_i,      logsumexp(x) = m + log sum_i exp(x_i - m)                     (10.1)

    Every exp(x_i - m) is at most 1 and the largest is exactly 1, so the sum neither overflows nor
    underflows to 0, whatever the size of x (entries of 1e3 or -1e3). The namespace is taken from x
    (array_api_compat.array_namespace), not from the selected backend, so one process can call it
    on NumPy, CuPy and array_api_strict arrays alike (chapter 10's exercise).

    x: float32 or float64, ndim >= 1, finite entries; axis: in [-ndim, ndim). Returns an array of
    x's namespace and dtype, of x's shape without `axis` (kept with size 1 when keepdims); x is
    left as it was.
    """
    ns = array_namespace(x)
    m = ns.max(x, axis=axis, keepdims=True)                # x's shape, size 1 along axis
    out = m + ns.log(ns.sum(ns.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else ns.squeeze(out, axis=axis)
