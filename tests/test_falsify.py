"""`ratecheck falsify`: the search stays below the bound for a true theorem and finds violations of planted
wrong bounds (issue #4 item 3), for every theorem that declares a search space."""

from __future__ import annotations

import pytest

from ratecheck.falsify import falsify
from ratecheck.run import available, load

SEARCHABLE = [ref for ref in available() if load(ref).search is not None]


def test_the_library_has_search_spaces() -> None:
    assert {"quantized-sgd", "error-feedback"} <= set(SEARCHABLE)


@pytest.mark.parametrize("ref", SEARCHABLE)
def test_true_theorem_is_not_falsified(ref: str) -> None:
    res = falsify(load(ref), budget=60, seed=0)
    assert res["verdict"] == "HOLDS" and res["ci_high"] <= 1.0, res


PLANTED = [(ref, "faster-T") for ref in SEARCHABLE] + [("quantized-sgd", "drop-omega")]


@pytest.mark.parametrize("ref, mutation", PLANTED)
def test_planted_wrong_bound_is_falsified(ref: str, mutation: str) -> None:
    res = falsify(load(f"{ref}~{mutation}"), budget=60, seed=0)
    assert res["verdict"] == "VIOLATED" and res["ci_low"] > 1.0, res
