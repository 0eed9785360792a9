"""Arrays as one vector, and phi as one: the meta-optimizer (Adam) sees a learned optimizer's
parameters, a dict of arrays, as a single vector of length P; the drop-in optimizers
(minil2o.use.dropin) see a user's list or dict of arrays as one theta the same way.

    vec = concat_raveled(arrays)        arrays raveled and concatenated in order: (n,)
    arrays = split_raveled(vec, shapes) its inverse: vec cut into arrays of these shapes
    flat = flatten(phi)                 (P,) in key order: concat_raveled of the dict's values
    phi = unflatten(flat, like=phi)     back to the dict's shapes
    vector_norm(flat)                   ||flat||_2 without overflow in float32
    clip_by_norm(flat, max_norm)        rescaled to norm max_norm when longer
"""
import math

from ..backend import to_float, xp


def concat_raveled(arrays):
    """Arrays of any shapes, each raveled (row-major), concatenated in order into one vector (n,):
    the one flattening, of phi here and of a user's list or dict of arrays in minil2o.use.dropin."""
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])                  # (n,)


def split_raveled(vec, shapes):
    """The inverse of concat_raveled: vec (n,) cut, in order, into arrays of `shapes`."""
    out, i = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(xp.reshape(vec[i:i + size], shape))
        i += size
    return out


def flatten(d):
    """A dict of arrays as one vector (in key order)."""
    return concat_raveled(d.values())                                         # (P,)


def unflatten(vec, like):
    """The inverse of flatten: a vector back to a dict shaped like `like`."""
    return dict(zip(like, split_raveled(vec, [v.shape for v in like.values()])))


def vector_norm(v):
    """||v||_2 of a 1-D backend array as a Python float, without overflow in float32:
    ||v|| = m ||v / m|| with m = max_i |v_i|."""
    m = to_float(xp.max(xp.abs(v)))
    if m == 0.0 or not math.isfinite(m):
        return m
    return m * math.sqrt(to_float(xp.sum((v / m) * (v / m))))


def clip_by_norm(v, max_norm):
    """v rescaled to norm max_norm when it is longer (max_norm 0: v as it is). v: (P,)."""
    if max_norm > 0:
        norm = vector_norm(v)
        if norm > max_norm:
            return v * (max_norm / norm)
    return v
