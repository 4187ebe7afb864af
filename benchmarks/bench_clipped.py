"""Speed of clipped SGD over many replicas (issue #14 item 9; THEOREMS.md T9: heavy tails need R >= 1000).

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_clipped.py        # under a minute

Setting: problems.quadratic.Quadratic.isotropic(d, mu = 1) with Student-t noise (nu = 1.5, scale 1), the
strongly convex schedule of T9 (b) (eta_k = 1/(mu (k+1)), tau_k = 3 k^{1/1.4}), R = 10^4 replicas, d = 1 (the
catalog's NUM instance) and d = 10.

  ours     ratecheck.algorithms.clipped_sgd.clipped_sgd, recording ||x_k - x*||^2 of every replica at every
           step (running averages, divergence detection, checkpoints)
  kernel   the bare NumPy loop of the same update on the (R, d) array, nothing recorded:
           g = mu (x - x*) + xi;  x = x - eta_k min(1, tau_k/||g||) g
  loop     the same update as a Python loop over replicas (one (d,) draw per replica and step), timed on
           R_loop replicas and scaled to R

Times are CPU seconds (time.process_time), the minimum over repeats, per step. Prints a Markdown table.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from problems.noise import StudentT
from problems.quadratic import Quadratic
from ratecheck.algorithms.clipped_sgd import clipped_sgd, strongly_convex_schedule

R, R_LOOP, T, NU, MU, G, ALPHA = 10_000, 200, 200, 1.5, 1.0, 3.0, 1.4


def ours(f: Quadratic, T: int) -> None:
    s = strongly_convex_schedule(MU, G, ALPHA)
    clipped_sgd(f, s.eta, s.tau, T, R, np.random.default_rng(0), measures=("dist2",))


def kernel(f: Quadratic, T: int, R_: int = R) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.tile(f.x0, (R_, 1))
    for k in range(1, T + 1):
        g = MU * (x - f.x_star) + f.noise.sample(x.shape, rng)
        norm = np.sqrt(np.sum(g * g, axis=-1, keepdims=True))
        tau = G * k ** (1.0 / ALPHA)
        x = x - (1.0 / (MU * (k + 1))) * np.minimum(1.0, tau / np.maximum(norm, 1e-300)) * g
    return x


def loop(f: Quadratic, T: int, R_: int) -> None:
    rng = np.random.default_rng(0)
    for _ in range(R_):
        x = f.x0.copy()
        for k in range(1, T + 1):
            g = MU * (x - f.x_star) + f.noise.sample(x.shape, rng)
            norm = float(np.sqrt(g @ g))
            x = x - (1.0 / (MU * (k + 1))) * min(1.0, G * k ** (1.0 / ALPHA) / max(norm, 1e-300)) * g


def cpu(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    rows = ["| d | ours (µs/step) | bare kernel (µs/step) | ours / kernel | Python loop over replicas (µs/step, scaled to R) | loop / ours |",
            "|---|---|---|---|---|---|"]
    for d in (1, 10):
        f = Quadratic.isotropic(d, MU, R0=1.0, noise=StudentT(NU, 1.0, d), seed=0)
        t_ours = cpu(lambda f=f: ours(f, T)) / T
        t_kern = cpu(lambda f=f: kernel(f, T)) / T
        t_loop = cpu(lambda f=f: loop(f, T, R_LOOP), repeats=1) / T * (R / R_LOOP)
        rows.append(f"| {d} | {1e6 * t_ours:.0f} | {1e6 * t_kern:.0f} | {t_ours / t_kern:.2f}x | {1e6 * t_loop:.0f} | {t_loop / t_ours:.0f}x |")
    print(f"clipped SGD, R = {R} replicas, Student-t nu = {NU}, T = {T} steps, {os.environ.get('OPENBLAS_NUM_THREADS')} BLAS thread")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
