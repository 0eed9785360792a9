"""MLP classifiers on MNIST: the main optimizee of both papers (Andrychowicz et al. 2016,
Section 3.2; Lv et al. 2017, Section 5), with a hand-written gradient and an exact
Hessian-vector product.

The network maps a minibatch X: (N, D) through L affine layers,

    h_0 = X,    a_l = h_{l-1} W_l + b_l,    h_l = phi(a_l)   (l < L),    z = a_L   (logits, (N, C))

and the loss is the mean softmax cross entropy against one-hot labels Y: (N, C),

    f = (1/N) sum_n [ log sum_j exp(z_nj) - sum_j Y_nj z_nj ].

The base benchmark is 784-20-10 with sigmoid, minibatch 128 (both papers); RNNprop also varies
the activation (sigmoid, ReLU, ELU, tanh) and the depth. All parameters live in one flat vector
theta = [W_1 (row-major), b_1, W_2, b_2, ...]. The Hessian-vector product is Pearlmutter's (1994)
R-operator, derived in `MLPProblem.hvp`.

A meta-batch of B instances (`MLPFamily.sample_many`) is one MLPProblem whose loss is the sum of
the instances' losses, F = sum_k f_k(theta_k), over theta = [theta_1, ..., theta_B]. Every array
carries a leading instance axis: theta_k are the rows of theta reshaped to (B, n), W_l: (B, D_{l-1},
D_l), h_l: (B, N, D_l), and each product above is B matrix products at once (`@` on stacks of
matrices). A single instance is B = 1, so one code path serves both.
"""
import numpy as np

from ..backend import asarray, xp
from ..errors import DataError, UsageError
from ..layers import elu_forward, sigmoid, softmax_cross_entropy_probs
from ..validate import check_setting, check_settings
from .base import Family, Problem


# ---------------------------------------------------------------------------------------------
# Activations: phi, its first derivative phi' and its second derivative phi''. The derivatives are
# written in terms of a (the pre-activation) and h = phi(a), whichever is cheaper.
# ---------------------------------------------------------------------------------------------

def _sigmoid(a):
    """phi = sigma(a); phi' = h (1 - h); phi'' = phi' (1 - 2 h)."""
    h = sigmoid(a)
    d1 = h * (1.0 - h)
    return h, d1, lambda: d1 * (1.0 - 2.0 * h)


def _tanh(a):
    """phi = tanh(a); phi' = 1 - h^2; phi'' = -2 h phi'."""
    h = xp.tanh(a)
    d1 = 1.0 - h * h
    return h, d1, lambda: -2.0 * h * d1


def _relu(a):
    """phi = max(a, 0); phi' = [a > 0]; phi'' = 0 (everywhere but the kink a = 0)."""
    d1 = xp.astype(a > 0.0, a.dtype)
    return a * d1, d1, lambda: xp.zeros_like(a)


def _elu(a):
    """ELU with alpha = 1 (layers.elu_forward): phi = a for a > 0, exp(a) - 1 otherwise;
    phi' = 1 or exp(a); phi'' = 0 or exp(a). phi' is continuous at 0 (both sides give 1), phi'' is
    not."""
    pos = xp.astype(a > 0.0, a.dtype)
    exp_neg = xp.exp(xp.clip(a, max=0.0))                  # exp(min(a, 0)), never overflows
    d2 = (1.0 - pos) * exp_neg
    return elu_forward(a)[0], pos + d2, lambda: d2


ACTIVATIONS = {"sigmoid": _sigmoid, "relu": _relu, "elu": _elu, "tanh": _tanh}


class MLPProblem(Problem):
    """B MLP instances with fresh weights over the data of their family (shared, never copied),
    computed together: F(theta) = sum_k f_k(theta_k) over theta = [theta_1, ..., theta_B].

    family: the MLPFamily that sampled it (holds X: (N_data, D), Y: (N_data, C) on the backend,
    the layer sizes, the activation and the parameter slices); num_problems: B (1: one MLP).
    theta: (B n,) with n = family.n, the layout ProblemBatch gives B single instances with the
    group 'all'. A batch is (batch_size,) row indices for B = 1 and (B, batch_size) for B > 1.
    With group_by='layer' only B = 1 is allowed: a meta-batch of those is a ProblemBatch, which
    lays theta out group by group (see MLPFamily.sample_many).
    The pieces of a forward and backward pass are public: data(batch) gives the batch's X and Y,
    layers(theta) the (W_l, b_l), phi(a) the activation with its derivatives, and flatten lays
    per-layer gradients out like theta.
    """

    def __init__(self, family, num_problems=1):
        if isinstance(num_problems, bool) or not isinstance(num_problems, int) or num_problems < 1:
            raise UsageError(f"num_problems={num_problems!r} is not allowed: use a positive integer")
        if num_problems > 1 and family.group_by != "all":
            raise UsageError(f"MLPProblem with group_by={family.group_by!r} holds one instance: "
                             "build a meta-batch with family.sample_many (a ProblemBatch)")
        self.family, self.num_problems = family, num_problems
        self.dtype = family.dtype
        self.n = num_problems * family.n
        self.phi = ACTIVATIONS[family.activation]

    @property
    def groups(self):
        if self.num_problems == 1:
            return self.family.groups
        return {"all": slice(0, self.n)}

    def init(self, rng):
        """Every weight and bias ~ N(0, init_std^2), drawn instance by instance on the host and
        moved to the backend at once. Returns theta_0: (B n,)."""
        draws = [rng.standard_normal(self.family.n) for _ in range(self.num_problems)]
        return asarray(self.family.init_std * np.concatenate(draws), dtype=self.dtype)

    def sample_batch(self, rng):
        """batch_size distinct row indices per instance, drawn instance by instance on the host
        and moved at once. Returns (batch_size,) ints for B = 1, (B, batch_size) for B > 1."""
        family = self.family
        idx = np.stack([rng.choice(family.num_examples, size=family.batch_size, replace=False)
                        for _ in range(self.num_problems)])           # (B, batch_size)
        return asarray((idx[0] if self.num_problems == 1 else idx).astype(np.int64))

    def data(self, batch):
        """The examples of a batch: X: (B, N, D) and one-hot Y: (B, N, C), instance k's rows in
        X[k], Y[k]. batch: row indices, (N,) for B = 1 or (B, N); None: every row of the data set,
        shared by the instances, as X: (1, N_data, D), Y: (1, N_data, C) (they broadcast)."""
        X, Y = self.family.X, self.family.Y
        if batch is None:
            return xp.expand_dims(X, axis=0), xp.expand_dims(Y, axis=0)
        rows = xp.reshape(batch, (-1,))                    # (B N,), instance by instance
        B = self.num_problems
        return (xp.reshape(xp.take(X, rows, axis=0), (B, -1, X.shape[1])),   # (B, N, D)
                xp.reshape(xp.take(Y, rows, axis=0), (B, -1, Y.shape[1])))   # (B, N, C)

    def layers(self, theta):
        """theta: (B n,) as the layers' parameters [(W_1, b_1), ..., (W_L, b_L)] with
        W_l: (B, D_{l-1}, D_l) and b_l: (B, 1, D_l), a row per instance that broadcasts over its
        N examples. flatten is its inverse."""
        B = self.num_problems
        thetas = xp.reshape(theta, (B, -1))                # (B, n): row k is theta_k
        return [(xp.reshape(thetas[:, w], (B,) + shape),           # (B, D_{l-1}, D_l)
                 xp.reshape(thetas[:, b], (B, 1, shape[1])))       # (B, 1, D_l)
                for w, b, shape in self.family.slices]

    def flatten(self, pairs):
        """[(W_1, b_1), ...] (parameters or their gradients), W_l: (B, D_{l-1}, D_l), b_l: (B, D_l)
        or (B, 1, D_l), as one (B n,) vector in the layout of theta: the inverse of layers."""
        B = self.num_problems
        rows = [xp.reshape(piece, (B, -1)) for W, b in pairs for piece in (W, b)]
        return xp.reshape(xp.concat(rows, axis=1), (-1,))  # (B, n) -> (B n,)

    def loss(self, theta, batch):
        """Forward pass only, (6.1) and (6.2): F(theta) = sum_k f_k(theta_k) on the batch (indices;
        None for the whole data set). Returns a 0-d array."""
        X, Y = self.data(batch)
        layers = self.layers(theta)
        h = X                                              # (B, N, D)
        for W, b in layers[:-1]:
            h = self.phi(h @ W + b)[0]                     # (B, N, D_l)
        W, b = layers[-1]
        return xp.sum(softmax_cross_entropy_probs(h @ W + b, Y)[0])

    def _forward(self, layers, X, Y):
        """Forward pass keeping what backward needs: f: (B,), p: (B, N, C), the inputs h_{l-1},
        and per hidden layer (phi'(a_l), phi''(a_l) as a thunk)."""
        hs, acts = [X], []
        for W, b in layers[:-1]:
            a = hs[-1] @ W + b                             # (B, N, D_l)
            h, d1, d2 = self.phi(a)
            hs.append(h)
            acts.append((d1, d2))
        W, b = layers[-1]
        f, p = softmax_cross_entropy_probs(hs[-1] @ W + b, Y)  # (B,), (B, N, C)
        return f, p, hs, acts

    def loss_and_grad(self, theta, batch):
        """F and dF/dtheta on a batch of row indices (None: the whole data set). theta: (B n,).

        Backpropagation (6.3) through the forward pass (6.1) in each instance, with
        delta_l = df/da_l: (N, D_l):

            delta_L = (p - Y) / N                                   softmax + cross entropy
            dW_l = h_{l-1}^T delta_l,    db_l = sum_n delta_l        (a_l = h_{l-1} W_l + b_l)
            e_{l-1} = delta_l W_l^T,     delta_{l-1} = e_{l-1} * phi'(a_{l-1})

        Instance k's terms hold only theta_k, so dF/dtheta_k = df_k/dtheta_k.
        Returns F (0-d) and grad: (B n,), laid out like theta.
        """
        X, Y = self.data(batch)
        layers = self.layers(theta)
        f, p, hs, acts = self._forward(layers, X, Y)
        delta = (p - Y) / X.shape[1]                       # (B, N, C)
        grads = []
        for l in range(len(layers) - 1, -1, -1):
            dW = xp.matrix_transpose(hs[l]) @ delta        # (B, D_{l-1}, D_l)
            grads.append((dW, xp.sum(delta, axis=1)))      # db: (B, D_l)
            if l > 0:
                e = delta @ xp.matrix_transpose(layers[l][0])  # (B, N, D_{l-1})
                delta = e * acts[l - 1][0]                 # (B, N, D_{l-1})
        return xp.sum(f), self.flatten(grads[::-1])

    def hvp(self, theta, v, batch):
        """Exact Hessian-vector product H(theta) v by the R-operator (Pearlmutter 1994).

        theta, v: (B n,); batch: row indices (None: all rows). R{q} = d/de q(theta + e v) at e = 0
        is linear and obeys the product rule; v splits like theta into (V_l, c_l). Since the
        gradient is (dW_l, db_l)_l, H v = (R{dW_l}, R{db_l})_l. Forward R-pass:

            R{h_0} = 0
            R{a_l} = R{h_{l-1}} W_l + h_{l-1} V_l + c_l
            R{h_l} = phi'(a_l) * R{a_l}                           (hidden layers)
            R{p}   = p * (R{z} - sum_j p_j R{z}_j)                (softmax Jacobian, z = a_L)

        Backward R-pass, the R-operator applied to each line of backpropagation:

            R{delta_L} = R{p} / N
            R{dW_l} = R{h_{l-1}}^T delta_l + h_{l-1}^T R{delta_l},   R{db_l} = sum_n R{delta_l}
            R{e_{l-1}} = R{delta_l} W_l^T + delta_l V_l^T
            R{delta_{l-1}} = R{e_{l-1}} * phi'(a_{l-1}) + e_{l-1} * phi''(a_{l-1}) * R{a_{l-1}}

        The instances share no parameter, so H is block-diagonal and each block acts on its v_k.
        Returns H v: (B n,).
        """
        X, Y = self.data(batch)
        layers, vlayers = self.layers(theta), self.layers(v)
        _, p, hs, acts = self._forward(layers, X, Y)
        T = xp.matrix_transpose                            # T(A) = A^T of each instance
        Rh, Ra = [None], []                                # R{h_0} = 0: its terms are skipped
        for l, ((W, _), (V, c)) in enumerate(zip(layers, vlayers)):
            Ra.append(hs[l] @ V + c if l == 0 else Rh[l] @ W + hs[l] @ V + c)  # (B, N, D_l)
            if l < len(layers) - 1:
                Rh.append(acts[l][0] * Ra[l])              # (B, N, D_l)
        N = X.shape[1]
        delta = (p - Y) / N                                # (B, N, C)
        Rdelta = p * (Ra[-1] - xp.sum(p * Ra[-1], axis=-1, keepdims=True)) / N  # (B, N, C)
        Rgrads = []
        for l in range(len(layers) - 1, -1, -1):
            RdW = T(hs[l]) @ Rdelta if l == 0 else T(Rh[l]) @ delta + T(hs[l]) @ Rdelta
            Rgrads.append((RdW, xp.sum(Rdelta, axis=1)))   # (B, D_{l-1}, D_l), (B, D_l)
            if l > 0:
                W, V = layers[l][0], vlayers[l][0]
                d1, d2 = acts[l - 1]
                e = delta @ T(W)                           # (B, N, D_{l-1})
                Re = Rdelta @ T(W) + delta @ T(V)          # (B, N, D_{l-1})
                delta, Rdelta = e * d1, Re * d1 + e * d2() * Ra[l - 1]
        return self.flatten(Rgrads[::-1])


class MLPFamily(Family):
    """MLPs of one architecture over one data set; each sample is fresh N(0, init_std^2) weights.
    The base network of Andrychowicz et al., section 3.2, is 784-20-10 with sigmoid on MNIST.

    X: host float array (N_data, D); y: host int array (N_data,) of labels in [0, num_classes);
    hidden: sizes of the hidden layers ((20,) in both papers); activation: 'sigmoid', 'relu',
    'elu' or 'tanh'; batch_size: minibatch size (128); init_std: weight and bias init scale (0.1
    in the RNNprop code); dtype: 'float32' or 'float64'; group_by: 'all' (one group) or 'layer'
    (groups 'layer1', 'layer2', ..., each the weights and bias of one layer).
    X and a one-hot Y move to the backend once, here, and all sampled problems share them.
    sample(rng) gives one instance, sample_many(rng, B) a meta-batch of B as one problem.
    """

    def __init__(self, X, y, hidden=(20,), activation="sigmoid", batch_size=128, num_classes=10,
                 init_std=0.1, dtype="float32", group_by="all"):
        X, y = _check_data(X, y, num_classes)
        self.hidden = _check_hidden(hidden)
        if activation not in ACTIVATIONS:
            raise UsageError(f"activation={activation!r} is not allowed: choose one of "
                             f"{', '.join(ACTIVATIONS)}")
        check_settings(dict(batch_size=batch_size, init_std=init_std))     # by name (validate)
        if batch_size > X.shape[0]:
            raise UsageError(f"batch_size={batch_size!r} is not allowed: use an integer in "
                             f"[1, {X.shape[0]}] (the number of examples)")
        if dtype not in ("float32", "float64"):
            raise UsageError(f"dtype={dtype!r} is not allowed: choose float32 or float64")
        if group_by not in ("all", "layer"):
            raise UsageError(f"group_by={group_by!r} is not allowed: choose 'all' or 'layer'")
        self.activation, self.batch_size, self.num_classes = activation, int(batch_size), num_classes
        self.init_std, self.dtype, self.group_by = float(init_std), dtype, group_by
        self.num_examples = X.shape[0]
        self.sizes = (X.shape[1],) + self.hidden + (num_classes,)
        self.slices, self.groups = self._layout()
        self.n = self.slices[-1][1].stop
        self.X = asarray(X, dtype=dtype)                                        # (N_data, D)
        self.Y = asarray(np.eye(num_classes)[y], dtype=dtype)                   # (N_data, C)

    def _layout(self):
        """Slices of theta per layer: [(W_l slice, b_l slice, W_l shape)], and the groups."""
        slices, groups, start = [], {}, 0
        for l, (d_in, d_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            w = slice(start, start + d_in * d_out)
            b = slice(w.stop, w.stop + d_out)
            slices.append((w, b, (d_in, d_out)))
            groups[f"layer{l + 1}"] = slice(start, b.stop)
            start = b.stop
        if self.group_by == "all":
            groups = {"all": slice(0, start)}
        return slices, groups

    def sample(self, rng):
        """A fresh MLPProblem over this family's data (its weights are drawn by init(rng))."""
        return MLPProblem(self)

    def sample_many(self, rng, num_problems):
        """A meta-batch of num_problems fresh instances as one problem (F = sum_k f_k).

        With the single group 'all' it is one MLPProblem holding all of them, computed with
        batched matrix products; its theta, its random draws and its values are those of the
        ProblemBatch of as many samples, only faster. With group_by='layer' the instances'
        groups interleave in theta (ProblemBatch's layout), so it stays a ProblemBatch.
        """
        if self.group_by == "all":
            return MLPProblem(self, num_problems)
        return super().sample_many(rng, num_problems)


def _check_hidden(hidden):
    """hidden as a tuple of ints (an int: one hidden layer), checked by validate's rule for the
    setting 'hidden' (1 to 16 layer sizes, each a positive integer of sane size), or a UsageError."""
    check_setting("hidden", hidden)
    return tuple(int(h) for h in hidden) if isinstance(hidden, (list, tuple)) else (int(hidden),)


def _check_data(X, y, num_classes):
    """X: (N, D) numbers, y: (N,) int labels in [0, num_classes) as numpy arrays, or DataError."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise UsageError(f"num_classes={num_classes!r} is not allowed: use an integer >= 2")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0 or X.dtype.kind not in "fiu":
        raise DataError(f"X has shape {X.shape} and dtype {X.dtype}: expected a numeric (N, D) "
                        "array")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
        raise DataError(f"y has shape {y.shape} and dtype {y.dtype}: expected ({X.shape[0]},) ints")
    if y.min() < 0 or y.max() >= num_classes:
        raise DataError(f"labels range over [{y.min()}, {y.max()}]: expected [0, {num_classes})")
    return X, y
