"""The learned optimizers' exercises (chapters 4, 6 and 9): the library, a loop and a vectorised
version (and the chapter's solution, where there is one) pass every case; a wrong version of each
category of mistake is flagged: a setting written in at its default, the chapter's globals or one
shape, a regime where the mistake hides, a broken contract, a plain slip of the math."""
import math
import pathlib
import sys

from minil2o.backend import xp
from minil2o.lstm import lstm_stack_backward, lstm_step_backward
from minil2o.layers import elu_backward, linear_backward, tanh_backward
from minil2o.optimizers.learned import DMOptimizer, RNNprop, preprocess_backward
from exercise_tools import assert_flagged, assert_right, library

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tutorials"))
import solutions  # noqa: E402

CHAPTER_DM = DMOptimizer(hidden=3)
"""A chapter's optimizer, at the defaults: a wrong version reads it instead of its argument."""
CHAPTER_RNNPROP = RNNprop(hidden=3)


class Setting:
    """opt with some settings replaced (a wrong version writes those values in)."""
    def __init__(self, opt, **settings):
        self.__dict__.update(vars(opt))
        self.__dict__.update(settings)


def col(a):
    """(n,) -> (n, 1)."""
    return xp.reshape(a, (-1, 1))


# -- preprocess_forward ---------------------------------------------------------------------------
def preprocess_loop(grad, mode, p):
    n = grad.shape[0]
    if mode == "none":
        return xp.reshape(grad, (n, 1))
    x = xp.zeros((n, 2), dtype=grad.dtype)
    for i in range(n):
        g = float(grad[i])
        if mode == "log" and abs(g) >= math.exp(-p):
            x[i, 0], x[i, 1] = math.log(abs(g)) / p, math.copysign(1.0, g)
        elif mode == "log":
            x[i, 0], x[i, 1] = -1.0, math.exp(p) * g
        else:
            x[i, 0] = max(math.log(abs(g) + 1e-8) / p, -1.0)
            x[i, 1] = min(max(math.exp(p) * g, -1.0), 1.0)
    return x


def preprocess_vectorised(grad, mode, p):
    if mode == "none":
        return xp.expand_dims(grad, axis=1)
    a, one = xp.abs(grad), xp.ones_like(grad)
    if mode == "clamped":
        return xp.stack([xp.maximum(xp.log(a + 1e-8) / p, -one),
                         xp.minimum(xp.maximum(grad * math.exp(p), -one), one)], axis=-1)
    big = a * math.exp(p) >= 1.0
    return xp.concat([col(xp.where(big, xp.log(xp.where(big, a, one)) / p, -one)),
                      col(xp.where(big, xp.sign(grad), grad * math.exp(p)))], axis=1)


def test_preprocess_forward_right_versions():
    for fn in (library("preprocess_forward"), preprocess_loop, preprocess_vectorised):
        assert_right("preprocess_forward", fn)


def preprocess_p_ten(grad, mode, p):                       # setting: p written in
    return preprocess_vectorised(grad, mode, 10.0)


def preprocess_always_log(grad, mode, p):                  # setting: the mode ignored
    return preprocess_vectorised(grad, "log", p)


def preprocess_clamped_as_log(grad, mode, p):              # setting: 'clamped' run as 'log'
    return preprocess_vectorised(grad, "none" if mode == "none" else "log", p)


def preprocess_none_flat(grad, mode, p):                   # shapes: 'none' gives (n,)
    return grad if mode == "none" else preprocess_vectorised(grad, mode, p)


def preprocess_rows(grad, mode, p):                        # shapes: stacked as rows, (D, n)
    return xp.permute_dims(preprocess_vectorised(grad, mode, p), (1, 0))


def preprocess_six(grad, mode, p):                         # shapes: the chapter's 6 coordinates
    x = xp.zeros((6, 1 if mode == "none" else 2), dtype=grad.dtype)
    n = min(6, grad.shape[0])
    x[:n, :] = preprocess_vectorised(grad, mode, p)[:n, :]
    return x


def preprocess_threshold_ten(grad, mode, p):               # regime: e^-10 as the threshold
    if mode != "log":
        return preprocess_vectorised(grad, mode, p)
    a, one = xp.abs(grad), xp.ones_like(grad)
    big = a >= math.exp(-10.0)
    return xp.stack([xp.where(big, xp.log(xp.where(big, a, one)) / p, -one),
                     xp.where(big, xp.sign(grad), grad * math.exp(p))], axis=1)


def preprocess_clamped_no_eps(grad, mode, p):              # regime: log|g| without its 1e-8
    if mode != "clamped":
        return preprocess_vectorised(grad, mode, p)
    a, one = xp.abs(grad), xp.ones_like(grad)
    safe = xp.where(a > 0, a, one * 1e-30)
    return xp.stack([xp.maximum(xp.log(safe) / p, -one),
                     xp.clip(grad * math.exp(p), -1.0, 1.0)], axis=1)


def preprocess_float64(grad, mode, p):                     # contract: a float64 result
    return xp.astype(preprocess_vectorised(grad, mode, p), xp.float64)


def preprocess_abs_in_place(grad, mode, p):                # contract: grad overwritten by |g|
    x = preprocess_vectorised(grad, mode, p)
    grad[...] = xp.abs(grad)
    return x


def preprocess_no_exp_p(grad, mode, p):                    # math: small branch g, not e^p g
    x = preprocess_vectorised(grad, mode, p)
    if mode != "log":
        return x
    big = xp.abs(grad) >= math.exp(-p)
    return xp.stack([x[:, 0], xp.where(big, x[:, 1], grad)], axis=1)


def preprocess_no_over_p(grad, mode, p):                   # math: log|g|, not log|g| / p
    x = preprocess_vectorised(grad, mode, p)
    if mode != "log":
        return x
    return xp.stack([xp.where(x[:, 0] > -1.0, x[:, 0] * p, x[:, 0]), x[:, 1]], axis=1)


def preprocess_small_zero(grad, mode, p):                  # math: small branch (0, e^p g)
    x = preprocess_vectorised(grad, mode, p)
    if mode != "log":
        return x
    big = xp.abs(grad) >= math.exp(-p)
    return xp.stack([xp.where(big, x[:, 0], xp.zeros_like(grad)), x[:, 1]], axis=1)


def test_preprocess_forward_wrong_versions():
    for fn in (preprocess_p_ten, preprocess_always_log, preprocess_clamped_as_log,
               preprocess_none_flat, preprocess_rows, preprocess_six, preprocess_threshold_ten,
               preprocess_clamped_no_eps, preprocess_float64, preprocess_abs_in_place,
               preprocess_no_exp_p, preprocess_no_over_p, preprocess_small_zero):
        assert_flagged("preprocess_forward", fn)


# -- preprocess_backward --------------------------------------------------------------------------
def preprocess_backward_loop(dx, grad, mode, p):
    n = grad.shape[0]
    d = xp.zeros((n,), dtype=grad.dtype)
    for i in range(n):
        g = float(grad[i])
        if mode == "none":
            d[i] = dx[i, 0]
        elif mode == "log":
            d[i] = dx[i, 0] / (p * g) if abs(g) >= math.exp(-p) else math.exp(p) * dx[i, 1]
        else:
            total = 0.0
            if math.log(abs(g) + 1e-8) / p > -1.0:
                total += float(dx[i, 0]) * math.copysign(1.0, g) * (g != 0) / (p * (abs(g) + 1e-8))
            if abs(math.exp(p) * g) < 1.0:
                total += math.exp(p) * float(dx[i, 1])
            d[i] = total
    return d


def preprocess_backward_vectorised(dx, grad, mode, p):
    if mode == "none":
        return xp.reshape(dx, (-1,))
    a, zero, one = xp.abs(grad), xp.zeros_like(grad), xp.ones_like(grad)
    e = math.exp(p)
    if mode == "log":
        big = a * e >= 1.0
        return xp.where(big, dx[:, 0] / (p * xp.where(big, grad, one)), dx[:, 1] * e)
    on0 = a + 1e-8 > 1.0 / e
    on1 = a * e < 1.0
    return (xp.where(on0, dx[:, 0] * xp.sign(grad) / (p * (a + 1e-8)), zero)
            + xp.where(on1, dx[:, 1] * e, zero))


def test_preprocess_backward_right_versions():
    for fn in (library("preprocess_backward"), preprocess_backward_loop,
               preprocess_backward_vectorised):
        assert_right("preprocess_backward", fn)


def preprocess_backward_p_ten(dx, grad, mode, p):          # setting: p written in
    return preprocess_backward_vectorised(dx, grad, mode, 10.0)


def preprocess_backward_always_log(dx, grad, mode, p):     # setting: the mode ignored
    return preprocess_backward_vectorised(dx, grad, "log", p)


def preprocess_backward_clamped_as_log(dx, grad, mode, p):  # setting: 'clamped' run as 'log'
    return preprocess_backward_vectorised(dx, grad, "log" if mode == "clamped" else mode, p)


def preprocess_backward_none_column(dx, grad, mode, p):    # shapes: 'none' gives (n, 1)
    return dx if mode == "none" else preprocess_backward_vectorised(dx, grad, mode, p)


def preprocess_backward_threshold_ten(dx, grad, mode, p):  # regime: e^-10 as the threshold
    if mode != "log":
        return preprocess_backward_vectorised(dx, grad, mode, p)
    big = xp.abs(grad) >= math.exp(-10.0)
    return xp.where(big, dx[:, 0] / (p * xp.where(big, grad, xp.ones_like(grad))),
                    math.exp(p) * dx[:, 1])


def preprocess_backward_clamped_no_eps(dx, grad, mode, p):  # regime: 1 / (p |g|), no 1e-8
    if mode != "clamped":
        return preprocess_backward_vectorised(dx, grad, mode, p)
    a, zero = xp.abs(grad), xp.zeros_like(grad)
    safe = xp.where(a > 0, grad, xp.ones_like(grad))
    on0 = xp.log(a + 1e-8) / p > -1.0
    return (xp.where(on0 & (a > 0), dx[:, 0] / (p * safe), zero)
            + xp.where(a * math.exp(p) < 1.0, dx[:, 1] * math.exp(p), zero))


def preprocess_backward_clamped_one_channel(dx, grad, mode, p):  # regime: x_1 forgotten
    if mode != "clamped":
        return preprocess_backward_vectorised(dx, grad, mode, p)
    a = xp.abs(grad)
    return xp.where(a + 1e-8 > math.exp(-p), dx[:, 0] * xp.sign(grad) / (p * (a + 1e-8)),
                    xp.zeros_like(grad))


def preprocess_backward_float64(dx, grad, mode, p):        # contract: a float64 result
    return xp.astype(preprocess_backward_vectorised(dx, grad, mode, p), xp.float64)


def preprocess_backward_zeroes_dx(dx, grad, mode, p):      # contract: dx zeroed in place
    d = preprocess_backward_vectorised(dx, grad, mode, p)
    dx[...] = 0
    return d


def preprocess_backward_abs_g(dx, grad, mode, p):          # math: 1 / (p |g|), sign lost
    if mode != "log":
        return preprocess_backward_vectorised(dx, grad, mode, p)
    return preprocess_backward_vectorised(dx, xp.abs(grad), mode, p)


def preprocess_backward_no_exp_p(dx, grad, mode, p):       # math: small branch dx_1
    if mode != "log":
        return preprocess_backward_vectorised(dx, grad, mode, p)
    big = xp.abs(grad) >= math.exp(-p)
    return xp.where(big, dx[:, 0] / (p * xp.where(big, grad, xp.ones_like(grad))), dx[:, 1])


def preprocess_backward_channels_swapped(dx, grad, mode, p):  # math: dx_1 / (p g)
    if mode != "log":
        return preprocess_backward_vectorised(dx, grad, mode, p)
    big = xp.abs(grad) >= math.exp(-p)
    return xp.where(big, dx[:, 1] / (p * xp.where(big, grad, xp.ones_like(grad))),
                    math.exp(p) * dx[:, 0])


def test_preprocess_backward_wrong_versions():
    for fn in (preprocess_backward_p_ten, preprocess_backward_always_log,
               preprocess_backward_clamped_as_log, preprocess_backward_none_column,
               preprocess_backward_threshold_ten, preprocess_backward_clamped_no_eps,
               preprocess_backward_clamped_one_channel, preprocess_backward_float64,
               preprocess_backward_zeroes_dx, preprocess_backward_abs_g,
               preprocess_backward_no_exp_p, preprocess_backward_channels_swapped):
        assert_flagged("preprocess_backward", fn)


# -- dm_step_backward -----------------------------------------------------------------------------
def dm_loop(opt, phi, d_update, d_state, cache, need_d_grad=False):
    """By hand: the read-out, then each LSTM layer from the top with lstm_step_backward."""
    grad, (top, Wout), caches = cache
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_out = opt.output_scale * col(d_update)                          # (n, 1)
    d_phi["Wout"] += xp.permute_dims(top, (1, 0)) @ d_out
    d_phi["bout"] += xp.sum(d_out, axis=0)
    dx, d_prev = d_out @ xp.permute_dims(Wout, (1, 0)), {}
    for layer in range(opt.num_layers, 0, -1):
        dx, dh, dc, dWx, dWh, db = lstm_step_backward(dx + d_state[f"h{layer}"],
                                                      d_state[f"c{layer}"], caches[layer - 1])
        d_phi[f"Wx{layer}"] += dWx
        d_phi[f"Wh{layer}"] += dWh
        d_phi[f"b{layer}"] += db
        d_prev[f"h{layer}"], d_prev[f"c{layer}"] = dh, dc
    if not need_d_grad:
        return d_phi, d_prev, None
    return d_phi, d_prev, preprocess_backward_loop(dx, grad, opt.preprocess, opt.p)


def dm_vectorised(opt, phi, d_update, d_state, cache, need_d_grad=False):
    """The stack's backward pass, the read-out by broadcasting."""
    grad, (top, Wout), caches = cache
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    s = opt.output_scale * d_update                                   # (n,)
    d_phi["Wout"] += col(xp.sum(top * col(s), axis=0))
    d_phi["bout"] += xp.reshape(xp.sum(s), (1,))
    dx, d_prev = lstm_stack_backward(col(s) * xp.reshape(Wout, (1, -1)), d_state, caches, d_phi)
    d_grad = preprocess_backward_vectorised(dx, grad, opt.preprocess, opt.p) \
        if need_d_grad else None
    return d_phi, d_prev, d_grad


def test_dm_step_backward_right_versions():
    for fn in (library("dm_step_backward"), dm_loop, dm_vectorised):
        assert_right("dm_step_backward", fn)


def dm_scale_written_in(opt, phi, d_update, d_state, cache, need_d_grad=False):   # setting
    return dm_vectorised(Setting(opt, output_scale=0.1), phi, d_update, d_state, cache,
                         need_d_grad)


def dm_p_ten(opt, phi, d_update, d_state, cache, need_d_grad=False):              # setting
    d_phi, d_prev, _ = dm_vectorised(opt, phi, d_update, d_state, cache, False)
    if not need_d_grad:
        return d_phi, d_prev, None
    dx, _ = dm_top_dx(opt, phi, d_update, d_state, cache)
    return d_phi, d_prev, preprocess_backward(dx, cache[0], opt.preprocess, 10.0)


def dm_top_dx(opt, phi, d_update, d_state, cache):
    """The library's gradient on the LSTM input x (and d_phi), for the versions below."""
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    _, (top, Wout), caches = cache
    d_top = opt.output_scale * col(d_update) @ xp.permute_dims(Wout, (1, 0))
    dx, _ = lstm_stack_backward(d_top, d_state, caches, d_phi)
    return dx, d_phi


def dm_log_written_in(opt, phi, d_update, d_state, cache, need_d_grad=False):     # setting
    d_phi, d_prev, _ = dm_vectorised(opt, phi, d_update, d_state, cache, False)
    if not need_d_grad:
        return d_phi, d_prev, None
    dx, _ = dm_top_dx(opt, phi, d_update, d_state, cache)
    if dx.shape[1] == 1:
        dx = xp.concat([dx, dx], axis=1)
    return d_phi, d_prev, preprocess_backward(dx, cache[0], "log", opt.p)


def dm_chapter_globals(opt, phi, d_update, d_state, cache, need_d_grad=False):    # globals
    return dm_vectorised(CHAPTER_DM, phi, d_update, d_state, cache, need_d_grad)


def dm_two_layers(opt, phi, d_update, d_state, cache, need_d_grad=False):         # shapes
    return dm_loop(Setting(opt, num_layers=2), phi, d_update, d_state, cache, need_d_grad)


def dm_no_preprocessing(opt, phi, d_update, d_state, cache, need_d_grad=False):   # regime
    d_phi, d_prev, _ = dm_vectorised(opt, phi, d_update, d_state, cache, False)
    if not need_d_grad:
        return d_phi, d_prev, None
    dx, _ = dm_top_dx(opt, phi, d_update, d_state, cache)
    return d_phi, d_prev, dx[:, 0]


def dm_always_d_grad(opt, phi, d_update, d_state, cache, need_d_grad=False):      # contract
    return dm_vectorised(opt, phi, d_update, d_state, cache, True)


def dm_float64(opt, phi, d_update, d_state, cache, need_d_grad=False):            # contract
    d_phi, d_prev, d_grad = dm_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    return ({k: xp.astype(v, xp.float64) for k, v in d_phi.items()}, d_prev,
            None if d_grad is None else xp.astype(d_grad, xp.float64))


def dm_d_state_in_place(opt, phi, d_update, d_state, cache, need_d_grad=False):   # contract
    out = dm_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    for k in d_state:
        d_state[k] *= 0
    return out


def dm_readout_forgotten(opt, phi, d_update, d_state, cache, need_d_grad=False):  # contract
    d_phi, d_prev, d_grad = dm_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    d_phi["Wout"], d_phi["bout"] = xp.zeros_like(phi["Wout"]), xp.zeros_like(phi["bout"])
    return d_phi, d_prev, d_grad


def dm_state_ignored(opt, phi, d_update, d_state, cache, need_d_grad=False):      # math
    zeros = {k: xp.zeros_like(v) for k, v in d_state.items()}
    return dm_vectorised(opt, phi, d_update, zeros, cache, need_d_grad)


def dm_mean_bout(opt, phi, d_update, d_state, cache, need_d_grad=False):          # math
    d_phi, d_prev, d_grad = dm_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    d_phi["bout"] = d_phi["bout"] / d_update.shape[0]
    return d_phi, d_prev, d_grad


def dm_scale_on_top_only(opt, phi, d_update, d_state, cache, need_d_grad=False):  # math
    d_phi, d_prev, d_grad = dm_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    d_phi["Wout"] = d_phi["Wout"] / opt.output_scale
    return d_phi, d_prev, d_grad


def dm_top_state_only(opt, phi, d_update, d_state, cache, need_d_grad=False):     # math
    """The top layer's own state gradient added, the lower layers' forgotten."""
    top = f"h{opt.num_layers}"
    kept = {k: v if k == top or k[0] == "c" else xp.zeros_like(v) for k, v in d_state.items()}
    return dm_vectorised(opt, phi, d_update, kept, cache, need_d_grad)


def test_dm_step_backward_wrong_versions():
    for fn in (dm_scale_written_in, dm_p_ten, dm_log_written_in, dm_chapter_globals,
               dm_two_layers, dm_no_preprocessing, dm_always_d_grad, dm_float64,
               dm_d_state_in_place, dm_readout_forgotten, dm_state_ignored, dm_mean_bout,
               dm_scale_on_top_only, dm_top_state_only):
        assert_flagged("dm_step_backward", fn)


# -- rnnprop_relative_inputs ----------------------------------------------------------------------
def relative_loop(opt, grad, state):
    n, t = grad.shape[0], state["t"] + 1
    m, v = xp.zeros_like(grad), xp.zeros_like(grad)
    sqrt_v, denom, x = xp.zeros_like(grad), xp.zeros_like(grad), xp.zeros((n, 2), dtype=grad.dtype)
    c1, c2 = 1.0 - opt.beta1 ** t, 1.0 - opt.beta2 ** t
    for i in range(n):
        g = float(grad[i])
        mi = opt.beta1 * float(state["m"][i]) + (1 - opt.beta1) * g
        vi = opt.beta2 * float(state["v"][i]) + (1 - opt.beta2) * g * g
        si = math.sqrt(vi / c2)
        m[i], v[i], sqrt_v[i], denom[i] = mi, vi, si, si + opt.eps
        x[i, 0], x[i, 1] = mi / c1 / (si + opt.eps), g / (si + opt.eps)
    return x, (t, m, v, c1, c2, sqrt_v, denom)


def relative_vectorised(opt, grad, state):
    t = state["t"] + 1
    m = state["m"] + (1.0 - opt.beta1) * (grad - state["m"])
    v = state["v"] + (1.0 - opt.beta2) * (grad * grad - state["v"])
    c1, c2 = 1.0 - opt.beta1 ** t, 1.0 - opt.beta2 ** t
    sqrt_v = xp.sqrt(v) / math.sqrt(c2)
    denom = sqrt_v + opt.eps
    return xp.concat([col(m / (c1 * denom)), col(grad / denom)], axis=1), \
        (t, m, v, c1, c2, sqrt_v, denom)


def test_rnnprop_relative_inputs_right_versions():
    for fn in (library("rnnprop_relative_inputs"), relative_loop, relative_vectorised):
        assert_right("rnnprop_relative_inputs", fn)


def relative_beta1_written_in(opt, grad, state):          # setting
    return relative_vectorised(Setting(opt, beta1=0.95), grad, state)


def relative_eps_written_in(opt, grad, state):            # setting
    return relative_vectorised(Setting(opt, eps=1e-8), grad, state)


def relative_chapter_globals(opt, grad, state):           # globals: the chapter's optimizer
    return relative_vectorised(CHAPTER_RNNPROP, grad, state)


def relative_rows(opt, grad, state):                      # shapes: x as (2, n)
    x, parts = relative_vectorised(opt, grad, state)
    return xp.permute_dims(x, (1, 0)), parts


def eps_placed(opt, grad, state, sqrt_of):
    """relative_vectorised with denom = sqrt_of(v^, eps) (a misplaced eps)."""
    x, (t, m, v, c1, c2, sqrt_v, denom) = relative_vectorised(opt, grad, state)
    denom = sqrt_of(v / c2, opt.eps)
    return xp.stack([m / c1 / denom, grad / denom], axis=1), (t, m, v, c1, c2, sqrt_v, denom)


def relative_eps_inside_sqrt(opt, grad, state):           # regime: sqrt(v^ + eps)
    return eps_placed(opt, grad, state, lambda v_hat, eps: xp.sqrt(v_hat + eps))


def relative_eps_squared_inside(opt, grad, state):        # regime: sqrt(v^ + eps^2)
    return eps_placed(opt, grad, state, lambda v_hat, eps: xp.sqrt(v_hat + eps * eps))


def relative_eps_before_correction(opt, grad, state):     # regime: sqrt(v) + eps, then / c2
    x, (t, m, v, c1, c2, sqrt_v, denom) = relative_vectorised(opt, grad, state)
    denom = (xp.sqrt(v) + opt.eps) / math.sqrt(c2)
    return xp.stack([m / c1 / denom, grad / denom], axis=1), (t, m, v, c1, c2, sqrt_v, denom)


def relative_float64(opt, grad, state):                   # contract
    x, parts = relative_vectorised(opt, grad, state)
    return xp.astype(x, xp.float64), parts


def relative_state_updated(opt, grad, state):             # contract: the state written into
    x, parts = relative_vectorised(opt, grad, state)
    state["m"], state["v"], state["t"] = parts[1], parts[2], parts[0]
    return x, parts


def relative_uncorrected_sqrt_v(opt, grad, state):        # contract: one part wrong
    x, (t, m, v, c1, c2, sqrt_v, denom) = relative_vectorised(opt, grad, state)
    return x, (t, m, v, c1, c2, xp.sqrt(v), denom)


def relative_denom_without_eps(opt, grad, state):         # contract: one part wrong
    x, (t, m, v, c1, c2, sqrt_v, denom) = relative_vectorised(opt, grad, state)
    return x, (t, m, v, c1, c2, sqrt_v, sqrt_v)


def relative_t_not_counted(opt, grad, state):             # math: t_prev for t
    x, parts = relative_vectorised(opt, grad, state)
    return x, (state["t"], *parts[1:])


def relative_no_correction(opt, grad, state):             # math: no bias correction
    m = opt.beta1 * state["m"] + (1 - opt.beta1) * grad
    v = opt.beta2 * state["v"] + (1 - opt.beta2) * grad * grad
    denom = xp.sqrt(v) + opt.eps
    return xp.stack([m / denom, grad / denom], axis=1), \
        (state["t"] + 1, m, v, 1.0, 1.0, xp.sqrt(v), denom)


def relative_beta1_for_v(opt, grad, state):               # math: beta1 in v's average
    return relative_vectorised(Setting(opt, beta2=opt.beta1), grad, state)


def relative_m_hat_in_x1(opt, grad, state):               # math: x_1 = m^ / denom as well
    x, parts = relative_vectorised(opt, grad, state)
    return xp.stack([x[:, 0], x[:, 0]], axis=1), parts


def test_rnnprop_relative_inputs_wrong_versions():
    for fn in (relative_beta1_written_in, relative_eps_written_in, relative_chapter_globals,
               relative_rows, relative_eps_inside_sqrt, relative_eps_squared_inside,
               relative_eps_before_correction, relative_float64, relative_state_updated,
               relative_uncorrected_sqrt_v, relative_denom_without_eps, relative_t_not_counted,
               relative_no_correction, relative_beta1_for_v, relative_m_hat_in_x1):
        assert_flagged("rnnprop_relative_inputs", fn)


# -- rnnprop_relative_inputs_backward -------------------------------------------------------------
def relative_backward_loop(opt, d_x, grad, d_state, parts):
    t, m, v, c1, c2, sqrt_v, denom = parts
    n = grad.shape[0]
    d_m_prev, d_v_prev, d_grad = (xp.zeros_like(grad) for _ in range(3))
    for i in range(n):
        g, D, s = float(grad[i]), float(denom[i]), float(sqrt_v[i])
        d_denom = -(float(d_x[i, 0]) * float(m[i]) / c1 + float(d_x[i, 1]) * g) / D ** 2
        dv = (d_denom / (2 * s * c2) if s > 0 else 0.0) + float(d_state["v"][i])
        dm = float(d_x[i, 0]) / (D * c1) + float(d_state["m"][i])
        d_grad[i] = float(d_x[i, 1]) / D + (1 - opt.beta1) * dm + 2 * (1 - opt.beta2) * g * dv
        d_m_prev[i], d_v_prev[i] = opt.beta1 * dm, opt.beta2 * dv
    return d_m_prev, d_v_prev, d_grad


def relative_backward_vectorised(opt, d_x, grad, d_state, parts):
    t, m, v, c1, c2, sqrt_v, denom = parts
    inv = 1.0 / denom                                                 # (n,)
    d_sqrt = -(d_x[:, 0] * m / c1 + d_x[:, 1] * grad) * inv * inv     # d denom = d sqrt_v
    d_v = d_sqrt * 0.5 / (sqrt_v * c2) + d_state["v"]
    d_m = d_x[:, 0] * inv / c1 + d_state["m"]
    d_grad = d_x[:, 1] * inv + (1.0 - opt.beta1) * d_m + (2.0 - 2.0 * opt.beta2) * grad * d_v
    return opt.beta1 * d_m, opt.beta2 * d_v, d_grad


def test_rnnprop_relative_inputs_backward_right_versions():
    for fn in (library("rnnprop_relative_inputs_backward"), solutions.my_relative_inputs_backward,
               relative_backward_loop, relative_backward_vectorised):
        assert_right("rnnprop_relative_inputs_backward", fn)


def relative_backward_beta1_written_in(opt, d_x, grad, d_state, parts):   # setting
    return relative_backward_vectorised(Setting(opt, beta1=0.95), d_x, grad, d_state, parts)


def relative_backward_beta2_written_in(opt, d_x, grad, d_state, parts):   # setting
    return relative_backward_vectorised(Setting(opt, beta2=0.95), d_x, grad, d_state, parts)


def relative_backward_chapter_globals(opt, d_x, grad, d_state, parts):    # globals
    return relative_backward_vectorised(CHAPTER_RNNPROP, d_x, grad, d_state, parts)


def relative_backward_columns_as_rows(opt, d_x, grad, d_state, parts):    # shapes: d_x (2, n)
    return relative_backward_vectorised(opt, xp.permute_dims(xp.reshape(
        d_x, (2, -1)), (1, 0)), grad, d_state, parts)


def relative_backward_sqrt_v_for_denom(opt, d_x, grad, d_state, parts):   # regime: eps dropped
    t, m, v, c1, c2, sqrt_v, denom = parts
    return relative_backward_vectorised(opt, d_x, grad, d_state,
                                        (t, m, v, c1, c2, sqrt_v, sqrt_v))


def relative_backward_float64(opt, d_x, grad, d_state, parts):            # contract
    return tuple(xp.astype(a, xp.float64)
                 for a in relative_backward_vectorised(opt, d_x, grad, d_state, parts))


def relative_backward_zeroes_d_x(opt, d_x, grad, d_state, parts):         # contract
    out = relative_backward_vectorised(opt, d_x, grad, d_state, parts)
    d_x[...] = 0
    return out


def relative_backward_no_next_m(opt, d_x, grad, d_state, parts):          # math (tests)
    return relative_backward_vectorised(opt, d_x, grad, {**d_state, "m": 0.0 * d_state["m"]},
                                        parts)


def relative_backward_no_next_v(opt, d_x, grad, d_state, parts):          # math
    return relative_backward_vectorised(opt, d_x, grad, {**d_state, "v": 0.0 * d_state["v"]},
                                        parts)


def relative_backward_beta1_for_one_minus(opt, d_x, grad, d_state, parts):   # math (tests)
    d_m_prev, d_v_prev, d_grad = relative_backward_vectorised(opt, d_x, grad, d_state, parts)
    d_m = d_m_prev / opt.beta1                     # d_grad's beta1 d m for (1 - beta1) d m
    return d_m_prev, d_v_prev, d_grad + (2.0 * opt.beta1 - 1.0) * d_m


def relative_backward_no_c2(opt, d_x, grad, d_state, parts):              # math (tests)
    t, m, v, c1, c2, sqrt_v, denom = parts
    return relative_backward_vectorised(opt, d_x, grad, d_state, (t, m, v, c1, 1.0, sqrt_v, denom))


def relative_backward_unscaled_prev(opt, d_x, grad, d_state, parts):      # math: d m, not
    d_m_prev, d_v_prev, d_grad = relative_backward_vectorised(opt, d_x, grad, d_state, parts)
    return d_m_prev / opt.beta1, d_v_prev / opt.beta2, d_grad             # beta1 d m


def relative_backward_no_factor_two(opt, d_x, grad, d_state, parts):      # math
    d_m_prev, d_v_prev, d_grad = relative_backward_vectorised(opt, d_x, grad, d_state, parts)
    return d_m_prev, d_v_prev, d_grad - (1.0 - opt.beta2) * grad * d_v_prev / opt.beta2


def test_rnnprop_relative_inputs_backward_wrong_versions():
    for fn in (relative_backward_beta1_written_in, relative_backward_beta2_written_in,
               relative_backward_chapter_globals, relative_backward_columns_as_rows,
               relative_backward_sqrt_v_for_denom, relative_backward_float64,
               relative_backward_zeroes_d_x, relative_backward_no_next_m,
               relative_backward_no_next_v, relative_backward_beta1_for_one_minus,
               relative_backward_no_c2, relative_backward_unscaled_prev,
               relative_backward_no_factor_two):
        assert_flagged("rnnprop_relative_inputs_backward", fn)


# -- rnnprop_step_backward ------------------------------------------------------------------------
def rnnprop_loop(opt, phi, d_update, d_state, cache, need_d_grad=False,
                 relative_backward=relative_backward_loop, layers=None):
    """By hand: tanh, the read-out, each LSTM layer from the top, ELU, the input layer."""
    grad, parts, layer_in, elu_cache, caches, readout, tanh_cache = cache
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_out = tanh_backward(col(-opt.alpha * d_update), tanh_cache)     # (n, 1)
    d_top, dWout, dbout = linear_backward(d_out, readout)
    d_phi["Wout"] += dWout
    d_phi["bout"] += dbout
    dz, d_prev = d_top, {}
    for layer in range(layers or opt.num_layers, 0, -1):
        dz, dh, dc, dWx, dWh, db = lstm_step_backward(dz + d_state[f"h{layer}"],
                                                      d_state[f"c{layer}"], caches[layer - 1])
        d_phi[f"Wx{layer}"] += dWx
        d_phi[f"Wh{layer}"] += dWh
        d_phi[f"b{layer}"] += db
        d_prev[f"h{layer}"], d_prev[f"c{layer}"] = dh, dc
    d_x, dWin, dbin = linear_backward(elu_backward(dz, elu_cache), layer_in)
    d_phi["Win"] += dWin
    d_phi["bin"] += dbin
    d_prev["m"], d_prev["v"], d_grad = relative_backward(opt, d_x, grad, d_state, parts)
    d_prev["t"] = 0
    return d_phi, d_prev, d_grad if need_d_grad else None


def rnnprop_vectorised(opt, phi, d_update, d_state, cache, need_d_grad=False,
                       tanh_grad=lambda y: 1.0 - y * y, elu_grad=lambda z, alpha: z + alpha):
    """The stack's backward pass; the read-out and ELU written out; m, v left at 0 when d grad
    is not needed. tanh_grad, elu_grad: the derivatives from the outputs (for wrong versions)."""
    grad, parts, (x, Win), (z, alpha), caches, (top, Wout), y = cache
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_o = col(-opt.alpha * d_update) * tanh_grad(y)                   # (n, 1)
    d_phi["Wout"] += xp.permute_dims(top, (1, 0)) @ d_o
    d_phi["bout"] += xp.sum(d_o, axis=0)
    d_z, d_prev = lstm_stack_backward(d_o * xp.reshape(Wout, (1, -1)), d_state, caches, d_phi)
    d_pre = xp.where(z > 0, d_z, d_z * elu_grad(z, alpha))
    d_phi["Win"] += xp.permute_dims(x, (1, 0)) @ d_pre
    d_phi["bin"] += xp.sum(d_pre, axis=0)
    d_prev["t"] = 0
    if not need_d_grad:
        d_prev["m"] = d_prev["v"] = 0.0
        return d_phi, d_prev, None
    d_prev["m"], d_prev["v"], d_grad = relative_backward_vectorised(
        opt, d_pre @ xp.permute_dims(Win, (1, 0)), grad, d_state, parts)
    return d_phi, d_prev, d_grad


def test_rnnprop_step_backward_right_versions():
    for fn in (library("rnnprop_step_backward"), solutions.my_rnnprop_step_backward,
               rnnprop_loop, rnnprop_vectorised):
        assert_right("rnnprop_step_backward", fn)


def rnnprop_alpha_written_in(opt, phi, d_update, d_state, cache, need_d_grad=False):   # setting
    return rnnprop_vectorised(Setting(opt, alpha=0.1), phi, d_update, d_state, cache, need_d_grad)


def rnnprop_betas_written_in(opt, phi, d_update, d_state, cache, need_d_grad=False):   # setting
    return rnnprop_vectorised(Setting(opt, beta1=0.95, beta2=0.95), phi, d_update, d_state,
                              cache, need_d_grad)


def rnnprop_chapter_globals(opt, phi, d_update, d_state, cache, need_d_grad=False):    # globals
    return rnnprop_loop(CHAPTER_RNNPROP, phi, d_update, d_state, cache, need_d_grad,
                        layers=opt.num_layers)


def rnnprop_two_layers(opt, phi, d_update, d_state, cache, need_d_grad=False):         # shapes
    return rnnprop_loop(opt, phi, d_update, d_state, cache, need_d_grad, layers=2)


def rnnprop_eps_dropped(opt, phi, d_update, d_state, cache, need_d_grad=False):        # regime
    return rnnprop_loop(opt, phi, d_update, d_state, cache, need_d_grad,
                        relative_backward=relative_backward_sqrt_v_for_denom)


def rnnprop_float64(opt, phi, d_update, d_state, cache, need_d_grad=False):            # contract
    d_phi, d_prev, d_grad = rnnprop_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    return {k: xp.astype(v, xp.float64) for k, v in d_phi.items()}, d_prev, d_grad


def rnnprop_d_state_in_place(opt, phi, d_update, d_state, cache, need_d_grad=False):   # contract
    out = rnnprop_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    d_state["m"] *= 0
    return out


def rnnprop_moments_dropped(opt, phi, d_update, d_state, cache, need_d_grad=False):    # contract
    d_phi, d_prev, d_grad = rnnprop_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    return d_phi, {k: v for k, v in d_prev.items() if k not in ("m", "v")}, d_grad


def rnnprop_no_next_m(opt, phi, d_update, d_state, cache, need_d_grad=False):          # math
    return rnnprop_loop(opt, phi, d_update, d_state, cache, need_d_grad,
                        relative_backward=relative_backward_no_next_m)


def rnnprop_elu_derivative(opt, phi, d_update, d_state, cache, need_d_grad=False):     # math
    return rnnprop_vectorised(opt, phi, d_update, d_state, cache, need_d_grad,
                              elu_grad=lambda z, alpha: z)


def rnnprop_tanh_not_squared(opt, phi, d_update, d_state, cache, need_d_grad=False):   # math
    return rnnprop_vectorised(opt, phi, d_update, d_state, cache, need_d_grad,
                              tanh_grad=lambda y: 1.0 - y)


def rnnprop_mean_bin(opt, phi, d_update, d_state, cache, need_d_grad=False):           # math
    d_phi, d_prev, d_grad = rnnprop_vectorised(opt, phi, d_update, d_state, cache, need_d_grad)
    d_phi["bin"] = d_phi["bin"] / d_update.shape[0]
    return d_phi, d_prev, d_grad


def test_rnnprop_step_backward_wrong_versions():
    for fn in (rnnprop_alpha_written_in, rnnprop_betas_written_in, rnnprop_chapter_globals,
               rnnprop_two_layers, rnnprop_eps_dropped, rnnprop_float64,
               rnnprop_d_state_in_place, rnnprop_moments_dropped, rnnprop_no_next_m,
               rnnprop_elu_derivative, rnnprop_tanh_not_squared, rnnprop_mean_bin):
        assert_flagged("rnnprop_step_backward", fn)
