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
        thm, results = run_theorem(ref, quick=True, seed=seed, jobs=2, resume=True, progress=False)
        _VERIFIED[key] = evaluate_checks(thm, results)
    return _VERIFIED[key]
