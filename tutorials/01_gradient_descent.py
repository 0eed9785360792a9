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
# # 1. Gradient descent, step sizes and hand-designed update rules
#
# ← (first chapter) | [contents](README.md) | [2. Reverse-mode autograd from scratch, and gradient checking](02_autograd.ipynb) →
#
# *Prerequisites:* none beyond calculus and NumPy.
#
# Every optimizer in this project, hand-designed or learned, has the form
#
# $$\theta_{t+1} = \theta_t + g_t \tag{1}$$
#
# (equation (1) of Andrychowicz et al. 2016): the optimizer reads the gradient $\nabla f(\theta_t)$ and
# proposes the update $g_t$. This chapter looks at the updates people designed by hand: plain gradient
# descent as a numerical method for an ODE, what its step size does, momentum, RMSprop and Adam (Table 1
# of Lv, Jiang & Li 2017, "RNNprop"), and the observation of RNNprop's section 3.2 that scaling $f$
# changes what SGD does but not what Adam does. That observation is the seed of RNNprop.
#
# Equations from a paper carry the paper's number (here (1)); equations of this chapter are numbered
# (1.1), (1.2), ...

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check           # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.gradcheck import rel_error
from minil2o.optimizers import hand
from minil2o.problems import QuadraticFamily, QuadraticProblem

# %% [markdown]
# ## 1.1 Gradient descent is Euler's method
#
# Follow the steepest descent direction continuously in a "time" $s$: the *gradient flow*
#
# $$\frac{d\theta}{ds} = -\nabla f(\theta(s)). \tag{1.1}$$
#
# Euler's method replaces the derivative by a finite difference over a step $\alpha$,
# $(\theta(s+\alpha) - \theta(s))/\alpha \approx -\nabla f(\theta(s))$, and that is gradient descent:
#
# $$\theta_{t+1} = \theta_t - \alpha \nabla f(\theta_t), \qquad \theta_t \approx \theta(t\alpha). \tag{1.2}$$
#
# Our test function is the optimizee of Andrychowicz et al.'s first experiment (section 3.1), a
# quadratic $f(\theta) = \lVert W\theta - y\rVert^2$. With the residual $r = W\theta - y$, $f = r^\top r$
# changes by $df = 2r^\top dr = 2 r^\top W\,d\theta$, so its gradient is $\nabla f = 2W^\top(W\theta - y)$;
# that is affine in $\theta$ with matrix $2W^\top W$, so the Hessian is the constant $H = 2W^\top W$
# (chapter 5 numbers both, (5.2) and (5.3)). `QuadraticProblem` gives both, the gradient written by
# hand. We take $d = 2$ so that we can draw it. Here $W$ is square and invertible, so the minimizer
# $\theta^\star = W^{-1}y$ has $f(\theta^\star) = 0$, and since $y = W\theta^\star$ the gradient is
# $\nabla f(\theta) = 2W^\top W(\theta - \theta^\star) = H(\theta - \theta^\star)$.

# %%
rng = np.random.default_rng(5)
problem = QuadraticFamily(dim=2, dtype="float64").sample(rng)     # W: (1, 2, 2), y: (1, 2)
W, y = to_numpy(problem.W)[0], to_numpy(problem.y)[0]
H = 2 * W.T @ W                                                    # (2, 2), the Hessian
lam, V = np.linalg.eigh(H)                                         # eigenvalues, ascending
theta_star = np.linalg.solve(W, y)                                 # the minimizer, f = 0
print("eigenvalues of H:", lam.round(3), " condition number:", round(lam[-1] / lam[0], 1))

def gradient_descent(problem, theta0, lr, num_steps):
    """Iterate eq. (1.2); returns the iterates (num_steps + 1, n) and losses on the host."""
    theta, thetas, losses, lr = theta0, [], [], float(lr)          # a Python float, not np.float64
    for t in range(num_steps + 1):
        f, grad = problem.loss_and_grad(theta)
        thetas.append(to_numpy(theta))
        losses.append(to_float(f))
        theta = theta - lr * grad                                  # eq. (1.2)
    return np.stack(thetas), np.array(losses)

theta0_host = theta_star + np.array([2.0, -1.5])
theta0 = asarray(theta0_host, dtype="float64")


# %% [markdown]
# On a quadratic the flow (1.1) has a closed form. With $\nabla f = H(\theta - \theta^\star)$ it reads
# $\frac{d}{ds}(\theta - \theta^\star) = -H(\theta - \theta^\star)$, a linear ODE. Diagonalize
# $H = V \Lambda V^\top$ ($V$ orthogonal, $\Lambda$ the eigenvalues) and write $e = V^\top(\theta - \theta^\star)$:
# then $de_i/ds = -\lambda_i e_i$, so $e_i(s) = e^{-s\lambda_i} e_i(0)$, and back in $\theta$,
#
# $$\theta(s) = \theta^\star + V e^{-s\Lambda} V^\top (\theta_0 - \theta^\star). \tag{1.3}$$
#
# Euler's method (1.2) with the same gradient gives $\theta_{t+1} - \theta^\star = (I - \alpha H)(\theta_t - \theta^\star)$,
# so $\theta_t - \theta^\star = (I - \alpha H)^t(\theta_0 - \theta^\star)$. Euler is first-order accurate:
# by Taylor's theorem $\theta(s + \alpha) = \theta(s) + \alpha\,\theta'(s) + O(\alpha^2)$, so each step
# makes an error of order $\alpha^2$; reaching a fixed time $s = t\alpha$ takes $s/\alpha$ steps, and
# since a stable step does not amplify earlier errors ($\lVert I - \alpha H\rVert \le 1$), they add up to
# order $(s/\alpha)\,\alpha^2 = s\,\alpha$. So at a fixed time the distance between (1.2) and (1.3)
# shrinks in proportion to $\alpha$. The check: ten times smaller steps, ten times smaller error.

# %%
def flow(s):
    """Eq. (1.3) at the times s (array); returns (len(s), 2)."""
    decay = np.exp(-np.outer(s, lam))                              # (S, 2)
    return theta_star + (decay * ((theta0_host - theta_star) @ V)) @ V.T

s_end = 20.0 / lam[-1]                                            # 200, 2000, 20000 steps
for lr in (0.1 / lam[-1], 0.01 / lam[-1], 0.001 / lam[-1]):
    steps = int(round(s_end / lr))
    thetas, _ = gradient_descent(problem, theta0, lr, steps)
    gap = np.abs(thetas - flow(lr * np.arange(steps + 1))).max()
    print(f"alpha = {lr:.2e}: {steps:6d} Euler steps, max |theta_t - theta(t alpha)| = {gap:.2e}")

# %% [markdown]
# ## 1.2 The step size
#
# Along each eigenvector of $H$, one Euler step multiplies the error by $1 - \alpha\lambda_i$. Gradient
# descent converges exactly when every factor has magnitude below one:
#
# $$|1 - \alpha\lambda_i| < 1 \ \text{ for all } i \iff 0 < \alpha < \frac{2}{\lambda_{\max}}. \tag{1.4}$$
#
# The slowest direction contracts by $1 - \alpha\lambda_{\min}$ per step, so shrinking its error by a
# factor $e$ takes $-1/\log(1 - \alpha\lambda_{\min}) \approx 1/(\alpha\lambda_{\min})$ steps, and with
# $\alpha < 2/\lambda_{\max}$ that is more than $\lambda_{\max}/(2\lambda_{\min})$: even the largest stable
# step needs a number of steps per e-fold of the order of the condition number $\lambda_{\max}/\lambda_{\min}$. Below:
# iterates on the contours of $f$ and the loss, for steps on both sides of $2/\lambda_{\max}$.

# %%
factors = (0.3, 1.0, 1.9, 2.05)                                    # alpha * lambda_max
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.4))
g0, g1 = np.meshgrid(np.linspace(-3, 3, 80), np.linspace(-3, 3, 80))
pts = np.stack([g0.ravel(), g1.ravel()], axis=1) + theta_star      # (6400, 2)
fz = (((pts @ W.T) - y) ** 2).sum(axis=1).reshape(g0.shape)
ax0.contour(g0 + theta_star[0], g1 + theta_star[1], fz, levels=np.geomspace(0.05, fz.max(), 12),
            colors="0.75", linewidths=0.8)
ax0.plot(*flow(np.linspace(0, 3 * s_end, 200)).T, "k--", lw=1, label="flow (1.3)")
for k in factors:
    thetas, losses = gradient_descent(problem, theta0, k / lam[-1], 40)
    if k < 2.0:
        ax0.plot(*thetas[:15].T, ".-", ms=4, lw=0.8, label=fr"$\alpha\lambda_{{max}}$ = {k}")
    ax1.semilogy(losses, label=fr"$\alpha\lambda_{{max}}$ = {k}")
ax0.set_title(r"iterates on the contours of $f$"); ax0.legend(fontsize=7)
ax1.set_title(r"$f(\theta_t)$"); ax1.set_xlabel(r"step $t$"); ax1.legend(fontsize=7)
plt.tight_layout()


# %% [markdown]
# Larger steps are faster as long as (1.4) holds: $1.9/\lambda_{\max}$ zig-zags across the steep
# direction (its factor there is $1 - 1.9 = -0.9$) but contracts the slow direction most, and
# $2.05/\lambda_{\max}$ diverges, as (1.4) says. (On a quadratic the best constant step is
# $2/(\lambda_{\min} + \lambda_{\max})$: the slowest factor $\max_i |1 - \alpha\lambda_i|$ is the larger of
# $1 - \alpha\lambda_{\min}$, which falls with $\alpha$, and $\alpha\lambda_{\max} - 1$, which grows, so it is
# smallest where the two are equal, $\alpha(\lambda_{\min} + \lambda_{\max}) = 2$.) Gradient descent needs $\lambda_{\max}$,
# which nobody tells it. Each hand-designed rule below is a different guess at how to choose the step
# per coordinate from the gradients seen so far.
#
# ## 1.3 Momentum, RMSprop and Adam (Table 1 of RNNprop)
#
# Table 1 of Lv et al. 2017 lists the update rules of the common optimizers. With $g_t$ the gradient
# at step $t$ and all vector operations coordinatewise:
#
# | name | update rule |
# |---|---|
# | SGD | $\Delta\theta_t = -\alpha g_t$ |
# | Momentum | $m_t = \mu m_{t-1} + g_t, \quad \Delta\theta_t = -\alpha m_t$ |
# | Adagrad | $G_t = G_{t-1} + g_t^2, \quad \Delta\theta_t = -\alpha\, g_t / (\sqrt{G_t} + \epsilon)$ |
# | Adadelta | $v_t = \rho v_{t-1} + (1-\rho) g_t^2,\ \ \delta_t = \frac{\sqrt{D_{t-1}+\epsilon}}{\sqrt{v_t+\epsilon}}\, g_t,\ \ D_t = \rho D_{t-1} + (1-\rho)\delta_t^2,\ \ \Delta\theta_t = -\alpha\,\delta_t$ |
# | RMSprop | $v_t = \gamma v_{t-1} + (1-\gamma) g_t^2, \quad \Delta\theta_t = -\alpha\, g_t / (\sqrt{v_t} + \epsilon)$ |
# | Adam | $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ \ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\ \ \hat m_t = \frac{m_t}{1-\beta_1^t},\ \ \hat v_t = \frac{v_t}{1-\beta_2^t},\ \ \Delta\theta_t = -\alpha\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$ |
#
# ($\epsilon$ sits where Torch7 puts it; Andrychowicz et al. ran their baselines with Torch7's defaults,
# section 3, and Lv et al. with TensorFlow's, section 5.) Three rows,
# written exactly as the table says, as pure functions of the gradient and a state dict:

# %%
def momentum_step(g, state, lr, mu=0.9):
    m = mu * state["m"] + g                                        # m_t = mu m_{t-1} + g_t
    return -lr * m, {"m": m}

def rmsprop_step(g, state, lr, gamma=0.99, eps=1e-8):
    v = gamma * state["v"] + (1 - gamma) * g * g                   # v_t
    return -lr * g / (xp.sqrt(v) + eps), {"v": v}

def adam_step(g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * g                       # m_t
    v = beta2 * state["v"] + (1 - beta2) * g * g                   # v_t
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)      # bias correction
    return -lr * m_hat / (xp.sqrt(v_hat) + eps), {"t": t, "m": m, "v": v}


# %% [markdown]
# The library's optimizers (`minil2o.optimizers.hand`) share one interface with the learned ones:
# `state = opt.init_state(n)`, `update, state = opt.step(grad, state)`. The check: feed both the same
# 20 random gradients and compare the 20 updates.

# %%
def run_rule(step, state, grads, **hyper):
    updates = []
    for g in grads:
        update, state = step(g, state, **hyper)
        updates.append(to_numpy(update))
    return np.stack(updates)                                       # (T, n)

grads = [asarray(g, dtype="float64") for g in np.random.default_rng(0).standard_normal((20, 5))]
zeros = lambda: xp.zeros((5,), dtype=xp.float64)
pairs = [("Momentum", momentum_step, {"m": zeros()}, hand.Momentum(lr=0.1)),
         ("RMSprop", rmsprop_step, {"v": zeros()}, hand.RMSprop(lr=0.01)),
         ("Adam", adam_step, {"t": 0, "m": zeros(), "v": zeros()}, hand.Adam(lr=0.01))]
for name, step, state, opt in pairs:
    mine = run_rule(step, state, grads, lr=opt.lr)
    lib = run_rule(lambda g, s: opt.step(g, s), opt.init_state(5, "float64"), grads)
    print(f"{name:9s} relative error, from scratch vs minil2o: {rel_error(mine, lib):.1e}")

# %% [markdown]
# Now the library versions on the paper's setting: random 10-dimensional quadratics, 100 steps, each
# learning rate tuned by grid search on 5 problems (`minil2o.evaluation.evaluate.tune_learning_rate`), as both
# papers tuned their baselines; the curves are means over 20 fresh problems.

# %%
from minil2o.evaluation.evaluate import learning_curves, summarize, tune_learning_rate

family = QuadraticFamily(dim=10)                                   # float32, as for training
plt.figure(figsize=(5.5, 3.2))
for name in ("sgd", "momentum", "rmsprop", "adam"):
    make = lambda lr, name=name: hand.make_hand_optimizer(name, lr)
    with np.errstate(over="ignore", invalid="ignore"):              # diverging rates score inf
        lr, _ = tune_learning_rate(family, make, hand.HAND_OPTIMIZERS[name].lr_grid,
                                   num_problems=5, steps=100, seed=1)
    mean, stderr, diverged = summarize(learning_curves(family, make(lr), 20, 100, seed=2))
    plt.semilogy(mean, label=f"{name} (lr {lr:g})")
    print(f"{name:9s} tuned lr {lr:<10g} mean final loss {mean[-1]:.3g}")
plt.xlabel("step"); plt.ylabel(r"$f(\theta_t)$, mean of 20"); plt.legend(fontsize=8)
plt.title("10-d quadratics, tuned hand-designed optimizers");

# %% [markdown]
# The mean loss of 20 problems for each rule at its tuned rate. Momentum ends lowest and SGD and
# RMSprop highest; RMSprop's best rate is large enough that its first steps overshoot (the early
# peak) before it settles. Which rule wins depends on the family and the horizon; there
# is no rule that is best everywhere, which is the motivation for learning one.
#
# ## 1.4 Scaling $f$ changes SGD but not Adam (RNNprop, section 3.2)
#
# Lv et al. split Table 1 into two classes. SGD and Momentum take their effective step from the
# *absolute* size of the gradient; Adagrad, Adadelta, RMSprop and Adam from its size *relative* to the
# root of a moving second moment. Scale the optimizee by $c > 0$, $f_c(\theta) = c f(\theta)$, so that
# $\nabla f_c = c\,\nabla f$. Adam's $m_t$ is linear in the gradients and $v_t$ is linear in their
# squares, so feeding $cg$ gives $\hat m_t(cg) = c\,\hat m_t(g)$ and $\hat v_t(cg) = c^2\,\hat v_t(g)$,
# whose root is $c\sqrt{\hat v_t(g)}$. Then
#
# $$\text{SGD: } \Delta\theta_t = -\alpha c\, g_t, \qquad
# \text{Adam: } \frac{\hat m_t(c g)}{\sqrt{\hat v_t(c g)}} = \frac{c\, \hat m_t(g)}{c \sqrt{\hat v_t(g)}}
# = \frac{\hat m_t(g)}{\sqrt{\hat v_t(g)}}. \tag{1.5}$$
#
# SGD's step is multiplied by $c$ (its good learning rate depends on $c$); Adam's is unchanged
# (up to $\epsilon$). The check, one Adam step against one SGD step:

# %%
g = grads[0]
for c in (1e-3, 1e3):
    adam_gap = rel_error(hand.Adam(0.01).step(c * g, hand.Adam().init_state(5, "float64"))[0],
                         hand.Adam(0.01).step(g, hand.Adam().init_state(5, "float64"))[0])
    sgd_gap = rel_error(hand.SGD(0.01).step(c * g, {"t": 0})[0], hand.SGD(0.01).step(g, {"t": 0})[0])
    print(f"c = {c:g}: relative change of the update, Adam {adam_gap:.1e}, SGD {sgd_gap:.2f}")

# %% [markdown]
# And over whole runs: the same quadratic with $c = 0.1, 1, 10$, plotted as $f_c / c$ so that the
# curves would coincide if the optimizer did not care about $c$. A wrapper problem is all it takes.

# %%
from minil2o.evaluation.evaluate import run_optimizer
from minil2o.problems import Problem

class Scaled(Problem):
    """f_c(theta) = c f(theta): the loss and its gradient times c."""
    def __init__(self, problem, c):
        self.problem, self.c, self.n, self.dtype = problem, c, problem.n, problem.dtype
    def init(self, rng):
        return self.problem.init(rng)
    def loss_and_grad(self, theta, batch=None):
        f, grad = self.problem.loss_and_grad(theta, batch)
        return self.c * f, self.c * grad

base = family.sample(np.random.default_rng(7))
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for ax, opt in zip(axes, (hand.SGD(lr=0.01), hand.Adam(lr=0.1))):
    for c in (0.1, 1.0, 10.0):
        with np.errstate(over="ignore", invalid="ignore"):
            losses = run_optimizer(Scaled(base, c), opt, 100, np.random.default_rng(0))
        ax.semilogy(losses / c, label=f"$c$ = {c:g}")
    ax.set_title(f"{opt}"); ax.set_xlabel("step"); ax.legend(fontsize=8); ax.set_ylim(1e-2, 1e3)
axes[0].set_ylabel(r"$f_c(\theta_t)\,/\,c$")
plt.tight_layout()


# %% [markdown]
# SGD crawls at $c = 0.1$ and diverges at $c = 10$ (its curve stops at the first non-finite loss);
# Adam's three curves are one. A learned optimizer fed raw gradients is in SGD's class: the DM optimizer
# learns the gradient scale of the problems it was trained on. RNNprop (a later chapter) feeds the
# LSTM Adam's relative quantities $\hat m_t / \sqrt{\hat v_t}$ and $g_t/\sqrt{\hat v_t}$, putting it in
# the second class, and trains on randomly scaled problems.
#
# ## Summary
#
# * Gradient descent (1.2) is Euler's method for the gradient flow (1.1); it is first-order accurate.
# * On a quadratic it converges iff $\alpha < 2/\lambda_{\max}$ (1.4), and then needs about
#   $\lambda_{\max}/\lambda_{\min}$ steps per e-fold: the step size is the whole difficulty.
# * Table 1's rules choose per-coordinate steps from past gradients; `minil2o.optimizers.hand`
#   implements them with one interface, `update, state = opt.step(grad, state)`.
# * Scaling $f$ by $c$ scales SGD's and Momentum's steps by $c$ but leaves Adam's unchanged (1.5).
#
# ## Exercises
#
# 1. **Adagrad.** Implement the Adagrad row of Table 1 as the library has it: `adagrad_step(opt,
#    grad, state)` below is the method `hand.Adagrad.step` written as a function, its `self` the
#    argument `opt` ($\alpha$ is `opt.lr`, $\epsilon$ is `opt.eps`):
#    $$G_t = G_{t-1} + g_t^2, \qquad \Delta\theta_t = -\alpha\,\frac{g_t}{\sqrt{G_t} + \epsilon}. \tag{1.6}$$
#    `state` is `{"t": t - 1, "G": G_{t-1}}`; return the update and a new state
#    `{"t": t, "G": G_t}`, leaving the state passed in as it was (the caller may replay it). The
#    check, the workbook's `adagrad_step`, draws 24 cases: 1 to 9 coordinates, $\alpha$ and
#    $\epsilon$ across their ranges, gradients near $\epsilon$ (where its place decides the step),
#    of scale 1 and spread over decades, float32 and float64, one step from a state after up to 30
#    steps and a few steps in a row. It compares each update and $G_t$ with a float64 answer and
#    checks the contract (dtype kept, the state passed in left as it was). It prints one line, the
#    same as `minil2o workbook check w.py adagrad_step` (after `minil2o workbook new w.py`):
#    `right`; or `wrong` with the case's settings, the output that differs, its error and bound, the
#    equation to revisit and the seed that replays the case; `error` with the line of your code that
#    raised; or `not started` while the function still raises `NotImplementedError` (the chapter
#    goes on).
# 2. Is Momentum in the first class or the second? Predict, then rerun the scaling cell with
#    `hand.Momentum(lr=0.001)`.
# 3. Find the largest stable step of section 1.2 by bisection on $\alpha$ (diverged or not after 200
#    steps) and compare it with $2/\lambda_{\max}$.
# 4. Adam is invariant to scaling $f$ only up to $\epsilon$. For which $c$ does the invariance break?
#    Find it with the one-step check above.

# %%
def adagrad_step(opt, grad, state):
    """Exercise 1: one step of Adagrad, Table 1 (Lv et al. 2017), eq. (1.6): the method
    hand.Adagrad.step as a function, its `self` the argument `opt` (opt.lr is alpha, opt.eps is
    eps).

    grad: (n,), the gradient g_t; state: {"t": t - 1, the steps taken so far, "G": G_{t-1} (n,)}.
    Returns the update Delta theta_t (n,) and a new state {"t": t, "G": G_t}, arrays of grad's
    dtype; the state passed in is left as it was."""
    raise NotImplementedError("write eq. (1.6) here")

check("adagrad_step", adagrad_step)      # 24 drawn cases: sizes 1 to 9, alpha and eps, |g| near eps, float32


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("1.2")

# %%
answer("1.3")

# %%
answer("1.4")

# %% [markdown]
# ← (first chapter) | [contents](README.md) | [2. Reverse-mode autograd from scratch, and gradient checking](02_autograd.ipynb) →
