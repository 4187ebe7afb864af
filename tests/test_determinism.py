"""Results never depend on scheduling (DESIGN.md, "Running"): the number of workers and the order in
which sweep points run change no number; the master seed does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ratecheck.run import load, point_seed, run_point

TINY = Path(__file__).parent / "fixtures" / "tiny_theorem.py"


def verify(tmp: Path, name: str, *args: str) -> dict:
    """Run `ratecheck verify TINY --quick` in a fresh process with its own cache and report folders;
    return verdict.json."""
    out, cache = tmp / f"out-{name}", tmp / f"cache-{name}"
    env = {**os.environ, "RATECHECK_CACHE": str(cache), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("RATECHECK_TINY_SLEEP", None)
    cmd = [sys.executable, "-m", "ratecheck.cli", "verify", str(TINY), "--quick", "--no-progress", "--out", str(out), *args]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert list(cache.rglob("*.npz")), "the run wrote no cache file: RATECHECK_CACHE was not honoured"
    return json.loads((out / "tiny-theorem" / "verdict.json").read_text())


def test_jobs_1_and_jobs_2_give_identical_verdicts(tmp_path):
    one = verify(tmp_path, "jobs1", "--jobs", "1")
    two = verify(tmp_path, "jobs2", "--jobs", "2")
    assert [c["observed"] for c in one["checks"]] == ["PASS", "PASS", "FAIL"]
    assert one["ok"] and two["ok"]
    assert len(one["checks"]) == len(two["checks"]) == 3
    for a, b in zip(one["checks"], two["checks"]):
        assert a["name"] == b["name"]
        # exact: the JSON text of the evidence, every float to its last digit
        assert json.dumps(a["evidence"], sort_keys=True) == json.dumps(b["evidence"], sort_keys=True), a["name"]
        assert a == b


def traces(order: list[tuple[str, dict]], seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Run the given (sweep, point) pairs in this order, seeded as the runner seeds them."""
    thm = load(str(TINY))
    out = {}
    for sweep, point in order:
        rng = np.random.default_rng(point_seed(seed, thm.id, sweep, point))
        tr, _, _ = run_point(thm, sweep, point, 8, rng)
        out[sweep + json.dumps(point, sort_keys=True)] = {"t": tr.t, "diverged_at": tr.diverged_at, **tr.values}
    return out


@pytest.fixture(scope="module")
def points() -> list[tuple[str, dict]]:
    thm = load(str(TINY))
    return [(sw.name, p) for sw in thm.sweeps for p in sw.plan(quick=True)[0]]


def test_same_seed_same_arrays_in_any_order(points):
    forward = traces(points, seed=0)
    backward = traces(points[::-1], seed=0)
    shuffled = traces([points[i] for i in np.random.default_rng(1).permutation(len(points))], seed=0)
    assert forward.keys() == backward.keys() == shuffled.keys()
    for key in forward:
        for name in forward[key]:
            np.testing.assert_array_equal(forward[key][name], backward[key][name], err_msg=f"{key} {name}")
            np.testing.assert_array_equal(forward[key][name], shuffled[key][name], err_msg=f"{key} {name}")


def test_different_seed_different_numbers(points):
    noisy = [(s, p) for s, p in points if p["sigma"] > 0][:2]
    a, b = traces(noisy, seed=0), traces(noisy, seed=1)
    for key in a:
        assert not np.array_equal(a[key]["subopt"], b[key]["subopt"]), key
        assert not np.array_equal(a[key]["avg_subopt"], b[key]["avg_subopt"]), key
    # and different points of one seed draw different streams
    (s1, p1), (s2, p2) = noisy
    x1 = np.random.default_rng(point_seed(0, "tiny-theorem", s1, p1)).random(4)
    x2 = np.random.default_rng(point_seed(0, "tiny-theorem", s2, p2)).random(4)
    assert not np.array_equal(x1, x2)
