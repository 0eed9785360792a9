"""Hand-designed optimizers: the baselines of both papers (SGD, Momentum, NAG, Adagrad, Adadelta,
RMSprop, Adam; Table 1 of Lv et al. 2017 lists their update rules).

They share the interface of the learned optimizers:

    opt = Adam(lr=0.01)
    state = opt.init_state(n)                 {"t": 0, "m": zeros (n,), "v": zeros (n,)}
    update, state = opt.step(grad, state)     theta_{t+1} = theta_t + update

Hyperparameters are fixed when the optimizer is built (each class declares them in `hyper`:
name -> (default, allowed range)); everything that changes lives in `state` (a step counter t and
per-coordinate arrays). `step` is a pure function of (grad, state): it returns a new state and never
modifies the old one or the optimizer, so an unroll can be replayed from any saved state. All
operations are coordinatewise; g_t is the gradient handed to step number t (t = 1, 2, ...), alpha the
learning rate, and products, squares, square roots and divisions of vectors act per coordinate.

Defaults follow Torch7's `optim` package, which both papers used for their baselines ("other
hyperparameters at Torch7 defaults"); `lr_grid` is a log-spaced grid (powers of two) for tuning the
learning rate per problem, as the papers did.
"""
import inspect
import numbers

from ..backend import dtype as backend_dtype
from ..backend import xp
from ..errors import UsageError
from ..validate import allowed_text, check_bound


def _powers_of_two(lo, hi):
    """(2**lo, 2**(lo+1), ..., 2**hi) as floats."""
    return tuple(2.0 ** k for k in range(lo, hi + 1))


def _hyper(bounds=None, **defaults):
    """{name: (default, its row of minil2o.validate.BOUNDS)}: each hyperparameter's range is in
    the one table of bounds (momentum, decay, rho and the betas in [0, 1), eps in (0, 1]);
    bounds: {name: another row's name} where an optimizer's range differs."""
    return {name: (default, (bounds or {}).get(name, name)) for name, default in defaults.items()}


def _checked(owner, name, value, bound):
    """value as a float within BOUNDS[bound], or a UsageError naming owner, name and value."""
    try:
        return check_bound(bound, value)
    except UsageError:
        raise UsageError(f"{owner}: {name}={value!r} is not allowed: it must be "
                         f"{allowed_text(bound)}") from None


class HandOptimizer:
    """Base class: a learning rate, named per-coordinate state arrays (`slots`), a step counter."""

    name = ""
    default_lr = 1e-3
    lr_grid = ()
    slots = ()
    hyper = {}  # the fixed hyperparameters besides lr: name -> (default, row of BOUNDS)

    def __init__(self, lr=None, **hyper):
        """lr (default_lr when None) and the hyperparameters named in `hyper` (their defaults where
        not given or None), each checked against its row of minil2o.validate.BOUNDS and kept as
        an attribute."""
        owner = type(self).__name__
        self.lr = self.default_lr if lr is None else _checked(owner, "lr", lr, "lr")
        unknown = sorted(set(hyper) - set(self.hyper))
        if unknown:
            raise UsageError(f"{owner}: unknown hyperparameter {', '.join(unknown)}: choose from "
                             f"{', '.join(('lr',) + tuple(self.hyper))}")
        for name, (default, bound) in self.hyper.items():
            value = default if hyper.get(name) is None else hyper[name]
            setattr(self, name, _checked(owner, name, value, bound))

    def __init_subclass__(cls, **kwargs):
        """Each optimizer's signature names its settings, Adam(lr=None, *, beta1=0.9, ...), for
        help() and for whoever builds one from named settings (minil2o.pretrained)."""
        super().__init_subclass__(**kwargs)

        def __init__(self, lr=None, **hyper):
            HandOptimizer.__init__(self, lr, **hyper)
        keyword = inspect.Parameter.KEYWORD_ONLY
        __init__.__signature__ = inspect.Signature(
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
             inspect.Parameter("lr", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
            + [inspect.Parameter(name, keyword, default=d) for name, (d, _) in cls.hyper.items()])
        __init__.__doc__ = HandOptimizer.__init__.__doc__
        cls.__init__ = __init__

    def init_state(self, n, dtype="float32"):
        """The state before step 1 for n coordinates: {"t": 0, slot: zeros (n,) per slot}."""
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise UsageError(f"{type(self).__name__}.init_state: n={n!r} must be a positive int "
                             "(the number of coordinates)")
        dt = backend_dtype(dtype)
        return {"t": 0, **{k: xp.zeros((int(n),), dtype=dt) for k in self.slots}}

    def step(self, grad, state):
        """One step: grad (n,) and the state after step t-1 -> (update (n,), state after step t)."""
        raise NotImplementedError

    def hyperparameters(self):
        """The fixed hyperparameters as {name: float}: lr, then those named in `hyper`."""
        return {"lr": self.lr, **{name: getattr(self, name) for name in self.hyper}}

    def __repr__(self):
        args = ", ".join(f"{k}={v:g}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(HandOptimizer):
    """Plain gradient descent (Table 1 of Lv et al. 2017), the Euler step (1.2) of the gradient
    flow (1.1). Its step scales with f (Lv et al., section 3.2):

        u_t = -alpha g_t
    """

    name = "sgd"
    lr_grid = _powers_of_two(-10, 2)

    def step(self, grad, state):
        return -self.lr * grad, {"t": state["t"] + 1}


class Momentum(HandOptimizer):
    """Heavy-ball momentum (Polyak), undamped as in Table 1 of Lv et al. 2017:

        m_t = mu m_{t-1} + g_t,        m_0 = 0
        u_t = -alpha m_t

    (Torch7's optim.sgd with momentum damps by default, m_t = mu m_{t-1} + (1 - mu) g_t, which is
    the same rule with alpha scaled by 1 - mu after its first step.)
    """

    name = "momentum"
    lr_grid = _powers_of_two(-12, 0)
    slots = ("m",)
    hyper = _hyper(momentum=0.9)

    def step(self, grad, state):
        m = self.momentum * state["m"] + grad                                   # (n,)
        return -self.lr * m, {"t": state["t"] + 1, "m": m}


class NAG(HandOptimizer):
    """Nesterov's accelerated gradient in the form of Torch7's optim.nag (Sutskever et al. 2013).

    Torch7 keeps the point x_t and a velocity v (v_0 = 0). Step t first moves to the look-ahead
    point, evaluates the gradient there, then updates:

        w_t     = x_t + mu v_{t-1}          (look-ahead; f and g_t are evaluated at w_t)
        v_t     = mu v_{t-1} - alpha g_t
        x_{t+1} = x_t + v_t

    Here the optimizee evaluates the gradient at theta_t, so theta_t must be the look-ahead point:
    theta_t = w_t. Then theta_{t+1} - theta_t = (x_{t+1} + mu v_t) - (x_t + mu v_{t-1})
    = v_t + mu v_t - mu v_{t-1} = mu v_t - alpha g_t, giving

        v_t = mu v_{t-1} - alpha g_t
        u_t = mu v_t - alpha g_t

    The losses f(theta_t) are exactly the values Torch7's optim.nag reports (it returns f at the
    look-ahead point). Default mu = 0.9 (Torch7's default, and the papers' NAG baseline).
    """

    name = "nag"
    lr_grid = _powers_of_two(-12, 0)
    slots = ("v",)
    hyper = _hyper({"momentum": "nag_momentum"}, momentum=0.9)

    def step(self, grad, state):
        v = self.momentum * state["v"] - self.lr * grad                          # (n,)
        update = self.momentum * v - self.lr * grad                              # (n,)
        return update, {"t": state["t"] + 1, "v": v}


class Adagrad(HandOptimizer):
    """Adagrad (Duchi et al. 2011; Table 1 of Lv et al.; (1.6) in chapter 1), eps after the square
    root as in Torch7:

        G_t = G_{t-1} + g_t^2,         G_0 = 0
        u_t = -alpha g_t / (sqrt(G_t) + eps),      eps = 1e-10
    """

    name = "adagrad"
    lr_grid = _powers_of_two(-10, 1)
    slots = ("G",)
    hyper = _hyper(eps=1e-10)

    def step(self, grad, state):
        G = state["G"] + grad * grad                                             # (n,)
        update = -self.lr * grad / (xp.sqrt(G) + self.eps)                      # (n,)
        return update, {"t": state["t"] + 1, "G": G}


class Adadelta(HandOptimizer):
    """Adadelta (Zeiler 2012; Table 1 of Lv et al.), as in Torch7's optim.adadelta, with a
    learning-rate factor alpha:

        v_t     = rho v_{t-1} + (1 - rho) g_t^2                 v_0 = 0
        delta_t = sqrt(D_{t-1} + eps) / sqrt(v_t + eps) * g_t
        D_t     = rho D_{t-1} + (1 - rho) delta_t^2             D_0 = 0
        u_t     = -alpha delta_t

    rho = 0.9, eps = 1e-6; alpha = 1 is Zeiler's (and Torch7's) rule, which has no learning rate.
    D accumulates delta_t, not alpha delta_t, so alpha only scales the steps.
    """

    name = "adadelta"
    default_lr = 1.0
    lr_grid = _powers_of_two(-4, 3)
    slots = ("v", "D")
    hyper = _hyper(rho=0.9, eps=1e-6)

    def step(self, grad, state):
        rho, eps = self.rho, self.eps
        v = rho * state["v"] + (1.0 - rho) * grad * grad                          # (n,)
        delta = xp.sqrt(state["D"] + eps) / xp.sqrt(v + eps) * grad               # (n,)
        D = rho * state["D"] + (1.0 - rho) * delta * delta                        # (n,)
        return -self.lr * delta, {"t": state["t"] + 1, "v": v, "D": D}


class RMSprop(HandOptimizer):
    """RMSprop (Tieleman & Hinton 2012; Table 1 of Lv et al.), as in Torch7's optim.rmsprop:

        v_t = gamma v_{t-1} + (1 - gamma) g_t^2,       v_0 = 0
        u_t = -alpha g_t / (sqrt(v_t) + eps)

    gamma = decay = 0.99 (Torch7 calls it `alpha`), eps = 1e-8, alpha = 1e-2: Torch7's defaults,
    chosen because the papers' baselines ran at Torch7 defaults (Keras and Hinton's lecture use
    gamma = 0.9: pass decay=0.9).
    """

    name = "rmsprop"
    default_lr = 1e-2
    lr_grid = _powers_of_two(-14, -1)
    slots = ("v",)
    hyper = _hyper(decay=0.99, eps=1e-8)

    def step(self, grad, state):
        gamma = self.decay
        v = gamma * state["v"] + (1.0 - gamma) * grad * grad                      # (n,)
        update = -self.lr * grad / (xp.sqrt(v) + self.eps)                        # (n,)
        return update, {"t": state["t"] + 1, "v": v}


class Adam(HandOptimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1; Table 1 of Lv et al.), bias-corrected. Its step is the
    same on c f as on f (1.5), the second class of Lv et al., section 3.2:

        m_t   = beta1 m_{t-1} + (1 - beta1) g_t         m_0 = 0
        v_t   = beta2 v_{t-1} + (1 - beta2) g_t^2       v_0 = 0
        m^_t  = m_t / (1 - beta1^t)
        v^_t  = v_t / (1 - beta2^t)
        u_t   = -alpha m^_t / (sqrt(v^_t) + eps)

    beta1 = 0.9, beta2 = 0.999, eps = 1e-8, alpha = 1e-3. (Torch7's optim.adam adds eps to
    sqrt(v_t) before the bias correction; the two agree unless v_t is as small as eps^2.)
    """

    name = "adam"
    lr_grid = _powers_of_two(-14, -1)
    slots = ("m", "v")
    hyper = _hyper(beta1=0.9, beta2=0.999, eps=1e-8)

    def step(self, grad, state):
        b1, b2, t = self.beta1, self.beta2, state["t"] + 1
        m = b1 * state["m"] + (1.0 - b1) * grad                                   # (n,)
        v = b2 * state["v"] + (1.0 - b2) * grad * grad                            # (n,)
        m_hat = m / (1.0 - b1 ** t)                                               # (n,)
        v_hat = v / (1.0 - b2 ** t)                                               # (n,)
        update = -self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)                   # (n,)
        return update, {"t": t, "m": m, "v": v}


HAND_OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, NAG, Adagrad, Adadelta, RMSprop, Adam)}


def make_hand_optimizer(name, lr=None):
    """The hand-designed optimizer called `name` (see HAND_OPTIMIZERS; any case), with learning
    rate lr (its default_lr when None)."""
    key = name.lower() if isinstance(name, str) else None
    if key not in HAND_OPTIMIZERS:
        raise UsageError(f"unknown optimizer {name!r}: choose one of "
                         f"{', '.join(HAND_OPTIMIZERS)}")
    return HAND_OPTIMIZERS[key](lr=lr)
