"""Observations (THEOREMS.md T3.1 (f)): a contrast the catalog does not back by a theorem.

``Observation`` computes and reports the numbers; it asserts nothing about their direction, so it has no
prediction to judge: PASS means only that the contrast was measured (every selected run finite, no
divergence); a non-finite run gives INCONCLUSIVE. No false-failure rate or power applies (null).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ratecheck.checks.core import INCONCLUSIVE, PASS, Check, Outcome, Plot, Relation

if TYPE_CHECKING:
    from ratecheck.theorem import Run, Theorem


@dataclass
class Observation(Check):
    """An observational contrast (module docstring): ``observe(runs)`` returns (summary, evidence, plot);
    the verdict is PASS when every selected run is finite, INCONCLUSIVE otherwise."""

    observe: Callable[[Sequence[Run]], tuple[str, dict[str, Any], Plot | None]] | None = None
    relation: Relation | str = Relation.OBSERVATION
    kind: ClassVar[str] = "observation"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.OBSERVATION,)

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        if self.observe is None:
            return Outcome(INCONCLUSIVE, "nothing to observe", {}, relation=Relation.OBSERVATION)
        return super().evaluate(thm, results)

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        finite = all(r.trace.first_divergence() is None and all(np.all(np.isfinite(v)) for k, v in r.trace.values.items()
                                                               if not k.startswith("tail_")) for r in runs)
        summary, evidence, plot = self.observe(runs)
        return Outcome(PASS if finite else INCONCLUSIVE, "observation (not asserted): " + summary, {"all_runs_finite": finite, **evidence}, plot,
                       reason=None if finite else "a selected run is not finite (diverged or non-finite values): nothing measured")

    def claim_text(self, thm: Theorem) -> str | None:
        return None
