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

All client iterates of all replicas are one array of shape (R, n, d); the loop is over steps only.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ratecheck.trace import Recorder, Trace, checkpoint_grid
from ratecheck.validate import integer, positive

__all__ = ["ClientProblem", "local_sgd"]


@runtime_checkable
class ClientProblem(Protocol):
    """f = (1/n) sum_i f_i with one stochastic oracle per client (problems/federated.py implements it).

    ``client_stoch_grads(y, rng)``: client points y of shape (..., n, d) -> (..., n, d), row i an unbiased
    stochastic gradient of f_i at y_i, independent across clients and batch entries. ``loss`` is the mean
    objective f on (..., d)."""

    n: int
    d: int
    x0: np.ndarray
    x_star: np.ndarray
    f_star: float

    def loss(self, x: np.ndarray) -> np.ndarray: ...

    def client_stoch_grads(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


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
    T = integer("T", T, low=1)
    grid = checkpoint_grid(T, checkpoints)
    rec = Recorder(grid, R, burn_in)
    n = int(problem.n)
    x_star = np.asarray(problem.x_star)
    y = np.tile(np.asarray(problem.x0, dtype=np.float64), (rec.R, n, 1))  # y_{i,0} = x_0, shape (R, n, d)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T + 1):
            x = y.mean(axis=1)  # x_t = (1/n) sum_i y_{i,t}
            rec.record(
                t,
                subopt=problem.loss(x) - problem.f_star,
                dist2=np.sum((x - x_star) ** 2, axis=-1),
                consensus=np.sum((y - x[:, None, :]) ** 2, axis=(1, 2)) / n,
            )
            if t == T:
                break
            g = problem.client_stoch_grads(y, rng)  # g_{i,t} = g_i(y_{i,t})
            y = y - gamma * g  # y_{i,t+1} = y_{i,t} - gamma g_{i,t}
            if (t + 1) % tau == 0:
                y = np.repeat(y.mean(axis=1, keepdims=True), n, axis=1)  # y_{i,t+1} <- (1/n) sum_j y_{j,t+1}
            if rec.all_diverged():
                rec.fill_diverged(t)
                break
    return rec.trace({"gamma": gamma, "tau": float(tau), "n": float(n)})
