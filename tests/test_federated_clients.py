"""Tests for problems.federated.HeterogeneousClients (THEOREMS.md G3/G4), ratecheck.problem.sample_clients and
the federated algorithms of ratecheck.algorithms.federated (fedavg, scaffold, mime, server_only).

Every certified constant is recomputed from its definition, independently of the constructor: client
Hessians are assembled from differences of the client gradient oracle (exact for quadratics up to rounding),
operator norms by np.linalg.norm(., 2), zeta^2 from the client gradients at x*. Monte Carlo checks use
6 binomial standard errors. The algorithms run with exact gradients (sigma = 0) where a limit point is
asserted, so the tolerances there are rounding-level.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

from problems.federated import HeterogeneousClients
from ratecheck.algorithms.federated import fedavg, mime, scaffold, server_only
from ratecheck.problem import broadcast_clients, sample_clients
from ratecheck.validate import InputError

Z = 6.0  # Monte Carlo tolerance in standard errors

# (N, d, mu, L, delta_H, zeta): N even whenever delta_H > 0; the last two are the degenerate corners
G3_CASES = [
    (2, 3, 0.5, 4.0, 0.3, 1.0),
    (4, 5, 0.1, 10.0, 2.0, 0.7),
    (6, 2, 1.0, 1.0, 0.5, 2.5),
    (8, 7, 0.2, 3.0, 1.5, 0.01),
    (5, 4, 0.3, 2.0, 0.0, 1.3),  # delta_H = 0, zeta > 0 (odd N allowed)
    (4, 4, 0.3, 2.0, 0.8, 0.0),  # zeta = 0, delta_H > 0
]


def client_hessians(p: HeterogeneousClients) -> np.ndarray:
    """H_i assembled column by column from the client gradient oracle: H_i e_j = g_i(x* + e_j) - g_i(x*)
    (c = 0: the oracle is affine, so this is exact up to rounding)."""
    N, d = p.N, p.d
    base = p.client_grads(broadcast_clients(p.x_star, N))
    cols = [p.client_grads(broadcast_clients(p.x_star + e, N)) - base for e in np.eye(d)]
    Hs = np.stack(cols, axis=-1)  # (N, d, d): [i, :, j] = H_i e_j
    return (Hs + np.swapaxes(Hs, 1, 2)) / 2


# ----------------------------------------------------------------------------------------------------
# 1. certified constants against their definitions


@pytest.mark.parametrize("N,d,mu,L,delta_H,zeta", G3_CASES)
def test_g3_constants_match_definitions(N, d, mu, L, delta_H, zeta):
    p = HeterogeneousClients.g3(N, d, mu=mu, L=L, delta_H=delta_H, zeta=zeta, seed=11)
    k = p.constants
    Hs = client_hessians(p)
    H = Hs.mean(axis=0)
    # delta_H = max_i ||H_i - H||_op, an independent operator norm; also equals the requested value
    dH = max(np.linalg.norm(Hs[i] - H, 2) for i in range(N))
    assert k["delta_H"] == pytest.approx(dH, rel=1e-9, abs=1e-12)
    assert k["delta_H"] == pytest.approx(delta_H, rel=1e-9, abs=1e-12)
    # zeta^2 = (1/N) sum ||grad f_i(x*)||^2
    g_star = p.client_grads(broadcast_clients(p.x_star, N))
    z2 = float(np.mean(np.sum(g_star**2, axis=1)))
    assert k["zeta2"] == pytest.approx(z2, rel=1e-12, abs=1e-15)
    assert k["zeta2"] == pytest.approx(zeta**2, rel=1e-12, abs=1e-15)
    assert k["zeta"] == pytest.approx(zeta, rel=1e-12, abs=1e-15)
    # L = lambda_max(H), mu = lambda_min(H) (c = 0); also the requested spectrum ends
    eig = np.linalg.eigvalsh(H)
    assert k["L"] == pytest.approx(eig[-1], rel=1e-10)
    assert k["mu"] == pytest.approx(eig[0], rel=1e-10)
    assert k["L"] == pytest.approx(L, rel=1e-10)
    assert k["mu"] == pytest.approx(mu, rel=1e-10)
    # f(x*) = 0 = f_star, grad f(x*) = 0, mean client gradient at x* is zero
    assert p.f_star == 0.0 and k["f_star"] == 0.0
    assert abs(float(p.loss(p.x_star))) <= 1e-14
    assert np.abs(p.grad(p.x_star)).max() <= 1e-14
    assert np.abs(g_star.mean(axis=0)).max() <= 1e-12 * max(zeta, 1.0)
    # R0, F0 of the default start
    assert k["R0"] == pytest.approx(float(np.sum((p.x0 - p.x_star) ** 2)), rel=1e-12)
    assert k["F0"] == pytest.approx(float(p.loss(p.x0)), rel=1e-12)


@pytest.mark.parametrize("N,d,mu,L,delta_H,zeta", G3_CASES)
@pytest.mark.parametrize("c", [0.0, 0.7])
def test_mean_of_clients_is_the_objective(N, d, mu, L, delta_H, zeta, c):
    p = HeterogeneousClients.g3(N, d, mu=mu, L=L, delta_H=delta_H, zeta=zeta, c=c, seed=3)
    rng = np.random.default_rng(5)
    x = p.x_star + 2.0 * rng.standard_normal((64, d))
    y = broadcast_clients(x, N)
    np.testing.assert_allclose(p.client_grads(y).mean(axis=-2), p.grad(x), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(p.client_loss(y).mean(axis=-1), p.loss(x), rtol=1e-11, atol=1e-11)
    # zeta2_at(x) = (1/N) sum ||grad f_i(x) - grad f(x)||^2 (the sine term cancels)
    dev = p.client_grads(y) - p.grad(x)[:, None, :]
    np.testing.assert_allclose(p.zeta2_at(x), np.mean(np.sum(dev**2, axis=-1), axis=-1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("c", [0.05, 0.4, 2.0])
def test_sine_term_gradient_and_smoothness(c):
    mu, Lh = 0.3, 3.0
    p = HeterogeneousClients.g3(4, 5, mu=mu, L=Lh, delta_H=0.2, zeta=0.5, c=c, seed=7)
    k = p.constants
    assert k["L"] == pytest.approx(np.linalg.eigvalsh(p.H)[-1] + 2 * c, rel=1e-12)
    assert k["L"] == pytest.approx(Lh + 2 * c, rel=1e-10)
    assert k["mu"] == 0.0  # c > 0: no strong-convexity certificate
    assert p.f_star == 0.0 and abs(float(p.loss(p.x_star))) <= 1e-14
    assert np.abs(p.grad(p.x_star)).max() <= 1e-14
    rng = np.random.default_rng(1)
    # grad f against a central finite difference of loss
    h = 1e-5
    for x in p.x_star + 1.5 * rng.standard_normal((10, p.d)):
        fd = np.array([(p.loss(x + h * e) - p.loss(x - h * e)) / (2 * h) for e in np.eye(p.d)])
        np.testing.assert_allclose(p.grad(x), fd, rtol=1e-7, atol=1e-7)
    # L bounds the gradient's Lipschitz ratio on random pairs (near pairs probe the local Hessian)
    x = p.x_star + 2.0 * rng.standard_normal((4000, p.d))
    scale = np.where(np.arange(4000) % 2 == 0, 1.0, 1e-3)[:, None]
    y = x + scale * rng.standard_normal((4000, p.d))
    ratio = np.linalg.norm(p.grad(x) - p.grad(y), axis=1) / np.linalg.norm(x - y, axis=1)
    assert ratio.max() <= k["L"] * (1 + 1e-9)
    assert ratio.max() >= 0.5 * k["L"]  # and the bound is not vacuous
    # f >= 0 = f(x*) still
    assert p.loss(x).min() >= 0.0


@pytest.mark.parametrize("N,d,mu,delta_H", [(2, 3, 0.5, 0.5), (6, 6, 1.0, 0.9), (4, 2, 0.2, 0.0)])
def test_convex_clients_have_psd_hessians(N, d, mu, delta_H):
    p = HeterogeneousClients.g3(N, d, mu=mu, L=4.0, delta_H=delta_H, zeta=1.0, convex=True, seed=2)
    eig = np.linalg.eigvalsh(client_hessians(p))
    assert eig.min() >= -1e-12
    assert eig.min() >= mu - delta_H - 1e-12  # Weyl: lambda_min(H + D_i) >= mu - ||D_i||_op
    assert p.constants["mu_min"] == pytest.approx(eig.min(), abs=1e-10)
    assert p.constants["L_max"] == pytest.approx(eig.max(), rel=1e-10)


# ----------------------------------------------------------------------------------------------------
# 2. bgd_G2: the supremum of zeta^2(x) over a ball around x*


def sphere_points(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sphere_max(p: HeterogeneousClients, radius: float, rng: np.random.Generator) -> tuple[float, float]:
    """(dense random search max, refined max) of zeta2_at on the sphere ||x - x*|| = radius."""
    u = radius * sphere_points(rng, 200_000, p.d)
    vals = p.zeta2_at(p.x_star + u)
    dense = float(vals.max())
    best = -np.inf
    for start in u[np.argsort(vals)[-5:]]:  # refine the best few with BFGS on the sphere's parametrisation
        obj = lambda v: -float(p.zeta2_at(p.x_star + radius * v / np.linalg.norm(v)))
        res = minimize(obj, start, method="BFGS", options={"gtol": 1e-13, "maxiter": 2000})
        best = max(best, -res.fun)
    return dense, best


def random_D_instance(seed: int, N: int = 5, d: int = 3) -> HeterogeneousClients:
    """General (non-equal-magnitude) D_i, so that A = (1/N) sum D_i^2 has distinct eigenvalues."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((N, d, d))
    D = (D + np.swapaxes(D, 1, 2)) / 2
    D -= D.mean(axis=0)
    w = rng.standard_normal((N, d))
    w -= w.mean(axis=0)
    return HeterogeneousClients(np.diag(np.linspace(1.0, 3.0, d)) + 4.0 * np.eye(d), D, w)


def hard_case_instance() -> HeterogeneousClients:
    """p = (1/N) sum D_i w_i orthogonal to the top eigenvector of A (trust-region 'hard case')."""
    D1 = np.diag([3.0, 1.0, 0.5])
    w1 = np.array([0.0, 0.4, 0.7])
    return HeterogeneousClients(np.eye(3), np.stack([D1, -D1]), np.stack([w1, -w1]))


@pytest.mark.parametrize("make", [
    lambda: HeterogeneousClients.g3(4, 3, mu=0.5, L=4.0, delta_H=0.8, zeta=1.0, seed=4),
    lambda: random_D_instance(0),
    lambda: random_D_instance(1),
    hard_case_instance,
    lambda: HeterogeneousClients.g3(4, 3, mu=0.5, L=4.0, delta_H=0.8, zeta=0.0, seed=4),
])
@pytest.mark.parametrize("radius", [0.05, 1.0, 3.0])
def test_bgd_G2_is_the_supremum_on_the_ball(make, radius):
    p = make()
    rng = np.random.default_rng(8)
    G2 = p.bgd_G2(radius)
    # an upper bound inside and on the ball
    inside = radius * sphere_points(rng, 20_000, p.d) * rng.random((20_000, 1)) ** (1 / p.d)
    on = radius * sphere_points(rng, 20_000, p.d)
    slack = 1e-12 * max(G2, 1.0)
    assert p.zeta2_at(p.x_star + inside).max() <= G2 + slack
    assert p.zeta2_at(p.x_star + on).max() <= G2 + slack
    # attained: a dense search on the sphere (d = 3) is within a few percent, a refined one within 1e-8
    dense, refined = sphere_max(p, radius, rng)
    assert dense <= G2 + slack
    assert dense >= 0.97 * G2
    assert refined == pytest.approx(G2, rel=1e-8, abs=1e-14)


def test_bgd_G2_closed_form_on_g3():
    """g3 has D_i^2 = delta_H^2 I, so zeta^2(x* + u) = delta^2 ||u||^2 + 2 p^T u + zeta^2 and the maximum
    over the ball of radius r is delta^2 r^2 + 2 r ||p|| + zeta^2."""
    for N, d, dH, z in [(2, 3, 0.3, 1.0), (6, 5, 1.2, 0.4), (4, 4, 0.8, 0.0)]:
        p = HeterogeneousClients.g3(N, d, mu=0.5, L=3.0, delta_H=dH, zeta=z, seed=9)
        pv = np.einsum("nij,nj->i", p.D, p.w) / N
        for r in (0.1, 1.0, 5.0):
            expect = dH**2 * r**2 + 2 * r * np.linalg.norm(pv) + z**2
            assert p.bgd_G2(r) == pytest.approx(expect, rel=1e-10)


@pytest.mark.parametrize("make", [lambda: HeterogeneousClients.g3(6, 4, mu=0.5, L=4.0, delta_H=0.8, zeta=1.3, seed=1),
                                  lambda: random_D_instance(2), hard_case_instance])
def test_bgd_G2_at_zero_radius_is_zeta2(make):
    p = make()
    assert p.bgd_G2(0) == p.constants["zeta2"]
    assert p.bgd_G2(0.0) == pytest.approx(float(p.zeta2_at(p.x_star)), rel=1e-12)
    # and it is nondecreasing in the radius
    vals = [p.bgd_G2(r) for r in (0.0, 1e-6, 1e-3, 0.1, 1.0, 10.0)]
    assert all(b >= a - 1e-12 * max(a, 1.0) for a, b in itertools.pairwise(vals))


# ----------------------------------------------------------------------------------------------------
# 3. sample_clients


@pytest.mark.parametrize("N,S", [(10, 3), (7, 1), (5, 4)])
def test_sample_clients_law(N, S):
    R = 20_000
    idx = sample_clients(R, N, S, np.random.default_rng(123))
    assert idx.shape == (R, S)
    assert idx.min() >= 0 and idx.max() < N
    assert np.all(np.diff(idx, axis=1) > 0)  # sorted and distinct (without replacement)
    member = np.zeros((R, N), dtype=bool)
    member[np.arange(R)[:, None], idx] = True
    # inclusion frequency S/N per client
    q = S / N
    se = math.sqrt(q * (1 - q) / R)
    assert np.all(np.abs(member.mean(axis=0) - q) <= Z * se)
    # pairwise co-inclusion within a replica: S(S-1)/(N(N-1))
    if S >= 2:
        q2 = S * (S - 1) / (N * (N - 1))
        se2 = math.sqrt(q2 * (1 - q2) / R)
        assert abs(np.mean(member[:, 0] & member[:, 1]) - q2) <= Z * se2
    # independence across replicas: client 0 in replica r and in replica r + 1 with probability (S/N)^2
    qq = q * q
    seq = math.sqrt(qq * (1 - qq) / (R - 1))
    assert abs(np.mean(member[:-1, 0] & member[1:, 0]) - qq) <= Z * seq
    # rows differ across replicas: the number of distinct subsets is near C(N, S) (all are likely seen)
    assert len({tuple(r) for r in idx}) == math.comb(N, S)


def test_sample_clients_full_and_determinism():
    full = sample_clients(4, 6, 6, np.random.default_rng(0))
    assert full.shape == (4, 6)
    assert np.array_equal(full, np.tile(np.arange(6), (4, 1)))
    a = sample_clients(50, 9, 4, np.random.default_rng(7))
    b = sample_clients(50, 9, 4, np.random.default_rng(7))
    assert np.array_equal(a, b)
    with pytest.raises(InputError, match="S"):
        sample_clients(3, 5, 0, np.random.default_rng(0))
    with pytest.raises(InputError, match="S"):
        sample_clients(3, 5, 6, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------------------
# 4. the sampled oracle agrees with the full oracle


@pytest.mark.parametrize("c", [0.0, 0.6])
def test_sampled_oracle_matches_definition(c):
    p = HeterogeneousClients.g3(8, 4, mu=0.4, L=3.0, delta_H=0.7, zeta=1.1, c=c, seed=5)
    rng = np.random.default_rng(2)
    R, S = 30, 3
    idx = sample_clients(R, p.N, S, rng)
    y = p.x_star + rng.standard_normal((R, S, p.d))
    u = y - p.x_star
    expect = np.einsum("rsij,rsj->rsi", p.H_clients[idx], u) + p.w[idx] + c * np.sin(2 * u)
    got = p.client_grads(y, clients=idx)  # (R, S, d): the scatter/gather path
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-12)
    # the same rows one at a time, the 2-D path (clients of shape (S,)) and a 4-D batch (einsum path)
    for r in range(R):
        np.testing.assert_allclose(p.client_grads(y[r], clients=idx[r]), expect[r], rtol=1e-12, atol=1e-12)
    y4, idx4 = y.reshape(5, 6, S, p.d), idx.reshape(5, 6, S)
    np.testing.assert_allclose(p.client_grads(y4, clients=idx4), expect.reshape(5, 6, S, p.d), rtol=1e-12, atol=1e-12)
    # and with the full oracle on a full client array
    full = np.repeat(p.x_star[None, None, :], R, axis=0).repeat(p.N, axis=1).copy()
    full[np.arange(R)[:, None], idx] = y
    np.testing.assert_allclose(p.client_grads(full)[np.arange(R)[:, None], idx], expect, rtol=1e-12, atol=1e-12)
    # sampled client losses
    loss_expect = (0.5 * np.einsum("rsi,rsij,rsj->rs", u, p.H_clients[idx], u) + np.sum(p.w[idx] * u, axis=-1)
                   + c * np.sum(np.sin(u) ** 2, axis=-1))
    np.testing.assert_allclose(p.client_loss(y, clients=idx), loss_expect, rtol=1e-12, atol=1e-12)
    # a given xi is added exactly
    xi = rng.standard_normal(y.shape)
    assert np.array_equal(p.client_stoch_grads(y, rng, idx, xi), p.client_grads(y, idx) + xi)
    with pytest.raises(InputError):
        p.client_grads(y, clients=idx[:, :2])


# ----------------------------------------------------------------------------------------------------
# 5. the algorithms


def convex_instance(noise: object = None) -> HeterogeneousClients:
    return HeterogeneousClients.g3(6, 4, mu=0.5, L=5.0, delta_H=0.3, zeta=1.0, convex=True, noise=noise, seed=1)


def last(trace, name="dist2") -> np.ndarray:
    return trace.values[name][:, -1]


def test_fedavg_one_local_step_is_gradient_descent():
    p = convex_instance()
    L = p.constants["L"]
    tr = fedavg(p, 1 / L, 1, 400, 2, np.random.default_rng(0), checkpoints=np.array([1, 100, 400]))
    assert np.all(last(tr) < 1e-20)
    assert tr.first_divergence() is None


def test_fedavg_stalls_at_its_fixed_point():
    p = convex_instance()
    L, K, eta = p.constants["L"], 10, 1 / p.constants["L"]
    I = np.eye(p.d)
    A = np.stack([I - np.linalg.matrix_power(I - eta * Hi, K) for Hi in p.H_clients])
    x_i = np.stack([p.x_star - np.linalg.solve(Hi, wi) for Hi, wi in zip(p.H_clients, p.w)])
    x_fa = np.linalg.solve(A.sum(axis=0), np.einsum("nij,nj->i", A, x_i))
    d_fa = float(np.sum((x_fa - p.x_star) ** 2))
    assert d_fa > 1e-4  # a genuine drift, far above rounding
    tr = fedavg(p, eta, K, 300, 2, np.random.default_rng(0), checkpoints=np.array([1, 300]), reference=x_fa)
    np.testing.assert_allclose(last(tr), d_fa, rtol=1e-10)
    assert np.all(last(tr, "ref_dist2") < 1e-20)
    assert L > 0


@pytest.mark.parametrize("option", ["I", "II"])
@pytest.mark.parametrize("init", ["zero", "gradient"])
def test_scaffold_reaches_optimum(option, init):
    p = convex_instance()
    L = p.constants["L"]
    tr = scaffold(p, 0.1 / L, 10, 400, 2, np.random.default_rng(0), option=option, init=init,
                  checkpoints=np.array([1, 400]))
    assert np.all(last(tr) < 1e-20)


def test_stale_scaffold_does_not_reach_optimum():
    p = convex_instance()
    L = p.constants["L"]
    tr = scaffold(p, 0.1 / L, 10, 800, 2, np.random.default_rng(0), stale=True, init="gradient",
                  checkpoints=np.array([1, 400, 800]))
    d = tr.values["dist2"]
    assert np.all(d[:, -1] > 1e-6)
    np.testing.assert_allclose(d[:, -1], d[:, -2], rtol=1e-8)  # converged, to the wrong point


@pytest.mark.parametrize("S", [None, 3])
def test_stale_zero_scaffold_is_fedavg(S):
    """c_i = c = 0 forever: the local steps are FedAvg's, and both consume the rng identically (sampling,
    then one noise draw per local step), so even noisy traces are bit-identical."""
    p = convex_instance(noise=0.5)
    L = p.constants["L"]
    a = fedavg(p, 0.1 / L, 5, 60, 3, np.random.default_rng(3), S=S)
    b = scaffold(p, 0.1 / L, 5, 60, 3, np.random.default_rng(3), S=S, stale=True, init="zero")
    assert a.values.keys() == b.values.keys()
    for k in a.values:
        assert np.array_equal(a.values[k], b.values[k]), k


@pytest.mark.parametrize("base", ["momentum", "mvr"])
def test_mime_reaches_optimum(base):
    p = convex_instance()
    L = p.constants["L"]
    tr = mime(p, 0.1 / L, 10, 400, 2, np.random.default_rng(0), base=base, checkpoints=np.array([1, 400]))
    assert np.all(last(tr) < 1e-16)


@pytest.mark.parametrize("base", ["momentum", "mvr"])
def test_mime_lite_reaches_optimum_without_heterogeneity(base):
    """MimeLite has no drift correction: with zeta = 0 (delta_H > 0) it reaches x*; with zeta > 0 it stalls
    at a nonzero floor (client drift, like FedAvg) -- recorded as the expected behaviour."""
    L = 5.0
    p0 = HeterogeneousClients.g3(6, 4, mu=0.5, L=L, delta_H=0.3, zeta=0.0, convex=True, seed=1)
    tr = mime(p0, 0.1 / L, 10, 600, 2, np.random.default_rng(0), base=base, lite=True, checkpoints=np.array([1, 600]))
    assert np.all(last(tr) < 1e-20)
    p = convex_instance()
    tr = mime(p, 0.1 / L, 10, 1000, 1, np.random.default_rng(0), base=base, lite=True,
              checkpoints=np.array([1, 500, 1000]))
    d = tr.values["dist2"][0]
    assert d[-1] > 1e-10
    assert d[-1] == pytest.approx(d[-2], rel=1e-6)


@pytest.mark.parametrize("base", ["sgd", "momentum", "mvr"])
def test_server_only_reaches_optimum(base):
    p = convex_instance()
    L = p.constants["L"]
    tr = server_only(p, 0.1 / L, 2000, 2, np.random.default_rng(0), base=base)
    assert np.all(last(tr) < 1e-16)


@pytest.mark.parametrize("algo", ["fedavg", "scaffold_I", "scaffold_II", "mime", "mime_lite_mvr", "server_mvr"])
def test_sampled_runs_are_deterministic_and_shaped(algo):
    p = convex_instance(noise=0.3)
    L = p.constants["L"]
    ck = np.array([1, 2, 5, 10, 25])

    def run(seed):
        rng = np.random.default_rng(seed)
        if algo == "fedavg":
            return fedavg(p, 0.1 / L, 3, 25, 4, rng, S=2, checkpoints=ck)
        if algo.startswith("scaffold"):
            return scaffold(p, 0.1 / L, 3, 25, 4, rng, S=2, option=algo[-2:].strip("_"), checkpoints=ck)
        if algo == "mime":
            return mime(p, 0.1 / L, 3, 25, 4, rng, S=2, checkpoints=ck)
        if algo == "mime_lite_mvr":
            return mime(p, 0.1 / L, 3, 25, 4, rng, S=2, base="mvr", lite=True, checkpoints=ck)
        return server_only(p, 0.1 / L, 25, 4, rng, S=2, base="mvr", checkpoints=ck)

    a, b, c = run(42), run(42), run(43)
    assert np.array_equal(a.t, ck)
    for k in ("subopt", "dist2", "grad2", "avg_dist2"):
        assert a.values[k].shape == (4, ck.size)
        assert np.array_equal(a.values[k], b.values[k])
    assert not np.array_equal(a.values["dist2"], c.values["dist2"])
    # replicas sample their own clients and noise: they differ
    assert not np.allclose(a.values["dist2"][0], a.values["dist2"][1])


# ----------------------------------------------------------------------------------------------------
# 6. bad input


@pytest.mark.parametrize("call,name", [
    (lambda p, g: fedavg(p, 0.1, 0, 5, 1, g), "K"),
    (lambda p, g: fedavg(p, 0.1, 1, 5, 1, g, S=0), "S"),
    (lambda p, g: fedavg(p, 0.1, 1, 5, 1, g, S=7), "S"),
    (lambda p, g: fedavg(p, 0.0, 1, 5, 1, g), "eta_l"),
    (lambda p, g: fedavg(p, -1.0, 1, 5, 1, g), "eta_l"),
    (lambda p, g: fedavg(p, 0.1, 1, 5, 1, g, eta_g=0.0), "eta_g"),
    (lambda p, g: scaffold(p, 0.1, 1, 5, 1, g, eta_g=-0.5), "eta_g"),
    (lambda p, g: scaffold(p, 0.1, 0, 5, 1, g), "K"),
    (lambda p, g: scaffold(p, 0.1, 1, 5, 1, g, S=0), "S"),
    (lambda p, g: scaffold(p, 0.1, 1, 5, 1, g, option="III"), "option"),
    (lambda p, g: scaffold(p, 0.1, 1, 5, 1, g, init="foo"), "init"),
    (lambda p, g: mime(p, 0.1, 1, 5, 1, g, base="adam"), "base"),
    (lambda p, g: mime(p, 0.1, 1, 5, 1, g, beta=1.0), "beta"),
    (lambda p, g: mime(p, 0.1, 1, 5, 1, g, beta=-0.1), "beta"),
    (lambda p, g: mime(p, 0.1, 0, 5, 1, g), "K"),
    (lambda p, g: mime(p, 0.1, 1, 5, 1, g, S=7), "S"),
    (lambda p, g: server_only(p, 0.1, 5, 1, g, base="adam"), "base"),
    (lambda p, g: server_only(p, 0.1, 5, 1, g, beta=1.0), "beta"),
    (lambda p, g: server_only(p, 0.1, 5, 1, g, beta=-0.1), "beta"),
    (lambda p, g: server_only(p, 0.1, 5, 1, g, S=0), "S"),
])
def test_algorithm_bad_input(call, name):
    p = convex_instance()
    with pytest.raises(InputError, match=rf"\b{name}\b"):
        call(p, np.random.default_rng(0))


def _sym(rng, d):
    A = rng.standard_normal((d, d))
    return (A + A.T) / 2


@pytest.mark.parametrize("build,name", [
    (lambda: HeterogeneousClients.g3(3, 3, mu=0.5, L=2.0, delta_H=0.1, zeta=1.0), "N"),
    (lambda: HeterogeneousClients.g3(4, 3, mu=0.5, L=2.0, delta_H=0.6, zeta=1.0, convex=True), "delta_H"),
    (lambda: HeterogeneousClients.g3(4, 3, mu=3.0, L=2.0, delta_H=0.1, zeta=1.0), "mu"),
    (lambda: HeterogeneousClients.g3(4, 3, mu=0.5, L=2.0, delta_H=0.1, zeta=-1.0), "zeta"),
    (lambda: HeterogeneousClients.g3(4, 3, mu=0.5, L=2.0, delta_H=-0.1, zeta=1.0), "delta_H"),
    (lambda: HeterogeneousClients(np.array([[2.0, 1.0], [0.0, 2.0]]), np.zeros((2, 2, 2)), np.zeros((2, 2))), "H"),
    (lambda: HeterogeneousClients(2 * np.eye(2), np.stack([np.array([[0.0, 1.0], [0.0, 0.0]]),
                                                            np.array([[0.0, -1.0], [0.0, 0.0]])]), np.zeros((2, 2))), "D"),
    (lambda: HeterogeneousClients(2 * np.eye(2), np.stack([np.eye(2), np.eye(2)]), np.zeros((2, 2))), "D"),
    (lambda: HeterogeneousClients(2 * np.eye(2), np.zeros((2, 2, 2)), np.ones((2, 2))), "w"),
])
def test_problem_bad_input(build, name):
    with pytest.raises(InputError, match=rf"\b{name}\b"):
        build()


# ----------------------------------------------------------------------------------------------------
# 7. divergence is a recorded verdict


def test_fedavg_divergence_is_recorded():
    p = convex_instance()
    L = p.constants["L"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):  # the loop must contain its own floating-point state
            tr = fedavg(p, 5 / L, 1, 200, 3, np.random.default_rng(0))
    t0 = tr.first_divergence()
    assert t0 is not None and 0 < t0 <= 200
    assert np.all(tr.diverged_at >= 0)
    after = tr.t >= t0
    assert np.all(np.isinf(tr.values["dist2"][:, after]))
    assert np.all(np.isfinite(tr.values["dist2"][:, ~after]))
    assert not np.any(np.isnan(tr.values["dist2"]))
