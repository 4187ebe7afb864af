"""Additive gradient-noise models: g(x) = grad f(x) + xi, xi independent of x (THEOREMS.md G2, T9).

Each model implements the ``Noise`` protocol of ``ratecheck.problem``: ``sigma2`` is E||xi||^2 for one
d-vector, exactly (``inf`` when the variance is infinite), and ``sample(shape, rng)`` draws independent
noise vectors for every leading index of ``shape`` (last axis = d). Every model has mean zero and
covariance (sigma2 / d) I_d, the isotropy the stationary SGD floor of G2 needs, except
``DirectionalNoise`` (anisotropic on purpose: the falsification search of quantized-sgd). The heavy-tailed
ones (``StudentT``, and ``OneSidedStudentT``, skewed so that clipping is biased) declare G(alpha), the constant of
T9's E||xi||^alpha <= G^alpha, and refuse an alpha at or above their tail index nu.

``resolve_noise`` turns what a problem constructor accepts (None, a number sigma, a Noise, and for
finite sums "sampling") into a Noise.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.special import gammaln

from ratecheck.problem import Noise
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = ["SAMPLING", "CenteredExponential", "DirectionalNoise", "Gaussian", "NoNoise", "OneSidedStudentT", "StudentT", "resolve_noise"]

SAMPLING = "sampling"  # the noise argument of finite-sum problems that samples one example per draw


class NoNoise:
    """xi = 0: the stochastic oracle is the exact gradient. sigma2 = 0."""

    sigma2 = 0.0

    def __init__(self) -> None:
        self.constants = {"sigma": 0.0, "sigma2": 0.0}

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.zeros(shape)

    def __repr__(self) -> str:
        return "NoNoise()"


class Gaussian:
    """xi ~ N(0, (sigma^2 / d) I_d), so E||xi||^2 = sigma^2 exactly (G2, "additive Gaussian").

    sigma = 0 is allowed and draws no random numbers. E||xi||^4 = sigma^4 (1 + 2/d).
    """

    def __init__(self, sigma: float, d: int) -> None:
        self.sigma = positive("sigma", sigma, allow_zero=True)
        self.d = integer("d", d, low=1)
        self.sigma2 = self.sigma**2
        self.constants = {"sigma": self.sigma, "sigma2": self.sigma2, "d": float(self.d)}

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        if self.sigma == 0:
            return np.zeros(shape)
        return rng.standard_normal(shape) * (self.sigma / math.sqrt(self.d))

    def __repr__(self) -> str:
        return f"Gaussian(sigma={self.sigma:g}, d={self.d})"


class CenteredExponential:
    """Skewed additive noise (THEOREMS.md T7 (f), negative control "skewed noise, no attacker"):
    xi_j = (sigma/sqrt(d)) (E_j - 1), E_j ~ Exp(1) i.i.d., so E xi = 0, Cov xi = (sigma^2/d) I_d and
    E||xi||^2 = sigma^2 exactly (G2's second moments hold unchanged), but each coordinate's median is
    (sigma/sqrt(d)) (ln 2 - 1) != 0: a coordinate-wise median of such gradients is biased [DERIVED]."""

    def __init__(self, sigma: float, d: int) -> None:
        self.sigma = positive("sigma", sigma, allow_zero=True)
        self.d = integer("d", d, low=1)
        self.sigma2 = self.sigma**2
        self.constants = {"sigma": self.sigma, "sigma2": self.sigma2, "d": float(self.d)}

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        if self.sigma == 0:
            return np.zeros(shape)
        return (rng.standard_exponential(shape) - 1.0) * (self.sigma / math.sqrt(self.d))

    def median_shift(self) -> float:
        """The median of one coordinate, (sigma/sqrt(d)) (ln 2 - 1) [DERIVED]."""
        return (self.sigma / math.sqrt(self.d)) * (math.log(2.0) - 1.0)

    def __repr__(self) -> str:
        return f"CenteredExponential(sigma={self.sigma!r}, d={self.d!r})"


class StudentT:
    """Heavy-tailed noise xi_j = scale * t_nu, independent coordinates (G2 "heavy tails", T9).

    E|xi_j|^alpha is finite iff alpha < nu; sigma2 = d scale^2 nu / (nu - 2) for nu > 2, else inf. nu must be
    > 1 (for nu <= 1 the noise has no mean and g is not an unbiased oracle). ``G(alpha)`` is the constant of
    T9's assumption E||xi||^alpha <= G^alpha, refused for alpha >= nu (the moment does not exist).
    """

    def __init__(self, nu: float, scale: float, d: int) -> None:
        self.nu = in_interval("nu", nu, 1.0, math.inf, closed="neither")  # nu <= 1: no mean, the oracle is not unbiased
        self.scale = positive("scale", scale)
        self.d = integer("d", d, low=1)
        self.sigma2 = self.d * self.scale**2 * self.nu / (self.nu - 2) if self.nu > 2 else math.inf
        self.constants = {
            "nu": self.nu,
            "scale": self.scale,
            "sigma": math.sqrt(self.sigma2),
            "sigma2": self.sigma2,
            "d": float(self.d),
        }

    def alpha_moment(self, alpha: float) -> float:
        """E|xi_j|^alpha = scale^a nu^(a/2) Gamma((a+1)/2) Gamma((nu-a)/2) / (sqrt(pi) Gamma(nu/2)) for
        0 <= a < nu; inf for a >= nu."""
        a = positive("alpha", alpha, allow_zero=True)
        if a >= self.nu:
            return math.inf
        log_moment = (
            a * math.log(self.scale)
            + 0.5 * a * math.log(self.nu)
            + gammaln((a + 1) / 2)
            + gammaln((self.nu - a) / 2)
            - 0.5 * math.log(math.pi)
            - gammaln(self.nu / 2)
        )
        return float(math.exp(log_moment))

    def G(self, alpha: float) -> float:
        """G with E||xi||^alpha <= G^alpha (T9 (a), the noise's part): G^alpha = d E|xi_1|^alpha, exact for d = 1, an
        upper bound for d > 1 since (sum_j xi_j^2)^(alpha/2) <= sum_j |xi_j|^alpha for alpha <= 2 (u -> u^(alpha/2) is
        subadditive). Needs 0 < alpha < nu and alpha <= 2: for alpha >= nu the alpha-moment is infinite (InputError)."""
        return (self.d * self.alpha_moment(_moment_order(alpha, self.nu))) ** (1.0 / alpha)

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return self.scale * rng.standard_t(self.nu, size=shape)

    def __repr__(self) -> str:
        return f"StudentT(nu={self.nu:g}, scale={self.scale:g}, d={self.d})"


def _moment_order(alpha: float, nu: float) -> float:
    """alpha checked: 0 < alpha < nu (the moment exists) and alpha <= 2 (the norm bound holds)."""
    a = positive("alpha", alpha)
    if a >= nu or a > 2:
        raise InputError(f"alpha must be in (0, {min(nu, 2.0):g}{')' if nu <= 2 else ']'} for nu={nu:g} (E|xi|^alpha is "
                         f"infinite for alpha >= nu; the norm bound needs alpha <= 2), got {alpha!r}")
    return a


class OneSidedStudentT:
    """Skewed heavy-tailed noise xi_j = scale (|t_nu| - E|t_nu|), independent coordinates: mean zero, right tail
    of index nu, left side bounded by -scale E|t_nu| (T9 with an asymmetric law; constructed here).

    Why: clipping a symmetric noise keeps it symmetric, so at x* the clipped oracle is unbiased and a
    constant clipping level tau leaves no bias floor on a quadratic; this law has E clip_tau(xi) != 0, the
    clipping bias of T9 (f) (order tau^(1 - nu) for large tau). E|t_nu| = 2 sqrt(nu) Gamma((nu+1)/2) /
    (sqrt(pi) (nu - 1) Gamma(nu/2)) (StudentT.alpha_moment(1)). E|xi_j|^alpha is finite iff alpha < nu and
    E|xi_j|^alpha <= 2^alpha scale^alpha E|t_nu|^alpha for alpha >= 1 (|a - b|^alpha <= 2^(alpha-1)(|a|^alpha +
    |b|^alpha) and Jensen). sigma2 = d scale^2 (nu/(nu - 2) - E|t|^2) for nu > 2, else inf.
    """

    def __init__(self, nu: float, scale: float, d: int) -> None:
        self._t = StudentT(nu, 1.0, d)
        self.nu, self.scale, self.d = self._t.nu, positive("scale", scale), self._t.d
        self.shift = self._t.alpha_moment(1.0)  # E|t_nu|
        self.sigma2 = self.d * self.scale**2 * (self.nu / (self.nu - 2) - self.shift**2) if self.nu > 2 else math.inf
        self.constants = {"nu": self.nu, "scale": self.scale, "sigma": math.sqrt(self.sigma2), "sigma2": self.sigma2, "d": float(self.d)}

    def G(self, alpha: float) -> float:
        """G with E||xi||^alpha <= G^alpha: d 2^alpha scale^alpha E|t_nu|^alpha (class docstring), alpha in [1, min(nu, 2))."""
        a = _moment_order(alpha, self.nu)
        if a < 1:
            raise InputError(f"alpha must be >= 1 for this bound, got {alpha!r}")
        return (self.d * (2 * self.scale) ** a * self._t.alpha_moment(a)) ** (1.0 / a)

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return self.scale * (np.abs(rng.standard_t(self.nu, size=shape)) - self.shift)

    def __repr__(self) -> str:
        return f"OneSidedStudentT(nu={self.nu:g}, scale={self.scale:g}, d={self.d})"


class DirectionalNoise:
    """Gaussian noise with E||xi||^2 = sigma^2 exactly, a fraction b of it along the unit vector u and the
    rest isotropic: covariance sigma^2 (b u u^T + (1 - b) I/d). Any b in [0, 1] is allowed by the
    assumptions of lecture Thm 12.2 (only E||xi||^2 <= sigma^2 is assumed)."""

    def __init__(self, sigma: float, u: np.ndarray, b: float) -> None:
        self.sigma = positive("sigma", sigma, allow_zero=True)
        self.u = np.asarray(u, dtype=np.float64)
        if self.u.ndim != 1 or not math.isclose(float(self.u @ self.u), 1.0, rel_tol=1e-9):
            raise InputError(f"u must be a unit vector, got {u!r}")
        if not 0.0 <= b <= 1.0:
            raise InputError(f"b must be in [0, 1], got {b!r}")
        self.b, self.d = b, self.u.shape[0]
        self.sigma2 = self.sigma**2
        self.constants = {"sigma": self.sigma, "sigma2": self.sigma2, "d": float(self.d)}

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        iso = rng.standard_normal(shape) * self.sigma * np.sqrt((1 - self.b) / self.d)
        return iso + rng.standard_normal(shape[:-1] + (1,)) * self.sigma * np.sqrt(self.b) * self.u

    def __repr__(self) -> str:
        return f"DirectionalNoise(sigma={self.sigma:g}, b={self.b:g}, d={self.d})"


def resolve_noise(noise: object, d: int, *, sampling: bool = False) -> Noise | None:
    """The Noise a problem of dimension ``d`` uses: None -> NoNoise(), a number sigma -> Gaussian(sigma, d),
    a Noise -> itself, checked to have dimension d when it declares one. With ``sampling=True`` (finite
    sums) the string "sampling" is accepted too and gives None: the problem samples one example per draw."""
    if sampling and isinstance(noise, str) and noise == SAMPLING:
        return None
    if noise is None:
        return NoNoise()
    if isinstance(noise, numbers.Real) and not isinstance(noise, bool):
        return Gaussian(positive("noise (sigma)", noise, allow_zero=True), d)
    if not isinstance(noise, Noise):
        choices = "None, a number sigma >= 0, " + ("'sampling' or " if sampling else "") + "a Noise model"
        raise InputError(f"noise must be {choices}, got {noise!r}")
    if getattr(noise, "d", d) != d:
        raise InputError(f"noise must have dimension d={d}, got {noise!r}")
    return noise
