"""Model averaging for one user's mean (Grimberg, Hartley, Karimireddy, Jaggi, "Optimal model averaging: towards
personalized collaborative learning", FL workshop @ ICML 2021, arXiv 2110.12946; THEOREMS.md T5.1).

User 0 wants its mean mu_0. Its local estimate theta_0 is the mean of n0 samples of N(mu_0, sigma0^2), so its
variance is s0^2 = sigma0^2/n0; a collaborator's estimate theta_1 has mean mu_1 = mu_0 + Delta and variance
s1^2, independent of theta_0 unless a correlation ``rho`` is given (a violated assumption). The averaged model
is theta(lam) = (1 - lam) theta_0 + lam theta_1. Every array has the R replicas on axis 0.
"""

from __future__ import annotations

import math

import numpy as np

from ratecheck.trace import Trace
from ratecheck.validate import InputError, in_interval, integer, positive


def _real(name: str, value: object) -> float:
    """``value`` as a finite float (any sign)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(float(value)):
        raise InputError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def estimates(R: int, rng: np.random.Generator, *, sigma0: float, n0: int, s1: float, Delta: float, mu0: float = 0.0,
              rho: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(theta_0, theta_1), each of shape (R,): theta_0 the mean of n0 samples of N(mu0, sigma0^2), drawn from its exact
    law N(mu0, sigma0^2/n0); theta_1 ~ N(mu0 + Delta, s1^2), correlated with theta_0 by ``rho`` (0: independent)."""
    R = integer("R", R, low=1)
    sigma0 = positive("sigma0 (the local samples' standard deviation)", sigma0, allow_zero=True)
    n0 = integer("n0 (the local sample size)", n0, low=1)
    s1 = positive("s1 (the collaborator's standard deviation)", s1, allow_zero=True)
    Delta, mu0 = _real("Delta", Delta), _real("mu0", mu0)
    rho = in_interval("rho (the correlation of theta_0 and theta_1)", rho, -1.0, 1.0)
    z0, z1 = rng.standard_normal((2, R))
    theta0 = mu0 + sigma0 / math.sqrt(n0) * z0
    theta1 = mu0 + Delta + s1 * (rho * z0 + math.sqrt(1.0 - rho**2) * z1)
    return theta0, theta1


def weighted_average(theta0: np.ndarray, theta1: np.ndarray, lam: float | np.ndarray, *, extrapolate: bool = False) -> np.ndarray:
    """theta(lam) = (1 - lam) theta_0 + lam theta_1 (lam a number or one weight per replica): a model average for lam
    in [0, 1]; with ``extrapolate`` any finite lam (the same affine estimator past the collaborator's model, as the
    catalog's NUM evaluates the MSE at 2 lam* = 1.15)."""
    w = np.asarray(lam, dtype=np.float64) if not isinstance(lam, bool) and np.size(lam) else np.asarray(np.nan)
    if not np.all(np.isfinite(w)):
        raise InputError(f"lam (the averaging weight) must be a finite real number, got {lam!r}")
    if not extrapolate and (w.min() < 0.0 or w.max() > 1.0):
        shown = lam if w.ndim == 0 else f"values in [{w.min():g}, {w.max():g}]"
        raise InputError(f"lam (the averaging weight) must be in [0, 1], got {shown!r}")
    return (1.0 - w) * np.asarray(theta0, dtype=np.float64) + w * np.asarray(theta1, dtype=np.float64)


def plug_in_weight(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """The plug-in lam_hat = s0_hat^2/(s0_hat^2 + s1_hat^2 + Delta_hat^2) from samples x0 (user 0) and x1 (the
    collaborator), shapes (R, m0) and (R, m1): s_hat^2 = sample variance / sample size, Delta_hat the difference of
    the sample means. Shape (R,); in [0, 1]."""
    x0, x1 = np.asarray(x0, dtype=np.float64), np.asarray(x1, dtype=np.float64)
    if x0.ndim != 2 or x1.ndim != 2 or x0.shape[0] != x1.shape[0]:
        raise InputError(f"x0 and x1 must be arrays (R, m) with the same R, got shapes {x0.shape} and {x1.shape}")
    for name, x in (("x0", x0), ("x1", x1)):
        integer(f"{name}.shape[1] (samples per replica)", x.shape[1], low=2)
    s0_sq = x0.var(axis=1, ddof=1) / x0.shape[1]
    s1_sq = x1.var(axis=1, ddof=1) / x1.shape[1]
    Delta_sq = (x1.mean(axis=1) - x0.mean(axis=1)) ** 2
    return s0_sq / (s0_sq + s1_sq + Delta_sq)


def batch_argmin(theta0: np.ndarray, theta1: np.ndarray, mu0: float = 0.0) -> np.ndarray:
    """The minimiser over lam of each batch's empirical MSE (1/m) sum_j (theta_j(lam) - mu0)^2, for batches of shape
    (R, m): the curve is exactly a parabola in lam, with minimiser sum u (u - v) / sum (u - v)^2, u = theta_0 - mu0,
    v = theta_1 - mu0. Shape (R,)."""
    u = np.asarray(theta0, dtype=np.float64) - mu0
    v = np.asarray(theta1, dtype=np.float64) - mu0
    if u.ndim != 2 or u.shape != v.shape:
        raise InputError(f"theta0 and theta1 must be batches of the same shape (R, m), got {u.shape} and {v.shape}")
    return np.sum(u * (u - v), axis=1) / np.sum((u - v) ** 2, axis=1)


def one_step_trace(values: dict[str, np.ndarray], constants: dict[str, float] | None = None) -> Trace:
    """A Trace with one checkpoint (t = 1) holding per-replica values of shape (R,)."""
    cols = {k: np.asarray(v, dtype=np.float64).reshape(-1, 1) for k, v in values.items()}
    R = next(iter(cols.values())).shape[0]
    return Trace(np.array([1]), cols, np.full(R, -1), dict(constants or {}))
