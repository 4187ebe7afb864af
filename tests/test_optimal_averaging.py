"""Tests for optimal model averaging (THEOREMS.md T5.1; ratecheck/algorithms/averaging.py, theorems/optimal_averaging.py).

* the closed forms of the theorem file against an independent sympy derivation (the expectation of the squared error of
  (1 - lam) U + lam V, U ~ N(0, s0^2), V ~ N(Delta, s1^2), by sympy.stats), against Gauss-Hermite quadrature, and the
  catalog's NUM numbers;
* the estimators: vectorized over replicas equal to a Python loop computed another way, their laws by Monte Carlo within
  Z standard errors (fixed seeds), and the power of that test against a formula without Delta^2;
* bad input: InputError naming the parameter and its range.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import sympy as sp
from sympy import stats as sps

from ratecheck.algorithms.averaging import (
    batch_argmin,
    estimates,
    one_step_trace,
    plug_in_weight,
    weighted_average,
)
from ratecheck.expr import evaluate
from ratecheck.mutate import mutations
from ratecheck.run import load
from ratecheck.validate import InputError
from theorems.optimal_averaging import (
    BENEFIT,
    LAM_STAR,
    MSE,
    MSE_STAR,
    ONE_MINUS_LAM_STAR,
    ONE_MINUS_LAM_STAR_N0,
    Delta,
    lam,
    n0,
    s0,
    s1,
    sigma0,
)

Z = 6.0  # Monte Carlo tolerance in standard errors (two-sided normal tail 2e-9)
NUM = {"s0": 1.0, "s1": 0.5, "Delta": 0.7}


def _independent_mse() -> sp.Expr:
    """E[((1 - lam) U + lam V)^2] by sympy.stats, U ~ N(0, s0^2), V ~ N(Delta, s1^2) independent."""
    U, V = sps.Normal("U", 0, s0), sps.Normal("V", Delta, s1)
    return sp.simplify(sps.E(((1 - lam) * U + lam * V) ** 2))


# ------------------------------------------------------------------------------------------------
# closed forms


def test_mse_is_the_expected_squared_error() -> None:
    assert sp.simplify(_independent_mse() - MSE) == 0


def test_lam_star_and_mse_star_minimise_the_independent_mse() -> None:
    mse = _independent_mse()
    (root,) = sp.solve(sp.diff(mse, lam), lam)
    assert sp.simplify(root - LAM_STAR) == 0
    assert sp.simplify(mse.subs(lam, root) - MSE_STAR) == 0
    assert sp.simplify(sp.diff(mse, lam, 2)) == 2 * (s0**2 + s1**2 + Delta**2)  # > 0: a minimum


def test_benefit_is_mse0_minus_mse_with_roots_0_and_2_lam_star() -> None:
    mse = _independent_mse()
    assert sp.simplify(mse.subs(lam, 0) - mse - BENEFIT) == 0
    x = sp.Symbol("x", real=True)  # lam is declared positive: solve over the reals to see the root 0
    roots = sp.solve(BENEFIT.subs(lam, x), x)
    assert {sp.simplify(r) for r in roots} == {0, sp.simplify(2 * LAM_STAR)}


def test_one_minus_lam_star_and_its_leading_terms() -> None:
    assert sp.simplify(ONE_MINUS_LAM_STAR - (1 - LAM_STAR)) == 0
    assert sp.simplify(ONE_MINUS_LAM_STAR_N0 - (1 - LAM_STAR).subs(s0, sigma0 / sp.sqrt(n0))) == 0
    # s1 = 0: 1 - lam* = Delta^2/s0^2 + O(Delta^4) (slope 2); small n0: n0 (s1^2 + Delta^2)/sigma0^2 + O(n0^2) (slope 1)
    assert sp.simplify(sp.limit(ONE_MINUS_LAM_STAR.subs(s1, 0) / Delta**2, Delta, 0) - 1 / s0**2) == 0
    assert sp.simplify(sp.limit(ONE_MINUS_LAM_STAR_N0 / n0, n0, 0) - (s1**2 + Delta**2) / sigma0**2) == 0


def test_num_instance_matches_the_catalog() -> None:
    ls = float(evaluate(LAM_STAR, NUM))
    assert round(ls, 3) == 0.575
    got = [float(evaluate(MSE, {**NUM, "lam": x})) for x in (0.0, ls / 2, ls, 2 * ls, 1.0)]
    assert [round(g, 3) for g in got] == [1.000, 0.569, 0.425, 1.000, 0.740]
    assert float(evaluate(MSE_STAR, NUM)) == pytest.approx(got[2], rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_mse_against_gauss_hermite_quadrature_and_a_grid_argmin(seed: int) -> None:
    """E over (U, V) by a 2-D Gauss-Hermite rule (exact for this quadratic), and the argmin over a fine lam grid."""
    rng = np.random.default_rng(seed)
    c = {"s0": rng.uniform(0.1, 3), "s1": rng.uniform(0, 3), "Delta": rng.uniform(-3, 3)}
    x, w = np.polynomial.hermite_e.hermegauss(8)  # nodes for the weight exp(-x^2/2)
    w = w / w.sum()
    U, V = c["s0"] * x[:, None], c["Delta"] + c["s1"] * x[None, :]
    W = w[:, None] * w[None, :]
    lams = np.linspace(-0.5, 1.5, 20001)
    quad = np.array([np.sum(W * ((1 - a) * U + a * V) ** 2) for a in lams[::1000]])
    formula = evaluate(MSE, {**c, "lam": lams})
    np.testing.assert_allclose(quad, formula[::1000], rtol=1e-12)
    assert abs(lams[np.argmin(formula)] - float(evaluate(LAM_STAR, c))) <= 1e-4  # grid spacing 1e-4
    assert float(np.min(formula)) == pytest.approx(float(evaluate(MSE_STAR, c)), rel=1e-7)


# ------------------------------------------------------------------------------------------------
# estimators: vectorization and laws


def test_estimates_law_and_correlation() -> None:
    R, sigma0_, n0_, s1_, D, rho = 400_000, 2.0, 4, 0.5, 0.7, 0.6
    t0, t1 = estimates(R, np.random.default_rng(1), sigma0=sigma0_, n0=n0_, s1=s1_, Delta=D, mu0=0.3, rho=rho)
    assert t0.shape == t1.shape == (R,)
    s0_ = sigma0_ / math.sqrt(n0_)
    for x, mean, sd in ((t0, 0.3, s0_), (t1, 0.3 + D, s1_)):
        assert abs(x.mean() - mean) <= Z * sd / math.sqrt(R)
        assert abs(x.var() / sd**2 - 1) <= Z * math.sqrt(2 / R)
    cov = np.mean((t0 - 0.3) * (t1 - 0.3 - D))  # E = rho s0 s1, Var ~ (1 + rho^2) s0^2 s1^2
    assert abs(cov - rho * s0_ * s1_) <= Z * math.sqrt((1 + rho**2) / R) * s0_ * s1_


def test_theta0_has_the_law_of_the_mean_of_n0_samples() -> None:
    """Drawn from N(mu0, sigma0^2/n0), the exact law of the mean of n0 samples: its variance against that of explicit means."""
    R, n = 200_000, 5
    rng = np.random.default_rng(2)
    direct, _ = estimates(R, rng, sigma0=1.5, n0=n, s1=0.0, Delta=0.0)
    explicit = (1.5 * rng.standard_normal((R, n))).mean(axis=1)
    assert abs(direct.var() / explicit.var() - 1) <= Z * math.sqrt(4 / R)  # two independent variance estimates


def test_weighted_average_vectorized_equals_loop() -> None:
    rng = np.random.default_rng(3)
    t0, t1, w = rng.standard_normal(50), rng.standard_normal(50), rng.uniform(0, 1, 50)
    got = weighted_average(t0, t1, w)
    np.testing.assert_allclose(got, [a + x * (b - a) for a, b, x in zip(t0, t1, w)], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(weighted_average(t0, t1, 0.0), t0)
    np.testing.assert_allclose(weighted_average(t0, t1, 1.0), t1)
    np.testing.assert_allclose(weighted_average(t0, t1, 1.5, extrapolate=True), t1 + 0.5 * (t1 - t0), rtol=1e-12)


def test_batch_argmin_equals_a_grid_search_per_batch() -> None:
    rng = np.random.default_rng(4)
    t0, t1 = estimates(6 * 200, rng, sigma0=1.0, n0=1, s1=0.5, Delta=0.7)
    got = batch_argmin(t0.reshape(6, 200), t1.reshape(6, 200))
    lams = np.linspace(-1, 2, 30001)
    for b, g in zip(range(6), got):
        u, v = t0[b * 200:(b + 1) * 200], t1[b * 200:(b + 1) * 200]
        mse = [np.mean(((1 - a) * u + a * v) ** 2) for a in lams[::10]]  # coarse pass, then refine
        a0 = lams[::10][int(np.argmin(mse))]
        fine = lams[np.abs(lams - a0) <= 1e-3]
        best = fine[int(np.argmin([np.mean(((1 - a) * u + a * v) ** 2) for a in fine]))]
        assert abs(best - g) <= 1e-4


def test_plug_in_weight_vectorized_equals_loop() -> None:
    rng = np.random.default_rng(5)
    x0, x1 = rng.standard_normal((40, 7)), 0.5 + 2 * rng.standard_normal((40, 5))
    got = plug_in_weight(x0, x1)
    for a, b, g in zip(x0, x1, got):
        v0, v1 = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
        assert g == pytest.approx(v0 / (v0 + v1 + (statistics.fmean(b) - statistics.fmean(a)) ** 2), rel=1e-12)
    assert np.all((got >= 0) & (got <= 1))


@pytest.mark.parametrize("frac", [0.0, 0.5, 1.0, 2.0])
def test_monte_carlo_mse_on_num_within_z_standard_errors(frac: float) -> None:
    """The catalog's NUM (s0 = 1 from sigma0 = 2, n0 = 4): mean squared error within Z se of MSE(lam); the formula without
    Delta^2 is rejected at lam > 0 (power)."""
    R = 400_000
    t0, t1 = estimates(R, np.random.default_rng(6), sigma0=2.0, n0=4, s1=0.5, Delta=0.7)
    a = frac * float(evaluate(LAM_STAR, NUM))
    err2 = weighted_average(t0, t1, a, extrapolate=True) ** 2
    se = err2.std(ddof=1) / math.sqrt(R)
    assert abs(err2.mean() - float(evaluate(MSE, {**NUM, "lam": a}))) <= Z * se
    if frac > 0:
        assert abs(err2.mean() - float(evaluate(MSE, {**NUM, "Delta": 0.0, "lam": a}))) > Z * se


def test_one_step_trace_shapes() -> None:
    tr = one_step_trace({"a": np.arange(4.0), "b": np.ones(4) > 0}, {"s0": 1.0})
    assert tr.values["a"].shape == (4, 1) and tr.R == 4 and tr.T == 1 and tr.first_divergence() is None
    assert tr.values["b"].dtype == np.float64 and tr.constants == {"s0": 1.0}


# ------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("value", [-0.1, 1.2, float("nan"), float("inf")])
def test_weight_outside_0_1_is_refused(value: float) -> None:
    with pytest.raises(InputError, match=r"lam \(the averaging weight\) must be"):
        weighted_average(np.zeros(3), np.ones(3), value)
    with pytest.raises(InputError, match=r"in \[0, 1\]|finite"):
        weighted_average(np.zeros(3), np.ones(3), np.array([0.5, value, 0.5]))


def test_extrapolation_still_needs_a_finite_weight() -> None:
    weighted_average(np.zeros(3), np.ones(3), -0.5, extrapolate=True)
    with pytest.raises(InputError, match="lam .*finite"):
        weighted_average(np.zeros(3), np.ones(3), float("nan"), extrapolate=True)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"sigma0": -1.0}, r"sigma0 .* must be a finite number >= 0"),
    ({"s1": -0.5}, r"s1 .* must be a finite number >= 0"),
    ({"n0": 0}, r"n0 .* must be an integer >= 1"),
    ({"n0": 2.5}, r"n0 .* must be an integer >= 1"),
    ({"rho": 1.5}, r"rho .* must be in \[-1, 1\]"),
    ({"Delta": float("nan")}, r"Delta must be a finite real number"),
])
def test_estimates_refuse_bad_parameters(kwargs: dict, pattern: str) -> None:
    args = {"sigma0": 1.0, "n0": 4, "s1": 0.5, "Delta": 0.7, **kwargs}
    with pytest.raises(InputError, match=pattern):
        estimates(10, np.random.default_rng(0), **args)


def test_plug_in_and_argmin_refuse_bad_shapes() -> None:
    with pytest.raises(InputError, match=r"samples per replica\) must be an integer >= 2"):
        plug_in_weight(np.zeros((3, 1)), np.zeros((3, 4)))
    with pytest.raises(InputError, match="same R"):
        plug_in_weight(np.zeros((3, 4)), np.zeros((2, 4)))
    with pytest.raises(InputError, match="same shape"):
        batch_argmin(np.zeros((2, 3)), np.zeros((2, 4)))


# ------------------------------------------------------------------------------------------------
# the declaration


def test_theorem_declares_its_mutants() -> None:
    thm = load("optimal-averaging")
    assert set(mutations(thm)) == {"drop-s1", "drop-Delta", "drop-lam", "step-x8-opt", "correlated-estimates"}
    assert thm.step("opt", NUM) == pytest.approx(0.5747126, rel=1e-6)


def test_mean_versus_bound_against_zero() -> None:
    """MeanVersusBound with a bound of 0 ("E benefit >= 0", the negative control's form): a verdict, a plot of mean - 0 and
    an absolute power (the engine crashed on mean/0 before)."""
    from ratecheck.checks import FAIL, PASS, MeanVersusBound
    from ratecheck.theorem import Run

    thm = load("optimal-averaging")
    rng = np.random.default_rng(7)
    for shift, want in ((0.05, PASS), (-0.05, FAIL)):
        runs = {"s": [Run({"p": 1}, one_step_trace({"x": shift + 0.1 * rng.standard_normal(400)}))]}  # se = 0.005: 10 se from 0
        out = MeanVersusBound("m", "s", measure="x", relation="lower", bound=sp.S.Zero).evaluate(thm, runs)
        assert out.observed == want
        assert out.plot.ylabel.endswith("- bound") and out.plot.series[0]["y"][0] == pytest.approx(out.measured)
        assert out.power_relative is False and 0 < out.power < 0.05
