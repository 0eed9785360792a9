"""Evaluation, the one pipeline every comparison goes through (`minil2o evaluate`, `minil2o demo`,
`minil2o reproduce` and the tutorials):

    trajectory          the optimization loop: any optimizer, learned or hand-designed, on one problem
    learning_curves     that loop on sampled problems: the losses per step, (P, steps + 1)
    CRITERIA            what one run scores: the final loss, the mean loss over the horizon, or
                        Lv et al.'s loss at the final parameters (criterion_values)
    tune_learning_rate  grid search of a hand-designed optimizer's learning rate, as both papers
                        tuned their baselines: coarse to fine, the grid extended while the best
                        rate is at its edge
    compare             tuned baselines and learned optimizers on the same fresh test problems,
                        its settings one CompareSettings

A run that produces a NaN or infinite loss is *marked*: its curve holds NaN from that step on. A run
has diverged when it is marked or its loss rises above 1e3 times its initial loss at some step
(statistics.diverged); summaries and scores count it as diverged instead of averaging it in.
"""
import math
from collections import namedtuple
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from ..backend import all_finite, to_float
from ..errors import UsageError
from ..fast_lstm import Workspace
from ..validate import check_positive_int, check_seed
from .statistics import diverged, paired_difference

BASELINES = ("sgd", "nag", "rmsprop", "adam")   # the hand-designed optimizers both papers compare with
LV_BATCHES = 10            # minibatches on which Lv et al.'s loss evaluates the final parameters
CRITERIA = {
    "final": "the loss at the last step T (the minibatch loss f(theta_T))",
    "horizon-mean": "the mean loss over the horizon, (1/T) sum_{t=1..T} f(theta_t) (Andrychowicz"
                    " et al. eq. 3 with w_t = 1: what the DM optimizer is trained for)",
    "lv": f"Lv et al.'s reported loss: the mean loss at the final parameters theta_T over "
          f"{LV_BATCHES} further minibatches (Lv et al. section 5)",
}


def fit_to_problem(optimizer, problem):
    """A per-group learned optimizer set to the problem's group sizes; any other as it is."""
    return optimizer.for_problem(problem) if hasattr(optimizer, "for_problem") else optimizer


# One step of trajectory(): t, the loss f_t, the gradient g_t, the update u_t and theta_{t+1}.
Step = namedtuple("Step", "t loss grad update next_theta")


def trajectory(problem, optimizer, steps, rng):
    """The run of `optimizer` on `problem` for `steps` steps from theta_0 = problem.init(rng), one
    step at a time. At step t a fresh minibatch gives the loss f_t and the gradient g_t at theta_t;
    for t < steps the optimizer turns g_t into the update u_t and theta_{t+1} = theta_t + u_t.

    Yields Step(t, f_t, g_t, u_t, theta_{t+1}) for t = 0..steps (update and next_theta None at
    t = steps, where only the loss is evaluated). A gradient holding NaN or Inf ends the run at
    that step the same way, before the optimizer sees it (the run has diverged). The run is lazy: a
    caller that stops early draws no further minibatches from rng. A learned optimizer's LSTM
    steps run in a workspace that keeps no caches (minil2o.fast_lstm, on NumPy): the state of a
    step lives there until the step after next, and only the loop sees it. The workspace is this
    run's own, made here (a workspace belongs to its caller, the unroll; nothing above makes one).
    """
    optimizer = fit_to_problem(optimizer, problem)
    theta = problem.init(rng)                                         # (n,)
    state = optimizer.init_state(problem.n, problem.dtype)
    workspace = Workspace()
    for t in range(steps + 1):
        f, grad = problem.loss_and_grad(theta, problem.sample_batch(rng))  # (), (n,)
        if t == steps or not all_finite(grad):
            yield Step(t, f, grad, None, None)
            return
        with workspace.step():
            update, state = optimizer.step(grad, state)               # (n,)
        theta = theta + update                                        # theta_{t+1} = theta_t + u_t
        yield Step(t, f, grad, update, theta)


def run_optimizer(problem, optimizer, steps, rng, final_batches=0):
    """Optimize one problem for `steps` steps from problem.init(rng).

    Returns the losses f(theta_0..theta_steps) as a host array (steps + 1,), each divided by
    problem.num_problems; NaN from the first non-finite loss on (the run stops there). With
    final_batches = K, K more entries follow: the loss at theta_steps on K further minibatches
    (Lv et al.'s metric, criterion "lv"); the first steps + 1 entries are unchanged by K.
    """
    steps = check_positive_int(steps, "steps")
    losses, theta = np.full(steps + 1 + final_batches, np.nan), None
    for step in trajectory(problem, optimizer, steps, rng):
        f = to_float(step.loss) / problem.num_problems  # (numpy warns on overflow: marked, not averaged)
        if not math.isfinite(f):
            return losses
        losses[step.t] = f
        if step.next_theta is None and step.t < steps:             # diverged: its gradient
            return losses
        theta = theta if step.next_theta is None else step.next_theta
    for k in range(final_batches):
        f = to_float(problem.loss(theta, problem.sample_batch(rng))) / problem.num_problems
        if not math.isfinite(f):
            break
        losses[steps + 1 + k] = f
    return losses


def final_theta(problem, optimizer, steps, rng):
    """theta_steps after `steps` steps of `optimizer` from problem.init(rng) (the loss there is not
    evaluated: no minibatch is drawn for it)."""
    *_, last = islice(trajectory(problem, optimizer, steps, rng), steps)
    return last.next_theta


def learning_curves(family, optimizer, num_problems, steps, seed, final_batches=0):
    """Curves of `optimizer` on `num_problems` problems drawn from `family` with `seed`:
    (P, steps + 1), + final_batches columns (run_optimizer). Problem i is drawn from its own
    Generator (seed, i), so every optimizer sees the same problems and minibatches."""
    num_problems = check_positive_int(num_problems, "num_problems")
    steps, seed = check_positive_int(steps, "steps"), check_seed(seed)
    curves = []
    for i in range(num_problems):
        rng = np.random.default_rng([seed, i])
        curves.append(run_optimizer(family.sample(rng), optimizer, steps, rng, final_batches))
    return np.stack(curves)


def final_batches(criterion):
    """How many minibatches after the last step a criterion evaluates (LV_BATCHES for "lv")."""
    if criterion not in CRITERIA:
        raise UsageError(f"unknown criterion {criterion!r}: choose one of {', '.join(CRITERIA)}")
    return LV_BATCHES if criterion == "lv" else 0


def criterion_values(curves, steps, criterion):
    """Each run's score under `criterion` (CRITERIA): (P,) from curves (P, steps + 1 [+ K]); NaN
    where the run diverged (a NaN in the part of its row the criterion reads: the trajectory, and
    for "lv" the K evaluations after it)."""
    read = curves if final_batches(criterion) else curves[:, :steps + 1]
    if criterion == "final":
        values = curves[:, steps]
    elif criterion == "horizon-mean":
        values = curves[:, 1:steps + 1].mean(axis=1)
    else:
        values = curves[:, steps + 1:].mean(axis=1)
    return np.where(diverged_rows(read), np.nan, values)


def diverged_rows(curves):
    """Boolean (P,): the runs that diverged, a NaN in their row or a loss above
    DIVERGENCE_FACTOR times their initial loss (statistics.diverged) at any step."""
    worst = np.where(np.isnan(curves), np.inf, curves).max(axis=1)          # (P,)
    return diverged(worst, curves[:, 0])


def curves_for(curves, criterion):
    """curves (a learning_curves-like function) asking for the minibatches `criterion` needs."""
    k = final_batches(criterion)
    return curves if k == 0 else (lambda *args: curves(*args, final_batches=k))


def summarize(curves):
    """Mean and standard error over the problems that did not diverge, per step, and the number
    of diverged runs (diverged_rows). curves: (P, S) with NaN after divergence."""
    ok = ~diverged_rows(curves)
    good = curves[ok]
    if len(good) == 0:
        nan = np.full(curves.shape[1], np.nan)
        return nan, nan, int((~ok).sum())
    stderr = good.std(axis=0, ddof=1) / math.sqrt(len(good)) if len(good) > 1 else 0 * good[0]
    return good.mean(axis=0), stderr, int((~ok).sum())


def tune_learning_rate(family, make_optimizer, grid, num_problems=10, steps=100, seed=1,
                       curves=learning_curves, criterion="final", extend=0, stride=1):
    """Grid search: the learning rate with the lowest mean score (CRITERIA) over sampled problems.

    make_optimizer: lr -> optimizer. A rate whose runs diverge scores +inf. curves: what computes
    the learning curves (learning_curves, or a cache in front of it). The search runs coarse to
    fine: first every `stride`-th rate of the grid (stride 1: all of them), then, while a rate
    next to the best one on the grid is untried, those rates (a walk towards the best, which stops
    once both neighbours of the best are tried and worse). While the best rate is the grid's
    smallest or largest, up to `extend` more rates are added beyond it, one at a time (the grid's
    own ratio further). Returns (best_lr, scores), scores a dict lr -> mean score over the tried
    rates in increasing order.
    """
    if len(grid) == 0:
        raise UsageError("the learning-rate grid is empty")
    bad = [lr for lr in grid if isinstance(lr, bool) or not isinstance(lr, (int, float))
           or not 0 < lr < math.inf]
    if bad:
        raise UsageError(f"learning rates {bad} are not allowed: each must be a positive number")
    stride = check_positive_int(stride, "stride")
    run, scores, rates, added = curves_for(curves, criterion), {}, sorted(set(grid)), 0

    def score(lr):
        values = criterion_values(run(family, make_optimizer(lr), num_problems, steps, seed),
                                  steps, criterion)
        scores[lr] = float(values.mean()) if np.all(np.isfinite(values)) else math.inf

    for lr in rates[((len(rates) - 1) % stride) // 2::stride]:       # coarse: centred on the grid
        score(lr)
    while True:
        best = min(scores, key=lambda lr: (scores[lr], lr))
        if len(rates) > 1 and added < extend and best in (rates[0], rates[-1]):
            edge, inner = (rates[0], rates[1]) if best == rates[0] else (rates[-1], rates[-2])
            rates, added = sorted(rates + [edge * edge / inner]), added + 1  # one step beyond
        k = rates.index(best)
        untried = [lr for lr in rates[max(k - 1, 0):k + 2] if lr not in scores]
        if not untried:
            break
        for lr in untried:
            score(lr)
    scores = {lr: scores[lr] for lr in sorted(scores)}
    return min(scores, key=lambda lr: scores[lr]), scores


def tuning_record(best, scores, extend, stride=1):
    """What a tuning run leaves in the JSON: the rates tried, their scores, the chosen position,
    whether it is interior (both neighbours tried and worse), how many rates the grid could grow
    by beyond an edge, and the stride of the coarse pass."""
    grid = list(scores)
    chosen = grid.index(best)
    kept = [None if not math.isfinite(scores[lr]) else float(f"{scores[lr]:.5g}") for lr in grid]
    return {"grid": grid, "scores": kept, "chosen": chosen,
            "interior": 0 < chosen < len(grid) - 1, "extension_limit": extend, "stride": stride}


@dataclass(frozen=True)
class CompareSettings:
    """How compare tunes the baselines and tests every optimizer (checked when made):

    steps       the horizon T of every run
    num_test    the test problems, drawn with seed + 2, on which every optimizer runs
    num_tune    the tuning problems, drawn with seed + 1, on which each learning rate is scored
    seed        the comparison's seed
    grids       baseline name -> its learning-rate grid (default: the class's lr_grid)
    criterion   what one run scores (CRITERIA), for tuning and for the per-problem values
    extend      how many rates a grid may grow by while its best rate sits at an edge
    stride      tuning's coarse pass tries every stride-th rate first (tune_learning_rate)
    """
    steps: int
    num_test: int = 100
    num_tune: int = 20
    seed: int = 0
    grids: dict = field(default_factory=dict)
    criterion: str = "final"
    extend: int = 0
    stride: int = 1

    def __post_init__(self):
        for name in ("steps", "num_test", "num_tune", "stride"):
            object.__setattr__(self, name, check_positive_int(getattr(self, name), name))
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "grids", dict(self.grids or {}))
        final_batches(self.criterion)                  # an unknown criterion fails here


def compare(family, learned, baselines, settings, tune_family=None, curves=learning_curves,
            log=print):
    """Learned optimizers against hand-designed ones with tuned learning rates, on the same fresh
    problems. The data are the arguments; how to tune and test is `settings` (CompareSettings).

    learned:     dict label -> learned optimizer (with phi)
    baselines:   names of hand-designed optimizers (minil2o.optimizers.hand), each tuned on
                 settings.num_tune problems of tune_family (default: family) for the settings'
                 criterion over its grid, coarse to fine (tune_learning_rate)
    curves:      what computes learning curves (learning_curves, or a cache in front of it)
    Every optimizer is then run on the same settings.num_test problems of family. Returns a dict
    label -> {"lr", "grid_scores" and "tuning" (baselines), "curves" (num_test, steps + 1),
    "values" (num_test,) the criterion per test problem, "mean", "stderr", "diverged"}.
    compare holds no workspace and takes none: each run's loop (trajectory) makes its own, as a
    workspace belongs to its caller, so comparisons may run side by side in threads.
    """
    from ..optimizers.hand import HAND_OPTIMIZERS, make_hand_optimizer
    if not isinstance(settings, CompareSettings):
        raise UsageError(f"compare's settings must be a CompareSettings(steps, ...), got "
                         f"{type(settings).__name__}")
    for name in baselines:
        make_hand_optimizer(name)                     # an unknown name fails now, not after tuning
    s, results = settings, {}
    for name in baselines:
        make = lambda lr, name=name: make_hand_optimizer(name, lr)
        cls = HAND_OPTIMIZERS[name.lower()]
        lr, scores = tune_learning_rate(tune_family or family, make,
                                        s.grids.get(name, cls.lr_grid), s.num_tune, s.steps,
                                        s.seed + 1, curves, s.criterion, s.extend, s.stride)
        log(f"tuned {name}" + ("" if s.criterion == "final" else f" for the {s.criterion} loss")
            + f": lr = {lr:g}")
        results[cls.__name__] = {"lr": lr, "grid_scores": scores, "optimizer": make(lr),
                                 "tuning": tuning_record(lr, scores, s.extend, s.stride)}
    for label, opt in learned.items():
        results[label] = {"lr": None, "optimizer": opt}
    run = curves_for(curves, s.criterion)
    for label, r in results.items():
        full = run(family, r.pop("optimizer"), s.num_test, s.steps, s.seed + 2)
        r["curves"] = full[:, :s.steps + 1]                                 # (num_test, steps + 1)
        r["values"] = criterion_values(full, s.steps, s.criterion)          # (num_test,)
        r["mean"], r["stderr"], r["diverged"] = summarize(r["curves"])
    return results


def format_table(results, step=None, reference=None):
    """The comparison as a text table: mean loss (and standard error) at `step` (default: last).
    With `reference` (a label of results) and the last step, a last column gives each optimizer's
    paired difference to it on the shared test problems (its loss minus the reference's, problem
    by problem) with the 95% t-interval (minil2o.evaluation.statistics): positive where the
    reference ends lower."""
    s = len(next(iter(results.values()))["mean"]) - 1 if step is None else step
    paired = reference is not None and step is None
    width = max(16, 2 + max(len(label) for label in results))
    lines = [f"{'optimizer':<{width}}{'learning rate':>14}{f'loss at step {s}':>22}"
             f"{'log10':>8}{'diverged':>10}"
             + (f"   minus {reference}: paired, 95%" if paired else "")]
    last = lambda kv: (np.isnan(kv[1]["mean"][s]), kv[1]["mean"][s])  # diverged-everywhere last
    for label, r in sorted(results.items(), key=last):
        mean, se = r["mean"][s], r["stderr"][s]
        lr = "-" if r["lr"] is None else f"{r['lr']:g}"
        line = (f"{label:<{width}}{lr:>14}{f'{mean:.4g} ± {se:.2g}':>22}{np.log10(mean):>8.2f}"
                f"{r['diverged']:>10d}")
        if paired and label != reference:
            d = paired_difference(r["values"], results[reference]["values"])
            line += "   " + ("-" if d["low"] is None else
                             f"{d['mean']:+.3g} [{d['low']:+.3g}, {d['high']:+.3g}]")
        lines.append(line)
    return "\n".join(lines)
