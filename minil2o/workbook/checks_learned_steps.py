"""The checks of one learned optimizer step backwards (chapters 4 and 9): the DM optimizer's and
RNNprop's step_backward, over drawn LSTM sizes and layers, every setting (preprocessing, p, output
scale, alpha, betas, eps), need_d_grad both ways, against the autograd engine through the LSTM and
a host closed form through the inputs. Shared tools: minil2o/workbook/checks_learned.py."""
import numpy as np

from ..autograd import Tensor
from ..backend import asarray
from ..gradcheck import rel_error
from ..meta_engine import lstm_stack
from ..optimizers.learned import DMOptimizer
from .checks_learned import MODES, TERMS, draw_setting, terms_error
from .checks_preprocessing import chained, draw_p, host_jacobian, host_preprocess, preprocess_grads
from .checks_rnnprop import (BACKWARD_KINDS, host_relative_backward, host_relative_inputs, moments,
                             rnnprop_opt)
from .lookup import impl
from .measure import (contract, draw_dims, F32, float32_case, guarded_call, host, Measure, named,
                      rounded, shape_and_dtype, TOL)


F32_LSTM = 2e-3
"""The bar of a float32 gradient that comes back through the LSTM stack to its input (a step's
d grad, and RNNprop's d m_prev, d v_prev): float32's 1e-7 grows by cancellation in the stack's
backward pass to 8e-6 for a right answer in the worst of 1,440 drawn cases (60 seeds), so a
right answer scores under 1/100 of this bar; wrong math shows ~1 in the float64 cases."""


def host_phi(opt, rng):
    """The optimizer's initial parameters plus N(0, 0.1^2) noise (non-zero biases), on the host."""
    return {k: host(v) + 0.1 * rng.standard_normal(tuple(v.shape))
            for k, v in opt.init_params(rng, "float64").items()}


def host_lstm_state(opt, rng, n):
    """h{l}, c{l}: (n, H) entries N(0, 0.5^2), on the host."""
    return {f"{hc}{layer}": 0.5 * rng.standard_normal((n, opt.hidden))
            for layer in range(1, opt.num_layers + 1) for hc in "hc"}


def engine_gradients(opt, phi, state, x, d_update, d_state, readout):
    """The gradient of <update, d_update> + sum_k <state'_k, d_state_k> with respect to phi, the
    LSTM state and the step's input x (host float64 arrays in, host arrays out), by the autograd
    engine. readout: (the LSTM's input from (phi, x), update from (phi, top)) in engine ops."""
    phi_t = {k: Tensor(asarray(v, "float64")) for k, v in phi.items()}
    state_t = {k: Tensor(asarray(v, "float64")) for k, v in state.items()}
    x_t = Tensor(asarray(x, "float64"))
    lstm_in, make_update = readout
    top, new_state = lstm_stack(phi_t, lstm_in(phi_t, x_t), state_t, opt.num_layers)
    total = (make_update(phi_t, top) * asarray(d_update, "float64")).sum()
    for k, t in new_state.items():
        total = total + (t * asarray(d_state[k], "float64")).sum()
    total.backward()
    return ({k: host(t.grad) for k, t in phi_t.items()},
            {k: host(t.grad) for k, t in state_t.items()}, host(x_t.grad))


def dm_readout(opt):
    """The DM step in engine ops around the LSTM stack: x goes in as it is, and
    update = output_scale (top Wout + bout)[:, 0]."""
    return (lambda phi, x: x,
            lambda phi, top: (top @ phi["Wout"] + phi["bout"])[:, 0] * opt.output_scale)


def rnnprop_readout(opt):
    """RNNprop's step in engine ops around the LSTM stack: z = ELU(x Win + bin) goes in, and
    update = -alpha tanh(top Wout + bout)[:, 0] (9.3)."""
    return (lambda phi, x: (x @ phi["Win"] + phi["bin"]).elu(),
            lambda phi, top: (top @ phi["Wout"] + phi["bout"])[:, 0].tanh() * (-opt.alpha))


def step_call(case, name, opt, phi, state, grad, dtype, need_d_grad):
    """Run opt.step_forward on the inputs in `dtype`, draw the upstream gradients and call the
    function under test, guarding its inputs. Returns (the learner's outputs as a dict, the
    contracts kept, the host float64 values the function saw: phi, state, grad, d_update,
    d_state)."""
    n = grad.shape[0]
    on = {k: asarray(v, dtype=dtype) if isinstance(v, np.ndarray) else v for k, v in state.items()}
    phi_b = {k: asarray(v, dtype=dtype) for k, v in phi.items()}
    _, new_state, cache = opt.step_forward(phi_b, asarray(grad, dtype=dtype), on)
    d_state = {k: asarray(case.rng.standard_normal(tuple(v.shape)), dtype=dtype)
               for k, v in new_state.items() if k != "t"}
    d_update = asarray(case.rng.standard_normal(n), dtype=dtype)
    got, kept = guarded_call(impl(name), (opt, phi_b, d_update, d_state, cache, need_d_grad),
                             [None, "phi", "d_update", "d_state", "cache", None])
    got = named(("d_phi", "d_state_prev", "d_grad"), got, "values")
    seen = ({k: host(v) for k, v in phi_b.items()},
            {k: host(v) if hasattr(v, "shape") else v for k, v in on.items()},
            rounded(grad, dtype), host(d_update), {k: host(v) for k, v in d_state.items()})
    return got, kept, seen


def dict_contracts(got, name, like, dtype):
    """Contracts: `got` is a dict holding an array shaped like like[k] in `dtype` for each k."""
    if not isinstance(got, dict):
        return [contract(name, False, f"returned {type(got).__name__}, expected a dict")]
    return shape_and_dtype({f"{name}[{k}]": got.get(k) for k in like},
                           {f"{name}[{k}]": (v.shape, dtype) for k, v in like.items()})


def compared(got, want, dtype, equation, prefix):
    """In float64, rel_error of each got[k] against want[k] (host arrays), one Measure each; in
    float32, one rel_error over all of them laid end to end (a single entry such as d bout, a sum
    of n terms, can lose far more than float32's 1e-7 to cancellation)."""
    if dtype == "float32":
        flat = [np.concatenate([host(d[k]).ravel() for k in want]) for d in (got, want)]
        return [Measure(f"{prefix} (every entry)", rel_error(*flat), F32, equation,
                        "relative error (float32 against float64)")]
    return [Measure(f"{prefix}[{k}]", rel_error(got[k], want[k]), TOL, equation) for k in want]


def step_case(case, layers_cycle=(3, 1, 2)):
    """Draw the settings a step shares (by case index where a few values cover them): layers,
    hidden, n, dtype, need_d_grad (False in one case in four). Returns them."""
    num_layers = layers_cycle[(case.index // 3) % len(layers_cycle)]
    hidden, n = draw_dims(case.rng, 2, 1, 5)[0], draw_dims(case.rng, 1, 1, 7)[0]
    dtype = "float32" if float32_case(case) else "float64"
    need_d_grad = case.index % 4 != 1
    case.note(num_layers=num_layers, hidden=hidden, n=n, dtype=dtype, need_d_grad=need_d_grad)
    case.default(num_layers=2)
    return num_layers, hidden, n, dtype, need_d_grad


def dm_step_backward(case):
    """DMOptimizer.step_backward(opt, phi, d_update, d_state, cache, need_d_grad) with every mode,
    p in [2, 25], output_scale log-uniform in [0.01, 10], 1 to 3 layers of 1 to 5 units, n in 1..7,
    gradients on both sides of e^-p (0.1% from it at least), against the autograd engine: d_phi
    and d_state_prev per entry of the dict, d_grad = the engine's gradient on x carried back by
    the host's derivative of (A), entry by entry. Contract: d_grad is None without need_d_grad;
    shapes and dtypes like phi, d_state and grad; the inputs (phi, d_update, d_state, cache) left
    as they were."""
    num_layers, hidden, n, dtype, need_d_grad = step_case(case)
    mode = MODES[case.index % len(MODES)]
    p = draw_p(case.rng)
    scale = draw_setting(case.rng, 0.01, 10.0, 0.1)
    case.note(mode=mode, p=p, output_scale=scale)
    case.default(mode="log", p=10.0, output_scale=0.1)
    opt = DMOptimizer(hidden, num_layers, mode, p, scale)
    kinds = ("small", "large", "near") + (("zero",) if mode != "clamped" else ())
    g = preprocess_grads(case.rng, n, p, case.index, kinds)
    phi, state = host_phi(opt, case.rng), host_lstm_state(opt, case.rng, n)
    got, kept, (phi, state, g, d_update, d_state) = step_call(
        case, "dm_step_backward", opt, phi, state, g, dtype, need_d_grad)
    found = [*kept, *dict_contracts(got["d_phi"], "d_phi", phi, dtype),
             *dict_contracts(got["d_state_prev"], "d_state_prev", state, dtype)]
    if need_d_grad:
        found += shape_and_dtype({"d_grad": got["d_grad"]}, {"d_grad": ((n,), dtype)})
    else:
        found.append(contract("d_grad", got["d_grad"] is None, "expected None: need_d_grad is "
                              "False, so d grad is not computed"))
    if not all(m.right for m in found):
        return found
    x = host_preprocess(g, mode, p)
    d_phi, d_prev, dx = engine_gradients(opt, phi, state, x, d_update, d_state, dm_readout(opt))
    found += compared(got["d_phi"], d_phi, dtype, "(4.4), chapter 4", "d_phi")
    found += compared(got["d_state_prev"], d_prev, dtype, "(4.8), chapter 4", "d_state_prev")
    if need_d_grad:
        values, terms = chained(dx, [host_jacobian(g, mode, p)])
        found.append(through_lstm("d_grad", got["d_grad"], values[0], terms, dtype,
                                  "the derivative of (A), Appendix A"))
    return found


def through_lstm(name, value, want, terms, dtype, equation):
    """A gradient that came back through the LSTM stack: in float64 entry by entry against the
    size of its terms; in float32 as one relative error at F32_LSTM (the float32 stack's
    rounding, ~1e-7 of its largest terms, can be far more of an entry small by cancellation)."""
    if dtype == "float32":
        return Measure(name, rel_error(value, want), F32_LSTM, equation,
                       "relative error (float32 against float64)")
    return Measure(name, terms_error(value, [want], terms), TOL, equation, TERMS)


def rnnprop_step_backward(case):
    """RNNprop.step_backward(opt, phi, d_update, d_state, cache, need_d_grad) with beta1, beta2,
    eps and alpha drawn, 1 to 3 layers of 1 to 5 units, n in 1..7, eps-sized moments among
    ordinary ones, from a fresh state or after some steps; against the autograd engine: d_phi and
    the LSTM state's gradients per entry of the dict; d m_prev, d v_prev, d grad = the engine's
    gradient on x carried back by the host's chain rule of (9.1), (9.2), entry by entry. Without
    need_d_grad, d grad may be None and d m_prev, d v_prev 0 (m and v do not depend on phi), or
    all of them computed. Contract: shapes and dtypes like phi and the state; the inputs left as
    they were."""
    num_layers, hidden, n, dtype, need_d_grad = step_case(case)
    opt = rnnprop_opt(case, hidden, num_layers)
    case.note(alpha=opt.alpha)
    case.default(alpha=0.1)
    fresh = case.index % 2 == 0
    g, m_prev, v_prev, t_prev, s = moments(case, opt, n, fresh,
                                           ("eps", "ordinary") if fresh else BACKWARD_KINDS)
    phi, state = host_phi(opt, case.rng), host_lstm_state(opt, case.rng, n)
    state.update(m=m_prev, v=v_prev, t=t_prev)
    got, kept, (phi, state, g, d_update, d_state) = step_call(
        case, "rnnprop_step_backward", opt, phi, state, g, dtype, need_d_grad)
    lstm = {k: v for k, v in state.items() if k[0] in "hc"}
    found = [*kept, *dict_contracts(got["d_phi"], "d_phi", phi, dtype),
             *dict_contracts(got["d_state_prev"], "d_state_prev", lstm, dtype)]
    prev = got["d_state_prev"] if isinstance(got["d_state_prev"], dict) else {}
    if need_d_grad:
        found += shape_and_dtype({"d_grad": got["d_grad"],
                                  **{f"d_state_prev[{k}]": prev.get(k) for k in "mv"}},
                                 {k: ((n,), dtype) for k in
                                  ("d_grad", "d_state_prev[m]", "d_state_prev[v]")})
    if not all(m.right for m in found):
        return found
    parts, x, *_ = host_relative_inputs(opt, g, state["m"], state["v"], t_prev)
    d_phi, d_prev, dx = engine_gradients(opt, phi, lstm, x, d_update, d_state,
                                         rnnprop_readout(opt))
    found += compared(got["d_phi"], d_phi, dtype, "(9.7) to (9.9), chapter 9", "d_phi")
    found += compared(got["d_state_prev"], d_prev, dtype, "(4.8), chapter 4", "d_state_prev")
    want, terms = host_relative_backward(opt, dx, g, d_state["m"], d_state["v"], parts)
    outputs = (("d_state_prev[m]", prev.get("m")), ("d_state_prev[v]", prev.get("v")),
               ("d_grad", got["d_grad"]))
    for (name, value), w, sc in zip(outputs, want, terms):
        if need_d_grad or not skipped(value):
            found.append(through_lstm(name, value, w, sc, dtype, "(9.10) to (9.13), chapter 9"))
    return found


def skipped(value):
    """Whether an output need_d_grad=False lets go uncomputed is so: None, or zero."""
    return value is None or (not hasattr(value, "shape") and value == 0) or \
        (hasattr(value, "shape") and not np.any(host(value)))
