"""RNNprop's LSTM optimizee: an LSTM that predicts the next value of a noisy sine sequence.

Lv, Jiang & Li (2017), section 5.4 ("Generalization to Different Structures", its paragraph "LSTM"),
test their optimizers far from the MLP they were trained on: the mean squared loss of a small LSTM
(hidden state 20, one or two layers) on a toy task.

    s_t = A sin(omega t + phi),   t = 0, 1, ..., T                         (the clean sine)
    x_t = s_t + noise * e_t,      e_t ~ N(0, 1),  t = 0, ..., T-1            (what the LSTM reads)
    A ~ U(0, 10),  omega ~ U(0, pi/2),  phi ~ U(0, 2 pi)                 (one draw per sequence)

The paper states the task ("given a sequence f(0), ..., f(9) with additive noise, the LSTM needs to
predict the value of f(10)"), the amplitude range, the noise N(0, 0.1) and a small-noise variant;
the ranges of omega and phi are those of the paper's published code, which also uses a batch of 128
sequences, T = 10, a noise standard deviation of 0.1 (0.01 for the small-noise variant) and the
initialisation theta_0 ~ N(0, 0.1^2). The tuned baselines of that code are Adagrad lr 0.5 (one
layer), Adam lr 0.0221 (two layers) and Adam lr 0.03125 (small noise), 100 steps.

The network, for a batch of B sequences, with L stacked LSTM layers of H units:

    h^0_t = x_t                                                      (B, 1)
    h^l_t, c^l_t = LSTM_l(h^{l-1}_t, h^l_{t-1}, c^l_{t-1}),  l = 1..L,  h^l_{-1} = c^l_{-1} = 0
    y_hat_t = h^L_t Wo + bo                                           prediction of s_{t+1}, (B,)
    f = sum_t w_t mean_b (y_hat_{b,t} - s_{b,t+1})^2                   (mean squared error)

`predict="last"` (the paper): w = (0, ..., 0, 1), only the prediction of s_T after reading the whole
sequence counts. `predict="every"` (an option): w_t = 1/T, every step predicts the next value, which
gives T times more error signal per sequence. Targets are the clean values s_{t+1} in both cases.

Each layer is minil2o.lstm's lstm_forward over the whole sequence, and the gradient is its
backpropagation through time, lstm_backward, layer by layer from the top; the derivation is in
SineLSTM.loss_and_grad.
"""
import math

import numpy as np

from ..backend import asarray, xp
from ..errors import UsageError
from ..validate import check_positive_int, check_settings
from ..lstm import lstm_backward, lstm_forward
from .base import Family, Problem

PREDICT = ("last", "every")


def sample_sine_sequences(rng, batch_size, seq_len, noise):
    """Draw a batch of noisy sine sequences on the host.

    rng: numpy Generator; batch_size B; seq_len T; noise: standard deviation of the additive noise.
    For each sequence b: A ~ U(0, 10), omega ~ U(0, pi/2), phi ~ U(0, 2 pi),
    s_t = A sin(omega t + phi), x_t = s_t + noise * N(0, 1).
    Returns x: (B, T) float64, the inputs x_0..x_{T-1}, and y: (B, T) float64, the clean targets
    s_1..s_T.
    """
    A = rng.uniform(0.0, 10.0, size=(batch_size, 1))                    # (B, 1)
    omega = rng.uniform(0.0, math.pi / 2, size=(batch_size, 1))         # (B, 1)
    phi = rng.uniform(0.0, 2 * math.pi, size=(batch_size, 1))           # (B, 1)
    t = np.arange(seq_len + 1, dtype=np.float64)                        # (T+1,)
    s = A * np.sin(omega * t + phi)                                     # (B, T+1)
    x = s[:, :seq_len] + noise * rng.standard_normal((batch_size, seq_len))  # (B, T)
    return x, s[:, 1:]


class SineLSTM(Problem):
    """An LSTM (num_layers x hidden units) with a linear read-out, on noisy sine sequences.

    theta holds, layer by layer, Wx (D_l, 4H), Wh (H, 4H), b (4H,) with D_1 = 1 and D_l = H above,
    then the read-out Wo (H, 1) and bo (1,), each flattened row-major; n = sum of their sizes.
    """

    def __init__(self, num_layers=1, hidden=20, seq_len=10, noise=0.1, batch_size=128,
                 predict="last", init_scale=0.1, dtype="float32"):
        check_settings(dict(num_layers=num_layers, hidden=hidden, seq_len=seq_len, noise=noise,
                            batch_size=batch_size, init_scale=init_scale))   # by name (validate)
        check_positive_int(hidden, "hidden")                 # one size, the same in every layer
        if predict not in PREDICT:
            raise UsageError(f"predict={predict!r} is not allowed: choose one of {PREDICT}")
        self.num_layers, self.hidden, self.seq_len = int(num_layers), int(hidden), int(seq_len)
        self.noise, self.batch_size, self.predict = float(noise), int(batch_size), predict
        self.init_scale, self.dtype = float(init_scale), dtype
        self.shapes = self._shapes()
        self.n = sum(math.prod(s) for s in self.shapes)

    def _shapes(self):
        """Shapes of the parameter arrays in the order they sit in theta."""
        H = self.hidden
        shapes = []
        for layer in range(self.num_layers):
            D = 1 if layer == 0 else H
            shapes += [(D, 4 * H), (H, 4 * H), (4 * H,)]
        return shapes + [(H, 1), (1,)]

    def unpack(self, theta):
        """Split flat theta (n,) into the list of parameter arrays of self.shapes (views)."""
        arrays, start = [], 0
        for shape in self.shapes:
            size = math.prod(shape)
            arrays.append(xp.reshape(theta[start:start + size], shape))
            start += size
        return arrays

    def init(self, rng):
        """theta_0 ~ N(0, init_scale^2), shape (n,), as in the paper's code."""
        return asarray(self.init_scale * rng.standard_normal(self.n), dtype=self.dtype)

    def sample_batch(self, rng):
        """A fresh batch {"x": (B, T) inputs, "y": (B, T) clean next values} on the backend."""
        x, y = sample_sine_sequences(rng, self.batch_size, self.seq_len, self.noise)
        return {"x": asarray(x, dtype=self.dtype), "y": asarray(y, dtype=self.dtype)}

    def _step_weights(self, T):
        """The per-step loss weights w_t as a host list of length T (see the module docstring)."""
        if self.predict == "last":
            return [0.0] * (T - 1) + [1.0]
        return [1.0 / T] * T

    def forward(self, theta, x):
        """Run the stacked LSTM over x: (B, T), layer l = 1..L by lstm_forward over the whole sequence
        of layer l-1's hidden states. Returns predictions y_hat: (B, T) and, for backward, the
        per-layer lstm_forward caches and the top hidden states (B, T, H)."""
        params = self.unpack(theta)
        Wo, bo = params[-2], params[-1]
        B, T = x.shape
        h0 = xp.zeros((B, self.hidden), dtype=x.dtype)                    # (B, H)
        hs, caches = xp.reshape(x, (B, T, 1)), []                        # h^0 = x: (B, T, 1)
        for l in range(self.num_layers):
            Wx, Wh, b = params[3 * l:3 * l + 3]
            hs, cache = lstm_forward(hs, h0, Wx, Wh, b)                  # (B, T, H)
            caches.append(cache)
        y_hat = xp.reshape(hs @ Wo, (B, T)) + bo                         # (B, T)
        return y_hat, (caches, hs)

    def loss(self, theta, batch):
        """f = sum_t w_t mean_b (y_hat - y)^2 without the backward pass; 0-d array."""
        y_hat, _ = self.forward(theta, batch["x"])
        w = asarray(self._step_weights(y_hat.shape[1]), dtype=y_hat.dtype)   # (T,)
        return xp.sum(xp.mean((y_hat - batch["y"]) ** 2, axis=0) * w)

    def loss_and_grad(self, theta, batch):
        """Loss and its gradient by backpropagation through time.

        With r = y_hat - y (B, T) and f = sum_t w_t mean_b r_{b,t}^2:
            dy_hat_{b,t} = 2 w_t r_{b,t} / B                                   (B, T)
            dWo = sum_{b,t} h^L_{b,t}^T dy_hat_{b,t};  dbo = sum_{b,t} dy_hat_{b,t}
            dh^L_t (from the read-out) = dy_hat_t Wo^T                          (B, T, H)
        then for l = L down to 1, lstm_backward (BPTT over t = T-1 .. 0) takes the gradient on
        layer l's hidden states from outside it (the read-out's for l = L, else layer l+1's dx),
        and returns layer l's dWx, dWh, db (summed over time) and dx, the gradient on its input
        sequence. Returns f (0-d) and grad (n,).
        """
        x, y = batch["x"], batch["y"]
        params = self.unpack(theta)
        Wo = params[-2]
        y_hat, (caches, top) = self.forward(theta, x)
        B, T = y_hat.shape
        w = asarray(self._step_weights(T), dtype=y_hat.dtype)                # (T,)
        r = y_hat - y                                                       # (B, T)
        f = xp.sum(xp.mean(r * r, axis=0) * w)
        dy = 2.0 * r * w / B                                                # (B, T)
        grads = [None] * len(params)
        grads[-2] = xp.reshape(xp.sum(top * dy[:, :, None], axis=(0, 1)), (self.hidden, 1))
        grads[-1] = xp.reshape(xp.sum(dy), (1,))
        dh = dy[:, :, None] * xp.reshape(Wo, (1, 1, self.hidden))           # (B, T, H)
        for l in range(self.num_layers - 1, -1, -1):
            dh, _, dWx, dWh, db = lstm_backward(dh, caches[l])            # dh: (B, T, D_l)
            grads[3 * l:3 * l + 3] = [dWx, dWh, db]
        grad = xp.concat([xp.reshape(g, (-1,)) for g in grads])              # (n,)
        return f, grad


class SineLSTMFamily(Family):
    """RNNprop's sequence task as a family: every sample is a freshly parametrised SineLSTM.

    num_layers: 1 (default) or 2 in the paper; hidden: 20; seq_len: T = 10; noise: 0.1 (0.01 in the
    small-noise variant); batch_size: 128; predict: "last" (paper) or "every"; init_scale: 0.1.
    The randomness of an instance lives in its theta_0 (from init) and its batches (sample_batch).
    """

    def __init__(self, num_layers=1, hidden=20, seq_len=10, noise=0.1, batch_size=128,
                 predict="last", init_scale=0.1, dtype="float32"):
        self.kwargs = dict(num_layers=num_layers, hidden=hidden, seq_len=seq_len, noise=noise,
                           batch_size=batch_size, predict=predict, init_scale=init_scale,
                           dtype=dtype)
        SineLSTM(**self.kwargs)  # validate the arguments now, not at the first sample

    def sample(self, rng):
        """A SineLSTM instance (the architecture is fixed; rng is accepted for the contract)."""
        return SineLSTM(**self.kwargs)
