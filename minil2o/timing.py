"""Timing and memory measurement for `minil2o bench` (minil2o/bench.py, minil2o/bench_torch.py).

Times are taken after a warm-up run and after the GPU has finished its queued work; peak memory is
the high-water mark of array memory allocated while a function runs: NumPy allocations as seen by
tracemalloc, CuPy's memory-pool bytes on the GPU.
"""
import statistics
import time
import tracemalloc

from .backend import get_backend


def synchronize():
    """Wait for the GPU to finish queued work (timings on CuPy would stop too early otherwise)."""
    if get_backend() == "cupy":
        import cupy
        cupy.cuda.get_current_stream().synchronize()


def timed(fn, repeat):
    """Run fn once to warm up, then `repeat` times; returns the list of seconds."""
    fn()
    synchronize()
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize()
        seconds.append(time.perf_counter() - start)
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

