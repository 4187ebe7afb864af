"""Speed of the robust aggregators (ratecheck.aggregators): prints a Markdown table, writes
benchmarks/results_aggregators.json.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_aggregators.py      # about a minute

Every aggregator at n = 50 inputs, f = 10 Byzantine (delta = 0.2):
(a) one replica of dimension d = 10^5 (R = 1);
(b) R = 100 replicas of dimension d = 100 in one batched call, against 100 calls of R = 1.
Against ByzFL (Allouah et al., the `byzfl` package, numpy code path) on the same inputs when `byzfl`
imports: its rules take one (n, d) array, so (b) loops over the 100 replicas for it. ByzFL 0.0.11 needs
torch (imported at module level); without it the comparison is skipped with a message. Targets: at least
as fast as ByzFL on every rule; Krum and NNM at least 5x faster.

Outputs are compared on identical inputs where the two implement the same function. Known differences,
each checked here by comparing with the ratecheck rule that computes ByzFL's function:
  * ByzFL's Krum/MultiKrum score sums the n - f - 1 nearest squared distances (Blanchard et al. use
    n - f - 2): ByzFL Krum(f) = ratecheck Krum(f - 1); ByzFL MultiKrum(f) averages the n - f best, =
    ratecheck MultiKrum(f - 1, m = n - f).
  * ByzFL's GeometricMedian is smoothed Weiszfeld from z = 0 with nu = 0.1, T = 3 iterations: =
    ratecheck GeometricMedian(nu=0.1, max_iter=3, tol=0, start="zero"). ratecheck's default (start at the
    coordinate median, iterate to tol = 1e-10) is timed as an extra row.
  * ByzFL's CenteredClipping keeps its centre inside the object (starts at 0): = ratecheck
    CenteredClip(tau=100, l=1) from v = 0; a fresh ByzFL object is used per call.
  * ByzFL's NNM and Bucketing return the mixed vectors / bucket means (followed here by Average);
    Bucketing with s = 2 dividing n: the mean of the bucket means is the mean for both.
Times are the minimum over interleaved repeats (the least disturbed by other load on the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from ratecheck.aggregators import (
    NNM,
    Aggregator,
    Bucketing,
    CenteredClip,
    CoordinateMedian,
    GeometricMedian,
    Krum,
    Mean,
    MultiKrum,
    TrimmedMean,
)

HERE = Path(__file__).resolve().parent
N, F = 50, 10
D_BIG, D_SMALL, R_SMALL = 100_000, 100, 100

try:
    import byzfl  # noqa: F401

    BYZFL: str | None = None
except ImportError as err:  # byzfl absent, or torch missing inside it
    BYZFL = f"ByzFL comparison skipped: `import byzfl` failed ({type(err).__name__}: {err})"


class Rule:
    """One row: ratecheck's rule (as a function of G (R, n, d)), ByzFL's (of one (n, d) array), and the
    ratecheck rule that computes ByzFL's function, for the output comparison."""

    def __init__(
        self,
        label: str,
        ours: Aggregator | Callable,
        byzfl_factory: Callable | None = None,
        same_as_byzfl: Aggregator | Callable | None = None,
        note: str = "",
    ) -> None:
        self.label, self.ours, self.byzfl_factory = label, ours, byzfl_factory
        self.same_as_byzfl = same_as_byzfl if same_as_byzfl is not None else ours
        self.note = note


def rules() -> list[Rule]:
    def B(name: str, *args, **kwargs) -> Callable:
        """A fresh ByzFL object per call (CenteredClipping keeps state), followed by Average for the
        pre-aggregators that return n vectors."""

        def call(X: np.ndarray) -> np.ndarray:
            import byzfl

            out = getattr(byzfl, name)(*args, **kwargs)(X)
            return out.mean(axis=0) if name in ("NNM", "Bucketing") else out

        return call

    return [
        Rule("mean", Mean(F), B("Average")),
        Rule("coordinate_median", CoordinateMedian(F), B("Median")),
        Rule("trimmed_mean (b = f)", TrimmedMean(F), B("TrMean", f=F)),
        Rule("krum", Krum(F), B("Krum", f=F), Krum(F - 1), "ByzFL sums n - f - 1 distances: = Krum(f - 1)"),
        Rule(
            "multi_krum (m = n - f)",
            MultiKrum(F),
            B("MultiKrum", f=F),
            MultiKrum(F - 1, m=N - F),
            "ByzFL scores with n - f - 1: = MultiKrum(f - 1, m = n - f)",
        ),
        Rule(
            "geometric_median (nu 0.1, T 3, z0 0)",
            GeometricMedian(F, nu=0.1, max_iter=3, tol=0.0, start="zero"),
            B("GeometricMedian", nu=0.1, T=3),
        ),
        Rule("geometric_median (default: CM start, tol 1e-10)", GeometricMedian(F)),
        Rule(
            "centered_clip (tau 100, l 1)",
            CenteredClip(F, tau=100.0, l=1),
            B("CenteredClipping", tau=100.0, L=1),
        ),
        Rule("centered_clip (tau 1, l 3)", CenteredClip(F, tau=1.0, l=3)),
        Rule("nnm + mean", NNM(Mean(F)), B("NNM", f=F)),
        Rule("nnm + coordinate_median", NNM(CoordinateMedian(F))),
        Rule("bucketing s=2 + mean", Bucketing(2, Mean(F)), B("Bucketing", s=2)),
        Rule("bucketing s=2 + krum (f = 5 buckets)", Bucketing(2, Krum(F // 2))),
        Rule("bucketing s=2 + geometric_median", Bucketing(2, GeometricMedian(F))),
    ]


def timed(fn: Callable) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(repeats: int) -> list[dict]:
    g = np.random.default_rng(0)
    G_big = g.standard_normal((1, N, D_BIG))
    G_small = g.standard_normal((R_SMALL, N, D_SMALL))
    rng = np.random.default_rng(1)
    out = []
    for rule in rules():
        ours, theirs = rule.ours, None
        if rule.byzfl_factory is not None and BYZFL is None:
            theirs = rule.byzfl_factory
        res: dict = {"rule": rule.label, "n": N, "f": F, "note": rule.note}
        t = {"big": [], "batched": [], "looped": [], "byzfl_big": [], "byzfl_looped": []}
        for j in range(repeats):  # interleaved
            t["big"].append(timed(lambda ours=ours: ours(G_big, rng)))
            t["batched"].append(timed(lambda ours=ours: ours(G_small, rng)))
            if j < 2:
                t["looped"].append(
                    timed(lambda ours=ours: [ours(G_small[r : r + 1], rng) for r in range(R_SMALL)])
                )
            if theirs is not None:
                t["byzfl_big"].append(timed(lambda theirs=theirs: theirs(G_big[0])))
                if j < 2:
                    t["byzfl_looped"].append(
                        timed(lambda theirs=theirs: [theirs(G_small[r]) for r in range(R_SMALL)])
                    )
        for key, values in t.items():
            res[f"{key}_ms"] = 1e3 * min(values) if values else None
        if theirs is not None:
            ref = rule.same_as_byzfl
            diffs = []
            for X in (G_big, G_small[:5]):
                mine = ref(X, rng)
                byz = np.stack([np.asarray(theirs(X[r]), dtype=float) for r in range(len(X))])
                diffs.append(float(np.max(np.abs(mine - byz)) / np.max(np.abs(byz))))
            res["max_rel_diff_vs_byzfl"] = max(diffs)
            if rule.same_as_byzfl is not rule.ours:
                res["ours_differs_from_byzfl"] = float(
                    np.max(np.abs(rule.ours(G_small[:5], rng) - np.stack([theirs(X) for X in G_small[:5]])))
                )
        out.append(res)
    return out


def _ms(x: float | None) -> str:
    return "-" if x is None else (f"{x:.1f}" if x >= 1 else f"{x:.3f}")


def table(rows: list[dict]) -> str:
    lines = [
        (
            f"| rule (n={N}, f={F}) | ours R=1, d=1e5 (ms) | ByzFL (ms) | speed-up "
            "| ours R=100 batched, d=100 (ms) "
            "| ours 100 x R=1 (ms) | ByzFL 100 x (ms) | speed-up | outputs vs ByzFL |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in rows:
        up_big = f"{b['byzfl_big_ms'] / b['big_ms']:.1f}x" if b["byzfl_big_ms"] else "-"
        up_small = f"{b['byzfl_looped_ms'] / b['batched_ms']:.1f}x" if b["byzfl_looped_ms"] else "-"
        agree = "-"
        if "max_rel_diff_vs_byzfl" in b:
            agree = f"max rel diff {b['max_rel_diff_vs_byzfl']:.1e}" + (
                f" ({b['note']})" if b["note"] else ""
            )
        lines.append(
            f"| {b['rule']} | {_ms(b['big_ms'])} | {_ms(b['byzfl_big_ms'])} | {up_big} | "
            f"{_ms(b['batched_ms'])} | {_ms(b['looped_ms'])} | {_ms(b['byzfl_looped_ms'])} | "
            f"{up_small} | {agree} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results_aggregators.json"))
    args = ap.parse_args()
    if BYZFL is not None:
        print(BYZFL + "\n")
    rows = bench(args.repeats)
    res = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "byzfl": BYZFL or "compared",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(table(rows))
    print(f"\n(written to {args.out})")


if __name__ == "__main__":
    main()
