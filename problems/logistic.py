"""L2-regularised logistic regression with a certified optimum (DESIGN.md "Problem": f* by cvxpy).

f(x) = (1/N) sum_i log(1 + exp(-y_i a_i^T x)) + (lam/2) ||x||^2, y_i in {-1, +1}. With s = sigmoid:
grad f(x) = -(1/N) sum_i y_i s(-y_i a_i^T x) a_i + lam x, Hessian (1/N) A^T diag(s(1-s)) A + lam I, and
s(1-s) <= 1/4 with equality at margin 0, so L = lambda_max(A^T A)/(4N) + lam (attained at x = 0) and
mu = lam (a lower bound, approached far from the data).

x* and f*: cvxpy (exponential-cone solver) and scipy L-BFGS-B with the exact gradient must agree within
``AGREEMENT = 1e-6`` in f (RuntimeError otherwise); the better of the two is then polished by Newton steps
with the exact Hessian, so that grad f(x*) is at rounding level.

Stochastic gradient (``noise``): None (exact), a number sigma or a Noise of dimension d (additive, G2), or
"sampling": one example i uniform per draw, g = grad f_i(x) with
f_i(x) = log(1 + exp(-y_i a_i^T x)) + (lam/2)||x||^2. Its variance depends on x (``sampling_variance``);
the constants then carry sigma2_star = (1/N) sum_i ||grad f_i(x*)||^2 and L_max = max_i ||a_i||^2 / 4 + lam
(smoothness of every f_i).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from problems.noise import SAMPLING, resolve_noise
from problems.quadratic import finite_array, make_rng
from ratecheck.validate import InputError, integer, positive

__all__ = ["AGREEMENT", "Logistic"]

AGREEMENT = 1e-6  # largest accepted |f(x_cvxpy) - f(x_scipy)|


class Logistic:
    """f(x) = (1/N) sum_i log(1 + exp(-y_i a_i^T x)) + (lam/2) ||x||^2.

    Parameters
    ----------
    A: (N, d) features; y: (N,) labels in {-1, +1}; lam: ridge weight > 0 (= mu).
    noise: None, a number sigma, a Noise of dimension d, or "sampling" (one example per draw).
    x0: the start (default 0).

    Constants: L, mu, R0, F0, d, f_star, and sigma, sigma2 (additive noise) or L_max, sigma2_star (sampling).
    """

    def __init__(self, A: object, y: object, lam: float, *, noise: object = None, x0: object = None) -> None:
        self.A = finite_array("A", A, ndim=2)
        self.N, self.d = self.A.shape
        self.y = finite_array("y", y, ndim=1, shape=(self.N,))
        if not np.all(np.abs(self.y) == 1):
            raise InputError(f"y must have entries in {{-1, +1}}, got {np.unique(self.y)!r}")
        self.lam = positive("lam", lam)
        self.x0 = np.zeros(self.d) if x0 is None else finite_array("x0", x0, ndim=1, shape=(self.d,))
        self.x0.setflags(write=False)
        self.noise = resolve_noise(noise, self.d, sampling=True)
        self.sampling = self.noise is None

        self.x_star = self._solve()
        self.x_star.setflags(write=False)
        self.f_star = float(self.loss(self.x_star))
        self.constants = {
            "L": float(np.linalg.eigvalsh(self.A.T @ self.A)[-1] / (4 * self.N) + self.lam),
            "mu": self.lam,
            "R0": float(np.sum((self.x0 - self.x_star) ** 2)),
            "F0": float(self.loss(self.x0)) - self.f_star,
            "d": float(self.d),
            "f_star": self.f_star,
        }
        if self.sampling:
            per_example = self._example_grads(self.x_star)
            self.constants["L_max"] = float(np.max(np.sum(self.A**2, axis=1)) / 4 + self.lam)
            self.constants["sigma2_star"] = float(np.mean(np.sum(per_example**2, axis=-1)))
        else:
            self.constants["sigma"] = math.sqrt(self.noise.sigma2)
            self.constants["sigma2"] = float(self.noise.sigma2)

    @classmethod
    def random(cls, N: int, d: int, lam: float, seed: int = 0, **kw: object) -> Logistic:
        """A with iid N(0, 1/d) entries (||a_i|| ~ 1), labels drawn from the logistic model of a
        standard Gaussian x_true: P(y_i = 1) = sigmoid(a_i^T x_true)."""
        N, d = integer("N", N, low=1), integer("d", d, low=1)
        rng = make_rng(seed)
        A = rng.standard_normal((N, d)) / math.sqrt(d)
        y = np.where(rng.random(N) < expit(A @ rng.standard_normal(d)), 1.0, -1.0)
        return cls(A, y, lam, **kw)

    # -- oracle ------------------------------------------------------------------------------------

    def loss(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        margins = (x @ self.A.T) * self.y
        return np.mean(np.logaddexp(0.0, -margins), axis=-1) + 0.5 * self.lam * np.sum(x**2, axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        weights = self.y * expit(-(x @ self.A.T) * self.y)  # y_i s(-y_i a_i^T x), shape (..., N)
        return -(weights @ self.A) / self.N + self.lam * x

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x)
        if not self.sampling:
            g = self.grad(x)
            return g + self.noise.sample(g.shape, rng)
        i = rng.integers(self.N, size=x.shape[:-1])
        a, y = self.A[i], self.y[i]
        weight = y * expit(-y * np.sum(a * x, axis=-1))
        return -weight[..., None] * a + self.lam * x

    def sampling_variance(self, x: np.ndarray) -> np.ndarray:
        """E||g(x) - grad f(x)||^2 under example sampling, on a batch: with w_i = y_i s(-y_i a_i^T x),
        (1/N) sum_i w_i^2 ||a_i||^2 - ||(1/N) sum_i w_i a_i||^2 (the ridge term is common to every f_i)."""
        weights = self.y * expit(-(np.asarray(x) @ self.A.T) * self.y)  # (..., N)
        mean_grad = weights @ self.A / self.N
        return np.mean(weights**2 * np.sum(self.A**2, axis=1), axis=-1) - np.sum(mean_grad**2, axis=-1)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """The exact Hessian at one point x of shape (d,)."""
        s = expit(self.A @ np.asarray(x))
        return (self.A.T * (s * (1 - s))) @ self.A / self.N + self.lam * np.eye(self.d)

    def _example_grads(self, x: np.ndarray) -> np.ndarray:
        """grad f_i(x) for every example i at one point x, shape (N, d)."""
        weights = self.y * expit(-self.y * (self.A @ x))
        return -weights[:, None] * self.A + self.lam * x

    # -- the optimum -------------------------------------------------------------------------------

    def _solve(self) -> np.ndarray:
        """x* from cvxpy, cross-checked by L-BFGS-B, polished by Newton's method (see module docstring)."""
        x_cvx = self._solve_cvxpy()
        result = minimize(
            lambda x: float(self.loss(x)),
            np.zeros(self.d),
            jac=self.grad,
            method="L-BFGS-B",
            options={"maxiter": 10_000, "gtol": 1e-12, "ftol": 1e-15},
        )
        f_cvx, f_scipy = float(self.loss(x_cvx)), float(self.loss(result.x))
        if not abs(f_cvx - f_scipy) <= AGREEMENT:
            raise RuntimeError(
                f"cvxpy and scipy disagree on f*: {f_cvx!r} vs {f_scipy!r} (tolerance {AGREEMENT:g})"
            )
        x = x_cvx if f_cvx <= f_scipy else result.x
        for _ in range(5):  # Newton converges quadratically from a point that good; stop at rounding level
            x_new = x - np.linalg.solve(self.hessian(x), self.grad(x))
            if not np.linalg.norm(self.grad(x_new)) < np.linalg.norm(self.grad(x)):
                break
            x = x_new
        return np.array(x, dtype=np.float64)

    def _solve_cvxpy(self) -> np.ndarray:
        import cvxpy as cp  # slow to import: only when an instance is built

        x = cp.Variable(self.d)
        margins = cp.multiply(self.y, self.A @ x)
        objective = cp.sum(cp.logistic(-margins)) / self.N + 0.5 * self.lam * cp.sum_squares(x)
        problem = cp.Problem(cp.Minimize(objective))
        try:
            problem.solve()
        except cp.SolverError as error:
            raise RuntimeError(f"cvxpy failed on the logistic problem: {error}") from error
        if problem.status != cp.OPTIMAL or x.value is None:
            raise RuntimeError(f"cvxpy did not solve the logistic problem: status {problem.status}")
        return np.asarray(x.value, dtype=np.float64)

    def __repr__(self) -> str:
        noise = repr(SAMPLING) if self.sampling else repr(self.noise)
        return f"Logistic(N={self.N}, d={self.d}, lam={self.lam:g}, noise={noise})"
