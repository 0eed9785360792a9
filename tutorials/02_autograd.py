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
# # 2. Reverse-mode autograd from scratch, and gradient checking
#
# ← [1. Gradient descent, step sizes and hand-designed update rules](01_gradient_descent.ipynb) | [contents](README.md) | [3. The LSTM cell, its backward pass by hand, and backpropagation through time](03_lstm.ipynb) →
#
# *Prerequisites:* none; chapter 1's notation helps.
#
# Everything in minil2o that learns has a backward pass written by hand: the optimizees' gradients, the
# LSTM's, the meta-gradient through an unrolled optimization. Two independent witnesses check them. A
# small *reverse-mode autograd engine* (`minil2o.autograd`) computes the same gradients mechanically
# from the forward computation, and *central differences* (`minil2o.gradcheck`) estimate them from
# function values alone. This chapter builds both.
#
# Equations of this chapter are numbered (2.1), (2.2), ...

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check, draw_graph          # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
import math
from minil2o.autograd import Tensor, custom_op
from minil2o.gradcheck import check_gradients, rel_error


# %% [markdown]
# ## 2.1 The chain rule, run backwards
#
# A program computes a scalar loss $L$ through a sequence of operations $v = \mathrm{op}(u_1, \dots, u_k)$.
# Write $\bar v = \partial L / \partial v$ for the *adjoint* of an intermediate value $v$. The chain
# rule says that $u$ receives, from every operation that used it,
#
# $$\bar u \mathrel{+}= \left(\frac{\partial v}{\partial u}\right)^{\!\top} \bar v, \tag{2.1}$$
#
# so if we visit the operations from the last to the first (reverse topological order), starting from
# $\bar L = 1$, every $\bar v$ is complete before it is passed on. One backward sweep gives the gradient
# with respect to *all* inputs at about the cost of one forward pass (each operation is visited once,
# and its step (2.1) costs a small constant times the operation itself); that is why a network with
# thousands of parameters can be trained by gradient descent at all. The `+=` matters: a value used
# twice receives two contributions.
#
# A scalar engine from scratch: each value remembers its inputs and the local derivatives
# $\partial v/\partial u$; `backward` orders the graph and applies (2.1). The local derivatives are
# those of calculus: $\partial(u + w)/\partial u = 1$, $\partial(uw)/\partial u = w$, and for
# $t = \tanh u = \sinh u / \cosh u$ the quotient rule gives
# $t' = (\cosh^2 u - \sinh^2 u)/\cosh^2 u = 1 - t^2$.

# %%
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


# %% [markdown]
# Check it on $L = \tanh(ab + a)$, where $a$ is used twice. By hand (the chain rule with
# $\tanh' = 1 - \tanh^2$), $\partial L/\partial a = (1 - L^2)(b + 1)$ and $\partial L/\partial b = (1 - L^2)\,a$.

# %%
a, b = Scalar(0.5), Scalar(-1.2)
L = (a * b + a).tanh()
L.backward()
print(f"engine: dL/da = {a.grad:.12f}, dL/db = {b.grad:.12f}")
print(f"hand:   dL/da = {(1 - L.value**2) * (b.value + 1):.12f}, dL/db = {(1 - L.value**2) * a.value:.12f}")

# %% [markdown]
# The graph the engine recorded, with each node's value $v$ and adjoint $\bar v$ after `backward`. The
# forward pass runs left to right; (2.1) runs right to left along the same edges. $a$ has two
# outgoing edges, so it receives two contributions: $\bar a = b\,\bar u + \bar w$ with $u = ab$,
# $w = u + a$, which is the hand formula $(1 - L^2)(b + 1)$ above.

# %%
u = L.inputs[0].inputs[0]                                          # the product a * b
w = L.inputs[0]                                                    # a * b + a
show = lambda name, v: f"{name}\n$v$ = {v.value:.3f}\n$\\bar v$ = {v.grad:.3f}"
nodes = {"a": (0, 1, show("$a$", a)), "b": (0, -1, show("$b$", b)), "u": (1.5, 0, show("$u = ab$", u)),
         "w": (3, 0.6, show("$w = u + a$", w)), "L": (4.5, 0.6, show(r"$L = \tanh w$", L))}
edges = [("a", "u", "-"), ("b", "u", "-"), ("u", "w", "-"), ("a", "w", "-"), ("w", "L", "-")]
fig, ax = plt.subplots(figsize=(7, 2.6))
draw_graph(ax, nodes, edges, r"$L = \tanh(ab + a)$: values and adjoints")

# %% [markdown]
# ## 2.2 The library's engine: the same idea on arrays
#
# `minil2o.autograd.Tensor` holds an array, and each operation's backward closure is (2.1) for that
# operation, written for arrays. For a matrix product $Z = XW$ (with $\bar Z$ the adjoint of $Z$),
# $Z_{nm} = \sum_d X_{nd} W_{dm}$, so $\partial Z_{nm}/\partial X_{nd} = W_{dm}$ and
# $\partial Z_{nm}/\partial W_{dm} = X_{nd}$; (2.1) sums over every $Z_{nm}$ that used the entry:
# $\bar X_{nd} \mathrel{+}= \sum_m \bar Z_{nm} W_{dm}$ and $\bar W_{dm} \mathrel{+}= \sum_n X_{nd} \bar Z_{nm}$, that is,
#
# $$\bar X \mathrel{+}= \bar Z\, W^\top, \qquad \bar W \mathrel{+}= X^\top \bar Z. \tag{2.2}$$
#
# When an input was *broadcast* (a bias $b$ of shape $(M,)$ added to every row of an $(N, M)$ matrix),
# each of its entries was used $N$ times, so by the `+=` of (2.1) its adjoint is a sum:
#
# $$\bar b_m = \sum_{n} \bar Z_{nm}. \tag{2.3}$$
#
# An example, $L = \sum (\tanh(XW + b))^2$, and the graph the engine recorded:

# %%
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

# %% [markdown]
# The check of (2.2) and (2.3): with $Z = XW + b$ and $T = \tanh Z$, $\bar Z = 2T(1 - T^2)$; the engine's
# $\bar W$ and $\bar b$ should be $X^\top \bar Z$ and the column sums of $\bar Z$.

# %%
T = xp.tanh(X0 @ W0 + b0)                                          # (4, 2)
Z_bar = 2 * T * (1 - T * T)                                        # (4, 2)
print("W: engine vs eq. (2.2):", rel_error(W.grad, X0.T @ Z_bar))
print("b: engine vs eq. (2.3):", rel_error(b.grad, xp.sum(Z_bar, axis=0)))

# %% [markdown]
# ## 2.3 A hand-written gradient as one node
#
# The optimizees in minil2o come with `loss_and_grad(theta)`, the gradient derived by hand. A
# `custom_op` puts such a pair into the graph as one node: its backward is the vector-Jacobian product,
# $\bar\theta = \bar f\, \nabla f(\theta)$ for a scalar $f$. This is how the engine runs a whole
# unrolled optimization in chapter 4. The same gradient wrapped as a *new leaf*, `Tensor(grad)`, has no
# inputs, so nothing flows back through it: that is the "dashed edges dropped" of Andrychowicz et al.
# 2016 (section 2 and its Fig. 2, drawn in chapter 4).

# %%
from minil2o.problems import QuadraticFamily

problem = QuadraticFamily(dim=5, dtype="float64").sample(np.random.default_rng(1))
theta = Tensor(problem.init(np.random.default_rng(2)))
f_value, grad = problem.loss_and_grad(theta.data)
f = custom_op([theta], f_value, lambda f_bar: [f_bar * grad], name="loss")
(3.0 * f).backward()
print("theta.grad vs 3 * grad:", rel_error(theta.grad, 3.0 * grad))


# %% [markdown]
# ## 2.4 Gradient checking by central differences
#
# The second witness needs nothing but function values. For each entry $x_i$,
#
# $$\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}. \tag{2.4}$$
#
# By Taylor's theorem, $f(x \pm h e_i) = f \pm h\,\partial_i f + \frac{h^2}{2}\partial_i^2 f \pm \frac{h^3}{6}\partial_i^3 f
# + O(h^4)$; in the difference the even terms cancel, so the truncation error is $\frac{h^2}{6} \partial_i^3 f$
# (up to $O(h^4)$). Rounding adds about
# $\epsilon_{\text{mach}} |f| / h$ (each value of $f$ carries a relative rounding error of about
# $\epsilon_{\text{mach}}$, and the difference is divided by $2h$). The sum $a h^2 + b/h$, with
# $a = |\partial_i^3 f|/6$ and $b \approx \epsilon_{\text{mach}}|f|$, is smallest where
# its derivative $2ah - b/h^2$ vanishes, at $h \propto \epsilon_{\text{mach}}^{1/3}$,
# where it is about $\epsilon_{\text{mach}}^{2/3}$: $10^{-11}$ in float64 but $10^{-5}$ in float32. So
# gradient checks run in float64. We compare gradients with the relative error
#
# $$\mathrm{rel}(a, b) = \frac{\lVert a - b\rVert}{\lVert a\rVert + \lVert b\rVert}, \tag{2.5}$$
#
# which is 0 for equal vectors, 1 for unrelated ones, and not fooled by entries that are zero in both.
# A correct backward pass shows about $10^{-9}$ or less; a wrong one, something near 1. The bar in this
# project is $10^{-7}$. From scratch, and the error as a function of $h$:

# %%
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
plt.axhline(1e-7, color="k", ls=":", lw=1, label=r"the $10^{-7}$ bar")
plt.xlabel(r"$h$"); plt.ylabel("rel. error (2.5) vs the engine"); plt.legend(fontsize=8)
plt.title("central differences: truncation (right) vs rounding (left)");

# %% [markdown]
# The plot shows the V of (2.4)'s two error terms: right of the minimum the truncation error falls as
# $h$ shrinks, left of it rounding grows. float64 reaches about $10^{-10}$ near $h = 10^{-6}$ to
# $10^{-5}$; float32 never gets below about $10^{-5}$, far above the bar, as the estimate under (2.4)
# predicts.
#
# The library's `check_gradients(f, inputs, grads)` does the same in float64 with $h = 10^{-6}$ for
# every named input (along random directions for large ones), prints each error and returns them. The
# engine's gradients of the example:

# %%
errors = check_gradients(lambda X, W, b: forward(Tensor(X), Tensor(W), Tensor(b)).data,
                         {"X": X0, "W": W0, "b": b0}, {"X": X.grad, "W": W.grad, "b": b.grad})


# %% [markdown]
# ## Summary
#
# * Reverse mode applies (2.1) in reverse topological order: all gradients for the price of about one
#   forward pass. Values used several times accumulate their adjoints.
# * `minil2o.autograd.Tensor` does this for arrays; each op is a few lines (matrix product (2.2),
#   broadcasting (2.3)); `custom_op` inserts a hand-written (value, gradient) pair as one node.
# * Central differences (2.4) in float64 with the relative error (2.5) check any gradient;
#   float32 cannot resolve better than about $10^{-5}$.
#
# ## Exercises
#
# 1. **Sigmoid as a custom op.** The derivative of $\sigma(x) = 1/(1 + e^{-x})$ is
#    $e^{-x}/(1 + e^{-x})^2 = \sigma(x) \cdot \frac{e^{-x}}{1 + e^{-x}}$, and $\frac{e^{-x}}{1 + e^{-x}} = 1 - \sigma(x)$:
#    $$\sigma'(x) = \sigma(x)\,(1 - \sigma(x)), \quad\text{so}\quad \bar x = \bar s \odot s \odot (1 - s). \tag{2.6}$$
#    Implement `my_sigmoid` below with `custom_op([x], s, lambda s_bar: [...])`: the forward value `s`
#    and the backward rule (2.6). The check, the workbook's `tensor_sigmoid`, draws 24 cases:
#    tensors of 1 to 3 axes (every size 1 too), entries at $\pm 800$ (where $e^{-x}$ overflows),
#    float32 and float64, `x.grad` already holding a value (the backward pass must add to it) and
#    $x$ used more than once. It compares $s$ and $\bar x$ with float64 closed forms, checks that
#    the new Tensor has $x$ as its input and keeps its dtype, and prints one verdict line, the same
#    as `minil2o workbook check w.py tensor_sigmoid` (after `minil2o workbook new w.py`); the layer
#    versions of (2.2), (2.3) and (2.6) are `minil2o workbook check w.py linear_backward
#    sigmoid_backward`.
# 2. In `Scalar.backward`, replace `u.grad += ...` by `u.grad = ...`. Which of the two gradients of
#    section 2.1 goes wrong, and why?
# 3. Fit the slopes of the two branches of the float64 curve in section 2.4. What do you expect from
#    the error terms below (2.4)?
# 4. The library computes $\sigma(x)$ as $(1 + \tanh(x/2))/2$. Evaluate $1/(1 + e^{-x})$ at
#    $x = -1000$ in float32 and explain the choice.

# %%
def my_sigmoid(x):
    """Exercise 1: the sigmoid as one op of the engine, eqs. (2.1) and (2.6).

    x: a Tensor of any shape and float dtype. Returns a new Tensor holding sigma(x.data), of x's
    shape and dtype, with x as its input, whose backward pass adds the adjoint (2.6) to x.grad:
    it accumulates, for x may feed other ops too. x.data is left as it was."""
    raise NotImplementedError("write the forward value and eq. (2.6) here")

check("tensor_sigmoid", my_sigmoid)      # 24 drawn cases: 1 to 3 axes, entries at +-800, x used twice, float32


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("2.2")

# %%
answer("2.3")

# %%
answer("2.4")

# %% [markdown]
# ← [1. Gradient descent, step sizes and hand-designed update rules](01_gradient_descent.ipynb) | [contents](README.md) | [3. The LSTM cell, its backward pass by hand, and backpropagation through time](03_lstm.ipynb) →
