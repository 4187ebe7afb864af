"""Exercise: centered clipping vs Krum under attack, with worker momentum (THEOREMS.md T7 (b), (f);
Karimireddy, He, Jaggi, "Learning from history for Byzantine robust optimization", ICML 2021; Blanchard et al.,
NeurIPS 2017 (Krum); lecture seeds 000, 002, 003).

The catalog's NUM instance of T7: f(x) = 1/2 ||x||^2 (G1, d = 10, L = 1), n = 25 workers of which f_B = 5
Byzantine, G2 Gaussian noise sigma = 1, gamma = 0.05, damped worker momentum beta = 0.9
(ratecheck.algorithms.byzantine). The Byzantine workers see the good momenta and run one of four attacks
(ratecheck.attacks): ALIE (mu - z_max s), IPM (-eps mean, eps = 0.1), SignFlip (-m_i) and Gaussian noise
of scale 10. The server aggregates with Krum or with centered clipping (CC: one clipping iteration around
the previous round's output, radius tau = 3, the centre carried across rounds), and, for reference, with
the mean. The quantity is the floor: mean ||grad f(x_t)||^2 over the last rounds, against the mean with no
attacker. A rule is harmed by an attack when its floor is far above that reference.

CC averages every input after clipping it to a ball around its last output, so a vector farther than tau
moves it by at most tau f_B/n; Krum selects one input, so it pays the variance of a single worker's
momentum even without attack and is pulled along by attacks hidden inside the good vectors' spread. Where
no input lies farther than tau from the centre (ALIE, IPM and SignFlip on momenta here), CC returns exactly
the mean; only the large Gaussian vectors are clipped.

Run: ``python exercises/cc_vs_krum.py`` (about 10-20 s); writes exercises/out/cc_vs_krum.png and prints the
floors and, last, a takeaway computed from them.
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

from problems.quadratic import Quadratic
from ratecheck.aggregators import CenteredClip, Krum, Mean
from ratecheck.algorithms.byzantine import byzantine_sgd
from ratecheck.attacks import ALIE, IPM, Gaussian, SignFlip
from ratecheck.problem import IIDClients

D, N, F_B, SIGMA, GAMMA, BETA = 10, 25, 5, 1.0, 0.05, 0.9
ATTACKS = {"ALIE": ALIE(), "IPM": IPM(0.1), "SignFlip": SignFlip(), "Gaussian": Gaussian(10.0)}


def aggregators() -> dict[str, object]:
    """The two rules compared, and the mean as the non-robust reference."""
    return {"CC": CenteredClip(F_B, tau=3.0, l=1), "Krum": Krum(F_B), "mean": Mean(F_B)}


def main(out_dir: Path | None = None, quick: bool = False) -> dict:
    """Run, save the PNG in ``out_dir`` (default: exercises/out/) and return the computed summary."""
    out_dir = Path(__file__).resolve().parent / "out" if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    T, tail, R = (1200, 400, 6) if quick else (2000, 800, 8)
    problem = IIDClients(Quadratic.isotropic(D, 1.0, R0=1.0, noise=SIGMA, seed=0), N - F_B)
    floors: dict[str, dict[str, float]] = {}
    ses: dict[str, dict[str, float]] = {}
    for name, agg in aggregators().items():
        floors[name], ses[name] = {}, {}
        for attack_name, attack in ATTACKS.items():
            tr = byzantine_sgd(problem, agg, attack, F_B, GAMMA, BETA, T, R, np.random.default_rng(0), burn_in=T - tail,
                               measures=("gnorm2",))
            per_replica = tr.values["tail_gnorm2"][:, -1]  # mean ||grad f(x_t)||^2 over the last `tail` rounds
            floors[name][attack_name] = float(per_replica.mean()) if np.all(np.isfinite(per_replica)) else np.inf
            ses[name][attack_name] = float(per_replica.std(ddof=1) / np.sqrt(R)) if np.all(np.isfinite(per_replica)) else 0.0
    clean = byzantine_sgd(problem, Mean(0), None, 0, GAMMA, BETA, T, R, np.random.default_rng(0), burn_in=T - tail, measures=("gnorm2",))
    no_attack = float(clean.values["tail_gnorm2"][:, -1].mean())

    fig, ax = plt.subplots(figsize=(7.6, 4.4), dpi=110)
    xs = np.arange(len(ATTACKS))
    for j, (name, color) in enumerate(zip(floors, ("C2", "C1", "C7"))):
        y = np.array([floors[name][a] for a in ATTACKS])
        shown = np.where(np.isfinite(y), y, np.nan)
        ax.bar(xs + (j - 1) * 0.27, shown, 0.27, color=color, label=name,
               yerr=3 * np.array([ses[name][a] for a in ATTACKS]), capsize=2)
        for x, v in zip(xs + (j - 1) * 0.27, y):
            if not np.isfinite(v):
                ax.annotate("diverged", (x, no_attack), rotation=90, ha="center", va="bottom", fontsize=7)
    ax.axhline(no_attack, color="k", ls="--", lw=1, label="mean, no attacker")
    ax.set_xticks(xs, list(ATTACKS))
    ax.set_yscale("log")
    ax.set_ylabel(f"mean ||grad f||^2 over the last {tail} rounds (3 se bars)")
    ax.set_title(f"n={N}, f_B={F_B}, sigma={SIGMA}, gamma={GAMMA}, beta={BETA}, d={D}: centered clipping vs Krum", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.25)
    fig.tight_layout()
    png = out_dir / "cc_vs_krum.png"
    fig.savefig(png)
    plt.close(fig)
    return {"attacks": list(ATTACKS), "floors": floors, "se": ses, "no_attack": no_attack, "T": T, "tail": tail, "R": R, "png": str(png)}


if __name__ == "__main__":
    s = main()
    for name, row in s["floors"].items():
        print(f"{name:5s}: " + ", ".join(f"{a} {v:.4g}" for a, v in row.items()))
    print(f"mean without attacker: {s['no_attack']:.4g}; T = {s['T']}, mean over the last {s['tail']} rounds, R = {s['R']}")
    print(f"plot: {s['png']}")
    cc, krum = s["floors"]["CC"], s["floors"]["Krum"]
    worst_cc = max(cc, key=cc.get)
    worst_krum = max(krum, key=krum.get)
    wins = sum(cc[a] < krum[a] for a in s["attacks"])
    print(f"Takeaway: with worker momentum beta = {BETA}, centered clipping's floor is below Krum's under {wins} of "
          f"{len(s['attacks'])} attacks; CC's worst is {worst_cc} at {cc[worst_cc]:.3g} ({cc[worst_cc] / s['no_attack']:.1f}x the "
          f"attack-free {s['no_attack']:.2g}) and Krum's worst is {worst_krum} at {krum[worst_krum]:.3g} "
          f"({krum[worst_krum] / s['no_attack']:.1f}x): Krum keeps one worker's momentum and its variance, CC averages "
          f"what it clips.")
