"""Random quadratics: the first experiment of Andrychowicz et al. 2016 (Section 3.1, Fig. 4 left).

Each function is

    f(theta) = || W theta - y ||^2,      W: (d, d), y: (d,), entries i.i.d. N(0, 1), d = 10.

A QuadraticProblem holds B such functions at once (the public code trains on a batch of them):
theta is the concatenation of B independent d-vectors, theta = [theta_1, ..., theta_B], and

    F(theta) = sum_b || W_b theta_b - y_b ||^2                                   (B functions)

so one optimizer run advances all B functions together and `num_problems = B` (a learning curve
reports F / B, the mean over functions). Everything is one batched matmul on (B, d, d).
"""
from ..backend import asarray, xp
from ..errors import UsageError
from ..validate import check_settings
from .base import Family, Problem


class QuadraticProblem(Problem):
    """B independent quadratics sum_b ||W_b theta_b - y_b||^2 as one problem with n = B * d.

    W: (B, d, d) and y: (B, d) backend arrays; init_std: standard deviation of theta_0.
    """

    def __init__(self, W, y, init_std=0.01, dtype="float32"):
        self.dtype = dtype
        self.W = W                                         # (B, d, d)
        self.Wt = xp.permute_dims(W, (0, 2, 1))            # (B, d, d), W_b^T
        self.y = y                                         # (B, d)
        self.num_problems, self.dim = y.shape
        self.n = self.num_problems * self.dim
        self.init_std = init_std

    def init(self, rng):
        """theta_0 ~ N(0, init_std^2) per coordinate (as in the public code). Returns (n,)."""
        return asarray(self.init_std * rng.standard_normal(self.n), dtype=self.dtype)

    def _residual(self, theta):
        """r_b = W_b theta_b - y_b for every function b; theta: (n,). Returns (B, d)."""
        B, d = self.num_problems, self.dim
        Wtheta = xp.matmul(self.W, xp.reshape(theta, (B, d, 1)))  # (B, d, 1)
        return xp.reshape(Wtheta, (B, d)) - self.y                # (B, d)

    def _apply_Wt(self, u):
        """W_b^T u_b for every b; u: (B, d). Returns the flat (n,) vector."""
        B, d = self.num_problems, self.dim
        return xp.reshape(xp.matmul(self.Wt, xp.reshape(u, (B, d, 1))), (self.n,))  # (n,)

    def loss(self, theta, batch=None):
        """F(theta) = sum_b ||r_b||^2, r_b = W_b theta_b - y_b (5.1); theta: (n,). Returns 0-d."""
        r = self._residual(theta)                          # (B, d)
        return xp.sum(r * r)

    def loss_and_grad(self, theta, batch=None):
        """F and its gradient; theta: (n,). batch is unused (no data). Returns (0-d, (n,)).

        With r_b = W_b theta_b - y_b, dF = sum_b 2 r_b^T W_b dtheta_b, hence

            dF / dtheta_b = 2 W_b^T (W_b theta_b - y_b).                                 (5.2)
        """
        r = self._residual(theta)                          # (B, d)
        return xp.sum(r * r), 2.0 * self._apply_Wt(r)

    def hvp(self, theta, v, batch=None):
        """Hessian-vector product; theta, v: (n,). Returns (n,).

        The gradient 2 W_b^T (W_b theta_b - y_b) is affine in theta_b, so the Hessian is
        block-diagonal and constant, H_b = 2 W_b^T W_b, and (H v)_b = 2 W_b^T (W_b v_b)  (5.3).
        """
        B, d = self.num_problems, self.dim
        Wv = xp.reshape(xp.matmul(self.W, xp.reshape(v, (B, d, 1))), (B, d))  # (B, d)
        return 2.0 * self._apply_Wt(Wv)


class QuadraticFamily(Family):
    """The distribution of section 3.1 (Andrychowicz et al.): f(theta) = ||W theta - y||^2, W and
    y with i.i.d. N(0, 1) entries (5.1).

    dim: d (10 in the paper); num_functions: B, how many independent functions one sample holds
    (the public code trains on 128); init_std: standard deviation of theta_0 (0.01 in the public
    code); dtype: 'float32' or 'float64'.
    """

    def __init__(self, dim=10, num_functions=1, init_std=0.01, dtype="float32"):
        check_settings(dict(dim=dim, num_functions=num_functions, init_std=init_std))  # by name
        self.dim, self.num_functions = int(dim), int(num_functions)
        if dtype not in ("float32", "float64"):
            raise UsageError(f"dtype={dtype!r} is not allowed: choose float32 or float64")
        self.init_std, self.dtype = float(init_std), dtype

    def sample(self, rng):
        """Draw W: (B, d, d) and y: (B, d) from N(0, 1) on the host. Returns a QuadraticProblem."""
        B, d = self.num_functions, self.dim
        W = asarray(rng.standard_normal((B, d, d)), dtype=self.dtype)  # (B, d, d)
        y = asarray(rng.standard_normal((B, d)), dtype=self.dtype)     # (B, d)
        return QuadraticProblem(W, y, self.init_std, self.dtype)
