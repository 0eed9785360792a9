"""Chapters 10 and 11's exercises: logsumexp (written against the array API, run on NumPy and on
array_api_strict arrays in every case) and adam_update (Adam over a learner's own list, tuple or
dict of arrays). The library, a loop, a vectorised version and the chapters' solution pass every
case; a wrong version of each category of mistake is flagged."""
import os
import sys

import numpy as np
import pytest
from array_api_compat import array_namespace

from minil2o.backend import xp
from exercise_tools import assert_flagged, assert_right, library

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tutorials"))
solutions = pytest.importorskip("solutions")


# -- logsumexp: right versions --------------------------------------------------------------------
def lse_loop(x, axis=-1, keepdims=False):
    """One pass over the slices along axis, a running maximum and a rescaled running sum."""
    ns = array_namespace(x)
    axis = axis % x.ndim
    moved = ns.moveaxis(x, axis, 0)                        # the summed axis first
    m, s = moved[0, ...], ns.ones_like(moved[0, ...])
    for i in range(1, moved.shape[0]):
        xi = moved[i, ...]
        m_new = ns.maximum(m, xi)
        s = s * ns.exp(m - m_new) + ns.exp(xi - m_new)
        m = m_new
    out = m + ns.log(s)
    return ns.expand_dims(out, axis=axis) if keepdims else out


def lse_vectorised(x, axis=-1, keepdims=False):
    """The max without keepdims, put back with expand_dims; the namespace from the array."""
    ns = x.__array_namespace__()
    m = ns.max(x, axis=axis)
    m_kept = ns.expand_dims(m, axis=axis)
    out = m + ns.log(ns.sum(ns.exp(x - m_kept), axis=axis))
    return ns.expand_dims(out, axis=axis) if keepdims else out


def test_logsumexp_right_versions():
    for fn in (library("logsumexp"), lse_loop, lse_vectorised, solutions.my_logsumexp):
        assert_right("logsumexp", fn)


# -- logsumexp: wrong versions --------------------------------------------------------------------
def lse_last_axis(x, axis=-1, keepdims=False):           # default: axis -1 written in
    ns = array_namespace(x)
    m = ns.max(x, axis=-1, keepdims=True)
    out = m + ns.log(ns.sum(ns.exp(x - m), axis=-1, keepdims=True))
    return out if keepdims else ns.squeeze(out, axis=-1)


def lse_never_keeps(x, axis=-1, keepdims=False):         # default: keepdims ignored
    ns = array_namespace(x)
    m = ns.max(x, axis=axis, keepdims=True)
    return ns.squeeze(m + ns.log(ns.sum(ns.exp(x - m), axis=axis, keepdims=True)), axis=axis)


def lse_rows_of_a_matrix(x, axis=-1, keepdims=False):    # shapes: a 2-d x, rows assumed
    ns = array_namespace(x)
    m = ns.max(x, axis=axis)
    out = m + ns.log(ns.sum(ns.exp(x - m[:, None]), axis=axis))
    return ns.expand_dims(out, axis=axis) if keepdims else out


def lse_max_not_kept(x, axis=-1, keepdims=False):        # shapes: m broadcast on the last axis
    ns = array_namespace(x)
    m = ns.max(x, axis=axis)
    out = ns.log(ns.sum(ns.exp(x - m), axis=axis)) + m
    return ns.expand_dims(out, axis=axis) if keepdims else out


def lse_no_shift(x, axis=-1, keepdims=False):            # regime: exp overflows at 1e3
    ns = array_namespace(x)
    return ns.log(ns.sum(ns.exp(x), axis=axis, keepdims=keepdims))


def lse_one_max(x, axis=-1, keepdims=False):             # regime: one max for every slice
    ns = array_namespace(x)
    m = ns.max(x)
    return m + ns.log(ns.sum(ns.exp(x - m), axis=axis, keepdims=keepdims))


def lse_min_shift(x, axis=-1, keepdims=False):           # regime: shifted by the minimum
    ns = array_namespace(x)
    m = ns.min(x, axis=axis, keepdims=True)
    out = m + ns.log(ns.sum(ns.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else ns.squeeze(out, axis=axis)


def lse_numpy_functions(x, axis=-1, keepdims=False):     # contract: numpy's functions
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def lse_methods(x, axis=-1, keepdims=False):             # contract: NumPy-only methods
    m = x.max(axis=axis, keepdims=True)
    out = m + array_namespace(x).log(array_namespace(x).exp(x - m).sum(axis=axis, keepdims=True))
    return out if keepdims else out.squeeze(axis)


def lse_backend_xp(x, axis=-1, keepdims=False):          # contract: the selected backend's xp
    m = xp.max(x, axis=axis, keepdims=True)
    out = m + xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else xp.squeeze(out, axis=axis)


def lse_via_host(x, axis=-1, keepdims=False):            # contract: a NumPy answer for any input
    a = np.from_dlpack(x)
    m = np.max(a, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def lse_float64(x, axis=-1, keepdims=False):             # contract: float64 for float32 input
    ns = array_namespace(x)
    x = ns.astype(x, ns.float64)
    m = ns.max(x, axis=axis, keepdims=True)
    out = m + ns.log(ns.sum(ns.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else ns.squeeze(out, axis=axis)


def lse_shifts_in_place(x, axis=-1, keepdims=False):     # contract: x shifted in place
    ns = array_namespace(x)
    m = ns.max(x, axis=axis, keepdims=True)
    x -= m
    out = m + ns.log(ns.sum(ns.exp(x), axis=axis, keepdims=True))
    return out if keepdims else ns.squeeze(out, axis=axis)


def lse_forgets_m(x, axis=-1, keepdims=False):           # math: the shift not added back
    ns = array_namespace(x)
    m = ns.max(x, axis=axis, keepdims=True)
    out = ns.log(ns.sum(ns.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else ns.squeeze(out, axis=axis)


def lse_mean(x, axis=-1, keepdims=False):                # math: log-mean-exp
    ns = array_namespace(x)
    m = ns.max(x, axis=axis, keepdims=True)
    out = m + ns.log(ns.mean(ns.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else ns.squeeze(out, axis=axis)


def lse_just_max(x, axis=-1, keepdims=False):            # math: the max alone ("it dominates")
    return array_namespace(x).max(x, axis=axis, keepdims=keepdims)


def test_logsumexp_wrong_versions():
    for fn in (lse_last_axis, lse_never_keeps, lse_rows_of_a_matrix, lse_max_not_kept,
               lse_no_shift, lse_one_max, lse_min_shift, lse_numpy_functions, lse_methods,
               lse_backend_xp, lse_via_host, lse_float64, lse_shifts_in_place, lse_forgets_m,
               lse_mean, lse_just_max):
        assert_flagged("logsumexp", fn)


def test_logsumexp_verdict_names_the_namespace():
    result = assert_flagged("logsumexp", lse_via_host)
    assert "array_api_strict input" in result.line() and "array_namespace" in result.line()


# -- adam_update: right versions ------------------------------------------------------------------
def pairs(tree):
    """[(key, value)] of a dict, list or tuple."""
    return list(tree.items()) if isinstance(tree, dict) else list(enumerate(tree))


def rebuild(like, values):
    """values (a list) in a container like `like`."""
    return dict(zip(like, values)) if isinstance(like, dict) else type(like)(values)


def adam_loop(opt, grads, state, params):
    """Array by array, key by key."""
    t = state["t"] + 1
    new_p, new_m, new_v = [], [], []
    for k, p in pairs(params):
        g, m, v = grads[k], state["m"][k], state["v"][k]
        m = opt.beta1 * m + (1 - opt.beta1) * g
        v = opt.beta2 * v + (1 - opt.beta2) * g * g
        m_hat, v_hat = m / (1 - opt.beta1 ** t), v / (1 - opt.beta2 ** t)
        new_p.append(p - opt.lr * m_hat / (xp.sqrt(v_hat) + opt.eps))
        new_m.append(m)
        new_v.append(v)
    return rebuild(params, new_p), {"t": t, "m": rebuild(params, new_m),
                                    "v": rebuild(params, new_v)}


def adam_vectorised(opt, grads, state, params):
    """All arrays concatenated into one vector, one Adam step, split back."""
    def flat(tree):
        return xp.concat([xp.reshape(a, (-1,)) for _, a in pairs(tree)])

    def split(vector):
        out, start = [], 0
        for _, a in pairs(params):
            size = int(np.prod(a.shape))
            out.append(xp.reshape(vector[start:start + size], a.shape))
            start += size
        return rebuild(params, out)
    t = state["t"] + 1
    g = flat(grads)
    m = opt.beta1 * flat(state["m"]) + (1 - opt.beta1) * g
    v = opt.beta2 * flat(state["v"]) + (1 - opt.beta2) * g * g
    step = -opt.lr * (m / (1 - opt.beta1 ** t)) / (xp.sqrt(v / (1 - opt.beta2 ** t)) + opt.eps)
    return split(flat(params) + step), {"t": t, "m": split(m), "v": split(v)}


def test_adam_update_right_versions():
    for fn in (library("adam_update"), adam_loop, adam_vectorised, solutions.my_adam_update):
        assert_right("adam_update", fn)


# -- adam_update: wrong versions ------------------------------------------------------------------
def adam_with(opt, grads, state, params, lr=None, b1=None, b2=None, eps=None, rule=None):
    """adam_loop with one setting written in, or another rule for the step."""
    lr, b1 = opt.lr if lr is None else lr, opt.beta1 if b1 is None else b1
    b2, eps = opt.beta2 if b2 is None else b2, opt.eps if eps is None else eps
    t = state["t"] + 1
    new_p, new_m, new_v = [], [], []
    for k, p in pairs(params):
        g = grads[k]
        m = b1 * state["m"][k] + (1 - b1) * g
        v = b2 * state["v"][k] + (1 - b2) * g * g
        step = (rule or standard_rule)(m, v, t, lr, b1, b2, eps)
        new_p.append(p - step)
        new_m.append(m)
        new_v.append(v)
    return rebuild(params, new_p), {"t": t, "m": rebuild(params, new_m),
                                    "v": rebuild(params, new_v)}


def standard_rule(m, v, t, lr, b1, b2, eps):
    return lr * (m / (1 - b1 ** t)) / (xp.sqrt(v / (1 - b2 ** t)) + eps)


def adam_beta1_written_in(opt, grads, state, params):    # default: beta1 = 0.9
    return adam_with(opt, grads, state, params, b1=0.9)


def adam_beta2_written_in(opt, grads, state, params):    # default: beta2 = 0.999
    return adam_with(opt, grads, state, params, b2=0.999)


def adam_eps_written_in(opt, grads, state, params):      # default: eps = 1e-8
    return adam_with(opt, grads, state, params, eps=1e-8)


def adam_lr_written_in(opt, grads, state, params):       # default: lr = 1e-3
    return adam_with(opt, grads, state, params, lr=1e-3)


def adam_lists_only(opt, grads, state, params):          # shapes: zip over the containers
    t = state["t"] + 1
    out = [adam_with(opt, [g], {"t": state["t"], "m": [m], "v": [v]}, [p])
           for p, g, m, v in zip(params, grads, state["m"], state["v"])]
    return ([o[0][0] for o in out], {"t": t, "m": [o[1]["m"][0] for o in out],
                                     "v": [o[1]["v"][0] for o in out]})


def adam_dicts_only(opt, grads, state, params):          # shapes: a dict always returned
    new_p, new_state = adam_loop(opt, grads, state, params)
    as_dict = lambda tree: dict(pairs(tree))  # noqa: E731
    return as_dict(new_p), {"t": new_state["t"], "m": as_dict(new_state["m"]),
                            "v": as_dict(new_state["v"])}


def adam_chapter_keys(opt, grads, state, params):        # shapes: the chapter's keys W and b
    keys = ("W", "b")
    sub = lambda tree: {k: tree[k] for k in keys}  # noqa: E731
    return adam_loop(opt, sub(grads), {"t": state["t"], "m": sub(state["m"]),
                                       "v": sub(state["v"])}, sub(params))


def adam_flat_arrays(opt, grads, state, params):         # shapes: arrays returned raveled
    new_p, new_state = adam_loop(opt, grads, state, params)
    ravel = lambda tree: rebuild(tree, [xp.reshape(a, (-1,)) for _, a in pairs(tree)])  # noqa
    return ravel(new_p), {"t": new_state["t"], "m": ravel(new_state["m"]),
                          "v": ravel(new_state["v"])}


def adam_sorted_keys(opt, grads, state, params):         # shapes: a dict rebuilt in sorted order
    new_p, new_state = adam_loop(opt, grads, state, params)
    order = lambda tree: ({k: tree[k] for k in sorted(tree)} if isinstance(tree, dict)  # noqa
                          else tree)
    return order(new_p), {"t": new_state["t"], "m": order(new_state["m"]),
                          "v": order(new_state["v"])}


def adam_eps_inside(opt, grads, state, params):          # regime: sqrt(v^ + eps)
    return adam_with(opt, grads, state, params, rule=lambda m, v, t, lr, b1, b2, eps: lr * (
        m / (1 - b1 ** t)) / xp.sqrt(v / (1 - b2 ** t) + eps))


def adam_eps_before_correction(opt, grads, state, params):   # regime: Torch7's eps placement
    return adam_with(opt, grads, state, params, rule=lambda m, v, t, lr, b1, b2, eps: lr * (
        m / (1 - b1 ** t)) / ((xp.sqrt(v) + eps) / (1 - b2 ** t) ** 0.5))


def adam_no_correction(opt, grads, state, params):       # regime: bias correction left out
    return adam_with(opt, grads, state, params, rule=lambda m, v, t, lr, b1, b2, eps: lr * m / (
        xp.sqrt(v) + eps))


def adam_corrected_with_old_t(opt, grads, state, params):    # regime: 1 - beta^(t - 1)
    return adam_with(opt, grads, state, params, rule=lambda m, v, t, lr, b1, b2, eps: lr * (
        m / (1 - b1 ** (t + 1))) / (xp.sqrt(v / (1 - b2 ** (t + 1))) + eps))


def adam_params_in_place(opt, grads, state, params):     # contract: params updated in place
    new_p, new_state = adam_loop(opt, grads, state, params)
    for k, p in pairs(params):
        p[...] = new_p[k]
    return params, new_state


def adam_moments_in_place(opt, grads, state, params):    # contract: m and v updated in place
    new_p, new_state = adam_loop(opt, grads, state, params)
    for s in ("m", "v"):
        for k, a in pairs(state[s]):
            a[...] = new_state[s][k]
    return new_p, {"t": state["t"] + 1, "m": state["m"], "v": state["v"]}


def adam_counts_in_state(opt, grads, state, params):     # contract: state["t"] += 1
    new_p, new_state = adam_loop(opt, grads, state, params)
    state["t"] += 1
    return new_p, {**new_state, "t": state["t"]}


def adam_float64(opt, grads, state, params):             # contract: float64 for float32 arrays
    up = lambda tree: rebuild(tree, [xp.astype(a, xp.float64) for _, a in pairs(tree)])  # noqa
    return adam_loop(opt, up(grads), {"t": state["t"], "m": up(state["m"]),
                                      "v": up(state["v"])}, up(params))


STEPS = {"count": 0}


def adam_global_count(opt, grads, state, params):        # contract: steps counted in a global
    STEPS["count"] += 1
    return adam_loop(opt, grads, {**state, "t": state["t"] + STEPS["count"] - 1}, params)


def adam_count_on_opt(opt, grads, state, params):        # contract: t kept on the optimizer
    opt.t = getattr(opt, "t", state["t"]) + 1
    return adam_loop(opt, grads, {**state, "t": opt.t - 1}, params)


def adam_old_t(opt, grads, state, params):               # contract: t not counted up
    new_p, new_state = adam_loop(opt, grads, state, params)
    return new_p, {**new_state, "t": state["t"]}


def adam_plus(opt, grads, state, params):                # math: the step added
    new_p, new_state = adam_loop(opt, grads, state, params)
    return rebuild(params, [2 * p - new_p[k] for k, p in pairs(params)]), new_state


def adam_v_of_g(opt, grads, state, params):              # math: v averages g, not g^2
    t = state["t"] + 1
    new_p, new_m, new_v = [], [], []
    for k, p in pairs(params):
        g = grads[k]
        m = opt.beta1 * state["m"][k] + (1 - opt.beta1) * g
        v = opt.beta2 * state["v"][k] + (1 - opt.beta2) * g
        new_p.append(p - standard_rule(m, v, t, opt.lr, opt.beta1, opt.beta2, opt.eps))
        new_m.append(m)
        new_v.append(v)
    return rebuild(params, new_p), {"t": t, "m": rebuild(params, new_m),
                                    "v": rebuild(params, new_v)}


def adam_m_hat_with_beta2(opt, grads, state, params):    # math: m corrected by 1 - beta2^t
    return adam_with(opt, grads, state, params, rule=lambda m, v, t, lr, b1, b2, eps: lr * (
        m / (1 - b2 ** t)) / (xp.sqrt(v / (1 - b2 ** t)) + eps))


def adam_no_sqrt(opt, grads, state, params):             # math: v^ without its square root
    return adam_with(opt, grads, state, params, rule=lambda m, v, t, lr, b1, b2, eps: lr * (
        m / (1 - b1 ** t)) / (v / (1 - b2 ** t) + eps))


def adam_old_moments(opt, grads, state, params):         # math: the state's m, v returned
    new_p, _ = adam_loop(opt, grads, state, params)
    return new_p, {"t": state["t"] + 1, "m": state["m"], "v": state["v"]}


def adam_beta_swapped(opt, grads, state, params):        # math: beta1 weights the gradient
    return adam_with(opt, grads, state, params, b1=1 - opt.beta1)


def test_adam_update_wrong_versions():
    for fn in (adam_beta1_written_in, adam_beta2_written_in, adam_eps_written_in,
               adam_lr_written_in, adam_lists_only, adam_dicts_only, adam_chapter_keys,
               adam_flat_arrays, adam_sorted_keys, adam_eps_inside, adam_eps_before_correction,
               adam_no_correction, adam_corrected_with_old_t, adam_params_in_place,
               adam_moments_in_place, adam_counts_in_state, adam_float64, adam_global_count,
               adam_count_on_opt, adam_old_t, adam_plus, adam_v_of_g, adam_m_hat_with_beta2,
               adam_no_sqrt, adam_old_moments, adam_beta_swapped):
        assert_flagged("adam_update", fn)


def test_not_started_stubs():
    def stub(*args, **kwargs):
        raise NotImplementedError
    from minil2o import workbook
    for name in ("logsumexp", "adam_update"):
        assert workbook.check(name, stub, quiet=True).status == "not started"
