"""The pseudo-Huber objective: convex, 1-smooth, with bounded gradients (THEOREMS.md G2, variant (a)).

f(x) = sum_j kappa^2 (sqrt(1 + u_j^2) - 1), u = (x - x*) / kappa. Per coordinate
f'(t) = t / sqrt(1 + (t/kappa)^2), so |f'| < kappa and ||grad f|| < kappa sqrt(d), and
f''(t) = (1 + (t/kappa)^2)^(-3/2) in (0, 1], largest at t = 0: L = 1, attained at x*; mu = 0.
With additive noise xi independent of x, E||g||^2 = ||grad f||^2 + sigma^2 <= d kappa^2 + sigma^2 = B^2.
"""

from __future__ import annotations

import math

import numpy as np

from problems.noise import resolve_noise
from problems.quadratic import finite_array, make_rng, start_point
from ratecheck.validate import in_interval, integer, positive

__all__ = ["PseudoHuber"]


def _curvature(t: np.ndarray, kappa: float) -> np.ndarray:
    """f''(t) of one coordinate."""
    return (1.0 + (t / kappa) ** 2) ** -1.5


class PseudoHuber:
    """f(x) = sum_j kappa^2 (sqrt(1 + ((x_j - x*_j)/kappa)^2) - 1) with additive noise (G2 (a)).

    Parameters
    ----------
    d: dimension.
    kappa: the transition scale; the gradient bound is kappa sqrt(d).
    x_star: the minimiser (default: a standard Gaussian vector).
    x0: the start (default: x* + sqrt(R0/d) (+-1, ..., +-1); give x0 or R0 (default 1), not both).
    noise: None, a number sigma (Gaussian(sigma, d)) or a Noise model of dimension d.
    seed: seeds x*, then the signs of x0 - x*.

    Constants: L = max f'' = 1, mu = 0, grad_bound = kappa sqrt(d) (sup ||grad f||, not attained),
    B2 = d kappa^2 + sigma^2, B = sqrt(B2), R0, F0, sigma, sigma2, d, f_star = 0.
    """

    def __init__(
        self,
        d: int,
        *,
        kappa: float = 1.0,
        x_star: object = None,
        x0: object = None,
        R0: float | None = None,
        noise: object = None,
        seed: int = 0,
    ) -> None:
        self.d = integer("d", d, low=1)
        self.kappa = positive("kappa", kappa)
        self.seed = seed
        rng = make_rng(seed)
        if x_star is None:
            self.x_star = rng.standard_normal(self.d)
            self.x_star.setflags(write=False)
        else:
            self.x_star = finite_array("x_star", x_star, ndim=1, shape=(self.d,))
        self.x0 = start_point(x0, R0, self.x_star, np.eye(self.d), rng)
        self.noise = resolve_noise(noise, self.d)
        self.f_star = 0.0

        sigma2 = float(self.noise.sigma2)
        grad_bound = self.kappa * math.sqrt(self.d)
        self.constants = {
            "L": float(_curvature(np.float64(0.0), self.kappa)),  # f'' is largest at t = 0
            "mu": 0.0,
            "grad_bound": grad_bound,
            "B2": grad_bound**2 + sigma2,
            "B": math.sqrt(grad_bound**2 + sigma2),
            "R0": float(np.sum((self.x0 - self.x_star) ** 2)),
            "F0": float(self.loss(self.x0)) - self.f_star,
            "sigma": math.sqrt(sigma2),
            "sigma2": sigma2,
            "d": float(self.d),
            "f_star": self.f_star,
        }

    @classmethod
    def spread_start(cls, d: int, *, kappa: float, R0: float, spread: float, sigma: float) -> PseudoHuber:
        """The instance space of a falsification search (theorem error-feedback, Thm 12.5): x* = 0 and
        x0 = sqrt(R0) u/||u|| with u = cos(a) (1, ..., 1)/sqrt(d) + sin(a) e_1, a = spread pi/2: between
        spread evenly over the coordinates (top-k's worst case) and one-hot."""
        d = integer("d", d, low=1)
        a = in_interval("spread", spread, 0.0, 1.0) * np.pi / 2
        u = np.cos(a) * np.full(d, 1 / math.sqrt(d)) + np.sin(a) * np.eye(d)[0]
        return cls(d, kappa=kappa, x_star=np.zeros(d), x0=math.sqrt(positive("R0", R0)) * u / np.linalg.norm(u), noise=sigma, seed=0)

    def loss(self, x: np.ndarray) -> np.ndarray:
        u = (np.asarray(x) - self.x_star) / self.kappa
        # sqrt(1 + u^2) - 1 = u^2 / (1 + sqrt(1 + u^2)), written to avoid cancellation and overflow
        return self.kappa**2 * np.sum(u * (u / (1.0 + np.hypot(1.0, u))), axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        u = (np.asarray(x) - self.x_star) / self.kappa
        return self.kappa * (u / np.hypot(1.0, u))

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = self.grad(x)
        return g + self.noise.sample(g.shape, rng)

    def __repr__(self) -> str:
        return (
            f"PseudoHuber(d={self.d}, kappa={self.kappa:g}, R0={self.constants['R0']:g}, "
            f"noise={self.noise!r}, seed={self.seed})"
        )
