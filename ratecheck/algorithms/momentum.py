"""Heavy-ball momentum SGD (Polyak, "Some methods of speeding up the convergence of iteration methods",
USSR Comput. Math. Math. Phys. 4(5), 1964; stochastic version as in Loizou and Richtarik, "Momentum and
stochastic momentum for stochastic gradient, Newton, proximal point and subspace descent methods",
Comput. Optim. Appl. 2020, and the PyTorch SGD momentum buffer with dampening 0):

    g_t = g(x_t)                      (stochastic gradient)
    m_t = beta m_{t-1} + g_t,         m_{-1} = 0
    x_{t+1} = x_t - gamma m_t

which is Polyak's x_{t+1} = x_t - gamma g_t + beta (x_t - x_{t-1}) with x_{-1} = x_0 (substitute
x_t - x_{t-1} = -gamma m_{t-1}); beta = 0 is SGD. Batched over R replicas, state (R, d); recorded at every
step t = 0..T: subopt = f(x_t) - f*, dist2 = ||x_t - x*||^2 (Recorder: values at the checkpoints and
running averages over all steps). The update is the chain momentum(beta, damped=False), scale(gamma) of
ratecheck.transforms (heavy ball: the undamped buffer).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.algorithms.sgd import loss_and_stoch_grad
from ratecheck.problem import Problem
from ratecheck.trace import Trace
from ratecheck.transforms import chain, momentum, scale
from ratecheck.validate import in_interval, positive

__all__ = ["heavy_ball_sgd"]


def heavy_ball_sgd(
    problem: Problem,
    gamma: float,
    beta: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
) -> Trace:
    """R independent runs of heavy-ball SGD (module docstring) for T steps from problem.x0, recorded at
    ``checkpoints`` (default: log-spaced in 1..T; the last checkpoint must be T)."""
    gamma = positive("gamma", gamma)
    beta = in_interval("beta", beta, 0.0, 1.0, closed="left")
    tx = chain(momentum(beta, damped=False), scale(gamma))  # m_t = beta m_{t-1} + g_t; u_t = gamma m_t

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        state = tx.init(problem.x0, R, rng)  # m_{-1} = 0
        while True:
            f_t, g = loss_and_stoch_grad(problem, x, rng)  # g_t = g(x_t)
            yield {"subopt": f_t - problem.f_star, "dist2": np.sum((x - problem.x_star) ** 2, axis=-1)}
            u, state = tx.update(g, state, rng)
            x = x - u  # x_{t+1} = x_t - gamma m_t

    return run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma, "beta": beta})
