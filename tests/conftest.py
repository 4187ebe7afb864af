"""Shared test configuration: a derandomized Hypothesis profile so the suite never flakes in CI."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # 2-core machines: no BLAS oversubscription

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest


@pytest.fixture(scope="session")
def planted_dir(tmp_path_factory: pytest.TempPathFactory):
    """The planted-wrong copies of the theorem files (tests/planted_copies.py), generated once per session."""
    from planted_copies import write

    folder = tmp_path_factory.mktemp("planted")
    write(folder)
    return folder


_VERIFIED: dict[tuple[str, int], list[dict]] = {}


def verified(ref: str, seed: int = 0) -> list[dict]:
    """Every check's outcome for a theorem (an id, an id~mutation or a path) on its quick sweeps, computed once
    per test session and shared by every test that asks (the project's rule: verify each theorem once per
    session; mutants, planted and renamed copies reuse its cached runs through the run fingerprint)."""
    from ratecheck.run import evaluate_checks, run_theorem

    key = (ref, seed)
    if key not in _VERIFIED:
        jobs = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2  # under xdist the two cores run two workers
        thm, results = run_theorem(ref, quick=True, seed=seed, jobs=jobs, resume=True, progress=False)
        _VERIFIED[key] = evaluate_checks(thm, results)
    return _VERIFIED[key]


def _theorem_of(item: pytest.Item) -> str | None:
    """The theorem a test verifies (its id), for the tests that run one: verifies, mutants, planted and renamed
    copies, the command-line report test; None for the others."""
    from planted_copies import PLANTED

    params = getattr(getattr(item, "callspec", None), "params", {})
    ref = params.get("ref") or params.get("real") or params.get("planted")
    if ref in PLANTED:
        ref = PLANTED[ref][0]
    if item.name.startswith("test_a_planted_wrong_theorem_file_exits_1"):
        ref = "fedavg"
    if item.name.startswith("test_verify_writes_the_report"):
        ref = "quantized-sgd"
    return None if ref is None else ref.removesuffix(".py").replace("_", "-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With pytest-xdist (`-n 2 --dist loadgroup`, the default in pyproject.toml), every test of one theorem goes
    to one worker, so each theorem is verified once per session and its mutants, planted and renamed copies
    reuse that worker's memo; the exercise scripts, which share exercises/out/, run on one worker in turn."""
    for item in items:
        theorem = _theorem_of(item)
        if theorem is not None:
            item.add_marker(pytest.mark.xdist_group(f"theorem-{theorem}"))
        elif "exercise" in item.name:
            item.add_marker(pytest.mark.xdist_group("exercises"))
