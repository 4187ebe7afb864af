"""Masked / partial training: alternating full and core steps (THEOREMS.md T6).

Source: Mohtashami, Jaggi, Stich, "Masked training of neural networks with partial gradients", AISTATS 2022
(arXiv 2106.08895; only the abstract was readable) and the lecture slide [SEED-2]. The exact schedule and the
definition of q are UNVERIFIED: only exponents are checked, and q is reported through the catalog's surrogate.

Assumptions: f L-smooth (nonconvex allowed), F0 = f(x0) - f_inf; E g = grad f, E||g - grad f||^2 <= sigma^2;
core f_core(x) = f(m . x) for a mask m (here the first k coordinates).
Algorithm (ratecheck.algorithms.partial_training): even t a full step x <- x - gamma g(x), odd t a core step
x <- x - gamma m . g_core(m . x).
Guarantee [SEED-2, O-form, constants and q UNVERIFIED]: (1/T) sum_{t<T} E||grad f(x_t)||^2 = O(sqrt(q^4 L F0 sigma^2/T)),
"and similarly for the core" (the same for ||grad f_core||^2), for a suitable step (an "exists a step size" statement,
catalog 0.2): here the tuned gamma = min(1/(2L), sqrt(F0/(L sigma^2 T))), recomputed for every T, which balances
F0/(gamma T) against L gamma sigma^2; every swept point lies below the cap 1/(2L), where the two terms sum to
2 sqrt(L F0 sigma^2/T).

Instances: problems.masked.MaskedBlock.g1, d = 10, core k = 5, both blocks log-spaced in [1/4, 1], R0 = 1, coupling a.
What is checked:
  (R) compatible core (a = 0, ||x*_n||^2 = 1): slope -1/2 in T for the parent and for the core objective (tight:
      on a quadratic with additive noise both terms of the step form are attained), +1 in sigma (+1/2 in sigma^2) at
      fixed T; the G4 nonconvex variant (c = 0.3 > lambda_min/2): slope at most -1/2 (upper).
  (Q) q-hat (catalog T6 (c) surrogate: q-hat^2 = sup_t ||grad f|| ||u|| / <grad f, u>, u = m . grad f(m . x)) and the
      norm ratio ||u||/||grad f|| along the run, and the exploratory "error at fixed T ~ q-hat^2": Observations
      (UNVERIFIED: the surrogate need not be the paper's q), nothing asserted; likewise the contrast of the fixed core
      with a random mask of the same size drawn at every step (ratecheck.algorithms.partial_training, resample=True).
  (N) negative control [DERIVED, T6 (f)]: incompatible core (a = 0.2, ||x*_n||^2 = 4): "decays like T^{-1/2}" must
      FAIL (alternating training keeps a floor).
  (F) the floor without noise [DERIVED here]: from an even step e = x - x* obeys e <- G F e + b, F = I - gamma H,
      G = I - gamma M H M, b = gamma M H (I - M) x*, so the 2-cycle limit is e_even = (I - G F)^{-1} b, e_odd = F e_even
      (problems.masked.MaskedBlock.alternating_floor): the tail mean of ||grad f||^2 equals it to rounding; b is linear
      in a and e_even = O(a), so the floor grows like a^2 at small a (slope +2 in a); a = 0 reaches x*.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from problems.masked import MaskedBlock
from ratecheck.algorithms.partial_training import partial_training
from ratecheck.checks import FAIL, Converges, Exponent, MeanVersusBound, Observation, Plot
from ratecheck.sweep import Sweep, grid
from ratecheck.symbols import F0, L, Meaning, T, sigma
from ratecheck.theorem import Theorem
from ratecheck.trace import Trace

SYMBOLS = [Meaning("q", "gradient alignment between parent and core (q >= 1; definition UNVERIFIED)", neutral=1),
           Meaning("a", "coupling between the core block and the rest of H (T6 (d))", neutral=0),
           Meaning("kappa_a", "lim_{a -> 0} floor/a^2 of alternating training without noise (problems/masked.py)"),
           Meaning("floor_exact", "the 2-cycle limit of ||grad f||^2 without noise (problems/masked.py, [DERIVED])")]
q, a, kappa_a, floor_exact = (s_.symbol for s_ in SYMBOLS)

BOUND = sp.sqrt(q**4 * L * F0 * sigma**2 / T)  # [SEED-2] O(sqrt(q^4 L F0 sigma^2 / T)), constants hidden
GAMMA_TUNED = sp.Min(1 / (2 * L), sp.sqrt(F0 / (L * sigma**2 * T)))
GAMMA_FLOOR = 1 / (2 * L)
FLOOR_A = a**2 * kappa_a  # [DERIVED here] leading order of the noiseless floor of an incompatible core
CONVERGED = 1e-20 * F0

K_CORE, DIM, MU = 5, 10, 0.25


def instance(point) -> MaskedBlock:
    """The point's MaskedBlock: coupling a, mass of x* outside the core, sigma, c (G4 variant when c > 0)."""
    return MaskedBlock.g1(point.get("k", K_CORE), DIM, point["a"], mu=MU, L=1.0, c=point.get("c", 0.0),
                          outside=point.get("outside", 1.0), R0=1.0, noise=point["sigma"], seed=0)


def run_tuned(ctx, point, R, rng) -> Trace:
    """Alternating partial training at the tuned step gamma(T), recomputed for every horizon."""
    f = ctx.problem(instance(point))
    ctx.record(q=1.0, T=point["T"])  # q at its neutral value: every claim below is an exponent, invariant to q
    gamma_ = ctx.step("tuned", T=point["T"])
    ctx.record(gamma=gamma_)
    return partial_training(f, f.m, gamma_, point["T"], R, rng, resample=point.get("resample", False))


def run_floor(ctx, point, R, rng) -> Trace:
    """sigma = 0 at gamma = 1/(2L): the tail mean of ||grad f||^2 over the second half, and the exact 2-cycle floor."""
    f = ctx.problem(instance(point))
    gamma_ = ctx.step("floor")
    small = MaskedBlock.g1(K_CORE, DIM, 1e-4, mu=MU, L=1.0, outside=point["outside"], R0=1.0, seed=0)  # same blocks, C, x*
    stable = gamma_ < 2 / f.constants["L"]  # the 2-cycle limit exists (a step beyond 2/L diverges: no floor to predict)
    ctx.record(gamma=gamma_, T=point["T"], q=1.0,
               kappa_a=small.alternating_floor(gamma_)["gnorm2"] / 1e-8 if stable else float("nan"),
               floor_exact=f.alternating_floor(gamma_)["gnorm2"] if stable else float("nan"))
    return partial_training(f, f.m, gamma_, point["T"], R, rng, burn_in=point["T"] // 2)


def _q_hat2(r) -> np.ndarray:
    """Per replica q-hat^2 = 1/min_t cos(grad f, u) at the last checkpoint (inf when the minimum is <= 0)."""
    c = r.trace.values["cos_min"][:, -1]
    return np.where(c > 0, 1.0 / np.where(c > 0, c, 1.0), np.inf)


def observe_alignment(runs):
    """q-hat^2 (median over replicas, share unbounded), the mean norm ratio ||u||/||grad f|| and the error at fixed T
    per core size k and coupling a; the log-log slope of the error against the median q-hat^2 (exploratory,
    UNVERIFIED, not asserted)."""
    rows = []
    plot = Plot("error at fixed T against q-hat^2 (surrogate, UNVERIFIED)", "median q-hat^2", "mean (1/T) sum ||grad f||^2")
    for r in runs:
        q2 = _q_hat2(r)
        rows.append({"point": r.label, "k": r.point["k"], "a": r.point["a"], "q_hat2_median": float(np.median(q2)),
                     "q_hat2_unbounded": float(np.mean(~np.isfinite(q2))),
                     "norm_ratio_avg": float(np.mean(r.trace.values["avg_ratio"][:, -1])),
                     "cos_avg": float(np.mean(r.trace.values["avg_cos"][:, -1])),
                     "error": float(np.mean(r.trace.values["avg_gnorm2"][:, -1]))})
    q2m, err = np.array([x["q_hat2_median"] for x in rows]), np.array([x["error"] for x in rows])
    ok = np.isfinite(q2m) & (q2m > 0)
    spread = ok.sum() >= 2 and np.ptp(np.log(q2m[ok])) > 0
    slope = float(np.polyfit(np.log(q2m[ok]), np.log(err[ok]), 1)[0]) if spread else float("nan")
    plot.add("runs (one per core size k and coupling a)", q2m, err, "data")
    text = "; ".join(f"k={x['k']}, a={x['a']}: q-hat^2 {x['q_hat2_median']:.3g} (unbounded {x['q_hat2_unbounded']:.0%}), "
                     f"||u||/||grad f|| {x['norm_ratio_avg']:.3g}, mean cos {x['cos_avg']:.3g}, error {x['error']:.3g}"
                     for x in rows)
    summary = (f"{text}; log-log slope of the error against q-hat^2: {slope:.3g} (the catalog's exploratory prediction 1, "
               "UNVERIFIED surrogate, not asserted)")
    return summary, {"rows": rows, "slope_error_vs_q_hat2": slope}, plot


def observe_q_along_run(runs):
    """q-hat^2 = 1/min_{s<=t} cos and the norm ratio along the run (median over replicas), compatible vs incompatible."""
    plot = Plot("q-hat^2 along the run (catalog surrogate, UNVERIFIED)", "t", "median q-hat^2 up to t")
    rows = []
    for r in runs:
        c = r.trace.values["cos_min"]
        q2 = np.median(np.where(c > 0, 1.0 / np.where(c > 0, c, 1.0), np.inf), axis=0)
        plot.add(f"a={r.point['a']}, outside={r.point['outside']}", r.trace.t, q2, "data")
        rows.append({"point": r.label, "q_hat2_final_median": float(q2[-1]),
                     "q_hat2_at": {int(t): float(v) for t, v in zip(r.trace.t[::8], q2[::8])},
                     "norm_ratio_final_mean": float(np.mean(r.trace.values["ratio"][:, -1]))})
    text = "; ".join(f"{x['point']}: q-hat^2 {x['q_hat2_final_median']:.3g}, ||u||/||grad f|| at T "
                     f"{x['norm_ratio_final_mean']:.3g}" for x in rows)
    return text, {"rows": rows}, plot


def observe_masks(runs):
    """Fixed core mask against a fresh random mask of the same size at every step (per replica): the error at T."""
    err = {r.point["resample"]: float(np.mean(r.trace.values["avg_gnorm2"][:, -1])) for r in runs}
    plot = Plot("fixed vs resampled masks (k = 5 of 10)", "t", "mean ||grad f(x_t)||^2")
    for r in runs:
        plot.add("resampled" if r.point["resample"] else "fixed core", r.trace.t, np.mean(r.trace.values["gnorm2"], axis=0), "data")
    summary = (f"T = {runs[0].trace.T}: error with the fixed core {err[False]:.3g}, with a random mask per step {err[True]:.3g} "
               f"(x{err[True] / err[False]:.3g}); a random mask m of a rotated H has E m . H (1 - m) x* != 0, so the core step "
               "does not vanish at x*")
    return summary, {"error": {"fixed": err[False], "resampled": err[True]}}, plot


def _incompatible_declared_compatible(thm: Theorem) -> Theorem:
    """Violated assumption: the rate sweep run on an incompatible core (a = 0.2, mass 4 outside the core) while the
    claims are those of the compatible one."""
    return thm.map_sweep("tuned-T", lambda p: {**p, "a": 0.2, "outside": 4.0})


COMPATIBLE = {"a": 0.0, "outside": 1.0, "c": 0.0}
INCOMPATIBLE = {"a": 0.2, "outside": 4.0, "c": 0.0}
TS = (1000, 2000, 4000, 8000, 16000)
SIGMAS = (0.035, 0.07, 0.14, 0.28, 0.56)  # at T = 2000 the smallest has gamma = 0.34/L: the cap 1/(2L) does not bind
FLOOR_AS = (0.0, 0.01, 0.02, 0.04, 0.08, 0.16)

THEOREM = Theorem(
    title="Masked / partial training: alternating full and core steps",
    source="Mohtashami, Jaggi, Stich, AISTATS 2022 (arXiv 2106.08895, abstract) and lecture slide [SEED-2]; THEOREMS.md T6",
    statement="For smooth nonconvex f with sigma^2-bounded noise, alternating partial training reaches "
              "(1/T) sum_{t<T} E||grad f(x_t)||^2 = O(sqrt(q^4 L F0 sigma^2 / T)) for a suitable step, and similarly for the core "
              "f_core(x) = f(m . x); q measures the gradient alignment of parent and core (definition UNVERIFIED).",
    assumptions=["f L-smooth (nonconvex allowed), F0 = f(x0) - f_inf",
                 "E g = grad f, E||g - grad f||^2 <= sigma^2 (additive Gaussian here, G2)",
                 "parent and core aligned (q finite): here a compatible core, a = 0 (u(x) = m . grad f(x))",
                 "tuned step gamma = min(1/(2L), sqrt(F0/(L sigma^2 T))), recomputed for every T"],
    bound=BOUND,
    measure="avg_gnorm2 = (1/T) sum_{t<T} ||grad f(x_t)||^2 (avg_core_gnorm2: the same for f_core), mean over replicas",
    steps={"tuned": GAMMA_TUNED, "floor": GAMMA_FLOOR},
    symbols=SYMBOLS,
    stream="partial-training",
    sweeps=[
        Sweep("tuned-T", run_tuned, grid(T=TS, sigma=0.1, **COMPATIBLE), R=48, quick=lambda p: p["T"] <= 8000, quick_R=32),
        Sweep("tuned-sigma", run_tuned, grid(sigma=SIGMAS, T=2000, **COMPATIBLE), R=48, quick_R=32),
        Sweep("g4-T", run_tuned, grid(T=TS, sigma=0.1, a=0.0, outside=1.0, c=0.3), R=32, quick=lambda p: p["T"] <= 4000, quick_R=24),
        Sweep("incompatible-T", run_tuned, grid(T=TS, sigma=0.1, **INCOMPATIBLE), R=32, quick=lambda p: p["T"] <= 4000, quick_R=24),
        Sweep("alignment", run_tuned, (grid(k=(2, 5, 8), a=0.0) + grid(k=5, a=(0.05, 0.2))).set(T=2000, sigma=0.1, outside=4.0),
              R=32, quick_R=24),
        Sweep("masks", run_tuned, grid(resample=(False, True), T=2000, sigma=0.1, **COMPATIBLE), R=32, quick_R=24),
        Sweep("floor-a", run_floor, grid(a=FLOOR_AS, outside=4.0, sigma=0.0, T=600), R=1),
    ],
    checks=[
        Exponent("(R) compatible core: (1/T) sum E||grad f||^2 decays like T^{-1/2} (tuned gamma(T))", "tuned-T", mode="final",
                 relation="tight", measure="avg_gnorm2",
                 description="a = 0, sigma = 0.1, T = 1000..16000, gamma = min(1/(2L), sqrt(F0/(L sigma^2 T))) per T; two-sided: "
                             "on a quadratic with additive noise both terms F0/(gamma T) and L gamma sigma^2 are attained"),
        Exponent("(R) the same rate for the core objective: (1/T) sum E||grad f_core||^2 ~ T^{-1/2}", "tuned-T", mode="final",
                 relation="tight", measure="avg_core_gnorm2",
                 description="f_core(x) = f(m . x), gradient u(x) = m . grad f(m . x); 'similarly for the core' [SEED-2]"),
        Exponent("(R) error at fixed T grows like sigma^1 (sigma^2 to the power 1/2)", "tuned-sigma", mode="final", variable="sigma",
                 relation="tight", measure="avg_gnorm2",
                 description="T = 2000, sigma = 0.035..0.56 (gamma from 0.34/L down to 0.02/L: below the cap 1/(2L))"),
        Exponent("(R) G4 nonconvex variant: decays at least like T^{-1/2}", "g4-T", mode="final", relation="upper",
                 measure="avg_gnorm2",
                 description="c = 0.3 > lambda_min(H)/2 (nonconvex, L = 1.6), a = 0; upper: the bound on a generic instance"),
        Observation("(Q) q-hat^2 and ||u||/||grad f|| along the run: compatible vs incompatible core", "alignment",
                    observe=observe_q_along_run, where=lambda p: p["k"] == 5 and p["a"] in (0.0, 0.2),
                    description="catalog T6 (c) surrogate q-hat^2 = sup_t ||grad f|| ||u|| / <grad f, u> (UNVERIFIED as the paper's q)"),
        Observation("(Q) exploratory: error at fixed T scales like q-hat^2 (UNVERIFIED)", "alignment", observe=observe_alignment,
                    description="compatible cores of size k = 2, 5, 8 (a = 0) and incompatible k = 5 cores with a = 0.05, 0.2 "
                                "(||x*_n||^2 = 4), at T = 2000, sigma = 0.1, tuned gamma; the slope is fitted over the runs "
                                "with a finite q-hat, reported, not asserted"),
        Observation("(Q) masks resampled at every step vs the fixed core", "masks", observe=observe_masks,
                    description="the a = 0 instance, k = 5 of 10 kept; the random masks keep 5 uniformly chosen coordinates per "
                                "replica and step (catalog T6 (b): 'masks may be resampled each step'); no claim"),
        Exponent("(N) incompatible core (a = 0.2, mass outside the core): decays like T^{-1/2}", "incompatible-T", mode="final",
                 relation="tight", measure="avg_gnorm2", expected=FAIL,
                 description="negative control [DERIVED, T6 (f)]: no common stationary point, alternating training keeps a floor"),
        MeanVersusBound("(F) sigma = 0: the tail mean of ||grad f||^2 equals the exact 2-cycle floor", "floor-a", measure="tail_gnorm2",
                        relation="exact", bound=floor_exact, where=lambda p: p["a"] > 0,
                        description="[DERIVED here] e_even = (I - G F)^{-1} b, e_odd = F e_even; mean over steps 300..599, gamma = 1/(2L)"),
        Exponent("(F) the floor of an incompatible core grows like a^2", "floor-a", mode="final", variable="a", regime="small",
                 relation="tight", measure="tail_gnorm2", bound=FLOOR_A, where=lambda p: p["a"] > 0,
                 description="[DERIVED here] b is linear in a and e_even = O(a); a = 0.01..0.16, sigma = 0, ||x*_n||^2 = 4"),
        Converges("(F) twin: a = 0 (compatible core) reaches x* without noise", "floor-a", measure="gnorm2", bound=CONVERGED,
                  where=lambda p: p["a"] == 0.0, description="the same instance and step with a = 0: ||grad f(x_T)||^2 <= 1e-20 F0"),
    ],
    mutants={"incompatible-declared-compatible": _incompatible_declared_compatible,
             "drop-q": ("equivalent: q multiplies the bound as a constant (its definition is UNVERIFIED); every claim here is an "
                        "exponent, invariant to q, and q-hat is only observed")},
    notes=["The rate is an O() statement with an UNVERIFIED q: only exponents are checked (T, sigma; the core objective).",
           "q-hat is the catalog's surrogate (T6 (c)), reported, never asserted; the exploratory q-hat^2 scaling is an observation.",
           "The floor formula and its a^2 growth are derived here for sigma = 0 (problems/masked.py, tests/test_partial_training.py)."],
)
