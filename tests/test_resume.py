"""A killed run loses no finished point (DESIGN.md, "Running"): cache files are written atomically, and
``--resume`` reuses every finished point and gives the verdicts of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ratecheck.trace import Trace

TINY = Path(__file__).parent / "fixtures" / "tiny_theorem.py"
N_POINTS = 8  # the quick sweeps of the tiny theorem


def command(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "ratecheck.cli", "verify", str(TINY), "--quick", "--jobs", "1", "--no-progress",
            "--out", str(out), *args]


def environment(cache: Path, sleep: float) -> dict[str, str]:
    return {**os.environ, "RATECHECK_CACHE": str(cache), "OPENBLAS_NUM_THREADS": "1", "RATECHECK_TINY_SLEEP": str(sleep)}


def finished(cache: Path) -> dict[str, os.stat_result]:
    """The cache files a resumed run may reuse (dot-prefixed names are temporaries), with their stat."""
    return {p.name: p.stat() for p in cache.rglob("*.npz") if not p.name.startswith(".")}


def run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def checks(out: Path) -> list[dict]:
    return json.loads((out / "tiny-theorem" / "verdict.json").read_text())["checks"]


def test_kill_and_resume(tmp_path):
    # the reference: one uninterrupted run
    run(command(tmp_path / "out-ref"), environment(tmp_path / "cache-ref", 0.0))
    reference = finished(tmp_path / "cache-ref")
    assert len(reference) == N_POINTS

    # a slow run (0.5 s per point), killed with SIGKILL once two points are cached
    cache, out = tmp_path / "cache", tmp_path / "out"
    proc = subprocess.Popen(command(out), env=environment(cache, 0.5), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(finished(cache)) < 2:
            assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no cache file after 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "tiny-theorem" / "verdict.json").exists()

    # every file a resume could read is complete: it loads, and holds the reference run's numbers
    before = finished(cache)
    assert 2 <= len(before) < N_POINTS, f"{len(before)} points finished: the kill did not interrupt the sweep"
    for name in before:
        got = Trace.from_bytes((cache / "tiny-theorem" / name).read_bytes())
        want = Trace.from_bytes((tmp_path / "cache-ref" / "tiny-theorem" / name).read_bytes())
        assert got.constants == want.constants
        assert got.values.keys() == want.values.keys()
        for k in want.values:
            assert (got.values[k] == want.values[k]).all(), (name, k)
    # a temporary left by a kill during a write (simulated: half of a real file) must be ignored
    some = cache / "tiny-theorem" / next(iter(before))
    (cache / "tiny-theorem" / ".tmp-killed.npz").write_bytes(some.read_bytes()[: some.stat().st_size // 2])

    # resume: the finished points are reused untouched, only the missing ones are written
    run(command(out, "--resume"), environment(cache, 0.0))
    after = finished(cache)
    assert after.keys() == reference.keys(), "cache keys differ from the reference run's (was the source edited meanwhile?)"
    for name, st in before.items():
        assert (after[name].st_mtime_ns, after[name].st_ino) == (st.st_mtime_ns, st.st_ino), f"{name} was rewritten"
    new = [name for name in after if name not in before]
    assert len(new) == N_POINTS - len(before) < N_POINTS

    # and the verdicts and evidence are those of the uninterrupted run, exactly
    assert checks(out) == checks(tmp_path / "out-ref")
