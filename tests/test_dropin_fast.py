"""The drop-in step (minil2o.pretrained(name).update, and minil2o.torch's step) runs a learned
optimizer's LSTM steps in place, in a workspace its Optimizer keeps
(minil2o.fast_lstm.StepWorkspace), and gives the reference step's numbers to rounding, not bit for
bit: the in-place step adds the three terms of (3.1) as one product. Measured on the shipped
optimizers over 20 steps, float32 and float64, the new parameters differ from the reference's by at
most 8 units of the dtype's last place; the bound below is test_fast_lstm's, 64. The gate arrays
are allocated once per layout and reused; the state a step returns is new arrays, which no later
step changes."""
import threading

import numpy as np
import pytest

import minil2o
from minil2o import fast_lstm
from minil2o.backend import asarray, get_backend, to_numpy
from minil2o.use import dropin

from test_fast_lstm import assert_close


def params_for(name, dtype, rng):
    """Arrays for optimizer `name` (dm-cnn: a conv filter and an fc vector), of backend arrays."""
    shapes = ((3, 2, 3, 3), (50,)) if name == "dm-cnn" else ((40, 3), (7,))
    return [asarray(rng.standard_normal(s), dtype) for s in shapes]


def states_close(want, got):
    for k, v in want.items():
        if isinstance(v, dict):
            states_close(v, got[k])
        elif hasattr(v, "shape"):
            assert_close(v, got[k])
        else:
            assert got[k] == v


@pytest.fixture(params=["one block", "blocks of 7 rows"])
def rows(request, monkeypatch):
    if request.param != "one block":
        monkeypatch.setattr(fast_lstm, "ROWS", 7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["rnnprop-mnist", "dm-mnist", "dm-cnn"])
def test_the_dropin_step_equals_the_reference_step_to_rounding(name, dtype, rows):
    """Step after step, from the same parameters and state: update's new parameters and state
    against theta + update and the state of the rule's reference step (rule.step, no workspace)."""
    rng = np.random.default_rng(0)
    opt, params = minil2o.pretrained(name), params_for(name, dtype, rng)
    state = opt.init(params)
    rule = opt.optimizer(state.layout)
    for _ in range(6):
        grads = [asarray(0.1 * rng.standard_normal(a.shape), dtype) for a in params]
        flat = opt.flatten(grads, state.layout, "grads")                     # (n,)
        update, inner = rule.step(flat, state.inner)                         # the reference
        want = opt.unflatten(opt.flatten(params, state.layout, "params") + update, state.layout)
        params, state = opt.update(grads, state, params)
        for w, p in zip(want, params):
            assert_close(w, p)
        states_close(inner, state.inner)


def test_the_gate_arrays_are_reused_and_a_returned_state_never_changes():
    """The workspace's gate stacks are the same arrays at every step; stepping an old state
    again (after later steps wrote the workspace) gives what it gave the first time."""
    if get_backend() != "numpy":
        pytest.skip("the in-place step is NumPy's (the array API has no out=)")
    rng = np.random.default_rng(1)
    opt, params = minil2o.pretrained("rnnprop-mnist"), params_for("rnnprop-mnist", "float32", rng)
    grads = [asarray(0.1 * rng.standard_normal(a.shape), "float32") for a in params]
    state = opt.init(params)
    first, after = opt.update(grads, state, params)
    ws = opt.workspace(state.layout)
    gates = [id(a) for a in ws.gates.arrays]
    assert [a.shape for a in ws.gates.arrays] == [(4, 127, 20)] * 2        # one per layer
    kept = {k: to_numpy(v).copy() for k, v in after.inner.items() if hasattr(v, "shape")}
    later = after
    for _ in range(3):
        _, later = opt.update(grads, later, first)
    assert [id(a) for a in ws.gates.arrays] == gates
    for k, v in kept.items():
        np.testing.assert_array_equal(to_numpy(after.inner[k]), v)
    for v in after.inner.values():
        if hasattr(v, "shape"):
            assert not any(np.shares_memory(v, a) for a in ws.gates.arrays)
    again, _ = opt.update(grads, state, params)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_an_optimizer_keeps_the_workspaces_of_its_last_layouts():
    opt = minil2o.pretrained("rnnprop-mnist")
    made = []
    for n in range(1, dropin.KEPT_WORKSPACES + 3):
        params = [asarray(np.ones(n), "float32")]
        state = opt.init(params)
        opt.update(params, state, params)
        made.append((state.layout, opt.workspace(state.layout)))
    assert len(opt._workspaces) == dropin.KEPT_WORKSPACES
    layout, ws = made[-1]
    assert opt.workspace(layout) is ws


def test_the_torch_step_equals_the_reference_step_to_rounding():
    """minil2o.torch's step (the same step_rule, on the tensors' memory) against the reference
    step of the same rule on the same gradient and state."""
    torch = pytest.importorskip("torch")
    if get_backend() != "numpy":
        pytest.skip("minil2o.torch runs CPU tensors on the numpy backend")
    import minil2o.torch as mtorch
    rng = np.random.default_rng(2)
    weights = [torch.nn.Parameter(torch.from_numpy(rng.standard_normal(s).astype(np.float32)))
               for s in ((30, 4), (9,))]
    opt = mtorch.LearnedOptimizer(weights, "rnnprop-mnist")
    rule = opt.optimizer.optimizer(opt.layout_of(opt.views(opt.all_params(), [0, 1])))
    inner = rule.init_state(129, "float32")
    for _ in range(4):
        for w in weights:
            w.grad = torch.from_numpy(0.1 * rng.standard_normal(tuple(w.shape)).astype(np.float32))
        theta = np.concatenate([w.detach().numpy().ravel() for w in weights])
        grad = np.concatenate([w.grad.numpy().ravel() for w in weights])
        update, inner = rule.step(grad, inner)                               # the reference
        opt.step()
        got = np.concatenate([w.detach().numpy().ravel() for w in weights])
        assert_close(theta + update, got)
        states_close(inner, {k: v.numpy() if hasattr(v, "numpy") else v
                             for k, v in opt.state["minil2o"]["inner"].items()})


def test_two_optimizers_in_two_threads_give_their_numbers_alone():
    """Each thread has its own running workspace (minil2o.fast_lstm keeps it per thread): two
    drop-in optimizers stepped side by side give bit for bit what each gives alone."""
    def run(seed, out=None):
        rng = np.random.default_rng(seed)
        opt = minil2o.pretrained("rnnprop-mnist")
        params = [asarray(rng.standard_normal(40000), "float32")]
        state = opt.init(params)
        for _ in range(10):
            grads = [asarray(0.01 * rng.standard_normal(40000), "float32")]
            params, state = opt.update(grads, state, params)
        result = to_numpy(params[0])
        if out is not None:
            out[seed] = result
        return result

    alone, together = {seed: run(seed) for seed in (0, 1)}, {}
    threads = [threading.Thread(target=run, args=(seed, together)) for seed in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (0, 1):
        np.testing.assert_array_equal(together[seed], alone[seed])
