"""Speed of the federated rounds (benchmarks/README.md): prints a Markdown table, writes
benchmarks/results_federated.json.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_federated.py            # (a) and (b), under two minutes
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_federated.py --profile  # cProfile of the three algorithms

Setting: problems.federated.HeterogeneousClients.g3 with R = 100 replicas, N = 32 clients, d = 100,
K = 5 local steps, full participation (S = N), Gaussian within-client noise sigma = 1.

(a) per-round time of ratecheck.algorithms.federated.fedavg, scaffold (option II) and mime (momentum
    base), each recording f(x_r) - f*, ||x_r - x*||^2 and ||grad f(x_r)||^2 at every round through
    ratecheck.algorithms.loop.run_steps, against the bare NumPy kernel of the same rounds written here:
    arrays (R, N, d), H_clients (N, d, d), the same matmul-based client gradient
    H_i (y - x*) + w_i + noise, nothing recorded. Target: ratio <= 1.5. The kernels consume the random
    stream in the same order as the algorithms, so the final ||x_T - x*||^2 is checked to agree.
(b) the same rounds as a Python loop over replicas and clients (for r: for i: K local steps with
    H_i @ y, one (d,) noise draw per step), a few rounds only. Target: >= 20x slower than (a)'s algorithm.

Times are the minimum over interleaved repeats (the least disturbed by other load on the machine).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import platform
import pstats
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from problems.federated import HeterogeneousClients
from ratecheck.algorithms.federated import fedavg, mime, scaffold

HERE = Path(__file__).resolve().parent
R, N, D, K = 100, 32, 100, 5
SIGMA = 1.0
ETA_L = 0.05  # FedAvg / SCAFFOLD local step (L = 1: stable, nothing diverges, so every run does T rounds)
ETA_G = 1.0
ETA = 0.05  # Mime local step
BETA = 0.9


def make_problem() -> HeterogeneousClients:
    return HeterogeneousClients.g3(N, D, mu=0.01, L=1.0, delta_H=0.1, zeta=1.0, noise=SIGMA, seed=0)


# -- ours ----------------------------------------------------------------------------------------------

def ours(name: str, f: HeterogeneousClients, T: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if name == "fedavg":
        return fedavg(f, ETA_L, K, T, R, rng, eta_g=ETA_G)
    if name == "scaffold":
        return scaffold(f, ETA_L, K, T, R, rng, eta_g=ETA_G, option="II")
    return mime(f, ETA, K, T, R, rng, base="momentum", beta=BETA)


# -- the bare kernels: the same rounds on (R, N, d) arrays, nothing recorded ---------------------------

def _kernel_parts(f: HeterogeneousClients):
    Hc = np.ascontiguousarray(f.H_clients)  # (N, d, d), symmetric
    w, xs, s = np.asarray(f.w), np.asarray(f.x_star), SIGMA / math.sqrt(D)

    def grad(y: np.ndarray) -> np.ndarray:  # H_i (y_i - x*) + w_i: N BLAS products (R x d) @ (d x d)
        return np.matmul((y - xs).swapaxes(0, 1), Hc).swapaxes(0, 1) + w

    return grad, xs, s


def kernel(name: str, f: HeterogeneousClients, T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grad, _xs, s = _kernel_parts(f)
    x = np.tile(np.asarray(f.x0, dtype=np.float64), (R, 1))
    if name == "fedavg":
        for _ in range(T):
            y = np.repeat(x[:, None, :], N, axis=1)
            for _ in range(K):
                y = y - ETA_L * (grad(y) + rng.standard_normal(y.shape) * s)
            x = x + ETA_G * (y - x[:, None, :]).mean(axis=1)
    elif name == "scaffold":  # option II, control variates start at 0
        c_all, c = np.zeros((R, N, D)), np.zeros((R, D))
        for _ in range(T):
            y = np.repeat(x[:, None, :], N, axis=1)
            for _ in range(K):
                y = y - ETA_L * (grad(y) + rng.standard_normal(y.shape) * s - c_all + c[:, None, :])
            c_new = c_all - c[:, None, :] + (x[:, None, :] - y) / (K * ETA_L)
            dy, dc = (y - x[:, None, :]).mean(axis=1), (c_new - c_all).mean(axis=1)
            c_all = c_new
            x = x + ETA_G * dy
            c = c + dc
    else:  # mime, momentum base, m frozen during the local steps
        m = np.zeros_like(x)
        for _ in range(T):
            xr = np.repeat(x[:, None, :], N, axis=1)
            g_x = grad(xr)
            c = g_x.mean(axis=1)
            y = xr.copy()
            for _ in range(K):
                xi = rng.standard_normal(y.shape) * s
                gt = (grad(y) + xi) - (g_x + xi) + c[:, None, :]
                y = y - ETA * ((1 - BETA) * gt + BETA * m[:, None, :])
            x_new = x - (x[:, None, :] - y).mean(axis=1)
            m = (1 - BETA) * c + BETA * m
            x = x_new
    return x


# -- the Python loop over replicas and clients -----------------------------------------------------------

def looped(name: str, f: HeterogeneousClients, T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Hc = [np.ascontiguousarray(f.H_clients[i]) for i in range(N)]
    w, xs, s = [np.asarray(f.w[i]) for i in range(N)], np.asarray(f.x_star), SIGMA / math.sqrt(D)
    out = np.empty((R, D))
    for r in range(R):
        x = np.array(f.x0, dtype=np.float64)
        c_i, c, m = [np.zeros(D) for _ in range(N)], np.zeros(D), np.zeros(D)
        for _ in range(T):
            if name == "mime":
                gx = [Hc[i] @ (x - xs) + w[i] for i in range(N)]
                cm = sum(gx) / N
            dy, dc = np.zeros(D), np.zeros(D)
            for i in range(N):
                y = x.copy()
                for _ in range(K):
                    g = Hc[i] @ (y - xs) + w[i] + rng.standard_normal(D) * s
                    if name == "fedavg":
                        y = y - ETA_L * g
                    elif name == "scaffold":
                        y = y - ETA_L * (g - c_i[i] + c)
                    else:
                        y = y - ETA * ((1 - BETA) * (g - gx[i] + cm) + BETA * m)
                if name == "scaffold":
                    c_new = c_i[i] - c + (x - y) / (K * ETA_L)
                    dc += (c_new - c_i[i]) / N
                    c_i[i] = c_new
                dy += (y - x) / N
            if name == "mime":
                m = (1 - BETA) * cm + BETA * m
                x = x + dy
            else:
                x = x + ETA_G * dy
                c = c + dc
        out[r] = x
    return out


# -- timing -----------------------------------------------------------------------------------------------

def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


ALGORITHMS = {"fedavg": "fedavg", "scaffold": "scaffold (option II)", "mime": "mime (momentum)"}


def bench(f: HeterogeneousClients, T: int, T_loop: int, repeats: int) -> list[dict]:
    out = []
    for name, label in ALGORITHMS.items():
        # agreement: same seed, same random stream order -> the same final iterate
        tr, xk = ours(name, f, 3), kernel(name, f, 3)
        d_ours = tr.values["dist2"][-1] if tr.values["dist2"].ndim == 1 else tr.values["dist2"][:, -1]
        d_kern = np.sum((xk - f.x_star) ** 2, axis=-1)
        agree = float(np.max(np.abs(d_ours - d_kern) / np.maximum(np.abs(d_kern), 1e-300)))
        t_ours, t_kern, t_loop = [], [], []
        for j in range(repeats):  # interleaved, so that a burst of load hits both alike
            t_kern.append(timed(lambda name=name: kernel(name, f, T)))
            t_ours.append(timed(lambda name=name: ours(name, f, T)))
            if j < 2:
                t_loop.append(timed(lambda name=name: looped(name, f, T_loop)))
        o, k, lp = min(t_ours) / T, min(t_kern) / T, min(t_loop) / T_loop
        out.append({"algorithm": name, "label": label, "R": R, "N": N, "S": N, "d": D, "K": K,
                    "sigma": SIGMA, "T": T, "T_loop": T_loop, "repeats": repeats,
                    "ours_ms_per_round": 1e3 * o, "kernel_ms_per_round": 1e3 * k, "ratio": o / k,
                    "target_ratio": 1.5, "ok_ratio": o / k <= 1.5,
                    "loop_ms_per_round": 1e3 * lp, "loop_speedup": lp / o, "target_speedup": 20.0,
                    "ok_speedup": lp / o >= 20.0, "final_dist2_rel_diff_vs_kernel": agree})
    return out


def profile(f: HeterogeneousClients, T: int) -> None:
    for name in ALGORITHMS:
        print(f"--- {name}, T = {T}")
        prof = cProfile.Profile()
        prof.runcall(ours, name, f, T)
        pstats.Stats(prof).sort_stats("tottime").print_stats(10)


def table(res: dict) -> str:
    lines = ["| benchmark | measured | target | ok |", "|---|---|---|---|"]
    for b in res["rounds"]:
        setting = f"R={b['R']}, N=S={b['N']}, d={b['d']}, K={b['K']}"
        lines.append(f"| (a) {b['label']} vs bare kernel, {setting} | {b['ours_ms_per_round']:.1f} vs "
                     f"{b['kernel_ms_per_round']:.1f} ms/round: {b['ratio']:.2f}x | <= 1.5x | {'yes' if b['ok_ratio'] else 'NO'} |")
    for b in res["rounds"]:
        lines.append(f"| (b) {b['label']}: loop over R x N vs ours ({b['T_loop']} rounds) | {b['loop_ms_per_round']:.0f} vs "
                     f"{b['ours_ms_per_round']:.1f} ms/round: {b['loop_speedup']:.1f}x | >= 20x | {'yes' if b['ok_speedup'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10, help="rounds per timed run of (a) (default 10)")
    ap.add_argument("--loop-rounds", type=int, default=2, help="rounds per timed run of the loop (default 2)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile the three algorithms and exit")
    ap.add_argument("--out", default=str(HERE / "results_federated.json"))
    args = ap.parse_args()
    f = make_problem()
    if args.profile:
        profile(f, args.rounds)
        return
    for name in ALGORITHMS:  # warm up
        ours(name, f, 2), kernel(name, f, 2)
    res: dict = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "problem": repr(f),
        "rounds": bench(f, args.rounds, args.loop_rounds, args.repeats),
    }
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(table(res))
    for b in res["rounds"]:
        print(f"{b['algorithm']}: final ||x_T - x*||^2 of ours vs the kernel, max rel. diff {b['final_dist2_rel_diff_vs_kernel']:.1e}")
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
