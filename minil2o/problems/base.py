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
is B: a ProblemBatch, which runs them one after another (losses add, gradients concatenate),
unless a family computes its instances together (MLPFamily with one parameter group: one
MLPProblem with batched matrix products). Randomness comes only from the numpy Generator passed
in, so a seed gives the same problem on every backend.
"""
from ..backend import dtype as backend_dtype
from ..backend import xp
from ..errors import UsageError


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
        problems = [self.sample(rng) for _ in range(num_problems)]
        return problems[0] if num_problems == 1 else ProblemBatch(problems)


class ProblemBatch(Problem):
    """Several problem instances run as one: F(theta) = sum_k f_k(theta_k).

    problems: a list of Problems with one dtype, whose groups each cover their theta exactly
    (true of the default single group 'all'). So that every group stays one slice, theta is laid
    out group by group: [group A of problem 1, group A of problem 2, ..., group B of problem 1,
    ...]; with the single group 'all' that is the plain concatenation [theta_1, theta_2, ...].
    A batch is the list of the instances' batches; num_problems is the sum of theirs.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        if not self.problems:
            raise UsageError("ProblemBatch got no problems: pass a non-empty list")
        dtypes = {p.dtype for p in self.problems}
        if len(dtypes) != 1:
            raise UsageError(f"ProblemBatch got dtypes {sorted(dtypes)}: all must share one")
        self.dtype = dtypes.pop()
        self.num_problems = sum(p.num_problems for p in self.problems)
        self._order, self._groups = self._layout()
        self._pieces = self._pieces_per_problem()
        self.n = sum(p.n for p in self.problems)

    def _layout(self):
        """The batch layout: [(k, slice of problem k's theta)] in order, and the merged groups."""
        for k, p in enumerate(self.problems):
            spans = sorted((s.start, s.stop) for s in p.groups.values())
            ends = [0] + [stop for _, stop in spans]
            if any(start != end for (start, _), end in zip(spans, ends)) or ends[-1] != p.n:
                raise UsageError(f"problem {k} of the ProblemBatch has groups {p.groups} that do "
                                 f"not tile its {p.n} coordinates")
        names = list(dict.fromkeys(name for p in self.problems for name in p.groups))
        order, groups, start = [], {}, 0
        for name in names:
            begin = start
            for k, p in enumerate(self.problems):
                if name in p.groups:
                    s = p.groups[name]
                    order.append((k, s))
                    start += s.stop - s.start
            groups[name] = slice(begin, start)
        return order, groups

    @property
    def groups(self):
        return self._groups

    def _pieces_per_problem(self):
        """For each problem, the slices of the batch vector that hold its theta_k, in its order."""
        pieces, at = [[] for _ in self.problems], 0
        for k, s in self._order:
            pieces[k].append((s.start, slice(at, at + s.stop - s.start)))
            at += s.stop - s.start
        return [[where for _, where in sorted(ps, key=lambda t: t[0])] for ps in pieces]

    def _split(self, theta):
        """The batch vector theta: (n,) as the list of each problem's own (n_k,) vector."""
        return [theta[ps[0]] if len(ps) == 1 else xp.concat([theta[s] for s in ps])
                for ps in self._pieces]

    def _join(self, vectors):
        """Each problem's (n_k,) vector laid out as one batch vector: (n,)."""
        return xp.concat([vectors[k][s] for k, s in self._order])

    def init(self, rng):
        return self._join([p.init(rng) for p in self.problems])

    def sample_batch(self, rng):
        return [p.sample_batch(rng) for p in self.problems]

    def _batches(self, batch):
        return [None] * len(self.problems) if batch is None else batch

    def loss(self, theta, batch):
        """sum_k f_k(theta_k). Returns a 0-d array."""
        parts = zip(self.problems, self._split(theta), self._batches(batch))
        return sum(p.loss(t, b) for p, t, b in parts)

    def loss_and_grad(self, theta, batch):
        """sum_k f_k(theta_k) and the gradients of the instances laid out like theta."""
        parts = zip(self.problems, self._split(theta), self._batches(batch))
        results = [p.loss_and_grad(t, b) for p, t, b in parts]
        return sum(f for f, _ in results), self._join([g for _, g in results])

    def hvp(self, theta, v, batch):
        """Block-diagonal Hessian: each instance's H_k v_k, laid out like theta."""
        parts = zip(self.problems, self._split(theta), self._split(v), self._batches(batch))
        return self._join([p.hvp(t, u, b) for p, t, u, b in parts])
