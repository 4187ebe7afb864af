"""Personalized collaborative learning: weighted gradient averaging (WGA) and bias correction (BC), batched over
replicas and tasks (THEOREMS.md T5.2 (b); Chayti, Karimireddy, Stich, Flammarion, Jaggi, "Linear speedup in
personalized collaborative learning", arXiv 2111.05968; lecture slide [SEED-2]).

User 0 minimises its f_0 with stochastic gradients of its own and of N collaborators f_1..f_N; alpha_i >= 0,
sum_{i=0}^N alpha_i = 1. Every step draws g_i(x) for i = 0..N at the shared x (one (R, N + 1, d) array):

    WGA:  x <- x - gamma sum_i alpha_i g_i(x)
    BC:   c_i <- (1 - beta) c_i + beta alpha_i (g_0^(i)(x) - g_i(x))     (i = 1..N; c_0 = 0; c_i start at 0)
          x   <- x - gamma sum_i (alpha_i g_i(x) + c_i)

c_i learns alpha_i (grad f_0 - grad f_i) by an exponential moving average (the slide: "using exponential moving
average to learn c_i"; exact scaling and sampling UNVERIFIED). Sampling used here: g_i(x) in c_i's update is
collaborator i's sample of this step, and g_0^(i)(x) is a fresh user-0 sample per collaborator (independent of the
step's g_0), so the direction's noise has the variance of the (N + 1)-sample mean at low frequency.
``shared_user_sample=True`` is the catalog's negative control (f)(ii): one user-0 sample, the step's own g_0(x),
shared by every c_i; with beta = 1 the direction is then g_0(x) exactly [DERIVED]: no speedup.

``problem``: the task oracle of problems.personalized.PersonalizedTasks (client_stoch_grads(y, rng, clients) on
(R, N + 1 or S, d), task 0 = user 0; grad = user 0's grad f_0; x0, n = N + 1, d). Monitored at every
step: gnorm2 = ||grad f_0(x_t)||^2 and optionally ref_dist2 = ||x_t - reference||^2
(running averages avg_<name> by ratecheck.trace.Recorder).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.problem import broadcast_clients
from ratecheck.trace import Trace
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = ["bias_correction", "uniform_weights", "validate_weights", "wga"]

SUM_TOL = 1e-12  # |sum alpha_i - 1| accepted as rounding


def uniform_weights(N: int) -> np.ndarray:
    """alpha_i = 1/(N + 1), i = 0..N (the catalog's (d))."""
    N = integer("N (the number of collaborators)", N, low=0)
    return np.full(N + 1, 1.0 / (N + 1))


def validate_weights(alpha: object, N: int | None = None) -> np.ndarray:
    """alpha as a float array of length N + 1 with alpha_i >= 0 and sum alpha_i = 1 (InputError otherwise)."""
    try:
        a = np.asarray(alpha, dtype=np.float64) if not isinstance(alpha, (str, bytes)) else np.array([np.nan])
    except (TypeError, ValueError):
        a = np.array([np.nan])
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise InputError(f"alpha must be a 1-D array of N + 1 finite weights, got {alpha!r}")
    if N is not None and a.size != integer("N (the number of collaborators)", N, low=0) + 1:
        raise InputError(f"alpha must have N + 1 = {N + 1} entries (user 0 and N collaborators), got {a.size}")
    if np.any(a < 0):
        raise InputError(f"alpha must have every alpha_i >= 0, got min alpha_i = {a.min():g}")
    if abs(a.sum() - 1.0) > SUM_TOL * a.size:
        raise InputError(f"alpha must sum to 1 (sum_i alpha_i = 1), got sum = {a.sum():.17g}")
    return a


def _setup(problem, alpha: object, gamma: float, R: int) -> tuple[np.ndarray, float, int, int]:
    N = integer("N (the number of collaborators)", int(problem.n) - 1, low=0)
    return validate_weights(alpha, N), positive("gamma", gamma), integer("R", R, low=1), N


def _monitor(problem, x: np.ndarray, reference: np.ndarray | None) -> dict[str, np.ndarray]:
    g = problem.grad(x)
    out = {"gnorm2": np.sum(g * g, axis=-1)}
    if reference is not None:
        out["ref_dist2"] = np.sum((x - reference) ** 2, axis=-1)
    return out


def wga(problem, alpha: object, gamma: float, T: int, R: int, rng: np.random.Generator, *, checkpoints: np.ndarray | None = None,
        burn_in: int | None = None, reference: np.ndarray | None = None) -> Trace:
    """Weighted gradient averaging (module docstring): x <- x - gamma sum_i alpha_i g_i(x), SGD on
    f_alpha = sum_i alpha_i f_i. With ``reference`` (shape (d,)), ||x_t - reference||^2 is recorded as ref_dist2."""
    alpha, gamma, R, N = _setup(problem, alpha, gamma, R)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        while True:
            yield _monitor(problem, x, reference)
            g = problem.client_stoch_grads(broadcast_clients(x, N + 1), rng)  # g_i(x), (R, N + 1, d)
            x = x - gamma * np.einsum("i,rid->rd", alpha, g)  # x <- x - gamma sum_i alpha_i g_i(x)

    return run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma, "N": float(N), "N1": float(N + 1)})


def bias_correction(problem, alpha: object, gamma: float, beta: float, T: int, R: int, rng: np.random.Generator, *,
                    shared_user_sample: bool = False, monitor_c: bool = False, checkpoints: np.ndarray | None = None,
                    burn_in: int | None = None) -> Trace:
    """Bias correction with EMA-learned c_i (module docstring). With ``monitor_c``, also c_err2 = ||sum_i c_i -
    sum_i alpha_i (grad f_0 - grad f_i)(x_t)||^2 (how far the EMA is from its target); with ``shared_user_sample``,
    also dir_gap = ||d_t - g_0(x_t)|| / ||g_0(x_t)||, d_t the step's direction (0 to rounding at beta = 1)."""
    alpha, gamma, R, N = _setup(problem, alpha, gamma, R)
    beta = in_interval("beta (the EMA weight of the c_i)", beta, 0.0, 1.0, closed="right")
    shared = bool(shared_user_sample)
    a = alpha[1:, None]  # alpha_i, i = 1..N, as a column (N, 1)
    rows = np.arange(N + 1) if shared else np.concatenate([np.arange(N + 1), np.zeros(N, dtype=np.int64)])  # + g_0^(i)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        c = np.zeros((R, N, problem.d))  # c_1..c_N (c_0 = 0)
        while True:
            G = problem.client_stoch_grads(broadcast_clients(x, rows.size), rng, rows)  # g_i(x), i = 0..N (+ g_0^(i)(x))
            g = G[:, : N + 1]
            if N:
                g0 = g[:, :1] if shared else G[:, N + 1:]  # the shared g_0(x), or a fresh g_0^(i)(x) per collaborator
                c = (1 - beta) * c + beta * a * (g0 - g[:, 1:])  # c_i <- (1 - beta) c_i + beta alpha_i (g_0 - g_i)
            direction = np.einsum("i,rid->rd", alpha, g) + c.sum(axis=1)  # sum_i (alpha_i g_i + c_i)
            monitored = _monitor(problem, x, None)
            if monitor_c:
                exact = problem.client_grads(broadcast_clients(x, N + 1))
                err = c.sum(axis=1) - np.einsum("i,rid->rd", alpha[1:], exact[:, :1] - exact[:, 1:])
                monitored["c_err2"] = np.sum(err * err, axis=-1)
            if shared:
                monitored["dir_gap"] = np.linalg.norm(direction - g[:, 0], axis=-1) / np.linalg.norm(g[:, 0], axis=-1)
            yield monitored
            x = x - gamma * direction  # x <- x - gamma sum_i (alpha_i g_i(x) + c_i)

    return run_steps(steps(), T, R, checkpoints, burn_in,
                     {"gamma": gamma, "beta": beta, "N": float(N), "N1": float(N + 1)})
