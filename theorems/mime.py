"""Mime: frozen server state lets local steps replace L by the Hessian similarity delta_H (THEOREMS.md T4).

Sources: Karimireddy, Jaggi, Kale, Mohri, Reddi, Stich, Suresh, "Mime: Mimicking centralized stochastic algorithms
in federated learning" (arXiv 2008.03606; NeurIPS 2021 as "Breaking the centralized barrier for cross-device
federated learning") [SEED-0, SEED-2; the exact theorem statements UNVERIFIED]; code google/fedjax
fedjax/algorithms/mime.py [CODE]. Algorithms: ratecheck.algorithms.federated.mime (momentum base, state m frozen
during the K local steps, the same minibatch at y and x) and server_only (S client gradients per round, no
local steps).

The catalog marks Mime's constants and assumptions UNVERIFIED: only exponents and contrasts are checked, and
the report says so. Instances: G3 clients (problems/federated.HeterogeneousClients.g3), sigma = 0 unless said.

  (L) rounds to eps depend on delta_H, not on L [SEED-2 table: delta/eps for Mime vs L/eps for any server-only
      method]: full participation (S = N = 4), mu = 0.1, delta_H = 0.05, L in {2, ..., 32}. Mime with
      K = ceil(2 L/delta_H) local steps (the catalog's K >~ L/delta) at eta = 1/(2 L_max), beta = 0.5: slope ~ 0
      in L (tight); server-only momentum SGD at eta = 1/L_max: slope ~ 1 in L (tight). The strongly convex
      reading of "delta/eps" and "L/eps" (rounds ~ (delta/mu) log(1/eps) and (L/mu) log(1/eps)) is used to
      predict the slopes. Negative control: "server-only momentum's rounds do not depend on L" must FAIL.
  (S) the client-sampling term zeta^2/(S eps) [SEED-2, 1/S]: N = 64 clients, S in {1, ..., 16} sampled per round
      without replacement: Mime's stationary suboptimality at a fixed step scales like the variance of the
      sampled c, zeta^2 (N - S)/(S (N - 1)) (slope ~ -1, -1.2 at S = 16 with the finite-population factor)
      (tight, predicted from that expression).
  (D) MimeLite (no correction) on high-zeta data with many local steps (K = 20): it stalls away from x* while
      Mime reaches it; "MimeLite converges to x*" is a negative control that must FAIL (measured on the
      deterministic run; the catalog calls the slowdown observational, the stall is what this instance shows).
  (O) observation: final suboptimality of Mime, MimeLite, MimeMVR, MimeLiteMVR and the server-only baselines
      (SGD, momentum, MVR) on one instance with delta_H << L at the same number of rounds.
  (M) MimeMVR's first term (delta_H zeta/(sqrt(S) R))^{2/3} [SEED-2 table, error-after-R form by the catalog's
      inversion; UNVERIFIED: exponents only], with F0 kept: (F0 delta_H zeta/(sqrt(S_eff) R))^{2/3}. Measure:
      late_grad2, the mean of ||grad f(x_r)||^2 over rounds R/2..R (x_out uniform over the second half: at most
      twice the all-rounds average the table bounds; the all-rounds average is not used, see (b)). Tuning [DERIVED
      here from the MVR/STORM analysis with ell = delta_H, the Lipschitz constant of the sampled-gradient difference
      on G3, and variance zeta^2/S_eff]: round step eta_r = min(1/(2 delta_H),
      (F0 S_eff/(delta_H^2 zeta^2 R))^{1/3}) (F0/(eta_r R) balanced against ell^2 eta_r^2 zeta^2/S_eff), momentum
      a = min(1, 4 delta_H^2 eta_r^2) (a >~ ell^2 eta_r^2), K = ceil(eta_r L_max) local steps of eta_r/K <= 1/L_max.
      How the term is made to dominate: zeta = 1, F0 = 10 (x0 at equal energy per eigenvector, scaled to F0),
      mu = 0.5, d = 20, sigma = 0, R = 400 rounds (600 for S), so that the error is MVR's stationary a zeta^2/(2
      S_eff), which at this tuning is the first term; the other contributions are negligible: the F0/(eta_r R)
      transient has decayed by round R/2 (mu eta_r R/2 >= 80), the start error m_0 - grad f(x_0) (size zeta^2/S) is
      forgotten (a R/2 >= 8), the cap 1/(2 delta_H) is inactive (eta_r delta_H <= 0.27) and the clients are convex
      (delta_H <= mu). Measured (quick, seed 0; slope [99 % interval]):
      - delta_H = 0.02..0.32 at L = 2 (N = 8, S = 2; eta_r = 5.3..0.83 > 1/L, steps a server-only method cannot
        take): slope 2/3 in delta_H (tight): 0.662 [0.632, 0.690]; planted twin "slope 1" must FAIL.
      - L = 1..8 at delta_H = 0.08 (K = 3..17): slope 0 (tight): 0.020 [-0.011, 0.052]; "L^{2/3}
        (L in place of delta_H)" must FAIL.
      - S = 1..8 of N = 32 (delta_H = 0.08): the 1/sqrt(S) of delta zeta/(sqrt(S) eps^{3/2}) in the error-after-R
        form, slope -1/3 in S_eff = S (N - 1)/(N - S) (the rounds-to-eps form would be -1/2): -0.321
        [-0.340, -0.303]; "no S-improvement (slope 0)" must FAIL.
  (b) server-only on G3 [DERIVED here, measured]: grad f_S(x) - grad f_S(x') - (grad f(x) - grad f(x')) = D_S
      (x - x'), D_S the mean of the sampled D_i, ||D_S|| <= delta_H: server-only MVR's variance-reduction error also
      scales with delta_H, and L enters only through its step limit 1/L, i.e. the L/R term that (L) checks. The
      lower bound's Omega(L zeta/(sqrt(S) eps^{3/2})) is over worst-case instances; on G3 its L^{2/3} does not
      appear. Server-only MVR at step 1/L_max with MimeMVR's a (L = 1..8, delta_H = 0.08): its late error does not
      grow with L (relation upper, slope 0): -0.154 [-0.188, -0.119]; "it grows like L^{2/3}" (relation lower) must
      FAIL. Observation: the slopes in L of late_grad2 (MimeMVR 0.02, server-only MVR -0.15, server-only momentum
      SGD at beta = 0.5, step 1/L_max, -0.37) and of the all-rounds average avg_grad2 (0.64, 0.72, 0.36). The
      all-rounds average grows with L for MimeMVR about as much as for server-only MVR: it contains
      ||grad f(x_0)||^2/R, which grows with L at fixed F0 (up to 2 L F0/R), so no delta/R term can bound it; whether
      the paper's x_out excludes x_0 is UNVERIFIED. (Prototype, not in the sweeps: L = 2..32, delta_H = 0.05,
      R = 1000, d = 5, server-only MVR best of 12 (eta in {1, 1/2}/L_max, a in 0.003..1): late error 0.0022 ->
      0.0019, slope -0.06; all-rounds average 0.046 -> 0.56, slope 0.90.)
Not checked: MimeLiteMVR's terms (no S in its eps^{-3/2} term as printed), the sigma-terms.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from problems.federated import HeterogeneousClients
from ratecheck.algorithms.federated import mime, server_only
from ratecheck.checks import FAIL, Contrast, Converges, Exponent, HittingExponent, Observation, Plot
from ratecheck.expr import evaluate
from ratecheck.sweep import Sweep, grid
from ratecheck.symbols import F0, R0, L, Meaning, T, delta_H, mu, zeta
from ratecheck.theorem import Theorem
from ratecheck.trace import Trace, log_checkpoints

SYMBOLS = [Meaning("S", "clients sampled per round"), Meaning("N", "number of clients"),
           Meaning("S_eff", "effective sample size S (N - 1)/(N - S) of S clients drawn without replacement", neutral=1),
           Meaning("eta_r", "MimeMVR's round step K eta (local step eta times K local steps)")]
S, N, S_eff, eta_r = (s_.symbol for s_ in SYMBOLS)

MIME_ROUNDS = R0 * sp.exp(-T * mu / delta_H)  # "delta/eps", strongly convex reading: rounds (delta_H/mu) log(R0/eps)
SERVER_ROUNDS = R0 * sp.exp(-T * mu / L)  # "L/eps": rounds (L/mu) log(R0/eps)
SAMPLING_FLOOR = zeta**2 / S_eff  # zeta^2/S with the finite-population factor: Var of the sampled mean = zeta^2 (N - S)/(S (N - 1))
EPS = 1e-12 * R0
DIM = 20

# MimeMVR, SEED-2 table: eps(R) ~ (delta zeta/(sqrt(S) R))^{2/3} + zeta^2/(S R) + delta/R [catalog T4 (c), DERIVED inversion].
# The first term with F0 kept (the MVR/STORM analysis: F0/(eta R) balanced against a zeta^2/S with a ~ delta_H^2 eta^2):
MVR_TERM = (F0 * delta_H * zeta / (sp.sqrt(S_eff) * T)) ** sp.Rational(2, 3)
SERVER_MVR_G3 = MVR_TERM  # [DERIVED here] server-only MVR at MimeMVR's a on G3: the same a zeta^2/(2 S_eff), no L
LOWER_TERM = MVR_TERM.subs(delta_H, L)  # the server-only lower bound's first term, L zeta/(sqrt(S) eps^{3/2})
ETA_MVR = sp.Min(1 / (2 * delta_H), (F0 * S_eff / (delta_H**2 * zeta**2 * T)) ** sp.Rational(1, 3))  # round step eta_r
A_MVR = sp.Min(1, 4 * delta_H**2 * eta_r**2)  # MVR momentum a = 4 delta_H^2 eta_r^2 (a >~ ell^2 eta^2 with ell = delta_H)


def run(ctx, point, R, rng) -> Trace:
    f = ctx.problem(HeterogeneousClients.g3(point["N"], 5, mu=point["mu"], L=point["L"], delta_H=point["delta_H"],
                                            zeta=point["zeta"], noise=0.0, seed=0))
    L_max = f.constants["L_max"]
    algo, T_ = point["algo"], point["T"]
    grid_ = np.arange(1, T_ + 1) if point.get("every_round") else log_checkpoints(T_)
    ctx.record(T=T_, S=point["S"], S_eff=point["S"] * (point["N"] - 1) / (point["N"] - point["S"]) if point["S"] < point["N"] else np.inf)
    if algo.startswith("server-"):
        return server_only(f, 1 / L_max, T_, R, rng, base=algo.removeprefix("server-"), beta=0.5, a=0.5, S=point["S"],
                           checkpoints=grid_)
    K_ = int(np.ceil(2 * point["L"] / point["delta_H"])) if point["K"] == "2L/delta" else point["K"]
    eta = point.get("eta", 1 / (2 * L_max))
    base = "mvr" if algo.endswith("mvr") else "momentum"
    return mime(f, eta, K_, T_, R, rng, base=base, beta=0.5, a=0.5, lite="lite" in algo, S=point["S"], checkpoints=grid_)


def run_mvr(ctx, point, R, rng) -> Trace:
    """MimeMVR at the MVR tuning (docstring (M)), or a server-only baseline at step 1/L_max; late_grad2 = the mean of
    ||grad f(x_r)||^2 over rounds r = T/2..T (x_out uniform over the second half), per replica."""
    lam = np.geomspace(point["mu"], point["L"], DIM)  # x0 at equal energy per eigenvector: F0 = R0 sum(lam)/(2 d) = point's F0
    f = ctx.problem(HeterogeneousClients.g3(point["N"], DIM, mu=point["mu"], L=point["L"], delta_H=point["delta_H"],
                                            zeta=point["zeta"], noise=0.0, R0=2 * DIM * point["F0"] / lam.sum(), seed=0))
    N_, S_, T_, L_max = point["N"], point["S"], point["T"], f.constants["L_max"]
    ctx.record(T=T_, S=S_, S_eff=S_ * (N_ - 1) / (N_ - S_))
    eta = ctx.step("mvr")  # MimeMVR's round step eta_r = K eta_l
    a = float(evaluate(A_MVR, {**ctx.constants, "eta_r": eta}))
    ctx.record(eta_r=eta, a=a)
    late = np.arange(T_ // 2, T_ + 1)
    if point["algo"] == "mime-mvr":
        K_ = int(np.ceil(eta * L_max))  # K local steps of eta_l = eta_r/K <= 1/L_max
        tr = mime(f, eta / K_, K_, T_, R, rng, base="mvr", a=a, S=S_, checkpoints=late)
    else:  # server-only: the same a, its step limited to 1/L_max
        base = point["algo"].removeprefix("server-")
        tr = server_only(f, 1 / L_max, T_, R, rng, base=base, a=a, beta=0.5, S=S_, checkpoints=late)
    tr.values["late_grad2"] = np.cumsum(tr.values["grad2"], axis=1) / np.arange(1, late.size + 1)
    return tr


def _l_slopes(runs) -> tuple[str, dict, Plot]:
    """Fitted log-log slopes in L (means over replicas) of late_grad2 and avg_grad2, per algorithm."""
    plot = Plot("(b) error after R rounds vs L at fixed delta_H", "L", "mean late_grad2")
    out: dict = {}
    for algo in ("mime-mvr", "server-mvr", "server-momentum"):
        rs = sorted((r for r in runs if r.point["algo"] == algo), key=lambda r: r.point["L"])
        Ls = np.array([r.point["L"] for r in rs])
        row = {}
        for m in ("late_grad2", "avg_grad2"):
            y = np.array([np.mean(r.trace.values[m][:, -1]) for r in rs])
            row[m] = {"means": [float(f"{v:.4g}") for v in y], "slope_in_L": float(np.polyfit(np.log(Ls), np.log(y), 1)[0])}
        plot.add(algo, Ls, np.array(row["late_grad2"]["means"]), "data")
        out[algo] = row
    text = "; ".join(f"{a}: slope in L {r['late_grad2']['slope_in_L']:.2f} (rounds R/2..R), {r['avg_grad2']['slope_in_L']:.2f} "
                     f"(rounds 0..R)" for a, r in out.items())
    return text, {"L": [float(v) for v in Ls], "by_algo": out}, plot


L_SWEEP = (grid(algo="mime", L=(2.0, 4.0, 8.0, 16.0, 32.0)).set(K="2L/delta", T=100)  # Mime hits eps by round 40
           + grid(algo="server-momentum", L=(2.0, 4.0, 8.0, 16.0, 32.0)).set(T=6000)).set(
    N=4, S=4, mu=0.1, delta_H=0.05, zeta=1.0, every_round=True)
SAMPLING = grid(S=(1, 2, 4, 8, 16)).set(algo="mime", N=64, K=5, eta=0.05, T=400, L=2.0, mu=0.5, delta_H=0.2, zeta=1.0)
DRIFT = grid(algo=("mime", "mime-lite")).set(N=4, S=4, K=20, L=2.0, mu=0.5, delta_H=0.4, zeta=4.0, T=400)
CONTRAST = (grid(algo=("mime", "mime-lite", "mime-mvr", "mime-lite-mvr")).set(K=40)
            + grid(algo=("server-sgd", "server-momentum", "server-mvr"))).set(
    N=8, S=8, L=8.0, mu=0.1, delta_H=0.1, zeta=1.0, T=100)


MVR_BASE = {"mu": 0.5, "zeta": 1.0, "F0": 10.0, "T": 400}
MVR_POINTS = (grid(algo="mime-mvr", delta_H=(0.02, 0.04, 0.08, 0.16, 0.32)).set(L=2.0)
              + grid(algo="mime-mvr", L=(1.0, 4.0, 8.0)).set(delta_H=0.08)
              + grid(algo=("server-mvr", "server-momentum"), L=(1.0, 2.0, 4.0, 8.0)).set(delta_H=0.08)).set(N=8, S=2, **MVR_BASE)
MVR_SAMPLING = grid(S=(1, 2, 4, 8)).set(algo="mime-mvr", L=2.0, delta_H=0.08, N=32, **{**MVR_BASE, "T": 600})

mvr_delta = lambda p: p["algo"] == "mime-mvr" and p["L"] == 2.0
mvr_l = lambda algo: lambda p: p["algo"] == algo and p["delta_H"] == 0.08


def _server_with_local_steps(thm: Theorem) -> Theorem:
    """A violated assumption: the 'server-only' runs are given Mime's local steps (declared server-only)."""
    return thm.map_sweep("l-dependence", lambda p: {**p, "algo": "mime", "K": "2L/delta", "T": 100} if p["algo"] == "server-momentum" else p)


is_mime = lambda p: p["algo"] == "mime"

THEOREM = Theorem(
    title="Mime: local steps with frozen server momentum replace L by delta_H",
    source="Karimireddy et al., Mime, arXiv 2008.03606 / NeurIPS 2021 [SEED-0, SEED-2; statements UNVERIFIED]; fedjax "
           "fedjax/algorithms/mime.py [CODE]; THEOREMS.md T4 (b), (c), (e), (f)",
    statement="Rounds to eps: Mime ~ delta_H/eps (with K >~ L/delta_H local steps) versus L/eps for any server-only method; "
              "client sampling enters as zeta^2/(S eps); MimeMVR's error after R rounds has the term (delta_H zeta/(sqrt(S) R))^{2/3} "
              "where the server-only lower bound has (L zeta/(sqrt(S) R))^{2/3}. UNVERIFIED in the catalog: exponents and contrasts only.",
    assumptions=["f_i quadratic (G3), delta_H-BHD, f mu-strongly convex; sigma = 0 (the sigma-terms are not tested here)",
                 "S clients per round, uniformly without replacement, independently per replica; base optimizer momentum beta = 0.5"],
    bound=MIME_ROUNDS,
    measure="dist2 = ||x_r - x*||^2 (rounds to eps = 1e-12 R0); subopt = f(x_R) - f* (sampling floor, contrast); "
            "late_grad2 = mean of ||grad f(x_r)||^2 over rounds R/2..R (MimeMVR terms)",
    sweeps=[
        Sweep("l-dependence", run, L_SWEEP, R=1),
        Sweep("sampling", run, SAMPLING, R=480),
        Sweep("mimelite-drift", run, DRIFT, R=1),
        Sweep("contrast", run, CONTRAST, R=1),
        Sweep("mvr", run_mvr, MVR_POINTS, R=96, quick_R=48),
        Sweep("mvr-sampling", run_mvr, MVR_SAMPLING, R=64, quick_R=32),
    ],
    steps={"mvr": ETA_MVR},
    checks=[
        HittingExponent("(L) Mime (K = 2L/delta_H): rounds to eps do not grow with L [UNVERIFIED constants]", "l-dependence",
                        measure="dist2", variable="L", epsilon=EPS, relation="tight", where=is_mime),
        HittingExponent("(L) server-only momentum SGD: rounds to eps grow like L", "l-dependence", measure="dist2", variable="L",
                        epsilon=EPS, relation="tight", bound=SERVER_ROUNDS, where=lambda p: p["algo"] == "server-momentum"),
        HittingExponent("(L) claim: server-only momentum's rounds do not depend on L", "l-dependence", measure="dist2",
                        variable="L", epsilon=EPS, relation="tight", where=lambda p: p["algo"] == "server-momentum", expected=FAIL,
                        description="negative control: the server-only lower bound has L/eps; only local steps remove it"),
        Exponent("(S) Mime's sampling floor ~ zeta^2/S_eff, S_eff = S (N - 1)/(N - S) (S = 1..16 of N = 64)", "sampling",
                 measure="subopt", mode="final", variable="S_eff", relation="tight", bound=SAMPLING_FLOOR,
                 description="[SEED-2: zeta^2/(S eps), UNVERIFIED constants] final f(x_R) - f* at a fixed step, mean over replicas"),
        Converges("(D) Mime reaches x* on high-zeta clients (K = 20)", "mimelite-drift", measure="dist2", bound=1e-20 * R0,
                  where=is_mime),
        Converges("(D) claim: MimeLite (no correction) reaches x* on the same clients", "mimelite-drift", measure="dist2",
                  bound=1e-20 * R0, where=lambda p: p["algo"] == "mime-lite", expected=FAIL,
                  description="negative control (catalog T4 (f), observational there): without the correction the local steps drift"),
        Contrast("(O) Mime family vs server-only baselines at delta_H = L/80, 100 rounds", "contrast",
                 series={a: {"algo": a} for a in ("mime", "mime-lite", "mime-mvr", "mime-lite-mvr", "server-sgd", "server-momentum",
                                                  "server-mvr")},
                 measures=("subopt",), reference="server-momentum", plot="subopt",
                 description="observational (UNVERIFIED update equations for the MVR variants): PASS means measured"),
        Exponent("(M) MimeMVR: error after R rounds ~ delta_H^{2/3} (L = 2, delta_H = 0.02..0.32) [UNVERIFIED]", "mvr",
                 measure="late_grad2", mode="final", variable="delta_H", relation="tight", bound=MVR_TERM,
                 where=mvr_delta,
                 description="[SEED-2 table, UNVERIFIED: exponent only] the (delta zeta/(sqrt(S) R))^{2/3} term; mean over replicas "
                             "of ||grad f(x_r)||^2 averaged over rounds R/2..R"),
        Exponent("(M) claim: MimeMVR's error after R rounds ~ delta_H^1", "mvr", measure="late_grad2", mode="final",
                 variable="delta_H", relation="tight", bound=MVR_TERM * delta_H ** sp.Rational(1, 3),
                 where=mvr_delta, expected=FAIL, description="planted twin: a wrong exponent in delta_H"),
        Exponent("(M) MimeMVR: error after R rounds does not grow with L at fixed delta_H (L = 1..8) [UNVERIFIED]", "mvr",
                 measure="late_grad2", mode="final", variable="L", relation="tight", bound=MVR_TERM,
                 where=mvr_l("mime-mvr"),
                 description="[SEED-2: delta replaces L, UNVERIFIED: exponent only] K = ceil(eta_r L_max) local steps; the tuning has no L"),
        Exponent("(M) claim: MimeMVR's error after R rounds ~ L^{2/3} (L in place of delta_H)", "mvr", measure="late_grad2",
                 mode="final", variable="L", relation="tight", bound=LOWER_TERM, where=mvr_l("mime-mvr"),
                 expected=FAIL, description="negative control: at fixed delta_H the server-only lower bound's L^{2/3} is absent"),
        Exponent("(M) MimeMVR: error after R rounds ~ S_eff^{-1/3} (S = 1..8 of N = 32) [UNVERIFIED]", "mvr-sampling", measure="late_grad2",
                 mode="final", variable="S_eff", relation="tight", bound=MVR_TERM,
                 description="[SEED-2: delta zeta/(sqrt(S) eps^{3/2}), UNVERIFIED: exponent only] eps(R) form: slope -1/3 in S_eff"),
        Exponent("(M) claim: MimeMVR's error after R rounds does not improve with S (slope 0)", "mvr-sampling",
                 measure="late_grad2", mode="final", variable="S_eff", relation="tight", bound=MVR_TERM.subs(S_eff, 1),
                 expected=FAIL, description="planted twin: the S-dependence dropped (as printed for MimeLiteMVR's term)"),
        Exponent("(b) server-only MVR on G3 (step 1/L_max, MimeMVR's a): error after R rounds does not grow with L [DERIVED here]",
                 "mvr", measure="late_grad2", mode="final", variable="L", relation="upper", bound=SERVER_MVR_G3,
                 where=mvr_l("server-mvr"),
                 description="on G3 grad f_S(x) - grad f_S(x') - (grad f(x) - grad f(x')) = mean_S D_i (x - x'), ||.|| <= delta_H: "
                             "the MVR analysis holds with ell = delta_H; L enters only through the step limit 1/L"),
        Exponent("(b) claim: server-only MVR's error on G3 grows like L^{2/3} (the lower bound's term)", "mvr",
                 measure="late_grad2", mode="final", variable="L", relation="lower", bound=LOWER_TERM,
                 where=mvr_l("server-mvr"), expected=FAIL,
                 description="negative control: the Omega(L zeta/(sqrt(S) eps^{3/2})) lower bound is over worst-case instances; "
                             "G3's sampled-gradient differences are delta_H-Lipschitz"),
        Observation("(b) slopes in L of the error after R rounds: MimeMVR, server-only MVR and momentum (delta_H = 0.08)", "mvr",
                    observe=_l_slopes, where=lambda p: p["delta_H"] == 0.08,
                    description="observational: late_grad2 (rounds R/2..R) and avg_grad2 (rounds 0..R, includes the start)"),
    ],
    symbols=SYMBOLS,
    stream="mime",
    mutants={"server-with-local-steps": _server_with_local_steps},
    notes=[("Catalog status: Mime's theorem statements, assumptions, the MVR update equations and the K >~ L/delta condition are "
           "UNVERIFIED (THEOREMS.md T4, Appendix C): checked as exponents and contrasts only, never with constants."),
           ("MimeMVR's eps^{-3/2} term is checked as exponents (2/3 in delta_H, 0 in L, -1/3 in S_eff) at the MVR tuning derived "
            "in the docstring (M); the server-only L^{2/3} of the lower bound does not appear on G3 (the sampled-gradient "
            "differences are delta_H-Lipschitz): only the L/R term does, checked by (L)."),
           "Not checked: MimeLiteMVR's terms and the sigma-terms."],
)
