"""Property-based tests (hypothesis): the learned optimizers' inputs stay finite for any gradient
from 0 to 1e30 in magnitude, of either sign, in float32 and float64.

In float32, g = 1e30 gives g^2 = inf, so RNNprop's second moment v overflows; its inputs
m^ / (sqrt(v^) + eps) and g / (sqrt(v^) + eps) must still be finite (they become 0). The
overflow warnings numpy raises on the way are expected here and silenced.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minil2o.backend import asarray, to_numpy
from minil2o.optimizers.learned import DMOptimizer, RNNprop, preprocess_forward

EXTREMES = [0.0, -0.0, 1e30, -1e30, 1e-30, -1e-30, 1e-45, 3.4e38 / 1e9, 1.8e19, -1.9e19,
            np.exp(-10.0), -np.exp(-10.0), 1.0, -1.0]
PROPERTY = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def gradients(width):
    """Vectors (1..6 entries) of gradients in [-1e30, 1e30] (1e30 rounded to float{width})."""
    limit = float(np.float32(1e30)) if width == 32 else 1e30
    value = st.one_of(st.sampled_from(EXTREMES),
                      st.floats(-limit, limit, allow_nan=False, width=width))
    return st.lists(value, min_size=1, max_size=6)


def backend_vector(values, dtype):
    return asarray(np.asarray(values, dtype=dtype), dtype)


def assert_finite(x, what, values):
    x = to_numpy(x)
    assert np.all(np.isfinite(x)), f"{what} is not finite for gradients {values!r}: {x!r}"


@pytest.mark.parametrize("dtype, width", [("float32", 32), ("float64", 64)])
@pytest.mark.parametrize("mode", ["log", "clamped", "none"])
def test_dm_preprocessing_is_finite(mode, dtype, width):
    @PROPERTY
    @given(values=gradients(width))
    def check(values):
        with np.errstate(over="ignore"):
            x = preprocess_forward(backend_vector(values, dtype), mode, 10.0)
        assert_finite(x, f"preprocess_forward({mode!r}, {dtype})", values)
        assert tuple(x.shape) == (len(values), 1 if mode == "none" else 2)
        if mode != "none":      # bounded: x0 in [-1, log(1e30) / p], |x1| <= 1
            x = to_numpy(x)
            assert np.all(x[:, 0] >= -1.0 - 1e-6) and np.all(x[:, 0] <= 7.0)
            assert np.all(np.abs(x[:, 1]) <= 1.0 + 1e-6)
    check()


@pytest.mark.parametrize("dtype, width", [("float32", 32), ("float64", 64)])
def test_rnnprop_relative_inputs_are_finite(dtype, width):
    opt = RNNprop(hidden=3)

    @PROPERTY
    @given(steps=st.lists(gradients(width), min_size=1, max_size=4))
    def check(steps):
        n = len(steps[0])
        state = opt.init_state(n, dtype)
        for t, values in enumerate(steps):
            values = (values * n)[:n]            # every step the same number of coordinates
            with np.errstate(over="ignore"):
                x, parts = opt.relative_inputs(backend_vector(values, dtype), state)
            assert_finite(x, f"RNNprop.relative_inputs at step {t + 1} ({dtype})", steps)
            state = dict(state, t=parts[0], m=parts[1], v=parts[2])
    check()


@pytest.mark.parametrize("dtype, width", [("float32", 32), ("float64", 64)])
def test_whole_steps_give_finite_updates(dtype, width):
    dm, rnnprop = DMOptimizer(hidden=3), RNNprop(hidden=3)
    rng = np.random.default_rng(0)
    dm.phi, rnnprop.phi = dm.init_params(rng, dtype), rnnprop.init_params(rng, dtype)

    @PROPERTY
    @given(values=gradients(width))
    def check(values):
        grad = backend_vector(values, dtype)
        for opt in (dm, rnnprop):
            state = opt.init_state(len(values), dtype)
            for t in range(2):
                with np.errstate(over="ignore"):
                    update, state = opt.step(grad, state)
                assert_finite(update, f"{opt.kind} update at step {t + 1} ({dtype})", values)
    check()
