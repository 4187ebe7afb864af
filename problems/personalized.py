"""User 0 and N collaborators with exact task bias (THEOREMS.md T5.2 (d), built like G3 with G4's sine term).

Task i = 0..N (user 0 is task 0) holds

    f_i(x) = 1/2 (x - x*)^T (H + D_i) (x - x*) + w_i^T (x - x*) + c sum_j sin^2(x_j - x*_j),    D_0 = 0, w_0 = 0,

so user 0's objective f_0 is G1 (c = 0) or G4 (c > 0) centred at x*: f_0 >= 0 = f_0(x*), F0 = f_0(x0) exactly,
L = lambda_max(H) + 2c. The bias of collaborator i is [DERIVED]

    grad f_i(x) - grad f_0(x) = D_i (x - x*) + w_i,      ||w_i|| = zeta exactly,  ||D_i||_op = delta_H exactly,

shared H and D_i = 0 (delta_H = 0) is the catalog's "pure optimum shift": x*_i = x* - H^{-1} w_i for c = 0. The
collaborators are nested: collaborator i is drawn from its own seed (SeedSequence(seed, spawn_key=(i,))), so the
tasks of N = 3 are the first three of N = 15 and user 0 is the same for every N. Within-task noise: every
stochastic gradient adds an independent draw of a problems.noise model (G2, sigma_i = sigma_0 = sigma).

Oracle (the client oracle of ratecheck.problem.ClientProblem, rows = tasks): ``client_stoch_grads(y, rng,
clients=None)`` on task points y of shape (..., N + 1, d), or (..., S, d) with ``clients`` (S,) task indices.
``loss``, ``grad`` and ``constants`` are user 0's (the objective the user minimises), not the tasks' mean.
"""

from __future__ import annotations

import math

import numpy as np

from problems.noise import resolve_noise
from problems.quadratic import finite_array, make_rng, random_hessian, start_point
from ratecheck.problem import shared_point
from ratecheck.validate import InputError, integer, positive

__all__ = ["PersonalizedTasks"]


class PersonalizedTasks:
    """User 0 and N collaborators (module docstring).

    Parameters
    ----------
    H: (d, d) symmetric, positive definite (c = 0) or semidefinite (c > 0): user 0's Hessian.
    D: (N, d, d) symmetric, the collaborators' Hessian offsets D_1..D_N (D_0 = 0).
    w: (N, d), the collaborators' gradient offsets at x*, w_1..w_N (w_0 = 0).
    c: G4's sine weight (nonconvex when 2c > lambda_min(H)); x_star (default 0), x0 or R0, noise, seed as in G3.

    Constants (certified): L, mu (0 when c > 0), L_max = max_i lambda_max(H + D_i) + 2c, zeta = max_i ||w_i||,
    delta_H = max_i ||D_i||_op, sigma, sigma2, R0 = ||x0 - x*||^2, F0 = f_0(x0), f_star = 0, c, d, N, N1 = N + 1.
    """

    def __init__(self, H: object, D: object, w: object, *, c: float = 0.0, x_star: object = None, x0: object = None,
                 R0: float | None = None, noise: object = None, seed: int = 0) -> None:
        H = np.array(finite_array("H", H, ndim=2))
        d = H.shape[0]
        D = np.array(finite_array("D", D, ndim=3)) if np.size(D) else np.zeros((0, d, d))
        N = D.shape[0]
        self.N = integer("N (the number of collaborators)", N, low=0)
        if H.shape != (d, d) or D.shape[1:] != (d, d):
            raise InputError(f"H must be (d, d) and D (N, d, d) with the same d, got {H.shape} and {D.shape}")
        w = np.array(finite_array("w", w, ndim=2, shape=(N, d))) if N else np.zeros((0, d))
        for name, A in (("H", H[None]), ("D", D)):
            if A.size and np.abs(A - np.swapaxes(A, -1, -2)).max() > 1e-12 * max(np.abs(A).max(), 1.0):
                raise InputError(f"{name} must be symmetric")
        self.c = positive("c", c, allow_zero=True)
        self.n = N + 1
        self.d = d
        self.H = (H + H.T) / 2
        self.D = np.concatenate([np.zeros((1, d, d)), (D + np.swapaxes(D, 1, 2)) / 2])  # task 0: D_0 = 0
        self.w = np.concatenate([np.zeros((1, d)), w])  # task 0: w_0 = 0
        self.has_D = bool(np.any(self.D))
        for a in (self.H, self.D, self.w):
            a.setflags(write=False)
        self.eigenvalues, Q = np.linalg.eigh(self.H)
        if self.eigenvalues[0] < -1e-12 * max(abs(self.eigenvalues[-1]), 1.0) or (self.c == 0 and self.eigenvalues[0] <= 0):
            raise InputError(f"H must be positive definite (c = 0) or semidefinite (c > 0), got lambda_min(H) = {self.eigenvalues[0]:g}")
        self.x_star = np.zeros(d) if x_star is None else np.array(finite_array("x_star", x_star, ndim=1, shape=(d,)))
        self.x_star.setflags(write=False)
        self.f_star = 0.0
        self.x0 = start_point(x0, R0, self.x_star, Q, make_rng(seed))
        self.noise = resolve_noise(noise, d)
        task_eigs = np.linalg.eigvalsh(self.H[None] + self.D)
        self.constants = {
            "L": float(self.eigenvalues[-1] + 2 * self.c), "mu": float(self.eigenvalues[0]) if self.c == 0 else 0.0,
            "L_max": float(task_eigs[:, -1].max() + 2 * self.c), "mu_min": float(task_eigs[:, 0].min()),
            "zeta": float(np.sqrt(np.sum(self.w**2, axis=1)).max()),
            "delta_H": float(np.abs(np.linalg.eigvalsh(self.D)).max()),
            "sigma": math.sqrt(self.noise.sigma2), "sigma2": float(self.noise.sigma2),
            "R0": float(np.sum((self.x0 - self.x_star) ** 2)), "F0": float(self.loss(self.x0)), "f_star": 0.0,
            "c": self.c, "d": float(d), "N": float(N), "N1": float(N + 1),
        }

    @classmethod
    def g3(cls, N: int, d: int, *, mu: float, L: float, zeta: float, delta_H: float = 0.0, c: float = 0.0,
           R0: float | None = None, noise: object = None, seed: int = 0) -> PersonalizedTasks:
        """H = Q diag(lambda) Q^T, lambda log-spaced in [mu, L] (Haar Q, from ``seed``); collaborator i (from its own
        seed, so nested in N): w_i = zeta u_i, u_i uniform on the sphere, D_i = delta_H U_i diag(+-1) U_i^T (U_i Haar,
        signs alternating: ||D_i||_op = delta_H exactly); x* = 0."""
        N, d = integer("N (the number of collaborators)", N, low=0), integer("d", d, low=1)
        L = positive("L", L)
        mu = positive("mu", mu)
        if mu > L:
            raise InputError(f"mu must be <= L = {L:g}, got {mu:g}")
        zeta, delta_H = positive("zeta", zeta, allow_zero=True), positive("delta_H", delta_H, allow_zero=True)
        H, _ = random_hessian(np.geomspace(mu, L, d), True, make_rng(seed))
        signs = np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
        D, w = np.zeros((N, d, d)), np.zeros((N, d))
        for i in range(1, N + 1):  # construction only (not a hot path)
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))
            u = rng.standard_normal(d)
            w[i - 1] = zeta * u / np.linalg.norm(u)
            D[i - 1] = random_hessian(delta_H * signs, True, rng)[0] if delta_H > 0 else 0.0
        return cls(H, D, w, c=c, R0=R0, noise=noise, seed=seed + 1)

    # -- oracles -----------------------------------------------------------------------------------

    def client_grads(self, y: np.ndarray, clients: np.ndarray | None = None) -> np.ndarray:
        """grad f_i(y_i) = (H + D_i)(y_i - x*) + w_i + c sin(2 (y_i - x*)), row i task i (or task clients[i]):
        (..., N + 1 or S, d) -> same shape. A shared point (ratecheck.problem.broadcast_clients) is multiplied
        by H once."""
        y = np.asarray(y, dtype=np.float64)
        idx = np.arange(self.n) if clients is None else np.asarray(clients)
        if y.ndim < 2 or y.shape[-2:] != (idx.shape[0], self.d):
            raise InputError(f"task points must have shape (..., {idx.shape[0]}, d={self.d}), got {y.shape}")
        x = shared_point(y)
        if x is not None:  # one point for every task: H u and the sine once, then the task offsets
            u = x - self.x_star
            common = u @ self.H + (self.c * np.sin(2 * u) if self.c else 0.0)
            g = common[..., None, :] + self.w[idx]
            if self.has_D:
                g = g + np.einsum("sij,...j->...si", self.D[idx], u, optimize=True)
            return g
        u = y - self.x_star
        g = u @ self.H + self.w[idx]
        if self.has_D:
            g = g + np.einsum("sij,...sj->...si", self.D[idx], u, optimize=True)
        return g + (self.c * np.sin(2 * u) if self.c else 0.0)

    def client_stoch_grads(self, y: np.ndarray, rng: np.random.Generator, clients: np.ndarray | None = None) -> np.ndarray:
        """g_i(y_i) = grad f_i(y_i) + xi_i, independent noise per task row and batch entry."""
        g = self.client_grads(y, clients)
        return g + self.noise.sample(g.shape, rng)

    def client_loss(self, y: np.ndarray) -> np.ndarray:
        """f_i(y_i) for every task: (..., N + 1, d) -> (..., N + 1)."""
        u = np.asarray(y, dtype=np.float64) - self.x_star
        quad = 0.5 * np.einsum("...ni,nij,...nj->...n", u, self.H[None] + self.D, u, optimize=True)
        return quad + np.sum(self.w * u, axis=-1) + self.c * np.sum(np.sin(u) ** 2, axis=-1)

    # -- user 0's objective ------------------------------------------------------------------------

    def loss(self, x: np.ndarray) -> np.ndarray:
        """f_0(x) = 1/2 (x - x*)^T H (x - x*) + c sum sin^2(x - x*)."""
        u = np.asarray(x) - self.x_star
        return 0.5 * np.sum((u @ self.H) * u, axis=-1) + self.c * np.sum(np.sin(u) ** 2, axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        """grad f_0(x) = H (x - x*) + c sin(2 (x - x*))."""
        u = np.asarray(x) - self.x_star
        return u @ self.H + self.c * np.sin(2 * u)

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """g_0(x) = grad f_0(x) + xi: user 0 alone."""
        g = self.grad(x)
        return g + self.noise.sample(g.shape, rng)

    def weighted_grad(self, x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """grad f_alpha(x) = sum_i alpha_i grad f_i(x), f_alpha the objective WGA minimises: (..., d) -> (..., d)."""
        u = np.asarray(x, dtype=np.float64) - self.x_star
        H_a = self.H + np.einsum("i,ijk->jk", alpha, self.D)
        return u @ H_a + alpha @ self.w + self.c * np.sin(2 * u)

    def __repr__(self) -> str:
        k = self.constants
        return (f"PersonalizedTasks(N={self.N}, d={self.d}, L={k['L']:g}, zeta={k['zeta']:g}, delta_H={k['delta_H']:g}, "
                f"c={self.c:g}, noise={self.noise!r})")
