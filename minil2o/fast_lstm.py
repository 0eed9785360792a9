"""The LSTM step of minil2o.lstm computed in place, in memory that is reused: the NumPy fast path.

The reference pair lstm_step_forward / lstm_step_backward (minil2o.lstm) writes each equation as one
expression, and every expression allocates a fresh (n, H) or (n, 4H) array. Over a truncation of K
steps on n coordinates that is hundreds of megabytes allocated, zeroed by the operating system page
by page, and freed again, every truncation. Here the same equations write into arrays of a
Workspace, with fewer passes over memory (see the functions' section below), and give the same
numbers to rounding:

    Workspace              the arrays of one truncation's LSTM steps, kept from one truncation
                           (and problem) to the next; the unroll owns it (minil2o.meta.unroll)
    fast_step_forward      lstm_step_forward with out= into the workspace      (N, D) -> (N, H)
    fast_step_backward     lstm_step_backward the same way
    row_blocks             the blocks of rows both run over, ROWS at a time
    StepWorkspace          one forward step at a time, its new state the caller's to keep:
                           the drop-in optimizers (minil2o.use)

A Workspace hands out arrays in the order they are asked for. The forward pass of a truncation asks
for the same arrays in the same order every time (step by step, layer by layer), so the first
truncation allocates them and every later one reuses them; the caches of a Truncation therefore stay
valid only until the next unroll with the same workspace. The backward pass needs only the arrays
of the step it is in and of the step after it (the state gradients flowing back), so it alternates
between two sets; so does a forward step that keeps no caches (an evaluation run, in
minil2o.evaluation.evaluate.trajectory), which needs only the state of the step before. Arrays that live only
inside one call (the work arrays, one block of rows in size) or until the next (the backward pass's
dx) are kept by name and shape.
What a truncation no longer asks for (another problem size, a shorter truncation) is let go.

NumPy only: the array API standard has no out= (array_api_strict refuses it), so minil2o.lstm's
lstm_step_functions picks this pair only on the numpy backend, and only inside an unroll that has a
workspace; everywhere else the reference runs. tests/test_fast_lstm.py checks that both agree.
"""
import contextlib
import threading

import numpy as np


class _Current(threading.local):
    workspace = None                               # the workspace of the running unroll, if any


_current = _Current()                              # one per thread: threads step side by side


def active_workspace():
    """The Workspace whose forward pass or step is running in this thread (None outside them)."""
    return _current.workspace


class Arena:
    """Arrays handed out in order: the k-th request after rewind() gets the k-th array (allocated
    on the first request, or again when its shape or dtype changes); trim() lets go of the arrays
    past the last request (a shorter truncation, a smaller problem)."""

    def __init__(self):
        self.arrays, self.cursor = [], 0

    def rewind(self):
        self.cursor = 0

    def take(self, shape, dtype):
        k, self.cursor = self.cursor, self.cursor + 1
        if k < len(self.arrays) and self.arrays[k].shape == shape and self.arrays[k].dtype == dtype:
            return self.arrays[k]
        array = np.empty(shape, dtype=dtype)
        self.arrays[k:k + 1] = [array]
        return array

    def trim(self):
        del self.arrays[self.cursor:]

    def nbytes(self):
        return sum(a.nbytes for a in self.arrays)


class Workspace:
    """The LSTM steps' memory for the truncations of one unroll after another (see the module).

        ws = Workspace()
        tr = unroll(..., workspace=ws)        # forward: step caches in ws.forward
        meta_gradient(..., tr, ...)           # backward: ws.steps[0] and [1] by turns
        with ws.step():                       # a step without caches (evaluation): the same
            update, state = opt.step(grad, state)
    """

    def __init__(self):
        self.forward = Arena()                     # every step's cache, one truncation
        self.steps = (Arena(), Arena())            # the current step's, and the last's (step())
        self.turn = 0
        self.work = {}                             # (name, shape, dtype) -> array, within a call
        self.used = set()                          # the keys of work asked for since forward_pass
        self.active = None                         # the arena that take() hands out from

    @contextlib.contextmanager
    def forward_pass(self):
        """Inside the block, LSTM steps run by the fast path and keep their caches here. Work
        arrays the last truncation did not ask for are let go (the problem's size changed)."""
        self.work = {k: v for k, v in self.work.items() if k in self.used}
        self.used = set()
        self.forward.rewind()
        with self.use(self.forward):
            yield

    @contextlib.contextmanager
    def step(self):
        """Inside the block, one step of the whole stack takes its arrays from the set the step
        before last used, and leaves the last step's untouched: a backward step of meta_gradient
        (the state gradients of the step after it flow into it), or a forward step that keeps no
        caches, as an evaluation run takes them (the state of the step before flows into it; what
        this step returns is valid until the step after next)."""
        self.turn = 1 - self.turn
        self.steps[self.turn].rewind()
        with self.use(self.steps[self.turn]):
            yield

    @contextlib.contextmanager
    def use(self, arena):
        before = self.active, _current.workspace
        self.active, _current.workspace = arena, self
        try:
            yield
        finally:
            self.active, _current.workspace = before
            arena.trim()

    def take(self, shape, dtype):
        return self.active.take(shape, dtype)

    def scratch(self, name, shape, dtype):
        key = (name, shape, np.dtype(dtype))
        self.used.add(key)
        if key not in self.work:
            self.work[key] = np.empty(shape, dtype=dtype)
        return self.work[key]

    def nbytes(self):
        """Bytes held: caches, the two step sets and work arrays."""
        return (self.forward.nbytes() + sum(a.nbytes() for a in self.steps)
                + sum(a.nbytes for a in self.work.values()))


class GateArena(Arena):
    """An Arena that keeps only the gate stacks fast_step_forward asks for, (4, N, H), handed out
    in order and reused; any other array it is asked for (the step's new h and c, (N, H)) is a
    new one, which the step returns and its caller keeps."""

    def take(self, shape, dtype):
        if len(shape) != 3:
            return np.empty(shape, dtype=dtype)
        return super().take(shape, dtype)


class StepWorkspace(Workspace):
    """The LSTM steps' memory for an optimizer stepped one forward step at a time outside
    meta-training, whose new state belongs to its caller: the drop-in optimizers of minil2o.use,
    whose update never changes a state it returned (an old state can be stepped again).

        ws = StepWorkspace()                  # one per optimizer and layout, kept
        with ws.step():
            update, state = opt.step(grad, state)

    Inside step() the gate stacks (4, N, H) of every layer come from one GateArena, allocated at
    the first step and reused by every later one; the new h and c are new arrays each step, so no
    state refers to the workspace. No caches are kept; work arrays are kept by name and shape as
    in a Workspace. Numbers: those of fast_step_forward, the reference's to rounding."""

    def __init__(self):
        super().__init__()
        self.gates = GateArena()

    @contextlib.contextmanager
    def step(self):
        """Inside the block, one forward step of the whole stack takes its gate stacks from the
        arena in order; what it returns is its caller's."""
        self.gates.rewind()
        with self.use(self.gates):
            yield

    def nbytes(self):
        """Bytes held: the gate stacks and work arrays."""
        return super().nbytes() + self.gates.nbytes()


# ---------------------------------------------------------------------------------------------
# One LSTM step, forward and backward: the equations of minil2o.lstm.lstm_step_forward and
# lstm_step_backward (see their docstrings), computed block by block of rows (coordinates are
# independent), so that a block's work arrays stay in the core's cache, and written in place:
#   * the three terms of (3.1) are one product: [x, h_prev, 1] [Wx; Wh; b];
#   * the gates are kept gate by gate, (4, N, H): each gate's block is contiguous, so every
#     elementwise operation runs over contiguous memory (on the (N, 4H) layout each (N, H) block
#     is 20 numbers in every row of 80, and NumPy runs such operations several times slower);
#   * tanh(c) is not kept: the backward pass computes it again from c, one pass over (N, H);
#   * the three weight gradients of (3.8) are one product: [x, h_prev, 1]^T da.
# The numbers agree with the reference to float32 rounding (the sums of (3.1) and (3.8) are added
# in another order); tests/test_fast_lstm.py checks it.
# ---------------------------------------------------------------------------------------------

ROWS = 2048                     # rows per block: (4, ROWS, H) float32 at H = 20 is 640 kB


def row_blocks(N):
    """slice(start, stop) of each block of at most ROWS rows."""
    return [slice(start, min(N, start + ROWS)) for start in range(0, N, ROWS)]


def stacked_weights(Wx, Wh, b, dtype):
    """[Wx; Wh; b] (D+H+1, 4H) as (4, D+H+1, H), gate by gate, with the sigmoid gates' columns
    halved: then the product gives 0.5 a_ifo for sigma(a) = 0.5 tanh(0.5 a) + 0.5 without a pass
    of its own (halving is exact in floating point)."""
    W = np.concatenate([Wx, Wh, b[None, :]], axis=0).astype(dtype, copy=False)  # (D+H+1, 4H)
    H = W.shape[1] // 4
    half = np.array([0.5, 0.5, 0.5, 1.0], dtype=dtype)[:, None, None]
    return np.moveaxis(W.reshape(-1, 4, H), 1, 0) * half                       # (4, D+H+1, H)


def block_inputs(ws, x, h_prev):
    """[x, h_prev, 1] for one block of rows, in a work array: (B, D+H+1)."""
    B, D = x.shape
    xh = ws.scratch("xh", (B, D + h_prev.shape[1] + 1), x.dtype)
    xh[:, :D], xh[:, D:-1], xh[:, -1] = x, h_prev, 1
    return xh


def fast_step_forward(ws, x, h_prev, c_prev, Wx, Wh, b):
    """lstm_step_forward (same inputs and outputs; its own cache) into ws's arrays:

        a = [x, h_prev, 1] [Wx; Wh; b]                                             (3.1)
        [i, f, o] = 0.5 tanh(0.5 a_ifo) + 0.5;  g = tanh(a_g)                      (3.2)
        c = f * c_prev + i * g;  h = o * tanh(c)                                   (3.3) (3.4)
    """
    N, H = h_prev.shape
    dt = h_prev.dtype
    W = stacked_weights(Wx, Wh, b, dt)                         # (4, D+H+1, H)
    gates = ws.take((4, N, H), dt)                             # [i, f, o, g], (4, N, H)
    c, h = ws.take((N, H), dt), ws.take((N, H), dt)            # (N, H) each
    for r in row_blocks(N):
        a = gates[:, r]                                        # (4, B, H)
        np.matmul(block_inputs(ws, x[r], h_prev[r]), W, out=a)  # [a_ifo / 2, a_g]
        np.tanh(a, out=a)
        ifo = a[:3]                                            # (3, B, H)
        ifo *= 0.5
        ifo += 0.5                                             # sigma(a_ifo)
        i, f, o, g = a                                         # (B, H) each
        np.multiply(f, c_prev[r], out=c[r])
        c[r] += np.multiply(i, g, out=ws.scratch("BH", i.shape, dt))  # c = f c_prev + i g
        np.tanh(c[r], out=h[r])
        h[r] *= o                                              # h = o tanh(c)
    return h, c, (x, h_prev, c_prev, Wx, Wh, gates, c)


def fast_step_backward(ws, dh, dc, cache):
    """lstm_step_backward (same inputs and outputs) into ws's arrays, block by block of rows:

        dc_total = dc + dh o (1 - tanh(c)^2);   dc_prev = dc_total f                 (3.5) (3.6)
        da = [dc_total g i (1-i), dc_total c_prev f (1-f), dh tanh(c) o (1-o),
              dc_total i (1-g^2)]                                                  (3.7)
        dx = da Wx^T;  dh_prev = da Wh^T;  [dWx; dWh; db] = sum over blocks of
        [x, h_prev, 1]^T da                                                        (3.8)

    da is formed gate by gate, (4, B, H), and copied once into the (B, 4H) layout of the products.
    dh_prev and dc_prev are kept for the step before (in this step's set, Workspace.step); dx is
    a work array, valid until the next call: its caller uses it at once (the layer below, or the
    optimizer's input layer).
    """
    x, h_prev, c_prev, Wx, Wh, gates, c = cache
    N, H = h_prev.shape
    D, dt = x.shape[1], h_prev.dtype
    dx = ws.scratch("dx", (N, D), dt)                          # (N, D)
    dh_prev, dc_prev = ws.take((N, H), dt), ws.take((N, H), dt)  # (N, H) each, outlive the call
    dW = np.zeros((D + H + 1, 4 * H), dtype=dt)                # [dWx; dWh; db]
    for r in row_blocks(N):
        ifo = gates[:3, r]                                     # sigma(a_ifo), (3, B, H)
        i, f, o, g = gates[:, r]                               # (B, H) each
        B = i.shape[0]
        da = ws.scratch("4BH", (4, B, H), dt)                  # gate by gate, (4, B, H)
        tanh_c, one_minus, dct = (ws.scratch(name, (B, H), dt) for name in ("tc", "BH", "dct"))
        np.tanh(c[r], out=tanh_c)                              # computed again, not kept
        np.subtract(1.0, np.multiply(tanh_c, tanh_c, out=one_minus), out=one_minus)  # 1 - tanh(c)^2
        np.multiply(dh[r], o, out=dct)
        dct *= one_minus
        dct += dc[r]                                           # dc_total
        np.multiply(dct, g, out=da[0])
        np.multiply(dct, c_prev[r], out=da[1])
        np.multiply(dh[r], tanh_c, out=da[2])
        da[:3] *= ifo
        rows = ws.scratch("B4H", (B, 4 * H), dt)      # da as (B, 4H) below; first 1 - s, (3, B, H)
        da[:3] *= np.subtract(1.0, ifo, out=rows.reshape(4, B, H)[:3])  # d a_i, d a_f, d a_o
        np.multiply(dct, i, out=da[3])
        da[3] *= np.subtract(1.0, np.multiply(g, g, out=one_minus), out=one_minus)  # d a_g
        np.copyto(rows.reshape(B, 4, H), np.moveaxis(da, 0, 1))
        np.matmul(rows, Wx.T, out=dx[r])                       # (B, D)
        np.matmul(rows, Wh.T, out=dh_prev[r])                  # (B, H)
        np.multiply(dct, f, out=dc_prev[r])
        dW += np.matmul(block_inputs(ws, x[r], h_prev[r]).T, rows,
                        out=ws.scratch("dW", dW.shape, dt))
    return dx, dh_prev, dc_prev, dW[:D], dW[D:D + H], dW[D + H]
