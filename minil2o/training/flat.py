"""phi as one vector: the meta-optimizer (Adam) sees a learned optimizer's parameters, a dict of
arrays, as a single vector of length P.

    flat = flatten(phi)                 (P,) in key order
    phi = unflatten(flat, like=phi)     back to the dict's shapes
    vector_norm(flat)                   ||flat||_2 without overflow in float32
    clip_by_norm(flat, max_norm)        rescaled to norm max_norm when longer
"""
import math

from ..backend import to_float, xp


def flatten(d):
    """A dict of arrays as one vector (in key order)."""
    return xp.concat([xp.reshape(v, (-1,)) for v in d.values()])


def unflatten(vec, like):
    """The inverse of flatten: a vector back to a dict shaped like `like`."""
    out, i = {}, 0
    for k, v in like.items():
        size = math.prod(v.shape)
        out[k] = xp.reshape(vec[i:i + size], v.shape)
        i += size
    return out


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
