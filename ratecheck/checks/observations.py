"""Observations (THEOREMS.md T3.1 (f)): a contrast the catalog does not back by a theorem.

``Observation`` computes and reports the numbers; it asserts nothing about their direction, so it has no
prediction to judge: PASS means only that the contrast was measured (every selected run finite, no
divergence); a non-finite run gives INCONCLUSIVE. No false-failure rate or power applies (null).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ratecheck.checks.core import INCONCLUSIVE, PASS, Check, Outcome, Plot, Relation
from ratecheck.validate import InputError

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
        summary, evidence, plot = self.measure_contrast(runs)
        return Outcome(PASS if finite else INCONCLUSIVE, "observation (not asserted): " + summary, {"all_runs_finite": finite, **evidence}, plot,
                       reason=None if finite else "a selected run is not finite (diverged or non-finite values): nothing measured")

    def measure_contrast(self, runs: Sequence[Run]) -> tuple[str, dict[str, Any], Plot | None]:
        """(summary, evidence, plot) of the contrast: the declared ``observe`` function."""
        return self.observe(runs)  # type: ignore[misc]

    def claim_text(self, thm: Theorem) -> str | None:
        return None


@dataclass
class Contrast(Observation):
    """A declared observational contrast between named runs (catalog T3.1 (e), (f): measured, reported,
    never asserted). ``series`` maps a label to the point values that pick its run (keys a point lacks
    are read from ``defaults``); for each ``measures`` entry, ``name`` (the mean at the last checkpoint)
    or ``name@first`` (at the first), the means of every label are reported, with their ratio to the
    ``reference`` label; ``plot`` names the measure whose mean curves are drawn."""

    series: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    measures: Sequence[str] = ("avg_subopt",)
    reference: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    plot: str | None = None

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        return Check.evaluate(self, thm, results)

    def _pick(self, runs: Sequence[Run], label: str) -> Run:
        want = self.series[label]
        for r in runs:
            point = {**self.defaults, **r.point}
            if all(point.get(k) == v for k, v in want.items()):
                return r
        raise InputError(f"check {self.name!r}: no run matches series {label!r} = {dict(want)}")

    def measure_contrast(self, runs: Sequence[Run]) -> tuple[str, dict[str, Any], Plot]:
        picked = {label: self._pick(runs, label) for label in self.series}
        table: dict[str, dict[str, float]] = {}
        for m in self.measures:
            name, _, at = m.partition("@")
            col = 0 if at == "first" else -1
            table[m] = {label: float(np.mean(r.trace.values[name][:, col])) for label, r in picked.items()}
        parts = []
        for m, row in table.items():
            ref = row.get(self.reference) if self.reference else None
            cells = [f"{label} {v:.4g}" + (f" (x{v / ref:.3g})" if ref and label != self.reference else "") for label, v in row.items()]
            parts.append(f"{m}: " + ", ".join(cells))
        T = max(r.trace.T for r in picked.values())
        summary = f"T = {T}; " + "; ".join(parts) + (f" (ratios to {self.reference})" if self.reference else "")
        name = self.plot or self.measures[0].partition("@")[0]
        plot = Plot(self.name, "t", f"mean {name}")
        for label, r in picked.items():
            plot.add(label, r.trace.t, np.mean(r.trace.values[name], axis=0), "data")
        return summary, {"means": table, "reference": self.reference}, plot
