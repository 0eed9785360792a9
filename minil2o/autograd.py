"""A tiny reverse-mode autograd engine over arrays, in the spirit of micrograd.

A `Tensor` holds an array `.data`, its gradient `.grad` (same shape, filled by `.backward()`), the
tensors it was computed from (`._prev`), the name of the op that made it (`.op`) and a closure
`._backward` that, given `out.grad` = dL/d(out), adds dL/d(input) to each input's `.grad` by the chain
rule. `backward()` orders the graph topologically and runs the closures from the output back to the
leaves. Each op below is one short block: compute `out`, define its `_backward`, return `out`; its
docstring states the backward rule with g = out.grad, da = what is added to a.grad.

    x = Tensor([1.0, 2.0, 3.0])
    y = (x * x).sum()
    y.backward()
    x.grad                                     # dy/dx = 2 x = [2., 4., 6.]

Broadcasting: when an input was broadcast in the forward pass (a (4,) bias added to a (3, 4)
matrix), each of its entries was used several times, so its gradient is the sum of the output's
gradient over the broadcast axes (`_unbroadcast`).

A custom op lets a hand-written value and vector-Jacobian product enter the graph. This is how an
optimizee's loss, with its gradient written by hand, becomes a node (for a scalar loss the VJP of
upstream gradient df is df * grad):

    f_value, grad = problem.loss_and_grad(theta.data, batch)
    f = custom_op([theta], f_value, lambda df: [df * grad], name="loss")

The same `grad` handed to an optimizer as `Tensor(grad)`, a new leaf with no inputs, is a constant
of the graph: nothing flows back through it, which is the paper's d grad / d phi = 0.

Every op calls the backend's `xp` only, so the engine runs on NumPy, CuPy and array_api_strict. It is
the reference that the hand-written backward passes are tested against; it favours clarity over speed.
"""
import math

from .backend import asarray, xp
from .errors import UsageError
from .layers import (elu_backward, elu_forward, relu_backward, relu_forward, sigmoid_backward,
                     sigmoid_forward, tanh_backward, tanh_forward)


def _unbroadcast(grad, shape):
    """Sum `grad` (the shape an input was broadcast to) back to the input's `shape`: over the leading
    axes broadcasting added, and over the axes where the input had size 1 (2.3)."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = xp.sum(grad, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return grad


def _axes(axis, ndim):
    """`axis` (None, an int or a tuple of ints, negatives allowed) as a tuple of axes in [0, ndim)."""
    axes = tuple(range(ndim)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    if any(not isinstance(a, int) or not -ndim <= a < ndim for a in axes):
        raise UsageError(f"axis {axis!r} is not valid for a {ndim}-d tensor: use None, an int or a "
                         f"tuple of ints in [{-ndim}, {ndim})")
    return tuple(a % ndim for a in axes)


def _lift(x, like=None):
    """x as a Tensor: a Tensor as it is, a Python number as a 0-d constant of `like`'s dtype (so a
    float32 graph stays float32), an array as a constant."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float)):
        return Tensor(float(x), dtype=None if like is None else like.dtype)
    return Tensor(x)


class Tensor:
    """An array node of the graph: `.data`, `.grad`, `._prev` (inputs), `.op`, `._backward`.

    data:  a backend array, a host array, a nested list or a number (moved with `asarray`, cast to
           `dtype` if given). `.grad` is None until `backward()` fills it with an array of data's shape.
    """

    __array_ufunc__ = None  # NumPy: `array + tensor` calls Tensor.__radd__, not an object array

    def __init__(self, data, _prev=(), op="", dtype=None):
        self.data = asarray(data, dtype=dtype)
        self.grad = None
        self._prev = tuple(_prev)
        self.op = op
        self._backward = lambda: None

    shape = property(lambda self: tuple(self.data.shape), doc="shape of .data")
    ndim = property(lambda self: self.data.ndim, doc="number of axes of .data")
    dtype = property(lambda self: self.data.dtype, doc="dtype of .data")

    def __repr__(self):
        return f"Tensor(shape={self.shape}, op={self.op!r}, data={self.data!r})"

    # ---- elementwise arithmetic with broadcasting ------------------------------------------------
    def __add__(self, other):
        """a + b:  da = g,  db = g  (each summed back to its own shape)."""
        other = _lift(other, self)
        out = Tensor(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += _unbroadcast(out.grad, self.shape)
            other.grad += _unbroadcast(out.grad, other.shape)
        out._backward = _backward
        return out

    def __sub__(self, other):
        """a - b:  da = g,  db = -g."""
        other = _lift(other, self)
        out = Tensor(self.data - other.data, (self, other), "-")

        def _backward():
            self.grad += _unbroadcast(out.grad, self.shape)
            other.grad -= _unbroadcast(out.grad, other.shape)
        out._backward = _backward
        return out

    def __mul__(self, other):
        """a * b:  da = g b,  db = g a."""
        other = _lift(other, self)
        out = Tensor(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += _unbroadcast(out.grad * other.data, self.shape)
            other.grad += _unbroadcast(out.grad * self.data, other.shape)
        out._backward = _backward
        return out

    def __truediv__(self, other):
        """a / b:  da = g / b,  db = -g a / b^2."""
        other = _lift(other, self)
        out = Tensor(self.data / other.data, (self, other), "/")

        def _backward():
            self.grad += _unbroadcast(out.grad / other.data, self.shape)
            other.grad -= _unbroadcast(out.grad * out.data / other.data, other.shape)
        out._backward = _backward
        return out

    def __neg__(self):
        """-a:  da = -g."""
        out = Tensor(-self.data, (self,), "neg")

        def _backward():
            self.grad -= out.grad
        out._backward = _backward
        return out

    def __pow__(self, p):
        """a ** p for a constant number p:  da = g p a^(p-1)."""
        if isinstance(p, Tensor) or not isinstance(p, (int, float)):
            raise UsageError(f"Tensor ** p needs a constant number p; got {type(p).__name__} "
                             "(write exp(p * log(a)) for a tensor exponent)")
        p = float(p)
        out = Tensor(self.data ** p, (self,), f"**{p:g}")

        def _backward():
            self.grad += out.grad * p * self.data ** (p - 1.0)
        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other):
        """number - a, as a Tensor difference."""
        return _lift(other, self) - self

    def __rtruediv__(self, other):
        """number / a, as a Tensor quotient."""
        return _lift(other, self) / self

    # ---- matrix product ---------------------------------------------------------------------------
    def __matmul__(self, other):
        """a @ b for 1-d or 2-d a, b. With A (m, k) and B (k, n) (a vector taken as one row of A or
        one column of B) and out = A B:  dA = G B^T,  dB = A^T G  (2.2)."""
        other = _lift(other, self)
        if not (1 <= self.ndim <= 2 and 1 <= other.ndim <= 2):
            raise UsageError(f"@ takes 1-d or 2-d tensors; got shapes {self.shape} and {other.shape}")
        out = Tensor(self.data @ other.data, (self, other), "@")

        def _backward():
            A = xp.reshape(self.data, (-1, self.shape[-1]))       # (m, k)
            B = xp.reshape(other.data, (other.shape[0], -1))      # (k, n)
            G = xp.reshape(out.grad, (A.shape[0], B.shape[1]))    # (m, n)
            self.grad += xp.reshape(G @ B.T, self.shape)          # (m, k)
            other.grad += xp.reshape(A.T @ G, other.shape)        # (k, n)
        out._backward = _backward
        return out

    def __rmatmul__(self, other):
        """array @ a, as a Tensor product."""
        return _lift(other, self) @ self

    # ---- elementwise functions --------------------------------------------------------------------
    def exp(self):
        """exp(a):  da = g exp(a)."""
        out = Tensor(xp.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.grad * out.data
        out._backward = _backward
        return out

    def log(self):
        """log(a):  da = g / a."""
        out = Tensor(xp.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def _layer_op(self, forward, backward, op, **kwargs):
        """A node made of a forward/backward pair of minil2o.layers:  da = backward(g, cache)."""
        data, cache = forward(self.data, **kwargs)
        out = Tensor(data, (self,), op)

        def _backward():
            self.grad += backward(out.grad, cache)
        out._backward = _backward
        return out

    def tanh(self):
        """tanh(a):  da = g (1 - tanh(a)^2)."""
        return self._layer_op(tanh_forward, tanh_backward, "tanh")

    def sigmoid(self):
        """sigma(a) = 1 / (1 + exp(-a)), as (1 + tanh(a/2)) / 2:  da = g sigma (1 - sigma) (2.6)."""
        return self._layer_op(sigmoid_forward, sigmoid_backward, "sigmoid")

    def relu(self):
        """max(a, 0):  da = g where a > 0, else 0."""
        return self._layer_op(relu_forward, relu_backward, "relu")

    def elu(self, alpha=1.0):
        """a where a > 0, else alpha (exp(a) - 1):  da = g where a > 0, else g (out + alpha)."""
        return self._layer_op(elu_forward, elu_backward, "elu", alpha=alpha)

    def abs(self):
        """|a|:  da = g sign(a)."""
        out = Tensor(xp.abs(self.data), (self,), "abs")

        def _backward():
            self.grad += out.grad * xp.sign(self.data)
        out._backward = _backward
        return out

    # ---- reductions and shape ---------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        """Sum over `axis` (None: all axes; an int or a tuple). Every summed entry receives the
        gradient of its sum:  da = g with the summed axes restored as size 1, broadcast to a's shape."""
        axes = _axes(axis, self.ndim)
        out = Tensor(xp.sum(self.data, axis=axes, keepdims=keepdims), (self,), "sum")

        def _backward():
            kept = tuple(1 if i in axes else n for i, n in enumerate(self.shape))
            self.grad += xp.reshape(out.grad, kept)  # broadcasts over the summed axes
        out._backward = _backward
        return out

    def mean(self, axis=None, keepdims=False):
        """Mean over `axis`: the sum divided by the number of entries summed."""
        count = math.prod(self.shape[a] for a in _axes(axis, self.ndim))
        return self.sum(axis, keepdims) * (1.0 / count)

    def reshape(self, shape):
        """The same entries in a new shape (-1 allowed):  da = g reshaped back."""
        out = Tensor(xp.reshape(self.data, tuple(shape)), (self,), "reshape")

        def _backward():
            self.grad += xp.reshape(out.grad, self.shape)
        out._backward = _backward
        return out

    def transpose(self, axes=None):
        """Permute the axes (default: reverse them). Output axis j is input axis axes[j], so input
        axis i is output axis axes.index(i):  da = permute(g, inverse)."""
        axes = tuple(reversed(range(self.ndim))) if axes is None else tuple(axes)
        out = Tensor(xp.permute_dims(self.data, axes), (self,), "transpose")

        def _backward():
            self.grad += xp.permute_dims(out.grad, tuple(axes.index(i) for i in range(self.ndim)))
        out._backward = _backward
        return out

    T = property(transpose, doc="the tensor with its axes reversed")

    def __getitem__(self, key):
        """Basic indexing with ints, slices and `...`:  da = g at the selected entries, 0 elsewhere."""
        key = key if isinstance(key, tuple) else (key,)
        if not all(k is Ellipsis or isinstance(k, (int, slice)) for k in key):
            raise UsageError(f"Tensor index {key!r}: use ints, slices and ... only")
        if not any(k is Ellipsis for k in key):
            key += (Ellipsis,)  # the array API wants every axis named; `...` names the rest
        out = Tensor(self.data[key], (self,), "getitem")

        def _backward():
            self.grad[key] += out.grad
        out._backward = _backward
        return out

    # ---- backpropagation --------------------------------------------------------------------------
    def _topological_order(self):
        """Every tensor this one depends on, each after all of its inputs (an iterative depth-first
        search, so that long unrolled graphs do not hit Python's recursion limit)."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((p, False) for p in node._prev)
        return order

    def backward(self, grad=None):
        """Fill `.grad` of every tensor in the graph with d(self)/d(tensor), or with the
        vector-Jacobian product for the seed `grad` (an array of self's shape; may be omitted for a
        0-d self, where it is 1). Grads are reset, then accumulated with += over all paths (2.1)."""
        if grad is None and self.ndim != 0:
            raise UsageError(f"backward() of a tensor of shape {self.shape} needs a seed: pass "
                             "grad=<array of that shape>, or reduce to a scalar first")
        seed = xp.ones_like(self.data) if grad is None else asarray(grad, dtype=self.dtype)
        if tuple(seed.shape) != self.shape:
            raise UsageError(f"backward seed has shape {tuple(seed.shape)}, tensor has {self.shape}")
        order = self._topological_order()
        for node in order:
            node.grad = xp.zeros_like(node.data)
        self.grad += seed
        for node in reversed(order):
            node._backward()


def concat(tensors, axis=0):
    """Join tensors along `axis`:  each input's grad is its own slice of g along that axis."""
    tensors = [_lift(t) for t in tensors]
    if not tensors:
        raise UsageError("concat needs at least one tensor")
    axis = _axes(axis, tensors[0].ndim)[0]
    out = Tensor(xp.concat([t.data for t in tensors], axis=axis), tensors, "concat")

    def _backward():
        start = 0
        for t in tensors:
            stop = start + t.shape[axis]
            t.grad += out.grad[(slice(None),) * axis + (slice(start, stop), Ellipsis)]
            start = stop
    out._backward = _backward
    return out


def where(cond, a, b):
    """Entries of a where the boolean array `cond` holds, of b elsewhere (broadcasting all three):
    da = g where cond, else 0;  db = g where not cond, else 0 (summed back to each shape)."""
    cond = asarray(cond)
    if cond.dtype != xp.bool:
        raise UsageError(f"where() needs a boolean condition array; got dtype {cond.dtype}")
    a = _lift(a, b if isinstance(b, Tensor) else None)
    b = _lift(b, a)
    out = Tensor(xp.where(cond, a.data, b.data), (a, b), "where")

    def _backward():
        zero = xp.zeros_like(out.grad)
        a.grad += _unbroadcast(xp.where(cond, out.grad, zero), a.shape)
        b.grad += _unbroadcast(xp.where(cond, zero, out.grad), b.shape)
    out._backward = _backward
    return out


def custom_op(inputs, value, vjp, name="custom"):
    """A node whose value and vector-Jacobian product are written by hand.

    inputs: list of Tensors the value depends on
    value:  array (any shape) or number, the op's output computed from the inputs' .data
    vjp:    callable(g) -> list with one array per input, dL/d(input) = g^T d(value)/d(input) for
            g = dL/d(value) of value's shape; None for an input that needs no gradient
    For a scalar loss f with hand-written gradient `grad`: custom_op([theta], f, lambda df: [df * grad]).
    """
    inputs = list(inputs)
    if not inputs or not all(isinstance(t, Tensor) for t in inputs):
        raise UsageError(f"custom_op {name!r}: inputs must be a non-empty list of Tensors")
    if isinstance(value, (int, float)):
        value = asarray(float(value), dtype=inputs[0].dtype)  # a float32 graph stays float32
    out = Tensor(value, inputs, name)

    def _backward():
        grads = list(vjp(out.grad))
        if len(grads) != len(inputs):
            raise UsageError(f"custom_op {name!r}: vjp returned {len(grads)} gradients for "
                             f"{len(inputs)} inputs")
        for t, g in zip(inputs, grads):
            if g is None:
                continue
            if tuple(g.shape) != t.shape:
                raise UsageError(f"custom_op {name!r}: vjp gave a gradient of shape "
                                 f"{tuple(g.shape)} for an input of shape {t.shape}")
            t.grad += g
    out._backward = _backward
    return out
