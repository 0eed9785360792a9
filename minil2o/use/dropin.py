"""The trained optimizers as drop-in optimizers for your own model's arrays.

    opt = minil2o.pretrained("rnnprop-mnist")         # a shipped name, a file, or "adam", lr=1e-3
    state = opt.init(params)                          # params: a list, tuple or dict of arrays
    for step in range(num_steps):
        grads = gradient_of_my_loss(params)           # the same container, the same shapes
        params, state = opt.update(grads, state, params)

One convention: optax's call signature, with the update applied. `update` returns the NEW
parameters theta_{t+1} = theta_t + u_t and the new state; it never changes its inputs. (optax's
`update` returns the updates u_t and leaves adding them to you; here that addition is done inside.)

The math is minil2o's own step and nothing else. The arrays, of any shapes, are raveled and
concatenated into one flat vector theta (n,) (eq. 11.1 of chapter 11); the optimizer's
`step(grad, state) -> (update, state)` runs on it exactly as it does in meta-training,
coordinatewise (eq. 1 of Andrychowicz et al. 2016, eq. 11.2); theta + update is split back into
arrays of the original shapes, in a container of the original kind. The raveling and the split
are minil2o.training.flat's, the ones that lay out phi; a Layout here only adds the container and
the order (group by group for a per-group optimizer). A learned optimizer's LSTM steps run in
place, in memory the Optimizer keeps from step to step (minil2o.fast_lstm.StepWorkspace, on
NumPy), as in meta-training: the reference step's numbers to rounding (Optimizer.step_rule).
The arrays are those of the selected backend (NumPy, CuPy after `minil2o.set_backend("cupy")`,
or array_api_strict), float32 or float64, all of one dtype; a learned optimizer's parameters phi
are loaded in that dtype.

Parameter groups. A per-group optimizer (`dm-cnn`: one LSTM for "conv", one for "fc";
optimizers/grouped.py) must know which arrays each of its optimizers serves. Say so with
groups={"conv": [0, 1], "fc": [2, 3]} (positions in a list, keys of a dict). Without it, an
optimizer whose groups are conv and fc gives every array of 3 or more dimensions (a conv filter)
to conv and every other array (biases, batch-norm scales, fully-connected weights) to fc; any
other set of groups has no default and must be given.

Each bad input raises a one-line UsageError: a container of another kind or other keys, an array
of another shape, backend or dtype (complex, integer) than at init, a state made by another
optimizer or edited (keys, shapes, dtypes, NaN: minil2o.files.loader), and a gradient holding NaN or
inf (the step is refused, with the number of such entries and the arrays holding them: a learned
optimizer's state would carry them into every later step). That refusal is a GradientError, the
policy of every public step (minil2o.validate.check_gradient), for hand-designed optimizers too.

Array by array. `tree_init(opt, params)` and `tree_update(opt, grads, state, params)` run a
hand-designed optimizer (minil2o.optimizers.hand) on each array separately, its state a plain dict
of containers like params ({"t", "m", "v"} for Adam): the form a learner writes by hand (chapter
11's exercise), equal to `pretrained(name).update` because the rules are coordinatewise.
"""
import inspect
import math
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from ..backend import get_backend, xp
from ..problems.data import PRETRAINED_DIR
from ..errors import GradientError, UsageError
from ..fast_lstm import StepWorkspace
from ..files.loader import check_state
from ..validate import build_with_settings, check_gradient, count_nonfinite
from ..optimizers.hand import HAND_OPTIMIZERS
from ..training.flat import concat_raveled, split_raveled
from .groups import assign_groups, check_groups

DTYPES = ("float32", "float64")
KEPT_WORKSPACES = 2            # layouts whose workspace an Optimizer keeps (Optimizer.workspace)
ARRAY_MODULES = {"numpy": "numpy", "cupy": "cupy", "array_api_strict": "strict"}


def shipped():
    """Names of the learned optimizers shipped in minil2o/datasets/pretrained/."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.npz"))


def load_learned(path, dtype):
    """The learned optimizer saved at `path`, its phi in `dtype` (the one call into training's
    checkpoint code)."""
    from ..training.runs import load_optimizer
    return load_optimizer(path, dtype)


def pretrained(name_or_path, groups=None, **settings):
    """An Optimizer over your arrays: a shipped learned optimizer by name ("rnnprop-mnist",
    "dm-mnist", "dm-cnn", ...), a file written by training (optimizer.npz, or the run's folder), or a
    hand-designed one by name with its settings ("adam", lr=1e-3). groups: see the module docstring.
    A path that exists is a path; a bare name is a shipped optimizer: a Path is always a path, and
    so is a str naming an existing file or folder (see _learned_path). A file is read through
    minil2o.files.loader: anything not as training writes it is refused in one line."""
    key = name_or_path.lower() if isinstance(name_or_path, str) else None
    if key in HAND_OPTIMIZERS:
        cls = HAND_OPTIMIZERS[key]
        allowed = list(inspect.signature(cls.__init__).parameters)[1:]
        hand = build_with_settings(cls, settings, f"optimizer {key!r}", allowed)
        opt = Optimizer(key, lambda dtype: hand, groups)
        opt.check_groups(hand)
        return opt
    path = _learned_path(name_or_path)
    if settings:
        raise UsageError(f"a learned optimizer takes no settings (got {', '.join(settings)}): its "
                         "step was learned; settings belong to hand-designed ones such as 'adam'")
    loaded = {}                                  # (backend, dtype) -> the optimizer, phi there

    def make(dtype):
        if (get_backend(), dtype) not in loaded:
            loaded[get_backend(), dtype] = load_learned(path, dtype)
        return loaded[get_backend(), dtype]
    opt = Optimizer(str(name_or_path), make, groups)
    opt.check_groups(make("float32"))            # a bad file or groups= fails here, not later
    return opt


def _learned_path(name_or_path):
    """The optimizer file meant by name_or_path: a path that exists is a path; a bare name is a
    shipped optimizer. A Path (os.PathLike) is always a path (an optimizer.npz or a run's folder
    holding one); so is a str naming an existing file, folder or link (pretrained("dm-mnist") with
    your run in ./dm-mnist/ loads your run); any other str is a shipped name. Hand-designed names
    ("adam") are matched before, by pretrained: a folder named adam is reached with Path("adam")."""
    if isinstance(name_or_path, os.PathLike) or (isinstance(name_or_path, str)
                                                 and os.path.lexists(name_or_path)):
        return _existing_path(Path(name_or_path))
    if not isinstance(name_or_path, str):
        raise UsageError(f"optimizer must be a name or a path, got {type(name_or_path).__name__}")
    if name_or_path in shipped():
        return PRETRAINED_DIR / f"{name_or_path}.npz"
    raise UsageError(f"unknown optimizer {name_or_path!r}: choose a shipped one "
                     f"({', '.join(shipped())}), a hand-designed one "
                     f"({', '.join(HAND_OPTIMIZERS)}) or the path of an optimizer.npz or of a "
                     "training run's folder")


def _existing_path(path):
    """path (a file, or a folder holding optimizer.npz), or a one-line UsageError saying why not."""
    if os.path.isdir(path) and os.path.isfile(path / "optimizer.npz"):
        return path / "optimizer.npz"
    if os.path.isfile(path):
        return path
    what = ("a folder without optimizer.npz" if os.path.isdir(path) else
            "not a file or folder" if os.path.lexists(path) else "not found")
    also = (f"; the shipped optimizer of that name is {PRETRAINED_DIR / (path.name + '.npz')}"
            if path.name in shipped() else "")
    raise UsageError(f"optimizer path {os.fspath(path)!r} is {what}: give an optimizer.npz or a "
                     f"training run's folder (a Path, or a str naming an existing file or "
                     f"folder, is always a path){also}")


@dataclass(frozen=True)
class Layout:
    """Where the user's arrays live in the flat theta: their container, shapes and dtype, and the
    order in which they are concatenated (group by group for a per-group optimizer)."""
    kind: type                 # list, tuple or dict
    keys: tuple                # dict keys, or positions 0..k-1
    shapes: tuple              # each array's shape, in the user's order
    order: tuple               # positions (into keys) in theta's order
    groups: tuple              # ((group, coordinates), ...) in theta's order; () without groups
    dtype: str                 # float32 or float64
    backend: str

    @property
    def sizes(self):
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def n(self):
        return sum(self.sizes)

    def in_order(self, items):
        """items given in the user's order (one per array), in theta's order."""
        return [items[i] for i in self.order]


@dataclass(frozen=True)
class State:
    """The state `update` carries: the optimizer's own state over theta, the layout of theta and
    the name of the optimizer that made it."""
    inner: dict
    layout: Layout
    optimizer: str = ""


class Optimizer:
    """One of minil2o's optimizers over a list, tuple or dict of arrays (see the module docstring)."""
    partial = False          # True for the torch adapter's copy over the parameters of one step

    def __init__(self, name, make, groups=None):
        self.name, self._make, self._groups = name, make, groups
        self._issued = weakref.WeakValueDictionary()     # id -> a State this optimizer returned
        self._workspaces = {}                            # Layout -> StepWorkspace, latest last

    def __repr__(self):
        return f"minil2o.pretrained({self.name!r})"

    @property
    def card(self):
        """A shipped optimizer's card, a short text: what it was trained on, its budget and seed,
        where it beats tuned Adam on held-out problems and where not (minil2o/use/cards.py, read
        from cards.json beside the .npz files, checked field by field); None for the others."""
        from .cards import load_card
        return load_card(self.name) if self.name in shipped() else None

    def init(self, params):
        """The state before step 1 for these params (the arrays are not changed)."""
        layout = self.layout(params)
        return self.adopt(self.optimizer(layout).init_state(layout.n, layout.dtype), layout)

    def adopt(self, inner, layout):
        """A State of this optimizer over inner (its own, or one check_state has passed)."""
        state = State(inner, layout, self.name)
        self._issued[id(state)] = state
        return state

    def update(self, grads, state, params):
        """One step: returns (new params, new state). theta_{t+1} = theta_t + step(grad, state),
        (11.2), on the concatenation (11.1). A state this optimizer did not return is checked
        first (check_handed); a refused one, like a refused gradient, changes nothing."""
        if not isinstance(state, State):
            raise UsageError(f"state must be what init() or update() returned, got "
                             f"{type(state).__name__}: call state = opt.init(params) first")
        if self._issued.get(id(state)) is not state:
            self.check_handed(state, params)
        layout = state.layout
        theta = self.flatten(params, layout, "params")                        # (n,)
        grad = self.flatten(grads, layout, "grads")                           # (n,)
        check_finite(grad, layout)
        step, inner = self.step_rule(self.optimizer(layout), grad, state.inner, layout)  # (n,)
        return self.unflatten(theta + step, layout), self.adopt(inner, layout)

    def step_rule(self, rule, grad, inner, layout):
        """rule.step(grad, inner) -> (update, new inner), a learned rule's LSTM steps run in place
        in this optimizer's workspace for `layout` (minil2o.fast_lstm.StepWorkspace, on NumPy; the
        reference on array_api_strict, the fused kernels on CuPy, as minil2o.lstm chooses). The
        numbers are the reference step's to rounding, not bit for bit: (3.1)'s three terms are one
        product there (tests/test_dropin_fast.py). The new state is new arrays, the caller's."""
        with self.workspace(layout).step():
            return rule.step(grad, inner)

    def workspace(self, layout):
        """The StepWorkspace of this optimizer's steps over `layout`, made at its first step and
        reused; those of the last KEPT_WORKSPACES layouts are kept (a torch step may step the
        parameters in two batches, each of its own layout: those that joined later). A learned
        optimizer's workspace holds its gate stacks, 4 H numbers per coordinate and layer (640
        bytes per coordinate for rnnprop-mnist in float32)."""
        found = self._workspaces.pop(layout, None) or StepWorkspace()
        self._workspaces[layout] = found
        while len(self._workspaces) > KEPT_WORKSPACES:
            del self._workspaces[next(iter(self._workspaces))]
        return found

    def check_handed(self, state, params):
        """A State made elsewhere (another optimizer, an edit, a file), checked against this
        optimizer's own state for params (minil2o.files.loader.check_state): its maker's name,
        its layout, keys, shapes, dtypes and finite values; a one-line UsageError otherwise."""
        if state.optimizer and state.optimizer != self.name:
            raise UsageError(f"state was made by minil2o.pretrained({state.optimizer!r}), not by "
                             f"{self!r}: pass the state this optimizer's init() or update() "
                             "returned")
        layout = self.layout(params)
        if state.layout != layout:
            raise UsageError(f"state was made for other arrays than these params ({self!r} "
                             "checks its layout): call state = opt.init(params)")
        check_state(state.inner, self.optimizer(layout).init_state(layout.n, layout.dtype))

    def optimizer(self, layout):
        """minil2o's optimizer for this layout: phi in its dtype, a per-group one fitted to its groups."""
        opt = self._make(layout.dtype)
        if not layout.groups:
            return opt
        bounds, start = {}, 0
        for g, size in layout.groups:
            bounds[g], start = slice(start, start + size), start + size
        return opt.for_problem(SimpleNamespace(groups=bounds))

    def layout(self, params):
        """The Layout of `params`, checked: arrays of the backend, one float dtype, some numbers."""
        kind, keys, arrays = entries(params, "params")
        dtype = check_arrays(arrays, keys, "params")
        shapes = tuple(tuple(int(d) for d in a.shape) for a in arrays)
        if not sum(math.prod(s) for s in shapes):
            raise UsageError("params hold no numbers: pass the arrays to optimize")
        order, groups = self.assign_groups(keys, shapes, dtype)
        return Layout(kind, keys, shapes, order, groups, dtype, get_backend())

    def check_groups(self, opt):
        """groups= checked against `opt` now, at construction (minil2o/use/groups.py)."""
        check_groups(self.name, self._groups, opt)

    def assign_groups(self, keys, shapes, dtype):
        """theta's order (positions into keys) and ((group, coordinates), ...) (groups.py)."""
        return assign_groups(self.name, self._groups, self._make(dtype), keys, shapes,
                             self.partial)

    def flatten(self, tree, layout, what):
        """The arrays of `tree` (checked against the layout) raveled into one theta (n,): (11.1)."""
        kind, keys, arrays = entries(tree, what)
        dtype = check_arrays(arrays, keys, what)
        if kind is not layout.kind or keys != layout.keys:
            raise UsageError(f"{what} is a {kind.__name__} of {_describe(keys, kind)}, but the state "
                             f"was made for a {layout.kind.__name__} of "
                             f"{_describe(layout.keys, layout.kind)}")
        if dtype != layout.dtype:
            raise UsageError(f"{what} are {dtype}, but the state was made for {layout.dtype} arrays")
        for k, a, shape in zip(keys, arrays, layout.shapes):
            if tuple(a.shape) != shape:
                raise UsageError(f"{what}[{k!r}] has shape {tuple(a.shape)}, but the state was made "
                                 f"for shape {shape}")
        return concat_raveled(layout.in_order(arrays))                     # (n,)

    def unflatten(self, theta, layout):
        """theta (n,) split back into arrays of the layout's shapes, in its kind of container: the
        inverse of (11.1)."""
        arrays = [None] * len(layout.keys)
        for i, a in zip(layout.order, split_raveled(theta, layout.in_order(layout.shapes))):
            arrays[i] = a
        return _like(layout.kind, layout.keys, arrays)


def entries(tree, what):
    """(kind, keys, arrays) of a list, tuple or dict of arrays."""
    if isinstance(tree, dict):
        return dict, tuple(tree), list(tree.values())
    if isinstance(tree, (list, tuple)):
        return type(tree) if type(tree) in (list, tuple) else tuple, tuple(range(len(tree))), list(tree)
    raise UsageError(f"{what} must be a list, tuple or dict of arrays, got {type(tree).__name__}")


def _describe(keys, kind):
    return f"keys {list(keys)}" if kind is dict else f"{len(keys)} arrays"


def check_arrays(arrays, keys, what):
    """The one dtype name of `arrays`, or UsageError: an array of another backend, a non-float or
    mixed dtype."""
    if not arrays:
        raise UsageError(f"{what} is empty: pass the arrays to optimize")
    backend, found = get_backend(), []
    for k, a in zip(keys, arrays):
        if isinstance(a, (list, tuple, dict)):
            raise UsageError(f"{what}[{k!r}] is a {type(a).__name__}, not an array: pass one flat "
                             "list, tuple or dict of arrays (nested containers are not supported)")
        module = type(a).__module__.split(".")[0]
        if ARRAY_MODULES.get(module) != backend:
            raise UsageError(f"{what}[{k!r}] is a {module}.{type(a).__name__}, not an array of the "
                             f"{backend} backend: pass {backend} arrays, call minil2o.set_backend() "
                             "to match yours, or use minil2o.torch for PyTorch tensors")
        name = str(a.dtype).rsplit(".", 1)[-1]
        if name not in DTYPES:
            raise UsageError(f"{what}[{k!r}] has dtype {name}: minil2o optimizes float32 or float64 "
                             "arrays (real numbers)")
        found.append(name)
    if len(set(found)) > 1:
        raise UsageError(f"{what} mix the dtypes {', '.join(sorted(set(found)))}: pass arrays of "
                         "one dtype (float32 or float64)")
    return found[0]


def check_finite(grad, layout):
    """minil2o.validate.check_gradient, the one policy for a gradient handed to a step (NaN or Inf
    refused with a GradientError, a UsageError), its message naming the arrays that hold them."""
    try:
        check_gradient(grad, layout.n, what="grads")
    except GradientError as error:
        pieces = split_raveled(grad, layout.in_order(layout.shapes))
        where = [repr(k) for k, g in zip(layout.in_order(layout.keys), pieces) if count_nonfinite(g)]
        raise GradientError(f"grads hold {error.count} non-finite entries (NaN or inf) in grads["
                            f"{', '.join(where)}]: the step is refused, the state is unchanged; "
                            "check your loss for overflow", error.count) from None


# -- a hand-designed optimizer array by array (chapter 11's exercise) ------------------------------
def _like(kind, keys, arrays):
    """arrays in a container of `kind` (list, tuple or dict with `keys`)."""
    return dict(zip(keys, arrays)) if kind is dict else kind(arrays)


def tree_init(opt, params):
    """The state of hand-designed optimizer `opt` before step 1, kept array by array: {"t": 0,
    slot: a container like params of zeros, ...} (for Adam the slots m and v)."""
    kind, keys, arrays = entries(params, "params")
    return {"t": 0, **{s: _like(kind, keys, [xp.zeros_like(a) for a in arrays])
                       for s in opt.slots}}


def tree_update(opt, grads, state, params):
    """One step of hand-designed optimizer `opt` over a list, tuple or dict of arrays, array by
    array: each array takes opt's own step on its raveled entries with its own slots (the rules are
    coordinatewise, so this is (11.2) on the concatenation (11.1); for Adam, (11.3)). state: as
    tree_init made it. Returns (new params, new state {"t": t + 1, slot: ...}), in containers like
    params, each array of its input's shape and dtype; nothing passed in is changed, so an old
    state can be replayed."""
    kind, keys, arrays = entries(params, "params")
    _, _, grad_arrays = entries(grads, "grads")
    slots = {s: entries(state[s], "state")[2] for s in opt.slots}
    new_params, new_slots = [], {s: [] for s in opt.slots}
    for i, (a, g) in enumerate(zip(arrays, grad_arrays)):
        inner = {"t": state["t"], **{s: xp.reshape(slots[s][i], (-1,)) for s in opt.slots}}
        step, inner = opt.step(xp.reshape(g, (-1,)), inner)                   # (size,)
        new_params.append(xp.reshape(xp.reshape(a, (-1,)) + step, a.shape))
        for s in opt.slots:
            new_slots[s].append(xp.reshape(inner[s], a.shape))
    return _like(kind, keys, new_params), {"t": state["t"] + 1, **{
        s: _like(kind, keys, v) for s, v in new_slots.items()}}
