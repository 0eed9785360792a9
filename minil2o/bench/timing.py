"""Timing and memory measurement for `minil2o bench` (minil2o/bench/throughput.py, minil2o/bench/torch_epoch.py).

Times are taken after a warm-up run and after the GPU has finished its queued work; peak memory is
the high-water mark of array memory allocated while a function runs: NumPy allocations as seen by
tracemalloc, CuPy's memory-pool bytes on the GPU.
"""
import statistics
import time
import tracemalloc

from ..backend import get_backend


def synchronize():
    """Wait for the GPU to finish queued work (timings on CuPy would stop too early otherwise)."""
    if get_backend() == "cupy":
        import cupy
        cupy.cuda.get_current_stream().synchronize()


def once(fn):
    """Seconds for one call of fn, the GPU's queued work included."""
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - start


def timed(fn, repeat):
    """Run fn once to warm up, then `repeat` times; returns the list of seconds."""
    once(fn)
    return [once(fn) for _ in range(repeat)]


def timed_pair(fn_a, fn_b, repeat):
    """fn_a and fn_b by turns, `repeat` times each after a warm-up of each: two lists of seconds.
    On a shared machine whose load comes and goes, the two see the same conditions."""
    once(fn_a)
    once(fn_b)
    pairs = [(once(fn_a), once(fn_b)) for _ in range(repeat)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def timed_turns(fns, repeat):
    """{name: function} run by turns, one call of each per round, `repeat` rounds after a
    warm-up call of each: {name: list of seconds}. On a shared machine whose load comes and goes,
    all of them see the same conditions (timed_pair's way, for any number)."""
    for fn in fns.values():
        once(fn)
    seconds = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            seconds[name].append(once(fn))
    return seconds


def peak_bytes(fn):
    """Peak array memory allocated while fn() runs, above what was allocated before it."""
    if get_backend() == "cupy":
        import cupy
        pool = cupy.get_default_memory_pool()
        synchronize()
        pool.free_all_blocks()
        before = pool.used_bytes()
        fn()
        synchronize()
        return pool.total_bytes() - before       # the pool keeps every block it needed
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def summary(seconds, work):
    """min / median seconds and the throughput work / min-seconds."""
    best = min(seconds)
    return {"seconds": best, "median_seconds": statistics.median(seconds),
            "coord_steps_per_s": work / best}



class Stopwatch:
    """Seconds spent in chosen methods of chosen objects, added up over calls by name.

        watch = Stopwatch()
        watch.wrap(opt, "step_forward", "optimizer forward")   # opt.step_forward is now timed
        ...; watch.seconds["optimizer forward"]

    The wrapper is an attribute of that one object (the class is untouched; restore() removes it)
    and waits for the GPU before and after each call, so a call is charged for its own work only.
    """

    def __init__(self):
        self.seconds, self.patched = {}, []

    def patch(self, obj, attr, value):
        """Set obj.attr = value on the instance until restore()."""
        setattr(obj, attr, value)
        self.patched.append((obj, attr))

    def restore(self):
        for obj, attr in self.patched:
            vars(obj).pop(attr, None)
        self.patched = []

    def wrap(self, obj, method, name):
        inner = getattr(obj, method)
        self.seconds.setdefault(name, 0.0)

        def timed_call(*args, **kwargs):
            synchronize()
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                synchronize()
                self.seconds[name] += time.perf_counter() - start
        self.patch(obj, method, timed_call)
        return obj
