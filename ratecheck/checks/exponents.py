"""Exponents (DESIGN.md, "Checks and the statistical method": exponent; fit against the bound's own variable).

* ``Exponent``: the log-log slope of a measure against a variable, over the window where the bound's own
  local slope is within ``window_tol`` of its leading exponent, against that exponent.
* ``HittingExponent``: the log-log slope of the iterations needed to reach epsilon against a variable,
  against the slope of the bound's own hitting times (solving bound(T) = epsilon).

Both: 99 % percentile bootstrap over replicas (scipy.stats.bootstrap); relation tight (the interval inside
predicted +- tol, FAIL if disjoint), upper (decays at least as fast / grows at most as fast: the interval
below predicted + tol, FAIL if above) or lower; INCONCLUSIVE with fewer than 3 points in the window.

False-failure rate (issue 15): the probability that the fitted slope's interval is not inside the band
(tight; one side for upper / lower) were the true slope the one fitted here, the slope normal with the
bootstrap distribution's standard deviation (plus the percentile endpoints' Monte Carlo error at
n_resamples = fit.N_RESAMPLES) and the interval's measured half-widths; with several runs (trajectory
mode), summed over the runs. Power: the smallest slope deviation FAILed with probability 0.99, tol +
half-width + z_0.99 se (absolute, in exponent units). Too few window points: certainly not PASS
(false_fail 1), structural (more replicas do not help).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import sympy as sp

from ratecheck import fit
from ratecheck.checks.core import (
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
)
from ratecheck.expr import evaluate, expression, hitting_time, limiting_exponent, local_slope
from ratecheck.validate import InputError

if TYPE_CHECKING:
    from ratecheck.theorem import Run, Theorem

NO_INTERVAL = fit.Interval(np.nan, np.nan, np.nan)


@dataclass
class _Slope(Check):
    """What both exponent kinds share: the variable, the measure, the tolerance and the verdict."""

    variable: str = "T"
    measure: str = "avg_subopt"
    regime: str = "large"
    tol: float = 0.1
    confidence: float = 0.99
    kind: ClassVar[str] = "exponent"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.TIGHT, Relation.UPPER, Relation.LOWER)
    diverged_fails: ClassVar[bool] = True

    def _report(self, predicted: float, ci: fit.Interval, v: np.ndarray, window: np.ndarray, extra: dict, R: int = 0,
                why: str | None = None) -> Outcome:
        relation = Relation(self.relation)
        enough = window.sum() >= 3 and np.isfinite(predicted)
        observed = judge((ci.low, ci.high), predicted, self.tol, relation) if enough else INCONCLUSIVE
        evidence = {
            "predicted": predicted, "fitted": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
            "confidence": self.confidence, "tol": self.tol,
            "window": [float(f"{v[window].min():.4g}"), float(f"{v[window].max():.4g}")] if window.any() else None,
            "window_points": int(window.sum()), **extra,
        }
        side = {Relation.TIGHT: "+-", Relation.UPPER: "<= +", Relation.LOWER: ">= -"}[relation]
        shown = f"{predicted:.3g}" if np.isfinite(predicted) else "none (no finite prediction)"
        summary = (f"slope {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}] vs predicted {shown} "
                   f"({side}{self.tol}) over {self.variable} in {evidence['window']}")
        reason = None
        toward = "infinity" if self.regime == "large" else "0"
        if not np.isfinite(predicted):
            reason = why or f"no finite prediction: the bound is 0 or infinite as {self.variable} -> {toward}, so it claims no exponent"
            summary = f"the bound is 0 or infinite as {self.variable} -> {toward}: no exponent to test; " + summary
        elif window.sum() < 3:
            reason = why or f"only {int(window.sum())} points where the predicted term dominates (3 needed)"
            summary = f"only {int(window.sum())} points where the predicted term dominates; " + summary
        elif observed == INCONCLUSIVE:
            reason = straddle_reason((ci.low, ci.high), predicted, self.tol, relation, fmt=".3f")
            reason = f"fitted slope {ci.estimate:.3f}: " + reason if reason else None
        out = Outcome(observed, summary, evidence, measured=ci.estimate, predicted=float(predicted) if np.isfinite(predicted) else None,
                      interval=(ci.low, ci.high), tolerance=self.tol, relative=False, reason=reason)
        if enough and np.isfinite(ci.low) and np.isfinite(ci.high):
            c = band(relation, ci.estimate, ci.low, ci.high, predicted, self.tol, ci.se, R, ci.n_resamples, self.confidence)
            out.error_model = {"components": [c], "n_resamples": ci.n_resamples,
                               "note": "P(interval of the slope not inside the band) at the fitted slope"}
            out.power, out.power_relative = band_power(c), False
        else:
            out.error_model = {"components": [deterministic(observed)], "rescalable": False,
                               "rescale_note": "structural: the window or the prediction, not the replicas",
                               "note": "no slope interval to judge: certainly not PASS"}
        return out

@dataclass
class Exponent(_Slope):
    """The fitted log-log slope of the measure against ``variable`` matches the exponent the bound
    predicts in its leading regime (``regime`` 'large': variable -> infinity, 'small': -> 0).

    mode 'trajectory': v = the checkpoints of each selected run (variable must be T);
    mode 'final': v = the variable at each selected point, measure at the run's last checkpoint;
    with ``at_T`` (mode 'final'), the bound is evaluated at that horizon instead of the run's own (at_T =
        inf: the stationary limit, for floors measured by a tail average).
    The fit uses the window where the bound's local slope is within ``window_tol`` of the predicted
    exponent and T >= ``T_min`` (an expression in the constants)."""

    mode: str = "trajectory"
    window_tol: float = 0.05
    T_min: sp.Expr | float = 1
    at_T: float | None = None

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        expr = self.the_bound(thm)
        if self.mode == "trajectory":
            outcomes = [self._trajectory(expr, r) for r in runs]
            observed = combine(o.observed for o in outcomes)
            worst = next(o for o in outcomes if o.observed == observed)
            if len(outcomes) > 1:
                worst.evidence = {"runs": [o.evidence for o in outcomes]}
                worst.error_model = {"components": [c for o in outcomes for c in o.error_model["components"]],
                                     "note": "summed over the runs: P(some run's slope interval not inside the band)",
                                     "rescalable": all(o.error_model.get("rescalable", True) for o in outcomes),
                                     "rescale_note": next((o.error_model["rescale_note"] for o in outcomes if "rescale_note" in o.error_model), None)}
                powers = [o.power for o in outcomes if o.power is not None]
                worst.power = max(powers) if powers else None
                if worst.observed == INCONCLUSIVE and worst.reason:
                    worst.reason = f"at {worst.evidence['runs'][outcomes.index(worst)].get('point')}: {worst.reason}"
            return worst
        if self.mode == "final":
            return self._final(expr, runs)
        raise InputError(f"check {self.name!r}: mode={self.mode!r}; Exponent has modes 'trajectory' and 'final' "
                         "(iterations to epsilon: HittingExponent)")

    def _trajectory(self, expr: sp.Expr, r: Run) -> Outcome:
        env = r.trace.constants
        t = r.trace.t.astype(np.float64)
        predicted = limiting_exponent(expr, "T", env, self.regime, float(t[-1] if self.regime == "large" else t[0]))
        slope_b = local_slope(expr, "T", env, t)
        window = (np.abs(slope_b - predicted) <= self.window_tol) & (t >= float(evaluate(expression(self.T_min), env)))
        if window.sum() > 64:  # thin a dense trajectory to 64 log-spaced checkpoints (the fit needs no more)
            idx = np.flatnonzero(window)
            keep = np.unique(np.round(np.geomspace(1, idx.size, 64)).astype(int) - 1)
            window = np.zeros_like(window)
            window[idx[keep]] = True
        X = r.trace.values[self.measure][:, window]
        ci = fit.loglog_slope(t[window], [X], confidence=self.confidence) if window.sum() >= 3 else NO_INTERVAL
        why = _window_reason(self, predicted, slope_b, t, t >= float(evaluate(expression(self.T_min), env)), window)
        out = self._report(predicted, ci, t, window, {"point": r.label}, r.trace.R, why)
        mean, se = fit.mean_se(r.trace.values[self.measure])
        b = np.broadcast_to(evaluate(expr, {**env, "T": t}), t.shape)
        out.plot = _slope_plot(self, t, mean, se, b, window, ci, predicted, r.label)
        return out

    def _final(self, expr: sp.Expr, runs: list[Run]) -> Outcome:
        v, runs, envs = _by_variable(self, runs)
        b = np.array([float(evaluate(expr, e)) for e in envs])
        var = str(self.variable)
        predicted = limiting_exponent(expr, var, envs[-1 if self.regime == "large" else 0], self.regime, float(v[-1] if self.regime == "large" else v[0]))
        slope_b = np.array([float(local_slope(expr, var, e, np.array([e[var]]))[0]) for e in envs])
        tmin = np.array([float(evaluate(expression(self.T_min), e)) for e in envs])
        window = (np.abs(slope_b - predicted) <= self.window_tol) & (np.array([e["T"] for e in envs]) >= tmin)
        groups = [r.trace.values[self.measure][:, -1:] for r, w in zip(runs, window) if w]
        ci = fit.loglog_slope(v[window], groups, confidence=self.confidence) if window.sum() >= 3 else NO_INTERVAL
        why = _window_reason(self, predicted, slope_b, v, np.array([e["T"] for e in envs]) >= tmin, window)
        out = self._report(predicted, ci, v, window, {}, max(r.trace.R for r in runs), why)
        stats = [fit.mean_se(r.trace.values[self.measure][:, -1:]) for r in runs]
        mean = np.array([m[0] for m, _ in stats])
        se = np.array([s_[0] for _, s_ in stats])
        out.plot = _slope_plot(self, v, mean, se, b, window, ci, predicted, "final value per point")
        return out


@dataclass
class HittingExponent(_Slope):
    """The iterations until the mean measure first reaches ``epsilon`` (an expression in the constants)
    grow like a power of ``variable`` across the selected points; predicted: the log-log slope of the
    bound's own hitting times (bound(T) = epsilon solved in T), rounded to a multiple of 1/24 when within
    1e-3 of one."""

    epsilon: sp.Expr | None = None
    kind: ClassVar[str] = "exponent (hitting time)"

    def claim_text(self, thm: Theorem) -> str | None:
        return f"T solving {self.the_bound(thm)} = {self.epsilon}"

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        if self.epsilon is None:
            raise InputError(f"check {self.name!r} needs `epsilon`, the level whose hitting time is measured")
        expr = self.the_bound(thm)
        v, runs, envs = _by_variable(self, runs)
        eps = [float(evaluate(self.epsilon, e)) for e in envs]
        T_bound = np.array([hitting_time(expr, e, x) for e, x in zip(envs, eps)])
        window = np.isfinite(T_bound)
        if window.sum() < 3:
            return self._report(np.nan, NO_INTERVAL, v, window, {"bound_hitting_times": T_bound}, 0,
                                f"no finite prediction: the bound reaches epsilon at only {int(window.sum())} of {v.size} points "
                                "(its hitting time is infinite elsewhere; 3 needed for a slope)")
        predicted = float(fit.ols_slope(np.log(v[window]), np.log(T_bound[window])))
        q = round(predicted * 24) / 24
        predicted = q if abs(predicted - q) < 1e-3 else predicted
        # only the columns near the crossing are resampled: a resampled mean curve stays within a few
        # standard errors of the full-data one, far inside the band of 8 relative standard errors kept here
        groups, ts = [], []
        for r, x in zip(runs, eps):
            X = r.trace.values[self.measure]
            m, se = fit.mean_se(X)
            i = int(np.argmax(m <= x))
            band = 1.0 + max(0.02, 8 * float(se[i] / m[i]) if m[i] > 0 else 0.02)
            near = np.flatnonzero((m <= band * x) & (m >= x / band))
            cols = np.arange(X.shape[1]) if near.size == 0 else np.arange(max(near[0] - 1, 0), min(near[-1] + 2, X.shape[1]))
            groups.append(X[:, cols])
            ts.append(r.trace.t[cols].astype(np.float64))

        def hitting(means: list[np.ndarray]) -> np.ndarray:
            out = []
            for m, t, x in zip(means, ts, eps):
                hit = m <= x
                idx = np.argmax(hit, axis=0)
                out.append(np.where(np.any(hit, axis=0), t[idx], np.nan))
            return np.stack(out, axis=0)

        measured = hitting([fit.mean_se(g)[0] for g in groups])
        ci = fit.loglog_slope(v, groups, reduce=hitting, confidence=self.confidence) if np.all(np.isfinite(measured)) else NO_INTERVAL
        why = None
        if not np.all(np.isfinite(measured)):
            missing = [f"{float(x):.4g}" for x, m_ in zip(v, measured) if not np.isfinite(m_)]
            why = f"the mean {self.measure} never reaches epsilon within the run at {self.variable} = {', '.join(missing)}: no hitting time to fit"
        out = self._report(predicted, ci, v, window, {"epsilon": eps, "measured_hitting": measured, "bound_hitting": T_bound},
                           max(r.trace.R for r in runs), why)
        plot = Plot(self.name, str(self.variable), f"steps until mean {self.measure} <= epsilon")
        plot.add("measured", v, measured, "data")
        plot.add("bound's hitting time", v, T_bound, "bound")
        if np.isfinite(ci.estimate):
            c = np.mean(np.log(measured)) - ci.estimate * np.mean(np.log(v))
            plot.add(f"fit: slope {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}]", v, np.exp(c) * v**ci.estimate, "fit")
        out.plot = plot
        return out


def _window_reason(check: _Slope, predicted: float, slope_b: np.ndarray, v: np.ndarray, past_min: np.ndarray,
                   window: np.ndarray) -> str | None:
    """Why the fit window holds fewer than 3 points, from the bound's own local slope (None otherwise)."""
    if window.sum() >= 3 or not np.isfinite(predicted):
        return None
    var = str(check.variable)
    close = np.abs(slope_b - predicted) <= check.window_tol
    vmax = f"{float(np.max(v)):.4g}"
    if not close.any():
        finite = slope_b[np.isfinite(slope_b)]
        got = f" (its local slope runs from {finite.min():.3g} to {finite.max():.3g})" if finite.size else ""
        span = f"{var} <= {vmax}" if check.regime == "large" else f"{var} >= {float(np.min(v)):.4g}"
        return (f"the bound's own local slope never reaches its leading exponent {predicted:.4g} (within {check.window_tol}) for "
                f"{span}{got}; the window holds 0 points")
    if close.sum() < 3:
        return (f"the bound's own local slope is within {check.window_tol} of its leading exponent {predicted:.4g} at only "
                f"{int(close.sum())} of the {v.size} points ({var} <= {vmax}); the window holds {int(window.sum())} point"
                f"{'s' if window.sum() != 1 else ''}")
    return (f"only {int(window.sum())} of the {v.size} points are in the window: the local slope is close at {int(close.sum())}, "
            f"T >= T_min = {check.T_min} holds at {int(past_min.sum())}")


def _by_variable(check: _Slope, runs: list[Run]) -> tuple[np.ndarray, list[Run], list[dict[str, Any]]]:
    """The variable at each run (its horizon T, or ``at_T``), with the runs and their constants sorted by it."""
    at_T = getattr(check, "at_T", None)
    envs = [{**r.trace.constants, "T": r.trace.T if at_T is None else min(at_T, 1e30)} for r in runs]
    v = np.array([float(evaluate(expression(check.variable), e)) for e in envs])
    order = np.argsort(v)
    return v[order], [runs[i] for i in order], [envs[i] for i in order]


def _slope_plot(check: _Slope, v, mean, se, b, window, ci, predicted, label) -> Plot:
    plot = Plot(check.name, str(check.variable), check.measure)
    q = 3.0
    plot.add(f"mean +- {q:g} se ({label})", v, mean, "data", mean - q * se, mean + q * se)
    b = np.broadcast_to(np.asarray(b, dtype=float), np.shape(v))
    plot.add("bound", v, b, "bound")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_gap = np.log(mean) - np.log(b)
    use = np.asarray(window, bool) & np.isfinite(log_gap)
    if np.any(log_gap[np.isfinite(log_gap)] > 0) and use.any():
        # the data lie above the bound somewhere (an O-form, or a wrong bound): an exponent check tests the
        # bound's shape, so also draw that shape through the data in the fit window
        c = float(np.exp(np.mean(log_gap[use])))
        plot.add(f"bound's shape x {c:.3g}, through the data", v, c * b, "shape")
    if window.sum() >= 2 and np.isfinite(ci.estimate):
        vw = v[window]
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.mean(np.log(mean[window])) - ci.estimate * np.mean(np.log(vw))
        shown = f"predicted {predicted:.3g}" if np.isfinite(predicted) else "no finite prediction"
        plot.add(f"fit: slope {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}], {shown}", vw, np.exp(c) * vw**ci.estimate, "fit")
    return plot
