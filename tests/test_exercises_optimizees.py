"""The optimizees' exercises (chapters 5 and 6) and the meta-gradient (chapter 4): the library, a
loop and a vectorised version (and the chapter's solution where it is right) pass every case; a
wrong version of each category of mistake is flagged: a setting written in at its default, one
shape only, a regime where the mistake hides, a broken contract, plain math."""
import pathlib
import sys

from minil2o.backend import asarray, to_numpy, xp
from minil2o.gradcheck import check_gradients
from minil2o.meta import zeros_like_state
from minil2o.workbook import checks_meta, checks_optimizees as checks
from minil2o.workbook.measure import Case, case_rng
from exercise_tools import assert_flagged, assert_right, library

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tutorials"))
import solutions  # noqa: E402


def blocks(problem, x):
    """x: (n,) as (B, d, 1), the B blocks of a quadratic's vector as columns."""
    return xp.reshape(x, (problem.num_problems, problem.dim, 1))


def transposed(W):
    return xp.permute_dims(W, (0, 2, 1))


# -- quadratic_loss_and_grad ----------------------------------------------------------------------
def quadratic_loop(problem, theta, batch=None):
    B, d = problem.num_problems, problem.dim
    F, pieces = xp.zeros((), dtype=theta.dtype), []
    for b in range(B):
        W, y = problem.W[b, :, :], problem.y[b, :]
        r = W @ theta[b * d:(b + 1) * d] - y                       # (d,)
        F = F + xp.sum(r * r)
        pieces.append(2.0 * (xp.matrix_transpose(W) @ r))
    return F, xp.concat(pieces)


def quadratic_vectorised(problem, theta, batch=None):
    B, d = problem.num_problems, problem.dim
    t = xp.reshape(theta, (B, 1, d))
    r = xp.sum(problem.W * t, axis=2) - problem.y                  # (B, d)
    grad = 2.0 * xp.sum(problem.W * xp.reshape(r, (B, d, 1)), axis=1)   # (B, d): W_b^T r_b
    return xp.sum(r * r), xp.reshape(grad, (-1,))


def test_quadratic_loss_and_grad_right_versions():
    for fn in (library("quadratic_loss_and_grad"), solutions.my_loss_and_grad):
        assert_right("quadratic_loss_and_grad", fn)
    assert_right("quadratic_loss_and_grad", quadratic_loop)
    assert_right("quadratic_loss_and_grad", quadratic_vectorised)


def quadratic_d10(problem, theta, batch=None):                # settings: the chapter's d = 10
    B = problem.num_problems
    r = xp.reshape(problem.W @ xp.reshape(theta, (B, 10, 1)), (B, 10)) - problem.y
    return xp.sum(r * r), 2.0 * xp.reshape(transposed(problem.W) @ xp.reshape(r, (B, 10, 1)),
                                           (-1,))


def quadratic_first_function(problem, theta, batch=None):     # shapes: one function (B = 1)
    d = problem.dim
    W, y = problem.W[0, :, :], problem.y[0, :]
    r = xp.reshape(theta, (-1, d)) @ xp.matrix_transpose(W) - y   # (B, d), every block on W_1
    return xp.sum(r * r), xp.reshape(2.0 * (r @ W), (-1,))


def quadratic_W_for_Wt(problem, theta, batch=None):           # math: W for W^T
    r = xp.reshape(problem.W @ blocks(problem, theta), problem.y.shape) - problem.y
    return xp.sum(r * r), 2.0 * xp.reshape(problem.W @ xp.reshape(r, (*r.shape, 1)), (-1,))


def quadratic_no_2(problem, theta, batch=None):               # math: the factor 2 forgotten
    r = xp.reshape(problem.W @ blocks(problem, theta), problem.y.shape) - problem.y
    return xp.sum(r * r), xp.reshape(transposed(problem.W) @ xp.reshape(r, (*r.shape, 1)), (-1,))


def quadratic_mean(problem, theta, batch=None):               # regime: a mean over the B functions
    r = xp.reshape(problem.W @ blocks(problem, theta), problem.y.shape) - problem.y
    B = problem.num_problems
    return xp.sum(r * r) / B, 2.0 * xp.reshape(transposed(problem.W)
                                               @ xp.reshape(r, (*r.shape, 1)), (-1,)) / B


def quadratic_mean_entries(problem, theta, batch=None):       # math: ||r||^2 as a mean of r^2
    r = xp.reshape(problem.W @ blocks(problem, theta), problem.y.shape) - problem.y
    d = problem.dim
    return xp.sum(r * r) / d, 2.0 * xp.reshape(transposed(problem.W)
                                               @ xp.reshape(r, (*r.shape, 1)), (-1,)) / d


def quadratic_sign(problem, theta, batch=None):               # math: y - W theta for the residual
    r = problem.y - xp.reshape(problem.W @ blocks(problem, theta), problem.y.shape)
    return xp.sum(r * r), 2.0 * xp.reshape(transposed(problem.W)
                                           @ xp.reshape(r, (*r.shape, 1)), (-1,))


def quadratic_float64(problem, theta, batch=None):            # contract: float64 accumulators
    F, grad = quadratic_loop(problem, xp.astype(theta, xp.float64))
    return F, grad


def quadratic_mutates_y(problem, theta, batch=None):          # contract: y reused in place
    y = problem.y
    y *= -1.0                                                  # y := -y, to add it below
    r = xp.reshape(problem.W @ blocks(problem, theta), y.shape) + y
    return xp.sum(r * r), 2.0 * xp.reshape(transposed(problem.W) @ xp.reshape(r, (*r.shape, 1)),
                                           (-1,))


def quadratic_F_per_function(problem, theta, batch=None):     # contract: F of shape (B,)
    r = xp.reshape(problem.W @ blocks(problem, theta), problem.y.shape) - problem.y
    return xp.sum(r * r, axis=1), 2.0 * xp.reshape(transposed(problem.W)
                                                   @ xp.reshape(r, (*r.shape, 1)), (-1,))


def test_quadratic_loss_and_grad_wrong_versions():
    for fn in (quadratic_d10, quadratic_first_function, quadratic_W_for_Wt, quadratic_no_2,
               quadratic_mean, quadratic_mean_entries, quadratic_sign, quadratic_float64,
               quadratic_mutates_y, quadratic_F_per_function):
        assert_flagged("quadratic_loss_and_grad", fn)


def off_default(case):
    """The settings of a case that are not at their library defaults."""
    return [k for k, v in case.settings.items() if k in case.defaults and v != case.defaults[k]]


def test_quadratic_verdict_names_the_size():
    result = assert_flagged("quadratic_loss_and_grad", quadratic_d10)
    assert "d = " in result.line() and "d" in off_default(result.case)


# -- quadratic_hvp --------------------------------------------------------------------------------
def hvp_loop(problem, theta, v, batch=None):
    d = problem.dim
    out = []
    for b in range(problem.num_problems):
        W = problem.W[b, :, :]
        out.append(2.0 * (xp.matrix_transpose(W) @ (W @ v[b * d:(b + 1) * d])))
    return xp.concat(out)


def hvp_vectorised(problem, theta, v, batch=None):
    H = 2.0 * (transposed(problem.W) @ problem.W)               # (B, d, d), formed once
    return xp.reshape(H @ blocks(problem, v), (-1,))


def test_quadratic_hvp_right_versions():
    for fn in (library("quadratic_hvp"), solutions.my_hvp):
        assert_right("quadratic_hvp", fn)
    assert_right("quadratic_hvp", hvp_loop)
    assert_right("quadratic_hvp", hvp_vectorised)


def hvp_no_2(problem, theta, v, batch=None):                  # math: the factor 2 forgotten
    return xp.reshape(transposed(problem.W) @ (problem.W @ blocks(problem, v)), (-1,))


def hvp_WWt(problem, theta, v, batch=None):                   # math: W W^T for W^T W
    return 2.0 * xp.reshape(problem.W @ (transposed(problem.W) @ blocks(problem, v)), (-1,))


def hvp_blocks_transposed(problem, theta, v, batch=None):     # shapes: v read as (d, B)
    B, d = problem.num_problems, problem.dim
    vb = xp.reshape(xp.matrix_transpose(xp.reshape(v, (d, B))), (B, d, 1))
    return 2.0 * xp.reshape(transposed(problem.W) @ (problem.W @ vb), (-1,))


def hvp_first_block(problem, theta, v, batch=None):           # shapes: v_1 for every block
    d = problem.dim
    v1 = xp.reshape(v[:d], (1, d, 1))
    return 2.0 * xp.reshape(transposed(problem.W) @ (problem.W @ v1), (-1,))


def hvp_at_theta(problem, theta, v, batch=None):              # math: H theta for H v
    return 2.0 * xp.reshape(transposed(problem.W) @ (problem.W @ blocks(problem, theta)), (-1,))


def hvp_gradient_at_v(problem, theta, v, batch=None):         # math: the gradient at v
    r = problem.W @ blocks(problem, v) - xp.reshape(problem.y, (*problem.y.shape, 1))
    return 2.0 * xp.reshape(transposed(problem.W) @ r, (-1,))


def hvp_d10(problem, theta, v, batch=None):                   # settings: the chapter's d = 10
    vb = xp.reshape(v, (-1, 10, 1))
    return 2.0 * xp.reshape(transposed(problem.W) @ (problem.W @ vb), (-1,))


def hvp_scales_v(problem, theta, v, batch=None):              # contract: v doubled in place
    v *= 2.0
    return xp.reshape(transposed(problem.W) @ (problem.W @ blocks(problem, v)), (-1,))


def hvp_float64(problem, theta, v, batch=None):               # contract: float64 on float32
    return hvp_loop(problem, theta, xp.astype(v, xp.float64))


def test_quadratic_hvp_wrong_versions():
    for fn in (hvp_no_2, hvp_WWt, hvp_blocks_transposed, hvp_first_block, hvp_at_theta,
               hvp_gradient_at_v, hvp_d10, hvp_scales_v, hvp_float64):
        assert_flagged("quadratic_hvp", fn)


# -- mlp_loss_and_grad ----------------------------------------------------------------------------
def mlp_loop(problem, theta, batch):
    """Instance by instance and layer by layer, on 2-d arrays."""
    X, Y = problem.data(batch)                                 # (B or 1, N, D), (B or 1, N, C)
    layers = problem.layers(theta)
    F, pieces = xp.zeros((), dtype=theta.dtype), []
    for k in range(problem.num_problems):
        x, y = X[min(k, X.shape[0] - 1), :, :], Y[min(k, Y.shape[0] - 1), :, :]
        Ws = [(W[k, :, :], b[k, 0, :]) for W, b in layers]
        hs, slopes = [x], []
        for W, b in Ws[:-1]:
            h, slope, _ = problem.phi(hs[-1] @ W + b)
            hs.append(h)
            slopes.append(slope)
        z = hs[-1] @ Ws[-1][0] + Ws[-1][1]                     # (N, C)
        z = z - xp.max(z, axis=1, keepdims=True)
        log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
        N = x.shape[0]
        F = F - xp.sum(y * log_p) / N
        delta, grads = (xp.exp(log_p) - y) / N, []
        for l in range(len(Ws) - 1, -1, -1):
            grads = [xp.reshape(xp.matrix_transpose(hs[l]) @ delta, (-1,)),
                     xp.sum(delta, axis=0)] + grads
            if l > 0:
                delta = (delta @ xp.matrix_transpose(Ws[l][0])) * slopes[l - 1]
        pieces += grads
    return F, xp.concat(pieces)


def mlp_vectorised(problem, theta, batch, slope=None, layer_count=None, rows=None, mean=True,
                   per_instance=False, db_mean=False, slope_of_h=False):
    """All instances at once with log-sum-exp; the keywords are the wrong versions' mistakes."""
    X, Y = problem.data(batch) if rows is None else rows(problem, batch)
    layers = problem.layers(theta)
    if layer_count is not None:
        layers = layers[:layer_count - 1] + layers[-1:]
    hs, pre = [X], []
    for W, b in layers[:-1]:
        pre.append(xp.matmul(hs[-1], W) + b)                   # (B, N, D_l)
        hs.append(problem.phi(pre[-1])[0] if slope is None else slope(pre[-1])[0])
    z = xp.matmul(hs[-1], layers[-1][0]) + layers[-1][1]       # (B, N, C)
    m = xp.max(z, axis=-1, keepdims=True)
    lse = m + xp.log(xp.sum(xp.exp(z - m), axis=-1, keepdims=True))
    N = X.shape[1] if mean else 1
    f = xp.sum(xp.sum(Y * (lse - z), axis=2), axis=1) / N      # (B,)
    delta = (xp.exp(z - lse) - Y) / N
    dWs, dbs = [], []
    for l in range(len(layers) - 1, -1, -1):
        dWs.insert(0, xp.permute_dims(hs[l], (0, 2, 1)) @ delta)
        dbs.insert(0, xp.mean(delta, axis=1) if db_mean else xp.sum(delta, axis=1))
        if l > 0:
            a = hs[l] if slope_of_h else pre[l - 1]
            d1 = problem.phi(a)[1] if slope is None else slope(a)[1]
            delta = (delta @ xp.permute_dims(layers[l][0], (0, 2, 1))) * d1
    B = problem.num_problems
    flat = xp.concat([xp.concat([xp.reshape(dW, (B, -1)), db], axis=1)
                      for dW, db in zip(dWs, dbs)], axis=1)
    return (f if per_instance else xp.sum(f)), xp.reshape(flat, (-1,))


def test_mlp_loss_and_grad_right_versions():
    assert_right("mlp_loss_and_grad", library("mlp_loss_and_grad"))
    assert_right("mlp_loss_and_grad", mlp_loop)
    assert_right("mlp_loss_and_grad", mlp_vectorised)
    assert_right("mlp_loss_and_grad", solutions.my_mlp_loss_and_grad)


def sigmoid_with_slope(a):
    s = 1.0 / (1.0 + xp.exp(-a))
    return s, s * (1.0 - s)


def mlp_sigmoid_only(problem, theta, batch):                  # settings: the chapter's sigmoid
    return mlp_vectorised(problem, theta, batch, slope=sigmoid_with_slope)


def mlp_one_hidden_layer(problem, theta, batch):              # shapes: 784-20-10's one layer
    return mlp_vectorised(problem, theta, batch, layer_count=2)


def every_row(problem, batch):
    return problem.data(None)


def mlp_ignores_batch(problem, theta, batch):                 # regime: every row, always
    return mlp_vectorised(problem, theta, batch, rows=every_row)


def mlp_sum_for_mean(problem, theta, batch):                  # math: sum over the N rows
    return mlp_vectorised(problem, theta, batch, mean=False)


def mlp_mean_over_instances(problem, theta, batch):           # regime: F / B (B = 1 hides it)
    F, grad = mlp_vectorised(problem, theta, batch)
    return F / problem.num_problems, grad / problem.num_problems


def mlp_float64(problem, theta, batch):                       # contract: float64 accumulators
    F, grad = mlp_vectorised(problem, theta, batch)
    return xp.astype(F, xp.float64), xp.astype(grad, xp.float64)


def mlp_writes_into_theta(problem, theta, batch):             # contract: theta's memory reused
    F, grad = mlp_vectorised(problem, theta, batch)
    theta[...] = grad
    return F, theta


def mlp_no_slope(problem, theta, batch):                      # math: phi'(a) missing
    return mlp_vectorised(problem, theta, batch, slope=lambda a: (problem.phi(a)[0], 1.0))


def mlp_slope_of_h(problem, theta, batch):                    # math: phi'(h) for phi'(a)
    return mlp_vectorised(problem, theta, batch, slope_of_h=True)


def mlp_db_mean(problem, theta, batch):                       # math: a mean for db's sum
    return mlp_vectorised(problem, theta, batch, db_mean=True)


def mlp_F_per_instance(problem, theta, batch):                # contract: F of shape (B,)
    return mlp_vectorised(problem, theta, batch, per_instance=True)


def mlp_one_instance(problem, theta, batch):                  # shapes: the chapter's one MLP
    X, Y = problem.family.X, problem.family.Y
    if batch is not None:
        X, Y = xp.take(X, batch, axis=0), xp.take(Y, batch, axis=0)   # (N, D): B = 1 only
    Ws = [(xp.reshape(theta[w], shape), theta[b]) for w, b, shape in problem.family.slices]
    hs, slopes = [X], []
    for W, b in Ws[:-1]:
        h, slope, _ = problem.phi(hs[-1] @ W + b)
        hs.append(h)
        slopes.append(slope)
    z = hs[-1] @ Ws[-1][0] + Ws[-1][1]
    z = z - xp.max(z, axis=1, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    N = X.shape[0]
    delta, grads = (xp.exp(log_p) - Y) / N, []
    for l in range(len(Ws) - 1, -1, -1):
        grads = [xp.reshape(xp.matrix_transpose(hs[l]) @ delta, (-1,)),
                 xp.sum(delta, axis=0)] + grads
        if l > 0:
            delta = (delta @ xp.matrix_transpose(Ws[l][0])) * slopes[l - 1]
    return -xp.sum(Y * log_p) / N, xp.concat(grads)


def test_mlp_loss_and_grad_wrong_versions():
    for fn in (mlp_sigmoid_only, mlp_one_hidden_layer, mlp_ignores_batch, mlp_sum_for_mean,
               mlp_mean_over_instances, mlp_float64, mlp_writes_into_theta, mlp_no_slope,
               mlp_slope_of_h, mlp_db_mean, mlp_F_per_instance, mlp_one_instance):
        assert_flagged("mlp_loss_and_grad", fn)


def test_mlp_verdict_names_the_activation():
    result = assert_flagged("mlp_loss_and_grad", mlp_sigmoid_only)
    assert "activation = " in result.line() and "activation" in off_default(result.case)


def test_mlp_public_pieces():
    """The stub's public names: layers and flatten are inverses, data gives (B, N, .) rows."""
    case = Case(0, case_rng(0, 0))
    host = checks.draw_mlp(case)
    problem = checks.mlp_problem(host, "float64")
    theta, batch, _ = checks.mlp_point(case, host, problem)
    theta = asarray(theta)
    assert to_numpy(problem.flatten(problem.layers(theta))).tolist() == to_numpy(theta).tolist()
    X, Y = problem.data(asarray(batch))
    assert X.shape[:2] == Y.shape[:2] == batch.shape and Y.shape[2] == host["C"]


def test_mlp_reference_agrees_with_central_differences():
    """The check's host backpropagation (its reference) against central differences of the
    library's MLPProblem.loss, over the first cases of the check."""
    for i in range(6):
        case = Case(i, case_rng(0, i))
        host = checks.draw_mlp(case)
        problem = checks.mlp_problem(host, "float64")
        theta, batch, want = checks.mlp_point(case, host, problem)
        b = None if batch is None else asarray(batch)
        errors = check_gradients(lambda theta: problem.loss(theta, b),
                                 {"theta": asarray(theta)}, {"theta": want["grad"]},
                                 verbose=False)
        assert errors["theta"] < 1e-7, (str(case), errors)
        assert abs(float(to_numpy(problem.loss(asarray(theta), b))) - want["F"]) < 1e-12


# -- meta_gradient --------------------------------------------------------------------------------
def meta_two_passes(opt, phi, problem, tr, weights, second_derivatives=False):
    """a_t summed afresh for each t (4.2) from the weighted gradients and the dashed edges' terms
    gathered so far, instead of carried from t+1."""
    K, B = len(tr.caches), getattr(problem, "num_problems", 1)
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_state, extra = zeros_like_state(tr.state), []
    for t in range(K, 0, -1):
        a = xp.zeros_like(tr.grads[0])
        for s in range(t, K + 1):
            a = a + (weights[s - 1] / B) * tr.grads[s]
        for term in extra:
            a = a + term
        d_phi_t, d_state, d_grad = opt.step_backward(phi, a, d_state, tr.caches[t - 1],
                                                     need_d_grad=second_derivatives)
        d_phi = {k: d_phi[k] + d_phi_t[k] for k in d_phi}
        if second_derivatives:
            extra.append(problem.hvp(tr.thetas[t - 1], d_grad, tr.batches[t - 1]))
    return d_phi


def meta_core(opt, phi, problem, tr, weights, second_derivatives=False, K=None, w=None, B=None,
              hvp_at=lambda t: t - 1, batch_at=lambda t: t - 1, grad_at=lambda t: t,
              carry=True, accumulate=True, keep_state=True):
    """The backward walk of (4.1) to (4.5); the keywords are the wrong versions' mistakes."""
    K = len(tr.caches) if K is None else K
    B = getattr(problem, "num_problems", 1) if B is None else B
    w = weights if w is None else w(weights)
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_state = zeros_like_state(tr.state)
    a = xp.zeros_like(tr.grads[0])
    for t in range(K, 0, -1):
        a = (a if carry else 0.0) + (w[t - 1] / B) * tr.grads[grad_at(t)]
        d_phi_t, d_next, d_grad = opt.step_backward(phi, a, d_state, tr.caches[t - 1],
                                                    need_d_grad=second_derivatives)
        d_state = d_next if keep_state else zeros_like_state(tr.state)
        d_phi = {k: (d_phi[k] if accumulate else 0.0) + d_phi_t[k] for k in d_phi}
        if second_derivatives:
            a = a + problem.hvp(tr.thetas[hvp_at(t)], d_grad, tr.batches[batch_at(t)])
    return d_phi


def test_meta_gradient_right_versions():
    for fn in (library("meta_gradient"), solutions.my_meta_gradient):
        assert_right("meta_gradient", fn)
    assert_right("meta_gradient", meta_two_passes)
    assert_right("meta_gradient", meta_core)


def meta_ignores_weights(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights, second_derivatives,  # settings: w_t = 1
                     w=lambda weights: [1.0] * len(weights))


def meta_K5(opt, phi, problem, tr, weights, second_derivatives=False):   # shapes: K = 5
    return meta_core(opt, phi, problem, tr, weights, second_derivatives, K=5)


def meta_no_mean(opt, phi, problem, tr, weights, second_derivatives=False):  # regime: B = 1
    return meta_core(opt, phi, problem, tr, weights, second_derivatives, B=1)


def meta_hvp_at_next_theta(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights, second_derivatives,  # regime: H_t for H_{t-1}
                     hvp_at=lambda t: t)


def meta_hvp_on_next_batch(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights, second_derivatives,  # regime: batch t
                     batch_at=lambda t: t)


def meta_no_hessian(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights)          # settings: the mode ignored


def meta_no_carry(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights, second_derivatives,  # math: a_{t+1} dropped
                     carry=False)


def meta_grads_one_off(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights, second_derivatives,  # math: grad_{t-1}
                     grad_at=lambda t: t - 1)


def meta_weights_reversed(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights, second_derivatives,  # math: w_{K+1-t}
                     w=lambda weights: weights[::-1])


def meta_state_reset(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights, second_derivatives,  # math: no BPTT
                     keep_state=False)


def meta_last_step_only(opt, phi, problem, tr, weights, second_derivatives=False):
    return meta_core(opt, phi, problem, tr, weights, second_derivatives,  # math: = for +=
                     accumulate=False)


def meta_scales_grads(opt, phi, problem, tr, weights, second_derivatives=False):
    """contract: the recorded gradients weighted in place."""
    B = getattr(problem, "num_problems", 1)
    for t in range(1, len(tr.caches) + 1):
        tr.grads[t] *= weights[t - 1] / B
    return meta_core(opt, phi, problem, tr, [1.0] * len(weights), second_derivatives, B=1)


def meta_float64(opt, phi, problem, tr, weights, second_derivatives=False):
    d_phi = meta_core(opt, phi, problem, tr, weights, second_derivatives)   # contract: float64
    return {k: xp.astype(v, xp.float64) for k, v in d_phi.items()}


def meta_missing_key(opt, phi, problem, tr, weights, second_derivatives=False):
    d_phi = meta_core(opt, phi, problem, tr, weights, second_derivatives)   # contract: bout
    return {k: v for k, v in d_phi.items() if k != "bout"}


def test_meta_gradient_wrong_versions():
    for fn in (meta_ignores_weights, meta_K5, meta_no_mean, meta_hvp_at_next_theta,
               meta_hvp_on_next_batch, meta_no_hessian, meta_no_carry, meta_grads_one_off,
               meta_weights_reversed, meta_state_reset, meta_last_step_only, meta_scales_grads,
               meta_float64, meta_missing_key):
        assert_flagged("meta_gradient", fn)


def test_meta_gradient_flags_the_hessian_at_the_wrong_theta_on_the_mlp():
    """Only where the Hessian varies (the MLP) can the HVP at theta_t for theta_{t-1} show: the
    verdict names that case, with second derivatives."""
    line = assert_flagged("meta_gradient", meta_hvp_at_next_theta).line()
    assert "problem = mlp" in line and "second_derivatives = True" in line, line
    assert "(4.5)" in line


def test_meta_gradient_cases_cover_the_settings():
    """The drawn cases reach every K from 1 to 6, B from 1 to 3, both optimizers and problems,
    and both modes; case 0 is not at the defaults."""
    seen, first = [], None
    for i in range(workbook_cases("meta_gradient")):
        case = Case(i, case_rng(1, i))
        s = checks_meta.draw_meta(case)
        first = first or case
        seen.append((s["K"], s["B"], s["opt"], s["problem"], s["second"]))
    for position, values in enumerate(({1, 2, 3, 4, 5, 6}, {1, 2, 3}, {"dm", "rnnprop"},
                                       {"mlp", "quadratic"}, {False, True})):
        assert {s[position] for s in seen} == values, (position, seen)
    assert set(off_default(first)) == {"K", "B", "w_t", "second_derivatives"}


def workbook_cases(name):
    from minil2o import workbook
    return workbook.table.BY_NAME[name].cases


def test_references_are_right_on_other_seeds():
    """The library passes with a margin on seeds other than the exercises' own."""
    for seed in (1, 2):
        for name in ("quadratic_loss_and_grad", "quadratic_hvp", "mlp_loss_and_grad",
                     "meta_gradient"):
            assert_right(name, library(name), seed=seed)
