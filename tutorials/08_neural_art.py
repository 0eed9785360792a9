# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Neural art (Fig. 8 and 9)
#
# ← [7. Convolutional networks: two optimizers for conv and fully connected parameters (Fig. 7)](07_cnn.ipynb) | [contents](README.md) | [9. RNNprop: relative inputs, Random Scaling, combination with convex functions](09_rnnprop.ipynb) →
#
# *Prerequisites:* chapter 7 (convolution, pooling and their backward passes) and chapter 6.
#
# The last experiment of Andrychowicz et al. 2016 (section 3.4) optimizes the pixels of an image:
# style transfer after Gatys, Ecker & Bethge 2015. Every pair of a content image and a style image is
# a different optimization problem, and a learned optimizer trained on one style at 64 x 64 is tested
# on new content, a new style and twice the resolution. This chapter writes the three loss terms and
# the Gram matrix's backward pass, checks the whole gradient, and styles a small image.
#
# **The feature network.** Gatys et al. compute the losses on features of VGG-19; no pretrained VGG
# can be had offline, so `minil2o.problems.art` uses a fixed network of three blocks of random 3x3
# filters (16, 32, 64 channels) with ReLU and 2x2 max pooling. That Gram matrices of random
# multi-scale features capture texture was shown by Ustyuzhaninov, Brendel, Gatys & Bethge 2016
# ("Texture synthesis using shallow convolutional networks with random filters"), and for style
# transfer with untrained deep networks by He, Wang & Hopcroft 2016 ("A powerful generative model
# using random weights for the deep image representation"). **Sizes:** the
# paper trains at 64 x 64 and tests at 128 x 128; here 32 x 32 keeps each step to a few
# milliseconds. `minil2o reproduce dm-fig8-9-neural-art` runs the paper's sizes.

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check           # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective
from minil2o.optimizers.hand import Adam
from minil2o.problems.art import NeuralArtFamily, load_art_images
from minil2o.problems.art_features import (content_loss, gram_backward, gram_forward, style_loss,
                                           tv_loss)
from minil2o.training.runs import load_optimizer

# %% [markdown]
# ## 8.1 The objective
#
# The parameters $\theta$ are the pixels of the image $X$ ($H\times W\times 3$, flattened: $n = 3HW$).
# With $c$ the content image and $s$ the style image, the paper's objective (section 3.4) is
#
# $$f(\theta) = \alpha\,\mathcal{L}_{\text{content}}(c, \theta) + \beta\,\mathcal{L}_{\text{style}}(s, \theta)
# + \gamma\,\mathcal{L}_{\text{reg}}(\theta). \tag{8.1}$$
#
# Let $F_l(X)$ be block $l$'s feature map reshaped to $C_l$ channels by $M_l = H_l W_l$ positions. The
# **content** term compares features of one deeper block $l_c$ position by position (the paper leaves
# the three terms to Gatys et al.; (8.2) to (8.4) are this project's normalisation of them):
#
# $$\mathcal{L}_{\text{content}} = \operatorname{mean}_{k,m}\big(F_{l_c}(X) - F_{l_c}(c)\big)_{km}^2. \tag{8.2}$$
#
# The **style** term compares Gram matrices, the correlations between channels averaged over
# positions, which keep which features fire together and forget where:
#
# $$G_l = \frac{1}{M_l} F_l F_l^\top \in \mathbb{R}^{C_l\times C_l},\qquad
# \mathcal{L}_{\text{style}} = \frac{1}{L}\sum_{l} \frac{\lVert G_l(X) - G_l(s)\rVert_F^2}{C_l^2}. \tag{8.3}$$
#
# The **regularizer** is a smooth total variation, the mean squared difference of neighbouring pixels:
#
# $$\mathcal{L}_{\text{reg}} = \frac{1}{3HW}\sum_{i,j,c}\Big[(X_{i+1,j,c} - X_{i,j,c})^2 + (X_{i,j+1,c} - X_{i,j,c})^2\Big]. \tag{8.4}$$
#
# ## 8.2 The Gram matrix's backward pass
#
# $G_{ij} = F_i\cdot F_j / M$ with $F_i$ the rows of $F$. A change $dF$ moves the loss by
# $\sum_{ij}\bar G_{ij}(dF_i\cdot F_j + F_i\cdot dF_j)/M$; collecting the terms of $dF_i$,
#
# $$\bar F = \frac{1}{M}\big(\bar G + \bar G^\top\big) F, \tag{8.5}$$
#
# which is $2\bar G F / M$ for the style loss, whose $\bar G = 2(G - G(s))/(L C^2)$ is symmetric.
# Implementing (8.5) is the exercise; here the forward pass from scratch against `gram_forward`:

# %%
rng = np.random.default_rng(0)
feat = asarray(rng.standard_normal((1, 4, 3, 5)), dtype="float64")         # (1, C, H, W)
F_host = to_numpy(feat).reshape(4, 15)                                        # (C, M)
G, F = gram_forward(feat)
print("G = F F^T / M:", rel_error(G, F_host @ F_host.T / 15))

# %% [markdown]
# **The content and smoothness gradients.** (8.2) is a mean of $S = C_{l_c} M_{l_c}$ squares, and each
# entry $A_{km}$ of $A = F_{l_c}(X)$ appears in exactly one of them, so with $P = F_{l_c}(c)$ fixed
#
# $$\frac{\partial \mathcal{L}_{\text{content}}}{\partial A_{km}} = \frac{2\,(A_{km} - P_{km})}{S}. \tag{8.6}$$
#
# In (8.4) write $d^v_{i,j,c} = X_{i+1,j,c} - X_{i,j,c}$ and $d^h_{i,j,c} = X_{i,j+1,c} - X_{i,j,c}$. A pixel
# $X_{i,j,c}$ is the first term of $d^v_{i-1,j,c}$ (if $i > 0$) and the second term of $d^v_{i,j,c}$ (if
# $i < H - 1$), and likewise for $d^h$ along $j$. Differentiating each square $(d)^2$ to $2d$ times
# $\pm 1$ and adding the (at most four) squares that contain the pixel,
#
# $$\frac{\partial \mathcal{L}_{\text{reg}}}{\partial X_{i,j,c}} = \frac{2}{3HW}\Big(d^v_{i-1,j,c} - d^v_{i,j,c}
# + d^h_{i,j-1,c} - d^h_{i,j,c}\Big), \tag{8.7}$$
#
# where a $d$ whose index falls outside the image is 0 (border pixels belong to fewer differences).
# It is a discrete Laplacian: a pixel brighter than its neighbours is pulled down. Both against
# `content_loss` and `tv_loss`, with the sums written out:

# %%
A, P = rng.standard_normal((1, 4, 3, 3)), rng.standard_normal((1, 4, 3, 3))
print("eq. (8.6) vs content_loss:", rel_error(content_loss(asarray(A), asarray(P))[1], 2 * (A - P) / A.size))
Xi = rng.standard_normal((5, 6, 3))                                   # an (H, W, 3) image
H_, W_ = Xi.shape[:2]
dv, dh = np.diff(Xi, axis=0), np.diff(Xi, axis=1)                     # (H-1, W, 3), (H, W-1, 3)
tv_grad = np.zeros_like(Xi)
for i in range(H_):
    for j in range(W_):                                               # eq. (8.7), term by term
        tv_grad[i, j] = ((dv[i - 1, j] if i > 0 else 0) - (dv[i, j] if i < H_ - 1 else 0)
                         + (dh[i, j - 1] if j > 0 else 0) - (dh[i, j] if j < W_ - 1 else 0))
tv_grad *= 2 / (3 * H_ * W_)
print("eq. (8.7) vs tv_loss:     ", rel_error(tv_loss(asarray(Xi))[1], tv_grad))

# %% [markdown]
# The style and content gradients arrive at the
# feature maps and go down the network through the blocks' backward passes (ReLU, convolution,
# pooling: chapter 7's layers). The whole gradient of (8.1) against central differences, on an
# 8 x 8 image so that all 192 pixels are checked one by one:

# %%
tiny = NeuralArtFamily(size=8, crop=False, dtype="float64").sample(rng)
theta = tiny.init(rng)
f, grad = tiny.loss_and_grad(theta)
errors = check_gradients(lambda theta: tiny.loss_and_grad(theta)[0], {"theta": theta}, {"theta": grad})

# %% [markdown]
# ## 8.3 Styling an image
#
# A 32 x 32 crop of a bundled photograph, the training style of `minil2o reproduce` ("gravel"), and
# the paper's horizon of 128 steps. The image starts from the content plus a little noise
# (`init="content"`), so the optimizer only has to add the style. Adam with learning rate 0.02 (the
# module docstring's setting) is the baseline; the learned optimizer shipped in
# `minil2o/datasets/pretrained/dm-art.npz` (the DM optimizer meta-trained on neural art) runs on the
# same problem.

# %%
contents, styles = load_art_images()
family = NeuralArtFamily(content_images={"chelsea": contents["chelsea"]}, style_image="gravel",
                         size=32, crop=False)
problem = family.sample(np.random.default_rng(1))

def style_image(problem, opt, steps, seed=2):
    """Run opt for `steps` steps from problem.init; returns the losses and the final image."""
    theta, state, losses = problem.init(np.random.default_rng(seed)), opt.init_state(problem.n), []
    for t in range(steps):
        f, grad = problem.loss_and_grad(theta)
        losses.append(to_float(f))
        update, state = opt.step(grad, state)
        theta = theta + update                                     # eq. (1)
    losses.append(to_float(problem.loss_and_grad(theta)[0]))
    return np.array(losses), theta

runs = {"Adam (lr 0.02)": style_image(problem, Adam(lr=0.02), 128)}
path = os.path.join("..", "minil2o", "datasets", "pretrained", "dm-art.npz")
runs["LSTM (dm-art)"] = style_image(problem, load_optimizer(path), 128)
for label, (losses, theta) in runs.items():
    terms = problem.loss_terms(theta)
    print(f"{label:15s} f: {losses[0]:.4f} -> {losses[-1]:.4f}  "
          f"(content {terms['content']:.4f}, style {terms['style']:.2e}, tv {terms['tv']:.4f}); "
          f"f rose at {int(np.sum(np.diff(losses) > 0))} of 128 steps")

# %%
panels = [("content", problem.content), ("style (gravel)", family.style)]
panels += [(label, problem.to_image(theta)) for label, (_, theta) in runs.items()]
fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3 * (len(panels) + 1), 3))
for ax, (title, image) in zip(axes, panels):
    ax.imshow(np.clip(image, 0, 1)); ax.set_title(title, fontsize=10); ax.axis("off")
for label, (losses, _) in runs.items():
    axes[-1].semilogy(losses, label=label)
axes[-1].set_xlabel("step"); axes[-1].set_title(r"$f$ (8.1)", fontsize=10); axes[-1].legend(fontsize=8)
plt.tight_layout()


# %% [markdown]
# The styled images take the texture's grain and contrast while the cat stays recognisable: the
# random features are small, so larger structures of a style are out of their reach. (Their sizes:
# block 1's 3x3 filters see 3 x 3 pixels; a 2x2 pooling then makes each position cover 4 x 4 pixels,
# with a stride of 2 pixels between positions, so block 2's 3x3 filters see $4 + 2\cdot 2 = 8$ pixels
# across; a second pooling, stride 4, gives $8 + 2 = 10$, and block 3's filters $10 + 2\cdot 4 = 18$.) The curves (right) compare the two optimizers: Adam lowers $f$ at every step, while
# the learned optimizer oscillates (its $f$ rose at most steps, as printed) and ends above Adam,
# with a larger style and smoothness term. On this one image it loses to Adam at the module's
# learning rate (0.02, not tuned here); Fig. 8 of the paper, with its own trained optimizer, shows it
# ahead of the baselines. Fig. 9 shows the paper's images.
#
# ## Summary
#
# * Neural art optimizes pixels: $f$ = content (8.2) + style (8.3) + smoothness (8.4), on features of
#   a fixed convolutional network.
# * The Gram matrix forgets positions and keeps channel correlations; its backward pass is
#   $\bar F = (\bar G + \bar G^\top) F / M$ (8.5).
# * All of $f$'s gradient is hand-written: the three terms, then back through the blocks; it matches
#   central differences to below $10^{-9}$.
#
# ## Exercises
#
# 1. **The Gram matrix's backward pass.** Implement `my_gram_backward` below from (8.5), for any
#    $\bar G$, symmetric or not. The check, the workbook's `gram_backward`, draws 24 feature maps
#    $(1, C, H, W)$: $C = 1$ to 5, $H \ne W$ from 1 to 6, signed or nonnegative (ReLU) features,
#    $\bar G$ general, mostly antisymmetric or symmetric, float32 and float64. It compares $\bar F$
#    with complex-step derivatives of $\langle G, \bar G\rangle$ and prints one verdict line, the same
#    as `minil2o workbook check w.py gram_backward`.
# 2. Set `style_weight=0` in the family, then `content_weight=0`. What does each term do on its own?
# 3. Start from noise (`init="noise"`) as Gatys et al. do. How many more steps does Adam need?
# 4. Try Adam's learning rate at 0.005 and 0.08. How sensitive is the styling to it, and why might a
#    learned optimizer help here?

# %%
def my_gram_backward(dG, F, shape):
    """Exercise 1: the Gram matrix's backward pass, eq. (8.5), for G = F F^T / M.

    dG: (C, C), the adjoint of G, not symmetric in general; F: (C, M), the flattened feature map
    (M = H W); shape: the feature map's shape (1, C, H, W). Returns the adjoint of the feature
    map, of that shape and of F's dtype; dG and F are left as they were."""
    raise NotImplementedError("write eq. (8.5) here")

check("gram_backward", my_gram_backward)   # 24 drawn cases: C = 1 to 5, H != W, dG not symmetric, float32


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("8.2")

# %%
answer("8.3")

# %%
answer("8.4")

# %% [markdown]
# ← [7. Convolutional networks: two optimizers for conv and fully connected parameters (Fig. 7)](07_cnn.ipynb) | [contents](README.md) | [9. RNNprop: relative inputs, Random Scaling, combination with convex functions](09_rnnprop.ipynb) →
