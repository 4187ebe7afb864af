"""The designed false-failure rate of issue 15: each kind's figure against a Monte Carlo count on a synthetic
statistic whose law is known, the power against the FAIL frequency at that deviation, the per-theorem budget,
and the evidence of a verdict that is not clear-cut (the reason; a prediction with no finite value)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy import stats

from ratecheck import fit
from ratecheck.checks import FAIL, INCONCLUSIVE, PASS, Exponent, Ratio, Relation, budget, judge
from ratecheck.checks.core import band, band_power, needed_factor, probabilities, t_power, tlimits, zscores
from ratecheck.theorem import R0, Run, Sweep, T, Theorem, gamma, omega, sigma
from ratecheck.trace import Trace, log_checkpoints

N = 20_000
Z = float(stats.norm.ppf(0.995))  # the 99 % two-sided interval's quantile


def within(count: int, p: float, n: int = N, k: float = 6.0) -> bool:
    """count / n agrees with p within k binomial standard errors (at least one count of slack)."""
    sd = math.sqrt(max(p * (1 - p), 1.0 / n) / n)
    return abs(count / n - p) <= k * sd + 1.0 / n


def draws(theta: float, se: float, seed: int) -> np.ndarray:
    return theta + se * np.random.default_rng(seed).standard_normal(N)


CASES = [  # relation, predicted, tol, se, true value (near an edge, so the rate is neither 0 nor 1)
    (Relation.TIGHT, -0.5, 0.05, 0.01, -0.48),
    (Relation.TIGHT, -0.5, 0.05, 0.012, -0.5),
    (Relation.UPPER, -0.5, 0.1, 0.02, -0.45),
    (Relation.LOWER, 2.0, 0.1, 0.03, 1.98),
]


@pytest.mark.parametrize("relation, p, tol, se, theta", CASES)
def test_false_fail_matches_a_monte_carlo_count(relation: Relation, p: float, tol: float, se: float, theta: float) -> None:
    est = draws(theta, se, 1)
    nonpass = sum(judge((e - Z * se, e + Z * se), p, tol, relation) != PASS for e in est)
    model = {"components": [band(relation, theta, theta - Z * se, theta + Z * se, p, tol, se, R=100)]}
    ff, _ = probabilities(model)
    assert 0.01 < ff < 0.99  # a case that tests something
    assert within(nonpass, ff), (nonpass / N, ff)
    # the brief's closed form for 'tight'
    if relation is Relation.TIGHT:
        closed = stats.norm.cdf(-(tol - Z * se - (theta - p)) / se) + stats.norm.cdf(-(tol - Z * se + (theta - p)) / se)
        assert ff == pytest.approx(closed, rel=1e-12)


@pytest.mark.parametrize("relation, p, tol, se, theta", CASES)
def test_power_is_detected_with_probability_099(relation: Relation, p: float, tol: float, se: float, theta: float) -> None:
    c = band(relation, p, p - Z * se, p + Z * se, p, tol, se, R=100)
    pw = band_power(c)
    assert pw == pytest.approx(tol + (Z + stats.norm.ppf(0.99)) * se)
    sides = {Relation.TIGHT: (1, -1), Relation.UPPER: (1,), Relation.LOWER: (-1,)}[relation]
    for sign in sides:
        est = draws(p + sign * pw, se, 2)
        fails = sum(judge((e - Z * se, e + Z * se), p, tol, relation) == FAIL for e in est)
        assert fails / N >= 0.99 - 6 * math.sqrt(0.99 * 0.01 / N), (sign, fails / N)
        # and the plug-in P(not FAIL) there is 0.01
        _, fp = probabilities({"components": [band(relation, p + sign * pw, p + sign * pw - Z * se, p + sign * pw + Z * se, p, tol, se, 100)]})
        assert fp == pytest.approx(0.01, abs=1e-6)


def test_bootstrap_monte_carlo_error_is_added() -> None:
    plain = band(Relation.TIGHT, 0.0, -0.026, 0.026, 0.0, 0.05, 0.01, R=100)
    boot = band(Relation.TIGHT, 0.0, -0.026, 0.026, 0.0, 0.05, 0.01, R=100, n_resamples=2000)
    assert plain["se_mc"] == 0 and 0.05 * 0.01 < boot["se_mc"] < 0.2 * 0.01  # ~ 0.11 se at 2000 resamples
    assert probabilities({"components": [boot]})[0] > probabilities({"components": [plain]})[0]


def test_interval_carries_the_bootstrap_standard_error() -> None:
    rng = np.random.default_rng(0)
    X = 1.0 + 0.5 * rng.standard_normal((400, 1))
    ci = fit.bootstrap_statistic([X], lambda m: m[0][0])
    assert ci.n_resamples == fit.N_RESAMPLES
    assert ci.se == pytest.approx(0.5 / math.sqrt(400), rel=0.15)
    assert fit.bootstrap_statistic([np.ones((5, 1))], lambda m: m[0][0]).se == 0.0  # deterministic


def test_many_comparisons_false_fail_matches_a_monte_carlo_count() -> None:
    """m one-sided t comparisons mean + q se <= bound, Bonferroni: the figure sum_i T_nu(-(d_i - q))."""
    rng = np.random.default_rng(5)
    R, m, alpha, sd = 200, 8, 1e-3, 1.0
    q = fit.t_quantile(alpha / m, R)
    se_true = sd / math.sqrt(R)
    bound = np.full(m, 0.0)
    mu = bound - se_true * np.array([5.0, 5.3, 5.6, 6.0, 7.0, 8.0, 9.0, 10.0])  # the true means, a few near the limit
    n = 4000
    nonpass = 0
    for _ in range(n):
        X = mu + sd * rng.standard_normal((R, m))
        mean, se = X.mean(axis=0), X.std(axis=0, ddof=1) / math.sqrt(R)
        nonpass += bool(np.any(mean + q * se > bound))
    ff, _ = probabilities({"components": [tlimits("upper", mu, np.full(m, se_true), bound, 0.0, q, R, alpha / m)]})
    assert 0.05 < ff < 0.9
    # a shifted t for a noncentral one: agreement within 6 binomial standard errors and 10 % relative
    assert abs(nonpass / n - ff) <= 6 * math.sqrt(ff * (1 - ff) / n) + 0.1 * ff, (nonpass / n, ff)
    assert t_power(q, R, se_true, 1.0) == pytest.approx((q + stats.t.ppf(0.99, R - 1)) * se_true)


def test_z_threshold_plug_in() -> None:
    ff, _ = probabilities({"components": [zscores([0.0, 0.0], 6.0, 100)]})
    assert ff == pytest.approx(4 * stats.norm.cdf(-6.0))
    ff, _ = probabilities({"components": [zscores([5.0], 6.0, 100)]})
    assert ff == pytest.approx(stats.norm.cdf(-1.0) + stats.norm.cdf(-11.0))


# -- the budget -------------------------------------------------------------------------------------------


def record(name: str, se: float, estimate: float = -0.48, R: int = 100, expected: str = PASS) -> dict:
    c = band(Relation.TIGHT, estimate, estimate - Z * se, estimate + Z * se, -0.5, 0.05, se, R)
    model = {"components": [c]}
    ff, fp = probabilities(model)
    return {"name": name, "expected": expected, "false_fail": ff, "false_pass": fp, "error_model": model}


def test_budget_flags_a_check_over_its_share_with_the_replicas_it_needs() -> None:
    good, bad, worse = record("good", 0.001), record("bad", 0.006), record("worse", 0.012)
    neg = record("negative control", 0.005, estimate=-0.8, expected=FAIL)
    b = budget([good, bad, worse, neg], target=1e-3)
    assert b["pass_expected"] == 3 and b["share"] == pytest.approx(1e-3 / 3)
    assert b["total_false_fail"] == pytest.approx(good["false_fail"] + bad["false_fail"] + worse["false_fail"])
    over = {o["name"]: o for o in b["over"]}
    assert set(over) == {"bad", "worse"}
    assert b["negative_controls"] == [{"name": "negative control", "false_pass": pytest.approx(neg["false_pass"])}]
    for o in over.values():  # R_needed: the fewest replicas (to the bisection's 0.1 %) that bring the figure to the share
        rec = next(r for r in (bad, worse) if r["name"] == o["name"])
        assert probabilities(rec["error_model"], o["R_needed"] / o["R"])[0] <= o["share"]
        assert probabilities(rec["error_model"], (o["R_needed"] - 2) / o["R"])[0] > o["share"]
    # se ~ 1/sqrt(R): twice the standard error needs four times the replicas
    assert over["worse"]["R_needed"] / over["bad"]["R_needed"] == pytest.approx(4.0, rel=0.01)
    k1 = needed_factor(bad["error_model"], 1e-4)
    assert k1 is not None and probabilities(bad["error_model"], k1)[0] == pytest.approx(1e-4, rel=0.01)
    outside = record("outside the band", 0.005, estimate=-0.56)
    assert budget([outside])["over"][0]["R_needed"] is None  # more replicas cannot help a value outside the band


# -- evidence: measured against claimed, the reason --------------------------------------------------------


def theorem(bound: sp.Expr, checks: list, runs: dict[str, list[Run]]) -> tuple[Theorem, dict]:
    sweeps = [Sweep(name, lambda *a: None, [r.point for r in rs], R=1) for name, rs in runs.items()]
    thm = Theorem("t", "s", "st", [], bound, "m", sweeps, checks, steps={})
    thm.id = "test"
    return thm, runs


def slope_runs(p: float, noise: float, R: int = 60, seed: int = 0) -> dict[str, list[Run]]:
    rng = np.random.default_rng(seed)
    t = log_checkpoints(10_000)
    X = t.astype(float) ** p * np.exp(noise * rng.standard_normal((R, t.size)))
    return {"s": [Run({"a": 1}, Trace(t, {"avg_subopt": X}, np.full(R, -1), {"R0": 1.0}))]}


def test_inconclusive_exponent_names_the_band_edge() -> None:
    check = Exponent("e", "s", relation="tight", tol=0.05)
    thm, runs = theorem(R0 / sp.sqrt(T), [check], slope_runs(-0.45, 0.5))
    out = check.evaluate(thm, runs)
    assert out.observed == INCONCLUSIVE, out.summary
    assert "straddles the band edge -0.450" in out.reason and "band -0.500 +- 0.050" in out.reason, out.reason
    rec = out.record()
    assert rec["predicted"] == -0.5 and rec["claim"] == "R0/sqrt(T)"
    assert 0.05 < rec["false_fail"] <= 1 and rec["power"] > 0.05


def test_pass_and_fail_have_no_reason_and_carry_their_figures() -> None:
    check = Exponent("e", "s", relation="tight", tol=0.1)
    thm, runs = theorem(R0 / sp.sqrt(T), [check], slope_runs(-0.5, 0.05))
    rec = check.evaluate(thm, runs).record()
    assert rec["observed"] == PASS and rec["reason"] is None
    assert 0 <= rec["false_fail"] < 1e-6 and 0.1 < rec["power"] < 0.15 and rec["power_relative"] is False


def test_window_too_short_says_why() -> None:
    check = Exponent("e", "s", relation="tight", regime="small")
    runs = slope_runs(-1.0, 0.05)
    runs["s"][0].trace.constants.update(gamma=1.0, sigma=1.0)
    thm, runs = theorem(R0 / (gamma * T) + gamma * sigma**2, [check], runs)
    out = check.evaluate(thm, runs)
    assert out.observed == INCONCLUSIVE and "local slope" in out.reason and "window holds" in out.reason, out.reason
    assert out.false_fail == 1.0  # certainly not PASS


def test_no_finite_prediction_is_null_with_a_reason() -> None:
    rng = np.random.default_rng(3)
    runs = []
    for g in (0.1, 0.05, 0.025):
        for om in (3.0, 0.0):
            X = (1 + om) * g * (1 + 0.1 * rng.standard_normal((200, 1)))
            runs.append(Run({"g": g, "om": om}, Trace(np.array([10]), {"tail_subopt": X}, np.full(200, -1),
                                                        {"R0": 1.0, "gamma": g, "sigma": 1.0, "omega": om})))
    # the bound's omega-term grows like T^omega: the ratio at omega = 3 over omega = 0 diverges as T -> infinity
    b = R0 / (gamma * T) + gamma * sigma**2 * T**omega
    check = Ratio("r", "s", relation="tight", numerator=lambda p: p["om"] > 0, denominator=lambda p: p["om"] == 0, pair_by="g")
    thm, runs = theorem(b, [check], {"s": runs})
    out = check.evaluate(thm, runs)
    rec = out.record()
    assert rec["observed"] == INCONCLUSIVE and rec["predicted"] is None and rec["ratio"] is None
    assert rec["reason"].startswith("no finite prediction") and "diverges" in rec["reason"], rec["reason"]
    assert "e+" not in out.summary  # never a huge number standing in for the prediction
    assert all(s["style"] != "bound" for s in out.plot.series)
    exp_check = Exponent("e", "s", relation="tight")
    thm, runs = theorem(R0 * sp.exp(-T), [exp_check], slope_runs(-1.0, 0.05))
    rec = exp_check.evaluate(thm, runs).record()
    assert rec["predicted"] is None and rec["reason"].startswith("no finite prediction"), rec["reason"]
