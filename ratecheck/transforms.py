"""Composable stateful update transforms, optax-shaped (optax's GradientTransformation: init/update pairs
composed by chain).

A ``Transform`` is a pair of pure functions
    init(x0, R, rng) -> state               x0: one replica's input template, shape (d,) or (n, d)
    update(g, state, rng) -> (u, state)     g: shape (R, d), or (R, n, d) for a worker chain
The state is explicit and never modified in place: ``update`` returns new arrays and leaves the input
state as it was; all randomness comes from the ``rng`` passed in. A worker chain acts on the n workers'
inputs (R, n, d), every worker with its own state along axis 1; a server chain begins with an aggregator
(R, n, d) -> (R, d) (``mean_aggregator``; robust aggregators go in the same slot).

Transforms (each cites its source):
    scale(gamma)            u = gamma g
    compress(C)             u = C(g), a ratecheck.compressors.Compressor, fresh randomness per call
    error_feedback(inner)   u_t = inner(e_t + g_t), e_{t+1} = e_t + g_t - u_t (Stich et al. 2018)
    momentum(beta)          m_t = (1 - beta) g_t + beta m_{t-1} (damped, the slides); ``damped=False``:
                            heavy ball m_t = beta m_{t-1} + g_t
    clip(tau)               u = min(1, tau/||g||) g, tau a number or a schedule k -> tau_k
    acclip(alpha, ..)       ACClip: coordinate-wise clipping of the momentum at an adaptive tau (Zhang et al. 2020)
    mean_aggregator()       u = (1/n) sum_i g_i
    aggregate(agg)          u = agg(g), a ratecheck.aggregators.Aggregator (its state, e.g. CC's centre)
    powersgd_allreduce(..)  PowerSGD all-reduce with a warm-started query Q in the state (Vogels et al. 2019)

Error feedback is in the units of its input. EF-SGD keeps the memory in the paper's units (the step
inside: e_{t+1} = e_t + gamma g_t - C(e_t + gamma g_t), Stich, Cordonnier, Jaggi, NeurIPS 2018; lecture
Thms 12.4/12.5): ``chain(scale(gamma), error_feedback(compress(C)))``. EF-PowerSGD keeps it in gradient
units (Delta = g + e, e = Delta - C(Delta), the step applied after; Vogels et al. Alg. 2):
``error_feedback(powersgd_allreduce(...))`` followed by x <- x - gamma u.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ratecheck.compressors import Compressor
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = [
    "ACClipState",
    "EFState",
    "PowerSGDState",
    "Transform",
    "acclip",
    "aggregate",
    "allreduce_compress",
    "chain",
    "clip",
    "compress",
    "error_feedback",
    "mean_aggregator",
    "momentum",
    "orthogonalize",
    "powersgd_allreduce",
    "scale",
]

State = Any


class Transform(NamedTuple):
    """init(x0, R, rng) -> state; update(g, state, rng) -> (u, state) (module docstring)."""

    init: Callable[[np.ndarray, int, np.random.Generator], State]
    update: Callable[[np.ndarray, State, np.random.Generator], tuple[np.ndarray, State]]


def _zeros(x0: np.ndarray, R: int) -> np.ndarray:
    return np.zeros((R, *np.shape(x0)))


def _no_state(x0: np.ndarray, R: int, rng: np.random.Generator) -> None:
    return None


def chain(*transforms: Transform) -> Transform:
    """The composition: the output of each transform is the input of the next; the state is the tuple of
    the states (optax.chain)."""
    if not transforms:
        raise InputError("chain needs at least one transform")

    def init(x0: np.ndarray, R: int, rng: np.random.Generator) -> tuple:
        return tuple(t.init(x0, R, rng) for t in transforms)

    def update(g: np.ndarray, state: tuple, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
        new = []
        for t, s in zip(transforms, state):
            g, s = t.update(g, s, rng)
            new.append(s)
        return g, tuple(new)

    return Transform(init, update)


def scale(gamma: float) -> Transform:
    """u = gamma g (the step size as a transform)."""
    gamma = positive("gamma", gamma)
    return Transform(_no_state, lambda g, state, rng: (gamma * g, state))


def compress(C: Compressor) -> Transform:
    """u = C(g, rng), every last-axis vector compressed independently (ratecheck.compressors)."""
    if not callable(C):
        raise InputError(f"C must be a ratecheck.compressors.Compressor, got {C!r}")
    return Transform(_no_state, lambda g, state, rng: (C(g, rng), state))


def mean_aggregator() -> Transform:
    """The server's aggregator (R, n, d) -> (R, d): u = (1/n) sum_i g_i (exact all-reduce). Robust
    aggregators (coordinate median, trimmed mean, Krum, ...) take this slot."""
    return Transform(_no_state, lambda g, state, rng: (g.mean(axis=1), state))


def aggregate(agg: Any) -> Transform:
    """The server's aggregator slot filled by a ratecheck.aggregators.Aggregator: (R, n, d) -> (R, d), with
    the aggregator's own state (None, or CenteredClip's centre v carried across rounds)."""
    if not (hasattr(agg, "init") and hasattr(agg, "update")):
        raise InputError(f"agg must be a ratecheck.aggregators.Aggregator, got {agg!r}")
    return Transform(lambda x0, R, rng: agg.init(R, np.shape(x0)[-1]), agg.update)


class EFState(NamedTuple):
    """The error memory e (shape of the input) and the inner transform's state."""

    e: np.ndarray
    inner: State


def error_feedback(inner: Transform) -> Transform:
    """Error feedback around ``inner`` (a compressor, or a compressed all-reduce): with u_t = e_t + g_t,
        v_t = inner(u_t),   e_{t+1} = u_t - v_t,   e_0 = 0
    (Stich, Cordonnier, Jaggi, NeurIPS 2018; Karimireddy et al., ICML 2019; epfml/error-feedback-SGD:
    corrected = memory + lr grad; p = comp(corrected); memory <- corrected - p). The memory is in the
    units of the input: place ``scale(gamma)`` before it for EF-SGD's e_{t+1} = e_t + gamma g_t - v_t.
    An inner transform that all-reduces over the worker axis ((R, n, d) -> (R, d), e.g. PowerSGD) leaves
    every worker the residual of the shared output: e_i = Delta_i - Delta' (epfml/powersgd RankKReducer)."""

    def init(x0: np.ndarray, R: int, rng: np.random.Generator) -> EFState:
        return EFState(_zeros(x0, R), inner.init(x0, R, rng))

    def update(g: np.ndarray, state: EFState, rng: np.random.Generator) -> tuple[np.ndarray, EFState]:
        u = state.e + g  # u_t = e_t + g_t
        v, inner_state = inner.update(u, state.inner, rng)  # v_t = C(u_t)
        e_next = u - (v if v.ndim == u.ndim else v[:, None])  # e_{t+1} = u_t - v_t
        return v, EFState(e_next, inner_state)

    return Transform(init, update)


def momentum(beta: float, *, damped: bool = True) -> Transform:
    """Momentum buffer m_{-1} = 0. Damped (the lecture slides' form): m_t = (1 - beta) g_t + beta m_{t-1};
    ``damped=False``: heavy ball (Polyak 1964) m_t = beta m_{t-1} + g_t. u = m_t."""
    beta = in_interval("beta", beta, 0.0, 1.0, closed="left")

    def init(x0: np.ndarray, R: int, rng: np.random.Generator) -> np.ndarray:
        return _zeros(x0, R)

    if damped:
        def update(g: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            m = (1 - beta) * g + beta * m  # m_t = (1 - beta) g_t + beta m_{t-1}
            return m, m
    else:
        def update(g: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            m = beta * m + g  # m_t = beta m_{t-1} + g_t
            return m, m

    return Transform(init, update)


def clip(tau: float | Callable[[int], float]) -> Transform:
    """Norm clipping of every last-axis vector: u = min(1, tau/||g||) g (ACClip, Zhang et al. 2020;
    g = 0 maps to 0). ``tau`` is a number, or a schedule k -> tau_k evaluated at the k-th update (k = 1, 2, ...;
    the state counts the updates), e.g. clipped SGD's tau_k = G k^(1/alpha) (THEOREMS.md T9 (b)); a schedule
    value that is not a finite number > 0 is an InputError naming tau_k."""
    if not callable(tau):
        tau_ = positive("tau", tau)

        def update(g: np.ndarray, state: None, rng: np.random.Generator) -> tuple[np.ndarray, None]:
            return _clip(g, tau_), state

        return Transform(_no_state, update)

    def init_k(x0: np.ndarray, R: int, rng: np.random.Generator) -> int:
        return 0

    def update_k(g: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        tau_k = float(tau(k + 1))
        if not (np.isfinite(tau_k) and tau_k > 0):
            raise InputError(f"tau_k must be a finite number > 0, got tau_{k + 1}={tau_k!r}")
        return _clip(g, tau_k), k + 1

    return Transform(init_k, update_k)


def _clip(g: np.ndarray, tau: float) -> np.ndarray:
    norm = np.sqrt(np.einsum("...j,...j->...", g, g))[..., None]
    return g * np.minimum(1.0, tau / np.where(norm > 0, norm, 1.0))


class ACClipState(NamedTuple):
    """ACClip's buffers, elementwise: the momentum m and tau^alpha (both 0 at init, as in the third-party code)."""

    m: np.ndarray
    tau_alpha: np.ndarray


def acclip(alpha: float, beta1: float = 0.9, beta2: float = 0.99, eps: float = 1e-5) -> Transform:
    """ACClip, coordinate-wise adaptive clipping of the momentum (Zhang et al., NeurIPS 2020, as quoted in THEOREMS.md
    T9 (b) [quoted spec + third-party code rivercold/ACClip-Pytorch optimizers/ACClip.py, not official]):
        m_k = beta1 m_{k-1} + (1 - beta1) g_k,    tau_k^alpha = beta2 tau_{k-1}^alpha + (1 - beta2) |g_k|^alpha,
        u_k = min{tau_k/(|m_k| + eps), 1} m_k     (elementwise; the step x <- x - eta u is applied after).
    alpha is explicit: the quoted spec's default is 1, the third-party code's 2 (the catalog); alpha in [1, 2]
    (the code's own check), beta1, beta2 in [0, 1), eps >= 0."""
    alpha = in_interval("alpha", alpha, 1.0, 2.0)
    beta1 = in_interval("beta1", beta1, 0.0, 1.0, closed="left")
    beta2 = in_interval("beta2", beta2, 0.0, 1.0, closed="left")
    eps = positive("eps", eps, allow_zero=True)

    def init(x0: np.ndarray, R: int, rng: np.random.Generator) -> ACClipState:
        return ACClipState(_zeros(x0, R), _zeros(x0, R))

    def update(g: np.ndarray, state: ACClipState, rng: np.random.Generator) -> tuple[np.ndarray, ACClipState]:
        m = beta1 * state.m + (1 - beta1) * g  # m_k
        tau_alpha = beta2 * state.tau_alpha + (1 - beta2) * np.abs(g) ** alpha  # tau_k^alpha
        factor = np.minimum(tau_alpha ** (1.0 / alpha) / (np.abs(m) + eps), 1.0)  # min{tau_k/(|m_k| + eps), 1}
        return factor * m, ACClipState(m, tau_alpha)

    return Transform(init, update)


# ----------------------------------------------------------------------------------------------------
# PowerSGD all-reduce (Vogels, Karimireddy, Jaggi, NeurIPS 2019, Alg. 1; epfml/powersgd RankKReducer)


def _T(a: np.ndarray) -> np.ndarray:
    """Transpose of the last two axes."""
    return np.swapaxes(a, -1, -2)


def orthogonalize(P: np.ndarray) -> np.ndarray:
    """Orthonormal basis P^ of span(P), columnwise, for a batch of (rows x r) matrices (reduced QR; the paper
    code uses Gram-Schmidt, which spans the same subspaces). An all-zero P gives an arbitrary basis."""
    if P.shape[-1] == 1:
        norm = np.sqrt(np.sum(P * P, axis=-2, keepdims=True))
        return np.where(norm > 0, P / np.where(norm > 0, norm, 1.0), np.eye(P.shape[-2], 1))
    P_hat, _ = np.linalg.qr(P)
    return P_hat


def allreduce_compress(M: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PowerSGD with all-reduce: M of shape (..., n, rows, cols) holds the n workers' matrices, Q of shape
    (..., cols, r) the shared query. Returns (M', Q_new): the decompressed average P^ Q_new^T, shape
    (..., rows, cols), and the averaged Q_new = (1/n) sum_i M_i^T P^, shape (..., cols, r)."""
    P_i = M @ Q[..., None, :, :]  # P_i = M_i Q
    P = P_i.mean(axis=-3)  # all-reduce
    P_hat = orthogonalize(P)  # P^ = orthogonalize(P)
    Q_i = _T(M) @ P_hat[..., None, :, :]  # Q_i = M_i^T P^
    Q_new = Q_i.mean(axis=-3)  # all-reduce mean
    return P_hat @ _T(Q_new), Q_new  # M' = P^ Q^T


class PowerSGDState(NamedTuple):
    """The query of the next step ``Q`` (R, cols, r) and the one the last step used ``used`` (None before
    the first step; kept for monitoring, e.g. the all-reduce identity P1)."""

    Q: np.ndarray
    used: np.ndarray | None


def powersgd_allreduce(rank: int, shape: tuple[int, int], *, warm_start: bool = True) -> Transform:
    """Rank-r PowerSGD compressed all-reduce over the worker axis, (R, n, rows*cols) -> (R, rows*cols):
    every worker's flat input is read row-major as a rows x cols matrix M_i (the query acts on the
    columns, Q in R^{cols x r}); the state holds the shared query, N(0, 1) at init; with ``warm_start``
    the next step starts from the averaged Q_new (subspace iteration), otherwise every step draws a fresh
    query from ``rng`` (allreduce_compress; Vogels et al. 2019, Alg. 1 with reuse_query)."""
    rows, cols = integer("rows", shape[0], low=1), integer("cols", shape[1], low=1)
    rank = integer("rank", rank, low=1, high=min(rows, cols))

    def init(x0: np.ndarray, R: int, rng: np.random.Generator) -> PowerSGDState:
        return PowerSGDState(rng.standard_normal((R, cols, rank)), None)

    def update(g: np.ndarray, state: PowerSGDState, rng: np.random.Generator) -> tuple[np.ndarray, PowerSGDState]:
        R, n = g.shape[:2]
        Q = state.Q if warm_start else rng.standard_normal((R, cols, rank))  # warm start, or a fresh shared query
        out, Q_new = allreduce_compress(g.reshape(R, n, rows, cols), Q)  # Delta' = P^ Q^T
        return out.reshape(R, rows * cols), PowerSGDState(Q_new, Q)

    return Transform(init, update)
