"""The one step loop: it owns the Recorder, the checkpoints, the burn-in, divergence and the floating-point
error state; an algorithm supplies only its steps.

An algorithm's steps are a generator that, for t = 0, 1, 2, ..., yields the monitored values at x_t (a
dict name -> array of shape (R,)) and, when resumed, applies the update x_t -> x_{t+1}:

    def steps():
        x = x0
        while True:
            g = problem.stoch_grad(x, rng)       # g_t = g(x_t)
            yield {"subopt": problem.loss(x) - problem.f_star}
            x = x - gamma * g                    # x_{t+1} = x_t - gamma g_t

    trace = run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma})

``run_steps`` records every step t = 0..T (values at the checkpoints, running averages over all steps),
never resumes the generator after t = T, and stops early, marking the remaining checkpoints inf, once
every replica has diverged (ratecheck.trace.Recorder). Overflow and invalid operations of diverging
replicas are data, not warnings: the steps run under np.errstate(over, invalid, divide = "ignore").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from ratecheck.trace import Recorder, Trace, checkpoint_grid

__all__ = ["run_steps", "tile"]


def tile(x0: np.ndarray, R: int) -> np.ndarray:
    """R copies of the start x0 as float64, shape (R, *x0.shape): the replicas' initial iterate."""
    x0 = np.asarray(x0, dtype=np.float64)
    return np.tile(x0, (R,) + (1,) * x0.ndim)


def run_steps(
    steps: Iterator[Mapping[str, np.ndarray]],
    T: int,
    R: int,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    constants: Mapping[str, float] | None = None,
) -> Trace:
    """Drive ``steps`` (module docstring) for t = 0..T and return the Trace, with ``constants``. The
    checkpoints default to log-spaced in 1..T (ratecheck.trace.checkpoint_grid)."""
    rec = Recorder(checkpoint_grid(T, checkpoints), R, burn_in)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t, monitored in enumerate(steps):
            rec.record(t, **monitored)
            if t == rec.T:
                break
            if rec.all_diverged():
                rec.fill_diverged(t)
                break
    return rec.trace(dict(constants or {}))
