"""Instances of the error-feedback catalog (THEOREMS.md T2): the two counterexamples where compression
without error feedback fails, and the extreme instances the T2 checks need. Every constant is certified
(computed from the instance: eigenvalues, exact minima over a line, exact norms).

* ``SignCounterexample`` (T2 N1; Karimireddy, Rebjock, Stich, Jaggi, ICML 2019, "Counterexample 1",
  instance as recalled in THEOREMS.md, wording UNVERIFIED): f(x) = <a1, x>^2 + <a2, x>^2 on R^2 with
  a1 = (1, -1) + eps (1, 1), a2 = -(1, -1) + eps (1, 1); the oracle picks i in {1, 2} uniformly and returns
  g = 4 <a_i, x> a_i. Every sign(g) is +-(1, -1), so signSGD (and scaled sign without memory) keeps
  x_1 + x_2 fixed, and f stays above the certified ``floor`` = min of f on that line (8 eps^2 from x0 = (1, 1)).
* ``TopKCounterexample`` (T2 N2; Beznosikov, Horvath, Richtarik, Safaryan 2020, Example 1, attribution
  UNVERIFIED): n = 3 workers, d = 3, f_i(x) = <a_i, x>^2 + 1/2 ||x||^2 with a_1 = (-3, 2, 2),
  a_2 = (2, -3, 2), a_3 = (2, 2, -3); f = mean (mu = 5/3, L = 53/3, x* = 0). Distributed GD in which
  every worker sends top-1 of its own gradient diverges geometrically from x0 = (1, 1, 1).
* ``ConstantGradient`` (T2 (d)): g(x) = G + xi with xi ~ N(0, (sigma^2/d) I), independent of x, so the
  error buffer of EF-SGD sees exactly "pure zero-mean noise" (G = 0) or "a constant deterministic
  gradient" (sigma = 0). f(x) = <G, x - x0> is linear, hence unbounded below when G != 0: ``x_star`` and
  ``f_star`` are the reference point x0 and f(x0) = 0, not a minimiser (subopt may be negative).
* ``ShiftedWorkers`` (T2 multi-worker, heterogeneity as in G3 with D_i = 0): f_i(x) = f(x) + <z_i, x>
  with sum_i z_i = 0, so the mean objective is the base problem's f exactly and every worker's gradient
  is off by the constant z_i; zeta^2 = (1/n) sum_i ||z_i||^2.

The multi-worker instances implement the one client oracle of ratecheck.problem.ClientProblem (what
``ratecheck.algorithms.error_feedback.ef_sgd_workers`` reads): ``n`` workers, ``loss``/``grad`` of the mean
objective f = (1/n) sum_i f_i on batches (..., d), and ``client_stoch_grads(y, rng)``: y of shape
(..., n, d) -> (..., n, d), row i an unbiased stochastic gradient of f_i at y_i (independent across workers
and batch entries). ``stoch_grad(x, rng)`` is the mean of the rows at a shared x (a stochastic gradient
of f), so a multi-worker problem is also a single-objective Problem.
"""

from __future__ import annotations

import math

import numpy as np

from problems.noise import resolve_noise
from problems.quadratic import finite_array, make_rng
from ratecheck.problem import Problem, broadcast_clients, shared_point
from ratecheck.validate import InputError, in_interval, integer

__all__ = ["ConstantGradient", "ShiftedWorkers", "SignCounterexample", "TopKCounterexample", "line_minimum"]


def line_minimum(A: np.ndarray, x0: np.ndarray, u: np.ndarray) -> float:
    """min over s of q(x0 + s u) for q(x) = x^T A x, A symmetric positive semidefinite (exact):
    q(x0) - (u^T A x0)^2 / (u^T A u) (q(x0) when u^T A u = 0)."""
    uAu = float(u @ A @ u)
    q0 = float(x0 @ A @ x0)
    return q0 if uAu <= 0 else max(q0 - float(u @ A @ x0) ** 2 / uAu, 0.0)


class SignCounterexample:
    """T2 N1 (module docstring): f(x) = <a1, x>^2 + <a2, x>^2, x in R^2, x* = 0, f* = 0.

    Parameters
    ----------
    eps: in (0, 1); a1 = (1 + eps, -1 + eps), a2 = (-1 + eps, 1 + eps).
    x0: the start (default (1, 1)).

    Constants (certified): L = 2 lambda_max(A), mu = 2 lambda_min(A) with A = a1 a1^T + a2 a2^T (f = x^T A x),
    R0, F0, ``floor`` = min of f over the line x0 + s (1, -1) that sign steps cannot leave (8 eps^2 for
    x0 = (1, 1)), ``invariant`` = x0_1 + x0_2. Gradient noise vanishes at x* (sigma = 0 there) but is not
    bounded uniformly, so no sigma is declared.
    """

    d = 2

    def __init__(self, eps: float = 0.5, x0: object = None) -> None:
        self.eps = in_interval("eps", eps, 0.0, 1.0, closed="neither")
        self.a = np.array([[1.0 + self.eps, -1.0 + self.eps], [-1.0 + self.eps, 1.0 + self.eps]])
        self.a.setflags(write=False)
        self.A = self.a.T @ self.a  # sum_i a_i a_i^T
        self.x0 = finite_array("x0", (1.0, 1.0) if x0 is None else x0, ndim=1, shape=(2,))
        self.x_star = np.zeros(2)
        self.x_star.setflags(write=False)
        self.f_star = 0.0
        lam = np.linalg.eigvalsh(self.A)
        direction = np.array([1.0, -1.0]) / math.sqrt(2.0)  # the only direction sign steps can take
        self.constants = {
            "L": 2.0 * float(lam[-1]),
            "mu": 2.0 * float(lam[0]),
            "R0": float(self.x0 @ self.x0),
            "F0": float(self.loss(self.x0)),
            "floor": line_minimum(self.A, self.x0, direction),
            "invariant": float(self.x0.sum()),
            "eps": self.eps,
            "d": 2.0,
            "f_star": 0.0,
        }

    def loss(self, x: np.ndarray) -> np.ndarray:
        return np.sum((np.asarray(x) @ self.a.T) ** 2, axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return 2.0 * ((np.asarray(x) @ self.a.T) @ self.a)

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """g = 4 <a_i, x> a_i with i uniform in {1, 2}, independently per batch entry (E g = grad f)."""
        x = np.asarray(x)
        a_i = self.a[rng.integers(0, 2, size=x.shape[:-1])]
        return 4.0 * np.sum(a_i * x, axis=-1, keepdims=True) * a_i

    def __repr__(self) -> str:
        return f"SignCounterexample(eps={self.eps:g}, x0={tuple(self.x0)})"


class TopKCounterexample:
    """T2 N2 (module docstring): n = 3 workers with f_i(x) = <a_i, x>^2 + 1/2 ||x||^2, exact gradients.

    Parameters
    ----------
    x0: the start (default (1, 1, 1)).

    Constants (certified from the Hessian 2 M + I, M = (1/n) sum_i a_i a_i^T): L, mu, R0, F0, f_star = 0,
    zeta2_at_x_star = 0 (every worker's gradient vanishes at x* = 0: the workers differ only through their
    Hessians), hessian_spread = max_i ||2 a_i a_i^T - 2 M||_op, sigma = 0.
    """

    n = 3
    d = 3

    def __init__(self, x0: object = None) -> None:
        self.a = np.array([[-3.0, 2.0, 2.0], [2.0, -3.0, 2.0], [2.0, 2.0, -3.0]])
        self.a.setflags(write=False)
        self.M = self.a.T @ self.a / self.n
        H = 2.0 * self.M + np.eye(self.d)
        lam = np.linalg.eigvalsh(H)
        self.x0 = finite_array("x0", (1.0, 1.0, 1.0) if x0 is None else x0, ndim=1, shape=(3,))
        self.x_star = np.zeros(3)
        self.x_star.setflags(write=False)
        self.f_star = 0.0
        spread = max(float(np.abs(np.linalg.eigvalsh(2.0 * np.outer(a, a) - 2.0 * self.M)).max()) for a in self.a)
        self.constants = {
            "L": float(lam[-1]),
            "mu": float(lam[0]),
            "R0": float(self.x0 @ self.x0),
            "F0": float(self.loss(self.x0)),
            "zeta2_at_x_star": 0.0,
            "hessian_spread": spread,
            "sigma": 0.0,
            "n": float(self.n),
            "d": 3.0,
            "f_star": 0.0,
        }

    def loss(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return np.mean((x @ self.a.T) ** 2, axis=-1) + 0.5 * np.sum(x * x, axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return 2.0 * (x @ self.M) + x

    def client_stoch_grads(self, y: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """grad f_i(y_i) = 2 <a_i, y_i> a_i + y_i for every worker: (..., n, d) -> (..., n, d) (deterministic;
        at a shared point, one product x a^T gives every <a_i, x>)."""
        y = np.asarray(y)
        x = shared_point(y)
        inner = x @ self.a.T if x is not None else np.einsum("...ij,ij->...i", y, self.a)  # <a_i, y_i>
        return 2.0 * inner[..., :, None] * self.a + y

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.client_stoch_grads(broadcast_clients(x, self.n), rng).mean(axis=-2)

    def __repr__(self) -> str:
        return f"TopKCounterexample(x0={tuple(self.x0)})"


class ConstantGradient:
    """g(x) = G + xi, xi ~ N(0, (sigma^2/d) I) (or any Noise of dimension d), independent of x (module
    docstring). f(x) = <G, x - x0>; x_star = x0 and f_star = 0 are a reference point, not a minimiser.

    Parameters
    ----------
    G: the constant gradient, shape (d,) (zeros: pure noise).
    noise: None, a number sigma or a Noise model of dimension d.

    Constants (exact): G2 = ||G||^2, sigma, sigma2, B2 = E||g||^2 = ||G||^2 + sigma^2 (for every x), B, d,
    R0 = 0, f_star = 0. L = 0 (f is linear).
    """

    def __init__(self, G: object, noise: object = None) -> None:
        self.G = finite_array("G", G, ndim=1)
        self.d = self.G.shape[0]
        self.noise = resolve_noise(noise, self.d)
        if float(self.G @ self.G) == 0 and self.noise.sigma2 == 0:
            raise InputError("G and the noise cannot both be zero (g would be identically 0)")
        self.x0 = np.zeros(self.d)
        self.x0.setflags(write=False)
        self.x_star = self.x0
        self.f_star = 0.0
        G2, sigma2 = float(self.G @ self.G), float(self.noise.sigma2)
        self.constants = {
            "G2": G2,
            "sigma": math.sqrt(sigma2),
            "sigma2": sigma2,
            "B2": G2 + sigma2,
            "B": math.sqrt(G2 + sigma2),
            "L": 0.0,
            "R0": 0.0,
            "d": float(self.d),
            "f_star": 0.0,
        }

    def loss(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x) - self.x0) @ self.G

    def grad(self, x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.G, np.shape(x)).copy()

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        shape = np.shape(x)
        return self.G + self.noise.sample(shape, rng)

    def __repr__(self) -> str:
        return f"ConstantGradient(d={self.d}, ||G||^2={self.constants['G2']:g}, noise={self.noise!r})"


class ShiftedWorkers:
    """n heterogeneous workers around a base problem: f_i(x) = f(x) + <z_i, x>, sum_i z_i = 0 (module
    docstring), so (1/n) sum_i f_i = f and grad f_i = grad f + z_i; each worker adds its own noise draw.

    Parameters
    ----------
    base: a Problem (its loss, grad, x_star, f_star and constants are those of the mean objective).
    n: number of workers (>= 2).
    zeta: the heterogeneity; z_i are drawn Gaussian, centred (sum_i z_i = 0) and rescaled so that
        (1/n) sum_i ||z_i||^2 = zeta^2 exactly.
    seed: seeds the z_i.

    Constants: the base problem's, plus n and zeta2 = zeta^2 (= (1/n) sum_i ||grad f_i(x) - grad f(x)||^2 at
    every x, exact).
    """

    def __init__(self, base: Problem, n: int, zeta: float, seed: int = 0) -> None:
        self.base = base
        self.n = integer("n", n, low=2)
        self.d = int(base.d)
        self.x0, self.x_star, self.f_star = base.x0, base.x_star, base.f_star
        z = make_rng(seed).standard_normal((self.n, self.d))
        z -= z.mean(axis=0)
        zeta = float(zeta)
        if not (zeta >= 0 and math.isfinite(zeta)):
            raise InputError(f"zeta must be a finite number >= 0, got {zeta!r}")
        z *= zeta / math.sqrt(np.mean(np.sum(z * z, axis=1)))
        self.z = z
        self.z.setflags(write=False)
        self.constants = {**base.constants, "n": float(self.n), "zeta2": float(np.mean(np.sum(z * z, axis=1))), "zeta": zeta}

    def loss(self, x: np.ndarray) -> np.ndarray:
        return self.base.loss(x)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.base.grad(x)

    def client_stoch_grads(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """g_i(y_i) = g(y_i) + z_i, the base problem's stochastic gradient (own noise per worker) shifted."""
        return self.base.stoch_grad(np.asarray(y), rng) + self.z

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.client_stoch_grads(broadcast_clients(x, self.n), rng).mean(axis=-2)

    def __repr__(self) -> str:
        return f"ShiftedWorkers({self.base!r}, n={self.n}, zeta={self.constants['zeta']:g})"
