"""Clipped SGD under heavy-tailed gradient noise (THEOREMS.md T9).

Source: Zhang, Karimireddy, Veit, Kim, Reddi, Kumar, Sra, "Why are adaptive methods good for attention
models?", NeurIPS 2020 [SEED-3: abstract only]. The rates below are re-derived in the catalog (T9 (b), (c):
balancing descent, the clipping bias G^alpha/tau^(alpha-1) and the clipped second moment G^alpha tau^(2-alpha));
the paper's exact statements and constants are UNVERIFIED, so every claim here is an EXPONENT, never a
constant, and every bound is an O()-form.

Assumptions: E||g(x)||^alpha <= G^alpha for some alpha in (1, 2] (variance may be infinite); f mu-strongly
convex, or L-smooth nonconvex with F0 = f(x0) - f_inf.
Algorithm (ratecheck.algorithms.clipped_sgd): x_{k+1} = x_k - eta_k min{1, tau_k/||g_k||} g_k, with
  strongly convex: eta_k = 1/(mu (k+1)), tau_k = G k^(1/alpha)      (the catalog's NUM: mu = 1, G = 3)
  nonconvex, horizon K: eta = (1/L) K^(-alpha/(3 alpha - 2)), tau = G K^(1/(3 alpha - 2)).
Guarantees [UNVERIFIED statements, exponents consistent with the catalog's derivation], relation upper:
  strongly convex:  E||x_K - x*||^2 = O(K^(-2(alpha-1)/alpha))
  nonconvex:        (1/K) sum_k E min(||grad f(x_k)||, ||grad f(x_k)||^2) = O(K^(-2(alpha-1)/(3 alpha-2)))
Both predictions are computed by sympy from the three-term bounds below with the schedules substituted.

Instances (catalog T9 (d)): 1-D G1 quadratic, mu = L = 1, with Student-t noise of nu = 1.5 degrees of
freedom (problems.noise.StudentT; E|xi|^a < inf iff a < nu), and the G4 function of problems.nonconvex
(d = 2, H spectrum [0.5, 1], c = 1/2, |x0_j| = 1.2) with Student-t noise of scale 0.1 per coordinate.

Which alpha is declared, and why. With nu = 1.5 the alpha-moment exists only for alpha < 1.5, so the theorem
applies for every alpha < nu, with G(alpha) -> infinity as alpha -> nu; it does NOT apply at alpha = nu. The
schedule must be built with the alpha it is proven for: alpha = 1.4 (the catalog's NUM, tau_k = 3 k^(1/1.4)).
The theorem's exponent at that alpha, -2(0.4)/1.4 = -0.571, is an upper bound over the whole alpha-class: a
given instance may decay faster (here [DERIVED]: for symmetric noise the clipped variance E clip(xi)^2 ~
tau^(2-nu) gives -1 + (2-nu)/alpha = -0.643). So the claim is relation upper at alpha = 1.4, and, as the
catalog's NUM supports (slope -0.60 between -0.571 and -0.667), a lower relation at the limit alpha -> nu,
-2(nu-1)/nu = -0.667: together a two-sided check on the catalog's instance.

The clipping bias needs an asymmetric law. Clipping a symmetric noise keeps it symmetric, so at x* the
clipped oracle is unbiased and a constant tau converges (slope about -1, reported as an observation): the
catalog's bias floor G^(2 alpha)/tau^(2 alpha - 2) appears only when E clip(xi) != 0. The constant-tau control
and the floor check therefore use problems.noise.OneSidedStudentT (|t_nu| - E|t_nu|: mean 0, right tail of
index nu), on which the main rate is also checked.

Negative controls (catalog T9 (f)), each must FAIL:
  * unclipped SGD: E||x_K - x*||^2 is infinite (one step adds eta xi with an infinite second moment, T9 (c)),
    so the claim "finite mean squared error" is tested through its consequence (Markov): P(||x_K - x*||^2 > u)
    <= E||x_K - x*||^2 / u decays at least like 1/u. Measured: like u^(-nu/2) (x_K is a weighted sum of t_nu
    draws, tail index nu). The sample mean over replicas, 9x the clipped one with similar medians (the
    catalog's NUM), is reported as an observation: a mean that does not exist has no interval to judge.
  * a constant clipping level (one-sided noise): "decays at the schedule's rate" FAILs (a bias floor);
  * alpha misspecified in the schedule (tau_k = G k^(1/2), the alpha = 2 rule, when nu = 1.5): the
    theorem's prediction at that alpha, -1, FAILs.

ACClip (T9 (b), quoted spec and third-party code; ratecheck.transforms.acclip, alpha explicit) is compared with
clipped SGD and SGD at one constant step as an observation only: the catalog states no rate for it.
"""

from __future__ import annotations

import numpy as np

from problems.noise import OneSidedStudentT, StudentT
from problems.nonconvex import Nonconvex
from problems.quadratic import Quadratic
from ratecheck.algorithms.clipped_sgd import acclip_sgd, clipped_sgd
from ratecheck.checks import FAIL, Exponent, Observation, Plot
from ratecheck.expr import evaluate
from ratecheck.sweep import Sweep, grid
from ratecheck.symbols import F0, L, Meaning, T, mu, tau
from ratecheck.theorem import Theorem
from ratecheck.trace import log_checkpoints

SYMBOLS = [Meaning("alpha", "order of the bounded moment E||g||^alpha <= G^alpha, in (1, 2]", neutral=2),
           Meaning("nu", "degrees of freedom (tail index) of the Student-t noise: E|xi|^a < inf iff a < nu"),
           Meaning("G", "bound on the alpha-moment of the stochastic gradient: E||g||^alpha <= G^alpha"),
           Meaning("eta", "step size"),
           Meaning("u", "level of a tail probability P(||x_K - x*||^2 > u)"),
           Meaning("m2", "E||x_K - x*||^2, the mean squared error (finite when the claim holds)")]
alpha, nu, G, eta, u, m2 = (s_.symbol for s_ in SYMBOLS)

# the catalog's three terms (T9 (b)): descent, clipped second moment G^alpha tau^(2-alpha), clipping bias G^alpha/tau^(alpha-1)
SC_TERMS = eta * G**alpha * tau ** (2 - alpha) / mu + (G**alpha / tau ** (alpha - 1)) ** 2 / mu**2  # E||x_k - x*||^2, O()
NC_TERMS = F0 / (eta * T) + L * eta * G**alpha * tau ** (2 - alpha) + (G**alpha / tau ** (alpha - 1)) ** 2  # (1/K) sum min(.,.)
TAU_SC = G * T ** (1 / alpha)  # tau_k = G k^(1/alpha), k = T
TAU_NC = G * T ** (1 / (3 * alpha - 2))  # horizon K = T
ETA_SC = 1 / (mu * (T + 1))  # eta_k = 1/(mu (k+1)) (NUM)
ETA_NC = T ** (-alpha / (3 * alpha - 2)) / L

SC_RATE = SC_TERMS.subs(tau, TAU_SC)  # with eta -> eta-sc: O(T^(-2(alpha-1)/alpha))
SC_RATE_NU = SC_RATE.subs(alpha, nu)  # the limit alpha -> nu: O(T^(-2(nu-1)/nu)) (the NUM slope lies between the two)
NC_RATE = NC_TERMS.subs(tau, TAU_NC)  # with eta -> eta-nc: O(T^(-2(alpha-1)/(3 alpha-2)))
MARKOV = m2 / u  # P(X > u) <= E X / u

NU, ALPHA, G_SC = 1.5, 1.4, 3.0  # the catalog's NUM instance
NC_D, NC_SCALE = 2, 0.1
AC_D, AC_ETA = 10, 0.05


def noise(kind: str, nu_: float, scale: float, d: int):
    """Student-t (symmetric, the catalog's instance) or the one-sided law (clipping bias), nu degrees of freedom."""
    return StudentT(nu_, scale, d) if kind == "t" else OneSidedStudentT(nu_, scale, d)


def per_step(ctx, rule: str, K: int) -> np.ndarray:
    """The declared step rule at k = 1..K (read through ctx.step, so a step mutant redoes the run)."""
    ctx.step(rule, T=1)
    return np.broadcast_to(evaluate(ctx.theorem.steps[rule], {**ctx.constants, "T": np.arange(1, K + 1)}), (K,))


def run_sc(ctx, point, R, rng):
    """Clipped SGD on the 1-D quadratic with the strongly convex schedule at the point's alpha; ``tau``:
    'schedule' (tau_k = G k^(1/alpha)), a number (constant tau), or 'none' (SGD, same steps)."""
    nz = noise(point["noise"], point["nu"], 1.0, 1)
    f = ctx.problem(Quadratic.isotropic(1, 1.0, R0=1.0, noise=nz, seed=0))
    a, K = point["alpha"], point["T"]
    ctx.record(alpha=a, nu=point["nu"], G=G_SC, T=K)
    if a < point["nu"]:
        ctx.record(G_noise=nz.G(a))  # the certified (E|xi|^alpha)^(1/alpha), for the report
    eta_k = per_step(ctx, "eta-sc", K)
    tau_spec = point["tau"]
    if tau_spec == "schedule":
        tau_k = np.broadcast_to(evaluate(TAU_SC, {**ctx.constants, "T": np.arange(1, K + 1)}), (K,))
        tau_ = lambda k: tau_k[k - 1]
    else:
        tau_ = None if tau_spec == "none" else float(tau_spec)
        if tau_ is not None:
            ctx.record(tau=tau_)
    return clipped_sgd(f, lambda k: eta_k[k - 1], tau_, K, R, rng, log_checkpoints(K), measures=("dist2",))


def run_tail(ctx, point, R, rng):
    """Unclipped SGD (eta-sc steps) for K steps on the Student-t instance; exceed = 1{||x_K - x*||^2 > u}."""
    nz = noise("t", point["nu"], 1.0, 1)
    f = ctx.problem(Quadratic.isotropic(1, 1.0, R0=1.0, noise=nz, seed=0))
    K = point["T"]
    eta_k = per_step(ctx, "eta-sc", K)
    tr = clipped_sgd(f, lambda k: eta_k[k - 1], None, K, R, rng, np.array([K]), measures=("dist2",))
    tr.values["exceed"] = (tr.values["dist2"] > point["u"]).astype(np.float64)
    ctx.record(u=point["u"], m2=float(np.mean(tr.values["dist2"][:, -1])), T=K)
    return tr


def run_nc(ctx, point, R, rng):
    """Clipped SGD (or SGD, ``clip`` False) on G4 with Student-t noise, the horizon-K schedule (one run per K)."""
    nz = StudentT(point["nu"], NC_SCALE, NC_D)
    f = ctx.problem(Nonconvex(np.geomspace(0.5, 1.0, NC_D), 0.5, noise=nz, R0=1.44 * NC_D, seed=0))
    K = point["T"]
    ctx.record(alpha=ALPHA, nu=point["nu"], G=nz.G(ALPHA), T=K)
    eta_ = ctx.step("eta-nc", T=K)
    tau_ = float(evaluate(TAU_NC, {**ctx.constants, "T": K})) if point["clip"] else None
    ctx.record(eta=eta_, **({"tau": tau_} if tau_ else {}))
    return clipped_sgd(f, eta_, tau_, K, R, rng, np.array([K]), measures=("gmin",))


def run_acclip(ctx, point, R, rng):
    """ACClip (alpha 1: the quoted spec; 2: the third-party code) vs clipped SGD at tau = G (the noise's certified
    (E||xi||^1.4)^(1/1.4)) and SGD, all at the constant step eta = 0.05, on a diagonal quadratic (d = 10, spectrum
    log-spaced in [0.1, 1]) whose coordinates receive independent Student-t nu = 1.5 noise."""
    nz = StudentT(point["nu"], 1.0, AC_D)
    f = ctx.problem(Quadratic(np.geomspace(0.1, 1.0, AC_D), rotate=False, R0=10.0, noise=nz, seed=0))
    K, method, grid_ = point["T"], point["method"], log_checkpoints(point["T"])
    ctx.record(eta=AC_ETA, G=nz.G(ALPHA), T=K)
    if method.startswith("acclip"):
        return acclip_sgd(f, AC_ETA, float(method[-1]), K, R, rng, grid_, burn_in=K // 2, measures=("subopt",))
    tau_ = ctx.constants["G"] if method == "clip" else None
    return clipped_sgd(f, AC_ETA, tau_, K, R, rng, grid_, burn_in=K // 2, measures=("subopt",))


def _acclip_contrast(runs):
    """Mean and median over replicas of f - f* averaged over the second half of the run, per method."""
    rows, plot = {}, Plot("ACClip vs clipped SGD vs SGD (coordinate-wise Student-t)", "t", "f(x_t) - f*")
    for r in runs:
        X = r.trace.values["tail_subopt"][:, -1]
        rows[r.point["method"]] = {"mean": float(X.mean()), "median": float(np.median(X))}
        plot.add(f"mean, {r.point['method']}", r.trace.t, r.trace.values["subopt"].mean(axis=0), "data")
        plot.add(f"median, {r.point['method']}", r.trace.t, np.median(r.trace.values["subopt"], axis=0), "fit")
    summary = "; ".join(f"{m}: mean {v['mean']:.4g}, median {v['median']:.4g}" for m, v in rows.items())
    return f"f - f* averaged over the second half, eta = {AC_ETA}: " + summary, {"methods": rows}, plot


# ----------------------------------------------------------------------------------------------------
# mean and median (catalog 0.2: for heavy-tailed noise report both)


def _mean_median(measure: str, t_min: float):
    """An observation: per run, the mean and the median over replicas at the last checkpoints and their
    log-log slopes (trajectory for t >= t_min, or across runs by horizon when each run has one checkpoint)."""

    def observe(runs):
        rows, plot = [], Plot(f"mean and median of {measure}", "t", measure)
        by_label: dict[str, list] = {}
        for r in runs:
            X = r.trace.values[measure]
            if X.shape[1] > 1:
                t = r.trace.t.astype(float)
                w = t >= t_min
                mean, med = X.mean(axis=0), np.median(X, axis=0)
                rows.append({"point": r.label, "t": [int(x) for x in t[w][::12]], "mean": [float(x) for x in mean[w][::12]],
                             "median": [float(x) for x in med[w][::12]],
                             "mean_slope": float(np.polyfit(np.log(t[w]), np.log(mean[w]), 1)[0]),
                             "median_slope": float(np.polyfit(np.log(t[w]), np.log(med[w]), 1)[0])})
                plot.add(f"mean, {r.label}", t, mean, "data")
                plot.add(f"median, {r.label}", t, med, "fit")
            else:
                key = ", ".join(f"{k}={v}" for k, v in r.point.items() if k != "T")
                by_label.setdefault(key, []).append((r.trace.T, float(X[:, -1].mean()), float(np.median(X[:, -1]))))
        for key, vals in by_label.items():
            vals.sort()
            t = np.array([v[0] for v in vals], float)
            mean, med = np.array([v[1] for v in vals]), np.array([v[2] for v in vals])
            rows.append({"point": key, "t": [int(x) for x in t], "mean": list(map(float, mean)), "median": list(map(float, med)),
                         "mean_slope": float(np.polyfit(np.log(t), np.log(mean), 1)[0]),
                         "median_slope": float(np.polyfit(np.log(t), np.log(med), 1)[0])})
            plot.add(f"mean, {key}", t, mean, "data")
            plot.add(f"median, {key}", t, med, "fit")
        summary = "; ".join(f"{x['point']}: mean {x['mean'][0]:.3g} -> {x['mean'][-1]:.3g} (slope {x['mean_slope']:.3f}), median "
                            f"{x['median'][0]:.3g} -> {x['median'][-1]:.3g} (slope {x['median_slope']:.3f})" for x in rows)
        return summary, {"rows": rows}, plot

    return observe


# ----------------------------------------------------------------------------------------------------
# sweeps

SC = (grid(noise=("t", "one-sided"), tau=("schedule", "none", 3.0), alpha=ALPHA)
      + grid(noise=("t", "one-sided"), tau="schedule", alpha=2.0)).set(nu=NU, T=10000)
SC_QUICK = SC.where(lambda p: (p["tau"] == "schedule" and p["alpha"] == ALPHA) or p["noise"] == "one-sided" and p["tau"] != "none").set(T=3000)
FLOOR = grid(tau=(3.0, 6.0, 12.0, 24.0), noise="one-sided", alpha=ALPHA, nu=NU, T=10000)
FLOOR_QUICK = FLOOR.where(lambda p: p["tau"] <= 12.0).set(T=3000)
TAIL = grid(u=tuple(float(x) for x in np.geomspace(1.0, 100.0, 5)), nu=NU, T=10)  # where P(X > u) is in its power-law regime
NC = grid(clip=(True, False), T=(100, 300, 1000, 3000, 10000), nu=NU)
NC_QUICK = NC.where(lambda p: p["clip"] and 300 <= p["T"] <= 3000)
ACCLIP = grid(method=("sgd", "clip", "acclip-1", "acclip-2"), nu=NU, T=2000)

main_t = lambda p: p["noise"] == "t" and p["tau"] == "schedule" and p["alpha"] == ALPHA
main_one_sided = lambda p: p["noise"] == "one-sided" and p["tau"] == "schedule" and p["alpha"] == ALPHA


def _nu_below_alpha(thm: Theorem) -> Theorem:
    """Violated assumption: noise with nu = 1.2 <= alpha = 1.4, so E|xi|^alpha = infinity, with the alpha = 1.4
    schedule and claim unchanged (the strongly convex sweep)."""
    return thm.map_sweep("strongly-convex", lambda p: {**p, "nu": 1.2})


THEOREM = Theorem(
    title="Clipped SGD under heavy-tailed noise (alpha-moment): strongly convex and nonconvex rates [exponents only]",
    source="Zhang et al., 'Why are adaptive methods good for attention models?', NeurIPS 2020 [statements UNVERIFIED]; "
           "THEOREMS.md T9 (schedules and exponents re-derived there), G1, G2 (heavy tails), G4",
    statement="Under E||g||^alpha <= G^alpha, alpha in (1, 2]: strongly convex, eta_k ~ 1/(mu k), tau_k = G k^(1/alpha): "
              "E||x_K - x*||^2 = O(K^(-2(alpha-1)/alpha)); nonconvex, tau = G K^(1/(3alpha-2)), eta ~ K^(-alpha/(3alpha-2)): "
              "(1/K) sum E min(||grad f||, ||grad f||^2) = O(K^(-2(alpha-1)/(3alpha-2))). Unclipped SGD has infinite "
              "E||x - x*||^2 for alpha < 2 noise.",
    assumptions=[("E||g(x)||^alpha <= G^alpha, alpha in (1, 2] (moment of g vs of g - grad f: UNVERIFIED); Student-t noise with "
                  "nu = 1.5 has it for every alpha < nu, never at alpha = nu"),
                 "strongly convex: f mu-strongly convex (1-D G1, mu = L = 1); nonconvex: f L-smooth, F0 = f(x0) - f_inf (G4)",
                 ("the schedules use alpha = 1.4 < nu (the catalog's NUM) and G = 3 (strongly convex, NUM) or the noise's certified "
                  "(E||xi||^alpha)^(1/alpha) (nonconvex); G only scales constants, which are not checked")],
    bound=SC_RATE,
    measure="dist2 = ||x_k - x*||^2 (strongly convex; mean over replicas, median reported); avg_gmin = (1/K) sum_k "
            "min(||grad f(x_k)||, ||grad f(x_k)||^2) (nonconvex); exceed = 1{||x_K - x*||^2 > u} (tail of unclipped SGD)",
    steps={"eta-sc": ETA_SC, "eta-nc": ETA_NC},
    sweeps=[
        Sweep("strongly-convex", run_sc, SC, R=2000, quick=SC_QUICK, quick_R=1500),
        Sweep("floor", run_sc, FLOOR, R=200, quick=FLOOR_QUICK, quick_R=100),
        Sweep("unclipped-tail", run_tail, TAIL, R=20000),
        Sweep("nonconvex", run_nc, NC, R=1000, quick=NC_QUICK, quick_R=500),
        Sweep("acclip", run_acclip, ACCLIP, R=200, quick=ACCLIP.set(T=1000), quick_R=100),
    ],
    checks=[
        Exponent("strongly convex, Student-t nu = 1.5: slope <= -2(alpha-1)/alpha at alpha = 1.4", "strongly-convex",
                 measure="dist2", relation="upper", subs={"eta": "eta-sc"}, T_min=100, where=main_t,
                 description="T9 [UNVERIFIED statement, exponent derived]: the three-term bound with eta_k = 1/(mu(k+1)), "
                             "tau_k = G k^(1/alpha) substituted; k = 100..10^4 as in the catalog's NUM; mean over replicas"),
        Exponent("strongly convex, Student-t: slope no steeper than the limit alpha -> nu, -2(nu-1)/nu", "strongly-convex",
                 measure="dist2", relation="lower", bound=SC_RATE_NU, subs={"eta": "eta-sc"}, T_min=100, where=main_t,
                 description="the other side of the catalog's NUM (slope -0.60 between -0.571 and -0.667): the class allows "
                             "every alpha < nu, never faster than its limit here [DERIVED: -1 + (2-nu)/alpha = -0.643]"),
        Exponent("strongly convex, one-sided heavy tail (clipping bias present): slope <= -2(alpha-1)/alpha", "strongly-convex",
                 measure="dist2", relation="upper", subs={"eta": "eta-sc"}, T_min=100, where=main_one_sided,
                 description="xi = |t_nu| - E|t_nu|: E clip(xi) != 0, the bias term G^(2alpha)/tau^(2alpha-2) of the bound is live"),
        Observation("mean and median, strongly convex (clipped, unclipped, constant tau, alpha = 2 schedule)", "strongly-convex",
                    observe=_mean_median("dist2", 100),
                    description="catalog 0.2: for heavy-tailed noise report mean AND median. Unclipped SGD's mean estimates an "
                                "infinite expectation (no interval applies); constant tau on symmetric noise has no bias at x*"),
        Exponent("constant tau = G (one-sided noise): decays at the schedule's rate -2(alpha-1)/alpha", "strongly-convex",
                 measure="dist2", relation="upper", subs={"eta": "eta-sc"}, T_min=100, expected=FAIL,
                 where=lambda p: p["noise"] == "one-sided" and p["tau"] == 3.0,
                 description="negative control (T9 (f)): without the growth of tau the clipping bias leaves a floor"),
        Exponent("constant tau: the bias floor shrinks like tau^-(2alpha-2) (one-sided noise, T -> infinity)", "floor",
                 measure="dist2", mode="final", variable="tau", relation="upper", subs={"eta": "eta-sc"}, at_T=float("inf"),
                 bound=SC_TERMS,
                 description="T9 (f): floor ~ G^(2alpha)/tau^(2alpha-2) (the bound's limit as eta_k -> 0); measured at k = 10^4, "
                             "tau = 3..24; on this law the bias is ~ tau^(1-nu) [DERIVED], a floor ~ tau^(2-2nu) = tau^-1"),
        Exponent("alpha misspecified: the alpha = 2 schedule tau_k = G k^(1/2) reaches -2(alpha-1)/alpha = -1 (nu = 1.5)",
                 "strongly-convex", measure="dist2", relation="upper", subs={"eta": "eta-sc"}, T_min=100, expected=FAIL,
                 where=lambda p: p["noise"] == "one-sided" and p["alpha"] == 2.0,
                 description="negative control (T9 (f)): alpha = 2 assumes a finite variance; the clipping bias decays too slowly"),
        Exponent("unclipped SGD has a finite E||x_K - x*||^2: by Markov its tail decays like 1/u or faster", "unclipped-tail",
                 measure="exceed", mode="final", variable="u", relation="upper", bound=MARKOV, expected=FAIL,
                 description="negative control (T9 (c), (f)): K = 10 steps of SGD, same steps, no clipping; P(||x_K - x*||^2 > u) "
                             "for u = 1..100, 20000 replicas per u; tail ~ u^(-nu/2) [DERIVED: x_K is a weighted sum of t_nu "
                             "draws, tail index nu], an infinite mean"),
        Exponent("nonconvex G4, Student-t nu = 1.5: (1/K) sum min(||grad f||, ||grad f||^2) slope <= -2(alpha-1)/(3alpha-2)",
                 "nonconvex", measure="avg_gmin", mode="final", relation="upper", subs={"eta": "eta-nc"}, bound=NC_RATE,
                 where=lambda p: p["clip"],
                 description="T9 [UNVERIFIED statement, exponent derived]: one run per horizon K with tau = G K^(1/(3alpha-2)), "
                             "eta = K^(-alpha/(3alpha-2))/L; alpha = 1.4"),
        Observation("mean and median, nonconvex (clipped vs unclipped, same steps)", "nonconvex", observe=_mean_median("avg_gmin", 1)),
        Observation("ACClip (alpha = 1 and 2) vs clipped SGD vs SGD under coordinate-wise Student-t noise", "acclip",
                    observe=_acclip_contrast,
                    description="T9 (b) [quoted spec + third-party code, not official; no rate claimed]: the clipping level "
                                "tau_k^alpha = EMA of |g|^alpha; with nu = 1.5 the alpha = 2 estimate tracks an infinite second "
                                "moment (little clipping), alpha = 1 a finite mean"),
    ],
    symbols=SYMBOLS,
    stream="clipped-sgd",
    mutants={"nu-below-alpha": _nu_below_alpha,
             "step-x8-eta-sc": "equivalent: eta_k = 8/(mu(k+1)) is still a c/(mu k) schedule (contracting from k = 8 on), which has the "
                               "same exponents; the constant-tau floor is the zero of E clip(mu(x - x*) + xi), free of eta; the theorem's "
                               "constants are UNVERIFIED, so there is no step limit to violate (measured: slopes -0.637, -0.587, floor -0.77)",
             "step-x8-eta-nc": "equivalent: 8x eta = 8 K^(-alpha/(3alpha-2))/L keeps eta L <= 0.43 at K >= 100 (stable) and scales the "
                               "terms F0/(eta K) and L eta G^alpha tau^(2-alpha) by constants only, so the slope in K is unchanged "
                               "(measured -0.365); no constant of the nonconvex bound is verified"},
    notes=[("Exponents only: the paper's statements and constants are UNVERIFIED (catalog T9); bounds are O()-forms built from the "
            "catalog's three terms, and every predicted slope is computed from them by sympy."),
           "Unclipped SGD's mean squared error is infinite under nu = 1.5 noise; its sample mean is reported, never judged."],
)
