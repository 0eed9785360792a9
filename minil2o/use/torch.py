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
as for any torch optimizer. load_state_dict checks that state first, as dropin's update checks a
state it did not make (minil2o.files.loader.check_state: keys, shapes, real float dtypes, finite
after the cast, the optimizer's name): a refused one is one line, and the old state is kept.
Per-parameter-group options (lr, ...) are not used: a learned optimizer has none, and a
hand-designed one takes its settings here, once. Every parameter that
requires a gradient must have one when `step` is called (a learned optimizer moves coordinates even
at zero gradient, so a missing gradient is refused rather than guessed). A gradient holding NaN or
inf is refused by the drop-in API's check (minil2o.validate.check_gradient, a GradientError)
before any tensor or the state changes.

PyTorch is an optional dependency: pip install "minil2o[torch]".
"""
import torch

from minil2o.backend import get_backend, xp
from minil2o.use.dropin import pretrained
from minil2o.errors import UsageError
from minil2o.files.loader import check_state
from minil2o.files.loader import short as loader_short
from minil2o.validate import is_integer

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
        self.state[KEY] = {"n": state.layout.n, "inner": to_tensors(state.inner),
                           "optimizer": self.optimizer.name}
        return loss

    def current_state(self, views):
        """The dropin State over these arrays: fresh before step 1, else the stored tensors (which
        this optimizer's step stored, or load_state_dict checked)."""
        if KEY not in self.state:
            return self.optimizer.init(views)
        layout = self.optimizer.layout(views)
        saved = self.state[KEY]
        if saved["n"] != layout.n:
            raise UsageError(f"the state is for {saved['n']} coordinates but the parameters have "
                             f"{layout.n}: the parameters changed since the first step")
        return self.optimizer.adopt(to_arrays(saved["inner"]), layout)

    def load_state_dict(self, state_dict):
        """torch's load_state_dict, the minil2o state first checked against these parameters
        (checked_state) and moved to their device and dtype. A refused state dict raises a
        one-line UsageError and leaves the optimizer's state as it was."""
        found = checked_structure(state_dict)
        saved = found.get(KEY)
        inner = None if saved is None else self.checked_state(saved)
        super().load_state_dict(state_dict)
        if inner is not None:
            self.state[KEY] = {"n": saved["n"], "inner": inner, "optimizer": self.optimizer.name}

    def checked_state(self, saved):
        """The inner state of `saved` (a state dict's self.state["minil2o"]) as tensors of the
        parameters' device and dtype, checked like any state handed to dropin's update
        (minil2o.files.loader.check_state: keys, shapes, real float dtypes, finite after the cast,
        the optimizer's name); a one-line UsageError otherwise."""
        tensors = self.tensors()
        fresh = self.optimizer.init([array_view(p, f"parameter {i}") for i, p in enumerate(tensors)])
        saved = saved if isinstance(saved, dict) else {}
        name = saved.get("optimizer", self.optimizer.name)       # (not saved by older versions)
        if not isinstance(name, str) or name != self.optimizer.name:
            raise UsageError(f"the saved state was made by optimizer {loader_short(name)}, not "
                             f"{self.optimizer.name}: load it into a LearnedOptimizer of that one")
        if not is_integer(saved.get("n")) or saved["n"] != fresh.layout.n or \
                not isinstance(saved.get("inner"), dict):
            raise UsageError(f"the saved state does not fit these parameters ({fresh.layout.n} "
                             f"coordinates, optimizer {self.optimizer.name}): was it saved for "
                             "another model or optimizer?")
        like = tensors[0]
        inner = map_tree(saved["inner"], lambda t: cast_saved(t, like))
        check_state(to_arrays(inner), fresh.inner, "the saved state")
        return inner


def checked_structure(state_dict):
    """The "state" of a state dict shaped as this adapter saves one: a dict with "state" (a dict
    holding at most our own entry) and "param_groups" (a list); a one-line UsageError otherwise,
    so that another optimizer's state (torch.optim.Adam's exp_avg, ...) is not taken and dropped."""
    if not isinstance(state_dict, dict) or not isinstance(state_dict.get("state"), dict) or \
            not isinstance(state_dict.get("param_groups"), list):
        raise UsageError("a state dict holds 'state' (a dict) and 'param_groups' (a list), got "
                         f"{loader_short(state_dict)}: pass what state_dict() returned")
    foreign = [k for k in state_dict["state"] if k != KEY]
    if foreign:
        keys = sorted({str(n) for k in foreign if isinstance(state_dict["state"][k], dict)
                       for n in state_dict["state"][k]})
        named = ", ".join(keys[:4]) or str(foreign[0])
        raise UsageError(f"the state dict holds per-parameter state ({named}) that this optimizer "
                         "does not keep: it was saved by another optimizer; load it into that one")
    return state_dict["state"]


def is_dense_float(value):
    """True for a dense (strided) float32 or float64 tensor."""
    return isinstance(value, torch.Tensor) and value.layout == torch.strided and \
        value.dtype in (torch.float32, torch.float64)


def cast_saved(value, like):
    """A saved state's tensor on the device and dtype of tensor `like`: a dense real float tensor
    (float32 or float64), else a one-line UsageError (an int, complex, sparse tensor, an array)."""
    if not is_dense_float(value):
        found = (f"a {value.layout} tensor of {value.dtype}" if isinstance(value, torch.Tensor)
                 else f"a {type(value).__module__}.{type(value).__name__}")
        raise UsageError(f"the saved state holds {found}: a minil2o state holds dense float32 "
                         "or float64 tensors (and the step count t)")
    return value.detach().to(device=like.device, dtype=like.dtype).contiguous()


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
