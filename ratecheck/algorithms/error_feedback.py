"""Error-feedback SGD (EF-SGD, error-compensated SGD), one worker and n workers.

Source: lecture "Error Feedback SGD / Error Compensated SGD" slide and Thms 12.4/12.5 (Stich, CISPA 2024,
seed 004); Stich, Cordonnier, Jaggi, "Sparsified SGD with memory", NeurIPS 2018; Karimireddy, Rebjock,
Stich, Jaggi, "Error feedback fixes SignSGD and other gradient compression schemes", ICML 2019; n workers:
THEOREMS.md T2 (b) and the multi-worker slide of seed 001. Code conventions as epfml/error-feedback-SGD
(ErrorFeedbackSGD.step: corrected = memory + lr grad; p = comp(corrected); memory <- corrected - p).

One worker, e_0 = 0:
    g_t = g(x_t)                     (stochastic gradient)
    v_t = C(e_t + gamma g_t)         (compressed and error-compensated update)
    x_{t+1} = x_t - v_t
    e_{t+1} = e_t + gamma g_t - v_t  (the compression error is kept)

n workers, every worker i keeps its own e_i (e_{i,0} = 0), the server averages:
    g_{i,t} = g_i(x_t);  v_{i,t} = C(e_{i,t} + gamma g_{i,t});  e_{i,t+1} = e_{i,t} + gamma g_{i,t} - v_{i,t}
    x_{t+1} = x_t - (1/n) sum_i v_{i,t}

Virtual sequence (lecture, "Proof I"): x~_t = x_t - e_t (n workers: x_t - (1/n) sum_i e_{i,t}) obeys
x~_{t+1} = x~_t - gamma g_t exactly, i.e. it is plain SGD driven by the gradients the compressed run sees.
Every run carries that SGD sequence y_t (y_0 = x_0, y_{t+1} = y_t - gamma g_t) and records how far x~_t is
from it (``virt_gap``), so the identity is checked on every run, to rounding.

The update is a chain of ratecheck.transforms: chain(scale(gamma), error_feedback(compress(C))), the memory
in the paper's units (the step inside). n workers: the same chain on (R, n, d), every worker with its own
memory, then the server's aggregator (mean_aggregator). ``ef_sgd_workers`` reads the workers' gradients
from the one client oracle ``problem.client_stoch_grads`` (ratecheck.problem.ClientProblem) at the shared
x_t; i.i.d. workers of a single objective are ``IIDClients(problem, n)``.

All state is batched over R replicas ((R, d), and (R, n, d) for the worker buffers); the loop is over
steps only. Recorded at every step t = 0..T (Recorder: values at the checkpoints, running averages over
all steps):
    subopt  = f(x_t) - f*                 dist2  = ||x_t - x*||^2
    e2      = ||e_t||^2 (n workers: (1/n) sum_i ||e_{i,t}||^2, the average buffer energy)
    ebar2   = ||(1/n) sum_i e_{i,t}||^2 = ||x_t - x~_t||^2 (n workers only; one worker: = e2)
    vdist2  = ||x~_t - x*||^2             g2     = ||g_t||^2 (n workers: (1/n) sum_i ||g_{i,t}||^2)
    gnorm2  = ||grad f(x_t)||^2 (n workers by default; one worker when asked for in ``measures``)
The ``measures`` argument of both functions selects which of these are recorded (fewer are cheaper).
    virt_gap = max_j |x~_{t,j} - y_{t,j}| / max(1, max_j |x_t|, max_j |e_t|, max_j |y_t|)
    delta_obs = 1 - ||C(u) - u||^2/||u||^2 at u = e_t + gamma g_t (one worker; the instance-wise delta of
               Definition 12.3, 1 where u = 0)
The measures at step t use g_t, the gradient that step t will apply.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.compressors import Compressor
from ratecheck.problem import ClientProblem, Problem, broadcast_clients
from ratecheck.trace import Trace
from ratecheck.transforms import Transform, chain, compress, error_feedback, mean_aggregator, scale
from ratecheck.validate import InputError, positive

__all__ = ["ef_sgd", "ef_sgd_update", "ef_sgd_workers"]


def ef_sgd_update(C: Compressor, gamma: float) -> Transform:
    """EF-SGD's update as a chain (lecture slide "Error Feedback SGD", seed 004; Stich et al. 2018):
    v_t = C(e_t + gamma g_t), e_{t+1} = e_t + gamma g_t - v_t, the memory in the paper's units. On
    (R, n, d) it is every worker's chain, each with its own e_i."""
    return chain(scale(gamma), error_feedback(compress(C)))


def _sq(a: np.ndarray) -> np.ndarray:
    return np.einsum("...j,...j->...", a, a)


def _virt_gap(x: np.ndarray, e: np.ndarray, y: np.ndarray) -> np.ndarray:
    """max_j |x~_j - y_j| relative to the size of the numbers that formed it (module docstring)."""
    scale = np.maximum(np.maximum(np.abs(x).max(-1), np.abs(e).max(-1)), np.maximum(np.abs(y).max(-1), 1.0))
    return np.abs((x - e) - y).max(-1) / scale


SINGLE_MEASURES = ("subopt", "dist2", "e2", "vdist2", "g2", "virt_gap", "delta_obs", "gnorm2")
WORKER_MEASURES = ("subopt", "dist2", "gnorm2", "e2", "ebar2", "vdist2", "g2", "virt_gap")


def _measures(measures: tuple[str, ...] | None, known: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    chosen = default if measures is None else tuple(measures)
    unknown = [m for m in chosen if m not in known]
    if unknown or not chosen:
        raise InputError(f"measures must be a non-empty subset of {known}, got {measures!r}")
    return chosen


def ef_sgd(
    problem: Problem,
    C: Compressor,
    gamma: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    *,
    measures: tuple[str, ...] | None = None,
) -> Trace:
    """R independent runs of EF-SGD with one worker for T steps from problem.x0 (module docstring; lecture
    slide "Error Feedback SGD", seed 004), recorded at ``checkpoints`` (default: log-spaced in 1..T).

    ``measures``: the monitored names to record (default: all of SINGLE_MEASURES except gnorm2, which
    costs one extra exact gradient per step); fewer names make long sweeps cheaper."""
    want = _measures(measures, SINGLE_MEASURES, SINGLE_MEASURES[:-1])
    gamma = positive("gamma", gamma)
    tx = ef_sgd_update(C, gamma)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        state = tx.init(problem.x0, R, rng)  # e_0 = 0
        y = x.copy()  # plain SGD on the same gradients: the virtual sequence's twin
        while True:
            g = problem.stoch_grad(x, rng)  # g_t = g(x_t)
            v, state_next = tx.update(g, state, rng)  # v_t = C(e_t + gamma g_t), e_{t+1} = e_t + gamma g_t - v_t
            e, e_next = state[1].e, state_next[1].e
            yield _single_measures(want, problem, x, e, g, y, e_next, gamma)
            x = x - v  # x_{t+1} = x_t - v_t
            y = y - gamma * g  # y_{t+1} = y_t - gamma g_t
            state = state_next

    return run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma})


def _single_measures(want: tuple[str, ...], problem: Problem, x: np.ndarray, e: np.ndarray, g: np.ndarray, y: np.ndarray,
                     e_next: np.ndarray, gamma: float) -> dict[str, np.ndarray]:
    """The requested one-worker measures at step t (module docstring), computed only when asked for."""
    out: dict[str, np.ndarray] = {}
    x_star = np.asarray(problem.x_star)
    for m in want:
        if m == "subopt":
            out[m] = problem.loss(x) - problem.f_star
        elif m == "dist2":
            out[m] = _sq(x - x_star)
        elif m == "e2":
            out[m] = _sq(e)
        elif m == "vdist2":
            out[m] = _sq(x - e - x_star)  # x~_t = x_t - e_t
        elif m == "g2":
            out[m] = _sq(g)
        elif m == "virt_gap":
            out[m] = _virt_gap(x, e, y)
        elif m == "delta_obs":
            out[m] = _delta_obs(e + gamma * g, e_next)
        elif m == "gnorm2":
            out[m] = _sq(problem.grad(x))
    return out


def _worker_measures(want: tuple[str, ...], problem, x: np.ndarray, e: np.ndarray, g: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The requested n-worker measures at step t (module docstring); e (R, n, d), g (R, n, d)."""
    out: dict[str, np.ndarray] = {}
    x_star = np.asarray(problem.x_star)
    e_bar = e.mean(axis=1)
    for m in want:
        if m == "subopt":
            out[m] = problem.loss(x) - problem.f_star
        elif m == "dist2":
            out[m] = _sq(x - x_star)
        elif m == "gnorm2":
            out[m] = _sq(problem.grad(x))
        elif m == "e2":
            out[m] = _sq(e).mean(axis=1)
        elif m == "ebar2":
            out[m] = _sq(e_bar)
        elif m == "vdist2":
            out[m] = _sq(x - e_bar - x_star)  # x~_t = x_t - (1/n) sum_i e_{i,t}
        elif m == "g2":
            out[m] = _sq(g).mean(axis=1)
        elif m == "virt_gap":
            out[m] = _virt_gap(x, e_bar, y)
    return out


def _delta_obs(u: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """1 - ||C(u) - u||^2/||u||^2 (1 where u = 0): the contraction achieved on this input."""
    u2 = _sq(u)
    return np.where(u2 > 0, 1.0 - _sq(residual) / np.where(u2 > 0, u2, 1.0), 1.0)


def ef_sgd_workers(
    problem: ClientProblem,
    C: Compressor,
    gamma: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    *,
    error_feedback: bool = True,
    measures: tuple[str, ...] | None = None,
) -> Trace:
    """R independent runs of n-worker EF-SGD with n = problem.n (module docstring; THEOREMS.md T2 (b),
    seed 001), state x (R, d) and worker buffers e (R, n, d); i.i.d. workers of a single objective are
    ``IIDClients(problem, n)`` (ratecheck.problem).

    ``error_feedback=False`` is the negative control "compressed distributed SGD without memory":
    x_{t+1} = x_t - (1/n) sum_i C(gamma g_{i,t}) with e kept at 0 (then virt_gap compares x with SGD on
    the same gradients and is not an identity). ``measures``: the names to record (default: all of
    WORKER_MEASURES)."""
    if not hasattr(problem, "client_stoch_grads"):
        raise InputError(f"problem must be a ClientProblem (client_stoch_grads); wrap a single objective as IIDClients(problem, n), got {problem!r}")
    n = int(problem.n)
    want = _measures(measures, WORKER_MEASURES, WORKER_MEASURES)
    gamma = positive("gamma", gamma)
    workers = ef_sgd_update(C, gamma) if error_feedback else chain(scale(gamma), compress(C))  # every worker's chain
    server = mean_aggregator()

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        template = np.broadcast_to(problem.x0, (n, problem.d))
        state = workers.init(template, R, rng)  # e_{i,0} = 0
        e0 = np.zeros((R, n, problem.d))  # the memory without error feedback: always 0
        y = x.copy()  # plain SGD on the mean gradients
        while True:
            g = problem.client_stoch_grads(broadcast_clients(x, n), rng)  # g_{i,t} = g_i(x_t), shape (R, n, d)
            v, state_next = workers.update(g, state, rng)  # v_i = C(e_i + gamma g_i); e_i <- e_i + gamma g_i - v_i
            yield _worker_measures(want, problem, x, state[1].e if error_feedback else e0, g, y)
            v_bar, _ = server.update(v, None, rng)  # (1/n) sum_i v_{i,t}
            x = x - v_bar  # x_{t+1} = x_t - (1/n) sum_i v_{i,t}
            y = y - gamma * g.mean(axis=1)  # y_{t+1} = y_t - gamma (1/n) sum_i g_{i,t}
            state = state_next

    return run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma, "n": float(n)})
