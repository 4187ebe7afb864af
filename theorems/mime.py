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
Not checked (weaker than issue #11 asks): MimeMVR's delta_H^{2/3} vs L^{2/3} in the eps^{-3/2} regime, and the
1/sqrt(S) of the delta zeta/(sqrt(S) eps^{3/2}) term.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from problems.federated import HeterogeneousClients
from ratecheck.algorithms.federated import mime, server_only
from ratecheck.checks import FAIL, Contrast, Converges, Exponent, HittingExponent
from ratecheck.sweep import Sweep, grid
from ratecheck.symbols import R0, L, Meaning, T, delta_H, mu, zeta
from ratecheck.theorem import Theorem
from ratecheck.trace import Trace, log_checkpoints

SYMBOLS = [Meaning("S", "clients sampled per round"), Meaning("N", "number of clients"),
           Meaning("S_eff", "effective sample size S (N - 1)/(N - S) of S clients drawn without replacement", neutral=1)]
S, N, S_eff = (s_.symbol for s_ in SYMBOLS)

MIME_ROUNDS = R0 * sp.exp(-T * mu / delta_H)  # "delta/eps", strongly convex reading: rounds (delta_H/mu) log(R0/eps)
SERVER_ROUNDS = R0 * sp.exp(-T * mu / L)  # "L/eps": rounds (L/mu) log(R0/eps)
SAMPLING_FLOOR = zeta**2 / S_eff  # zeta^2/S with the finite-population factor: Var of the sampled mean = zeta^2 (N - S)/(S (N - 1))
EPS = 1e-12 * R0


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


L_SWEEP = (grid(algo="mime", L=(2.0, 4.0, 8.0, 16.0, 32.0)).set(K="2L/delta", T=300)
           + grid(algo="server-momentum", L=(2.0, 4.0, 8.0, 16.0, 32.0)).set(T=6000)).set(
    N=4, S=4, mu=0.1, delta_H=0.05, zeta=1.0, every_round=True)
SAMPLING = grid(S=(1, 2, 4, 8, 16)).set(algo="mime", N=64, K=5, eta=0.05, T=400, L=2.0, mu=0.5, delta_H=0.2, zeta=1.0)
DRIFT = grid(algo=("mime", "mime-lite")).set(N=4, S=4, K=20, L=2.0, mu=0.5, delta_H=0.4, zeta=4.0, T=400)
CONTRAST = (grid(algo=("mime", "mime-lite", "mime-mvr", "mime-lite-mvr")).set(K=40)
            + grid(algo=("server-sgd", "server-momentum", "server-mvr"))).set(
    N=8, S=8, L=8.0, mu=0.1, delta_H=0.1, zeta=1.0, T=100)


def _server_with_local_steps(thm: Theorem) -> Theorem:
    """A violated assumption: the 'server-only' runs are given Mime's local steps (declared server-only)."""
    return thm.map_sweep("l-dependence", lambda p: {**p, "algo": "mime", "K": "2L/delta", "T": 300} if p["algo"] == "server-momentum" else p)


is_mime = lambda p: p["algo"] == "mime"

THEOREM = Theorem(
    title="Mime: local steps with frozen server momentum replace L by delta_H",
    source="Karimireddy et al., Mime, arXiv 2008.03606 / NeurIPS 2021 [SEED-0, SEED-2; statements UNVERIFIED]; fedjax "
           "fedjax/algorithms/mime.py [CODE]; THEOREMS.md T4 (b), (c), (e), (f)",
    statement="Rounds to eps: Mime ~ delta_H/eps (with K >~ L/delta_H local steps) versus L/eps for any server-only method; "
              "client sampling enters as zeta^2/(S eps). UNVERIFIED in the catalog: exponents and contrasts only.",
    assumptions=["f_i quadratic (G3), delta_H-BHD, f mu-strongly convex; sigma = 0 (the sigma-terms are not tested here)",
                 "S clients per round, uniformly without replacement, independently per replica; base optimizer momentum beta = 0.5"],
    bound=MIME_ROUNDS,
    measure="dist2 = ||x_r - x*||^2 (rounds to eps = 1e-12 R0); subopt = f(x_R) - f* (sampling floor, contrast)",
    sweeps=[
        Sweep("l-dependence", run, L_SWEEP, R=1),
        Sweep("sampling", run, SAMPLING, R=400),
        Sweep("mimelite-drift", run, DRIFT, R=1),
        Sweep("contrast", run, CONTRAST, R=1),
    ],
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
    ],
    symbols=SYMBOLS,
    stream="mime",
    mutants={"server-with-local-steps": _server_with_local_steps},
    notes=[("Catalog status: Mime's theorem statements, assumptions, the MVR update equations and the K >~ L/delta condition are "
           "UNVERIFIED (THEOREMS.md T4, Appendix C): checked as exponents and contrasts only, never with constants."),
           "Not yet checked: MimeMVR's delta^{2/3} vs L^{2/3} error in the eps^{-3/2} regime, and the 1/sqrt(S) term."],
)
