"""The plain PyTorch reference of `minil2o bench` (benchmark only; PyTorch is not a dependency).

The DM optimizer's MNIST meta-epoch written as one would write it in PyTorch: two LSTMCells over all
n coordinates as one batch, Appendix-A preprocessing, output scale 0.1, the 784-20-10 sigmoid MLP in
torch with autograd; grad_t = d f / d theta_t is detached before it enters the optimizer (the paper's
dropped second derivatives); L = sum_t f(theta_t) over each truncation, then L.backward() and one
Adam step. minil2o/bench/throughput.py times it in the same run as ours; the ratio is ours / torch.
"""
import math
import os

import numpy as np

from .timing import summary, timed, timed_pair

MLP_SIZES = (784, 20, 10)


def torch_threads(args):
    """Threads for PyTorch: --threads, else NumPy's BLAS setting from the environment, else None."""
    if args.threads:
        return args.threads
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return None


def mnist_loss_and_grad(torch, device, rng):
    """f(theta) on a fresh minibatch of 128 MNIST images for the 784-20-10 sigmoid MLP whose weights
    are the flat theta (n = 15,910), and grad = d f / d theta, detached."""
    from ..problems.data import load_mnist
    X, y = load_mnist("train")
    X = torch.from_numpy(X).to(device)
    Y = torch.nn.functional.one_hot(torch.from_numpy(y).to(device), 10).float()

    def loss_and_grad(theta):
        idx = torch.from_numpy(rng.choice(X.shape[0], size=128, replace=False)).to(device)
        W1, b1 = theta[:15680].view(784, 20), theta[15680:15700]
        W2, b2 = theta[15700:15900].view(20, 10), theta[15900:]
        z = torch.sigmoid(X[idx] @ W1 + b1) @ W2 + b2
        f = -(Y[idx] * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
        grad, = torch.autograd.grad(f, theta, retain_graph=True)
        return f, grad.detach()
    return loss_and_grad


def preprocess(torch, g, p=10.0):
    """Appendix A of Andrychowicz et al. 2016 in torch (minil2o.optimizers.learned.preprocess_forward)."""
    big = g.abs() >= math.exp(-p)
    x0 = torch.where(big, torch.log(g.abs().clamp_min(1e-37)) / p, -torch.ones_like(g))
    x1 = torch.where(big, torch.sign(g), math.exp(p) * g)
    return torch.stack([x0, x1], dim=1)


def dm_meta_epoch(torch, s, device, rng):
    """The meta-epoch as a function: `horizon` steps of one fresh MLP in truncations of `unroll`,
    one Adam step on the optimizer's parameters per truncation. Returns it and n."""
    n = sum(a * b + b for a, b in zip(MLP_SIZES[:-1], MLP_SIZES[1:]))
    cells = [torch.nn.LSTMCell(2, 20), torch.nn.LSTMCell(20, 20)]
    readout = torch.nn.Linear(20, 1)
    meta_opt = torch.optim.Adam([q for m in (*cells, readout) for q in m.parameters()], lr=1e-3)
    loss_and_grad = mnist_loss_and_grad(torch, device, rng)

    def epoch():
        theta = torch.from_numpy(0.1 * rng.standard_normal(n).astype(np.float32)).to(device)
        theta.requires_grad_()
        state = [torch.zeros(n, 20) for _ in range(4)]
        f, grad = loss_and_grad(theta)
        for _ in range(s["horizon"] // s["unroll"]):
            meta_loss = 0.0
            for _ in range(s["unroll"]):
                h1, c1 = cells[0](preprocess(torch, grad), (state[0], state[1]))
                h2, c2 = cells[1](h1, (state[2], state[3]))
                state = [h1, c1, h2, c2]
                theta = theta + 0.1 * readout(h2)[:, 0]
                f, grad = loss_and_grad(theta)
                meta_loss = meta_loss + f
            meta_opt.zero_grad()
            meta_loss.backward()
            meta_opt.step()
            theta = theta.detach().requires_grad_()
            state = [t.detach() for t in state]
        if device == "cuda":
            torch.cuda.synchronize()
    return epoch, n


def torch_meta_epoch(s, threads, device="cpu", seed=0, alongside=None):
    """Time the PyTorch meta-epoch on `device` ('cpu' or 'cuda'). Returns the row, or None when
    PyTorch is not installed (or has no CUDA device when 'cuda' is asked for). With `alongside`
    (our meta-epoch as a function), the two are timed by turns (timing.timed_pair) and the row
    keeps our seconds too, so that their ratio is taken under the same load."""
    try:
        import torch
    except ImportError:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.set_default_device(device)
    try:
        epoch, n = dm_meta_epoch(torch, s, device, np.random.default_rng(seed))
        if alongside is None:
            seconds, ours = timed(epoch, s["repeat"]), None
        else:
            ours, seconds = timed_pair(alongside, epoch, s["repeat"])
    finally:
        torch.set_default_device("cpu")
    row = {"case": "meta-epoch mnist-mlp (PyTorch)", "optimizer": "dm", "coords": n,
           "unroll": s["unroll"], "horizon": s["horizon"], "meta_batch": 1,
           "torch_version": torch.__version__, "torch_device": device,
           "torch_threads": torch.get_num_threads(), **summary(seconds, n * s["horizon"])}
    if ours:
        row["ours_by_turns"] = summary(ours, n * s["horizon"])
    return row
