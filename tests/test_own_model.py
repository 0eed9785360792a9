"""minil2o.pretrained (minil2o/use/dropin.py) and the PyTorch adapter (minil2o/use/torch.py): one step over
a user's arrays is minil2o's own step on their concatenation (a learned one's to rounding: its LSTM
steps run in place, tests/test_dropin_fast.py); the adapter's step is the
same numbers; its state survives state_dict/load_state_dict; bad inputs get one-line errors."""
import io

import numpy as np
import pytest

import minil2o
from minil2o.backend import asarray, to_numpy, xp
from minil2o.use.dropin import load_learned
from helpers import refused
from minil2o.optimizers.hand import Adam

SHAPES = [(3, 4), (4,), (2, 1, 3, 3), ()]


def arrays(rng, shapes=SHAPES, dtype="float32", scale=1.0):
    return [asarray(scale * rng.standard_normal(s), dtype) for s in shapes]


def flat(arrays_in_order):
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays_in_order])


def assert_same(a, b):
    a, b = to_numpy(a), to_numpy(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


def assert_rounding(a, b):
    """Equal to rounding (64 units of the last place, as tests/test_fast_lstm.py): a learned
    optimizer's drop-in step runs its LSTM steps in place, (3.1)'s terms summed in another order."""
    a, b = to_numpy(a), to_numpy(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    tol = 64 * np.finfo(a.dtype).eps
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["rnnprop-mnist", "dm-mnist"])
def test_update_is_the_optimizers_step(rng, name, dtype):
    params, grads = arrays(rng, dtype=dtype), arrays(rng, dtype=dtype, scale=0.1)
    opt = minil2o.pretrained(name)
    state = opt.init(params)
    reference = load_learned(minil2o.use.dropin.PRETRAINED_DIR / f"{name}.npz", dtype)
    ref_state = reference.init_state(flat(params).shape[0], dtype)
    for _ in range(3):                                  # the state is carried the same way
        new, state = opt.update(grads, state, params)
        update, ref_state = reference.step(flat(grads), ref_state)
        expected = flat(params) + update
        assert_rounding(flat(new), expected)
        assert [tuple(a.shape) for a in new] == SHAPES
        params = new


def test_dict_of_arrays_and_a_hand_optimizer(rng):
    params = dict(zip("wbkc", arrays(rng)))
    grads = dict(zip("wbkc", arrays(rng)))
    opt = minil2o.pretrained("adam", lr=0.01)
    new, state = opt.update(grads, opt.init(params), params)
    update, _ = Adam(lr=0.01).step(flat(grads.values()), Adam().init_state(35))
    assert list(new) == list("wbkc")
    assert_same(flat(new.values()), flat(params.values()) + update)


def test_per_group_optimizer_routes_arrays_to_groups(rng):
    shapes = [(5, 3), (3, 1, 3, 3), (3,), (2, 3, 3, 3)]       # fc, conv, fc, conv by default
    params, grads = arrays(rng, shapes), arrays(rng, shapes)
    reference = load_learned(minil2o.use.dropin.PRETRAINED_DIR / "dm-cnn.npz", "float32")
    conv, fc = [1, 3], [0, 2]
    for groups in (None, {"conv": conv, "fc": fc}):
        opt = minil2o.pretrained("dm-cnn", groups=groups)
        new, _ = opt.update(grads, opt.init(params), params)
        order = conv + fc                                      # theta holds conv, then fc
        n_conv = 27 + 54
        fitted = reference.for_problem(type("P", (), {"groups": {
            "conv": slice(0, n_conv), "fc": slice(n_conv, 15 + 3 + n_conv)}})())
        g = flat([grads[i] for i in order])
        update, _ = fitted.step(g, fitted.init_state(g.shape[0]))
        assert_rounding(flat([new[i] for i in order]), flat([params[i] for i in order]) + update)


def test_inputs_are_not_changed(rng):
    params, grads = arrays(rng), arrays(rng)
    before = [to_numpy(a).copy() for a in params]
    opt = minil2o.pretrained("rnnprop-mnist")
    state = opt.init(params)
    opt.update(grads, state, params)
    opt.update(grads, state, params)                   # the old state still works
    for a, b in zip(params, before):
        np.testing.assert_array_equal(to_numpy(a), b)


def test_wrong_inputs_get_one_line_errors(rng):
    params, grads = arrays(rng), arrays(rng)
    opt = minil2o.pretrained("rnnprop-mnist")
    state = opt.init(params)
    refused(lambda: minil2o.pretrained("no-such-optimizer"), "unknown optimizer", "rnnprop-mnist")
    refused(lambda: opt.update(grads[:1] + [grads[0]] + grads[2:], state, params),
                   "grads[1]", "shape (3, 4)", "(4,)")
    refused(lambda: opt.update(grads, state, params[:3]), "params", "3 arrays", "4 arrays")
    refused(lambda: opt.update(grads, state, [params[0].T] + params[1:]),
                   "params[0]", "shape (4, 3)", "(3, 4)")
    refused(lambda: opt.update(dict(enumerate(grads)), state, params), "grads is a dict")
    refused(lambda: opt.update([grads], state, params), "grads[0] is a list", "nested")
    refused(lambda: opt.init("params"), "list, tuple or dict")
    refused(lambda: opt.update(grads, {"t": 0}, params), "opt.init(params)")
    refused(lambda: opt.init([asarray(np.ones(3), "float32"), asarray(np.ones(2), "float64")]),
                   "mix the dtypes")
    refused(lambda: opt.update(arrays(rng, dtype="float64"), state, params),
                   "grads are float64", "float32")
    refused(lambda: minil2o.pretrained("adam", momentum=0.9), "unknown setting 'momentum'")
    refused(lambda: minil2o.pretrained("dm-mnist", lr=0.1), "takes no settings")
    refused(lambda: minil2o.pretrained("dm-mnist", groups={"conv": [0]}), "per-group")
    cnn = minil2o.pretrained("dm-cnn")
    refused(lambda: cnn.init([asarray(np.ones(3), "float32")]), "group 'conv'", "groups=")
    refused(lambda: minil2o.pretrained("dm-cnn", groups={"conv": [0, 1], "fc": [1]})
                   .init(params), "exactly once")


def test_a_non_finite_gradient_is_refused_with_its_count(rng):
    params = arrays(rng)
    opt = minil2o.pretrained("rnnprop-mnist")
    state = opt.init(params)
    bad = to_numpy(arrays(rng)[2]).copy()
    bad[0, 0, 0, :2] = [np.nan, np.inf]
    grads = arrays(rng)
    grads[2] = asarray(bad, "float32")
    refused(lambda: opt.update(grads, state, params), "2 non-finite entries", "grads[2]")


def test_complex_and_integer_arrays_are_refused():
    opt = minil2o.pretrained("adam")
    refused(lambda: opt.init([xp.asarray([1 + 2j, 3j])]), "dtype complex", "float32 or float64")
    refused(lambda: opt.init({"n": xp.asarray([1, 2])}), "params['n']", "dtype int")


def test_arrays_of_another_library_are_refused():
    torch = pytest.importorskip("torch")
    refused(lambda: minil2o.pretrained("adam").init([torch.ones(3)]), "torch", "minil2o.torch")


# ------------------------------------------------------------------------------- the torch adapter

def torch_model(torch, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(2 * 4 * 4, 3))


def torch_batch(torch, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 3, (8,), generator=g)


def backward(torch, model, batch):
    loss = torch.nn.functional.cross_entropy(model(batch[0]), batch[1])
    loss.backward()
    return loss


@pytest.mark.parametrize("name", ["rnnprop-mnist", "dm-cnn"])
def test_adapter_step_is_the_optimizers_step(name):
    torch = pytest.importorskip("torch")
    import minil2o.torch as mt
    model, batch = torch_model(torch), torch_batch(torch)
    opt = mt.LearnedOptimizer(model.parameters(), name)
    reference = minil2o.pretrained(name)
    params = [xp.asarray(p.detach().numpy().copy()) for p in model.parameters()]
    state = reference.init(params)
    for _ in range(3):
        opt.zero_grad()
        backward(torch, model, batch)
        grads = [xp.asarray(p.grad.numpy().copy()) for p in model.parameters()]
        params, state = reference.update(grads, state, params)
        opt.step()
        for p, expected in zip(model.parameters(), params):
            np.testing.assert_array_equal(p.detach().numpy(), to_numpy(expected))


def test_adapter_state_round_trips_through_state_dict():
    torch = pytest.importorskip("torch")
    import minil2o.torch as mt
    model, batch = torch_model(torch), torch_batch(torch)
    opt = mt.LearnedOptimizer(model.parameters(), "rnnprop-mnist")

    def steps(model, opt, k):
        for _ in range(k):
            opt.zero_grad()
            backward(torch, model, batch)
            opt.step()

    steps(model, opt, 2)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    twin = torch_model(torch, seed=5)
    twin.load_state_dict(saved["model"])
    twin_opt = mt.LearnedOptimizer(twin.parameters(), "rnnprop-mnist")
    twin_opt.load_state_dict(saved["opt"])
    steps(model, opt, 2)
    steps(twin, twin_opt, 2)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    assert opt.state["minil2o"]["inner"]["t"] == twin_opt.state["minil2o"]["inner"]["t"] == 4


def test_adapter_refuses_bad_inputs():
    torch = pytest.importorskip("torch")
    import minil2o.torch as mt
    model, batch = torch_model(torch), torch_batch(torch)
    opt = mt.LearnedOptimizer(model.parameters(), "rnnprop-mnist")
    opt.step()                                  # no gradients yet: nothing to do, as in torch
    assert "minil2o" not in opt.state
    backward(torch, model, batch)
    next(model.parameters()).grad[0, 0, 0, 0] = float("nan")
    refused(opt.step, "1 non-finite entries")
    refused(lambda: mt.LearnedOptimizer(model.parameters(), "rnnprop"), "unknown optimizer")
    half = torch.nn.Linear(2, 2).to(torch.float16)
    half_opt = mt.LearnedOptimizer(half.parameters(), "adam")
    half(torch.ones(1, 2, dtype=torch.float16)).sum().backward()
    refused(half_opt.step, "torch.float16", "float32 or float64")
    wider = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(2 * 4 * 4, 4))      # as many tensors, more numbers
    wider_opt = mt.LearnedOptimizer(wider.parameters(), "rnnprop-mnist")
    wider(batch[0]).sum().backward()
    wider_opt.step()
    fresh = mt.LearnedOptimizer(torch_model(torch).parameters(), "rnnprop-mnist")
    refused(lambda: fresh.load_state_dict(wider_opt.state_dict()), "does not fit")
