"""Optimal model averaging for one user's mean (THEOREMS.md T5.1).

Source: Grimberg, Hartley, Karimireddy, Jaggi, "Optimal model averaging: towards personalized collaborative
learning", FL workshop @ ICML 2021, arXiv 2110.12946 (abstract read); closed forms [DERIVED, X, NUM] in the catalog.

Setting (ratecheck.algorithms.averaging): user 0 wants mu_0; its local estimate theta_0 is the mean of n0 samples
of N(mu_0, sigma0^2) (variance s0^2 = sigma0^2/n0), a collaborator's estimate theta_1 ~ N(mu_0 + Delta, s1^2),
independent of theta_0. The averaged model theta(lam) = (1 - lam) theta_0 + lam theta_1 has [DERIVED]
    MSE(lam) = (1 - lam)^2 s0^2 + lam^2 (s1^2 + Delta^2),     lam* = s0^2/(s0^2 + s1^2 + Delta^2),
    MSE(lam*) = s0^2 (s1^2 + Delta^2)/(s0^2 + s1^2 + Delta^2),
    MSE(0) - MSE(lam) = (s0^2 + s1^2 + Delta^2) lam (2 lam* - lam):  averaging helps iff 0 < lam < 2 lam*.

What is checked (every exact claim: the replica mean within 6 standard errors of the formula):
  (P) MSE(lam) on Monte Carlo replicas at lam in {0, lam*/2, lam*, 2 lam*, 1} on three instances, among them the
      catalog's NUM (s0 = 1, s1 = 0.5, Delta = 0.7: lam* = 0.575, MSE 1.000, 0.569, 0.425, 1.000, 0.740); lam > 1
      (2 lam* = 1.15 there) is the same affine estimator past theta_1, as the catalog evaluates it.
  (S) MSE(lam*) equals its closed form; the empirical argmin equals lam*: each replica is a batch of m draws whose
      empirical MSE is exactly a parabola in lam, minimised at sum u (u - v)/sum (u - v)^2 (u, v the errors of
      theta_0, theta_1); its mean over batches (bias O(1/m): at most ~4e-5 at m = 4000, 0.1 standard error) must contain lam*.
  (B) the benefit MSE(0) - MSE(lam), measured on the same replicas (paired), equals the parabola with roots 0 and
      2 lam*; it is positive at lam*/2 and lam*; the negative control "lam = 2.5 lam* helps" must FAIL.
  (E) lam* -> 1 [DERIVED from the closed form]: 1 - lam* = (s1^2 + Delta^2)/(s0^2 + s1^2 + Delta^2) ~ Delta^2/s0^2 as
      Delta -> 0 with s1 = 0 (slope 2 in Delta), and ~ n0 (s1^2 + Delta^2)/sigma0^2 as n0 shrinks (slope 1 in n0):
      measured on 1 - (the empirical argmin of each batch), two-sided.
  (O) observation: the plug-in weight lam_hat = s0_hat^2/(s0_hat^2 + s1_hat^2 + Delta_hat^2) when user 0 and the
      collaborator have m samples each (s_hat^2 = sample variance/m, Delta_hat the difference of the means): how
      often it lands beyond 2 lam* (harmful), and its MSE against training alone, as functions of m.
Not checked: the paper's general statement ("arbitrary scalar mean estimation problems under minimal assumptions"),
of which only the abstract was read; the checks cover the catalog's independent Gaussian case.
"""

from __future__ import annotations

import math

import sympy as sp

from ratecheck.algorithms.averaging import (
    batch_argmin,
    estimates,
    one_step_trace,
    plug_in_weight,
    weighted_average,
)
from ratecheck.checks import FAIL, Exponent, MeanVersusBound, Observation, Plot
from ratecheck.sweep import Sweep, grid, points
from ratecheck.symbols import Meaning
from ratecheck.theorem import Theorem
from ratecheck.trace import Trace

SYMBOLS = [Meaning("s0", "standard deviation of the local estimate theta_0 (s0^2 = sigma0^2/n0)"),
           Meaning("s1", "standard deviation of the collaborator's estimate theta_1", neutral=0),
           Meaning("Delta", "bias mu_1 - mu_0 of the collaborator's estimate", neutral=0),
           Meaning("lam", "averaging weight of the collaborator's model", neutral=0),
           Meaning("sigma0", "standard deviation of user 0's samples"), Meaning("n0", "user 0's sample size")]
s0, s1, Delta, lam, sigma0, n0 = (m_.symbol for m_ in SYMBOLS)

MSE = (1 - lam) ** 2 * s0**2 + lam**2 * (s1**2 + Delta**2)
LAM_STAR = s0**2 / (s0**2 + s1**2 + Delta**2)
MSE_STAR = s0**2 * (s1**2 + Delta**2) / (s0**2 + s1**2 + Delta**2)
BENEFIT = (s0**2 + s1**2 + Delta**2) * lam * (2 * LAM_STAR - lam)
ONE_MINUS_LAM_STAR = sp.cancel(1 - LAM_STAR)  # (s1^2 + Delta^2)/(s0^2 + s1^2 + Delta^2), free of cancellation at small Delta
ONE_MINUS_LAM_STAR_N0 = sp.cancel(ONE_MINUS_LAM_STAR.subs(s0, sigma0 / sp.sqrt(n0)))


def _instance(ctx, point) -> dict:
    """The point's (sigma0, n0, s1, Delta), with s0 = sigma0/sqrt(n0), recorded as constants."""
    c = {"sigma0": point["sigma0"], "n0": point["n0"], "s1": point["s1"], "Delta": point["Delta"]}
    ctx.record(**c, s0=c["sigma0"] / math.sqrt(c["n0"]))
    return c


def run_parabola(ctx, point, R, rng) -> Trace:
    """R replicas of (theta_0, theta_1); lam = frac * lam* (the declared rule) or the point's lam. Records the squared
    error at lam, the paired benefit (theta_0 - mu_0)^2 - (theta(lam) - mu_0)^2 (mu_0 = 0)."""
    c = _instance(ctx, point)
    theta0, theta1 = estimates(R, rng, **c, rho=point.get("rho", 0.0))
    lam_ = point["lam"] if "lam" in point else point["frac"] * ctx.step("opt")
    ctx.record(lam=lam_)
    err = weighted_average(theta0, theta1, lam_, extrapolate=True)  # lam > 1: the affine estimator past theta_1 (2 lam* = 1.15 in NUM)
    return one_step_trace({"sq_err": err**2, "benefit": theta0**2 - err**2})


def run_argmin(ctx, point, R, rng) -> Trace:
    """R batches of m replicas each: the minimiser of each batch's empirical MSE parabola (and 1 minus it)."""
    c = _instance(ctx, point)
    theta0, theta1 = estimates(R * point["m"], rng, **c)
    lam_hat = batch_argmin(theta0.reshape(R, -1), theta1.reshape(R, -1))
    return one_step_trace({"argmin": lam_hat, "one_minus_argmin": 1.0 - lam_hat})


def run_plug_in(ctx, point, R, rng) -> Trace:
    """User 0 and the collaborator have m samples each (sigma0 = sigma1 = 1): theta_i their means, lam_hat the plug-in
    weight; records whether lam_hat > 2 lam* and the squared errors of plug-in, local and oracle (lam*) averaging."""
    m = point["m"]
    x0 = rng.standard_normal((R, m))
    x1 = point["Delta"] + rng.standard_normal((R, m))
    ctx.record(m=m, s0=1 / math.sqrt(m), s1=1 / math.sqrt(m), Delta=point["Delta"])
    lam_star = ctx.step("opt")
    theta0, theta1 = x0.mean(axis=1), x1.mean(axis=1)
    lam_hat = plug_in_weight(x0, x1)
    return one_step_trace({"harmful": lam_hat > 2 * lam_star, "lam_hat": lam_hat, "sq_err_plug_in": weighted_average(theta0, theta1, lam_hat) ** 2,
                           "sq_err_local": theta0**2, "sq_err_oracle": weighted_average(theta0, theta1, lam_star, extrapolate=True) ** 2})  # a mutated rule may leave [0, 1]


def observe_plug_in(runs) -> tuple[str, dict, Plot]:
    """P(lam_hat > 2 lam*) with its 99 % normal interval, and the MSE of plug-in and oracle averaging over local, per m."""
    rows = []
    for r in sorted(runs, key=lambda r: r.point["m"]):
        v, R = r.trace.values, r.trace.R
        p = float(v["harmful"].mean())
        half = 2.576 * math.sqrt(max(p * (1 - p), 1.0 / R) / R)
        mse = {k: float(v[f"sq_err_{k}"].mean()) for k in ("plug_in", "local", "oracle")}
        rows.append({"m": r.point["m"], "lam_star": _lam_star_at(r.trace.constants), "mean_lam_hat": float(v["lam_hat"].mean()),
                     "p_harmful": p, "interval": [p - half, p + half], "mse_plug_in_over_local": mse["plug_in"] / mse["local"],
                     "mse_oracle_over_local": mse["oracle"] / mse["local"], "R": R})
    summary = "; ".join(f"m={x['m']}: P(lam_hat > 2 lam*) = {x['p_harmful']:.3f} [{x['interval'][0]:.3f}, {x['interval'][1]:.3f}], "
                        f"MSE plug-in/local {x['mse_plug_in_over_local']:.3f} (oracle {x['mse_oracle_over_local']:.3f})" for x in rows)
    plot = Plot("(O) plug-in weight from m samples each", "m", "fraction / MSE ratio", logy=False)
    ms = [x["m"] for x in rows]
    plot.add("P(lam_hat > 2 lam*) (harmful)", ms, [x["p_harmful"] for x in rows], "data", [x["interval"][0] for x in rows],
             [x["interval"][1] for x in rows])
    plot.add("MSE(lam_hat)/MSE(0)", ms, [x["mse_plug_in_over_local"] for x in rows], "data")
    plot.add("MSE(lam*)/MSE(0)", ms, [x["mse_oracle_over_local"] for x in rows], "bound")
    return summary, {"rows": rows}, plot


def _lam_star_at(constants) -> float:
    """lam* at a run's recorded s0, s1, Delta."""
    return float(constants["s0"] ** 2 / (constants["s0"] ** 2 + constants["s1"] ** 2 + constants["Delta"] ** 2))


def _correlated(thm: Theorem) -> Theorem:
    """A violated assumption: theta_0 and theta_1 correlated (rho = 0.6), declared independent."""
    return thm.map_sweep("parabola", lambda p: {**p, "rho": 0.6})


INSTANCES = points({"sigma0": 2.0, "n0": 4, "s1": 0.5, "Delta": 0.7},  # the catalog's NUM: s0 = 1, lam* = 0.575
                   {"sigma0": 3.0, "n0": 9, "s1": 1.0, "Delta": 1.5},  # large bias: lam* = 0.235, 2.5 lam* = 0.59 < 1
                   {"sigma0": 2.0, "n0": 1, "s1": 0.5, "Delta": 0.5})  # one local sample: s0 = 2, lam* = 0.889
PARABOLA = (INSTANCES * (grid(frac=(0.0, 0.5, 1.0, 2.0)) + points({"lam": 1.0}))
            + INSTANCES[1:2] * points({"frac": 2.5}))
ARGMIN = INSTANCES.set(m=4000)
BIAS_LIMIT = grid(Delta=(0.04, 0.055, 0.075, 0.1, 0.14)).set(sigma0=1.0, n0=1, s1=0.0, m=40000)  # 2 Delta^2/(1 + Delta^2) <= 0.04
SAMPLE_LIMIT = grid(n0=(1, 2, 4, 8, 16)).set(sigma0=4.0, s1=0.12, Delta=0.16, m=4000)  # n0 (s1^2 + Delta^2)/sigma0^2 <= 0.04
PLUG_IN = grid(m=(2, 4, 8, 16, 32, 64)).set(Delta=0.5)

frac_in = lambda *fs: (lambda p: p.get("frac") in fs)

THEOREM = Theorem(
    title="Optimal model averaging: MSE(lam), the optimal weight lam* and when collaborating helps",
    source="Grimberg, Hartley, Karimireddy, Jaggi, Optimal model averaging, FL @ ICML 2021, arXiv 2110.12946 (abstract); "
           "THEOREMS.md T5.1 closed forms [DERIVED, X, NUM]",
    statement="theta(lam) = (1 - lam) theta_0 + lam theta_1 with theta_0 ~ (mu_0, s0^2), theta_1 ~ (mu_0 + Delta, s1^2) independent: "
              "MSE(lam) = (1 - lam)^2 s0^2 + lam^2 (s1^2 + Delta^2), minimised at lam* = s0^2/(s0^2 + s1^2 + Delta^2) with "
              "MSE(lam*) = s0^2 (s1^2 + Delta^2)/(s0^2 + s1^2 + Delta^2); MSE(0) - MSE(lam) = (s0^2 + s1^2 + Delta^2) lam (2 lam* - lam): "
              "averaging helps iff 0 < lam < 2 lam*.",
    assumptions=["theta_0 = mean of n0 samples of N(mu_0, sigma0^2), so s0^2 = sigma0^2/n0 > 0",
                 "theta_1 ~ N(mu_0 + Delta, s1^2), independent of theta_0 (the catalog's independent case)",
                 "lam a fixed weight (not estimated from the same data); lam* needs the true s0, s1, Delta"],
    bound=MSE,
    measure="sq_err = (theta(lam) - mu_0)^2 per replica; benefit = (theta_0 - mu_0)^2 - (theta(lam) - mu_0)^2 (paired); argmin = "
            "minimiser of a batch's empirical MSE",
    steps={"opt": LAM_STAR},
    sweeps=[
        Sweep("parabola", run_parabola, PARABOLA, R=100_000, quick_R=50_000),
        Sweep("argmin", run_argmin, ARGMIN, R=200),
        Sweep("bias-limit", run_argmin, BIAS_LIMIT, R=100, quick=lambda p: p["Delta"] in (0.04, 0.075, 0.14)),
        Sweep("sample-limit", run_argmin, SAMPLE_LIMIT, R=100),
        Sweep("plug-in", run_plug_in, PLUG_IN, R=20_000),
    ],
    checks=[
        MeanVersusBound("(P) MSE(lam) = (1 - lam)^2 s0^2 + lam^2 (s1^2 + Delta^2) at lam in {0, lam*/2, lam*, 2 lam*, 1}", "parabola",
                        measure="sq_err", relation="exact", bound=MSE, where=lambda p: p.get("frac") != 2.5,
                        description="[DERIVED, NUM] three instances (NUM: s0 = 1, s1 = 0.5, Delta = 0.7); the replica mean within 6 se"),
        MeanVersusBound("(S) MSE(lam*) = s0^2 (s1^2 + Delta^2)/(s0^2 + s1^2 + Delta^2)", "parabola", measure="sq_err", relation="exact",
                        bound=MSE_STAR, where=frac_in(1.0), description="at lam = lam* (the declared rule 'opt'), three instances"),
        MeanVersusBound("(S) the empirical argmin of the MSE equals lam* = s0^2/(s0^2 + s1^2 + Delta^2)", "argmin", measure="argmin",
                        relation="exact", bound=LAM_STAR,
                        description="per batch of m = 4000 replicas the exact minimiser of its empirical MSE parabola; 200 batches: "
                                    "the mean +- 6 se must contain lam*"),
        MeanVersusBound("(B) benefit MSE(0) - MSE(lam) = (s0^2 + s1^2 + Delta^2) lam (2 lam* - lam), roots 0 and 2 lam*", "parabola",
                        measure="benefit", relation="exact", bound=BENEFIT, where=frac_in(0.5, 1.0, 2.0),
                        description="paired on the same replicas, at lam*/2, lam* (the vertex) and 2 lam* (the root)"),
        MeanVersusBound("(B) averaging helps for 0 < lam < 2 lam*: MSE(0) - MSE(lam) >= 0 at lam*/2 and lam*", "parabola",
                        measure="benefit", relation="lower", bound=sp.S.Zero, where=frac_in(0.5, 1.0)),
        MeanVersusBound("(N) claim: averaging with lam = 2.5 lam* helps (MSE(lam) <= MSE(0))", "parabola", measure="benefit",
                        relation="lower", bound=sp.S.Zero, where=frac_in(2.5), expected=FAIL,
                        description="negative control (catalog T5.1 (f)): lam > 2 lam* is harmful; large bias, lam = 0.59 (a genuine average)"),
        Exponent("(E) lam* -> 1 as Delta -> 0: 1 - lam* ~ Delta^2 (s1 = 0)", "bias-limit", measure="one_minus_argmin", mode="final",
                 variable="Delta", regime="small", relation="tight", bound=ONE_MINUS_LAM_STAR,
                 description="[DERIVED] measured on 1 - the empirical argmin (100 batches of 40000); Delta in [0.04, 0.14], s0 = 1"),
        Exponent("(E) lam* -> 1 as n0 shrinks: 1 - lam* ~ n0", "sample-limit", measure="one_minus_argmin", mode="final",
                 variable="n0", regime="small", relation="tight", bound=ONE_MINUS_LAM_STAR_N0,
                 description="[DERIVED] 1 - lam* = n0 (s1^2 + Delta^2)/(sigma0^2 + n0 (s1^2 + Delta^2)); sigma0 = 4, n0 = 1..16"),
        Observation("(O) plug-in lam_hat from m samples each: how often lam_hat > 2 lam* (harmful)", "plug-in", observe=observe_plug_in,
                    description="sigma0 = sigma1 = 1, Delta = 0.5, m samples on each side (lam* = 1/(2 + m Delta^2)); not asserted"),
    ],
    symbols=SYMBOLS,
    stream="optimal-averaging",
    mutants={"correlated-estimates": _correlated},
    notes=["The closed forms are the catalog's [DERIVED] independent case; the paper's general statement (abstract) is not checked.",
           "lam > 1 (2 lam* in NUM) is measured with the same affine estimator; the negative control uses a weight inside [0, 1]."],
)
