"""PowerGossip: gossip averaging with rank-r messages per edge, batched over replicas and edges (THEOREMS.md T3.3).

Source: Vogels, Karimireddy, Jaggi, "Practical low-rank communication compression in decentralized deep
learning", NeurIPS 2020; code epfml/powergossip algorithms.py PowerGossip (followed line by line below) and
topologies.py. Node i holds a matrix X_i (a x b); X has shape (R, n, a, b): replicas, nodes, matrix.

Per edge (i, j), i < j, both ends hold the same factors p_ij (a x r) and q_ij (b x r), r = min(a, b, rank)
(the code's _init_p/_init_q). Power iteration s = 1, 2, ... (the code's iteration counter; its iteration 0,
"no disagreement yet" before any gradient step, is not run here because X_0 already disagrees):
  odd s  (right multiplication, the code swaps p and q):  q^ = orthogonalize(q),
         p = (X_i - X_j) q^  (each end sends X_end q^, both form the difference),  update p q^^T;
  even s (left multiplication):  p^ = orthogonalize(p),  q = (X_i - X_j)^T p^,  update p^ q^T;
  X_i <- X_i - gamma w_ij update,  X_j <- X_j + gamma w_ij update  (gamma the code's diffusion_rate).
Warm start: the product of one iteration is the factor orthogonalized at the next; without it that factor is
drawn fresh, N(0, 1), before it is orthogonalized (the code's fill_with_random_values). The code seeds one
generator per edge so that both ends draw the same values; here one array entry per edge holds that shared
draw (all draws come from the run's generator, batched over replicas and edges). ``shared_randomness=False``
is the catalog's negative control: each end holds and draws its own factor (an extra axis of size 2), so
end i applies p^_i q^T and end j applies p^_j q^T with q = X_i^T p^_i - X_j^T p^_j: the update is no longer
antisymmetric and the average drifts. With warm start the two ends share the exchanged product, so they
disagree only until their first warm iteration; the control is sharpest without warm start.

Edges are index arrays (I, J) into the nodes; the ends' matrices X_i, X_j (or X_i - X_j) of every edge are
gathered, and the sum over a node's edges is scattered, by one product with an (E x n) or weighted (n x E)
incidence matrix (a BLAS product, several times faster than fancy indexing on the node axis); the loop is
over steps and power iterations only. One step is ``iterations``
power iterations. Recorded at every step t (ratecheck.algorithms.loop), Xbar_t the rows' average:
    consensus     = ||X_t - Xbar_t||_F^2;  consensus_rel = consensus / consensus_0 (0 if consensus_0 = 0)
    drift         = ||Xbar_t - Xbar_0||_F / ||X_0||_F    (n ||xbar_t - xbar_0||^2 under the root)
    dist_avg0     = ||X_t - Xbar_0||_F^2 / consensus_0
    bits          = bits sent so far over all edges: per iteration 2 messages (one per end) of d' x r
                    float32 values per edge, d' = b (even s) or a (odd s); the code's num_bits
    gap_exact     = ||X_t - W_gamma X_{t-1}||_F / ||X_{t-1} - Xbar||_F: the last step against the uncompressed
                    gossip step from the same state (W_gamma = (1 - gamma) I + gamma W; 0 at t = 0)
    descent_gap   = the positive part of (Xi_+ - Xi + c sum_e w_e ||U_e||_F^2)/Xi over the step's iterations,
                    U_e the edge's update, c = gamma (2 - gamma (1 - lambda_n)): the descent inequality
                    Xi_+ <= Xi - c sum_e w_e ||U_e||^2 [DERIVED, theorems/powergossip.py], which holds for any
                    projection U_e = Pi D_e (so with or without warm start), to rounding.
The two relative gaps divide by max(Xi, 1e-30 Xi_0): once consensus is reached to rounding they stay finite.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps
from ratecheck.mixing import MixingMatrix
from ratecheck.trace import Trace
from ratecheck.transforms import orthogonalize
from ratecheck.validate import InputError, integer, positive

__all__ = ["edges_of", "mixing_of", "powergossip", "powergossip_iteration"]

FLOAT_BITS = 32  # the code sends float32 buffers (utils.num_bits)
ROUNDING_FLOOR = 1e-30  # Xi below 1e-30 Xi_0 is consensus to rounding (relative errors of X ~ 1e-16, squared)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, else 0."""
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def _T(A: np.ndarray) -> np.ndarray:
    return np.swapaxes(A, -1, -2)


def mixing_of(W: MixingMatrix | np.ndarray) -> MixingMatrix:
    """W as a certified symmetric doubly stochastic MixingMatrix (an array is certified here); InputError
    naming W otherwise."""
    if not isinstance(W, MixingMatrix):
        W = MixingMatrix(np.asarray(W, dtype=np.float64), "W")  # raises InputError naming W
    if W.kind != "symmetric":
        raise InputError(f"W must be symmetric and doubly stochastic (ratecheck.mixing kind='symmetric'), got "
                         f"{W.name} with kind={W.kind!r}")
    return W


def edges_of(W: MixingMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges (I, J, w): I < J with w = W[I, J] > 0 (the code's neighbor_ranks and weight)."""
    I, J = np.nonzero(np.triu(W.W, k=1) > 0)
    return I, J, W.W[I, J]


def powergossip_iteration(X: np.ndarray, F: np.ndarray, I: np.ndarray, J: np.ndarray, w: np.ndarray, gamma: float,
                          left: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One power iteration on every edge at once. X (R, n, a, b); F the factor to orthogonalize, (R, E, k, a, r)
    for a left iteration (p) or (R, E, k, b, r) for a right one (q), k = 1 (shared by both ends) or 2 (one per
    end, the broken control). Returns (X_new, the orthogonalized factor F^, the exchanged product G (R, E, 1,
    ., r), U_i the update end i subtracts (R, E, a, b))."""
    R, n = X.shape[:2]
    E = len(I)
    Ei, Ej = np.zeros((E, n)), np.zeros((E, n))
    Ei[np.arange(E), I], Ej[np.arange(E), J] = 1.0, 1.0  # edge e's ends as rows: X_i = (Ei X)_e, one BLAS product
    Y = X if left else _T(X)  # a right multiplication is the left one on X^T
    shape = (R, E) + Y.shape[2:]
    F_hat = orthogonalize(F)  # p^ = orthogonalize(p)  (r = 1: normalize)
    Fi, Fj = F_hat[:, :, 0], F_hat[:, :, -1]  # the factor at end i and at end j (the same array when shared)
    Yf = Y.reshape(R, n, -1)
    if F.shape[2] == 1:  # shared: q = X_i^T p^ - X_j^T p^ = (X_i - X_j)^T p^
        G = _T(((Ei - Ej) @ Yf).reshape(shape)) @ Fi
    else:  # each end's product with its own factor, exchanged and differenced
        G = _T((Ei @ Yf).reshape(shape)) @ Fi - _T((Ej @ Yf).reshape(shape)) @ Fj
    Ui, Uj = Fi @ _T(G), Fj @ _T(G)  # p^ q^T at each end
    if not left:
        Ui, Uj = _T(Ui), _T(Uj)
    Si, Sj = _T(Ei) * w, _T(Ej) * w  # weighted incidence (n x E): the sum over a node's edges is a product
    dX = Sj @ Uj.reshape(R, E, -1) - Si @ Ui.reshape(R, E, -1)  # X_i -= gamma w_ij p^ q^T, X_j += gamma w_ij p^ q^T
    return X + gamma * dX.reshape(X.shape), F_hat, G[:, :, None], Ui


def powergossip(W: MixingMatrix | np.ndarray, X0: np.ndarray, T: int, rank: int, rng: np.random.Generator, *,
                gamma: float = 1.0, iterations: int = 1, warm_start: bool = True, shared_randomness: bool = True,
                checkpoints: np.ndarray | None = None) -> Trace:
    """T steps of PowerGossip (module docstring) from X0 of shape (R, n, a, b) on the symmetric doubly
    stochastic W; each step runs ``iterations`` power iterations. The Trace carries W's certified constants,
    gamma, the rank used r = min(a, b, rank), a, b, m = max(a, b), m_min = min(a, b) and the bits one
    uncompressed gossip step would send (bits_gossip)."""
    W = mixing_of(W)
    X0 = np.asarray(X0, dtype=np.float64)
    if X0.ndim != 4 or X0.shape[1] != W.n:
        raise InputError(f"X0 must have shape (R, n, a, b) with n = {W.n} (the nodes of W), got {X0.shape}")
    T, rank = integer("T", T, low=1), integer("rank", rank, low=1)
    iterations, gamma = integer("iterations", iterations, low=1), positive("gamma", gamma)
    R, n, a, b = X0.shape
    r = min(a, b, rank)
    I, J, w = edges_of(W)
    E, k = len(I), 1 if shared_randomness else 2
    W_gamma = (1.0 - gamma) * np.eye(n) + gamma * W.W
    c = gamma * (2.0 - gamma * (1.0 - W.lambda_n))

    def consensus(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = X.mean(axis=1, keepdims=True)
        return np.sum((X - mean) ** 2, axis=(1, 2, 3)), mean

    c0, mean0 = consensus(X0)
    floor = ROUNDING_FLOOR * c0  # below it Xi is rounding of the start: the relative gaps are taken against it
    scale0 = np.sqrt(np.sum(X0**2, axis=(1, 2, 3)))

    def steps() -> Iterator[dict[str, np.ndarray]]:
        X, s, bits = X0.copy(), 1, 0.0
        p = rng.standard_normal((R, E, k, a, r))  # both ends' initial factors (one shared draw per edge, k = 1)
        q = rng.standard_normal((R, E, k, b, r))
        gap_exact, descent_gap = np.zeros(R), np.zeros(R)
        while True:
            xi, mean = consensus(X)
            yield {"consensus": xi, "consensus_rel": _ratio(xi, c0),
                   "drift": _ratio(np.sqrt(n * np.sum((mean - mean0) ** 2, axis=(1, 2, 3))), scale0),
                   "dist_avg0": _ratio(np.sum((X - mean0) ** 2, axis=(1, 2, 3)), c0), "bits": np.full(R, bits),
                   "gap_exact": gap_exact, "descent_gap": descent_gap}
            X_prev, xi_prev, descent_gap = X, xi, np.zeros(R)
            xi_before = xi
            for _ in range(iterations):
                left = s % 2 == 0  # the code: odd iterations swap p and q (right multiplication)
                F = p if left else q
                if not warm_start:
                    F = rng.standard_normal(F.shape[:2] + (k,) + F.shape[3:])  # a fresh query at every iteration
                X, F_hat, G, Ui = powergossip_iteration(X, F, I, J, w, gamma, left)
                if left:
                    p, q = F_hat, G  # warm start: q = (X_i - X_j)^T p^ is the next iteration's query
                else:
                    q, p = F_hat, G
                energy = np.einsum("e,Reab,Reab->R", w, Ui, Ui)  # sum_e w_e ||U_e||_F^2
                xi_after = consensus(X)[0]
                excess = xi_after - xi_before + c * energy
                descent_gap = np.maximum(descent_gap, np.maximum(_ratio(excess, np.maximum(xi_before, floor)), 0.0))
                xi_before = xi_after
                bits += 2 * E * (b if left else a) * r * FLOAT_BITS
                s += 1
            exact = W_gamma @ X_prev.reshape(R, n, -1)  # the uncompressed gossip step from X_{t-1}
            gap_exact = _ratio(np.sqrt(np.sum((X.reshape(R, n, -1) - exact) ** 2, axis=(1, 2))), np.sqrt(np.maximum(xi_prev, floor)))

    constants = {**W.constants, "gamma": gamma, "r": float(r), "a": float(a), "b": float(b), "m": float(max(a, b)),
                 "m_min": float(min(a, b)), "iterations": float(iterations), "bits_gossip": float(2 * E * a * b * FLOAT_BITS)}
    return run_steps(steps(), T, R, checkpoints, constants=constants)
