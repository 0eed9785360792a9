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

torch's conventions. Each parameter group carries `lr`, `weight_decay` and the options of the
rule. For a learned optimizer `lr` multiplies the proposed update (1.0, the default, is the step
as trained), so torch.optim.lr_scheduler's schedulers (StepLR, LambdaLR, ReduceLROnPlateau) and
warm-ups work; a hand-designed one ("adam", "sgd", ...) takes its learning rate and its options
(momentum, beta1 and beta2 or torch's betas, eps, ...) from each group, its constructor's settings
the defaults. weight_decay (default 0) is decoupled, as in torch.optim.AdamW: p -= lr * wd * p
before the update. A parameter whose grad is None is skipped, its state untouched; one that gets a
gradient for the first time (add_param_group, unfreezing) joins the state with a fresh state of
its own, and each parameter keeps its own step count. `step` is not compiled: under torch.compile
it runs eagerly, between graphs. groups= (a per-group optimizer such as dm-cnn) names positions
in the list of all parameters, group after group (the indices of state_dict()["param_groups"]);
a per-group optimizer's groups are checked against the parameters at construction, so a model
it cannot serve (dm-cnn without a convolution) is refused in one line before any step.
A gradient holding NaN or inf is refused by the drop-in API's check
(minil2o.validate.check_gradient, a GradientError) before any tensor or the state changes.

PyTorch is an optional dependency: pip install "minil2o[torch]".
"""
import copy
import math

import torch

from minil2o.backend import get_backend, xp
from minil2o.errors import UsageError
from minil2o.files.loader import check_state
from minil2o.files.loader import short as loader_short
from minil2o.optimizers.hand import HAND_OPTIMIZERS
from minil2o.training.flat import concat_raveled, split_raveled
from minil2o.use.dropin import DTYPES, check_finite, pretrained
from minil2o.use.pieces import copy_pieces, count_of, with_count, writable
from minil2o.validate import is_integer

KEY = "minil2o"


def not_compiled(fn):
    """fn marked so that torch.compile runs it eagerly, breaking the graph around it."""
    compiler = getattr(torch, "compiler", None)
    disable = getattr(compiler, "disable", None) or torch._dynamo.disable
    return disable(fn)


def checked_number(value, name):
    """value (a number or a one-element tensor) as a finite float >= 0, else a one-line
    UsageError naming the group's option `name`."""
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        number = float("nan")
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise UsageError(f"a parameter group's {name}={loader_short(value)} is not allowed: it "
                         "must be a finite number >= 0")
    return number


class LearnedOptimizer(torch.optim.Optimizer):
    """A torch optimizer running minil2o's `name` (shipped, a file, or hand-designed) on `params`.
    settings: a hand-designed rule's options (lr, momentum, ...), the groups' defaults; lr
    (default 1.0, a multiplier on the learned update) for a learned one; weight_decay for both.
    groups: for a per-group optimizer, {group: [positions in the parameter list]}."""

    def __init__(self, params, name, groups=None, **settings):
        key = name.lower() if isinstance(name, str) else None
        options = {"weight_decay": settings.pop("weight_decay", 0.0)}
        if key in HAND_OPTIMIZERS:
            self.optimizer = pretrained(name, groups=groups, **settings)
            self.hand = HAND_OPTIMIZERS[key](**settings)
            defaults = {**self.hand.hyperparameters(), **options}
        else:
            options["lr"] = settings.pop("lr", 1.0)
            self.optimizer = pretrained(name, groups=groups, **settings)
            self.hand, defaults = None, options
        super().__init__(params, defaults)
        self.check_groups_fit()

    def check_groups_fit(self):
        """A per-group optimizer (dm-cnn: conv and fc) checked against the parameters now, at
        construction: groups= naming each parameter that requires a gradient once, or by default
        conv and fc each given some (dropin's assign_groups); a one-line UsageError saying what is
        missing and what is allowed, rather than a refusal at the first step."""
        params = self.all_params()
        positions = [i for i, (_, p) in enumerate(params) if p.requires_grad]
        if not positions:
            return
        shapes = tuple(tuple(params[i][1].shape) for i in positions)
        dtype = str(params[positions[0]][1].dtype).removeprefix("torch.")
        whole = self.narrowed(positions)
        whole.partial = False                  # every trainable parameter: each group needs some
        whole.assign_groups(tuple(positions), shapes, dtype if dtype in DTYPES else "float32")

    def __repr__(self):
        shown = [", ".join(f"{k}={v!r}" for k, v in g.items() if k != "params")
                 for g in self.param_groups]
        text = shown[0] if len(shown) == 1 else "groups=[" + "; ".join(shown) + "]"
        return f"{type(self).__name__}({self.optimizer.name!r}, {text})"

    def add_param_group(self, param_group):
        """torch's add_param_group, the group's options checked now (group_rule); the new
        parameters get a fresh state at their first step with a gradient."""
        super().add_param_group(param_group)
        try:
            self.group_rule(self.param_groups[-1])
        except UsageError:
            self.param_groups.pop()
            raise

    def group_rule(self, group):
        """(lr, weight_decay, rule) of a parameter group, checked: rule is the hand-designed
        optimizer with the group's options and lr (None for a learned optimizer)."""
        lr = checked_number(group.get("lr", 1.0), "lr")
        decay = checked_number(group.get("weight_decay", 0.0), "weight_decay")
        if self.hand is None:
            return lr, decay, None
        options = dict(group)
        if "betas" in group and "beta1" in self.hand.hyper:
            options["beta1"], options["beta2"] = group["betas"]
        rule = type(self.hand)(**{k: options[k] for k in self.hand.hyper if k in options})
        rule.lr = lr                    # the group's lr as given (0 allowed: a warm-up's start)
        return lr, decay, rule

    def all_params(self):
        """[(group index, parameter)] of every parameter, group after group."""
        return [(g, p) for g, group in enumerate(self.param_groups) for p in group["params"]]

    def tensors(self):
        """The optimized tensors (those requiring a gradient), in the order of the groups."""
        return [p for _, p in self.all_params() if p.requires_grad]

    def narrowed(self, positions):
        """The dropin optimizer for some of the parameters (those with a gradient at a step, so
        a per-group optimizer's group may have none of them): groups= narrowed to them."""
        opt = copy.copy(self.optimizer)
        opt.partial = True
        if opt._groups is not None and isinstance(opt._groups, dict):
            opt._groups = {g: [i for i in keys if i in positions]
                           for g, keys in self.optimizer._groups.items()}
        return opt

    def layout_of(self, views):
        """The dropin Layout of {position: array}; groups= narrowed to these positions."""
        return self.narrowed(views).layout(views)

    @not_compiled
    @torch.no_grad()
    def step(self, closure=None):
        """One step of minil2o's optimizer on every parameter that has a gradient (the others
        are skipped, their state untouched); returns closure's loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = self.all_params()
        active = [i for i, (_, p) in enumerate(params) if p.grad is not None]
        if not active:
            return loss
        record = self.record(params, active)
        plans = [self.plan(batch, record, params) for batch in self.batches(params, record, active)]
        for plan in plans:
            self.apply(plan, record, params)
        inner = record["inner"]
        if count_of(inner) is not None:
            inner = with_count(inner, max(record["steps"]))
        self.state[KEY] = {"n": record["layout"].n, "inner": to_tensors(inner),
                           "optimizer": self.optimizer.name, "members": record["members"],
                           "steps": record["steps"]}
        return loss

    def views(self, params, positions):
        """{position: the parameter's data as an array} for these positions."""
        return {i: array_view(params[i][1], f"parameter {i}") for i in positions}

    def record(self, params, active):
        """The stored state as arrays with its members (positions), their step counts and its
        layout; parameters in `active` that are not members yet join with a fresh state."""
        saved = self.state.get(KEY)
        members = [] if saved is None else list(saved["members"])
        joined = sorted(set(members) | set(active))
        layout = self.layout_of(self.views(params, joined))
        record = {"members": joined, "layout": layout, "owned": True}
        if saved is None:
            fresh = self.optimizer.optimizer(layout).init_state(layout.n, layout.dtype)
            return {**record, "steps": [0] * len(joined), "inner": fresh}
        old = layout if joined == members else self.layout_of(self.views(params, members))
        if saved["n"] != old.n:
            raise UsageError(f"the state is for {saved['n']} coordinates but the parameters have "
                             f"{old.n}: the parameters changed since the first step")
        stored, steps = to_arrays(saved["inner"]), dict(zip(members, saved["steps"]))
        record["steps"] = [steps.get(i, 0) for i in joined]
        if joined == members:
            return {**record, "inner": stored, "owned": False}     # stored tensors stay as saved
        inner = writable(self.optimizer.optimizer(layout).init_state(layout.n, layout.dtype))
        pairs = [(members.index(i), joined.index(i)) for i in members]
        copy_pieces(stored, old, inner, layout, pairs)
        return {**record, "inner": inner}

    def batches(self, params, record, active):
        """The active positions in batches stepped together: one per step count (and per
        parameter group for a hand-designed rule, whose options are the group's)."""
        steps = dict(zip(record["members"], record["steps"]))
        out = {}
        for i in active:
            key = (params[i][0] if self.hand is not None else 0, steps[i])
            out.setdefault(key, []).append(i)
        return [(group, t, positions) for (group, t), positions in out.items()]

    def plan(self, batch, record, params):
        """What stepping a batch needs: its layout, gradient (checked: NaN or inf refused before
        anything changes), rule, and its part of the state (the whole state when it is all)."""
        group, t, positions = batch
        views = self.views(params, positions)
        layout = self.layout_of(views)
        grads = [array_view(params[i][1].grad, f"gradient {i}") for i in positions]
        grad = concat_raveled(layout.in_order(grads))                          # (n,)
        check_finite(grad, layout)
        lr, decay, rule = self.group_rule(self.param_groups[group])
        rule = rule if rule is not None else self.optimizer.optimizer(layout)
        members = record["members"]
        if positions == members:
            inner = record["inner"]
        else:
            inner = writable(self.optimizer.optimizer(layout).init_state(layout.n, layout.dtype))
            copy_pieces(record["inner"], record["layout"], inner, layout,
                        [(members.index(i), k) for k, i in enumerate(positions)])
        return {"positions": positions, "layout": layout, "grad": grad, "rule": rule,
                "inner": with_count(inner, t) if count_of(inner) is not None else inner,
                "views": views}

    def apply(self, plan, record, params):
        """One step of a batch: the parameters written in place (scaled by the group's lr for a
        learned rule, decayed by weight_decay), the batch's state and step counts stored."""
        layout, positions = plan["layout"], plan["positions"]
        update, inner = self.optimizer.step_rule(plan["rule"], plan["grad"], plan["inner"],
                                                 layout)                      # (n,), in place
        pieces = split_raveled(update, layout.in_order(layout.shapes))
        rules = {}
        for i, piece in zip(layout.in_order(positions), pieces):
            group = params[i][0]
            lr, decay, _ = rules.setdefault(group, self.group_rule(self.param_groups[group]))
            view = plan["views"][i]
            if self.hand is None and lr != 1.0:
                piece = lr * piece
            if decay:
                view[...] = view * (1.0 - lr * decay) + piece
            else:
                view[...] = view + piece                       # written into the tensor's memory
        members = record["members"]
        if positions == members:
            record["inner"] = inner
        else:
            if not record["owned"]:
                record["inner"], record["owned"] = writable(record["inner"]), True
            copy_pieces(inner, layout, record["inner"], record["layout"],
                        [(k, members.index(i)) for k, i in enumerate(positions)])
        for i in positions:
            record["steps"][members.index(i)] += 1

    def load_state_dict(self, state_dict):
        """torch's load_state_dict, the groups' options and the minil2o state first checked
        against these parameters (checked_state) and moved to their device and dtype. A refused
        state dict raises a one-line UsageError and leaves the optimizer as it was."""
        found = checked_structure(state_dict)
        for group in state_dict["param_groups"]:
            if not isinstance(group, dict):
                raise UsageError(f"a parameter group is a dict, got {loader_short(group)}")
            self.group_rule(group)
        saved = found.get(KEY)
        checked = None if saved is None else self.checked_state(saved)
        super().load_state_dict(state_dict)
        if checked is not None:
            self.state[KEY] = {"optimizer": self.optimizer.name, **checked}

    def checked_state(self, saved):
        """The entries of `saved` (a state dict's self.state["minil2o"]), its tensors on the
        parameters' device and dtype, checked like any state handed to dropin's update
        (minil2o.files.loader.check_state: keys, shapes, real float dtypes, finite after the
        cast, the optimizer's name) and its members and step counts; a one-line UsageError
        otherwise. A state saved before members were kept covers every parameter needing a grad."""
        params = self.all_params()
        saved = saved if isinstance(saved, dict) else {}
        name = saved.get("optimizer", self.optimizer.name)       # (not saved by older versions)
        if not isinstance(name, str) or name != self.optimizer.name:
            raise UsageError(f"the saved state was made by optimizer {loader_short(name)}, not "
                             f"{self.optimizer.name}: load it into a LearnedOptimizer of that one")
        members = saved.get("members", [i for i, (_, p) in enumerate(params) if p.requires_grad])
        ok = isinstance(members, list) and members and all(is_integer(i) for i in members) and \
            members == sorted(set(members)) and 0 <= members[0] and members[-1] < len(params)
        layout = self.layout_of(self.views(params, members)) if ok else None
        if not ok or not is_integer(saved.get("n")) or saved["n"] != layout.n or \
                not isinstance(saved.get("inner"), dict):
            raise UsageError(f"the saved state does not fit these parameters ({len(params)} "
                             f"tensors, optimizer {self.optimizer.name}): was it saved for "
                             "another model or optimizer?")
        like = params[members[0]][1]
        inner = map_tree(saved["inner"], lambda t: cast_saved(t, like))
        fresh = self.optimizer.optimizer(layout).init_state(layout.n, layout.dtype)
        check_state(to_arrays(inner), fresh, "the saved state")
        count = count_of(fresh) is not None and count_of(to_arrays(inner))
        steps = saved.get("steps", [count or 0] * len(members))
        if not isinstance(steps, list) or len(steps) != len(members) or \
                not all(is_integer(t) and 0 <= t <= 2 ** 53 for t in steps):
            raise UsageError("the saved state's step counts do not fit its parameters: was it "
                             "edited?")
        return {"n": layout.n, "inner": inner, "members": list(members), "steps": list(steps)}


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
