"""Exercise (d): the step-size limit of quantized SGD is 2/(L(1 + omega)), not GD's 2/L (THEOREMS.md T1 (f) N1;
lecture seed 004, Thm 12.2 and its step condition).

On f(x) = (L/2)||x||^2 (H = L I, x* = 0, sigma = 0) with random-k (rescaled by d/k, omega = d/k - 1 exactly):
x_{t+1} = x_t - gamma (d/k) M_t ⊙ (L x_t), and for every x_t [DERIVED, exact]

    E||x_{t+1}||^2 = (1 - 2 gamma L + gamma^2 L^2 (1 + omega)) ||x_t||^2,

so the mean square grows iff gamma > 2/(L(1 + omega)); uncompressed GD has the factor (1 - gamma L)^2 and is
stable up to 2/L. The exercise sweeps gamma across both limits with ratecheck.algorithms.sgd.quantized_sgd
(R replicas, 8 steps), fits the per-step growth factor of the replica mean of ||x_t||^2 and reads off where
it crosses 1 (linear interpolation between the two sweep points around the crossing: no formula assumed).
At gamma = 2/(L(1 + omega)) exactly, a selected coordinate is mapped to -x_i and the others are unchanged,
so ||x_t||^2 is constant on every run.

Run: ``python exercises/qsgd_step_limit.py`` (a few seconds); writes exercises/out/qsgd_step_limit.png and
prints the measured limits and, last, a takeaway computed from the numbers.
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
from ratecheck.algorithms.sgd import quantized_sgd
from ratecheck.compressors import Compressor, Identity, RandomK

D, K, L_, T_ = 20, 2, 1.0, 8
FRACTIONS = np.array([0.25, 0.6, 0.75, 0.9, 0.95, 0.98, 1.02, 1.05, 1.1, 1.25, 1.5, 1.75])  # gamma / limit (not 0.5: GD hits x = 0)


def growth(Q: Compressor, gamma: float, R: int, rng: np.random.Generator) -> tuple[float, float]:
    """Per-step growth factor of the replica mean of ||x_t||^2 over t = 1..T (least squares on the log of
    the mean), with a standard error from 20 independent batches of replicas."""
    f = Quadratic(np.full(D, L_), rotate=False, x_star=np.zeros(D), R0=1.0, noise=0.0, seed=0)
    trace = quantized_sgd(f, Q, gamma, T_, R, rng, checkpoints=np.arange(1, T_ + 1))
    X = np.column_stack([np.full(R, f.constants["R0"]), trace.values["dist2"]])  # t = 0..T
    t = np.arange(T_ + 1)

    def factor(rows: np.ndarray) -> float:
        return float(np.exp(np.polyfit(t, np.log(rows.mean(axis=0)), 1)[0]))

    batches = [factor(b) for b in np.array_split(X, 20)] if R >= 40 else [factor(X)] * 2
    return factor(X), float(np.std(batches, ddof=1) / math.sqrt(len(batches)))


def crossing(gammas: np.ndarray, factors: np.ndarray) -> float:
    """The gamma where the measured factor crosses 1, by linear interpolation between the sweep points
    just below and just above 1 (nan if it never crosses)."""
    above = np.flatnonzero(factors > 1)
    if above.size == 0 or above[0] == 0:
        return math.nan
    i = above[0]
    g0, g1, f0, f1 = gammas[i - 1], gammas[i], factors[i - 1], factors[i]
    return float(g0 + (1 - f0) * (g1 - g0) / (f1 - f0))


def main(out_dir: Path | None = None, quick: bool = False) -> dict:
    """Run, save the PNG in ``out_dir`` (default: exercises/out/) and return the computed summary."""
    out_dir = Path(__file__).resolve().parent / "out" if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    R = 4000 if quick else 20000
    rng = np.random.default_rng(0)
    Q = RandomK(K)
    omega = Q.omega(D)
    limit_q, limit_gd = 2 / (L_ * (1 + omega)), 2 / L_
    g_q, g_gd = FRACTIONS * limit_q, FRACTIONS * limit_gd
    meas_q = np.array([growth(Q, g, R, rng) for g in g_q])
    meas_gd = np.array([growth(Identity(), g, 1, rng)[0] for g in g_gd])  # deterministic
    exact_q = 1 - 2 * g_q * L_ + g_q**2 * L_**2 * (1 + omega)
    exact_gd = (1 - g_gd * L_) ** 2
    cross_q, cross_gd = crossing(g_q, meas_q[:, 0]), crossing(g_gd, meas_gd)
    z = np.abs(meas_q[:, 0] - exact_q) / np.maximum(meas_q[:, 1], 1e-12)
    gd_error = float(np.max(np.abs(meas_gd - exact_gd) / exact_gd))  # GD is deterministic: rounding only
    # the same gamma for both methods: GD stable and random-k unstable between the two limits
    between = (g_q > limit_q) & (g_q < limit_gd)
    gd_at_q = (1 - g_q * L_) ** 2

    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=110)
    grid = np.geomspace(g_q[0], g_gd[-1], 400)
    ax.plot(grid * L_, 1 - 2 * grid * L_ + grid**2 * L_**2 * (1 + omega), "--", color="C0", lw=1.2,
            label=f"exact, random-{K} of d={D} (omega={omega:g})")
    ax.errorbar(g_q * L_, meas_q[:, 0], yerr=3 * meas_q[:, 1], fmt="o", color="C0", ms=4, label=f"measured, R={R} (+-3 se)")
    ax.plot(grid * L_, (1 - grid * L_) ** 2, "--", color="C1", lw=1.2, label="exact, GD (1 - gamma L)^2")
    ax.plot(g_gd * L_, meas_gd, "s", color="C1", ms=4, label="measured, GD")
    ax.axhline(1, color="k", lw=0.8)
    ax.axvline(limit_q * L_, color="C0", ls=":", lw=1)
    ax.axvline(limit_gd * L_, color="C1", ls=":", lw=1)
    ax.annotate("2/(1+omega)", (limit_q * L_, 0.05), color="C0", fontsize=8, ha="right")
    ax.annotate("2", (limit_gd * L_, 0.05), color="C1", fontsize=8, ha="right")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("gamma L")
    ax.set_ylabel("growth factor of E||x_t||^2 per step")
    ax.set_title(f"H = L I, sigma = 0: crossing 1 at gamma L = {cross_q * L_:.4f} (random-k), {cross_gd * L_:.4f} (GD)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    png = out_dir / "qsgd_step_limit.png"
    fig.savefig(png)
    plt.close(fig)
    return {"omega": omega, "limit_qsgd": limit_q, "limit_gd": limit_gd, "crossing_qsgd": cross_q, "crossing_gd": cross_gd,
            "gammas": g_q.tolist(), "measured": meas_q[:, 0].tolist(), "se": meas_q[:, 1].tolist(), "exact": exact_q.tolist(),
            "max_z": float(np.max(z)), "gd_max_relative_error": gd_error, "unstable_random_k_but_stable_gd": int(np.sum(between & (meas_q[:, 0] > 1) & (gd_at_q < 1))),
            "between_points": int(np.sum(between)), "png": str(png), "R": R}


if __name__ == "__main__":
    s = main()
    for g, m_, se, e in zip(s["gammas"], s["measured"], s["se"], s["exact"]):
        print(f"gamma L = {g * L_:.4f} ({g / s['limit_qsgd']:.2f} x the limit): growth {m_:.4f} +- {se:.4f}, exact {e:.4f}")
    print(f"random-k: measured crossing at gamma = {s['crossing_qsgd'] / s['limit_qsgd']:.4f} x 2/(L(1+omega)); "
          f"GD: at {s['crossing_gd'] / s['limit_gd']:.4f} x 2/L; largest |measured - exact| = {s['max_z']:.1f} standard errors "
          f"(random-k), {s['gd_max_relative_error']:.1g} relative (GD)")
    print(f"plot: {s['png']}")
    print(f"Takeaway: with omega = {s['omega']:g}, E||x_t||^2 starts to grow at gamma L = {s['crossing_qsgd'] * L_:.4f} "
          f"(2/(1+omega) = {s['limit_qsgd'] * L_:.4f}), while GD is stable up to gamma L = {s['crossing_gd'] * L_:.4f} (2/L = "
          f"{s['limit_gd'] * L_:.4f}): compression shrinks the stable steps by {s['crossing_gd'] / s['crossing_qsgd']:.2f}x "
          f"(1 + omega = {1 + s['omega']:g}); at {s['unstable_random_k_but_stable_gd']} of the {s['between_points']} sweep steps "
          f"between the two limits random-k diverges where GD converges.")
