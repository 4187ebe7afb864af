"""EF-PowerSGD: data-parallel SGD with n workers, rank-r PowerSGD compression of the gradient matrices
with a shared (warm-started) query, and error feedback; and the PowerSGD properties P1-P3 of THEOREMS.md
T3.1 as functions returning their measured values.

Source: Vogels, Karimireddy, Jaggi, "PowerSGD: Practical low-rank gradient compression for distributed
optimization", NeurIPS 2019, Algorithm 1 (rank-r compression) and Algorithm 2 (EF + momentum); code
epfml/powersgd paper-code/gradient_reducers.py (class RankKReducer) and paper-code/train.py; THEOREMS.md
T3.1 (b). One orientation throughout: worker i (of n) holds a gradient matrix M_i of shape (rows, cols)
(the catalog's n x m; its m, the query's dimension, is ``cols`` here, ``n`` being the number of workers),
the query is Q in R^{cols x r}, P = M Q in R^{rows x r}.

Compression with all-reduce (RankKReducer with reuse_query = warm_start), for one step:

    P_i = M_i Q                    (every worker)
    P   = (1/n) sum_i P_i          (all-reduce; the scale is irrelevant after the next line)
    P^  = orthogonalize(P)         (reduced QR; for r = 1 this is P/||P||)
    Q_i = M_i^T P^                 (every worker)
    Q   = (1/n) sum_i Q_i          (all-reduce mean; kept as the next step's query when warm-starting)
    M'  = P^ Q^T                   (the decompressed average, identical on every worker)

Because the two products are linear in M_i for a fixed Q, M' = P^ P^^T Mbar with Mbar = (1/n) sum_i M_i:
the aggregate is the compression of the average (T3.1 P1), which ``local_compress_then_average`` (each
worker orthogonalizes its own P_i, the server averages the n rank-r outputs) is not.

Optimizer loop (paper Alg. 2 with memory on; THEOREMS.md T3.1 (b)), e_w = 0 at t = 0, memory in gradient
units as in the paper code (send buffer = grad + memory); as a chain of ratecheck.transforms:
error_feedback(powersgd_allreduce(rank, (rows, cols))), then the step gamma:

    Delta_i = g_i(x_t) + e_i       (error-compensated local gradient)
    Delta'  = PowerSGD-all-reduce(Delta_1..Delta_n; Q)
    e_i     = Delta_i - Delta'     (RankKReducer: mem = tensor - out, "local input minus the averaged
                                    approximation"; THEOREMS.md T3.1 (b) lets us pick this variant)
    x_{t+1} = x_t - gamma Delta'

Momentum (the paper's default 0.9, Nesterov) is left out: the rate claims checked against this loop are
those of plain EF-SGD (lecture Thms 12.4/12.5, seed 004). With error_feedback=False, e_i stays 0
(compressed SGD without memory); with rank=None the all-reduce is exact (mean_aggregator: mini-batch SGD
over n workers, the reference run). Since sum_i e_i = n (Deltabar - Delta'), the averaged memory ebar obeys the
one-worker EF recursion on the averaged gradient, and the virtual iterate x~_t = x_t - gamma ebar_t is
mini-batch SGD on the same gradients: x~_{t+1} = x~_t - gamma gbar_t (THEOREMS.md T2 (b)).

Everything is batched over R replicas: the worker matrices are one array of shape (R, n, rows, cols), the
query (R, cols, r); the loop is over steps only. The problem's flat iterate of length rows cols is read
row-major as a rows x cols matrix (problems/least_squares.MatrixLeastSquares, ``problem.shape``). The
workers' gradients come from the one client oracle, ``problem.client_stoch_grads`` at the shared x_t
(i.i.d. workers: ratecheck.problem.IIDClients, one exact gradient plus n noise draws).

Recorded at every step t (Recorder: values at the checkpoints, running averages over all steps):
    subopt    = f(x_t) - f*             dist2 = ||x_t - x*||^2
    e2        = (1/n) sum_i ||e_i||^2 at step t (the memory the step starts from)
    delta_obs = 1 - ||Deltabar - Delta'||^2/||Deltabar||^2, the contraction achieved at step t (the
                measured per-step delta_t of T3.1 (c); 1 where Deltabar = 0)
    rel_err   = ||Deltabar - Delta'|| / ||Deltabar|| (the paper code's "rel_compression_error")
and at the checkpoints only (``check_allreduce``): allreduce_gap = max|Delta' - C_Q(Deltabar)| / max|Deltabar|,
with C_Q the independent single-matrix implementation ratecheck.compressors.PowerSGD.step (T3.1 P1
checked along the run).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.compressors import PowerSGD
from ratecheck.problem import ClientProblem, broadcast_clients
from ratecheck.trace import Trace, checkpoint_grid
from ratecheck.transforms import _T, allreduce_compress, mean_aggregator, orthogonalize, powersgd_allreduce
from ratecheck.transforms import error_feedback as with_error_feedback
from ratecheck.validate import InputError, integer, positive

__all__ = [
    "allreduce_compress", "allreduce_gaps", "captured_energy", "ef_powersgd", "local_compress_then_average", "orthogonalize",
    "relative_gap", "subspace_iteration",
]


def local_compress_then_average(M: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """The nonlinear variant (a contrast for P1, not PowerSGD): every worker orthogonalizes its own
    P_i = M_i Q and sends the rank-r matrix P^_i P^_i^T M_i; the server averages the n of them."""
    P_hat_i = orthogonalize(M @ Q[..., None, :, :])
    return (P_hat_i @ (_T(P_hat_i) @ M)).mean(axis=-3)


def relative_gap(A: np.ndarray, B: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """max|A - B| / max|scale| over the last two axes (0 where scale = 0 and A = B)."""
    num = np.max(np.abs(A - B), axis=(-2, -1))
    den = np.max(np.abs(scale), axis=(-2, -1))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), num)


def _sq(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return np.sum(a * a, axis=axes)


def ef_powersgd(
    problem: ClientProblem,
    shape: tuple[int, int],
    rank: int | None,
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
    """R independent runs of EF-PowerSGD with n = problem.n workers for T steps from problem.x0 (module
    docstring). ``shape`` = (rows, cols) reads the flat iterate as a rows x cols matrix; ``rank=None`` is
    the exact all-reduce (mini-batch SGD). Worker i's gradient is row i of problem.client_stoch_grads at
    the shared x_t. The query starts as N(0, 1) entries; without ``warm_start`` a fresh one is drawn every
    step."""
    if not hasattr(problem, "client_stoch_grads"):
        raise InputError(f"problem must be a ClientProblem (client_stoch_grads); wrap a single objective as IIDClients(problem, n), got {problem!r}")
    rows, cols = (integer("rows", shape[0], low=1), integer("cols", shape[1], low=1))
    if rows * cols != problem.d:
        raise InputError(f"shape={tuple(shape)} must have rows*cols = problem.d = {problem.d}")
    n = integer("n", problem.n, low=1)
    gamma = positive("gamma", gamma)
    R = integer("R", R, low=1)
    allreduce = mean_aggregator() if rank is None else powersgd_allreduce(rank, (rows, cols), warm_start=warm_start)
    tx = with_error_feedback(allreduce) if error_feedback else allreduce  # Delta_i = g_i + e_i; e_i = Delta_i - Delta'
    at_checkpoint = {int(t) for t in checkpoint_grid(T, checkpoints)}
    reference = PowerSGD(rank, warm_start=True) if rank is not None else None  # C_Q(M) for a given Q
    x_star = np.asarray(problem.x_star)
    mat = lambda a: a.reshape(*a.shape[:-1], rows, cols)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        state = tx.init(np.broadcast_to(problem.x0, (n, problem.d)), R, rng)  # e_i = 0; Q with N(0, 1) entries
        t = 0
        while True:
            g = problem.client_stoch_grads(broadcast_clients(x, n), rng)  # g_i(x_t), shape (R, n, d)
            Delta_out, state_next = tx.update(g, state, rng)  # Delta_i = g_i + e_i; Delta'; e_i = Delta_i - Delta'
            e = state.e if error_feedback else np.zeros_like(g)
            Delta = mat(g + e) if error_feedback else mat(g)
            Delta_bar, Delta_out_m = Delta.mean(axis=1), mat(Delta_out)
            in2 = _sq(Delta_bar, (-2, -1))
            res2 = _sq(Delta_bar - Delta_out_m, (-2, -1))
            ok = in2 > 0
            values = {
                "subopt": problem.loss(x) - problem.f_star,
                "dist2": np.sum((x - x_star) ** 2, axis=-1),
                "e2": _sq(mat(e), (-2, -1)).mean(axis=1),
                "delta_obs": np.where(ok, 1.0 - res2 / np.where(ok, in2, 1.0), 1.0),
                "rel_err": np.where(ok, np.sqrt(res2 / np.where(ok, in2, 1.0)), 0.0),
            }
            if check_allreduce and reference is not None and t in at_checkpoint:
                Q_used = (state_next.inner if error_feedback else state_next).used
                single, _ = reference.step(Delta_bar, Q_used, rng)  # C_Q(Deltabar) by compressors.PowerSGD
                values["allreduce_gap"] = relative_gap(Delta_out_m, single, Delta_bar)
            yield values
            x = x - gamma * Delta_out  # x_{t+1} = x_t - gamma Delta'
            state = state_next
            t += 1

    full = min(rows, cols)
    return run_steps(steps(), T, R, checkpoints, None,
                     {"gamma": gamma, "n": float(n), "rank": float(rank or full), "n_rows": float(rows), "m_cols": float(cols)})


# ----------------------------------------------------------------------------------------------------
# the properties P1-P3 of THEOREMS.md T3.1, measured on R replicas (one checkpoint, or every step)


def allreduce_gaps(M: np.ndarray, Q: np.ndarray, rng: np.random.Generator) -> Trace:
    """P1 (all-reduce linearity) on R draws of the n workers' matrices M (R, n, rows, cols) with shared
    queries Q (R, cols, r): the relative gap between the all-reduced output (allreduce_compress) and
    compressors.PowerSGD applied to the mean with the same query (``gap_allreduce``), and the same gap
    for the nonlinear variant of local orthogonalization (``gap_local``)."""
    R, n, _, cols = M.shape
    rank = Q.shape[-1]
    Mbar = M.mean(axis=1)
    single, _ = PowerSGD(rank).step(Mbar, Q, rng)  # C_Q(Mbar), the single-matrix implementation
    out, _ = allreduce_compress(M, Q)
    local = local_compress_then_average(M, Q)
    values = {"gap_allreduce": relative_gap(out, single, Mbar)[:, None], "gap_local": relative_gap(local, single, Mbar)[:, None]}
    return Trace(np.array([1]), values, np.full(R, -1), {"n": float(n), "r": float(rank), "m": float(cols)})


def captured_energy(M: np.ndarray, Q: np.ndarray, rng: np.random.Generator) -> Trace:
    """P2: one PowerSGD step (compressors.PowerSGD) on the matrix M (rows, cols) from each of the R queries
    Q (R, cols, r). Per replica: the captured energy ||C(M)||^2/||M||^2 = 1 - ||M - C(M)||^2/||M||^2
    (``captured``), the projected energy ||M Pi_Q||^2/||M||^2 (rank 1: q^T A q/(||q||^2 tr A), A = M^T M;
    ``proj_lower``) and the positive part of their difference (``cs_violation``)."""
    R, cols, rank = Q.shape
    out, _ = PowerSGD(rank).step(np.broadcast_to(M, (R, *M.shape)), Q, rng)
    total = float(np.sum(M * M))
    captured = np.sum(out * out, axis=(-2, -1)) / total
    proj = np.sum((M @ orthogonalize(Q)) ** 2, axis=(-2, -1)) / total  # ||M Q^||^2 = ||M Pi_Q||^2
    values = {"captured": captured[:, None], "proj_lower": proj[:, None], "cs_violation": np.maximum(proj - captured, 0.0)[:, None]}
    return Trace(np.array([1]), values, np.full(R, -1), {"m": float(cols), "r": float(rank), "n_rows": float(M.shape[0])})


def subspace_iteration(M: np.ndarray, U: np.ndarray, s: np.ndarray, rank: int, T: int, R: int, rng: np.random.Generator) -> Trace:
    """P3: T warm-started PowerSGD steps (compressors.PowerSGD, warm_start=True) on the fixed M = U diag(s) V^T
    from R random initial queries. With P^_t the orthonormal basis of the t-th step's span(M Q), C = U_r^T P^_t
    and B = U_perp^T P^_t (the components in and out of the top-r left singular subspace), per step t:
      tan_angle = ||X||_F with X = B C^-1: the tangents of the principal angles (Golub & Van Loan, subspace
                  iteration), exactly geometric for two singular directions; no saturation at 1 as the sine
                  has for an unlucky start;
      gap       = (best rank-r energy - captured energy)/||M||^2, computed without cancellation as
                  tr(S_r^2 (I - C C^T)) - tr(S_perp^2 B B^T), with I - C C^T = G (I + G)^-1, G = X^T X;
      excess    = the positive part of captured - best (Eckart-Young: never > 0), from the output itself;
      captured  = ||C(M)||^2/||M||^2."""
    comp = PowerSGD(rank, warm_start=True)
    Mb = np.broadcast_to(M, (R, *M.shape))
    Q = comp.init(Mb.shape, rng)
    total, best = float(np.sum(s**2)), float(np.sum(s[:rank] ** 2))
    U_r_T, U_perp_T = U[:, :rank].T, U[:, rank:].T
    s2_top, s2_perp = s[:rank] ** 2, s[rank:] ** 2
    eye = np.eye(rank)
    cols = {k_: np.empty((R, T)) for k_ in ("tan_angle", "gap", "excess", "captured")}
    for t in range(T):  # a loop over steps only; replicas are the batch axis
        P_hat = orthogonalize(Mb @ Q)  # the span the step projects on
        out, Q = comp.step(Mb, Q, rng)
        C, B = U_r_T @ P_hat, U_perp_T @ P_hat
        X = _T(np.linalg.solve(_T(C), _T(B)))  # X = B C^-1
        G = _T(X) @ X
        I_minus_CCt = np.linalg.solve(eye + G, G)
        captured = np.sum(out * out, axis=(-2, -1))
        cols["tan_angle"][:, t] = np.sqrt(np.sum(X * X, axis=(-2, -1)))
        cols["gap"][:, t] = (np.einsum("i,...ii->...", s2_top, I_minus_CCt) - np.einsum("i,...ij,...ij->...", s2_perp, B, B)) / total
        cols["excess"][:, t] = np.maximum(captured - best, 0.0) / total
        cols["captured"][:, t] = captured / total
    constants = {"sigma_r": float(s[rank - 1]), "sigma_r1": float(s[rank]), "r": float(rank), "best_energy": best / total}
    return Trace(np.arange(1, T + 1), cols, np.full(R, -1), constants)
