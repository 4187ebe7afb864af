"""PowerGossip: rank-r messages per edge, the average kept exactly, consensus at a linear rate (THEOREMS.md T3.3).

Source: Vogels, Karimireddy, Jaggi, "Practical low-rank communication compression in decentralized deep learning",
NeurIPS 2020; code epfml/powergossip algorithms.py PowerGossip (ratecheck.algorithms.powergossip follows it) and
topologies.py; matrices from ratecheck.mixing (certified symmetric, doubly stochastic; lambda_2, lambda_n, lambda).
The paper's guarantees (no extra hyperparameters, faster than earlier compressed gossip, asymptotically independent
of the network and the compression) are UNVERIFIED in the catalog and are not checked. Checked are the catalog's
exact identities [DERIVED] and two rate bounds derived here for random queries.

Notation: node i holds X_i (a x b, here a = b = m = 4), D_e = X_i - X_j on edge e = (i, j) with weight w_e, one power
iteration per step, diffusion rate gamma = 1; an edge's update is U_e = Pi_e D_e (left iteration, Pi_e = p^ p^^T) or
D_e Pi_e (right iteration, Pi_e = q^ q^^T); Xi_t = ||X_t - Xbar||_F^2, measured as consensus_rel = Xi_t/Xi_0.

  (A) [T3.3 (c), DERIVED, exact] each edge update is antisymmetric (X_i - gamma w U_e, X_j + gamma w U_e), so sum_i X_i
      is preserved exactly: drift = ||Xbar_t - Xbar_0||_F/||X_0||_F <= 1e-12 (ring-16, torus 4x4, G(16, 0.3); r = 1, 2;
      warm and cold start).
  (N) negative control [T3.3 (f), DERIVED]: different random queries at the two ends of an edge (each end its own p):
      the update is no longer antisymmetric, "the average is preserved" must FAIL.
  (X) [T3.3 (c), DERIVED, exact] r >= rank(X_i - X_j): one power step is exact gossip. With X_i^0 = U C_i (a shared
      column space of rank rho <= r), p = D q^ from the previous (right) iteration spans span(U) and every difference
      stays in it, so the left iterations s >= 2 are the uncompressed step X <- W X: gap_exact = ||X_s - W X_{s-1}||_F/
      ||X_{s-1} - Xbar||_F <= 1e-9 (the tolerance of powersgd P1: QR of a random, possibly ill-conditioned r x r factor);
      at r = m every iteration is exact (p^ p^^T = I). Twin (X-) rho = 2 > r = 1 must FAIL. Checked at the first left
      iteration (s = 2: "one power step"): the rank-rho state is not numerically stable under PowerGossip, rounding out
      of span(U) tilts the next p^ and grows by about x3 per iteration (measured: 1e-15 at s = 2 to 1e-7 at s = 20,
      ring-16, rho = r = 1), so at later s the hypothesis rank(X_i - X_j) <= r no longer holds to rounding.
  (D) [DERIVED here, exact] for any projections Pi_e (warm or cold start): Xi_+ = Xi - 2 gamma sum_e w_e ||U_e||^2 +
      gamma^2 ||sum_e w_e b_e U_e||^2 <= Xi - c sum_e w_e ||U_e||^2 with c = gamma (2 - gamma (1 - lambda_n)), since
      <D_e, U_e> = ||U_e||^2 and ||B diag(w) Y||^2 <= lambda_max(I - W) sum_e w_e ||Y_e||^2; checked per iteration to
      1e-12 relative (descent_gap).
  (U) [DERIVED here, upper] cold start (a fresh N(0, 1) query per iteration, E Pi_e = (r/m) I): with (D) and
      sum_e w_e ||D_e||^2 = tr((X - Xbar)^T (I - W)(X - Xbar)) >= (1 - lambda_2) Xi,
          E[Xi_+ | X] <= RHO_UP Xi,  RHO_UP = 1 - gamma (2 - gamma (1 - lambda_n)) (r/m) (1 - lambda_2) < 1,
      so E Xi_t/Xi_0 <= RHO_UP^t: consensus decays linearly (m = max(a, b) covers both parities; c >= 0 needs
      gamma <= 2/(1 - lambda_n), otherwise sum_e w_e ||D_e||^2 enters with the other sign).
  (J) [DERIVED here, lower] cold start: E[X_+ | X] = X - gamma (r/m)(I - W) X, so E X_t = W_{gamma r/m}^t X_0 and by
      Jensen E Xi_t >= ||E X_t - Xbar||^2; a start on lambda_2's eigenvector gives E Xi_t/Xi_0 >= RHO_MEAN^t,
      RHO_MEAN = (1 - gamma (r/m_min)(1 - lambda_2))^2: compressed random gossip is no faster than exact gossip with the
      diffusion rate gamma r/m. (U) and (J) bracket the cold-start rate: 1 - RHO_MEAN ~ 2 (r/m) gap against
      1 - RHO_UP = (1 + lambda_n)(r/m) gap.
  (W) [catalog T3.3 (e), an expectation, not derived for warm start] warm start decays linearly at a rate between
      compressed random gossip and exact gossip: E Xi_t/Xi_0 <= RHO_UP^t (all t) and >= lambda^{2t} (eigen start).
  (O) observation: the fitted per-step factor (geometric mean, second half of the run) for r = 1, 2 and 4 (= m: exact
      gossip, warm only) with and without warm start, against RHO_UP, RHO_MEAN and lambda^2; and the bits per step against
      uncompressed gossip (r (a + b)/(2 a b) of it per step, averaged over a left and a right iteration).
Mutants: generic drop-r (rejected by (J)), faster-T ((U), (W)), step-x8-gossip (gamma = 8 > 2/(1 - lambda_n): the runs
diverge; (A), (X), (D), (U), (W)); broken-shared-randomness (the ends' independent queries declared as PowerGossip: (A)).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ratecheck import fit
from ratecheck.algorithms.powergossip import powergossip
from ratecheck.checks import FAIL, BoundHolds, MeanVersusBound, Observation, Plot, WithinRounding
from ratecheck.expr import evaluate
from ratecheck.mixing import parse
from ratecheck.sweep import Sweep, grid, points
from ratecheck.symbols import Meaning, T, gamma
from ratecheck.theorem import Theorem

SYMBOLS = [Meaning("r", "rank of the PowerGossip messages (per edge and iteration)", neutral=1),
           Meaning("m", "max(a, b): the larger side of the node matrices X_i (a x b)"),
           Meaning("m_min", "min(a, b): the smaller side of the node matrices X_i"),
           Meaning("lambda_2", "second largest eigenvalue of W"), Meaning("lambda_n", "smallest eigenvalue of W"),
           Meaning("lambda_", "consensus rate of W: max(|lambda_2(W)|, |lambda_n(W)|)")]
r, m, m_min, lambda_2, lambda_n, lambda_ = (s_.symbol for s_ in SYMBOLS)

RHO_UP = 1 - gamma * (2 - gamma * (1 - lambda_n)) * (r / m) * (1 - lambda_2)  # (U) cold start, per step, E Xi_+ <= RHO_UP Xi
COLD_UPPER = RHO_UP**T
RHO_MEAN = (1 - gamma * (r / m_min) * (1 - lambda_2)) ** 2  # (J) the mean's rate: exact gossip at diffusion rate gamma r/m
COLD_LOWER = RHO_MEAN**T
EXACT_GOSSIP = lambda_ ** (2 * T)  # uncompressed gossip, ||W^t X - Xbar||^2 <= lambda^{2t} ||X - Xbar||^2

SIDE = 4  # a = b = m = 4


def run(ctx, point, R, rng):
    """R starts on the graph of point['W']: 'centred' (Gaussian, average 0), 'shifted' (plus a common N(0, 9) matrix),
    'eigen' (lambda_2's eigenvector times a Gaussian matrix) or 'columns' (X_i = U C_i, U a x rho shared, C_i centred)."""
    W = parse(point["W"])
    n, start = W.n, point["start"]
    if start == "eigen":
        X0 = W.eigenvectors()[1][:, 1][None, :, None, None] * rng.standard_normal((R, 1, SIDE, SIDE))
    elif start == "columns":
        C = rng.standard_normal((R, n, point["rho"], SIDE))
        X0 = rng.standard_normal((R, 1, SIDE, point["rho"])) @ (C - C.mean(axis=1, keepdims=True))
    else:
        X0 = rng.standard_normal((R, n, SIDE, SIDE))
        X0 = X0 - X0.mean(axis=1, keepdims=True) if start == "centred" else X0 + 3.0 * rng.standard_normal((R, 1, SIDE, SIDE))
    T_ = point["T"]
    grid_ = np.arange(2, T_ + 1, 2) if start == "columns" else np.arange(1, T_ + 1)  # columns: the left iterations
    return powergossip(W, X0, T_, point["r"], rng, gamma=ctx.step("gossip"), warm_start=point["warm"],
                       shared_randomness=point.get("shared", True), checkpoints=grid_)


HORIZON = {"ring:16": 200, "torus:4x4": 60, "ring:8": 60}
CONSENSUS = (grid(W=("ring:16", "torus:4x4"), r=(1, 2), warm=(True, False)) + grid(W=("ring:16", "torus:4x4"), r=SIDE, warm=True)).set(
    start="centred").derive(T=lambda q: HORIZON[q["W"]])  # r = m: exact gossip (warm start changes nothing)
EIGEN = grid(W=("ring:8", "torus:4x4"), r=(1, 2), warm=(True, False)).set(start="eigen").derive(T=lambda q: HORIZON[q["W"]])
AVERAGE = grid(W=("ring:16", "torus:4x4", "erdos-renyi:16:0.3:0"), r=(1, 2), warm=(True, False), claimed=("shared", "per-end")).set(
    start="shifted", T=40).derive(shared=lambda q: q["claimed"] == "shared")  # claimed: the queries the check declares
EXACT = (points({"rho": 1, "r": 1}, {"rho": 2, "r": 2}, {"rho": 2, "r": 3}, {"rho": 2, "r": 1}).set(start="columns", T=2)
         + points({"rho": SIDE, "r": SIDE}).set(start="centred", T=20)) * grid(W=("ring:16", "torus:4x4"))
EXACT = EXACT.set(warm=True)

cold = lambda q: not q["warm"]
compressed = lambda q: q["r"] < SIDE


def _broken_shared_randomness(thm: Theorem) -> Theorem:
    """A violated assumption: the two ends of an edge draw their queries independently, declared as PowerGossip."""
    return thm.map_sweep("average", lambda q: {**q, "shared": False})


def _rates(runs) -> tuple[str, dict, Plot]:
    """Fitted per-step factor of the geometric mean of consensus_rel over the second half of each run (99 % bootstrap
    interval over replicas, ratecheck.fit), against
    RHO_UP, RHO_MEAN and lambda^2 (evaluated from the declared expressions)."""
    plot = Plot("(O) geometric mean of consensus_rel", "t", "consensus_rel", logx=False)
    rows, parts = [], []
    for run_ in runs:
        tr, q = run_.trace, run_.point
        t = tr.t.astype(float)
        logs = np.log(np.maximum(tr.values["consensus_rel"], 1e-300))
        logX = np.mean(logs, axis=0)
        half = (t >= t[-1] / 2) & (logX > np.log(1e-26))
        ci = fit.bootstrap_statistic([logs[:, half]], lambda means, tw=t[half]: fit.ols_slope(tw, means[0]))  # 99 %, replicas
        factor, low, high = (float(np.exp(v)) for v in (ci.estimate, ci.low, ci.high))
        env = {**tr.constants, "T": 1.0}
        pred = {k: float(evaluate(e, env)) for k, e in (("rho_up", RHO_UP), ("rho_mean", RHO_MEAN), ("lambda2", EXACT_GOSSIP))}
        row = {"point": run_.label, "factor": factor, "factor_ci99": [low, high], **pred, "bits_per_step_over_gossip": float(tr.values["bits"][0, -1] / tr.T
                                                                                                   / tr.constants["bits_gossip"])}
        rows.append(row)
        parts.append(f"{q['W']} r={q['r']} {'warm' if q['warm'] else 'cold'}: {factor:.4f} [{low:.4f}, {high:.4f}] (RHO_UP {pred['rho_up']:.4f}, RHO_MEAN "
                     f"{pred['rho_mean']:.4f}, lambda^2 {pred['lambda2']:.4f}; bits {row['bits_per_step_over_gossip']:.3g} x gossip)")
        if len(plot.series) < 12:
            plot.add(f"{q['W']} r={q['r']} {'warm' if q['warm'] else 'cold'}", t, np.exp(logX), "data")
    return "; ".join(parts), {"runs": rows}, plot


THEOREM = Theorem(
    title="PowerGossip: rank-r edge messages keep the average exactly and reach consensus at a linear rate",
    source="Vogels, Karimireddy, Jaggi, Practical low-rank communication compression in decentralized deep learning, NeurIPS "
           "2020; epfml/powergossip algorithms.py PowerGossip, topologies.py; THEOREMS.md T3.3",
    statement="Per-edge antisymmetric rank-r updates preserve sum_i X_i; with r >= rank(X_i - X_j) one power step is exact "
              "gossip; for any queries Xi_+ <= Xi - gamma (2 - gamma (1 - lambda_n)) sum_e w_e ||U_e||^2; with fresh Gaussian "
              "queries (cold start) RHO_MEAN^t <= E Xi_t/Xi_0 <= RHO_UP^t (lower bound on lambda_2's eigenvector), "
              "RHO_UP = 1 - gamma (2 - gamma (1 - lambda_n)) (r/m) (1 - lambda_2), RHO_MEAN = (1 - gamma (r/m) (1 - lambda_2))^2.",
    assumptions=["W = W^T, W 1 = 1, W_ij >= 0, certified by ratecheck.mixing; the graph connected",
                 "both ends of an edge hold the same query (a generator seeded by the edge, or the exchanged product)",
                 ("(U), (J): a fresh N(0, 1) query at every iteration, independent of X (cold start); (J) a start on lambda_2's "
                  "eigenvector"), "0 < gamma <= 2/(1 - lambda_n) (the code's diffusion rate; gamma = 1 here)"],
    bound=COLD_UPPER,
    measure="consensus_rel = ||X_t - Xbar_t||_F^2/||X_0 - Xbar_0||_F^2; drift = ||Xbar_t - Xbar_0||_F/||X_0||_F; gap_exact = "
            "||X_t - W X_{t-1}||_F/||X_{t-1} - Xbar||_F; descent_gap (D); bits",
    steps={"gossip": sp.Integer(1)},
    sweeps=[Sweep("consensus", run, CONSENSUS, R=32, quick_R=16),
            Sweep("eigen", run, EIGEN, R=256, quick_R=128),
            Sweep("average", run, AVERAGE, R=16, quick_R=8),
            Sweep("exact", run, EXACT, R=32, quick_R=16)],
    checks=[
        WithinRounding("(A) the average is preserved (antisymmetric edge updates)", "average", measure="drift", tol=1e-12,
                       where=lambda q: q["claimed"] == "shared"),
        WithinRounding("(N) different random queries at the two ends: the average is preserved", "average", measure="drift",
                       tol=1e-12, where=lambda q: q["claimed"] == "per-end", expected=FAIL,
                       description="negative control [T3.3 (f)]: end i applies p^_i q^T, end j p^_j q^T; the sum moves by "
                                   "gamma w (p^_j - p^_i) q^T"),
        WithinRounding("(X) r >= rank(X_i - X_j): a power step is exact gossip", "exact", measure="gap_exact", tol=1e-9,
                       where=lambda q: q["r"] >= q["rho"],
                       description="columns start (rho = 1, 2; r = rho and r = 3 > rho) at the first left iteration s = 2; r = m "
                                   "at every iteration s = 1..20 from a generic start; ring-16 and torus 4x4"),
        WithinRounding("(X-) r = 1 < rank(X_i - X_j) = 2: a power step is exact gossip", "exact", measure="gap_exact", tol=1e-9,
                       where=lambda q: q["r"] < q["rho"], expected=FAIL,
                       description="twin of (X): the rank condition is needed"),
        WithinRounding("(D) descent: Xi_+ <= Xi - gamma (2 - gamma (1 - lambda_n)) sum_e w_e ||U_e||^2, any queries", "consensus",
                       measure="descent_gap", tol=1e-12),
        BoundHolds("(U) cold start: E Xi_t/Xi_0 <= RHO_UP^t, RHO_UP < 1 (linear rate)", "consensus", measure="consensus_rel",
                   where=lambda q: cold(q) and compressed(q),
                   description="[DERIVED here] fresh Gaussian queries, E Pi = (r/m) I; every step t = 1..T, r = 1, 2"),
        BoundHolds("(U) cold start on lambda_2's eigenvector: E Xi_t/Xi_0 <= RHO_UP^t", "eigen", measure="consensus_rel", where=cold),
        MeanVersusBound("(J) cold start: E Xi_T/Xi_0 >= RHO_MEAN^T (the mean decays as gossip at rate gamma r/m)", "eigen",
                        measure="consensus_rel", relation="lower", bound=COLD_LOWER, where=cold,
                        description="[DERIVED here, Jensen] start on lambda_2's eigenvector; ring-8 and torus 4x4, T = 60"),
        BoundHolds("(W) warm start: E Xi_t/Xi_0 <= RHO_UP^t (catalog expectation)", "consensus", measure="consensus_rel",
                   where=lambda q: q["warm"] and compressed(q),
                   description="catalog T3.3 (e): linear convergence at a rate between compressed random gossip and exact gossip; "
                               "not derived for warm start (the query depends on X)"),
        MeanVersusBound("(W) warm start on lambda_2's eigenvector: E Xi_T/Xi_0 >= lambda^{2T} (no faster than exact gossip)", "eigen",
                        measure="consensus_rel", relation="lower", bound=EXACT_GOSSIP, where=lambda q: q["warm"],
                        description="catalog T3.3 (e), expectation; exact gossip from this start is exactly lambda_2^{2t}"),
        Observation("(O) per-step factor against r and warm start", "consensus", observe=_rates,
                    description="observational: the fitted factor of the geometric mean against RHO_UP (cold-start upper), "
                                "RHO_MEAN (cold-start lower, the mean's rate) and lambda^2 (exact gossip)"),
    ],
    symbols=SYMBOLS,
    stream="powergossip",
    mutants={"broken-shared-randomness": _broken_shared_randomness},
    notes=[("Catalog status: the paper's guarantees are UNVERIFIED (theorem not read) and not checked; (A) and (X) are the "
            "catalog's [DERIVED] identities; (D), (U) and (J) are derived in this file's docstring; (W) is the catalog's "
            "expectation T3.3 (e), asserted as such; (O) is an observation."),
           ("The algorithm follows epfml/powergossip's PowerGossip: alternating right/left multiplication (odd iterations "
            "orthogonalize q), warm start by reusing the exchanged product, the diffusion rate gamma, r = min(a, b, rank). "
            "Its iteration 0 (skipped before any gradient step) is not run: X_0 already disagrees.")],
)
