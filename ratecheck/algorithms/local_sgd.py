"""Local SGD / FedAvg with full participation and server step 1 (Stich, "Local SGD converges fast and
communicates little", ICLR 2019; McMahan et al., "Communication-efficient learning of deep networks from
decentralized data", AISTATS 2017; THEOREMS.md T4 (b) with S = N, eta_g = 1, K = tau):

    every client i = 1..n starts from y_{i,0} = x_0
    g_{i,t} = g_i(y_{i,t})                                  (client i's stochastic gradient of f_i)
    y_{i,t+1} = y_{i,t} - gamma g_{i,t}                     (local step)
    if tau divides t + 1:  y_{i,t+1} <- (1/n) sum_j y_{j,t+1}   (communication: average)

t counts local steps (T in total, T/tau rounds). The monitored iterate is the average
x_t = (1/n) sum_i y_{i,t} (Stich's virtual sequence; at multiples of tau it is the server model). Recorded at
every step t = 0..T: subopt = f(x_t) - f*, dist2 = ||x_t - x*||^2, consensus = (1/n) sum_i ||y_{i,t} - x_t||^2
(0 right after an averaging step).

All client iterates of all replicas are one array of shape (R, n, d); the loop is over steps only. The
clients' gradients come from the one client oracle, ``problem.client_stoch_grads`` (ratecheck.problem.ClientProblem).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.problem import ClientProblem
from ratecheck.trace import Trace
from ratecheck.validate import integer, positive

__all__ = ["local_sgd"]


def local_sgd(
    problem: ClientProblem,
    gamma: float,
    tau: int,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
) -> Trace:
    """R independent runs of local SGD on ``problem.n`` clients (module docstring) for T local steps with
    averaging every ``tau`` steps, recorded at ``checkpoints`` (default: log-spaced in 1..T; the last
    checkpoint must be T)."""
    gamma = positive("gamma", gamma)
    tau = integer("tau", tau, low=1)
    n = int(problem.n)
    x_star = np.asarray(problem.x_star)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        y = tile(np.broadcast_to(problem.x0, (n, problem.d)), R)  # y_{i,0} = x_0, shape (R, n, d)
        t = 0
        while True:
            x = y.mean(axis=1)  # x_t = (1/n) sum_i y_{i,t}
            yield {"subopt": problem.loss(x) - problem.f_star, "dist2": np.sum((x - x_star) ** 2, axis=-1),
                   "consensus": np.sum((y - x[:, None, :]) ** 2, axis=(1, 2)) / n}
            g = problem.client_stoch_grads(y, rng)  # g_{i,t} = g_i(y_{i,t})
            y = y - gamma * g  # y_{i,t+1} = y_{i,t} - gamma g_{i,t}
            if (t + 1) % tau == 0:
                y = np.repeat(y.mean(axis=1, keepdims=True), n, axis=1)  # y_{i,t+1} <- (1/n) sum_j y_{j,t+1}
            t += 1

    return run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma, "tau": float(tau), "n": float(n)})
