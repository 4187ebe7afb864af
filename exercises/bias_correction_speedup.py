"""Exercise: bias correction's linear speedup, and why weighted gradient averaging cannot have it (THEOREMS.md T5.2;
Chayti, Karimireddy, Stich, Flammarion, Jaggi, "Linear speedup in personalized collaborative learning", arXiv
2111.05968; lecture slide [SEED-2]).

User 0 minimises a nonconvex G4 objective f_0 (problems.personalized.PersonalizedTasks.g3: d = 10, c = 0.5, H spectrum
in [0.5, 1], L = 2, sigma = 8) with the help of N collaborators whose gradients are biased, grad f_i - grad f_0 = w_i,
||w_i|| = zeta = 3. With alpha_i = 1/(N + 1) and the tuned step gamma = min(1/(2L), sqrt((N + 1) F0/(L sigma^2 T))):
  * WGA, x <- x - gamma sum alpha_i g_i(x), is SGD on f_alpha = sum alpha_i f_i: its error stalls at the floor
    ||grad f_0(x_alpha)||^2 = ||sum alpha_i w_i||^2 [DERIVED], whatever T;
  * BC learns c_i ~ alpha_i (grad f_0 - grad f_i) by an EMA (beta = 0.2) and moves along sum (alpha_i g_i + c_i): the
    slide's rate O(sqrt(L F0 sigma^2/((N + 1) T))), i.e. slope -1/2 in N + 1 (linear speedup);
  * BC with beta = 1 and one user-0 sample shared by every c_i moves along g_0 exactly: no speedup.
The exercise measures (1/T) sum_t ||grad f_0(x_t)||^2 for N in {0, 1, 3, 7, 15} at T = 2000, fits the log-log slopes
against N + 1 and prints them beside WGA's floor formula.

Run: ``python exercises/bias_correction_speedup.py`` (a few seconds); writes exercises/out/bias_correction_speedup.png
and prints the table and, last, a takeaway computed from the numbers.
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

from problems.personalized import PersonalizedTasks
from ratecheck.algorithms.personalized import bias_correction, uniform_weights, wga
from theorems.personalized import wga_floor

NS = (0, 1, 3, 7, 15)
D, SIGMA, ZETA, BETA = 10, 8.0, 3.0, 0.2


def slope(n1: list[float], y: list[float]) -> float:
    """Least-squares slope of log y against log (N + 1)."""
    return float(np.polyfit(np.log(n1), np.log(y), 1)[0])


def main(out_dir: Path | None = None, quick: bool = False) -> dict:
    """Run, save the PNG in ``out_dir`` (default: exercises/out/) and return the computed summary."""
    out_dir = Path(__file__).resolve().parent / "out" if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    T, R = (1000, 12) if quick else (2000, 24)
    rng = np.random.default_rng(0)
    rows = []
    for N in NS:
        f = PersonalizedTasks.g3(N, D, mu=0.5, L=1.0, zeta=ZETA, c=0.5, R0=1.44 * D, noise=SIGMA, seed=0)
        k, alpha = f.constants, uniform_weights(N)
        gamma = min(1 / (2 * k["L"]), math.sqrt((N + 1) * k["F0"] / (k["L"] * k["sigma2"] * T)))
        err = lambda tr: float(tr.values["avg_gnorm2"][:, -1].mean())
        rows.append({"N": N, "gamma": gamma, "rate": math.sqrt(k["L"] * k["F0"] * k["sigma2"] / ((N + 1) * T)),
                     "bc": err(bias_correction(f, alpha, gamma, BETA, T, R, rng)),
                     "wga": err(wga(f, alpha, gamma, T, R, rng)),
                     "shared": err(bias_correction(f, alpha, gamma, 1.0, T, R, rng, shared_user_sample=True)),
                     "floor": wga_floor(f, alpha)})
    n1 = [r["N"] + 1 for r in rows]
    slopes = {m: slope(n1, [r[m] for r in rows]) for m in ("bc", "shared")}
    gap = [r["wga"] / r["bc"] for r in rows]

    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=110)
    ax.loglog(n1, [r["bc"] for r in rows], "o-", color="C0", label=f"BC (beta = {BETA}): slope {slopes['bc']:.2f}")
    ax.loglog(n1, [r["wga"] for r in rows], "s-", color="C1", label="WGA")
    ax.loglog(n1[1:], [r["floor"] for r in rows[1:]], "--", color="C1", label="WGA floor ||sum alpha_i w_i||^2 (formula)")
    ax.loglog(n1, [r["shared"] for r in rows], "^-", color="C3", label=f"BC, beta = 1, shared user-0 sample: slope {slopes['shared']:.2f}")
    c0 = rows[0]["bc"]
    ax.loglog(n1, [c0 * x**-0.5 for x in n1], ":", color="gray", label="slope -1/2 (linear speedup)")
    ax.set_xlabel("N + 1 (user 0 and its N collaborators)")
    ax.set_ylabel("(1/T) sum_t ||grad f_0(x_t)||^2")
    ax.set_title(f"G4 tasks, zeta = {ZETA}, sigma = {SIGMA}, T = {T}, tuned gamma, {R} replicas", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    png = out_dir / "bias_correction_speedup.png"
    fig.savefig(png)
    plt.close(fig)
    return {"rows": rows, "slopes": slopes, "wga_over_bc": gap, "T": T, "R": R, "png": str(png)}


if __name__ == "__main__":
    s = main()
    print(f"{'N':>3} {'gamma':>8} {'BC':>8} {'WGA':>8} {'WGA floor':>10} {'shared b=1':>11}")
    for r in s["rows"]:
        print(f"{r['N']:>3} {r['gamma']:8.4f} {r['bc']:8.4f} {r['wga']:8.4f} {r['floor']:10.4f} {r['shared']:11.4f}")
    print(f"plot: {s['png']}")
    last = s["rows"][-1]
    print(f"Takeaway: bias correction's error falls like (N + 1)^{s['slopes']['bc']:.2f} (linear speedup predicts -1/2): from "
          f"{s['rows'][0]['bc']:.3g} alone to {last['bc']:.3g} with N = {last['N']} collaborators; WGA with the same steps ends "
          f"{s['wga_over_bc'][-1]:.1f}x higher at N = {last['N']} ({'worse' if last['wga'] > s['rows'][0]['bc'] else 'better'} than user 0 "
          f"alone), held up by its floor ||sum alpha_i w_i||^2 = {last['floor']:.3g}, and "
          f"BC with beta = 1 and one shared user-0 sample has slope {s['slopes']['shared']:.2f}: it moves along g_0, no speedup.")
