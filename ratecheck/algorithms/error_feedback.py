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

Multi-worker problems. ``ef_sgd_workers`` reads the gradients of the n workers from
``problem.worker_grads(x, rng)``, x of shape (R, d) -> (R, n, d), when the problem has that method (then
``problem.n`` is n; see problems/counterexamples.py for the protocol), and otherwise draws n independent
stochastic gradients of the same f (i.i.d. workers: ``problem.stoch_grad`` on x broadcast to (R, n, d)).

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

from typing import Protocol, runtime_checkable

import numpy as np

from ratecheck.compressors import Compressor
from ratecheck.problem import Problem
from ratecheck.trace import Recorder, Trace, checkpoint_grid
from ratecheck.validate import InputError, integer, positive

__all__ = ["MultiWorkerProblem", "ef_sgd", "ef_sgd_workers", "ef_step", "worker_gradients"]


@runtime_checkable
class MultiWorkerProblem(Protocol):
    """f = (1/n) sum_i f_i with a stochastic oracle per worker (problems/counterexamples.py documents it).

    ``worker_grads(x, rng)``: x of shape (..., d) -> (..., n, d), row i an unbiased stochastic gradient of
    f_i at x, independent across workers and batch entries. ``loss``/``grad`` are those of the mean f."""

    n: int
    d: int
    x0: np.ndarray
    x_star: np.ndarray
    f_star: float

    def loss(self, x: np.ndarray) -> np.ndarray: ...

    def grad(self, x: np.ndarray) -> np.ndarray: ...

    def worker_grads(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


def ef_step(
    e: np.ndarray, g: np.ndarray, C: Compressor, gamma: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One error-feedback transformation (the optax-style ``update`` of the error memory):
    v = C(e + gamma g), e_new = e + gamma g - v. Works on any leading batch axes."""
    u = e + gamma * g
    v = C(u, rng)
    return v, u - v


def worker_gradients(problem: Problem | MultiWorkerProblem, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The n workers' stochastic gradients at the shared x (R, d) -> (R, n, d) (module docstring)."""
    if hasattr(problem, "worker_grads"):
        return problem.worker_grads(x, rng)  # type: ignore[union-attr]
    return problem.stoch_grad(np.broadcast_to(x[:, None, :], (x.shape[0], n, x.shape[1])), rng)


def _sq(a: np.ndarray) -> np.ndarray:
    return np.einsum("...j,...j->...", a, a)


def _virt_gap(x: np.ndarray, e: np.ndarray, y: np.ndarray) -> np.ndarray:
    """max_j |x~_j - y_j| relative to the size of the numbers that formed it (module docstring)."""
    scale = np.maximum(np.maximum(np.abs(x).max(-1), np.abs(e).max(-1)), np.maximum(np.abs(y).max(-1), 1.0))
    return np.abs((x - e) - y).max(-1) / scale


def _setup(problem, gamma: float, T: int, R: int, checkpoints: np.ndarray | None, burn_in: int | None) -> tuple[float, Recorder]:
    gamma = positive("gamma", gamma)
    T = integer("T", T, low=1)
    grid = checkpoint_grid(T, checkpoints)
    return gamma, Recorder(grid, R, burn_in)


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
    gamma, rec = _setup(problem, gamma, T, R, checkpoints, burn_in)
    x = np.tile(np.asarray(problem.x0, dtype=np.float64), (R, 1))
    e = np.zeros_like(x)
    y = x.copy()  # plain SGD on the same gradients: the virtual sequence's twin
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(rec.T + 1):
            g = problem.stoch_grad(x, rng)  # g_t = g(x_t)
            v, e_next = ef_step(e, g, C, gamma, rng)  # v_t = C(e_t + gamma g_t), e_{t+1} = e_t + gamma g_t - v_t
            rec.record(t, **_single_measures(want, problem, x, e, g, y, e_next, gamma))
            if t == rec.T:
                break
            if rec.all_diverged():
                rec.fill_diverged(t)
                break
            x = x - v  # x_{t+1} = x_t - v_t
            e = e_next
            y = y - gamma * g  # y_{t+1} = y_t - gamma g_t
    return rec.trace({"gamma": gamma})


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
    problem: Problem | MultiWorkerProblem,
    C: Compressor,
    gamma: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    n: int | None = None,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    *,
    error_feedback: bool = True,
    measures: tuple[str, ...] | None = None,
) -> Trace:
    """R independent runs of n-worker EF-SGD (module docstring; THEOREMS.md T2 (b), seed 001), state
    x (R, d) and worker buffers e (R, n, d). ``n`` is problem.n for a MultiWorkerProblem (give None or the
    same value) and required for i.i.d. workers of a plain Problem.

    ``error_feedback=False`` is the negative control "compressed distributed SGD without memory":
    x_{t+1} = x_t - (1/n) sum_i C(gamma g_{i,t}) with e kept at 0 (then virt_gap compares x with SGD on
    the same gradients and is not an identity). ``measures``: the names to record (default: all of
    WORKER_MEASURES)."""
    if hasattr(problem, "worker_grads"):
        if n is not None and n != problem.n:  # type: ignore[union-attr]
            raise InputError(f"n={n} must be None or problem.n={problem.n}")  # type: ignore[union-attr]
        n = int(problem.n)  # type: ignore[union-attr]
    elif n is None:
        raise InputError("n (the number of i.i.d. workers) is required for a single-objective problem")
    n = integer("n", n, low=1)
    want = _measures(measures, WORKER_MEASURES, WORKER_MEASURES)
    gamma, rec = _setup(problem, gamma, T, R, checkpoints, burn_in)
    x = np.tile(np.asarray(problem.x0, dtype=np.float64), (R, 1))
    e = np.zeros((R, n, x.shape[1]))
    y = x.copy()  # plain SGD on the mean gradients
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(rec.T + 1):
            g = worker_gradients(problem, x, n, rng)  # g_{i,t} = g_i(x_t), shape (R, n, d)
            if error_feedback:
                v, e_next = ef_step(e, g, C, gamma, rng)  # v_i = C(e_i + gamma g_i); e_i <- e_i + gamma g_i - v_i
            else:
                v, e_next = C(gamma * g, rng), e
            rec.record(t, **_worker_measures(want, problem, x, e, g, y))
            if t == rec.T:
                break
            if rec.all_diverged():
                rec.fill_diverged(t)
                break
            x = x - v.mean(axis=1)  # x_{t+1} = x_t - (1/n) sum_i v_{i,t}
            e = e_next
            y = y - gamma * g.mean(axis=1)  # y_{t+1} = y_t - gamma (1/n) sum_i g_{i,t}
    return rec.trace({"gamma": gamma, "n": float(n)})
