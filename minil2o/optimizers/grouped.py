"""Several learned optimizers in one run, one per parameter group.

Andrychowicz et al. 2016 (section 3.3, Fig. 7) train two LSTM optimizers at once on a CNN: one
serves the convolutional parameters, the other the fully-connected ones. The problem names its
groups as slices of theta (problem.groups); this optimizer routes each slice to its own optimizer,
with its own parameters, and concatenates their updates:

    update[group] = m_group(grad[group], state[group]; phi_group)

Its phi is one flat dict with keys "<group>/<name>", so meta-training, Adam and checkpoints treat it
like any other learned optimizer; its backward pass is the group optimizers' backward passes.

A meta-batch of B problems (minil2o.problems.ProblemBatch) lays theta out group by group (group A of
every problem, then group B of every problem), so each group stays one slice, B times as long.
"""
import copy

from ..backend import xp
from ..errors import UsageError
from .learned import PublicStep


class PerGroupOptimizer(PublicStep):
    """One learned optimizer per parameter group (7.6), as in Andrychowicz et al., section 3.3.
    optimizers: dict group -> learned optimizer; sizes: dict group -> coordinates per problem.
    Its public step checks the gradient as a learned optimizer's does (PublicStep)."""

    kind = "per-group"

    def __init__(self, optimizers, sizes, phi=None):
        self.optimizers, self.sizes, self.phi = dict(optimizers), dict(sizes), phi

    def config(self):
        return {"kind": self.kind, "sizes": self.sizes,
                "optimizers": {g: opt.config() for g, opt in self.optimizers.items()}}

    def init_params(self, rng, dtype="float32"):
        return {f"{g}/{k}": v for g, opt in self.optimizers.items()
                for k, v in opt.init_params(rng, dtype).items()}

    def param_shapes(self):
        return {f"{g}/{k}": s for g, opt in self.optimizers.items()
                for k, s in opt.param_shapes().items()}

    def part(self, phi, group):
        """The parameters of one group's optimizer, without the group prefix."""
        prefix = f"{group}/"
        return {k[len(prefix):]: v for k, v in phi.items() if k.startswith(prefix)}

    def for_problem(self, problem):
        """This optimizer (the same group optimizers and phi) with the group sizes of `problem`:
        a problem with the same groups but other sizes, e.g. the CNN with 5 output classes where
        the optimizer was trained with 10, gets each group's coordinates routed right."""
        groups = problem.groups
        if set(groups) != set(self.optimizers):
            raise UsageError(f"the problem's parameter groups {sorted(groups)} are not this "
                             f"optimizer's {sorted(self.optimizers)}: use a problem of the same kind")
        fitted = copy.copy(self)
        fitted.sizes = {g: groups[g].stop - groups[g].start
                        for g in sorted(groups, key=lambda g: groups[g].start)}
        return fitted

    def slices(self, n):
        """Each group's slice of theta for n coordinates (n / sum(sizes) problems, group by group)."""
        per_problem = sum(self.sizes.values())
        if n % per_problem:
            raise ValueError(f"{n} coordinates are not a whole number of problems of {per_problem}")
        out, start = {}, 0
        for g, size in self.sizes.items():
            out[g] = slice(start, start + size * (n // per_problem))
            start = out[g].stop
        return out

    def init_state(self, n, dtype="float32"):
        return {g: self.optimizers[g].init_state(s.stop - s.start, dtype)
                for g, s in self.slices(n).items()}

    def step_forward(self, phi, grad, state):
        updates, new_state, caches = [], {}, {}
        for g, s in self.slices(grad.shape[0]).items():
            u, new_state[g], caches[g] = self.optimizers[g].step_forward(self.part(phi, g), grad[s], state[g])
            updates.append(u)
        return xp.concat(updates), new_state, caches                   # (n,)

    def step_backward(self, phi, d_update, d_state, cache, need_d_grad=False):
        d_phi, d_prev, d_grads = {}, {}, []
        for g, s in self.slices(d_update.shape[0]).items():
            dp, d_prev[g], dg = self.optimizers[g].step_backward(
                self.part(phi, g), d_update[s], d_state[g], cache[g], need_d_grad)
            d_phi.update({f"{g}/{k}": v for k, v in dp.items()})
            d_grads.append(dg)
        return d_phi, d_prev, xp.concat(d_grads) if need_d_grad else None

    def state_size(self, state):
        """(n, dtype) of a state made by init_state: the sum of its groups' coordinates."""
        if not isinstance(state, dict) or set(state) != set(self.optimizers):
            raise UsageError(f"state must be what init_state(n) returned: a dict with the groups "
                             f"{sorted(self.optimizers)}, got {type(state).__name__}")
        sizes = [self.optimizers[g].state_size(state[g]) for g in self.optimizers]
        return sum(n for n, _ in sizes), sizes[0][1]
