"""Gossip averaging X_{t+1} = W X_t: consensus at the rate lambda, the average preserved (THEOREMS.md T3.2).

Sources: Boyd, Ghosh, Prabhakar, Shah, "Randomized gossip algorithms", IEEE Trans. Inf. Theory 2006 (rate set
by the second largest eigenvalue modulus); Koloskova, Loizou, Boreiri, Jaggi, Stich, ICML 2020 (consensus
constant p); epfml/powergossip topologies.py (Ring 1/3, Torus 1/5, FullyConnected 1/n) and algorithms.py
SimpleGossip. Algorithm: ratecheck.algorithms.gossip.gossip; matrices: ratecheck.mixing (certified symmetric,
doubly stochastic, nonnegative; lambda = max(|lambda_2|, |lambda_n|), p = 1 - lambda^2 from eigvalsh).
Measure: Xi_t = ||X_t - Xbar||_F^2 relative to Xi_0 (consensus_rel). Starts: on one eigenvector (the k-th of
eigh, times a Gaussian d-vector), centred Gaussian (average 0, so that rounding stays relative to Xi_t), or, in
the average sweep, Gaussian plus a common N(0, 9 I) vector.

Checks, each with its statement and catalog tag:
  (E) [T3.2 (c), DERIVED, exact] per eigencomponent: a start on the eigenvector of lambda_k decays exactly as
      lambda_k^{2t} (relative tolerance 1e-6 on the log-factor); ring-16, torus 4x4 and 5x5, Erdos-Renyi G(16, 0.3)
      (Metropolis weights) with k = 2, 6 and n, star-16 with k = 2; each run stops before the rounding eigh leaves
      in slower modes could show.
  (B) [T3.2 (c)] ||X_t - Xbar||_F^2 <= lambda^{2t} ||X_0 - Xbar||_F^2 at every t, on the same starts: equality on
      lambda's eigenvector (tightness 1), below it on the others (any start is a sum of these).
  (K) [Koloskova et al. 2020, consensus assumption; T3.2 (a) DERIVED p = 1 - lambda^2] Xi_{t+1} <= (1 - p) Xi_t at
      every step, same starts.
  (G) [T3.2 (c)-(e)] a generic start decays at lambda^{2t}, per-step log-slope 2 log lambda, fitted once the next
      eigencomponent is 1e-8 n below (t >= T_MIN); ring 8/16/32, torus 4x4 (lambda_2 = -lambda_n = 0.6) and
      5x5, star-16; tolerance 1e-3 relative.
  (C) [T3.2 (c)] complete graph, W = 11^T/n, lambda = 0: consensus after one step (to rounding).
  (A) [T3.2 (c), exact] the average is preserved to rounding (1^T W = 1^T), also on two disconnected rings.
  (R) [T3.2 (d)] every connected graph converges to consensus (Xi_T <= 1e-20 Xi_0) and, when W is doubly
      stochastic, to the initial average.
  (N1) negative control [T3.2 (f)]: two disjoint rings (lambda = 1): "converges to consensus" must FAIL.
  (N2) negative control [T3.2 (f), DERIVED]: the star's random-walk weights (row- but not column-stochastic)
      reach consensus at the degree-weighted average: "reaches the initial average" must FAIL.
  (Ring) [T3.2 (c), CODE topologies.Ring, DERIVED] W = (I + P + P^T)/3: gap 1 - lambda_2 = (2/3)(1 - cos(2 pi/n)),
      measured from the dynamics at the last step (gap_obs = 1 - sqrt(Xi_T/Xi_{T-1})) to 1e-9, its slope -2 in n,
      and the steps to Xi_t <= 1e-12 Xi_0 growing as n^2 (the bound's own hitting times), n = 16, 32, 64 (128 full).
      The measured steps are (log(1/eps) + log c)/(2 gap), c ~ 2/n the start's share in the slowest eigenspace,
      which bends the slope to about 1.96 at these n (tolerance 0.1).
Mutants: generic drop-n (ring gap), drop-p (Koloskova), faster-T, step-x8-gossip (diffusion rate 8: diverges);
not-doubly-stochastic (the star's random-walk weights declared doubly stochastic).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ratecheck.algorithms.gossip import gossip
from ratecheck.checks import (
    FAIL,
    BoundHolds,
    Converges,
    Exponent,
    GeometricRate,
    HittingExponent,
    MeanVersusBound,
    StepInequality,
    WithinRounding,
)
from ratecheck.mixing import parse
from ratecheck.sweep import Sweep, grid, zipped
from ratecheck.symbols import Meaning, T, n
from ratecheck.theorem import Theorem
from ratecheck.trace import Trace, pair_checkpoints

SYMBOLS = [Meaning("lambda_", "consensus rate of W: max(|lambda_2(W)|, |lambda_n(W)|)"),
           Meaning("lambda_k", "|lambda_k(W)| of the eigenvector a start lies on"),
           Meaning("lambda_next", "the largest |lambda_k(W)|, k >= 2, strictly below lambda (the next eigencomponent)"),
           Meaning("p", "Koloskova et al.'s consensus constant, ||XW - Xbar||^2 <= (1 - p)||X - Xbar||^2; p = 1: one step "
                        "averages exactly (complete graph), the topology factor 1/p of D-SGD's rates gone", neutral=1)]
lambda_, lambda_k, lambda_next, p = (s_.symbol for s_ in SYMBOLS)
Xi, Xi_next = sp.Symbol("consensus_rel"), sp.Symbol("consensus_rel_next")  # measures at t, t+1 (unsigned: Le stays a relation)

CONSENSUS = lambda_ ** (2 * T)  # ||X_T - Xbar||_F^2 / ||X_0 - Xbar||_F^2 <= lambda^{2T}, equality on the slowest eigenvector
EIGEN = CONSENSUS.subs(lambda_, lambda_k)  # per eigencomponent: exactly lambda_k^{2T}
KOLOSKOVA = sp.Le(Xi_next, (1 - p) * Xi)  # one step contracts Xi by (1 - p)
RING_GAP = sp.Rational(4, 3) * sp.sin(sp.pi / n) ** 2  # ring 1 - lambda_2 = (2/3)(1 - cos(2 pi/n)) ~ 4 pi^2/(3 n^2)
RING_RATE = CONSENSUS.subs(lambda_, 1 - RING_GAP)
T_MIN = sp.log(1e8 * n) / (2 * sp.log(lambda_ / lambda_next))  # the next eigencomponent is 1e-8 n below the slowest


def run(ctx, point, R, rng) -> Trace:
    """R starts on the graph of point['W'] (ratecheck.mixing.parse); start 'eigen' (eigenvector k of eigh, k an index
    into the descending eigenvalues: 1 is lambda_2's, -1 lambda_n's, times a Gaussian d-vector), 'centred' (Gaussian,
    average 0) or 'shifted' (Gaussian plus a common N(0, 9 I) vector)."""
    W = parse(point["W"])
    ctx.record(**W.constants)
    d, start = point.get("d", 2), point["start"]
    if start == "eigen":
        ev, U = W.eigenvectors()
        ctx.record(lambda_k=abs(float(ev[point["k"]])))
        X0 = U[:, point["k"]][None, :, None] * rng.standard_normal((R, 1, d))
    else:
        X0 = rng.standard_normal((R, W.n, d))
        X0 = X0 - X0.mean(axis=1, keepdims=True) if start == "centred" else X0 + 3.0 * rng.standard_normal((R, 1, d))
    grid_ = np.arange(1, point["T"] + 1) if point.get("every_step") else pair_checkpoints(point["T"])
    return gossip(W, X0, point["T"], gamma=ctx.step("gossip"), checkpoints=grid_)


def _eigen_T(q: dict) -> int:
    """At most 150 steps, while lambda_k^{2t} >= 1e-40 and the rounding (1e-16) left by eigh in the slowest mode, grown
    by (lambda/lambda_k)^t, stays below 1e-6 of the start's component: a horizon where the start is one eigencomponent."""
    W = parse(q["W"])
    lam_k = abs(float(W.eigenvectors()[0][q["k"]]))
    grow = np.log(W.lambda_ / lam_k)
    return int(min(150, 46 / -np.log(lam_k), 23 / grow if grow > 1e-9 else np.inf))


EIGEN_POINTS = (grid(W=("ring:16", "torus:4x4", "torus:5x5", "erdos-renyi:16:0.3:0"), k=(1, 5, -1)) + grid(W="star:16", k=1)).set(
    start="eigen", every_step=True).derive(T=_eigen_T)
GENERIC = zipped(W=("ring:8", "ring:16", "ring:32", "torus:4x4", "torus:5x5", "star:16", "erdos-renyi:16:0.3:0", "complete:16"),
                 T=(200, 700, 2400, 100, 150, 600, 300, 5)).set(start="centred")
AVERAGE = zipped(W=("ring:16", "torus:4x4", "complete:16", "erdos-renyi:16:0.3:0", "star:16", "two-rings:16",
                    "star-random-walk:16"), claimed=("doubly",) * 6 + ("row",)).set(start="shifted", d=8, T=600)
RING = zipped(W=("ring:16", "ring:32", "ring:64", "ring:128"), T=(350, 1400, 5600, 22000)).set(start="centred", every_step=True)

connected = lambda q: not q["W"].startswith("two-rings")
rates = lambda q: q["W"].split(":")[0] in ("ring", "torus", "star")


def _not_doubly_stochastic(thm: Theorem) -> Theorem:
    """A violated assumption: the star's random-walk weights (row-stochastic only) declared doubly stochastic."""
    return thm.map_sweep("average", lambda q: {**q, "W": "star-random-walk:16"} if q["W"] == "star:16" else q)


THEOREM = Theorem(
    title="Gossip averaging: consensus at the rate lambda = max(|lambda_2|, |lambda_n|), the average preserved",
    source="Boyd et al., Randomized gossip algorithms, IEEE TIT 2006; Koloskova et al., ICML 2020 (p); epfml/powergossip "
           "topologies.py; THEOREMS.md T3.2",
    statement="For W symmetric, doubly stochastic and nonnegative, X_{t+1} = W X_t keeps the average and ||X_t - Xbar||_F^2 = "
              "sum_k lambda_k^{2t} ||c_k||^2 <= lambda^{2t} ||X_0 - Xbar||_F^2 (p = 1 - lambda^2); on the ring with weights 1/3 "
              "the gap is (2/3)(1 - cos(2 pi/n)) ~ 4 pi^2/(3 n^2), so the steps to eps grow as n^2.",
    assumptions=["W = W^T, W 1 = 1, W_ij >= 0, certified by ratecheck.mixing at construction",
                 "the graph is connected (lambda < 1) for convergence to consensus", "diffusion rate gamma = 1 (X_{t+1} = W X_t)"],
    bound=CONSENSUS,
    measure="consensus_rel = ||X_t - Xbar||_F^2 / ||X_0 - Xbar||_F^2; drift = ||Xbar_t - Xbar_0||_F/||X_0||_F; "
            "dist_avg0 = ||X_t - Xbar_0||_F^2 / ||X_0 - Xbar_0||_F^2; gap_obs = 1 - sqrt(Xi_t/Xi_{t-1})",
    steps={"gossip": sp.Integer(1)},
    sweeps=[Sweep("eigen", run, EIGEN_POINTS, R=4),
            Sweep("generic", run, GENERIC, R=32, quick_R=16),
            Sweep("average", run, AVERAGE, R=64, quick_R=32),
            Sweep("ring", run, RING, R=16, quick=lambda q: q["T"] < 20000, quick_R=8)],
    checks=[
        GeometricRate("(E) per eigencomponent: exactly lambda_k^{2t}", "eigen", measure="consensus_rel", bound=EIGEN, tol=1e-6,
                      floor=1e-28),
        GeometricRate("(G) generic start: per-step log-slope 2 log lambda", "generic", measure="consensus_rel", bound=CONSENSUS,
                      where=rates, t_min=T_MIN, tol=1e-3, floor=1e-28),
        BoundHolds("(B) ||X_t - Xbar||^2 <= lambda^{2t} ||X_0 - Xbar||^2, equality on lambda's eigenvector", "eigen",
                   measure="consensus_rel"),
        StepInequality("(K) Koloskova's assumption: Xi_{t+1} <= (1 - p) Xi_t, p = 1 - lambda^2", "eigen", bound=KOLOSKOVA),
        WithinRounding("(C) complete graph (lambda = 0): consensus after one step", "generic", measure="consensus_rel", tol=1e-24,
                       where=lambda q: q["W"].startswith("complete")),
        WithinRounding("(A) the average is preserved (1^T W = 1^T)", "average", measure="drift", tol=1e-12,
                       where=lambda q: q["claimed"] == "doubly"),
        Converges("(R) converges to consensus (connected graphs)", "average", measure="consensus_rel", bound=sp.Float(1e-20),
                  where=connected),
        Converges("(R) reaches the initial average (connected, doubly stochastic)", "average", measure="dist_avg0",
                  bound=sp.Float(1e-20), where=lambda q: connected(q) and q["claimed"] == "doubly"),
        Converges("(N1) two disjoint rings (lambda = 1) converge to consensus", "average", measure="consensus_rel",
                  bound=sp.Float(1e-20), where=lambda q: not connected(q), expected=FAIL,
                  description="negative control [T3.2 (f)]: the difference of the two rings' averages never mixes"),
        Converges("(N2) a row- but not column-stochastic W reaches the initial average", "average", measure="dist_avg0",
                  bound=sp.Float(1e-20), where=lambda q: q["claimed"] == "row", expected=FAIL,
                  description="negative control [T3.2 (f)]: the star's random walk reaches consensus (check R) at pi^T X_0, "
                              "pi ~ deg + 1, not at the average"),
        MeanVersusBound("(Ring) gap from the dynamics = (4/3) sin^2(pi/n) = (2/3)(1 - cos(2 pi/n))", "ring", measure="gap_obs",
                        relation="exact", bound=RING_GAP),
        Exponent("(Ring) gap ~ n^-2", "ring", mode="final", variable="n", measure="gap_obs", bound=RING_GAP, relation="tight"),
        HittingExponent("(Ring) steps to 1e-12 grow as n^2", "ring", measure="consensus_rel", variable="n", bound=RING_RATE,
                        epsilon=sp.Float(1e-12), relation="tight"),
    ],
    symbols=SYMBOLS,
    stream="gossip",
    mutants={"not-doubly-stochastic": _not_doubly_stochastic},
    notes=[("lambda, p and the gap are certified by eigvalsh of the W each run uses (ratecheck.mixing); the ring's closed form "
            "RING_GAP is never used by a run, only by the checks that compare the dynamics with it."),
           ("The step rule 'gossip' is SimpleGossip's diffusion rate gamma (W_gamma = (1 - gamma) I + gamma W); the statement "
            "is for gamma = 1, and gamma > 2/(1 - lambda_n) makes an eigenvalue of W_gamma leave [-1, 1].")],
)
