"""SGD and quantized SGD (lecture Thm 12.2, seed 004; Alistarh et al., QSGD, NeurIPS 2017).

    x_{t+1} = x_t - gamma * Q(g(x_t))

with fresh quantizer randomness at every step, independent of the gradient noise; Q = Identity is SGD.
"""

from __future__ import annotations

import numpy as np

from ratecheck.compressors import Compressor, Identity
from ratecheck.problem import Problem
from ratecheck.trace import Recorder, Trace, checkpoint_grid
from ratecheck.validate import positive

__all__ = ["monitor", "quantized_sgd", "sgd"]


def monitor(problem: Problem, x: np.ndarray) -> dict[str, np.ndarray]:
    """The quantities every single-model algorithm records at every step."""
    return {"subopt": problem.loss(x) - problem.f_star, "dist2": np.sum((x - problem.x_star) ** 2, axis=-1)}


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
    ``checkpoints`` (default: log-spaced in 1..T)."""
    gamma = positive("gamma", gamma)
    rec = Recorder(checkpoint_grid(T, checkpoints), R, burn_in)
    x = np.tile(problem.x0, (R, 1))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(rec.T + 1):
            f_t, g = loss_and_stoch_grad(problem, x, rng)
            rec.record(t, subopt=f_t - problem.f_star, dist2=np.sum((x - problem.x_star) ** 2, axis=-1))
            if t == rec.T:
                break
            x = x - gamma * Q(g, rng)
            if rec.all_diverged():
                rec.fill_diverged(t)
                break
    return rec.trace({"gamma": gamma})


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
