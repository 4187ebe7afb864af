"""Tests for ratecheck/exact.py: the exact moment recursions against the Monte Carlo runners, against closed
forms (THEOREMS.md G2, T1 N1, T2 (b), T4 (d)) and against deterministic runs; plus planted errors that the
Monte Carlo comparison must catch (DESIGN.md, "exact cross-check").

Statistical tolerance. At every checkpoint and for every monitored name the Monte Carlo mean over R replicas
must lie within Z = 6 standard errors (the sample standard deviation / sqrt(R)) of the exact expectation. The
threshold is a Bonferroni-style family bound: a two-sided normal tail at 6 SE is 2e-9 per comparison, and
this file makes fewer than 500 comparisons, so a correct implementation fails with probability < 1e-6 (under
the normal approximation of the mean of R = 4000 replicas). Seeds are fixed, so the outcome is deterministic.
A small rounding slack (1e-9 relative) covers checkpoints whose value is deterministic (SE = 0).

The normal approximation needs light tails, and random masks make products of random matrices, whose
moments can be carried by rare paths (EF with random-k: a coordinate left out for many steps piles up error;
at gamma = 0.3 one replica in 20000 can hold most of the sum, and 6 SE then means nothing). So the step sizes
below sit well inside the mean-square stable region, and every comparison first checks a tail guard: no
single replica may carry more than MAX_SHARE of a checkpoint's sum (observed here: <= 3% for EF's e2,
<= 0.4% otherwise). Over 20 further seeds per configuration (not in the suite) the largest |z| was <= 4.3.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from problems.federated import FederatedQuadratic
from problems.noise import Gaussian
from problems.quadratic import Quadratic
from ratecheck import exact
from ratecheck.algorithms.error_feedback import ef_sgd
from ratecheck.algorithms.local_sgd import local_sgd
from ratecheck.algorithms.momentum import heavy_ball_sgd
from ratecheck.algorithms.sgd import quantized_sgd, sgd
from ratecheck.compressors import RandomK
from ratecheck.fit import mean_se
from ratecheck.trace import Trace, log_checkpoints
from ratecheck.validate import InputError

Z = 6.0  # Monte Carlo tolerance in standard errors: a Bonferroni family bound (module docstring)
R = 4000  # replicas per Monte Carlo comparison
ROUNDING = 1e-9  # relative slack for deterministic checkpoints
MAX_SHARE = 0.05  # tail guard: the largest replica's share of a checkpoint's sum (module docstring)
WORST: dict[str, float] = {}  # largest |z| per algorithm, printed by test_report_worst_z (pytest -s)


def zscores(trace: Trace, moments: exact.Moments, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """|MC mean - exact| / (SE + rounding slack) at every checkpoint, per monitored name."""
    assert np.array_equal(trace.t, moments.t)
    out = {}
    for name in names:
        mean, se = mean_se(trace.values[name])
        ex = moments.values[name]
        assert np.all(np.isfinite(mean)) and np.all(np.isfinite(ex)), name
        out[name] = np.abs(mean - ex) / (se + ROUNDING * np.abs(ex) + 1e-300)
    return out


def assert_light_tails(label: str, trace: Trace, names: tuple[str, ...]) -> None:
    """The tail guard of the module docstring: no replica carries more than MAX_SHARE of a column's sum."""
    for name in names:
        v = trace.values[name]
        total = v.sum(axis=0)
        share = np.where(total > 0, v.max(axis=0) / np.where(total > 0, total, 1.0), 0.0)
        assert share.max() <= MAX_SHARE, f"{label}/{name}: one replica carries {share.max():.1%} of the sum (tails too heavy for a z-test)"


def assert_agrees(label: str, trace: Trace, moments: exact.Moments, names: tuple[str, ...]) -> None:
    assert_light_tails(label, trace, names)
    z = zscores(trace, moments, names)
    worst = max(float(v.max()) for v in z.values())
    WORST[label] = max(WORST.get(label, 0.0), worst)
    for name, v in z.items():
        i = int(np.argmax(v))
        assert v[i] <= Z, f"{label}/{name}: |z| = {v[i]:.2f} > {Z} at t = {int(trace.t[i])}"


def rotated(d: int = 6, sigma: float = 0.5, seed: int = 1, **kw: object) -> Quadratic:
    """A rotated quadratic, spectrum log-spaced in [0.2, 1]: transient and noise floor both visible."""
    return Quadratic.log_spaced(d, 0.2, 1.0, noise=sigma, seed=seed, **kw)


def federated(sigma: float = 0.3) -> FederatedQuadratic:
    return FederatedQuadratic.random(4, 5, mu=0.3, L=1.0, zeta=1.0, noise=sigma, seed=2)


# ----------------------------------------------------------------------------------------------------
# Monte Carlo agrees with the exact recursion at every checkpoint


def test_sgd_matches_exact() -> None:
    P, T = rotated(), 100
    t = log_checkpoints(T)
    tr = sgd(P, 0.3, T, R, np.random.default_rng(10), t)
    assert_agrees("sgd", tr, exact.sgd(P, 0.3, T, t), ("subopt", "dist2", "avg_subopt"))


def test_quantized_sgd_scaled_random_k_matches_exact() -> None:
    P, T = rotated(), 100
    t = log_checkpoints(T)
    Q = RandomK(2)  # omega = d/k - 1 = 2
    tr = quantized_sgd(P, Q, 0.15, T, R, np.random.default_rng(11), t)
    assert_agrees("quantized_sgd", tr, exact.quantized_sgd(P, Q, 0.15, T, t), ("subopt", "dist2", "avg_subopt"))


def test_heavy_ball_matches_exact() -> None:
    P, T = rotated(), 100
    t = log_checkpoints(T)
    tr = heavy_ball_sgd(P, 0.1, 0.7, T, R, np.random.default_rng(12), t)
    assert_agrees("heavy_ball_sgd", tr, exact.heavy_ball_sgd(P, 0.1, 0.7, T, t), ("subopt", "dist2", "avg_subopt"))


def test_ef_sgd_unscaled_random_k_matches_exact() -> None:
    P, T = rotated(), 100
    t = log_checkpoints(T)
    C = RandomK(2, scaled=False)  # delta = k/d = 1/3
    tr = ef_sgd(P, C, 0.15, T, R, np.random.default_rng(13), t, measures=("subopt", "dist2", "e2", "vdist2"))
    assert_agrees("ef_sgd", tr, exact.ef_sgd(P, C, 0.15, T, t), ("subopt", "dist2", "e2", "vdist2"))


def test_local_sgd_matches_exact() -> None:
    F, T = federated(), 60
    t = log_checkpoints(T)  # steps inside rounds and at averaging steps (tau = 5)
    tr = local_sgd(F, 0.2, 5, T, R, np.random.default_rng(14), t)
    assert_agrees("local_sgd", tr, exact.local_sgd(F, 0.2, 5, T, t), ("subopt", "dist2", "consensus"))


# ----------------------------------------------------------------------------------------------------
# power: planted errors are caught by far more than Z standard errors


class MisScaledRandomK(RandomK):
    """Random-k scaled by 0.8 d/k instead of d/k: a planted 20% scaling bug (biased)."""

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return 0.8 * super().__call__(x, rng)


def test_power_mis_scaled_random_k_is_caught() -> None:
    P, T = rotated(), 100
    t = log_checkpoints(T)
    tr = quantized_sgd(P, MisScaledRandomK(2), 0.15, T, R, np.random.default_rng(11), t)
    z = zscores(tr, exact.quantized_sgd(P, RandomK(2), 0.15, T, t), ("subopt", "dist2"))
    worst = max(float(v.max()) for v in z.values())
    assert worst > 3 * Z, f"a 20% mis-scaled random-k moved the mean by only {worst:.1f} SE"


def test_power_wrong_mask_moment_c1_is_caught() -> None:
    """The exact recursion with independent Bernoulli(k/d) mask moments (c1 = 1 instead of
    d(k-1)/(k(d-1)) = 0.6) disagrees with the Monte Carlo run. c1 only reaches the measured quantities
    through the off-diagonal of H S H, so the instance puts x0 - x* on the dense top eigenvector of a
    rotated H and uses a step near the mean-square limit; more replicas make the bias visible."""
    d, k, gamma, T, R_power = 6, 2, 0.5, 60, 20_000
    eig = np.geomspace(0.01, 1.0, d)
    top = Quadratic(eig, seed=1).Q[:, -1]  # same seed: same rotation
    P = Quadratic(eig, seed=1, x_star=np.zeros(d), x0=top, noise=0.1)
    t = log_checkpoints(T)
    Q = RandomK(k)
    tr = quantized_sgd(P, Q, gamma, T, R_power, np.random.default_rng(15), t)
    assert_light_tails("quantized_sgd power", tr, ("subopt",))
    right = exact.random_k_moments(d, k, scaled=True)
    assert right.second_off == pytest.approx(d * (k - 1) / (k * (d - 1)))
    assert max(float(v.max()) for v in zscores(tr, exact.quantized_sgd(P, Q, gamma, T, t), ("subopt",)).values()) <= Z
    wrong = exact.MaskMoments(first=1.0, second_diag=d / k, second_off=1.0)  # E M_i M_j = (k/d)^2
    z = zscores(tr, exact.quantized_sgd(P, Q, gamma, T, t, moments=wrong), ("subopt",))["subopt"]
    assert z.max() > 3 * Z, f"wrong c1 moved the exact curve by only {z.max():.1f} SE"


def test_power_ef_wrong_mask_moment_is_caught() -> None:
    """EF with unscaled random-k: the planted moment E M_i^2 = (k/d)^2 (forgetting M_i^2 = M_i) is caught.
    (The Bernoulli c1 of the previous test barely moves EF's curves in light-tailed configurations: 2-5 SE
    at R = 4000, so it is not a usable planted error for EF.)"""
    P, T = rotated(), 100
    t = log_checkpoints(T)
    C = RandomK(2, scaled=False)
    tr = ef_sgd(P, C, 0.15, T, R, np.random.default_rng(13), t, measures=("subopt", "dist2", "e2"))
    p = 2 / 6
    assert max(float(v.max()) for v in zscores(tr, exact.ef_sgd(P, C, 0.15, T, t), ("subopt", "dist2", "e2")).values()) <= Z
    wrong = exact.MaskMoments(first=p, second_diag=p * p, second_off=p * (2 - 1) / (6 - 1))
    z = zscores(tr, exact.ef_sgd(P, C, 0.15, T, t, moments=wrong), ("subopt", "dist2", "e2"))
    worst = max(float(v.max()) for v in z.values())
    assert worst > 3 * Z, f"wrong EF mask moment moved the exact curve by only {worst:.1f} SE"


# ----------------------------------------------------------------------------------------------------
# deterministic sanity: sigma = 0 and k = d make every run deterministic


def close(mc: np.ndarray, ex: np.ndarray) -> bool:
    return bool(np.all(np.abs(mc[0] - ex) <= 1e-10 * np.maximum(1.0, np.abs(ex))))


def test_deterministic_runs_match_exact() -> None:
    P, T, rng = rotated(sigma=0.0), 50, np.random.default_rng(0)
    t = log_checkpoints(T)
    d = P.d
    runs = {
        "quantized_sgd": (quantized_sgd(P, RandomK(d), 0.3, T, 1, rng, t), exact.quantized_sgd(P, RandomK(d), 0.3, T, t)),
        "heavy_ball": (heavy_ball_sgd(P, 0.1, 0.7, T, 1, rng, t), exact.heavy_ball_sgd(P, 0.1, 0.7, T, t)),
        "ef_sgd": (
            ef_sgd(P, RandomK(d, scaled=False), 0.3, T, 1, rng, t, measures=("subopt", "dist2", "e2", "vdist2")),
            exact.ef_sgd(P, RandomK(d, scaled=False), 0.3, T, t),
        ),
    }
    F = federated(sigma=0.0)
    runs["local_sgd"] = (local_sgd(F, 0.2, 5, T, 1, rng, t), exact.local_sgd(F, 0.2, 5, T, t))
    for label, (tr, ex) in runs.items():
        for name in ex.values:
            assert close(tr.values[name], ex.values[name]), (label, name, tr.values[name][0], ex.values[name])
    assert np.all(runs["ef_sgd"][1].values["e2"] == 0)


# ----------------------------------------------------------------------------------------------------
# exact recursions against closed forms and against each other (no sampling)


def test_sgd_exact_reaches_the_g2_floor() -> None:
    P, gamma = rotated(), 0.5
    ex = exact.sgd(P, gamma, 400, np.array([400]))
    assert ex.values["subopt"][-1] == pytest.approx(P.stationary_sgd_floor(gamma), rel=1e-10)
    assert np.allclose(ex.mean[-1], P.x_star, atol=1e-10)


def test_quantized_sgd_exact_mean_square_factor_t1_n1() -> None:
    """T1 N1: H = L I, sigma = 0, scaled random-k: E||z_{t+1}||^2 = (1 - 2 gamma L + gamma^2 L^2 (1 + omega)) E||z_t||^2."""
    d, k, L, gamma, T = 8, 2, 1.0, 0.3, 20
    P = Quadratic.isotropic(d, L, seed=3)
    omega = d / k - 1
    ex = exact.quantized_sgd(P, RandomK(k), gamma, T, np.arange(1, T + 1))
    factor = 1 - 2 * gamma * L + gamma**2 * L**2 * (1 + omega)
    assert np.allclose(ex.values["dist2"], P.constants["R0"] * factor ** np.arange(1, T + 1), rtol=1e-12)


def test_ef_buffer_under_pure_noise_t2d() -> None:
    """T2 (d): zero gradient plus noise (H = 0): E||e_{t+1}||^2 = (1 - delta)(E||e_t||^2 + gamma^2 sigma^2), so
    E||e_t||^2 = (1 - delta) gamma^2 sigma^2 (1 - (1 - delta)^t) / delta -> (1 - delta) gamma^2 sigma^2 / delta."""
    d, k, gamma, sigma, T = 7, 3, 0.4, 1.3, 80
    flat = SimpleNamespace(d=d, H=np.zeros((d, d)), x_star=np.zeros(d), x0=np.zeros(d), noise=Gaussian(sigma, d))
    ex = exact.ef_sgd(flat, RandomK(k, scaled=False), gamma, T, np.arange(1, T + 1))
    delta, t = k / d, np.arange(1, T + 1)
    closed = (1 - delta) * gamma**2 * sigma**2 * (1 - (1 - delta) ** t) / delta
    assert np.allclose(ex.values["e2"], closed, rtol=1e-12)


def test_heavy_ball_beta_zero_is_sgd() -> None:
    P, T = rotated(), 40
    t = log_checkpoints(T)
    hb, plain = exact.heavy_ball_sgd(P, 0.3, 0.0, T, t), exact.sgd(P, 0.3, T, t)
    for name in ("subopt", "dist2"):
        assert np.allclose(hb.values[name], plain.values[name], rtol=1e-12)
    assert np.allclose(hb.second, plain.second, rtol=1e-12, atol=1e-15)


def test_local_sgd_tau_one_is_minibatch_sgd() -> None:
    """tau = 1: x_{t+1} = x_t - gamma (1/n) sum_i g_i(x_t), SGD on f with noise covariance Sigma/n."""
    F, T = federated(), 40
    t = log_checkpoints(T)
    loc = exact.local_sgd(F, 0.2, 1, T, t)
    mb = exact.sgd(F, 0.2, T, t, Sigma=exact.noise_covariance(F) / F.n)
    for name in ("subopt", "dist2"):
        assert np.allclose(loc.values[name], mb.values[name], rtol=1e-11)
    assert np.all(loc.values["consensus"] == 0)


def test_local_sgd_fixed_point_is_fedavg_drift_t4() -> None:
    """T4 (d): with sigma = 0 the server model converges to x_FA = (sum A_i)^{-1} sum A_i x*_i,
    A_i = I - (I - gamma H_i)^tau, which differs from x* when tau >= 2."""
    F, gamma, tau = federated(sigma=0.0), 0.2, 5
    A = [np.eye(F.d) - np.linalg.matrix_power(np.eye(F.d) - gamma * Hi, tau) for Hi in F.H_clients]
    x_fa = np.linalg.solve(sum(A), sum(Ai @ xi for Ai, xi in zip(A, F.x_star_clients)))
    ex = exact.local_sgd(F, gamma, tau, 1000, np.array([1000]))
    assert np.allclose(ex.mean[-1], x_fa, atol=1e-9)
    assert np.linalg.norm(x_fa - F.x_star) > 1e-3  # drift is real on this instance


def test_mask_moments_by_enumeration() -> None:
    """E M_i and E M_i M_j of a uniform k-subset mask, enumerated over all C(d, k) subsets."""
    from itertools import combinations

    d, k = 5, 2
    masks = np.array([[1.0 if i in c else 0.0 for i in range(d)] for c in combinations(range(d), k)])
    second = masks.T @ masks / len(masks)
    for scaled in (False, True):
        s = d / k if scaled else 1.0
        mm = exact.random_k_moments(d, k, scaled)
        assert mm.first == pytest.approx(s * masks.mean(axis=0)[0])
        X = np.random.default_rng(0).standard_normal((d, d))
        assert np.allclose(mm.sandwich(X), s * s * second * X)


def test_inputs_are_validated() -> None:
    P = rotated()
    with pytest.raises(InputError):
        exact.sgd(P, 0.1, 10, np.array([1, 5]))  # must end at T
    with pytest.raises(InputError):
        exact.quantized_sgd(P, RandomK(7), 0.1, 10)  # k > d
    from ratecheck.compressors import TopK

    with pytest.raises(InputError):
        exact.ef_sgd(P, TopK(2), 0.1, 10)  # not a random mask


def test_report_worst_z() -> None:
    """Prints the largest |z| per algorithm seen by the agreement tests above (run with -s)."""
    print("\nlargest |z| per algorithm:", {k: round(v, 2) for k, v in WORST.items()})
