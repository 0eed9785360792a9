"""Solutions to the chapters' exercises: the graded functions (each is `right` by `check`), then the
answers to the open questions, chapter by chapter (`answer("3.3")` prints one).

Read a solution after writing your own: the check tells you whether yours is right."""
import numpy as np

from minil2o import convolution, lstm
from minil2o.autograd import custom_op
from minil2o.backend import xp


# ------------------------------------------------------------------ chapter 1
def adagrad_step(opt, grad, state):
    G = state["G"] + grad * grad                                   # G_t = G_{t-1} + g_t^2
    update = -opt.lr * grad / (xp.sqrt(G) + opt.eps)               # eq. (1.6)
    return update, {"t": state["t"] + 1, "G": G}


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
        dxs[t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm.lstm_step_backward(
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
def my_loss_and_grad(problem, theta, batch=None):
    B, d = problem.num_problems, problem.dim
    r = xp.reshape(xp.matmul(problem.W, xp.reshape(theta, (B, d, 1))), (B, d)) - problem.y   # (B, d)
    Wt = xp.permute_dims(problem.W, (0, 2, 1))                     # (B, d, d)
    grad = 2.0 * xp.matmul(Wt, xp.reshape(r, (B, d, 1)))           # (B, d, 1), eq. (5.2)
    return xp.sum(r * r), xp.reshape(grad, (-1,))                  # eq. (5.1)


def my_hvp(problem, theta, v, batch=None):
    B, d = problem.num_problems, problem.dim
    Wv = xp.matmul(problem.W, xp.reshape(v, (B, d, 1)))            # (B, d, 1)
    Wt = xp.permute_dims(problem.W, (0, 2, 1))
    return xp.reshape(2.0 * xp.matmul(Wt, Wv), (-1,))              # eq. (5.3)


# ------------------------------------------------------------------ chapter 6
def my_mlp_loss_and_grad(problem, theta, batch):
    """B instances at once, any activation, the rows `batch` (None: the whole data set)."""
    X, Y = problem.data(batch)                                     # (B, N, D), (B, N, C)
    Ws = problem.layers(theta)                                     # [(W_l, b_l)]
    hs, slopes = [X], []                                           # h_0 = X
    for W, b in Ws[:-1]:
        h, slope = problem.phi(hs[-1] @ W + b)[:2]                 # eq. (6.1)
        hs.append(h)
        slopes.append(slope)
    z = hs[-1] @ Ws[-1][0] + Ws[-1][1]                             # (B, N, C)
    z = z - xp.max(z, axis=2, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=2, keepdims=True))   # (B, N, C)
    N = X.shape[1]
    f = -xp.sum(Y * log_p) / N                                     # eq. (6.2), summed over B
    delta = (xp.exp(log_p) - Y) / N                                # delta_L, eq. (6.3)
    grads = []
    for layer in range(len(Ws) - 1, -1, -1):
        grads = [(xp.matrix_transpose(hs[layer]) @ delta, xp.sum(delta, axis=1))] + grads
        if layer > 0:
            delta = (delta @ xp.matrix_transpose(Ws[layer][0])) * slopes[layer - 1]
    return f, problem.flatten(grads)


# ------------------------------------------------------------------ chapter 7
def my_conv2d_backward(dout, cache):
    x_shape, cols, w = cache
    N, F, H, W = dout.shape
    dout2 = xp.reshape(xp.permute_dims(dout, (1, 0, 2, 3)), (F, N * H * W))   # (F, NHW)
    dw = xp.reshape(dout2 @ cols.T, w.shape)                       # eq. (7.2)
    db = xp.sum(dout2, axis=1)
    dcols = xp.reshape(w, (F, cols.shape[0])).T @ dout2            # (Ckk, NHW)
    return convolution.col2im(dcols, x_shape, w.shape[2]), dw, db


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
    from minil2o.lstm import lstm_stack_backward
    grad, parts, (x, _), (z, _), caches, (top, _), y = cache
    out = y[:, 0]                                                  # tanh of the read-out, (n,)
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_o = (-opt.alpha * d_update * (1.0 - out * out))[:, None]     # (n, 1), eq. (9.7)
    d_phi["Wout"] += top.T @ d_o
    d_phi["bout"] += xp.sum(d_o, axis=0)
    d_z, d_prev = lstm_stack_backward(d_o @ phi["Wout"].T, d_state, caches, d_phi)
    d_pre = d_z * xp.where(z > 0, xp.ones_like(z), z + 1.0)        # ELU', eq. (9.8)
    d_phi["Win"] += x.T @ d_pre
    d_phi["bin"] += xp.sum(d_pre, axis=0)
    d_x = d_pre @ phi["Win"].T                                     # (n, 2), eq. (9.9)
    d_m, d_v, d_grad = my_relative_inputs_backward(opt, d_x, grad, d_state, parts)
    return d_phi, {**d_prev, "m": d_m, "v": d_v, "t": 0}, d_grad


# ------------------------------------------------------------------ chapter 10
def my_logsumexp(x, axis=-1, keepdims=False):
    from array_api_compat import array_namespace
    ns = array_namespace(x)                                        # x's own namespace, not xp
    m = ns.max(x, axis=axis, keepdims=True)                        # one max per slice
    out = m + ns.log(ns.sum(ns.exp(x - m), axis=axis, keepdims=True))   # eq. (10.1)
    return out if keepdims else ns.squeeze(out, axis=axis)


# ------------------------------------------------------------------ chapter 11
def my_adam_update(opt, grads, state, params):
    t = state["t"] + 1
    keys = list(params) if isinstance(params, dict) else range(len(params))
    new = {"p": [], "m": [], "v": []}
    for k in keys:
        g = grads[k]
        m = opt.beta1 * state["m"][k] + (1.0 - opt.beta1) * g      # eq. (11.3)
        v = opt.beta2 * state["v"][k] + (1.0 - opt.beta2) * g * g
        m_hat, v_hat = m / (1.0 - opt.beta1 ** t), v / (1.0 - opt.beta2 ** t)
        new["p"].append(params[k] - opt.lr * m_hat / (xp.sqrt(v_hat) + opt.eps))
        new["m"].append(m)
        new["v"].append(v)
    like = (lambda a: dict(zip(keys, a))) if isinstance(params, dict) else type(params)
    return like(new["p"]), {"t": t, "m": like(new["m"]), "v": like(new["v"])}


# ------------------------------------------------------------------ open questions
ANSWERS = {
    "1.2": """First class. Momentum is linear in the gradients, m_t(c g) = c m_t(g), so its step
-alpha m_t scales with c exactly as SGD's does; rerunning the scaling cell shows three different
curves, and the learning rate good for one c is wrong for the others.""",
    "1.3": """Along the steep eigenvector the error is multiplied by 1 - alpha lambda_max per step, so
it grows iff alpha > 2 / lambda_max: bisection converges to 2 / lambda_max, up to how well 200 steps
tell a factor just above 1 in magnitude from one just below (about 1/200 relative in alpha).""",
    "1.4": """Adam's step is m^ / (sqrt(v^) + eps). Scaling g by c gives c m^ / (c sqrt(v^) + eps):
the invariance holds while c sqrt(v^) >> eps = 1e-8. On the first step sqrt(v^) = |g|, so
coordinate i changes by about eps / (c |g_i|): with c = 1e-3 and these five gradients (|g_i| from
0.10 to 0.64) that is 1.6e-5 to 9.5e-5, which the cell prints as 3.3e-05 (its relative error (2.5)
divides by the sum of both norms, about half of a typical coordinate's change); at c = 1e3 it is a
million times smaller (3.3e-08). The change is of order 1 near c = eps / |g|, about 1e-8, below
which the step shrinks like c, as SGD's does.""",
    "2.2": """dL/da goes wrong, dL/db stays right. a is used twice (in a * b and in the + a), and its
second contribution overwrites the first instead of adding to it (eq. (2.1) sums over every use);
b is used once, so = and += agree for it.""",
    "2.3": """On the right (large h) the error is the truncation term h^2 f'''/6: slope +2 on the
log-log plot. On the left (small h) it is rounding, about eps_mach |f| / h: slope -1. They meet near
h = eps_mach^(1/3), about 1e-5 in float64, where the error is about eps_mach^(2/3), 1e-11.""",
    "2.4": """In float32 exp(-x) overflows to inf for x < -88: 1 / (1 + inf) still gives the limit 0,
but with an overflow warning, and any formula that goes on to use exp(-x) (such as its derivative
e^-x / (1 + e^-x)^2 = inf / inf) gives nan. (1 + tanh(x/2)) / 2 never overflows: tanh is bounded,
and the result is accurate for every x.""",
    "3.3": """With the forget gate's bias at +3, f is close to sigma(3) = 0.95 at every step, so the
cell path (3.3) carries the gradient back multiplied by about 0.95 per step instead of 0.5: the
curves become almost flat (the fitted factor per step back is about 1 instead of 0.6), and the
gradient reaches back over the whole sequence. The cell path is the LSTM's answer to (3.11).""",
    "3.4": """The parameter gradients: dWx = x^T da, dWh = h_prev^T da and db = sum_n da_n each sum over
the rows n, which are the optimizee's coordinates. That is how one small LSTM learns from all
coordinates at once.""",
    "4.2": """With weights "last", w_t = 0 for t < K and w_K = 1, so (4.2) gives a_t = grad_K for every
t <= K: every update is judged only by its effect on the final loss, through the final gradient.""",
    "4.3": """Each meta-step adds one Hessian-vector product per step and the backward pass through the
inputs (d grad). In one run of the section's loop (float64, CPU) the 300 meta-steps took about 15 %
longer with second derivatives, and the optimizer came out somewhat better: mean final f on the 20
test problems 0.45 against 0.51, meta-loss over the last 50 meta-steps 11.1 against 13.2. One run
and one seed: the difference is modest, which is why the paper could drop the dashed edges.""",
    "4.4": """The DM optimizer is in the first class: it reads the raw gradient (preprocess="none"), so
scaling f by 10 scales its inputs by 10, outside what it saw in training, and nothing rescales its
updates to compensate. Measured on 20 problems of the training family, its final loss (divided by
c) is about three times higher at c = 10 than at c = 1 (24.9 against 8.1); Adam's would not
change.""",
    "5.2": """Keeping the dashed edges costs one Hessian-vector product per step of every truncation
(and the backward pass through the inputs), so a meta-step is slower (about 15 % in chapter 4's
toy loop). In chapter 4's toy run it gave a somewhat better optimizer after the same number of
meta-steps (answer 4.3); rerun this chapter's Trainer with second_derivatives=True and compare the
validation scores epoch by epoch to see whether that holds here.""",
    "5.3": """It runs because the LSTM is coordinatewise: the same phi acts on 20 coordinates as on 10.
But it no longer wins: measured with the shipped optimizer on 20 functions of dimension 20, it ends
at 2.5 +- 0.3 against tuned Adam's 0.62 +- 0.15 (its 10-d advantage is gone). Larger quadratics
have larger gradients and other curvatures than the ones it learned, and with preprocess="none" it
is in chapter 1's first class; Adam's step is scale-free.""",
    "5.4": """With preprocess="none" the LSTM reads raw gradients, ten times larger than in training.
Measured with the shipped optimizer on 20 functions: its mean final f / c grows from 0.26 at c = 1
to 4.8 at c = 10, while Adam (lr 0.5) ends at 0.30 for both: Adam's steps are unchanged up to eps,
the learned optimizer's are not (chapter 1's first class).""",
    "6.2": """It runs on both because it is coordinatewise: the same LSTM acts on 4150 or 15910
coordinates. It does not behave better on the digits it was trained on: measured at step 200 on 10
problems of the 784-pixel network (Adam and SGD tuned on 2), it ends at 0.17 +- 0.02, behind tuned
SGD (0.15 +- 0.01) and tuned Adam (0.10 +- 0.01), a larger gap than on the pooled digits. What holds
it back at step 200 is the horizon (it was trained for 100 steps), not the pooling.""",
    "6.3": """With "log" (Appendix A, p = 10) sizes from e^-10 = 4.5e-5 to 1 become log|g| / p, from
-1 to 0, distinct at order 1; below e^-10 the first channel is -1 and the second e^p g, which still
tells 1e-5 (0.22) from 1e-6 (0.022) but is near 0 for 1e-8 (2e-4). With "none" the input is g
itself: every size below about 1e-2 is close to 0 for an LSTM whose weights are of order 1. An
optimizer trained without preprocessing cannot adapt its steps to small gradients, which is why the
paper preprocesses on MNIST, whose gradients are small.""",
    "6.4": """tanh(x) = 2 sigma(2x) - 1 is a rescaled sigmoid: smooth and saturating, with the same kind
of gradients; ReLU is piecewise linear and unbounded. Measured on one tanh network (100 steps), the
learned optimizer ends at 0.24, between tuned SGD (0.29) and tuned Adam (0.16): 1.5 times Adam's
loss, as on 40 units, while on ReLU it is 1.9 times Adam's and close to SGD. So tanh is closer to
sigmoid for this optimizer.""",
    "7.2": """A single LSTM sees the conv and the fully connected coordinates together. Measured at
initialization on three CNNs of this family, the conv gradients are larger: 1.2 to 2 times in root
mean square and 3 to 10 times in median magnitude (conv weights are shared over all pixel
positions, so their gradients are sums over positions). One optimizer must compromise on step
sizes, which is why the paper gives each group its own.""",
    "7.3": """This is "LSTM-sub" of Fig. 7: the optimizer is tested on labels its training never used.
The optimizee's gradients have similar statistics on both halves, so the paper found that it
transfers; with this chapter's tiny training, compare it with the pair trained on all labels.""",
    "8.2": """Measured with Adam (lr 0.02, 128 steps). Without the style term the image stays close to
the photograph (its content term ends at 0.0014) and only the starting noise is smoothed away; its
style term stays far from the gravel's (1.6e-3, against 3.6e-6 with both terms). Without the content
term the style is matched (2.5e-6) and the image drifts from the cat: its content term ends at
0.027, twenty times higher. The content term keeps the picture, the style term brings the texture.""",
    "8.3": """Much longer. From noise f starts at 56 instead of 1.6; after 128 steps Adam is at 0.098 and
after 512 at 0.059, still above the 0.038 that the content start reaches in 128 steps: more than
four times as many steps, because the content term must first build the image.""",
    "8.4": """Measured at 128 steps: lr 0.005 ends at 0.053, 0.02 at 0.038, 0.08 at 0.035 (with a few
steps where f rose). Too small a rate leaves the style unfinished; between 0.02 and 0.08 it matters
little here, but the good range has to be found by a search for each image size and weighting. A
learned optimizer picks its steps from the gradients it sees, with no rate to tune; the shipped
one does not yet beat the tuned Adam (section 8.3).""",
    "9.2": """The inputs (9.2) are invariant to scaling f, but Random Scaling (9.4) scales theta:
f_c(theta) = f(c theta) needs steps 1/c times as large in theta, while RNNprop's update is
-alpha tanh(.) with a fixed alpha. Trained on one scale the LSTM learns one step size; Random
Scaling makes it adapt its steps to each coordinate's curvature. The convex term (9.6) teaches it to
finish a plain convex descent, which the noisy MLP losses never show it.""",
    "9.3": """For RNNprop nothing changes (up to eps): the inputs (9.2) are ratios of gradients, so
1000 f gives the same inputs, the same updates and the same trajectory. The DM optimizer's inputs
(Appendix A) change with the gradient's size, so its trajectory changes.""",
    "10.1": """Nothing beyond the last digits: the strict namespace runs the same float64 computations
through the array API standard, so the printed errors agree; an error there would point at a
NumPy-only call in the code.""",
    "10.2": """array_api_strict refuses the NumPy array with a TypeError: the conversion belongs at
the edge, asarray(u) where the data enters the library, not inside the computation.""",
    "10.3": """For B = 1 (10 coordinates) kernel launches dominate and numpy wins; the GPU wins once the
batched matrix products carry enough work, typically between B = 128 and B = 16384 for d = 10. The
crossover depends on the GPU: time it.""",
}


def answer(key, show=False):
    """The answer to open question `key` ("chapter.exercise", e.g. "3.3"), printed with show=True."""
    if key not in ANSWERS:
        raise KeyError(f"no answer is written for question {key}")
    print(ANSWERS[key].strip() if show else
          f"Question {key}: try it first, then rerun with answer({key!r}, show=True).")
