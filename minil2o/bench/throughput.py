"""Measure meta-training speed and memory of the DM optimizer and RNNprop (forward pass plus the
hand-written BPTT, float32) on quadratics and the MNIST MLP, with a plain PyTorch reference, and the
drop-in step of a shipped optimizer against Adam and a plain PyTorch module.

What is measured, all in one run on the selected backend (MINIL2O_BACKEND):

    meta-epoch      one problem optimized for `horizon` steps in truncations of `unroll`, with one
                    Adam step on phi per truncation (Trainer.train_problem): seconds, and
                    coordinate-steps per second = n * horizon / seconds
    coordinates     one truncation (unroll + meta_gradient) on quadratics of n = 1e3 .. 1e6
                    coordinates: throughput and peak memory
    truncation      the same on the MNIST MLP for K = 5 .. 40 steps: memory should grow as K * n
    torch           the MNIST meta-epoch written plainly in PyTorch (LSTMCell over all coordinates
                    as one batch, autograd for the meta-gradient, gradients detached as inputs to
                    the optimizer), timed in the same run; the ratio is ours / torch
    drop-in         one step of rnnprop-mnist over n = 1e4, 1e5 coordinates (--dropin-sizes; 1e6
                    on request) through minil2o.pretrained and minil2o.torch, per coordinate,
                    against Adam (ours and torch's), meta-training's forward step and the same
                    network as a plain PyTorch module, all timed by turns (minil2o/bench/dropin.py)

--cases chooses: meta (everything above but the drop-in), dropin, or both (the default).

Times are the minimum over `--repeat` runs after one warm-up (the least disturbed run on a shared
machine); the median is kept in the JSON too. Peak memory is the high-water mark of array memory
allocated during one truncation above what was held before it: NumPy allocations as seen by
tracemalloc, CuPy's memory-pool bytes on the GPU. Threads: NumPy's BLAS takes
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS from the environment at start; PyTorch is given the same
number (or --threads), so both sides use the same cores. On a GPU the MNIST meta-epoch is timed with
the plain xp LSTM step and with the fused kernels of minil2o.kernels (`use_fused_kernels`).

The timing helpers are in minil2o/bench/timing.py, the PyTorch reference in minil2o/bench/torch_epoch.py.
"""
import json
import os
import platform

import numpy as np

from ..files.atomic import atomic_file, check_output
from ..errors import UsageError
from .timing import peak_bytes, summary, timed

OPTIMIZERS = ("dm", "rnnprop")
CASES = ("meta", "dropin")
TARGET_TORCH_RATIO = 0.6          # our MNIST meta-epoch at most 0.6x the plain PyTorch one
TARGET_GPU_THROUGHPUT = 2e8       # coordinate-steps per second on a meta-batch of MNIST MLPs
TARGET_BYTES_PER_COORD_STEP = 1400  # array memory of one truncation per coordinate and step


def flag_type(name, flag, separator=None):
    """The argparse type of `flag`: checked against minil2o.validate.BOUNDS[name]."""
    from ..validate import flag_type as checked
    return checked(name, flag, separator)


def bounded(name, separator=None):
    """The argparse type of the flag --NAME: checked against minil2o.validate.BOUNDS."""
    return flag_type(name, "--" + name.replace("_", "-"), separator)


def add_arguments(p):
    """The flags of `minil2o bench`; a flag left out is None and takes the default its help
    names (--quick's where it differs); a value given is used as it is, never replaced."""
    p.add_argument("--quick", action="store_true", help="small sizes, one repeat (about 20 s)")
    p.add_argument("--optimizers", default="dm,rnnprop", help="comma-separated: dm, rnnprop")
    p.add_argument("--horizon", type=bounded("horizon"),
                   help="optimizee steps per meta-epoch (100; quick 20)")
    p.add_argument("--unroll", type=bounded("unroll"),
                   help="steps per truncation in a meta-epoch (20; quick 10)")
    p.add_argument("--sizes", type=bounded("sizes", ","),
                   help="coordinates for the scaling sweep, e.g. 1e3,1e4,1e5,1e6")
    p.add_argument("--unrolls", type=bounded("unrolls", ","),
                   help="truncation lengths for the memory sweep, e.g. 5,10,20,40")
    p.add_argument("--mnist-meta-batch", type=bounded("mnist_meta_batch"),
                   help="MNIST problems per meta-epoch (1 on the CPU, 64 on a GPU)")
    p.add_argument("--repeat", type=bounded("repeat"), help="timed runs per figure (3; quick 1)")
    p.add_argument("--max-gb", type=bounded("max_gb"), default=6.0,
                   help="skip sweep sizes whose predicted peak memory exceeds this (default 6)")
    p.add_argument("--threads", type=bounded("threads"),
                   help="PyTorch threads (default: as for NumPy's BLAS)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    p.add_argument("--cases", default="meta,dropin",
                   help="comma-separated: meta (meta-training), dropin (the drop-in step)")
    p.add_argument("--dropin-sizes", type=flag_type("sizes", "--dropin-sizes", ","),
                   help="coordinates for the drop-in step, e.g. 1e4,1e5,1e6 (1e4,1e5; quick "
                   "1e3,1e4)")
    p.add_argument("--out", default="runs/bench/bench.json", help="JSON file to write")


def settings(args):
    """The run's sizes from the arguments, the --quick defaults and the backend."""
    from ..backend import get_backend
    quick, gpu = args.quick, get_backend() == "cupy"
    opts = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    if not opts:
        raise UsageError(f"--optimizers {args.optimizers!r} names no optimizer: choose from "
                         f"{', '.join(OPTIMIZERS)}")
    for o in opts:
        if o not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {o!r} in --optimizers: choose from {', '.join(OPTIMIZERS)}")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not cases or any(c not in CASES for c in cases):
        raise UsageError(f"--cases {args.cases!r}: choose one or more of {', '.join(CASES)}, "
                         "comma-separated")
    defaults = dict(horizon=20 if quick else 100, unroll=10 if quick else 20,
                    sizes=[1000, 10000] if quick else [1000, 10000, 100000, 1000000],
                    dropin_sizes=[1000, 10000] if quick else [10000, 100000],
                    unrolls=[2, 4] if quick else [5, 10, 20, 40],
                    mnist_meta_batch=64 if gpu else 1, repeat=1 if quick else 3)
    given = {name: getattr(args, name) for name in defaults}
    s = dict(optimizers=opts, cases=cases, **{name: defaults[name] if value is None else value
                                 for name, value in given.items()}, max_gb=args.max_gb)
    if s["horizon"] % s["unroll"]:
        said = {name: "" if given[name] is not None else " (its default)" for name in given}
        raise UsageError(f"--horizon {s['horizon']}{said['horizon']} is not a multiple of "
                         f"--unroll {s['unroll']}{said['unroll']}")
    return s


# ---------------------------------------------------------------------------------------------
# The measurements
# ---------------------------------------------------------------------------------------------

def optimizer_kwargs(kind, problem):
    """The papers' settings: DM output scale 0.1 on MNIST, 1.0 on quadratics; RNNprop defaults."""
    if kind == "dm":
        return {"output_scale": 0.1 if problem == "mnist-mlp" else 1.0}
    return {}


def make_trainer(kind, problem, problem_kwargs, meta_batch, s):
    """A Trainer whose train_problem(0) is one meta-epoch of the benchmark."""
    from ..training.train import TrainConfig, Trainer
    config = TrainConfig(problem=problem, problem_kwargs=problem_kwargs, optimizer=kind,
                         optimizer_kwargs=optimizer_kwargs(kind, problem), horizon=s["horizon"],
                         unroll=s["unroll"], weighting="all" if kind == "dm" else "last",
                         meta_batch=meta_batch, epochs=1, problems_per_epoch=1)
    return Trainer(config, log=lambda *a: None)


def meta_epoch(kind, problem, problem_kwargs, meta_batch, s, fused=False):
    """Seconds for one meta-epoch (Trainer.train_problem) and its throughput; `fused` runs the
    LSTM step as the fused CuPy kernels (GPU only) instead of the plain xp reference, by
    minil2o.backend.use_fused_kernels. On the MNIST MLP the row also holds the breakdown of
    minil2o.bench.throughput.breakdown (per step: optimizee, optimizer forward and backward, meta-update)."""
    from ..backend import get_backend, use_fused_kernels
    from .breakdown import breakdown
    trainer = make_trainer(kind, problem, problem_kwargs, meta_batch, s)
    n = trainer.sample_problem().n
    truncations = []
    with use_fused_kernels(fused):  # the LSTM step minil2o.lstm.lstm_step_functions picks
        seconds = timed(lambda: truncations.append(len(trainer.train_problem(0))), s["repeat"])
        parts = breakdown(trainer, s["horizon"], s["repeat"]) if problem == "mnist-mlp" else None
    cell = ("fused CuPy kernels" if fused else
            "in-place NumPy (fast_lstm)" if get_backend() == "numpy" else "plain xp")
    row = {"case": f"meta-epoch {problem}", "optimizer": kind, "coords": n, "unroll": s["unroll"],
           "horizon": s["horizon"], "meta_batch": meta_batch, "lstm_cell": cell,
           **summary(seconds, n * s["horizon"])}
    if parts:
        row["breakdown"] = parts
    if min(truncations) < s["horizon"] // s["unroll"]:
        row["note"] = "a truncation was skipped as non-finite: the time covers fewer steps"
    return row


def truncation_runner(kind, problem, K, rng):
    """A function running one truncation (unroll + meta_gradient) of K steps in a workspace kept
    from call to call, as in training (or in the one given: a fresh one counts its arrays)."""
    from ..fast_lstm import Workspace
    from ..meta import meta_gradient, meta_weights, unroll
    from ..training.factories import build_optimizer
    opt = build_optimizer(kind, **optimizer_kwargs(kind, "quadratic"))
    phi = opt.init_params(rng)
    theta, state = problem.init(rng), opt.init_state(problem.n)
    batches = [problem.sample_batch(rng) for _ in range(K + 1)]
    weights = meta_weights(K, "all" if kind == "dm" else "last")

    def run(workspace=Workspace()):
        tr = unroll(opt, phi, problem, theta, state, batches, workspace=workspace)
        return meta_gradient(opt, phi, problem, tr, weights)
    return run


def truncation_row(case, kind, problem, K, s, rng):
    """Throughput and peak memory of one truncation of K steps on `problem`."""
    run = truncation_runner(kind, problem, K, rng)
    row = {"case": case, "optimizer": kind, "coords": problem.n, "unroll": K,
           **summary(timed(run, s["repeat"]), problem.n * K)}
    from ..fast_lstm import Workspace
    row["peak_bytes"] = peak_bytes(lambda: run(Workspace()))   # the workspace's arrays included
    row["bytes_per_coord_step"] = row["peak_bytes"] / (problem.n * K)
    return row


def coordinate_sweep(kind, s, rng, log):
    """Quadratics (d = 10) with n = sizes coordinates, one truncation of 5 steps each; sizes whose
    memory, predicted from the largest size measured so far, exceeds max_gb are skipped."""
    from ..problems import QuadraticFamily
    rows, K = [], 5
    for n in s["sizes"]:
        if rows:
            predicted = rows[-1]["bytes_per_coord_step"] * n * K
            if predicted > s["max_gb"] * 2 ** 30:
                log(f"  skipped n = {n}: about {predicted / 2 ** 30:.1f} GB > --max-gb {s['max_gb']}")
                rows.append({"case": "coordinates", "optimizer": kind, "coords": n, "unroll": K,
                             "skipped": f"predicted {predicted / 2 ** 30:.1f} GB > {s['max_gb']} GB"})
                continue
        problem = QuadraticFamily(num_functions=max(1, n // 10)).sample(rng)
        rows.append(truncation_row("coordinates", kind, problem, K, s, rng))
    return rows


def unroll_sweep(kind, s, rng):
    """The MNIST MLP (n = 15,910) with truncations of K = unrolls steps."""
    from ..problems import make_family
    problem = make_family("mnist-mlp").sample(rng)
    return [truncation_row("truncation mnist-mlp", kind, problem, K, s, rng) for K in s["unrolls"]]


def linear_fit(rows):
    """Fit peak = alpha + beta * K * n over the rows; the largest relative residual says how
    linear memory is in K * n (small: linear)."""
    kn = np.array([r["coords"] * r["unroll"] for r in rows], dtype=float)
    peak = np.array([r["peak_bytes"] for r in rows], dtype=float)
    if len(rows) < 2:
        return None
    beta, alpha = np.polyfit(kn, peak, 1)
    residual = float(np.max(np.abs(alpha + beta * kn - peak) / peak))
    return {"bytes_per_coord_step": float(beta), "offset_bytes": float(alpha),
            "max_relative_residual": residual}


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def machine():
    """Where the figures come from."""
    from .. import __version__
    from ..backend import device_name, get_backend
    info = {"minil2o": __version__, "backend": get_backend(), "device": device_name(),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "blas_threads": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                         "MKL_NUM_THREADS") if k in os.environ}}
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = round(os.getloadavg()[0], 2)
    return info


def targets(rows, gpu):
    """Each target of the benchmark: the measured value, the bound and whether it is met."""
    out = []
    ours = [r for r in rows if r["case"] == "meta-epoch mnist-mlp" and r["optimizer"] == "dm"
            and r["meta_batch"] == 1]
    ref = [r for r in rows if r["case"] == "meta-epoch mnist-mlp (PyTorch)"]
    if ours and ref:
        ratio = ours[0]["seconds"] / ref[0]["seconds"]
        out.append({"target": "MNIST meta-epoch (dm) / plain PyTorch", "value": ratio,
                    "bound": f"<= {TARGET_TORCH_RATIO}", "met": ratio <= TARGET_TORCH_RATIO,
                    "note": "timed one after the other"})
    if ref and "ours_by_turns" in ref[0]:
        ratio = ref[0]["ours_by_turns"]["seconds"] / ref[0]["seconds"]
        out.append({"target": "MNIST meta-epoch (dm) / plain PyTorch, timed by turns", "value": ratio,
                    "bound": f"<= {TARGET_TORCH_RATIO}", "met": ratio <= TARGET_TORCH_RATIO,
                    "note": "the two timed alternately: the same load for both"})
    for kind in OPTIMIZERS:
        sweep = [r for r in rows if r["case"] == "truncation mnist-mlp" and r["optimizer"] == kind]
        fit = linear_fit(sweep)
        if fit:
            out.append({"target": f"memory linear in K*n ({kind})", "value": fit["max_relative_residual"],
                        "bound": "largest relative residual of a line <= 0.1",
                        "met": fit["max_relative_residual"] <= 0.1, **fit})
        if sweep:
            most = max(r["bytes_per_coord_step"] for r in sweep)    # at the shortest truncation
            out.append({"target": f"memory per coordinate-step ({kind}), largest of the sweep",
                        "value": most, "bound": f"<= {TARGET_BYTES_PER_COORD_STEP}",
                        "met": most <= TARGET_BYTES_PER_COORD_STEP})
    best = max((r["coord_steps_per_s"] for r in rows if r["case"] == "meta-epoch mnist-mlp"
                and r["meta_batch"] > 1), default=None)
    out.append({"target": "GPU coordinate-steps/s on a meta-batch of MNIST MLPs",
                "value": best if gpu else None, "bound": f">= {TARGET_GPU_THROUGHPUT:.0e}",
                "met": (best is not None and best >= TARGET_GPU_THROUGHPUT) if gpu else None,
                **({} if gpu else {"note": "not measured: no GPU backend (MINIL2O_BACKEND=cupy)"})})
    return out


def format_table(rows):
    """The rows as a fixed-width text table."""
    lines = [f"{'case':<32} {'opt':<8} {'coords':>9} {'K':>3} {'seconds':>9} {'coord-steps/s':>14} "
             f"{'peak MB':>9} {'B/(K n)':>8}"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['case']:<32} {r['optimizer']:<8} {r['coords']:>9} {r['unroll']:>3} "
                         f"skipped: {r['skipped']}")
            continue
        peak = f"{r['peak_bytes'] / 2 ** 20:9.1f}" if "peak_bytes" in r else f"{'':>9}"
        per = f"{r['bytes_per_coord_step']:8.0f}" if "bytes_per_coord_step" in r else f"{'':>8}"
        case = r["case"] + (f" x{r['meta_batch']}" if r.get("meta_batch", 1) > 1 else "")
        case += " fused" if r.get("lstm_cell", "").startswith("fused") else ""
        case += " cuda" if r.get("torch_device") == "cuda" else ""
        lines.append(f"{case:<32} {r['optimizer']:<8} {r['coords']:>9} {r['unroll']:>3} "
                     f"{r['seconds']:9.3f} {r['coord_steps_per_s']:14.3e} {peak} {per}")
        if "ours_by_turns" in r:
            t = r["ours_by_turns"]
            lines.append(f"{'  ours, by turns with PyTorch':<32} {r['optimizer']:<8} {r['coords']:>9} "
                         f"{r['unroll']:>3} {t['seconds']:9.3f} {t['coord_steps_per_s']:14.3e}")
    return "\n".join(lines)


def format_targets(checks):
    lines = []
    for t in checks:
        value = "n/a" if t["value"] is None else f"{t['value']:.3g}"
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        lines.append(f"target: {t['target']}: {value} (want {t['bound']}) -> {verdict}"
                     + (f" [{t['note']}]" if "note" in t else ""))
    return "\n".join(lines)


def run(args):
    """The bench command: measure, print the table and the targets, write the JSON file."""
    from ..backend import get_backend
    from ..validate import shown
    s = settings(args)
    if os.path.lexists(args.out) and not os.path.isdir(args.out) and not os.path.isfile(args.out):
        raise UsageError(f"--out {args.out!r} is not a regular file (a device, a pipe or a "
                         "dangling link): give a file name for the JSON")
    check_output(args.out)                     # an unwritable --out is found before the work
    log = print
    rng = np.random.default_rng(0)
    gpu = get_backend() == "cupy"
    info = machine()
    log(f"minil2o bench on {info['device']} ({info['backend']}), {info['cores']} cores, "
        f"load {info.get('load_average_at_start', '?')}")
    rows = meta_rows(s, args, rng, gpu, log) if "meta" in s["cases"] else []
    from . import dropin
    from .torch_epoch import torch_threads
    steps = (dropin.measure(s["dropin_sizes"], s["repeat"], torch_threads(args), gpu, log,
                            use_torch=not args.no_torch) if "dropin" in s["cases"] else [])
    checks = (targets(rows, gpu) if rows else []) + (dropin.targets(steps) if steps else [])
    if rows:
        print(format_table(rows))
    from .breakdown import format_breakdown
    for row in rows:
        if "breakdown" in row:
            print(format_breakdown(row))
    if steps:
        print(dropin.format_rows(steps))
    print(format_targets(checks))
    if hasattr(os, "getloadavg"):
        info["load_average_at_end"] = round(os.getloadavg()[0], 2)
    report = {"machine": info, "settings": s, "results": rows, "dropin": steps, "targets": checks}
    with atomic_file(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"JSON: {shown(args.out)}")
    return 0


def meta_rows(s, args, rng, gpu, log):
    """The meta-training measurements (the module docstring's list, but the drop-in)."""
    rows = []
    for kind in s["optimizers"]:
        log(f"{kind}: meta-epochs")
        rows.append(meta_epoch(kind, "quadratic", {"num_functions": 128}, 1, s))
        rows.append(meta_epoch(kind, "mnist-mlp", {}, 1, s))
        if s["mnist_meta_batch"] > 1:
            rows.append(meta_epoch(kind, "mnist-mlp", {}, s["mnist_meta_batch"], s))
        if gpu:
            log(f"{kind}: the same with the fused CuPy LSTM kernels")
            rows.append(meta_epoch(kind, "mnist-mlp", {}, s["mnist_meta_batch"], s, fused=True))
        log(f"{kind}: coordinate and truncation sweeps")
        rows += coordinate_sweep(kind, s, rng, log)
        rows += unroll_sweep(kind, s, rng)
    if "dm" in s["optimizers"] and not args.no_torch:
        log("PyTorch reference")
        from .torch_epoch import torch_meta_epoch, torch_threads
        ours = make_trainer("dm", "mnist-mlp", {}, 1, s)
        ref = torch_meta_epoch(s, torch_threads(args), "cuda" if gpu else "cpu",
                               alongside=lambda: ours.train_problem(0))
        if ref is None:
            log("  PyTorch (with CUDA, on a GPU) is not installed: the reference is skipped")
        else:
            rows.append(ref)
    return rows
