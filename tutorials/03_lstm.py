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
# # 3. The LSTM cell, its backward pass by hand, and backpropagation through time
#
# ← [2. Reverse-mode autograd from scratch, and gradient checking](02_autograd.ipynb) | [contents](README.md) | [4. Learning to learn: the optimizer as an RNN, and the meta-gradient by hand](04_learning_to_learn.ipynb) →
#
# *Prerequisites:* chapter 2 (the adjoint rule (2.1), the linear layer's gradients (2.2), (2.3), gradient checking).
#
# The optimizer of Andrychowicz et al. is a two-layer LSTM applied to every coordinate of the optimizee;
# RNNprop's sequence task trains an LSTM as the optimizee. Both use the same two functions of
# `minil2o.lstm`: `lstm_step_forward` and `lstm_step_backward`, and their loops over time
# `lstm_forward` and `lstm_backward`. This chapter derives them, implements the forward step from
# scratch, checks the hand-written backward pass against central differences and against the autograd
# engine of chapter 2 running the same LSTM, and looks at how far gradients travel back in time.
#
# The LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000) is not numbered in
# our papers; its equations are numbered (3.1), (3.2), ... here.

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check           # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o import lstm
from minil2o.autograd import Tensor
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective


# %% [markdown]
# ## 3.1 One step forward
#
# $N$ independent rows (for the learned optimizer: the $N$ coordinates of the optimizee), input
# $x \in \mathbb{R}^{N\times D}$, previous hidden state $h_{\text{prev}}$ and cell $c_{\text{prev}}$ in
# $\mathbb{R}^{N\times H}$. All four gates come from one matrix product,
#
# $$a = x W_x + h_{\text{prev}} W_h + b \in \mathbb{R}^{N \times 4H}, \qquad
# a = [a_i, a_f, a_o, a_g], \tag{3.1}$$
#
# $$i = \sigma(a_i), \quad f = \sigma(a_f), \quad o = \sigma(a_o), \quad g = \tanh(a_g), \tag{3.2}$$
#
# $$c = f \odot c_{\text{prev}} + i \odot g, \tag{3.3}$$
#
# $$h = o \odot \tanh(c). \tag{3.4}$$
#
# The forget gate $f$ decides how much of the old cell survives, the input gate $i$ how much of the
# candidate $g$ is written, the output gate $o$ how much of the cell is shown. From scratch, one line
# per equation:

# %%
def sigmoid(z):
    return 1 / (1 + xp.exp(-z))

def my_lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                                   # (N, 4H), eq. (3.1)
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H]), sigmoid(a[:, 2*H:3*H])   # eq. (3.2)
    g = xp.tanh(a[:, 3*H:])                                        # (N, H)
    c = f * c_prev + i * g                                         # (N, H), eq. (3.3)
    h = o * xp.tanh(c)                                             # (N, H), eq. (3.4)
    return h, c

N, D, H = 2, 3, 4
rng = np.random.default_rng(0)
def f64(shape, scale=1.0):
    return asarray(scale * rng.standard_normal(shape), dtype="float64")
x, h_prev, c_prev = f64((N, D)), f64((N, H)), f64((N, H))
Wx, Wh, b = f64((D, 4 * H), 0.5), f64((H, 4 * H), 0.5), f64(4 * H, 0.5)

h, c = my_lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
h_lib, c_lib, cache = lstm.lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
print("h: from scratch vs minil2o", rel_error(h, h_lib), "| c:", rel_error(c, c_lib))

# %% [markdown]
# ## 3.2 One step backward, by hand
#
# The step produced $h$ and $c$; the rest of the computation hands back $\bar h = \partial L/\partial h$
# and $\bar c = \partial L/\partial c$ (the cell's gradient from the next step; zero after the last one).
# Walk (3.4) to (3.1) backwards, applying (2.1) of chapter 2 to each line. The cell reaches $L$ directly
# and through $h$:
#
# $$\bar c_{\text{tot}} = \bar c + \bar h \odot o \odot (1 - \tanh^2 c). \tag{3.5}$$
#
# Then the products of (3.3) and (3.4):
#
# $$\bar o = \bar h \odot \tanh c, \quad \bar i = \bar c_{\text{tot}} \odot g, \quad
# \bar f = \bar c_{\text{tot}} \odot c_{\text{prev}}, \quad \bar g = \bar c_{\text{tot}} \odot i, \quad
# \bar c_{\text{prev}} = \bar c_{\text{tot}} \odot f. \tag{3.6}$$
#
# Through the nonlinearities of (3.2), with $\sigma' = \sigma(1-\sigma)$ (2.6) and $\tanh' = 1 - \tanh^2$
# (chapter 2, section 2.1); (3.5) used the latter too:
#
# $$\bar a = \big[\,\bar i \odot i(1-i),\ \ \bar f \odot f(1-f),\ \ \bar o \odot o(1-o),\ \ \bar g \odot (1-g^2)\,\big]. \tag{3.7}$$
#
# And (3.1) is a linear layer, so by (2.2) and (2.3):
#
# $$\bar x = \bar a W_x^\top, \quad \bar h_{\text{prev}} = \bar a W_h^\top, \quad
# \bar W_x = x^\top \bar a, \quad \bar W_h = h_{\text{prev}}^\top \bar a, \quad \bar b = \textstyle\sum_n \bar a_n. \tag{3.8}$$
#
# `lstm.lstm_step_backward(dh, dc, cache)` is exactly (3.5) to (3.8) (implementing it yourself is
# exercise 1). A backward pass returns a vector-Jacobian product, so we check it as the gradient of
# the scalar $\langle h, \bar h\rangle + \langle c, \bar c\rangle$ for random $\bar h$, $\bar c$:

# %%
dh, dc = f64((N, H)), f64((N, H))
grads = lstm.lstm_step_backward(dh, dc, cache)
names = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
inputs = dict(zip(names, (x, h_prev, c_prev, Wx, Wh, b)))

def step_objective(**inp):
    h, c, _ = lstm.lstm_step_forward(**inp)
    return xp.sum(h * dh) + xp.sum(c * dc)

errors = check_gradients(step_objective, inputs, dict(zip(names, grads)))


# %% [markdown]
# ## 3.3 The same step in the autograd engine
#
# The second witness: write (3.1) to (3.4) in engine operations and let the engine find the gradients.
# Nothing is shared with the hand-written backward pass but the equations.

# %%
def lstm_step_engine(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                                   # eq. (3.1)
    i, f, o = a[:, :H].sigmoid(), a[:, H:2*H].sigmoid(), a[:, 2*H:3*H].sigmoid()
    g = a[:, 3*H:].tanh()                                          # eq. (3.2)
    c = f * c_prev + i * g                                         # eq. (3.3)
    return o * c.tanh(), c                                         # eq. (3.4)

tensors = {k: Tensor(v) for k, v in inputs.items()}
h_t, c_t = lstm_step_engine(**tensors)
((h_t * dh).sum() + (c_t * dc).sum()).backward()
for name, grad in zip(names, grads):
    print(f"d{name:7s} engine vs hand-written: {rel_error(tensors[name].grad, grad):.1e}")

# %% [markdown]
# ## 3.4 Backpropagation through time
#
# Over a sequence $x_1, \dots, x_T$ (the input is $(N, T, D)$), the same weights run every step:
#
# $$h_t, c_t = \mathrm{step}(x_t, h_{t-1}, c_{t-1}), \qquad c_0 = 0. \tag{3.9}$$
#
# The loss sees every $h_t$ and hands back $\partial L/\partial h_t$ from outside (for the learned
# optimizer: from the update it produced). But $h_t$ and $c_t$ also feed step $t+1$, so running the
# steps backwards, $t = T, \dots, 1$, step $t$ receives
#
# $$\bar h_t = \frac{\partial L}{\partial h_t}\Big|_{\text{outside}} + \bar h_{\text{prev}}^{(t+1)},
# \qquad \bar c_t = \bar c_{\text{prev}}^{(t+1)}, \qquad
# \bar W = \sum_{t=1}^T \bar W^{(t)}, \tag{3.10}$$
#
# where the superscript $(t+1)$ marks what the backward pass of step $t+1$ returned, and $\bar W$ stands
# for each of $\bar W_x, \bar W_h, \bar b$: the weights are shared, so their gradients add. This is
# `lstm.lstm_forward` / `lstm.lstm_backward`. The check, against central differences and against
# the engine running the loop (3.9):

# %%
T = 5
xs, h0 = f64((N, T, D)), f64((N, H))
hs, caches = lstm.lstm_forward(xs, h0, Wx, Wh, b)                # (N, T, H)
dhs = f64((N, T, H))
seq_grads = lstm.lstm_backward(dhs, caches)                      # dx, dh0, dWx, dWh, db
seq_names = ("x", "h0", "Wx", "Wh", "b")
seq_inputs = dict(zip(seq_names, (xs, h0, Wx, Wh, b)))
seq_objective = vjp_objective(lambda **inp: lstm.lstm_forward(**inp)[0], dhs)
errors = check_gradients(seq_objective, seq_inputs, dict(zip(seq_names, seq_grads)))

tensors = {k: Tensor(v) for k, v in seq_inputs.items()}
h_t, c_t, L = tensors["h0"], Tensor(xp.zeros((N, H), dtype=xp.float64)), 0.0
for t in range(T):                                                 # eq. (3.9) in engine ops
    h_t, c_t = lstm_step_engine(tensors["x"][:, t, :], h_t, c_t, tensors["Wx"], tensors["Wh"], tensors["b"])
    L = L + (h_t * dhs[:, t, :]).sum()
L.backward()
print("engine vs lstm_backward:",
      max(rel_error(tensors[k].grad, g) for k, g in zip(seq_names, seq_grads)))

# %% [markdown]
# How far back does a gradient reach? Put the loss on the last hidden state only,
# $\partial L/\partial h_t = 0$ for $t < T$, and look at $\lVert \bar x_t \rVert$: how much the loss
# learns about the input $t$ steps back. Each step multiplies by Jacobians containing the forget gate
# and the recurrent weights, so the signal shrinks (or grows) geometrically; the cell path (3.3) is
# the LSTM's way of keeping it alive when $f \approx 1$.

# %%
T, H_big = 40, 20
rng = np.random.default_rng(1)
xs = asarray(rng.standard_normal((1, T, 1)), dtype="float64")
dhs = np.zeros((1, T, H_big)); dhs[:, -1, :] = 1.0
for scale in (0.5, 1.0, 2.0):
    k = scale / np.sqrt(H_big)                                     # U(-k, k) weights
    Wx_, Wh_ = (asarray(rng.uniform(-k, k, shape), dtype="float64") for shape in ((1, 4 * H_big), (H_big, 4 * H_big)))
    b_ = xp.zeros((4 * H_big,), dtype=xp.float64)
    _, caches = lstm.lstm_forward(xs, xp.zeros((1, H_big), dtype=xp.float64), Wx_, Wh_, b_)
    dx = to_numpy(lstm.lstm_backward(asarray(dhs, dtype="float64"), caches)[0])[0, :, 0]
    slope = np.polyfit(np.arange(T - 30, T - 1), np.log(np.abs(dx[T - 30:T - 1])), 1)[0]
    f_mean = np.mean([to_numpy(cache[6]) for cache in caches])         # the forget gates f_t
    print(f"k = {scale:g}/sqrt(H): |dL/dx_t| shrinks by {np.exp(-slope):.2f} per step back; "
          f"mean forget gate {f_mean:.2f}")
    plt.semilogy(np.arange(T), np.abs(dx), label=fr"weights $U(-k, k)$, $k = {scale:g}/\sqrt{{H}}$")
plt.xlabel(r"input step $t$ (loss at $t = 39$)"); plt.ylabel(r"$\|\partial L/\partial x_t\|$"); plt.legend(fontsize=8)
plt.title("gradient reaching back in time");

# %% [markdown]
# **Why the lines are straight: a product of Jacobians.** The loss sees $h_T$ only, and $x_t$ reaches
# $h_T$ through the states in between. Write $s_t = (h_t, c_t)$ and $J_u = \partial s_u / \partial s_{u-1}$
# for the Jacobian of one step (3.1) to (3.4). The chain rule through $T - t$ steps gives the first
# formula below; the second follows because an operator norm is submultiplicative,
# $\lVert AB\rVert \le \lVert A\rVert\,\lVert B\rVert$ (and $\lVert J^\top\rVert = \lVert J\rVert$), with
# $C = \lVert \partial s_t/\partial x_t\rVert\,\lVert \partial L/\partial s_T\rVert$:
#
# $$\frac{\partial L}{\partial x_t} = \Big(\frac{\partial s_t}{\partial x_t}\Big)^{\!\top} J_{t+1}^\top J_{t+2}^\top
# \cdots J_T^\top\, \frac{\partial L}{\partial s_T}, \qquad
# \Big\lVert \frac{\partial L}{\partial x_t} \Big\rVert \le C \prod_{u=t+1}^{T} \lVert J_u \rVert. \tag{3.11}$$
#
# If the factors have about the same size $\rho$, the norm behaves like $\rho^{T-t}$: a straight line on
# the log scale, with slope $\log\rho$ per step. Two blocks of $J_u$ matter. Along the cell, (3.3)
# gives $\partial c_u / \partial c_{u-1} = \operatorname{diag}(f_u)$: the forget gate itself. Along the hidden
# state, $\partial h_u / \partial h_{u-1}$ goes through $W_h$ and the gates' derivatives (3.7), which
# are at most $1/4$ for a sigmoid ($\sigma(1-\sigma)$ of (2.6) is largest at $\sigma = 1/2$) and at most 1
# for tanh, so it is small when $W_h$ is. With zero biases and small weights
# every gate sits near $\sigma(0) = 1/2$, so the cell path alone gives $\rho \approx 1/2$ (the printed
# mean forget gate). The measured factors are somewhat larger (about 0.6): the hidden path adds to
# the cell path, and more so for larger weights (the $k = 2$ line decays most slowly). This geometric decay (or, with $\rho > 1$, growth)
# is the vanishing (exploding) gradient problem; an LSTM escapes it when the forget gates are near 1,
# which is what exercise 3 tries.


# %% [markdown]
# ## Summary
#
# * One LSTM step is (3.1) to (3.4): one matrix product for all gates, then elementwise operations.
# * Its backward pass (3.5) to (3.8) walks those lines in reverse; the cell's gradient has two sources,
#   the next step and the hidden state (3.5).
# * Backpropagation through time (3.10) runs the step backward passes from the last step to the
#   first, adding the gradient from the next step to each $\bar h_t$ and summing the weight gradients.
# * Both are checked by central differences and by the autograd engine running the same equations.
#
# ## Exercises
#
# 1. **The step backward pass.** Implement `my_lstm_step_backward(dh, dc, cache)` below from (3.5) to
#    (3.8). The cache holds `(x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c)`. The check, the
#    workbook's `lstm_step_backward`, draws 24 cases: $N$, $D$, $H$ from 1 to 5 ($D \ne H$, $N = 1$
#    too), gates small, moderate and saturated, $\bar h$ or $\bar c$ zero so that each path of (3.5)
#    is checked alone, float32 and float64. It compares all six outputs with complex-step
#    derivatives of $\langle h, \bar h\rangle + \langle c, \bar c\rangle$ and prints one verdict line,
#    the same as `minil2o workbook check w.py lstm_step_backward` (after `minil2o workbook new w.py`;
#    `tanh_backward` is the tanh' of (3.7)).
# 2. **Backpropagation through time.** Implement `my_lstm_backward(dhs, caches)` as the loop (3.10) over
#    `lstm.lstm_step_backward`. The check, the workbook's `lstm_backward`, draws 24 sequences:
#    $T = 1$ to 6 steps, sizes from 1 to 4 ($N = 1$ too), gates small to saturated, gradients at
#    every step or at the last only, float32 and float64; it compares $\bar x$, $\bar h_0$ and the
#    weight gradients with complex-step derivatives and prints one verdict line, the same as
#    `minil2o workbook check w.py lstm_backward`.
# 3. Set the forget-gate bias (entries $H$ to $2H$ of $b$) to $+3$ in the last plot. What happens to the
#    curves, and why?
# 4. The learned optimizer's rows are coordinates of the optimizee, all sharing $W_x, W_h, b$. Which
#    line of (3.8) sums over the coordinates?

# %%
def my_lstm_step_backward(dh, dc, cache):
    """Exercise 1: one LSTM step backward, eqs. (3.5) to (3.8).

    dh, dc: (N, H), the gradients on h and c; cache: (x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c)
    from lstm.lstm_step_forward. Returns dx (N, D), dh_prev, dc_prev (N, H), dWx (D, 4H),
    dWh (H, 4H), db (4H,)."""
    raise NotImplementedError("write eqs. (3.5) to (3.8) here")

check("lstm_step_backward", my_lstm_step_backward)   # 24 drawn cases: sizes 1 to 5, gates saturated or not, float32


# %%
def my_lstm_backward(dhs, caches):
    """Exercise 2: backpropagation through time, eq. (3.10), as a loop over
    lstm.lstm_step_backward from t = T-1 down to 0.

    dhs: (N, T, H), the gradients on every h_t from outside; caches: from lstm.lstm_forward.
    Returns dx (N, T, D), dh0 (N, H), dWx, dWh, db."""
    raise NotImplementedError("write the loop (3.10) here")

check("lstm_backward", my_lstm_backward)             # 24 drawn cases: T = 1 to 6, dh at every step or the last


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("3.3")

# %%
answer("3.4")

# %% [markdown]
# ← [2. Reverse-mode autograd from scratch, and gradient checking](02_autograd.ipynb) | [contents](README.md) | [4. Learning to learn: the optimizer as an RNN, and the meta-gradient by hand](04_learning_to_learn.ipynb) →
