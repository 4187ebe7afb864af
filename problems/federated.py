"""Federated client quadratics with certified L, mu, zeta^2 and delta_H (THEOREMS.md G3 and T4).

n clients, client i holding

    f_i(x) = 1/2 (x - x*_i)^T H_i (x - x*_i),            grad f_i(x) = H_i (x - x*_i),
    f(x)   = (1/n) sum_i f_i(x) = 1/2 (x - x*)^T H (x - x*) + f*,
    H      = (1/n) sum_i H_i,   x* = (sum_i H_i)^{-1} sum_i H_i x*_i,
    f*     = (1/n) sum_i f_i(x*).

This is G3 (f_i(x) = 1/2 x^T H_i x - b_i^T x) written with client optima b_i = H_i x*_i. The heterogeneity
at the optimum is zeta^2 = (1/n) sum_i ||grad f_i(x*)||^2 with grad f_i(x*) = H_i (x* - x*_i) (these sum
to zero: x* is optimal for f); the Hessian dissimilarity is delta_H = max_i ||H_i - H||_op (SCAFFOLD's
delta-BHD, Karimireddy et al., ICML 2020; named delta_H here because delta is the compressor's quality).
Each client's stochastic gradient adds its own independent draw of a noise model of problems.noise (G2:
mean zero, covariance (sigma^2/d) I).

Client oracles on batches of client points y of shape (..., n, d), row i evaluated by client i:
``client_loss(y) -> (..., n)``, ``client_grads(y)`` (exact) and ``client_stoch_grads(y, rng)``, the one
client oracle of ratecheck.problem.ClientProblem (what local SGD, multi-worker EF and PowerSGD read; a
shared x is passed as ratecheck.problem.broadcast_clients(x, n)). ``stoch_grad(x, rng)`` is the mean of the
clients' stochastic gradients at a shared x (unbiased for grad f, noise covariance sigma^2/(n d) I), so the
problem is also a Problem.
"""

from __future__ import annotations

import math

import numpy as np

from problems.noise import resolve_noise
from problems.quadratic import finite_array, make_rng, random_hessian, start_point
from ratecheck.problem import broadcast_clients
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = ["FederatedQuadratic"]

SYMMETRY_TOL = 1e-12  # relative asymmetry of a client Hessian accepted as rounding (then symmetrized)


class FederatedQuadratic:
    """n client quadratics f_i(x) = 1/2 (x - x*_i)^T H_i (x - x*_i), f = mean f_i (module docstring).

    Parameters
    ----------
    H_clients: shape (n, d, d), symmetric client Hessians (indefinite allowed) whose mean H is positive
        definite (so that x* is unique).
    x_star_clients: shape (n, d), the client optima x*_i (the centres of the f_i).
    x0: the start (default: x* + a vector of squared norm ``R0`` with equal energy along every eigenvector
        of H; give x0 or R0, not both).
    noise: None, a number sigma (Gaussian(sigma, d)) or a Noise model of dimension d, drawn independently
        by every client at every call.
    seed: seeds the signs of the default x0.

    Constants (certified: eigenvalues and exact norms of the assembled instance):
        L = lambda_max(H), mu = lambda_min(H) (f is mu-strongly convex and L-smooth),
        L_max = max_i lambda_max(H_i) (every f_i is L_max-smooth), mu_min = min_i lambda_min(H_i),
        zeta2 = (1/n) sum_i ||grad f_i(x*)||^2, zeta = sqrt(zeta2), delta_H = max_i ||H_i - H||_op,
        sigma, sigma2 (per client), R0 = ||x0 - x*||^2, F0 = f(x0) - f*, f_star, d, n.
    """

    def __init__(
        self,
        H_clients: object,
        x_star_clients: object,
        *,
        x0: object = None,
        R0: float | None = None,
        noise: object = None,
        seed: int = 0,
    ) -> None:
        Hs = np.array(finite_array("H_clients", H_clients, ndim=3))
        n, d, d2 = Hs.shape
        if d != d2:
            raise InputError(f"H_clients must have shape (n, d, d), got {Hs.shape}")
        self.n = integer("n", n, low=1)
        self.d = d
        asym = np.abs(Hs - np.swapaxes(Hs, 1, 2)).max()
        if asym > SYMMETRY_TOL * max(np.abs(Hs).max(), 1.0):
            raise InputError(f"H_clients must be symmetric, got max |H_i - H_i^T| = {asym:g}")
        Hs = (Hs + np.swapaxes(Hs, 1, 2)) / 2
        Hs.setflags(write=False)
        self.H_clients = Hs
        self.x_star_clients = finite_array("x_star_clients", x_star_clients, ndim=2, shape=(n, d))

        self.H = Hs.mean(axis=0)
        self.H.setflags(write=False)
        self.eigenvalues, Q = np.linalg.eigh(self.H)
        if self.eigenvalues[0] <= 0:
            raise InputError(
                f"the mean Hessian (1/n) sum_i H_i must be positive definite, got lambda_min = {self.eigenvalues[0]:g}"
            )
        # x* = (sum_i H_i)^{-1} sum_i H_i x*_i: grad f(x*) = (1/n) sum_i H_i (x* - x*_i) = 0
        self.x_star = np.linalg.solve(self.H, np.einsum("nij,nj->i", Hs, self.x_star_clients) / n)
        self.x_star.setflags(write=False)
        self.f_star = float(np.mean(self.client_loss(np.broadcast_to(self.x_star, (n, d)))))
        self.x0 = start_point(x0, R0, self.x_star, Q, make_rng(seed))
        self.noise = resolve_noise(noise, d)
        self.seed = seed

        b = self.client_grads(np.broadcast_to(self.x_star, (n, d)))  # b_i = grad f_i(x*)
        client_eigs = np.linalg.eigvalsh(Hs)
        zeta2 = float(np.mean(np.sum(b * b, axis=1)))
        self.constants = {
            "L": float(self.eigenvalues[-1]),
            "mu": float(self.eigenvalues[0]),
            "L_max": float(client_eigs[:, -1].max()),
            "mu_min": float(client_eigs[:, 0].min()),
            "zeta2": zeta2,
            "zeta": math.sqrt(zeta2),
            "delta_H": float(np.abs(np.linalg.eigvalsh(Hs - self.H)).max()),
            "sigma": math.sqrt(self.noise.sigma2),
            "sigma2": float(self.noise.sigma2),
            "R0": float(np.sum((self.x0 - self.x_star) ** 2)),
            "F0": float(self.loss(self.x0)) - self.f_star,
            "f_star": self.f_star,
            "d": float(d),
            "n": float(n),
        }

    # -- constructor -------------------------------------------------------------------------------

    @classmethod
    def random(
        cls,
        n: int,
        d: int,
        mu: float,
        L: float,
        zeta: float,
        *,
        R0: float | None = None,
        noise: object = None,
        seed: int = 0,
    ) -> FederatedQuadratic:
        """n clients with H_i = Q_i diag(lambda) Q_i^T, lambda log-spaced in [mu, L], Q_i independent
        Haar rotations (so every f_i is mu-strongly convex and L-smooth, and so is f; the certified mu, L
        of f are those of the assembled mean), and client optima x*_i = c + s u_i with c, u_i standard
        Gaussian and s > 0 chosen so that zeta^2 = (1/n) sum_i ||grad f_i(x*)||^2 equals zeta^2 exactly
        (grad f_i(x*) is linear in s). zeta = 0 gives x*_i = c for all i (homogeneous optima)."""
        n, d = integer("n", n, low=1), integer("d", d, low=1)
        L = positive("L", L)
        mu = in_interval("mu", mu, 0.0, L, closed="right")
        zeta = positive("zeta", zeta, allow_zero=True)
        rng = make_rng(seed)
        spectrum = np.geomspace(mu, L, d)
        Hs = np.stack([random_hessian(spectrum, True, rng)[0] for _ in range(n)])
        c = rng.standard_normal(d)
        u = rng.standard_normal((n, d))
        # at s = 1: v = x* - c = (sum H_i)^{-1} sum H_i u_i, grad f_i(x*) = H_i (v - u_i)
        v = np.linalg.solve(Hs.sum(axis=0), np.einsum("nij,nj->i", Hs, u))
        z1 = math.sqrt(float(np.mean(np.sum(np.einsum("nij,nj->ni", Hs, v - u) ** 2, axis=1))))
        s = 0.0 if zeta == 0 or z1 == 0 else zeta / z1
        return cls(Hs, c + s * u, R0=R0, noise=noise, seed=seed + 1)

    # -- client oracles ----------------------------------------------------------------------------

    def _clients(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim < 2 or y.shape[-2:] != (self.n, self.d):
            raise InputError(f"client points must have shape (..., n={self.n}, d={self.d}), got {y.shape}")
        return y

    def client_loss(self, y: np.ndarray) -> np.ndarray:
        """f_i(y_i) for every client: (..., n, d) -> (..., n)."""
        diff = self._clients(y) - self.x_star_clients
        return 0.5 * np.einsum("...ni,nij,...nj->...n", diff, self.H_clients, diff)

    def client_grads(self, y: np.ndarray) -> np.ndarray:
        """grad f_i(y_i) = H_i (y_i - x*_i) for every client: (..., n, d) -> (..., n, d)."""
        return np.einsum("nij,...nj->...ni", self.H_clients, self._clients(y) - self.x_star_clients)

    def client_stoch_grads(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """g_i(y_i) = grad f_i(y_i) + xi_i, independent noise per client and batch entry."""
        g = self.client_grads(y)
        return g + self.noise.sample(g.shape, rng)

    # -- the global objective ----------------------------------------------------------------------

    def loss(self, x: np.ndarray) -> np.ndarray:
        """f(x) = 1/2 (x - x*)^T H (x - x*) + f* (equal to (1/n) sum_i f_i(x), tested)."""
        diff = np.asarray(x) - self.x_star
        return 0.5 * np.sum((diff @ self.H) * diff, axis=-1) + self.f_star

    def grad(self, x: np.ndarray) -> np.ndarray:
        """grad f(x) = H (x - x*) (equal to (1/n) sum_i grad f_i(x), tested)."""
        return (np.asarray(x) - self.x_star) @ self.H

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(1/n) sum_i g_i(x): all clients at the same x (one round of mini-batch SGD over clients)."""
        return self.client_stoch_grads(broadcast_clients(np.asarray(x, dtype=np.float64), self.n), rng).mean(axis=-2)

    def __repr__(self) -> str:
        c = self.constants
        return (
            f"FederatedQuadratic(n={self.n}, d={self.d}, L={c['L']:g}, mu={c['mu']:g}, zeta={c['zeta']:g}, "
            f"delta_H={c['delta_H']:g}, noise={self.noise!r}, seed={self.seed})"
        )
