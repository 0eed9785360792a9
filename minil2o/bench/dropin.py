"""The drop-in case of `minil2o bench`: one step of a shipped learned optimizer over a user's
arrays, per coordinate, against Adam and against the same network written plainly in PyTorch,
every contender timed by turns in one run (timing.timed_turns), so that their ratios see the same
load.

At each size n (one float32 array of n coordinates and one fixed gradient; each contender keeps its
own state from call to call, as in training), seconds per step of

    drop-in             minil2o.pretrained(NAME).update: flatten, the gradient's check, the step
                        (its LSTM steps in place, minil2o.fast_lstm.StepWorkspace), theta + update
    minil2o.torch       minil2o.torch.LearnedOptimizer([p], NAME).step on a torch parameter
    meta forward        NAME's step_forward as meta-training runs it: in a Workspace's forward pass,
                        its caches kept (the optimizer's part of one step of an unroll)
    drop-in adam        minil2o.pretrained("adam").update
    torch Adam          torch.optim.Adam's step
    torch module        NAME's network in plain PyTorch, under no_grad: its input layer (RNNprop:
                        Linear(2, H) and ELU on the two relative inputs), two LSTMCells of H units
                        over the n coordinates as the batch, Linear(H, 1) and tanh; not the moving
                        averages, the flattening or the update of theta, which the drop-in's time
                        includes

PyTorch gets the threads of NumPy's BLAS (OMP_NUM_THREADS, or --threads). Without PyTorch its
columns say so and the rest is measured. On a GPU (MINIL2O_BACKEND=cupy) the drop-in runs on CuPy
arrays, minil2o.torch and the torch contenders on CUDA tensors (shared with CuPy through DLPack),
each call waited for; the targets below were set on one CPU core.
"""
import sys

import numpy as np

from .timing import timed_turns

NAME = "rnnprop-mnist"
TARGET_MODULE_RATIO = 0.7          # drop-in step at most 0.7x the plain PyTorch module's time
TARGET_FORWARD_RATIO = 1.2         # ... and near meta-training's forward step: at most 1.2x
TARGET_COORDS = 100000             # the size both targets are read at
WORK_PER_CALL = 200000             # coordinates stepped per timed call: small n step several times
MOST_STEPS_PER_CALL = 100         # ... but at most this many (tiny n: the test's sizes)
TORCH_COLUMNS = ("minil2o.torch", "torch Adam", "torch module")


def contenders(n, rng, threads, gpu, use_torch=True):
    """{name: a function making one step} for the drop-in case at n, and a note saying why for
    each torch contender that does not run."""
    from ..backend import asarray
    dtype = "float32"
    theta = asarray(rng.standard_normal(n), dtype)                          # (n,)
    grad = asarray(0.01 * rng.standard_normal(n), dtype)                    # (n,)
    fns = {"drop-in": dropin_stepper(NAME, theta, grad),
           "meta forward": forward_stepper(NAME, grad),
           "drop-in adam": dropin_stepper("adam", theta, grad)}
    torch_fns, note = (torch_contenders(n, rng, threads, gpu) if use_torch else
                       ({}, "PyTorch left out (--no-torch)"))
    fns.update(torch_fns)
    return fns, {name: note for name in TORCH_COLUMNS if name not in fns}


def dropin_stepper(name, theta, grad):
    """minil2o.pretrained(name).update on [theta], its state and parameters carried over."""
    import minil2o
    opt = minil2o.pretrained(name)
    carried = {"params": [theta], "state": opt.init([theta])}

    def step():
        params, state = carried["params"], carried["state"]
        carried["params"], carried["state"] = opt.update([grad], state, params)
    return step


def forward_stepper(name, grad):
    """The learned optimizer's step_forward in a kept Workspace's forward pass, as unroll runs
    it (minil2o.meta), its caches kept until the next call; always from the state after three
    steps (carrying the state over would write each step over its input, in the same arrays of
    the workspace: an unroll gives each of its steps arrays of its own)."""
    from ..fast_lstm import Workspace
    opt = learned(name)
    state = opt.init_state(grad.shape[0], "float32")
    for _ in range(3):
        _, state, _ = opt.step_forward(opt.phi, grad, state)                # the reference step
    workspace = Workspace()

    def step():
        with workspace.forward_pass():
            opt.step_forward(opt.phi, grad, state)
    return step


def learned(name):
    """The shipped learned optimizer `name`, its phi in float32 (minil2o.use.dropin's loader)."""
    from ..problems.data import PRETRAINED_DIR
    from ..use.dropin import load_learned
    return load_learned(PRETRAINED_DIR / f"{name}.npz", "float32")


def torch_contenders(n, rng, threads, gpu):
    """The torch contenders at n ({} and why, when PyTorch or its CUDA device is missing)."""
    try:
        import torch
    except ImportError:
        return {}, "PyTorch is not installed"
    device = "cuda" if gpu else "cpu"
    if gpu and not torch.cuda.is_available():
        return {}, "PyTorch has no CUDA device"
    if threads:
        torch.set_num_threads(threads)
    from ..use import torch as mtorch

    def waited(fn):
        return (lambda: (fn(), torch.cuda.synchronize())) if gpu else fn
    grad = torch.from_numpy(0.01 * rng.standard_normal(n).astype(np.float32)).to(device)
    fns = {}
    for name, make in (("minil2o.torch", lambda p: mtorch.LearnedOptimizer([p], NAME)),
                       ("torch Adam", lambda p: torch.optim.Adam([p], lr=1e-3))):
        weights = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
        p = torch.nn.Parameter(weights.to(device))
        p.grad = grad.clone()
        fns[name] = waited(make(p).step)
    fns["torch module"] = waited(torch_module_stepper(torch, n, device, rng))
    return fns, None


def torch_module_stepper(torch, n, device, rng):
    """One step of NAME's network (RNNprop's, of NAME's sizes; see the module docstring) in plain
    PyTorch over n coordinates, its LSTM state carried over; the input a fixed (n, 2) array."""
    rule = learned(NAME)
    H = rule.hidden
    layer_in = torch.nn.Sequential(torch.nn.Linear(2, H), torch.nn.ELU()).to(device)
    cells = [torch.nn.LSTMCell(H, H).to(device) for _ in range(rule.num_layers)]
    head = torch.nn.Sequential(torch.nn.Linear(H, 1), torch.nn.Tanh()).to(device)
    x = torch.from_numpy(rng.standard_normal((n, 2)).astype(np.float32)).to(device)  # (n, 2)
    state = [(torch.zeros(n, H, device=device), torch.zeros(n, H, device=device)) for _ in cells]

    @torch.no_grad()
    def step():
        z = layer_in(x)                                                     # (n, H)
        for k, cell in enumerate(cells):
            state[k] = cell(z, state[k])                                    # (n, H) each
            z = state[k][0]
        return head(z)                                                      # (n, 1)
    return step


def repeated(fn, times):
    """fn called `times` times in a row, as one function (one timed call)."""
    def run():
        for _ in range(times):
            fn()
    return run


def measure(sizes, repeat, threads, gpu, log, use_torch=True):
    """The drop-in case at each size: a row per size (see row)."""
    rows = []
    for n in sizes:
        log(f"drop-in step ({NAME}): n = {n}")
        fns, notes = contenders(n, np.random.default_rng(0), threads, gpu, use_torch)
        per_call = min(MOST_STEPS_PER_CALL, max(1, WORK_PER_CALL // n))
        seconds = timed_turns({k: repeated(f, per_call) for k, f in fns.items()}, repeat)
        rows.append(row(n, per_call, seconds, notes))
        torch = sys.modules.get("torch")
        rows[-1]["torch_threads"] = torch.get_num_threads() if torch and not notes else None
    return rows


def row(n, per_call, seconds, notes):
    """{case, coords, steps_per_call, contenders: {name: seconds per step (best, median) and
    microseconds per coordinate, or skipped}, ratios: the drop-in's time over the others'}."""
    out = {}
    for name, times in seconds.items():
        best, median = min(times) / per_call, float(np.median(times)) / per_call
        out[name] = {"seconds": best, "median_seconds": median, "us_per_coord": 1e6 * best / n}
    out.update({name: {"skipped": note} for name, note in notes.items()})
    ratios = {f"{a} / {b}": out[a]["seconds"] / out[b]["seconds"]
              for a, b in (("drop-in", "torch module"), ("drop-in", "meta forward"),
                           ("drop-in", "drop-in adam"), ("minil2o.torch", "torch module"),
                           ("drop-in adam", "torch Adam"))
              if "seconds" in out[a] and "seconds" in out[b]}
    return {"case": f"drop-in step {NAME}", "optimizer": NAME, "coords": n,
            "steps_per_call": per_call, "contenders": out, "ratios": ratios}


def targets(rows):
    """The drop-in targets, read at TARGET_COORDS (not measured when that size was not run)."""
    at = next((r for r in rows if r["coords"] == TARGET_COORDS), None)
    out = []
    for other, bound in (("torch module", TARGET_MODULE_RATIO),
                         ("meta forward", TARGET_FORWARD_RATIO)):
        key = f"drop-in / {other}"
        value = at["ratios"].get(key) if at else None
        why = ("not measured: no run at that size" if at is None else
               at["contenders"][other].get("skipped", "timed by turns"))
        out.append({"target": f"drop-in {NAME} step / {other} at n = {TARGET_COORDS:,}",
                    "value": value, "bound": f"<= {bound}",
                    "met": None if value is None else value <= bound, "note": why})
    return out


def format_rows(rows):
    """The drop-in rows as a table of microseconds per coordinate and the ratios."""
    names = ("drop-in", "minil2o.torch", "meta forward", "drop-in adam", "torch Adam",
             "torch module")
    lines = [f"drop-in step ({NAME}), microseconds per coordinate (best of the timed runs, by "
             "turns)",
             f"{'coords':>9} " + " ".join(f"{k:>13}" for k in names)
             + f" {'/ module':>9} {'/ meta fwd':>10}"]
    for r in rows:
        cells = [f"{r['contenders'][k]['us_per_coord']:13.4f}" if "seconds" in r["contenders"][k]
                 else f"{'-':>13}" for k in names]
        ratio = [r["ratios"].get(f"drop-in / {k}") for k in ("torch module", "meta forward")]
        shown = [f"{v:.2f}" if v is not None else "-" for v in ratio]
        lines.append(f"{r['coords']:>9} " + " ".join(cells) + f" {shown[0]:>9} {shown[1]:>10}")
    skipped = {v["skipped"] for r in rows for v in r["contenders"].values() if "skipped" in v}
    lines += [f"  -: {why}" for why in sorted(skipped)]
    return "\n".join(lines)
