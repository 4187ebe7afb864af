"""Exact round-by-round moments of FedAvg and SCAFFOLD (ratecheck.exact.fedavg / scaffold, full participation)
against the Monte Carlo runners of ratecheck.algorithms.federated."""

from __future__ import annotations

import numpy as np
import pytest

from problems.federated import HeterogeneousClients
from ratecheck import exact
from ratecheck.algorithms import federated as fed
from ratecheck.validate import InputError

GRID = np.array([1, 2, 3, 5, 8, 13, 20, 30])
T = int(GRID[-1])


def _problem(sigma: float, d: int = 4, N: int = 4, seed: int = 3) -> HeterogeneousClients:
    return HeterogeneousClients.g3(N, d, mu=0.3, L=1.0, delta_H=0.2, zeta=1.0, noise=sigma, seed=seed)


def _mc(run, R: int, seed: int, **kw):
    tr = run(R=R, rng=np.random.default_rng(seed), checkpoints=GRID, **kw)
    v = tr.values["dist2"]
    return v.mean(axis=0), v.std(axis=0, ddof=1) / np.sqrt(R)


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("algo", ["fedavg", "scaffold-I", "scaffold-II"])
def test_noiseless_equals_simulation(algo: str, K: int) -> None:
    p = _problem(0.0)
    eta_l, eta_g = 0.4, 0.8
    if algo == "fedavg":
        m = exact.fedavg(p, eta_l, K, T, GRID, eta_g=eta_g)
        tr = fed.fedavg(p, eta_l, K, T, 1, np.random.default_rng(0), eta_g=eta_g, checkpoints=GRID)
    else:
        opt = algo.split("-")[1]
        m = exact.scaffold(p, eta_l, K, T, GRID, eta_g=eta_g, option=opt, init="zero")
        tr = fed.scaffold(p, eta_l, K, T, 1, np.random.default_rng(0), eta_g=eta_g, option=opt, init="zero",
                          checkpoints=GRID)
    assert np.array_equal(tr.t, m.t)
    for name in ("dist2", "subopt"):
        np.testing.assert_allclose(m.values[name], tr.values[name][0], rtol=1e-10, atol=1e-300)


def _z_scores(m, mean, se):
    return np.abs(mean - m.values["dist2"]) / se


@pytest.mark.parametrize("algo", ["fedavg", "scaffold-II", "scaffold-I", "scaffold-II-gradient"])
def test_noisy_monte_carlo(algo: str) -> None:
    p = _problem(0.5)
    eta_l, K = 0.3, 3
    if algo == "fedavg":
        m = exact.fedavg(p, eta_l, K, T, GRID)
        mean, se = _mc(lambda **kw: fed.fedavg(p, eta_l, K, T, **kw), 4000, 11)
    else:
        parts = algo.split("-")
        init = parts[2] if len(parts) > 2 else "zero"
        m = exact.scaffold(p, eta_l, K, T, GRID, option=parts[1], init=init)
        mean, se = _mc(lambda **kw: fed.scaffold(p, eta_l, K, T, option=parts[1], init=init, **kw), 4000, 12)
    z = _z_scores(m, mean, se)
    assert z.max() < 6, (algo, z)


def test_wrong_noise_recursion_is_caught() -> None:
    """Negative control: the same mean map, but the K-step noise covariance built from P_i^K alone
    (sum_i P_i^K Sigma P_i^K instead of sum_i sum_{k<K} P_i^k Sigma P_i^k), assembled by hand from the
    ingredients of exact.fedavg (its _fed_setup / _fed_run), must disagree with the Monte Carlo."""
    p = _problem(0.5)
    eta_l, K = 0.3, 3
    mean, se = _mc(lambda **kw: fed.fedavg(p, eta_l, K, T, **kw), 4000, 11)
    right = exact.fedavg(p, eta_l, K, T, GRID)
    assert _z_scores(right, mean, se).max() < 6
    _, _, _, Hs, w, Sig, PK, Ssum, _ = exact._fed_setup(p, eta_l, K, 1.0, None)
    N, d = Hs.shape[:2]
    A = PK.mean(axis=0)
    b = -(eta_l / N) * np.einsum("nij,nj->i", Ssum, w)
    Q_wrong = (eta_l / N) ** 2 * np.einsum("nij,jk,nlk->il", PK, Sig, PK)
    wrong = exact._fed_run(p, T, GRID, A, b, Q_wrong, p.x0 - p.x_star, np.zeros((d, d)))
    np.testing.assert_allclose(wrong.mean, right.mean, rtol=1e-12)  # only the noise part differs
    assert _z_scores(wrong, mean, se).max() > 6


def test_fixed_points() -> None:
    p = HeterogeneousClients.g3(4, 5, mu=0.3, L=1.0, delta_H=0.4, zeta=1.0, noise=0.0, seed=5)
    eta_l, K, TT = 0.3, 10, 2000
    m = exact.fedavg(p, eta_l, K, TT)
    I = np.eye(p.d)
    A = np.stack([I - np.linalg.matrix_power(I - eta_l * Hi, K) for Hi in p.H_clients])
    xs = np.stack([p.x_star - np.linalg.solve(Hi, wi) for Hi, wi in zip(p.H_clients, p.w)])
    x_fa = np.linalg.solve(A.sum(axis=0), np.einsum("nij,nj->i", A, xs))
    np.testing.assert_allclose(m.mean[-1], x_fa, rtol=0, atol=1e-10)
    assert np.sum((x_fa - p.x_star) ** 2) > 1e-6  # FedAvg's drift is real here
    for opt in ("I", "II"):
        s = exact.scaffold(p, eta_l, K, TT, option=opt)
        assert s.values["dist2"][-1] < 1e-20


def test_inputs_validated() -> None:
    p = _problem(0.0)
    for kw, name in (({"K": 0}, "K"), ({"K": 1.5}, "K"), ({"eta_l": 0.0}, "eta_l"), ({"eta_l": -1.0}, "eta_l")):
        args = {"eta_l": 0.1, "K": 2} | kw
        with pytest.raises(InputError, match=name):
            exact.fedavg(p, args["eta_l"], args["K"], 5)
        with pytest.raises(InputError, match=name):
            exact.scaffold(p, args["eta_l"], args["K"], 5)
    with pytest.raises(InputError, match="option"):
        exact.scaffold(p, 0.1, 2, 5, option="III")
    with pytest.raises(InputError, match="init"):
        exact.scaffold(p, 0.1, 2, 5, init="random")
