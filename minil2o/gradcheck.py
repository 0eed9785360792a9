"""Gradient checking by central differences, in float64.

A gradient written by hand is trusted when it agrees with

    df/dx_i  ~  ( f(x + h e_i) - f(x - h e_i) ) / (2 h)                      (central difference)

whose error is O(h^2) from truncation plus O(eps |f| / h) from rounding; with float64 and h = 1e-6
both are ~1e-12 relative, so a correct gradient shows a relative error near 1e-9 and a wrong one
near 1. For large inputs, where n evaluations of f are too many, a random direction d is checked:

    ( f(x + h d) - f(x - h d) ) / (2 h)  ~  <grad f(x), d>                    (directional)

`rel_error(a, b) = ||a - b|| / (||a|| + ||b||)`: 0 when equal, 1 when unrelated, and not fooled by
entries that are zero in both.
"""
import numpy as np

from .backend import asarray, to_numpy


def rel_error(a, b):
    """Relative error (2.5), ||a - b|| / (||a|| + ||b||), of two arrays (any backend), as a float."""
    a = to_numpy(a).astype(np.float64).ravel()
    b = to_numpy(b).astype(np.float64).ravel()
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0.0 else float(np.linalg.norm(a - b) / denom)


def _value(f, inputs, name, x_host):
    """f evaluated with input `name` replaced by the host array `x_host` (moved to the backend)."""
    args = dict(inputs)
    args[name] = asarray(x_host)
    return float(to_numpy(f(**args)))


def numerical_gradient(f, inputs, name, h=1e-6):
    """Central-difference gradient (2.4) of scalar f(**inputs) with respect to inputs[name], entry by
    entry."""
    x = to_numpy(inputs[name]).astype(np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = _value(f, inputs, name, x)
        x[i] = old - h
        f_minus = _value(f, inputs, name, x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def directional_derivative(f, inputs, name, direction, h=1e-6):
    """Central-difference derivative (2.4) of scalar f(**inputs) along `direction` in inputs[name].
    """
    x = to_numpy(inputs[name]).astype(np.float64)
    d = to_numpy(direction).astype(np.float64)
    return (_value(f, inputs, name, x + h * d) - _value(f, inputs, name, x - h * d)) / (2 * h)


def check_gradients(f, inputs, grads, h=1e-6, max_full=400, num_directions=4, seed=0, verbose=True):
    """Compare hand-written gradients with central differences of a scalar function.

    f:      callable, f(**inputs) -> scalar (float or 0-d array); use float64 inputs
    inputs: dict name -> array, the point at which to check
    grads:  dict name -> array, the analytic gradient of f for each input to check (same shapes)
    Inputs with at most `max_full` entries are checked entry by entry; larger ones along
    `num_directions` random unit directions. Prints and returns {name: relative error}.
    """
    rng = np.random.default_rng(seed)
    errors = {}
    for name, analytic in grads.items():
        analytic = to_numpy(analytic).astype(np.float64)
        shape = to_numpy(inputs[name]).shape
        if analytic.shape != shape:
            raise ValueError(f"gradient for {name!r} has shape {analytic.shape}, input has {shape}")
        if analytic.size <= max_full:
            numeric = numerical_gradient(f, inputs, name, h)
            errors[name] = rel_error(numeric, analytic)
            how = "full"
        else:
            dirs = rng.standard_normal((num_directions,) + shape)
            dirs /= np.sqrt((dirs ** 2).sum(axis=tuple(range(1, dirs.ndim)), keepdims=True))
            numeric = [directional_derivative(f, inputs, name, d, h) for d in dirs]
            exact = [float(np.sum(analytic * d)) for d in dirs]
            errors[name] = rel_error(np.array(numeric), np.array(exact))
            how = f"{num_directions} directions"
        if verbose:
            print(f"  d/d{name:<10s} relative error {errors[name]:.2e}  ({how}, {analytic.size} entries)")
    return errors


def hvp_by_differences(grad, theta, v, h=1e-6):
    """H v as the central difference of the gradient along v (5.4):
    (grad(theta + h v) - grad(theta - h v)) / 2h, the reference for a Hessian-vector product."""
    return (grad(theta + h * v) - grad(theta - h * v)) / (2 * h)


def vjp_objective(f, dout):
    """Turn an array-valued f into the scalar <f(**inputs), dout>, whose gradient is the
    vector-Jacobian product that a layer's backward pass returns for upstream gradient `dout`."""
    from .backend import xp

    def scalar(**inputs):
        return xp.sum(f(**inputs) * dout)
    return scalar
