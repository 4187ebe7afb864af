"""The command line as a user meets it: exit codes, reports on disk, and one test that tries every bad input
the CLI and the public API accept (issue #4 item 8): a clear message naming the parameter and its range,
exit status 2, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import verified
from planted_copies import PLANTED, texts

from ratecheck import report
from ratecheck.cli import main

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ratecheck.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900, check=False)


BAD_CLI = [
    (["verify", "quantised-sgd"], "did you mean 'quantized-sgd'"),
    (["show", "qsgd"], "unknown theorem 'qsgd'"),
    (["verify", "quantized-sgd", "--seed", "-1"], "seed must be an integer >= 0"),
    (["verify", "quantized-sgd", "--jobs", "0"], "jobs must be an integer >= 1"),
    (["verify", "quantized-sgd", "--jobs", "two"], "jobs must be an integer >= 1"),
    (["verify", "no/such/file.py"], "does not exist"),
    (["verify", "quantized-sgd~no-such-mutation"], "unknown mutation 'no-such-mutation'"),
    (["verify", "quantized-sgd", "--all"], "not both"),
    (["verify", "quantized-sgd", "--backend", "mpi"], "invalid choice: 'mpi'"),
    (["report", "--out", "/nonexistent/folder"], "no reports under"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("args, message", BAD_CLI, ids=[" ".join(a) for a, _ in BAD_CLI])
def test_bad_cli_input_exits_2_with_a_message(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    try:
        code = main(args)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert "Traceback" not in err


def test_bad_api_input_names_the_parameter_and_range() -> None:
    from problems.quadratic import Quadratic
    from ratecheck.algorithms.sgd import quantized_sgd
    from ratecheck.compressors import QSGD, RandomK, make
    from ratecheck.validate import InputError

    rng = np.random.default_rng(0)
    f = Quadratic.isotropic(4, 1.0, noise=0.0)
    cases = [
        (lambda: RandomK(5)(np.ones(4), rng), r"k=5 must be in \[1, d=4\]"),
        (lambda: RandomK(0), "k must be an integer >= 1"),
        (lambda: QSGD(0), "s must be an integer >= 1"),
        (lambda: make("randomk", k=2), "did you mean"),
        (lambda: Quadratic.isotropic(4, -1.0), "L must be a finite number > 0"),
        (lambda: Quadratic.isotropic(4, 0.0), "L must be a finite number > 0"),
        (lambda: quantized_sgd(f, RandomK(2), -0.1, 10, 2, rng), "gamma must be a finite number > 0"),
        (lambda: quantized_sgd(f, RandomK(2), "big", 10, 2, rng), "gamma must be a real number > 0"),
        (lambda: quantized_sgd(f, RandomK(2), float("nan"), 10, 2, rng), "gamma must be a real number > 0"),
        (lambda: quantized_sgd(f, RandomK(2), 0.1, 0, 2, rng), "T must be an integer >= 1"),
        (lambda: quantized_sgd(f, RandomK(2), 0.1, 10, 0, rng), "R must be an integer >= 1"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()


def test_verify_writes_the_report_and_lists_the_negative_control(tmp_path: Path) -> None:
    r = cli("verify", "quantized-sgd", "--quick", "--resume", "--out", str(tmp_path), "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    folder = tmp_path / "quantized-sgd"
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["theorem"] == "quantized-sgd" and verdict["ok"] is True
    for c in verdict["checks"]:
        assert tuple(c) == report.VERDICT_FIELDS  # theory beside numerics, under fixed names
        assert c["observed"] == c["expected"]
    negatives = [c for c in verdict["checks"] if c["expected"] == "FAIL"]
    assert negatives and all(c["observed"] == "FAIL" for c in negatives)
    assert len(list(folder.glob("*.png"))) == len(verdict["checks"])
    assert "Negative controls" in (folder / "report.md").read_text()
    assert (tmp_path / "index.html").is_file() and (tmp_path / "index.md").is_file()
    assert "data:image/png;base64," in (folder / "report.html").read_text()  # self-contained
    # `report` redraws from the stored outcomes without recomputing
    for png in folder.glob("*.png"):
        png.unlink()
    assert main(["report", "--out", str(tmp_path)]) == 0
    assert len(list(folder.glob("*.png"))) == len(verdict["checks"])


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_planted_wrong_theorem_files_are_rejected(planted: str, planted_dir: Path) -> None:
    # a planted copy declares the original's seed stream and its runs reach the same code, so it reuses the runs
    # the session already made for the original (ratecheck.run.cache_key); in-process, as `verify` judges it
    wrong = [c["name"] for c in verified(str(planted_dir / planted)) if c["observed"] != c["expected"]]
    assert wrong, "every check came out as expected for a planted-wrong theorem file"


def test_a_planted_wrong_theorem_file_exits_1_from_the_command_line(planted_dir: Path, tmp_path: Path) -> None:
    """The user's path: `ratecheck verify FILE` on a planted copy exits 1 and writes ok = false."""
    planted = "fedavg_drift_rate_sqrt.py"
    verified(str(planted_dir / planted))  # the runs, once per session (cached for the subprocess)
    r = cli("verify", str(planted_dir / planted), "--quick", "--resume", "--out", str(tmp_path), "--no-progress")
    assert r.returncode == 1, r.stdout + r.stderr
    verdict = json.loads(next(tmp_path.glob("*/verdict.json")).read_text())
    assert verdict["ok"] is False


def test_planted_copies_differ_from_the_real_file_in_the_planted_lines_only() -> None:
    import difflib

    for name, text in texts().items():
        real = (ROOT / "theorems" / PLANTED[name][0]).read_text().splitlines(True)
        changed = [ln for ln in difflib.unified_diff(real, text.splitlines(True), n=0) if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
        assert changed and all(ln.startswith("-") or "# PLANTED" in ln for ln in changed), (name, changed)


def test_readme_own_theorem_example_verifies_by_path(tmp_path: Path) -> None:
    """The "Write your own theorem" example of the README, copied verbatim into a file outside the package."""
    import re

    code = re.search(r"```python\n(# my_sgd\.py.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert code, "README has no '# my_sgd.py' example"
    path = tmp_path / "my_sgd.py"
    path.write_text(code.group(1))
    res = cli("verify", str(path), "--quick", "--out", str(tmp_path / "out"), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    verdict = json.loads((tmp_path / "out" / "my-sgd" / "verdict.json").read_text())
    assert [(c["expected"], c["observed"]) for c in verdict["checks"]] == [("PASS", "PASS"), ("PASS", "PASS"), ("FAIL", "FAIL")]


@pytest.mark.parametrize("real", sorted(p.name for p in (ROOT / "theorems").glob("[!_]*.py")))
def test_a_renamed_copy_of_a_theorem_file_reproduces_the_original(real: str, tmp_path: Path) -> None:
    """Issue 15: a theorem declares its seed stream, so a copy of its file under another name runs on the same
    random draws (and, through the run fingerprint, the same cached runs) and gives the same numbers."""
    copy = tmp_path / f"renamed_{real}"
    copy.write_text((ROOT / "theorems" / real).read_text())
    va, vb = verified(real[:-3].replace("_", "-")), verified(str(copy))
    assert [(c["observed"], c["measured"], c["interval"]) for c in va] == [(c["observed"], c["measured"], c["interval"]) for c in vb]
