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
# # 11. Use it on your own model
#
# ← [10. The GPU: one switch for the array backend](10_gpu.ipynb) | [contents](README.md) | (last chapter) →
#
# *Prerequisites:* chapter 4 (eq. (1), an optimizer's step and state) and chapter 9 (RNNprop);
# chapters 1 (the hand-designed rules), 6 and 7 (the MLP and CNN optimizees, parameter groups) and 10
# (CuPy) for the sections that use them.
#
# Chapters 4 to 9 trained learned optimizers on the papers' problems and measured them there. This
# chapter takes the trained optimizers that ship with minil2o off those problems and onto a model
# of your own: first as a plain optimizer over NumPy (or CuPy) arrays, then inside PyTorch. Then it
# asks, honestly, how they do on problems they never saw, what carries over and what does not, and
# where to go when meta-training needs more than one machine.
#
# The optimizers are the files in `minil2o/datasets/pretrained/` (each with the command that
# trained it); `rnnprop-mnist` and `dm-mnist` were trained on the 784-20-10 sigmoid MLP for 100
# steps, `dm-cnn` on a small batch-normalized CNN.

# %%
import io
import os
import _common  # noqa: F401  (the checkout on sys.path, the figure style; prints where minil2o is imported from)
from _common import check           # the exercises' check
import numpy as np
import minil2o
from minil2o.problems.data import load_mnist
from minil2o.use.dropin import PRETRAINED_DIR, load_learned
from minil2o.errors import UsageError

# %% [markdown]
# ## 11.1 The interface
#
# A model's parameters are a few arrays $a_1, \dots, a_k$ of any shapes: a list, a tuple or a
# dict. minil2o's optimizers work on one flat vector, coordinate by coordinate, so the interface
# ravels and concatenates the arrays,
#
# $$\theta = \big(\mathrm{vec}(a_1), \dots, \mathrm{vec}(a_k)\big) \in \mathbb{R}^n, \qquad n = \textstyle\sum_i |a_i|, \tag{11.1}$$
#
# takes the optimizer's own step, eq. (1) of Andrychowicz et al. (the same function that
# meta-training unrolls),
#
# $$\theta_{t+1} = \theta_t + g_t, \qquad [g_t,\ h_{t+1}] = m(\nabla f(\theta_t),\ h_t,\ \phi), \tag{11.2}$$
#
# and splits $\theta_{t+1}$ back into arrays of the original shapes. There is no second
# implementation of any optimizer: `update` is (11.1), then the `step` of chapters 4 and 9, then
# the split.
#
# One convention, written once: optax's call signature with the update applied.
#
#     opt = minil2o.pretrained("rnnprop-mnist")          # or a file, or "adam", lr=1e-3
#     state = opt.init(params)
#     params, state = opt.update(grads, state, params)   # returns the NEW params
#
# (optax's `update` returns the updates $g_t$ and leaves the addition to you; here it is done
# inside.) `update` never changes its inputs, so an old state can be replayed.
#
# Our own model for this section: multinomial logistic regression on the bundled digits,
# $p = \mathrm{softmax}(xW + b)$, with its gradient written by hand, a model none of the shipped
# optimizers was trained on.

# %%
X, y = load_mnist("train")
X, y = X[:1500], y[:1500]


def loss_and_grads(params, X, y):
    """Mean softmax cross-entropy of softmax(X W + b) and its gradients {"W", "b"}."""
    logits = X @ params["W"] + params["b"]                            # (B, 10)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)                                 # (B, 10)
    loss = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
    d = p.copy()
    d[np.arange(len(y)), y] -= 1.0
    d /= len(y)                                                       # (B, 10)
    return loss, {"W": X.T @ d, "b": d.sum(axis=0)}


def fit(opt, seed, num_steps=100, batch=128):
    """Train from a seeded start with `opt`; returns the loss on all 1,500 digits at the end."""
    rng = np.random.default_rng(seed)
    params = {"W": (0.01 * rng.standard_normal((784, 10))).astype(np.float32),
              "b": np.zeros(10, np.float32)}
    state = opt.init(params)
    for t in range(num_steps):
        rows = rng.integers(0, len(y), batch)
        _, grads = loss_and_grads(params, X[rows], y[rows])
        params, state = opt.update(grads, state, params)
    return loss_and_grads(params, X, y)[0]


print("RNNprop, 100 steps:", fit(minil2o.pretrained("rnnprop-mnist"), seed=0))

# %% [markdown]
# **Check (11.1)-(11.2).** One `update` must be the optimizer's step on the concatenated numbers:
# load the same optimizer as chapter 9 does, step it on $\theta$ by hand, and compare. They agree to
# float32 rounding (here to the bit), not bit for bit in general: `update` runs the LSTM steps in
# place in a reused workspace (as meta-training does), summing the terms of (3.1) in another order
# than the reference step.

# %%
rng = np.random.default_rng(1)
params = {"W": rng.standard_normal((784, 10)).astype(np.float32), "b": np.zeros(10, np.float32)}
_, grads = loss_and_grads(params, X[:128], y[:128])

opt = minil2o.pretrained("rnnprop-mnist")
new_params, state = opt.update(grads, opt.init(params), params)

m = load_learned(PRETRAINED_DIR / "rnnprop-mnist.npz", "float32")         # the optimizer itself
theta = np.concatenate([params["W"].ravel(), params["b"]])                # (11.1)
g = np.concatenate([grads["W"].ravel(), grads["b"]])
step, _ = m.step(g, m.init_state(theta.size, "float32"))                  # (11.2)
by_hand = theta + step
via_update = np.concatenate([new_params["W"].ravel(), new_params["b"]])
print("largest difference:", np.abs(by_hand - via_update).max(), "| shapes:",
      {k: v.shape for k, v in new_params.items()}, "| state keys:", sorted(state.inner))

# %% [markdown]
# **Swapping optimizers is one line.** The hand-designed optimizers of chapter 1 sit behind the same
# interface (`minil2o.pretrained("adam", lr=...)`, also `"sgd"`, `"nag"`, `"rmsprop"`, ...), so
# comparing Adam with RNNprop changes a string. Adam's rate 0.125 is the one
# `examples/logistic_regression.py` tunes for this problem (on other digits and other seeds).

# %%
for name, opt in [("Adam, lr 0.125", minil2o.pretrained("adam", lr=0.125)),
                  ("rnnprop-mnist", minil2o.pretrained("rnnprop-mnist")),
                  ("dm-mnist", minil2o.pretrained("dm-mnist"))]:
    finals = [fit(opt, seed) for seed in range(3)]
    print(f"{name:<16} loss after 100 steps: {np.mean(finals):.4f}  (seeds: "
          + ", ".join(f"{f:.4f}" for f in finals) + ")")

# %% [markdown]
# **Parameter groups.** A per-group optimizer such as `dm-cnn` (chapter 7: one LSTM for the
# convolution filters, one for the fully-connected weights) has to know which of your arrays each
# LSTM serves. By default every array of 3 or more dimensions (a conv filter) goes to `conv` and the
# rest to `fc`; `groups={"conv": [...], "fc": [...]}` says it explicitly (positions in a list, keys
# in a dict). $\theta$ then holds the conv group first, then fc, which is the layout
# `PerGroupOptimizer` slices. Where no default applies, the error says what to pass.

# %%
cnn_params = [rng.standard_normal(s).astype(np.float32) for s in [(8, 1, 3, 3), (8,), (392, 10), (10,)]]
cnn = minil2o.pretrained("dm-cnn")
layout = cnn.init(cnn_params).layout
print("default groups:", layout.groups, "| arrays in theta's order:", layout.order)
explicit = minil2o.pretrained("dm-cnn", groups={"conv": [0, 1], "fc": [2, 3]})
print("explicit groups:", explicit.init(cnn_params).layout.groups)
try:
    cnn.init({"W": np.ones((784, 10), np.float32), "b": np.zeros(10, np.float32)})
except UsageError as e:
    print("UsageError:", e)

# %% [markdown]
# **Bad inputs get one line each.** Arrays of another shape, container or dtype than at `init`
# are refused, and so is a gradient holding NaN or inf: a learned optimizer keeps state per
# coordinate, and a NaN let in once would stay in its LSTM for every later step. The step is
# refused, the state is left as it was, and the message says how many entries were bad.

# %%
opt = minil2o.pretrained("rnnprop-mnist")
state = opt.init(params)
bad = {"W": grads["W"].copy(), "b": grads["b"]}
bad["W"][:3, 0] = np.nan
for call in [lambda: opt.update(bad, state, params),
             lambda: opt.update({"W": grads["W"].T, "b": grads["b"]}, state, params),
             lambda: opt.update([grads["W"], grads["b"]], state, params),
             lambda: minil2o.pretrained("rnnprop-cifar")]:
    try:
        call()
    except UsageError as e:
        print("UsageError:", e)

# %% [markdown]
# The arrays may also be CuPy arrays (after `minil2o.set_backend("cupy")`, chapter 10) or float64;
# a learned optimizer's parameters $\phi$ are then loaded onto the GPU, or in float64, to match.
#
# ## 11.2 PyTorch: `minil2o.torch.LearnedOptimizer`
#
# For a PyTorch model, `minil2o.torch.LearnedOptimizer(model.parameters(), "rnnprop-mnist")` is a
# `torch.optim.Optimizer`. Its `step` does not reimplement anything in torch: it views each
# parameter and each gradient as an array of minil2o's backend *sharing the tensor's memory*
# (DLPack: NumPy on the CPU, CuPy on a GPU), calls the same `update` as above, and writes the new
# values back into the tensors' memory. Its state (the LSTM's $h$ and $c$ per coordinate, the
# moving averages, $t$) is kept as tensors, so `state_dict` and `load_state_dict` work as for
# torch's own optimizers.
#
# PyTorch is an optional extra (`pip install "minil2o[torch]"`). The cells of this section check
# whether it is installed and say so if not.

# %%
try:
    import torch
    import minil2o.torch
    torch.set_num_threads(1)
    print("PyTorch", torch.__version__)
except ImportError:
    torch = None
    print("PyTorch is not installed: the cells below are skipped (pip install 'minil2o[torch]')")

# %% [markdown]
# Zero-copy first: the array minil2o sees *is* the tensor's memory.

# %%
if torch is not None:
    w = torch.zeros(3, 4)
    view = minil2o.xp.from_dlpack(w)            # what the adapter does for every parameter
    view[0, 0] = 7.0
    print("the tensor after writing into the view:", w[0].tolist())

# %% [markdown]
# A small CNN, trained with the learned optimizer; the optimizer line is the only minil2o line.
# The check beside it runs `minil2o.pretrained(...).update` on copies of the same numbers: the
# two must agree exactly.

# %%
def small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 14 * 14, 10))


if torch is not None:
    images = torch.from_numpy(X).reshape(-1, 1, 28, 28)
    labels = torch.from_numpy(y)
    model = small_cnn()
    opt = minil2o.torch.LearnedOptimizer(model.parameters(), "rnnprop-mnist")   # the one line
    reference = minil2o.pretrained("rnnprop-mnist")
    copies = [p.detach().numpy().copy() for p in model.parameters()]
    ref_state = reference.init(copies)
    gen = torch.Generator().manual_seed(0)
    for t in range(30):
        rows = torch.randint(0, len(labels), (64,), generator=gen)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images[rows]), labels[rows])
        loss.backward()
        copies, ref_state = reference.update([p.grad.numpy().copy() for p in model.parameters()],
                                             ref_state, copies)
        opt.step()
        if t % 10 == 0 or t == 29:
            print(f"step {t:2d}  minibatch loss {loss.item():.3f}")
    print("largest difference to minil2o's own update:",
          max(np.abs(p.detach().numpy() - c).max() for p, c in zip(model.parameters(), copies)))

# %% [markdown]
# Saving and resuming: `state_dict()` holds the minil2o state as tensors; a fresh optimizer that
# loads it continues exactly where the first one was.

# %%
if torch is not None:
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    twin = small_cnn()
    twin.load_state_dict(saved["model"])
    twin_opt = minil2o.torch.LearnedOptimizer(twin.parameters(), "rnnprop-mnist")
    twin_opt.load_state_dict(saved["opt"])
    print("saved state:", {k: tuple(v.shape) if hasattr(v, "shape") else v
                           for k, v in saved["opt"]["state"]["minil2o"]["inner"].items()})
    for m_, o_ in [(model, opt), (twin, twin_opt)]:
        for t in range(5):
            rows = torch.arange(64 * t, 64 * (t + 1))
            o_.zero_grad()
            torch.nn.functional.cross_entropy(m_(images[rows]), labels[rows]).backward()
            o_.step()
    print("identical after 5 more steps:",
          all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters())))

# %% [markdown]
# ## 11.3 On problems they never saw
#
# Two examples run the shipped optimizers against Adam whose learning rate is tuned on a grid of
# powers of two, on other seeds and other digits than the test runs, the chosen rate lying inside
# the grid; every optimizer then trains the same initialisations on the same minibatches, so the
# runs pair up seed by seed. `python examples/logistic_regression.py` and
# `python examples/torch_cnn.py` (with the torch extra) print these tables and write their
# figures into `out/examples/` (`--out` chooses another folder; one CPU core, a few minutes each);
# the copies shown below are kept in `docs/`.
#
# **Logistic regression** (NumPy, 1,500 digits, 300 steps of minibatch 128, 10 seeds; Adam's
# tuned rate 0.125; the loss is on all 1,500 training digits, the accuracy on 1,000 held-out ones):
#
#     optimizer                        final loss      minus Adam (paired)  beats Adam  held-out acc.
#     Adam                        0.0066 ± 0.0044                        -           -     87.4% ± 0.1
#     rnnprop-mnist               0.0215 ± 0.0003        +0.0150 ± 0.0045      1/10        88.3% ± 0.1
#     dm-mnist                    0.0117 ± 0.0016        +0.0051 ± 0.0046      1/10        86.7% ± 0.2
#
# Tuned Adam wins on the training loss. The DM optimizer ends 1.8 times above it (the mean
# difference is within one standard error; it beats Adam on one seed of ten). RNNprop ends three
# times above Adam (3.3 standard errors; one seed of ten), is much steadier across seeds, and
# generalizes a little better (88.3% held out, against 87.4% and 86.7%). RNNprop is ahead for about
# the first 60 steps (it was trained on 100), then falls behind.
#
# **A small CNN in PyTorch** (conv 8, conv 16, linear; ReLU; 1,500 digits, 200 steps of minibatch
# 64, 5 seeds; torch Adam's tuned rate 2^-6 = 0.0156; the loss is on 500 fixed training digits):
#
#     optimizer                        final loss      minus Adam (paired)  beats Adam  held-out acc.
#     Adam                        0.0232 ± 0.0035                        -           -     93.3% ± 0.3
#     rnnprop-mnist               0.0085 ± 0.0027        -0.0146 ± 0.0021      5/5         94.5% ± 0.2
#     dm-mnist                   73.1899 ± 33.0229       +73.1668 ± 33.0251     0/5         50.2% ± 16.4
#     dm-cnn                      0.0856 ± 0.0107        +0.0624 ± 0.0083      0/5         93.5% ± 0.5
#
# Here RNNprop beats tuned Adam on every seed (final loss 2.7 times lower, held-out accuracy one
# point higher), as it did on the papers' CNNs. The DM optimizer trained on the sigmoid MLP fails
# on this ReLU network: its loss blows up on three of the five seeds (to 67 to 170) and ends near
# 3, above the chance level of 2.30, on the other two.
# `dm-cnn`, trained on a CNN of another shape with batch norm, trains it but ends 3.7 times above
# Adam. Five seeds and one model are little evidence: run the examples on your own model before
# trusting either verdict.

# %%
from IPython.display import Image, Markdown, display
for name in ["own_logistic_regression.png", "own_torch_cnn.png"]:
    display(Image(filename=os.path.join("..", "docs", name), width=760))

# %% [markdown]
# **A card per shipped optimizer.** One command measures every shipped optimizer the same way,
# on four problems none of them was trained on: a torch MLP 64-64-10 and a small torch CNN on
# scikit-learn's 8x8 digits, least squares (40 equations in 20 unknowns, scored by the excess
# over its minimum) and Rosenbrock's function from a random start,
#
#     pip install -e ".[examples]"         # torch and scikit-learn
#     minil2o evaluate-shipped --render    # about 6 minutes of one core on a loaded machine
#
# Each problem gets 5 test seeds, 200 steps. Adam (and SGD with momentum) is tuned on 3 other
# seeds (the digits: the other half of them) over its grid of powers of two, widened until the
# chosen rate lies inside it. Then each learned optimizer is compared with tuned Adam seed by seed
# on the final loss, through the log10 ratio $\log_{10} f_{\text{Adam}} - \log_{10} f_{\text{learned}}$
# (above 0: the learned optimizer ends lower) and its paired 95% interval, the statistics of
# RESULTS.md (`minil2o/evaluation/statistics.py`); the verdict is the interval's sign. A run that
# ends above 1,000 times its initial loss (or at NaN) has diverged; one that merely ends above
# where it started is flagged too. The numbers are in `results/shipped-cards.json`; the cards are
# rendered from it into `minil2o/datasets/pretrained/README.md` and `minil2o.pretrained(name).card`.
# The table is read from that JSON here (this chapter runs without torch):

# %%
import json
from minil2o.use.cards import summary_table
with open(os.path.join("..", "results", "shipped-cards.json"), encoding="utf-8") as fh:
    shipped_cards = json.load(fh)
display(Markdown(summary_table(shipped_cards)))
print(minil2o.pretrained("rnnprop-mnist").card)

# %% [markdown]
# None of these is a general-purpose replacement for Adam. Where each wins and where it loses:
#
# - **`rnnprop-mnist`** beats tuned Adam on one problem of four, the CNN (log10 ratio +0.35,
#   95% interval [+0.18, +0.51], lower on 5 of 5 seeds: about 2.2 times lower), is level with it
#   on the MLP (+0.06 [-0.18, +0.31]) and on Rosenbrock (-0.22 [-1.28, +0.83]), and loses on least
#   squares by three orders of magnitude (-3.04 [-4.05, -2.02]): tuned Adam reaches the minimum
#   to about 1e-8, RNNprop stops between 1e-4 and 4e-7 above it. Its controls win on the
#   CNN too (`-e10`, `-rs-only`; `-cc-only` is level there), are level on the MLP and Rosenbrock,
#   and lose on least squares.
# - **`dm-mnist`** loses on all four. On the CNN it ends above where it started on every seed (26
#   to 479, where chance is 2.30): not "diverged" by the rule (1,000 times the initial loss), but
#   it did not train. The other DM optimizers (`dm-quadratic`, `dm-art`, the DM controls) lose or
#   are level; none wins anywhere.
# - **`dm-cnn`** loses to tuned Adam on this CNN (-0.57 [-0.92, -0.21]; no batch norm, 8x8
#   images, unlike the CNN it was trained on), `dm-cnn-sub` is level (-0.12); neither can run a
#   model without convolutions (it is refused at construction, in one line).
#
# With 5 seeds Wilcoxon's two-sided p cannot go below 0.0625, so the verdicts rest on the
# interval of the log ratio. Four small problems and five seeds are little evidence: run
# `minil2o evaluate-shipped` (or the examples) on problems like yours, always beside a tuned Adam.

# %% [markdown]
# ## 11.4 What generalizes, and what does not
#
# The reproduction (RESULTS.md, N test problems each, mean ± standard error of the loss at the
# last step, or at the final parameters in Lv et al.'s experiments) measured the shipped optimizers
# off their training problem. In short:
#
# - **Activations.** Trained on sigmoid, the DM optimizer fails on ReLU: 0.445 ± 0.020 at step
#   100, 24 times tuned Adam's 0.018 ± 0.001, and 12 times Adam on ELU (0.142 vs 0.012). RNNprop's
#   relative inputs, Adam-like and invariant to the scale of the gradient, carry over: it never
#   breaks, and stays within 1.1 to 2.2 times tuned Adam on tanh, ReLU and ELU (0.051, 0.030, 0.027
#   vs 0.047, 0.018, 0.012), though never better (N = 100).
# - **Depth and width.** Wider is fine: the DM optimizer is level with tuned Adam on a 1x80 MLP
#   (0.014 vs 0.018) and ahead of every baseline on its own 1x20. Deeper is not: from 3 sigmoid
#   layers on it stops learning (1.59, 2.14 and 2.26 with 3, 4 and 5 layers; chance level is 2.30),
#   where RNNprop is level with tuned Adam (3 layers) and then beats it (0.89 vs 1.29 and 1.49 vs
#   1.68; N = 100). With 1 and 2 layers tuned Adam beats RNNprop.
# - **Convolutions.** RNNprop, trained on the MLP, ends below every tuned baseline on the c-c-p-f
#   CNN (1.6e-4 vs tuned Adam's 1.1e-3) and level with tuned Adam on a deeper CNN (0.014 vs 0.015);
#   the DM optimizer fails on both, its median loss at chance (ln 10) or above (N = 20).
# - **Horizons.** Both were trained on 100 steps. Over 2,000 steps RNNprop keeps decreasing, to
#   the float32 floor (about 1e-8), lowest of all; the DM optimizer's loss bottoms out at step 330
#   (1.9e-3) and rises again, to end above tuned Adam (N = 10). At 200 steps, twice its horizon,
#   the DM optimizer is still ahead of tuned NAG and Adam (0.0078 vs 0.015 and 0.018; N = 100).
# - **The budget.** The two MNIST optimizers saw 3,000 training problems each, the best of three
#   seeds (a third of the public code's 10,000); the others 50 to 150. The verdicts are about these
#   files, not about the methods. The budget matters: after 1,000 training problems no seed of the
#   DM optimizer was ahead of tuned NAG at step 100, after 3,000 every seed was (`dm-budget`).
#
# Which shipped optimizer to use for what (each one's card, with the numbers above:
# `minil2o.pretrained(name).card`):
#
# | optimizer | trained on | use it for | do not use it for |
# |---|---|---|---|
# | `rnnprop-mnist` | 784-20-10 sigmoid MLP, 100 steps, both RNNprop tricks | the first learned optimizer to try: any activation, small CNNs, long runs, deep sigmoid MLPs; no learning rate to tune | beating a tuned Adam on shallow MLPs (it usually loses, by 1.1 to 3 times here) |
# | `dm-mnist` | the same MLP, 100 steps, 3,000 problems | sigmoid MLPs and short runs (fastest of all over 100 steps on the base MLP, RESULTS.md) | ReLU/ELU networks, 3 or more layers, CNNs, runs of more than a few hundred steps |
# | `dm-cnn`, `dm-cnn-sub` | a batch-normalized c-p-c-p-f-f CNN, two LSTMs (conv, fc) | CNNs of that kind (its groups: 3-d or larger arrays to conv, the rest to fc) | models without convolutions |
# | `dm-quadratic` | 10-d quadratics, no preprocessing | small least-squares problems like chapter 5's | anything with gradients of other scales |
# | `dm-art` | neural art at 64x64 | styling images as in chapter 8 | other problems |
# | `dm-mnist-e10`, `dm-mnist-tricks`, `rnnprop-mnist-e10`, `rnnprop-mnist-rs-only`, `rnnprop-mnist-cc-only` | controls of RESULTS.md's control experiment | reproducing that experiment | your model: use `rnnprop-mnist` |
# | `adam` and the other hand-designed ones | nothing (one learning rate) | the baseline you should always run beside a learned one, its rate tuned | - |

# %% [markdown]
# ## 11.5 When one machine is not enough
#
# Everything here meta-trains on one machine, by backpropagation through truncated unrolls
# (chapter 4): the memory grows with the truncation length times the number of coordinates, and
# the optimizers above saw at most a few hundred problems. To meta-train on many problems, long
# horizons, or large models, the JAX library **learned_optimization** (Metz et al.) is the place
# to go. Its key difference is how it estimates the meta-gradient: evolution strategies (ES) and
# their unbiased truncated variant, persistent evolution strategies (PES), perturb the optimizer's
# parameters in antithetic pairs, run each perturbed optimizer forward only, and weight each
# perturbation by the meta-loss it produced. Nothing is backpropagated through the unroll, so no
# activations are stored, chaotic long unrolls do not make exploding gradients, and the work
# splits across devices: many workers each unroll a few problems and send back gradient estimates,
# and one learner combines them and updates the optimizer's parameters. PES also carries the
# accumulated perturbation across truncations, which removes the bias that truncating the unroll
# gives our BPTT meta-gradient (chapter 4: each truncation treats where the previous ones left the
# optimizee as a constant).
#
# How minil2o's pieces map onto its concepts (note that it calls the optimizer's parameters
# theta, where minil2o writes phi and uses theta for the optimizee's):
#
# | minil2o | learned_optimization |
# |---|---|
# | a problem family (`minil2o.problems`), one sampled problem | a task family, one task (init and loss of the inner parameters) |
# | `DMOptimizer`, `RNNprop` (`step` over a flat vector) | a learned optimizer: meta-parameters, and the optimizer they define (init, update) |
# | `Trainer`'s truncations of the horizon | a truncated step over many inner problems at once, with a truncation schedule |
# | the hand-written BPTT meta-gradient (`meta.py`) | a gradient estimator: truncated backprop, full ES, or truncated PES |
# | Adam on phi in `Trainer` | the outer optimizer, applied by a gradient learner |
# | one process on one core or one GPU | gradient workers on many devices and one central learner |
# | `minil2o.pretrained(...)` on your arrays | applying the learned optimizer's update to your model's parameters |
#
# The formulas in this course (the LSTM step, the preprocessing, RNNprop's inputs) are what its
# learned optimizers compute as well, in other forms; reading one with the other beside it is a
# good next exercise.

# %% [markdown]
# ## Summary
#
# - `minil2o.pretrained(NAME_OR_PATH)` gives any shipped, trained or hand-designed optimizer the
#   interface `state = opt.init(params)`, `params, state = opt.update(grads, state, params)`, over a
#   list or dict of arrays; the math is the optimizer's own step on the concatenation (11.1)-(11.2).
# - `minil2o.torch.LearnedOptimizer` runs that same step on PyTorch tensors through DLPack, with
#   torch's `state_dict`.
# - On problems they never saw, the shipped optimizers are not free wins: tuned Adam is often as
#   good or better. RNNprop carries over to other activations, depths, CNNs and horizons far better
#   than the DM optimizer, and needs no learning rate.
#
# ## Exercises
#
# 1. Tune Adam for `fit` above over a grid of powers of two on seeds 10-12 and compare with
#    RNNprop on seeds 0-4. Is the best rate inside your grid?
# 2. Run `rnnprop-mnist` for 1,000 steps on the logistic regression. Does it keep decreasing the
#    loss, as it did for the MLP at 2,000 steps?
# 3. Train your own optimizer on the logistic regression (a problem family of your own,
#    `minil2o train`), load its `optimizer.npz` with `minil2o.pretrained(path)`, and compare.
# 4. Give `dm-cnn` the opposite grouping (fc arrays to conv and back) on the CNN of 11.2. How much
#    does the routing matter?
# 5. **Adam over your own arrays** (graded). `minil2o.pretrained("adam")` concatenates your arrays
#    (11.1) and keeps its state over $\theta$. Write the same rule without concatenating:
#    `my_adam_update(opt, grads, state, params)` keeps Adam's moments array by array, in
#    `state = {"t": t, "m": ..., "v": ...}` where `m` and `v` are containers like `params`
#    (`minil2o.use.dropin.tree_init(opt, params)` makes the first one). For each array $a$ with
#    gradient $g$ and moments $m$, $v$, with $t$ one more than the state's:
#    $$m_t = \beta_1 m + (1-\beta_1)\, g,\quad v_t = \beta_2 v + (1-\beta_2)\, g^2,\quad
#    a_{\text{new}} = a - \alpha\,\frac{m_t / (1-\beta_1^{t})}{\sqrt{v_t / (1-\beta_2^{t})} + \epsilon}. \tag{11.3}$$
#    `opt` is a `minil2o.optimizers.hand.Adam` ($\alpha$, $\beta_1$, $\beta_2$, $\epsilon$ are
#    `opt.lr`, `opt.beta1`, `opt.beta2`, `opt.eps`). Adam is coordinatewise, so (11.3) on each
#    array is (11.2) on the concatenation. The check, the workbook's `adam_update`, draws 16 cases:
#    lists, tuples and dicts of 1 to 4 arrays from 0-d to 3-d, float32 and float64, every setting
#    drawn ($\beta_1 = 0$ too, $t$ from 0 to 40; gradients as small as $\epsilon$, of mixed scales
#    and large), two steps in a row and once more on the same inputs (a replay must agree). It
#    compares the new arrays with Adam in float64, flags a changed input (`params`, `grads`, `state`
#    or `opt`), another container, shape or dtype, and a step count that is not one more, and
#    prints one verdict line, the same as `minil2o workbook check w.py adam_update`. The library's
#    version is `minil2o.use.dropin.tree_update`.

# %%
def my_adam_update(opt, grads, state, params):
    """Exercise 5: one Adam step over a list, tuple or dict of arrays, array by array, eq. (11.3).

    opt: a hand.Adam (opt.lr, opt.beta1, opt.beta2, opt.eps); params, grads: containers of the
    same kind and keys, arrays of any shapes (0-d too), all float32 or all float64; state:
    {"t": steps taken, "m": ..., "v": ...}, m and v containers like params. Returns (new params,
    new state): containers of params' kind with its keys, each array of its input's shape and
    dtype, and t one more. params, grads, state and opt are left as they were."""
    raise NotImplementedError("write eq. (11.3) here")

check("adam_update", my_adam_update)   # 16 drawn cases: lists, tuples, dicts, 0-d to 3-d, two steps, float32


# %% [markdown]
# ← [10. The GPU: one switch for the array backend](10_gpu.ipynb) | [contents](README.md) | (last chapter) →
