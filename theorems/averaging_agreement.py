"""Averaging agreement with f Byzantine nodes: ICwTM contracts the honest diameter, MDA's averaging ratio ~ f/n (T8).

Source: El-Mhamdi, Farhadkhani, Guerraoui, Guirguis, Hoang, Rouault, "Collaborative learning as an agreement
problem" (arXiv 2008.00742; NeurIPS 2021 "Collaborative learning in the jungle"), THEOREMS.md T8 [SEED-3: abstract
and slide definitions]. The paper's averaging constants, contraction factors and round counts are UNVERIFIED
(catalog T8 (c)): no constant of the paper is checked. What is checked are exponents, contraction and ratios, each
against an expression DERIVED here in the synchronous model of ratecheck.algorithms.agreement (n nodes, f Byzantine,
h = n - f honest; reliable broadcast = one Byzantine value for everybody, equivocation = one per receiver):

  Contraction [DERIVED]: per coordinate, two receivers' multisets share the h honest values and differ in at most f,
      so their sorted values interlace with a shift of at most f; summing the kept order statistics gives
      |TM_i - TM_k| <= f (max_H - min_H)/(n - 2f). Iterated: Delta_2(x_t) <= (f/(n - 2f))^t ||range_0||, range_0 the
      vector of the honest per-coordinate ranges at the start (its l2 norm is at most sqrt(d) Delta_2: the catalog's
      suspected dimension dependence). The factor is < 1 iff n >= 3f + 1. The split attack (equivocation: +big to
      the first h // 2 receivers, -big to the rest, both groups >= f) attains it: from round 1 on the honest nodes
      form two clusters and the diameter shrinks by exactly f/(n - 2f) per round. Under reliable broadcast every
      honest node receives the same multiset, so one round gives exact agreement (Delta_2 = 0).
  ICwTM averaging [DERIVED]: the kept values of coordinate j lie between the means of the lowest and the highest
      n - 2f honest values, each within (f/h) range_j of xbar_j, so ||ybar - xbar|| <= f/(n - f) ||range|| per round,
      and over all rounds <= f/(n - f) ||range_0|| / (1 - f/(n - 2f)).
  MDA averaging [DERIVED]: the honest set is a candidate subset, so the chosen subset S has diameter <= Delta_2 and
      holds k <= f Byzantine vectors and all but k honest ones; each of its Byzantine vectors and each honest vector it
      drops lies within Delta_2 of the mean of its kept honest ones, so ||ybar - xbar|| <= 2 f Delta_2/(n - f) for
      n >= 2f + 1 (per receiver, hence also under equivocation).
  Attaining f/n: Byzantine values posing as honest at the edge of the hull, f copies of x_a, an end of the honest
      diameter pair (a, b): for f = 1 the subset without x_b (plus the copy) has a smaller diameter than H, so MDA
      swaps x_b for x_a and ybar - xbar = (x_a - x_b)/(n - 1): the ratio is exactly f/(n - f) (the catalog's lower
      heuristic C >~ f/(n - f) for Byzantines posing as honest). An attack outside the hull (extreme) is never
      chosen, and one inside it moves the mean less; the edge is where an attacker gains most, so it is the attack
      that must show the slope -1 in n at fixed f.

Checks, each with its catalog tag:
  (C1) [T8 (e), DERIVED factor] ICwTM, split attack, n >= 3f + 1: Delta_2 contracts geometrically at exactly
       f/(n - 2f) per round (GeometricRate, relative tolerance 1e-6: exact up to rounding).
  (C2) [DERIVED] ICwTM, every attack (extreme, inside, split): Delta_2(x_t) <= (f/(n - 2f))^t ||range_0|| at every t.
  (C3) [T8 (e)] ICwTM, every attack: Delta_2 falls below 1e-4 of its start (converges).
  (A1) [DERIVED] ICwTM, every attack: one round moves the honest average by at most f/(n - f) ||range||.
  (A2) [DERIVED] ICwTM, every attack: all rounds together at most f/(n - f) ||range_0|| / (1 - f/(n - 2f)).
  (A3) observation: the ICwTM averaging ratio ||ybar - xbar||/Delta_2(x_0) per attack, next to f/(n - f).
  (M1) [DERIVED] MDA, one round, every attack, n = 6f + 1 (f = 1, 2, 3): ratio <= 2f/(n - f).
  (M2) [T8 (e)] MDA, edge attack, fixed f: ratio ~ n^-1 (Exponent in n, tight; f = 1 exact, f = 2 a random factor).
  (M3) [T8 (c) anchor, DERIVED] MDA, edge attack, f = 1: ratio = f/(n - f) exactly.
  (L1) [T8 (a), DERIVED] learning by C-averaging of gradients (full gradients, sigma = 0, reliable broadcast so that
       delta_agr = 0), G3 clients with identical Hessians, n = 8, f = 1, edge attack on the gradients, gamma = 1/L:
       ||grad Lbar(theta_t)|| <= C K = 2f K/(n - f) once converged (t >= 40). At a fixed point the aggregate is 0, so
       grad Lbar = -(MDA - mean), whose norm is at most C Delta_2(gradients) = C K.
  (L2) [T8 (e)] the floor of ||grad Lbar|| ~ K (slope +1, tight), with MDA and with ICwTM; K swept by scaling one
       instance's optima (the catalog's "prefactor ~ C": (L3)).
  (L3) [DERIVED] with MDA under the edge attack, f = 1: the floor is f K/(n - f) exactly.
  (N1) negative control [T8 (f)]: ICwTM with n = 3f and equivocation (split): "converges" must FAIL (the factor is 1:
       the two clusters never move; classical impossibility of approximate agreement for n <= 3f).
  (N2) negative control: plain averaging (no trimming) under the extreme attack: "ratio <= 2f/(n - f)" must FAIL.
Not checked: the learning side with stochastic gradients, equivocation or ICwTM's constant; the paper's asynchronous
model (each node waits for n - f values), where MDA's n >= 6f + 1 comes from; in this synchronous model (M1)'s bound
holds from n >= 2f + 1, so no MDA negative control at n < 6f + 1 is claimed.
Mutants: generic drop-f, drop-n, drop-K, faster-T; n-equals-3f (the contraction sweep run at n = 3f, declared
n >= 3f + 1); equivocation-under-broadcast (MDA's edge attack, which assumes one value for everybody, replaced by
equivocation: the two halves of the honest nodes receive copies of the two ends of the diameter pair).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from problems.federated import FederatedQuadratic
from ratecheck.algorithms.agreement import agreement, collaborative_gd, diameter
from ratecheck.checks import (
    FAIL,
    BoundHolds,
    Converges,
    Exponent,
    GeometricRate,
    MeanVersusBound,
    Observation,
    Plot,
)
from ratecheck.sweep import Sweep, grid, zipped
from ratecheck.symbols import Meaning, T, f, n
from ratecheck.theorem import Theorem
from ratecheck.trace import Trace

SYMBOLS = [Meaning("K", "heterogeneity: diameter of the honest local gradients, max_{i,j in H} ||grad f_i - grad f_j|| (constant in "
                        "theta for identical Hessians)", neutral=0)]
K = SYMBOLS[0].symbol

CONTRACTION = (f / (n - 2 * f)) ** T  # Delta_2(x_T) <= (f/(n - 2f))^T ||range_0||, equality per round for the split attack
TM_STEP = f / (n - f)  # ICwTM: one round moves the honest average by <= f/(n - f) ||range||
TM_TOTAL = TM_STEP / (1 - f / (n - 2 * f))  # ... and all rounds by <= f/(n - f) ||range_0|| / (1 - f/(n - 2f))
MDA_BOUND = 2 * f / (n - f)  # MDA: ||ybar - xbar|| <= 2f Delta_2/(n - f)
MDA_EDGE = f / (n - f)  # MDA, edge attack, f = 1: exactly f/(n - f)
LEARN_FLOOR = MDA_BOUND * K  # learning with MDA-averaged gradients: ||grad Lbar(theta)|| <= C K at the fixed point
LEARN_EDGE = MDA_EDGE * K  # ... = f K/(n - f) under the edge attack, f = 1
EPS = sp.Float(1e-4)


def run(ctx, point, R, rng) -> Trace:
    """R honest starts N(0, I_d) at h = n - f nodes, point['T'] rounds of point['rule'] under point['attack'], recorded
    every round. The resilience guard of the library (n >= 3f + 1 for ICwTM) is off: the negative controls run n = 3f."""
    h, d = point["n"] - point["f"], point["d"]
    X0 = rng.standard_normal((R, h, d))
    return agreement(X0, point["f"], point["T"], rule=point["rule"], attack=point["attack"], enforce=False,
                     checkpoints=np.arange(1, point["T"] + 1))


# horizons: (f/(n - 2f))^T about 1e-5, so that Delta_2 stays 1e11 above the rounding of the O(1) honest values (the
# split attack attains the bound exactly for f = 1: a BoundHolds comparison allows 1e-9 relative rounding)
def run_learning(ctx, point, R, rng) -> Trace:
    """G3 clients with identical Hessians H = diag(linspace(1, 2, d)) (delta_H = 0) and optima x* + scale u_i (u fixed,
    centred), so that the honest gradients differ by constants and K = Delta_2 of the client gradients (certified at x*);
    collaborative gradient descent with point['rule'] averaging, gamma = 1/L, point['T'] rounds from x0 = 1."""
    h, d = point["n"] - point["f"], point["d"]
    u = np.random.default_rng(12345).standard_normal((h, d))  # one instance for every scale: K is swept by scaling it
    H = np.diag(np.linspace(1.0, 2.0, d))
    fq = FederatedQuadratic(np.broadcast_to(H, (h, d, d)), point["scale"] * (u - u.mean(axis=0)), x0=np.ones(d))
    Kc = float(diameter(fq.client_grads(np.broadcast_to(fq.x_star, (h, d)))[None])[0])
    ctx.record(K=Kc, L=fq.constants["L"], mu=fq.constants["mu"])
    return collaborative_gd(fq, point["f"], point["T"], 1.0 / fq.constants["L"], R, rule=point["rule"], attack=point["attack"],
                            checkpoints=np.arange(1, point["T"] + 1))


ICWTM = (zipped(n=(4, 7, 10, 13), f=(1, 2, 3, 2), T=(17, 29, 40, 8)) * grid(attack=("extreme", "inside", "split"))).set(rule="icwtm", d=5)
ICWTM_3F = zipped(n=(3, 6, 9), f=(1, 2, 3)).set(rule="icwtm", attack="split", T=40, d=5)
MDA_ALL = (zipped(n=(7, 13, 19), f=(1, 2, 3)) * grid(attack=("extreme", "inside", "edge", "split"))).set(rule="mda", T=1, d=5)
MDA_N = zipped(n=(24, 48, 96, 192), f=1).set(rule="mda", attack="edge", T=1, d=5)  # exact: a few replicas suffice
MDA_N2 = zipped(n=(45, 90, 180), f=2).set(rule="mda", attack="edge", T=1, d=5)  # random factor: R from the slope's spread
LEARN = grid(rule=("mda", "icwtm"), scale=(0.25, 0.5, 1.0, 2.0, 4.0)).set(n=8, f=1, attack="edge", T=60, d=5)
MEAN = zipped(n=(7, 13), f=(1, 2)).set(rule="mean", attack="extreme", T=1, d=5)

split = lambda q: q["attack"] == "split"


def _icwtm_ratios(runs) -> tuple[str, dict, Plot]:
    """The averaging ratio ||xbar_T - xbar_0||/Delta_2(x_0) of ICwTM per point, next to f/(n - f) and the derived bound
    in units of ||range_0|| (ratio_range0)."""
    rows, parts = [], []
    plot = Plot("ICwTM averaging ratio per point", "f/(n - f)", "mean ||xbar_T - xbar_0|| / Delta_2(x_0)", logx=False, logy=False)
    for r in runs:
        c = r.trace.constants
        ratio, rr = float(np.mean(r.trace.values["ratio"][:, -1])), float(np.mean(r.trace.values["ratio_range0"][:, -1]))
        rows.append({"point": r.label, "ratio": ratio, "ratio_range0": rr, "f_over_n_minus_f": c["f"] / (c["n"] - c["f"])})
        parts.append(f"n={c['n']:g} f={c['f']:g} {r.point['attack']}: {ratio:.3f} (f/(n-f) {c['f'] / (c['n'] - c['f']):.3f})")
    plot.add("measured", [x["f_over_n_minus_f"] for x in rows], [x["ratio"] for x in rows], "data")
    return "; ".join(parts), {"rows": rows}, plot


def _n_equals_3f(thm: Theorem) -> Theorem:
    """A violated assumption: the contraction sweep run at n = 3f (equivocation allowed), still declared n >= 3f + 1."""
    return thm.map_sweep("icwtm", lambda q: {**q, "n": 3 * q["f"]})


def _equivocation_under_broadcast(thm: Theorem) -> Theorem:
    """A violated assumption: MDA's edge attack (reliable broadcast: one value for all) replaced by equivocation,
    the two halves of the honest nodes receiving copies of the two ends of the diameter pair."""
    return thm.map_sweep("mda-n", lambda q: {**q, "attack": "split"})


THEOREM = Theorem(
    title="Averaging agreement with f Byzantine nodes: ICwTM contracts Delta_2 for n >= 3f + 1, MDA's ratio ~ f/n",
    source="El-Mhamdi, Farhadkhani, Guerraoui, Guirguis, Hoang, Rouault, arXiv 2008.00742 / NeurIPS 2021; THEOREMS.md T8 "
           "(constants UNVERIFIED: factors and ratios DERIVED here)",
    statement="Synchronous rounds, h = n - f honest nodes: iterated coordinate-wise trimmed mean gives Delta_2(x_t) <= "
              "(f/(n - 2f))^t ||range_0|| (geometric for n >= 3f + 1, attained by equivocation) and moves the honest average by "
              "<= f/(n - f) ||range|| per round; minimum-diameter averaging has ||ybar - xbar|| <= 2f Delta_2/(n - f), and "
              "Byzantines posing as honest at the edge of the hull attain f/(n - f): the averaging ratio ~ f/n.",
    assumptions=["synchronous rounds; f Byzantine among n nodes, omniscient (they see the round's honest vectors)",
                 "ICwTM: n >= 3f + 1; Byzantine values per receiver (equivocation) allowed",
                 "MDA: n >= 2f + 1 for the derived bound (the paper's n >= 6f + 1 is its asynchronous resilience)",
                 "the paper's constants are UNVERIFIED: only derived factors, exponents and ratios are checked"],
    bound=CONTRACTION,
    measure="delta2_range0 = Delta_2(x_t)/||range_0||; delta2_rel = Delta_2(x_t)/Delta_2(x_0); ratio = ||xbar_t - xbar_0||/"
            "Delta_2(x_0); ratio_range0 = ||xbar_t - xbar_0||/||range_0||; step_ratio_range = ||xbar_t - xbar_{t-1}||/||range_{t-1}||",
    sweeps=[Sweep("icwtm", run, ICWTM, R=64, quick_R=32),
            Sweep("icwtm-3f", run, ICWTM_3F, R=32, quick_R=8),
            Sweep("mda", run, MDA_ALL, R=32, quick_R=8),
            Sweep("mda-n", run, MDA_N, R=16, quick_R=8),
            Sweep("mda-n2", run, MDA_N2, R=256, quick_R=128),
            Sweep("mean", run, MEAN, R=16, quick_R=8),
            Sweep("learning", run_learning, LEARN, R=4)],
    checks=[
        GeometricRate("(C1) ICwTM, equivocation (split), n >= 3f + 1: Delta_2 contracts at exactly f/(n - 2f) per round", "icwtm",
                      measure="delta2_rel", bound=CONTRACTION, where=split, t_min=1, tol=1e-6, floor=1e-12),
        BoundHolds("(C2) ICwTM, every attack: Delta_2(x_t) <= (f/(n - 2f))^t ||range_0||", "icwtm", measure="delta2_range0"),
        Converges("(C3) ICwTM, every attack, n >= 3f + 1: Delta_2 below 1e-4 of its start", "icwtm", measure="delta2_rel", bound=EPS),
        BoundHolds("(A1) ICwTM: one round moves the honest average by <= f/(n - f) ||range||", "icwtm", measure="step_ratio_range",
                   bound=TM_STEP),
        BoundHolds("(A2) ICwTM: all rounds move it by <= f/(n - f) ||range_0|| / (1 - f/(n - 2f))", "icwtm", measure="ratio_range0",
                   bound=TM_TOTAL),
        Observation("(A3) ICwTM averaging ratio ||xbar_T - xbar_0||/Delta_2(x_0) per attack", "icwtm", observe=_icwtm_ratios,
                    description="UNVERIFIED constant: reported next to f/(n - f), not asserted"),
        BoundHolds("(M1) MDA, every attack, n = 6f + 1: ||ybar - xbar|| <= 2f Delta_2/(n - f)", "mda", measure="ratio", bound=MDA_BOUND),
        Exponent("(M2) MDA, edge attack, f = 1: ratio ~ n^-1", "mda-n", mode="final", variable="n", measure="ratio", bound=MDA_BOUND,
                 relation="tight"),
        Exponent("(M2) MDA, edge attack, f = 2: ratio ~ n^-1", "mda-n2", mode="final", variable="n", measure="ratio", bound=MDA_BOUND,
                 relation="tight"),
        MeanVersusBound("(M3) MDA, edge attack, f = 1: ratio = f/(n - f) exactly", "mda-n", measure="ratio", relation="exact",
                        bound=MDA_EDGE),
        BoundHolds("(L1) learning, MDA-averaged gradients, edge attack: ||grad Lbar(theta_t)|| <= 2f K/(n - f) (t >= 40)", "learning",
                   measure="grad_norm", bound=LEARN_FLOOR, T_min=40, where=lambda q: q["rule"] == "mda"),
        Exponent("(L2) learning, MDA: the floor of ||grad Lbar|| ~ K", "learning", mode="final", variable="K", measure="grad_norm",
                 bound=LEARN_FLOOR, relation="tight", where=lambda q: q["rule"] == "mda"),
        Exponent("(L2) learning, ICwTM: the floor of ||grad Lbar|| ~ K", "learning", mode="final", variable="K", measure="grad_norm",
                 bound=LEARN_FLOOR, relation="tight", where=lambda q: q["rule"] == "icwtm"),
        MeanVersusBound("(L3) learning, MDA, edge attack, f = 1: the floor is f K/(n - f) exactly", "learning", measure="grad_norm",
                        relation="exact", bound=LEARN_EDGE, where=lambda q: q["rule"] == "mda"),
        Converges("(N1) ICwTM with n = 3f under equivocation: Delta_2 below 1e-4 of its start", "icwtm-3f", measure="delta2_rel",
                  bound=EPS, expected=FAIL,
                  description="negative control [T8 (f)]: the factor f/(n - 2f) is 1, the two clusters of round 1 never move"),
        BoundHolds("(N2) plain averaging under the extreme attack: ratio <= 2f/(n - f)", "mean", measure="ratio", bound=MDA_BOUND,
                   expected=FAIL, description="negative control: without trimming one far value moves the average without limit"),
    ],
    symbols=SYMBOLS,
    stream="averaging-agreement",
    mutants={"n-equals-3f": _n_equals_3f, "equivocation-under-broadcast": _equivocation_under_broadcast},
    notes=[("Catalog T8 (c): the paper's averaging constants, contraction factors and round counts are UNVERIFIED; the factor "
            "f/(n - 2f) and the bounds f/(n - f), 2f/(n - f) are derived in this file's docstring, in the synchronous model."),
           ("The learning side is checked with full gradients (sigma = 0) on one G3 instance with identical Hessians, K swept by scaling "
            "the optima's spread: the floor's exponent in K, the bound 2f K/(n - f) and its value f K/(n - f) under the edge attack.")],
)
