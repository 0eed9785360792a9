"""The optimizee contract: what every problem gives an optimizer.

A *family* samples problem *instances* (a quadratic's W and y; an MLP's initial weights and its
minibatches). An instance exposes its parameters as one flat vector theta of length n, so an
optimizer sees coordinates and nothing else:

    theta0 = problem.init(rng)                      (n,) on the backend, in problem.dtype
    batch = problem.sample_batch(rng)               whatever loss_and_grad needs (None if nothing)
    f, grad = problem.loss_and_grad(theta, batch)   f: 0-d array, grad: (n,), written by hand
    Hv = problem.hvp(theta, v, batch)               (n,) Hessian-vector product, where derived

`problem.groups` names slices of theta (e.g. {"conv": slice(0, 864), "fc": slice(864, 1210)}) so
that different learned optimizers can serve different groups. A meta-batch of B instances is one
problem too, `family.sample_many(rng, B)`, whose loss is the sum of theirs and whose num_problems
is B. Randomness comes only from the numpy Generator passed in, so a seed gives the same problem
on every backend.
"""
from ..backend import dtype as backend_dtype


class Problem:
    """One optimizee instance. Subclasses set self.n and implement init and loss_and_grad."""

    n = 0
    dtype = "float32"
    num_problems = 1  # independent functions summed in the loss; curves report loss / num_problems

    @property
    def groups(self):
        """Named parameter groups as {name: slice of theta}; one group 'all' unless overridden."""
        return {"all": slice(0, self.n)}

    @property
    def xp_dtype(self):
        return backend_dtype(self.dtype)

    def init(self, rng):
        raise NotImplementedError

    def sample_batch(self, rng):
        """Data for one step; deterministic problems need none."""
        return None

    def loss_and_grad(self, theta, batch):
        raise NotImplementedError

    def loss(self, theta, batch):
        """The loss alone (subclasses may override with a cheaper forward pass)."""
        return self.loss_and_grad(theta, batch)[0]

    def hvp(self, theta, v, batch):
        """Hessian-vector product H(theta) v; only some problems derive it."""
        raise NotImplementedError(f"{type(self).__name__} has no Hessian-vector product")


class Family:
    """A distribution over problem instances: `family.sample(rng)` draws one."""

    def sample(self, rng):
        raise NotImplementedError

    def sample_many(self, rng, num_problems):
        """A meta-batch: num_problems fresh instances as one problem whose loss is the sum of
        theirs. Here a ProblemBatch that runs them one after another (the instance itself for
        one); a family that can compute its instances together overrides this (MLPFamily)."""
        from .wrappers import ProblemBatch                 # wrappers.py builds on this module
        problems = [self.sample(rng) for _ in range(num_problems)]
        return problems[0] if num_problems == 1 else ProblemBatch(problems)
