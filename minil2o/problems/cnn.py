"""Convolutional classifiers as optimizees: RNNprop's three CNNs and the DM paper's CIFAR-10 model.

A network is written as a layer string read left to right, tokens joined by '-':

    c   k x k convolution, SAME padding, stride 1, `channels` filters, then [batch norm], activation
    p   2x2 max pooling, stride 2 (the feature map's height and width must be even)
    f   fully connected: `hidden` units + activation, except the last f, which maps to the classes

The loss is the mean softmax cross entropy of a minibatch (layers.softmax_cross_entropy); the
gradient is the chain of the layers' backward passes (layers.py, convolution.py), in reverse order.

The papers' networks (Lv, Jiang & Li 2017, section 5.4; Andrychowicz et al. 2016, section 3.3):

    "c-c-p-f"            on MNIST and on CIFAR-10 (RNNprop), 3x3 filters
    "c-c-p-c-c-p-f-f"    on MNIST (RNNprop), 3x3 filters
    "dm-cifar"           = "c-p-c-p-c-p-f-f" with 5x5 filters and batch norm (DM, CIFAR-10)

"dm-cifar": the paper says only "three convolutional layers with max pooling followed by a
fully-connected layer with 32 hidden units; all non-linearities were ReLU activations with batch
normalization". The filter size 5x5 and the 16 channels per layer are those of the paper's
published code. Each conv is followed by batch norm in training mode (batch statistics, also when
the loss is evaluated), ReLU, max pooling; then FC 32 + ReLU; then the output layer. Departures
from that code, on purpose: (1) the conv layers have no bias, because batch norm subtracts the
channel mean right after (a bias would cancel and its gradient would be exactly zero; beta plays
its part); (2) batch norm has a scale gamma as well as the shift beta; (3) the code also batch-
normalizes the hidden FC layer, here batch norm follows the conv layers only; (4) the code's
pooling pads odd feature maps ("SAME"), ours needs even ones (CIFAR: 32 -> 16 -> 8 -> 4).

Parameter groups (DM's two-LSTM optimizer, one per group): "conv" holds every conv filter and the
batch-norm gamma and beta, "fc" every fully-connected weight and bias. (The published code puts
the conv biases and the betas in the fc group; with no conv bias here, only beta differs.)

theta layout: the parameters in the order their layers appear, each flattened row-major; conv
layers come before fc layers in every layer string, so each group is one contiguous slice.
Initialization (drawn from the rng passed to init): weights ~ N(0, gain / fan_in) with fan_in =
C*k*k for a conv and D for a fully connected layer, gain = 2 before ReLU/ELU (He et al. 2015) and
1 before sigmoid/tanh and for the output layer (LeCun); biases and beta 0, gamma 1.
"""
import math
from collections import namedtuple

import numpy as np

from ..backend import asarray, xp
from ..backend import dtype as backend_dtype
from ..errors import DataError, UsageError
from ..validate import check_positive_int, check_settings
from ..convolution import (batchnorm_backward, batchnorm_forward, conv2d_backward, conv2d_forward,
                           maxpool2x2_backward, maxpool2x2_forward)
from ..layers import ACTIVATIONS, linear_backward, linear_forward, one_hot, softmax_cross_entropy
from .base import Family, Problem

PRESETS = {"dm-cifar": {"layers": "c-p-c-p-c-p-f-f", "kernel_size": 5, "batch_norm": True}}
GAINS = {"relu": 2.0, "elu": 2.0, "sigmoid": 1.0, "tanh": 1.0}
Param = namedtuple("Param", "name shape group mean std")
"""One parameter array of a CNN: its name, shape, group and initial distribution N(mean, std^2)."""


def parse_layers(layers):
    """Split a layer string like "c-c-p-f" into tokens, checking the grammar of the module
    docstring: only c, p, f; the last token an f; no c or p after the first f."""
    tokens = [t.strip().lower() for t in str(layers).split("-")]
    allowed = "use tokens c, p, f joined by '-', ending in f, with every c and p before the first f"
    if any(t not in ("c", "p", "f") for t in tokens) or tokens[-1] != "f":
        raise UsageError(f"layers={layers!r} is not allowed: {allowed} (or a preset: "
                         f"{', '.join(PRESETS)})")
    first_f = tokens.index("f")
    if any(t != "f" for t in tokens[first_f:]):
        raise UsageError(f"layers={layers!r} is not allowed: {allowed}")
    return tokens


def build_plan(tokens, image_shape, num_classes, channels, hidden, kernel_size, batch_norm, gain):
    """Turn layer tokens into (ops, params).

    ops: list of (kind, indices) with kind in conv, bn, act, pool, flatten, fc and indices the
    positions of the layer's parameters in `params`, a list of Param in theta order. Checks that
    every pooling sees an even height and width.
    """
    C, H, W = image_shape
    ops, params = [], []

    def add(kind, *specs):
        ops.append((kind, tuple(range(len(params), len(params) + len(specs)))))
        params.extend(specs)

    for pos, t in enumerate(tokens):
        if t == "c":
            i = sum(op[0] == "conv" for op in ops)
            fan_in = C * kernel_size * kernel_size
            w = Param(f"conv{i}.w", (channels, C, kernel_size, kernel_size), "conv", 0.0,
                      math.sqrt(gain / fan_in))
            if batch_norm:
                add("conv", w)
                add("bn", Param(f"bn{i}.gamma", (channels,), "conv", 1.0, 0.0),
                    Param(f"bn{i}.beta", (channels,), "conv", 0.0, 0.0))
            else:
                add("conv", w, Param(f"conv{i}.b", (channels,), "conv", 0.0, 0.0))
            add("act")
            C = channels
        elif t == "p":
            if H % 2 or W % 2:
                raise UsageError(f"layer {pos + 1} ('p') of {'-'.join(tokens)!r} would pool a "
                                 f"{H}x{W} feature map: max pooling needs even height and width")
            add("pool")
            H, W = H // 2, W // 2
        else:
            if not any(op[0] == "flatten" for op in ops):
                add("flatten")
                D = C * H * W
            last = pos == len(tokens) - 1
            M = num_classes if last else hidden
            i = sum(op[0] == "fc" for op in ops)
            std = math.sqrt((1.0 if last else gain) / D)
            add("fc", Param(f"fc{i}.W", (D, M), "fc", 0.0, std),
                Param(f"fc{i}.b", (M,), "fc", 0.0, 0.0))
            if not last:
                add("act")
            D = M
    return ops, params


class CNNProblem(Problem):
    """One CNN classifier on one dataset; theta holds its filters and weights (module docstring).

    X: (N, C, H, W) backend array of images, Y: (N, K) backend one-hot labels (shared, not copied).
    A batch is {"x": (B, C, H, W), "y": (B, K)}.
    """

    def __init__(self, X, Y, layers="c-c-p-f", channels=16, hidden=32, activation="relu",
                 batch_size=128, kernel_size=None, batch_norm=None, dtype="float32"):
        preset = PRESETS.get(layers, {})
        kernel_size = preset.get("kernel_size", 3) if kernel_size is None else kernel_size
        batch_norm = preset.get("batch_norm", False) if batch_norm is None else batch_norm
        if activation not in ACTIVATIONS:
            raise UsageError(f"activation={activation!r} is not allowed: choose one of "
                             f"{', '.join(sorted(ACTIVATIONS))}")
        check_settings(dict(channels=channels, hidden=hidden, batch_size=batch_size,
                            kernel_size=kernel_size))                # by name (validate)
        if kernel_size % 2 == 0:
            raise UsageError(f"kernel_size={kernel_size!r} is not allowed: use an odd size")
        backend_dtype(dtype)                                    # refuses unknown dtypes
        self.X, self.Y, self.dtype, self.activation = X, Y, dtype, activation
        self.layers, self.kernel_size, self.batch_norm = layers, kernel_size, bool(batch_norm)
        self.batch_size = int(batch_size)
        self.act_forward, self.act_backward = ACTIVATIONS[activation]
        self.ops, self.params = build_plan(
            parse_layers(preset.get("layers", layers)), tuple(X.shape[1:]), Y.shape[1],
            int(channels), check_positive_int(hidden, "hidden"),   # hidden: one size
            int(kernel_size), self.batch_norm, GAINS[activation])
        self.sizes = [math.prod(p.shape) for p in self.params]
        self.n = sum(self.sizes)

    def __repr__(self):
        return (f"CNNProblem(layers={self.layers!r}, image={tuple(self.X.shape[1:])}, "
                f"classes={self.Y.shape[1]}, n={self.n})")

    @property
    def groups(self):
        """{"conv": filters and batch-norm parameters, "fc": fully-connected weights and biases}."""
        n_conv = sum(size for size, p in zip(self.sizes, self.params) if p.group == "conv")
        return {"conv": slice(0, n_conv), "fc": slice(n_conv, self.n)}

    def init(self, rng):
        """theta_0: (n,), every parameter drawn from its N(mean, std^2) of build_plan."""
        parts = [p.mean + p.std * rng.standard_normal(size)
                 for p, size in zip(self.params, self.sizes)]
        return asarray(np.concatenate(parts), dtype=self.dtype)

    def unpack(self, theta):
        """Split flat theta (n,) into the parameter arrays, in the order of self.params."""
        arrays, start = [], 0
        for p, size in zip(self.params, self.sizes):
            arrays.append(xp.reshape(theta[start:start + size], p.shape))
            start += size
        return arrays

    def take_batch(self, indices):
        """The examples at host integer `indices` (B,): {"x": (B, C, H, W), "y": (B, K)}."""
        idx = asarray(np.asarray(indices, dtype=np.int64))
        return {"x": xp.take(self.X, idx, axis=0), "y": xp.take(self.Y, idx, axis=0)}

    def sample_batch(self, rng):
        """batch_size examples drawn uniformly with replacement (as the DM code does)."""
        return self.take_batch(rng.integers(0, self.X.shape[0], size=self.batch_size))

    def _layer_forward(self, kind, x, args):
        """One layer of the plan: (out, cache)."""
        if kind == "conv":
            b = args[1] if len(args) == 2 else xp.zeros((args[0].shape[0],), dtype=x.dtype)
            return conv2d_forward(x, args[0], b)
        if kind == "bn":
            return batchnorm_forward(x, *args)
        if kind == "act":
            return self.act_forward(x)
        if kind == "pool":
            return maxpool2x2_forward(x)
        if kind == "flatten":
            return xp.reshape(x, (x.shape[0], -1)), x.shape
        return linear_forward(x, *args)

    def _layer_backward(self, kind, n_params, dout, cache):
        """Backward of one layer: (d input, tuple of its parameters' gradients)."""
        if kind == "conv":
            dx, dw, db = conv2d_backward(dout, cache)
            return dx, (dw, db)[:n_params]
        if kind == "bn":
            dx, dgamma, dbeta = batchnorm_backward(dout, cache)
            return dx, (dgamma, dbeta)
        if kind == "act":
            return self.act_backward(dout, cache), ()
        if kind == "pool":
            return maxpool2x2_backward(dout, cache), ()
        if kind == "flatten":
            return xp.reshape(dout, cache), ()
        dx, dW, db = linear_backward(dout, cache)
        return dx, (dW, db)

    def forward(self, theta, x):
        """logits: (B, K) for images x: (B, C, H, W), and the per-layer caches."""
        params = self.unpack(theta)
        caches = []
        for kind, idx in self.ops:
            x, cache = self._layer_forward(kind, x, [params[i] for i in idx])
            caches.append(cache)
        return x, caches

    def loss(self, theta, batch):
        """Mean cross entropy of the batch (0-d array), forward pass only."""
        logits, _ = self.forward(theta, batch["x"])
        return softmax_cross_entropy(logits, batch["y"])[0]

    def loss_and_grad(self, theta, batch):
        """f = mean cross entropy, and grad = df/dtheta: (n,), by the layers' backward passes
        taken in reverse order, each layer's parameter gradients put back at its theta slice."""
        logits, caches = self.forward(theta, batch["x"])
        f, d = softmax_cross_entropy(logits, batch["y"])     # d: (B, K)
        grads = [None] * len(self.params)
        for (kind, idx), cache in zip(reversed(self.ops), reversed(caches)):
            d, param_grads = self._layer_backward(kind, len(idx), d, cache)
            for i, g in zip(idx, param_grads):
                grads[i] = xp.reshape(g, (-1,))
        return f, xp.concat(grads)

    def accuracy(self, theta, batch):
        """Fraction of the batch whose largest logit is the true class (0-d array)."""
        logits, _ = self.forward(theta, batch["x"])
        hits = xp.argmax(logits, axis=1) == xp.argmax(batch["y"], axis=1)
        return xp.mean(xp.astype(hits, logits.dtype))


def prepare_images(X, y, num_classes, image_shape=None, classes=None):
    """Check host data and bring it to X: (N, C, H, W), y: (N,) in 0..K-1, K (on the host).

    X: (N, C, H, W), or (N, D) with image_shape = (C, H, W) or (H, W) (MNIST: (1, 28, 28)).
    y: (N,) integer labels in 0 .. num_classes-1. classes: optional subset of labels to keep,
    remapped in the given order to 0 .. len(classes)-1 (CIFAR-2, CIFAR-5, held-out labels).
    """
    X, y = np.asarray(X), np.asarray(y)
    num_classes = check_positive_int(num_classes, "num_classes")
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        shape = (1,) + shape if len(shape) == 2 else shape
        if len(shape) != 3 or math.prod(shape) != math.prod(X.shape[1:]):
            raise DataError(f"image_shape={image_shape!r} does not fit X of shape {X.shape}: "
                            "use (C, H, W) or (H, W) with as many pixels as a row of X")
        X = X.reshape((X.shape[0],) + shape)
    if X.ndim != 4:
        raise DataError(f"X of shape {X.shape} is not allowed: use (N, C, H, W), or (N, D) "
                        "with image_shape=(C, H, W)")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
        raise DataError(f"y of shape {y.shape} and dtype {y.dtype} does not fit X of shape "
                        f"{X.shape}: use integer labels of shape ({X.shape[0]},)")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(f"labels in [{y.min()}, {y.max()}] are not allowed for "
                        f"num_classes={num_classes}: use 0 .. {num_classes - 1}")
    if not np.all(np.isfinite(X)):
        raise DataError("X holds NaN or infinite values: use finite pixel values (e.g. in [0, 1])")
    if classes is None:
        return X, y, num_classes
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes) or any(not 0 <= c < num_classes for c in classes):
        raise UsageError(f"classes={classes!r} is not allowed: use distinct labels in "
                         f"0 .. {num_classes - 1}")
    keep = np.isin(y, classes)
    if not keep.any():
        raise DataError(f"no example has a label in classes={classes!r}")
    relabel = np.zeros(num_classes, dtype=np.int64)
    relabel[classes] = np.arange(len(classes))
    return X[keep], relabel[y[keep]], len(classes)


class CNNFamily(Family):
    """CNN classifiers of one architecture on one dataset; `sample(rng)` gives a CNNProblem. The
    optimizees of Andrychowicz et al., section 3.3, and Lv et al., section 5.4.

    X: host images (N, C, H, W) float in [0, 1] (or (N, D) with image_shape); y: host labels (N,);
    num_classes: K. layers: a layer string or a preset name (module docstring); channels: filters
    per conv; hidden: units of each hidden fc layer; activation: relu, elu, sigmoid or tanh;
    batch_size: examples per minibatch; kernel_size: conv filter size (3, or the preset's);
    batch_norm: batch norm after each conv (False, or the preset's); classes: label subset.
    The data are moved to the backend once, here, and shared by every sampled problem.
    """

    def __init__(self, X, y, num_classes, layers="c-c-p-f", channels=16, hidden=32,
                 activation="relu", batch_size=128, image_shape=None, classes=None,
                 kernel_size=None, batch_norm=None, dtype="float32"):
        X, y, num_classes = prepare_images(X, y, num_classes, image_shape, classes)
        self.X = asarray(X, dtype=dtype)                                 # (N, C, H, W)
        self.Y = one_hot(y, num_classes, dtype=dtype)                    # (N, K)
        self.config = dict(layers=layers, channels=channels, hidden=hidden,
                           activation=activation, batch_size=batch_size,
                           kernel_size=kernel_size, batch_norm=batch_norm, dtype=dtype)
        self.sample(None)                                       # checks the architecture now

    def sample(self, rng):
        """A CNNProblem on the shared data. The architecture and data are fixed, so rng is not
        used here: each instance's randomness is its init(rng) and its minibatches."""
        return CNNProblem(self.X, self.Y, **self.config)
