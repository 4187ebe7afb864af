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
