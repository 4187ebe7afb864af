"""Exercise: biased compression fails, and error feedback fixes it (THEOREMS.md T2, negative controls N1, N2).

Two counterexamples (problems/counterexamples.py, certified constants):
  N1  f(x) = <a1, x>^2 + <a2, x>^2 on R^2 (Karimireddy et al. 2019): every sign of a stochastic gradient
      is +-(1, -1), so signSGD, and scaled sign without memory, can never change x_1 + x_2 and stay above
      the floor 8 eps^2. EF-SGD with the same scaled sign converges (lecture seed 004, "Error Feedback SGD").
  N2  three workers, f_i(x) = <a_i, x>^2 + 1/2 ||x||^2 (Beznosikov et al. 2020): distributed GD where every
      worker sends top-1 of its gradient diverges geometrically; with a memory e_i per worker it converges.

Run: ``python exercises/ef_fixes_biased.py`` (about 5 s); writes exercises/out/ef_fixes_biased.png and
prints what the numbers show.
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

from problems.counterexamples import SignCounterexample, TopKCounterexample
from ratecheck.algorithms.error_feedback import ef_sgd, ef_sgd_workers
from ratecheck.algorithms.sgd import quantized_sgd
from ratecheck.compressors import Identity, ScaledSign, Sign, TopK


def growth_per_step(t: np.ndarray, y: np.ndarray) -> float:
    """exp of the least-squares slope of log y against t over the second half of the finite values."""
    ok = np.isfinite(y) & (y > 0)
    t, y = t[ok], y[ok]
    half = t >= t[-1] / 2
    return float(np.exp(np.polyfit(t[half], np.log(y[half]), 1)[0]))


def main(out_dir: Path | None = None, quick: bool = False) -> dict:
    """Run, save the PNG in ``out_dir`` (default: exercises/out/) and return the computed summary."""
    out_dir = Path(__file__).resolve().parent / "out" if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    R, T1, T2 = (10, 400, 400) if quick else (50, 1000, 1000)
    gamma1, gamma2 = 0.02, 0.05

    # N1: signSGD counterexample
    p1 = SignCounterexample(0.5)
    floor = p1.constants["floor"]
    n1 = {
        "signSGD": quantized_sgd(p1, Sign(), gamma1, T1, R, np.random.default_rng(1)),
        "scaled sign, no memory": quantized_sgd(p1, ScaledSign(), gamma1, T1, R, np.random.default_rng(2)),
        "EF + scaled sign": ef_sgd(p1, ScaledSign(), gamma1, T1, R, np.random.default_rng(3), measures=("subopt", "dist2")),
        "SGD (no compression)": quantized_sgd(p1, Identity(), gamma1, T1, R, np.random.default_rng(4)),
    }
    # N2: top-1 with three heterogeneous workers (deterministic: one replica)
    p2 = TopKCounterexample()
    n2 = {
        "top-1, no memory": ef_sgd_workers(p2, TopK(1), gamma2, T2, 1, np.random.default_rng(0), error_feedback=False),
        "EF + top-1": ef_sgd_workers(p2, TopK(1), gamma2, T2, 1, np.random.default_rng(0)),
        "GD (no compression)": ef_sgd_workers(p2, Identity(), gamma2, T2, 1, np.random.default_rng(0), error_feedback=False),
    }

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for label, tr in n1.items():
        ax1.plot(tr.t, tr.values["subopt"].mean(axis=0), "o-", ms=2.5, label=label)
    ax1.axhline(floor, color="k", ls="--", lw=1, label=f"floor 8 eps^2 = {floor:g} (sign steps)")
    ax1.set(xscale="log", yscale="log", xlabel="t", ylabel="mean f(x_t) - f*", title=f"N1: signSGD counterexample, gamma = {gamma1}")
    ax1.set_ylim(1e-40, 1e2)
    for label, tr in n2.items():
        y = tr.values["dist2"][0]
        ax2.plot(tr.t, np.where(np.isfinite(y), y, np.nan), "o-", ms=2.5, label=label)
        if tr.first_divergence() is not None:
            ax2.axvline(tr.first_divergence(), color="grey", ls=":", lw=1)
    ax2.set(xscale="log", yscale="log", xlabel="t", ylabel="‖x_t - x*‖^2", title=f"N2: top-1, 3 heterogeneous workers, gamma = {gamma2}")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = out_dir / "ef_fixes_biased.png"
    fig.savefig(png)
    plt.close(fig)

    sign_min = min(float(n1[k].values["subopt"].min()) for k in ("signSGD", "scaled sign, no memory"))
    ef_final = float(n1["EF + scaled sign"].values["subopt"][:, -1].mean())
    top1 = n2["top-1, no memory"]
    top1_growth = growth_per_step(top1.t.astype(float), top1.values["dist2"][0])
    ef2_growth = growth_per_step(n2["EF + top-1"].t.astype(float), n2["EF + top-1"].values["dist2"][0])
    ef2_final = float(n2["EF + top-1"].values["dist2"][0, -1])
    summary = {
        "floor": floor, "min_f_without_memory": sign_min, "ef_sign_final_f": ef_final,
        "top1_growth_per_step": top1_growth, "top1_diverged_at": top1.first_divergence(),
        "ef_top1_growth_per_step": ef2_growth, "ef_top1_final_dist2": ef2_final, "png": str(png),
    }
    summary["supported"] = bool(sign_min >= floor * (1 - 1e-12) and ef_final < 1e-6 * floor and top1_growth > 1 and ef2_growth < 1
                                and ef2_final < 1e-6 * p2.constants["R0"])
    return summary


if __name__ == "__main__":
    s = main()
    div = f"diverged at step {s['top1_diverged_at']}" if s["top1_diverged_at"] is not None else "did not diverge yet"
    print(f"N1: without memory, sign steps never bring f below {s['min_f_without_memory']:.6g} (certified floor {s['floor']:.6g});"
          f" EF with the same scaled sign reaches f = {s['ef_sign_final_f']:.3g}.")
    print(f"N2: top-1 without memory grows by a factor {s['top1_growth_per_step']:.4f} per step ({div});"
          f" with error feedback ‖x - x*‖^2 shrinks by {s['ef_top1_growth_per_step']:.4f} per step to {s['ef_top1_final_dist2']:.3g}.")
    print(f"plot: {s['png']}")
    print("Takeaway: " + ("biased compressors (sign, top-k) fail without memory and converge with error feedback."
                          if s["supported"] else "NOT supported by these numbers: see the plot."))
