"""Quantized SGD with an unbiased omega-quantizer (THEOREMS.md T1).

Source: lecture Thm 12.2 (Stich, seed 004, statement corrected as in THEOREMS.md Appendix B: the seed
drops the T); Alistarh, Grubic, Li, Tomioka, Vojnovic, "QSGD", NeurIPS 2017.

Assumptions: f convex and L-smooth; E g(x) = grad f(x), E||g(x) - grad f(x)||^2 <= sigma^2; Q an unbiased
omega-quantizer (Definition 12.1), fresh randomness each step; gamma <= 1/(2L(1+omega)).
Algorithm: x_{t+1} = x_t - gamma Q(g(x_t)).
Guarantee (upper; tight up to a constant on H = L I):
    (1/T) sum_{t<T} E f(x_t) - f*  <=  R0/(gamma T) + gamma (1+omega) sigma^2,   R0 = ||x0 - x*||^2.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from problems.quadratic import Quadratic
from ratecheck.algorithms.sgd import quantized_sgd
from ratecheck.checks import BoundHolds, Exponent, HittingExponent, MeanEquals, Ratio
from ratecheck.compressors import parse
from ratecheck.falsify import SearchSpace
from ratecheck.sweep import Sweep, grid, zipped
from ratecheck.symbols import R0, L, T, gamma, omega, sigma
from ratecheck.theorem import FAIL, Theorem
from ratecheck.trace import log_checkpoints

BOUND = R0 / (gamma * T) + gamma * (1 + omega) * sigma**2
GAMMA_MAX = 1 / (2 * L * (1 + omega))
GAMMA_TUNED = sp.Min(GAMMA_MAX, sp.sqrt(R0 / ((1 + omega) * sigma**2 * T)))


def run(ctx, point, R, rng):
    """Quantized SGD at the point's step: a fraction of a step rule evaluated with the omega of ``Q_step``
    (default: Q itself, so SGD and QSGD can share one gamma), on H = L I or a rotated log-spaced spectrum."""
    d, L_, R0_, sigma_ = point.get("d", 20), point.get("L", 1.0), point.get("R0", 1.0), point["sigma"]
    if point.get("problem", "isotropic") == "isotropic":  # the instance on which Thm 12.2 is tight up to a constant
        f = ctx.problem(Quadratic.isotropic(d, L_, R0=R0_, noise=sigma_, seed=point.get("seed", 0)))
    else:
        f = ctx.problem(Quadratic.log_spaced(d, 0.01 * L_, L_, R0=R0_, noise=sigma_, seed=point.get("seed", 0)))
    Q = ctx.compressor(point["Q"], d)
    if Q.omega(d) is None:  # a biased compressor has no omega: only a planted wrong claim runs one, read as omega = 0
        ctx.record(omega=0.0)
    omega_step = parse(point.get("Q_step", point["Q"])).omega(d) or 0.0
    gamma_ = point.get("fraction", 1.0) * ctx.step(point.get("rule", "max"), T=point["T"], omega=omega_step)
    ctx.record(T=point["T"], gamma=gamma_)
    grid_ = np.arange(1, point["T"] + 1) if point.get("every_step") else log_checkpoints(point["T"])
    return quantized_sgd(f, Q, gamma_, point["T"], R, rng, grid_, burn_in=point["T"] // 2 if point.get("tail") else None)


FIXED = grid(problem=("isotropic", "log-spaced"), Q=("random_k:5", "random_k:1", "qsgd:2", "identity"), fraction=(1.0, 0.125),
             sigma=1.0, T=4000)
FIXED_QUICK = FIXED.where(lambda p: p["Q"] in ("random_k:5", "random_k:1") and p["problem"] == "isotropic") + grid(
    Q="qsgd:2", fraction=1.0, sigma=1.0, problem="log-spaced", T=4000)
TUNED_NOISY = grid(Q="random_k:5", rule="tuned", sigma=4.0, T=tuple(int(T_) for T_ in np.geomspace(1000, 32000, 6).round()))
HITTING = zipped(Q=tuple(f"random_k:{k_}" for k_ in (64, 32, 16, 8, 4)), rule="tuned", sigma=0.0, d=64,
                 T=tuple(400 * 64 // k_ for k_ in (64, 32, 16, 8, 4)), every_step=True)
FLOOR = (grid(fraction=(0.1, 0.05, 0.025), Q=("random_k:5", "identity"), Q_step="random_k:5", sigma=1.0, tail=True)
         .derive(T=lambda p: round(40 / (p["fraction"] * (1 / 8))))
         + grid(Q="random_k:5", fraction=0.05, sigma=(0.5, 2.0), T=6400, tail=True))


def search_run(ctx, inst, R, rng):
    """One instance of the falsification search (Quadratic.directional: spectrum i^-p, rotated or not, start and
    noise between the top and bottom eigenvectors), random-k with any k, any gamma <= the declared limit, any T."""
    f = ctx.problem(Quadratic.directional(16, inst["p"], rotate=inst["rotate"] > 0.5, x0_mix=inst["x0_mix"], sigma=inst["sigma"],
                                          noise_along_top=inst["noise_along_top"]))
    Q = ctx.compressor(f"random_k:{inst['k']}", f.d)
    ctx.record(gamma=inst["fraction"] * ctx.step("max"))
    return quantized_sgd(f, Q, ctx.constants["gamma"], inst["T"], R, rng)


SEARCH = SearchSpace(
    params={"p": (0.0, 3.0), "rotate": (0.0, 1.0), "x0_mix": (0.0, 1.0), "noise_along_top": (0.0, 1.0), "sigma": (0.0, 2.0),
            "k": (1, 16), "fraction": (0.01, 1.0), "T": (10, 2000)},
    run=search_run, integers=frozenset({"k", "T"}), log=frozenset({"fraction", "T"}),
)


def _biased_quantizer(thm: Theorem) -> Theorem:
    """Planted violated assumption: the same claim for signSGD (biased, no omega), read with omega = 0."""
    return thm.map_sweep("fixed-step", lambda p: {**p, "Q": "sign"})


def _growth(constants, t):
    """N1 [DERIVED, exact]: E||x_t - x*||^2 = (1 + gamma L (gamma L (1+omega) - 2))^t R0 on H = L I, sigma = 0."""
    gL = constants["gamma"] * constants["L"]
    return constants["R0"] * (1 + gL * (gL * (1 + constants["omega"]) - 2)) ** t


THEOREM = Theorem(
    title="Quantized SGD with an unbiased omega-quantizer",
    source="Lecture Thm 12.2 (Stich, seed 004; T restored, THEOREMS.md App. B); Alistarh et al., QSGD, NeurIPS 2017",
    statement="For gamma <= 1/(2L(1+omega)): (1/T) sum_{t<T} E f(x_t) - f* <= R0/(gamma T) + gamma (1+omega) sigma^2.",
    assumptions=[
        "f convex and L-smooth; R0 = ||x0 - x*||^2",
        "E g(x) = grad f(x), E||g(x) - grad f(x)||^2 <= sigma^2",
        "Q unbiased with E||Q(x) - x||^2 <= omega ||x||^2, fresh randomness every step",
        "gamma <= 1/(2L(1+omega)); tuned: gamma = min(1/(2L(1+omega)), sqrt(R0/((1+omega) sigma^2 T)))",
    ],
    bound=BOUND,
    measure="avg_subopt: (1/T) sum_{t<T} f(x_t) - f*, mean over replicas",
    steps={"max": GAMMA_MAX, "tuned": GAMMA_TUNED},
    stream="quantized-sgd",
    sweeps=[
        Sweep("fixed-step", run, FIXED, R=100, quick=FIXED_QUICK, quick_R=50),
        Sweep("early-phase", run, grid(Q="random_k:5", fraction=0.125, sigma=0.05, T=20000), R=100, quick_R=40),
        Sweep("tuned-noisy", run, TUNED_NOISY, R=100, quick=TUNED_NOISY[:4], quick_R=50),
        Sweep("hitting", run, HITTING, R=100, quick_R=40),
        Sweep("floor", run, FLOOR, R=480),  # quick as full: 200 replicas missed the false-failure budget (issue 15)
        Sweep("n1-large-step", run, grid(Q="random_k:1", rule="max", fraction=6.0, sigma=0.0, T=300), R=2000),  # gamma = 3/(L(1+omega))
    ],
    checks=[
        BoundHolds("bound holds at every (gamma, T), gamma <= 1/(2L(1+omega))", "fixed-step",
                   description="random-k (exact omega), QSGD(2) (omega of QSGD Lemma 3.1) and SGD, on H = L I and a "
                               "rotated log-spaced spectrum; T from 1 to 4000"),
        BoundHolds("bound holds with the tuned gamma(T)", "tuned-noisy", subs={"gamma": "tuned"}),
        Exponent("fixed gamma, early phase: slope -1 in T", "early-phase", relation="tight", regime="small",
                 T_min=10 / (gamma * L), description="window where R0/(gamma T) dominates; T >= 10/(gamma L) (transient)"),
        Exponent("tuned gamma(T), sigma > 0: slope -1/2 in T", "tuned-noisy", mode="final", relation="tight",
                 subs={"gamma": "tuned"}, description="one run per T with gamma = gamma_tuned(T); H = L I"),
        Exponent("tuned gamma, sigma = 0: slope -1 in T", "hitting", relation="tight", subs={"gamma": "tuned"},
                 where=lambda p: p["Q"] == "random_k:16", T_min=10 / (gamma * L)),
        HittingExponent("iterations to epsilon grow like (1+omega)^1", "hitting", variable="1 + omega",
                        relation="tight", epsilon=L * R0 / 300, subs={"gamma": "tuned"},
                        description="random-k with k = d/(1+omega), sigma = 0, d = 64; epsilon = L R0/300"),
        Ratio("stationary floor QSGD/SGD -> 1+omega as gamma -> 0", "floor", relation="tight",
              numerator=lambda p: p["Q"] != "identity", denominator=lambda p: p["Q"] == "identity",
              pair_by="fraction", extrapolate="fraction", where=lambda p: p["sigma"] == 1.0, bias_allowance=0.005,
              description="same gamma for both; floor = mean of f over the second half of T = 40 mixing times; "
                          "ratio extrapolated linearly to gamma = 0; prediction: the bound's ratio as T -> infinity"),
        Exponent("stationary floor grows like gamma^1", "floor", mode="final", variable="gamma", measure="tail_subopt",
                 relation="tight", at_T=float("inf"), where=lambda p: p["Q"] == "random_k:5" and p["sigma"] == 1.0,
                 description="floor = mean of f over the second half of the run; prediction: the bound's limit T -> infinity"),
        Exponent("stationary floor grows like sigma^2", "floor", mode="final", variable="sigma", measure="tail_subopt",
                 relation="tight", at_T=float("inf"), where=lambda p: p["Q"] == "random_k:5" and p["fraction"] == 0.05),
        MeanEquals("N1: growth factor 1 + gamma L (gamma L (1+omega) - 2) at gamma = 3/(L(1+omega))", "n1-large-step",
                   measure="dist2", predicted=_growth, t_max=8, geometric=True,
                   description="H = L I, sigma = 0, random-1 of d = 20 (omega = 19): exact mean-square recursion"),
        BoundHolds("N1: the bound at gamma = 3/(L(1+omega)) > 2/(L(1+omega))", "n1-large-step", expected=FAIL,
                   description="negative control: the step breaks the hypothesis; uncompressed GD would be stable (gamma < 2/L)"),
    ],
    search=SEARCH,
    mutants={"biased-quantizer": _biased_quantizer},
    notes=[
        "QSGD(s)'s omega = min(d/s^2, sqrt(d)/s) is QSGD Lemma 3.1's upper bound; random-k's omega = d/k - 1 is exact.",
        "Predicted exponents, hitting times and ratios are computed from the bound above, so a wrong bound fails its checks.",
    ],
)
