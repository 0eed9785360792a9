"""Write the tutorial notebooks (tutorials/*.ipynb) from the chapter sources below, execute them top to
bottom and save them with their outputs, so that figures show on a repository page.

    python tools/build_tutorials.py              every chapter
    python tools/build_tutorials.py 03 04        only the chapters whose file names start so
    python tools/build_tutorials.py --no-execute write the notebooks without running them

Each chapter is one string in CHAPTERS: a line `%% md` starts a Markdown cell and a line `%% code` a
code cell, so a chapter reads (and diffs) like a script. Notebooks run with the numpy backend, in
tutorials/ as their working directory, with a 300 s limit per cell (as tests/test_tutorials.py does).
"""
import argparse
import os
import re
import sys

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = os.path.join(ROOT, "tutorials")

SETUP = r'''
import os, sys
sys.path.insert(0, os.path.abspath(".."))   # a checkout without `pip install`: the package is one folder up
import numpy as np
import matplotlib.pyplot as plt
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
%matplotlib inline
plt.rcParams.update({"figure.figsize": (6.4, 3.0), "figure.dpi": 72, "axes.grid": True,
                     "grid.alpha": 0.3})
print("minil2o", minil2o.__version__, "| backend:", minil2o.get_backend())
'''

CH01 = r'''
%% md
# 1. Gradient descent, step sizes and hand-designed update rules

Every optimizer in this project, hand-designed or learned, has the form

$$\theta_{t+1} = \theta_t + g_t \tag{1}$$

(equation (1) of Andrychowicz et al. 2016): the optimizer reads the gradient $\nabla f(\theta_t)$ and
proposes the update $g_t$. This chapter looks at the updates people designed by hand: plain gradient
descent as a numerical method for an ODE, what its step size does, momentum, RMSprop and Adam (Table 1
of Lv, Jiang & Li 2017, "RNNprop"), and the observation of RNNprop's section 3.2 that scaling $f$
changes what SGD does but not what Adam does. That observation is the seed of RNNprop.

Equations from a paper carry the paper's number (here (1)); equations of this chapter are numbered
(1.1), (1.2), ...
%% code
SETUP
from minil2o.gradcheck import rel_error
from minil2o.optimizers import hand
from minil2o.problems import QuadraticFamily, QuadraticProblem
%% md
## 1.1 Gradient descent is Euler's method

Follow the steepest descent direction continuously in a "time" $s$: the *gradient flow*

$$\frac{d\theta}{ds} = -\nabla f(\theta(s)). \tag{1.1}$$

Euler's method replaces the derivative by a finite difference over a step $\alpha$,
$(\theta(s+\alpha) - \theta(s))/\alpha \approx -\nabla f(\theta(s))$, and that is gradient descent:

$$\theta_{t+1} = \theta_t - \alpha \nabla f(\theta_t), \qquad \theta_t \approx \theta(t\alpha). \tag{1.2}$$

Our test function is the optimizee of Andrychowicz et al.'s first experiment (section 3.1), a
quadratic $f(\theta) = \lVert W\theta - y\rVert^2$, with gradient $\nabla f = 2W^\top(W\theta - y)$ and
constant Hessian $H = 2W^\top W$. `QuadraticProblem` gives both, the gradient written by hand. We take
$d = 2$ so that we can draw it.
%% code
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
%% md
On a quadratic the flow (1.1) has a closed form. With $\theta^\star$ the minimizer and
$H = V \Lambda V^\top$,

$$\theta(s) = \theta^\star + V e^{-s\Lambda} V^\top (\theta_0 - \theta^\star), \tag{1.3}$$

and Euler's method gives $\theta_t - \theta^\star = (I - \alpha H)^t(\theta_0 - \theta^\star)$. Euler
is first-order accurate: at a fixed time $s = t\alpha$, the distance between (1.2) and (1.3) shrinks
in proportion to $\alpha$. The check: ten times smaller steps, ten times smaller error.
%% code
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
%% md
## 1.2 The step size

Along each eigenvector of $H$, one Euler step multiplies the error by $1 - \alpha\lambda_i$. Gradient
descent converges exactly when every factor has magnitude below one:

$$|1 - \alpha\lambda_i| < 1 \ \text{ for all } i \iff 0 < \alpha < \frac{2}{\lambda_{\max}}. \tag{1.4}$$

The slowest direction contracts by $1 - \alpha\lambda_{\min}$ per step, so the largest stable step
still needs about $\lambda_{\max}/\lambda_{\min}$ (the condition number) steps per e-fold. Below:
iterates on the contours of $f$ and the loss, for steps on both sides of $2/\lambda_{\max}$.
%% code
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
ax0.set_title("iterates on the contours of f"); ax0.legend(fontsize=7)
ax1.set_title("f(theta_t)"); ax1.set_xlabel("step t"); ax1.legend(fontsize=7)
plt.tight_layout()
%% md
Larger steps are faster as long as (1.4) holds: $1.9/\lambda_{\max}$ zig-zags across the steep
direction (its factor there is $1 - 1.9 = -0.9$) but contracts the slow direction most, and
$2.05/\lambda_{\max}$ diverges, as (1.4) says. (On a quadratic the best constant step is
$2/(\lambda_{\min} + \lambda_{\max})$.) Gradient descent needs $\lambda_{\max}$,
which nobody tells it. Each hand-designed rule below is a different guess at how to choose the step
per coordinate from the gradients seen so far.

## 1.3 Momentum, RMSprop and Adam (Table 1 of RNNprop)

Table 1 of Lv et al. 2017 lists the update rules of the common optimizers. With $g_t$ the gradient
at step $t$ and all vector operations coordinatewise:

| name | update rule |
|---|---|
| SGD | $\Delta\theta_t = -\alpha g_t$ |
| Momentum | $m_t = \mu m_{t-1} + g_t, \quad \Delta\theta_t = -\alpha m_t$ |
| Adagrad | $G_t = G_{t-1} + g_t^2, \quad \Delta\theta_t = -\alpha\, g_t / (\sqrt{G_t} + \epsilon)$ |
| Adadelta | $v_t = \rho v_{t-1} + (1-\rho) g_t^2,\ \ \delta_t = \frac{\sqrt{D_{t-1}+\epsilon}}{\sqrt{v_t+\epsilon}}\, g_t,\ \ D_t = \rho D_{t-1} + (1-\rho)\delta_t^2,\ \ \Delta\theta_t = -\alpha\,\delta_t$ |
| RMSprop | $v_t = \gamma v_{t-1} + (1-\gamma) g_t^2, \quad \Delta\theta_t = -\alpha\, g_t / (\sqrt{v_t} + \epsilon)$ |
| Adam | $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ \ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\ \ \hat m_t = \frac{m_t}{1-\beta_1^t},\ \ \hat v_t = \frac{v_t}{1-\beta_2^t},\ \ \Delta\theta_t = -\alpha\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$ |

($\epsilon$ sits where Torch7 puts it, whose defaults both papers used for their baselines.) Three rows,
written exactly as the table says, as pure functions of the gradient and a state dict:
%% code
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
%% md
The library's optimizers (`minil2o.optimizers.hand`) share one interface with the learned ones:
`state = opt.init_state(n)`, `update, state = opt.step(grad, state)`. The check: feed both the same
20 random gradients and compare the 20 updates.
%% code
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
%% md
Now the library versions on the paper's setting: random 10-dimensional quadratics, 100 steps, each
learning rate tuned by grid search on 5 problems (`minil2o.evaluate.tune_learning_rate`), as both
papers tuned their baselines; the curves are means over 20 fresh problems.
%% code
from minil2o.evaluate import learning_curves, summarize, tune_learning_rate

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
plt.xlabel("step"); plt.ylabel("f(theta_t), mean of 20"); plt.legend(fontsize=8)
plt.title("10-d quadratics, tuned hand-designed optimizers");
%% md
## 1.4 Scaling $f$ changes SGD but not Adam (RNNprop, section 3.2)

Lv et al. split Table 1 into two classes. SGD and Momentum take their effective step from the
*absolute* size of the gradient; Adagrad, Adadelta, RMSprop and Adam from its size *relative* to the
root of a moving second moment. Scale the optimizee, $f_c(\theta) = c f(\theta)$, so that
$\nabla f_c = c\,\nabla f$. Then

$$\text{SGD: } \Delta\theta_t = -\alpha c\, g_t, \qquad
\text{Adam: } \frac{\hat m_t(c g)}{\sqrt{\hat v_t(c g)}} = \frac{c\, \hat m_t(g)}{c \sqrt{\hat v_t(g)}}
= \frac{\hat m_t(g)}{\sqrt{\hat v_t(g)}}. \tag{1.5}$$

SGD's step is multiplied by $c$ (its good learning rate depends on $c$); Adam's is unchanged
(up to $\epsilon$). The check, one Adam step against one SGD step:
%% code
g = grads[0]
for c in (1e-3, 1e3):
    adam_gap = rel_error(hand.Adam(0.01).step(c * g, hand.Adam().init_state(5, "float64"))[0],
                         hand.Adam(0.01).step(g, hand.Adam().init_state(5, "float64"))[0])
    sgd_gap = rel_error(hand.SGD(0.01).step(c * g, {"t": 0})[0], hand.SGD(0.01).step(g, {"t": 0})[0])
    print(f"c = {c:g}: relative change of the update, Adam {adam_gap:.1e}, SGD {sgd_gap:.2f}")
%% md
And over whole runs: the same quadratic with $c = 0.1, 1, 10$, plotted as $f_c / c$ so that the
curves would coincide if the optimizer did not care about $c$. A wrapper problem is all it takes.
%% code
from minil2o.evaluate import run_optimizer
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
        ax.semilogy(losses / c, label=f"c = {c:g}")
    ax.set_title(f"{opt}"); ax.set_xlabel("step"); ax.legend(fontsize=8); ax.set_ylim(1e-2, 1e3)
axes[0].set_ylabel("f_c(theta_t) / c")
plt.tight_layout()
%% md
SGD crawls at $c = 0.1$ and diverges at $c = 10$ (its curve stops at the first non-finite loss);
Adam's three curves are one. A learned optimizer fed raw gradients is in SGD's class: the DM optimizer
learns the gradient scale of the problems it was trained on. RNNprop (a later chapter) feeds the
LSTM Adam's relative quantities $\hat m_t / \sqrt{\hat v_t}$ and $g_t/\sqrt{\hat v_t}$, putting it in
the second class, and trains on randomly scaled problems.

## Summary

* Gradient descent (1.2) is Euler's method for the gradient flow (1.1); it is first-order accurate.
* On a quadratic it converges iff $\alpha < 2/\lambda_{\max}$ (1.4), and then needs about
  $\lambda_{\max}/\lambda_{\min}$ steps per e-fold: the step size is the whole difficulty.
* Table 1's rules choose per-coordinate steps from past gradients; `minil2o.optimizers.hand`
  implements them with one interface, `update, state = opt.step(grad, state)`.
* Scaling $f$ by $c$ scales SGD's and Momentum's steps by $c$ but leaves Adam's unchanged (1.5).

## Exercises

1. **Adagrad.** Implement the Adagrad row of Table 1 in `adagrad_step` below (replace the call to the
   library by $G_t = G_{t-1} + g_t^2$ and $\Delta\theta_t = -\alpha g_t/(\sqrt{G_t}+\epsilon)$). The
   check below should print a relative error below 1e-7.
2. Is Momentum in the first class or the second? Predict, then rerun the scaling cell with
   `hand.Momentum(lr=0.001)`.
3. Find the largest stable step of section 1.2 by bisection on $\alpha$ (diverged or not after 200
   steps) and compare it with $2/\lambda_{\max}$.
4. Adam is invariant to scaling $f$ only up to $\epsilon$. For which $c$ does the invariance break?
   Find it with the one-step check above.
%% code
def adagrad_step(g, state, lr, eps=1e-10):
    # Exercise 1: replace the next line by Table 1's Adagrad row (compute G, then the update).
    return hand.Adagrad(lr, eps).step(g, {"t": 0, "G": state["G"]})[0], \
        {"G": state["G"] + g * g}

mine = run_rule(adagrad_step, {"G": zeros()}, grads, lr=0.1)
lib = run_rule(lambda g, s: hand.Adagrad(lr=0.1).step(g, s), hand.Adagrad().init_state(5, "float64"), grads)
print(f"Adagrad relative error: {rel_error(mine, lib):.1e}  (should be below 1e-7)")
'''


CH02 = r'''
%% md
# 2. Reverse-mode autograd from scratch, and gradient checking

Everything in minil2o that learns has a backward pass written by hand: the optimizees' gradients, the
LSTM's, the meta-gradient through an unrolled optimization. Two independent witnesses check them. A
small *reverse-mode autograd engine* (`minil2o.autograd`) computes the same gradients mechanically
from the forward computation, and *central differences* (`minil2o.gradcheck`) estimate them from
function values alone. This chapter builds both.

Equations of this chapter are numbered (2.1), (2.2), ...
%% code
SETUP
import math
from minil2o.autograd import Tensor, custom_op
from minil2o.gradcheck import check_gradients, rel_error
%% md
## 2.1 The chain rule, run backwards

A program computes a scalar loss $L$ through a sequence of operations $v = \mathrm{op}(u_1, \dots, u_k)$.
Write $\bar v = \partial L / \partial v$ for the *adjoint* of an intermediate value $v$. The chain
rule says that $u$ receives, from every operation that used it,

$$\bar u \mathrel{+}= \left(\frac{\partial v}{\partial u}\right)^{\!\top} \bar v, \tag{2.1}$$

so if we visit the operations from the last to the first (reverse topological order), starting from
$\bar L = 1$, every $\bar v$ is complete before it is passed on. One backward sweep gives the gradient
with respect to *all* inputs at about the cost of one forward pass; that is why a network with
thousands of parameters can be trained by gradient descent at all. The `+=` matters: a value used
twice receives two contributions.

A scalar engine from scratch: each value remembers its inputs and the local derivatives
$\partial v/\partial u$; `backward` orders the graph and applies (2.1).
%% code
class Scalar:
    def __init__(self, value, inputs=(), local_grads=()):
        self.value, self.inputs, self.local_grads, self.grad = value, inputs, local_grads, 0.0

    def __add__(self, other):
        return Scalar(self.value + other.value, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        return Scalar(self.value * other.value, (self, other), (other.value, self.value))

    def tanh(self):
        t = math.tanh(self.value)
        return Scalar(t, (self,), (1.0 - t * t,))

    def backward(self):
        order, seen = [], set()
        def visit(v):                                  # depth first: inputs before outputs
            if id(v) not in seen:
                seen.add(id(v))
                for u in v.inputs:
                    visit(u)
                order.append(v)
        visit(self)
        self.grad = 1.0                                # L-bar = 1
        for v in reversed(order):
            for u, d in zip(v.inputs, v.local_grads):
                u.grad += d * v.grad                   # eq. (2.1)
%% md
Check it on $L = \tanh(ab + a)$, where $a$ is used twice. By hand,
$\partial L/\partial a = (1 - L^2)(b + 1)$ and $\partial L/\partial b = (1 - L^2)\,a$.
%% code
a, b = Scalar(0.5), Scalar(-1.2)
L = (a * b + a).tanh()
L.backward()
print(f"engine: dL/da = {a.grad:.12f}, dL/db = {b.grad:.12f}")
print(f"hand:   dL/da = {(1 - L.value**2) * (b.value + 1):.12f}, dL/db = {(1 - L.value**2) * a.value:.12f}")
%% md
## 2.2 The library's engine: the same idea on arrays

`minil2o.autograd.Tensor` holds an array, and each operation's backward closure is (2.1) for that
operation, written for arrays. For a matrix product $Z = XW$ (with $\bar Z$ the adjoint of $Z$):

$$\bar X \mathrel{+}= \bar Z\, W^\top, \qquad \bar W \mathrel{+}= X^\top \bar Z. \tag{2.2}$$

When an input was *broadcast* (a bias $b$ of shape $(M,)$ added to every row of an $(N, M)$ matrix),
each of its entries was used $N$ times, so by the `+=` of (2.1) its adjoint is a sum:

$$\bar b_m = \sum_{n} \bar Z_{nm}. \tag{2.3}$$

An example, $L = \sum (\tanh(XW + b))^2$, and the graph the engine recorded:
%% code
rng = np.random.default_rng(0)
X0 = asarray(rng.standard_normal((4, 3)), dtype="float64")        # (N, D)
W0 = asarray(rng.standard_normal((3, 2)), dtype="float64")        # (D, M)
b0 = asarray(rng.standard_normal(2), dtype="float64")             # (M,)

def forward(X, W, b):
    return ((X @ W + b).tanh() ** 2).sum()                         # works on Tensors

X, W, b = Tensor(X0), Tensor(W0), Tensor(b0)
L = forward(X, W, b)
L.backward()
for node in L._topological_order():
    print(f"{node.op or '(leaf)':9s} shape {node.shape}")
%% md
The check of (2.2) and (2.3): with $Z = XW + b$ and $T = \tanh Z$, $\bar Z = 2T(1 - T^2)$; the engine's
$\bar W$ and $\bar b$ should be $X^\top \bar Z$ and the column sums of $\bar Z$.
%% code
T = xp.tanh(X0 @ W0 + b0)                                          # (4, 2)
Z_bar = 2 * T * (1 - T * T)                                        # (4, 2)
print("W: engine vs eq. (2.2):", rel_error(W.grad, X0.T @ Z_bar))
print("b: engine vs eq. (2.3):", rel_error(b.grad, xp.sum(Z_bar, axis=0)))
%% md
## 2.3 A hand-written gradient as one node

The optimizees in minil2o come with `loss_and_grad(theta)`, the gradient derived by hand. A
`custom_op` puts such a pair into the graph as one node: its backward is the vector-Jacobian product,
$\bar\theta = \bar f\, \nabla f(\theta)$ for a scalar $f$. This is how the engine runs a whole
unrolled optimization in chapter 4. The same gradient wrapped as a *new leaf*, `Tensor(grad)`, has no
inputs, so nothing flows back through it: that is the paper's "dashed edges dropped".
%% code
from minil2o.problems import QuadraticFamily

problem = QuadraticFamily(dim=5, dtype="float64").sample(np.random.default_rng(1))
theta = Tensor(problem.init(np.random.default_rng(2)))
f_value, grad = problem.loss_and_grad(theta.data)
f = custom_op([theta], f_value, lambda f_bar: [f_bar * grad], name="loss")
(3.0 * f).backward()
print("theta.grad vs 3 * grad:", rel_error(theta.grad, 3.0 * grad))
%% md
## 2.4 Gradient checking by central differences

The second witness needs nothing but function values. For each entry $x_i$,

$$\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}. \tag{2.4}$$

By Taylor's theorem the truncation error is $\frac{h^2}{6} \partial_i^3 f$, and rounding adds about
$\epsilon_{\text{mach}} |f| / h$: the error is smallest near $h \approx \epsilon_{\text{mach}}^{1/3}$,
where it is about $\epsilon_{\text{mach}}^{2/3}$: $10^{-11}$ in float64 but $10^{-5}$ in float32. So
gradient checks run in float64. We compare gradients with the relative error

$$\mathrm{rel}(a, b) = \frac{\lVert a - b\rVert}{\lVert a\rVert + \lVert b\rVert}, \tag{2.5}$$

which is 0 for equal vectors, 1 for unrelated ones, and not fooled by entries that are zero in both.
A correct backward pass shows about $10^{-9}$ or less; a wrong one, something near 1. The bar in this
project is $10^{-7}$. From scratch, and the error as a function of $h$:
%% code
def central_difference(f, x, h):
    # eq. (2.4) for every entry of the host array x; f takes a backend array
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[i] = h
        f_plus = to_float(f(asarray((x + e).astype(x.dtype))))
        f_minus = to_float(f(asarray((x - e).astype(x.dtype))))
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad

def loss_of_X(dtype):
    W_, b_ = asarray(to_numpy(W0), dtype=dtype), asarray(to_numpy(b0), dtype=dtype)
    return lambda X: xp.sum(xp.tanh(X @ W_ + b_) ** 2)

hs = np.logspace(-10, -1, 19)
for dtype in ("float64", "float32"):
    x_host = to_numpy(X0).astype(dtype)
    errors = [rel_error(central_difference(loss_of_X(dtype), x_host, h), X.grad) for h in hs]
    plt.loglog(hs, errors, "o-", ms=3, label=dtype)
    print(f"{dtype}: smallest relative error {min(errors):.1e} at h = {hs[int(np.argmin(errors))]:.0e}")
plt.axhline(1e-7, color="k", ls=":", lw=1, label="the 1e-7 bar")
plt.xlabel("h"); plt.ylabel("rel. error vs the engine"); plt.legend(fontsize=8)
plt.title("central differences: truncation (right) vs rounding (left)");
%% md
The library's `check_gradients(f, inputs, grads)` does the same in float64 with $h = 10^{-6}$ for
every named input (along random directions for large ones), prints each error and returns them. The
engine's gradients of the example:
%% code
errors = check_gradients(lambda X, W, b: forward(Tensor(X), Tensor(W), Tensor(b)).data,
                         {"X": X0, "W": W0, "b": b0}, {"X": X.grad, "W": W.grad, "b": b.grad})
%% md
## Summary

* Reverse mode applies (2.1) in reverse topological order: all gradients for the price of about one
  forward pass. Values used several times accumulate their adjoints.
* `minil2o.autograd.Tensor` does this for arrays; each op is a few lines (matrix product (2.2),
  broadcasting (2.3)); `custom_op` inserts a hand-written (value, gradient) pair as one node.
* Central differences (2.4) in float64 with the relative error (2.5) check any gradient;
  float32 cannot resolve better than about $10^{-5}$.

## Exercises

1. **Sigmoid as a custom op.** The derivative of $\sigma(x) = 1/(1 + e^{-x})$ is
   $$\sigma'(x) = \sigma(x)\,(1 - \sigma(x)), \quad\text{so}\quad \bar x = \bar s \odot s \odot (1 - s). \tag{2.6}$$
   Implement `my_sigmoid` below with `custom_op([x], s, lambda s_bar: [...])`: replace the library call
   `x.sigmoid()` by the forward value `s` and the backward rule (2.6). The check below should print a
   relative error below 1e-7.
2. In `Scalar.backward`, replace `u.grad += ...` by `u.grad = ...`. Which of the two gradients of
   section 2.1 goes wrong, and why?
3. Fit the slopes of the two branches of the float64 curve in section 2.4. What do you expect from
   the error terms below (2.4)?
4. The library computes $\sigma(x)$ as $(1 + \tanh(x/2))/2$. Evaluate $1/(1 + e^{-x})$ at
   $x = -1000$ in float32 and explain the choice.
%% code
def my_sigmoid(x):
    # Exercise 1: replace the next line by s = 1 / (1 + exp(-x.data)) and
    # custom_op([x], s, lambda s_bar: [<eq. (2.6)>], name="sigmoid").
    return x.sigmoid()

x0 = asarray(np.random.default_rng(1).standard_normal((3, 4)), dtype="float64")
s_bar = asarray(np.random.default_rng(2).standard_normal((3, 4)), dtype="float64")
x = Tensor(x0)
(my_sigmoid(x) * s_bar).sum().backward()
errors = check_gradients(lambda x: xp.sum(my_sigmoid(Tensor(x)).data * s_bar), {"x": x0}, {"x": x.grad})
print(f"forward vs 1 / (1 + exp(-x)): {rel_error(my_sigmoid(Tensor(x0)).data, 1 / (1 + xp.exp(-x0))):.1e}")
print(f"backward: relative error {errors['x']:.1e} (should be below 1e-7)")
'''


CH03 = r'''
%% md
# 3. The LSTM cell, its backward pass by hand, and backpropagation through time

The optimizer of Andrychowicz et al. is a two-layer LSTM applied to every coordinate of the optimizee;
RNNprop's sequence task trains an LSTM as the optimizee. Both use the same two functions of
`minil2o.lstm`: `lstm_step_forward` and `lstm_step_backward`, and their loops over time
`lstm_forward` and `lstm_backward`. This chapter derives them, implements the forward step from
scratch, checks the hand-written backward pass against central differences and against the autograd
engine of chapter 2 running the same LSTM, and looks at how far gradients travel back in time.

The LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000) is not numbered in
our papers; its equations are numbered (3.1), (3.2), ... here.
%% code
SETUP
from minil2o import lstm
from minil2o.autograd import Tensor
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective
%% md
## 3.1 One step forward

$N$ independent rows (for the learned optimizer: the $N$ coordinates of the optimizee), input
$x \in \mathbb{R}^{N\times D}$, previous hidden state $h_{\text{prev}}$ and cell $c_{\text{prev}}$ in
$\mathbb{R}^{N\times H}$. All four gates come from one matrix product,

$$a = x W_x + h_{\text{prev}} W_h + b \in \mathbb{R}^{N \times 4H}, \qquad
a = [a_i, a_f, a_o, a_g], \tag{3.1}$$

$$i = \sigma(a_i), \quad f = \sigma(a_f), \quad o = \sigma(a_o), \quad g = \tanh(a_g), \tag{3.2}$$

$$c = f \odot c_{\text{prev}} + i \odot g, \tag{3.3}$$

$$h = o \odot \tanh(c). \tag{3.4}$$

The forget gate $f$ decides how much of the old cell survives, the input gate $i$ how much of the
candidate $g$ is written, the output gate $o$ how much of the cell is shown. From scratch, one line
per equation:
%% code
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
%% md
## 3.2 One step backward, by hand

The step produced $h$ and $c$; the rest of the computation hands back $\bar h = \partial L/\partial h$
and $\bar c = \partial L/\partial c$ (the cell's gradient from the next step; zero after the last one).
Walk (3.4) to (3.1) backwards, applying (2.1) of chapter 2 to each line. The cell reaches $L$ directly
and through $h$:

$$\bar c_{\text{tot}} = \bar c + \bar h \odot o \odot (1 - \tanh^2 c). \tag{3.5}$$

Then the products of (3.3) and (3.4):

$$\bar o = \bar h \odot \tanh c, \quad \bar i = \bar c_{\text{tot}} \odot g, \quad
\bar f = \bar c_{\text{tot}} \odot c_{\text{prev}}, \quad \bar g = \bar c_{\text{tot}} \odot i, \quad
\bar c_{\text{prev}} = \bar c_{\text{tot}} \odot f. \tag{3.6}$$

Through the nonlinearities of (3.2), with $\sigma' = \sigma(1-\sigma)$ and $\tanh' = 1 - \tanh^2$:

$$\bar a = \big[\,\bar i \odot i(1-i),\ \ \bar f \odot f(1-f),\ \ \bar o \odot o(1-o),\ \ \bar g \odot (1-g^2)\,\big]. \tag{3.7}$$

And (3.1) is a linear layer, so by (2.2) and (2.3):

$$\bar x = \bar a W_x^\top, \quad \bar h_{\text{prev}} = \bar a W_h^\top, \quad
\bar W_x = x^\top \bar a, \quad \bar W_h = h_{\text{prev}}^\top \bar a, \quad \bar b = \textstyle\sum_n \bar a_n. \tag{3.8}$$

`lstm.lstm_step_backward(dh, dc, cache)` is exactly (3.5) to (3.8) (implementing it yourself is
exercise 1). A backward pass returns a vector-Jacobian product, so we check it as the gradient of
the scalar $\langle h, \bar h\rangle + \langle c, \bar c\rangle$ for random $\bar h$, $\bar c$:
%% code
dh, dc = f64((N, H)), f64((N, H))
grads = lstm.lstm_step_backward(dh, dc, cache)
names = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
inputs = dict(zip(names, (x, h_prev, c_prev, Wx, Wh, b)))

def step_objective(**inp):
    h, c, _ = lstm.lstm_step_forward(**inp)
    return xp.sum(h * dh) + xp.sum(c * dc)

errors = check_gradients(step_objective, inputs, dict(zip(names, grads)))
%% md
## 3.3 The same step in the autograd engine

The second witness: write (3.1) to (3.4) in engine operations and let the engine find the gradients.
Nothing is shared with the hand-written backward pass but the equations.
%% code
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
%% md
## 3.4 Backpropagation through time

Over a sequence $x_1, \dots, x_T$ (the input is $(N, T, D)$), the same weights run every step:

$$h_t, c_t = \mathrm{step}(x_t, h_{t-1}, c_{t-1}), \qquad c_0 = 0. \tag{3.9}$$

The loss sees every $h_t$ and hands back $\partial L/\partial h_t$ from outside (for the learned
optimizer: from the update it produced). But $h_t$ and $c_t$ also feed step $t+1$, so running the
steps backwards, $t = T, \dots, 1$, step $t$ receives

$$\bar h_t = \frac{\partial L}{\partial h_t}\Big|_{\text{outside}} + \bar h_{\text{prev}}^{(t+1)},
\qquad \bar c_t = \bar c_{\text{prev}}^{(t+1)}, \qquad
\bar W = \sum_{t=1}^T \bar W^{(t)}, \tag{3.10}$$

where the superscript $(t+1)$ marks what the backward pass of step $t+1$ returned, and $\bar W$ stands
for each of $\bar W_x, \bar W_h, \bar b$: the weights are shared, so their gradients add. This is
`lstm.lstm_forward` / `lstm.lstm_backward`. The check, against central differences and against
the engine running the loop (3.9):
%% code
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
%% md
How far back does a gradient reach? Put the loss on the last hidden state only,
$\partial L/\partial h_t = 0$ for $t < T$, and look at $\lVert \bar x_t \rVert$: how much the loss
learns about the input $t$ steps back. Each step multiplies by Jacobians containing the forget gate
and the recurrent weights, so the signal shrinks (or grows) geometrically; the cell path (3.3) is
the LSTM's way of keeping it alive when $f \approx 1$.
%% code
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
    plt.semilogy(np.arange(T), np.abs(dx), label=f"weights U(-k, k), k = {scale:g}/sqrt(H)")
plt.xlabel("input step t (loss at t = 39)"); plt.ylabel("|dL/dx_t|"); plt.legend(fontsize=8)
plt.title("gradient reaching back in time");
%% md
## Summary

* One LSTM step is (3.1) to (3.4): one matrix product for all gates, then elementwise operations.
* Its backward pass (3.5) to (3.8) walks those lines in reverse; the cell's gradient has two sources,
  the next step and the hidden state (3.5).
* Backpropagation through time (3.10) runs the step backward passes from the last step to the
  first, adding the gradient from the next step to each $\bar h_t$ and summing the weight gradients.
* Both are checked by central differences and by the autograd engine running the same equations.

## Exercises

1. **The step backward pass.** Implement `my_lstm_step_backward(dh, dc, cache)` below from (3.5) to
   (3.8), replacing the call to the library. The cache holds
   `(x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c)`. The check below should print a relative error
   below 1e-7 for every input.
2. **Backpropagation through time.** Implement `my_lstm_backward(dhs, caches)` as the loop (3.10) over
   `lstm.lstm_step_backward`, replacing the call to the library. The check below should print a
   relative error below 1e-7.
3. Set the forget-gate bias (entries $H$ to $2H$ of $b$) to $+3$ in the last plot. What happens to the
   curves, and why?
4. The learned optimizer's rows are coordinates of the optimizee, all sharing $W_x, W_h, b$. Which
   line of (3.8) sums over the coordinates?
%% code
def my_lstm_step_backward(dh, dc, cache):
    # Exercise 1: replace the next line by eqs. (3.5) to (3.8); return dx, dh_prev, dc_prev, dWx, dWh, db.
    return lstm.lstm_step_backward(dh, dc, cache)

_, _, cache = lstm.lstm_step_forward(**inputs)
errors = check_gradients(step_objective, inputs, dict(zip(names, my_lstm_step_backward(dh, dc, cache))),
                         verbose=False)
print(f"step backward: largest relative error {max(errors.values()):.1e} (should be below 1e-7)")
%% code
def my_lstm_backward(dhs, caches):
    # Exercise 2: replace the next line by the loop (3.10) over lstm.lstm_step_backward;
    # return dx (N, T, D), dh0 (N, H), dWx, dWh, db.
    return lstm.lstm_backward(dhs, caches)

T = 5
rng = np.random.default_rng(2)
seq_inputs = {"x": f64((N, T, D)), "h0": f64((N, H)), "Wx": Wx, "Wh": Wh, "b": b}
dhs = f64((N, T, H))
_, caches = lstm.lstm_forward(**seq_inputs)
seq_objective = vjp_objective(lambda **inp: lstm.lstm_forward(**inp)[0], dhs)
errors = check_gradients(seq_objective, seq_inputs, dict(zip(seq_names, my_lstm_backward(dhs, caches))),
                         verbose=False)
print(f"BPTT: largest relative error {max(errors.values()):.1e} (should be below 1e-7)")
'''


CH04 = r'''
%% md
# 4. Learning to learn: the optimizer as an RNN, and the meta-gradient by hand

Andrychowicz et al. 2016 replace the hand-designed update of chapter 1 by a small recurrent network
with parameters $\phi$, and train $\phi$ by gradient descent on how well the optimizee does. This
chapter states their equations (1) to (3), builds the coordinatewise optimizer, derives the gradient
of the meta-loss by hand (with the paper's "dashed edges" dropped, and with them kept), and checks
`minil2o.meta.meta_gradient` against central differences on a tiny quadratic.

Equations (1), (2), (3) are the paper's; (4.1), (4.2), ... are this chapter's.
%% code
SETUP
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.meta import meta_gradient, meta_loss, meta_weights, unroll, unroll_loss
from minil2o.optimizers.learned import DMOptimizer
from minil2o.problems import QuadraticFamily
%% md
## 4.1 The optimizer as a recurrent network

The optimizee $f$ has parameters $\theta$; the optimizer $m$, with parameters $\phi$ and a recurrent
state $h_t$, reads the gradient $\nabla_t = \nabla f(\theta_t)$ and proposes the update:

$$\theta_{t+1} = \theta_t + g_t(\nabla f(\theta_t), \phi). \tag{1}$$

A good optimizer is one whose final parameters are good on average over a distribution of functions:

$$\mathcal{L}(\phi) = \mathbb{E}_f\left[ f(\theta^*(f, \phi)) \right]. \tag{2}$$

For training, the paper uses the whole trajectory of a $T$-step run instead of its end point:

$$\mathcal{L}(\phi) = \mathbb{E}_f\left[\sum_{t=1}^{T} w_t f(\theta_t)\right]
\quad\text{where}\quad \theta_{t+1} = \theta_t + g_t, \quad
\begin{bmatrix} g_t \\ h_{t+1} \end{bmatrix} = m(\nabla_t, h_t, \phi). \tag{3}$$

Training runs (3) forward for a *truncation* of $K$ steps (20 in the paper), backpropagates through
it to get $\partial\mathcal{L}/\partial\phi$, takes one Adam step on $\phi$, and continues from where
the optimizee is (truncated backpropagation through time).

## 4.2 Coordinatewise: one small LSTM for every coordinate

An optimizee may have tens of thousands of parameters; a fully connected RNN over all of them would
be enormous. The paper's $m$ works *coordinatewise*: the same two-layer LSTM of 20 units (chapter 3),
with shared weights $\phi$ but a separate state per coordinate, maps each $\nabla_{t,i}$ to $g_{t,i}$,
and a linear layer reads the update off the top hidden state. In `DMOptimizer` the $n$ coordinates
are the $n$ rows of every LSTM array. Two consequences we can check: the number of parameters does
not depend on $n$, and permuting the coordinates permutes the updates.
%% code
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
%% md
## 4.3 Why $w_t = 1$

With $w_t = \mathbf{1}[t = T]$, (3) is (2): only the final loss counts. But then a truncation that does
not contain step $T$ has a meta-loss of zero and teaches the optimizer nothing; only the last
truncation gives a training signal. The paper relaxes the objective to $w_t > 0$ along the trajectory
and uses $w_t = 1$ for every $t$: every step's loss is a target and every truncation has a gradient.
(RNNprop instead puts $w = 1$ on the last step of *each* truncation: `meta_weights(K, "last")`.)
%% code
print("DM (w_t = 1):      ", meta_weights(5, "all"))
print("RNNprop (per unroll):", meta_weights(5, "last"))
%% md
## 4.4 The meta-gradient by hand

Take one truncation: $\theta_0$ and $h_0$ are constants, $t = 0, \dots, K-1$ steps are taken, and
$L = \sum_{t=1}^K w_t f(\theta_t)$. Let $a_t = \partial L / \partial\theta_t$ be the adjoint of
$\theta_t$ (chapter 2). $\theta_t$ reaches $L$ in three ways: through its own loss $w_t f(\theta_t)$,
through $\theta_{t+1} = \theta_t + g_t$, and through $\nabla_t$, which the optimizer reads. The last
way is the dashed edges of the paper's Fig. 2, which the paper drops: it assumes
$\partial\nabla_t/\partial\phi = 0$, "which allows us to avoid computing second derivatives of f".
Without them, the adjoint obeys

$$a_t = w_t \nabla_t + a_{t+1}, \qquad a_{K+1} = 0, \tag{4.1}$$

that is, a *reverse cumulative sum* of the weighted gradients:

$$a_t = \sum_{s=t}^{K} w_s \nabla_s. \tag{4.2}$$

The update $g_t$ reaches $L$ only through $\theta_{t+1}$, so its adjoint is

$$\bar g_t = a_{t+1}. \tag{4.3}$$

This is the error signal fed into the backward pass of the optimizer's step $t$
(`opt.step_backward`, built from chapter 3's `lstm_step_backward`), which runs from $t = K-1$ down to
$0$, passing the LSTM state's gradient back one step at a time, and whose parameter gradients add up:

$$\frac{\partial L}{\partial \phi} = \sum_{t=0}^{K-1} \bar\phi^{(t)}, \qquad
\big(\bar\phi^{(t)}, \bar h_t, \bar\nabla_t\big) = \text{step backward}\big(\bar g_t, \bar h_{t+1}\big). \tag{4.4}$$

Keeping the dashed edges adds the path $\theta_t \to \nabla_t \to m$. With $H_t$ the Hessian of $f$
at $\theta_t$ and $\bar\nabla_t$ from the step's backward pass,

$$a_t = w_t \nabla_t + a_{t+1} + H_t \bar\nabla_t, \tag{4.5}$$

one Hessian-vector product per step (`problem.hvp`), and (4.2) no longer holds. From scratch, (4.1)
against (4.2) on a tiny unroll (a 3-d quadratic, an LSTM of 4 units, $K = 5$, float64):
%% code
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
%% md
`minil2o.meta.meta_gradient(opt, phi, problem, tr, weights, second_derivatives)` runs (4.1) or (4.5)
together with (4.3) and (4.4) (implementing it is the exercise). Now the check. For the version with
the dashed edges dropped, the function whose exact derivative it is feeds the optimizer the
*recorded* gradients as constants (`fixed_grads`), while the losses are still taken at the
$\theta_t(\phi)$ the optimizer produces; with second derivatives kept, it is the true meta-loss.
Central differences with $h = 10^{-5}$, in float64:
%% code
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
%% md
## 4.5 The two meta-gradients differ

Dropping the dashed edges changes the gradient: it is the exact gradient of a different function.
How much depends on how strongly the updates depend on the gradients, $\partial g_t / \partial\nabla_t$.
An untrained LSTM barely looks at its input, so at initialization the two nearly agree. A tiny
meta-training run (300 Adam steps on $\phi$, one 10-step truncation on a fresh batch of 16 random 3-d
quadratics each, the dashed edges dropped as in the paper; a few seconds) makes the optimizer use its
input, and the gap grows.
%% code
from minil2o.optimizers.hand import Adam
from minil2o.train import flatten, unflatten

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
%% md
The training curve, and the trained optimizer against SGD and Adam (learning rates tuned on the same
family) on 20 fresh problems for the 10 steps it was trained for:
%% code
from minil2o.evaluate import learning_curves, tune_learning_rate
from minil2o.optimizers.hand import HAND_OPTIMIZERS, make_hand_optimizer

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.2))
smooth = np.convolve(history, np.ones(20) / 20, mode="valid")
ax0.semilogy(history, color="0.8"); ax0.semilogy(np.arange(19, 300), smooth)
ax0.set_xlabel("meta-step"); ax0.set_title("meta-loss (3), per function")
opt.phi = phi_trained
curves = {"LSTM (learned)": learning_curves(train_family, opt, 20, K_train, seed=5)}
for name in ("sgd", "adam"):
    make = lambda lr, name=name: make_hand_optimizer(name, lr)
    with np.errstate(over="ignore", invalid="ignore"):
        lr, _ = tune_learning_rate(train_family, make, HAND_OPTIMIZERS[name].lr_grid, 5, K_train, seed=6)
    curves[f"{name} (lr {lr:g})"] = learning_curves(train_family, make(lr), 20, K_train, seed=5)
for label, c in curves.items():
    ax1.semilogy(c.mean(axis=0), "o-", ms=3, label=label)
ax1.set_xlabel("step"); ax1.set_title("f(theta_t), mean of 20 fresh problems"); ax1.legend(fontsize=8)
plt.tight_layout()
%% md
This toy run is all the training this chapter does; chapter 5 trains the paper's optimizer on the
paper's quadratics with `minil2o.train.Trainer`, which adds truncations along a 100-step horizon,
batches of problems, model selection on validation problems and checkpoints.

## Summary

* The optimizer is an RNN $m(\nabla_t, h_t; \phi)$ producing updates (1); it is trained on the
  weighted sum of losses along the trajectory (3), with $w_t = 1$ so that every truncation has a signal.
* It is coordinatewise: one small LSTM, shared weights, a state per coordinate; $\phi$ does not grow
  with the optimizee.
* With the dashed edges dropped, the adjoint of $\theta_t$ is a reverse cumulative sum of the weighted
  gradients (4.1, 4.2); the update $g_t$ receives $a_{t+1}$ (4.3); BPTT through the optimizer's LSTM
  gives $\partial L/\partial\phi$ (4.4). Keeping them adds $H_t\bar\nabla_t$ (4.5).
* Both versions match central differences to about $10^{-8}$, each against its own function; they
  are different gradients, and the difference grows once the optimizer responds to its input.

## Exercises

1. **The meta-gradient.** Implement `my_meta_gradient` below: walk $t = K, \dots, 1$, form $a_t$ by
   (4.1) (or (4.5) when `second_derivatives`), call
   `opt.step_backward(phi, a_t, d_state, tr.caches[t - 1], need_d_grad=second_derivatives)` with the
   adjoint of (4.3), add up $\bar\phi$ (4.4), and for (4.5) add
   `problem.hvp(tr.thetas[t - 1], d_grad, tr.batches[t - 1])`. Start `d_state` from
   `minil2o.meta.zeros_like_state(tr.state)`. Replace the call to the library. The check below
   should print relative errors below 1e-7 for both versions.
2. Set `weights = meta_weights(K, "last")` and rerun the check. Which entries of $a_t$ does (4.2) give
   now?
3. Train the toy optimizer with `second_derivatives=True` in the loop of section 4.5. Is it better
   after 300 meta-steps? What does each meta-step cost?
4. Scale the quadratic by 10 (chapter 1's `Scaled`) and evaluate the trained toy optimizer on it.
   Which class of chapter 1 does the DM optimizer belong to?
%% code
def my_meta_gradient(opt, phi, problem, tr, weights, second_derivatives=False):
    # Exercise 1: replace the next line by the loop of eqs. (4.1) / (4.5), (4.3) and (4.4).
    return meta_gradient(opt, phi, problem, tr, weights, second_derivatives)

tr = unroll(opt, phi, problem, theta0, state0, batches)
err = check_gradients(loss_dropped, phi, my_meta_gradient(opt, phi, problem, tr, weights),
                      h=1e-5, verbose=False)
print(f"dashed edges dropped:    largest relative error {max(err.values()):.1e} (should be below 1e-7)")
err = check_gradients(loss_true, phi, my_meta_gradient(opt, phi, problem, tr, weights, True),
                      h=1e-5, verbose=False)
print(f"second derivatives kept: largest relative error {max(err.values()):.1e} (should be below 1e-7)")
'''


CH10 = r'''
%% md
# 10. The GPU: one switch for the array backend

Every array operation in minil2o goes through one name, `xp`, the namespace of the selected array
backend. Switch it and the same code runs on NumPy (CPU), on CuPy (an NVIDIA GPU), or on
`array_api_strict`, a CPU namespace that contains only the Python array API standard and refuses
everything else. This chapter shows the switch, what changes when it is thrown and what does not,
tries CuPy, and points to the benchmark.
%% code
SETUP
from minil2o.backend import device_name, get_backend, set_backend
from minil2o.errors import UsageError
from minil2o.gradcheck import rel_error
from minil2o.problems import QuadraticFamily
%% md
## 10.1 Selecting the backend

Two ways, the environment before the first use, or a call:

    MINIL2O_BACKEND=cupy python -m minil2o demo        # numpy (default), cupy or strict
    minil2o.set_backend("cupy")                         # in code, before arrays are created

`xp.<name>` looks `<name>` up in the selected namespace at the moment of the call, so library code
never names NumPy. Randomness is drawn on the host from an explicit `numpy.random.Generator` and moved
with `asarray`, so one seed gives the same problem on every backend. The same quadratic, its loss
and its hand-written gradient, on NumPy and on the strict namespace:
%% code
def quadratic_on(backend):
    set_backend(backend)
    problem = QuadraticFamily(dim=10, dtype="float64").sample(np.random.default_rng(0))
    theta = problem.init(np.random.default_rng(1))
    f, grad = problem.loss_and_grad(theta)
    print(f"{backend:7s} device {device_name():22s} grad is a {type(grad).__module__}.{type(grad).__name__}")
    return to_float(f), to_numpy(grad)

f_np, g_np = quadratic_on("numpy")
f_strict, g_strict = quadratic_on("strict")
print("loss: numpy", f_np, "strict", f_strict, "| gradients, relative error:", rel_error(g_np, g_strict))
%% md
## 10.2 What changes

**Which functions exist.** The array API standard is smaller than NumPy. Functions and methods that
only NumPy has fail on the strict namespace, and on a GPU they would either fail or silently copy to
the host. That is why CI runs the whole test suite a second time with `MINIL2O_BACKEND=strict`:
%% code
set_backend("strict")
u, v = asarray([1.0, 2.0]), asarray([3.0])
print("xp.concat([u, v])     ->", xp.concat([u, v]))
attempts = {"xp.concatenate([u, v])": lambda: xp.concatenate([u, v]),   # NumPy's name, not the standard's
            "u.reshape((2, 1))": lambda: u.reshape((2, 1)),               # a NumPy method
            "u.max()": lambda: u.max(),
            "u + integer array": lambda: u + asarray([1, 2]),             # no mixed int/float promotion
            "np.exp(u)": lambda: np.exp(u)}                              # runs, but leaves the backend
for label, attempt in attempts.items():
    try:
        out = attempt()
        print(f"{label:22s} -> runs and returns a {type(out).__module__}.{type(out).__name__}")
    except Exception as e:
        print(f"{label:22s} -> {type(e).__name__}: {str(e).splitlines()[0][:64]}")
%% md
`np.exp(u)` quietly made a host copy; CuPy refuses such implicit copies with a `TypeError`.

**Where arrays live.** On CuPy, arrays are in GPU memory. NumPy, matplotlib and `print` want host
arrays, so minil2o converts only *at the edges*: `to_numpy(x)` before plotting or saving,
`to_float(x)` for a scalar. Inside a training loop, every conversion is a device-to-host copy and a
synchronization, so the loops keep them out of the inner steps.

**Precision.** Training and evaluation run in float32 (`dtype="float32"`, the default of every
problem and optimizer): half the memory traffic, and far faster on most GPUs. Gradient checks run in
float64, because central differences in float32 cannot resolve better than about $10^{-5}$ (chapter
2). The same gradient in both precisions:
%% code
set_backend("numpy")
for dtype in ("float32", "float64"):
    problem = QuadraticFamily(dim=10, dtype=dtype).sample(np.random.default_rng(0))
    f, grad = problem.loss_and_grad(problem.init(np.random.default_rng(1)))
    print(f"{dtype}: grad.dtype = {grad.dtype}, relative error vs float64 = {rel_error(grad, g_np):.1e}")
%% md
**What does not change:** the code, the seeds, the problems, the equations, and the results up to
rounding. The meta-gradient of chapter 4 is the same function on every backend.

## 10.3 Trying CuPy

`set_backend("cupy")` needs CuPy and a CUDA GPU. When either is missing it raises a `UsageError` whose
one line says what is missing and what to do; this cell prints it, or runs the quadratic on the GPU.
%% code
try:
    f_gpu, g_gpu = quadratic_on("cupy")
    print("cupy vs numpy gradient, relative error:", rel_error(g_gpu, g_np))
except UsageError as e:
    print("cupy is not available here:", e)
finally:
    set_backend("numpy")
print("backend now:", get_backend())
%% md
## 10.4 Measuring: `minil2o bench`

Whether the GPU pays off depends on the size of the problem: a 10-d quadratic is far too small to
keep a GPU busy, an MNIST MLP with 128 functions at once or a neural-art image is not. Speed and
memory are measured by a benchmark, not asserted by tests:

    minil2o bench                              # meta-training throughput on the current backend
    MINIL2O_BACKEND=cupy minil2o bench         # the same on the GPU

`minil2o bench --help` lists its options (problem, sizes, steps).

## Summary

* `xp` is the selected array namespace; `MINIL2O_BACKEND` or `minil2o.set_backend` selects numpy,
  cupy or strict. Switch before creating arrays: arrays of two backends do not mix.
* Library code uses only the array API standard; the strict namespace proves it in CI.
* Arrays cross to the host only at the edges (`to_numpy`, `to_float`); training runs in float32,
  gradient checks in float64.
* One seed gives the same problem on every backend, because randomness is drawn on the host.

## Exercises

1. Run chapter 4's exercise check under the strict backend (start Jupyter with
   `MINIL2O_BACKEND=strict`, or call `set_backend("strict")` at the top). What, if anything, changes
   in the printed errors?
2. Write `xp.sum(u)` where `u` is a NumPy array while the strict backend is selected. What happens,
   and where should the conversion have been?
3. On a machine with a GPU, time `problem.loss_and_grad` for `QuadraticFamily(dim=10,
   num_functions=B)` with B = 1, 128 and 16384 on numpy and on cupy. Where does the GPU start to win?
'''


CH05 = r'''
%% md
# 5. Training the DM optimizer on quadratics (Fig. 4, left)

The first experiment of Andrychowicz et al. 2016 (section 3.1): learn an optimizer for random
10-dimensional quadratics, then race it against SGD, NAG, RMSprop and Adam, each with its learning
rate tuned on the same family. This chapter states the optimizee and its derivatives, checks them,
meta-trains the DM optimizer live with `minil2o.train.Trainer` (a small budget: a few seconds), and
draws the paper's Fig. 4 (left) with `minil2o.evaluate.compare`, beside the optimizer shipped in
`minil2o/datasets/pretrained/dm-quadratic.npz` (the `minil2o demo` run).

Equations of the paper keep its numbers ((1), (3)); this chapter's are (5.1), (5.2), ...
%% code
SETUP
from minil2o.evaluate import compare, format_table
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.problems import QuadraticFamily, make_family
from minil2o.train import TrainConfig, Trainer, load_optimizer
%% md
## 5.1 The optimizee, its gradient and its Hessian

Each function of the family is

$$f(\theta) = \lVert W\theta - y \rVert_2^2, \qquad W \in \mathbb{R}^{10\times 10},\ y \in \mathbb{R}^{10},
\ W_{ij}, y_i \sim \mathcal{N}(0, 1). \tag{5.1}$$

With the residual $r = W\theta - y$, $df = 2 r^\top W\, d\theta$, so

$$\nabla f(\theta) = 2 W^\top (W\theta - y), \tag{5.2}$$

and since (5.2) is affine in $\theta$ the Hessian is constant, $H = 2W^\top W$, and a Hessian-vector
product (needed when the meta-gradient keeps second derivatives, eq. (4.5)) is

$$H v = 2 W^\top (W v). \tag{5.3}$$

`QuadraticProblem` holds $B$ functions at once: $\theta$ is $B$ stacked 10-vectors and the loss is
their sum $\sum_b \lVert W_b\theta_b - y_b\rVert^2$, so one optimizer run advances all $B$ together
(learning curves report the loss divided by $B$). From scratch, (5.1) to (5.3) against the library:
%% code
rng = np.random.default_rng(0)
problem = QuadraticFamily(dim=10, num_functions=3, init_std=1.0, dtype="float64").sample(rng)
W, y = to_numpy(problem.W), to_numpy(problem.y)                    # (3, 10, 10), (3, 10)
theta, v = problem.init(rng), asarray(rng.standard_normal(problem.n), dtype="float64")
th, vv = to_numpy(theta).reshape(3, 10), to_numpy(v).reshape(3, 10)

r = np.einsum("bij,bj->bi", W, th) - y                              # (B, d), residuals
f_mine = np.sum(r * r)                                              # eq. (5.1), summed over b
grad_mine = 2 * np.einsum("bji,bj->bi", W, r)                       # eq. (5.2): 2 W^T r
hvp_mine = 2 * np.einsum("bji,bj->bi", W, np.einsum("bij,bj->bi", W, vv))  # eq. (5.3)

f, grad = problem.loss_and_grad(theta)
print("loss:", rel_error(f, f_mine), " gradient:", rel_error(grad, grad_mine),
      " Hv:", rel_error(problem.hvp(theta, v), hvp_mine))
%% md
And the check that matters: both against central differences in float64 (chapter 2). Because (5.2)
is affine, a central difference of the gradient along $v$ is exact up to rounding:

$$H v = \frac{\nabla f(\theta + h v) - \nabla f(\theta - h v)}{2h}. \tag{5.4}$$
%% code
errors = check_gradients(lambda theta: problem.loss(theta), {"theta": theta}, {"theta": grad})
h = 1e-5
hv_numeric = (problem.loss_and_grad(theta + h * v)[1] - problem.loss_and_grad(theta - h * v)[1]) / (2 * h)
print(f"  Hv against eq. (5.4): relative error {rel_error(problem.hvp(theta, v), hv_numeric):.2e}")
%% md
## 5.2 Meta-training

`Trainer` runs the procedure of chapter 4 at scale. For each of `problems_per_epoch` freshly sampled
problems it runs the optimizee for `horizon` $T = 100$ steps in truncations of `unroll` $K = 20$
steps; after every truncation it takes one Adam step on $\phi$ with the meta-gradient of (3) (the
dashed edges dropped, $w_t = 1$), and carries $\theta$ and the LSTM state over to the next
truncation. After every epoch it scores the frozen optimizer on validation problems (the mean loss
over the horizon) and keeps the best $\phi$: the paper's early stopping.

The paper's settings for quadratics: no preprocessing, no output scaling (`preprocess="none"`,
`output_scale=1.0`), two LSTM layers of 20 units. To keep this cell to a few seconds we train on 16
functions per problem, 6 epochs of 10 problems (60 problems, 300 meta-steps); the shipped optimizer
had 64 functions and 15 epochs.
%% code
config = TrainConfig(problem="quadratic", problem_kwargs={"num_functions": 16}, optimizer="dm",
                     optimizer_kwargs={"preprocess": "none", "output_scale": 1.0},
                     horizon=100, unroll=20, meta_lr=0.01, epochs=6, problems_per_epoch=10,
                     validation_problems=5, seed=0)
import warnings
warnings.filterwarnings("ignore", message="IProgress not found")   # no progress bar is shown
trainer = Trainer(config)                        # no out_dir: nothing is written to disk
history = trainer.run(progress=False)
learned = trainer.opt
learned.phi = trainer.best_phi                   # the epoch with the best validation score
%% code
epochs = [h["epoch"] for h in history]
fig, ax = plt.subplots()
ax.semilogy(epochs, [h["train_meta_loss"] / 16 for h in history], "o-", label="training meta-loss (3) / 16 functions")
ax.semilogy(epochs, [h["score"] for h in history], "s-", label="validation: mean f over 100 steps")
ax.set_xlabel("epoch"); ax.legend(fontsize=8); ax.set_title("meta-training on quadratics")
plt.tight_layout()
%% md
## 5.3 Fig. 4 (left): against tuned baselines

`compare` tunes each baseline's learning rate by grid search (powers of two, the final loss after
100 steps on `num_tune` problems), then runs every optimizer on the same `num_test` fresh functions
with the same initial points. The paper averages many more test functions; 20 are enough to see the
ordering. The shipped optimizer runs alongside.
%% code
shipped = load_optimizer(os.path.join("..", "minil2o", "datasets", "pretrained", "dm-quadratic.npz"))
family = make_family("quadratic")                # the test distribution: one 10-d function per problem
with np.errstate(over="ignore", invalid="ignore"):   # diverging grid points are scored +inf
    results = compare(family, {"LSTM (here)": learned, "LSTM (shipped)": shipped},
                      ("sgd", "nag", "rmsprop", "adam"), steps=100, num_test=20, num_tune=5,
                      seed=100, log=lambda msg: None)
print(format_table(results))
%% code
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for label, r in results.items():
    steps = np.arange(len(r["mean"]))
    ax.plot(steps, r["mean"], lw=2.2 if r["lr"] is None else 1.2, label=label)
    ax.fill_between(steps, r["mean"] - r["stderr"], r["mean"] + r["stderr"], alpha=0.2,
                    color=ax.lines[-1].get_color())
ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_ylabel("f(theta_t)")
ax.set_title("10-d quadratics, 20 test functions (Fig. 4, left)"); ax.legend(fontsize=8)
plt.tight_layout()
%% md
Both LSTMs end lower than every tuned baseline, as in the paper. Note the shape: in the first steps
the learned optimizer moves faster than the baselines (it has learned the typical curvature of the
family), and it keeps improving where fixed-rate methods slow down.

The same experiment at full size is one command: `minil2o demo` (train and compare) or
`minil2o reproduce dm-fig4-quadratic` (with the shipped optimizer).

## Summary

* The quadratic's gradient (5.2) and Hessian-vector product (5.3) are written by hand and agree with
  central differences (5.4) to about $10^{-10}$.
* `Trainer` meta-trains with truncated BPTT over a 100-step horizon in unrolls of 20, one Adam step
  on $\phi$ per truncation, and keeps the $\phi$ with the best validation score.
* A few hundred meta-steps are enough for the LSTM to beat SGD, NAG, RMSprop and Adam with tuned
  learning rates on this family (Fig. 4, left).

## Exercises

1. **The quadratic's gradient and Hessian-vector product.** Implement `my_loss_and_grad` and
   `my_hvp` below with `xp` from (5.1) to (5.3) (use `problem.W`, `problem.y`, `xp.matmul` and
   reshapes to (B, d, 1)). Replace the library calls. The check below should print relative errors
   below 1e-7.
2. Retrain with `second_derivatives=True` in the `TrainConfig` (the quadratic has `hvp`). Is the
   optimizer better after the same number of meta-steps? How much slower is a meta-step?
3. Evaluate the trained optimizer on quadratics of dimension 20 (`make_family("quadratic", dim=20)`).
   The LSTM is coordinatewise, so it runs; does it still beat Adam?
4. Multiply the test functions by 10 (chapter 1's scaling). What happens to the learned optimizer,
   and why (hint: `preprocess="none"`)?
%% code
def my_loss_and_grad(problem, theta):
    # Exercise 1: replace the next line by eqs. (5.1) and (5.2).
    return problem.loss_and_grad(theta)

def my_hvp(problem, theta, v):
    # Exercise 1: replace the next line by eq. (5.3).
    return problem.hvp(theta, v)

rng = np.random.default_rng(0)
p = QuadraticFamily(dim=4, num_functions=2, init_std=1.0, dtype="float64").sample(rng)
theta, v = p.init(rng), asarray(rng.standard_normal(p.n), dtype="float64")
err = check_gradients(lambda theta: my_loss_and_grad(p, theta)[0], {"theta": theta},
                      {"theta": my_loss_and_grad(p, theta)[1]}, verbose=False)["theta"]
print(f"gradient: relative error {err:.1e} (should be below 1e-7)")
h = 1e-5
numeric = (p.loss_and_grad(theta + h * v)[1] - p.loss_and_grad(theta - h * v)[1]) / (2 * h)
print(f"Hv:       relative error {rel_error(my_hvp(p, theta, v), numeric):.1e} (should be below 1e-7)")
'''


CH06 = r'''
%% md
# 6. An MLP on MNIST: training, longer horizons, other architectures (Fig. 4 to 6)

The second experiment of Andrychowicz et al. 2016 (section 3.2): the optimizee is a small
classifier, an MLP with one hidden layer of 20 sigmoid units trained on minibatches of 128 MNIST
digits for 100 steps. Its gradients span many orders of magnitude, so the optimizer reads them
through the preprocessing of the paper's Appendix A and its outputs are scaled by 0.1. This chapter
derives the preprocessing, the MLP and its gradient, runs a learned optimizer against tuned
baselines for 200 steps (Fig. 4, centre and right), on other architectures (Fig. 5 and 6), and
looks at the updates it makes (Appendix B).

**Sizes.** To keep every run in this notebook to seconds, the digits are average-pooled 2x2 to
14 x 14 pixels (196 inputs: the base MLP has n = 4,150 parameters instead of 15,910) and each
comparison uses 2 test problems. The learned optimizer is coordinatewise, so it runs unchanged on
either size; `minil2o reproduce dm-fig4-mnist`, `dm-fig4-mnist-200`, `dm-fig5-generalization` and
`dm-fig6-architectures` run the full-size experiments.
%% code
SETUP
from minil2o.data import load_mnist
from minil2o.evaluate import compare, format_table
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.optimizers.learned import DMOptimizer, preprocess_forward
from minil2o.problems import MLPFamily
from minil2o.train import load_optimizer
%% md
## 6.1 Appendix A: preprocessing the gradient

An LSTM works well only when its inputs are neither tiny nor huge, but a gradient coordinate of an
MLP may be $10^{-8}$ or $10$. Scaling by one constant cannot fix a range of nine orders of magnitude.
Appendix A of the paper feeds each coordinate $\nabla$ as two numbers instead, its logarithmic size
and its sign, with $p = 10$:

$$\nabla \;\to\; \begin{cases}
\left(\dfrac{\log\lvert\nabla\rvert}{p},\ \operatorname{sgn}(\nabla)\right) & \text{if } \lvert\nabla\rvert \ge e^{-p}\\[2mm]
\left(-1,\ e^{p}\,\nabla\right) & \text{otherwise.}
\end{cases} \tag{A}$$

The first channel measures the magnitude on a log scale (it lies in $[-1, 0]$ for
$e^{-10} \le |\nabla| \le 1$); below $e^{-p} \approx 4.5\cdot 10^{-5}$ it is pinned at $-1$ and the
second channel switches from the sign to a linear, scaled copy of the gradient. Both channels are
continuous at the switch: $\log(e^{-p})/p = -1$ and $e^{p} \cdot e^{-p} = 1 = \operatorname{sgn}$.
From scratch, against `preprocess_forward(g, "log", p)`:
%% code
p = 10.0
g_host = np.concatenate([-np.logspace(2, -12, 400), np.logspace(-12, 2, 400)])   # (800,)
big = np.abs(g_host) >= np.exp(-p)
mine = np.stack([np.where(big, np.log(np.abs(g_host)) / p, -1.0),
                 np.where(big, np.sign(g_host), np.exp(p) * g_host)], axis=1)     # eq. (A), (800, 2)
x = to_numpy(preprocess_forward(asarray(g_host, dtype="float64"), "log", p))
print("eq. (A) vs preprocess_forward:", rel_error(x, mine))
edge = np.exp(-p) * np.array([1 - 1e-9, 1 + 1e-9])
print("the two branches at |g| = e^-p:", to_numpy(preprocess_forward(asarray(edge), "log", p)).round(6).tolist())
%% code
pos = g_host > 0
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for ax, ch, title in zip(axes, (0, 1), ("channel 1: log|g| / p", "channel 2: sgn g  or  e^p g")):
    ax.semilogx(g_host[pos], x[pos, ch], label="g > 0")
    ax.semilogx(-g_host[~pos], x[~pos, ch], "--", label="g < 0 (against |g|)")
    ax.axvline(np.exp(-p), color="0.6", lw=0.8)
    ax.set_xlabel("|g|"); ax.set_title(title, fontsize=10)
axes[0].legend(fontsize=8)
plt.tight_layout()
%% md
**Output scaling.** On the other side, the linear read-out of the top LSTM state is multiplied by a
constant, 0.1 on MNIST (`output_scale`): $g_t = 0.1\,(W_{\text{out}} h_t + b_{\text{out}})$.
An update of 0.1 per unit of LSTM output is about the size of a good SGD step on this network.

## 6.2 The base network and its gradient by hand

With $h_0 = X$ (a minibatch, $N\times 784$, here $N \times 196$), one hidden layer of sigmoid units
$\sigma$ and a softmax output,

$$a_1 = h_0 W_1 + b_1,\quad h_1 = \sigma(a_1),\quad z = h_1 W_2 + b_2, \tag{6.1}$$

$$f = \frac{1}{N}\sum_n \Big[\log\sum_j e^{z_{nj}} - \sum_j Y_{nj} z_{nj}\Big]. \tag{6.2}$$

Backpropagation, with $\delta_l = \partial f / \partial a_l$ ($a_2 = z$):

$$\delta_2 = \frac{\operatorname{softmax}(z) - Y}{N},\qquad
\frac{\partial f}{\partial W_l} = h_{l-1}^\top \delta_l,\qquad
\frac{\partial f}{\partial b_l} = \sum_n \delta_{l,n},\qquad
\delta_1 = (\delta_2 W_2^\top) \odot \sigma(a_1)\,(1 - \sigma(a_1)). \tag{6.3}$$

`MLPProblem` keeps all parameters in one flat vector $\theta = [W_1, b_1, W_2, b_2]$, which is what
the optimizer sees. The forward pass (6.1, 6.2) from scratch against the library:
%% code
X, y = load_mnist("train")                                          # (3000, 784) in [0, 1], (3000,)
pool = lambda X: X.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(-1, 196)
X14 = pool(X)                                                       # (3000, 196)
family = MLPFamily(X14, y, hidden=(20,), activation="sigmoid", batch_size=128)
rng = np.random.default_rng(0)
problem = family.sample(rng)
theta, batch = problem.init(rng), problem.sample_batch(rng)
print("n =", problem.n, " slices (W, b, shape):", [(s[2]) for s in family.slices])

t = to_numpy(theta)
(w1, b1, s1), (w2, b2, s2) = family.slices
W1, B1, W2, B2 = t[w1].reshape(s1), t[b1], t[w2].reshape(s2), t[b2]
Xb, Yb = X14[to_numpy(batch)], np.eye(10)[y[to_numpy(batch)]]
z = (1 / (1 + np.exp(-(Xb @ W1 + B1)))) @ W2 + B2                   # eq. (6.1), (128, 10)
m = z.max(axis=1, keepdims=True)
f_mine = np.mean(m[:, 0] + np.log(np.exp(z - m).sum(axis=1)) - (Yb * z).sum(axis=1))  # eq. (6.2)
print("f from scratch vs MLPProblem.loss:", rel_error(f_mine, problem.loss(theta, batch)))
%% md
The gradient (6.3) is checked against central differences in the exercise at the end of the
chapter, on a network small enough to check every coordinate.

## 6.3 A learned optimizer on the MLP

The paper's optimizer for this network: preprocessing (A), two LSTM layers of 20 units, output
scale 0.1, trained with $T = 100$, $K = 20$. If the trained optimizer `dm-mnist.npz` is shipped in
`minil2o/datasets/pretrained/`, the cell below loads it. Otherwise it meta-trains one live, with the
loop of chapter 4 (12 meta-steps: 6 problems of 40 steps, truncations of 20), which takes seconds
and is far too little training to match the paper; the printed line says which one you are looking
at.
%% code
from minil2o.meta import meta_gradient, meta_loss, meta_weights, unroll
from minil2o.optimizers.hand import Adam
from minil2o.train import flatten, unflatten

path = os.path.join("..", "minil2o", "datasets", "pretrained", "dm-mnist.npz")
if os.path.exists(path):
    learned, source = load_optimizer(path), "the shipped dm-mnist optimizer"
else:
    learned = DMOptimizer(hidden=20, num_layers=2, preprocess="log", p=10.0, output_scale=0.1)
    phi, K, weights = learned.init_params(rng), 20, meta_weights(20, "all")
    meta_opt = Adam(lr=0.01)
    meta_state = meta_opt.init_state(flatten(phi).shape[0])
    for _ in range(6):                                             # 6 problems x 2 truncations
        p_train = family.sample(rng)
        theta_k, state, start, batches = p_train.init(rng), learned.init_state(p_train.n), None, [p_train.sample_batch(rng)]
        for k in range(2):
            batches += [p_train.sample_batch(rng) for _ in range(K)]
            tr = unroll(learned, phi, p_train, theta_k, state, batches, start)
            step, meta_state = meta_opt.step(flatten(meta_gradient(learned, phi, p_train, tr, weights)), meta_state)
            phi = unflatten(flatten(phi) + step, phi)
            theta_k, state, start, batches = tr.thetas[-1], tr.state, (tr.losses[-1], tr.grads[-1]), batches[-1:]
    learned.phi, source = phi, "a tiny live run (12 meta-steps; dm-mnist.npz is not shipped)"
print("learned optimizer:", source)
%% md
Now the comparison of Fig. 4 (centre and right): SGD and Adam with learning rates tuned for the
final loss at step 200 by `compare`, on the same 2 test problems (same initial weights and
minibatches) as the learned optimizer, which was trained for 100 steps and here runs for 200.
%% code
def compare_on(family, steps, num_test=2, seed=300):
    with np.errstate(over="ignore", invalid="ignore"):
        return compare(family, {"LSTM": learned}, ("sgd", "adam"), steps=steps, num_test=num_test,
                       num_tune=2, seed=seed, log=lambda msg: None)

def plot_panel(ax, results, title):
    for label, r in results.items():
        ax.plot(r["mean"], lw=2.2 if r["lr"] is None else 1.2,
                label=label if r["lr"] is None else f"{label} (lr {r['lr']:g})")
    ax.axvline(100, color="0.7", lw=0.8)
    ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)

base = compare_on(family, 200)
print(format_table(base, step=100), "\n")
print(format_table(base))
fig, ax = plt.subplots()
plot_panel(ax, base, "base MLP 196-20-10 sigmoid, 200 steps (Fig. 4, centre and right)")
plt.tight_layout()
%% md
If the optimizer above is the tiny live run, expect it to trail the tuned baselines: a dozen
meta-steps teach it to descend, not to compete with a tuned Adam. The shipped one trails too, for
another reason: it was meta-trained on the full 784-pixel digits, and the pooled 14 x 14 digits give
gradients of other sizes (exercise 2 puts the 784 pixels back). On the network it was trained on,
`minil2o reproduce dm-fig4-mnist` gives it 0.062 ± 0.005 at step 100 over 100 test problems, level
with tuned Adam (0.064 ± 0.004) and behind NAG (0.044 ± 0.005); see RESULTS.md.

## 6.4 Other architectures (Fig. 5 and 6)

The optimizer was trained on one architecture; the paper tests it on others without retraining:
40 hidden units instead of 20, two hidden layers instead of one, and ReLU instead of sigmoid. The
first two change the number of coordinates and the statistics of the gradients mildly, and the
paper's optimizer keeps its lead; ReLU changes the dynamics, and it fails there. One test problem
per panel here. (Fig. 6 sweeps the
number of units and layers the same way: `minil2o reproduce dm-fig6-architectures`.)
%% code
variants = {"40 hidden units": dict(hidden=(40,)), "2 hidden layers": dict(hidden=(20, 20)),
            "ReLU": dict(activation="relu")}
fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharey=True)
for ax, (title, kwargs) in zip(axes, variants.items()):
    fam = MLPFamily(X14, y, **{"hidden": (20,), "activation": "sigmoid", **kwargs})
    res = compare_on(fam, 100, num_test=1)
    plot_panel(ax, res, f"{title} (n = {fam.n})")
    print(f"{title:16s}", {k: round(float(r["mean"][-1]), 3) for k, r in res.items()})
plt.tight_layout()
%% md
## 6.5 What the updates look like (Appendix B)

Appendix B of the paper plots, for a few coordinates, the update the LSTM proposes next to the
gradient it receives. A hand-designed rule is a fixed function of the gradient history (for SGD,
$g_t = -\alpha\nabla_t$); the learned one is not: it can take steps whose size does not follow the
gradient's, and keeps a memory of earlier gradients like momentum. The loop below is
`evaluate.run_optimizer` with a record of four coordinates of the first layer's weights.
%% code
def record(problem, opt, steps, rng, coords):
    """theta_{t+1} = theta_t + update_t, keeping grad_t and update_t at `coords` (host arrays)."""
    theta, state, grads, updates = problem.init(rng), opt.init_state(problem.n), [], []
    for t in range(steps):
        _, grad = problem.loss_and_grad(theta, problem.sample_batch(rng))
        update, state = opt.step(grad, state)
        theta = theta + update                                     # eq. (1)
        grads.append(to_numpy(grad)[coords]); updates.append(to_numpy(update)[coords])
    return np.array(grads), np.array(updates)                      # (steps, len(coords)) each

coords = np.array([100, 2000, 3000, 3500])                          # weights of layer 1
grads, updates = record(family.sample(rng), learned, 60, np.random.default_rng(7), coords)
fig, axes = plt.subplots(2, 4, figsize=(10, 3.6), sharex=True)
for j, c in enumerate(coords):
    axes[0, j].plot(grads[:, j], color="tab:blue"); axes[0, j].set_title(f"theta[{c}]", fontsize=9)
    axes[1, j].plot(updates[:, j], color="tab:orange")
axes[0, 0].set_ylabel("gradient"); axes[1, 0].set_ylabel("update")
for ax in axes[1]:
    ax.set_xlabel("step")
plt.tight_layout()
corr = [np.corrcoef(grads[:, j], updates[:, j])[0, 1] for j in range(len(coords))]
print("correlation of update and gradient per coordinate:", np.round(corr, 2))
%% md
## Summary

* Appendix A feeds each gradient coordinate as (log-magnitude / p, sign), switching to
  (-1, e^p g) below $e^{-p}$; both channels are continuous and bounded for $|g| \le 1$, whatever the
  scale of the gradient.
* The MLP's gradient (6.3) is plain backpropagation, written by hand in `MLPProblem.loss_and_grad`.
* A learned optimizer is compared with tuned baselines on the same problems; the paper's optimizer
  keeps its lead at 200 steps, on 40 units and on 2 layers, and fails on ReLU (Fig. 4, 5).
* The updates of a learned optimizer are not a fixed multiple of the gradient (Appendix B).

## Exercises

1. **The MLP gradient.** Implement `my_mlp_loss_and_grad` below from (6.1) to (6.3) (for any number
   of hidden layers: `problem.family.slices` gives each layer's weight slice, bias slice and shape).
   Replace the library call. The check below should print a relative error below 1e-7.
2. Replace the pooled 14 x 14 digits by the full 784 pixels (`X` instead of `X14`). Does the learned
   optimizer behave the same? Why can it run on both at all?
3. Train the live optimizer with `preprocess="none"` and `output_scale=1.0`, as on quadratics.
   What happens, and which gradient magnitudes does it fail to see?
4. Extend 6.4 with `activation="tanh"`. Is tanh closer to sigmoid or to ReLU for the optimizer?
%% code
def my_mlp_loss_and_grad(problem, theta, batch):
    # Exercise 1: replace the next line by eqs. (6.1) to (6.3).
    return problem.loss_and_grad(theta, batch)

rng = np.random.default_rng(0)
tiny = MLPFamily(rng.standard_normal((20, 6)), rng.integers(0, 3, 20), hidden=(5,),
                 num_classes=3, batch_size=20, init_std=0.5, dtype="float64").sample(rng)
theta = tiny.init(rng)                                              # (53,)
f, grad = my_mlp_loss_and_grad(tiny, theta, None)                   # None: all 20 examples
err = check_gradients(lambda theta: tiny.loss(theta, None), {"theta": theta}, {"theta": grad},
                      verbose=False)["theta"]
print(f"MLP gradient: relative error {err:.1e} (should be below 1e-7)")
'''


CH07 = r'''
%% md
# 7. Convolutional networks: two optimizers for conv and fully connected parameters (Fig. 7)

Andrychowicz et al. 2016 (section 3.3) train a convolutional network on CIFAR-10: three conv layers
with max pooling and batch norm, a fully connected layer of 32 units, ReLU. The gradients of filters
and of fully connected weights behave differently, so the paper uses **two** coordinatewise LSTMs,
one for all convolutional parameters and one for all fully connected ones, trained together. This
chapter writes the convolution and its backward pass, routes parameter groups to their own
optimizers with `PerGroupOptimizer`, and meta-trains such a pair on a tiny CNN.

**Sizes.** A CNN step on 28 x 28 digits costs about 0.1 s on a laptop CPU, so everything here uses
MNIST cropped to 24 x 24 and pooled to 12 x 12, 8 filters per conv layer and minibatches of 32.
CIFAR-10 cannot be bundled; `minil2o reproduce dm-fig7-cnn` runs Fig. 7 on it when a copy is at hand
(environment variable `MINIL2O_CIFAR10`) and on MNIST otherwise.
%% code
SETUP
from minil2o.convolution import conv2d_backward, conv2d_forward
from minil2o.data import load_mnist
from minil2o.evaluate import learning_curves, tune_learning_rate
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective
from minil2o.meta import meta_gradient, meta_loss, meta_weights, unroll
from minil2o.optimizers.grouped import PerGroupOptimizer
from minil2o.optimizers.hand import Adam
from minil2o.optimizers.learned import DMOptimizer
from minil2o.problems.cnn import CNNFamily
from minil2o.train import flatten, unflatten
%% md
## 7.1 Convolution as one matrix product

A convolution with SAME padding $p = (k-1)/2$ and stride 1 (deep-learning libraries compute a
cross-correlation) maps $x$: $(N, C, H, W)$ and filters $w$: $(F, C, k, k)$ to

$$\text{out}_{n,f,h,w} = b_f + \sum_{c,i,j} w_{f,c,i,j}\; x^{\text{pad}}_{n,c,h+i,w+j}. \tag{7.1}$$

Copy every $k\times k$ neighbourhood into a column (`im2col`: cols, $(Ck^2, NHW)$) and reshape $w$
to $W_2$: $(F, Ck^2)$; then (7.1) is one matrix product, $\text{out}_2 = W_2\,\text{cols} + b$, a
linear layer whose "examples" are the $NHW$ pixel positions. Its backward pass is that of a linear
layer, followed by `col2im`, the adjoint of the copy, which adds each column entry back onto the
pixel it came from:

$$\bar W_2 = \bar{\text{out}}_2\, \text{cols}^\top,\qquad \bar b_f = \sum_{n,h,w} \bar{\text{out}}_{n,f,h,w},\qquad
\bar x = \text{col2im}\big(W_2^\top\, \bar{\text{out}}_2\big). \tag{7.2}$$

(7.1) by four nested loops against `conv2d_forward`:
%% code
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
%% md
## 7.2 The optimizee: a small CNN on MNIST

`CNNFamily` reads a layer string: `c` a 3x3 convolution + ReLU, `p` 2x2 max pooling, `f` a fully
connected layer (the last maps to the 10 classes). "c-p-c-p-f-f" is the paper's CIFAR network with
two conv layers instead of three (12 -> 6 -> 3 pixels). The problem names two parameter groups,
slices of $\theta$: `conv` (filters and biases) and `fc` (weights and biases).
%% code
X, y = load_mnist("train")
small = lambda X: X.reshape(-1, 28, 28)[:, 2:26, 2:26].reshape(-1, 12, 2, 12, 2).mean(axis=(2, 4))
family = CNNFamily(small(X).reshape(-1, 1, 12, 12), y, 10, layers="c-p-c-p-f-f", channels=8,
                   hidden=32, batch_size=32)
problem = family.sample(rng)
print(problem, "\ngroups:", problem.groups)
for prm, size in zip(problem.params, problem.sizes):
    print(f"  {prm.name:8s} {str(prm.shape):15s} {size:5d}  group {prm.group}")
%% md
## 7.3 One LSTM per parameter type

With groups $G$ (here conv and fc), each a slice of $\theta$, the optimizer is a set of coordinatewise
LSTMs with their own parameters $\phi_G$ and states, and the update is assembled group by group:

$$g_t[G] = m\big(\nabla_t[G],\, h_t[G];\ \phi_G\big). \tag{7.3}$$

The meta-loss (3) is unchanged, and because the groups share no coordinate and no parameter, its
gradient with respect to $\phi_G$ is the backward pass of $m(\cdot;\phi_G)$ on its own slice:
`PerGroupOptimizer.step_backward` calls each group's `step_backward` on its slice. Its $\phi$ is one
flat dict with keys `"conv/..."` and `"fc/..."`, so the meta-training loop of chapter 4 applies
as is. A check of (7.3): the grouped step equals the two optimizers run separately.
%% code
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
print("eq. (7.3), grouped vs separate:", rel_error(update, np.concatenate([to_numpy(u) for u in parts])))
%% md
## 7.4 Meta-training the pair, and Fig. 7 in miniature

The loop of chapter 4: each meta-step samples a problem, unrolls 10 steps from its initial weights,
and takes one Adam step on both LSTMs' parameters. Twenty meta-steps take seconds and are far from
the paper's training; it is enough to see the pair learn to move both groups. Adam's learning rate
is tuned on the same family for 30 steps.
%% code
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
ax0.plot(history, "o-", ms=3); ax0.set_xlabel("meta-step"); ax0.set_title("meta-loss (3) / K", fontsize=10)
for label, c in curves.items():
    ax1.plot(c.mean(axis=0), label=label)
    print(f"{label:22s} loss at step 30: {c.mean(axis=0)[-1]:.3f}")
ax1.set_xlabel("step"); ax1.set_title("cross entropy, 2 test CNNs", fontsize=10); ax1.legend(fontsize=8)
plt.tight_layout()
%% md
With this little training the learned pair is not expected to beat a tuned Adam; the paper trained
for far longer. What the figure shows is the mechanism: two optimizers with separate parameters,
trained by one meta-gradient, each seeing only its own coordinates.

## Summary

* A convolution is a matrix product over `im2col` columns (7.1); its backward pass is a linear
  layer's followed by `col2im` (7.2).
* A problem names parameter groups as slices of $\theta$; `PerGroupOptimizer` gives each group its
  own coordinatewise LSTM (7.3) with parameters `"<group>/<name>"`, and its backward pass is the
  groups' backward passes.
* Meta-training, Adam on $\phi$ and checkpoints treat the pair like one learned optimizer.

## Exercises

1. **The convolution's backward pass.** Implement `my_conv2d_backward` below from (7.2) (use
   `minil2o.convolution.col2im` and the `cols` kept in the cache). Replace the library call. The check
   below should print relative errors below 1e-7 for `x`, `w` and `b`.
2. Meta-train a single `DMOptimizer` for all coordinates with the same budget and compare it with the
   pair. Which group's gradients are larger?
3. Train on `classes=[5, 6, 7, 8, 9]` and test on labels 0-4 ("LSTM-sub" of Fig. 7).
%% code
def my_conv2d_backward(dout, cache):
    # Exercise 1: replace the next line by eq. (7.2).
    return conv2d_backward(dout, cache)

rng = np.random.default_rng(0)
inputs = {"x": asarray(rng.standard_normal((2, 3, 5, 5))), "w": asarray(rng.standard_normal((4, 3, 3, 3))),
          "b": asarray(rng.standard_normal(4))}
dout = asarray(rng.standard_normal((2, 4, 5, 5)))
_, cache = conv2d_forward(**inputs)
objective = vjp_objective(lambda **inp: conv2d_forward(**inp)[0], dout)
err = check_gradients(objective, inputs, dict(zip(("x", "w", "b"), my_conv2d_backward(dout, cache))),
                      verbose=False)
print(f"conv2d backward: largest relative error {max(err.values()):.1e} (should be below 1e-7)")
'''


CH08 = r'''
%% md
# 8. Neural art (Fig. 8 and 9)

The last experiment of Andrychowicz et al. 2016 (section 3.4) optimizes the pixels of an image:
style transfer after Gatys, Ecker & Bethge 2015. Every pair of a content image and a style image is
a different optimization problem, and a learned optimizer trained on one style at 64 x 64 is tested
on new content, a new style and twice the resolution. This chapter writes the three loss terms and
the Gram matrix's backward pass, checks the whole gradient, and styles a small image.

**The feature network.** Gatys et al. compute the losses on features of VGG-19; no pretrained VGG
can be had offline, so `minil2o.problems.art` uses a fixed network of three blocks of random 3x3
filters (16, 32, 64 channels) with ReLU and 2x2 max pooling. Gram matrices of random multi-scale
features are known to capture texture (the module docstring gives the references). **Sizes:** the
paper trains at 64 x 64 and tests at 128 x 128; here 32 x 32 keeps each step to a few
milliseconds. `minil2o reproduce dm-fig8-9-neural-art` runs the paper's sizes.
%% code
SETUP
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective
from minil2o.optimizers.hand import Adam
from minil2o.problems.art import (NeuralArtFamily, content_loss, gram_backward, gram_forward,
                                  load_art_images, style_loss, tv_loss)
from minil2o.train import load_optimizer
%% md
## 8.1 The objective

The parameters $\theta$ are the pixels of the image $X$ ($H\times W\times 3$, flattened: $n = 3HW$).
With $c$ the content image and $s$ the style image, the paper's objective is

$$f(\theta) = \alpha\,\mathcal{L}_{\text{content}}(c, \theta) + \beta\,\mathcal{L}_{\text{style}}(s, \theta)
+ \gamma\,\mathcal{L}_{\text{reg}}(\theta). \tag{8.1}$$

Let $F_l(X)$ be block $l$'s feature map reshaped to $C_l$ channels by $M_l = H_l W_l$ positions. The
**content** term compares features of one deeper block $l_c$ position by position:

$$\mathcal{L}_{\text{content}} = \operatorname{mean}_{k,m}\big(F_{l_c}(X) - F_{l_c}(c)\big)_{km}^2. \tag{8.2}$$

The **style** term compares Gram matrices, the correlations between channels averaged over
positions, which keep which features fire together and forget where:

$$G_l = \frac{1}{M_l} F_l F_l^\top \in \mathbb{R}^{C_l\times C_l},\qquad
\mathcal{L}_{\text{style}} = \frac{1}{L}\sum_{l} \frac{\lVert G_l(X) - G_l(s)\rVert_F^2}{C_l^2}. \tag{8.3}$$

The **regularizer** is a smooth total variation, the mean squared difference of neighbouring pixels:

$$\mathcal{L}_{\text{reg}} = \frac{1}{3HW}\sum_{i,j,c}\Big[(X_{i+1,j,c} - X_{i,j,c})^2 + (X_{i,j+1,c} - X_{i,j,c})^2\Big]. \tag{8.4}$$

## 8.2 The Gram matrix's backward pass

$G_{ij} = F_i\cdot F_j / M$ with $F_i$ the rows of $F$. A change $dF$ moves the loss by
$\sum_{ij}\bar G_{ij}(dF_i\cdot F_j + F_i\cdot dF_j)/M$; collecting the terms of $dF_i$,

$$\bar F = \frac{1}{M}\big(\bar G + \bar G^\top\big) F, \tag{8.5}$$

which is $2\bar G F / M$ for the style loss, whose $\bar G = 2(G - G(s))/(L C^2)$ is symmetric.
From scratch against `gram_forward`, then (8.5) against `gram_backward`:
%% code
rng = np.random.default_rng(0)
feat = asarray(rng.standard_normal((1, 4, 3, 5)), dtype="float64")         # (1, C, H, W)
F_host = to_numpy(feat).reshape(4, 15)                                        # (C, M)
G, F = gram_forward(feat)
print("G = F F^T / M:", rel_error(G, F_host @ F_host.T / 15))
dG = rng.standard_normal((4, 4))                                              # not symmetric
print("eq. (8.5):    ", rel_error(gram_backward(asarray(dG), F, feat.shape), (dG + dG.T) @ F_host / 15))
%% md
The content term's gradient is $2(F - F(c))/\text{size}$; the TV term's is a difference of shifted
differences (`tv_loss`'s docstring derives it). The style and content gradients arrive at the
feature maps and go down the network through the blocks' backward passes (ReLU, convolution,
pooling: chapter 7's layers). The whole gradient of (8.1) against central differences, on an
8 x 8 image so that all 192 pixels are checked one by one:
%% code
tiny = NeuralArtFamily(size=8, crop=False, dtype="float64").sample(rng)
theta = tiny.init(rng)
f, grad = tiny.loss_and_grad(theta)
errors = check_gradients(lambda theta: tiny.loss_and_grad(theta)[0], {"theta": theta}, {"theta": grad})
%% md
## 8.3 Styling an image

A 32 x 32 crop of a bundled photograph, the training style of `minil2o reproduce` ("gravel"), and
the paper's horizon of 128 steps. The image starts from the content plus a little noise
(`init="content"`), so the optimizer only has to add the style. Adam with learning rate 0.02 (the
module docstring's setting) is the baseline; if the learned optimizer `dm-art.npz` is shipped in
`minil2o/datasets/pretrained/`, it runs on the same problem.
%% code
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
if os.path.exists(path):
    runs["LSTM (dm-art)"] = style_image(problem, load_optimizer(path), 128)
else:
    print("dm-art.npz is not shipped: only the baseline runs here")
for label, (losses, theta) in runs.items():
    terms = problem.loss_terms(theta)
    print(f"{label:15s} f: {losses[0]:.4f} -> {losses[-1]:.4f}  "
          f"(content {terms['content']:.4f}, style {terms['style']:.2e}, tv {terms['tv']:.4f})")
%% code
panels = [("content", problem.content), ("style (gravel)", family.style)]
panels += [(label, problem.to_image(theta)) for label, (_, theta) in runs.items()]
fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3 * (len(panels) + 1), 3))
for ax, (title, image) in zip(axes, panels):
    ax.imshow(np.clip(image, 0, 1)); ax.set_title(title, fontsize=10); ax.axis("off")
for label, (losses, _) in runs.items():
    axes[-1].semilogy(losses, label=label)
axes[-1].set_xlabel("step"); axes[-1].set_title("f (8.1)", fontsize=10); axes[-1].legend(fontsize=8)
plt.tight_layout()
%% md
The styled image takes the texture's grain and contrast while the cat stays recognisable: the
random features are small (3 to 18 pixel neighbourhoods), so larger structures of a style are out
of their reach. Fig. 8 of the paper compares the learned optimizer with the baselines on such
curves; Fig. 9 shows its images.

## Summary

* Neural art optimizes pixels: $f$ = content (8.2) + style (8.3) + smoothness (8.4), on features of
  a fixed convolutional network.
* The Gram matrix forgets positions and keeps channel correlations; its backward pass is
  $\bar F = (\bar G + \bar G^\top) F / M$ (8.5).
* All of $f$'s gradient is hand-written: the three terms, then back through the blocks; it matches
  central differences to about $10^{-9}$.

## Exercises

1. **The Gram matrix's backward pass.** Implement `my_gram_backward` below from (8.5). Replace the
   library call. The check below should print a relative error below 1e-7.
2. Set `style_weight=0` in the family, then `content_weight=0`. What does each term do on its own?
3. Start from noise (`init="noise"`) as Gatys et al. do. How many more steps does Adam need?
4. Try Adam's learning rate at 0.005 and 0.08. How sensitive is the styling to it, and why might a
   learned optimizer help here?
%% code
def my_gram_backward(dG, F, shape):
    # Exercise 1: replace the next line by eq. (8.5).
    return gram_backward(dG, F, shape)

rng = np.random.default_rng(0)
feat = asarray(rng.standard_normal((1, 3, 4, 4)), dtype="float64")
dG = asarray(rng.standard_normal((3, 3)), dtype="float64")
G, F = gram_forward(feat)
objective = vjp_objective(lambda feat: gram_forward(feat)[0], dG)
err = check_gradients(objective, {"feat": feat}, {"feat": my_gram_backward(dG, F, feat.shape)},
                      verbose=False)["feat"]
print(f"Gram backward: relative error {err:.1e} (should be below 1e-7)")
'''


CH09 = r'''
%% md
# 9. RNNprop: relative inputs, Random Scaling, combination with convex functions

Lv, Jiang & Li 2017 ("RNNprop") start from chapter 1's observation (their section 3.2): scaling the
objective, $f \to c f$, scales every step of SGD and Momentum but leaves Adagrad, RMSprop and Adam
unchanged, because those divide the gradient by the root of its second moment. The DM optimizer
reads the raw gradient, so it belongs to the first class; it overfits the scale of its training
problems and fails on longer horizons. RNNprop moves the learned optimizer into the second class
(relative inputs) and trains it so that it cannot memorise a step size (Random Scaling, the
combination with convex functions; their section 4). This chapter writes those equations, checks
them, trains RNNprop live on quadratics and tests it on MLPs it never saw: longer horizons and other
activations.

The paper's equation numbers were lost in our copy of it, so its equations are numbered (9.1),
(9.2), ... here, with the section they come from.
%% code
SETUP
from minil2o.data import load_mnist
from minil2o.evaluate import learning_curves
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.optimizers.hand import Adam
from minil2o.optimizers.learned import RNNprop
from minil2o.problems import MLPFamily, QuadraticFamily
from minil2o.problems.wrappers import ConvexCombined, RandomScaled
from minil2o.train import TrainConfig, Trainer, load_optimizer
%% md
## 9.1 Relative inputs (section 4)

RNNprop keeps Adam's moving averages of the gradient $g_t$ and of its square, with
$\beta_1 = \beta_2 = 0.95$, and corrects their bias towards the zero start:

$$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
\hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat v_t = \frac{v_t}{1-\beta_2^t}. \tag{9.1}$$

The LSTM reads two *relative* inputs per coordinate,

$$x_t = \left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon},\ \frac{g_t}{\sqrt{\hat v_t} + \epsilon}\right),
\qquad \epsilon = 10^{-8}. \tag{9.2}$$

Multiply every gradient by $c > 0$: $\hat m_t$ and $\sqrt{\hat v_t}$ both scale by $c$, and (up to
$\epsilon$) $x_t$ does not change. From scratch against `RNNprop.relative_inputs`, and the
invariance:
%% code
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
%% md
## 9.2 The network

The two inputs go through a fully connected layer of 20 ELU units (a learned preprocessing), the
coordinatewise two-layer LSTM of 20 units, and a bounded read-out:

$$z_t = \operatorname{ELU}(x_t W_{\text{in}} + b_{\text{in}}),\qquad
h_t = \operatorname{LSTM}_2(\operatorname{LSTM}_1(z_t)),\qquad
\Delta\theta_t = -\alpha \tanh(h_t W_{\text{out}} + b_{\text{out}}),\quad \alpha = 0.1. \tag{9.3}$$

Every step is at most $\alpha$ per coordinate whatever the gradient's size, as Adam's step is at
most about its learning rate. Its backward pass, `RNNprop.step_backward`, goes back through the
tanh, the LSTMs (chapter 3) and the ELU; with second derivatives on, also through (9.2) and (9.1)
(checking it is the exercise).
%% code
opt_small = RNNprop(hidden=20)
phi = opt_small.init_params(rng, "float64")
for scale in (1e-6, 1.0, 1e6):
    update, _, _ = opt_small.step_forward(phi, asarray(scale * rng.standard_normal(1000)), opt_small.init_state(1000, "float64"))
    print(f"gradients of size {scale:g}: largest |update| = {float(np.abs(to_numpy(update)).max()):.6f} "
          "(the same at every scale, and below alpha = 0.1)")
%% md
## 9.3 Random Scaling (section 4.1)

An optimizer trained on one function can learn its best step size instead of a rule. Random Scaling
draws, for each training problem, a vector $c$ with $c_i = e^{u_i}$, $u_i \sim U(-r, r)$, and trains
on

$$f_c(\theta) = f(c \odot \theta), \qquad \theta_0 = \theta_0^{f} / c, \tag{9.4}$$

so the same minimum is seen at a different scale in every coordinate. By the chain rule,

$$\nabla f_c(\theta) = c \odot \nabla f(c\odot\theta),\qquad H_c v = c \odot H(c\odot\theta)(c \odot v). \tag{9.5}$$

`RandomScaled` implements (9.4) and (9.5); a check against central differences on a quadratic:
%% code
quad = QuadraticFamily(dim=5, init_std=1.0, dtype="float64").sample(rng)
scaled = RandomScaled(quad, r=3.0, rng=rng)
theta = scaled.init(rng)
f, grad = scaled.loss_and_grad(theta, None)
print("c ranges over", to_numpy(scaled.scale).min().round(3), "to", to_numpy(scaled.scale).max().round(3))
errors = check_gradients(lambda theta: scaled.loss(theta, None), {"theta": theta}, {"theta": grad})
%% md
## 9.4 Combination with convex functions (section 4.2)

Neural network losses are non-convex and noisy; an optimizer trained only on them may never learn to
finish a simple convex descent. RNNprop appends to every training problem a random convex function
of 20 extra coordinates,

$$F(\theta, x) = f(\theta) + g(x),\qquad g(x) = \frac{1}{n}\sum_{i=1}^{n}(x_i - v_i)^2,\quad
v_i \sim U(-1, 1),\ n = 20, \tag{9.6}$$

each term randomly scaled ($r = 3$ for the MLP, $r = 1$ for $g$). Since the two parts share no
coordinate, the optimizer simply sees $n_f + 20$ coordinates. `ConvexCombined`:
%% code
combined = ConvexCombined(quad, rng, dim=20, r=1.0)
theta = combined.init(rng)
f, grad = combined.loss_and_grad(theta, None)
print("n =", quad.n, "+ 20 =", combined.n, "| F = f + g:",
      rel_error(f, quad.loss(theta[:5], None) + combined.convex.loss(theta[5:], None)))
errors = check_gradients(lambda theta: combined.loss(theta, None), {"theta": theta}, {"theta": grad})
%% md
## 9.5 Training RNNprop, and testing it far from its training

If the trained optimizer `rnnprop-mnist.npz` (trained on the MNIST MLP with both tricks) is shipped
in `minil2o/datasets/pretrained/`, the cell below loads it. Otherwise it trains RNNprop live, in
seconds, on random 10-d quadratics with Random Scaling ($r = 1$) and the convex combination, with
RNNprop's meta-loss (only the last step of each truncation, `weighting="last"`) and its model
selection (the moving average of the training loss). Either way, the tests below run on MNIST MLPs
pooled to 14 x 14 (chapter 6), which the live optimizer never saw.
%% code
path = os.path.join("..", "minil2o", "datasets", "pretrained", "rnnprop-mnist.npz")
if os.path.exists(path):
    rnnprop, source = load_optimizer(path), "the shipped rnnprop-mnist optimizer"
else:
    config = TrainConfig(problem="quadratic", problem_kwargs={"num_functions": 16},
                         optimizer="rnnprop", weighting="last", selection="train-average",
                         random_scaling=1.0, convex_combination=True, horizon=100, unroll=20,
                         meta_lr=0.005, epochs=6, problems_per_epoch=10, seed=0)
    import warnings
    warnings.filterwarnings("ignore", message="IProgress not found")   # no progress bar is shown
    trainer = Trainer(config, log=lambda msg: None)
    trainer.run(progress=False)
    rnnprop, source = trainer.opt, "a live run on quadratics (60 problems; rnnprop-mnist.npz is not shipped)"
    rnnprop.phi = trainer.best_phi
print("RNNprop:", source)

X, y = load_mnist("train")
X14 = X.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(-1, 196)   # (3000, 196)
%% md
**Longer horizons.** The optimizers of both papers are trained on 100 steps. RNNprop's section 5
runs them for 2,000 and 10,000 steps: the DM optimizer's loss goes up again, RNNprop keeps
decreasing. Here 300 steps on the base MLP (sigmoid, 20 units), against Adam with the learning rate
RNNprop's code tuned for long runs ($2^{-6}$):
%% code
family = MLPFamily(X14, y, hidden=(20,), activation="sigmoid")
long_curves = {"RNNprop": learning_curves(family, rnnprop, 1, 300, seed=4),
               "Adam (lr 2^-6)": learning_curves(family, Adam(lr=2.0 ** -6), 1, 300, seed=4)}
fig, ax = plt.subplots()
for label, c in long_curves.items():
    smooth = np.convolve(c[0], np.ones(10) / 10, mode="valid")         # minibatch noise averaged
    ax.semilogy(np.arange(9, 301), smooth, label=label)
    print(f"{label:16s} mean loss over the last 50 steps: {c[0, -50:].mean():.3f}")
ax.set_xlabel("step"); ax.set_title("base MLP, 300 steps (10-step moving average)", fontsize=10)
ax.legend(fontsize=8); plt.tight_layout()
%% md
**Other activations.** RNNprop's table compares Adam, the DM optimizer and RNNprop on MLPs with
sigmoid, ReLU, ELU and tanh units (the DM optimizer, trained on sigmoid, fails on ReLU: chapter 6).
Adam gets the learning rates RNNprop's code tuned for each activation:
%% code
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
%% md
Trained only on quadratics, the scale-free optimizer transfers: with no tuning at all it stays
close to Adam tuned per activation, and keeps decreasing over 300 steps. The relative inputs (9.2)
make an MLP's gradients look like a quadratic's, and the tricks (9.4), (9.6) keep it from memorising
one step size. One test problem per curve is a demonstration, not a measurement;
`minil2o reproduce` runs RNNprop's experiments with many.

## Summary

* RNNprop's inputs are Adam's normalized moments (9.1), (9.2): invariant to rescaling $f$, so the
  learned optimizer belongs to the scale-free class of section 3.2.
* A learned ELU preprocessing, the coordinatewise LSTM and a bounded output
  $-\alpha\tanh(\cdot)$ (9.3).
* Random Scaling (9.4, 9.5) and the combination with a random convex function (9.6) are training
  tricks: wrappers around any problem, with exact gradients and Hessian-vector products.
* The result generalizes to longer horizons and other activations.

## Exercises

1. **RNNprop's backward pass.** Implement `my_rnnprop_step_backward` below: from $\bar{\Delta\theta}$
   back through $-\alpha\tanh$, the read-out, `minil2o.lstm.lstm_stack_backward`, the
   ELU and $W_{\text{in}}$ (9.3), and with `need_d_grad` through (9.2) and (9.1)
   (`opt.relative_inputs_backward`). Replace the library call. The check below should print a
   relative error below 1e-7.
2. Train the live optimizer without Random Scaling and without the convex combination
   (`random_scaling=0.0, convex_combination=False`), then rerun the tests. Which one suffers?
3. Feed RNNprop the gradients of $1000 f$ instead of $f$ on the base MLP. What changes, and why?
%% code
def my_rnnprop_step_backward(opt, phi, d_update, d_state, cache, need_d_grad=True):
    # Exercise 1: replace the next line by the backward pass of eqs. (9.1) to (9.3).
    return opt.step_backward(phi, d_update, d_state, cache, need_d_grad)

rng = np.random.default_rng(0)
opt, n = RNNprop(hidden=3), 6
phi = {k: v + asarray(0.1 * rng.standard_normal(v.shape), "float64")
       for k, v in opt.init_params(rng, "float64").items()}
state = {k: asarray(0.5 * rng.standard_normal(v.shape), "float64") if hasattr(v, "shape") else 3
         for k, v in opt.init_state(n, "float64").items()}
state["v"] = xp.abs(state["v"]) + 0.1                                 # a second moment is positive
grad = asarray(rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-3, 1, n), "float64")
_, new_state, cache = opt.step_forward(phi, grad, state)
d_update = asarray(rng.standard_normal(n), "float64")
d_state = {k: asarray(rng.standard_normal(v.shape), "float64") for k, v in new_state.items() if k != "t"}

def objective(grad, **inputs):                  # <update, d_update> + sum_k <state'_k, d_state_k>
    phi_ = {k: v for k, v in inputs.items() if not k.startswith("s_")}
    state_ = {**{k[2:]: v for k, v in inputs.items() if k.startswith("s_")}, "t": 3}
    update, new, _ = opt.step_forward(phi_, grad, state_)
    return xp.sum(update * d_update) + sum(xp.sum(new[k] * d) for k, d in d_state.items())

d_phi, d_prev, d_grad = my_rnnprop_step_backward(opt, phi, d_update, d_state, cache)
inputs = {"grad": grad, **phi, **{f"s_{k}": v for k, v in state.items() if k != "t"}}
analytic = {"grad": d_grad, **d_phi, **{f"s_{k}": d_prev[k] for k in state if k != "t"}}
err = check_gradients(objective, inputs, analytic, verbose=False)
print(f"RNNprop step backward: largest relative error {max(err.values()):.1e} (should be below 1e-7)")
'''


CHAPTERS = {
    "01_gradient_descent.ipynb": CH01,
    "02_autograd.ipynb": CH02,
    "03_lstm.ipynb": CH03,
    "04_learning_to_learn.ipynb": CH04,
    "05_quadratics.ipynb": CH05,
    "06_mnist.ipynb": CH06,
    "07_cnn.ipynb": CH07,
    "08_neural_art.ipynb": CH08,
    "09_rnnprop.ipynb": CH09,
    "10_gpu.ipynb": CH10,
}


def cells(source):
    """The chapter source as a list of notebook cells (`%% md` / `%% code` start each cell; the
    line SETUP in a code cell stands for the common set-up code)."""
    parts = re.split(r"^%% (md|code)[ \t]*\n", source.strip() + "\n", flags=re.M)
    out = []
    for kind, text in zip(parts[1::2], parts[2::2]):
        text = text.strip("\n").rstrip()
        if kind == "md":
            out.append(nbformat.v4.new_markdown_cell(text))
        else:
            text = re.sub(r"^SETUP$", SETUP.strip(), text, flags=re.M)
            out.append(nbformat.v4.new_code_cell(text))
    return out


def build(name, execute=True):
    """Write tutorials/<name> from its chapter source, executed with outputs unless execute=False."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = cells(CHAPTERS[name])
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:03d}"              # stable ids keep diffs small
    if execute:
        NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": TUTORIALS}}).execute()
    nbformat.validate(nb)
    path = os.path.join(TUTORIALS, name)
    nbformat.write(nb, path)
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path) / 1024:.0f} KB)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="file-name prefixes, e.g. 01 04 (default: all)")
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks unexecuted")
    args = parser.parse_args(argv)
    names = [n for n in CHAPTERS if not args.chapters or any(n.startswith(p) for p in args.chapters)]
    if not names:
        parser.error(f"no chapter starts with {' or '.join(args.chapters)}: "
                     f"choose from {', '.join(CHAPTERS)}")
    os.environ["MINIL2O_BACKEND"] = "numpy"           # the kernels inherit it
    os.makedirs(TUTORIALS, exist_ok=True)
    for name in names:
        build(name, execute=not args.no_execute)


if __name__ == "__main__":
    sys.exit(main())
