"""Discrimination of the whole library (issue #4): every theorem is VERIFIED on its quick sweeps under
master seed 0, once per session (the project's rule: verify each theorem once and let the mutant,
planted-copy and CLI tests reuse its cached runs; the seed-stability evidence is the documented 20-seed
run, `ratecheck stability --quick --seeds 20`, on untuned seeds 3000..3019), and every planted error built
from its declaration (ratecheck.mutate) is rejected. New theorems are picked up automatically."""

from __future__ import annotations

import pytest
from conftest import verified as outcomes

from ratecheck.mutate import mutations
from ratecheck.run import available, load

THEOREMS = available()


@pytest.mark.parametrize("seed", [0])
@pytest.mark.parametrize("ref", THEOREMS)
def test_theorem_verified_under_seed(ref: str, seed: int) -> None:
    wrong = [(c["name"], c["expected"], c["observed"], c["summary"]) for c in outcomes(ref, seed) if c["observed"] != c["expected"]]
    assert not wrong, wrong


MUTANTS = [(ref, name) for ref in THEOREMS for name in mutations(load(ref))]


@pytest.mark.parametrize("ref, mutation", MUTANTS, ids=[f"{r}~{m}" for r, m in MUTANTS])
def test_planted_error_is_rejected(ref: str, mutation: str) -> None:
    checks = outcomes(f"{ref}~{mutation}", 0)
    assert any(c["observed"] != c["expected"] for c in checks), "every check came out as expected for a wrong theorem"
