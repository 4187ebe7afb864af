"""A smooth nonconvex test function with exact constants (THEOREMS.md G4).

f(x) = 1/2 x^T H x + c sum_j sin^2(x_j), H = Q diag(lambda) Q^T >= 0 as in G1, c >= 0.
grad f(x) = H x + c sin(2x); Hessian H + 2c diag(cos(2x_j)), between H - 2cI and H + 2cI, so
L = lambda_max(H) + 2c (attained at x = 0) and f is rho-weakly convex with rho = max(0, 2c - lambda_min(H))
(attained at x_j = pi/2), nonconvex exactly when 2c > lambda_min(H). Both terms are >= 0 and vanish at 0:
f_inf = f(0) = 0, x_star = 0, F0 = f(x0).
"""

from __future__ import annotations

import math

import numpy as np

from problems.noise import resolve_noise
from problems.quadratic import finite_array, make_rng, random_hessian, start_point
from ratecheck.validate import InputError, positive

__all__ = ["Nonconvex"]


class Nonconvex:
    """f(x) = 1/2 x^T H x + c sum_j sin^2(x_j) with additive noise (G4).

    Parameters
    ----------
    eigenvalues: the spectrum of H, finite and >= 0.
    c: weight of the sin^2 term, >= 0 (L = lambda_max(H) + 2c must be > 0).
    rotate: H = Q diag(lambda) Q^T with Q Haar-orthogonal (True) or diagonal (False).
    x0: the start (default: a vector with squared norm ``R0`` (default 1) and equal energy along every
        eigenvector of H; give x0 or R0, not both).
    noise: None, a number sigma (Gaussian(sigma, d)) or a Noise model of dimension d.
    seed: seeds Q, then the signs of x0.

    Attributes: ``nonconvex`` (2c > lambda_min(H)). Constants: L, rho, lambda_min (of H), c, F0, f_inf,
    f_star (= f_inf = 0), R0 = ||x0||^2, sigma, sigma2, d.
    """

    def __init__(
        self,
        eigenvalues: object,
        c: float,
        *,
        rotate: bool = True,
        x0: object = None,
        R0: float | None = None,
        noise: object = None,
        seed: int = 0,
    ) -> None:
        spectrum = finite_array("eigenvalues", eigenvalues, ndim=1)
        if np.any(spectrum < 0):
            raise InputError(f"eigenvalues must be >= 0 (H positive semidefinite), got {spectrum!r}")
        self.c = positive("c", c, allow_zero=True)
        if not isinstance(rotate, (bool, np.bool_)):
            raise InputError(f"rotate must be True or False, got {rotate!r}")
        if np.max(spectrum) == 0 and self.c == 0:
            raise InputError("c must be > 0 when all eigenvalues are 0 (f would be constant), got c=0")
        self.d = spectrum.shape[0]
        self.rotate = bool(rotate)
        self.seed = seed
        rng = make_rng(seed)

        self.H, self.Q = random_hessian(spectrum, self.rotate, rng)
        self.H.setflags(write=False)
        self.eigenvalues = np.linalg.eigvalsh(self.H)
        self.x_star = np.zeros(self.d)
        self.x_star.setflags(write=False)
        self.x0 = start_point(x0, R0, self.x_star, self.Q, rng)
        self.noise = resolve_noise(noise, self.d)
        self.f_star = 0.0

        lambda_min, lambda_max = max(float(self.eigenvalues[0]), 0.0), float(self.eigenvalues[-1])
        self.nonconvex = 2 * self.c > lambda_min
        self.constants = {
            "L": lambda_max + 2 * self.c,
            "rho": max(2 * self.c - lambda_min, 0.0),
            "lambda_min": lambda_min,
            "c": self.c,
            "F0": float(self.loss(self.x0)) - self.f_star,
            "f_inf": self.f_star,
            "f_star": self.f_star,
            "R0": float(np.sum(self.x0**2)),
            "sigma": math.sqrt(self.noise.sigma2),
            "sigma2": float(self.noise.sigma2),
            "d": float(self.d),
        }

    def loss(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return 0.5 * np.sum((x @ self.H) * x, axis=-1) + self.c * np.sum(np.sin(x) ** 2, axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return x @ self.H + self.c * np.sin(2 * x)

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = self.grad(x)
        return g + self.noise.sample(g.shape, rng)

    def __repr__(self) -> str:
        return (
            f"Nonconvex(d={self.d}, L={self.constants['L']:g}, c={self.c:g}, nonconvex={self.nonconvex}, "
            f"noise={self.noise!r}, seed={self.seed})"
        )
