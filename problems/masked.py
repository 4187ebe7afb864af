"""Block quadratics with a coupled core for masked / partial training (THEOREMS.md T6 (d), G1, G4).

    f(x) = 1/2 (x - x*)^T H (x - x*) + c sum_j sin^2(x_j - x*_j),   H = [[H_cc, a C], [a C^T, H_nn]],

core = the first k coordinates, mask m = (1, .., 1, 0, .., 0). H_cc, H_nn are G1 blocks (rotated spectra),
C is a k x (d - k) Gaussian matrix scaled to ||C||_op = 1, so the core gradient differs from the parent's
core block by exactly a C x_n (catalog T6 (d)). c = 0 is the G1 quadratic, c > 0 its G4 nonconvex variant
(Hessian H + 2c diag(cos 2(x_j - x*_j)), between H - 2cI and H + 2cI).

The core objective is f_core(x) = f(m . x); its gradient is u(x) = m . grad f(m . x). At x*, u(x*) = -a C x*_n
(the sin^2 term vanishes on the core coordinates there) [DERIVED]: the parent and the core share the stationary
point x* iff a C x*_n = 0. With a = 0 the core gradient is the parent gradient's core block everywhere,
u(x) = m . grad f(x) (perfect alignment in the catalog's sense); with a != 0 and mass of x* outside the core,
they have no common stationary point (the incompatible core of T6 (f)).

Certified constants: L = lambda_max(H) + 2c (attained at x*, where cos = 1), lambda_min = lambda_min(H),
rho = max(2c - lambda_min, 0) (G4), F0 = f(x0) - f_inf with f_inf = f(x*) = 0 (both terms >= 0), R0, sigma,
a, k, core_gap = ||u(x*)|| = |a| ||C x*_n||, compatible (1 when core_gap = 0), aligned (1 when a = 0).
"""

from __future__ import annotations

import math

import numpy as np

from problems.noise import resolve_noise
from problems.quadratic import finite_array, make_rng, random_hessian, start_point
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = ["MaskedBlock"]


class MaskedBlock:
    """f(x) = 1/2 (x - x*)^T H (x - x*) + c sum_j sin^2(x_j - x*_j) with a coupled core block (module docstring).

    Parameters
    ----------
    core_eigenvalues, rest_eigenvalues: spectra of H_cc (k of them) and H_nn (d - k), finite and > 0.
    a: the coupling, |a| <= sqrt(lambda_min(H_cc) lambda_min(H_nn)) (a sufficient condition for H >= 0).
    c: weight of the sin^2 term, >= 0 (c = 0: G1; c > 0: the G4 nonconvex variant).
    x_star: the minimiser (default: standard Gaussian core block, outside block of squared norm ``outside``).
    outside: ||x*_n||^2, the mass of x* outside the core, when x_star is not given (default 1).
    x0, R0: the start, or its squared distance to x* (equal energy along the eigenvectors of the blocks).
    noise: None, a number sigma (Gaussian(sigma, d)) or a Noise model of dimension d.
    seed: seeds the blocks, C, x* and the start.
    """

    def __init__(
        self,
        core_eigenvalues: object,
        rest_eigenvalues: object,
        a: float,
        *,
        c: float = 0.0,
        x_star: object = None,
        outside: float = 1.0,
        x0: object = None,
        R0: float | None = None,
        noise: object = None,
        seed: int = 0,
    ) -> None:
        lam_c = finite_array("core_eigenvalues", core_eigenvalues, ndim=1)
        lam_n = finite_array("rest_eigenvalues", rest_eigenvalues, ndim=1)
        for name, lam in (("core_eigenvalues", lam_c), ("rest_eigenvalues", lam_n)):
            if np.any(lam <= 0):
                raise InputError(f"{name} must be > 0, got {lam!r}")
        a_max = math.sqrt(float(lam_c.min() * lam_n.min()))
        self.a = in_interval("a", a, -a_max, a_max)
        self.c = positive("c", c, allow_zero=True)
        self.k, self.d = lam_c.shape[0], lam_c.shape[0] + lam_n.shape[0]
        self.seed = seed
        rng = make_rng(seed)

        H_cc, Q_c = random_hessian(lam_c, True, rng)
        H_nn, Q_n = random_hessian(lam_n, True, rng)
        C = rng.standard_normal((self.k, self.d - self.k))
        self.C = C / np.linalg.norm(C, 2)  # ||C||_op = 1
        H = np.block([[H_cc, self.a * self.C], [self.a * self.C.T, H_nn]])
        self.H = (H + H.T) / 2
        self.H.setflags(write=False)
        self.eigenvalues = np.linalg.eigvalsh(self.H)
        self.m = np.concatenate([np.ones(self.k), np.zeros(self.d - self.k)])
        self.m.setflags(write=False)
        if x_star is None:
            x_n = rng.standard_normal(self.d - self.k)
            x_n *= math.sqrt(positive("outside", outside, allow_zero=True)) / np.linalg.norm(x_n)
            self.x_star = np.concatenate([rng.standard_normal(self.k), x_n])
            self.x_star.setflags(write=False)
        else:
            self.x_star = finite_array("x_star", x_star, ndim=1, shape=(self.d,))
        Q = np.block([[Q_c, np.zeros((self.k, self.d - self.k))], [np.zeros((self.d - self.k, self.k)), Q_n]])
        self.x0 = start_point(x0, R0, self.x_star, Q, rng)
        self.noise = resolve_noise(noise, self.d)
        self.f_star = 0.0

        lambda_min = float(self.eigenvalues[0])
        core_gap = float(np.linalg.norm(self.core_grad(self.x_star)))
        self.constants = {
            "L": float(self.eigenvalues[-1]) + 2 * self.c,
            "lambda_min": lambda_min,
            "rho": max(2 * self.c - lambda_min, 0.0),
            "c": self.c,
            "a": self.a,
            "k": float(self.k),
            "d": float(self.d),
            "F0": float(self.loss(self.x0)) - self.f_star,
            "f_inf": self.f_star,
            "f_star": self.f_star,
            "R0": float(np.sum((self.x0 - self.x_star) ** 2)),
            "outside": float(np.sum(self.x_star[self.k:] ** 2)),
            "core_gap": core_gap,
            "compatible": float(core_gap == 0.0),
            "aligned": float(self.a == 0.0),
            "sigma": math.sqrt(self.noise.sigma2),
            "sigma2": float(self.noise.sigma2),
        }

    @classmethod
    def g1(cls, k: int, d: int, a: float, *, mu: float = 0.25, L: float = 1.0, **kw: object) -> MaskedBlock:
        """Both blocks with spectra log-spaced in [mu, L] (k and d - k of them), coupling a (T6 (d))."""
        k = integer("k", k, low=1)
        d = integer("d", d, low=k + 1)
        L = positive("L", L)
        mu = in_interval("mu", mu, 0.0, L, closed="right")
        return cls(np.geomspace(mu, L, k), np.geomspace(mu, L, d - k), a, **kw)

    # -- oracle ------------------------------------------------------------------------------------

    def loss(self, x: np.ndarray) -> np.ndarray:
        e = np.asarray(x) - self.x_star
        return 0.5 * np.sum((e @ self.H) * e, axis=-1) + self.c * np.sum(np.sin(e) ** 2, axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        e = np.asarray(x) - self.x_star
        g = e @ self.H  # H is symmetric
        return g + self.c * np.sin(2 * e) if self.c else g

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = self.grad(x)
        return g + self.noise.sample(g.shape, rng)

    def core_grad(self, x: np.ndarray) -> np.ndarray:
        """u(x) = m . grad f(m . x), the gradient of f_core(x) = f(m . x) (T6 (a))."""
        return self.m * self.grad(self.m * np.asarray(x))

    # -- exact quantities --------------------------------------------------------------------------

    def alternating_limit(self, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """(x_even, x_odd): the 2-periodic limit of alternating partial training without noise (c = 0) [DERIVED].

        With e = x - x* and M = diag(m): a full step is e <- F e, F = I - gamma H; a core step is
        e <- G e + b, G = I - gamma M H M, b = gamma M H (I - M) x*. From an even step, e_even = (I - G F)^{-1} b
        and e_odd = F e_even (the limit exists when G F is a contraction, e.g. gamma < 2/L)."""
        if self.c:
            raise InputError(f"alternating_limit needs c = 0 (the quadratic), got c={self.c!r}")
        gamma = in_interval("gamma", gamma, 0.0, 2.0 / self.constants["L"], closed="neither")
        eye, M = np.eye(self.d), np.diag(self.m)
        F, G = eye - gamma * self.H, eye - gamma * M @ self.H @ M
        b = gamma * M @ self.H @ (eye - M) @ self.x_star
        e_even = np.linalg.solve(eye - G @ F, b)
        return self.x_star + e_even, self.x_star + F @ e_even

    def alternating_floor(self, gamma: float) -> dict[str, float]:
        """The limits of (1/T) sum_t ||grad f(x_t)||^2 and of the same for f_core under alternating partial training
        without noise (c = 0): the means over the 2-cycle (x_even, x_odd) of ``alternating_limit`` [DERIVED]."""
        xs = self.alternating_limit(gamma)
        return {"gnorm2": float(np.mean([np.sum(self.grad(x) ** 2) for x in xs])),
                "core_gnorm2": float(np.mean([np.sum(self.core_grad(x) ** 2) for x in xs]))}

    def __repr__(self) -> str:
        return (f"MaskedBlock(k={self.k}, d={self.d}, a={self.a:g}, c={self.c:g}, L={self.constants['L']:g}, "
                f"noise={self.noise!r}, seed={self.seed})")
