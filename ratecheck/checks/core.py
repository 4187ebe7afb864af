"""The verdict core every check kind shares (DESIGN.md, "Checks and the statistical method").

* ``Relation``: what a check claims of measured against predicted, as PEPit declares its guarantees:
  tight (measured = predicted within a tolerance, two-sided), upper (measured <= predicted), lower
  (measured >= predicted), exact (an identity: the interval must meet predicted +- tolerance, no
  inconclusive zone), observation (nothing is claimed).
* ``judge(interval, predicted, tolerance, relation)``: the one PASS / FAIL / INCONCLUSIVE decision;
  ``combine`` joins the per-point judgements of a kind that compares many points.
* ``Check.evaluate``: the one template (select the runs; INCONCLUSIVE when there are none; the divergence
  note; then the kind's ``statistic``), and ``Outcome``, the structured result: measured, predicted,
  ratio, interval, relation and tolerance under fixed names, beside the kind's own evidence and its plot.
* The error model (issue 15): every kind describes how its statistic errs as a list of components
  (``band``: one estimate with an interval judged against a band; ``tlimits``: many Student t comparisons
  with a bound, Bonferroni-corrected; ``zscores``: a z threshold per checkpoint; ``deterministic``), from
  which ``Check.evaluate`` derives ``false_fail`` (P(not PASS) were the claim true at the measured value,
  a plug-in estimate), ``false_pass`` (P(not FAIL) at the measured value: what a negative control risks)
  and ``budget`` the per-theorem total and the replicas a check over its share would need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import sympy as sp
from scipy import stats

from ratecheck.validate import InputError

if TYPE_CHECKING:
    from ratecheck.theorem import Run, Theorem

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"


class Relation(str, Enum):
    """The claim of a check (a str, so that "tight" == Relation.TIGHT and JSON holds the plain name)."""

    TIGHT = "tight"
    UPPER = "upper"
    LOWER = "lower"
    EXACT = "exact"
    OBSERVATION = "observation"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


def relation_of(value: Any, where: str = "", allowed: Sequence[Relation] = tuple(Relation)) -> Relation:
    """``value`` as a Relation; an InputError naming ``where``, the value and the valid names otherwise."""
    names = [r.value for r in allowed]
    if isinstance(value, str) and value in names:
        return Relation(value)
    prefix = f"{where}: " if where else ""
    raise InputError(f"{prefix}relation={value!r} is not one of {names}")


def judge(interval: tuple[float, float], predicted: float, tolerance: float, relation: Relation, relative: bool = False) -> str:
    """PASS, FAIL or INCONCLUSIVE for a measured ``interval`` (low, high) against ``predicted`` +- a
    tolerance (absolute, or relative to abs(predicted) with ``relative``); with band = [lo_b, hi_b]:

    tight:  PASS when the interval lies inside the band, FAIL when disjoint from it;
    upper:  PASS when high <= hi_b, FAIL when low > hi_b;
    lower:  PASS when low >= lo_b, FAIL when high < lo_b;
    exact:  PASS when the interval meets the band, FAIL otherwise (an identity has no inconclusive zone;
            a NaN is a FAIL);
    INCONCLUSIVE otherwise. A NaN end or prediction is INCONCLUSIVE; infinite ends compare as numbers (a
    diverged mean is inf with certainty)."""
    relation = relation_of(relation)
    lo, hi, p = float(interval[0]), float(interval[1]), float(predicted)
    tol = float(tolerance) * abs(p) if relative else float(tolerance)
    lo_b, hi_b = p - tol, p + tol
    if relation is Relation.TIGHT:
        ok, bad = lo_b <= lo and hi <= hi_b, hi < lo_b or lo > hi_b
    elif relation is Relation.UPPER:
        ok, bad = hi <= hi_b, lo > hi_b
    elif relation is Relation.LOWER:
        ok, bad = lo >= lo_b, hi < lo_b
    elif relation is Relation.EXACT:
        ok = lo <= hi_b and hi >= lo_b
        bad = not ok
    else:
        raise InputError(f"judge: relation {relation!r} asserts nothing to judge")
    return PASS if ok else FAIL if bad else INCONCLUSIVE


def combine(verdicts: Iterable[str]) -> str:
    """Per-point judgements joined: FAIL if any FAILs, PASS if all PASS (and there is one), else INCONCLUSIVE."""
    seen = set(verdicts)
    return FAIL if FAIL in seen else PASS if seen == {PASS} else INCONCLUSIVE


# ----------------------------------------------------------------------------------------------------
# outcomes


@dataclass
class Plot:
    """What report.py draws: series of (x, y) with optional band [lo, hi]; style is 'data', 'bound',
    'shape' (the bound rescaled through the data), 'fit' or 'window'. Kept as plain lists so that it is
    stored in JSON and re-rendered from the cache."""

    title: str
    xlabel: str
    ylabel: str
    series: list[dict] = field(default_factory=list)
    logx: bool = True
    logy: bool = True

    def add(self, label: str, x: Any, y: Any, style: str = "data", lo: Any = None, hi: Any = None) -> None:
        entry: dict[str, Any] = {"label": label, "style": style, "x": _floats(x), "y": _floats(y)}
        if lo is not None:
            entry["lo"], entry["hi"] = _floats(lo), _floats(hi)
        self.series.append(entry)


def _floats(a: Any) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=np.float64).ravel()]


@dataclass
class Outcome:
    """A check's result. Beside the verdict, its summary, the kind's own ``evidence`` and the plot, the
    headline under fixed names (None where it does not apply): ``measured`` (the statistic's point
    estimate; for a kind that compares many points, at the point that decides the verdict), ``predicted``
    (or the bound), ``interval`` (low, high) of the measured statistic, ``tolerance`` (``relative``: as
    a fraction of abs(predicted)) and the ``relation`` judged.

    Issue 15: ``false_fail`` (the probability that the check comes out other than PASS were the claim true
    with the value measured here), ``false_pass`` (the probability that it comes out other than FAIL at the
    measured value: for a negative control, that it wrongly passes), ``power`` (the smallest deviation from
    the claim it FAILs with probability >= 0.99, in the claim's units; ``power_relative``: as a fraction of
    abs(claim)), ``reason`` (why the verdict is not clear-cut; None for a clear PASS / FAIL), ``claim`` (the
    expression the check evaluates) and ``error_model`` (the components the figures are computed from)."""

    observed: str
    summary: str
    evidence: dict[str, Any]
    plot: Plot | None = None
    measured: float | None = None
    predicted: float | None = None
    interval: tuple[float, float] | None = None
    tolerance: float | None = None
    relative: bool | None = None
    relation: Relation | None = None
    false_fail: float | None = None
    false_pass: float | None = None
    power: float | None = None
    power_relative: bool | None = None
    reason: str | None = None
    claim: str | None = None
    error_model: dict[str, Any] | None = None

    @property
    def ratio(self) -> float | None:
        """measured / predicted (None when either is missing or the prediction is 0)."""
        if self.measured is None or self.predicted is None or self.predicted == 0:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(self.measured) / np.float64(self.predicted))

    def record(self) -> dict[str, Any]:
        """The JSON-safe fields of verdict.json (non-finite numbers as 'inf' / 'nan', None as null)."""
        return clean({"observed": self.observed, "relation": None if self.relation is None else self.relation.value,
                      "measured": self.measured, "predicted": self.predicted, "ratio": self.ratio,
                      "interval": None if self.interval is None else list(self.interval),
                      "tolerance": self.tolerance, "relative_tolerance": self.relative,
                      "false_fail": self.false_fail, "false_pass": self.false_pass, "power": self.power,
                      "power_relative": self.power_relative, "reason": self.reason, "claim": self.claim,
                      "summary": self.summary, "evidence": self.evidence, "error_model": self.error_model})


def clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to floats, non-finite floats to strings ('inf', 'nan')."""
    if isinstance(obj, Enum):
        return clean(obj.value)
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [clean(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else str(float(obj))
    return obj


# ----------------------------------------------------------------------------------------------------
# the check template


def divergence_note(runs: Sequence[Run]) -> dict[str, Any] | None:
    """The first selected run with a diverged replica: its point, step and how many replicas diverged."""
    for r in runs:
        step = r.trace.first_divergence()
        if step is not None:
            return {"point": r.label, "step": step, "replicas": int(np.sum(r.trace.diverged_at >= 0)), "of": r.trace.R}
    return None


@dataclass
class Check:
    """Base of the check kinds. ``sweep`` names the runs it reads; ``where`` selects points; ``subs``
    maps a bound symbol to a step rule of the theorem (e.g. {"gamma": "tuned"}: the bound at the tuned
    step gamma(T)); ``bound`` overrides the theorem's bound; ``relation`` is a Relation (or its name) among
    the kind's ``relations``.

    A kind implements ``statistic(thm, runs)``. When a selected run diverged, a kind with
    ``diverged_fails`` FAILs without computing it (a slope or a ratio of diverged means says nothing);
    the others compute it on the data (a diverged mean is inf) and the note joins the evidence."""

    name: str
    sweep: str
    expected: str = PASS
    relation: Relation | str = Relation.UPPER
    description: str = ""
    where: Callable[[dict], bool] | None = None
    subs: Mapping[str, str] = field(default_factory=dict)
    bound: sp.Expr | None = None
    kind: ClassVar[str] = "check"
    relations: ClassVar[tuple[Relation, ...]] = tuple(Relation)
    diverged_fails: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if isinstance(self.relation, str) and self.relation in {r.value for r in Relation}:
            self.relation = Relation(self.relation)  # an invalid name is left for Theorem.validate to report

    def runs(self, results: Mapping[str, list[Run]]) -> list[Run]:
        if self.sweep not in results:
            raise InputError(f"check {self.name!r} reads sweep {self.sweep!r}, which is not declared")
        return [r for r in results[self.sweep] if self.where is None or self.where(r.point)]

    def the_bound(self, thm: Theorem) -> sp.Expr:
        expr = thm.bound if self.bound is None else self.bound
        return expr.subs({sp.Symbol(sym, positive=True): thm.steps[rule] for sym, rule in self.subs.items()})

    def declared_bound(self, thm: Theorem) -> sp.Expr:
        """``the_bound`` for a kind that has no default (the theorem's bound is not what it compares with)."""
        if self.bound is None:
            raise InputError(f"check {self.name!r} needs a declared `bound` expression")
        return self.the_bound(thm)

    def validate_relation(self, where: str = "") -> Relation:
        return relation_of(self.relation, where or f"check {self.name!r}", self.relations)

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        """Select the runs, INCONCLUSIVE without any, the divergence note, then the kind's statistic."""
        relation = self.validate_relation()
        runs = self.runs(results)
        if not runs:
            return Outcome(INCONCLUSIVE, "no runs selected", {}, relation=relation)
        div = divergence_note(runs)
        if div and self.diverged_fails:
            return Outcome(FAIL, f"diverged at step {div['step']} ({div['point']})", {"diverged": div}, relation=relation)
        out = self.statistic(thm, runs)
        out.relation = relation
        if div and "diverged" not in out.evidence:
            out.evidence["diverged"] = div
        if div and "diverged at step" not in out.summary:
            out.summary += f"; diverged at step {div['step']} ({div['replicas']}/{div['of']} replicas, {div['point']})"
        return out

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        """The kind's own statistic and verdict on the selected runs (at least one)."""
        raise NotImplementedError
