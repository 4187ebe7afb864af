"""EF-PowerSGD: data-parallel SGD with W workers, rank-r PowerSGD compression of the gradient matrices
with a shared (warm-started) query, and error feedback.

Source: Vogels, Karimireddy, Jaggi, "PowerSGD: Practical low-rank gradient compression for distributed
optimization", NeurIPS 2019, Algorithm 1 (rank-r compression) and Algorithm 2 (EF + momentum); code
epfml/powersgd paper-code/gradient_reducers.py (class RankKReducer) and paper-code/train.py; THEOREMS.md
T3.1 (b), whose symbols are used here: worker w holds a gradient matrix M_w in R^{n x m}, the query is
Q in R^{m x r}.

Compression with all-reduce (RankKReducer with reuse_query = warm_start), for one step:

    P_w = M_w Q                    (every worker)
    P   = (1/W) sum_w P_w          (all-reduce; the scale is irrelevant after the next line)
    P^  = orthogonalize(P)         (reduced QR; for r = 1 this is P/||P||)
    Q_w = M_w^T P^                 (every worker)
    Q   = (1/W) sum_w Q_w          (all-reduce mean; kept as the next step's query when warm-starting)
    M'  = P^ Q^T                   (the decompressed average, identical on every worker)

Because the two products are linear in M_w for a fixed Q, M' = P^ P^^T Mbar with Mbar = (1/W) sum_w M_w:
the aggregate is the compression of the average (T3.1 P1), which ``local_compress_then_average`` (each
worker orthogonalizes its own P_w, the server averages the W rank-r outputs) is not.

Optimizer loop (paper Alg. 2 with memory on; THEOREMS.md T3.1 (b)), e_w = 0 at t = 0, memory in gradient
units as in the paper code (send buffer = grad + memory):

    Delta_w = g_w(x_t) + e_w       (error-compensated local gradient)
    Delta'  = PowerSGD-all-reduce(Delta_1..Delta_W; Q)
    e_w     = Delta_w - Delta'     (RankKReducer: mem = tensor - out, "local input minus the averaged
                                    approximation"; THEOREMS.md T3.1 (b) lets us pick this variant)
    x_{t+1} = x_t - gamma Delta'

Momentum (the paper's default 0.9, Nesterov) is left out: the rate claims checked against this loop are
those of plain EF-SGD (lecture Thms 12.4/12.5, seed 004). With error_feedback=False, e_w stays 0
(compressed SGD without memory); with rank=None the all-reduce is exact (mini-batch SGD over W workers,
the reference run). Since sum_w e_w = W (Deltabar - Delta'), the averaged memory ebar obeys the
one-worker EF recursion on the averaged gradient, and the virtual iterate x~_t = x_t - gamma ebar_t is
mini-batch SGD on the same gradients: x~_{t+1} = x~_t - gamma gbar_t (THEOREMS.md T2 (b)).

Everything is batched over R replicas: the worker matrices are one array of shape (R, W, n, m), the query
(R, m, r); the loop is over steps only. The problem's flat iterate of length n m is read row-major as an
n x m matrix (problems/least_squares.MatrixLeastSquares, ``problem.shape``).

Recorded at every step t (Recorder: values at the checkpoints, running averages over all steps):
    subopt    = f(x_t) - f*             dist2 = ||x_t - x*||^2
    e2        = (1/W) sum_w ||e_w||^2 at step t (the memory the step starts from)
    delta_obs = 1 - ||Deltabar - Delta'||^2/||Deltabar||^2, the contraction achieved at step t (the
                measured per-step delta_t of T3.1 (c); 1 where Deltabar = 0)
    rel_err   = ||Deltabar - Delta'|| / ||Deltabar|| (the paper code's "rel_compression_error")
and at the checkpoints only (``check_allreduce``): allreduce_gap = max|Delta' - C_Q(Deltabar)| / max|Deltabar|,
with C_Q the independent single-matrix implementation ratecheck.compressors.PowerSGD.step (T3.1 P1
checked along the run).
"""

from __future__ import annotations

import numpy as np

from ratecheck.compressors import PowerSGD
from ratecheck.problem import Noise, Problem
from ratecheck.trace import Recorder, Trace, checkpoint_grid
from ratecheck.validate import InputError, integer, positive

__all__ = [
    "allreduce_compress", "ef_powersgd", "local_compress_then_average", "orthogonalize", "relative_gap", "worker_gradients",
]


def _T(a: np.ndarray) -> np.ndarray:
    """Transpose of the last two axes."""
    return np.swapaxes(a, -1, -2)


def orthogonalize(P: np.ndarray) -> np.ndarray:
    """Orthonormal basis P^ of span(P), columnwise, for a batch of (n x r) matrices (reduced QR; the paper
    code uses Gram-Schmidt, which spans the same subspaces). An all-zero P gives an arbitrary basis."""
    if P.shape[-1] == 1:
        norm = np.sqrt(np.sum(P * P, axis=-2, keepdims=True))
        return np.where(norm > 0, P / np.where(norm > 0, norm, 1.0), np.eye(P.shape[-2], 1))
    P_hat, _ = np.linalg.qr(P)
    return P_hat


def allreduce_compress(M: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PowerSGD with all-reduce (module docstring): M of shape (..., W, n, m) holds the W workers'
    matrices, Q of shape (..., m, r) the shared query. Returns (M', Q_new): the decompressed average
    P^ Q_new^T, shape (..., n, m), and the averaged Q_new = (1/W) sum_w M_w^T P^, shape (..., m, r)."""
    P_w = M @ Q[..., None, :, :]  # P_w = M_w Q
    P = P_w.mean(axis=-3)  # all-reduce
    P_hat = orthogonalize(P)  # P^ = orthogonalize(P)
    Q_w = _T(M) @ P_hat[..., None, :, :]  # Q_w = M_w^T P^
    Q_new = Q_w.mean(axis=-3)  # all-reduce mean
    return P_hat @ _T(Q_new), Q_new  # M' = P^ Q^T


def local_compress_then_average(M: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """The nonlinear variant (a contrast for P1, not PowerSGD): every worker orthogonalizes its own
    P_w = M_w Q and sends the rank-r matrix P^_w P^_w^T M_w; the server averages the W of them."""
    P_hat_w = orthogonalize(M @ Q[..., None, :, :])
    return (P_hat_w @ (_T(P_hat_w) @ M)).mean(axis=-3)


def relative_gap(A: np.ndarray, B: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """max|A - B| / max|scale| over the last two axes (0 where scale = 0 and A = B)."""
    num = np.max(np.abs(A - B), axis=(-2, -1))
    den = np.max(np.abs(scale), axis=(-2, -1))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), num)


def worker_gradients(
    problem: Problem, x: np.ndarray, W: int, rng: np.random.Generator, additive: bool | None = None
) -> np.ndarray:
    """W i.i.d. stochastic gradients at the shared x (R, d) -> (R, W, d): one exact gradient plus W
    independent draws of the noise when the problem's noise is additive and independent of x (a
    ratecheck.problem.Noise in ``problem.noise``; same distribution as W calls of stoch_grad, W times
    cheaper), else problem.stoch_grad on x broadcast to (R, W, d). ``additive``: that test's result, if
    already known (the loop asks once)."""
    if additive is None:
        additive = _additive(problem)
    if additive:
        return problem.grad(x)[:, None, :] + problem.noise.sample((x.shape[0], W, x.shape[1]), rng)  # type: ignore[attr-defined]
    return problem.stoch_grad(np.broadcast_to(x[:, None, :], (x.shape[0], W, x.shape[1])), rng)


def _additive(problem: Problem) -> bool:
    return isinstance(getattr(problem, "noise", None), Noise)


def _sq(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return np.sum(a * a, axis=axes)


def ef_powersgd(
    problem: Problem,
    shape: tuple[int, int],
    rank: int | None,
    W: int,
    gamma: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    *,
    warm_start: bool = True,
    error_feedback: bool = True,
    checkpoints: np.ndarray | None = None,
    check_allreduce: bool = True,
) -> Trace:
    """R independent runs of EF-PowerSGD with W i.i.d. workers for T steps from problem.x0 (module
    docstring). ``shape`` = (n, m) reads the flat iterate as an n x m matrix; ``rank=None`` is the exact
    all-reduce (mini-batch SGD). Worker w's gradient is problem.stoch_grad at the shared x_t with its own
    noise. The query starts as N(0, 1) entries; without ``warm_start`` a fresh one is drawn every step."""
    n_rows, m_cols = (integer("n", shape[0], low=1), integer("m", shape[1], low=1))
    if n_rows * m_cols != problem.d:
        raise InputError(f"shape={tuple(shape)} must have n*m = problem.d = {problem.d}")
    W = integer("W", W, low=1)
    gamma = positive("gamma", gamma)
    T = integer("T", T, low=1)
    R = integer("R", R, low=1)
    if rank is not None:
        rank = integer("rank", rank, low=1, high=min(n_rows, m_cols))
    grid = checkpoint_grid(T, checkpoints)
    rec = Recorder(grid, R)
    additive = _additive(problem)
    at_checkpoint = {int(t) for t in grid}
    reference = PowerSGD(rank, warm_start=True) if rank is not None else None  # C_Q(M) for a given Q

    x = np.tile(np.asarray(problem.x0, dtype=np.float64), (R, 1))
    x_star = np.asarray(problem.x_star)
    e = np.zeros((R, W, n_rows, m_cols))
    Q = rng.standard_normal((R, m_cols, rank)) if rank is not None else None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(rec.T + 1):
            g = worker_gradients(problem, x, W, rng, additive).reshape(R, W, n_rows, m_cols)  # g_w(x_t)
            Delta = g + e if error_feedback else g  # Delta_w = g_w + e_w
            Delta_bar = Delta.mean(axis=1)
            if rank is None:
                Delta_out = Delta_bar  # exact all-reduce: mini-batch SGD
            else:
                if not warm_start:
                    Q = rng.standard_normal((R, m_cols, rank))  # fresh query, shared by the workers
                Q_used = Q
                Delta_out, Q = allreduce_compress(Delta, Q_used)  # Delta' = P^ Q^T; Q kept (warm start)
            e_next = Delta - Delta_out[:, None] if error_feedback else e  # e_w = Delta_w - Delta'

            in2 = _sq(Delta_bar, (-2, -1))
            res2 = _sq(Delta_bar - Delta_out, (-2, -1))
            ok = in2 > 0
            values = {
                "subopt": problem.loss(x) - problem.f_star,
                "dist2": np.sum((x - x_star) ** 2, axis=-1),
                "e2": _sq(e, (-2, -1)).mean(axis=1),
                "delta_obs": np.where(ok, 1.0 - res2 / np.where(ok, in2, 1.0), 1.0),
                "rel_err": np.where(ok, np.sqrt(res2 / np.where(ok, in2, 1.0)), 0.0),
            }
            if check_allreduce and reference is not None and t in at_checkpoint:
                single, _ = reference.step(Delta_bar, Q_used, rng)  # C_Q(Deltabar) by compressors.PowerSGD
                values["allreduce_gap"] = relative_gap(Delta_out, single, Delta_bar)
            rec.record(t, **values)
            if t == rec.T:
                break
            if rec.all_diverged():
                rec.fill_diverged(t)
                break
            x = x - gamma * Delta_out.reshape(R, -1)  # x_{t+1} = x_t - gamma Delta'
            e = e_next
    full = min(n_rows, m_cols)
    return rec.trace({"gamma": gamma, "W": float(W), "rank": float(rank or full), "n_rows": float(n_rows), "m_cols": float(m_cols)})
