"""Clipped SGD with the schedules of THEOREMS.md T9 (Zhang, Karimireddy, Veit, Kim, Reddi, Kumar, Sra, "Why are
adaptive methods good for attention models?", NeurIPS 2020; schedules [DERIVED] in the catalog, the paper's
constants UNVERIFIED):

    x_{k+1} = x_k - eta_k min{1, tau_k/||g_k||} g_k,      g_k = g(x_k),  k = 1, 2, ...

Schedules (alpha in (1, 2] is the order of the moment assumed bounded, E||g||^alpha <= G^alpha):
    strongly convex:       eta_k = c/(mu (k + 1)),  tau_k = G k^(1/alpha)     (the catalog's NUM: c = 1)
    nonconvex, horizon K:  eta = eta0 K^(-alpha/(3 alpha - 2)),  tau = G K^(1/(3 alpha - 2))  (constant in k)
The update is the chain clip(tau_k) of ratecheck.transforms followed by the step eta_k; tau None is plain
SGD with the same steps (the unclipped control). ``acclip_sgd``: the same loop with ACClip's coordinate-wise
adaptive clipping of the momentum (ratecheck.transforms.acclip). Batched over R replicas, no loop over them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.problem import Problem
from ratecheck.trace import Trace
from ratecheck.transforms import Transform, acclip, clip
from ratecheck.validate import InputError, in_interval, positive

__all__ = ["MEASURES", "Schedule", "acclip_sgd", "check_alpha", "clipped_sgd", "nonconvex_schedule", "strongly_convex_schedule"]

Rule = Callable[[int], float]
MEASURES = ("subopt", "dist2", "gmin")


class Schedule(NamedTuple):
    """eta(k) and tau(k) for the k-th update, k = 1, 2, ...; tau None: no clipping."""

    eta: Rule
    tau: Rule | None


def check_alpha(alpha: float) -> float:
    """alpha in (1, 2] (T9 (a)); InputError naming alpha otherwise."""
    return in_interval("alpha", alpha, 1.0, 2.0, closed="right")


def strongly_convex_schedule(mu: float, G: float, alpha: float, c: float = 1.0) -> Schedule:
    """eta_k = c/(mu (k+1)), tau_k = G k^(1/alpha) (T9 (b), mu-strongly convex; NUM: mu = 1, c = 1, G = 3)."""
    mu, G, c, alpha = positive("mu", mu), positive("G", G), positive("c", c), check_alpha(alpha)
    return Schedule(lambda k: c / (mu * (k + 1)), lambda k: G * k ** (1.0 / alpha))


def nonconvex_schedule(K: int, G: float, alpha: float, eta0: float) -> Schedule:
    """The horizon-K schedule of T9 (b): tau = G K^(1/(3 alpha - 2)), eta = eta0 K^(-alpha/(3 alpha - 2)), constant
    over the K steps (alpha = 2: tau ~ K^(1/4), eta ~ K^(-1/2))."""
    G, eta0, alpha = positive("G", G), positive("eta0", eta0), check_alpha(alpha)
    K = positive("K", K)
    tau, eta = G * K ** (1.0 / (3 * alpha - 2)), eta0 * K ** (-alpha / (3 * alpha - 2))
    return Schedule(lambda k: eta, lambda k: tau)


def _rule(name: str, value: float | Rule | None) -> Rule | None:
    if value is None or callable(value):
        return value
    v = positive(name, value)
    return lambda k: v


def clipped_sgd(
    problem: Problem,
    eta: float | Rule,
    tau: float | Rule | None,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    measures: tuple[str, ...] = MEASURES,
) -> Trace:
    """R independent runs of x_{k+1} = x_k - eta_k clip_{tau_k}(g(x_k)) for T steps from problem.x0 (module
    docstring); ``eta`` and ``tau`` are numbers or schedules k -> value (k = 1..T), ``tau`` None: no clipping.
    ``measures`` (a subset of MEASURES) are recorded: subopt = f(x_t) - f*, dist2 = ||x_t - x*||^2, gmin =
    min(||grad f(x_t)||, ||grad f(x_t)||^2) (its running average avg_gmin is T9's nonconvex measure)."""
    eta_, tau_ = _rule("eta", eta), _rule("tau", tau)
    if eta_ is None:
        raise InputError("eta must be a number > 0 or a schedule k -> eta_k, got None")
    _check_measures(measures)
    return _run(problem, eta_, clip(tau_) if tau_ is not None else None, T, R, rng, checkpoints, burn_in, measures)


def acclip_sgd(
    problem: Problem,
    eta: float | Rule,
    alpha: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    measures: tuple[str, ...] = MEASURES,
    beta1: float = 0.9,
    beta2: float = 0.99,
    eps: float = 1e-5,
) -> Trace:
    """R runs of ACClip (ratecheck.transforms.acclip, coordinate-wise clipping of the momentum, alpha explicit):
    x_{k+1} = x_k - eta_k min{tau_k/(|m_k| + eps), 1} m_k elementwise; records as ``clipped_sgd``."""
    eta_ = _rule("eta", eta)
    if eta_ is None:
        raise InputError("eta must be a number > 0 or a schedule k -> eta_k, got None")
    _check_measures(measures)
    return _run(problem, eta_, acclip(alpha, beta1, beta2, eps), T, R, rng, checkpoints, burn_in, measures)


def _check_measures(measures: tuple[str, ...]) -> None:
    unknown = sorted(set(measures) - set(MEASURES))
    if unknown or not measures:
        raise InputError(f"measures must be a non-empty subset of {MEASURES}, got {measures!r}")


def _run(problem: Problem, eta_: Rule, tx: Transform | None, T: int, R: int, rng: np.random.Generator,
         checkpoints: np.ndarray | None, burn_in: int | None, measures: tuple[str, ...]) -> Trace:
    """The step loop shared by clipped SGD and ACClip: x_{k+1} = x_k - eta_k tx(g_k) (tx None: SGD)."""

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        state = tx.init(problem.x0, R, rng) if tx is not None else None
        k = 0
        while True:
            g = problem.stoch_grad(x, rng)  # g_k = g(x_k)
            out = {}
            if "subopt" in measures:
                out["subopt"] = problem.loss(x) - problem.f_star
            if "dist2" in measures:
                out["dist2"] = np.sum((x - problem.x_star) ** 2, axis=-1)
            if "gmin" in measures:
                gn = np.sqrt(np.sum(problem.grad(x) ** 2, axis=-1))
                out["gmin"] = np.minimum(gn, gn * gn)
            yield out
            k += 1
            if tx is not None:
                g, state = tx.update(g, state, rng)  # clipped SGD: min{1, tau_k/||g_k||} g_k; ACClip: the clipped momentum
            x = x - eta_(k) * g  # x_{k+1} = x_k - eta_k u_k

    return run_steps(steps(), T, R, checkpoints, burn_in)
