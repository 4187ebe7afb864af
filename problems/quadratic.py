"""Quadratics with a prescribed spectrum (THEOREMS.md G1) and the exact SGD floor on them (G2).

f(x) = 1/2 (x - x*)^T H (x - x*), H = Q diag(lambda) Q^T, f* = 0, grad f(x) = H (x - x*). Q is the
orthogonal factor of a Gaussian matrix (Haar-distributed after fixing the signs), or the identity when
``rotate=False``. The certified L and mu are the extreme eigenvalues of the assembled H (np.linalg.eigvalsh),
not the requested spectrum.

This module also holds the small pieces the other families reuse: ``finite_array`` (array validation),
``random_hessian`` (G1's H) and ``equal_energy_offset`` (a start point with a given R0).
"""

from __future__ import annotations

import math

import numpy as np

from problems.noise import resolve_noise
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = [
    "Quadratic",
    "equal_energy_offset",
    "finite_array",
    "make_rng",
    "random_hessian",
    "start_point",
]


# ----------------------------------------------------------------------------------------------------
# shared helpers


def finite_array(name: str, value: object, *, ndim: int, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a read-only float64 array with ``ndim`` axes (and ``shape`` if given), all entries
    finite; InputError naming ``name`` otherwise."""
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a real array, got {value!r}") from None
    expected = f"shape {shape}" if shape is not None else f"{ndim} axes"
    if a.ndim != ndim or (shape is not None and a.shape != shape) or a.size == 0:
        raise InputError(f"{name} must be a non-empty array with {expected}, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} must have finite entries, got {value!r}")
    a.setflags(write=False)
    return a


def random_hessian(
    eigenvalues: np.ndarray, rotate: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(H, Q) with H = Q diag(eigenvalues) Q^T symmetric; Q Haar-orthogonal (QR of a Gaussian matrix with
    the signs of R's diagonal moved into Q) if ``rotate``, else the identity (G1)."""
    d = eigenvalues.shape[0]
    if rotate:
        Q, R = np.linalg.qr(rng.standard_normal((d, d)))
        Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
    else:
        Q = np.eye(d)
    H = (Q * eigenvalues) @ Q.T
    return (H + H.T) / 2, Q


def equal_energy_offset(Q: np.ndarray, R0: float, rng: np.random.Generator) -> np.ndarray:
    """sqrt(R0/d) Q s with random signs s: squared norm R0, energy R0/d along every column of Q (G1)."""
    d = Q.shape[0]
    signs = np.where(rng.random(d) < 0.5, -1.0, 1.0)
    return math.sqrt(R0 / d) * (Q @ signs)


def make_rng(seed: object) -> np.random.Generator:
    """A fresh generator from an integer seed >= 0 (InputError naming ``seed`` otherwise)."""
    return np.random.default_rng(integer("seed", seed, low=0))


def start_point(
    x0: object, R0: float | None, x_star: np.ndarray, Q: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """x0 as given, or x* + an equal-energy offset of squared norm R0 (default 1)."""
    d = x_star.shape[0]
    if x0 is not None:
        if R0 is not None:
            raise InputError(f"R0 must be None when x0 is given (x0 fixes R0), got R0={R0!r}")
        return finite_array("x0", x0, ndim=1, shape=(d,))
    R0 = 1.0 if R0 is None else positive("R0", R0, allow_zero=True)
    x0 = x_star + equal_energy_offset(Q, R0, rng)
    x0.setflags(write=False)
    return x0


# ----------------------------------------------------------------------------------------------------
# the quadratic family


class Quadratic:
    """f(x) = 1/2 (x - x*)^T H (x - x*) with spectrum ``eigenvalues`` (G1); g(x) = H(x - x*) + xi (G2).

    Parameters
    ----------
    eigenvalues: the spectrum lambda_1..lambda_d, finite, >= 0, largest > 0.
    rotate: H = Q diag(lambda) Q^T with Q Haar-orthogonal (True) or H = diag(lambda) (False).
    x_star: the minimiser (default: a standard Gaussian vector).
    x0: the start (default: x* + a vector with squared norm ``R0`` and equal energy R0/d along every
        eigenvector of H; give x0 or R0, not both).
    noise: None, a number sigma (Gaussian(sigma, d)) or a Noise model of dimension d.
    seed: seeds Q, then x*, then the signs of x0 - x*.

    Constants: L = lambda_max(H), mu = max(lambda_min(H), 0), R0 = ||x0 - x*||^2, F0 = f(x0),
    sigma = sqrt(sigma2), sigma2 = E||xi||^2, d, f_star = 0.
    """

    def __init__(
        self,
        eigenvalues: object,
        *,
        rotate: bool = True,
        x_star: object = None,
        x0: object = None,
        R0: float | None = None,
        noise: object = None,
        seed: int = 0,
    ) -> None:
        spectrum = finite_array("eigenvalues", eigenvalues, ndim=1)
        if np.any(spectrum < 0) or np.max(spectrum) <= 0:
            raise InputError(f"eigenvalues must be >= 0 with at least one > 0, got {spectrum!r}")
        if not isinstance(rotate, (bool, np.bool_)):
            raise InputError(f"rotate must be True or False, got {rotate!r}")
        self.d = spectrum.shape[0]
        self.rotate = bool(rotate)
        self.seed = seed
        rng = make_rng(seed)

        self.H, self.Q = random_hessian(spectrum, self.rotate, rng)
        self.H.setflags(write=False)
        self.eigenvalues = np.linalg.eigvalsh(self.H)
        if x_star is None:
            self.x_star = rng.standard_normal(self.d)
            self.x_star.setflags(write=False)
        else:
            self.x_star = finite_array("x_star", x_star, ndim=1, shape=(self.d,))
        self.x0 = start_point(x0, R0, self.x_star, self.Q, rng)
        self.noise = resolve_noise(noise, self.d)
        self.f_star = 0.0

        self.constants = {
            "L": float(self.eigenvalues[-1]),
            "mu": max(float(self.eigenvalues[0]), 0.0),
            "R0": float(np.sum((self.x0 - self.x_star) ** 2)),
            "F0": float(self.loss(self.x0)) - self.f_star,
            "sigma": math.sqrt(self.noise.sigma2),
            "sigma2": float(self.noise.sigma2),
            "d": float(self.d),
            "f_star": self.f_star,
        }

    # -- constructors ------------------------------------------------------------------------------

    @classmethod
    def isotropic(cls, d: int, L: float, **kw: object) -> Quadratic:
        """H = L I_d (kappa = 1)."""
        d, L = integer("d", d, low=1), positive("L", L)
        return cls(np.full(d, L), **kw)

    @classmethod
    def log_spaced(cls, d: int, mu: float, L: float, **kw: object) -> Quadratic:
        """lambda log-spaced from mu to L (strongly convex tests, G1); d = 1 needs mu = L."""
        d, L = integer("d", d, low=1), positive("L", L)
        mu = in_interval("mu", mu, 0.0, L, closed="right")
        if d == 1 and mu != L:
            raise InputError(f"d must be >= 2 when mu < L (mu={mu:g}, L={L:g}), got d=1")
        return cls(np.geomspace(mu, L, d), **kw)

    @classmethod
    def power_law(cls, d: int, L: float, p: float = 2.0, **kw: object) -> Quadratic:
        """lambda_i = L i^(-p), i = 1..d: a spectrum dense near 0 for convex 1/T tests (G1)."""
        d, L, p = integer("d", d, low=1), positive("L", L), positive("p", p, allow_zero=True)
        return cls(L * np.arange(1, d + 1, dtype=np.float64) ** (-p), **kw)

    @classmethod
    def directional(cls, d: int, p: float, *, rotate: bool, x0_mix: float, sigma: float, noise_along_top: float) -> Quadratic:
        """The instance space of a falsification search (theorem quantized-sgd): lambda_i = i^-p (L = 1),
        rotated or not; x0 - x* = cos(a) v_top + sin(a) v_bottom with a = x0_mix pi/2 (R0 = 1), between the
        top and bottom eigenvectors; Gaussian noise with E||xi||^2 = sigma^2, a fraction ``noise_along_top``
        of it along v_top (problems.noise.DirectionalNoise)."""
        from problems.noise import DirectionalNoise

        lam = np.arange(1, integer("d", d, low=2) + 1, dtype=float) ** (-positive("p", p, allow_zero=True))
        base = cls(lam, rotate=rotate, seed=0)
        V = base.Q if base.Q is not None else np.eye(base.d)
        a = in_interval("x0_mix", x0_mix, 0.0, 1.0) * np.pi / 2
        x0 = base.x_star + np.cos(a) * V[:, np.argmax(lam)] + np.sin(a) * V[:, np.argmin(lam)]
        noise = DirectionalNoise(sigma, V[:, np.argmax(lam)], noise_along_top)
        return cls(lam, rotate=rotate, seed=0, x_star=base.x_star, x0=x0, noise=noise)

    # -- oracle ------------------------------------------------------------------------------------

    def loss(self, x: np.ndarray) -> np.ndarray:
        diff = np.asarray(x) - self.x_star
        return 0.5 * np.sum((diff @ self.H) * diff, axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x) - self.x_star) @ self.H  # H is symmetric

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = self.grad(x)
        return g + self.noise.sample(g.shape, rng)

    def loss_and_stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(f(x), g(x)) with a single product H(x - x*): what the algorithms call on their hot path."""
        diff = np.asarray(x) - self.x_star
        Hd = diff @ self.H
        return 0.5 * np.sum(Hd * diff, axis=-1), Hd + self.noise.sample(Hd.shape, rng)

    # -- exact quantities --------------------------------------------------------------------------

    def stationary_sgd_floor(self, gamma: float) -> float:
        """lim E f(x_k) of SGD x_{k+1} = x_k - gamma g(x_k) with constant gamma in (0, 2/L) (G2, exact):
        (gamma sigma^2 / (2d)) sum_i 1/(2 - gamma lambda_i). Needs noise covariance (sigma^2/d) I, which
        every model of problems.noise has. Directions with lambda_i = 0 (below d eps L numerically)
        contribute nothing: f does not see them."""
        L = self.constants["L"]
        gamma = in_interval("gamma", gamma, 0.0, 2.0 / L, closed="neither")
        lam = self.eigenvalues[self.eigenvalues > self.d * np.finfo(float).eps * L]
        return float(gamma * self.noise.sigma2 / (2 * self.d) * np.sum(1.0 / (2.0 - gamma * lam)))

    def __repr__(self) -> str:
        c = self.constants
        return (
            f"Quadratic(d={self.d}, L={c['L']:g}, mu={c['mu']:g}, rotate={self.rotate}, "
            f"R0={c['R0']:g}, noise={self.noise!r}, seed={self.seed})"
        )
