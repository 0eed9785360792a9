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
# # 10. The GPU: one switch for the array backend
#
# ← [9. RNNprop: relative inputs, Random Scaling, combination with convex functions](09_rnnprop.ipynb) | [contents](README.md) | [11. Use it on your own model](11_own_model.ipynb) →
#
# *Prerequisites:* chapter 2 (arrays through `xp`); any of chapters 1 to 9 to run under another backend.
#
# Every array operation in minil2o goes through one name, `xp`, the namespace of the selected array
# backend. Switch it and the same code runs on NumPy (CPU), on CuPy (an NVIDIA GPU), or on
# `array_api_strict`, a CPU namespace that contains only the Python array API standard and refuses
# everything else. This chapter shows the switch, what changes when it is thrown and what does not,
# tries CuPy, and points to the benchmark.

# %%
# %matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from _common import check           # the checkout on sys.path, the figure style, the exercises' check
import minil2o
from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.backend import device_name, get_backend, set_backend
from minil2o.errors import UsageError
from minil2o.gradcheck import rel_error
from minil2o.problems import QuadraticFamily


# %% [markdown]
# ## 10.1 Selecting the backend
#
# Two ways, the environment before the first use, or a call:
#
#     MINIL2O_BACKEND=cupy python -m minil2o demo        # numpy (default), cupy or strict
#     minil2o.set_backend("cupy")                         # in code, before arrays are created
#
# `xp.<name>` looks `<name>` up in the selected namespace at the moment of the call, so library code
# never names NumPy. Randomness is drawn on the host from an explicit `numpy.random.Generator` and moved
# with `asarray`, so one seed gives the same problem on every backend. The same quadratic, its loss
# and its hand-written gradient, on NumPy and on the strict namespace:

# %%
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

# %% [markdown]
# ## 10.2 What changes
#
# **Which functions exist.** The array API standard is smaller than NumPy. Functions and methods that
# only NumPy has fail on the strict namespace, and on a GPU they would either fail or silently copy to
# the host. That is why CI runs the whole test suite a second time with `MINIL2O_BACKEND=strict`:

# %%
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

# %% [markdown]
# `np.exp(u)` quietly made a host copy; CuPy refuses such implicit copies with a `TypeError`.
#
# **Where arrays live.** On CuPy, arrays are in GPU memory. NumPy, matplotlib and `print` want host
# arrays, so minil2o converts only *at the edges*: `to_numpy(x)` before plotting or saving,
# `to_float(x)` for a scalar. Inside a training loop, every conversion is a device-to-host copy and a
# synchronization, so the loops keep them out of the inner steps.
#
# **Precision.** Training and evaluation run in float32 (`dtype="float32"`, the default of every
# problem and optimizer): half the memory traffic, and far faster on most GPUs. Gradient checks run in
# float64, because central differences in float32 cannot resolve better than about $10^{-5}$ (chapter
# 2). The same gradient in both precisions:

# %%
set_backend("numpy")
for dtype in ("float32", "float64"):
    problem = QuadraticFamily(dim=10, dtype=dtype).sample(np.random.default_rng(0))
    f, grad = problem.loss_and_grad(problem.init(np.random.default_rng(1)))
    print(f"{dtype}: grad.dtype = {grad.dtype}, relative error vs float64 = {rel_error(grad, g_np):.1e}")

# %% [markdown]
# **What does not change:** the code, the seeds, the problems, the equations, and the results up to
# rounding. The meta-gradient of chapter 4 is the same function on every backend.
#
# ## 10.3 Trying CuPy
#
# `set_backend("cupy")` needs CuPy and a CUDA GPU. When either is missing it raises a `UsageError` whose
# one line says what is missing and what to do; this cell prints it, or runs the quadratic on the GPU.

# %%
try:
    f_gpu, g_gpu = quadratic_on("cupy")
    print("cupy vs numpy gradient, relative error:", rel_error(g_gpu, g_np))
except UsageError as e:
    print("cupy is not available here:", e)
finally:
    set_backend("numpy")
print("backend now:", get_backend())

# %% [markdown]
# ## 10.4 Measuring: `minil2o bench`
#
# Whether the GPU pays off depends on the size of the problem: a 10-d quadratic is far too small to
# keep a GPU busy, an MNIST MLP with 128 functions at once or a neural-art image is not. Speed and
# memory are measured by a benchmark, not asserted by tests:
#
#     minil2o bench                              # meta-training throughput on the current backend
#     MINIL2O_BACKEND=cupy minil2o bench         # the same on the GPU
#
# `minil2o bench --help` lists its options (problem, sizes, steps).
#
# ## 10.5 Functions for arrays of any namespace
#
# Library code calls `xp`, the *selected* namespace: in one run every array lives on one backend. A
# function that is handed arrays by someone else (a user's model on CuPy, a test on
# `array_api_strict`, NumPy arrays in a notebook) can instead take the namespace from its argument:
# `array_api_compat.array_namespace(x)` gives NumPy's namespace for a NumPy array, CuPy's for a CuPy
# array and `array_api_strict` for a strict one. Written with that namespace and only the standard's
# functions, one function serves them all in one process. `minil2o.layers.logsumexp` is one, the
# log-sum-exp that chapter 6's cross entropy computes row by row, shifted by the largest entry $m$ of
# each slice so that it can neither overflow nor take the log of 0:
#
# $$\log \sum_i e^{x_i} = m + \log \sum_i e^{x_i - m}, \qquad m = \max_i x_i. \tag{10.1}$$
#
# Every $e^{x_i - m}$ is at most 1 and the largest is exactly 1. Without the shift, rows of entries
# near $\pm 1000$ give `inf` and `-inf`; with it, the same function on NumPy and on strict arrays:

# %%
import array_api_strict
from array_api_compat import array_namespace
from minil2o.layers import logsumexp

z = np.array([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -1002.0]])       # (2, 3)
with np.errstate(all="ignore"):
    print("log(sum(exp(z))) on NumPy:", np.log(np.sum(np.exp(z), axis=1)))
for arr in (z, array_api_strict.asarray(z)):
    out = logsumexp(arr, axis=1)
    print(f"{array_namespace(arr).__name__:22s} -> {type(out).__module__.split('.')[0]:16s}",
          to_numpy(out))

# %% [markdown]
# ## Summary
#
# * `xp` is the selected array namespace; `MINIL2O_BACKEND` or `minil2o.set_backend` selects numpy,
#   cupy or strict. Switch before creating arrays: arrays of two backends do not mix.
# * Library code uses only the array API standard; the strict namespace proves it in CI.
# * Arrays cross to the host only at the edges (`to_numpy`, `to_float`); training runs in float32,
#   gradient checks in float64.
# * One seed gives the same problem on every backend, because randomness is drawn on the host.
# * A function handed arrays of any kind takes the namespace from its argument
#   (`array_namespace(x)`) and calls only the standard's functions, as `logsumexp` (10.1) does.
#
# ## Exercises
#
# 1. Run chapter 4's exercise check on your `my_meta_gradient` (or on `minil2o.meta.meta_gradient`)
#    under the strict backend (start Jupyter with `MINIL2O_BACKEND=strict`, or call
#    `set_backend("strict")` at the top). What, if anything, changes in the printed errors?
# 2. Write `xp.sum(u)` where `u` is a NumPy array while the strict backend is selected. What happens,
#    and where should the conversion have been?
# 3. On a machine with a GPU, time `problem.loss_and_grad` for `QuadraticFamily(dim=10,
#    num_functions=B)` with B = 1, 128 and 16384 on numpy and on cupy. Where does the GPU start to win?
# 4. **A function for every namespace** (graded). Implement `my_logsumexp(x, axis=-1,
#    keepdims=False)` below from (10.1), written against the array API with the namespace of `x`.
#    The check, the workbook's `logsumexp`, draws 16 cases and runs each on the same numbers as a
#    NumPy array *and* as an `array_api_strict` array, whatever backend is selected: 1 to 3
#    dimensions of sizes 1 to 6, `axis` anywhere (negative too), `keepdims` both ways, float32 and
#    float64, slices offset by up to $\pm 1000$, entries near 800 and wide spreads, against a
#    float64 answer. It flags a NumPy array returned for a strict input (NumPy's functions, or `xp`
#    of the selected backend, on the other kind of array), a NumPy-only method such as `x.max()`,
#    another dtype, and an `x` changed in place, and prints one verdict line, the same as
#    `minil2o workbook check w.py logsumexp`.

# %%
def my_logsumexp(x, axis=-1, keepdims=False):
    """Exercise 4: log sum_i exp(x_i) along `axis`, eq. (10.1), without overflow.

    x: a float32 or float64 array of any array API namespace (NumPy, array_api_strict, CuPy),
    ndim >= 1, finite entries; axis: an int in [-ndim, ndim); keepdims: a bool. Returns an array
    of x's namespace and dtype, of x's shape without `axis` (kept with size 1 when keepdims); x is
    left as it was. Call only the functions of x's namespace, array_namespace(x)."""
    raise NotImplementedError("write eq. (10.1) here")

check("logsumexp", my_logsumexp)   # 16 drawn cases: NumPy and strict arrays, any axis, +-1000, float32


# %% [markdown]
# ### Answers to the open questions
#
# Each cell prints a reminder; `show=True` prints the answer (they are kept in `solutions.py`).

# %%
from solutions import answer
answer("10.1")

# %%
answer("10.2")

# %%
answer("10.3")

# %% [markdown]
# ← [9. RNNprop: relative inputs, Random Scaling, combination with convex functions](09_rnnprop.ipynb) | [contents](README.md) | [11. Use it on your own model](11_own_model.ipynb) →
