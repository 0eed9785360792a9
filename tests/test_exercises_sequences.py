"""Chapters 3, 7 and 8's backward passes (one LSTM step, BPTT, the convolution, the Gram matrix):
the library, the tutorials' solution, a loop and a vectorised version pass every case; wrong
versions of each category of mistake are flagged: a size of the chapter written in, one shape only,
a regime where the mistake hides, a broken contract (dtype, an input changed in place), plain math.
"""
import pathlib
import sys

import numpy as np
import pytest

from minil2o import convolution, lstm, workbook
from minil2o.backend import asarray, xp
from exercise_tools import assert_flagged, assert_right, library

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tutorials"))
import solutions  # noqa: E402


def ids(fn):
    return fn.__name__


# -- lstm_step_backward -------------------------------------------------------------------------
def step_loop(dh, dc, cache):
    """Row by row and gate by gate, every product written out."""
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    N, H = dh.shape
    dx, dh_prev, dc_prev = xp.zeros_like(x), xp.zeros_like(h_prev), xp.zeros_like(c_prev)
    dWx, dWh, db = xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(Wx[0, :])
    for n in range(N):
        dct = dc[n, :] + dh[n, :] * o[n, :] * (1.0 - tanh_c[n, :] ** 2)
        parts = [dct * g[n, :] * i[n, :] * (1.0 - i[n, :]),
                 dct * c_prev[n, :] * f[n, :] * (1.0 - f[n, :]),
                 dh[n, :] * tanh_c[n, :] * o[n, :] * (1.0 - o[n, :]),
                 dct * i[n, :] * (1.0 - g[n, :] ** 2)]
        da = xp.concat(parts)                                          # (4H,)
        dx[n, :] = Wx @ da
        dh_prev[n, :] = Wh @ da
        dc_prev[n, :] = dct * f[n, :]
        dWx += xp.reshape(x[n, :], (-1, 1)) * xp.reshape(da, (1, -1))
        dWh += xp.reshape(h_prev[n, :], (-1, 1)) * xp.reshape(da, (1, -1))
        db += da
    return dx, dh_prev, dc_prev, dWx, dWh, db


def step_vectorised(dh, dc, cache):
    """The gates stacked first, their derivatives taken on the stack, one product for the input
    and hidden rows together."""
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    D = x.shape[1]
    dct = dc + dh * o * (1.0 - tanh_c * tanh_c)
    local = xp.concat([i * (1.0 - i), f * (1.0 - f), o * (1.0 - o), 1.0 - g * g], axis=1)
    upstream = xp.concat([dct * g, dct * c_prev, dh * tanh_c, dct * i], axis=1)
    da = upstream * local                                              # (N, 4H)
    xh = xp.concat([x, h_prev], axis=1)                                # (N, D + H)
    W = xp.concat([Wx, Wh], axis=0)                                    # (D + H, 4H)
    dxh, dW = da @ xp.permute_dims(W, (1, 0)), xp.permute_dims(xh, (1, 0)) @ da
    return dxh[:, :D], dxh[:, D:], dct * f, dW[:D, :], dW[D:, :], xp.sum(da, axis=0)


@pytest.mark.parametrize("fn", [library("lstm_step_backward"), solutions.my_lstm_step_backward,
                                step_loop, step_vectorised], ids=ids)
def test_lstm_step_backward_right_versions(fn):
    assert_right("lstm_step_backward", fn)


# chapter 3's module-level cells (tutorials/03_lstm.py), which a learner's function may read:
# drawn in the chapter's order from its seed, so Wx and Wh hold the chapter's numbers
_chapter = np.random.default_rng(0)
N, D, H = 2, 3, 4
_chapter_x, _chapter_h, _chapter_c = (_chapter.standard_normal(s)
                                      for s in ((N, D), (N, H), (N, H)))
Wx, Wh = 0.5 * _chapter.standard_normal((D, 4 * H)), 0.5 * _chapter.standard_normal((H, 4 * H))


def step_da(dh, dc, cache):
    """da of (3.7), right: where the wrong versions below start when their mistake comes later."""
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dct = dc + dh * o * (1.0 - tanh_c * tanh_c)
    return xp.concat([dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f),
                      dh * tanh_c * o * (1.0 - o), dct * i * (1.0 - g * g)], axis=1), dct


def step_chapter_globals(dh, dc, cache):           # globals: chapter 3's N, H, Wx, Wh
    x, h_prev, c_prev, _, _, i, f, o, g, tanh_c = cache
    da, dct = step_da(dh, dc, cache)
    Wx_, Wh_ = asarray(Wx, dtype=x.dtype), asarray(Wh, dtype=x.dtype)
    db = xp.sum(xp.reshape(da, (N, 4 * H)), axis=0)
    return da @ Wx_.T, da @ Wh_.T, dct * f, x.T @ da, h_prev.T @ da, db


def step_h_is_4(dh, dc, cache):                    # one shape: H = 4 written in
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dct = dc + dh * o * (1.0 - tanh_c * tanh_c)
    da = xp.zeros((x.shape[0], 16), dtype=x.dtype)
    da[:, 0:4] = dct * g * i * (1.0 - i)
    da[:, 4:8] = dct * c_prev * f * (1.0 - f)
    da[:, 8:12] = dh * tanh_c * o * (1.0 - o)
    da[:, 12:16] = dct * i * (1.0 - g * g)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_first_row(dh, dc, cache):                 # one shape: a batch of one row
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    da, dct = step_da(dh, dc, cache)
    return (da @ Wx.T, da @ Wh.T, dct * f, x[0:1, :].T @ da[0:1, :], h_prev[0:1, :].T @ da[0:1, :],
            da[0, :])


def step_x_for_h_prev(dh, dc, cache):              # shapes: D = H assumed (x and h_prev swapped)
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    da, dct = step_da(dh, dc, cache)
    return da @ Wx.T, da @ Wh.T, dct * f, h_prev.T @ da, x.T @ da, xp.sum(da, axis=0)


def step_no_35(dh, dc, cache):                     # regime: (3.5)'s term through h missing
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dct = dc
    da = xp.concat([dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f),
                    dh * tanh_c * o * (1.0 - o), dct * i * (1.0 - g * g)], axis=1)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_dc_prev_from_dc(dh, dc, cache):           # regime: dc_prev = dc f (right when dh = 0)
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    da, dct = step_da(dh, dc, cache)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_do_from_cell(dh, dc, cache):              # math: do from dc_total for dh
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dct = dc + dh * o * (1.0 - tanh_c * tanh_c)
    da = xp.concat([dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f),
                    dct * tanh_c * o * (1.0 - o), dct * i * (1.0 - g * g)], axis=1)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_float64(dh, dc, cache):                   # contract: float64 accumulators
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    da, dct = step_da(dh, dc, cache)
    dWx, dWh, db = xp.zeros(Wx.shape), xp.zeros(Wh.shape), xp.zeros(Wx.shape[1])
    dWx += x.T @ da
    dWh += h_prev.T @ da
    db += xp.sum(da, axis=0)
    return da @ Wx.T, da @ Wh.T, dct * f, dWx, dWh, db


def step_adds_into_dc(dh, dc, cache):              # contract: dc changed in place (+=)
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dc += dh * o * (1.0 - tanh_c * tanh_c)
    da = xp.concat([dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f),
                    dh * tanh_c * o * (1.0 - o), dc * i * (1.0 - g * g)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_gates_swapped(dh, dc, cache):             # math: input and forget gates swapped
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dct = dc + dh * o * (1.0 - tanh_c * tanh_c)
    da = xp.concat([dct * c_prev * f * (1.0 - f), dct * g * i * (1.0 - i),
                    dh * tanh_c * o * (1.0 - o), dct * i * (1.0 - g * g)], axis=1)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_gate_order_ifgo(dh, dc, cache):           # math: blocks stacked i, f, g, o
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dct = dc + dh * o * (1.0 - tanh_c * tanh_c)
    da = xp.concat([dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f),
                    dct * i * (1.0 - g * g), dh * tanh_c * o * (1.0 - o)], axis=1)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_mean_for_sum(dh, dc, cache):              # math: db a mean over the rows
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    da, dct = step_da(dh, dc, cache)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, xp.mean(da, axis=0)


def step_tanh_not_squared(dh, dc, cache):          # math: 1 - tanh(c) for 1 - tanh(c)^2
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dct = dc + dh * o * (1.0 - tanh_c)
    da = xp.concat([dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f),
                    dh * tanh_c * o * (1.0 - o), dct * i * (1.0 - g * g)], axis=1)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_sigmoid_for_g(dh, dc, cache):             # math: sigma' for the candidate's tanh'
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dct = dc + dh * o * (1.0 - tanh_c * tanh_c)
    da = xp.concat([dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f),
                    dh * tanh_c * o * (1.0 - o), dct * i * g * (1.0 - g)], axis=1)
    return da @ Wx.T, da @ Wh.T, dct * f, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def step_dc_prev_no_f(dh, dc, cache):              # math: dc_prev without the forget gate
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    da, dct = step_da(dh, dc, cache)
    return da @ Wx.T, da @ Wh.T, dct, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


@pytest.mark.parametrize("fn", [
    step_chapter_globals, step_h_is_4, step_first_row, step_x_for_h_prev, step_no_35,
    step_dc_prev_from_dc, step_do_from_cell, step_float64, step_adds_into_dc, step_gates_swapped,
    step_gate_order_ifgo, step_mean_for_sum, step_tanh_not_squared, step_sigmoid_for_g,
    step_dc_prev_no_f], ids=ids)
def test_lstm_step_backward_wrong_versions(fn):
    assert_flagged("lstm_step_backward", fn)


# -- lstm_backward ------------------------------------------------------------------------------
def bptt_explicit(dh, caches):
    """Steps collected in a list and reversed, the sums started from zero arrays."""
    T = dh.shape[1]
    x, h_prev, c_prev, Wx, Wh = caches[0][:5]
    dWx, dWh, db = xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(Wx[0, :])
    dh_next, dc_next = xp.zeros_like(h_prev), xp.zeros_like(c_prev)
    dxs = []
    t = T - 1
    while t >= 0:
        dx_t, dh_next, dc_next, dWx_t, dWh_t, db_t = lstm.lstm_step_backward(
            dh[:, t, :] + dh_next, dc_next, caches[t])
        dxs.append(dx_t)
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        t -= 1
    return xp.stack(dxs[::-1], axis=1), dh_next, dWx, dWh, db


def bptt_own_step(dh, caches):
    """With the learner's own (vectorised) step, the sequence gradient written into one array."""
    N, T, H = dh.shape
    D = caches[0][0].shape[1]
    dx = xp.zeros((N, T, D), dtype=dh.dtype)
    dh_next, dc_next = xp.zeros_like(dh[:, 0, :]), xp.zeros_like(dh[:, 0, :])
    sums = None
    for t in range(T - 1, -1, -1):
        dx_t, dh_next, dc_next, *dW = step_vectorised(dh[:, t, :] + dh_next, dc_next, caches[t])
        dx[:, t, :] = dx_t
        sums = dW if sums is None else [s + d for s, d in zip(sums, dW)]
    return (dx, dh_next, *sums)


@pytest.mark.parametrize("fn", [library("lstm_backward"), solutions.my_lstm_backward,
                                bptt_explicit, bptt_own_step], ids=ids)
def test_lstm_backward_right_versions(fn):
    assert_right("lstm_backward", fn)


def bptt(dh, caches, steps=None, carry_h=True, carry_c=True, add=True, order=None, stack_axis=1):
    """The loop of (3.10) with one mistake switched on (the wrong versions below)."""
    T = dh.shape[1] if steps is None else steps
    dh_next = xp.zeros_like(dh[:, 0, :])
    dc_next = xp.zeros_like(dh_next)
    dxs, dWx, dWh, db = [None] * T, 0.0, 0.0, 0.0
    for t in order or range(T - 1, -1, -1):
        dxs[t], dh_prev, dc_prev, dWx_t, dWh_t, db_t = lstm.lstm_step_backward(
            dh[:, t, :] + dh_next, dc_next, caches[t])
        dh_next = dh_prev if carry_h else 0.0 * dh_prev
        dc_next = dc_prev if carry_c else 0.0 * dc_prev
        dWx, dWh, db = (dWx + dWx_t, dWh + dWh_t, db + db_t) if add else (dWx_t, dWh_t, db_t)
    return xp.stack(dxs, axis=stack_axis), dh_next, dWx, dWh, db


def bptt_t_is_5(dh, caches):                       # globals: chapter 3's T = 5 written in
    return bptt(dh, caches, steps=5)


def bptt_chapter_sizes(dh, caches):                # globals: chapter 3's N, H for the zeros
    dh_next, dc_next = xp.zeros((N, H), dtype=dh.dtype), xp.zeros((N, H), dtype=dh.dtype)
    T = dh.shape[1]
    dxs, dWx, dWh, db = [None] * T, 0.0, 0.0, 0.0
    for t in range(T - 1, -1, -1):
        dxs[t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm.lstm_step_backward(
            dh[:, t, :] + dh_next, dc_next, caches[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return xp.stack(dxs, axis=1), dh_next, dWx, dWh, db


def bptt_time_first(dh, caches):                   # shapes: dx stacked (T, N, D)
    return bptt(dh, caches, stack_axis=0)


def bptt_no_carried_h(dh, caches):                 # regime: dh_prev not carried (T = 1 hides it)
    return bptt(dh, caches, carry_h=False)


def bptt_no_carried_c(dh, caches):                 # regime: the cell gradient dropped
    return bptt(dh, caches, carry_c=False)


def bptt_last_weights(dh, caches):                 # regime: weight gradients not summed over t
    return bptt(dh, caches, add=False)


def bptt_forward_order(dh, caches):                # regime: steps walked t = 0, ..., T-1
    return bptt(dh, caches, order=range(dh.shape[1]))


def bptt_last_cache(dh, caches):                   # regime: the last step's cache at every t
    return bptt(dh, [caches[-1]] * len(caches))


def bptt_float64(dh, caches):                      # contract: float64 sums on float32
    dx, dh0, dWx, dWh, db = bptt(dh, caches)
    acc = [xp.zeros(a.shape, dtype=xp.float64) for a in (dWx, dWh, db)]
    return (dx, dh0, *[a + xp.astype(g, xp.float64) for a, g in zip(acc, (dWx, dWh, db))])


def bptt_adds_into_dh(dh, caches):                 # contract: dh changed in place
    T = dh.shape[1]
    dc_next = xp.zeros_like(dh[:, 0, :])
    dxs, dWx, dWh, db = [None] * T, 0.0, 0.0, 0.0
    dh_prev = None
    for t in range(T - 1, -1, -1):
        dxs[t], dh_prev, dc_next, dWx_t, dWh_t, db_t = lstm.lstm_step_backward(
            dh[:, t, :], dc_next, caches[t])
        if t > 0:
            dh[:, t - 1, :] += dh_prev
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return xp.stack(dxs, axis=1), dh_prev, dWx, dWh, db


def bptt_dh0_is_dh(dh, caches):                    # math: dh0 is the gradient on h_1
    dx, _, dWx, dWh, db = bptt(dh, caches)
    return dx, dh[:, 0, :], dWx, dWh, db


def bptt_mean_over_t(dh, caches):                  # math: weight gradients averaged over t
    dx, dh0, dWx, dWh, db = bptt(dh, caches)
    T = dh.shape[1]
    return dx, dh0, dWx / T, dWh / T, db / T


@pytest.mark.parametrize("fn", [
    bptt_t_is_5, bptt_chapter_sizes, bptt_time_first, bptt_no_carried_h, bptt_no_carried_c,
    bptt_last_weights, bptt_forward_order, bptt_last_cache, bptt_float64, bptt_adds_into_dh,
    bptt_dh0_is_dh, bptt_mean_over_t], ids=ids)
def test_lstm_backward_wrong_versions(fn):
    assert_flagged("lstm_backward", fn)


def test_lstm_backward_names_chapter_t():
    """A loop over the chapter's T = 5 is named with the case's T and the hint."""
    result = assert_flagged("lstm_backward", bptt_t_is_5)
    assert result.case.settings["T"] != 5 and result.case.defaults == {"T": 5}
    line = result.line()
    assert "T is not its default 5" in line or "off their defaults: T" in line


# -- conv2d_backward ----------------------------------------------------------------------------
def conv_centre(cols, x_shape, k):
    """x recovered from the im2col matrix: the kernel's centre offset copies x itself."""
    N, C, H, W = x_shape
    p = (k - 1) // 2
    centre = xp.reshape(cols, (C, k * k, N, H, W))[:, p * k + p, :, :, :]  # (C, N, H, W)
    return xp.permute_dims(centre, (1, 0, 2, 3))


def conv_loop(dout, cache):
    """Offset by offset (i, j) of the kernel: each is a 1 x 1 convolution of a shifted image."""
    x_shape, cols, w = cache
    N, C, H, W = x_shape
    F, k = w.shape[0], w.shape[2]
    p = (k - 1) // 2
    xpad = xp.zeros((N, C, H + 2 * p, W + 2 * p), dtype=dout.dtype)
    xpad[:, :, p:p + H, p:p + W] = conv_centre(cols, x_shape, k)
    dxpad = xp.zeros_like(xpad)
    dw = xp.zeros_like(w)
    for i in range(k):
        for j in range(k):
            patch = xpad[:, :, i:i + H, j:j + W]                      # (N, C, H, W)
            dw[:, :, i, j] = xp.tensordot(dout, patch, axes=([0, 2, 3], [0, 2, 3]))   # (F, C)
            back = xp.tensordot(dout, w[:, :, i, j], axes=([1], [0]))  # (N, H, W, C)
            dxpad[:, :, i:i + H, j:j + W] += xp.permute_dims(back, (0, 3, 1, 2))
    return dxpad[:, :, p:p + H, p:p + W], dw, xp.sum(dout, axis=(0, 2, 3))


def conv_vectorised(dout, cache):
    """Pixels as rows (N H W, F) instead of columns, tensordot for the products."""
    x_shape, cols, w = cache
    N, F, H, W = dout.shape
    rows = xp.reshape(xp.permute_dims(dout, (0, 2, 3, 1)), (N * H * W, F))  # (NHW, F)
    cols_nhw = xp.reshape(cols, (cols.shape[0], N, H, W))
    dw = xp.tensordot(xp.reshape(rows, (N, H, W, F)), cols_nhw, axes=([0, 1, 2], [1, 2, 3]))
    dcols = xp.permute_dims(rows @ xp.reshape(w, (F, cols.shape[0])), (1, 0))  # (Ckk, NHW)
    return (convolution.col2im(dcols, x_shape, w.shape[2]), xp.reshape(dw, w.shape),
            xp.sum(rows, axis=0))


@pytest.mark.parametrize("fn", [library("conv2d_backward"), solutions.my_conv2d_backward,
                                conv_loop, conv_vectorised], ids=ids)
def test_conv2d_backward_right_versions(fn):
    assert_right("conv2d_backward", fn)


def conv_parts(dout, cache):
    """dout2: (F, N H W) and W2: (F, C k k), right: the start of the wrong versions below."""
    x_shape, cols, w = cache
    N, F, H, W = dout.shape
    return xp.reshape(xp.permute_dims(dout, (1, 0, 2, 3)), (F, N * H * W)), \
        xp.reshape(w, (F, cols.shape[0]))


def conv_k_is_3(dout, cache):                      # setting: the chapter's k = 3 written in
    x_shape, cols, w = cache
    dout2, W2 = conv_parts(dout, cache)
    return (convolution.col2im(W2.T @ dout2, x_shape, 3), xp.reshape(dout2 @ cols.T, w.shape),
            xp.sum(dout2, axis=1))


def conv_square(dout, cache):                      # one shape: a square image assumed
    x_shape, cols, w = cache
    N, C, H, _ = x_shape
    dout2, W2 = conv_parts(dout, cache)
    return (convolution.col2im(W2.T @ dout2, (N, C, H, H), w.shape[2]),
            xp.reshape(dout2 @ cols.T, w.shape), xp.sum(dout2, axis=1))


def conv_one_image(dout, cache):                   # one shape: N = 1 assumed
    x_shape, cols, w = cache
    _, F, H, W = dout.shape
    dout2 = xp.reshape(dout[0, ...], (F, H * W))
    W2 = xp.reshape(w, (F, cols.shape[0]))
    return (convolution.col2im(W2.T @ dout2, x_shape, w.shape[2]),
            xp.reshape(dout2 @ cols[:, :H * W].T, w.shape), xp.sum(dout2, axis=1))


def conv_no_permute(dout, cache):                  # one shape: dout reshaped without moving F
    x_shape, cols, w = cache
    N, F, H, W = dout.shape
    dout2 = xp.reshape(dout, (F, N * H * W))
    W2 = xp.reshape(w, (F, cols.shape[0]))
    return (convolution.col2im(W2.T @ dout2, x_shape, w.shape[2]),
            xp.reshape(dout2 @ cols.T, w.shape), xp.sum(dout2, axis=1))


def conv_dx_centre_only(dout, cache):              # regime: dx as if k = 1 (no col2im)
    x_shape, cols, w = cache
    N, C, H, W = x_shape
    k = w.shape[2]
    dout2, W2 = conv_parts(dout, cache)
    p = (k - 1) // 2
    dcols = xp.reshape(W2.T @ dout2, (C, k * k, N, H, W))
    dx = xp.permute_dims(dcols[:, p * k + p, :, :, :], (1, 0, 2, 3))
    return dx, xp.reshape(dout2 @ cols.T, w.shape), xp.sum(dout2, axis=1)


def conv_overlaps_assigned(dout, cache):           # regime: col2im with = for += (k = 1 hides it)
    x_shape, cols, w = cache
    N, C, H, W = x_shape
    k = w.shape[2]
    p = (k - 1) // 2
    dout2, W2 = conv_parts(dout, cache)
    dcols = xp.reshape(W2.T @ dout2, (C, k * k, N, H, W))
    dxpad = xp.zeros((C, N, H + 2 * p, W + 2 * p), dtype=dout.dtype)
    for i in range(k):
        for j in range(k):
            dxpad[:, :, i:i + H, j:j + W] = dcols[:, i * k + j, :, :, :]
    dx = xp.permute_dims(dxpad[:, :, p:p + H, p:p + W], (1, 0, 2, 3))
    return dx, xp.reshape(dout2 @ cols.T, w.shape), xp.sum(dout2, axis=1)


def conv_float64(dout, cache):                     # contract: float64 on float32
    dx, dw, db = convolution.conv2d_backward(dout, cache)
    return xp.astype(dx, xp.float64), xp.astype(dw, xp.float64), xp.astype(db, xp.float64)


def conv_zeroes_dout(dout, cache):                 # contract: dout reused in place
    dx, dw, db = convolution.conv2d_backward(dout, cache)
    dout[...] = 0
    return dx, dw, db


def conv_mean_for_sum(dout, cache):                # math: db a mean
    x_shape, cols, w = cache
    dout2, W2 = conv_parts(dout, cache)
    return (convolution.col2im(W2.T @ dout2, x_shape, w.shape[2]),
            xp.reshape(dout2 @ cols.T, w.shape), xp.mean(dout2, axis=1))


def conv_kernel_flipped(dout, cache):              # math: dw flipped (a true convolution)
    dx, dw, db = convolution.conv2d_backward(dout, cache)
    return dx, xp.flip(dw, axis=(2, 3)), db


def conv_channels_swapped(dout, cache):            # math: dw's F and C axes mixed up
    x_shape, cols, w = cache
    F, C, k, _ = w.shape
    dout2, W2 = conv_parts(dout, cache)
    dw = xp.permute_dims(xp.reshape(dout2 @ cols.T, (C, F, k, k)), (1, 0, 2, 3))
    return convolution.col2im(W2.T @ dout2, x_shape, k), dw, xp.sum(dout2, axis=1)


def conv_db_per_image(dout, cache):                # math: db summed over the wrong axes
    dx, dw, _ = convolution.conv2d_backward(dout, cache)
    return dx, dw, xp.sum(dout, axis=(1, 2, 3))


@pytest.mark.parametrize("fn", [
    conv_k_is_3, conv_square, conv_one_image, conv_no_permute, conv_dx_centre_only,
    conv_overlaps_assigned, conv_float64, conv_zeroes_dout, conv_mean_for_sum, conv_kernel_flipped,
    conv_channels_swapped, conv_db_per_image], ids=ids)
def test_conv2d_backward_wrong_versions(fn):
    assert_flagged("conv2d_backward", fn)


def test_conv2d_backward_names_k():
    """k = 3 written in: the verdict names k as off its default (and asks whether 3 is written
    in once a case with k = 3 has passed)."""
    result = assert_flagged("conv2d_backward", conv_k_is_3)
    assert result.case.settings["k"] != 3 and result.case.defaults == {"k": 3}
    line = result.line()
    assert "k is not its default 3" in line or "off their defaults: k" in line


# -- gram_backward ------------------------------------------------------------------------------
def gram_loop(dG, F, shape):
    """Entry pair by entry pair: G_ij = F_i . F_j / M sends dG_ij to row i (times F_j) and to
    row j (times F_i)."""
    C, M = F.shape
    dF = xp.zeros_like(F)
    for i in range(C):
        for j in range(C):
            dF[i, :] += dG[i, j] * F[j, :] / M
            dF[j, :] += dG[i, j] * F[i, :] / M
    return xp.reshape(dF, shape)


def gram_vectorised(dG, F, shape):
    """Two products, M from the shape."""
    M = shape[2] * shape[3]
    return xp.reshape(dG @ F / M + xp.permute_dims(dG, (1, 0)) @ F / M, shape)


@pytest.mark.parametrize("fn", [library("gram_backward"), solutions.my_gram_backward, gram_loop,
                                gram_vectorised], ids=ids)
def test_gram_backward_right_versions(fn):
    assert_right("gram_backward", fn)


def gram_symmetric_only(dG, F, shape):             # regime: 2 dG (right for a symmetric dG)
    return xp.reshape(2 * dG @ F / F.shape[1], shape)


def gram_transpose_only(dG, F, shape):             # regime: 2 dG^T
    return xp.reshape(2 * dG.T @ F / F.shape[1], shape)


def gram_half(dG, F, shape):                       # math: the symmetric part, (dG + dG^T) / 2
    return xp.reshape((dG + dG.T) / 2 @ F / F.shape[1], shape)


def gram_no_m(dG, F, shape):                       # math: 1/M forgotten
    return xp.reshape((dG + dG.T) @ F, shape)


def gram_square(dG, F, shape):                     # one shape: M = H^2 (a square map)
    return xp.reshape((dG + dG.T) @ F / (shape[2] * shape[2]), shape)


def gram_m_is_c(dG, F, shape):                     # one shape: divided by C for M
    return xp.reshape((dG + dG.T) @ F / F.shape[0], shape)


def gram_by_cm(dG, F, shape):                      # math: divided by C M
    return xp.reshape((dG + dG.T) @ F / (F.shape[0] * F.shape[1]), shape)


def gram_transposed_map(dG, F, shape):             # one shape: the map read as (W, H)
    _, C, H, W = shape
    dF = xp.reshape((dG + dG.T) @ F / F.shape[1], (1, C, W, H))
    return xp.permute_dims(dF, (0, 1, 3, 2))


def gram_not_reshaped(dG, F, shape):               # contract: (C, M) returned
    return (dG + dG.T) @ F / F.shape[1]


def gram_symmetrises_dg(dG, F, shape):             # contract: dG changed in place
    dG[...] = dG + dG.T
    return xp.reshape(dG @ F / F.shape[1], shape)


def gram_float64(dG, F, shape):                    # contract: float64 accumulator
    dF = xp.zeros(F.shape, dtype=xp.float64)
    dF += xp.astype((dG + dG.T) @ F, xp.float64)
    return xp.reshape(dF / F.shape[1], shape)


def gram_first_channel(dG, F, shape):              # one shape: C = 1 (dG[0, 0] as a scalar)
    return xp.reshape(2 * dG[0, 0] * F / F.shape[1], shape)


@pytest.mark.parametrize("fn", [
    gram_symmetric_only, gram_transpose_only, gram_half, gram_no_m, gram_square, gram_m_is_c,
    gram_by_cm, gram_transposed_map, gram_not_reshaped, gram_symmetrises_dg, gram_float64,
    gram_first_channel], ids=ids)
def test_gram_backward_wrong_versions(fn):
    assert_flagged("gram_backward", fn)


# -- what the cases cover -----------------------------------------------------------------------
def drawn_settings(name):
    """The settings every case of exercise `name` notes, drawn as the workbook draws them."""
    from minil2o.workbook import api
    from minil2o.workbook.measure import Case, case_rng
    ex, seed = workbook.table.BY_NAME[name], api.default_seed(name)
    cases = [Case(i, case_rng(seed, i)) for i in range(ex.cases)]
    for case in cases:
        api.check_function(ex.checks[0])(case)
    return [case.settings for case in cases]


@pytest.mark.parametrize("name, wanted", [
    ("lstm_step_backward", {"N": {1}, "upstream": {"dh and dc", "dc = 0", "dh = 0"},
                            "weights": {"small", "moderate", "saturating"},
                            "dtype": {"float32", "float64"}}),
    ("lstm_backward", {"T": {1}, "dh": {"every step", "last step only"},
                       "weights": {"small", "moderate", "saturating"}, "N": {1}}),
    ("conv2d_backward", {"k": {1, 3, 5}, "H": {1}, "dtype": {"float32", "float64"}}),
    ("gram_backward", {"C": {1}, "dG": {"general", "mostly antisymmetric", "symmetric"},
                       "features": {"signed", "nonnegative"}, "dtype": {"float32"}}),
])
def test_cases_cover_the_regimes(name, wanted):
    """Every exercise's cases include the sizes and regimes its mistakes hide outside of, the
    first case is off the chapter's sizes, and no case has D = H or a square map."""
    settings = drawn_settings(name)
    for key, values in wanted.items():
        assert values <= {s[key] for s in settings}, (name, key)
    assert all(s.get("D") != s.get("H") or "D" not in s for s in settings)
    assert all(s.get("H") != s.get("W") or "W" not in s for s in settings)
    assert settings[0].get("k", 5) != 3 and settings[0].get("T", 1) != 5
