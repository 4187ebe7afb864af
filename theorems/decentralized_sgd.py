"""Decentralized SGD (D-SGD) on a gossip graph: linear speedup, and a transient that grows like 1/p (THEOREMS.md T3.2).

Source: Koloskova, Loizou, Boreiri, Jaggi, Stich, "A unified theory of decentralized SGD with changing topology and local
updates", ICML 2020, Theorem 2 (nonconvex) and its consensus lemma [UNVERIFIED constants: exponents only, the O-form of
THEOREMS.md T3.2 (c) with unit constants, which only place the fit windows]. Algorithm: ratecheck.algorithms.decentralized
(X^{t+1} = W^{(t)}(X^t - eta G(X^t)), W^{(t)} = W every tau_c-th step, I otherwise; tau_c is the paper's tau). Graphs:
ratecheck.mixing (certified symmetric, doubly stochastic; lambda = max(|lambda_2|, |lambda_n|), p = 1 - lambda^2).
Clients: problems.federated.HeterogeneousClients (G3, zeta exact; delta_H > 0 in the rate sweeps, so that the nodes'
disagreement feeds back into the average).

Declared rate (nonconvex, T3.2 (c), inverted term by term; eps = (1/T) sum_t E||grad f(xbar_t)||^2):
    RATE = sqrt(L F0 sigma^2/(n T)) + (L F0 (zeta tau_c/p + sigma sqrt(tau_c/p))/T)^{2/3} + L F0 tau_c/(p T)
at the tuned step (Koloskova's "there exists a step size", recomputed for every T; constants ours):
    eta = min(p/(2 L tau_c), sqrt(n F0/(L sigma^2 T)), (p^2 F0/(L^2 zeta^2 tau_c^2 T))^{1/3}, (p F0/(L^2 sigma^2 tau_c T))^{1/3}).
Consensus [DERIVED here, the sigma-free case of Koloskova's consensus lemma]: identical Hessians (delta_H = 0), sigma = 0,
eta L <= 1, all nodes started at one point: per eigencomponent k of W the deviation from the average obeys
y_k <- lambda_k ((I - eta H)^{tau_c} y_k - eta S w_k) at the gossip steps, S = sum_{s<tau_c} (I - eta H)^s, so
||y_k|| <= eta tau_c |lambda_k| ||w_k||/(1 - lambda) and, between gossip steps, <= eta tau_c ||w_k||/(1 - lambda); hence
    Xi_t = (1/n) sum_i ||x_i^t - xbar_t||^2 <= CONS = 4 (eta zeta tau_c/p)^2     at every t  (1/(1 - lambda) <= 2/p).
It is attained when w lies on the slowest eigenvector v of W (w_i = zeta sqrt(n) v_i u, u the top eigenvector of H, eigenvalue
h): then at every gossip step t = j tau_c, exactly, Xi_t = XI_EXACT = (eta lambda_v S zeta (1 - rho^j)/(1 - rho))^2,
rho = lambda_v (1 - eta h)^{tau_c}, S = sum_{s<tau_c} (1 - eta h)^s, i.e. -> eta^2 zeta^2 tau_c^2 lambda^2 (1 + lambda)^2/p^2.

Checks, and how each regime makes the tested term dominate:
  (T) slope -1/2 in T, tuned eta(T), on ring-8 and complete-8 (topology-independent: the same slope on both; G3 with
      delta_H = 0.5, zeta = 0, H = I (L = mu = 1), d = 16, sigma = 1, L F0/sigma^2 = 1.2e-3: the bound's local slope is
      within 0.05 of -1/2 from T = 2000 on (the ring's sigma sqrt(tau_c/p) term is the binding one), and eta L T >= 4.4,
      so the transient F0/(eta T) of a quadratic is formed; mini-batch SGD's exact expectation has slope -0.486 there).
      Two-sided (tight): on a quadratic with additive noise F0/(eta T) and eta L sigma^2/n are both attained.
  (n) slope -1/2 in n at fixed T (linear speedup), tuned eta(T, n), complete graphs n = 2, 4, 8 (quick, T = 8000) and
      2..16 (full, T = 20000). The bound's sigma sqrt(tau_c/p) term has slope 0 in n, so at fixed T the window closes at
      large n: with unit constants the leading term holds >= 80 % of the bound (local slope within 0.1 of -1/2, the
      window_tol used; the fit tolerance stays 0.1) only while L F0 n^3/(sigma^2 T) <= 2.4e-4, and eta L T >= 5 needs
      n L F0 T/sigma^2 >= 25: n = 64 would need T ~ 1e5 per point. L F0/sigma^2 = 1.56e-3 (quick), 6.25e-4 (full). On the
      complete graph D-SGD is exactly mini-batch SGD (expected slope -0.487 / -0.489 from its closed form).
  (C) Xi_t <= 4 (eta zeta tau_c/p)^2 at every checkpoint [DERIVED], sigma = 0, delta_H = 0, on rings 8..128 (w on the
      slowest eigenvector: tight, measured/bound up to 0.98), ring-16 with tau_c = 1..8, and on ring, torus, complete and
      star with G3's random w.
  (X) the measured Xi_T equals XI_EXACT (relative 1e-8) on the aligned instances [DERIVED], two disjoint rings included.
  (p) the transient grows like 1/p: Xi_T ~ p^-2 (slope -2 in p) on rings n = 16, 32, 64, 128 (p = 0.099 ... 0.0016, ~ 8 pi^2/(3 n^2))
      at eta = 1e-5, T = 10/(1 - lambda) (stationary to e^-10); the factor lambda^2 (1 + lambda)^2 -> 4 bends the slope
      by about -0.04 at these n, the eta h/(1 - lambda) correction by < +0.02 (tolerance 0.1).
  (tau) local updates enter as tau_c/p: Xi_T ~ tau_c^2 on ring-16, tau_c = 1, 2, 4, 8 (slope 2).
  (eta) Xi_T ~ eta^2 on ring-8, eta = 1e-3..1e-2 (eta h/(1 - lambda) <= 0.05).
  (A) sigma = 0, identical Hessians, W doubly stochastic: xbar_t is exactly gradient descent on f [DERIVED: 1^T W = 1^T
      and sum_i w_i = 0], so it reaches x* (||xbar_T - x*||^2 <= 1e-20 R0) on ring, torus, complete, star and even on two
      disjoint rings.
  (S) at the rule's largest step p/(2 L tau_c), sigma = zeta = 0: D-SGD converges to x* on ring-8 and complete-8 (8 times
      that step is 4/L on the complete graph, where D-SGD is gradient descent: above 2/L it diverges).
Negative controls (expected FAIL):
  (N1) "the transient does not depend on the topology": Xi_T ~ p^0 on the rings of (p).
  (N2) disconnected graph (two disjoint rings, lambda = 1, w on the difference of the two rings' averages): "Xi_T ~ eta^2"
       (the nodes agree as eta -> 0): Xi_T tends to zeta^2/h^2, whatever eta.
  (N3) two disjoint rings reach consensus: Xi_T <= 1e-6 zeta^2/L^2 (sweep of (A)).
Mutants: generic drop-n, drop-p, drop-zeta, drop-tau_c, faster-T, step-x8-tuned; not-doubly-stochastic (the star's
random-walk weights, row-stochastic only, run where (A) claims doubly stochastic: xbar drifts off x*).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from problems.federated import HeterogeneousClients
from ratecheck.algorithms.decentralized import d_sgd
from ratecheck.checks import FAIL, BoundHolds, Converges, Exponent, MeanVersusBound
from ratecheck.mixing import MixingMatrix, parse
from ratecheck.sweep import Sweep, grid
from ratecheck.symbols import F0, R0, L, Meaning, T, n, sigma, zeta
from ratecheck.theorem import Theorem
from ratecheck.trace import Trace, log_checkpoints

SYMBOLS = [Meaning("p", "Koloskova's consensus constant of W, p = 1 - lambda^2 (p = 1: one gossip step averages exactly)", neutral=1),
           Meaning("tau_c", "communication period: gossip every tau_c-th step, local steps otherwise (the paper's tau)", neutral=1),
           Meaning("eta", "D-SGD step size"),
           Meaning("Xi_exact", "Xi_T of the aligned instance, closed form (module docstring) [DERIVED]")]
p, tau_c, eta, Xi_exact = (s_.symbol for s_ in SYMBOLS)

RATE = (sp.sqrt(L * F0 * sigma**2 / (n * T)) + (L * F0 * (zeta * tau_c / p + sigma * sp.sqrt(tau_c / p)) / T) ** sp.Rational(2, 3)
        + L * F0 * tau_c / (p * T))  # Koloskova et al. Thm 2, nonconvex, O-form of T3.2 (c) with unit constants
ETA_TUNED = sp.Min(p / (2 * L * tau_c), sp.sqrt(n * F0 / (L * sigma**2 * T)), (p**2 * F0 / (L**2 * zeta**2 * tau_c**2 * T)) ** sp.Rational(1, 3),
                   (p * F0 / (L**2 * sigma**2 * tau_c * T)) ** sp.Rational(1, 3))
CONS = 4 * (eta * zeta * tau_c / p) ** 2  # [DERIVED] consensus distance, identical Hessians, sigma = 0
CONS_FLAT = 4 * (eta * zeta * tau_c) ** 2  # negative control N1: no topology in the transient
AGREE = 1e-6 * zeta**2 / L**2  # negative control N3: "consensus" threshold

D = 4  # dimension of the consensus instances
D_RATE = 16  # dimension of the rate instances (H = I: the variance of avg_gnorm2 falls like 1/(R D_RATE))


def slowest(W: MixingMatrix) -> tuple[np.ndarray, float]:
    """A unit eigenvector v of W orthogonal to 1 with the largest eigenvalue below the Perron one (lambda_2; for two
    disjoint rings the difference of their indicators, eigenvalue 1), and its eigenvalue."""
    ev, U = W.eigenvectors()
    V = U[:, :2] - U[:, :2].mean(axis=0)  # remove the average direction from the top two eigenvectors
    j = int(np.argmax(np.linalg.norm(V, axis=0)))
    return V[:, j] / np.linalg.norm(V[:, j]), float(ev[j])


def aligned_clients(ctx, W: MixingMatrix, zeta_: float) -> tuple[HeterogeneousClients, np.ndarray, float]:
    """G3 with identical Hessians H = diag(geomspace(0.5, 1, D)) and w_i = zeta sqrt(n) v_i u, v the slowest eigenvector
    of W, u = e_D the top eigenvector of H (h = 1): the tight instance of (C); returns (clients, u, lambda_v)."""
    v, lam_v = slowest(W)
    u = np.eye(D)[-1]
    w = zeta_ * math.sqrt(W.n) * v[:, None] * u[None, :]
    f = HeterogeneousClients(np.diag(np.geomspace(0.5, 1.0, D)), np.zeros((W.n, D, D)), w - w.mean(axis=0), R0=1.0, seed=0)
    return ctx.problem(f), u, lam_v


def xi_exact(eta_: float, h: float, lam_v: float, zeta_: float, tau: int, j: int) -> float:
    """XI_EXACT of the module docstring after j gossip steps."""
    a = 1.0 - eta_ * h
    S = sum(a**s for s in range(tau))
    rho = lam_v * a**tau
    return (eta_ * lam_v * S * zeta_ * (1.0 - rho**j) / (1.0 - rho)) ** 2


def run_consensus(ctx, point, R, rng) -> Trace:
    """sigma = 0, identical Hessians, fixed eta: the aligned instance (records XI_EXACT at T) or G3's random w."""
    W = parse(point["W"])
    tau = point.get("tau_c", 1)
    if point.get("aligned", True):
        f, u, lam_v = aligned_clients(ctx, W, 1.0)
        ctx.record(Xi_exact=xi_exact(point["eta"], float(u @ f.H @ u), lam_v, 1.0, tau, point["T"] // tau))
    else:
        f = ctx.problem(HeterogeneousClients.g3(W.n, D, mu=1.0, L=1.0, delta_H=0.0, zeta=1.0, R0=1.0, seed=0))
    ctx.record(**W.constants)
    return d_sgd(f, W, point["eta"], point["T"], R, rng, tau_c=tau, doubly_stochastic=W.kind == "symmetric",
                 measures=("consensus",) if point.get("aligned", True) else ("consensus", "dist2"))


def run_rate(ctx, point, R, rng) -> Trace:
    """G3 (H = I, delta_H = 0.5, zeta and sigma from the point), start with L F0/sigma^2 = point['u'], the tuned eta(T)."""
    W = parse(point["W"])
    sigma_, u = point["sigma"], point["u"]
    R0_ = 2 * u * sigma_**2 if sigma_ > 0 else point["R0"]  # H = I: F0 = R0/2
    f = ctx.problem(HeterogeneousClients.g3(W.n, D_RATE, mu=1.0, L=1.0, delta_H=0.5, zeta=point.get("zeta", 0.0), R0=R0_, noise=sigma_, seed=1))
    ctx.record(**W.constants, T=point["T"], tau_c=1)
    eta_ = ctx.step("tuned", T=point["T"])
    grid_ = np.array([point["T"]]) if point.get("final_only") else log_checkpoints(point["T"])
    return d_sgd(f, W, eta_, point["T"], R, rng, checkpoints=grid_, measures=("gnorm2",) if point["sigma"] > 0 else ("dist2",))


def _T_mixed(q: dict) -> int:
    """10/(1 - rho) gossip steps (stationary to e^-10), rounded up to a multiple of tau_c."""
    W = parse(q["W"])
    _, lam_v = slowest(W)
    tau = q.get("tau_c", 1)
    rho = lam_v * (1 - q["eta"]) ** tau
    return tau * math.ceil(10 / (1 - rho))


CONSENSUS = (grid(W=("ring:16", "ring:32", "ring:64", "ring:128"), eta=1e-5).set(part="p")
             + grid(W="ring:16", tau_c=(2, 4, 8), eta=1e-5).set(part="tau")
             + grid(W="ring:8", eta=(1e-3, 3e-3, 1e-2)).set(part="eta")).derive(T=_T_mixed) + grid(
                 W="two-rings:8", eta=(1e-3, 3e-3, 1e-2), T=6000, part="eta")
AVERAGE = grid(W=("ring:16", "torus:4x4", "complete:16", "star:16", "two-rings:16"), eta=0.05, T=1000, aligned=False)
RATE_T = grid(W=("ring:8", "complete:8"), T=(2000, 4000, 8000, 16000)).set(sigma=1.0, u=1.2e-3, final_only=True)
RATE_N = grid(W=("complete:2", "complete:4", "complete:8", "complete:16")).set(T=20000, sigma=1.0, u=6.25e-4, final_only=True)
RATE_N_QUICK = grid(W=("complete:2", "complete:4", "complete:8")).set(T=8000, sigma=1.0, u=1.56e-3, final_only=True)
STABLE = grid(W=("ring:8", "complete:8"), T=500, sigma=0.0, R0=1.0, u=0.0)

ring = lambda q: q["W"].startswith("ring")
connected = lambda q: not q["W"].startswith("two-rings")
on_ring_16 = lambda q: q["W"] == "ring:16" and q["eta"] == 1e-5  # the p sweep's ring-16 is the tau sweep's tau_c = 1


def _not_doubly_stochastic(thm: Theorem) -> Theorem:
    """A violated assumption: the star's random-walk weights (row-stochastic only) where (A) claims a doubly stochastic W."""
    return thm.map_sweep("average", lambda q: {**q, "W": "star-random-walk:16"} if q["W"] == "star:16" else q)


THEOREM = Theorem(
    title="Decentralized SGD: linear speedup in n, and a consensus transient that grows like tau_c/p",
    source="Koloskova, Loizou, Boreiri, Jaggi, Stich, ICML 2020, Thm 2 and the consensus lemma [UNVERIFIED constants: exponents "
           "only]; THEOREMS.md T3.2",
    statement="D-SGD with W symmetric, doubly stochastic (p = 1 - lambda^2) and gossip every tau_c steps, at a tuned constant "
              "step: (1/T) sum E||grad f(xbar_t)||^2 = O(sqrt(L F0 sigma^2/(n T)) + (L F0 (zeta tau_c/p + sigma sqrt(tau_c/p))/T)^{2/3} "
              "+ L F0 tau_c/(p T)): the leading term is topology-free and falls like 1/sqrt(n T) (linear speedup), the topology "
              "enters the transient only, through tau_c/p. Consensus distance (sigma = 0, identical Hessians, DERIVED): "
              "Xi_t <= 4 (eta zeta tau_c/p)^2, attained up to lambda^2 (1 + lambda)^2/4 when the heterogeneity lies on the "
              "slowest eigenvector of W.",
    assumptions=["f_i L-smooth, f >= f_inf, F0 = f(x0) - f_inf; unbiased node gradients with variance sigma^2 (G2), independent",
                 "(1/n) sum_i ||grad f_i(x) - grad f(x)||^2 <= zeta^2 (G3: exact at x*; with delta_H = 0 exact everywhere)",
                 "W symmetric, doubly stochastic, nonnegative (certified by ratecheck.mixing), p = 1 - lambda^2 > 0",
                 "constant step eta <= p/(2 L tau_c) (the constant is ours: the paper's is UNVERIFIED)"],
    bound=RATE,
    measure="avg_gnorm2 = (1/T) sum_{t<T} ||grad f(xbar_t)||^2; consensus = Xi_t = (1/n) sum_i ||x_i^t - xbar_t||^2; "
            "dist2 = ||xbar_t - x*||^2",
    steps={"tuned": ETA_TUNED},
    sweeps=[
        Sweep("consensus", run_consensus, CONSENSUS, R=1),
        Sweep("average", run_consensus, AVERAGE, R=1),
        Sweep("rate-T", run_rate, RATE_T, R=128, quick=lambda q: q["T"] <= 8000, quick_R=64),
        Sweep("rate-n", run_rate, RATE_N, R=128, quick=RATE_N_QUICK, quick_R=64),
        Sweep("stable", run_rate, STABLE, R=1),
    ],
    checks=[
        Exponent("(T) slope -1/2 in T on the ring (tuned eta(T))", "rate-T", mode="final", relation="tight", measure="avg_gnorm2",
                 where=ring, description="UNVERIFIED constants: exponent only; ring-8 (p = 0.352), G3 delta_H = 0.5, zeta = 0"),
        Exponent("(T) slope -1/2 in T on the complete graph: the same as the ring's", "rate-T", mode="final", relation="tight",
                 measure="avg_gnorm2", where=lambda q: not ring(q),
                 description="topology-independent leading term: complete-8 (p = 1), the same instance and steps as the ring"),
        Exponent("(n) slope -1/2 in n at fixed T: linear speedup (tuned eta(T, n))", "rate-n", mode="final", variable="n",
                 regime="small", relation="tight", measure="avg_gnorm2", window_tol=0.1,
                 description="UNVERIFIED constants: exponent only; complete graphs, G3 delta_H = 0.5, zeta = 0"),
        BoundHolds("(C) Xi_t <= 4 (eta zeta tau_c/p)^2 at every checkpoint [DERIVED]: rings 8..128, tau_c = 1..8", "consensus",
                   measure="consensus", bound=CONS, where=connected),
        BoundHolds("(C) Xi_t <= 4 (eta zeta tau_c/p)^2 on ring, torus, complete, star (random w)", "average", measure="consensus",
                   bound=CONS, where=connected),
        MeanVersusBound("(X) Xi_T equals its closed form on the aligned instances (also on two disjoint rings)", "consensus",
                        measure="consensus", relation="exact", bound=Xi_exact, rel_slack=1e-8),
        Exponent("(p) the transient grows like 1/p: Xi_T ~ p^-2 on rings n = 16..128", "consensus", mode="final", variable="p",
                 regime="small", where=lambda q: q["part"] == "p", relation="tight", measure="consensus", bound=CONS),
        Exponent("(tau) local updates enter as tau_c/p: Xi_T ~ tau_c^2", "consensus", mode="final", variable="tau_c",
                 relation="tight", where=lambda q: q["part"] == "tau" or on_ring_16(q), measure="consensus", bound=CONS),
        Exponent("(eta) Xi_T ~ eta^2 on a connected ring", "consensus", mode="final", variable="eta", relation="tight",
                 measure="consensus", bound=CONS, where=lambda q: q["part"] == "eta" and connected(q)),
        Converges("(A) sigma = 0, identical Hessians: xbar_t is gradient descent and reaches x*", "average", measure="dist2",
                  bound=1e-20 * R0, description="[DERIVED] 1^T W = 1^T and sum_i w_i = 0; also on two disjoint rings"),
        Converges("(S) at the largest step p/(2 L tau_c), sigma = zeta = 0: D-SGD converges to x*", "stable", measure="dist2",
                  bound=1e-20 * R0),
        Exponent("(N1) the transient does not depend on the topology: Xi_T ~ p^0", "consensus", mode="final", variable="p",
                 regime="small", where=lambda q: q["part"] == "p", relation="tight", measure="consensus", bound=CONS_FLAT, expected=FAIL,
                 description="negative control: the measured slope in p is about -2"),
        Exponent("(N2) two disjoint rings: Xi_T ~ eta^2 (the nodes agree as eta -> 0)", "consensus", mode="final",
                 variable="eta", relation="tight", measure="consensus", bound=CONS, where=lambda q: not connected(q), expected=FAIL,
                 description="negative control [T3.2 (f)]: lambda = 1, p = 0; Xi_T -> zeta^2/h^2 whatever eta"),
        Converges("(N3) two disjoint rings reach consensus", "average", measure="consensus", bound=AGREE,
                  where=lambda q: not connected(q), expected=FAIL,
                  description="negative control [T3.2 (f)]: each ring settles at its own half's optimum"),
    ],
    symbols=SYMBOLS,
    stream="decentralized-sgd",
    mutants={"not-doubly-stochastic": _not_doubly_stochastic},
    notes=[("Koloskova et al.'s constants are UNVERIFIED (THEOREMS.md Appendix C, zeta tau/p vs zeta tau/sqrt p): the rate is "
            "checked by its exponents in T and n only; its unit constants place the fit windows. The consensus bound "
            "4 (eta zeta tau_c/p)^2 and its closed form are DERIVED here for identical Hessians and sigma = 0."),
           ("On the complete graph D-SGD is exactly mini-batch SGD; with delta_H = 0 the average xbar_t is mini-batch SGD on "
            "every doubly stochastic W (the topology then acts on the consensus distance only), which is why the rate sweeps "
            "use delta_H = 0.5.")],
)
