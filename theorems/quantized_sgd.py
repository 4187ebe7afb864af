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

import dataclasses

import numpy as np
import sympy as sp

from problems.quadratic import Quadratic
from ratecheck.algorithms.sgd import quantized_sgd
from ratecheck.compressors import QSGD, Compressor, Identity, RandomK, Sign
from ratecheck.falsify import SearchSpace
from ratecheck.theorem import (
    FAIL,
    R0,
    BoundHolds,
    Exponent,
    HittingExponent,
    L,
    MeanEquals,
    Ratio,
    Sweep,
    T,
    Theorem,
    gamma,
    omega,
    sigma,
)
from ratecheck.trace import log_checkpoints

BOUND = R0 / (gamma * T) + gamma * (1 + omega) * sigma**2
GAMMA_MAX = 1 / (2 * L * (1 + omega))
GAMMA_TUNED = sp.Min(GAMMA_MAX, sp.sqrt(R0 / ((1 + omega) * sigma**2 * T)))

D = 20  # dimension of every instance below


def compressor(name: str) -> Compressor:
    """The quantizers of the sweeps: random-k (E1, exact omega = d/k - 1) and QSGD(s) (E2)."""
    kind, _, param = name.partition(":")
    return {"random_k": lambda: RandomK(int(param)), "qsgd": lambda: QSGD(int(param)), "identity": Identity,
            "sign": Sign}[kind]()


def problem(point: dict) -> Quadratic:
    shape = point.get("problem", "isotropic")
    d, L_, sigma_ = point.get("d", D), point.get("L", 1.0), point["sigma"]
    if shape == "isotropic":  # H = L I: the instance on which Thm 12.2 is tight up to a constant
        return Quadratic.isotropic(d, L_, R0=point.get("R0", 1.0), noise=sigma_, seed=point.get("seed", 0))
    return Quadratic.log_spaced(d, 0.01 * L_, L_, R0=point.get("R0", 1.0), noise=sigma_, seed=point.get("seed", 0))


def run(thm: Theorem, point: dict, R: int, rng: np.random.Generator):
    """Quantized SGD at the point's step: a fraction of the theorem's step rule, or the tuned gamma(T)."""
    f = problem(point)
    Q = compressor(point["Q"])
    T_ = point["T"]
    # the step rule is evaluated with the omega of `Q_step` (default: Q itself), so that SGD and QSGD
    # can be run at the same gamma for the floor comparison
    omega_ = Q.omega(f.d)
    omega_step = compressor(point.get("Q_step", point["Q"])).omega(f.d)
    if omega_ is None:  # a biased compressor has no omega: only a planted wrong claim runs one, with omega := 0
        omega_ = omega_step = 0.0
    constants = {**f.constants, "omega": omega_, "T": T_}
    gamma_ = point.get("fraction", 1.0) * thm.step(point.get("rule", "max"), {**constants, "omega": omega_step})
    grid = np.arange(1, T_ + 1) if point.get("every_step") else log_checkpoints(T_)
    trace = quantized_sgd(f, Q, gamma_, T_, R, rng, grid, burn_in=T_ // 2 if point.get("tail") else None)
    trace.constants.update({**constants, "gamma": gamma_, "k": float(getattr(Q, "k", f.d))})
    return trace


# ----------------------------------------------------------------------------------------------------
# sweeps

FIXED = [
    {"Q": q, "fraction": fr, "sigma": 1.0, "problem": pb, "T": 4000}
    for pb in ("isotropic", "log-spaced") for q in ("random_k:5", "random_k:1", "qsgd:2", "identity") for fr in (1.0, 0.125)
]
FIXED_QUICK = [p for p in FIXED if p["Q"] in ("random_k:5", "random_k:1") and p["problem"] == "isotropic"] + [
    {"Q": "qsgd:2", "fraction": 1.0, "sigma": 1.0, "problem": "log-spaced", "T": 4000}
]
EARLY = [{"Q": "random_k:5", "fraction": 0.125, "sigma": 0.05, "T": 20000}]
TUNED_NOISY = [{"Q": "random_k:5", "rule": "tuned", "sigma": 4.0, "T": int(T_)} for T_ in np.geomspace(1000, 32000, 6).round()]
HITTING = [{"Q": f"random_k:{k_}", "rule": "tuned", "sigma": 0.0, "d": 64, "T": 400 * 64 // k_, "every_step": True} for k_ in (64, 32, 16, 8, 4)]
FLOOR = [
    {"Q": q, "Q_step": "random_k:5", "fraction": fr, "sigma": 1.0, "T": round(40 / (fr * (1 / 8))), "tail": True}
    for fr in (0.1, 0.05, 0.025) for q in ("random_k:5", "identity")
] + [{"Q": "random_k:5", "fraction": 0.05, "sigma": s_, "T": 6400, "tail": True} for s_ in (0.5, 2.0)]
N1 = [{"Q": "random_k:1", "rule": "max", "fraction": 6.0, "sigma": 0.0, "T": 300}]  # gamma = 3/(L(1+omega))


def search_run(thm: Theorem, inst: dict, R: int, rng: np.random.Generator):
    """One instance of the falsification search: spectrum L i^-p (rotated or not), x0 - x* mixing the
    top and bottom eigenvectors, noise partly along the top eigenvector, random-k with any k, any
    gamma <= the declared limit, any T."""
    from problems.noise import DirectionalNoise  # TODO(lead): hoist to the imports

    d = 16
    lam = np.arange(1, d + 1, dtype=float) ** (-inst["p"])
    base = Quadratic(lam, rotate=inst["rotate"] > 0.5, seed=0)
    Qh = base.Q if base.Q is not None else np.eye(d)
    a = inst["x0_mix"] * np.pi / 2
    x0 = base.x_star + np.cos(a) * Qh[:, np.argmax(lam)] + np.sin(a) * Qh[:, np.argmin(lam)]
    noise = DirectionalNoise(inst["sigma"], Qh[:, np.argmax(lam)], inst["noise_along_top"])
    f = Quadratic(lam, rotate=inst["rotate"] > 0.5, seed=0, x_star=base.x_star, x0=x0, noise=noise)
    Q = RandomK(inst["k"])
    constants = {**f.constants, "omega": Q.omega(d)}
    gamma_ = inst["fraction"] * thm.step("max", constants)
    trace = quantized_sgd(f, Q, gamma_, inst["T"], R, rng)
    trace.constants.update({**constants, "gamma": gamma_})
    return trace


SEARCH = SearchSpace(
    params={"p": (0.0, 3.0), "rotate": (0.0, 1.0), "x0_mix": (0.0, 1.0), "noise_along_top": (0.0, 1.0), "sigma": (0.0, 2.0),
            "k": (1, 16), "fraction": (0.01, 1.0), "T": (10, 2000)},
    run=search_run, integers=frozenset({"k", "T"}), log=frozenset({"fraction", "T"}),
)


def _biased_quantizer(thm: Theorem) -> Theorem:
    """Planted violated assumption: the same claim for signSGD (biased, no omega), read with omega = 0."""
    sweeps = [dataclasses.replace(sw, points=[{**p, "Q": "sign"} for p in sw.points], quick_points=[{**p, "Q": "sign"} for p in sw.quick_points])
              if sw.name == "fixed-step" else sw for sw in thm.sweeps]
    return dataclasses.replace(thm, sweeps=sweeps)


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
    sweeps=[
        Sweep("fixed-step", run, FIXED, R=100, quick_points=FIXED_QUICK, quick_R=50),
        Sweep("early-phase", run, EARLY, R=100, quick_R=40),
        Sweep("tuned-noisy", run, TUNED_NOISY, R=100, quick_points=TUNED_NOISY[:4], quick_R=50),
        Sweep("hitting", run, HITTING, R=100, quick_R=40),
        Sweep("floor", run, FLOOR, R=400, quick_R=200),
        Sweep("n1-large-step", run, N1, R=2000, quick_R=2000),
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
              pair_by="fraction", extrapolate="fraction", where=lambda p: p["sigma"] == 1.0,
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
