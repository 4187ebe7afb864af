"""SGD and quantized SGD (lecture Thm 12.2, seed 004; Alistarh et al., QSGD, NeurIPS 2017).

    x_{t+1} = x_t - gamma * Q(g(x_t))

with fresh quantizer randomness at every step, independent of the gradient noise; Q = Identity is SGD.
The update is the chain compress(Q), scale(gamma) of ratecheck.transforms.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.compressors import Compressor, Identity
from ratecheck.problem import Problem
from ratecheck.trace import Trace
from ratecheck.transforms import chain, compress, scale
from ratecheck.validate import positive

__all__ = ["loss_and_stoch_grad", "quantized_sgd", "sgd"]


def quantized_sgd(
    problem: Problem,
    Q: Compressor,
    gamma: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
) -> Trace:
    """R independent runs of x_{t+1} = x_t - gamma Q(g(x_t)) for T steps from problem.x0, recorded at
    ``checkpoints`` (default: log-spaced in 1..T): subopt = f(x_t) - f*, dist2 = ||x_t - x*||^2."""
    gamma = positive("gamma", gamma)
    tx = chain(compress(Q), scale(gamma))  # u_t = gamma Q(g_t)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        state = tx.init(problem.x0, R, rng)
        while True:
            f_t, g = loss_and_stoch_grad(problem, x, rng)  # g_t = g(x_t)
            yield {"subopt": f_t - problem.f_star, "dist2": np.sum((x - problem.x_star) ** 2, axis=-1)}
            u, state = tx.update(g, state, rng)
            x = x - u  # x_{t+1} = x_t - gamma Q(g_t)

    return run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma})


def loss_and_stoch_grad(problem: Problem, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and g(x) at the same point; one product with the Hessian when the problem offers
    ``loss_and_stoch_grad`` (quadratics), else two oracle calls. Same random draws either way."""
    both = getattr(problem, "loss_and_stoch_grad", None)
    if both is not None:
        return both(x, rng)
    return problem.loss(x), problem.stoch_grad(x, rng)


def sgd(problem: Problem, gamma: float, T: int, R: int, rng: np.random.Generator, checkpoints: np.ndarray | None = None, burn_in: int | None = None) -> Trace:
    """Plain SGD: quantized SGD with the identity compressor."""
    return quantized_sgd(problem, Identity(), gamma, T, R, rng, checkpoints, burn_in)
