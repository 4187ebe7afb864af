"""Statistics of replicated runs: confidence intervals of means, log-log slopes with bootstrap intervals
(DESIGN.md, "Checks and the statistical method"; THEOREMS.md 0.2).

Replicas are the unit of resampling. Values measured on the same replica (a trajectory at several
checkpoints) are resampled together (paired); different sweep points are independent runs and are
resampled independently (scipy.stats.bootstrap with several samples).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

N_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval (low, high); ``se``: the standard deviation of the statistic's
    bootstrap distribution (its standard error; 0 for deterministic data, nan without an interval);
    ``n_resamples``: the bootstrap resamples behind the percentile endpoints (0: none drawn)."""

    estimate: float
    low: float
    high: float
    se: float = float("nan")
    n_resamples: int = 0

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def mean_se(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over replicas (axis 0) and its standard error; an ``inf`` anywhere (a diverged replica) makes
    the mean inf with standard error 0."""
    X = np.asarray(X, dtype=np.float64)
    R = X.shape[0]
    with np.errstate(invalid="ignore", over="ignore"):
        m = X.mean(axis=0)
        se = X.std(axis=0, ddof=1) / np.sqrt(R) if R > 1 else np.zeros_like(m)
    se = np.where(np.isfinite(m), se, 0.0)  # a diverged replica makes the mean inf, with certainty
    return m, se


def t_quantile(alpha: float, R: int) -> float:
    """Upper alpha quantile of Student's t with R - 1 degrees of freedom (normal if R = 1 is meaningless:
    a single replica is only used for deterministic runs, where se = 0)."""
    return float(stats.t.ppf(1.0 - alpha, max(R - 1, 1)))


def ols_slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x along axis 0 (y may have trailing batch axes)."""
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean()
    with np.errstate(invalid="ignore", over="ignore"):
        yc = y - y.mean(axis=0)
        return np.tensordot(xc, yc, axes=(0, 0)) / np.sum(xc * xc)


def bootstrap_statistic(
    groups: Sequence[np.ndarray],
    statistic: Callable[[list[np.ndarray]], np.ndarray],
    confidence: float = 0.99,
    seed: int = 0,
) -> Interval:
    """A scalar ``statistic(means)`` of the per-group replica means with a percentile bootstrap interval.

    ``groups[j]`` has shape ``(R_j, k_j)``: k_j values per replica from one run, resampled as rows
    (paired); different groups are independent runs, resampled independently. ``statistic`` receives
    the list of mean vectors, each of shape ``(k_j, ...)`` (trailing axes: bootstrap batch), and returns
    shape ``(...)``. Deterministic data (every row equal) gives a zero-width interval.
    """
    widths = [g.shape[1] for g in groups]
    kmax = max(widths)
    # scipy.stats.bootstrap needs samples that broadcast: pad every group to kmax columns
    padded = [np.pad(np.asarray(g, float), ((0, 0), (0, kmax - g.shape[1])), constant_values=np.nan) for g in groups]

    def on_samples(*xs: np.ndarray, axis: int = -1) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return statistic([x.mean(axis=-1)[:w] for x, w in zip(xs, widths)])

    estimate = float(on_samples(*[p.T for p in padded]))
    if not np.isfinite(estimate):
        return Interval(estimate, np.nan, np.nan)
    if all(g.shape[0] < 2 or np.all(np.ptp(g, axis=0) == 0) for g in groups):
        return Interval(estimate, estimate, estimate, 0.0, 0)
    res = stats.bootstrap(
        tuple(padded), on_samples, axis=0, vectorized=True, paired=False, n_resamples=N_RESAMPLES, batch=250,
        confidence_level=confidence, method="percentile", random_state=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    dist = np.asarray(res.bootstrap_distribution, dtype=np.float64)
    dist = dist[np.isfinite(dist)]
    se = float(np.std(dist, ddof=1)) if dist.size > 1 else float("nan")
    return Interval(estimate, float(ci.low), float(ci.high), se, N_RESAMPLES)


def loglog_slope(
    v: np.ndarray,
    groups: Sequence[np.ndarray],
    reduce: Callable[[list[np.ndarray]], np.ndarray] | None = None,
    confidence: float = 0.99,
    seed: int = 0,
) -> Interval:
    """Slope of log(statistic) on log(v) by least squares, with a bootstrap interval over replicas.

    ``reduce(means)`` maps the per-group means to the statistic at the K values of ``v``, shape
    ``(K, ...)``; by default the means are concatenated (K = sum of k_j)."""
    reduce = reduce or (lambda means: np.concatenate(means, axis=0))
    logv = np.log(np.asarray(v, dtype=np.float64))
    return bootstrap_statistic(groups, lambda means: ols_slope(logv, np.log(reduce(means))), confidence, seed)
