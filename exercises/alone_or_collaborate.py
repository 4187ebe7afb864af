"""Exercise: train alone or collaborate? Optimal model averaging for one user's mean (THEOREMS.md T5.1; Grimberg,
Hartley, Karimireddy, Jaggi, "Optimal model averaging", FL @ ICML 2021, arXiv 2110.12946).

User 0's local estimate theta_0 is the mean of n0 samples of N(mu_0, sigma0^2) (variance s0^2 = sigma0^2/n0); a
collaborator's estimate theta_1 ~ N(mu_0 + Delta, s1^2) is independent. The average theta(lam) = (1 - lam) theta_0 +
lam theta_1 has [DERIVED, catalog T5.1]

    MSE(lam) = (1 - lam)^2 s0^2 + lam^2 (s1^2 + Delta^2),   lam* = s0^2/(s0^2 + s1^2 + Delta^2),
    MSE(0) - MSE(lam) = (s0^2 + s1^2 + Delta^2) lam (2 lam* - lam):  collaborating helps iff 0 < lam < 2 lam*.

The exercise measures MSE(lam) by Monte Carlo (all replicas at once, the same draws for every lam) on a weight grid
in [0, 1] for two collaborators, a close one (the catalog's NUM: s0 = 1, s1 = 0.5, Delta = 0.7) and a biased one
(s0 = 1, s1 = 1, Delta = 1.5), against the formula; the empirical argmin (per batch of draws, with its 99 % interval)
against lam*; the harmful weights lam > 2 lam*; and how often a plug-in weight lam_hat = s0_hat^2/(s0_hat^2 + s1_hat^2 +
Delta_hat^2), estimated from m samples on each side (sigma0 = sigma1 = 1, Delta = 0.5), lands beyond 2 lam*.

Run: ``python exercises/alone_or_collaborate.py`` (a few seconds); writes exercises/out/alone_or_collaborate.png and
prints the measured MSEs against the formula, lam*, the harmful region and, last, a takeaway computed from the numbers.
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

from ratecheck.algorithms.averaging import batch_argmin, estimates, plug_in_weight, weighted_average
from ratecheck.expr import evaluate
from theorems.optimal_averaging import LAM_STAR, MSE

COLLABORATORS = {"close (NUM)": {"sigma0": 2.0, "n0": 4, "s1": 0.5, "Delta": 0.7},
                 "biased": {"sigma0": 3.0, "n0": 9, "s1": 1.0, "Delta": 1.5}}
LAMS = np.linspace(0.0, 1.0, 41)
MS = (2, 4, 8, 16, 32, 64)
PLUG_IN_DELTA = 0.5
Z = 6.0  # the theorem checks' threshold: |mean - formula| <= 6 se


def collaborator(c: dict, R: int, rng: np.random.Generator) -> dict:
    """Measured MSE(lam) on the grid (paired over lam) against the formula, the empirical argmin with its interval."""
    constants = {"s0": c["sigma0"] / math.sqrt(c["n0"]), "s1": c["s1"], "Delta": c["Delta"]}
    theta0, theta1 = estimates(R, rng, **c)
    err2 = np.stack([weighted_average(theta0, theta1, a) ** 2 for a in LAMS], axis=1)  # (R, grid), mu_0 = 0
    mean, se = err2.mean(axis=0), err2.std(axis=0, ddof=1) / math.sqrt(R)
    formula = evaluate(MSE, {**constants, "lam": LAMS})
    lam_star = float(evaluate(LAM_STAR, constants))
    batches = batch_argmin(theta0.reshape(100, -1), theta1.reshape(100, -1))  # 100 batches: each an exact parabola's minimiser
    half = 2.576 * batches.std(ddof=1) / math.sqrt(batches.size)
    d = err2 - err2[:, :1]  # paired: (theta(lam) - mu_0)^2 - (theta_0 - mu_0)^2
    harmful = d.mean(axis=0) > 3 * d.std(axis=0, ddof=1) / math.sqrt(R)  # measurably worse than training alone (3 paired se)
    return {**constants, "lam_star": lam_star, "mse": mean, "se": se, "formula": formula, "max_abs_z": float(np.max(np.abs(mean - formula) / se)),
            "argmin": float(batches.mean()), "argmin_interval": (float(batches.mean() - half), float(batches.mean() + half)),
            "mse_at_grid_min": float(mean.min()), "mse_star_formula": float(evaluate(MSE, {**constants, "lam": lam_star})),
            "harmful_measured": LAMS[harmful].tolist(), "harmful_predicted": LAMS[LAMS > 2 * lam_star].tolist()}


def plug_in(m: int, R: int, rng: np.random.Generator) -> dict:
    """m samples on each side (sigma0 = sigma1 = 1): P(lam_hat > 2 lam*) and MSE(lam_hat)/MSE(0)."""
    x0, x1 = rng.standard_normal((R, m)), PLUG_IN_DELTA + rng.standard_normal((R, m))
    lam_star = 1.0 / (2.0 + m * PLUG_IN_DELTA**2)  # s0^2 = s1^2 = 1/m
    lam_hat = plug_in_weight(x0, x1)
    theta0, theta1 = x0.mean(axis=1), x1.mean(axis=1)
    p = float(np.mean(lam_hat > 2 * lam_star))
    diff = weighted_average(theta0, theta1, lam_hat) ** 2 - theta0**2  # paired: MSE(lam_hat)/MSE(0) - 1 = mean(diff)/MSE(0)
    mse0 = float(np.mean(theta0**2))
    return {"m": m, "lam_star": lam_star, "p_harmful": p, "p_half": 2.576 * math.sqrt(p * (1 - p) / R),
            "mse_ratio": 1.0 + float(diff.mean()) / mse0, "mse_ratio_half": 2.576 * float(diff.std(ddof=1)) / math.sqrt(R) / mse0,
            "oracle_ratio": float(np.mean(weighted_average(theta0, theta1, lam_star) ** 2) / np.mean(theta0**2))}


def main(out_dir: Path | None = None, quick: bool = False) -> dict:
    """Run, save the PNG in ``out_dir`` (default: exercises/out/) and return the computed summary."""
    out_dir = Path(__file__).resolve().parent / "out" if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    R = 50_000 if quick else 200_000
    results = {name: collaborator(c, R, rng) for name, c in COLLABORATORS.items()}
    plug = [plug_in(m, 5_000 if quick else 20_000, rng) for m in MS]

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for (name, r), color in zip(results.items(), ("C0", "C3")):
        ax.errorbar(LAMS, r["mse"], yerr=3 * r["se"], fmt="o", ms=3, color=color, label=f"{name}: measured (+- 3 se)")
        ax.plot(LAMS, r["formula"], "-", color=color, lw=1, label=f"{name}: (1-lam)^2 s0^2 + lam^2 (s1^2 + Delta^2)")
        ax.axvline(r["lam_star"], color=color, ls=":", lw=1)
        if 2 * r["lam_star"] < 1:
            ax.axvspan(2 * r["lam_star"], 1.0, color=color, alpha=0.08, label=f"{name}: harmful, lam > 2 lam* = {2 * r['lam_star']:.2f}")
    ax.axhline(results["close (NUM)"]["mse"][0], color="0.4", lw=0.8, ls="--", label="MSE(0): train alone (s0 = 1)")
    ax.set_xlabel("weight lam on the collaborator's model")
    ax.set_ylabel("MSE of (1 - lam) theta_0 + lam theta_1")
    ax.set_title("MSE(lam): measured vs formula (dotted: lam*)", fontsize=9)
    ax.legend(fontsize=6.5)
    ax.grid(True, alpha=0.25)
    ms = [x["m"] for x in plug]
    bx.errorbar(ms, [x["p_harmful"] for x in plug], yerr=[x["p_half"] for x in plug], fmt="o-", color="C3", label="P(lam_hat > 2 lam*)")
    bx.plot(ms, [x["mse_ratio"] for x in plug], "s-", color="C0", label="MSE(lam_hat) / MSE(0)")
    bx.plot(ms, [x["oracle_ratio"] for x in plug], "^--", color="C2", label="MSE(lam*) / MSE(0)")
    bx.axhline(1.0, color="0.4", lw=0.8, ls="--")
    bx.set_xscale("log", base=2)
    bx.set_xlabel("samples m on each side")
    bx.set_title(f"plug-in weight from m samples each (sigma = 1, Delta = {PLUG_IN_DELTA})", fontsize=9)
    bx.legend(fontsize=7)
    bx.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    png = out_dir / "alone_or_collaborate.png"
    fig.savefig(png)
    plt.close(fig)
    return {"collaborators": results, "plug_in": plug, "R": R, "png": str(png)}


if __name__ == "__main__":
    s = main()
    for name, r in s["collaborators"].items():
        print(f"{name}: s0 = {r['s0']:g}, s1 = {r['s1']:g}, Delta = {r['Delta']:g}; lam* = {r['lam_star']:.3f}, empirical argmin "
              f"{r['argmin']:.3f} [{r['argmin_interval'][0]:.3f}, {r['argmin_interval'][1]:.3f}]; MSE(lam*) = {r['mse_star_formula']:.3f}")
        for a in (0.0, 0.25, 0.5, 0.75, 1.0):
            i = int(np.argmin(np.abs(LAMS - a)))
            print(f"    lam = {a:.2f}: measured MSE {r['mse'][i]:.4f} +- {r['se'][i]:.4f}, formula {r['formula'][i]:.4f}")
        print(f"    max |measured - formula|/se over {LAMS.size} weights: {r['max_abs_z']:.2f}; measurably worse than alone at "
              f"{len(r['harmful_measured'])} weights, predicted lam > 2 lam* = {2 * r['lam_star']:.3f}: {len(r['harmful_predicted'])}")
    for x in s["plug_in"]:
        print(f"plug-in, m = {x['m']:2d}: lam* = {x['lam_star']:.3f}, P(lam_hat > 2 lam*) = {x['p_harmful']:.3f} +- {x['p_half']:.3f}, "
              f"MSE(lam_hat)/MSE(0) = {x['mse_ratio']:.3f} +- {x['mse_ratio_half']:.3f} (oracle {x['oracle_ratio']:.3f})")
    print(f"plot: {s['png']}")
    close, far = s["collaborators"]["close (NUM)"], s["collaborators"]["biased"]
    worse = [x["m"] for x in s["plug_in"] if x["mse_ratio"] - x["mse_ratio_half"] > 1]  # worse than alone beyond its 99 % interval
    ps = [x["p_harmful"] for x in s["plug_in"]]
    print(f"Takeaway: collaborate, with the right weight: the measured MSE follows the parabola (max |z| "
          f"{max(close['max_abs_z'], far['max_abs_z']):.1f}), the close collaborator's lam* = {close['lam_star']:.3f} (measured argmin "
          f"{close['argmin']:.3f}) cuts the MSE from {close['mse'][0]:.3f} to {close['mse_at_grid_min']:.3f}, while for the biased one "
          f"(lam* = {far['lam_star']:.3f}) the grid weights measurably worse than training alone are "
          f"{'exactly' if far['harmful_measured'] == far['harmful_predicted'] else 'NOT exactly'} those above 2 lam* = {2 * far['lam_star']:.2f} "
          f"({len(far['harmful_measured'])} measured, {len(far['harmful_predicted'])} predicted; lam = 1 costs "
          f"{far['mse'][-1] / far['mse'][0]:.2f}x); and a plug-in weight estimated from m = {s['plug_in'][0]['m']}..{s['plug_in'][-1]['m']} "
          f"samples per side lands beyond its 2 lam* in {min(ps):.0%}-{max(ps):.0%} of draws"
          + (f", so that on average it is worse than training alone at m = {', '.join(map(str, worse))}." if worse
             else ", yet on average it is never measurably worse than training alone."))
