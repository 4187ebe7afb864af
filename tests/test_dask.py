"""The Dask backend (DESIGN.md, "Running": joblib's dask backend on a distributed scheduler) gives the
numbers of the default joblib backend: a point's seed depends only on the point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("dask.distributed")

TINY = Path(__file__).parent / "fixtures" / "tiny_theorem.py"


def verify(tmp: Path, name: str, *args: str) -> list[dict]:
    out, cache = tmp / f"out-{name}", tmp / f"cache-{name}"
    env = {**os.environ, "RATECHECK_CACHE": str(cache), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("RATECHECK_TINY_SLEEP", None)
    cmd = [sys.executable, "-m", "ratecheck.cli", "verify", str(TINY), "--quick", "--no-progress", "--out", str(out), *args]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert len(list(cache.rglob("*.npz"))) == 8
    return json.loads((out / "tiny-theorem" / "verdict.json").read_text())["checks"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[dict]:
    checks = verify(tmp_path_factory.mktemp("joblib"), "joblib", "--jobs", "2")
    assert [c["observed"] for c in checks] == ["PASS", "PASS", "FAIL"]
    return checks


def test_dask_local_cluster_from_the_cli(tmp_path, reference):
    """No --scheduler: the CLI starts its own LocalCluster (--jobs workers, 1 thread each)."""
    assert verify(tmp_path, "dask", "--jobs", "2", "--backend", "dask") == reference


def test_dask_given_scheduler(tmp_path, reference):
    """--scheduler ADDRESS of a LocalCluster with 2 worker processes of 1 thread: the points really run
    on its workers, and the numbers are the joblib backend's."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        checks = verify(tmp_path, "scheduler", "--jobs", "2", "--backend", "dask", "--scheduler", cluster.scheduler_address)
        ran_here = client.run(lambda: any(m.startswith("ratecheck_user_tiny_theorem") for m in sys.modules))
    assert any(ran_here.values()), f"no worker loaded the theorem: {ran_here}"
    assert checks == reference
