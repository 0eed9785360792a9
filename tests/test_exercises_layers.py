"""Chapters 1 and 2's exercises (and the activations of chapter 3): the library, a loop and a
vectorised version pass every case; a wrong version of each category of mistake is flagged."""
import pathlib
import sys

from minil2o.autograd import Tensor
from minil2o.backend import xp
from exercise_tools import assert_flagged, assert_right, library

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tutorials"))
import solutions  # noqa: E402


# -- linear_backward ----------------------------------------------------------------------------
def linear_loop(dout, cache):
    x, W = cache
    N, M = dout.shape
    dx, dW, db = xp.zeros_like(x), xp.zeros_like(W), xp.zeros_like(dout[0, :])
    for n in range(N):
        dx[n, :] = W @ dout[n, :]
        dW += xp.reshape(x[n, :], (-1, 1)) * xp.reshape(dout[n, :], (1, -1))
        db += dout[n, :]
    return dx, dW, db


def linear_vectorised(dout, cache):
    x, W = cache
    return xp.matmul(dout, xp.permute_dims(W, (1, 0))), xp.permute_dims(x, (1, 0)) @ dout, \
        xp.sum(dout, axis=0)


def test_linear_backward_right_versions():
    for fn in (library("linear_backward"), linear_loop, linear_vectorised):
        assert_right("linear_backward", fn)


def linear_mean_for_sum(dout, cache):              # math: the bias gets a mean
    x, W = cache
    return dout @ W.T, x.T @ dout, xp.mean(dout, axis=0)


def linear_zeroes_dout(dout, cache):               # contract: dout reused in place
    x, W = cache
    dx, dW, db = dout @ W.T, x.T @ dout, xp.sum(dout, axis=0)
    dout[...] = 0
    return dx, dW, db


def linear_float64(dout, cache):                   # contract: float64 accumulators
    x, W = cache
    return (xp.astype(dout @ W.T, xp.float64), xp.astype(x.T @ dout, xp.float64),
            xp.astype(xp.sum(dout, axis=0), xp.float64))


def linear_square_only(dout, cache):               # shapes: W assumed square
    x, W = cache
    return dout @ W, x.T @ dout, xp.sum(dout, axis=0)


def linear_db_first_row(dout, cache):              # shapes: a batch of one row assumed
    x, W = cache
    return dout @ W.T, x.T @ dout, dout[0, :]


def test_linear_backward_wrong_versions():
    for fn in (linear_mean_for_sum, linear_zeroes_dout, linear_float64, linear_square_only,
               linear_db_first_row):
        assert_flagged("linear_backward", fn)


# -- sigmoid_backward ---------------------------------------------------------------------------
def sigmoid_loop(dout, cache):
    d, s = xp.reshape(dout, (-1,)), xp.reshape(cache, (-1,))
    dx = xp.zeros_like(d)
    for i in range(d.shape[0]):
        dx[i] = d[i] * s[i] * (1.0 - s[i])
    return xp.reshape(dx, dout.shape)


def sigmoid_vectorised(dout, cache):
    return dout * (cache - cache * cache)


def test_sigmoid_backward_right_versions():
    for fn in (library("sigmoid_backward"), sigmoid_loop, sigmoid_vectorised):
        assert_right("sigmoid_backward", fn)


def sigmoid_cache_as_x(dout, cache):               # math: the cache taken for x
    s = 1.0 / (1.0 + xp.exp(-cache))
    return dout * s * (1.0 - s)


def sigmoid_no_one_minus(dout, cache):             # math: factor 1 - s forgotten
    return dout * cache


def sigmoid_no_dout(dout, cache):                  # math: upstream gradient dropped
    return cache * (1.0 - cache)


def sigmoid_sign(dout, cache):                     # math: sign
    return dout * cache * (cache - 1.0)


def sigmoid_squared(dout, cache):                  # math: (1 - s)^2
    return dout * cache * (1.0 - cache) ** 2


def sigmoid_at_zero(dout, cache):                  # regime: sigma'(0) = 1/4 written in
    return 0.25 * dout


def sigmoid_in_place(dout, cache):                 # contract: dout overwritten and returned
    dout *= cache * (1.0 - cache)
    return dout


def sigmoid_cache_in_place(dout, cache):           # contract: the cache overwritten
    cache *= 1.0 - cache
    return dout * cache


def sigmoid_float64(dout, cache):                  # contract: float64 result
    return xp.astype(dout, xp.float64) * xp.astype(cache * (1.0 - cache), xp.float64)


def sigmoid_2d_only(dout, cache):                  # shapes: (N, D) assumed
    N, D = dout.shape
    dx = xp.zeros_like(dout)
    for n in range(N):
        dx[n, :] = dout[n, :] * cache[n, :] * (1.0 - cache[n, :])
    return dx


def sigmoid_flat(dout, cache):                     # shapes: returned flattened
    return xp.reshape(dout * cache * (1.0 - cache), (-1,))


def sigmoid_first_row(dout, cache):                # shapes: the first row's derivative for all
    s = cache[:1, ...]
    return dout * s * (1.0 - s)


def test_sigmoid_backward_wrong_versions():
    for fn in (sigmoid_cache_as_x, sigmoid_no_one_minus, sigmoid_no_dout, sigmoid_sign,
               sigmoid_squared, sigmoid_at_zero, sigmoid_in_place, sigmoid_cache_in_place,
               sigmoid_float64, sigmoid_2d_only, sigmoid_flat, sigmoid_first_row):
        assert_flagged("sigmoid_backward", fn)


# -- tanh_backward ------------------------------------------------------------------------------
def tanh_loop(dout, cache):
    d, t = xp.reshape(dout, (-1,)), xp.reshape(cache, (-1,))
    dx = xp.zeros_like(d)
    for i in range(d.shape[0]):
        dx[i] = d[i] * (1.0 - t[i]) * (1.0 + t[i])
    return xp.reshape(dx, dout.shape)


def tanh_vectorised(dout, cache):
    return dout - dout * cache ** 2


def test_tanh_backward_right_versions():
    for fn in (library("tanh_backward"), tanh_loop, tanh_vectorised):
        assert_right("tanh_backward", fn)


def tanh_not_squared(dout, cache):                 # math: 1 - out (the hint's warning)
    return dout * (1.0 - cache)


def tanh_square_outside(dout, cache):              # math: (1 - out)^2
    return dout * (1.0 - cache) ** 2


def tanh_cache_as_x(dout, cache):                  # math: the cache taken for x
    return dout * (1.0 - xp.tanh(cache) ** 2)


def tanh_sigmoid_rule(dout, cache):                # math: the sigmoid's rule copied
    return dout * cache * (1.0 - cache)


def tanh_no_dout(dout, cache):                     # math: upstream gradient dropped
    return 1.0 - cache * cache


def tanh_plus(dout, cache):                        # math: sign
    return dout * (1.0 + cache * cache)


def tanh_at_zero(dout, cache):                     # regime: tanh'(0) = 1, the identity
    return dout * 1.0


def tanh_in_place(dout, cache):                    # contract: dout overwritten and returned
    dout *= 1.0 - cache * cache
    return dout


def tanh_cache_in_place(dout, cache):              # contract: the cache overwritten
    cache *= cache
    return dout * (1.0 - cache)


def tanh_float64(dout, cache):                     # contract: float64 result
    return xp.astype(dout * (1.0 - cache * cache), xp.float64)


def tanh_2d_only(dout, cache):                     # shapes: (N, D) assumed
    return dout[:, :] * (1.0 - cache[:, :] * cache[:, :])


def tanh_flat(dout, cache):                        # shapes: returned flattened
    return xp.reshape(dout * (1.0 - cache * cache), (-1,))


def test_tanh_backward_wrong_versions():
    for fn in (tanh_not_squared, tanh_square_outside, tanh_cache_as_x, tanh_sigmoid_rule,
               tanh_no_dout, tanh_plus, tanh_at_zero, tanh_in_place, tanh_cache_in_place,
               tanh_float64, tanh_2d_only, tanh_flat):
        assert_flagged("tanh_backward", fn)


# -- softmax_cross_entropy ----------------------------------------------------------------------
def softmax_loop(logits, y):
    N, C = logits.shape
    loss, dlogits = xp.zeros((), dtype=logits.dtype), xp.zeros_like(logits)
    for n in range(N):
        z = logits[n, :]
        m = xp.max(z)
        e = xp.exp(z - m)
        s = xp.sum(e)
        loss = loss + (m + xp.log(s) - xp.sum(y[n, :] * z))
        dlogits[n, :] = (e / s - y[n, :]) / N
    return loss / N, dlogits


def softmax_log_softmax(logits, y):
    N = logits.shape[0]
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return -xp.sum(y * log_p) / N, (xp.exp(log_p) - y) / N


def test_softmax_cross_entropy_right_versions():
    for fn in (library("softmax_cross_entropy"), softmax_loop, softmax_log_softmax):
        assert_right("softmax_cross_entropy", fn)


def _softmax(z):
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


def softmax_no_shift(logits, y):                   # regime: no max subtraction
    N = logits.shape[0]
    e = xp.exp(logits)
    s = xp.sum(e, axis=1, keepdims=True)
    return xp.mean(xp.log(s[:, 0]) - xp.sum(y * logits, axis=1)), (e / s - y) / N


def softmax_global_max(logits, y):                 # regime: one shift for every row
    N = logits.shape[0]
    z = logits - xp.max(logits)
    e = xp.exp(z)
    s = xp.sum(e, axis=1, keepdims=True)
    return xp.mean(xp.log(s[:, 0]) - xp.sum(y * z, axis=1)), (e / s - y) / N


def softmax_log_of_p(logits, y):                   # regime: log of the probabilities
    p = _softmax(logits)
    return -xp.sum(y * xp.log(p)) / logits.shape[0], (p - y) / logits.shape[0]


def softmax_log_eps(logits, y):                    # regime: log(p + 1e-12) against log(0)
    p = _softmax(logits)
    return -xp.sum(y * xp.log(p + 1e-12)) / logits.shape[0], (p - y) / logits.shape[0]


def softmax_mean_shift(logits, y):                 # regime: the row mean subtracted
    N = logits.shape[0]
    z = logits - xp.mean(logits, axis=1, keepdims=True)
    e = xp.exp(z)
    s = xp.sum(e, axis=1, keepdims=True)
    return xp.mean(xp.log(s[:, 0]) - xp.sum(y * z, axis=1)), (e / s - y) / N


def softmax_clipped(logits, y):                    # regime: logits clipped to [-500, 500]
    return library("softmax_cross_entropy")(xp.clip(logits, -500.0, 500.0), y)


def softmax_sum_loss(logits, y):                   # math: the sum over rows, not the mean
    loss, d = library("softmax_cross_entropy")(logits, y)
    return loss * logits.shape[0], d


def softmax_no_mean_grad(logits, y):               # math: dlogits without 1/N
    loss, d = library("softmax_cross_entropy")(logits, y)
    return loss, d * logits.shape[0]


def softmax_sign(logits, y):                       # math: y - p
    loss, d = library("softmax_cross_entropy")(logits, y)
    return loss, -d


def softmax_forgot_max(logits, y):                 # math: m not added back to the log-sum-exp
    N = logits.shape[0]
    m = xp.max(logits, axis=1, keepdims=True)
    e = xp.exp(logits - m)
    s = xp.sum(e, axis=1, keepdims=True)
    return xp.mean(xp.log(s[:, 0]) - xp.sum(y * logits, axis=1)), (e / s - y) / N


def softmax_over_C(logits, y):                     # shapes: divided by C (a square batch)
    loss, d = library("softmax_cross_entropy")(logits, y)
    N, C = logits.shape
    return loss * N / C, d * N / C


def softmax_batch_128(logits, y):                  # shapes: the chapter's batch size
    loss, d = library("softmax_cross_entropy")(logits, y)
    N = logits.shape[0]
    return loss * N / 128, d * N / 128


def softmax_ten_classes(logits, y):                # shapes: MNIST's 10 classes written in
    N = logits.shape[0]
    p = _softmax(logits)
    loss = xp.zeros((), dtype=logits.dtype)
    for c in range(10):
        loss = loss - xp.sum(y[:, c] * xp.log(p[:, c]))
    return loss / N, (p - y) / N


def softmax_shift_in_place(logits, y):             # contract: logits shifted in place
    logits -= xp.max(logits, axis=1, keepdims=True)
    return library("softmax_cross_entropy")(logits, y)


def softmax_float_loss(logits, y):                 # contract: a Python float for the loss
    loss, d = library("softmax_cross_entropy")(logits, y)
    return float(loss), d


def softmax_row_losses(logits, y):                 # contract: the N row losses, not their mean
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return -xp.sum(y * log_p, axis=1), (xp.exp(log_p) - y) / logits.shape[0]


def softmax_float64(logits, y):                    # contract: float64 accumulators
    loss, d = library("softmax_cross_entropy")(xp.astype(logits, xp.float64),
                                               xp.astype(y, xp.float64))
    return loss, d


def test_softmax_cross_entropy_wrong_versions():
    for fn in (softmax_no_shift, softmax_global_max, softmax_log_of_p, softmax_log_eps,
               softmax_mean_shift, softmax_clipped, softmax_sum_loss, softmax_no_mean_grad,
               softmax_sign, softmax_forgot_max, softmax_over_C, softmax_batch_128, softmax_ten_classes,
               softmax_shift_in_place, softmax_float_loss, softmax_row_losses, softmax_float64):
        assert_flagged("softmax_cross_entropy", fn)


# -- tensor_sigmoid -----------------------------------------------------------------------------
def tsig_closure(x):
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    out = Tensor(s, (x,), "sigmoid")

    def _backward():
        x.grad += out.grad * s * (1.0 - s)
    out._backward = _backward
    return out


def tsig_where(x):
    e = xp.exp(-xp.abs(x.data))
    s = xp.where(x.data >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    out = Tensor(s, (x,), "sigmoid")

    def _backward():
        x.grad = x.grad + out.grad * (s - s * s)
    out._backward = _backward
    return out


def test_tensor_sigmoid_right_versions():
    for fn in (library("tensor_sigmoid"), tsig_closure, tsig_where, solutions.my_sigmoid):
        assert_right("tensor_sigmoid", fn)


def _op(x, s, local):
    """A Tensor of value s with x as input, whose backward adds local(out.grad) to x.grad."""
    out = Tensor(s, (x,), "sigmoid")

    def _backward():
        x.grad += local(out.grad)
    out._backward = _backward
    return out


def tsig_assigns(x):                               # regime: x.grad = instead of +=
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    out = Tensor(s, (x,), "sigmoid")

    def _backward():
        x.grad = out.grad * s * (1.0 - s)
    out._backward = _backward
    return out


def tsig_overflows(x):                             # regime: exp(x) / (1 + exp(x)), NaN at 800
    e = xp.exp(x.data)
    s = e / (1.0 + e)
    return _op(x, s, lambda g: g * s * (1.0 - s))


def tsig_no_input(x):                              # contract: x not among the inputs
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    out = Tensor(s)

    def _backward():
        x.grad += out.grad * s * (1.0 - s)
    out._backward = _backward
    return out


def tsig_composed(x):                              # contract: engine ops, inputs not (x,)
    return 1.0 / (1.0 + (-x).exp())


def tsig_float64(x):                               # contract: float64 value
    s = 0.5 * xp.tanh(0.5 * xp.astype(x.data, xp.float64)) + 0.5
    return _op(x, s, lambda g: xp.astype(g * s * (1.0 - s), x.dtype))


def tsig_float64_grad(x):                          # contract: float64 gradient assigned
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    out = Tensor(s, (x,), "sigmoid")

    def _backward():
        x.grad = x.grad + xp.astype(out.grad, xp.float64) * s * (1.0 - s)
    out._backward = _backward
    return out


def tsig_halves_x(x):                              # contract: x.data changed in place
    x.data *= 0.5                                  # the tanh trick's x / 2, on x itself
    s = 0.5 * xp.tanh(x.data) + 0.5
    return _op(x, s, lambda g: g * s * (1.0 - s))


def tsig_2d_only(x):                               # shapes: (N, D) assumed
    s = 0.5 * xp.tanh(0.5 * x.data[:, :]) + 0.5
    return _op(x, s, lambda g: g * s * (1.0 - s))


def tsig_flat(x):                                  # shapes: a flattened value
    s = xp.reshape(0.5 * xp.tanh(0.5 * x.data) + 0.5, (-1,))
    return _op(x, s, lambda g: xp.reshape(g * s * (1.0 - s), x.shape))


def tsig_no_one_minus(x):                          # math: missing factor 1 - s
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    return _op(x, s, lambda g: g * s)


def tsig_no_upstream(x):                           # math: upstream gradient dropped
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    return _op(x, s, lambda g: s * (1.0 - s))


def tsig_forward_sign(x):                          # math: wrong sign in the forward
    s = 1.0 / (1.0 + xp.exp(x.data))
    return _op(x, s, lambda g: g * s * (1.0 - s))


def tsig_x_for_s(x):                               # math: the input for the output in (2.6)
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    return _op(x, s, lambda g: g * x.data * (1.0 - x.data))


def tsig_tanh_rule(x):                             # math: tanh's rule for the sigmoid's
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    return _op(x, s, lambda g: g * (1.0 - s * s))


def test_tensor_sigmoid_wrong_versions():
    for fn in (tsig_assigns, tsig_overflows, tsig_no_input, tsig_composed, tsig_float64,
               tsig_float64_grad, tsig_halves_x, tsig_2d_only, tsig_flat, tsig_no_one_minus,
               tsig_no_upstream, tsig_forward_sign, tsig_x_for_s, tsig_tanh_rule):
        assert_flagged("tensor_sigmoid", fn)


# -- adagrad_step -------------------------------------------------------------------------------
def adagrad_loop(opt, grad, state):
    G, update = [], []
    for i in range(grad.shape[0]):
        G.append(state["G"][i] + grad[i] * grad[i])
        update.append(-opt.lr * grad[i] / (xp.sqrt(G[i]) + opt.eps))
    return xp.stack(update), {"t": state["t"] + 1, "G": xp.stack(G)}


def adagrad_vectorised(opt, grad, state):
    G = state["G"] + grad ** 2
    return -(opt.lr / (xp.sqrt(G) + opt.eps)) * grad, {"G": G, "t": state["t"] + 1}


def test_adagrad_step_right_versions():
    for fn in (library("adagrad_step"), solutions.adagrad_step, adagrad_loop, adagrad_vectorised):
        assert_right("adagrad_step", fn)


def _adagrad(opt, grad, state, lr=None, eps=None):
    lr, eps = opt.lr if lr is None else lr, opt.eps if eps is None else eps
    G = state["G"] + grad * grad
    return -lr * grad / (xp.sqrt(G) + eps), {"t": state["t"] + 1, "G": G}


def adagrad_eps_default(opt, grad, state):         # settings: eps = 1e-10 written in
    return _adagrad(opt, grad, state, eps=1e-10)


def adagrad_lr_default(opt, grad, state):          # settings: the default lr written in
    return _adagrad(opt, grad, state, lr=1e-3)


def adagrad_lr_chapter(opt, grad, state):          # settings: the chapter's lr = 0.1 written in
    return _adagrad(opt, grad, state, lr=0.1)


CHAPTER_G = [xp.zeros((5,), dtype=xp.float64)]     # the chapter's n = 5


def adagrad_global_G(opt, grad, state):            # shapes: G kept in a module-level array
    CHAPTER_G[0] = CHAPTER_G[0] + grad * grad
    return -opt.lr * grad / (xp.sqrt(CHAPTER_G[0]) + opt.eps), \
        {"t": state["t"] + 1, "G": CHAPTER_G[0]}


def adagrad_five(opt, grad, state):                # shapes: a loop over the chapter's 5
    G, update = xp.zeros_like(grad), xp.zeros_like(grad)
    for i in range(5):
        G[i] = state["G"][i] + grad[i] * grad[i]
        update[i] = -opt.lr * grad[i] / (xp.sqrt(G[i]) + opt.eps)
    return update, {"t": state["t"] + 1, "G": G}


def adagrad_eps_inside(opt, grad, state):          # regime: eps inside the root
    G = state["G"] + grad * grad
    return -opt.lr * grad / xp.sqrt(G + opt.eps), {"t": state["t"] + 1, "G": G}


def adagrad_eps_squared_inside(opt, grad, state):  # regime: sqrt(G + eps^2)
    G = state["G"] + grad * grad
    return -opt.lr * grad / xp.sqrt(G + opt.eps ** 2), {"t": state["t"] + 1, "G": G}


def adagrad_eps_after(opt, grad, state):           # regime: eps added to the quotient
    G = state["G"] + grad * grad
    return -opt.lr * grad / xp.sqrt(G) + opt.eps, {"t": state["t"] + 1, "G": G}


def adagrad_in_place(opt, grad, state):            # contract: state["G"] += g^2
    state["G"] += grad * grad
    G = state["G"]
    return -opt.lr * grad / (xp.sqrt(G) + opt.eps), {"t": state["t"] + 1, "G": G}


def adagrad_dict_updated(opt, grad, state):        # contract: the caller's dict updated
    state["G"] = state["G"] + grad * grad
    state["t"] = state["t"] + 1
    return -opt.lr * grad / (xp.sqrt(state["G"]) + opt.eps), state


def adagrad_on_opt(opt, grad, state):              # contract: the state kept on opt
    opt.G = getattr(opt, "G", state["G"]) + grad * grad
    return -opt.lr * grad / (xp.sqrt(opt.G) + opt.eps), {"t": state["t"] + 1, "G": opt.G}


def adagrad_no_t(opt, grad, state):                # contract: the chapter's {"G": G} only
    update, new = _adagrad(opt, grad, state)
    return update, {"G": new["G"]}


def adagrad_t_kept(opt, grad, state):              # contract: t not counted
    update, new = _adagrad(opt, grad, state)
    return update, {"t": state["t"], "G": new["G"]}


def adagrad_float64(opt, grad, state):             # contract: float64 accumulator
    G = xp.astype(state["G"], xp.float64) + xp.astype(grad, xp.float64) ** 2
    return -opt.lr * grad / (xp.sqrt(G) + opt.eps), {"t": state["t"] + 1, "G": G}


def adagrad_abs(opt, grad, state):                 # math: forgotten square
    G = state["G"] + xp.abs(grad)
    return -opt.lr * grad / (xp.sqrt(G) + opt.eps), {"t": state["t"] + 1, "G": G}


def adagrad_no_root(opt, grad, state):             # math: forgotten root
    G = state["G"] + grad * grad
    return -opt.lr * grad / (G + opt.eps), {"t": state["t"] + 1, "G": G}


def adagrad_previous_G(opt, grad, state):          # math: G_{t-1} for G_t
    G = state["G"] + grad * grad
    return -opt.lr * grad / (xp.sqrt(state["G"]) + opt.eps), {"t": state["t"] + 1, "G": G}


def adagrad_no_sum(opt, grad, state):              # math: only this step's square
    G = grad * grad
    return -opt.lr * grad / (xp.sqrt(G) + opt.eps), {"t": state["t"] + 1, "G": G}


def adagrad_mean(opt, grad, state):                # math: the mean of the squares
    G = state["G"] + grad * grad
    return -opt.lr * grad / (xp.sqrt(G / (state["t"] + 1)) + opt.eps), \
        {"t": state["t"] + 1, "G": G}


def adagrad_ascent(opt, grad, state):              # math: sign
    update, new = _adagrad(opt, grad, state)
    return -update, new


def test_adagrad_step_wrong_versions():
    for fn in (adagrad_eps_default, adagrad_lr_default, adagrad_lr_chapter, adagrad_global_G,
               adagrad_five, adagrad_eps_inside, adagrad_eps_squared_inside, adagrad_eps_after,
               adagrad_in_place, adagrad_dict_updated, adagrad_on_opt, adagrad_no_t,
               adagrad_t_kept, adagrad_float64, adagrad_abs, adagrad_no_root, adagrad_previous_G,
               adagrad_no_sum, adagrad_mean, adagrad_ascent):
        assert_flagged("adagrad_step", fn)
