"""The array backend: one switch selects the array namespace `xp` that all library code calls.

    MINIL2O_BACKEND=numpy|cupy|strict      (environment, read on first use)
    minil2o.set_backend("cupy")            (in code)

`xp` is a namespace that follows the Python array API standard (array-api-compat wraps NumPy and
CuPy; `strict` is array_api_strict, a CPU stand-in that fails on anything NumPy-only, which is how
CI proves the code would run on a GPU namespace). Library code writes `xp.exp(x)`, never
`numpy.exp(x)`, on arrays that may live on a device. Randomness is drawn on the host from an explicit
`numpy.random.Generator` and moved with `asarray`, so one seed gives one problem on every backend.
`to_numpy` brings an array back to the host: only at the edges (printing, plotting, saving).

On the cupy backend the LSTM step runs as fused GPU kernels (minil2o.kernels) unless switched off
for a block with `with use_fused_kernels(False):` (the benchmark times both ways);
minil2o.lstm.lstm_step_functions asks `fused_kernels()` which step to run.
"""
import contextlib
import importlib.util
import os
import sys

import numpy as np

from .errors import UsageError

BACKENDS = ("numpy", "cupy", "strict")
_current = {"name": None, "ns": None, "fused": True}


def _load(name):
    """Import and return the array API namespace for backend `name`."""
    if name == "numpy":
        import array_api_compat.numpy as ns
        return ns
    if name == "strict":
        import array_api_strict as ns
        return ns
    if name == "cupy":
        return _load_cupy()
    raise UsageError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")


def _installed(module):
    """True when `module` can be imported (a None entry in sys.modules blocks it)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _first_line(error):
    """'TypeName: first line of the message' (CUDA errors can run over many lines)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _load_cupy():
    """The CuPy namespace, or a UsageError saying in one line what is missing and how to fix it."""
    fallback = "or use MINIL2O_BACKEND=numpy"
    if not _installed("cupy"):
        raise UsageError("backend 'cupy' needs CuPy, which is not installed: pip install "
                         f"'minil2o[gpu]' on a machine with a CUDA GPU, {fallback}")
    try:
        import cupy
    except Exception as e:  # a wheel built for another CUDA version, missing CUDA libraries, ...
        raise UsageError(f"backend 'cupy': CuPy is installed but fails to import "
                         f"({_first_line(e)}): install the CuPy wheel matching the CUDA driver "
                         f"(e.g. pip install cupy-cuda12x), {fallback}") from None
    try:
        count, why = cupy.cuda.runtime.getDeviceCount(), ""
    except Exception as e:  # CuPy raises its own CUDA errors when no driver is present
        count, why = 0, f" ({_first_line(e)})"
    if count == 0:
        raise UsageError(f"backend 'cupy' found no CUDA GPU{why}: run on a machine with an "
                         f"NVIDIA GPU and its driver, {fallback}")
    try:
        import array_api_compat.cupy as ns
    except Exception as e:
        raise UsageError(f"backend 'cupy': array_api_compat cannot wrap CuPy ({_first_line(e)}): "
                         f"pip install -U array-api-compat cupy, {fallback}") from None
    return ns


def set_backend(name):
    """Select the array backend by name ('numpy', 'cupy' or 'strict'); returns its namespace."""
    if not isinstance(name, str):
        raise UsageError(f"backend must be a name, got {name!r}: choose one of "
                         f"{', '.join(BACKENDS)}")
    ns = _load(name)
    _current["name"], _current["ns"] = name, ns
    return ns


def get_backend():
    """Name of the selected backend (from MINIL2O_BACKEND on first use; 'numpy' by default)."""
    if _current["ns"] is None:
        set_backend(os.environ.get("MINIL2O_BACKEND", "numpy").strip().lower() or "numpy")
    return _current["name"]


def fused_kernels():
    """True when the LSTM step should run as the fused CuPy kernels of minil2o.kernels: on the cupy
    backend, unless inside `with use_fused_kernels(False):`."""
    return _current["fused"] and get_backend() == "cupy"


@contextlib.contextmanager
def use_fused_kernels(enabled):
    """Inside the block, run the LSTM step as fused CuPy kernels (enabled=True, the default outside
    any block) or as the plain xp reference of minil2o.lstm (False); restored on leaving."""
    before = _current["fused"]
    _current["fused"] = bool(enabled)
    try:
        yield
    finally:
        _current["fused"] = before


class _Namespace:
    """`xp.<name>` looks `<name>` up in the currently selected array namespace."""

    def __getattr__(self, attr):
        get_backend()
        return getattr(_current["ns"], attr)

    def __repr__(self):
        return f"<xp: {get_backend()} array namespace>"


xp = _Namespace()


def dtype(name):
    """The backend's dtype object for 'float32' or 'float64' (a dtype object passes through)."""
    if not isinstance(name, str):
        return name
    if name not in ("float32", "float64"):
        raise UsageError(f"unknown dtype {name!r}: choose float32 or float64")
    return getattr(xp, name)


def asarray(a, dtype=None):
    """Move a host array (or nested list / scalar) onto the backend, optionally casting."""
    if dtype is not None:
        dtype = globals()["dtype"](dtype)
    if isinstance(a, np.ndarray) and get_backend() == "strict" and a.ndim:
        a = np.ascontiguousarray(a)   # strict reads the buffer; a 0-d array stays 0-d
    return xp.asarray(a, dtype=dtype)


def all_finite(*arrays):
    """True when every entry of every backend array is finite (one host sync per array)."""
    return all(bool(xp.all(xp.isfinite(a))) for a in arrays)


def to_numpy(x):
    """Bring a backend array to the host as a numpy array (for printing, plotting, saving)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    try:
        return np.asarray(x)
    except Exception:
        return np.from_dlpack(x)


def to_float(x):
    """A 0-d backend array (or number) as a Python float."""
    return float(to_numpy(x))


def device_name():
    """A human-readable name of the device arrays live on."""
    name = get_backend()
    if name == "cupy":
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        return f"GPU {cupy.cuda.Device().id}: {props['name'].decode()}"
    if name == "strict":
        return "CPU (array_api_strict)"
    return "CPU"


def is_array(x):
    """True for an array of the selected backend (or a numpy array)."""
    return isinstance(x, np.ndarray) or hasattr(x, "__array_namespace__")
