"""The autograd engine: every op's backward against central differences (float64), broadcasting,
accumulation over several paths, the custom op, and an LSTM step written in engine ops against the
hand-written lstm_step_forward / lstm_step_backward. The op check (engine_error) is
tests/gradient_checks.py's; the sigmoid, a workbook exercise, is checked on every case of its
workbook check."""
import numpy as np
import pytest

from minil2o.autograd import Tensor, concat, custom_op, where
from minil2o.backend import asarray, to_numpy
from minil2o.errors import UsageError
from minil2o.gradcheck import check_gradients, rel_error, vjp_objective
from minil2o.lstm import lstm_step_backward, lstm_step_forward
from exercise_tools import assert_right, library
from gradient_checks import engine_error, random_arrays

TOL = 1e-7


# (id, build, input shapes, low): low keeps |inputs| >= low where the op has a kink or a pole at 0.
OPS = [
    ("add", lambda a, b: a + b, {"a": (3, 4), "b": (3, 4)}, None),
    ("add_row", lambda a, b: a + b, {"a": (3, 4), "b": (4,)}, None),
    ("mul_col_row", lambda a, b: a * b, {"a": (3, 1), "b": (1, 4)}, None),
    ("mul_scalar_tensor", lambda s, a: s * a, {"s": (), "a": (3, 4)}, None),
    ("sub_row", lambda a, b: a - b, {"a": (2, 3), "b": (3,)}, None),
    ("mul", lambda a, b: a * b, {"a": (2, 3), "b": (2, 3)}, None),
    ("div", lambda a, b: a / b, {"a": (2, 3), "b": (2, 3)}, 0.5),
    ("div_col", lambda a, b: a / b, {"a": (2, 3), "b": (2, 1)}, 0.5),
    ("neg", lambda a: -a, {"a": (2, 3)}, None),
    ("pow_2", lambda a: a ** 2, {"a": (2, 3)}, None),
    ("pow_3", lambda a: a ** 3, {"a": (2, 3)}, None),
    ("pow_-1.5", lambda a: a.abs() ** -1.5, {"a": (2, 3)}, 0.5),
    ("pow_0.5", lambda a: a.abs() ** 0.5, {"a": (2, 3)}, 0.5),
    ("radd", lambda a: 1.5 + a, {"a": (2, 3)}, None),
    ("rsub", lambda a: 2.0 - a, {"a": (2, 3)}, None),
    ("rmul", lambda a: 3 * a, {"a": (2, 3)}, None),
    ("rdiv", lambda a: 3.0 / a, {"a": (2, 3)}, 0.5),
    ("matmul", lambda a, b: a @ b, {"a": (2, 3), "b": (3, 4)}, None),
    ("matmul_vec_right", lambda a, b: a @ b, {"a": (2, 3), "b": (3,)}, None),
    ("matmul_vec_left", lambda a, b: a @ b, {"a": (3,), "b": (3, 4)}, None),
    ("matmul_dot", lambda a, b: a @ b, {"a": (3,), "b": (3,)}, None),
    ("exp", lambda a: a.exp(), {"a": (2, 3)}, None),
    ("log", lambda a: a.abs().log(), {"a": (2, 3)}, 0.5),
    ("tanh", lambda a: a.tanh(), {"a": (2, 3)}, None),
    ("relu", lambda a: a.relu(), {"a": (2, 3)}, 0.1),
    ("elu", lambda a: a.elu(), {"a": (2, 3)}, 0.1),
    ("elu_alpha", lambda a: a.elu(alpha=0.5), {"a": (2, 3)}, 0.1),
    ("abs", lambda a: a.abs(), {"a": (2, 3)}, 0.1),
    ("sum_all", lambda a: a.sum(), {"a": (2, 3, 4)}, None),
    ("sum_all_keepdims", lambda a: a.sum(keepdims=True), {"a": (2, 3, 4)}, None),
    ("mean_all", lambda a: a.mean(), {"a": (2, 3, 4)}, None),
    ("reshape", lambda a: a.reshape((3, -1)), {"a": (2, 3, 2)}, None),
    ("T", lambda a: a.T, {"a": (2, 3)}, None),
    ("transpose_3d", lambda a: a.transpose((2, 0, 1)), {"a": (2, 3, 4)}, None),
    ("slice_rows", lambda a: a[1:3], {"a": (4, 3)}, None),
    ("slice_column", lambda a: a[:, 1], {"a": (4, 3)}, None),
    ("slice_entry", lambda a: a[2, 0], {"a": (4, 3)}, None),
    ("slice_strided", lambda a: a[::2, 1:], {"a": (4, 3)}, None),
    ("slice_ellipsis", lambda a: a[..., -1], {"a": (2, 3, 4)}, None),
    ("concat_0", lambda a, b: concat([a, b], axis=0), {"a": (2, 3), "b": (1, 3)}, None),
    ("concat_1", lambda a, b, c: concat([a, b, c], axis=1),
     {"a": (2, 3), "b": (2, 1), "c": (2, 2)}, None),
    ("concat_-1", lambda a, b: concat([a, b], axis=-1), {"a": (2, 2, 1), "b": (2, 2, 3)}, None),
]
OPS += [(f"{how}_axis{axis}{'_keepdims' if keep else ''}",
         (lambda how, axis, keep: lambda a: getattr(a, how)(axis=axis, keepdims=keep))(how, axis, keep),
         {"a": (2, 3, 4)}, None)
        for how in ("sum", "mean") for axis in (0, 1, 2, -1, (0, 2)) for keep in (False, True)]


@pytest.mark.parametrize("build, shapes, low", [pytest.param(*op[1:], id=op[0]) for op in OPS])
def test_op_gradient(build, shapes, low, rng):
    assert engine_error(build, random_arrays(rng, shapes, low)) < TOL


def test_sigmoid_gradient():
    """Tensor.sigmoid, the workbook's engine op: its op check and chapter 2's check."""
    assert_right("tensor_sigmoid", library("tensor_sigmoid"))


def test_where_gradient(rng):
    cond = asarray(rng.random((3, 4)) > 0.5)
    both = random_arrays(rng, {"a": (3, 4), "b": (3, 4)})
    assert engine_error(lambda a, b: where(cond, a, b), both) < TOL
    row = random_arrays(rng, {"a": (3, 4), "b": (4,)})
    assert engine_error(lambda a, b: where(cond, a, b), row) < TOL
    assert engine_error(lambda a: where(cond, a, 0.0) * a, random_arrays(rng, {"a": (3, 4)})) < TOL


def test_values_match_the_backend(rng):
    x = random_arrays(rng, {"x": (3, 4)}, low=0.2)["x"]
    X = to_numpy(x)
    t = Tensor(x)
    assert rel_error((t * 2.0 - 1.0).data, 2.0 * X - 1.0) < 1e-15
    assert rel_error((t @ t.T).data, X @ X.T) < 1e-15
    assert rel_error(t.abs().log().data, np.log(np.abs(X))) < 1e-15
    assert rel_error(t.sigmoid().data, 1.0 / (1.0 + np.exp(-X))) < 1e-14
    assert rel_error(t.elu(0.5).data, np.where(X > 0, X, 0.5 * np.expm1(X))) < 1e-14
    assert rel_error(t.mean(axis=0).data, X.mean(axis=0)) < 1e-15
    assert rel_error(concat([t, t[:1]], axis=0).data, np.concatenate([X, X[:1]])) == 0.0


def test_tensor_used_twice_accumulates(rng):
    x = random_arrays(rng, {"x": (2, 3)})["x"]
    t = Tensor(x)
    (t * t).sum().backward()
    assert rel_error(t.grad, 2.0 * to_numpy(x)) == 0.0
    assert engine_error(lambda a: a * a.exp() + (a.tanh() @ a.T) @ a, {"a": x}) < TOL


def test_backward_resets_grads(rng):
    t = Tensor(random_arrays(rng, {"x": (3,)})["x"])
    y = (t * 3.0).sum()
    y.backward()
    y.backward()
    assert rel_error(t.grad, np.full(3, 3.0)) == 0.0


def test_long_graph_needs_no_recursion():
    x = Tensor(0.5)
    y = x
    for _ in range(3000):                                 # deeper than Python's recursion limit
        y = y * 1.0 + 0.0
    y.backward()
    assert float(to_numpy(x.grad)) == 1.0


def test_python_numbers_keep_float32():
    t = Tensor(np.ones((2, 2), dtype=np.float32))
    for y in (t * 2.0, 1.0 - t, 3 / t, t ** 2, where(np.eye(2) > 0, t, 0.5)):
        assert y.dtype == t.dtype


def test_bad_uses_raise():
    t = Tensor(np.ones((2, 3)))
    with pytest.raises(UsageError, match="seed"):
        (t * 2.0).backward()
    with pytest.raises(UsageError, match="constant number"):
        t ** t
    with pytest.raises(UsageError, match="axis"):
        t.sum(axis=2)
    with pytest.raises(UsageError, match="boolean"):
        where(np.ones((2, 3)), t, t)
    bad = custom_op([t], np.ones(()), lambda g: [g * asarray(np.ones(3))], name="bad")
    with pytest.raises(UsageError, match="shape"):
        bad.backward()


def _quadratic(rng, n=5):
    """f(theta) = ||W theta - y||^2 with its hand-written gradient 2 W^T (W theta - y)."""
    W = asarray(rng.standard_normal((n, n)), dtype="float64")
    y = asarray(rng.standard_normal(n), dtype="float64")

    def loss_and_grad(theta):
        r = W @ theta - y                                 # (n,)
        return r @ r, 2.0 * (W.T @ r)
    return W, y, loss_and_grad


def test_custom_op_scalar_loss(rng):
    W, y, loss_and_grad = _quadratic(rng)

    def build(theta):
        f_value, grad = loss_and_grad(theta.data)
        f = custom_op([theta], f_value, lambda df: [df * grad], name="quadratic")
        return 3.0 * f + (theta ** 2).sum()               # the op composes with others
    assert engine_error(build, random_arrays(rng, {"theta": (5,)})) < TOL


def test_custom_op_array_valued_with_a_constant_input(rng):
    W, y, _ = _quadratic(rng)

    def build(theta, v):
        r = custom_op([theta, v], W @ theta.data - y,     # residual, (n,)
                      lambda dr: [W.T @ dr, None], name="residual")
        return (r * r).sum()
    inputs = random_arrays(rng, {"theta": (5,), "v": (5,)})
    tensors = {k: Tensor(x) for k, x in inputs.items()}
    build(**tensors).backward()
    r = W @ inputs["theta"] - y
    assert rel_error(tensors["theta"].grad, 2.0 * (W.T @ r)) < 1e-14
    assert float(np.abs(to_numpy(tensors["v"].grad)).max()) == 0.0
    errors = check_gradients(lambda theta, v: build(Tensor(theta), Tensor(v)).data, inputs,
                             {"theta": tensors["theta"].grad}, verbose=False)
    assert errors["theta"] < TOL


def lstm_step_engine(x, h_prev, c_prev, Wx, Wh, b):
    """The LSTM step of minil2o.layers, written in engine ops."""
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                          # (N, 4H)
    i, f, o = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid(), a[:, 2 * H:3 * H].sigmoid()
    g = a[:, 3 * H:].tanh()                               # (N, H)
    c = f * c_prev + i * g                                # (N, H)
    return o * c.tanh(), c


def test_lstm_step_matches_layers_and_central_differences(rng):
    N, D, H = 3, 2, 4
    inputs = random_arrays(rng, {"x": (N, D), "h_prev": (N, H), "c_prev": (N, H),
                           "Wx": (D, 4 * H), "Wh": (H, 4 * H), "b": (4 * H,)})
    dh, dc = random_arrays(rng, {"dh": (N, H), "dc": (N, H)}).values()
    tensors = {k: Tensor(x) for k, x in inputs.items()}
    h, c = lstm_step_engine(**tensors)
    ((h * dh).sum() + (c * dc).sum()).backward()

    h_ref, c_ref, cache = lstm_step_forward(**inputs)
    assert rel_error(h.data, h_ref) < 1e-10 and rel_error(c.data, c_ref) < 1e-10
    for name, ref in zip(inputs, lstm_step_backward(dh, dc, cache)):
        assert rel_error(tensors[name].grad, ref) < 1e-10, name

    def loss(**arrays):
        h, c = lstm_step_engine(**{k: Tensor(x) for k, x in arrays.items()})
        return ((h * dh).sum() + (c * dc).sum()).data
    errors = check_gradients(loss, inputs, {k: t.grad for k, t in tensors.items()}, verbose=False)
    assert max(errors.values()) < TOL
