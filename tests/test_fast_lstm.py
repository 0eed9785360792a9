"""The in-place LSTM step of minil2o.fast_lstm gives the reference's numbers to rounding: one step
forward and backward, a whole meta-gradient (DM optimizer, RNNprop, two optimizers per group, with
and without second derivatives), truncation after truncation in one reused workspace, in one block
of rows and in many (the last one shorter). And minil2o.lstm.lstm_step_functions picks it only on
NumPy, only inside an unroll with a workspace."""
import contextlib

import numpy as np
import pytest

import minil2o
from minil2o.backend import asarray, get_backend, to_numpy
from minil2o import fast_lstm
from minil2o.evaluation import evaluate
from minil2o.fast_lstm import Workspace, fast_step_backward, fast_step_forward
from minil2o.lstm import lstm_step_backward, lstm_step_forward, lstm_step_functions
from minil2o.meta import meta_gradient, meta_weights, unroll
from minil2o.optimizers.learned import DMOptimizer, RNNprop
from minil2o.problems import MLPFamily, QuadraticFamily

from test_grouped import per_group_optimizer, two_group_problem


def numpy_only():
    if get_backend() != "numpy":
        pytest.skip("the in-place path is NumPy's (the array API has no out=)")


def assert_close(want, got, ulps=64):
    """Equal to rounding: the fast path adds the three terms of (3.1), and the weight gradients of
    (3.8) block by block, in another order than the reference. Within `ulps` units of the dtype's
    last place, relative to each value and to the array's largest."""
    want, got = to_numpy(want), to_numpy(got)
    assert got.dtype == want.dtype
    tol = ulps * np.finfo(want.dtype).eps
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.fixture(params=["one block", "blocks of 5 rows"], autouse=True)
def rows(request, monkeypatch):
    """Every test runs with the default block (all rows of these small problems in one) and with
    blocks of 5 rows, so that the loop over blocks and its shorter last block are exercised."""
    if request.param != "one block":
        monkeypatch.setattr(fast_lstm, "ROWS", 5)


@pytest.mark.parametrize("D", [2, 7])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_step_forward_and_backward_equal_the_reference(D, dtype):
    numpy_only()
    rng = np.random.default_rng(1)
    N, H = 37, 5
    x, h, c, dh, dc = (rng.standard_normal(shape).astype(dtype)
                       for shape in ((N, D), (N, H), (N, H), (N, H), (N, H)))
    Wx, Wh, b = (rng.uniform(-1, 1, shape).astype(dtype) for shape in ((D, 4 * H), (H, 4 * H), (4 * H,)))
    ws = Workspace()
    want = lstm_step_forward(x, h, c, Wx, Wh, b)
    with ws.forward_pass():
        got = fast_step_forward(ws, x, h, c, Wx, Wh, b)
    i, f, o, g = got[2][5]
    for a, b in zip(want[:2] + want[2][5:9], got[:2] + (i, f, o, g)):   # h, c, i, f, o, g
        assert b.dtype == np.dtype(dtype)
        assert_close(a, b)
    with ws.step():
        got_back = fast_step_backward(ws, dh, dc, got[2])
    for a, b in zip(lstm_step_backward(dh, dc, want[2]), got_back):  # dx dh dc dWx dWh db
        assert_close(a, b)


def truncation(opt, problem, K, seed, dtype="float64"):
    rng = np.random.default_rng(seed)
    phi = opt.init_params(rng, dtype)
    theta, state = problem.init(rng), opt.init_state(problem.n, dtype)
    batches = [problem.sample_batch(rng) for _ in range(K + 1)]
    return phi, theta, state, batches


def mlp_problem(rng, dtype):
    X = rng.uniform(0, 1, (40, 12)).astype(np.float32)
    family = MLPFamily(X, rng.integers(0, 3, 40), hidden=(5,), num_classes=3, batch_size=8,
                       init_std=0.5, dtype=dtype)
    return family.sample(rng)


CASES = {"dm": lambda: DMOptimizer(hidden=4, output_scale=0.1),
         "rnnprop": lambda: RNNprop(hidden=4),
         "dm-none": lambda: DMOptimizer(hidden=3, num_layers=3, preprocess="none")}


@pytest.mark.parametrize("second", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(CASES))
def test_meta_gradient_in_a_workspace_equals_the_reference(case, dtype, second):
    """Three truncations in a row in one workspace (the second and third reuse the first's arrays,
    carrying theta and the state over as training does) against fresh arrays every time."""
    rng = np.random.default_rng(2)
    opt, problem = CASES[case](), mlp_problem(rng, dtype)
    phi, theta, state, batches = truncation(opt, problem, 4, 3, dtype)
    weights = meta_weights(4, "all")
    ws, results = Workspace(), {}
    for name, workspace in (("reference", None), ("workspace", ws)):
        th, st, grads = theta, state, []
        for _ in range(3):
            tr = unroll(opt, phi, problem, th, st, batches, workspace=workspace)
            d_phi = meta_gradient(opt, phi, problem, tr, weights, second_derivatives=second)
            grads.append(({k: to_numpy(v).copy() for k, v in d_phi.items()},
                          [float(f) for f in tr.losses]))
            th, st = tr.thetas[-1], tr.state
        results[name] = grads
    for (want, want_losses), (got, got_losses) in zip(results["reference"], results["workspace"]):
        assert_close(np.array(want_losses, dtype), np.array(got_losses, dtype))
        for k in want:
            assert_close(want[k], got[k])


def test_the_workspace_is_reused_and_the_state_outlives_it():
    numpy_only()
    rng = np.random.default_rng(4)
    opt, problem = DMOptimizer(hidden=4), QuadraticFamily(num_functions=3).sample(rng)
    phi, theta, state, batches = truncation(opt, problem, 3, 5)
    ws = Workspace()
    first = unroll(opt, phi, problem, theta, state, batches, workspace=ws)
    meta_gradient(opt, phi, problem, first, meta_weights(3, "all"))
    arrays, held = [id(a) for a in ws.forward.arrays], ws.nbytes()
    second = unroll(opt, phi, problem, first.thetas[-1], first.state, batches, workspace=ws)
    meta_gradient(opt, phi, problem, second, meta_weights(3, "all"))
    assert [id(a) for a in ws.forward.arrays] == arrays and ws.nbytes() == held
    for v in second.state.values():                    # copied out of the workspace
        assert not any(np.shares_memory(v, a) for a in ws.forward.arrays)


def test_the_workspace_follows_the_problem_size():
    """Truncations on problems of other sizes and lengths in one workspace: the same numbers as
    without it, and it holds no more than the last truncation needs."""
    numpy_only()
    rng = np.random.default_rng(7)
    opt, ws = DMOptimizer(hidden=4), Workspace()
    for functions, K in ((5, 4), (2, 2), (7, 3)):
        problem = QuadraticFamily(num_functions=functions).sample(rng)
        phi, theta, state, batches = truncation(opt, problem, K, functions)
        want = meta_gradient(opt, phi, problem, unroll(opt, phi, problem, theta, state, batches),
                             meta_weights(K, "all"))
        tr = unroll(opt, phi, problem, theta, state, batches, workspace=ws)
        got = meta_gradient(opt, phi, problem, tr, meta_weights(K, "all"))
        for k in want:
            assert_close(want[k], got[k])
        fresh = Workspace()
        meta_gradient(opt, phi, problem, unroll(opt, phi, problem, theta, state, batches,
                                                workspace=fresh), meta_weights(K, "all"))
        assert ws.forward.nbytes() == fresh.forward.nbytes()
    unroll(opt, phi, problem, theta, state, batches, workspace=ws)     # lets go of older work
    assert ws.nbytes() <= fresh.nbytes()


def test_two_optimizers_per_group_in_a_workspace():
    rng = np.random.default_rng(0)
    problem = two_group_problem(rng)
    opt = per_group_optimizer(problem)
    phi, theta, state, batches = truncation(opt, problem, 3, 6)
    weights = meta_weights(3, "all")
    want = meta_gradient(opt, phi, problem, unroll(opt, phi, problem, theta, state, batches), weights)
    tr = unroll(opt, phi, problem, theta, state, batches, workspace=Workspace())
    got = meta_gradient(opt, phi, problem, tr, weights)
    for k in want:
        assert_close(want[k], got[k])


def test_the_step_is_chosen_by_backend_and_workspace():
    if get_backend() == "cupy":
        pytest.skip("on cupy the fused kernels are chosen (tests/test_bench.py)")
    ws = Workspace()
    assert lstm_step_functions() == (lstm_step_forward, lstm_step_backward)
    with ws.forward_pass():
        forward, backward = lstm_step_functions()
        if get_backend() == "numpy":
            assert forward.func is fast_step_forward and forward.args == (ws,)
            assert backward.func is fast_step_backward
        else:
            assert (forward, backward) == (lstm_step_forward, lstm_step_backward)
    assert lstm_step_functions() == (lstm_step_forward, lstm_step_backward)
    minil2o.set_backend("strict")
    with ws.forward_pass():
        assert lstm_step_functions() == (lstm_step_forward, lstm_step_backward)
    x = asarray(np.ones((2, 3)), "float32")
    assert get_backend() == "strict" and not isinstance(x, np.ndarray)


def test_an_evaluation_run_steps_in_the_workspace_without_caches(monkeypatch):
    """evaluate.trajectory runs a learned optimizer's LSTM steps in a workspace's two step sets:
    the losses agree with the reference step's to rounding, no cache is kept, and the memory held
    does not grow with the number of steps."""
    numpy_only()
    held = []

    class Recorded(Workspace):
        def __init__(self):
            super().__init__()
            held.append(self)

    monkeypatch.setattr(evaluate, "Workspace", Recorded)
    problem = mlp_problem(np.random.default_rng(8), "float64")
    for opt in (DMOptimizer(hidden=4, output_scale=0.1), RNNprop(hidden=4)):
        opt.phi = opt.init_params(np.random.default_rng(0), "float64")
        fast = {steps: evaluate.run_optimizer(problem, opt, steps, np.random.default_rng(1))
                for steps in (10, 30)}
        ws_10, ws_30 = held[-2:]
        assert ws_10.forward.nbytes() == 0 and 0 < ws_10.nbytes() == ws_30.nbytes()
        with monkeypatch.context() as m:
            m.setattr(Workspace, "step", lambda self: contextlib.nullcontext())  # the reference
            reference = evaluate.run_optimizer(problem, opt, 30, np.random.default_rng(1))
        assert_close(reference, fast[30])
