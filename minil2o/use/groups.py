"""Which of your arrays each optimizer of a per-group learned optimizer serves (dm-cnn: one LSTM
for "conv", one for "fc"; minil2o/optimizers/grouped.py), and the checks that refuse, in one line,
a groups= or a model it cannot serve: at construction where no arrays are needed (groups= naming
other groups, or given to an optimizer of one group), else when the arrays are first seen (the
drop-in's init, minil2o.torch.LearnedOptimizer's construction).

groups={"conv": [0, 1], "fc": [2, 3]} names positions in a list, or keys of a dict, each array
exactly once. Without it, an optimizer whose groups are conv and fc gives every array of 3 or
more dimensions (a conv filter) to conv and every other one to fc; each group must get some
arrays; any other set of groups has no default."""
import math

from ..errors import UsageError
from ..optimizers.grouped import PerGroupOptimizer


def check_groups(name, spec, opt):
    """A one-line UsageError when groups= (spec, None when not given) cannot apply to `opt`:
    given to an optimizer of one group, or naming other groups than a per-group one serves."""
    if spec is None:
        return
    if not isinstance(opt, PerGroupOptimizer):
        raise UsageError(f"{name} serves all coordinates with one optimizer: groups= "
                         "applies only to per-group optimizers such as dm-cnn")
    names = list(opt.sizes)
    if not isinstance(spec, dict) or set(spec) != set(names):
        raise UsageError(f"{name} serves the groups {', '.join(names)}: pass groups= as a "
                         f"dict with exactly those names, got {spec!r}")


def assign_groups(name, spec, opt, keys, shapes, partial=False):
    """theta's order (positions into keys) and ((group, coordinates), ...): () for an optimizer
    of one group; for a per-group one, by groups= (spec) or by default. partial: the arrays are
    some of a model's (those with a gradient at one step), so a group may have none of them."""
    if not isinstance(opt, PerGroupOptimizer):
        check_groups(name, spec, opt)
        return tuple(range(len(keys))), ()
    names = list(opt.sizes)
    members = (given_groups(spec, names, keys) if spec is not None
               else default_groups(name, names, shapes, partial))
    order = tuple(i for g in names for i in members[g])
    return order, tuple((g, sum(math.prod(shapes[i]) for i in members[g])) for g in names)


def given_groups(spec, names, keys):
    """groups={name: [key, ...]} as {name: [position, ...]}: every array in exactly one group
    (the names were checked at construction, check_groups)."""
    position = {k: i for i, k in enumerate(keys)}
    members = {g: [position.get(k, -1) for k in spec[g]] for g in names}
    listed = sorted(i for g in names for i in members[g])
    if listed != list(range(len(keys))):
        raise UsageError(f"groups= must name each of your arrays ({', '.join(map(repr, keys))})"
                         f" exactly once, got {spec!r}")
    return members


def default_groups(name, names, shapes, partial=False):
    """conv and fc by the arrays' dimensions (module docstring); no default for other groups.
    Each group must get some arrays, unless they are partial (assign_groups)."""
    hint = f"pass groups={{{', '.join(f'{g!r}: [...]' for g in names)}}} naming your arrays"
    if set(names) != {"conv", "fc"}:
        raise UsageError(f"{name} serves the groups {', '.join(names)}: {hint}")
    members = {"conv": [i for i, s in enumerate(shapes) if len(s) >= 3],
               "fc": [i for i, s in enumerate(shapes) if len(s) < 3]}
    empty = [g for g in names if not members[g]]
    if empty and not (partial and len(empty) < len(names)):
        raise UsageError(f"{name} needs arrays for both of its groups, conv (arrays of 3 or more "
                         f"dimensions: convolution filters) and fc (the others), and these "
                         f"parameters have none for group {empty[0]!r}: {hint}, or "
                         "use an optimizer of one group (rnnprop-mnist, dm-mnist)")
    return members
