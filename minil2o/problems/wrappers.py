"""Problems built from other problems: RNNprop's two training tricks.

Random Scaling (Lv et al. 2017, section 4.1). Draw c with c_i = exp(u_i), u_i ~ U(-r, r), and
train on

    f_c(theta) = f(c * theta),   theta_0 = theta_0_f / c                     (coordinatewise)

so the optimizer cannot memorise one effective step size. By the chain rule
grad f_c(theta) = c * grad f(c * theta) and H_c(theta) v = c * H(c * theta) (c * v).

Combination with convex functions (section 4.2). Append an easy convex part to theta,
theta = [theta_f, x] with x: (dim,), and train on

    f(theta_f) + g(x),   g(x) = (1/dim) sum_i (x_i - v_i)^2,   v ~ U(-1, 1)^dim,   dim = 20.

The paper applies Random Scaling to each term; its code uses r = 3 for the MNIST MLP and r = 1
for g (TrainConfig's random_scaling and convex_scaling; the shipped RNNprop optimizers were
trained with g at r = 3, a deviation RESULTS.md lists):

    ConvexCombinedFamily(RandomScaledFamily(mlp_family, r=3.0), dim=20, r=1.0)

The public code starts x at 0 and clips each square at 10 (zero gradient where clipped); the paper
says x_0 is "generated randomly" (here x0='uniform': U(-1, 1)). Both wrappers keep the wrapped
problem's num_problems, dtype, groups and Hessian-vector product.
"""
import numpy as np

from ..backend import asarray, xp
from ..errors import UsageError
from ..validate import check_choice, check_number, check_positive_int
from .base import Family, Problem


class RandomScaled(Problem):
    """Random Scaling (section 4.1): f_c(theta) = f(c * theta) from theta_0_f / c (9.4), for a
    problem f and c_i = exp(U(-r, r)) drawn here from rng.

    problem: the wrapped Problem (n coordinates); r: scaling range (r = 0 gives c = 1);
    rng: numpy Generator. The scale vector is kept as `self.scale`: (n,).
    """

    def __init__(self, problem, r, rng):
        self.problem, self.r = problem, check_number(r, "r")
        self.n, self.dtype, self.num_problems = problem.n, problem.dtype, problem.num_problems
        u = rng.uniform(-self.r, self.r, size=problem.n)   # u_i ~ U(-r, r), on the host
        self.scale = asarray(np.exp(u), dtype=problem.dtype)  # (n,), c_i = exp(u_i)

    @property
    def groups(self):
        return self.problem.groups

    def init(self, rng):
        """theta_0 = theta_0_f / c, so that c * theta_0 starts where f would. Returns (n,)."""
        return self.problem.init(rng) / self.scale

    def sample_batch(self, rng):
        return self.problem.sample_batch(rng)

    def loss(self, theta, batch):
        """f(c * theta); theta: (n,). Returns a 0-d array."""
        return self.problem.loss(self.scale * theta, batch)

    def loss_and_grad(self, theta, batch):
        """f_c(theta) = f(c * theta) and its gradient c * grad f(c * theta) (9.5); theta: (n,)."""
        f, grad = self.problem.loss_and_grad(self.scale * theta, batch)
        return f, self.scale * grad

    def hvp(self, theta, v, batch):
        """H_c(theta) v = c * H(c * theta) (c * v) (9.5): the Jacobian of c * grad f(c * theta) is
        diag(c) H(c theta) diag(c). theta, v: (n,). Returns (n,)."""
        return self.scale * self.problem.hvp(self.scale * theta, self.scale * v, batch)


class ConvexSquare(Problem):
    """g(x) = (1/dim) sum_i min((x_i - v_i)^2, clip_square), the convex partner of section 4.2
    (9.6).

    v: host array (dim,); clip_square: the cap on each square (10 in the public code; None for
    the paper's unclipped g); x0: 'zero' (public code) or 'uniform' (U(-1, 1)); dtype.
    """

    def __init__(self, v, clip_square=10.0, x0="zero", dtype="float32"):
        check_choice(x0, "x0", ("zero", "uniform"))
        self.clip_square = None if clip_square is None else check_number(clip_square, "clip_square")
        self.x0, self.dtype, self.n = x0, dtype, len(v)
        self.v = asarray(v, dtype=dtype)                   # (dim,)

    def init(self, rng):
        """x_0 = 0, or U(-1, 1) per coordinate for x0='uniform'. Returns (dim,)."""
        if self.x0 == "zero":
            return xp.zeros(self.n, dtype=self.xp_dtype)
        return asarray(rng.uniform(-1.0, 1.0, size=self.n), dtype=self.dtype)

    def _mask(self, diff):
        """1 where a square is below the clip (it then has a gradient), 0 where it is clipped."""
        if self.clip_square is None:
            return xp.ones_like(diff)
        return xp.astype(diff * diff < self.clip_square, diff.dtype)

    def loss(self, theta, batch=None):
        """g(x) for theta = x: (dim,). Returns a 0-d array."""
        sq = (theta - self.v) ** 2                         # (dim,)
        if self.clip_square is not None:
            sq = xp.clip(sq, max=self.clip_square)
        return xp.sum(sq) / self.n

    def loss_and_grad(self, theta, batch=None):
        """g and dg/dx_i = (2/dim) (x_i - v_i) where the square is unclipped, 0 where clipped."""
        diff = theta - self.v                              # (dim,)
        return self.loss(theta), (2.0 / self.n) * diff * self._mask(diff)

    def hvp(self, theta, v, batch=None):
        """H is diagonal: 2/dim where the square is unclipped, 0 where clipped. Returns (dim,)."""
        return (2.0 / self.n) * self._mask(theta - self.v) * v


class ConvexCombined(Problem):
    """f(theta_f) + g(x) over theta = [theta_f, x]: a problem plus a random convex ConvexSquare
    (Lv et al., section 4.2).

    problem: the wrapped Problem f (n_f coordinates); rng: draws v ~ U(-1, 1)^dim and, for r > 0,
    g's own Random Scaling with range r (g is then g_c(x) = g(c x)); clip_square, x0: see
    ConvexSquare. group: None adds x to the group holding f's last coordinate (with the default
    single group that is 'all', so one optimizer serves f and g, as in RNNprop); a name puts x in
    a new group of that name.
    """

    def __init__(self, problem, rng, dim=20, r=1.0, clip_square=10.0, x0="zero", group=None):
        dim = check_positive_int(dim, "dim")
        self.problem = problem
        self.convex = ConvexSquare(rng.uniform(-1.0, 1.0, size=dim), clip_square, x0, problem.dtype)
        if check_number(r, "r") > 0:
            self.convex = RandomScaled(self.convex, r, rng)
        self.n_f = problem.n
        self.n, self.dtype, self.num_problems = problem.n + dim, problem.dtype, problem.num_problems
        self._groups = self._extend_groups(problem.groups, group)

    def _extend_groups(self, groups, group):
        """The wrapped groups with x = theta[n_f:] added as the docstring of the class says."""
        groups = dict(groups)
        if group is None:
            last = [name for name, s in groups.items() if s.stop == self.n_f]
            if not last:
                raise UsageError("the wrapped problem's groups do not reach its last coordinate: "
                                 "pass group='<name>' to put the convex part in its own group")
            groups[last[0]] = slice(groups[last[0]].start, self.n)
        elif group in groups:
            raise UsageError(f"group={group!r} is already a group of the wrapped problem: "
                             f"choose a name other than {', '.join(groups)}")
        else:
            groups[group] = slice(self.n_f, self.n)
        return groups

    @property
    def groups(self):
        return self._groups

    def init(self, rng):
        """[theta_0_f, x_0]: (n_f + dim,)."""
        return xp.concat([self.problem.init(rng), self.convex.init(rng)])

    def sample_batch(self, rng):
        return self.problem.sample_batch(rng)

    def loss(self, theta, batch):
        """f(theta_f) + g(x) for theta = [theta_f, x]: (n,). Returns a 0-d array."""
        return self.problem.loss(theta[:self.n_f], batch) + self.convex.loss(theta[self.n_f:], None)

    def loss_and_grad(self, theta, batch):
        """f + g and [grad f(theta_f), grad g(x)]: the two parts share no coordinate."""
        f, grad_f = self.problem.loss_and_grad(theta[:self.n_f], batch)
        g, grad_g = self.convex.loss_and_grad(theta[self.n_f:], None)
        return f + g, xp.concat([grad_f, grad_g])

    def hvp(self, theta, v, batch):
        """Block-diagonal Hessian: [H_f v_f, H_g v_x]. theta, v: (n,). Returns (n,)."""
        return xp.concat([self.problem.hvp(theta[:self.n_f], v[:self.n_f], batch),
                          self.convex.hvp(theta[self.n_f:], v[self.n_f:], None)])


class RandomScaledFamily(Family):
    """Samples RandomScaled(family.sample(rng), r, rng): a fresh scale vector per problem
    (Random Scaling, section 4.1)."""

    def __init__(self, family, r):
        self.family, self.r = family, check_number(r, "r")

    def sample(self, rng):
        return RandomScaled(self.family.sample(rng), self.r, rng)


class ConvexCombinedFamily(Family):
    """Samples ConvexCombined(family.sample(rng), rng, ...): a fresh v (and scale) per problem
    (section 4.2)."""

    def __init__(self, family, dim=20, r=1.0, clip_square=10.0, x0="zero", group=None):
        self.family = family
        self.kwargs = dict(dim=dim, r=r, clip_square=clip_square, x0=x0, group=group)

    def sample(self, rng):
        return ConvexCombined(self.family.sample(rng), rng, **self.kwargs)
