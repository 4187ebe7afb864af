"""Tests for ratecheck.mixing (gossip matrices and their certified constants) and the gossip algorithm
(ratecheck.algorithms.gossip), THEOREMS.md T3.2.

Every comparison is a deterministic identity, to a tolerance derived from the rounding it involves:
eigvalsh is backward stable, so each computed eigenvalue of a symmetric W with ||W||_2 = 1 is within
c n eps of the exact one (Golub & Van Loan, Thm 8.1.5 with Weyl); with n <= 64 and c <= 10 that is below
10 * 64 * 2.2e-16 < 2e-13 = EIG_TOL. Sums of n <= 64 entries of size <= 1 are exact to n eps < 2e-14.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ratecheck import mixing
from ratecheck.algorithms.gossip import gossip
from ratecheck.mixing import MixingMatrix, metropolis, parse
from ratecheck.validate import InputError

EIG_TOL = 2e-13
SUM_TOL = 2e-14

SPECS = ["ring:3", "ring:5", "ring:16", "torus:3x3", "torus:4x6", "complete:2", "complete:16", "star:3",
         "star:16", "erdos-renyi:16:0.3:0", "erdos-renyi:20:0.05:1", "two-rings:6", "two-rings:17"]


def components_bfs(A: np.ndarray) -> int:
    """Connected components of the graph A by breadth-first search (independent of scipy's)."""
    n, seen, count = A.shape[0], set(), 0
    for s in range(n):
        if s in seen:
            continue
        count += 1
        frontier = [s]
        seen.add(s)
        while frontier:
            i = frontier.pop()
            for j in np.flatnonzero(A[i]):
                if int(j) not in seen:
                    seen.add(int(j))
                    frontier.append(int(j))
    return count


def ring_eigenvalues(n: int) -> np.ndarray:
    """(1 + 2 cos(2 pi k/n))/3, k = 0..n-1, descending (THEOREMS.md T3.2 (c))."""
    return np.sort((1 + 2 * np.cos(2 * np.pi * np.arange(n) / n)) / 3)[::-1]


# ----------------------------------------------------------------------------------------------------
# the ring's closed form and the 1/n^2 scaling of its gap


@pytest.mark.parametrize("n", range(3, 65))
def test_ring_spectrum_matches_the_closed_form(n: int) -> None:
    W = mixing.ring(n)
    np.testing.assert_allclose(W.eigenvalues, ring_eigenvalues(n), rtol=0, atol=EIG_TOL)
    assert W.gap == pytest.approx(2 / 3 * (1 - math.cos(2 * math.pi / n)), abs=EIG_TOL)
    lam_n = (1 + 2 * math.cos(2 * math.pi * (n // 2) / n)) / 3
    lam = max(abs(ring_eigenvalues(n)[1]), abs(lam_n))
    assert W.lambda_ == pytest.approx(lam, abs=EIG_TOL)
    assert W.p == pytest.approx(1 - lam**2, abs=3 * EIG_TOL)
    if n >= 5:  # lambda = lambda_2 (the catalog says n >= 6; it already holds at n = 5)
        assert W.lambda_ == pytest.approx(W.lambda_2, abs=EIG_TOL)


def test_ring_gap_scales_as_one_over_n_squared() -> None:
    # 1 - cos x = x^2/2 (1 - x^2/12 + ...) with alternating decreasing terms, so for x = 2 pi/n:
    # (4 pi^2/3)(1 - pi^2/(3 n^2)) <= n^2 gap <= 4 pi^2/3, and n^2 gap increases with n
    ns = np.array([8, 16, 32, 64, 128, 256])
    scaled = np.array([n**2 * mixing.ring(int(n)).gap for n in ns])
    limit = 4 * math.pi**2 / 3
    assert np.all(scaled <= limit * (1 + 1e-10))
    assert np.all(scaled >= limit * (1 - math.pi**2 / (3 * ns**2)) * (1 - 1e-10))
    assert np.all(np.diff(scaled) > 0)
    slopes = np.diff(np.log([mixing.ring(int(n)).gap for n in ns])) / np.diff(np.log(ns))
    # d log(1 - cos x)/d log n = -x sin x/(1 - cos x) = -2 + x^2/6 + O(x^4), x = 2 pi/n, increasing in x: each
    # secant slope over [n, 2n] lies in (-2, -2 + (2 pi/n)^2/6]
    assert np.all(slopes > -2)
    assert np.all(slopes + 2 <= (2 * np.pi / ns[:-1]) ** 2 / 6)
    assert abs(slopes[-1] + 2) < 1e-3


def test_torus_spectrum_matches_the_kronecker_closed_form() -> None:
    a, b = 4, 6
    W = mixing.torus(a, b)
    j, k = np.meshgrid(np.arange(a), np.arange(b), indexing="ij")
    exact = np.sort(((1 + 2 * np.cos(2 * np.pi * j / a) + 2 * np.cos(2 * np.pi * k / b)) / 5).ravel())[::-1]
    np.testing.assert_allclose(W.eigenvalues, exact, rtol=0, atol=EIG_TOL)
    assert np.all(W.W[W.W > 0] == pytest.approx(0.2))  # self and four distinct neighbours: 1/5 each
    assert np.all(np.count_nonzero(W.W, axis=1) == 5)


# ----------------------------------------------------------------------------------------------------
# every topology is certified


@pytest.mark.parametrize("spec", SPECS)
def test_every_topology_is_symmetric_doubly_stochastic_nonnegative(spec: str) -> None:
    W = parse(spec)
    M = W.W
    assert W.kind == "symmetric"
    assert np.array_equal(M, M.T)
    assert M.min() >= 0
    np.testing.assert_allclose(M.sum(axis=0), 1, rtol=0, atol=SUM_TOL)
    np.testing.assert_allclose(M.sum(axis=1), 1, rtol=0, atol=SUM_TOL)
    ev = np.linalg.eigvalsh(M)
    assert ev.max() == pytest.approx(1, abs=EIG_TOL) and ev.min() >= -1 - EIG_TOL
    A = (M - np.diag(np.diag(M))) > 0
    assert W.components == components_bfs(A)
    # Metropolis weights keep W_ii >= 1/(1 + deg_i) > 0 (aperiodic): lambda < 1 iff the graph is connected
    assert (W.lambda_ < 1 - 1e-9) == W.connected
    c = W.constants
    assert c["lambda_"] == pytest.approx(max(abs(np.sort(ev)[-2]), abs(ev[0])), abs=EIG_TOL)
    assert c["p"] == pytest.approx(1 - c["lambda_"] ** 2, abs=1e-15)
    assert c["n"] == M.shape[0]
    assert c["lambda_next"] < c["lambda_"] or c["lambda_"] == 0


def test_complete_graph_averages_in_one_step_and_disconnected_has_lambda_one() -> None:
    W = mixing.complete(16)
    np.testing.assert_allclose(W.W, np.full((16, 16), 1 / 16), rtol=0, atol=1e-16)
    assert W.lambda_ < EIG_TOL and W.p == pytest.approx(1, abs=1e-15)
    D = mixing.disconnected(16)
    assert D.components == 2 and not D.connected
    assert D.lambda_ == pytest.approx(1, abs=EIG_TOL) and D.p == pytest.approx(0, abs=3 * EIG_TOL)
    assert mixing.erdos_renyi(10, 1.0, 3).W == pytest.approx(mixing.complete(10).W, abs=SUM_TOL)


def test_random_walk_star_is_row_but_not_column_stochastic() -> None:
    n = 8
    W = mixing.star(n, weights="random-walk")
    assert W.kind == "row"
    np.testing.assert_allclose(W.W.sum(axis=1), 1, rtol=0, atol=SUM_TOL)
    assert np.max(np.abs(W.W.sum(axis=0) - 1)) > 1  # the centre's column sums to 1/n + (n - 1)/2
    pi = np.array([n] + [2] * (n - 1), dtype=float)  # the left Perron vector is proportional to deg + 1
    pi /= pi.sum()
    np.testing.assert_allclose(pi @ W.W, pi, rtol=0, atol=SUM_TOL)
    assert W.connected and W.lambda_ < 1


def test_erdos_renyi_is_seeded_and_says_whether_it_is_connected() -> None:
    a, b = mixing.erdos_renyi(30, 0.1, seed=4), mixing.erdos_renyi(30, 0.1, seed=4)
    assert np.array_equal(a.W, b.W)
    draws = [mixing.erdos_renyi(30, 0.12, seed=s) for s in range(20)]
    assert len({d.W.tobytes() for d in draws}) == 20
    flags = {d.connected for d in draws}
    assert flags == {True, False}  # at p_edge = 0.12 ~ log(30)/30 some draws are connected, some not
    for d in draws:
        assert d.components == components_bfs((d.W - np.diag(np.diag(d.W))) > 0)


@st.composite
def graphs(draw) -> np.ndarray:
    """A random undirected graph on 2..12 nodes (any edge set, isolated nodes and empty graphs included)."""
    n = draw(st.integers(2, 12))
    bits = draw(st.lists(st.booleans(), min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2))
    A = np.zeros((n, n))
    A[np.triu_indices(n, 1)] = bits
    return A + A.T


@given(graphs())
@example(np.ones((12, 12)) - np.eye(12))
@example(np.zeros((3, 3)))
def test_metropolis_weights_on_random_graphs(A: np.ndarray) -> None:
    W = metropolis(A)
    n, deg = A.shape[0], A.sum(axis=1)
    for i in range(n):
        for j in range(n):
            if i != j:
                expected = 1 / (1 + max(deg[i], deg[j])) if A[i, j] else 0.0
                assert W.W[i, j] == expected
        assert W.W[i, i] >= 1 / (1 + deg[i]) - SUM_TOL  # each of the deg_i edges takes at most 1/(1 + deg_i)
    np.testing.assert_allclose(W.W.sum(axis=0), 1, rtol=0, atol=SUM_TOL)
    assert W.components == components_bfs(A)
    assert (W.lambda_ < 1 - 1e-9) == W.connected


@given(graphs(), st.integers(0, 2**32 - 1))
def test_consensus_contraction_holds_with_p_and_is_attained(A: np.ndarray, seed: int) -> None:
    """||W X - Xbar||_F^2 <= (1 - p) ||X - Xbar||_F^2 (Koloskova et al.), equality on lambda's eigenvector."""
    W = metropolis(A)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((W.n, 3))
    dev = lambda Y: float(np.sum((Y - Y.mean(axis=0)) ** 2))
    assert dev(W.W @ X) <= (1 - W.p) * dev(X) * (1 + 1e-12) + 1e-14
    ev, U = W.eigenvectors()
    k = 1 + int(np.argmax(np.abs(ev[1:])))
    u = U[:, k] - U[:, k].mean()  # remove the rounding's consensus component
    if dev(u[:, None]) > 0.5:  # orthogonal to 1 (with lambda = 1 and two components it may not be)
        assert dev(W.W @ u[:, None]) == pytest.approx((1 - W.p) * dev(u[:, None]), abs=1e-12)


# ----------------------------------------------------------------------------------------------------
# bad input names the parameter and its range


@pytest.mark.parametrize("build, message", [
    (lambda: MixingMatrix(np.ones((3, 4)) / 4), "W must be a square matrix"),
    (lambda: MixingMatrix(np.ones(3) / 3), "W must be a square matrix"),
    (lambda: MixingMatrix(np.ones((1, 1))), "n >= 2"),
    (lambda: MixingMatrix(np.array([[1.5, -0.5], [-0.5, 1.5]])), "W must be nonnegative"),
    (lambda: MixingMatrix(np.array([[0.5, 0.4], [0.4, 0.5]])), "W must be row-stochastic"),
    (lambda: MixingMatrix(np.array([[0.5, 0.5], [0.2, 0.8]])), "W must be symmetric"),
    (lambda: MixingMatrix(np.array([[0.5, 0.5], [np.nan, 0.5]])), "W must have finite entries"),
    (lambda: MixingMatrix(np.eye(2), kind="column"), "kind must be one of"),
    (lambda: mixing.ring(2), "n must be an integer >= 3"),
    (lambda: mixing.torus(2, 5), "a must be an integer >= 3"),
    (lambda: mixing.torus(4, 1), "b must be an integer >= 3"),
    (lambda: mixing.complete(1), "n must be an integer >= 2"),
    (lambda: mixing.star(2), "n must be an integer >= 3"),
    (lambda: mixing.star(5, weights="uniform"), "weights must be 'metropolis' or 'random-walk'"),
    (lambda: mixing.disconnected(5), "n must be an integer >= 6"),
    (lambda: mixing.erdos_renyi(10, 0.0), "p_edge must be in (0, 1]"),
    (lambda: mixing.erdos_renyi(10, 1.5), "p_edge must be in (0, 1]"),
    (lambda: mixing.erdos_renyi(10, 0.5, seed=-1), "seed must be an integer >= 0"),
    (lambda: metropolis(np.array([[0, 1], [0, 0]])), "A must be symmetric"),
    (lambda: metropolis(np.eye(3)), "A must have a zero diagonal"),
    (lambda: metropolis(np.full((3, 3), 0.5) - 0.5 * np.eye(3)), "A must be a 0/1 adjacency matrix"),
    (lambda: mixing.make("hypercube", n=8), "topology must be one of"),
    (lambda: mixing.make("ring", m=8), "topology 'ring'"),
    (lambda: parse("ring"), "spec must be one of the forms"),
    (lambda: parse("torus:4by4"), "spec must be one of the forms"),
    (lambda: parse("ring:x"), "spec 'ring:x'"),
    (lambda: parse("ring:2"), "n must be an integer >= 3"),
    (lambda: mixing.star(5, weights="random-walk").eigenvectors(), "kind='symmetric'"),
])
def test_bad_input_raises_input_error_naming_the_parameter(build, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        build()


def test_parse_builds_every_declared_form() -> None:
    for spec, name in [("ring:16", "ring-16"), ("torus:4x5", "torus-4x5"), ("complete:8", "complete-8"),
                       ("star:6", "star-6"), ("star-random-walk:6", "star-6-random-walk"),
                       ("erdos-renyi:12:0.5:2", "erdos-renyi-12-0.5-seed2"),
                       ("two-rings:12", "two-rings-6+6")]:
        assert parse(spec).name == name
    assert np.array_equal(parse("torus:4x5").W, mixing.make("torus", a=4, b=5).W)


# ----------------------------------------------------------------------------------------------------
# the gossip algorithm


def test_gossip_equals_the_matrix_power_and_records_the_consensus_error() -> None:
    W = mixing.torus(3, 4)
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((5, W.n, 3)) + 2.0
    T = 40
    tr = gossip(W, X0, T, checkpoints=np.arange(1, T + 1))
    c0 = np.sum((X0 - X0.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2))
    for i, t in enumerate(tr.t):
        Xt = np.stack([np.linalg.matrix_power(W.W, int(t)) @ X0[r] for r in range(5)])  # replica by replica
        dev = Xt - Xt.mean(axis=1, keepdims=True)
        c = np.sum(dev**2, axis=(1, 2))
        # both round every entry by at most ~(2t + 2) n eps max|X0| (t products of n terms, then the mean)
        err_X = (2 * t + 2) * W.n * 2.2e-16 * np.abs(X0).max() * np.sqrt(X0[0].size)
        tol = 2 * np.sqrt(c) * 2 * err_X + (2 * err_X) ** 2
        assert np.all(np.abs(tr.values["consensus"][:, i] - c) <= tol)
        assert np.all(np.abs(tr.values["consensus_rel"][:, i] - c / c0) <= tol / c0 + 1e-15 * c / c0)
    assert tr.values["drift"].max() < 1e-14  # the average is preserved to rounding
    assert tr.constants["lambda_"] == W.lambda_ and tr.constants["gamma"] == 1.0


def test_an_eigenvector_start_decays_exactly_as_lambda_k_to_the_2t() -> None:
    W = mixing.ring(12)
    ev, U = W.eigenvectors()
    rng = np.random.default_rng(1)
    for k in (1, 3, 6):
        X0 = U[:, k][None, :, None] * rng.standard_normal((3, 1, 2))
        T = 20
        tr = gossip(W, X0, T, checkpoints=np.arange(1, T + 1))
        exact = np.abs(ev[k]) ** (2 * tr.t)
        np.testing.assert_allclose(tr.values["consensus_rel"], np.broadcast_to(exact, (3, T)), rtol=1e-9)
        gap_k = 1 - abs(ev[k])
        np.testing.assert_allclose(tr.values["gap_obs"][:, 1:], gap_k, rtol=1e-9, atol=1e-14)


def test_row_stochastic_gossip_reaches_the_perron_average_not_the_average() -> None:
    n = 6
    W = mixing.star(n, weights="random-walk")
    X0 = np.random.default_rng(2).standard_normal((4, n, 2))
    T = 200
    tr = gossip(W, X0, T)
    pi = np.array([n] + [2] * (n - 1), dtype=float) / (3 * n - 2)
    limit = np.einsum("i,rid->rd", pi, X0)  # every node ends at pi^T X_0
    X_T = np.stack([np.linalg.matrix_power(W.W, T) @ X0[r] for r in range(4)])
    np.testing.assert_allclose(X_T, np.broadcast_to(limit[:, None, :], X_T.shape), atol=1e-12)
    assert tr.values["consensus_rel"][:, -1].max() < 1e-24
    assert tr.values["dist_avg0"][:, -1].min() > 1e-3  # consensus at another point than the average
    assert tr.values["drift"][:, -1].min() > 1e-3


def test_disconnected_gossip_does_not_reach_consensus_and_large_gamma_diverges() -> None:
    X0 = np.random.default_rng(3).standard_normal((4, 10, 2))
    tr = gossip(mixing.disconnected(10), X0, 300)
    assert tr.values["consensus_rel"][:, -1].min() > 1e-3
    ring = mixing.ring(10)  # W_gamma = I - gamma (I - W): 1 - gamma (1 - lambda_n) < -1 past 2/(1 - lambda_n)
    assert 2 / (1 - ring.lambda_n) < 8
    tr = gossip(ring, X0, 100, gamma=8.0)
    assert np.all(tr.diverged_at >= 0)
    tr = gossip(ring, X0, 100, gamma=0.5)
    assert np.all(tr.diverged_at < 0) and tr.values["consensus_rel"][:, -1].max() < 1e-2


@pytest.mark.parametrize("call, message", [
    (lambda: gossip(np.eye(3), np.zeros((1, 3, 1)), 5), "W must be a ratecheck.mixing.MixingMatrix"),
    (lambda: gossip(mixing.ring(4), np.zeros((1, 5, 1)), 5), "X0 must have shape"),
    (lambda: gossip(mixing.ring(4), np.zeros((4, 2)), 5), "X0 must have shape"),
    (lambda: gossip(mixing.ring(4), np.zeros((1, 4, 1)), 0), "T must be an integer >= 1"),
    (lambda: gossip(mixing.ring(4), np.zeros((1, 4, 1)), 5, gamma=0.0), "gamma must be"),
])
def test_gossip_bad_input(call, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        call()
