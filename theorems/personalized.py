"""Personalized collaborative learning: weighted gradient averaging (WGA) and bias correction (BC) (THEOREMS.md T5.2).

Sources: Chayti, Karimireddy, Stich, Flammarion, Jaggi, "Linear speedup in personalized collaborative learning",
arXiv 2111.05968 (abstract and introduction read) [SEED-2 slide: the algorithms and the BC rate]; WGA's limit and
floor [DERIVED, X]. The assumptions (L-smooth f_i, noise sigma_i = sigma_0 = sigma, bias ||grad f_i - grad f_0||
bounded by zeta, Hessian similarity delta_H) and the EMA's scaling and sampling are UNVERIFIED: exact identities
are tested exactly, the BC rate only as exponents (its constant is not claimed), and every check says which.

Algorithms (ratecheck.algorithms.personalized), user 0 and N collaborators, alpha_i = 1/(N + 1) unless said:
    WGA: x <- x - gamma sum_i alpha_i g_i(x);
    BC:  c_i <- (1 - beta) c_i + beta alpha_i (g_0^(i)(x) - g_i(x)), x <- x - gamma sum_i (alpha_i g_i(x) + c_i),
         fresh user-0 samples g_0^(i) per collaborator, c_0 = 0, c_i start at 0, beta = 0.2.
Tasks (problems.personalized.PersonalizedTasks): f_i = 1/2 u^T (H + D_i) u + w_i^T u + c sum sin^2(u), u = x - x*,
D_0 = 0, w_0 = 0 (user 0's f_0 is G1/G4 with f_0* = 0, F0 = f_0(x0) exact), ||w_i|| = zeta, ||D_i|| = delta_H, H
log-spaced in [0.5, 1], d = 10, collaborators nested in N (user 0 the same for every N). Three families: "shift"
(G3, c = 0, shared H: delta_H = 0), "hessian" (G3, c = 0, delta_H = 0.25 <= mu: convex tasks) and "g4" (c = 0.5,
nonconvex, L = 2, delta_H = 0; start with R0 = 1.44 d, where sin^2 is concave).

What is checked, and how each regime makes the tested term dominate:
  (X) WGA with sigma = 0 is gradient descent on f_alpha = sum_i alpha_i f_i [DERIVED]: it converges to the stationary
      point x_alpha = x* - (H + sum alpha_i D_i)^{-1} sum alpha_i w_i (c = 0), which with shared H is the catalog's
      sum_i alpha_i x*_i, x*_i = x* - H^{-1} w_i; vector to rounding. Its floor ||grad f_0(x_alpha)||^2 equals the
      formula ||H (x_alpha - x*)||^2 (c = 0) = ||H sum_{i>=1} alpha_i (x*_i - x*_0)||^2 with shared H, and
      ||sum_i alpha_i w_i||^2 on G4 with shared H (any stationary point of f_alpha), to rounding (relative 1e-9).
      Uniform and non-uniform alpha (so that wrong weights are caught), step 1/(2 L_max), T = 400 (contraction
      below 1e-17).
  (T) BC, slope -1/2 in T [SEED-2, exponent only]: N = 3, zeta = 1, sigma = 8, tuned gamma = min(1/(2L),
      sqrt(N1 F0/(L sigma^2 T))), N1 = N + 1, T = 500..4000; measure (1/T) sum_t ||grad f_0(x_t)||^2. Both terms of
      SGD's analysis, F0/(gamma T) and L gamma sigma^2/N1, are then ~ T^{-1/2}; the cap 1/(2L) is never active (gamma
      <= 0.036 in every sweep) and the EMA's start (c_i = 0) adds at most ||sum alpha_i w_i||^2/(2 beta T) < 0.3 % of the
      error; two-sided, on all three families.
  (N) BC, slope -1/2 in N1 = N + 1 at T = 2000, N in {0, 1, 3, 7, 15} (fit against N1, the bound's own variable):
      the same step rule (gamma ~ sqrt(N1)), so both terms ~ N1^{-1/2}; two-sided, on g4 and hessian. --quick: T <= 2000
      for the T-slopes, T = 1000 and N in {0, 3, 15} for the N-slopes.
  (Z) zero bias (zeta = 0, delta_H = 0): BC matches WGA: the ratio of their errors is the ratio of the bound at equal
      constants, 1 (+-10 %), at N = 3 and 15 (their directions have the same noise at low frequency [DERIVED]).
  Negative controls (must FAIL):
  (W) WGA with zeta = 4 (its floor ||sum alpha_i w_i||^2 = 1.80 dominates the statistical term, BC's error 0.3 to
      0.8 here) "decays as T^{-1/2}": its error is nearly flat in T (measured slope -0.13).
  (S) BC with beta = 1 and one user-0 sample shared by every c_i: the direction is g_0(x) exactly (checked to
      rounding, dir_gap), so "linear speedup, slope -1/2 in N1" FAILs: measured +0.1 (the catalog's "slope 0 in N" at a
      fixed step; here the step rule still grows like sqrt(N1), so the noise term grows a little).
  (O) observation: one user-0 sample per step shared by every c_i (the step's own g_0, beta = 0.01 and 0.002): the
      slope in N + 1 when only the EMA's averaging over time reduces user 0's noise (a sampling the catalog leaves open).
  (O) observation: EMA lag, large delta_H = 1.5 (g4 tasks) with beta = 0.001 against beta = 0.2: the error of c and
      of the run (catalog (f)(iii), observational).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from problems.personalized import PersonalizedTasks
from ratecheck.algorithms.personalized import bias_correction, uniform_weights, wga
from ratecheck.checks import FAIL, Exponent, MeanVersusBound, Observation, Plot, Ratio, WithinRounding
from ratecheck.sweep import Sweep, grid
from ratecheck.symbols import F0, L, Meaning, T, sigma
from ratecheck.theorem import Theorem
from ratecheck.trace import Trace

SYMBOLS = [Meaning("N1", "N + 1: user 0 and its N collaborators", neutral=1),
           Meaning("L_max", "largest smoothness constant of the tasks f_i"),
           Meaning("beta", "EMA weight of the bias estimates c_i"),
           Meaning("floor_wga", "||grad f_0(x_alpha)||^2 at WGA's limit x_alpha (formula in the docstring)")]
N1, L_max, beta, floor_wga = (s_.symbol for s_ in SYMBOLS)

BC_RATE = sp.sqrt(L * F0 * sigma**2 / (N1 * T))  # [SEED-2] O-form: E||grad f_0(x_out)||^2 = O(sqrt(L F0 sigma_0^2/((N + 1) T)))
STEP_TUNED = sp.Min(1 / (2 * L), sp.sqrt(N1 * F0 / (L * sigma**2 * T)))  # SGD's tuned step with variance sigma^2/N1
STEP_MAX = 1 / (2 * L_max)  # gradient descent on f_alpha (WGA, sigma = 0)

FAMILIES = {"shift": {"c": 0.0, "delta_H": 0.0}, "hessian": {"c": 0.0, "delta_H": 0.25}, "g4": {"c": 0.5, "delta_H": 0.0}}
D = 10


def tasks(ctx, point) -> PersonalizedTasks:
    fam = FAMILIES[point["family"]]
    f = PersonalizedTasks.g3(point["N"], D, mu=0.5, L=1.0, zeta=point["zeta"], delta_H=point.get("delta_H", fam["delta_H"]),
                             c=fam["c"], R0=1.44 * D, noise=point.get("sigma", 8.0), seed=0)
    return ctx.problem(f)


def weights(point) -> np.ndarray:
    """alpha: uniform, or decreasing alpha_i proportional to (N + 1 - i) ("decreasing")."""
    if point.get("alpha") == "decreasing":
        a = np.arange(point["N"] + 1, 0, -1, dtype=float)
        return a / a.sum()
    return uniform_weights(point["N"])


def wga_limit(f: PersonalizedTasks, alpha: np.ndarray) -> np.ndarray:
    """x_alpha = x* - (H + sum_i alpha_i D_i)^{-1} sum_i alpha_i w_i: the stationary point of f_alpha (c = 0)."""
    w_alpha = alpha @ f.w
    return f.x_star - np.linalg.solve(f.H + np.einsum("i,ijk->jk", alpha, f.D), w_alpha)


def wga_floor(f: PersonalizedTasks, alpha: np.ndarray) -> float:
    """||grad f_0(x_alpha)||^2: ||H (x_alpha - x*)||^2 for c = 0; ||sum_i alpha_i w_i||^2 for shared H (D_i = 0, any c)."""
    if f.c == 0:
        return float(np.sum(((wga_limit(f, alpha) - f.x_star) @ f.H) ** 2))
    assert not f.has_D, "the G4 floor formula needs a shared H"
    return float(np.sum((alpha @ f.w) ** 2))


def run_limit(ctx, point, R, rng) -> Trace:
    """WGA with sigma = 0 (R = 1) at the declared step 1/(2 L_max): records the formula's floor and x_alpha's gap."""
    f = tasks(ctx, point)
    alpha = weights(point)
    ctx.record(floor_wga=wga_floor(f, alpha))
    x_alpha = wga_limit(f, alpha) if f.c == 0 else None
    tr = wga(f, alpha, ctx.step("max"), point["T"], R, rng, checkpoints=np.array([point["T"]]), reference=x_alpha)
    if x_alpha is not None:
        tr.values["fp_gap"] = np.sqrt(tr.values["ref_dist2"] / ctx.constants["R0"])  # ||x_T - x_alpha|| / ||x_0 - x*||
    return tr


def run_tuned(ctx, point, R, rng) -> Trace:
    """WGA or BC at the tuned step of horizon T; BC with the point's beta and user-0 sampling."""
    f = tasks(ctx, point)
    ctx.record(T=point["T"])
    gamma_ = ctx.step("tuned")
    if point["method"] == "wga":
        return wga(f, weights(point), gamma_, point["T"], R, rng)
    return bias_correction(f, weights(point), gamma_, point["beta"], point["T"], R, rng,
                           shared_user_sample=point.get("shared", False), monitor_c=point.get("monitor_c", False))


def observe_lag(runs) -> tuple[str, dict, Plot]:
    """Final error and EMA error of BC at each beta (large delta_H)."""
    rows = []
    plot = Plot("(O) EMA lag: large delta_H, beta small vs moderate", "t", "mean ||grad f_0(x_t)||^2")
    for r in sorted(runs, key=lambda r: r.point["beta"]):
        v = r.trace.values
        rows.append({"beta": r.point["beta"], "avg_gnorm2": float(v["avg_gnorm2"][:, -1].mean()),
                     "avg_c_err2": float(v["avg_c_err2"][:, -1].mean()), "delta_H": r.trace.constants["delta_H"]})
        plot.add(f"beta = {r.point['beta']}", r.trace.t, v["gnorm2"].mean(axis=0), "data")
    summary = "; ".join(f"beta = {x['beta']}: avg ||grad f_0||^2 = {x['avg_gnorm2']:.4g}, avg ||c - target||^2 = {x['avg_c_err2']:.4g}"
                        for x in rows)
    return summary, {"rows": rows}, plot


def observe_time_averaging(runs) -> tuple[str, dict, Plot]:
    """Per beta: the mean error at each N + 1 and its least-squares log-log slope in N + 1 (reported, not asserted)."""
    rows = []
    plot = Plot("(O) one shared user-0 sample per step, small beta", "N1", "mean avg_gnorm2")
    for b in sorted({r.point["beta"] for r in runs}):
        sel = sorted((r for r in runs if r.point["beta"] == b), key=lambda r: r.point["N"])
        n1 = np.array([r.point["N"] + 1.0 for r in sel])
        y = np.array([float(r.trace.values["avg_gnorm2"][:, -1].mean()) for r in sel])
        rows.append({"beta": b, "N1": n1.tolist(), "mean": y.tolist(), "slope": float(np.polyfit(np.log(n1), np.log(y), 1)[0])})
        plot.add(f"beta = {b}: slope {rows[-1]['slope']:.2f}", n1, y, "data")
    summary = "; ".join(f"beta = {x['beta']}: slope {x['slope']:.3f} in N + 1 (" + ", ".join(f"{v:.3g}" for v in x["mean"]) + ")"
                        for x in rows)
    return summary, {"rows": rows}, plot


def _slow_ema(thm: Theorem) -> Theorem:
    """A violated assumption (the bias must vary slowly compared with the EMA): the speedup runs on tasks with large
    Hessian dissimilarity (delta_H = 1.5, g4) and a slow EMA (beta = 0.001), declared as the theorem's setting."""
    return thm.map_sweep("bc-N", lambda p: {**p, "delta_H": 1.5, "beta": 0.001})


LIMIT = grid(family=("shift", "hessian", "g4"), N=(1, 3, 7), alpha=("uniform", "decreasing")).set(zeta=1.0, sigma=0.0, T=400)
BC_T = grid(family=("g4", "shift", "hessian"), T=(500, 1000, 2000, 4000)).set(method="bc", N=3, zeta=1.0, beta=0.2)
BC_N = grid(family=("g4", "hessian"), N=(0, 1, 3, 7, 15)).set(method="bc", T=2000, zeta=1.0, beta=0.2)
ZERO = (grid(method="bc", N=(3, 15), beta=0.2) + grid(method="wga", N=(3, 15))).set(family="shift", zeta=0.0, T=2000)
WGA_T = grid(T=(500, 1000, 2000, 4000)).set(method="wga", family="g4", N=3, zeta=4.0)
SHARED = grid(N=(0, 1, 3, 7, 15)).set(method="bc", family="g4", T=2000, zeta=1.0, beta=1.0, shared=True)
AVERAGING = grid(beta=(0.01, 0.002), N=(0, 1, 3, 7, 15)).set(method="bc", family="g4", T=2000, zeta=1.0, shared=True)
LAG = grid(beta=(0.001, 0.2)).set(method="bc", family="g4", N=3, T=2000, zeta=1.0, delta_H=1.5, monitor_c=True)
# --quick: T <= 2000 for the T-slopes, T = 1000 and N in {0, 3, 15} (N1 = 1, 4, 16) elsewhere
QUICK_N = lambda G: G.where(lambda p: p["N"] in (0, 3, 15)).set(T=1000)

THEOREM = Theorem(
    title="Personalized collaborative learning: WGA's biased limit and bias correction's linear speedup",
    source="Chayti, Karimireddy, Stich, Flammarion, Jaggi, Linear speedup in personalized collaborative learning, arXiv 2111.05968 "
           "[SEED-2; assumptions and EMA UNVERIFIED]; THEOREMS.md T5.2 (WGA limit and floor [DERIVED, X])",
    statement="WGA x <- x - gamma sum alpha_i g_i(x) is SGD on f_alpha = sum alpha_i f_i: it converges to x_alpha (= sum alpha_i x*_i "
              "for a shared H), leaving ||grad f_0(x_alpha)||^2 > 0 whatever T. BC with EMA-learned c_i: E||grad f_0(x_out)||^2 = "
              "O(sqrt(L F0 sigma_0^2/((N + 1) T))), the single-user SGD rate with the variance reduced (N + 1)-fold.",
    assumptions=["f_i L-smooth (f_0 possibly nonconvex), f_0 >= 0 = inf f_0, F0 = f_0(x0)",
                 "unbiased gradients, noise sigma_i = sigma_0 = sigma (additive Gaussian, G2), independent across tasks and steps",
                 "bias grad f_i - grad f_0 bounded (zeta at x*), slowly varying (Hessian similarity delta_H) [UNVERIFIED conditions]",
                 "BC: c_i learned by an EMA with weight beta, fresh user-0 samples per collaborator [scaling and sampling UNVERIFIED]"],
    bound=BC_RATE,
    measure="avg_gnorm2 = (1/T) sum_{t<T} ||grad f_0(x_t)||^2 (rates); gnorm2 at the last step and fp_gap = ||x_T - x_alpha|| / "
            "||x_0 - x*|| (WGA's limit, sigma = 0)",
    steps={"tuned": STEP_TUNED, "max": STEP_MAX},
    sweeps=[
        Sweep("limit", run_limit, LIMIT, R=1, quick=lambda p: p["N"] == 3),
        Sweep("bc-T", run_tuned, BC_T, R=48, quick=lambda p: p["T"] <= 2000, quick_R=32),
        Sweep("bc-N", run_tuned, BC_N, R=48, quick=QUICK_N(BC_N), quick_R=16),
        Sweep("zero-bias", run_tuned, ZERO, R=48, quick=ZERO.set(T=1000), quick_R=24),
        Sweep("wga-T", run_tuned, WGA_T, R=32, quick=lambda p: p["T"] <= 2000, quick_R=16),
        Sweep("shared", run_tuned, SHARED, R=48, quick=QUICK_N(SHARED), quick_R=16),
        Sweep("time-averaging", run_tuned, AVERAGING, R=24, quick=QUICK_N(AVERAGING), quick_R=16),
        Sweep("lag", run_tuned, LAG, R=16, quick=LAG.set(T=1000), quick_R=8),
    ],
    checks=[
        WithinRounding("(X) WGA (sigma = 0) converges to x_alpha = x* - (H + sum alpha_i D_i)^{-1} sum alpha_i w_i", "limit",
                       measure="fp_gap", tol=1e-9, where=lambda p: p["family"] != "g4",
                       description="[DERIVED] the stationary point of f_alpha; with shared H (shift) the catalog's sum alpha_i x*_i; "
                                   "||x_T - x_alpha|| / ||x_0 - x*|| at T = 400, uniform and decreasing alpha, N = 1, 3, 7"),
        MeanVersusBound("(X) WGA's floor ||grad f_0(x_T)||^2 equals ||grad f_0(x_alpha)||^2 (formula)", "limit", measure="gnorm2",
                        relation="exact", bound=floor_wga,
                        description="[DERIVED] c = 0: ||H (x_alpha - x*)||^2; shared H (shift, g4 nonconvex): ||sum alpha_i w_i||^2; "
                                    "deterministic (sigma = 0, R = 1): relative 1e-9"),
        *[Exponent(f"(T) BC: slope -1/2 in T ({fam})", "bc-T", measure="avg_gnorm2", mode="final", relation="tight",
                   where=lambda p, fam=fam: p["family"] == fam,
                   description="UNVERIFIED constants: exponent only; N = 3, zeta = 1, sigma = 8, beta = 0.2, tuned gamma(T)")
          for fam in ("g4", "shift", "hessian")],
        *[Exponent(f"(N) BC: slope -1/2 in N + 1 (linear speedup, {fam})", "bc-N", measure="avg_gnorm2", mode="final",
                   variable="N1", regime="small", relation="tight", where=lambda p, fam=fam: p["family"] == fam,
                   description="UNVERIFIED constants: exponent only; T = 2000, N = 0, 1, 3, 7, 15, fit against N1 = N + 1")
          for fam in ("g4", "hessian")],
        Ratio("(Z) zero bias: BC matches WGA (error ratio -> the bound's ratio, 1)", "zero-bias", measure="avg_gnorm2",
              relation="tight", tol=0.1, numerator=lambda p: p["method"] == "bc", denominator=lambda p: p["method"] == "wga",
              pair_by="N", description="zeta = 0, delta_H = 0 (identical tasks), same tuned gamma, T = 2000, N = 3 and 15"),
        Exponent("(W) claim: WGA with zeta = 4 decays as T^{-1/2}", "wga-T", measure="avg_gnorm2", mode="final", relation="tight",
                 expected=FAIL, description="negative control (catalog (f)(i)): its floor ||sum alpha_i w_i||^2 does not depend on T"),
        WithinRounding("(S) BC with beta = 1 and one shared user-0 sample: the direction is g_0(x)", "shared", measure="dir_gap",
                       tol=1e-9, where=lambda p: p["N"] > 0,
                       description="[DERIVED] sum_i alpha_i g_i + sum_{i>=1} alpha_i (g_0 - g_i) = g_0; ||d_t - g_0|| / ||g_0||, T = 2000"),
        Exponent("(S) claim: BC with beta = 1 and one shared user-0 sample has linear speedup (slope -1/2 in N + 1)", "shared",
                 measure="avg_gnorm2", mode="final", variable="N1", regime="small", relation="tight", expected=FAIL,
                 description="negative control (catalog (f)(ii)): the update collapses to g_0, slope 0 in N"),
        Observation("(O) one user-0 sample per step shared by every c_i, beta in {0.01, 0.002}: slope in N + 1", "time-averaging",
                    observe=observe_time_averaging,
                    description="observational [sampling UNVERIFIED]: with the step's own g_0 in every c_i only the EMA's averaging over "
                                "time (beta small against gamma/(N + 1)) reduces user 0's noise; g4, zeta = 1, T = 2000"),
        Observation("(O) EMA lag: delta_H = 1.5, beta = 0.001 vs 0.2 (g4, N = 3)", "lag", observe=observe_lag,
                    description="catalog (f)(iii), observational: c_i lags its moving target alpha_i (grad f_0 - grad f_i)(x)"),
    ],
    symbols=SYMBOLS,
    stream="personalized",
    mutants={"slow-ema-large-delta": _slow_ema,
             "step-x8-tuned": "equivalent: the tuned rule feeds only exponent claims (constants UNVERIFIED) and a ratio at equal steps; "
                              "8x the step (gamma L <= 0.6, stable) leaves every slope and the ratio as claimed; only the observation's "
                              "delta_H = 1.5 run diverges, and an observation claims nothing"},
    notes=[("The BC rate is the slide's O-form with the constants and conditions UNVERIFIED: it is checked as exponents in T and "
            "in N + 1 only (two-sided: SGD with variance sigma^2/(N + 1) attains both terms at the tuned step)."),
           "WGA's limit and floor are [DERIVED] identities (gradient descent on f_alpha) and are checked to rounding."],
)
