"""Exact statements (DESIGN.md, "Checks and the statistical method": exact cross-check).

* ``MeanEquals``: an identity in expectation, the mean of a measure equals an exact formula (e.g. a growth
  factor) to within z standard errors.
* ``WithinRounding``: an exact identity, recorded per replica as a relative discrepancy (or a per-sample
  inequality as its positive part), holds to floating-point accuracy at every checkpoint (the
  virtual-sequence identity of EF-SGD; PowerSGD's all-reduce linearity, T3.1 P1).

Relation exact: PASS or FAIL, no inconclusive zone.

False-failure rate (issue 15): MeanEquals, the plug-in probability that some checkpoint's |z| exceeds
the threshold were the z-scores N(z_i, 1) at the measured ones, sum of P(|N(z_i, 1)| > z) (under the exact
identity itself, z_i = 0: 2 Phi(-z) per checkpoint); power: the smallest deviation of the mean FAILed
with probability 0.99, (z + z_0.99) se relative to the exact value at the worst checkpoint.
WithinRounding: deterministic, false_fail 0 (a PASS repeats with certainty); power: the tolerance.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ratecheck import fit
from ratecheck.checks.core import Z99, Check, Outcome, Plot, Relation, combine, deterministic, judge, zscores

if TYPE_CHECKING:
    from ratecheck.theorem import Run, Theorem


@dataclass
class MeanEquals(Check):
    """Exact identity in expectation: the mean of ``measure`` at checkpoints t <= ``t_max`` equals
    ``predicted(constants, t)`` to within ``z`` standard errors (plus 1e-9 relative for rounding): the
    interval mean +- z se must contain it at every checkpoint. With ``geometric``, the evidence also
    reports the fitted growth factor per step against the predicted one."""

    measure: str = "dist2"
    predicted: Callable[[Mapping[str, float], np.ndarray], np.ndarray] = lambda c, t: np.zeros_like(t)
    t_max: int = 10
    z: float = 6.0
    geometric: bool = False
    relation: Relation | str = Relation.EXACT
    kind: ClassVar[str] = "exact"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.EXACT,)

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        worst, head, verdicts, evidence_runs, scores, R = 0.0, None, [], [], [], 0
        plot = Plot(self.name, "t", self.measure, logx=False)
        for r in runs:
            sel = r.trace.t <= self.t_max
            t = r.trace.t[sel]
            mean, se = fit.mean_se(r.trace.values[self.measure][:, sel])
            exact = np.asarray(self.predicted(r.trace.constants, t), dtype=np.float64)
            se_eff = np.maximum(se, 1e-9 * np.abs(exact) + 1e-300)
            with np.errstate(divide="ignore", invalid="ignore"):
                zscore = np.abs(mean - exact) / se_eff
                scores.append((mean - exact) / se_eff)
            R = max(R, r.trace.R)
            half = self.z * se_eff
            verdicts += [judge((m - h, m + h), e, 0.0, Relation.EXACT) for m, h, e in zip(mean, half, exact)]
            i = int(np.nanargmax(zscore)) if np.any(np.isfinite(zscore)) else 0
            if head is None or zscore[i] > worst:
                head = (mean[i], exact[i], mean[i] - half[i], mean[i] + half[i], se_eff[i])
            worst = max(worst, float(np.nanmax(zscore)))
            ev: dict[str, Any] = {"point": r.label, "max_abs_z": float(np.nanmax(zscore)), "R": r.trace.R}
            if self.geometric:
                ev["growth_factor_fitted"] = float(np.exp(fit.ols_slope(t.astype(float), np.log(mean))))
                ev["growth_factor_predicted"] = float(np.exp(fit.ols_slope(t.astype(float), np.log(exact))))
            evidence_runs.append(ev)
            with np.errstate(invalid="ignore", over="ignore"):
                plot.add(f"mean +- {self.z:g} se ({r.label})", t, mean, "data", mean - self.z * se, mean + self.z * se)
            plot.add("exact", t, exact, "bound")
        summary = f"max |mean - exact| / se = {worst:.2f} (threshold {self.z:g})"
        if self.geometric:
            e = evidence_runs[0]
            summary += f"; growth factor {e['growth_factor_fitted']:.4f} vs exact {e['growth_factor_predicted']:.4f}"
        out = Outcome(combine(verdicts), summary, {"z_threshold": self.z, "runs": evidence_runs}, plot, tolerance=0.0, relative=False)
        n = sum(np.size(x) for x in scores)
        out.error_model = {"components": [zscores(np.concatenate([np.ravel(x) for x in scores]) if scores else [], self.z, R)],
                           "rescalable": False, "rescale_note": "a z threshold: more replicas do not lower it (raise z)",
                           "note": f"plug-in P(some |z| > {self.z:g}) over {n} checkpoints, z-scores N(z_i, 1) at the measured ones; "
                                   f"under the identity itself {n} x 2 Phi(-{self.z:g})"}
        if head is not None:
            out.measured, out.predicted, out.interval = head[0], head[1], (head[2], head[3])
            if head[1]:
                out.power, out.power_relative = float((self.z + Z99) * head[4] / abs(head[1])), True
        return out

    def claim_text(self, thm: Theorem) -> str | None:
        doc = inspect.getdoc(self.predicted)
        name = getattr(self.predicted, "__name__", "predicted")
        return f"{name}(constants, t): " + (doc.strip().splitlines()[0] if doc else "(a Python function without a docstring)")


@dataclass
class WithinRounding(Check):
    """max over replicas and checkpoints of ``measure`` (a relative discrepancy, >= 0) is at most ``tol``:
    PASS, else FAIL. Deterministic: no interval. ``tol`` is a multiple of the unit roundoff large enough
    for the accumulation over T steps (the default 1e-9 allows ~1e7 roundings of relative size 1e-16)."""

    measure: str = "virt_gap"
    tol: float = 1e-9
    relation: Relation | str = Relation.EXACT
    kind: ClassVar[str] = "exact identity"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.EXACT,)

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        worst, where, rows = -np.inf, None, []
        by_point = all(r.trace.t.size == 1 for r in runs)  # one checkpoint per run: plot against the point
        plot = Plot(self.name, "point" if by_point else "t", f"max over replicas of {self.measure}", logx=not by_point)
        for i, r in enumerate(runs):
            X = r.trace.values[self.measure]
            per_t = np.max(np.where(np.isfinite(X), X, np.inf), axis=0)
            m = float(per_t.max())
            rows.append({"point": r.label, "max": m, "median": float(np.median(X))})
            if m > worst:
                worst, where = m, {"point": r.label, "t": int(r.trace.t[int(np.argmax(per_t))])}
            if by_point:
                plot.add(r.label, [i], [max(m, 1e-300)], "data")
            elif len(plot.series) < 6:
                plot.add(r.label, r.trace.t, np.maximum(per_t, 1e-20), "data")
        xs = [0, len(runs) - 1] if by_point else np.unique(np.concatenate([r.trace.t for r in runs]))
        plot.add(f"tolerance {self.tol:g}", xs, np.full(len(xs), self.tol), "bound")
        summary = (f"max {self.measure} = {worst:.3g} (tolerance {self.tol:g}) at {where['point']}, t={where['t']}; "
                   f"{len(runs)} points")
        observed = judge((worst, worst), 0.0, self.tol, Relation.EXACT)
        return Outcome(observed, summary, {"max": worst, "where": where, "tol": self.tol, "runs": rows}, plot,
                       measured=worst, predicted=0.0, interval=(worst, worst), tolerance=self.tol, relative=False,
                       power=self.tol, power_relative=False,
                       error_model={"components": [deterministic(observed)], "rescalable": False,
                                    "rescale_note": "deterministic: the discrepancy is rounding, not sampling",
                                    "note": "deterministic: the verdict repeats with certainty"})

    def claim_text(self, thm: Theorem) -> str | None:
        return f"max {self.measure} <= {self.tol:g} (an identity to rounding)"
