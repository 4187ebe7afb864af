"""Exercise: error feedback's leading term does not depend on delta ("compression for free", lecture remark
after Thm 12.4, seed 004; THEOREMS.md T2 (e)).

On f(x) = (L/2)||x - x*||^2 with Gaussian noise (sigma^2 = 64, R0 = 1, d = 20), run EF-SGD with unscaled
random-k (delta = k/d exactly) for k = 1, 2, 5, 10 and plain SGD, all at the same tuned step
gamma(T) = sqrt(R0/(sigma^2 T)), and QSGD-style rescaled random-k without error feedback at its own tuned step
sqrt(R0/((1 + omega) sigma^2 T)), omega = d/k - 1 (same bits per step as EF with the same k). The quantity is
the averaged error (1/T) sum_t E f(x_t) - f*.

Thm 12.4: EF's error ~ sqrt(R0 sigma^2/T) + (higher-order terms with delta), so error(EF, delta)/error(SGD) -> 1;
Thm 12.2: QSGD's ~ sqrt((1 + omega) sigma^2 R0/T), a factor sqrt(1 + omega) = sqrt(d/k) worse.

Run: ``python exercises/compression_for_free.py`` (about 15 s); writes exercises/out/compression_for_free.png.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installation
    sys.path.insert(0, str(ROOT))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from problems.quadratic import Quadratic
from ratecheck.algorithms.error_feedback import ef_sgd
from ratecheck.algorithms.sgd import quantized_sgd, sgd
from ratecheck.compressors import RandomK


def main(out_dir: Path | None = None, quick: bool = False) -> dict:
    """Run, save the PNG in ``out_dir`` (default: exercises/out/) and return the computed summary."""
    out_dir = Path(__file__).resolve().parent / "out" if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    d, sigma, R0 = 20, 8.0, 1.0
    ks = (1, 2, 5, 10)
    Ts, R = ((500, 2000), 30) if quick else ((1000, 4000, 16000), 60)
    f = Quadratic.isotropic(d, 1.0, R0=R0, noise=sigma, seed=0)
    err: dict[str, list[float]] = {"SGD": []}
    se: dict[str, list[float]] = {"SGD": []}
    for T_ in Ts:
        gamma = math.sqrt(R0 / (sigma**2 * T_))
        rng = np.random.default_rng(T_)
        runs = {"SGD": sgd(f, gamma, T_, R, rng)}
        for k in ks:
            runs[f"EF, delta = {k / d:g}"] = ef_sgd(f, RandomK(k, scaled=False), gamma, T_, R, rng, measures=("subopt",))
            omega = d / k - 1
            runs[f"QSGD random-{k}, omega = {omega:g}"] = quantized_sgd(f, RandomK(k), math.sqrt(R0 / ((1 + omega) * sigma**2 * T_)), T_, R, rng)
        for name, tr in runs.items():
            x = tr.values["avg_subopt"][:, -1]
            err.setdefault(name, []).append(float(x.mean()))
            se.setdefault(name, []).append(float(x.std(ddof=1) / math.sqrt(R)))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for name, values in err.items():
        style = "s--" if name.startswith("QSGD") else "o-"
        ax1.errorbar(Ts, np.array(values) * np.sqrt(Ts), yerr=3 * np.array(se[name]) * np.sqrt(Ts), fmt=style, ms=3, capsize=2, label=name)
    ax1.set(xscale="log", yscale="log", xlabel="T", ylabel="sqrt(T) x averaged error", title="tuned gamma(T): EF ~ SGD, QSGD ~ sqrt(1+omega) SGD")
    ax1.legend(fontsize=6.5)
    deltas = np.array([k / d for k in ks])
    ef_ratio = np.array([err[f"EF, delta = {k / d:g}"][-1] / err["SGD"][-1] for k in ks])
    q_ratio = np.array([err[f"QSGD random-{k}, omega = {d / k - 1:g}"][-1] / err["SGD"][-1] for k in ks])
    ax2.plot(deltas, ef_ratio, "o-", label="EF / SGD")
    ax2.plot(deltas, q_ratio, "s--", label="QSGD / SGD (same bits)")
    ax2.plot(deltas, np.sqrt(1 / deltas), "k:", label="sqrt(1 + omega) = sqrt(d/k)")
    ax2.set(xscale="log", yscale="log", xlabel="delta = k/d", ylabel=f"error ratio at T = {Ts[-1]}", title="the leading term does not see delta")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.25)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    png = out_dir / "compression_for_free.png"
    fig.savefig(png)
    plt.close(fig)

    ef_slope = float(np.polyfit(np.log(deltas), np.log(ef_ratio), 1)[0])  # 0: no delta in the leading term
    q_slope = float(np.polyfit(np.log(1 / deltas), np.log(q_ratio), 1)[0])  # 1/2: error ~ sqrt(1 + omega)
    summary = {"T": Ts[-1], "deltas": deltas.tolist(), "ef_over_sgd": ef_ratio.tolist(), "qsgd_over_sgd": q_ratio.tolist(),
               "ef_delta_exponent": ef_slope, "qsgd_exponent_in_1_plus_omega": q_slope, "png": str(png)}
    summary["supported"] = bool(abs(ef_slope) < 0.1 and np.all(np.abs(ef_ratio - 1) < 0.15) and abs(q_slope - 0.5) < 0.15)
    return summary


if __name__ == "__main__":
    s = main()
    print(f"T = {s['T']}: error(EF)/error(SGD) for delta = " + ", ".join(f"{a:g}: {b:.3f}" for a, b in zip(s["deltas"], s["ef_over_sgd"])))
    print("          error(QSGD)/error(SGD), same bits:  " + ", ".join(f"{a:g}: {b:.3f}" for a, b in zip(s["deltas"], s["qsgd_over_sgd"])))
    print(f"fitted exponent of EF's error in delta: {s['ef_delta_exponent']:+.3f} (0 = compression for free); "
          f"QSGD's in (1 + omega): {s['qsgd_exponent_in_1_plus_omega']:+.3f} (Thm 12.2: +1/2)")
    print(f"plot: {s['png']}")
    print("Takeaway: " + ("with error feedback the leading error term does not depend on delta, while unbiased compression "
                          "without memory pays sqrt(1 + omega)." if s["supported"] else "NOT supported by these numbers: see the plot."))
