"""minil2o's optimizers as a `torch.optim.Optimizer`: the same step, run on the tensors' memory.

    import minil2o.torch
    opt = minil2o.torch.LearnedOptimizer(model.parameters(), "rnnprop-mnist")   # or "adam", lr=1e-3
    for x, y in batches:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

No optimizer math is written in torch. `step` hands the parameters and their gradients to
`minil2o.pretrained(...).update` (minil2o/use/dropin.py) as arrays of minil2o's backend that share the
tensors' memory through DLPack (NumPy for CPU tensors, CuPy for CUDA tensors after
`minil2o.set_backend("cupy")`), and writes the new parameters back into that same memory. The
gradients are read without a copy; the one copy is the flat vector theta that every minil2o step
works on.

The optimizer's state (LSTM h and c per coordinate, moving averages, the step count t) lives in
`self.state["minil2o"]` as tensors, so `state_dict()` / `load_state_dict()` and `torch.save` work
as for any torch optimizer. Per-parameter-group options (lr, ...) are not used: a learned
optimizer has none, and a hand-designed one takes its settings here, once. Every parameter that
requires a gradient must have one when `step` is called (a learned optimizer moves coordinates even
at zero gradient, so a missing gradient is refused rather than guessed). A gradient holding NaN or
inf is refused by the drop-in API's check (minil2o.validate.check_gradient, a GradientError)
before any tensor or the state changes.

PyTorch is an optional dependency: pip install "minil2o[torch]".
"""
import torch

from minil2o.backend import get_backend, xp
from minil2o.use.dropin import State, pretrained
from minil2o.errors import UsageError

KEY = "minil2o"


class LearnedOptimizer(torch.optim.Optimizer):
    """A torch optimizer running minil2o's `name` (shipped, a file, or hand-designed) on `params`.
    groups: for a per-group optimizer, {group: [positions in the parameter list]} (minil2o.use.dropin)."""

    def __init__(self, params, name, groups=None, **settings):
        self.optimizer = pretrained(name, groups=groups, **settings)
        super().__init__(params, defaults={})

    def tensors(self):
        """The optimized tensors, in the order of the parameter groups."""
        return [p for group in self.param_groups for p in group["params"] if p.requires_grad]

    @torch.no_grad()
    def step(self, closure=None):
        """One step of minil2o's optimizer on every parameter; returns closure's loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        tensors = self.tensors()
        missing = [i for i, p in enumerate(tensors) if p.grad is None]
        if missing:
            raise UsageError(f"parameters {missing} have no gradient: call loss.backward() before "
                             "step(), or leave parameters the loss does not use out of the optimizer")
        views = [array_view(p, f"parameter {i}") for i, p in enumerate(tensors)]
        grads = [array_view(p.grad, f"gradient {i}") for i, p in enumerate(tensors)]
        state = self.current_state(views)
        new, state = self.optimizer.update(grads, state, views)
        for view, value in zip(views, new):
            view[...] = value                              # written into the tensor's memory
        self.state[KEY] = {"n": state.layout.n, "inner": to_tensors(state.inner)}
        return loss

    def current_state(self, views):
        """The dropin State over these arrays: fresh before step 1, else the stored tensors."""
        if KEY not in self.state:
            return self.optimizer.init(views)
        layout = self.optimizer.layout(views)
        saved = self.state[KEY]
        if saved["n"] != layout.n:
            raise UsageError(f"the state is for {saved['n']} coordinates but the parameters have "
                             f"{layout.n}: the parameters changed since the first step")
        return State(to_arrays(saved["inner"]), layout)

    def load_state_dict(self, state_dict):
        """torch's load_state_dict, then the minil2o state checked against these parameters and
        moved to their device and dtype."""
        super().load_state_dict(state_dict)
        if KEY not in self.state:
            return
        tensors = self.tensors()
        fresh = self.optimizer.init([array_view(p, f"parameter {i}") for i, p in enumerate(tensors)])
        saved = self.state[KEY]
        if saved.get("n") != fresh.layout.n or not same_structure(saved.get("inner"), fresh.inner):
            raise UsageError(f"the saved state does not fit these parameters ({fresh.layout.n} "
                             f"coordinates, optimizer {self.optimizer.name}): was it saved for "
                             "another model or optimizer?")
        like = tensors[0]
        saved["inner"] = map_tree(saved["inner"], lambda t: t.to(device=like.device, dtype=like.dtype))


def array_view(tensor, where):
    """The tensor's data as an array of minil2o's backend, sharing its memory (DLPack)."""
    backend = get_backend()
    device = "cuda" if backend == "cupy" else "cpu"
    if tensor.device.type != device:
        raise UsageError(f"{where} is on {tensor.device} but minil2o's backend is {backend}: use "
                         f"minil2o.set_backend({'cupy' if tensor.is_cuda else 'numpy'!r}) to match")
    if tensor.dtype not in (torch.float32, torch.float64) or tensor.layout != torch.strided:
        raise UsageError(f"{where} is a {tensor.layout} tensor of {tensor.dtype}: minil2o optimizes "
                         "dense float32 or float64 tensors")
    return xp.from_dlpack(tensor.detach())


def map_tree(tree, fn):
    """fn applied to every tensor or array in a nested dict (numbers stay as they are)."""
    return {k: map_tree(v, fn) if isinstance(v, dict) else
            (fn(v) if hasattr(v, "__dlpack__") else v) for k, v in tree.items()}


def to_tensors(inner):
    """A minil2o state as torch tensors sharing the arrays' memory."""
    return map_tree(inner, torch.from_dlpack)


def to_arrays(inner):
    """A state of tensors as arrays of minil2o's backend sharing their memory."""
    return map_tree(inner, xp.from_dlpack)


def same_structure(saved, fresh):
    """True when two states have the same keys, array shapes and numbers-or-arrays everywhere."""
    if isinstance(fresh, dict):
        return isinstance(saved, dict) and set(saved) == set(fresh) and \
            all(same_structure(saved[k], fresh[k]) for k in fresh)
    if hasattr(fresh, "__dlpack__"):
        return isinstance(saved, torch.Tensor) and tuple(saved.shape) == tuple(fresh.shape)
    return not isinstance(saved, (dict, torch.Tensor))
