"""Speed of one gossip step and one PowerGossip step (benchmarks/README.md, issue 14 item 9): prints a Markdown
table, writes benchmarks/results_gossip.json.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_gossip.py        # about half a minute

Setting: the 4 x 4 torus (n = 16 nodes, E = 32 edges, ratecheck.mixing), R = 100 replicas, node matrices 8 x 8
(d = 64), PowerGossip rank r = 1 and 2 with warm start, one power iteration per step.

(a) gossip X <- W X on (R, n, d): ratecheck.algorithms.gossip.gossip (recording the consensus distance, the drift
    and the distance to the initial average at every step through ratecheck.algorithms.loop.run_steps) against the
    bare NumPy kernel (``X = W @ X``: one batched product, nothing recorded) and against a Python loop over the R
    replicas (``X[i] = W @ X[i]``).
(b) PowerGossip on (R, n, a, b): ratecheck.algorithms.powergossip.powergossip (recording consensus, drift, bits, the
    gap to exact gossip and the descent inequality at every step) against the bare kernel of the same iteration
    written here (edges as an incidence matrix, one batched QR/normalization and four batched products, nothing
    recorded), against that kernel in a Python loop over the replicas (still batched over the edges), and against
    Python loops over the replicas and the edges (2 steps).

Times are CPU seconds of this process per step (time.process_time; BLAS single-threaded), the minimum over
interleaved repeats: the machine is shared, and wall-clock times there measure the other jobs' load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from ratecheck.algorithms.gossip import gossip
from ratecheck.algorithms.powergossip import edges_of, powergossip
from ratecheck.mixing import MixingMatrix, parse
from ratecheck.transforms import orthogonalize

HERE = Path(__file__).resolve().parent
R, SIDE, SPEC = 100, 8, "torus:4x4"


def _T(A: np.ndarray) -> np.ndarray:
    return np.swapaxes(A, -1, -2)


# -- (a) gossip ---------------------------------------------------------------------------------------------

def gossip_ours(W: MixingMatrix, X0: np.ndarray, T: int) -> None:
    gossip(W, X0, T, checkpoints=np.arange(1, T + 1))


def gossip_kernel(W: MixingMatrix, X0: np.ndarray, T: int) -> np.ndarray:
    X, M = X0.copy(), W.W
    for _ in range(T):
        X = M @ X  # (n, n) @ (R, n, d): one batched product
    return X


def gossip_loop(W: MixingMatrix, X0: np.ndarray, T: int) -> np.ndarray:
    X, M = X0.copy(), W.W
    for _ in range(T):
        for i in range(X.shape[0]):
            X[i] = M @ X[i]
    return X


# -- (b) PowerGossip ----------------------------------------------------------------------------------------

def pg_ours(W: MixingMatrix, X0: np.ndarray, T: int, rank: int) -> None:
    powergossip(W, X0, T, rank, np.random.default_rng(0), checkpoints=np.arange(1, T + 1))


def pg_kernel(W: MixingMatrix, X0: np.ndarray, T: int, rank: int) -> np.ndarray:
    """T warm-started PowerGossip iterations on X0 (..., n, a, b), nothing recorded."""
    rng = np.random.default_rng(0)
    I, J, w = edges_of(W)
    n, E = W.n, len(I)
    B = np.zeros((E, n))
    B[np.arange(E), I], B[np.arange(E), J] = 1.0, -1.0  # incidence: (B X)_e = X_i - X_j
    S = -(B.T * w)  # X_i -= w U_e, X_j += w U_e
    batch, a, b = X0.shape[:-3], X0.shape[-2], X0.shape[-1]
    p = rng.standard_normal((*batch, E, a, rank))
    q = rng.standard_normal((*batch, E, b, rank))
    X = X0.copy()
    for s in range(1, T + 1):
        left = s % 2 == 0
        Y = X if left else _T(X)
        F_hat = orthogonalize(p if left else q)
        Yf = Y.reshape(*batch, n, -1)
        G = _T((B @ Yf).reshape(*batch, E, *Y.shape[-2:])) @ F_hat
        U = F_hat @ _T(G)
        if not left:
            U = _T(U)
        flat = U.reshape(*batch, E, a * b)
        X = X + (S @ flat).reshape(X.shape)
        p, q = (F_hat, G) if left else (G, F_hat)
    return X


def pg_loop(W: MixingMatrix, X0: np.ndarray, T: int, rank: int) -> np.ndarray:
    """The same kernel run replica by replica (batched over edges only)."""
    return np.stack([pg_kernel(W, X0[i], T, rank) for i in range(X0.shape[0])])


def pg_loop_edges(W: MixingMatrix, X0: np.ndarray, T: int, rank: int) -> np.ndarray:
    """The same iterations with Python loops over the replicas and the edges (rank 1: normalize; else QR)."""
    rng = np.random.default_rng(0)
    I, J, w = edges_of(W)
    E, (R_, _, a, b) = len(I), X0.shape
    p = rng.standard_normal((R_, E, a, rank))
    q = rng.standard_normal((R_, E, b, rank))
    X = X0.copy()
    for s in range(1, T + 1):
        left = s % 2 == 0
        for i in range(R_):
            Y = X[i] if left else _T(X[i])
            new = Y.copy()
            for e in range(E):
                F = p[i, e] if left else q[i, e]
                F_hat = F / np.linalg.norm(F) if rank == 1 else np.linalg.qr(F)[0]
                G = (Y[I[e]] - Y[J[e]]).T @ F_hat
                U = F_hat @ G.T
                new[I[e]] -= w[e] * U
                new[J[e]] += w[e] * U
                if left:
                    p[i, e], q[i, e] = F_hat, G
                else:
                    q[i, e], p[i, e] = F_hat, G
            X[i] = new if left else _T(new)
    return X


# -- timing -------------------------------------------------------------------------------------------------

def timed(fn) -> float:
    """CPU seconds of this process (single-threaded BLAS): robust to other jobs on the shared machine."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def bench(steps: int, loop_steps: int, repeats: int) -> list[dict]:
    W = parse(SPEC)
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((R, W.n, SIDE, SIDE))
    X0 -= X0.mean(axis=1, keepdims=True)
    flat = X0.reshape(R, W.n, SIDE * SIDE)
    cases = [("gossip X <- W X", lambda T: gossip_ours(W, flat, T), lambda T: gossip_kernel(W, flat, T),
              lambda T: gossip_loop(W, flat, T))]
    for rank in (1, 2):
        cases.append((f"PowerGossip r = {rank}", lambda T, r_=rank: pg_ours(W, X0, T, r_), lambda T, r_=rank: pg_kernel(W, X0, T, r_),
                      lambda T, r_=rank: pg_loop(W, X0, T, r_)))
    edge_loops = {rank: min(timed(lambda r_=rank: pg_loop_edges(W, X0, 2, r_)) for _ in range(repeats)) / 2 for rank in (1, 2)}
    out = []
    for label, ours_, kernel_, loop_ in cases:
        ours_(2), kernel_(2), loop_(1)  # warm up
        t_ours, t_kernel, t_loop = [], [], []
        for _ in range(repeats):  # interleaved
            t_ours.append(timed(lambda f=ours_: f(steps)) / steps)
            t_kernel.append(timed(lambda f=kernel_: f(steps)) / steps)
            t_loop.append(timed(lambda f=loop_: f(loop_steps)) / loop_steps)
        o, k, lp = min(t_ours), min(t_kernel), min(t_loop)
        out.append({"label": label, "R": R, "n": W.n, "edges": len(edges_of(W)[0]), "matrix": f"{SIDE}x{SIDE}",
                    "ours_us_per_step": o * 1e6, "kernel_us_per_step": k * 1e6, "loop_us_per_step": lp * 1e6,
                    "overhead": o / k - 1, "loop_speedup_vs_kernel": lp / k, "loop_speedup_vs_ours": lp / o})
        rank = int(label[-1]) if label.startswith("PowerGossip") else None
        if rank is not None:
            out[-1]["edge_loop_us_per_step"] = edge_loops[rank] * 1e6
            out[-1]["edge_loop_speedup_vs_kernel"] = edge_loops[rank] / k
    # the kernel computes what the algorithm computes: final consensus distance of both
    W_ = parse(SPEC)
    mine = pg_kernel(W_, X0[:4], 10, 2)
    ref = powergossip(W_, X0[:4], 10, 2, np.random.default_rng(0), checkpoints=np.array([10]))
    xi = np.sum((mine - mine.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2, 3))
    out[-1]["kernel_vs_ours_consensus_rel_diff"] = float(np.max(np.abs(xi / ref.values["consensus"][:, -1] - 1)))
    return out


def table(res: dict) -> str:
    lines = [("| benchmark (torus 4x4, R = 100, 8 x 8 matrices) | ours (recording every step) | bare kernel | ours / kernel "
              "| Python loop over R | loop / kernel | loop over R and edges | / kernel |"), "|---|---|---|---|---|---|---|---|"]
    for b in res["steps"]:
        edges = (f"{b['edge_loop_us_per_step']:.0f} µs/step | {b['edge_loop_speedup_vs_kernel']:.0f}x" if "edge_loop_us_per_step" in b
                 else "- | -")
        lines.append(f"| {b['label']} | {b['ours_us_per_step']:.0f} µs/step | {b['kernel_us_per_step']:.0f} µs/step | "
                     f"{1 + b['overhead']:.2f}x | {b['loop_us_per_step']:.0f} µs/step | {b['loop_speedup_vs_kernel']:.1f}x | {edges} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100, help="steps per timed run (default 100)")
    ap.add_argument("--loop-steps", type=int, default=10, help="steps per timed run of the loop (default 10)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results_gossip.json"))
    args = ap.parse_args()
    res = {"machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                       "processor": platform.processor() or platform.machine(),
                       "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
           "date": time.strftime("%Y-%m-%d %H:%M:%S"), "steps": bench(args.steps, args.loop_steps, args.repeats)}
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(table(res))
    print(f"PowerGossip r = 2: kernel vs ours, final consensus distance, max rel. diff "
          f"{res['steps'][-1]['kernel_vs_ours_consensus_rel_diff']:.1e}")
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
