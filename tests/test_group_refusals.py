"""A per-group learned optimizer (dm-cnn: one LSTM for the convolution filters, one for the rest)
refuses, at construction, parameters it cannot serve: minil2o.pretrained(...) a groups= naming
other groups, its init a model without convolutions, minil2o.torch.LearnedOptimizer such a model
(before any step). Each refusal is one line naming what is missing and what is allowed."""
import numpy as np
import pytest

import minil2o
from minil2o.backend import xp
from helpers import refused


def arrays(*shapes):
    return [xp.asarray(np.ones(s, np.float32)) for s in shapes]


def test_groups_naming_other_groups_are_refused_at_construction():
    refused(lambda: minil2o.pretrained("dm-cnn", groups={"conv": [0], "dense": [1]}),
            "dm-cnn", "conv, fc", "'dense'")
    refused(lambda: minil2o.pretrained("dm-cnn", groups=[[0], [1]]), "conv, fc")
    refused(lambda: minil2o.pretrained("rnnprop-mnist", groups={"conv": [0], "fc": [1]}),
            "rnnprop-mnist", "one optimizer", "dm-cnn")


def test_init_refuses_a_model_without_convolutions():
    opt = minil2o.pretrained("dm-cnn")
    refused(lambda: opt.init(arrays((64, 10), (10,))), "dm-cnn", "'conv'",
            "3 or more dimensions", "groups={'conv': [...], 'fc': [...]}", "rnnprop-mnist")
    refused(lambda: opt.init(arrays((8, 1, 3, 3))), "'fc'")
    layout = opt.init(arrays((8, 1, 3, 3), (8,), (392, 10), (10,))).layout
    assert layout.groups == (("conv", 72), ("fc", 8 + 3920 + 10))
    given = minil2o.pretrained("dm-cnn", groups={"conv": [0], "fc": [1, 2]})
    refused(lambda: given.init(arrays((8, 1, 3, 3), (8,), (392, 10), (10,))), "exactly once")


def test_the_torch_adapter_refuses_at_construction():
    torch = pytest.importorskip("torch")
    import minil2o.torch as mt
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    refused(lambda: mt.LearnedOptimizer(mlp.parameters(), "dm-cnn"), "dm-cnn", "'conv'",
            "3 or more dimensions", "rnnprop-mnist")
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 10))
    mt.LearnedOptimizer(cnn.parameters(), "dm-cnn")                    # conv and fc: accepted
    refused(lambda: mt.LearnedOptimizer(cnn.parameters(), "dm-cnn",
                                        groups={"conv": [0], "fc": [2, 3]}), "exactly once")
    refused(lambda: mt.LearnedOptimizer(cnn.parameters(), "dm-cnn", groups={"conv": [0, 1]}),
            "conv, fc")
    cnn[0].weight.requires_grad_(False)                    # the only filter frozen: no conv left
    refused(lambda: mt.LearnedOptimizer(cnn.parameters(), "dm-cnn"), "'conv'")
    opt = mt.LearnedOptimizer(cnn.parameters(), "dm-cnn", groups={"conv": [1], "fc": [2, 3]})
    opt.zero_grad()
    cnn(torch.ones(2, 1, 8, 8)).pow(2).mean().backward()
    opt.step()                                             # the explicit groups serve it


def test_a_step_where_only_one_group_has_gradients_steps_that_group():
    """Freezing the convolutions (fine-tuning the head) is a step with no conv gradient: the fc
    parameters step as they would beside the conv ones (the LSTM is coordinatewise), the frozen
    ones and their state are untouched, and unfreezing them continues."""
    torch = pytest.importorskip("torch")
    from minil2o.torch import LearnedOptimizer

    def model_and_optimizer():
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 3))
        return m, LearnedOptimizer(m.parameters(), "dm-cnn")

    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    (a, opt_a), (b, opt_b) = model_and_optimizer(), model_and_optimizer()
    for m, opt in ((a, opt_a), (b, opt_b)):
        m(x).square().mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    conv_before = [p.detach().clone() for p in a[0].parameters()]
    for p in a[0].parameters():
        p.requires_grad_(False)
    for m, opt in ((a, opt_a), (b, opt_b)):
        m(x).square().mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    for before, p in zip(conv_before, a[0].parameters()):
        assert torch.equal(before, p)
    for pa, pb in zip(a[2].parameters(), b[2].parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-7)
    for p in a[0].parameters():
        p.requires_grad_(True)
    a(x).square().mean().backward()
    opt_a.step()
    assert not all(torch.equal(before, p) for before, p in zip(conv_before, a[0].parameters()))
