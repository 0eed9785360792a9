"""minil2o.torch.LearnedOptimizer follows torch's conventions (minil2o/use/torch.py): per-group lr
(a multiplier for a learned rule) so that lr schedulers work, per-group options and decoupled
weight_decay for hand-designed rules as torch.optim.Adam/AdamW, parameters without a gradient
skipped, add_param_group, refused states (torch.optim.Adam's, NaN, truncated) that leave the
state as it was, a step that torch.compile runs eagerly, a repr that names it. Runs
where torch is installed; skipped elsewhere."""
import copy

import numpy as np
import pytest

import minil2o
from minil2o.backend import to_numpy, xp
from minil2o.errors import UsageError

torch = pytest.importorskip("torch")
mt = pytest.importorskip("minil2o.torch")


def mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))


def data(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 4, generator=g), torch.randn(16, 3, generator=g)


def backward(model, batch):
    """The loss of the model on the batch, its gradients in .grad."""
    loss = (model(batch[0]) - batch[1]).pow(2).mean()
    loss.backward()
    return loss


def train(model, opt, batch, steps, scheduler=None, lrs=None):
    """steps of the usual loop; the losses (and the first group's lr of each step in lrs)."""
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        losses.append(float(backward(model, batch).detach()))
        if lrs is not None:
            lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(losses[-1])
        elif scheduler is not None:
            scheduler.step()
    return losses


def values(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", ["rnnprop-mnist", "adam"])
def test_lr_schedulers_run(name):
    batch = data()
    for make in (lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
                 lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: min(1.0, (e + 1) / 3)),
                 lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0, factor=0.5,
                                                                      threshold=0.99)):
        model, lrs = mlp(), []
        opt = mt.LearnedOptimizer(model.parameters(), name)
        losses = train(model, opt, batch, 6, make(opt), lrs)
        assert all(np.isfinite(losses)) and losses[-1] < losses[0]
        assert len(set(lrs)) > 1, lrs                              # the schedule took effect


def test_learned_update_scales_with_the_scheduled_lr():
    batch = data()
    moved = []
    for gamma in (1.0, 0.25):
        model = mlp()
        opt = mt.LearnedOptimizer(model.parameters(), "rnnprop-mnist")
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=gamma)
        train(model, opt, batch, 1, scheduler)                  # lr is now gamma
        before = values(model)
        train(model, opt, batch, 1)
        moved.append([p.detach() - b for p, b in zip(model.parameters(), before)])
    for full, scaled in zip(*moved):
        torch.testing.assert_close(scaled, 0.25 * full, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["rnnprop-mnist", "adam"])
def test_single_group_step_is_bitwise_the_drop_in_step(name):
    model, batch = mlp(), data()
    settings = {"lr": 1e-2} if name == "adam" else {}
    opt = mt.LearnedOptimizer(model.parameters(), name, **settings)
    reference = minil2o.pretrained(name, **settings)
    params = [xp.asarray(p.detach().numpy().copy()) for p in model.parameters()]
    state = reference.init(params)
    for _ in range(3):
        opt.zero_grad()
        backward(model, batch)
        grads = [xp.asarray(p.grad.numpy().copy()) for p in model.parameters()]
        params, state = reference.update(grads, state, params)
        opt.step()
        for p, expected in zip(model.parameters(), params):
            np.testing.assert_array_equal(p.detach().numpy(), to_numpy(expected))


@pytest.mark.parametrize("name", ["rnnprop-mnist", "adam", "dm-mnist"])
def test_a_parameter_without_gradient_is_skipped(name):
    model, batch = mlp(), data()
    opt = mt.LearnedOptimizer(model.parameters(), name)
    train(model, opt, batch, 2)
    state = {k: v.clone() if torch.is_tensor(v) else v
             for k, v in opt.state["minil2o"]["inner"].items()}
    before = values(model)
    opt.zero_grad()
    backward(model, batch)
    model[2].bias.grad = None                                    # the last parameter: no gradient
    opt.step()
    after = values(model)
    assert torch.equal(after[3], before[3])
    assert all(not torch.equal(a, b) for a, b in zip(after[:3], before[:3]))
    assert opt.state["minil2o"]["steps"] == [3, 3, 3, 2]
    last = slice(sum(p.numel() for p in before[:3]), None)      # its coordinates in the state
    for key, value in opt.state["minil2o"]["inner"].items():
        if torch.is_tensor(value):
            assert torch.equal(value[last], state[key][last]), key
            assert not torch.equal(value[:last.start], state[key][:last.start]), key


def torch_twin(model, make):
    """A copy of model with a torch optimizer over two groups (first layer, second layer)."""
    twin = mlp()
    twin.load_state_dict(model.state_dict())
    return twin, make([{"params": twin[0].parameters()},
                       {"params": twin[2].parameters(), "lr": 3e-2}])


@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_per_group_lr_and_weight_decay_are_torchs_adam(decay):
    model, batch = mlp(), data()
    opt = mt.LearnedOptimizer([{"params": model[0].parameters()},
                               {"params": model[2].parameters(), "lr": 3e-2}],
                              "adam", lr=1e-3, weight_decay=decay)
    kind = torch.optim.AdamW if decay else torch.optim.Adam
    twin, reference = torch_twin(model, lambda groups: kind(groups, lr=1e-3, weight_decay=decay))
    train(model, opt, batch, 5)
    train(twin, reference, batch, 5)
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    single = mlp()
    train(single, mt.LearnedOptimizer(single.parameters(), "adam", lr=1e-3), batch, 5)
    assert not torch.allclose(single[2].weight, model[2].weight)    # the group's lr was used


def test_group_options_and_betas_as_torch_names_them():
    model, batch = mlp(), data()
    opt = mt.LearnedOptimizer([{"params": model.parameters(), "betas": (0.8, 0.99)}], "adam",
                              lr=1e-2, eps=1e-6)
    twin = mlp()
    reference = torch.optim.Adam(twin.parameters(), lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    train(model, opt, batch, 4)
    train(twin, reference, batch, 4)
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    with pytest.raises(UsageError):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "lr": -1.0})
    assert len(opt.param_groups) == 1
    with pytest.raises(UsageError):
        mt.LearnedOptimizer(model.parameters(), "momentum", momentum=2.0)


def test_add_param_group_gives_fresh_state():
    model, batch = mlp(), data()
    opt = mt.LearnedOptimizer(model[0].parameters(), "adam", lr=1e-2)
    twin, _ = torch_twin(model, lambda groups: None)
    reference = torch.optim.Adam(twin[0].parameters(), lr=1e-2)
    train(model, opt, batch, 3)
    train(twin, reference, batch, 3)
    opt.add_param_group({"params": model[2].parameters(), "lr": 3e-2})
    reference.add_param_group({"params": twin[2].parameters(), "lr": 3e-2})
    train(model, opt, batch, 2)
    train(twin, reference, batch, 2)
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert opt.state["minil2o"]["steps"] == [5, 5, 2, 2]
    learned = mlp()
    lopt = mt.LearnedOptimizer(learned[0].parameters(), "rnnprop-mnist")
    train(learned, lopt, batch, 2)
    lopt.add_param_group({"params": learned[2].parameters()})
    losses = train(learned, lopt, batch, 3)
    assert np.isfinite(losses).all() and lopt.state["minil2o"]["steps"] == [5, 5, 3, 3]


def test_state_dict_round_trip_after_a_skip_and_a_new_group():
    batch = data()
    runs = []
    for _ in range(2):
        model = mlp()
        opt = mt.LearnedOptimizer(model[0].parameters(), "rnnprop-mnist", lr=0.5)
        train(model, opt, batch, 2)
        opt.add_param_group({"params": model[2].parameters()})
        train(model, opt, batch, 1)
        runs.append((model, opt))
    twin, twin_opt = mlp(seed=3), None
    twin.load_state_dict(runs[1][0].state_dict())
    twin_opt = mt.LearnedOptimizer([{"params": twin[0].parameters()},
                                    {"params": twin[2].parameters()}], "rnnprop-mnist")
    twin_opt.load_state_dict(runs[1][1].state_dict())
    assert twin_opt.param_groups[0]["lr"] == 0.5
    train(runs[0][0], runs[0][1], batch, 2)
    train(twin, twin_opt, batch, 2)
    for p, q in zip(runs[0][0].parameters(), twin.parameters()):
        assert torch.equal(p, q)
    bad = runs[1][1].state_dict()
    bad["param_groups"][0]["lr"] = float("nan")
    before = repr(twin_opt.state_dict())
    with pytest.raises(UsageError):
        twin_opt.load_state_dict(bad)
    assert repr(twin_opt.state_dict()) == before


def test_repr_names_the_optimizer_and_its_settings():
    model = mlp()
    text = repr(mt.LearnedOptimizer(model.parameters(), "adam", lr=1e-2))
    assert "'adam'" in text and "lr=0.01" in text and "beta2=0.999" in text
    text = repr(mt.LearnedOptimizer([{"params": model[0].parameters()},
                                     {"params": model[2].parameters(), "lr": 0.5}],
                                    "rnnprop-mnist"))
    assert "'rnnprop-mnist'" in text and "lr=1.0" in text and "lr=0.5" in text


@pytest.mark.parametrize("name", ["rnnprop-mnist", "adam"])
def test_torch_compile_trains_with_it(name):
    model, batch = mlp(), data()
    opt = mt.LearnedOptimizer(model.parameters(), name, **({"lr": 1e-2} if name == "adam" else {}))
    compiled = torch.compile(model, backend="aot_eager")

    @torch.compile(backend="aot_eager")
    def train_step():
        opt.zero_grad()
        loss = (compiled(batch[0]) - batch[1]).pow(2).mean()
        loss.backward()
        opt.step()                                # not compiled: a graph break around it
        return loss
    losses = [float(train_step().detach()) for _ in range(15)]
    assert np.isfinite(losses).all() and losses[-1] < 0.9 * losses[0]


def truncated(state_dict):
    """The state dict with every per-coordinate tensor of the minil2o state one row short."""
    out = copy.deepcopy(state_dict)
    inner = out["state"]["minil2o"]["inner"]
    for key, value in inner.items():
        if torch.is_tensor(value) and value.dim():
            inner[key] = value[:-1].clone()
    return out


def nan_state(state_dict):
    """The state dict with one NaN in the first per-coordinate tensor of the minil2o state."""
    out = copy.deepcopy(state_dict)
    inner = out["state"]["minil2o"]["inner"]
    key = next(k for k, v in inner.items() if torch.is_tensor(v) and v.dim())
    inner[key] = inner[key].clone()
    inner[key].view(-1)[0] = float("nan")
    return out


@pytest.mark.parametrize("name", ["rnnprop-mnist", "adam"])
def test_refused_states_leave_the_previous_state_in_place(name):
    """torch.optim.Adam's own state dict, a NaN state and a truncated state are each refused in
    one line; afterwards the optimizer steps exactly as a twin that was never handed them."""
    batch = data()
    model, twin = mlp(), mlp()
    opt, twin_opt = (mt.LearnedOptimizer(m.parameters(), name) for m in (model, twin))
    train(model, opt, batch, 2)
    train(twin, twin_opt, batch, 2)
    adam_model = mlp()
    adam = torch.optim.Adam(adam_model.parameters(), lr=1e-3)
    train(adam_model, adam, batch, 2)                        # a real torch Adam state dict
    good = opt.state_dict()
    for label, bad in [("torch.optim.Adam", adam.state_dict()), ("NaN", nan_state(good)),
                       ("truncated", truncated(good))]:
        before = repr(opt.state_dict())
        with pytest.raises(UsageError) as refused:
            opt.load_state_dict(bad)
        assert "\n" not in str(refused.value), label
        assert repr(opt.state_dict()) == before, f"{label}: the state changed"
    train(model, opt, batch, 3)
    train(twin, twin_opt, batch, 3)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
