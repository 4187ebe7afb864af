"""Tests for ratecheck.attacks: the catalog's test vectors, each attack against its definition written out
here, the robustness ratio against its exact expectation for the mean, and the scale search.

Monte Carlo checks use fixed seeds and a tolerance of 6 standard errors of the quantity compared."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from ratecheck.aggregators import CenteredClip, Krum, Mean
from ratecheck.attacks import (
    ALIE,
    IPM,
    Gaussian,
    LabelFlip,
    Mimic,
    SignFlip,
    alie_z_max,
    byzantine_inputs,
    robustness_ratio,
    search_scale,
)
from ratecheck.validate import InputError

ATTACKS = [ALIE(), ALIE(1.5), IPM(0.1), SignFlip(), LabelFlip(np.arange(4.0)), Mimic(), Gaussian(2.0)]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("n, f, z", [(25, 5, 0.2533), (25, 11, 1.0676), (20, 4, 0.1573), (10, 2, 0.0)])
def test_alie_z_max_reproduces_the_catalog_test_vectors(n, f, z):
    """THEOREMS.md T7: s = floor(n/2 + 1) - f, z_max = Phi^-1((n - f - s)/(n - f)), to the 4 printed
    digits."""
    assert round(alie_z_max(n, f), 4) == z
    s = np.floor(n / 2 + 1) - f
    assert alie_z_max(n, f) == stats.norm.ppf((n - f - s) / (n - f))


def test_alie_z_max_rejects_f_beyond_half():
    with pytest.raises(InputError, match=r"f must be an integer in \[1, 5\], got 6"):
        alie_z_max(10, 6)
    with pytest.raises(InputError, match=r"f must be an integer in \[1, 5\], got 0"):
        alie_z_max(10, 0)


@given(
    R=st.integers(1, 3),
    m=st.integers(2, 7),
    f=st.integers(0, 4),
    d=st.integers(1, 5),
    seed=st.integers(0, 99),
)
def test_every_attack_returns_f_vectors_and_the_defined_values(R, m, f, d, seed):
    """Shape (R, f, d) and each attack's formula, written out per worker with Python loops."""
    good = rng(seed).standard_normal((R, m, d))
    n = m + f
    for attack in ATTACKS:
        if isinstance(attack, LabelFlip):
            attack = LabelFlip(np.arange(float(d)))
        if isinstance(attack, ALIE) and attack.z is None and not 1 <= f <= n // 2:
            continue  # z_max is defined for 1 <= f <= n/2 only
        out = attack(good, f, rng(seed + 1))
        assert out.shape == (R, f, d)
        for r in range(R):
            mu = good[r].mean(axis=0)
            for j in range(f):
                own = good[r, j % m]
                if isinstance(attack, ALIE):
                    z = alie_z_max(n, f) if attack.z is None else attack.z
                    sd = np.sqrt(sum((g - mu) ** 2 for g in good[r]) / (m - 1))
                    np.testing.assert_allclose(out[r, j], mu - z * sd, rtol=1e-12, atol=1e-12)
                elif isinstance(attack, IPM):
                    np.testing.assert_allclose(out[r, j], -0.1 * mu, rtol=1e-12, atol=1e-15)
                elif isinstance(attack, SignFlip):
                    np.testing.assert_array_equal(out[r, j], -own)
                elif isinstance(attack, LabelFlip):
                    np.testing.assert_array_equal(out[r, j], own + np.arange(float(d)))
                elif isinstance(attack, Mimic):
                    assert any(np.array_equal(out[r, j], g) for g in good[r])


def test_label_flip_is_the_gradient_of_the_flipped_least_squares_objective():
    """On f_i(x) = (1/2)||A_i x - b_i||^2 the flipped targets -b_i give A_i^T(A_i x + b_i) =
    grad f_i(x) + bias
    with bias = -2 grad f(0) when all workers share (A, b) (the docstring's claim), checked per worker."""
    g = rng(3)
    A, b, x = g.standard_normal((6, 4)), g.standard_normal(6), g.standard_normal(4)
    honest = A.T @ (A @ x - b)
    flipped = A.T @ (A @ x + b)
    grad0 = A.T @ (A @ np.zeros(4) - b)
    out = LabelFlip.from_grad_at_zero(grad0)(honest[None, None, :], 1, g)
    np.testing.assert_allclose(out[0, 0], flipped, rtol=1e-12, atol=1e-12)


def test_mimic_copies_the_most_extreme_worker_along_the_top_principal_direction():
    """Brute force: the top right singular vector of the centred good vectors, projections per worker."""
    g = rng(4)
    good = g.standard_normal((5, 8, 6)) * np.array([3.0, 1, 1, 1, 1, 1])
    chosen = Mimic.choose(good)
    for r in range(5):
        C = good[r] - good[r].mean(axis=0)
        z = np.linalg.svd(C)[2][0]
        proj = [abs(float(c @ z)) for c in C]
        assert chosen[r] == int(np.argmax(proj))
    out = Mimic(target=2)(good, 3, g)
    assert np.array_equal(out, np.repeat(good[:, 2:3], 3, axis=1))


def test_gaussian_attack_law():
    """N(mu, sigma^2 I): sample mean within 6 standard errors, needs no good vector."""
    out = Gaussian(sigma=2.0, mu=1.0)(np.zeros((10, 0, 50)), 20, rng(5))
    assert out.shape == (10, 20, 50)
    se = 2.0 / np.sqrt(out.size)
    assert abs(out.mean() - 1.0) < 6 * se
    assert abs(out.var() - 4.0) < 6 * 4.0 * np.sqrt(2 / out.size)


def test_attacks_that_need_good_vectors_refuse_none():
    empty = np.zeros((2, 0, 3))
    for attack in (IPM(), SignFlip(), Mimic(), LabelFlip(np.zeros(3))):
        with pytest.raises(InputError, match=r"needs at least 1 good vector"):
            attack(empty, 2, rng())
    with pytest.raises(InputError, match=r"ALIE needs at least 2 good vector"):
        ALIE()(np.zeros((2, 1, 3)), 1, rng())
    with pytest.raises(InputError, match=r"good must be an array of shape \(R, n - f, d\)"):
        IPM()(np.zeros((3, 2)), 1, rng())
    with pytest.raises(InputError, match=r"eps must be a finite number >= 0"):
        IPM(-1.0)
    with pytest.raises(InputError, match=r"sigma must be a finite number > 0"):
        Gaussian(0.0)
    with pytest.raises(InputError, match=r"target must be < the number of good workers 4"):
        Mimic(target=7)(np.zeros((1, 4, 2)), 1, rng())
    with pytest.raises(InputError, match=r"bias has dimension 2, the good vectors 3"):
        LabelFlip(np.zeros(2))(np.zeros((1, 4, 3)), 1, rng())


def test_byzantine_inputs_appends_the_attack():
    good = rng(6).standard_normal((2, 5, 3))
    G = byzantine_inputs(good, IPM(0.5), 2, rng())
    assert G.shape == (2, 7, 3)
    np.testing.assert_array_equal(G[:, :5], good)


@pytest.mark.parametrize(
    "attack, expected",
    [
        (
            ALIE(3.0),
            lambda n, f: (f / n) * 3.0**2 / 2,
        ),  # E ratio = delta z^2 / 2 (unbiased ddof = 1 variance)
        (IPM(4.0), lambda n, f: (f / n) * (1 + 4.0) ** 2 / (2 * (n - f))),  # delta (1 + eps)^2 / (2 (n - f))
    ],
)
def test_robustness_ratio_of_the_mean_matches_its_exact_expectation(attack, expected):
    """For the mean, AGG - mean_G = (f/n)(byz - mean_G): E||.||^2/(delta rho^2) has the closed forms above
    (rho^2 = 2 sigma^2 d). The estimate must lie within 6 standard errors."""
    n, f = 20, 4
    est = robustness_ratio(Mean(f), attack, n, f, d=8, sigma=1.7, R=2000, rng=rng(7))
    assert abs(est.mean - expected(n, f)) < 6 * est.se


def test_scale_search_finds_the_growth_of_the_mean_and_the_bounded_worst_case_of_cc():
    """The mean's ratio under ALIE(z) is delta z^2/2: the search must end on the upper bound with that
    value; centred clipping (tau = rho/sqrt(delta)) has an interior or bounded worst case: doubling the
    search range must not double the worst ratio."""
    n, f, d = 20, 2, 6
    s = search_scale(Mean(f), "alie", n, f, d, bounds=(0.0, 10.0), R=400, grid=11, rng=rng(8))
    assert s.at_bound and s.scale == pytest.approx(10.0, abs=0.01)
    assert abs(s.ratio - (f / n) * 100 / 2) < 6 * s.se
    tau = np.sqrt(2 * d / (f / n))
    cc = CenteredClip(f, tau=tau, l=3)
    a = search_scale(cc, "ipm", n, f, d, bounds=(0.0, 100.0), R=100, grid=11, rng=rng(9))
    b = search_scale(cc, "ipm", n, f, d, bounds=(0.0, 200.0), R=100, grid=11, rng=rng(9))
    assert b.ratio < 1.5 * a.ratio
    with pytest.raises(InputError, match="family must be one of"):
        search_scale(cc, "lie", n, f, d, rng=rng())
    with pytest.raises(InputError, match="bounds must be finite with low < high"):
        search_scale(cc, "ipm", n, f, d, bounds=(1.0, 1.0), rng=rng())


def test_krum_robustness_ratio_is_deterministic_given_the_seed():
    a = robustness_ratio(Krum(2), ALIE(), 12, 2, 3, R=20, rng=rng(10))
    b = robustness_ratio(Krum(2), ALIE(), 12, 2, 3, R=20, rng=rng(10))
    np.testing.assert_array_equal(a.samples, b.samples)
