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
`minil2o.layers`: `lstm_step_forward` and `lstm_step_backward`, and their loops over time
`lstm_forward` and `lstm_backward`. This chapter derives them, implements the forward step from
scratch, checks the hand-written backward pass against central differences and against the autograd
engine of chapter 2 running the same LSTM, and looks at how far gradients travel back in time.

The LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000) is not numbered in
our papers; its equations are numbered (3.1), (3.2), ... here.
%% code
SETUP
from minil2o import layers
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
h_lib, c_lib, cache = layers.lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
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

`layers.lstm_step_backward(dh, dc, cache)` is exactly (3.5) to (3.8) (implementing it yourself is
exercise 1). A backward pass returns a vector-Jacobian product, so we check it as the gradient of
the scalar $\langle h, \bar h\rangle + \langle c, \bar c\rangle$ for random $\bar h$, $\bar c$:
%% code
dh, dc = f64((N, H)), f64((N, H))
grads = layers.lstm_step_backward(dh, dc, cache)
names = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
inputs = dict(zip(names, (x, h_prev, c_prev, Wx, Wh, b)))

def step_objective(**inp):
    h, c, _ = layers.lstm_step_forward(**inp)
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
`layers.lstm_forward` / `layers.lstm_backward`. The check, against central differences and against
the engine running the loop (3.9):
%% code
T = 5
xs, h0 = f64((N, T, D)), f64((N, H))
hs, caches = layers.lstm_forward(xs, h0, Wx, Wh, b)                # (N, T, H)
dhs = f64((N, T, H))
seq_grads = layers.lstm_backward(dhs, caches)                      # dx, dh0, dWx, dWh, db
seq_names = ("x", "h0", "Wx", "Wh", "b")
seq_inputs = dict(zip(seq_names, (xs, h0, Wx, Wh, b)))
seq_objective = vjp_objective(lambda **inp: layers.lstm_forward(**inp)[0], dhs)
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
    _, caches = layers.lstm_forward(xs, xp.zeros((1, H_big), dtype=xp.float64), Wx_, Wh_, b_)
    dx = to_numpy(layers.lstm_backward(asarray(dhs, dtype="float64"), caches)[0])[0, :, 0]
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
   `layers.lstm_step_backward`, replacing the call to the library. The check below should print a
   relative error below 1e-7.
3. Set the forget-gate bias (entries $H$ to $2H$ of $b$) to $+3$ in the last plot. What happens to the
   curves, and why?
4. The learned optimizer's rows are coordinates of the optimizee, all sharing $W_x, W_h, b$. Which
   line of (3.8) sums over the coordinates?
%% code
def my_lstm_step_backward(dh, dc, cache):
    # Exercise 1: replace the next line by eqs. (3.5) to (3.8); return dx, dh_prev, dc_prev, dWx, dWh, db.
    return layers.lstm_step_backward(dh, dc, cache)

_, _, cache = layers.lstm_step_forward(**inputs)
errors = check_gradients(step_objective, inputs, dict(zip(names, my_lstm_step_backward(dh, dc, cache))),
                         verbose=False)
print(f"step backward: largest relative error {max(errors.values()):.1e} (should be below 1e-7)")
%% code
def my_lstm_backward(dhs, caches):
    # Exercise 2: replace the next line by the loop (3.10) over layers.lstm_step_backward;
    # return dx (N, T, D), dh0 (N, H), dWx, dWh, db.
    return layers.lstm_backward(dhs, caches)

T = 5
rng = np.random.default_rng(2)
seq_inputs = {"x": f64((N, T, D)), "h0": f64((N, H)), "Wx": Wx, "Wh": Wh, "b": b}
dhs = f64((N, T, H))
_, caches = layers.lstm_forward(**seq_inputs)
seq_objective = vjp_objective(lambda **inp: layers.lstm_forward(**inp)[0], dhs)
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


CHAPTERS = {
    "01_gradient_descent.ipynb": CH01,
    "02_autograd.ipynb": CH02,
    "03_lstm.ipynb": CH03,
    "04_learning_to_learn.ipynb": CH04,
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
