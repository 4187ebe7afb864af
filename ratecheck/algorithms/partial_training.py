"""Alternating partial training (THEOREMS.md T6 (b); Mohtashami, Jaggi, Stich, AISTATS 2022 [abstract + SEED-2;
the exact schedule is UNVERIFIED]):

    even t:  x_{t+1} = x_t - gamma g(x_t)                       (full step on the parent f)
    odd t:   x_{t+1} = x_t - gamma m . g_core(m . x_t)           (core step: the stochastic gradient of
                                                                  f_core(x) = f(m . x) w.r.t. the kept coordinates)

with m in {0, 1}^d a mask, fixed or resampled at every step (per replica). Batched over R replicas. With additive
noise (a ratecheck.problem.Noise in ``problem.noise``) g(y) = grad f(y) + xi reuses the exact gradient already
computed for the record (the same law as ``problem.stoch_grad``); otherwise ``problem.stoch_grad`` is called.

Recorded at every checkpoint t (at x_t, with the exact gradients and the mask m_t of step t):
    gnorm2 = ||grad f(x_t)||^2, core_gnorm2 = ||u(x_t)||^2 with u(x) = m . grad f(m . x) = grad f_core(x),
    their running averages avg_* (the left-hand sides of T6 (c)),
    cos = <grad f, u> / (||grad f|| ||u||) and cos_min = its running minimum over steps 0..t, so that the
    catalog's surrogate q-hat^2 = sup_t ||grad f|| ||u|| / <grad f, u> = 1 / cos_min when cos_min > 0 (T6 (c);
    unbounded otherwise), and ratio = ||u|| / ||grad f||. Where a gradient is exactly 0, cos = 1 and ratio = 1.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.problem import Noise, Problem
from ratecheck.trace import Trace
from ratecheck.validate import InputError, positive

__all__ = ["check_mask", "partial_training", "random_masks"]


def check_mask(mask: object, R: int, d: int) -> np.ndarray:
    """``mask`` as a float array of shape (R, d) with entries in {0, 1} and at least one 1 per row; it may be
    given as (d,) (one mask for every replica) or (R, d). InputError naming ``mask`` otherwise."""
    try:
        m = np.array(mask, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"mask must be an array of 0/1 entries of shape ({d},) or ({R}, {d}), got {mask!r}") from None
    if m.shape not in ((d,), (R, d)):
        raise InputError(f"mask must have shape ({d},) or ({R}, {d}) (d = {d}, R = {R}), got shape {m.shape}")
    if not np.all((m == 0) | (m == 1)):
        raise InputError(f"mask must have entries in {{0, 1}}, got {mask!r}")
    m = np.broadcast_to(m, (R, d))
    if np.any(m.sum(axis=-1) < 1):
        raise InputError(f"mask must keep at least 1 of the d = {d} coordinates in every row, got a row selecting nothing")
    return m


def random_masks(k: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random mask per replica keeping k[r] of the d coordinates: (R, d) floats in {0, 1}."""
    ranks = np.argsort(np.argsort(rng.random((k.shape[0], d)), axis=-1), axis=-1)
    return (ranks < k[:, None]).astype(np.float64)


def _alignment(gg: np.ndarray, uu: np.ndarray, gu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos, ratio) of u against grad f per replica from ||grad f||^2, ||u||^2 and <grad f, u> (module docstring),
    1 where a norm is 0."""
    denom = np.sqrt(gg * uu)
    cos = np.where(denom > 0, gu / np.where(denom > 0, denom, 1.0), 1.0)
    ratio = np.where(gg > 0, np.sqrt(uu / np.where(gg > 0, gg, 1.0)), 1.0)
    return cos, ratio


def partial_training(
    problem: Problem,
    mask: object,
    gamma: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    resample: bool = False,
) -> Trace:
    """R independent runs of alternating partial training (module docstring) for T steps from problem.x0.

    ``mask``: 0/1 array of shape (d,) or (R, d), at least one coordinate kept per row. ``resample``: draw a
    fresh uniformly random mask per replica and step, keeping as many coordinates as the row of ``mask``.
    ``gamma`` > 0."""
    gamma = positive("gamma", gamma)
    m_fixed = check_mask(mask, R, problem.d)
    k = m_fixed.sum(axis=-1).astype(np.int64)
    noise = getattr(problem, "noise", None)
    additive = isinstance(noise, Noise)  # g(y) = grad f(y) + xi: reuse the exact gradients computed for the record

    def g(y: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
        """A stochastic gradient at y (grad_y = grad f(y)): the same law as problem.stoch_grad(y, rng)."""
        return grad_y + noise.sample(grad_y.shape, rng) if additive else problem.stoch_grad(y, rng)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        cos_min = np.full(R, np.inf)
        t = 0
        while True:
            m = random_masks(k, problem.d, rng) if resample else m_fixed
            grad = problem.grad(x)
            grad_core = problem.grad(m * x)
            u = m * grad_core  # u(x_t) = grad f_core(x_t)
            gg, uu, gu = (np.einsum("rd,rd->r", p, q) for p, q in ((grad, grad), (u, u), (grad, u)))
            cos, ratio = _alignment(gg, uu, gu)
            cos_min = np.minimum(cos_min, cos)
            yield {"gnorm2": gg, "core_gnorm2": uu, "cos": cos, "cos_min": cos_min, "ratio": ratio}
            if t % 2 == 0:
                x = x - gamma * g(x, grad)  # even t: full step x <- x - gamma g(x)
            else:
                x = x - gamma * m * g(m * x, grad_core)  # odd t: core step x <- x - gamma m . g_core(m . x)
            t += 1

    return run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma})
