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
from ratecheck.problem import broadcast_clients, sample_clients
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = ["FederatedQuadratic", "HeterogeneousClients", "sample_clients"]

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


# ----------------------------------------------------------------------------------------------------
# G3 with zeta and delta_H set independently, G4's sine term, and client sampling (THEOREMS.md G3, G4, T4)


class HeterogeneousClients:
    """N clients with Hessian dissimilarity delta_H and optimum heterogeneity zeta set independently
    (THEOREMS.md G3, with G4's sine term for a nonconvex family):

        f_i(x) = 1/2 (x - x*)^T H_i (x - x*) + w_i^T (x - x*) + c sum_j sin^2(x_j - x*_j),
        H_i = H + D_i,   sum_i D_i = 0,   sum_i w_i = 0,
        f(x) = (1/N) sum_i f_i(x) = 1/2 (x - x*)^T H (x - x*) + c sum_j sin^2(x_j - x*_j),   f* = 0 = f(x*).

    This is G3's f_i = 1/2 x^T H_i x - b_i^T x (+ const) with b_i = H_i x* - w_i, written around x* so that
    every constant is exact [DERIVED]:
        grad f_i(x) = H_i (x - x*) + w_i + c sin(2 (x - x*)),   grad f_i(x*) = w_i,
        zeta^2(x) := (1/N) sum_i ||grad f_i(x) - grad f(x)||^2 = (1/N) sum_i ||D_i (x - x*) + w_i||^2,
        zeta^2 = zeta^2(x*) = (1/N) sum_i ||w_i||^2,   delta_H = max_i ||D_i||_op = max_i ||grad^2 f_i - grad^2 f||_op,
        f is L-smooth with L = lambda_max(H) + 2c, each f_i with L_max = max_i lambda_max(H_i) + 2c;
        c = 0: f is mu-strongly convex, mu = lambda_min(H); c > 0: f >= 0 = f(x*) still (H >= 0), nonconvex
        when 2c > lambda_min(H) (G4), f_inf = 0 exactly and F0 = f(x0).
    SCAFFOLD's (G, B)-BGD (A1) with B = 1: (1/N) sum ||grad f_i||^2 = ||grad f||^2 + zeta^2(x), so G^2 is the
    supremum of zeta^2(x) over the region the run visits (``bgd_G2(radius)``: exact over a ball around x*).
    Within-client noise: each stochastic gradient adds an independent draw of a problems.noise model (G2).

    Oracles on client points y of shape (..., N, d) (every client, ratecheck.problem.ClientProblem) or,
    with ``clients`` (..., S) indices from ``sample_clients``, on y of shape (..., S, d): row s evaluated by
    client clients[..., s]. The noise can be passed (``xi``) so that two points see the same minibatch.
    """

    def __init__(self, H: object, D: object, w: object, *, x_star: object = None, c: float = 0.0,
                 x0: object = None, R0: float | None = None, noise: object = None, seed: int = 0,
                 require_convex: bool = False) -> None:
        H = np.array(finite_array("H", H, ndim=2))
        d = H.shape[0]
        D = np.array(finite_array("D", D, ndim=3))
        N = D.shape[0]
        if H.shape != (d, d) or D.shape[1:] != (d, d):
            raise InputError(f"H must be (d, d) and D (N, d, d) with the same d, got {H.shape} and {D.shape}")
        for name, A in (("H", H[None]), ("D", D)):
            asym = np.abs(A - np.swapaxes(A, -1, -2)).max()
            if asym > SYMMETRY_TOL * max(np.abs(A).max(), 1.0):
                raise InputError(f"{name} must be symmetric (every client Hessian H_i = H + D_i is), got max |A - A^T| = {asym:g}")
        H, D = (H + H.T) / 2, (D + np.swapaxes(D, 1, 2)) / 2
        scale = max(np.abs(D).max(), 1.0)
        if np.abs(D.sum(axis=0)).max() > 1e-10 * scale * N:
            raise InputError("D must sum to zero over the clients (sum_i D_i = 0, so that H is the mean Hessian)")
        w = np.array(finite_array("w", w, ndim=2, shape=(N, d)))
        if np.abs(w.sum(axis=0)).max() > 1e-10 * max(np.abs(w).max(), 1.0) * N:
            raise InputError("w must sum to zero over the clients (sum_i w_i = 0, so that x* is optimal for f)")
        self.c = positive("c", c, allow_zero=True)
        self.n = self.N = integer("N", N, low=1)
        self.d = d
        self.H = H
        self.D = D
        self.H_clients = H[None] + D
        self.w = w
        for a in (self.H, self.D, self.H_clients, self.w):
            a.setflags(write=False)
        self.eigenvalues, Q = np.linalg.eigh(H)
        if self.eigenvalues[0] < -1e-12 * max(abs(self.eigenvalues[-1]), 1.0) or (c == 0 and self.eigenvalues[0] <= 0):
            raise InputError(f"H must be positive definite (c = 0) or semidefinite (c > 0), got lambda_min(H) = {self.eigenvalues[0]:g}")
        client_eigs = np.linalg.eigvalsh(self.H_clients)
        if require_convex and client_eigs[:, 0].min() < -1e-12:
            raise InputError(f"every client must be convex (H_i = H + D_i >= 0; choose delta_H <= lambda_min(H)), got "
                             f"min_i lambda_min(H_i) = {client_eigs[:, 0].min():g}")
        self.x_star = np.zeros(d) if x_star is None else np.array(finite_array("x_star", x_star, ndim=1, shape=(d,)))
        self.x_star.setflags(write=False)
        self.f_star = 0.0
        self.x0 = start_point(x0, R0, self.x_star, Q, make_rng(seed))
        self.noise = resolve_noise(noise, d)
        self.seed = seed
        zeta2 = float(np.mean(np.sum(w * w, axis=1)))
        self.constants = {
            "L": float(self.eigenvalues[-1] + 2 * self.c),
            "mu": float(self.eigenvalues[0]) if self.c == 0 else 0.0,
            "L_max": float(client_eigs[:, -1].max() + 2 * self.c),
            "mu_min": float(client_eigs[:, 0].min()),
            "zeta2": zeta2,
            "zeta": math.sqrt(zeta2),
            "delta_H": float(np.abs(np.linalg.eigvalsh(D)).max()) if N > 1 or np.any(D) else 0.0,
            "sigma": math.sqrt(self.noise.sigma2),
            "sigma2": float(self.noise.sigma2),
            "R0": float(np.sum((self.x0 - self.x_star) ** 2)),
            "F0": float(self.loss(self.x0)),
            "f_star": 0.0,
            "c": self.c,
            "d": float(d),
            "N": float(N),
            "n": float(N),
        }

    @classmethod
    def g3(cls, N: int, d: int, *, mu: float, L: float, delta_H: float, zeta: float, c: float = 0.0,
           convex: bool = False, R0: float | None = None, noise: object = None, seed: int = 0) -> HeterogeneousClients:
        """THEOREMS.md G3: H = Q diag(lambda) Q^T with lambda log-spaced in [mu, L] (Haar Q);
        D_{2j} = delta_H U_j diag(+-1) U_j^T (U_j Haar, signs alternating so ||D_{2j}||_op = delta_H exactly),
        D_{2j+1} = -D_{2j} (N even; N = 1 needs delta_H = 0); w_i Gaussian, centred over the clients and
        scaled so that (1/N) sum ||w_i||^2 = zeta^2 exactly. ``convex`` requires H_i >= 0 (delta_H <= mu);
        ``c`` adds G4's sine term (nonconvex when 2c > mu); x* = 0."""
        N, d = integer("N", N, low=1), integer("d", d, low=1)
        L = positive("L", L)
        mu = in_interval("mu", mu, 0.0, L, closed="right")
        delta_H = positive("delta_H", delta_H, allow_zero=True)
        zeta = positive("zeta", zeta, allow_zero=True)
        if delta_H > 0 and N % 2:
            raise InputError(f"N must be even when delta_H > 0 (clients come in pairs D, -D), got N = {N}")
        if convex and delta_H > mu:
            raise InputError(f"delta_H must be <= mu = {mu:g} for convex clients (H_i = H + D_i >= (mu - delta_H) I), got delta_H = {delta_H:g}")
        rng = make_rng(seed)
        H, _ = random_hessian(np.geomspace(mu, L, d), True, rng)
        D = np.zeros((N, d, d))
        if delta_H > 0:
            signs = np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
            for j in range(N // 2):  # construction only (not a hot path)
                Dj, _ = random_hessian(delta_H * signs, True, rng)
                D[2 * j], D[2 * j + 1] = Dj, -Dj
        w = rng.standard_normal((N, d)) if N > 1 else np.zeros((1, d))
        w = w - w.mean(axis=0)
        norm = math.sqrt(float(np.mean(np.sum(w * w, axis=1))))
        w = w * (zeta / norm if norm > 0 else 0.0)
        return cls(H, D, w, c=c, R0=R0, noise=noise, seed=seed + 1, require_convex=convex)

    # -- oracles -----------------------------------------------------------------------------------

    def _gather(self, clients: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
        if clients is None:
            if shape[-2:] != (self.N, self.d):
                raise InputError(f"client points must have shape (..., N={self.N}, d={self.d}) without `clients`, got {shape}")
            return None
        clients = np.asarray(clients)
        if clients.shape != shape[:-1] or shape[-1] != self.d:
            raise InputError(f"client points of shape {shape} need client indices of shape {shape[:-1]}, got {clients.shape}")
        return clients

    def client_grads(self, y: np.ndarray, clients: np.ndarray | None = None) -> np.ndarray:
        """grad f_i(y) = H_i (y - x*) + w_i + c sin(2 (y - x*)) row by row: (..., N or S, d) -> same shape.
        With ``clients``, each row's H_i y is computed as H y + D_i y (one product with the shared H, one
        gather of the sampled D_i), never as a loop."""
        y = np.asarray(y, dtype=np.float64)
        idx = self._gather(clients, y.shape)
        u = y - self.x_star
        if idx is None and u.ndim == 3:  # (R, N, d): N BLAS products (R x d) @ (d x d), H_i symmetric
            g = np.matmul(u.swapaxes(0, 1), self.H_clients).swapaxes(0, 1) + self.w
        elif idx is None:
            g = np.einsum("nij,...nj->...ni", self.H_clients, u, optimize=True) + self.w
        elif u.ndim == 3:  # (R, S, d): scatter into the (R, N, d) client slots, N BLAS products, gather back
            rows = np.arange(u.shape[0])[:, None]
            full = np.zeros((u.shape[0], self.N, self.d))
            full[rows, idx] = u
            g = np.matmul(full.swapaxes(0, 1), self.D).swapaxes(0, 1)[rows, idx] + u @ self.H + self.w[idx]
        else:
            g = u @ self.H + np.einsum("...sij,...sj->...si", self.D[idx], u, optimize=True) + self.w[idx]
        if self.c:
            g = g + self.c * np.sin(2 * u)
        return g

    def client_stoch_grads(self, y: np.ndarray, rng: np.random.Generator, clients: np.ndarray | None = None,
                           xi: np.ndarray | None = None) -> np.ndarray:
        """g_i(y) = grad f_i(y) + xi (xi drawn here unless given: pass the same xi at two points for the
        same minibatch)."""
        g = self.client_grads(y, clients)
        return g + (self.noise.sample(g.shape, rng) if xi is None else xi)

    def client_loss(self, y: np.ndarray, clients: np.ndarray | None = None) -> np.ndarray:
        """f_i(y) row by row: (..., N or S, d) -> (..., N or S)."""
        y = np.asarray(y, dtype=np.float64)
        idx = self._gather(clients, y.shape)
        u = y - self.x_star
        Hs, w = (self.H_clients, self.w) if idx is None else (self.H_clients[idx], self.w[idx])
        quad = 0.5 * np.einsum("...ni,...nij,...nj->...n", u, np.broadcast_to(Hs, u.shape[:-1] + (self.d, self.d)), u, optimize=True)
        return quad + np.sum(w * u, axis=-1) + self.c * np.sum(np.sin(u) ** 2, axis=-1)

    def loss(self, x: np.ndarray) -> np.ndarray:
        """f(x) = 1/2 (x - x*)^T H (x - x*) + c sum sin^2(x - x*) (= (1/N) sum_i f_i(x), tested)."""
        u = np.asarray(x) - self.x_star
        return 0.5 * np.sum((u @ self.H) * u, axis=-1) + self.c * np.sum(np.sin(u) ** 2, axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        """grad f(x) = H (x - x*) + c sin(2 (x - x*))."""
        u = np.asarray(x) - self.x_star
        return u @ self.H + self.c * np.sin(2 * u)

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(1/N) sum_i g_i(x): every client at the shared x."""
        return self.client_stoch_grads(broadcast_clients(np.asarray(x, dtype=np.float64), self.N), rng).mean(axis=-2)

    def zeta2_at(self, x: np.ndarray) -> np.ndarray:
        """zeta^2(x) = (1/N) sum_i ||D_i (x - x*) + w_i||^2 for x of shape (..., d)."""
        u = np.asarray(x, dtype=np.float64) - self.x_star
        r = np.einsum("nij,...j->...ni", self.D, u) + self.w
        return np.mean(np.sum(r * r, axis=-1), axis=-1)

    def bgd_G2(self, radius: float) -> float:
        """G^2 = sup of zeta^2(x) over the ball ||x - x*|| <= radius: (G, B = 1)-BGD holds on that ball
        (SCAFFOLD A1). zeta^2(x*+u) = u^T A u + 2 p^T u + zeta^2, A = (1/N) sum D_i^2, p = (1/N) sum D_i w_i, is
        convex, so its maximum is on the sphere ||u|| = radius: the trust-region stationarity (lambda I - A) u = p
        with lambda >= lambda_max(A), solved on the secular equation ||u(lambda)|| = radius (scipy brentq),
        the degenerate ('hard') case p orthogonal to the top eigenspace handled explicitly."""
        from scipy.optimize import brentq

        radius = positive("radius", radius, allow_zero=True)
        A = np.einsum("nij,njk->ik", self.D, self.D) / self.N
        p = np.einsum("nij,nj->i", self.D, self.w) / self.N
        z2 = self.constants["zeta2"]
        if radius == 0:
            return z2
        lam, V = np.linalg.eigh((A + A.T) / 2)
        q = V.T @ p
        top = lam[-1]
        value = lambda u: float(u @ A @ u + 2 * p @ u + z2)
        norm = lambda l_: float(np.sqrt(np.sum((q / (l_ - lam)) ** 2)))
        tiny = 1e-12 * max(top, 1e-300)
        on_top = np.abs(lam - top) <= tiny
        if np.all(np.abs(q[on_top]) <= 1e-14 * max(np.abs(q).max(), 1e-300)):  # hard case candidate
            rest = ~on_top
            u_rest = np.zeros_like(q)
            u_rest[rest] = q[rest] / (top - lam[rest]) if np.any(rest) else 0.0
            gap = radius**2 - float(np.sum(u_rest**2))
            if gap >= 0:
                u = u_rest.copy()
                u[np.flatnonzero(on_top)[0]] = math.sqrt(gap)
                return value(V @ u)
        hi = top + max(np.linalg.norm(q) / radius, tiny) * 2 + tiny
        while norm(hi) > radius:
            hi = top + 2 * (hi - top)
        lo = top + tiny
        while norm(lo) < radius:
            lo = top + (lo - top) / 2
            if lo - top < 1e-300:
                break
        l_ = brentq(lambda l_: norm(l_) - radius, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500)
        return value(V @ (q / (l_ - lam)))

    def __repr__(self) -> str:
        k = self.constants
        return (f"HeterogeneousClients(N={self.N}, d={self.d}, L={k['L']:g}, mu={k['mu']:g}, zeta={k['zeta']:g}, "
                f"delta_H={k['delta_H']:g}, c={self.c:g}, noise={self.noise!r}, seed={self.seed})")
