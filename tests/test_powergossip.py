"""PowerGossip (ratecheck.algorithms.powergossip; THEOREMS.md T3.3): the invariants on random inputs, rank-r exactness,
the batched implementation against a per-edge Python reference written from epfml/powergossip algorithms.py, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ratecheck.algorithms.gossip import gossip
from ratecheck.algorithms.powergossip import FLOAT_BITS, edges_of, powergossip
from ratecheck.mixing import MixingMatrix, parse, star
from ratecheck.validate import InputError

GRAPHS = ("ring:8", "torus:3x3", "erdos-renyi:10:0.4:1", "star:6", "complete:5")


def _start(W: MixingMatrix, R: int, a: int, b: int, seed: int, shift: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((R, W.n, a, b)) + shift * rng.standard_normal((R, 1, a, b))


@pytest.mark.parametrize("spec", GRAPHS)
@pytest.mark.parametrize("rank,warm", [(1, True), (1, False), (2, True), (3, False)])
def test_average_preserved_and_descent(spec: str, rank: int, warm: bool) -> None:
    """(A) the average is kept to rounding (shifted start); (D) Xi_+ <= Xi - c sum_e w_e ||U_e||^2 at every step and Xi
    nonincreasing (centred start, so that rounding stays relative to Xi while it decays)."""
    W = parse(spec)
    X0 = _start(W, 6, 5, 3, seed=rank + 10 * warm)
    tr = powergossip(W, X0, 40, rank, np.random.default_rng(0), warm_start=warm, checkpoints=np.arange(1, 41))
    assert tr.values["drift"].max() <= 1e-13
    centred = X0 - X0.mean(axis=1, keepdims=True)
    tr = powergossip(W, centred, 40, rank, np.random.default_rng(0), warm_start=warm, checkpoints=np.arange(1, 41))
    rel = tr.values["consensus_rel"]
    live = np.concatenate([np.ones((rel.shape[0], 1)), rel[:, :-1]], axis=1) > 1e-20  # Xi_{t-1} above rounding (complete graphs)
    assert tr.values["descent_gap"][live].max() <= 1e-12
    assert np.all((np.diff(rel, axis=1) <= 1e-12 * rel[:, :-1]) | ~live[:, 1:])


@pytest.mark.parametrize("spec", GRAPHS)
def test_full_rank_is_exact_gossip(spec: str) -> None:
    """r = a = b: p^ p^^T = I, so every iteration is X <- W X: the same consensus as ratecheck.algorithms.gossip."""
    W = parse(spec)
    X0 = _start(W, 4, 3, 3, seed=1, shift=0.0)
    X0 -= X0.mean(axis=1, keepdims=True)  # centred: rounding stays relative to the consensus distance
    grid = np.arange(1, 16)
    pg = powergossip(W, X0, 15, 3, np.random.default_rng(2), checkpoints=grid)
    ref = gossip(W, X0.reshape(4, W.n, 9), 15, checkpoints=grid)
    c0 = np.sum((X0 - X0.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2, 3)).max()
    np.testing.assert_allclose(pg.values["consensus"], ref.values["consensus"], rtol=1e-9, atol=1e-24 * c0)
    rel = ref.values["consensus_rel"]
    live = np.concatenate([np.ones((rel.shape[0], 1)), rel[:, :-1]], axis=1) > 1e-20  # steps from Xi_{t-1} above rounding
    assert pg.values["gap_exact"][live].max() <= 1e-12


@pytest.mark.parametrize("rho,rank", [(1, 1), (2, 2), (2, 3)])
def test_rank_r_difference_one_power_step_exact(rho: int, rank: int) -> None:
    """X_i = U C_i (rank rho <= r): the first left iteration (s = 2) is the uncompressed gossip step; r < rho is not."""
    W = parse("ring:10")
    rng = np.random.default_rng(rho + rank)
    C = rng.standard_normal((8, W.n, rho, 5))
    X0 = rng.standard_normal((8, 1, 4, rho)) @ C
    tr = powergossip(W, X0, 2, rank, np.random.default_rng(0), checkpoints=np.array([1, 2]))
    assert tr.values["gap_exact"][:, 1].max() <= 1e-10  # s = 2, left
    assert tr.values["gap_exact"][:, 0].min() > 1e-3  # s = 1 (right, random q^ of rank r < 5): not exact
    twin = powergossip(W, X0, 2, rho - 1, np.random.default_rng(0), checkpoints=np.array([1, 2])) if rho > 1 else None
    if twin is not None:
        assert twin.values["gap_exact"][:, 1].min() > 1e-3


def test_broken_shared_randomness_drifts() -> None:
    """The negative control: independent queries at the two ends move the average (cold: every iteration)."""
    W = parse("ring:8")
    X0 = _start(W, 8, 4, 4, seed=3)
    for warm in (True, False):
        tr = powergossip(W, X0, 20, 1, np.random.default_rng(0), warm_start=warm, shared_randomness=False)
        assert tr.values["drift"][:, -1].min() > 1e-3


def test_bits() -> None:
    """2 messages per edge and iteration of d' x r float32, d' = a (right, odd s) or b (left, even s)."""
    W = parse("ring:6")
    E = len(edges_of(W)[0])
    a, b, r = 5, 3, 2
    tr = powergossip(W, _start(W, 2, a, b, seed=0), 4, r, np.random.default_rng(0), checkpoints=np.arange(1, 5))
    per_pair = 2 * E * r * (a + b) * FLOAT_BITS
    np.testing.assert_array_equal(tr.values["bits"][0], [2 * E * r * a * FLOAT_BITS, per_pair, per_pair + 2 * E * r * a * FLOAT_BITS,
                                                         2 * per_pair])
    assert tr.constants["bits_gossip"] == 2 * E * a * b * FLOAT_BITS


# ----------------------------------------------------------------------------------------------------
# a per-edge, per-replica Python reference written from epfml/powergossip algorithms.py PowerGossip.step


def _gram_schmidt(M: np.ndarray) -> np.ndarray:
    """epfml/powergossip orthogonalize (Gram-Schmidt on the columns), with eps = 0."""
    M = M.copy()
    for i in range(M.shape[1]):
        M[:, i] /= np.sqrt(np.sum(M[:, i] ** 2))
        if i + 1 < M.shape[1]:
            M[:, i + 1:] -= np.sum(M[:, i:i + 1] * M[:, i + 1:], axis=0) * M[:, i:i + 1]
    return M


def _reference(W: MixingMatrix, X0: np.ndarray, T: int, rank: int, rng: np.random.Generator, warm: bool, shared: bool,
               gamma: float) -> np.ndarray:
    """Consensus ||X_t - Xbar||^2 at t = 1..T, looping over replicas, edges and nodes; draws in the algorithm's order."""
    R, _, a, b = X0.shape
    r, k = min(a, b, rank), 1 if shared else 2
    I, J, w = edges_of(W)
    E = len(I)
    # shared queries: the update p^ p^^T D does not depend on the basis, so the code's Gram-Schmidt; independent ones:
    # the cross term p^_i p^_j^T does, so the same (unbatched) QR as ratecheck.transforms.orthogonalize
    orth = _gram_schmidt if shared or r == 1 else (lambda M: np.linalg.qr(M)[0])
    P = rng.standard_normal((R, E, k, a, r))
    Q = rng.standard_normal((R, E, k, b, r))
    X = X0.copy()
    out = []
    for s in range(1, T + 1):
        left = s % 2 == 0
        fresh = None if warm else rng.standard_normal((R, E, k, a if left else b, r))
        new_X = X.copy()
        P_next, Q_next = P.copy(), Q.copy()
        for rep in range(R):
            for e in range(E):
                i, j = I[e], J[e]
                F = (P if left else Q)[rep, e] if warm else fresh[rep, e]
                ends = [orth(F[0]), orth(F[-1])]
                if left:  # q_end = X_end^T p^_end, exchanged; both hold q = q_i - q_j
                    G = X[rep, i].T @ ends[0] - X[rep, j].T @ ends[1]
                    U_i, U_j = ends[0] @ G.T, ends[1] @ G.T
                    P_next[rep, e] = np.stack(ends)[:k]
                    Q_next[rep, e] = G
                else:  # swapped: p_end = X_end q^_end
                    G = X[rep, i] @ ends[0] - X[rep, j] @ ends[1]
                    U_i, U_j = G @ ends[0].T, G @ ends[1].T
                    Q_next[rep, e] = np.stack(ends)[:k]
                    P_next[rep, e] = G
                new_X[rep, i] -= gamma * w[e] * U_i
                new_X[rep, j] += gamma * w[e] * U_j
        X, P, Q = new_X, P_next, Q_next  # the exchanged product G is held by both ends
        out.append(np.sum((X - X.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2, 3)))
    return np.array(out).T


@pytest.mark.parametrize("rank,warm,shared,gamma", [(1, True, True, 1.0), (2, True, True, 0.7), (2, False, True, 1.0),
                                                    (1, False, False, 1.0), (2, True, False, 1.0)])
def test_batched_matches_per_edge_reference(rank: int, warm: bool, shared: bool, gamma: float) -> None:
    W = parse("erdos-renyi:6:0.5:2")
    X0 = _start(W, 3, 4, 3, seed=7)
    T = 7
    tr = powergossip(W, X0, T, rank, np.random.default_rng(11), gamma=gamma, warm_start=warm, shared_randomness=shared,
                     checkpoints=np.arange(1, T + 1))
    ref = _reference(W, X0, T, rank, np.random.default_rng(11), warm, shared, gamma)
    np.testing.assert_allclose(tr.values["consensus"], ref, rtol=1e-9)


# ----------------------------------------------------------------------------------------------------
# bad input


def test_bad_input_names_the_parameter() -> None:
    W = parse("ring:6")
    X0 = _start(W, 2, 3, 3, seed=0)
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="rank"):
        powergossip(W, X0, 5, 0, rng)
    with pytest.raises(InputError, match="W must be symmetric"):
        powergossip(star(6, weights="random-walk"), _start(star(6), 2, 3, 3, seed=0), 5, 1, rng)  # row-stochastic only
    not_stochastic = W.W.copy()
    not_stochastic[0, 0] += 0.1
    with pytest.raises(InputError, match="W must be row-stochastic"):
        powergossip(not_stochastic, X0, 5, 1, rng)
    with pytest.raises(InputError, match="X0"):
        powergossip(W, X0[:, :4], 5, 1, rng)
    with pytest.raises(InputError, match="gamma"):
        powergossip(W, X0, 5, 1, rng, gamma=0.0)
    with pytest.raises(InputError, match="iterations"):
        powergossip(W, X0, 5, 1, rng, iterations=0)
