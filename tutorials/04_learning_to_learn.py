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
# # 4. Learning to learn: the optimizer as an RNN, and the meta-gradient by hand
#
# ← [3. The LSTM cell, its backward pass by hand, and backpropagation through time](03_lstm.ipynb) | [contents](README.md) | [5. Training the DM optimizer on quadratics (Fig. 4, left)](05_quadratics.ipynb) →
#
# *Prerequisites:* chapter 1 (eq. (1), the hand-designed rules), chapter 2 (adjoints, `custom_op`) and chapter 3 (the LSTM step's backward pass).
#
# Andrychowicz et al. 2016 replace the hand-designed update of chapter 1 by a small recurrent network
# with parameters $\phi$, and train $\phi$ by gradient descent on how well the optimizee does. This
# chapter states their equations (1) to (3), builds the coordinatewise optimizer, derives the gradient
# of the meta-loss by hand (with the paper's "dashed edges" dropped, and with them kept), and checks
# `minil2o.meta.meta_gradient` against central differences on a tiny quadratic.
#
# Equations (1), (2), (3) are the paper's; (4.1), (4.2), ... are this chapter's.

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check, draw_graph          # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.meta import meta_gradient, meta_loss, meta_weights, unroll, unroll_loss
from minil2o.optimizers.learned import DMOptimizer
from minil2o.problems import QuadraticFamily

# %% [markdown]
# ## 4.1 The optimizer as a recurrent network
#
# The optimizee $f$ has parameters $\theta$; the optimizer $m$, with parameters $\phi$ and a recurrent
# state $h_t$, reads the gradient $\nabla_t = \nabla f(\theta_t)$ and proposes the update:
#
# $$\theta_{t+1} = \theta_t + g_t(\nabla f(\theta_t), \phi). \tag{1}$$
#
# A good optimizer is one whose final parameters are good on average over a distribution of functions:
#
# $$\mathcal{L}(\phi) = \mathbb{E}_f\left[ f(\theta^*(f, \phi)) \right]. \tag{2}$$
#
# For training, the paper uses the whole trajectory of a $T$-step run instead of its end point:
#
# $$\mathcal{L}(\phi) = \mathbb{E}_f\left[\sum_{t=1}^{T} w_t f(\theta_t)\right]
# \quad\text{where}\quad \theta_{t+1} = \theta_t + g_t, \quad
# \begin{bmatrix} g_t \\ h_{t+1} \end{bmatrix} = m(\nabla_t, h_t, \phi). \tag{3}$$
#
# Training runs (3) forward for a *truncation* of $K$ steps (20 in the paper: sections 3.1 and 3.2),
# backpropagates through it to get $\partial\mathcal{L}/\partial\phi$, takes one Adam step on $\phi$
# (section 3: "the minimization is performed using ADAM"), and continues from where the optimizee is
# (truncated backpropagation through time).
#
# ## 4.2 Coordinatewise: one small LSTM for every coordinate
#
# An optimizee may have tens of thousands of parameters; a fully connected RNN over all of them would
# be enormous. The paper's $m$ works *coordinatewise* (section 2.1): the same two-layer LSTM of 20 units
# (section 3; the LSTM of chapter 3),
# with shared weights $\phi$ but a separate state per coordinate, maps each $\nabla_{t,i}$ to $g_{t,i}$,
# and a linear layer reads the update off the top hidden state. In `DMOptimizer` the $n$ coordinates
# are the $n$ rows of every LSTM array. Two consequences we can check: the number of parameters does
# not depend on $n$, and permuting the coordinates permutes the updates.

# %%
opt = DMOptimizer(hidden=20, num_layers=2, preprocess="none", output_scale=1.0)
phi = opt.init_params(np.random.default_rng(0), "float64")
print({k: tuple(v.shape) for k, v in phi.items()})
print("parameters in phi:", sum(int(np.prod(v.shape)) for v in phi.values()))
for n in (10, 10_000):
    state = opt.init_state(n, "float64")
    print(f"n = {n:6d}: state holds {sum(int(np.prod(v.shape)) for v in state.values())} numbers")

rng = np.random.default_rng(1)
grad = asarray(rng.standard_normal(10), dtype="float64")
perm = rng.permutation(10)
opt.phi = phi
update, _ = opt.step(grad, opt.init_state(10, "float64"))
update_perm, _ = opt.step(asarray(to_numpy(grad)[perm]), opt.init_state(10, "float64"))
print("permute then step vs step then permute:", rel_error(update_perm, to_numpy(update)[perm]))

# %% [markdown]
# ## 4.3 Why $w_t = 1$
#
# With $w_t = \mathbf{1}[t = T]$, (3) is (2): only the final loss counts. But then a truncation that does
# not contain step $T$ has a meta-loss of zero and teaches the optimizer nothing; only the last
# truncation gives a training signal. The paper relaxes the objective to $w_t > 0$ along the trajectory
# and uses $w_t = 1$ for every $t$ (section 2, after (3)): every step's loss is a target and every
# truncation has a gradient. (RNNprop instead puts $w = 1$ on the last step of *each* truncation, Lv
# et al. section 5: `meta_weights(K, "last")`.)

# %%
print("DM (w_t = 1):      ", meta_weights(5, "all"))
print("RNNprop (per unroll):", meta_weights(5, "last"))

# %% [markdown]
# ## 4.4 The meta-gradient by hand
#
# Take one truncation: $\theta_0$ and $h_0$ are constants, $t = 0, \dots, K-1$ steps are taken, and
# $L = \sum_{t=1}^K w_t f(\theta_t)$. Let $a_t = \partial L / \partial\theta_t$ be the adjoint of
# $\theta_t$ (chapter 2). $\theta_t$ reaches $L$ in three ways: through its own loss $w_t f(\theta_t)$,
# through $\theta_{t+1} = \theta_t + g_t$, and through $\nabla_t$, which the optimizer reads. The last
# way is the dashed edges of the paper's Fig. 2, which the paper drops (section 2): it assumes
# $\partial\nabla_t/\partial\phi = 0$, which "allows us to avoid computing second derivatives of f".
# The graph of three steps, drawn after the paper's Fig. 2: the optimizee on top, the optimizer $m$
# below with its state $h_t$ passed along; backpropagation follows every solid edge backwards, and
# not the dashed ones.

# %%
nodes, edges = {}, []
for t in range(4):
    x = 3.0 * t
    nodes.update({f"theta{t}": (x, 2.0, fr"$\theta_{t}$"), f"f{t}": (x, 3.2, fr"$f(\theta_{t})$")})
    edges.append((f"theta{t}", f"f{t}", "-"))
    if t == 3:
        break
    nodes.update({f"grad{t}": (x, 0.8, fr"$\nabla_{t}$"), f"m{t}": (x, -0.4, fr"$m$, $h_{t}$"),
                  f"g{t}": (x + 1.5, 0.8, fr"$g_{t}$")})
    edges += [(f"theta{t}", f"grad{t}", "--"), (f"grad{t}", f"m{t}", "-"), (f"m{t}", f"g{t}", "-"),
              (f"g{t}", f"theta{t + 1}", "-"), (f"theta{t}", f"theta{t + 1}", "-")]
    if t < 2:
        edges.append((f"m{t}", f"m{t + 1}", "-"))
fig, ax = plt.subplots(figsize=(9, 3.4))
draw_graph(ax, nodes, edges, r"three steps of (1): gradients flow back along solid edges only; "
           r"$\theta_t \to \nabla_t$ (dashed) is dropped")

# %% [markdown]
# Without them, apply (2.1) to the two remaining ways: the loss term $w_t f(\theta_t)$ contributes
# $w_t \nabla f(\theta_t) = w_t\nabla_t$, and $\theta_{t+1} = \theta_t + g_t$, whose Jacobian with respect to
# $\theta_t$ is the identity once $g_t$'s dependence on $\theta_t$ (through $\nabla_t$ only) is dropped,
# contributes $a_{t+1}$. After the last step nothing depends on $\theta_{K}$ but its own loss, so
#
# $$a_t = w_t \nabla_t + a_{t+1}, \qquad a_{K+1} = 0, \tag{4.1}$$
#
# that is, a *reverse cumulative sum* of the weighted gradients:
#
# $$a_t = \sum_{s=t}^{K} w_s \nabla_s. \tag{4.2}$$
#
# The update $g_{t-1}$ reaches $L$ only through $\theta_t = \theta_{t-1} + g_{t-1}$, so its adjoint is
#
# $$\bar g_{t-1} = a_t. \tag{4.3}$$
#
# This is the error signal fed into the backward pass of the optimizer's step $t-1$
# (`opt.step_backward`, built from chapter 3's `lstm_step_backward`). The walk goes backwards,
# $t = K, \dots, 1$: form $a_t$ by (4.1), run the backward pass of step $t-1$ with $\bar g_{t-1} = a_t$
# and $\bar h_t$, the adjoint of the state that step produced (zero for the last step, else what the
# backward pass of step $t$ returned one iteration earlier), and add up the parameter gradients:
#
# $$\frac{\partial L}{\partial \phi} = \sum_{t=1}^{K} \bar\phi^{(t-1)}, \qquad
# \big(\bar\phi^{(t-1)}, \bar h_{t-1}, \bar\nabla_{t-1}\big) = \text{step backward}_{t-1}\big(\bar g_{t-1},\, \bar h_t\big). \tag{4.4}$$
#
# Keeping the dashed edges adds the path $\theta_t \to \nabla_t \to m$. With $H_t$ the Hessian of $f$
# at $\theta_t$, the Jacobian of $\nabla_t = \nabla f(\theta_t)$ with respect to $\theta_t$ is $H_t$, which
# is symmetric, so by (2.1) this path adds $H_t^\top\bar\nabla_t = H_t\bar\nabla_t$, with $\bar\nabla_t$ the
# adjoint of the gradient that the backward pass of step $t$ returns:
#
# $$a_t = w_t \nabla_t + a_{t+1} + H_t \bar\nabla_t, \tag{4.5}$$
#
# one Hessian-vector product per step (`problem.hvp`), and (4.2) no longer holds. In the walk, the
# backward pass of step $t-1$ returns $\bar\nabla_{t-1}$, and $H_{t-1}\bar\nabla_{t-1}$ (`problem.hvp` at
# $\theta_{t-1}$) goes into $a_{t-1}$ before the next iteration forms it.
#
# **A meta-batch.** The expectation $\mathbb{E}_f$ of (3) is estimated on $B$ functions at once: one
# problem holds them side by side ($\theta_t$ is $B$ stacked vectors, its loss $F(\theta_t) =
# \sum_b f_b(\theta_{t,b})$ the sum, its gradient the stacked $\nabla f_b$), and the meta-loss is the
# sample mean $L = \frac{1}{B}\sum_b \sum_t w_t f_b(\theta_{t,b}) = \frac{1}{B}\sum_t w_t F(\theta_t)$.
# The factor $1/B$ multiplies every loss term, so it multiplies every adjoint, and (4.1) becomes
#
# $$a_t = \frac{w_t}{B} \nabla F(\theta_t) + a_{t+1}. \tag{4.6}$$
#
# The LSTM's weights are shared by all coordinates of all $B$ functions, so (4.4) sums their
# contributions: without the $1/B$ the meta-gradient would grow with the batch.
#
# **Inside the step backward.** Step $t-1$ of $m$ (section 4.2) is: the input $x = \text{pre}(\nabla_{t-1})$
# (preprocessing: the identity here, Appendix A in chapter 6), two LSTM steps (3.1) to (3.4),
# $(h^1_t, c^1_t) = \text{LSTM}_1(x, h^1_{t-1}, c^1_{t-1})$ and $(h^2_t, c^2_t) =
# \text{LSTM}_2(h^1_t, h^2_{t-1}, c^2_{t-1})$, and the read-out $g_{t-1} = s\,(h^2_t W_{\text{out}} +
# b_{\text{out}})$ with the output scale $s$. Its backward pass receives $\bar g_{t-1} = a_t$ and, from
# step $t$, the adjoints $\bar h^{l,\text{next}}$, $\bar c^{l,\text{next}}$ of the state it produced
# (zero for the last step). Through the read-out (a linear layer, (2.2) and (2.3)):
#
# $$\bar o = s\,\bar g_{t-1},\qquad \bar W_{\text{out}} = (h^2_t)^\top \bar o,\qquad
# \bar b_{\text{out}} = \textstyle\sum_i \bar o_i,\qquad
# \bar h^2_t = \bar o\, W_{\text{out}}^\top + \bar h^{2,\text{next}}. \tag{4.7}$$
#
# The top hidden state is used twice, by the read-out and by the next step, so its adjoint is a sum
# (the `+=` of (2.1)). Layer 2's step backward (3.5) to (3.8) with $(\bar h^2_t, \bar c^{2,\text{next}})$
# returns its weight gradients, the adjoints of $h^2_{t-1}, c^2_{t-1}$ (passed to step $t-2$) and the
# adjoint of its input $h^1_t$, which is again used twice:
#
# $$\bar h^1_t = \bar x^{(2)} + \bar h^{1,\text{next}}. \tag{4.8}$$
#
# Layer 1's step backward with $(\bar h^1_t, \bar c^{1,\text{next}})$ returns its weight gradients,
# the adjoints of $h^1_{t-1}, c^1_{t-1}$, and $\bar x$, the adjoint of its input; only when the dashed
# edges are kept (4.5) is $\bar x$ carried on, through the preprocessing, to $\bar\nabla_{t-1}$. Each
# $\bar W$ of a step sums over the $n$ coordinates (the rows), as (3.8) sums over its rows, and (4.4)
# then sums over the steps. This is `opt.step_backward` (and `lstm_stack_backward` for the two layers).
#
# In this section $B = 1$. From scratch, (4.1) against (4.2) on a tiny unroll (a 3-d quadratic, an
# LSTM of 4 units, $K = 5$, float64):

# %%
rng = np.random.default_rng(0)
problem = QuadraticFamily(dim=3, init_std=1.0, dtype="float64").sample(rng)
opt = DMOptimizer(hidden=4, num_layers=2, preprocess="none", output_scale=1.0)
phi = opt.init_params(rng, "float64")
theta0, state0 = problem.init(rng), opt.init_state(problem.n, "float64")
K = 5
batches = [None] * (K + 1)                                         # a quadratic needs no data
weights = meta_weights(K, "all")
tr = unroll(opt, phi, problem, theta0, state0, batches)            # thetas, grads, caches, t = 0..K

a = [None] * (K + 2)
a[K + 1] = xp.zeros_like(theta0)
for t in range(K, 0, -1):
    a[t] = weights[t - 1] * tr.grads[t] + a[t + 1]                 # eq. (4.1)
weighted = np.stack([w * to_numpy(g) for w, g in zip(weights, tr.grads[1:])])   # (K, n)
reverse_cumsum = np.cumsum(weighted[::-1], axis=0)[::-1]           # eq. (4.2)
print("(4.1) vs (4.2):", rel_error(np.stack([to_numpy(v) for v in a[1:K + 1]]), reverse_cumsum))

# %% [markdown]
# `minil2o.meta.meta_gradient(opt, phi, problem, tr, weights, second_derivatives)` runs (4.1) or (4.5)
# together with (4.3) and (4.4) (implementing it is the exercise). Now the check. For the version with
# the dashed edges dropped, the function whose exact derivative it is feeds the optimizer the
# *recorded* gradients as constants (`fixed_grads`), while the losses are still taken at the
# $\theta_t(\phi)$ the optimizer produces; with second derivatives kept, it is the true meta-loss.
# Central differences with $h = 10^{-5}$, in float64:

# %%
fixed = tr.grads[:K]                                               # grad_0 .. grad_{K-1}, constants
def loss_dropped(**p):
    return unroll_loss(opt, p, problem, theta0, state0, batches, weights, fixed_grads=fixed)
def loss_true(**p):
    return unroll_loss(opt, p, problem, theta0, state0, batches, weights)

d_dropped = meta_gradient(opt, phi, problem, tr, weights)
print("dashed edges dropped, against central differences of the loss with fixed gradients:")
err_dropped = check_gradients(loss_dropped, phi, d_dropped, h=1e-5)
d_kept = meta_gradient(opt, phi, problem, tr, weights, second_derivatives=True)
print("second derivatives kept, against central differences of the true meta-loss:")
err_kept = check_gradients(loss_true, phi, d_kept, h=1e-5)

# %% [markdown]
# ## 4.5 The two meta-gradients differ
#
# Dropping the dashed edges changes the gradient: it is the exact gradient of a different function.
# How much depends on how strongly the updates depend on the gradients, $\partial g_t / \partial\nabla_t$.
# An untrained LSTM barely looks at its input, so at initialization the two nearly agree. A tiny
# meta-training run (300 Adam steps on $\phi$, one 10-step truncation on a fresh batch of 16 random 3-d
# quadratics each, the dashed edges dropped as in the paper; a few seconds) makes the optimizer use its
# input, and the gap grows.

# %%
from minil2o.optimizers.hand import Adam
from minil2o.training.flat import flatten, unflatten

train_family = QuadraticFamily(dim=3, num_functions=16, init_std=1.0, dtype="float64")
K_train, w_train = 10, meta_weights(10, "all")
meta_opt = Adam(lr=0.01)
phi_trained, meta_state, history = dict(phi), meta_opt.init_state(flatten(phi).shape[0], "float64"), []
rng = np.random.default_rng(1)
for it in range(300):
    p = train_family.sample(rng)
    tr_p = unroll(opt, phi_trained, p, p.init(rng), opt.init_state(p.n, "float64"), [None] * (K_train + 1))
    history.append(to_float(meta_loss(tr_p, w_train, p.num_problems)))
    step, meta_state = meta_opt.step(flatten(meta_gradient(opt, phi_trained, p, tr_p, w_train)), meta_state)
    phi_trained = unflatten(flatten(phi_trained) + step, phi_trained)

for label, p in (("at initialization", phi), ("after 300 meta-steps", phi_trained)):
    tr_p = unroll(opt, p, problem, theta0, state0, batches)
    dropped = meta_gradient(opt, p, problem, tr_p, weights)
    kept = meta_gradient(opt, p, problem, tr_p, weights, second_derivatives=True)
    print(f"{label:22s} relative difference, dropped vs kept: {rel_error(flatten(dropped), flatten(kept)):.1e}")

# %% [markdown]
# The training curve, and the trained optimizer against SGD and Adam (learning rates tuned on the same
# family) on 20 fresh problems for the 10 steps it was trained for:

# %%
from minil2o.evaluation.evaluate import learning_curves, tune_learning_rate
from minil2o.optimizers.hand import HAND_OPTIMIZERS, make_hand_optimizer

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.2))
smooth = np.convolve(history, np.ones(20) / 20, mode="valid")
ax0.semilogy(history, color="0.8"); ax0.semilogy(np.arange(19, 300), smooth)
ax0.set_xlabel("meta-step"); ax0.set_title("meta-loss (3), per function")
print(f"meta-loss per function, mean of meta-steps 1-20: {np.mean(history[:20]):.3g}, "
      f"of 281-300: {np.mean(history[-20:]):.3g}")
opt.phi = phi_trained
curves = {"LSTM (learned)": learning_curves(train_family, opt, 20, K_train, seed=5)}
for name in ("sgd", "adam"):
    make = lambda lr, name=name: make_hand_optimizer(name, lr)
    with np.errstate(over="ignore", invalid="ignore"):
        lr, _ = tune_learning_rate(train_family, make, HAND_OPTIMIZERS[name].lr_grid, 5, K_train, seed=6)
    curves[f"{name} (lr {lr:g})"] = learning_curves(train_family, make(lr), 20, K_train, seed=5)
for label, c in curves.items():
    ax1.semilogy(c.mean(axis=0), "o-", ms=3, label=label)
    print(f"{label:22s} mean f at step 0: {c.mean(axis=0)[0]:.3g}, at step {K_train}: {c.mean(axis=0)[-1]:.3g}")
ax1.set_xlabel("step"); ax1.set_title(r"$f(\theta_t)$, mean of 20 fresh problems"); ax1.legend(fontsize=8)
plt.tight_layout()


# %% [markdown]
# Left: the meta-loss of each meta-step (grey; each on a fresh batch of 16 quadratics) and its
# 20-step moving average, which falls over the 300 meta-steps (the first print). Right: on 20 fresh
# problems, the mean loss of the toy optimizer after the 10 steps it was trained for is lower than that
# of tuned SGD and tuned Adam (the last three prints; means of 20, for this one seed).
#
# This toy run is all the training this chapter does; chapter 5 trains the paper's optimizer on the
# paper's quadratics with `minil2o.training.train.Trainer`, which adds truncations along a 100-step horizon,
# batches of problems, model selection on validation problems and checkpoints.
#
# ## Summary
#
# * The optimizer is an RNN $m(\nabla_t, h_t; \phi)$ producing updates (1); it is trained on the
#   weighted sum of losses along the trajectory (3), with $w_t = 1$ so that every truncation has a signal.
# * It is coordinatewise: one small LSTM, shared weights, a state per coordinate; $\phi$ does not grow
#   with the optimizee.
# * With the dashed edges dropped, the adjoint of $\theta_t$ is a reverse cumulative sum of the weighted
#   gradients (4.1, 4.2); the update $g_{t-1}$ receives $a_t$ (4.3); BPTT through the optimizer's LSTM
#   gives $\partial L/\partial\phi$ (4.4). Keeping them adds $H_t\bar\nabla_t$ (4.5).
# * Both versions match central differences to about $10^{-8}$, each against its own function; they
#   are different gradients, and the difference grows once the optimizer responds to its input.
#
# ## Exercises
#
# 1. **The meta-gradient.** Implement `my_meta_gradient` below: walk $t = K, \dots, 1$, form $a_t$ by
#    (4.1) (or (4.5) when `second_derivatives`), call
#    `opt.step_backward(phi, a_t, d_state, tr.caches[t - 1], need_d_grad=second_derivatives)` with the
#    adjoint of (4.3), add up $\bar\phi$ (4.4), and for (4.5) add
#    `problem.hvp(tr.thetas[t - 1], d_grad, tr.batches[t - 1])`. Start `d_state` from
#    `minil2o.meta.zeros_like_state(tr.state)`, and divide the weights by the meta-batch size $B$
#    (`problem.num_problems`) as in (4.6). The check, the workbook's `meta_gradient`, draws 24
#    truncations: $K = 1$ to 6 steps, weights random, `"last"` and partly zero, meta-batches of
#    $B = 1$ to 3 (the $1/B$), the DM optimizer and RNNprop, quadratics and a small MLP whose
#    Hessian changes with $\theta$, with and without second derivatives, float32 too. It compares
#    $\bar\phi$ with the autograd engine and central differences of the unroll's loss (dropped: with
#    the recorded gradients as constants; kept: the true meta-loss), checks that `phi`, the weights
#    and `tr` are left as they were, and prints one verdict line, the same as
#    `minil2o workbook check w.py meta_gradient` (after `minil2o workbook new w.py`);
#    `dm_step_backward` is the step's adjoint (4.3), (4.4).
# 2. Set `weights = meta_weights(K, "last")` and rerun the cell of (4.1) against (4.2). Which entries
#    of $a_t$ does (4.2) give now?
# 3. Train the toy optimizer with `second_derivatives=True` in the loop of section 4.5. Is it better
#    after 300 meta-steps? What does each meta-step cost?
# 4. Scale the quadratic by 10 (chapter 1's `Scaled`) and evaluate the trained toy optimizer on it.
#    Which class of chapter 1 does the DM optimizer belong to?

# %%
def my_meta_gradient(opt, phi, problem, tr, weights, second_derivatives=False):
    """Exercise 1: the meta-gradient of one truncation by hand. Walk t = K, ..., 1:
    a_t by (4.1) with the 1/B of (4.6) (or (4.5) when second_derivatives), the step's adjoint
    (4.3), opt.step_backward(phi, a_t, d_state, tr.caches[t - 1], need_d_grad=second_derivatives),
    and the sum (4.4). Returns d_phi, a dict shaped like phi."""
    raise NotImplementedError("write the loop of eqs. (4.1) / (4.5), (4.3), (4.4) and (4.6) here")

check("meta_gradient", my_meta_gradient)   # 24 drawn truncations: K = 1 to 6, B = 1 to 3, DM and RNNprop, MLP


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("4.2")

# %%
answer("4.3")

# %%
answer("4.4")

# %% [markdown]
# ← [3. The LSTM cell, its backward pass by hand, and backpropagation through time](03_lstm.ipynb) | [contents](README.md) | [5. Training the DM optimizer on quadratics (Fig. 4, left)](05_quadratics.ipynb) →
