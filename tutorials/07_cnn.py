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
# # 7. Convolutional networks: two optimizers for conv and fully connected parameters (Fig. 7)
#
# ← [6. An MLP on MNIST: training, longer horizons, other architectures (Fig. 4 to 6)](06_mnist.ipynb) | [contents](README.md) | [8. Neural art (Fig. 8 and 9)](08_neural_art.ipynb) →
#
# *Prerequisites:* chapter 6 (the MLP's backward pass, Appendix A) and chapter 4 (the meta-gradient).
#
# Andrychowicz et al. 2016 (section 3.3) train a convolutional network on CIFAR-10: three conv layers
# with max pooling and batch norm, a fully connected layer of 32 units, ReLU. The gradients of filters
# and of fully connected weights behave differently, so the paper uses **two** coordinatewise LSTMs,
# one for all convolutional parameters and one for all fully connected ones, trained together. This
# chapter writes the convolution and its backward pass, routes parameter groups to their own
# optimizers with `PerGroupOptimizer`, and meta-trains such a pair on a tiny CNN.
#
# **Sizes.** A CNN step on 28 x 28 digits costs about 0.1 s on a laptop CPU, so everything here uses
# MNIST cropped to 24 x 24 and pooled to 12 x 12, 8 filters per conv layer and minibatches of 32.
# CIFAR-10 cannot be bundled; `minil2o reproduce dm-fig7-cnn` runs Fig. 7 on it when a copy is at hand
# (environment variable `MINIL2O_CIFAR10`) and on MNIST otherwise.

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check           # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.problems.data import load_mnist
from minil2o.evaluation.evaluate import learning_curves, tune_learning_rate
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective
from minil2o import convolution
from minil2o.convolution import conv2d_forward
from minil2o.meta import meta_gradient, meta_loss, meta_weights, unroll
from minil2o.optimizers.grouped import PerGroupOptimizer
from minil2o.optimizers.hand import Adam
from minil2o.optimizers.learned import DMOptimizer
from minil2o.problems.cnn import CNNFamily
from minil2o.training.flat import flatten, unflatten

# %% [markdown]
# ## 7.1 Convolution as one matrix product
#
# A convolution with SAME padding $p = (k-1)/2$ and stride 1 (deep-learning libraries compute a
# cross-correlation) maps $x$: $(N, C, H, W)$ and filters $w$: $(F, C, k, k)$ to
#
# $$\text{out}_{n,f,h,w} = b_f + \sum_{c,i,j} w_{f,c,i,j}\; x^{\text{pad}}_{n,c,h+i,w+j}. \tag{7.1}$$
#
# Copy every $k\times k$ neighbourhood into a column (`im2col`: cols, $(Ck^2, NHW)$) and reshape $w$
# to $W_2$: $(F, Ck^2)$; then (7.1) is one matrix product, $\text{out}_2 = W_2\,\text{cols} + b$, a
# linear layer whose "examples" are the $NHW$ pixel positions. Its backward pass is that of a linear
# layer, followed by `col2im`, the adjoint of the copy, which adds each column entry back onto the
# pixel it came from:
#
# $$\bar W_2 = \bar{\text{out}}_2\, \text{cols}^\top,\qquad \bar b_f = \sum_{n,h,w} \bar{\text{out}}_{n,f,h,w},\qquad
# \bar x = \text{col2im}\big(W_2^\top\, \bar{\text{out}}_2\big). \tag{7.2}$$
#
# (7.1) by four nested loops against `conv2d_forward`:

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 5, 5)); w = rng.standard_normal((4, 3, 3, 3)); b = rng.standard_normal(4)
xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
out_mine = np.zeros((2, 4, 5, 5))
for n in range(2):
    for f in range(4):
        for h in range(5):
            for w_ in range(5):
                out_mine[n, f, h, w_] = b[f] + np.sum(w[f] * xpad[n, :, h:h + 3, w_:w_ + 3])  # eq. (7.1)
out, cache = conv2d_forward(asarray(x), asarray(w), asarray(b))
print("eq. (7.1) vs conv2d_forward:", rel_error(out, out_mine))

# %% [markdown]
# **im2col and col2im.** With rows indexed by $(c, i, j)$ (channel, kernel offset) and columns by
# $(n, h, w)$ (image, pixel), `im2col` is a copy:
#
# $$\text{cols}_{(c,i,j),(n,h,w)} = x^{\text{pad}}_{n,c,h+i,w+j}, \tag{7.3}$$
#
# so that $\sum_{c,i,j} w_{f,c,i,j}\,\text{cols}_{(c,i,j),(n,h,w)}$ is the sum of (7.1): row $f$ of $W_2$
# times column $(n,h,w)$ of cols. A padded pixel $x^{\text{pad}}_{n,c,h',w'}$ is copied into every
# column whose window covers it, once for each offset $(i, j)$ with $h + i = h'$, $w + j = w'$. By the
# `+=` of (2.1), its adjoint is the sum of the adjoints of all its copies:
#
# $$\bar x^{\text{pad}}_{n,c,h',w'} = \sum_{i,j} \overline{\text{cols}}_{(c,i,j),(n,\,h'-i,\,w'-j)}, \tag{7.4}$$
#
# over the offsets for which $(h'-i, w'-j)$ is a pixel; $\bar x$ is $\bar x^{\text{pad}}$ without its
# border (the padding is constant). That is `col2im`, the transpose of the linear map (7.3), and
# (7.2) follows: $\text{out}_2 = W_2\,\text{cols} + b$ is a linear layer (2.2), (2.3) whose input
# cols is (7.3) of $x$. A transpose is checked by the identity $\langle \text{im2col}(x), Y\rangle =
# \langle x, \text{col2im}(Y)\rangle$ for any $x$ and $Y$; and (7.3) by a loop:

# %%
cols = to_numpy(convolution.im2col(asarray(x), 3))                        # (C k k, N H W) = (27, 50)
cols_mine = np.array([[xpad[n, c, h + i, w_ + j] for n in range(2) for h in range(5) for w_ in range(5)]
                      for c in range(3) for i in range(3) for j in range(3)])   # eq. (7.3)
print("eq. (7.3) vs im2col:", rel_error(cols, cols_mine))
Y = rng.standard_normal(cols.shape)
lhs = np.sum(cols * Y)                                                  # <im2col(x), Y>
rhs = np.sum(x * to_numpy(convolution.col2im(asarray(Y), x.shape, 3)))       # <x, col2im(Y)>
print("col2im is the transpose of im2col:", abs(lhs - rhs) / abs(lhs))

# %% [markdown]
# **Max pooling and its backward pass.** The CNN below also pools: $\text{out}_{n,c,h,w} =
# \max_{r,s \in \{0,1\}} x_{n,c,2h+r,2w+s}$. Within a window the maximum is locally the entry that won
# (for inputs without ties, a small change does not change the winner), so its derivative is 1 with
# respect to the winner and 0 with respect to the three others:
#
# $$\bar x_{n,c,2h+r,2w+s} = \bar{\text{out}}_{n,c,h,w}\;[\,(r,s) \text{ is the window's maximum}\,]. \tag{7.5}$$
#
# `maxpool2x2_forward` keeps the 0/1 mask of winners (on ties, the first in reading order: then the
# function has a kink, and (7.5) picks one of its one-sided derivatives). Against central differences:

# %%
x_pool = asarray(rng.standard_normal((2, 3, 4, 4)), dtype="float64")   # continuous: no ties
pooled, mask = convolution.maxpool2x2_forward(x_pool)                        # (2, 3, 2, 2)
d_pooled = asarray(rng.standard_normal(pooled.shape), dtype="float64")
errors = check_gradients(vjp_objective(lambda x: convolution.maxpool2x2_forward(x)[0], d_pooled),
                         {"x": x_pool}, {"x": convolution.maxpool2x2_backward(d_pooled, mask)})

# %% [markdown]
# ## 7.2 The optimizee: a small CNN on MNIST
#
# `CNNFamily` reads a layer string: `c` a 3x3 convolution + ReLU, `p` 2x2 max pooling, `f` a fully
# connected layer (the last maps to the 10 classes). "c-p-c-p-f-f" is the paper's CIFAR network with
# two conv layers instead of three (12 -> 6 -> 3 pixels). The problem names two parameter groups,
# slices of $\theta$: `conv` (filters and biases) and `fc` (weights and biases). Its gradient, written
# by hand in `CNNProblem.loss_and_grad`, chains pieces derived already: the softmax cross entropy and
# the fully connected layers (6.3), (6.4), ReLU, the pooling (7.5) and the convolutions (7.2). ReLU,
# $r(a) = \max(a, 0)$, has slope 1 where $a > 0$ and 0 where $a < 0$, so its backward pass is
# $\bar a = \bar r \odot [a > 0]$ (at $a = 0$, a kink, it takes the one-sided slope 0).

# %%
X, y = load_mnist("train")
small = lambda X: X.reshape(-1, 28, 28)[:, 2:26, 2:26].reshape(-1, 12, 2, 12, 2).mean(axis=(2, 4))
family = CNNFamily(small(X).reshape(-1, 1, 12, 12), y, 10, layers="c-p-c-p-f-f", channels=8,
                   hidden=32, batch_size=32)
problem = family.sample(rng)
print(problem, "\ngroups:", problem.groups)
for prm, size in zip(problem.params, problem.sizes):
    print(f"  {prm.name:8s} {str(prm.shape):15s} {size:5d}  group {prm.group}")

# %% [markdown]
# ## 7.3 One LSTM per parameter type
#
# With groups $G$ (here conv and fc), each a slice of $\theta$, the optimizer is a set of coordinatewise
# LSTMs with their own parameters $\phi_G$ and states, and the update is assembled group by group:
#
# $$g_t[G] = m\big(\nabla_t[G],\, h_t[G];\ \phi_G\big). \tag{7.6}$$
#
# The meta-loss (3) is unchanged, and because the groups share no coordinate and no parameter, its
# gradient with respect to $\phi_G$ is the backward pass of $m(\cdot;\phi_G)$ on its own slice:
# `PerGroupOptimizer.step_backward` calls each group's `step_backward` on its slice. Its $\phi$ is one
# flat dict with keys `"conv/..."` and `"fc/..."`, so the meta-training loop of chapter 4 applies
# as is. A check of (7.6): the grouped step equals the two optimizers run separately.

# %%
sizes = {g: s.stop - s.start for g, s in problem.groups.items()}
make = lambda: DMOptimizer(hidden=20, num_layers=2, preprocess="log", output_scale=0.1)
grouped = PerGroupOptimizer({"conv": make(), "fc": make()}, sizes)
phi = grouped.init_params(rng)
print("phi keys:", list(phi)[:3], "...", list(phi)[-3:])

theta0, batch = problem.init(rng), problem.sample_batch(rng)
_, grad = problem.loss_and_grad(theta0, batch)
update, _, _ = grouped.step_forward(phi, grad, grouped.init_state(problem.n))
parts = [grouped.optimizers[g].step_forward(grouped.part(phi, g), grad[s],
                                            grouped.optimizers[g].init_state(sizes[g]))[0]
         for g, s in problem.groups.items()]
print("eq. (7.6), grouped vs separate:", rel_error(update, np.concatenate([to_numpy(u) for u in parts])))

# %% [markdown]
# ## 7.4 Meta-training the pair, and Fig. 7 in miniature
#
# The loop of chapter 4: each meta-step samples a problem, unrolls 10 steps from its initial weights,
# and takes one Adam step on both LSTMs' parameters. Twenty meta-steps take seconds and are far from
# the paper's training. Adam's learning rate is tuned on the same family for 30 steps.

# %%
K, weights = 10, meta_weights(10, "all")
meta_opt = Adam(lr=0.01)
meta_state, history = meta_opt.init_state(flatten(phi).shape[0]), []
for it in range(20):
    p = family.sample(rng)
    tr = unroll(grouped, phi, p, p.init(rng), grouped.init_state(p.n),
                [p.sample_batch(rng) for _ in range(K + 1)])
    history.append(to_float(meta_loss(tr, weights)) / K)
    step, meta_state = meta_opt.step(flatten(meta_gradient(grouped, phi, p, tr, weights)), meta_state)
    phi = unflatten(flatten(phi) + step, phi)
grouped.phi = phi

make_adam = lambda lr: Adam(lr=lr)
lr_adam, _ = tune_learning_rate(family, make_adam, (0.001, 0.003, 0.01, 0.03), 1, 30, seed=1)
curves = {"two LSTMs (conv, fc)": learning_curves(family, grouped, 2, 30, seed=2),
          f"Adam (lr {lr_adam:g})": learning_curves(family, make_adam(lr_adam), 2, 30, seed=2)}
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3))
ax0.plot(history, "o-", ms=3); ax0.set_xlabel("meta-step"); ax0.set_title(r"meta-loss (3) / $K$", fontsize=10)
for label, c in curves.items():
    ax1.plot(c.mean(axis=0), label=label)
    print(f"{label:22s} loss at step 0: {c.mean(axis=0)[0]:.3f}, at step 30: {c.mean(axis=0)[-1]:.3f}")
ax1.set_xlabel("step"); ax1.set_title("cross entropy, 2 test CNNs", fontsize=10); ax1.legend(fontsize=8)
plt.tight_layout()


# %% [markdown]
# Left: the meta-loss of each of the 20 meta-steps (one sampled CNN each, so it is noisy); right: the
# mean loss of 2 test CNNs over 30 steps (a mean of 2, so no error bar). With this little training
# the learned pair lowers the loss from its start but ends far behind Adam (tuned on one CNN), as the
# printed losses say; the paper trained for far longer. What this section demonstrates is the
# mechanism, not a result: two optimizers with separate parameters, trained by one meta-gradient,
# each seeing only its own coordinates.
#
# ## Summary
#
# * A convolution is a matrix product over `im2col` columns (7.1); its backward pass is a linear
#   layer's followed by `col2im` (7.2).
# * A problem names parameter groups as slices of $\theta$; `PerGroupOptimizer` gives each group its
#   own coordinatewise LSTM (7.6) with parameters `"<group>/<name>"`, and its backward pass is the
#   groups' backward passes.
# * Meta-training, Adam on $\phi$ and checkpoints treat the pair like one learned optimizer.
#
# ## Exercises
#
# 1. **The convolution's backward pass.** Implement `my_conv2d_backward` below from (7.2) (use
#    `minil2o.convolution.col2im` and the `cols` kept in the cache). The check, the workbook's
#    `conv2d_backward`, draws 24 cases: kernels $k = 5, 1, 3$ in turn, 1 or 2 images of 1 to 3
#    channels, 1 to 3 filters, images of $H \ne W$ from 1 to 6 pixels (one pixel under a 5 x 5
#    kernel too), float32 and float64. It compares $\bar x$, $\bar w$ and $\bar b$ with complex-step
#    derivatives of $\langle \text{conv2d}(x, w, b), \bar{\text{out}}\rangle$ and prints one verdict
#    line, the same as `minil2o workbook check w.py conv2d_backward` (after
#    `minil2o workbook new w.py`; its `linear_backward` is (7.2) without the im2col).
# 2. Meta-train a single `DMOptimizer` for all coordinates with the same budget and compare it with the
#    pair. Which group's gradients are larger?
# 3. Train on `classes=[5, 6, 7, 8, 9]` and test on labels 0-4 ("LSTM-sub" of Fig. 7).

# %%
def my_conv2d_backward(dout, cache):
    """Exercise 1: the convolution's backward pass, eq. (7.2). dout: (N, F, H, W); cache:
    (x_shape, cols (C k k, N H W), w (F, C, k, k)) from conv2d_forward. Returns dx (N, C, H, W),
    dw (F, C, k, k), db (F,); use convolution.col2im for dx."""
    raise NotImplementedError("write eq. (7.2) here")

check("conv2d_backward", my_conv2d_backward)   # 24 drawn cases: k = 1, 3, 5, H != W from 1 to 6, float32


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("7.2")

# %%
answer("7.3")

# %% [markdown]
# ← [6. An MLP on MNIST: training, longer horizons, other architectures (Fig. 4 to 6)](06_mnist.ipynb) | [contents](README.md) | [8. Neural art (Fig. 8 and 9)](08_neural_art.ipynb) →
