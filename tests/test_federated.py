"""Tests for problems/federated.py: every certified constant of FederatedQuadratic checked against its
definition (THEOREMS.md G3), computed independently of the constructor:

  * Hessians by central differences of the gradient oracles (exact for quadratics up to rounding), so L, mu,
    L_max, mu_min and delta_H are eigenvalues of matrices the test assembles itself;
  * x* and f* by an independent numerical minimisation (scipy BFGS on the mean of the client losses), zeta^2
    from the client gradients there;
  * L and mu also geometrically, on random pairs and on the witness pair along the extreme eigenvector;
  * the noise against its exact law by Monte Carlo (Z standard errors from the exact variance);
  * each checker run on a planted-wrong constant to show that it can fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from problems.federated import FederatedQuadratic
from ratecheck.problem import ClientProblem, broadcast_clients
from ratecheck.validate import InputError

Z = 6.0  # Monte Carlo tolerance in standard errors (two-sided normal tail 2e-9 per check)
N_MC = 40_000
H_FD = 1e-3  # central-difference step: exact for quadratics, only rounding remains
FD_TOL = 1e-8  # relative slack of finite-difference Hessians


def instances() -> list[FederatedQuadratic]:
    rng = np.random.default_rng(7)
    n, d = 3, 4
    # hand-built: one indefinite client, positive definite mean
    A = rng.standard_normal((n, d, d))
    Hs = np.einsum("nij,nkj->nik", A, A) / d + 0.5 * np.eye(d)
    Hs[0] -= 1.5 * np.outer(np.ones(d), np.ones(d)) / d  # lambda_min(H_0) < 0
    hand = FederatedQuadratic(Hs, rng.standard_normal((n, d)), noise=0.4, seed=3)
    return [FederatedQuadratic.random(4, 5, 0.3, 1.0, zeta=1.0, noise=0.3, seed=2), hand]


def fd_hessian(grad, x: np.ndarray) -> np.ndarray:
    """Columns (grad(x + h e_j) - grad(x - h e_j)) / 2h, symmetrised; grad may return (..., n, d)."""
    d = x.shape[-1]
    E = np.eye(d) * H_FD
    cols = [(grad(x + E[j]) - grad(x - E[j])) / (2 * H_FD) for j in range(d)]
    Hfd = np.stack(cols, axis=-1)
    return (Hfd + np.swapaxes(Hfd, -1, -2)) / 2


def mean_hessian(P: FederatedQuadratic) -> np.ndarray:
    return fd_hessian(P.grad, np.zeros(P.d))


def client_hessians(P: FederatedQuadratic) -> np.ndarray:
    return fd_hessian(lambda x: P.client_grads(np.broadcast_to(x, (P.n, P.d))), np.zeros(P.d))


def independent_minimum(P: FederatedQuadratic) -> tuple[np.ndarray, float]:
    """argmin and min of (1/n) sum_i f_i by BFGS on the client oracles (not the closed form)."""

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        y = np.broadcast_to(x, (P.n, P.d))
        return float(P.client_loss(y).mean()), P.client_grads(y).mean(axis=0)

    res = minimize(fun, np.zeros(P.d), jac=True, method="BFGS", options={"gtol": 1e-12})
    return res.x, float(res.fun)


# ----------------------------------------------------------------------------------------------------
# checkers (each takes the claimed value, so it can be run on a planted-wrong one)


def check_L_mu(P: FederatedQuadratic, L: float, mu: float) -> None:
    eig, V = np.linalg.eigh(mean_hessian(P))
    assert L == pytest.approx(eig[-1], rel=FD_TOL) and mu == pytest.approx(eig[0], rel=FD_TOL)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 200, P.d)) * 3
    gx, gy = P.grad(x), P.grad(y)
    diff2 = np.sum((x - y) ** 2, axis=1)
    assert np.all(np.sum((gx - gy) ** 2, axis=1) <= L**2 * diff2 * (1 + 1e-10))  # L-smooth
    assert np.all(np.sum((gx - gy) * (x - y), axis=1) >= mu * diff2 * (1 - 1e-10))  # mu-strongly convex
    for lam, v in ((L, V[:, -1]), (mu, V[:, 0])):  # attained on the witness pair (x, x + v)
        assert float((P.grad(x[0] + v) - P.grad(x[0])) @ v) == pytest.approx(lam, rel=1e-8)


def check_client_constants(P: FederatedQuadratic, L_max: float, mu_min: float, delta_H: float) -> None:
    Hc = client_hessians(P)
    eig = np.linalg.eigvalsh(Hc)
    assert L_max == pytest.approx(eig[:, -1].max(), rel=FD_TOL)
    assert mu_min == pytest.approx(eig[:, 0].min(), rel=FD_TOL, abs=FD_TOL)
    dev = np.abs(np.linalg.eigvalsh(Hc - mean_hessian(P))).max()
    assert delta_H == pytest.approx(dev, rel=FD_TOL)


def check_optimum(P: FederatedQuadratic, x_star: np.ndarray, f_star: float, zeta2: float) -> None:
    x_bfgs, f_bfgs = independent_minimum(P)
    assert np.allclose(x_star, x_bfgs, atol=1e-7)
    assert f_star == pytest.approx(f_bfgs, rel=1e-12, abs=1e-12)
    b = P.client_grads(np.broadcast_to(x_bfgs, (P.n, P.d)))  # grad f_i at the independently found x*
    assert zeta2 == pytest.approx(float(np.mean(np.sum(b * b, axis=1))), rel=1e-6)
    # the G3 form: (1/n) sum_i ||grad f_i(x*) - grad f(x*)||^2 with grad f(x*) = mean_i grad f_i(x*) = 0
    assert np.allclose(b.mean(axis=0), 0, atol=1e-7)


# ----------------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("P", instances(), ids=["random", "hand-built"])
def test_oracles_agree_with_the_definition(P: FederatedQuadratic) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, P.d)) * 2
    y = np.broadcast_to(x[:, None, :], (50, P.n, P.d))
    scale = 1 + np.abs(P.client_loss(y)).max()
    assert np.allclose(P.loss(x), P.client_loss(y).mean(axis=1), rtol=0, atol=1e-12 * scale)
    assert np.allclose(P.grad(x), P.client_grads(y).mean(axis=1), rtol=0, atol=1e-12 * scale)
    # gradient of f_i against central differences of f_i (exact for quadratics up to rounding)
    E = np.eye(P.d) * H_FD
    fd = np.stack([(P.client_loss(y + E[j]) - P.client_loss(y - E[j])) / (2 * H_FD) for j in range(P.d)], axis=-1)
    assert np.allclose(fd, P.client_grads(y), atol=1e-8 * scale)
    assert np.all(P.loss(x) >= P.f_star - 1e-12)


@pytest.mark.parametrize("P", instances(), ids=["random", "hand-built"])
def test_certified_constants(P: FederatedQuadratic) -> None:
    c = P.constants
    check_L_mu(P, c["L"], c["mu"])
    check_client_constants(P, c["L_max"], c["mu_min"], c["delta_H"])
    assert "delta" not in c  # delta is the compressor's quality (STYLE.md): the Hessian dissimilarity is delta_H
    check_optimum(P, P.x_star, P.f_star, c["zeta2"])
    assert c["zeta"] == pytest.approx(math.sqrt(c["zeta2"]))
    assert c["R0"] == pytest.approx(float(np.sum((P.x0 - P.x_star) ** 2)))
    assert c["F0"] == pytest.approx(float(P.client_loss(np.broadcast_to(P.x0, (P.n, P.d))).mean()) - P.f_star)
    assert (c["n"], c["d"]) == (P.n, P.d)


def test_hand_built_instance_has_an_indefinite_client() -> None:
    assert instances()[1].constants["mu_min"] < 0 < instances()[1].constants["mu"]


def test_random_constructor_hits_its_targets() -> None:
    P = FederatedQuadratic.random(5, 4, 0.2, 2.0, zeta=0.7, R0=3.0, noise=0.1, seed=9)
    assert P.constants["zeta"] == pytest.approx(0.7, rel=1e-12)
    assert P.constants["R0"] == pytest.approx(3.0, rel=1e-12)
    eig = np.linalg.eigvalsh(client_hessians(P))
    assert np.allclose(eig, np.geomspace(0.2, 2.0, 4), rtol=1e-7)  # every client: spectrum [mu, L]
    assert 0.2 - 1e-9 <= P.constants["mu"] <= P.constants["L"] <= 2.0 + 1e-9
    homogeneous = FederatedQuadratic.random(3, 4, 0.2, 2.0, zeta=0.0, seed=9)
    assert homogeneous.constants["zeta2"] <= 1e-24  # zero up to the rounding of the solve for x*
    assert np.allclose(homogeneous.x_star, homogeneous.x_star_clients[0], atol=1e-12)


def test_noise_matches_its_law() -> None:
    """E||g_i(y) - grad f_i(y)||^2 = sigma^2 for every client, clients independent (E <xi_i, xi_j> = 0), and
    stoch_grad unbiased, by Monte Carlo with Z standard errors from the exact Gaussian variances:
    Var ||xi||^2 = 2 sigma^4 / d, Var <xi_i, xi_j> = sigma^4 / d."""
    P = instances()[0]
    s2, d = P.constants["sigma2"], P.d
    y = np.broadcast_to(P.x0, (N_MC, P.n, d))
    xi = P.client_stoch_grads(y, np.random.default_rng(4)) - P.client_grads(y)
    sq = np.sum(xi * xi, axis=-1).mean(axis=0)  # per client
    assert np.all(np.abs(sq - s2) <= Z * math.sqrt(2 * s2**2 / d / N_MC))
    cross = np.sum(xi[:, 0] * xi[:, 1], axis=-1).mean()
    assert abs(cross) <= Z * math.sqrt(s2**2 / d / N_MC)
    g = P.stoch_grad(np.broadcast_to(P.x0, (N_MC, d)), np.random.default_rng(5))
    assert g.shape == (N_MC, d)
    se = math.sqrt(s2 / d / P.n / N_MC)  # each coordinate of the mean of n client noises
    assert np.all(np.abs(g.mean(axis=0) - P.grad(P.x0)) <= Z * se)
    assert P.client_stoch_grads(broadcast_clients(np.zeros((2, 3, d)), P.n), np.random.default_rng(6)).shape == (2, 3, P.n, d)
    assert isinstance(P, ClientProblem)


def test_inputs_are_validated() -> None:
    Hs = np.stack([np.eye(3), 2 * np.eye(3)])
    xs = np.zeros((2, 3))
    asym = Hs.copy()
    asym[0, 0, 1] = 1.0
    with pytest.raises(InputError):
        FederatedQuadratic(asym, xs)
    with pytest.raises(InputError):
        FederatedQuadratic(np.stack([np.eye(3), -np.eye(3)]), xs)  # mean Hessian 0: x* not unique
    with pytest.raises(InputError):
        FederatedQuadratic(Hs, np.zeros((3, 3)))  # x_star_clients of the wrong shape
    with pytest.raises(InputError):
        FederatedQuadratic(Hs, xs, x0=np.ones(3), R0=1.0)
    with pytest.raises(InputError):
        FederatedQuadratic(Hs, xs).client_grads(np.zeros((3, 3)))  # must be (..., n, d)


def test_checkers_catch_planted_wrong_constants() -> None:
    """Each checker fails on a plausible wrong value: L of the worst client for L of f, zeta^2 measured at
    x0 instead of x*, delta_H from one client only, f* = 0."""
    P = instances()[0]
    c = P.constants
    with pytest.raises(AssertionError):
        check_L_mu(P, c["L_max"], c["mu"])
    with pytest.raises(AssertionError):
        check_L_mu(P, c["L"], c["mu_min"])
    b0 = P.client_grads(np.broadcast_to(P.x0, (P.n, P.d))) - P.grad(P.x0)
    with pytest.raises(AssertionError):
        check_optimum(P, P.x_star, P.f_star, float(np.mean(np.sum(b0 * b0, axis=1))))
    with pytest.raises(AssertionError):
        check_optimum(P, P.x_star, 0.0, c["zeta2"])
    one = float(np.abs(np.linalg.eigvalsh(P.H_clients[0] - P.H)).max())
    assert one != pytest.approx(c["delta_H"], rel=FD_TOL)
    with pytest.raises(AssertionError):
        check_client_constants(P, c["L_max"], c["mu_min"], one)
