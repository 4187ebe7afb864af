"""How a run evolves (DESIGN.md, "Checks and the statistical method"; THEOREMS.md T3.1 P3).

* ``Converges``: the mean measure at the last checkpoint is below a declared threshold and no replica
  diverged (negative controls "compression without error feedback does not converge" and their
  error-feedback twins; EF-PowerSGD contracting at every tuned step).
* ``GeometricRate``: the fitted per-step factor of a measure that decays geometrically in t, against the
  per-step factor of the declared expression (d log(bound)/dT at the window's centre), two-sided with a
  relative tolerance on the log-factor (T3.1 P3: subspace-iteration rate (sigma_{r+1}/sigma_r)^{2t}).
  The fit is of the replica mean of log(measure), i.e. of the geometric mean: per replica the measure is
  c_r * q^t with a random prefactor c_r (the initial query's alignment) whose plain mean can be dominated
  by a few replicas with a nearly orthogonal start, while E log c_r is finite.

False-failure rate (issue 15): Converges, the probability that some run's upper limit crosses the
threshold were the true means the measured ones (Student t, Bonferroni as judged; a diverged replica is a
certain FAIL); power: the excess over the threshold (relative) FAILed with probability 0.99 at the
deciding run. GeometricRate: per run, the probability that the bootstrap interval of the log-factor is
not inside its relative band at the fitted value (normal, bootstrap sd plus the percentile endpoints'
Monte Carlo error), summed over the runs; power: the largest over runs of the relative deviation of the
log-factor FAILed with probability 0.99.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import sympy as sp

from ratecheck import fit
from ratecheck.checks.core import (
    FAIL,
    INCONCLUSIVE,
    Check,
    Outcome,
    Plot,
    Relation,
    band,
    band_power,
    combine,
    deterministic,
    judge,
    straddle_reason,
    t_power,
    tlimits,
)
from ratecheck.expr import evaluate

if TYPE_CHECKING:
    from ratecheck.theorem import Run, Theorem


@dataclass
class Converges(Check):
    """The mean of ``measure`` at the last checkpoint is at most the threshold ``bound`` (a sympy
    expression in the constants): PASS when the upper confidence limit is below it, FAIL when the lower
    limit is above it or a replica diverged, INCONCLUSIVE otherwise (Bonferroni over the selected runs).
    The evidence also gives the smallest value any replica reached over the whole run (against the
    certified ``floor`` when one is declared) and the fitted growth factor per step over the second half
    of the run (> 1: geometric divergence)."""

    measure: str = "subopt"
    floor: sp.Expr | None = None
    alpha: float = 1e-3
    kind: ClassVar[str] = "converges"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.UPPER,)

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        expr = self.the_bound(thm)
        rows, verdicts, comps, row_extra = [], [], [], []
        plot = Plot(self.name, "t", f"mean {self.measure}")
        for r in runs:
            X = r.trace.values[self.measure]
            mean, se = fit.mean_se(X[:, -1:])
            q = fit.t_quantile(self.alpha / len(runs), r.trace.R)
            thr = float(evaluate(expr, {**r.trace.constants, "T": r.trace.T}))
            lcb, ucb = float(mean[0] - q * se[0]), float(mean[0] + q * se[0])
            diverged = bool(np.any(r.trace.diverged_at >= 0))
            comps.append(deterministic(FAIL) if diverged else tlimits("upper", mean, se, thr, 0.0, q, r.trace.R, self.alpha / len(runs)))
            verdicts.append(FAIL if diverged else judge((lcb, ucb), thr, 0.0, Relation.UPPER))
            t = r.trace.t.astype(float)
            m_all = fit.mean_se(X)[0]
            finite = np.isfinite(m_all) & (m_all > 0) & (t >= t[-1] / 2)
            growth = float(np.exp(fit.ols_slope(t[finite], np.log(m_all[finite])))) if finite.sum() >= 2 else float("nan")
            row = {"point": r.label, "final_mean": float(mean[0]), "lcb": lcb, "ucb": ucb, "threshold": thr, "diverged": diverged,
                   "first_divergence": r.trace.first_divergence(), "growth_factor_per_step": growth,
                   "min_over_run": float(np.min(np.where(np.isfinite(X), X, np.inf)))}
            if self.floor is not None:
                row["certified_floor"] = float(evaluate(self.floor, r.trace.constants))
                row["min_over_run_at_or_above_floor"] = bool(row["min_over_run"] >= row["certified_floor"] * (1 - 1e-9))
            rows.append(row)
            row_extra.append((q, r.trace.R, float(se[0])))
            if len(plot.series) < 6:
                plot.add(r.label, t, m_all, "data")
        t_all = np.unique(np.concatenate([r.trace.t for r in runs]))
        plot.add("threshold", t_all, np.full(t_all.shape, rows[0]["threshold"]), "bound")
        if self.floor is not None:
            plot.add("certified floor", t_all, np.full(t_all.shape, rows[0]["certified_floor"]), "bound")
        parts = []
        for row in rows:
            text = f"{row['point']}: final mean {row['final_mean']:.3g} vs threshold {row['threshold']:.3g}"
            if row["diverged"]:
                text += f", diverged at step {row['first_divergence']}"
            if np.isfinite(row["growth_factor_per_step"]):
                text += f", growth/step {row['growth_factor_per_step']:.4g}"
            if "certified_floor" in row:
                text += f", min over run {row['min_over_run']:.4g} (floor {row['certified_floor']:.4g})"
            parts.append(text)
        with np.errstate(divide="ignore", invalid="ignore"):  # the deciding run: a diverged one, else the highest ucb/threshold
            key = max(rows, key=lambda x: (x["diverged"], np.nan_to_num(np.float64(x["ucb"]) / np.float64(x["threshold"]), nan=-np.inf)))
        out = Outcome(combine(verdicts), "; ".join(parts), {"runs": rows, "alpha": self.alpha}, plot,
                      measured=key["final_mean"], predicted=key["threshold"], interval=(key["lcb"], key["ucb"]), tolerance=0.0, relative=False)
        out.error_model = {"components": comps, "note": f"P(some of the {len(rows)} upper limits above the threshold) at the measured means"}
        q, R, se_k = row_extra[rows.index(key)]
        if not key["diverged"]:
            out.power, out.power_relative = t_power(q, R, se_k, key["threshold"]), True
        if out.observed == INCONCLUSIVE:
            j = next(j for j, v_ in enumerate(verdicts) if v_ == INCONCLUSIVE)
            out.reason = (f"at ({rows[j]['point']}) the interval [{rows[j]['lcb']:.4g}, {rows[j]['ucb']:.4g}] of the final mean holds the "
                          f"threshold {rows[j]['threshold']:.4g}")
        return out


@dataclass
class GeometricRate(Check):
    """The per-step factor of ``measure`` (fitted on the replica mean of its log over the window t >=
    ``t_min``, a number or an expression in the constants, where every replica stays above ``floor``)
    equals the bound's, exp(d log(bound)/dT) at the window's centre: PASS when the bootstrap interval of
    the fitted log-factor lies within a relative ``tol`` of the predicted one, FAIL when disjoint from that
    band, INCONCLUSIVE otherwise."""

    measure: str = "angle"
    t_min: sp.Expr | float = 1
    floor: float = 1e-10
    tol: float = 0.05
    relation: Relation | str = Relation.TIGHT
    confidence: float = 0.99
    kind: ClassVar[str] = "geometric rate"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.TIGHT,)
    diverged_fails: ClassVar[bool] = True

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        expr = self.declared_bound(thm)
        rows, verdicts, comps, reasons = [], [], [], []
        plot = Plot(self.name, "t", f"geometric mean of {self.measure}", logx=False)
        for r in runs:
            t = r.trace.t.astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                logX = np.log(np.abs(r.trace.values[self.measure]))
            gmean = np.exp(np.mean(logX, axis=0))
            t_min = float(evaluate(sp.sympify(self.t_min), r.trace.constants))
            window = (t >= t_min) & np.isfinite(gmean) & (np.min(np.exp(logX), axis=0) >= self.floor)
            if window.sum() < 3:
                verdicts.append(INCONCLUSIVE)
                rows.append({"point": r.label, "window_points": int(window.sum())})
                comps.append(deterministic(INCONCLUSIVE))
                reasons.append(f"at ({r.label}) only {int(window.sum())} checkpoints have t >= {t_min:g} and every replica above the floor "
                               f"{self.floor:g} (3 needed)")
                continue
            tw = t[window]
            centre = float(np.mean(tw))
            h = 0.5
            env = dict(r.trace.constants)
            hi_, lo_ = (float(evaluate(expr, {**env, "T": centre + s_})) for s_ in (h, -h))
            predicted = (math.log(hi_) - math.log(lo_)) / (2 * h) if hi_ > 0 and lo_ > 0 else math.nan
            ci = fit.bootstrap_statistic([logX[:, window]], lambda means, tw=tw: fit.ols_slope(tw, means[0]), self.confidence)
            v = judge((ci.low, ci.high), predicted, self.tol, Relation.TIGHT, relative=True)
            verdicts.append(v)
            if math.isfinite(predicted) and math.isfinite(ci.low) and math.isfinite(ci.high):
                comps.append(band(Relation.TIGHT, ci.estimate, ci.low, ci.high, predicted, self.tol, ci.se, r.trace.R, ci.n_resamples,
                                  self.confidence, relative=True))
            else:
                comps.append(deterministic(v))
            if v == INCONCLUSIVE:
                why = (straddle_reason((ci.low, ci.high), predicted, self.tol, Relation.TIGHT, relative=True) if math.isfinite(predicted)
                       else "no finite prediction: the declared expression is not positive at the window's centre")
                reasons.append(f"at ({r.label}) fitted log-factor {ci.estimate:.4f}: {why}")
            rows.append({"point": r.label, "observed": v, "fitted_factor": math.exp(ci.estimate), "predicted_factor": math.exp(predicted),
                         "fitted_log_factor": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "predicted_log_factor": predicted,
                         "window": [float(tw[0]), float(tw[-1])], "window_points": int(window.sum()), "t_min": t_min})
            if len(plot.series) < 8:
                plot.add(r.label, t, gmean, "data")
                c = float(np.mean(np.log(gmean[window])) - ci.estimate * centre)
                plot.add(f"fit: factor {math.exp(ci.estimate):.4f}, predicted {math.exp(predicted):.4f}", tw, np.exp(c + ci.estimate * tw), "fit")
        evidence = {"tol_relative": self.tol, "t_min": str(self.t_min), "floor": self.floor, "runs": rows}
        scored = [x for x in rows if "fitted_factor" in x]
        model = {"components": comps, "n_resamples": fit.N_RESAMPLES,
                 "note": "summed over the runs: P(some run's log-factor interval not inside its relative band) at the fitted factors",
                 "rescalable": all(c["form"] == "band" for c in comps), "rescale_note": "structural: a window or a prediction, not the replicas"}
        reason = "; ".join(reasons) or None
        if not scored:
            return Outcome(combine(verdicts), "no point with 3 checkpoints in the window", evidence, plot, tolerance=self.tol, relative=True,
                           reason=reason, error_model=model)
        worst = max(scored, key=lambda x: abs(x["fitted_log_factor"] / x["predicted_log_factor"] - 1) if x["predicted_log_factor"] else math.inf)
        summary = (f"worst: factor/step {worst['fitted_factor']:.4f} (log [{worst['ci_low']:.4f}, {worst['ci_high']:.4f}]) vs predicted "
                   f"{worst['predicted_factor']:.4f} (log {worst['predicted_log_factor']:.4f} +-{self.tol:.0%}) at ({worst['point']}); "
                   f"{len(rows)} points")
        out = Outcome(combine(verdicts), summary, evidence, plot, measured=worst["fitted_log_factor"],
                      predicted=worst["predicted_log_factor"] if math.isfinite(worst["predicted_log_factor"]) else None,
                      interval=(worst["ci_low"], worst["ci_high"]), tolerance=self.tol, relative=True, reason=reason, error_model=model)
        powers = [band_power(c) / abs(c["predicted"]) for c in comps if c["form"] == "band" and c["predicted"]]
        out.power, out.power_relative = (max(powers) if powers else None), True
        return out
