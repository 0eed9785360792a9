"""The fixed feature network of neural art and the three loss terms computed on it, each with its
gradient by hand (Andrychowicz et al. 2016, Section 3.4, after Gatys, Ecker & Bethge 2015; the
objective f = a L_content + b L_style + c L_tv of that section is assembled in problems/art.py):

    feats, caches = features_forward(x, filters)        A_l, l = 1..L
    G, F = gram_forward(A_l)                            G_l = F_l F_l^T / M_l        (C_l, C_l)
    style_loss, content_loss, tv_loss                   each -> (loss, gradient)
    dx = features_backward(dfeats, caches)

F_l is layer l's output reshaped to (C_l channels, M_l = H_l W_l positions). The Gram matrix keeps
which features fire together and forgets where, which is what makes it a texture statistic.

The feature network. Gatys et al. use VGG-19 trained on ImageNet; no pretrained VGG can be had
offline, so this module defines its own fixed network: L blocks of [2x2 max pool (not in block 1),
k x k convolution with filters drawn once from N(0, 2 / (C_in k^2)) by a fixed seed, ReLU], 16, 32
and 64 channels by default. Why random filters work: Ustyuzhaninov, Brendel, Gatys & Bethge (2016,
"Texture synthesis using shallow convolutional networks with random filters") showed that Gram
matrices of a single layer of random multi-scale filters already synthesise convincing textures,
and He, Wang & Hopcroft (2016, "A powerful generative model using random weights for the deep image
representation") did the same for style transfer with deep untrained networks: what matters is
many nonlinear, multi-scale, spatially pooled features, not that they were trained. Here the
scales come from the pooling: the three blocks see 3, 8 and 18 pixel neighbourhoods. The content
term uses the last block by default, whose features are coarse (1/4 resolution) but still place
the content's edges. Images enter the network centred, as X - 0.5.

All gradients are by hand: the Gram, content and TV terms below, then back through each block
with relu_backward (minil2o.layers), conv2d_backward and maxpool2x2_backward (minil2o.convolution).
"""
import math

import numpy as np

from ..backend import asarray, xp
from ..backend import dtype as backend_dtype
from ..convolution import conv2d_backward, conv2d_forward, maxpool2x2_backward, maxpool2x2_forward
from ..layers import relu_backward, relu_forward


# ---------------------------------------------------------------------------------------------
# The fixed random feature network
# ---------------------------------------------------------------------------------------------

def random_filters(widths=(16, 32, 64), kernel=3, seed=0, dtype="float32"):
    """The fixed filters of the feature network: a list of (w: (C_l, C_{l-1}, k, k), b: (C_l,)) on
    the backend, w ~ N(0, 2 / (C_{l-1} k^2)) (He et al. 2015 scaling, so that ReLU features keep
    their size from block to block), b = 0, drawn from numpy's default_rng(seed)."""
    rng = np.random.default_rng(seed)
    filters, c_in = [], 3
    for c_out in widths:
        std = math.sqrt(2.0 / (c_in * kernel ** 2))
        w = std * rng.standard_normal((c_out, c_in, kernel, kernel))   # (C_l, C_{l-1}, k, k)
        filters.append((asarray(w, dtype=dtype), xp.zeros((c_out,), dtype=backend_dtype(dtype))))
        c_in = c_out
    return filters


def features_forward(x, filters):
    """The feature maps of every block. x: (1, 3, H, W) with H, W divisible by 2^(L-1).

        A_1 = relu(conv_1(x)),   A_l = relu(conv_l(maxpool(A_{l-1})))   (l = 2..L)

    Returns feats: list of A_l, (1, C_l, H / 2^(l-1), W / 2^(l-1)), and the caches for backward.
    """
    feats, caches, h = [], [], x
    for l, (w, b) in enumerate(filters):
        pool_cache = None
        if l > 0:
            h, pool_cache = maxpool2x2_forward(h)                   # (1, C_{l-1}, H_l, W_l)
        z, conv_cache = conv2d_forward(h, w, b)                     # (1, C_l, H_l, W_l)
        h, relu_cache = relu_forward(z)
        feats.append(h)
        caches.append((pool_cache, conv_cache, relu_cache))
    return feats, caches


def features_backward(dfeats, caches):
    """Backward pass of features_forward: dfeats[l] = dL/dA_l as the loss sees it directly (same
    shapes as feats). Going down the blocks, the gradient reaching A_l is dfeats[l] plus what flows
    back from block l+1 through its conv and pool:

        dA_l = dfeats[l] + maxpool_backward(conv_backward_x(relu_backward(dA_{l+1})))
        dx = conv_backward_x(relu_backward(dA_1))

    Returns dx: (1, 3, H, W).
    """
    d = dfeats[-1]
    for l in range(len(caches) - 1, -1, -1):
        pool_cache, conv_cache, relu_cache = caches[l]
        d, _, _ = conv2d_backward(relu_backward(d, relu_cache), conv_cache)
        if l > 0:
            d = maxpool2x2_backward(d, pool_cache) + dfeats[l - 1]
    return d


# ---------------------------------------------------------------------------------------------
# The three loss terms, each with its gradient
# ---------------------------------------------------------------------------------------------

def gram_forward(feat):
    """Gram matrix of a feature map. feat: (1, C, H, W); with F = feat as (C, M), M = H W:

        G = F F^T / M                                                      (C, C), as in (8.3)

    Returns G and the cache F.
    """
    _, C, H, W = feat.shape
    F = xp.reshape(feat, (C, H * W))                                # (C, M)
    return F @ F.T / (H * W), F


def gram_backward(dG, F, shape):
    """Backward pass of gram_forward. dG: (C, C) = dL/dG, F: (C, M), shape: feat's shape.

    G_ij = F_i . F_j / M (rows F_i of F), so by the product rule a change dF moves the loss by
    sum_ij dG_ij (dF_i . F_j + F_i . dF_j) / M = sum_i dF_i . ((dG + dG^T) F)_i / M, hence

        dL/dF = (dG + dG^T) F / M                                          (C, M), (8.5)

    (= 2 dG F / M when dG is symmetric, as it is for the style loss). Returns dfeat of `shape`.
    """
    M = F.shape[1]
    return xp.reshape((dG + dG.T) @ F / M, shape)


def style_loss(feats, targets):
    """L_style = (1/L) sum_l ||G_l - T_l||^2 / C_l^2 (8.3) and dL_style/dA_l for each layer.

    feats: list of (1, C_l, H_l, W_l); targets: list of (C_l, C_l) Gram matrices of the style.
    With D_l = G_l - T_l: dL/dG_l = 2 D_l / (L C_l^2), then gram_backward. Returns (0-d, list).
    """
    L = len(feats)
    total, dfeats = 0.0, []
    for feat, T in zip(feats, targets):
        G, F = gram_forward(feat)
        D = G - T                                                   # (C, C)
        C = D.shape[0]
        total = total + xp.sum(D * D) / (L * C * C)
        dfeats.append(gram_backward(2.0 * D / (L * C * C), F, feat.shape))
    return total, dfeats


def content_loss(feat, target):
    """L_content = mean (A - P)^2 over all entries (8.2), and dL/dA = 2 (A - P) / size (8.6).

    feat, target: (1, C, H, W), the features of the image and of the content. Returns (0-d, dfeat).
    """
    diff = feat - target
    size = math.prod(diff.shape)
    return xp.sum(diff * diff) / size, 2.0 * diff / size


def tv_loss(image):
    """Smooth (squared) total variation of image: (H, W, 3), and its gradient (H, W, 3).

        dv = X[1:, :] - X[:-1, :],   dh = X[:, 1:] - X[:, :-1]
        L_tv = (sum dv^2 + sum dh^2) / (3 H W)                                  (8.4)
        dL/dX = 2 ([0; dv] - [dv; 0] + [0, dh] - [dh, 0]) / (3 H W)             (8.7)

    where [0; dv] pads a zero row on top (X[i] is the minuend of dv[i-1]) and [dv; 0] one below
    (X[i] is the subtrahend of dv[i]); the same with columns for dh.
    """
    H, W, _ = image.shape
    K = 3 * H * W
    dv = image[1:, :, :] - image[:-1, :, :]                         # (H-1, W, 3)
    dh = image[:, 1:, :] - image[:, :-1, :]                         # (H, W-1, 3)
    zrow = xp.zeros((1, W, 3), dtype=image.dtype)
    zcol = xp.zeros((H, 1, 3), dtype=image.dtype)
    grad = (xp.concat([zrow, dv], axis=0) - xp.concat([dv, zrow], axis=0)
            + xp.concat([zcol, dh], axis=1) - xp.concat([dh, zcol], axis=1))   # (H, W, 3)
    return (xp.sum(dv * dv) + xp.sum(dh * dh)) / K, 2.0 * grad / K
