"""`ratecheck falsify`: the search stays below the bound for a true theorem and finds violations of planted
wrong bounds (issue #4 item 3)."""

from __future__ import annotations

import pytest

from ratecheck.falsify import falsify
from ratecheck.run import load


def test_true_theorem_is_not_falsified() -> None:
    res = falsify(load("quantized-sgd"), budget=60, seed=0)
    assert res["verdict"] == "HOLDS" and res["ci_high"] <= 1.0, res


@pytest.mark.parametrize("mutation", ["drop-omega", "faster-T"])
def test_planted_wrong_bound_is_falsified(mutation: str) -> None:
    res = falsify(load(f"quantized-sgd~{mutation}"), budget=60, seed=0)
    assert res["verdict"] == "VIOLATED" and res["ci_low"] > 1.0, res
