"""ratecheck.algorithms.agreement (THEOREMS.md T8): ICwTM and MDA against brute-force Python references on small
inputs, the batched (R, n, d) / per-receiver (R, h, f, d) forms against a loop, the derived properties the theorem
averaging-agreement relies on, and bad input (InputError naming the parameter and its valid range)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ratecheck.algorithms.agreement import agreement, attack_values, diameter, icwtm_round, mda, mda_round
from ratecheck.validate import InputError


def tm_reference(values: list[list[float]], f: int) -> list[float]:
    """Coordinate-wise trimmed mean of n vectors, plain Python: per coordinate sort, drop f at each end, average."""
    d, out = len(values[0]), []
    for j in range(d):
        col = sorted(v[j] for v in values)
        kept = col[f:len(col) - f]
        out.append(sum(kept) / len(kept))
    return out


def mda_reference(values: list[list[float]], f: int) -> list[float]:
    """MDA, plain Python: over the excluded sets in itertools.combinations(range(n), f) order, the first kept subset of
    smallest diameter (squared distances from the differences, as the implementation), and its mean."""
    n, best, best_mean = len(values), None, None
    for E in itertools.combinations(range(n), f):
        kept = [values[i] for i in range(n) if i not in E]
        diam2 = max(sum((a - b) ** 2 for a, b in zip(u, v)) for u in kept for v in kept)
        if best is None or diam2 < best:
            best = diam2
            best_mean = [sum(c) / len(kept) for c in zip(*kept)]
    return best_mean


@pytest.mark.parametrize("n,f", [(4, 1), (7, 2), (10, 3), (6, 1)])
def test_icwtm_matches_reference_broadcast_and_per_receiver(n: int, f: int) -> None:
    rng = np.random.default_rng(n * 10 + f)
    R, h, d = 3, n - f, 4
    X = rng.standard_normal((R, h, d))
    B = rng.standard_normal((R, f, d)) * 5
    Y = icwtm_round(X, B, f)
    Bp = rng.standard_normal((R, h, f, d)) * 5
    Yp = icwtm_round(X, Bp, f)
    for r in range(R):
        ref = tm_reference([*X[r].tolist(), *B[r].tolist()], f)
        for i in range(h):
            np.testing.assert_allclose(Y[r, i], ref, rtol=1e-13, atol=1e-14)
            np.testing.assert_allclose(Yp[r, i], tm_reference([*X[r].tolist(), *Bp[r, i].tolist()], f), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("n,f", [(3, 1), (5, 1), (7, 2), (8, 2), (9, 3), (10, 2)])
def test_mda_matches_reference(n: int, f: int) -> None:
    rng = np.random.default_rng(100 + n * 10 + f)
    G = rng.standard_normal((6, n, 3))
    G[0, 1] = G[0, 0]  # a repeated vector (Byzantine copies of an honest one): ties between subsets
    out = mda(G, f)
    for r in range(len(G)):
        np.testing.assert_allclose(out[r], mda_reference(G[r].tolist(), f), rtol=1e-12, atol=1e-14)


def test_mda_per_receiver_equals_a_loop_over_receivers() -> None:
    rng = np.random.default_rng(7)
    R, h, f, d = 2, 5, 2, 3
    X = rng.standard_normal((R, h, d))
    Bp = rng.standard_normal((R, h, f, d))
    Y = mda_round(X, Bp, f)
    for r in range(R):
        for i in range(h):
            np.testing.assert_allclose(Y[r, i], mda(np.concatenate([X[r], Bp[r, i]])[None], f)[0], rtol=1e-13)


def test_batched_over_replicas_equals_one_replica_at_a_time() -> None:
    rng = np.random.default_rng(3)
    X0 = rng.standard_normal((5, 5, 3))
    for rule, attack in (("icwtm", "split"), ("icwtm", "extreme"), ("mda", "edge"), ("mda", "split")):
        full = agreement(X0, 2 if rule == "icwtm" else 1, 6, rule=rule, attack=attack, checkpoints=np.arange(1, 7))
        for r in range(len(X0)):
            one = agreement(X0[r:r + 1], 2 if rule == "icwtm" else 1, 6, rule=rule, attack=attack, checkpoints=np.arange(1, 7))
            for k in ("delta2", "ratio", "step_ratio_range"):
                np.testing.assert_allclose(full.values[k][r], one.values[k][0], rtol=1e-12, atol=1e-15)


def test_split_attack_contracts_at_exactly_f_over_n_minus_2f_and_not_at_all_for_n_equal_3f() -> None:
    rng = np.random.default_rng(11)
    for n, f in ((4, 1), (7, 2), (10, 3), (6, 2)):
        tr = agreement(rng.standard_normal((4, n - f, 5)), f, 8, attack="split", enforce=False, checkpoints=np.arange(1, 9))
        dl = tr.values["delta2"]
        np.testing.assert_allclose(dl[:, 2:] / dl[:, 1:-1], f / (n - 2 * f), rtol=1e-9)


def test_reliable_broadcast_agrees_in_one_round() -> None:
    X = np.random.default_rng(5).standard_normal((3, 6, 4))
    for kind in ("extreme", "inside", "edge"):
        B = attack_values(kind, X, 1)
        assert B.shape == (3, 1, 4)
        assert np.all(diameter(icwtm_round(X, B, 1)) == 0.0)
        assert np.all(diameter(mda_round(X, B, 1)) == 0.0)


def test_mda_edge_attack_attains_f_over_n_minus_f_for_f_1() -> None:
    for n in (8, 20):
        tr = agreement(np.random.default_rng(n).standard_normal((4, n - 1, 3)), 1, 1, rule="mda", attack="edge", checkpoints=np.array([1]))
        np.testing.assert_allclose(tr.values["ratio"][:, -1], 1 / (n - 1), rtol=1e-12)


def test_mda_ratio_within_derived_bound_under_every_attack() -> None:
    rng = np.random.default_rng(2)
    for n, f in ((7, 1), (13, 2), (5, 2)):
        for attack in ("extreme", "inside", "edge", "split", "none"):
            tr = agreement(rng.standard_normal((16, n - f, 4)), f, 1, rule="mda", attack=attack, checkpoints=np.array([1]))
            assert np.all(tr.values["ratio"][:, -1] <= 2 * f / (n - f) * (1 + 1e-12))


@pytest.mark.parametrize("call,match", [
    (lambda: icwtm_round(np.zeros((2, 4, 3)), np.zeros((2, 2, 3)), 2), r"n must be >= 3f \+ 1 = 7"),
    (lambda: icwtm_round(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), 2, enforce=False), r"n must be > 2f = 4"),
    (lambda: agreement(np.zeros((2, 2, 3)), 1, 5), r"n must be >= 3f \+ 1 = 4"),
    (lambda: mda(np.zeros((2, 4, 3)), 2), r"n must be >= 2f \+ 1 = 5"),
    (lambda: mda_round(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), 2), r"n must be >= 2f \+ 1 = 5"),
    (lambda: icwtm_round(np.zeros((5, 3)), np.zeros((1, 3)), 1), r"X \(the honest vectors\) must have shape \(R, h, d\)"),
    (lambda: icwtm_round(np.zeros((2, 5, 3)), np.zeros((2, 3, 3)), 1), r"must have shape \(R, f, d\) = \(2, 1, 3\)"),
    (lambda: mda(np.zeros((4, 3)), 1), r"G must have shape \(N, n, d\)"),
    (lambda: icwtm_round(np.zeros((2, 5, 3)), np.zeros((2, 1, 3)), -1), r"f must be an integer >= 0"),
    (lambda: agreement(np.zeros((2, 5, 3)), 1, 0), r"T must be an integer >= 1"),
    (lambda: agreement(np.zeros((2, 5, 3)), 1, 3, rule="median"), r"rule must be 'icwtm', 'mda' or 'mean'"),
    (lambda: attack_values("gaussian", np.zeros((2, 5, 3)), 1), r"attack must be one of"),
])
def test_bad_input_is_an_input_error_naming_the_parameter(call, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()


def test_collaborative_gd_floor_is_f_k_over_n_minus_f_under_the_edge_attack() -> None:
    from problems.federated import FederatedQuadratic
    from ratecheck.algorithms.agreement import collaborative_gd

    h, d = 6, 3
    u = np.random.default_rng(4).standard_normal((h, d))
    H = np.diag([1.0, 1.5, 2.0])
    fq = FederatedQuadratic(np.broadcast_to(H, (h, d, d)), u - u.mean(axis=0), x0=np.ones(d))
    K = float(diameter(fq.client_grads(np.broadcast_to(fq.x_star, (h, d)))[None])[0])
    tr = collaborative_gd(fq, 1, 80, 0.5, 2, checkpoints=np.arange(1, 81))
    np.testing.assert_allclose(tr.values["grad_norm"][:, -1], K / h, rtol=1e-9)
    with pytest.raises(InputError, match=r"rule must be 'icwtm' or 'mda'"):
        collaborative_gd(fq, 1, 5, 0.5, 2, rule="mean")
    with pytest.raises(InputError, match=r"gamma must be a finite number > 0"):
        collaborative_gd(fq, 1, 5, -1.0, 2)
