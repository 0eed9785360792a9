"""The checks of chapter 4's meta-gradient exercise: one truncation's meta-gradient by hand, over
drawn truncations (K, w_t, the meta-batch, the DM optimizer and RNNprop, a quadratic and an MLP
whose Hessian varies), with and without second derivatives, against the autograd engine and a
stencil of the meta-loss. Shared tools: minil2o/workbook/checks_optimizees.py."""
import numpy as np

from ..backend import asarray, to_numpy
from ..gradcheck import rel_error
from ..meta import unroll, unroll_loss
from ..meta_engine import engine_meta_gradient
from ..optimizers.learned import DMOptimizer, RNNprop
from ..problems.mlp import MLPFamily
from ..problems.quadratic import QuadraticProblem

from .lookup import impl
from .measure import draw_dims, float32_case, guarded_call, Measure, rounded, shape_and_dtype, TOL


# -- the meta-gradient (chapter 4) ----------------------------------------------------------------
DROPPED = "(4.1) to (4.4), chapter 4"
"""The equations of the meta-gradient with the dashed edges dropped."""

KEPT = "(4.1) to (4.5), chapter 4"
"""The equations of the meta-gradient with the dashed edges kept ((4.5): second derivatives)."""


META_REGIMES = (("mlp", "dm", True), ("quadratic", "rnnprop", False), ("mlp", "rnnprop", True),
                ("quadratic", "dm", False), ("mlp", "dm", False), ("quadratic", "rnnprop", True),
                ("mlp", "rnnprop", False), ("quadratic", "dm", True))
"""(problem, optimizer, second_derivatives), spread over the cases: each pair, both ways. Only the
MLP's Hessian varies with theta, so only there can an HVP at the wrong theta show."""


H_STENCIL = 3e-4
"""The step of the 6-point stencil along a direction of phi: truncation O(h^6) and rounding
O(eps L / h) both stay near 1e-11 relative. Every function on the way is smooth: the MLP's
activation is tanh or sigmoid, the DM optimizer with second derivatives has no preprocessing, and
RNNprop's ELU sees positive inputs only (meta_setup)."""


META_F32 = 1e-3
"""The bar of a float32 meta-gradient against its float64 answer: float32 rounding, amplified over
K steps of the optimizer (RNNprop divides by sqrt(v)) and the optimizee, reaches ~2e-6 relative;
a float32-only mistake is larger, and the dtype contracts are checked as everywhere."""


DIRECTIONS = 3
"""Random directions of phi along which the meta-gradient is compared with central differences
(several, so that one direction nearly orthogonal to d_phi cannot inflate the relative error)."""


def draw_weights(rng, K, kind):
    """w_1..w_K: 'random' in [0.2, 2]; 'last' (w_K = 1, the rest 0: RNNprop's meta-loss); 'some
    zero' (random, about half of them 0, never all)."""
    if kind == "last":
        return [0.0] * (K - 1) + [1.0]
    w = [float(x) for x in rng.uniform(0.2, 2.0, K)]
    if kind == "some zero":
        w = [x if keep else 0.0 for x, keep in zip(w, rng.random(K) < 0.5)]
        w[int(rng.integers(0, K))] = 1.5
    return w


def draw_meta(case):
    """The settings of a meta-gradient case: the regime (problem, optimizer, second derivatives),
    K (1 to 6: never the chapter's 5 alone), the weights w_t, the meta-batch size B (1 to 3)."""
    rng, i = case.rng, case.index
    problem, opt, second = META_REGIMES[i % len(META_REGIMES)]
    K = 1 if i % len(META_REGIMES) == 6 else int(rng.integers(2, 7))
    kind = ("random", "last", "some zero")[i % 3]
    weights = draw_weights(rng, K, kind)
    B = 2 if i == 0 else int(rng.integers(1, 4))
    case.note(problem=problem, optimizer=opt, second_derivatives=second, K=K, B=B,
              w_t=f"{kind} {[round(w, 2) for w in weights]}",
              dtype="float32 and float64" if float32_case(case, every=3) else "float64")
    case.default(second_derivatives=False, K=5, B=1, w_t="1")
    return {"problem": problem, "opt": opt, "second": second, "K": K, "weights": weights, "B": B,
            "seed": int(rng.integers(2 ** 31)), "layers": int(rng.integers(1, 3)),
            "d": draw_dims(rng, 1, 1, 4)[0], "activation": ("tanh", "sigmoid")[i % 2]}


def meta_setup(s, dtype):
    """The optimizer, phi, problem, theta_0, state_0 and K+1 batches of settings s, in dtype, from
    s's own seed (so a float32 case and its float64 twin hold the same numbers, up to rounding of
    the same draws). With second derivatives the steps are large (DM: no preprocessing, output
    scale 0.5; RNNprop: alpha 0.5), so that the dashed edges and the Hessian's change matter."""
    rng = np.random.default_rng(s["seed"])
    if s["opt"] == "dm":
        opt = DMOptimizer(hidden=3, num_layers=s["layers"],
                          preprocess="none" if s["second"] else "log",
                          output_scale=0.5 if s["second"] else 0.3)
    else:
        opt = RNNprop(hidden=3, num_layers=s["layers"], alpha=0.5 if s["second"] else 0.2)
    phi = {k: to_numpy(v) + 0.3 * rng.standard_normal(v.shape)
           for k, v in opt.init_params(rng, "float64").items()}   # non-zero biases too
    if s["opt"] == "rnnprop":      # ELU's input x W_in + b_in > 0: no kink for the differences
        phi["Win"] = np.clip(0.3 * phi["Win"], -0.5, 0.5)          # |x_0| <= 1, |x_1| <= 4.5
        phi["bin"] = 3.5 + 0.5 * rng.random(phi["bin"].shape)
    phi = {k: asarray(rounded(v, "float32"), dtype=dtype) for k, v in phi.items()}
    if s["problem"] == "quadratic":
        B, d = s["B"], s["d"] + 1
        problem = QuadraticProblem(asarray(rounded(rng.standard_normal((B, d, d)), "float32"),
                                           dtype=dtype),
                                   asarray(rounded(rng.standard_normal((B, d)), "float32"),
                                           dtype=dtype), dtype=dtype)
        batches = [None] * (s["K"] + 1)
    else:
        X = rounded(rng.standard_normal((8, 3)), "float32")
        family = MLPFamily(X, rng.integers(0, 3, 8), hidden=(4,), activation=s["activation"],
                           batch_size=4, num_classes=3, init_std=1.0, dtype=dtype)
        problem = family.sample_many(rng, s["B"])
        batches = [problem.sample_batch(rng) for _ in range(s["K"] + 1)]
    theta = asarray(rounded(rng.standard_normal(problem.n), "float32"), dtype=dtype)
    return opt, phi, problem, theta, opt.init_state(problem.n, dtype), batches


def meta_call(s, dtype):
    """Run meta_gradient on the set-up of s in dtype, guarding every input. Returns
    ({'d_phi[k]': array}, [contract Measures], the set-up, the Truncation)."""
    opt, phi, problem, theta, state, batches = setup = meta_setup(s, dtype)
    tr = unroll(opt, phi, problem, theta, state, batches)
    weights = list(s["weights"])
    fn = impl("meta_gradient")
    d_phi, kept = guarded_call(
        lambda phi, weights, thetas, grads, caches, last: fn(opt, phi, problem, tr, weights,
                                                             second_derivatives=s["second"]),
        (phi, weights, tr.thetas, tr.grads, tr.caches, tr.state),
        ["phi", "weights", "tr.thetas", "tr.grads", "tr.caches", "tr.state"])
    got = {f"d_phi[{k}]": d_phi.get(k) if isinstance(d_phi, dict) else None for k in phi}
    return got, kept, setup, tr


def along(d_phi, directions):
    """<d_phi, u> for each direction u (a dict like phi), as a host vector."""
    return np.array([sum(float(np.sum(to_numpy(d_phi[k]) * u[k])) for k in u)
                     for u in directions])


def stencil(loss, phi, directions, h=H_STENCIL):
    """The derivative of loss(**phi) along each direction u by the 6-point stencil
    (45 D(h) - 9 D(2h) + D(3h)) / 60 h with D(s) = L(phi + s u) - L(phi - s u), error O(h^6)."""
    def D(u, step):
        return float(to_numpy(loss(**shifted(phi, u, step))) - to_numpy(loss(**shifted(phi, u,
                                                                                   -step))))
    return np.array([(45.0 * D(u, h) - 9.0 * D(u, 2 * h) + D(u, 3 * h)) / (60 * h)
                     for u in directions])


def shifted(phi, u, step):
    """phi + step u, key by key (u: host arrays)."""
    return {k: v + asarray(step * u[k], dtype="float64") for k, v in phi.items()}


def meta_references(s, setup, tr, got, rng):
    """The Measures of a float64 case. Dropped edges: d_phi against the autograd engine entry by
    key, and along DIRECTIONS random directions against central differences (stencil) of
    unroll_loss with the optimizee's gradients held at their recorded values. Second derivatives:
    along DIRECTIONS random directions against the stencil of the plain unroll_loss."""
    opt, phi, problem, theta, state, batches = setup
    w = s["weights"]
    d_phi = {k: got[f"d_phi[{k}]"] for k in phi}
    directions = [{k: rng.standard_normal(v.shape) for k, v in phi.items()}
                  for _ in range(DIRECTIONS)]
    if s["second"]:
        loss = lambda **p: unroll_loss(opt, p, problem, theta, state, batches, w)  # noqa: E731
        return [Measure(f"d_phi along {DIRECTIONS} random directions (second derivatives)",
                        rel_error(along(d_phi, directions), stencil(loss, phi, directions)),
                        TOL, KEPT, "relative error against central differences of the meta-loss")]
    _, engine = engine_meta_gradient(opt, phi, problem, theta, state, batches, w)
    held = lambda **p: unroll_loss(opt, p, problem, theta, state, batches, w,  # noqa: E731
                                   tr.grads[:s["K"]])
    return [*[Measure(f"d_phi[{k}]", rel_error(d_phi[k], engine[k]), TOL, DROPPED,
                      "relative error against the autograd engine") for k in phi],
            Measure(f"d_phi along {DIRECTIONS} random directions",
                    rel_error(along(d_phi, directions), stencil(held, phi, directions)), TOL,
                    DROPPED, "relative error against central differences, gradients held")]


def meta_gradient(case):
    """meta_gradient(opt, phi, problem, tr, weights, second_derivatives) over truncations of K = 1
    to 6 steps, with weights w_t random positive, 'last' and partly zero, meta-batches of B = 1 to
    3 problems (the 1/B), the DM optimizer and RNNprop (1 or 2 LSTM layers), on quadratics and on
    a small MLP whose Hessian varies with theta, with and without second derivatives: against the
    autograd engine and central differences of unroll_loss (meta_references); phi, the weights and
    the truncation left as they were."""
    s = draw_meta(case)
    got, kept, setup, tr = meta_call(s, "float64")
    phi = setup[1]
    like = {f"d_phi[{k}]": v for k, v in phi.items()}
    shapes = shape_and_dtype(got, like)
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    found = [*kept, *shapes, *meta_references(s, setup, tr, got, case.rng)]
    if float32_case(case, every=3):          # every regime of META_REGIMES in turn
        found += meta_float32(s, {k: (tuple(v.shape), "float32") for k, v in like.items()})
    return found


def meta_float32(s, like):
    """The float32 twin of a case: d_phi's shapes and dtypes, and all of d_phi (one vector: a
    small entry's relative rounding is no measure) against the float64 answer at META_F32."""
    got, kept = meta_call(s, "float32")[:2]
    shapes = shape_and_dtype(got, like)
    if not all(m.right for m in shapes):
        return [*kept, *shapes]
    want = meta_call(s, "float64")[0]
    flat = lambda d: np.concatenate([to_numpy(d[k]).ravel() for k in like])  # noqa: E731
    return [*kept, *shapes, Measure("d_phi", rel_error(flat(got), flat(want)), META_F32,
                                    kind="float32 against float64")]
