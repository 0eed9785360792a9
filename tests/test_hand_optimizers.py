"""Hand-designed optimizers: each matches its update equations on a two-step example worked out by
hand (g_1 = [1, -2], g_2 = [0.5, 0.5]), NAG matches Torch7's look-ahead loop, steps are pure
functions of (grad, state), and bad names and hyperparameters are refused."""
import math
from math import sqrt

import numpy as np
import pytest

from minil2o.backend import asarray, to_numpy, xp
from minil2o.errors import UsageError
from minil2o.optimizers.hand import (HAND_OPTIMIZERS, NAG, SGD, Adadelta, Adagrad, Adam, Momentum,
                                     RMSprop, make_hand_optimizer)

G1, G2 = [1.0, -2.0], [0.5, 0.5]


def _adadelta_expected():
    """Adadelta, lr 1, rho 0.9, eps 1e-6, written out coordinate by coordinate."""
    eps = 1e-6
    v1 = [0.1 * 1.0 ** 2, 0.1 * (-2.0) ** 2]                               # [0.1, 0.4]
    d1 = [sqrt(0.0 + eps) / sqrt(v1[0] + eps) * 1.0, sqrt(0.0 + eps) / sqrt(v1[1] + eps) * -2.0]
    D1 = [0.1 * d1[0] ** 2, 0.1 * d1[1] ** 2]
    v2 = [0.9 * 0.1 + 0.1 * 0.25, 0.9 * 0.4 + 0.1 * 0.25]                  # [0.115, 0.385]
    d2 = [sqrt(D1[0] + eps) / sqrt(v2[0] + eps) * 0.5, sqrt(D1[1] + eps) / sqrt(v2[1] + eps) * 0.5]
    return [-d1[0], -d1[1]], [-d2[0], -d2[1]]


def _adam_expected():
    """Adam, lr 0.1, betas 0.9 / 0.999, eps 1e-8, written out coordinate by coordinate."""
    m1, v1 = [0.1 * 1.0, 0.1 * -2.0], [0.001 * 1.0, 0.001 * 4.0]
    m1_hat, v1_hat = [m / (1 - 0.9) for m in m1], [v / (1 - 0.999) for v in v1]   # [1,-2], [1,4]
    u1 = [-0.1 * m1_hat[0] / (sqrt(v1_hat[0]) + 1e-8), -0.1 * m1_hat[1] / (sqrt(v1_hat[1]) + 1e-8)]
    m2 = [0.9 * 0.1 + 0.1 * 0.5, 0.9 * -0.2 + 0.1 * 0.5]                    # [0.14, -0.13]
    v2 = [0.999 * 0.001 + 0.001 * 0.25, 0.999 * 0.004 + 0.001 * 0.25]      # [0.001249, 0.004246]
    m2_hat, v2_hat = [m / (1 - 0.9 ** 2) for m in m2], [v / (1 - 0.999 ** 2) for v in v2]
    u2 = [-0.1 * m2_hat[0] / (sqrt(v2_hat[0]) + 1e-8), -0.1 * m2_hat[1] / (sqrt(v2_hat[1]) + 1e-8)]
    return u1, u2


CASES = {
    # u_t = -alpha g_t
    "sgd": (SGD(lr=0.1), [-0.1 * 1.0, -0.1 * -2.0], [-0.1 * 0.5, -0.1 * 0.5]),
    # m_1 = g_1 = [1, -2];  m_2 = 0.9 m_1 + g_2 = [1.4, -1.3];  u_t = -0.1 m_t
    "momentum": (Momentum(lr=0.1), [-0.1 * 1.0, -0.1 * -2.0],
                 [-0.1 * (0.9 * 1.0 + 0.5), -0.1 * (0.9 * -2.0 + 0.5)]),
    # v_1 = -0.1 g_1 = [-0.1, 0.2];  u_1 = 0.9 v_1 - 0.1 g_1 = [-0.19, 0.38]
    # v_2 = 0.9 v_1 - 0.1 g_2 = [-0.14, 0.13];  u_2 = 0.9 v_2 - 0.1 g_2 = [-0.176, 0.067]
    "nag": (NAG(lr=0.1), [0.9 * -0.1 - 0.1, 0.9 * 0.2 + 0.2],
            [0.9 * (0.9 * -0.1 - 0.05) - 0.05, 0.9 * (0.9 * 0.2 - 0.05) - 0.05]),
    # G_1 = [1, 4];  G_2 = [1.25, 4.25];  u_t = -0.1 g_t / (sqrt(G_t) + 1e-10)
    "adagrad": (Adagrad(lr=0.1),
                [-0.1 * 1.0 / (sqrt(1.0) + 1e-10), -0.1 * -2.0 / (sqrt(4.0) + 1e-10)],
                [-0.1 * 0.5 / (sqrt(1.25) + 1e-10), -0.1 * 0.5 / (sqrt(4.25) + 1e-10)]),
    "adadelta": (Adadelta(),) + _adadelta_expected(),
    # v_1 = 0.01 g_1^2 = [0.01, 0.04];  v_2 = 0.99 v_1 + 0.01 * 0.25 = [0.0124, 0.0421]
    "rmsprop": (RMSprop(lr=0.1),
                [-0.1 * 1.0 / (sqrt(0.01) + 1e-8), -0.1 * -2.0 / (sqrt(0.04) + 1e-8)],
                [-0.1 * 0.5 / (sqrt(0.99 * 0.01 + 0.0025) + 1e-8),
                 -0.1 * 0.5 / (sqrt(0.99 * 0.04 + 0.0025) + 1e-8)]),
    "adam": (Adam(lr=0.1),) + _adam_expected(),
}


def test_every_registered_optimizer_has_a_worked_example():
    assert set(CASES) == set(HAND_OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_steps_match_the_equations_float64(name):
    opt, u1_want, u2_want = CASES[name]
    state = opt.init_state(2, dtype="float64")
    u1, state = opt.step(asarray(G1, dtype="float64"), state)
    u2, state = opt.step(asarray(G2, dtype="float64"), state)
    assert state["t"] == 2
    np.testing.assert_allclose(to_numpy(u1), u1_want, rtol=1e-12, atol=0)
    np.testing.assert_allclose(to_numpy(u2), u2_want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_steps_float32_stay_float32(name):
    opt, u1_want, u2_want = CASES[name]
    state = opt.init_state(2)
    _, state = opt.step(asarray(G1, dtype="float32"), state)
    u2, state = opt.step(asarray(G2, dtype="float32"), state)
    assert u2.dtype == xp.float32 and all(state[k].dtype == xp.float32 for k in opt.slots)
    np.testing.assert_allclose(to_numpy(u2), u2_want, rtol=1e-5)


def test_nag_reproduces_torch7_lookahead_loop():
    """Torch7's optim.nag on f(x) = 0.5 sum(a x^2): it evaluates f and the gradient at the
    look-ahead point w_t = x_t + mu v_{t-1}; our theta_t must be exactly those points."""
    a, lr, mu = np.array([1.0, 3.0, 0.2]), 0.1, 0.9
    x, v, torch_points = np.array([1.0, -1.0, 2.0]), np.zeros(3), []
    for _ in range(6):
        w = x + mu * v
        torch_points.append(w)
        v = mu * v - lr * a * w
        x = x + v
    opt = NAG(lr=lr, momentum=mu)
    theta = asarray(np.array([1.0, -1.0, 2.0]), dtype="float64")
    state = opt.init_state(3, dtype="float64")
    a_xp = asarray(a, dtype="float64")
    for w in torch_points:
        np.testing.assert_allclose(to_numpy(theta), w, rtol=1e-12, atol=1e-15)
        update, state = opt.step(a_xp * theta, state)
        theta = theta + update


@pytest.mark.parametrize("name", sorted(HAND_OPTIMIZERS))
def test_step_is_pure_and_replayable(name):
    opt = make_hand_optimizer(name, lr=0.05)
    hyper = opt.hyperparameters()
    state0 = opt.init_state(2, dtype="float64")
    _, state1 = opt.step(asarray(G1, dtype="float64"), state0)
    u_a, state_a = opt.step(asarray(G2, dtype="float64"), state1)
    u_b, state_b = opt.step(asarray(G2, dtype="float64"), state1)     # replay from state1
    assert np.array_equal(to_numpy(u_a), to_numpy(u_b))
    assert state_a["t"] == state_b["t"] == 2 and state1["t"] == 1 and state0["t"] == 0
    for k in opt.slots:
        assert np.array_equal(to_numpy(state0[k]), np.zeros(2))
        assert np.array_equal(to_numpy(state_a[k]), to_numpy(state_b[k]))
    assert opt.hyperparameters() == hyper


@pytest.mark.parametrize("name", sorted(HAND_OPTIMIZERS))
def test_default_lr_descends_a_quadratic(name):
    opt = make_hand_optimizer(name)
    theta, state = asarray([1.0, -2.0, 3.0], dtype="float32"), opt.init_state(3)
    f0 = float(to_numpy(xp.sum(theta * theta)))
    for _ in range(20):
        update, state = opt.step(2.0 * theta, state)
        theta = theta + update
    assert float(to_numpy(xp.sum(theta * theta))) < f0


def test_defaults_and_grids():
    for name, cls in HAND_OPTIMIZERS.items():
        assert cls.name == name and cls.default_lr > 0
        grid = np.array(cls.lr_grid)
        assert len(grid) >= 8 and np.all(np.diff(np.log2(grid)) == 1.0)
    assert Adadelta().lr == 1.0 and RMSprop().decay == 0.99 and RMSprop().lr == 1e-2
    assert NAG().momentum == 0.9 and Adam().hyperparameters() == \
        {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert isinstance(make_hand_optimizer("Adam", lr=0.5), Adam)
    assert repr(make_hand_optimizer("sgd", lr=0.25)) == "SGD(lr=0.25)"


@pytest.mark.parametrize("name", ["adamw", "", "SGD ", None, 3])
def test_unknown_names_refused(name):
    with pytest.raises(UsageError, match="unknown optimizer"):
        make_hand_optimizer(name)


@pytest.mark.parametrize("lr", [0, 0.0, -0.1, math.nan, math.inf, "0.1", True])
def test_bad_learning_rates_refused(lr):
    with pytest.raises(UsageError, match="lr="):
        make_hand_optimizer("adam", lr=lr)


def test_bad_hyperparameters_and_sizes_refused():
    with pytest.raises(UsageError, match="momentum=1.0"):
        Momentum(momentum=1.0)
    with pytest.raises(UsageError, match="momentum=0"):
        NAG(momentum=0)
    with pytest.raises(UsageError, match="beta2"):
        Adam(beta2=1.5)
    with pytest.raises(UsageError, match="n=0"):
        SGD().init_state(0)
    with pytest.raises(UsageError, match="n=2.5"):
        Adam().init_state(2.5)
    for name in HAND_OPTIMIZERS:
        with pytest.raises(UsageError, match="dtype"):
            make_hand_optimizer(name).init_state(3, dtype="int8")
    assert Adam().init_state(np.int64(3))["m"].shape == (3,)
