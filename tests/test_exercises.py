"""Every lecture exercise runs as a standalone script (exercises/README.md, "Conventions"): exit status 0
within the timeout, at least one PNG written under exercises/out/ during the run, and the last line of
output starting with "Takeaway:". Parametrized over the glob, so a new exercise is tested as soon as it
exists."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted(p.name for p in (ROOT / "exercises").glob("*.py"))
TIMEOUT = 120  # seconds: the convention is < 30 s on one core; the margin absorbs a shared, loaded machine


def _pngs(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.glob("*.png")} if folder.is_dir() else {}


@pytest.mark.parametrize("script", EXERCISES)
def test_exercise_runs_saves_a_png_and_ends_with_a_takeaway(script: str) -> None:
    out = ROOT / "exercises" / "out"
    before = _pngs(out)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    start = time.time()
    r = subprocess.run([sys.executable, str(ROOT / "exercises" / script)], capture_output=True, text=True, cwd=ROOT, env=env, check=False,
                       timeout=TIMEOUT)
    elapsed = time.time() - start
    assert r.returncode == 0, f"{script} exited {r.returncode} after {elapsed:.1f} s\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    written = [p for p, mtime in _pngs(out).items() if before.get(p) != mtime]
    assert written, f"{script} wrote no PNG under {out}"
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Takeaway:"), f"{script}: last line is {lines[-1] if lines else '(no output)'!r}"
    assert len(lines[-1]) > len("Takeaway:") + 10, f"{script}: empty takeaway"
