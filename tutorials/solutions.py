"""Solutions to the chapters' exercises: the graded functions (each passes `checks.check`), then the
answers to the open questions, chapter by chapter (`answer("3.3")` prints one).

Read a solution after writing your own: the check tells you whether yours is right."""
import numpy as np

from minil2o import layers
from minil2o.autograd import custom_op
from minil2o.backend import xp


# ------------------------------------------------------------------ chapter 1
def adagrad_step(g, state, lr, eps=1e-10):
    G = state["G"] + g * g                                         # G_t = G_{t-1} + g_t^2
    return -lr * g / (xp.sqrt(G) + eps), {"G": G}                  # -alpha g_t / (sqrt(G_t) + eps)


# ------------------------------------------------------------------ chapter 2
def my_sigmoid(x):
    s = 1.0 / (1.0 + xp.exp(-x.data))                              # sigma(x)
    return custom_op([x], s, lambda s_bar: [s_bar * s * (1.0 - s)], name="sigmoid")   # eq. (2.6)


# ------------------------------------------------------------------ chapter 3
def my_lstm_step_backward(dh, dc, cache):
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    dc_tot = dc + dh * o * (1.0 - tanh_c * tanh_c)                 # (N, H), eq. (3.5)
    do, di, df, dg = dh * tanh_c, dc_tot * g, dc_tot * c_prev, dc_tot * i   # eq. (3.6)
    dc_prev = dc_tot * f
    da = xp.concat([di * i * (1.0 - i), df * f * (1.0 - f), do * o * (1.0 - o),
                    dg * (1.0 - g * g)], axis=1)                   # (N, 4H), eq. (3.7)
    dx, dh_prev = da @ Wx.T, da @ Wh.T                             # eq. (3.8)
    return dx, dh_prev, dc_prev, x.T @ da, h_prev.T @ da, xp.sum(da, axis=0)


def my_lstm_backward(dhs, caches):
    T = dhs.shape[1]
    dh_next = xp.zeros_like(dhs[:, 0, :])                          # (N, H)
    dc_next = xp.zeros_like(dh_next)
    dxs, dWx, dWh, db = [None] * T, 0.0, 0.0, 0.0
    for t in range(T - 1, -1, -1):                                 # eq. (3.10)
        dxs[t], dh_next, dc_next, dWx_t, dWh_t, db_t = layers.lstm_step_backward(
            dhs[:, t, :] + dh_next, dc_next, caches[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return xp.stack(dxs, axis=1), dh_next, dWx, dWh, db


# ------------------------------------------------------------------ chapter 4
def my_meta_gradient(opt, phi, problem, tr, weights, second_derivatives=False):
    from minil2o.meta import zeros_like_state
    K, B = len(tr.caches), getattr(problem, "num_problems", 1)
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_state = zeros_like_state(tr.state)
    a = xp.zeros_like(tr.grads[0])                                 # a_{K+1} = 0
    for t in range(K, 0, -1):
        a = a + (weights[t - 1] / B) * tr.grads[t]                 # eq. (4.1), with (4.6)'s 1/B
        d_phi_t, d_state, d_grad = opt.step_backward(phi, a, d_state, tr.caches[t - 1],
                                                     need_d_grad=second_derivatives)   # (4.3)
        for k in d_phi:
            d_phi[k] = d_phi[k] + d_phi_t[k]                       # eq. (4.4)
        if second_derivatives:
            a = a + problem.hvp(tr.thetas[t - 1], d_grad, tr.batches[t - 1])   # eq. (4.5)
    return d_phi


# ------------------------------------------------------------------ chapter 5
def my_loss_and_grad(problem, theta):
    B, d = problem.num_problems, problem.dim
    r = xp.reshape(xp.matmul(problem.W, xp.reshape(theta, (B, d, 1))), (B, d)) - problem.y   # (B, d)
    Wt = xp.permute_dims(problem.W, (0, 2, 1))                     # (B, d, d)
    grad = 2.0 * xp.matmul(Wt, xp.reshape(r, (B, d, 1)))           # (B, d, 1), eq. (5.2)
    return xp.sum(r * r), xp.reshape(grad, (-1,))                  # eq. (5.1)


def my_hvp(problem, theta, v):
    B, d = problem.num_problems, problem.dim
    Wv = xp.matmul(problem.W, xp.reshape(v, (B, d, 1)))            # (B, d, 1)
    Wt = xp.permute_dims(problem.W, (0, 2, 1))
    return xp.reshape(2.0 * xp.matmul(Wt, Wv), (-1,))              # eq. (5.3)


# ------------------------------------------------------------------ chapter 6
def my_mlp_loss_and_grad(problem, theta, batch):
    """One instance, sigmoid hidden layers, the whole data set (batch None)."""
    X, Y, slices = problem.family.X, problem.family.Y, problem.family.slices
    Ws = [(xp.reshape(theta[w], shape), theta[b]) for w, b, shape in slices]
    hs = [X]                                                       # h_0 = X, (N, D)
    for W, b in Ws[:-1]:
        hs.append(1.0 / (1.0 + xp.exp(-(hs[-1] @ W + b))))         # eq. (6.1)
    z = hs[-1] @ Ws[-1][0] + Ws[-1][1]                             # (N, C)
    z = z - xp.max(z, axis=1, keepdims=True)
    log_sum = xp.log(xp.sum(xp.exp(z), axis=1))                    # (N,)
    N = X.shape[0]
    f = xp.sum(log_sum - xp.sum(Y * z, axis=1)) / N                # eq. (6.2)
    delta = (xp.exp(z - log_sum[:, None]) - Y) / N                 # delta_L, eq. (6.3)
    grads = []
    for layer in range(len(Ws) - 1, -1, -1):
        grads = [xp.reshape(hs[layer].T @ delta, (-1,)), xp.sum(delta, axis=0)] + grads
        if layer > 0:
            h = hs[layer]
            delta = (delta @ Ws[layer][0].T) * h * (1.0 - h)       # delta_{l-1}
    return f, xp.concat(grads)


# ------------------------------------------------------------------ chapter 7
def my_conv2d_backward(dout, cache):
    x_shape, cols, w = cache
    N, F, H, W = dout.shape
    dout2 = xp.reshape(xp.permute_dims(dout, (1, 0, 2, 3)), (F, N * H * W))   # (F, NHW)
    dw = xp.reshape(dout2 @ cols.T, w.shape)                       # eq. (7.2)
    db = xp.sum(dout2, axis=1)
    dcols = xp.reshape(w, (F, cols.shape[0])).T @ dout2            # (Ckk, NHW)
    return layers.col2im(dcols, x_shape, w.shape[2]), dw, db


# ------------------------------------------------------------------ chapter 8
def my_gram_backward(dG, F, shape):
    return xp.reshape((dG + dG.T) @ F / F.shape[1], shape)         # eq. (8.5)


# ------------------------------------------------------------------ chapter 9
def my_relative_inputs_backward(opt, d_x, grad, d_state, parts):
    t, m, v, c1, c2, sqrt_v, denom = parts
    m_hat = m / c1
    d_denom = -(d_x[:, 0] * m_hat + d_x[:, 1] * grad) / (denom * denom)   # eq. (9.10)
    d_v = d_denom / (2.0 * sqrt_v) / c2 + d_state["v"]             # eq. (9.11)
    d_m = d_x[:, 0] / (denom * c1) + d_state["m"]                  # eq. (9.12)
    d_grad = d_x[:, 1] / denom + (1.0 - opt.beta1) * d_m + 2.0 * (1.0 - opt.beta2) * grad * d_v
    return opt.beta1 * d_m, opt.beta2 * d_v, d_grad                # eq. (9.13)


def my_rnnprop_step_backward(opt, phi, d_update, d_state, cache, need_d_grad=True):
    from minil2o.optimizers.learned import lstm_stack_backward
    grad, x, pre, z, top, out, caches, parts = cache
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_o = (-opt.alpha * d_update * (1.0 - out * out))[:, None]     # (n, 1), eq. (9.7)
    d_phi["Wout"] += top.T @ d_o
    d_phi["bout"] += xp.sum(d_o, axis=0)
    d_z, d_prev = lstm_stack_backward(d_o @ phi["Wout"].T, d_state, caches, d_phi)
    d_pre = d_z * xp.where(pre > 0, xp.ones_like(pre), z + 1.0)    # ELU', eq. (9.8)
    d_phi["Win"] += x.T @ d_pre
    d_phi["bin"] += xp.sum(d_pre, axis=0)
    d_x = d_pre @ phi["Win"].T                                     # (n, 2), eq. (9.9)
    d_m, d_v, d_grad = my_relative_inputs_backward(opt, d_x, grad, d_state, parts)
    return d_phi, {**d_prev, "m": d_m, "v": d_v, "t": 0}, d_grad


# ------------------------------------------------------------------ open questions
ANSWERS = {}


def answer(key):
    """Print the answer to open question `key` ("chapter.exercise", e.g. "3.3")."""
    print(ANSWERS.get(key, f"no answer is written for {key}").strip())
