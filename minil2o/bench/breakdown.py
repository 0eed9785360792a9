"""Where the time of a meta-epoch goes, for `minil2o bench`: per optimizee step, the optimizee's
loss and gradient, the learned optimizer's forward pass, its backward pass, the meta-update (Adam
on phi), everything else, and the system time and page faults of the process (resource.getrusage:
time the kernel spends for us, e.g. zeroing freshly allocated memory).

The meta-epoch is Trainer.train_problem itself, with those methods timed on their objects
(minil2o.bench.timing.Stopwatch): the problem's loss_and_grad, the learned optimizer's
step_forward and step_backward, the meta-optimizer's step; the instrumented run is separate from
the timed one of minil2o.bench.throughput.
"""
import time

from .timing import Stopwatch, synchronize

PARTS = ("optimizee loss and gradient", "optimizer forward", "optimizer backward",
         "meta-update (Adam on phi)")


def usage():
    """(system seconds, minor page faults) of this process so far; zeros where not available."""
    try:
        import resource
    except ImportError:                     # not on this platform
        return 0.0, 0
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_stime, r.ru_minflt


def instrumented_epoch(trainer):
    """One Trainer.train_problem with its parts timed. Returns seconds per part, total, usage."""
    watch = Stopwatch()
    sample = trainer.sample_problem
    watch.patch(trainer, "sample_problem", lambda: watch.wrap(sample(), "loss_and_grad", PARTS[0]))
    watch.wrap(trainer.opt, "step_forward", PARTS[1])
    watch.wrap(trainer.opt, "step_backward", PARTS[2])
    watch.wrap(trainer.meta_opt, "step", PARTS[3])
    try:
        (sys0, faults0), start = usage(), time.perf_counter()
        trainer.train_problem(0)
        synchronize()
        total, (sys1, faults1) = time.perf_counter() - start, usage()
    finally:
        watch.restore()
    return watch.seconds, total, sys1 - sys0, faults1 - faults0


def breakdown(trainer, steps, repeat):
    """Milliseconds per optimizee step of each part, from the least disturbed of `repeat`
    instrumented meta-epochs (after the timed ones, so the workspace is already allocated)."""
    runs = [instrumented_epoch(trainer) for _ in range(repeat)]
    seconds, total, system, faults = min(runs, key=lambda r: r[1])
    ms = {name: 1e3 * seconds[name] / steps for name in PARTS}
    ms["other (flatten, checks, Python)"] = 1e3 * (total - sum(seconds.values())) / steps
    return {"ms_per_step": ms, "total_ms_per_step": 1e3 * total / steps,
            "system_ms_per_step": 1e3 * system / steps, "minor_faults_per_step": faults / steps}


def format_breakdown(row):
    """The breakdown of one meta-epoch row as a small text table."""
    b = row["breakdown"]
    lines = [f"where the time goes: {row['optimizer']} on {row['case'].split()[-1]}, "
             f"n = {row['coords']}, per optimizee step (ms)"]
    lines += [f"  {name:<34} {ms:8.2f}" for name, ms in b["ms_per_step"].items()]
    lines.append(f"  {'total':<34} {b['total_ms_per_step']:8.2f}")
    lines.append(f"  {'of which system time':<34} {b['system_ms_per_step']:8.2f}")
    lines.append(f"  {'minor page faults per step':<34} {b['minor_faults_per_step']:8.0f}")
    return "\n".join(lines)
