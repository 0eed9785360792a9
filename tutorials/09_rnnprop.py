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
# # 9. RNNprop: relative inputs, Random Scaling, combination with convex functions
#
# ← [8. Neural art (Fig. 8 and 9)](08_neural_art.ipynb) | [contents](README.md) | [10. The GPU: one switch for the array backend](10_gpu.ipynb) →
#
# *Prerequisites:* chapter 1 (section 1.4, scaling f), chapter 4 (the meta-gradient, (4.5)) and chapter 6 (the MLP, Appendix A).
#
# Lv, Jiang & Li 2017 ("RNNprop") start from chapter 1's observation (their section 3.2): scaling the
# objective, $f \to c f$, scales every step of SGD and Momentum but leaves Adagrad, RMSprop and Adam
# unchanged, because those divide the gradient by the root of its second moment ((1.5) in chapter 1).
# The DM optimizer reads the raw gradient, so it belongs to the first class; Lv et al. find that it
# overfits its training problems and fails on longer horizons (their section 5.1). RNNprop moves the learned optimizer into the second class
# (relative inputs) and trains it so that it cannot memorise a step size (Random Scaling, the
# combination with convex functions; their section 4). This chapter writes those equations, checks
# them, trains RNNprop live on quadratics and tests it on MLPs it never saw: longer horizons and other
# activations.
#
# The paper's equation numbers were lost in our copy of it, so its equations are numbered (9.1),
# (9.2), ... here, with the section they come from.

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check           # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.problems.data import load_mnist
from minil2o.evaluation.evaluate import learning_curves
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.optimizers.hand import Adam
from minil2o.optimizers.learned import RNNprop
from minil2o.problems import MLPFamily, QuadraticFamily
from minil2o.problems.wrappers import ConvexCombined, RandomScaled
from minil2o.training.runs import load_optimizer

# %% [markdown]
# ## 9.1 Relative inputs (section 4.3)
#
# RNNprop keeps Adam's moving averages of the gradient $g_t$ and of its square (as Adam's row of
# Table 1, chapter 1), with $\beta_1 = \beta_2 = 0.95$ (section 5), and corrects their bias towards the
# zero start:
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
# \hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat v_t = \frac{v_t}{1-\beta_2^t}. \tag{9.1}$$
#
# (Why divide by $1 - \beta^t$: unrolling $v_t = \beta v_{t-1} + (1-\beta) g_t^2$ from $v_0 = 0$ gives
# $v_t = (1-\beta)\sum_{s=1}^{t}\beta^{t-s} g_s^2$, whose weights sum to $(1-\beta)(1 + \beta + \dots + \beta^{t-1})
# = 1 - \beta^t$; dividing by that sum makes $\hat v_t$ a weighted average, equal to $g^2$ for a constant
# gradient, and likewise $\hat m_t$.) The LSTM reads two *relative* inputs per coordinate (section 4.3,
# with the $\epsilon$ of section 5),
#
# $$x_t = \left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon},\ \frac{g_t}{\sqrt{\hat v_t} + \epsilon}\right),
# \qquad \epsilon = 10^{-8}. \tag{9.2}$$
#
# Multiply every gradient by $c > 0$: $\hat m_t$ and $\sqrt{\hat v_t}$ both scale by $c$ (as for Adam in (1.5)), and (up to
# $\epsilon$) $x_t$ does not change. From scratch against `RNNprop.relative_inputs`, and the
# invariance (the function is the workbook's exercise `rnnprop_relative_inputs`:
# `minil2o workbook check w.py rnnprop_relative_inputs`):

# %%
opt = RNNprop(hidden=20, num_layers=2, beta1=0.95, beta2=0.95, eps=1e-8, alpha=0.1)
rng = np.random.default_rng(0)
grads = rng.standard_normal((5, 6))                                  # 5 steps, 6 coordinates

def relative_inputs_mine(grads, c=1.0, b1=0.95, b2=0.95, eps=1e-8):
    m = v = np.zeros(grads.shape[1])
    for t, g in enumerate(c * grads, start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g          # eq. (9.1)
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return np.stack([m_hat, g], axis=1) / (np.sqrt(v_hat) + eps)[:, None]  # eq. (9.2), (n, 2)

state = opt.init_state(6, "float64")
for g in grads:
    x, (t, m, v, *_) = opt.relative_inputs(asarray(g, dtype="float64"), state)
    state = {**state, "m": m, "v": v, "t": t}
print("eq. (9.2) vs relative_inputs:", rel_error(x, relative_inputs_mine(grads)))
for c in (1e-3, 1e3):
    print(f"inputs for c = {c:g} vs c = 1:", rel_error(relative_inputs_mine(grads, c), relative_inputs_mine(grads)))

# %% [markdown]
# ## 9.2 The network
#
# The two inputs go through a fully connected layer of 20 ELU units (a learned preprocessing), the
# coordinatewise two-layer LSTM of 20 units, and a bounded read-out (section 4.3; the sizes and
# $\alpha$ in section 5). ELU (Clevert, Unterthiner & Hochreiter 2016) is
# $\operatorname{ELU}(p) = p$ for $p > 0$ and $e^p - 1$ for $p \le 0$:
#
# $$z_t = \operatorname{ELU}(x_t W_{\text{in}} + b_{\text{in}}),\qquad
# h_t = \operatorname{LSTM}_2(\operatorname{LSTM}_1(z_t)),\qquad
# \Delta\theta_t = -\alpha \tanh(h_t W_{\text{out}} + b_{\text{out}}),\quad \alpha = 0.1. \tag{9.3}$$
#
# Since $|\tanh| < 1$, every step is less than $\alpha$ per coordinate whatever the gradient's size, as
# Adam's step is at most about its learning rate (Kingma & Ba 2015, section 2.1). Its backward pass, `RNNprop.step_backward`, goes back through the
# tanh, the LSTMs (chapter 3) and the ELU; with second derivatives on, also through (9.2) and (9.1)
# (derived and implemented in the exercise). The check below: one gradient direction at three sizes,
# through an untrained RNNprop. The update stays below $\alpha$, and it is the same at sizes 1 and
# $10^6$; at $10^{-6}$ the $\sqrt{\hat v_t}$ of (9.2) is only about $100\epsilon$, so $\epsilon$ shows
# and the update changes by a few percent. The invariance holds "up to $\epsilon$", as for Adam in
# chapter 1.

# %%
opt_small = RNNprop(hidden=20)
phi = opt_small.init_params(rng, "float64")
g = rng.standard_normal(1000)                                        # one direction, three sizes
updates = {scale: to_numpy(opt_small.step_forward(phi, asarray(scale * g, dtype="float64"),
                                                  opt_small.init_state(1000, "float64"))[0])
           for scale in (1e-6, 1.0, 1e6)}
for scale, update in updates.items():
    print(f"gradients of size {scale:g}: largest |update| = {np.abs(update).max():.6f} "
          f"(below alpha: {np.abs(update).max() < opt_small.alpha}), "
          f"relative change from size 1: {rel_error(update, updates[1.0]):.1e}")

# %% [markdown]
# ## 9.3 Random Scaling (section 4.1)
#
# An optimizer trained on one function can learn its best step size instead of a rule. Random Scaling
# draws, for each training problem, a vector $c$ with $c_i = e^{u_i}$, $u_i \sim U(-r, r)$ ($r = 3$ for
# the MLP, section 5), and trains on
#
# $$f_c(\theta) = f(c \odot \theta), \qquad \theta_0 = \theta_0^{f} / c, \tag{9.4}$$
#
# so the same minimum is seen at a different scale in every coordinate ($f_c(\theta_0) = f(\theta_0^f)$). By
# the chain rule, $\partial f_c/\partial\theta_i = c_i\,(\partial_i f)(c\odot\theta)$, and differentiating that
# once more along $v$ multiplies the argument's change by $c$ again:
#
# $$\nabla f_c(\theta) = c \odot \nabla f(c\odot\theta),\qquad H_c v = c \odot H(c\odot\theta)(c \odot v). \tag{9.5}$$
#
# `RandomScaled` implements (9.4) and (9.5); a check against central differences on a quadratic:

# %%
quad = QuadraticFamily(dim=5, init_std=1.0, dtype="float64").sample(rng)
scaled = RandomScaled(quad, r=3.0, rng=rng)
theta = scaled.init(rng)
f, grad = scaled.loss_and_grad(theta, None)
print("c ranges over", to_numpy(scaled.scale).min().round(3), "to", to_numpy(scaled.scale).max().round(3))
errors = check_gradients(lambda theta: scaled.loss(theta, None), {"theta": theta}, {"theta": grad})

# %% [markdown]
# ## 9.4 Combination with convex functions (section 4.2)
#
# Neural network losses are non-convex and noisy; an optimizer trained only on them may never learn to
# finish a simple convex descent. RNNprop appends to every training problem a random convex function
# of 20 extra coordinates,
#
# $$F(\theta, x) = f(\theta) + g(x),\qquad g(x) = \frac{1}{n}\sum_{i=1}^{n}(x_i - v_i)^2,\quad
# v_i \sim U(-1, 1),\ n = 20, \tag{9.6}$$
#
# each term randomly scaled ($r = 3$ for the MLP, $r = 1$ for $g$; $n$ and $r$ as in section 5). Since the two parts share no
# coordinate, the optimizer simply sees $n_f + 20$ coordinates. `ConvexCombined` follows the authors'
# public code in two details that (9.6) does not show. **A deviation from the paper:** $x$ starts at
# 0, where Lv et al. write that "the initial value of $x$ is also generated randomly" (RESULTS.md lists
# it among the deviations; $v$ is random, so the start is still at a random distance from the
# minimum). And each square is capped at 10 (`ConvexSquare(clip_square=10.0)`; a capped square has
# zero gradient). Starting from 0 with $|v_i| \le 1$, the squares begin below 1, far from the cap.
# Lv et al. add it to speed up
# meta-training (their Table 4: a good optimizer after fewer training iterations). Measured here
# with three seeds per recipe (`minil2o reproduce dm-budget`), it did not: without it, RNNprop
# reached the same test loss after about half as many training problems, and after 1,000 problems
# the runs without it were lower for every seed (RESULTS.md, "Training budget"). The check:

# %%
combined = ConvexCombined(quad, rng, dim=20, r=1.0)
theta = combined.init(rng)
f, grad = combined.loss_and_grad(theta, None)
print("n =", quad.n, "+ 20 =", combined.n, "| F = f + g:",
      rel_error(f, quad.loss(theta[:5], None) + combined.convex.loss(theta[5:], None)))
errors = check_gradients(lambda theta: combined.loss(theta, None), {"theta": theta}, {"theta": grad})

# %% [markdown]
# ## 9.5 Training RNNprop, and testing it far from its training
#
# Training RNNprop as the paper did (section 5: on the MNIST MLP, with Random Scaling and the convex
# combination, RNNprop's meta-loss on the last step of each truncation, `weighting="last"`, and its
# model selection by the moving average of the training loss) takes hours on a CPU, so the chapter
# loads the optimizer shipped in `minil2o/datasets/pretrained/`, trained that way on the 784-pixel
# digits. The tests below run on MNIST MLPs pooled to 14 x 14 (chapter 6), which it never saw, next
# to the DM optimizer of chapter 6 (`dm-mnist`, trained on the same network without the tricks).

# %%
pretrained = os.path.join("..", "minil2o", "datasets", "pretrained")
rnnprop = load_optimizer(os.path.join(pretrained, "rnnprop-mnist.npz"))
dm = load_optimizer(os.path.join(pretrained, "dm-mnist.npz"))
print(f"RNNprop: {sum(v.size for v in rnnprop.phi.values())} parameters, "
      f"DM optimizer: {sum(v.size for v in dm.phi.values())} parameters")

X, y = load_mnist("train")
X14 = X.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(-1, 196)   # (3000, 196)

# %% [markdown]
# **Longer horizons.** The optimizers of both papers are trained on 100 steps. RNNprop's section 5.1
# runs them for 2,000 and 10,000 steps: the DM optimizer's loss goes up again, RNNprop keeps
# decreasing. Here 2,000 steps (twenty times the training horizon) on the base MLP (sigmoid, 20
# units, one test problem), RNNprop and the DM optimizer against Adam with the learning rate
# RNNprop's code tuned for long runs ($2^{-6}$):

# %%
family = MLPFamily(X14, y, hidden=(20,), activation="sigmoid")
long_curves = {"RNNprop": learning_curves(family, rnnprop, 1, 2000, seed=4)[0],
               "DM optimizer": learning_curves(family, dm, 1, 2000, seed=4)[0],
               "Adam (lr $2^{-6}$)": learning_curves(family, Adam(lr=2.0 ** -6), 1, 2000, seed=4)[0]}
fig, ax = plt.subplots()
for label, c in long_curves.items():
    smooth = np.convolve(c, np.ones(50) / 50, mode="valid")          # minibatch noise averaged
    ax.semilogy(np.arange(49, 2001), smooth, label=label)
    print(f"{label:18s} mean loss over the 50 steps before step " +
          ", ".join(f"{s}: {c[s - 50:s].mean():.2g}" for s in (100, 300, 1000, 1500, 2000)))
ax.axvline(100, color="0.7", lw=0.8)                                   # the training horizon
ax.set_xlabel("step"); ax.set_title("base MLP, 2,000 steps (50-step moving average)", fontsize=10)
ax.legend(fontsize=8); plt.tight_layout()

# %% [markdown]
# **Other activations.** RNNprop's section 5.2 compares, in a table, Adam, the DM optimizer and
# RNNprop on MLPs with sigmoid, ReLU, ELU and tanh units (the paper's DM optimizer, trained on sigmoid, failed on ReLU;
# chapter 6).
# Adam gets the learning rates RNNprop's code tuned for each activation:

# %%
adam_lr = {"sigmoid": 0.03125, "relu": 0.0221, "elu": 0.0221, "tanh": 0.0110}
fig, axes = plt.subplots(1, 4, figsize=(11, 2.8), sharey=True)
for ax, (act, lr) in zip(axes, adam_lr.items()):
    fam = MLPFamily(X14, y, hidden=(20,), activation=act)
    for label, o in (("RNNprop", rnnprop), (f"Adam ({lr:g})", Adam(lr=lr))):
        c = learning_curves(fam, o, 1, 100, seed=5)[0]
        ax.semilogy(c, label=label)
        print(f"{act:8s} {label:16s} mean loss over the last 20 steps: {c[-20:].mean():.3f}")
    ax.set_title(act, fontsize=10); ax.set_xlabel("step"); ax.legend(fontsize=7)
plt.tight_layout()


# %% [markdown]
# What the two tests show, on one test problem each (a demonstration, not a measurement:
# `minil2o reproduce rnnprop-mlp-2000` and the activation table run many). Over 2,000 steps the DM
# optimizer is ahead for most of the run (lowest from step 100 to step 1,500) but then stalls: 0.0035
# before step 1,500, 0.0037 before step 2,000, while RNNprop keeps decreasing, past both, to about
# $1\cdot 10^{-3}$ (Adam: 0.0078). Over 100 steps on the four activations, RNNprop, trained on sigmoid MLPs of the
# 784-pixel digits and applied untuned to 14 x 14 ones, trails Adam (tuned per activation) on
# sigmoid, ReLU and ELU by 0.02 to 0.03 and beats it on tanh. On 100 test problems of the full
# digits (`minil2o reproduce rnnprop-activations`, RESULTS.md) tuned Adam is ahead on all four, on
# tanh narrowly (0.047 against 0.051). The relative inputs (9.2) keep it working on gradients of
# sizes it never saw; they do not make it better than a tuned Adam here.
#
# ## Summary
#
# * RNNprop's inputs are Adam's normalized moments (9.1), (9.2): invariant to rescaling $f$, so the
#   learned optimizer belongs to the scale-free class of section 3.2.
# * A learned ELU preprocessing, the coordinatewise LSTM and a bounded output
#   $-\alpha\tanh(\cdot)$ (9.3).
# * Random Scaling (9.4, 9.5) and the combination with a random convex function (9.6) are training
#   tricks: wrappers around any problem, with exact gradients and Hessian-vector products.
# * On the tests here RNNprop keeps decreasing far past its training horizon, where the DM optimizer
#   stalls, and stays close to a tuned Adam on other activations (ahead on tanh, behind on the three
#   others), with one problem per curve.
#
# ## Exercises
#
# 1. **RNNprop's backward pass**, from the derivation that follows, in two parts.
#    (a) `my_relative_inputs_backward` below: (9.10) to (9.13) through the relative inputs, with the
#    signature of the library's `RNNprop.relative_inputs_backward`. Its check, the workbook's
#    `rnnprop_relative_inputs_backward`, draws 24 cases: $\beta_1$, $\beta_2$, $\epsilon$ drawn, a
#    fresh state or one after 1 to 40 steps, moments as small as $\epsilon$ among ordinary ones,
#    zero gradients, float32 and float64. It compares the three gradients with the chain rule on
#    the host and, in float64, with central differences of
#    $\langle x, \bar x\rangle + \langle m, \bar m\rangle + \langle v, \bar v\rangle$.
#    (b) `my_rnnprop_step_backward` below: (9.7) to (9.9) through the read-out, the two LSTMs
#    (`minil2o.lstm.lstm_stack_backward`, chapter 3) and the ELU, then part (a). Its check, the
#    workbook's `rnnprop_step_backward`, draws 24 steps: $\alpha$, $\beta_1$, $\beta_2$, $\epsilon$
#    drawn, 1 to 3 LSTM layers of 1 to 5 units, 1 to 7 coordinates, a fresh state or one after some
#    steps, with and without `need_d_grad`, float32 and float64. It compares $\bar\phi$, the
#    gradients on the state the step received and $\bar g_t$ with the autograd engine and the chain
#    rule of (9.1), (9.2). A wrong output is named as your function returns it: `d_grad` for
#    $\bar g_t$, `d_phi[Win]`, ... for the entries of $\bar\phi$, and `d_state_prev[m]`, ...,
#    `d_state_prev[c2]` for the gradients on the moving averages $m_{t-1}$, $v_{t-1}$ and on the
#    hidden and cell states of each LSTM layer (the dict your function returns second).
#    Each check prints one verdict line, the same as `minil2o workbook check w.py
#    rnnprop_relative_inputs_backward rnnprop_step_backward`.
# 2. The inputs (9.2) are already invariant to scaling $f$. Why does RNNprop still need Random
#    Scaling (9.4) in training, and what does the convex term (9.6) add? (Hint: (9.4) scales
#    $\theta$, and the update (9.3) is bounded by a fixed $\alpha$.)
# 3. Feed RNNprop and the DM optimizer the gradients of $1000 f$ instead of $f$ on the base MLP
#    (chapter 1's `Scaled`). What changes for each, and why?

# %% [markdown]
# **The backward pass of one RNNprop step.** The step received $\bar{\Delta\theta}_t$ (the adjoint of
# its update) and the adjoints of the state it produced, $\bar m_t^{\,\text{next}}$,
# $\bar v_t^{\,\text{next}}$ and the LSTM's, from step $t+1$. Write (9.3) as $o = \tanh(h_t W_{\text{out}} +
# b_{\text{out}})$, $\Delta\theta_t = -\alpha o$ and $p = x_t W_{\text{in}} + b_{\text{in}}$, $z = \operatorname{ELU}(p)$.
# Walking (9.3) backwards with chapter 2's rule (2.1):
#
# $$\bar o_{\text{pre}} = -\alpha\,(1 - o^2) \odot \bar{\Delta\theta}_t,\qquad
# \bar W_{\text{out}} = h_t^\top \bar o_{\text{pre}},\quad \bar b_{\text{out}} = \textstyle\sum_i \bar o_{\text{pre}, i},\quad
# \bar h_t = \bar o_{\text{pre}} W_{\text{out}}^\top; \tag{9.7}$$
#
# (the first equation is (2.1) through $-\alpha\tanh$, with $\tanh' = 1 - \tanh^2$ of chapter 2, section 2.1; the others
# are the linear layer's (2.2) and (2.3)). $\bar h_t$ goes down the two LSTMs (chapter 3, with (4.8)
# for the lower layer's output and the state's adjoints from step $t+1$) and comes
# out as $\bar z$. Differentiating the definition of ELU above, its derivative is 1 for $p > 0$ and
# $e^p = z + 1$ otherwise:
#
# $$\bar p = \bar z \odot \operatorname{ELU}'(p),\qquad \operatorname{ELU}'(p) = \begin{cases} 1 & p > 0 \\ z + 1 & p \le 0,\end{cases} \tag{9.8}$$
#
# Since $z = p > 0$ where $p > 0$ and $z = e^p - 1 \le 0$ elsewhere, $z > 0$ exactly where $p > 0$:
# $z$ alone gives (9.8), so the step keeps $z$ and not $p$ (as the sigmoid and tanh of
# `minil2o.layers` keep only their outputs).
#
# $$\bar W_{\text{in}} = x_t^\top \bar p,\quad \bar b_{\text{in}} = \textstyle\sum_i \bar p_i,\quad
# \bar x_t = \bar p\, W_{\text{in}}^\top = (\bar x_{t,1}, \bar x_{t,2}). \tag{9.9}$$
#
# The relative inputs (9.2) share the denominator $d = \sqrt{\hat v_t} + \epsilon$:
# $x_{t,1} = \hat m_t / d$, $x_{t,2} = g_t / d$. So
#
# $$\bar d = -\frac{\bar x_{t,1}\hat m_t + \bar x_{t,2}\, g_t}{d^2}. \tag{9.10}$$
#
# With $\sqrt{\hat v_t} = \sqrt{v_t / c_2}$, $c_2 = 1 - \beta_2^t$, $\partial d / \partial v_t = 1/(2\sqrt{\hat v_t}\,c_2)$;
# with $\hat m_t = m_t / c_1$, $\partial x_{t,1}/\partial m_t = 1/(d\,c_1)$. $m_t$ and $v_t$ also reach the
# loss through step $t+1$, whose adjoints are added (the `+=` of (2.1)):
#
# $$\bar v_t = \frac{\bar d}{2\sqrt{\hat v_t}\,c_2} + \bar v_t^{\,\text{next}}, \tag{9.11}$$
#
# $$\bar m_t = \frac{\bar x_{t,1}}{d\,c_1} + \bar m_t^{\,\text{next}}. \tag{9.12}$$
#
# Finally (9.1): $g_t$ enters $x_{t,2}$ directly, $m_t$ with weight $1 - \beta_1$ and $v_t$ through
# $(1-\beta_2) g_t^2$, while $m_{t-1}$ and $v_{t-1}$ enter with weights $\beta_1$ and $\beta_2$:
#
# $$\bar g_t = \frac{\bar x_{t,2}}{d} + (1-\beta_1)\,\bar m_t + 2(1-\beta_2)\, g_t\, \bar v_t,\qquad
# \bar m_{t-1} = \beta_1 \bar m_t,\quad \bar v_{t-1} = \beta_2 \bar v_t. \tag{9.13}$$
#
# $\bar g_t$ is what the meta-gradient with second derivatives (4.5) multiplies by the Hessian; with the
# dashed edges dropped, $m$ and $v$ do not depend on $\phi$ and (9.10) to (9.13) are not needed.

# %%
def my_relative_inputs_backward(opt, d_x, grad, d_state, parts):
    """Exercise 1 (a): the relative inputs backward, eqs. (9.10) to (9.13). d_x: (n, 2), the adjoint
    of x_t; grad: (n,); d_state: the adjoints of the new averages from step t+1, {"m", "v"}: (n,);
    parts: (t, m, v, c1, c2, sqrt_v, denom) from opt.relative_inputs, with c1 = 1 - beta1^t,
    c2 = 1 - beta2^t, sqrt_v = sqrt(v / c2) and denom = sqrt_v + eps (opt.beta1, opt.beta2).
    Returns d m_prev, d v_prev and d grad, each (n,)."""
    raise NotImplementedError("write eqs. (9.10) to (9.13) here")

check("rnnprop_relative_inputs_backward", my_relative_inputs_backward)   # 24 drawn cases: betas, eps, t = 0 to 40, float32


# %%
def my_rnnprop_step_backward(opt, phi, d_update, d_state, cache, need_d_grad=True):
    """Exercise 1 (b): one RNNprop step backward, eqs. (9.7) to (9.13). d_update: (n,); d_state: the
    adjoints of the new state {"h1", "c1", "h2", "c2", "m", "v"}; cache: from opt.step_forward,
    (grad, parts, (x, Win), (z, 1.0), caches, (h_top, Wout), o) with o = tanh(.) of (9.3): (n, 1),
    z = ELU(p) and parts as in (a). Call your my_relative_inputs_backward (or the library's
    opt.relative_inputs_backward) for (9.10) to (9.13). Returns d_phi (shaped like phi), the
    adjoints of the incoming state (the same keys, and "t": 0) and d_grad (n,)."""
    raise NotImplementedError("write eqs. (9.7) to (9.9) here, then call part (a)")

check("rnnprop_step_backward", my_rnnprop_step_backward)   # 24 drawn steps: 1 to 3 layers, need_d_grad or not, float32


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("9.2")

# %%
answer("9.3")

# %% [markdown]
# ← [8. Neural art (Fig. 8 and 9)](08_neural_art.ipynb) | [contents](README.md) | [10. The GPU: one switch for the array backend](10_gpu.ipynb) →
