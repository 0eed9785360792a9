"""An optimizer's state over some of a Layout's arrays: where each array's coordinates sit in the
state, and the copy of those pieces between two states (minil2o.use.torch uses it to step a subset
of the parameters, a parameter group or those that have a gradient, and to give parameters that
join later a fresh state).

A state (minil2o.use.dropin.State.inner) holds arrays whose first axis runs over the coordinates
of theta (h1 (n, 20), m (n,), ...) and numbers shared by all (the step count t); a per-group
optimizer (dm-cnn) holds one such dict per group, each over its group's coordinates, and theta is
laid out group by group (Layout.order, Layout.groups).
"""
from ..backend import xp


def ranges(layout):
    """{array index: (group or None, start, stop)}: where each array's coordinates sit within its
    group's part of the state (the whole state without groups)."""
    bounds, start = [], 0
    for group, size in layout.groups:
        bounds.append((group, start, start + size))
        start += size
    out, offset = {}, 0
    for i in layout.order:
        size = layout.sizes[i]
        group, base = next(((g, lo) for g, lo, hi in bounds if lo <= offset < hi), (None, 0))
        out[i] = (group, offset - base, offset - base + size)
        offset += size
    return out


def part(inner, group):
    """The dict of per-coordinate arrays of `group` (the whole state when group is None)."""
    return inner if group is None else inner[group]


def is_coordinates(value):
    """True for an array over coordinates (not the step count t, not a nested group)."""
    return hasattr(value, "shape") and len(value.shape) >= 1


def copy_pieces(src, src_layout, dst, dst_layout, pairs):
    """Copy, in place into `dst`, each array's coordinates of state `src` (over src_layout) to
    its place in state `dst` (over dst_layout); pairs: [(index in src_layout, index in
    dst_layout)]."""
    src_at, dst_at = ranges(src_layout), ranges(dst_layout)
    for i, j in pairs:
        group, lo, hi = src_at[i]
        dgroup, dlo, dhi = dst_at[j]
        source, target = part(src, group), part(dst, dgroup)
        for key, value in source.items():
            if is_coordinates(value):
                target[key][dlo:dhi, ...] = value[lo:hi, ...]


def writable(inner):
    """A copy of a state whose arrays can be written in place (copy_pieces' dst)."""
    return {k: writable(v) if isinstance(v, dict) else
            (xp.asarray(v, copy=True) if is_coordinates(v) else v) for k, v in inner.items()}


def with_count(inner, t):
    """The state with its step count t (where it keeps one, at any level) set to t."""
    return {k: with_count(v, t) if isinstance(v, dict) else (t if k == "t" else v)
            for k, v in inner.items()}


def count_of(inner):
    """The state's step count t (the first found), or None for a state without one."""
    if "t" in inner and not isinstance(inner["t"], dict):
        return int(inner["t"])
    found = [count_of(v) for v in inner.values() if isinstance(v, dict)]
    return next((t for t in found if t is not None), None)
