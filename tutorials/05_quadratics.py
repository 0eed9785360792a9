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
# # 5. Training the DM optimizer on quadratics (Fig. 4, left)
#
# ← [4. Learning to learn: the optimizer as an RNN, and the meta-gradient by hand](04_learning_to_learn.ipynb) | [contents](README.md) | [6. An MLP on MNIST: training, longer horizons, other architectures (Fig. 4 to 6)](06_mnist.ipynb) →
#
# *Prerequisites:* chapter 4 (the meta-loss (3), the meta-gradient (4.1) to (4.6)); chapter 2 for the gradient checks.
#
# The first experiment of Andrychowicz et al. 2016 (section 3.1): learn an optimizer for random
# 10-dimensional quadratics, then race it against SGD, NAG, RMSprop and Adam, each with its learning
# rate tuned on the same family. This chapter states the optimizee and its derivatives, checks them,
# meta-trains the DM optimizer live with `minil2o.training.train.Trainer` (a small budget: a few seconds), and
# draws the paper's Fig. 4 (left) with `minil2o.evaluation.evaluate.compare`, beside the optimizer shipped in
# `minil2o/datasets/pretrained/dm-quadratic.npz` (the `minil2o demo` run).
#
# Equations of the paper keep its numbers ((1), (3)); this chapter's are (5.1), (5.2), ...

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check           # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.evaluation.evaluate import CompareSettings, compare, format_table
from minil2o.gradcheck import check_gradients, rel_error
from minil2o.problems import QuadraticFamily, make_family
from minil2o.training.runs import load_optimizer
from minil2o.training.train import TrainConfig, Trainer

# %% [markdown]
# ## 5.1 The optimizee, its gradient and its Hessian
#
# Each function of the family is
#
# $$f(\theta) = \lVert W\theta - y \rVert_2^2, \qquad W \in \mathbb{R}^{10\times 10},\ y \in \mathbb{R}^{10},
# \ W_{ij}, y_i \sim \mathcal{N}(0, 1). \tag{5.1}$$
#
# With the residual $r = W\theta - y$, $df = 2 r^\top W\, d\theta$ (as in chapter 1, section 1.1), so
#
# $$\nabla f(\theta) = 2 W^\top (W\theta - y), \tag{5.2}$$
#
# and since (5.2) is affine in $\theta$ the Hessian is constant, $H = 2W^\top W$, and a Hessian-vector
# product (needed when the meta-gradient keeps second derivatives, eq. (4.5)) is
#
# $$H v = 2 W^\top (W v). \tag{5.3}$$
#
# `QuadraticProblem` holds $B$ functions at once: $\theta$ is $B$ stacked 10-vectors and the loss is
# their sum $\sum_b \lVert W_b\theta_b - y_b\rVert^2$, so one optimizer run advances all $B$ together
# (learning curves report the loss divided by $B$). Writing (5.1) to (5.3) yourself is the exercise;
# here the library's versions, on $B = 3$ functions:

# %%
rng = np.random.default_rng(0)
problem = QuadraticFamily(dim=10, num_functions=3, init_std=1.0, dtype="float64").sample(rng)
theta, v = problem.init(rng), asarray(rng.standard_normal(problem.n), dtype="float64")
f, grad = problem.loss_and_grad(theta)                              # (5.1), (5.2): (), (30,)
print("f =", to_float(f), " |grad| =", float(np.linalg.norm(to_numpy(grad))))

# %% [markdown]
# And the check that matters: both against central differences in float64 (chapter 2). Because (5.2)
# is affine, a central difference of the gradient along $v$ is exact up to rounding:
#
# $$H v = \frac{\nabla f(\theta + h v) - \nabla f(\theta - h v)}{2h}. \tag{5.4}$$

# %%
errors = check_gradients(lambda theta: problem.loss(theta), {"theta": theta}, {"theta": grad})
h = 1e-5
hv_numeric = (problem.loss_and_grad(theta + h * v)[1] - problem.loss_and_grad(theta - h * v)[1]) / (2 * h)
print(f"  Hv against eq. (5.4): relative error {rel_error(problem.hvp(theta, v), hv_numeric):.2e}")

# %% [markdown]
# ## 5.2 Meta-training
#
# `Trainer` runs the procedure of chapter 4 at scale. For each of `problems_per_epoch` freshly sampled
# problems it runs the optimizee for `horizon` $T = 100$ steps in truncations of `unroll` $K = 20$
# steps; after every truncation it takes one Adam step on $\phi$ with the meta-gradient of (3) (the
# dashed edges dropped, $w_t = 1$), and carries $\theta$ and the LSTM state over to the next
# truncation. After every epoch it scores the frozen optimizer on validation problems (the mean loss
# over the horizon) and keeps the best $\phi$: the paper's early stopping (section 3, which picks the
# best epoch by its final validation loss).
#
# The paper's settings for quadratics (section 3.1): 100 steps per function, truncations of 20, no
# preprocessing, no output scaling (`preprocess="none"`, `output_scale=1.0`); and two LSTM layers of
# 20 units (section 3). To keep this cell to a few seconds we train on 16
# functions per problem, 6 epochs of 10 problems (60 problems, 300 meta-steps); the shipped optimizer
# had 64 functions and 15 epochs.

# %%
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

# %%
epochs = [h["epoch"] for h in history]
fig, ax = plt.subplots()
ax.semilogy(epochs, [h["train_meta_loss"] / 16 for h in history], "o-", label="training meta-loss (3) / 16 functions")
ax.semilogy(epochs, [h["score"] for h in history], "s-", label="validation: mean f over 100 steps")
ax.set_xlabel("epoch"); ax.legend(fontsize=8); ax.set_title("meta-training on quadratics")
plt.tight_layout()

# %% [markdown]
# The training curve: the training meta-loss (3) per function and the validation score (the mean loss over 100 steps on held-out functions) both fall over the six epochs,
# as the printed lines say; the best validation epoch is the one kept.
#
# ## 5.3 Fig. 4 (left): against tuned baselines
#
# `compare` tunes each baseline's learning rate by grid search (powers of two, the final loss after
# 100 steps on `num_tune` problems), then runs every optimizer on the same `num_test` fresh functions
# with the same initial points (the paper tunes on each problem, section 3; here one rate per
# optimizer for the family). The paper averages many more test functions; here 20. "±" is the standard
# error over the 20 functions; the second table is the loss at step 10. Because every optimizer runs
# on the same functions, the last lines print the paired differences of the final losses, learned
# minus Adam, function by function (mean ± standard error of the 20 differences). The shipped
# optimizer runs alongside.

# %%
shipped = load_optimizer(os.path.join("..", "minil2o", "datasets", "pretrained", "dm-quadratic.npz"))
family = make_family("quadratic")                # the test distribution: one 10-d function per problem
with np.errstate(over="ignore", invalid="ignore"):   # diverging grid points are scored +inf
    results = compare(family, {"LSTM (here)": learned, "LSTM (shipped)": shipped},
                      ("sgd", "nag", "rmsprop", "adam"),
                      CompareSettings(steps=100, num_test=20, num_tune=5, seed=100),
                      log=lambda msg: None)
print(format_table(results), "\n")
print(format_table(results, step=10), "\n")
for label in ("LSTM (here)", "LSTM (shipped)"):
    diff = results[label]["curves"][:, -1] - results["Adam"]["curves"][:, -1]   # (20,), paired
    print(f"{label:15s} minus Adam at step 100: {diff.mean():+.3f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.3f}"
          f" (lower on {int(np.sum(diff < 0))} of {len(diff)} functions)")

# %%
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for label, r in results.items():
    steps = np.arange(len(r["mean"]))
    ax.plot(steps, r["mean"], lw=2.2 if r["lr"] is None else 1.2, label=label)
    ax.fill_between(steps, r["mean"] - r["stderr"], r["mean"] + r["stderr"], alpha=0.2,
                    color=ax.lines[-1].get_color())
ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_ylabel(r"$f(\theta_t)$")
ax.set_title("10-d quadratics, 20 test functions (Fig. 4, left)"); ax.legend(fontsize=8)
plt.tight_layout()


# %% [markdown]
# Both LSTMs have the lowest mean loss at step 10 (1.11 and 1.13, against 1.68 to 5.6 for the tuned
# baselines) and at step 100 (0.19 and 0.25, against
# 0.45 for Adam, the best baseline), the ordering of the paper's Fig. 4 (left). At step 100 the lead
# over Adam is not resolved by 20 functions: the paired differences, $-0.20 \pm 0.17$ and
# $-0.26 \pm 0.21$, are about one standard error from zero, and each LSTM is lower on 13 of the 20.
#
# The same experiment at full size is one command: `minil2o demo` (train and compare) or
# `minil2o reproduce dm-fig4-quadratic` (with the shipped optimizer).
#
# ## Summary
#
# * The quadratic's gradient (5.2) and Hessian-vector product (5.3) are written by hand and agree with
#   central differences (5.4) to about $10^{-10}$.
# * `Trainer` meta-trains with truncated BPTT over a 100-step horizon in unrolls of 20, one Adam step
#   on $\phi$ per truncation, and keeps the $\phi$ with the best validation score.
# * After a few hundred meta-steps the LSTM has a lower mean loss than SGD, NAG, RMSprop and Adam with
#   tuned learning rates on 20 test functions of this family, as in Fig. 4 (left); its lead over Adam
#   at step 100 is about one paired standard error.
#
# ## Exercises
#
# 1. **The quadratic's gradient and Hessian-vector product.** Implement `my_loss_and_grad` and
#    `my_hvp` below with `xp` from (5.1) to (5.3) (use `problem.W`, `problem.y`, `xp.matmul` and
#    reshapes to (B, d, 1)). Their signatures are the library's `QuadraticProblem.loss_and_grad`
#    and `hvp`, with `batch` unused (a quadratic has no data). The checks, the workbook's
#    `quadratic_loss_and_grad` and `quadratic_hvp`, draw 24 cases each: $B = 1$ to 4 functions of
#    dimension $d = 1$ to 7 (not only this chapter's 10), $W$ not symmetric, $\theta$ at scales
#    0.01, 1 and 10, float32 and float64. They compare $f$ and the gradient with (5.1) and (5.2),
#    and $Hv$ with $2 W_b^\top W_b v_b$ (5.3), computed in float64 on the host (so a wrong loss
#    with its matching gradient is caught), check that `theta`, `v`, $W$ and $y$ are left as they
#    were, and each prints one verdict line, the same as
#    `minil2o workbook check w.py quadratic_loss_and_grad quadratic_hvp`.
# 2. Retrain with `second_derivatives=True` in the `TrainConfig` (the quadratic has `hvp`). Is the
#    optimizer better after the same number of meta-steps? How much slower is a meta-step?
# 3. Evaluate the trained optimizer on quadratics of dimension 20 (`make_family("quadratic", dim=20)`).
#    The LSTM is coordinatewise, so it runs; does it still beat Adam?
# 4. Multiply the test functions by 10 (chapter 1's scaling). What happens to the learned optimizer,
#    and why (hint: `preprocess="none"`)?

# %%
def my_loss_and_grad(problem, theta, batch=None):
    """Exercise 1: eqs. (5.1) and (5.2) for B functions at once. theta: (B d,); problem.W: (B, d, d),
    problem.y: (B, d); batch is unused. Returns f = sum_b ||W_b theta_b - y_b||^2 (0-d) and its
    gradient (B d,)."""
    raise NotImplementedError("write eqs. (5.1) and (5.2) here")

def my_hvp(problem, theta, v, batch=None):
    """Exercise 1: eq. (5.3), H v = 2 W_b^T (W_b v_b) for every b. theta, v: (B d,); batch is
    unused. Returns (B d,)."""
    raise NotImplementedError("write eq. (5.3) here")

check("quadratic_loss_and_grad", my_loss_and_grad)   # 24 drawn cases: B = 1 to 4, d = 1 to 7, W not symmetric
check("quadratic_hvp", my_hvp)                       # 24 drawn cases: B = 1 to 4, d = 1 to 7, against 2 W^T W v


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("5.2")

# %%
answer("5.3")

# %%
answer("5.4")

# %% [markdown]
# ← [4. Learning to learn: the optimizer as an RNN, and the meta-gradient by hand](04_learning_to_learn.ipynb) | [contents](README.md) | [6. An MLP on MNIST: training, longer horizons, other architectures (Fig. 4 to 6)](06_mnist.ipynb) →
