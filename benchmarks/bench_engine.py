"""Speed of the engine (DESIGN.md, "benchmarks/"): prints a Markdown table, writes benchmarks/results.json.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_engine.py            # (a) and (b), about a minute
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_engine.py --e2e      # also (c), many minutes
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_engine.py --profile  # cProfile of the engine at d = 20

(a) per-step time of the batched engine, ratecheck.algorithms.sgd.quantized_sgd with its Recorder
    (monitoring f(x_t) - f* and ||x_t - x*||^2 at every step), against the bare NumPy kernel of the same
    update, x = x - gamma Q(g(x)) with the same compressor and Gaussian noise and nothing recorded; R = 100
    replicas, d = 20 and d = 1000, a rotated log-spaced quadratic (dense H). Target: overhead < 50%.
(b) R = 100 replicas batched in one (R, d) array against a Python loop over 100 runs of R = 1. Target >= 20x.
(c) end-to-end wall time of `ratecheck verify --all --quick` and `ratecheck verify --all` with a fresh
    cache directory (--e2e only).

Times are the minimum over repeats (the least disturbed by other load on the machine).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from problems.quadratic import Quadratic
from ratecheck.algorithms.sgd import quantized_sgd
from ratecheck.compressors import RandomK

HERE = Path(__file__).resolve().parent
R = 100
SIGMA = 1.0


def setup(d: int):
    f = Quadratic.log_spaced(d, 0.01, 1.0, R0=1.0, noise=SIGMA, seed=0)
    Q = RandomK(max(1, d // 4))
    gamma = 1.0 / (2 * f.constants["L"] * (1 + Q.omega(d)))
    return f, Q, gamma


def engine(f, Q, gamma: float, T: int, R_: int, seed: int = 0):
    return quantized_sgd(f, Q, gamma, T, R_, np.random.default_rng(seed))


def kernel(f, Q, gamma: float, T: int, R_: int, seed: int = 0) -> np.ndarray:
    """The same update with nothing recorded: g = H (x - x*) + xi, xi ~ N(0, sigma^2/d I); x -= gamma Q(g)."""
    rng = np.random.default_rng(seed)
    H, xs, s = f.H, f.x_star, SIGMA / np.sqrt(f.d)
    x = np.tile(f.x0, (R_, 1))
    for _ in range(T):
        g = (x - xs) @ H + rng.standard_normal(x.shape) * s
        x = x - gamma * Q(g, rng)
    return x


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_overhead(d: int, T: int, repeats: int) -> dict:
    f, Q, gamma = setup(d)
    engine(f, Q, gamma, 20, R)  # warm up
    kernel(f, Q, gamma, 20, R)
    t_engine, t_kernel = [], []
    for _ in range(repeats):  # interleaved, so that a burst of load hits both alike
        t_kernel.append(best_of(lambda: kernel(f, Q, gamma, T, R), 1))
        t_engine.append(best_of(lambda: engine(f, Q, gamma, T, R), 1))
    e, k = min(t_engine) / T, min(t_kernel) / T
    return {"d": d, "R": R, "T": T, "compressor": f"random_k:{Q.k}", "engine_us_per_step": 1e6 * e,
            "kernel_us_per_step": 1e6 * k, "overhead": e / k - 1.0, "target_overhead": 0.5, "ok": e / k - 1.0 < 0.5}


def bench_batched(d: int, T: int, repeats: int) -> dict:
    f, Q, gamma = setup(d)
    batched = best_of(lambda: engine(f, Q, gamma, T, R), repeats)
    looped = best_of(lambda: [engine(f, Q, gamma, T, 1, seed=r) for r in range(R)], max(1, repeats // 2))
    return {"d": d, "R": R, "T": T, "batched_s": batched, "loop_of_R1_s": looped, "speedup": looped / batched,
            "target_speedup": 20.0, "ok": looped / batched >= 20.0}


def bench_e2e(quick: bool, jobs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ratecheck-bench-") as tmp:
        env = {**os.environ, "RATECHECK_CACHE": str(Path(tmp) / "cache"), "OPENBLAS_NUM_THREADS": "1"}
        cmd = ["ratecheck", "verify", "--all", "--jobs", str(jobs), "--no-progress", "--out", str(Path(tmp) / "reports")]
        cmd += ["--quick"] if quick else []
        start = time.perf_counter()
        proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    return {"command": " ".join(cmd[:2] + cmd[2:3] + (["--quick"] if quick else []) + ["--jobs", str(jobs)]),
            "wall_s": wall, "exit": proc.returncode, "output": proc.stdout.strip().splitlines()}


def profile(d: int, T: int) -> None:
    f, Q, gamma = setup(d)
    prof = cProfile.Profile()
    prof.runcall(engine, f, Q, gamma, T, R)
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def table(res: dict) -> str:
    lines = ["| benchmark | measured | target | ok |", "|---|---|---|---|"]
    for o in res["overhead"]:
        lines.append(f"| (a) engine vs bare kernel, R={o['R']}, d={o['d']}, {o['compressor']} | "
                     f"{o['engine_us_per_step']:.1f} vs {o['kernel_us_per_step']:.1f} us/step: overhead {100 * o['overhead']:.0f}% "
                     f"| < 50% | {'yes' if o['ok'] else 'NO'} |")
    for b in res["batched"]:
        lines.append(f"| (b) R={b['R']} batched vs {b['R']} runs of R=1, d={b['d']}, T={b['T']} | "
                     f"{b['batched_s']:.3f} s vs {b['loop_of_R1_s']:.2f} s: {b['speedup']:.0f}x | >= 20x | {'yes' if b['ok'] else 'NO'} |")
    for e in res.get("e2e", []):
        lines.append(f"| (c) `{e['command']}` (fresh cache) | {e['wall_s']:.0f} s (exit {e['exit']}) | | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--e2e", action="store_true", help="also time `ratecheck verify --all [--quick]` (minutes)")
    ap.add_argument("--jobs", type=int, default=2, help="--jobs of the end-to-end runs (default 2)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile the engine at d = 20 and exit")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()
    if args.profile:
        profile(20, 4000)
        return
    res: dict = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "overhead": [bench_overhead(20, 4000, args.repeats), bench_overhead(1000, 200, args.repeats)],
        "batched": [bench_batched(20, 1000, args.repeats)],
    }
    if args.e2e:
        res["e2e"] = [bench_e2e(True, args.jobs), bench_e2e(False, args.jobs)]
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(table(res))
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
