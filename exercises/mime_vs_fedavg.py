"""Exercise: with Hessian dissimilarity delta_H << L, Mime's local steps buy rounds over server-only
momentum, while FedAvg stalls on its drift floor (THEOREMS.md T4 (b) algorithms, T4 (c) the Mime
comparison; lecture seeds 000 and 002, client drift and its corrections).

G3 clients (problems.federated.HeterogeneousClients.g3: N = 8, d = 5, H spectrum in [mu, L] = [0.1, 8],
delta_H = 0.1, zeta = 1, sigma = 0, full participation). Each method runs R = 1 deterministic replica and
the exercise reports the first round r with ||x_r - x*||^2 <= 1e-8 ||x_0 - x*||^2 ("never" if not reached
within T rounds):
  FedAvg     K = 40, eta_l = 1/(K L_max)  (drift: converges to x_FA != x*, T4 (d); expected to stall)
  SCAFFOLD   K = 40, eta_l = 1/(L_max + delta_H K)  (Option II, control variates from zero)
  Mime       K = 40, eta = 1/(2 L_max), momentum base, beta = 0.5 (server state frozen during local steps)
  server-only momentum, eta = 1/L_max, beta = 0.5 (one gradient of f per round, no local steps)
Mime's local steps are corrected by grad f_i(y) - grad f_i(x) + grad f(x), whose error is controlled by
delta_H rather than L, so K local steps can act like up to K server steps when delta_H K <~ L; the takeaway
compares the measured speed-up of Mime over server-only with the ratio L/delta_H (the claim is qualitative:
a speed-up; no constant is asserted).

Run: ``python exercises/mime_vs_fedavg.py`` (a few seconds); writes exercises/out/mime_vs_fedavg.png and
prints the rounds and, last, a takeaway computed from the numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installation
    sys.path.insert(0, str(ROOT))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from problems.federated import HeterogeneousClients
from ratecheck.algorithms.federated import fedavg, mime, scaffold, server_only
from theorems.fedavg import fixed_point

N, D, MU, L_, DELTA_H, ZETA, K, BETA, TOL = 8, 5, 0.1, 8.0, 0.1, 1.0, 40, 0.5, 1e-8


def first_round(t: np.ndarray, dist2: np.ndarray, target: float) -> int | None:
    """The first checkpoint round with dist2 <= target (None: never within the run)."""
    hit = np.flatnonzero(dist2 <= target)
    return int(t[hit[0]]) if hit.size else None


def main(out_dir: Path | None = None, quick: bool = False) -> dict:
    """Run, save the PNG in ``out_dir`` (default: exercises/out/) and return the computed summary."""
    out_dir = Path(__file__).resolve().parent / "out" if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    T = 2000 if quick else 3000
    f = HeterogeneousClients.g3(N, D, mu=MU, L=L_, delta_H=DELTA_H, zeta=ZETA, noise=0.0, seed=0)
    c = f.constants
    L_max, dH, R0 = c["L_max"], c["delta_H"], c["R0"]
    rng = np.random.default_rng(0)
    every = np.arange(1, T + 1)
    steps = {"FedAvg": 1 / (K * L_max), "SCAFFOLD": 1 / (L_max + dH * K), "Mime": 1 / (2 * L_max), "server-only": 1 / L_max}
    traces = {
        "FedAvg": fedavg(f, steps["FedAvg"], K, T, 1, rng, checkpoints=every),
        "SCAFFOLD": scaffold(f, steps["SCAFFOLD"], K, T, 1, rng, option="II", init="zero", checkpoints=every),
        "Mime": mime(f, steps["Mime"], K, T, 1, rng, base="momentum", beta=BETA, checkpoints=every),
        "server-only": server_only(f, steps["server-only"], T, 1, rng, base="momentum", beta=BETA, checkpoints=every),
    }
    target = TOL * R0
    rounds = {name: first_round(tr.t, tr.values["dist2"][0], target) for name, tr in traces.items()}
    final = {name: float(tr.values["dist2"][0, -1] / R0) for name, tr in traces.items()}

    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=110)
    t = np.concatenate([[0], every])
    for name, tr in traces.items():
        r = rounds[name]
        ax.plot(t, np.concatenate([[R0], tr.values["dist2"][0]]) / R0, lw=1.4,
                label=f"{name} ({'never' if r is None else f'{r} rounds'})")
    ax.axhline(TOL, color="k", ls="--", lw=0.8, label=f"target {TOL:g} R0")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-20, 10)
    ax.set_xlabel("round r")
    ax.set_ylabel("||x_r - x*||^2 / ||x_0 - x*||^2")
    ax.set_title(f"G3 clients: L={c['L']:.3g}, delta_H={dH:.3g} (L/delta_H={c['L'] / dH:.0f}), K={K}, sigma=0", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    png = out_dir / "mime_vs_fedavg.png"
    fig.savefig(png)
    plt.close(fig)
    fa_floor = float(np.sum((fixed_point(f, steps["FedAvg"], K) - f.x_star) ** 2) / R0)  # T4 (d)
    mi, so = rounds["Mime"], rounds["server-only"]
    speedup = so / mi if mi and so else None
    return {"rounds": rounds, "final_over_R0": final, "steps": steps, "L": c["L"], "L_max": L_max, "delta_H": dH,
            "L_over_delta_H": c["L"] / dH, "K": K, "T": T, "tol": TOL, "speedup_mime_over_server": speedup, "fedavg_floor_over_R0": fa_floor, "png": str(png)}


def _fmt(r: int | None, T: int) -> str:
    return f"never (within {T})" if r is None else str(r)


if __name__ == "__main__":
    s = main()
    for name, r in s["rounds"].items():
        print(f"{name:12s} step {s['steps'][name]:.4g}: rounds to ||x - x*||^2 <= {s['tol']:g} R0: {_fmt(r, s['T'])}; "
              f"final {s['final_over_R0'][name]:.2e} R0")
    print(f"L = {s['L']:.4g}, L_max = {s['L_max']:.4g}, delta_H = {s['delta_H']:.4g}, L/delta_H = {s['L_over_delta_H']:.1f}, K = {s['K']}")
    print(f"FedAvg fixed-point floor ||x_FA - x*||^2 = {s['fedavg_floor_over_R0']:.3e} R0 (theorems.fedavg.fixed_point)")
    print(f"plot: {s['png']}")
    r = s["rounds"]
    sp_ = s["speedup_mime_over_server"]
    sp_txt = f"{sp_:.1f}x fewer rounds" if sp_ else "no measurable speed-up (one of them never reached the target)"
    print(f"Takeaway: with delta_H << L (L/delta_H = {s['L_over_delta_H']:.0f}) Mime reaches 1e-8 R0 in {_fmt(r['Mime'], s['T'])} rounds "
          f"against server-only momentum's {_fmt(r['server-only'], s['T'])}: {sp_txt} from K = {s['K']} local steps "
          f"(compare K = {s['K']} and L/delta_H = {s['L_over_delta_H']:.0f}); SCAFFOLD takes {_fmt(r['SCAFFOLD'], s['T'])} and FedAvg "
          f"{_fmt(r['FedAvg'], s['T'])}, stuck at {s['final_over_R0']['FedAvg']:.2e} R0 "
          f"(its drift floor ||x_FA - x*||^2 = {s['fedavg_floor_over_R0']:.2e} R0).")
