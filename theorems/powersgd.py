"""PowerSGD: rank-r compression with a warm-started query and error feedback (THEOREMS.md T3.1).

Source: Vogels, Karimireddy, Jaggi, "PowerSGD: Practical low-rank gradient compression for distributed
optimization", NeurIPS 2019 (Alg. 1 compression, Alg. 2 EF; code epfml/powersgd paper-code/
gradient_reducers.py RankKReducer); lecture slide "Compression in Practice - PowerSGD" and Thms 12.4/12.5
(Stich, seed 004). The paper is empirical and gives no rate of its own [THEOREMS.md: UNVERIFIED that none
exists]; what is checked here are the catalog's derived properties and its EF claim:

  P1 all-reduce linearity [DERIVED, exact]: for a fixed query Q, averaging P_w = M_w Q and Q_w = M_w^T P^
     over the W workers gives P^ P^^T Mbar, the compression of the mean Mbar = (1/W) sum_w M_w.
  P2 fresh Gaussian query, rank 1 [DERIVED]: with A = M^T M (M in R^{n x m}), the captured energy
     ||P^^T M||^2/||M||^2 = q^T A^2 q/((q^T A q) tr A) >= q^T A q/(||q||^2 tr A) (Cauchy-Schwarz), whose
     expectation is 1/m: a delta-compressor in expectation with delta >= 1/m, tight at M = I.
     Rank r: delta >= r/m is a CONJECTURE in the catalog (NUM-consistent).
  P3 warm start = subspace iteration [standard]: for M_t = M fixed, span(P^_{t+1}) = span(M M^T P^_t), so
     the subspace error (tangents of the principal angles to the top-r left singular subspace; Golub & Van
     Loan, "orthogonal iteration") decays as (sigma_{r+1}/sigma_r)^{2t}, and the captured energy tends to the
     best rank-r value; the energy error is quadratic in the angles and decays as (sigma_{r+1}/sigma_r)^{4t}
     [DERIVED here; the catalog's "error ~ (sigma_{r+1}/sigma_r)^{2t}" holds for the subspace error].
  EF  [catalog T3.1 (e), via T2]: EF-PowerSGD with SGD's tuned step reaches SGD's asymptotic slope,
     -1/2 in T for sigma > 0.

The declared bound is SGD's (lecture Thm 12.2 with omega = 0, theorem quantized-sgd):
    (1/T) sum_{t<T} E f(x_t) - f*  <=  R0/(gamma T) + gamma sigma^2,  gamma = min(1/(2L), sqrt(R0/(sigma^2 T))),
the rate EF-PowerSGD is claimed to reach asymptotically (its exponent, and the ratio of the two -> 1);
the catalog gives EF-PowerSGD no explicit constant, so no "bound holds" is asserted for it.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from problems.lowrank import ef_least_squares, p2_matrix, p3_matrix, worker_matrices
from ratecheck.algorithms.powersgd import allreduce_gaps, captured_energy, ef_powersgd, subspace_iteration
from ratecheck.checks import (
    FAIL,
    Contrast,
    Converges,
    Exponent,
    GeometricRate,
    MeanVersusBound,
    Ratio,
    WithinRounding,
)
from ratecheck.problem import IIDClients
from ratecheck.sweep import Sweep, grid, points
from ratecheck.symbols import R0, L, Meaning, T, gamma, sigma
from ratecheck.theorem import Theorem

# ----------------------------------------------------------------------------------------------------
# the declared statements (every prediction below is computed from these expressions)

SYMBOLS = [Meaning("m", "columns of M (the query's dimension)"), Meaning("r", "rank of the PowerSGD query", neutral=1),
           Meaning("sigma_r", "r-th singular value of M"), Meaning("sigma_r1", "(r+1)-th singular value of M")]
m, r, sigma_r, sigma_r1 = (s_.symbol for s_ in SYMBOLS)

BOUND = R0 / (gamma * T) + gamma * sigma**2  # SGD (lecture Thm 12.2, omega = 0)
GAMMA_TUNED = sp.Min(1 / (2 * L), sp.sqrt(R0 / (sigma**2 * T)))
DELTA_FRESH = r / m  # P2: E captured energy of one step from a fresh Gaussian query (rank 1: derived)
ANGLE_RATE = (sigma_r1 / sigma_r) ** (2 * T)  # P3: subspace error after t warm steps (up to a constant)
ENERGY_RATE = (sigma_r1 / sigma_r) ** (4 * T)  # P3 [DERIVED here]: energy error = O(subspace error^2)
P3_T_MIN = sp.log(100) / (2 * sp.log(sigma_r / sigma_r1))  # steps after which an initial tangent of 100 is below 1

# ----------------------------------------------------------------------------------------------------
# the runs: P1 all-reduce linearity, P2 one step from a fresh query, P3 warm start on a fixed M, EF-PowerSGD


def run_p1(ctx, point, R, rng):
    """P1 on R draws of the n workers' rows x cols matrices and a shared Gaussian query."""
    M = worker_matrices(point["kind"], R, point["n"], point["rows"], point["cols"], rng)
    return allreduce_gaps(M, rng.standard_normal((R, point["cols"], point["rank"])), rng)


def run_p2(ctx, point, R, rng):
    """R fresh N(0, 1) queries for one matrix M of problems/lowrank.p2_matrix: captured and projected energies."""
    M, rank = p2_matrix(point["kind"]), point["rank"]
    Q = rng.standard_normal((R, M.shape[1], rank))
    if point.get("query") == "min-singular":  # planted violated assumption: Q depends on M (its weakest right singular vectors)
        Q = Q * 1e-6 + np.linalg.svd(M)[2][::-1][:rank].T
    return captured_energy(M, Q, rng)


def run_p3(ctx, point, R, rng):
    """T warm-started steps on the fixed M of problems/lowrank.p3_matrix from R random initial queries."""
    M, U, s = p3_matrix(point["rank"], point["rho"])
    return subspace_iteration(M, U, s, point["rank"], point["T"], R, rng)


SHAPE, N_WORKERS, SIGMA_WORKER = (8, 6), 4, 1.0  # 8 x 6 gradient matrices; E||xi_i||^2 per worker (averaged: sigma/sqrt(n))


def run_ef(ctx, point, R, rng):
    """EF-PowerSGD (or mini-batch SGD, Q = 'sgd') with n i.i.d. workers on matrix least squares, at the tuned step
    gamma(T) or at the tuned step of a reference horizon ``gamma_at`` (the fixed-step contrasts)."""
    f = ctx.problem(ef_least_squares(SHAPE, SIGMA_WORKER))
    ctx.record(sigma=SIGMA_WORKER / np.sqrt(N_WORKERS), sigma_worker=SIGMA_WORKER, T=point["T"])
    ctx.record(gamma=ctx.step("tuned", T=point.get("gamma_at", point["T"])))
    rank = point.get("rank", 1) if point["Q"] == "powersgd" else None
    return ef_powersgd(IIDClients(f, N_WORKERS), SHAPE, rank, ctx.constants["gamma"], point["T"], R, rng,
                       warm_start=point.get("warm", True), error_feedback=point.get("ef", True))


P1 = grid(kind=("gaussian", "scales", "low-rank"), rows=12, cols=10, n=(2, 8), rank=(1, 3))
TUNED = grid(Q=("powersgd", "sgd"), T=(16, 1000, 2000, 4000, 8000, 16000, 32000)).derive(inv_sqrt_T=lambda p: round(1 / np.sqrt(p["T"]), 8))
WARM, DEFAULTS = {"Q": "powersgd", "rank": 1, "warm": True, "ef": True}, {"rank": 1, "warm": True, "ef": True}
CONTRASTS = points({"Q": "powersgd", "rank": 1, "warm": True}, {"Q": "powersgd", "rank": 1, "warm": False},
                   {"Q": "powersgd", "rank": 1, "warm": True, "ef": False}, {"Q": "powersgd", "rank": 2, "warm": True},
                   {"Q": "powersgd", "rank": 4, "warm": True}, {"Q": "sgd"}).set(T=4000, gamma_at=4000)

# ----------------------------------------------------------------------------------------------------
# planted errors of this theorem (beyond ratecheck.mutate's generic ones, e.g. drop-r: the rank factor dropped)


def _query_depends_on_M(thm: Theorem) -> Theorem:
    """A violated assumption of P2: the query is not independent of M but aligned with M's weakest right
    singular vectors, so one step captures sum of the r smallest sigma_i^2 over ||M||^2 < r/m."""
    return thm.map_sweep("p2-fresh-query", lambda p: {**p, "query": "min-singular"})


# ----------------------------------------------------------------------------------------------------
# the declaration

is_ps = lambda p: p["Q"] == "powersgd"

THEOREM = Theorem(
    title="PowerSGD: rank-r compression, warm start and error feedback",
    source="Vogels, Karimireddy, Jaggi, PowerSGD, NeurIPS 2019 (Alg. 1-2; epfml/powersgd RankKReducer); THEOREMS.md T3.1; "
           "lecture seed 004 (PowerSGD slide; EF Thms 12.4/12.5)",
    statement="P1: for a fixed query the all-reduced output is the compression of the mean gradient. P2: one step from a fresh "
              "Gaussian rank-1 query captures E||C(M)||^2 >= ||M||^2/m (tight at M = I); rank r: >= r/m (conjecture). P3: warm "
              "start is subspace iteration: subspace error ~ (sigma_{r+1}/sigma_r)^{2t}, energy error ~ (sigma_{r+1}/sigma_r)^{4t}. "
              "EF-PowerSGD with SGD's tuned step reaches SGD's rate R0/(gamma T) + gamma sigma^2: slope -1/2 in T for sigma > 0.",
    assumptions=[
        "W workers each hold M_w in R^{n x m}; the query Q in R^{m x r} is shared (same seed or previous step's Q)",
        "P2: Q has i.i.d. N(0, 1) entries, independent of M",
        "P3: the same M at every step, sigma_r > sigma_{r+1}",
        ("EF: f(X) = (1/2N)||AX - B||^2 convex and L-smooth, R0 = ||X0 - X*||^2; per-worker additive noise, averaged "
         "gradient noise E||gbar - grad f||^2 = sigma^2 = sigma_w^2/W; gamma = min(1/(2L), sqrt(R0/(sigma^2 T)))"),
    ],
    bound=BOUND,
    measure="avg_subopt: (1/T) sum_{t<T} f(x_t) - f*, mean over replicas (EF checks); captured energy, subspace angle, "
            "energy gap and all-reduce discrepancies for P1-P3",
    steps={"tuned": GAMMA_TUNED},
    sweeps=[
        Sweep("p1-allreduce", run_p1, P1, R=400, quick_R=200),
        Sweep("p2-fresh-query", run_p2, grid(kind=("identity-8", "identity-40", "gaussian", "near-flat", "spiked"), rank=(1, 2, 4)),
              R=8000, quick_R=4000),
        Sweep("p3-warm-start", run_p3, grid(rank=(1, 2), rho=(0.6, 0.8, 0.9), T=60), R=200),
        Sweep("ef-tuned", run_ef, TUNED, R=100, quick=lambda p: p["T"] <= 8000, quick_R=48),  # 48: the ratio's false-failure budget
        Sweep("contrasts", run_ef, CONTRASTS, R=100, quick=CONTRASTS.set(T=2000), quick_R=32),
    ],
    checks=[
        WithinRounding("P1: all-reduce output = compression of the mean (fixed Q)", "p1-allreduce", measure="gap_allreduce", tol=1e-9,
                      description="[DERIVED, exact] max|allreduce(M_1..M_W; Q) - C_Q(Mbar)| / max|Mbar| over W in {2, 8}, r in {1, 3}, "
                                  "Gaussian, heterogeneous (10^+-3) and nearly rank-1 workers; C_Q is compressors.PowerSGD.step, an "
                                  "independent implementation. tol 1e-9 = 4.5e6 unit roundoffs, room for ill-conditioned QR"),
        WithinRounding("P1 along EF-PowerSGD runs", "ef-tuned", measure="allreduce_gap", tol=1e-9, where=is_ps,
                      description="the same identity at every checkpoint of every EF-PowerSGD run (error-compensated inputs)"),
        WithinRounding("P1 applied to local orthogonalization (nonlinear variant)", "p1-allreduce", measure="gap_local", tol=1e-9,
                      expected=FAIL,
                      description="negative control: each worker orthogonalizes its own P_w and the server averages; not linear in "
                                  "M_w, so the identity must fail"),
        MeanVersusBound("P2 rank 1: E captured energy >= 1/m", "p2-fresh-query", measure="captured", relation="lower", bound=DELTA_FRESH,
                        where=lambda p: p["rank"] == 1,
                        description="[DERIVED, catalog T3.1 P2] one step from a fresh N(0, 1) query; identity (8, 40), Gaussian 30x40, "
                                    "near-flat 20x20, spiked 30x40; one-sided, family-wise false-FAIL rate 1e-3"),
        WithinRounding("P2 per sample: captured >= ||M Pi_Q||^2/||M||^2 (rank 1: q^T A q/(|q|^2 tr A))", "p2-fresh-query",
                      measure="cs_violation", tol=1e-12,
                      description="rank 1: the catalog's Cauchy-Schwarz step [DERIVED]; rank r: ||P^P^^T M|| >= ||M Pi_Q|| because "
                                  "M Pi_Q has its columns in span(MQ) (derivation in compressors.PowerSGD.expected_delta_lower)"),
        MeanVersusBound("P2: E ||M Pi_Q||^2/||M||^2 = r/m", "p2-fresh-query", measure="proj_lower", relation="exact", bound=DELTA_FRESH,
                        description="rank 1: E q^T A q/(|q|^2 tr A) = 1/m (q/|q| uniform on the sphere) [DERIVED]; rank r: E Pi_Q = "
                                    "(r/m) I for Gaussian Q. Within 6 standard errors at every point"),
        MeanVersusBound("P2 tight at M = I: captured energy = r/m", "p2-fresh-query", measure="captured", relation="exact",
                        bound=DELTA_FRESH, where=lambda p: p["kind"].startswith("identity"),
                        description="every query captures exactly r of the m unit singular values: the bound 1/m is attained"),
        MeanVersusBound("P2 rank r > 1: E captured energy >= r/m (CONJECTURE in the catalog)", "p2-fresh-query", measure="captured",
                        relation="lower", bound=DELTA_FRESH, where=lambda p: p["rank"] > 1,
                        description="THEOREMS.md T3.1 labels delta >= r/m for r > 1 a conjecture (NUM-consistent); reported as such. "
                                    "It follows from the two checks above (per-sample inequality and E Pi_Q = (r/m) I), the argument "
                                    "of compressors.PowerSGD.expected_delta_lower"),
        MeanVersusBound("P2 with a claimed delta >= 2r/m at M = I", "p2-fresh-query", measure="captured", relation="lower",
                        bound=2 * DELTA_FRESH, where=lambda p: p["kind"].startswith("identity"), expected=FAIL,
                        description="negative control: at M = I the captured energy is exactly r/m, so a claim twice as large must fail"),
        GeometricRate("P3 warm start: subspace error ~ (sigma_{r+1}/sigma_r)^{2t}", "p3-warm-start", measure="tan_angle",
                      bound=ANGLE_RATE, t_min=P3_T_MIN, floor=1e-11, tol=0.02,
                      description="[standard, catalog T3.1 P3] geometric mean over R random initial queries (200; quick 100) of the tangents of the "
                                  "principal angles, ||U_perp^T P^ (U_r^T P^)^-1||_F; r in {1, 2}, sigma_{r+1}/sigma_r in {0.6, 0.8, 0.9}; "
                                  "log-factor per step within 2% of the declared expression's, fitted from t >= log(100)/(2 log("
                                  "sigma_r/sigma_{r+1})) until every replica reaches 1e-11"),
        GeometricRate("P3 warm start: energy error ~ (sigma_{r+1}/sigma_r)^{4t}", "p3-warm-start", measure="gap", bound=ENERGY_RATE,
                      t_min=P3_T_MIN, floor=1e-22, tol=0.05,
                      description="[DERIVED here] best rank-r energy minus captured energy = sum of (sigma_i^2 - sigma_j^2) times "
                                  "squared sines: the square of the subspace error, hence twice the exponent"),
        WithinRounding("P3: captured energy never exceeds the best rank-r energy (Eckart-Young)", "p3-warm-start", measure="excess",
                      tol=1e-12, description="positive part of captured - best, over ||M||^2, at every step"),
        GeometricRate("P3 read as energy error ~ (sigma_{r+1}/sigma_r)^{2t}", "p3-warm-start", measure="gap", bound=ANGLE_RATE,
                      t_min=P3_T_MIN, floor=1e-22, tol=0.05, expected=FAIL,
                      description="negative control: the catalog's 'error ~ (sigma_{r+1}/sigma_r)^{2t}' holds for the subspace error; "
                                  "applied to the energy error it is off by a factor 2 in the exponent and must fail"),
        Exponent("EF-PowerSGD (r = 1, n = 4 workers, warm start), tuned gamma(T): slope -1/2 in T", "ef-tuned", mode="final", relation="tight",
                 subs={"gamma": "tuned"}, where=is_ps, T_min=500,
                 description="catalog T3.1 (e): SGD's asymptotic slope; one run per T with gamma = min(1/(2L), sqrt(R0/(sigma^2 T))); "
                             "8 x 6 gradients, sigma = 0.5 after averaging; fit over T >= 500 where the bound's slope is -1/2"),
        Exponent("reference: mini-batch SGD (n = 4 workers), same steps: slope -1/2 in T", "ef-tuned", mode="final", relation="tight",
                 subs={"gamma": "tuned"}, where=lambda p: p["Q"] == "sgd", T_min=500),
        Ratio("EF-PowerSGD / SGD -> 1 as T -> infinity (delta only in higher-order terms)", "ef-tuned", measure="avg_subopt",
              relation="tight", numerator=is_ps, denominator=lambda p: p["Q"] == "sgd", pair_by="T", extrapolate="inv_sqrt_T",
              where=lambda p: p["T"] >= 1000, subs={"gamma": "tuned"}, tol=0.05, bias_allowance=0.013,
              description="lecture Thm 12.4 remark / catalog T2 (e): with EF, delta enters only the higher-order terms, so the ratio "
                          "of averaged suboptimalities tends to the ratio of the leading terms, 1; extrapolated linearly in 1/sqrt(T)"),
        Converges("EF-PowerSGD and SGD contract at every tuned step, including the cap 1/(2L)", "ef-tuned", measure="dist2", bound=R0,
                  description="E||x_T - x*||^2 < R0 at every point, T = 16 (gamma = 1/(2L), the cap) to 32000; no divergence"),
        Contrast("Observation (f)(i): warm start vs fresh query at r = 1", "contrasts", series={"warm": WARM, "cold": {"warm": False},
                 "SGD": {"Q": "sgd"}}, measures=("avg_subopt", "avg_delta_obs"), reference="warm", defaults=DEFAULTS,
                 description="catalog T3.1 (f)(i), observational (not theorem-backed): expect a slower transient without warm start. "
                             "Fixed gamma (tuned for T = 4000). PASS means measured, not asserted"),
        Contrast("Observation (f)(ii): EF off, noise spread over all singular directions", "contrasts",
                 series={"EF": WARM, "no EF": {"ef": False}, "SGD": {"Q": "sgd"}}, measures=("avg_subopt", "subopt"), reference="EF",
                 defaults=DEFAULTS, plot="subopt", description="catalog T3.1 (f)(ii), observational: expect a floor or markedly slower "
                                                              "convergence without EF. PASS means measured, not asserted"),
        Contrast("Observation (e): transient vs rank", "contrasts", series={f"r={k_}": {**WARM, "rank": k_} for k_ in (1, 2, 4)} | {"SGD": {"Q": "sgd"}},
                 measures=("avg_subopt", "avg_delta_obs"), reference="SGD", defaults=DEFAULTS,
                 description="catalog T3.1 (e): the transient grows as delta decreases (rank down); observational"),
        Contrast("Observation (e): measured delta_t with and without warm start", "contrasts", series={"warm": WARM, "cold": {"warm": False}},
                 measures=("delta_obs@first", "delta_obs", "avg_delta_obs"), defaults=DEFAULTS, plot="delta_obs",
                 description="catalog T3.1 (c)/(e): the per-step delta_t to feed T2 (fresh-query expectation >= 1/m = 1/6), and whether "
                             "warm start raises it; observational"),
    ],
    symbols=SYMBOLS,
    stream="powersgd",
    mutants={"query-depends-on-M": _query_depends_on_M},
    notes=[
        ("Catalog status: P1 and P2 (rank 1) [DERIVED]; P2 for rank r > 1 a CONJECTURE in the catalog, checked here and labelled so "
         "(the per-sample inequality and E Pi_Q = (r/m) I, both checked, prove it; see compressors.PowerSGD.expected_delta_lower); "
         "P3 [standard]; that the PowerSGD paper has no rate theorem of its own is UNVERIFIED; the EF slope claim is T3.1 (e)."),
        ("P3 wording: the catalog's 'error ~ (sigma_{r+1}/sigma_r)^{2t}' is checked for the subspace error (tangents of the principal "
         "angles). The energy error (best rank-r energy minus captured energy, the catalog's NUM 'relative error' minus its limit) "
         "is quadratic in those angles and decays as (sigma_{r+1}/sigma_r)^{4t}; a negative control shows the 2t reading fails for it."),
        ("EF variant: RankKReducer's memory e_w = Delta_w - Delta' (local input minus the averaged approximation), memory in gradient "
         "units, no momentum (the paper's default 0.9 is left out: the rate claims are for plain EF-SGD)."),
        ("The contrasts of T3.1 (f) and the rank/delta_t remarks of (e) are observational: they are measured and reported, never asserted; "
         "deterministic single-worker runs without EF do not fail (P^P^^T M is a descent direction), so no failure is claimed."),
        ("Predicted exponents, rates and ratios are computed from the sympy expressions above (BOUND with GAMMA_TUNED, DELTA_FRESH, "
         "ANGLE_RATE, ENERGY_RATE), so a wrong declaration fails its checks."),
    ],
)
