"""Check kinds for low-rank compression statements (THEOREMS.md T3.1; DESIGN.md "Checks and the statistical
method"), generic enough for any theorem that states an identity, a bound on an expectation, a geometric
rate or an observational contrast. (Identities to rounding and "ends below a threshold" are
ratecheck.checks.WithinRounding and ratecheck.checks.Converges.)

* ``MeanVersusBound``: the mean of a measure at the last checkpoint against a declared sympy expression in
  the constants. relation 'lower' (the claim: mean >= bound): FAIL when a one-sided upper confidence limit
  lies below the bound, PASS when every lower limit is above it (Bonferroni over the points);
  relation 'tight' (mean = bound): PASS when |mean - bound| <= z standard errors at every point, else
  FAIL (T3.1 P2: E captured energy >= r/m, = r/m on M = I).
* ``GeometricRate``: the fitted per-step factor of a measure that decays geometrically in t, against the
  per-step factor of the declared expression (d log(bound)/dT at the window's centre), two-sided with a
  relative tolerance on the log-factor (T3.1 P3: subspace-iteration rate (sigma_{r+1}/sigma_r)^{2t}).
  The fit is of the replica mean of log(measure), i.e. of the geometric mean: per replica the measure is
  c_r * q^t with a random prefactor c_r (the initial query's alignment) whose plain mean can be dominated
  by a few replicas with a nearly orthogonal start, while E log c_r is finite.
* ``Observation``: an observational contrast the catalog does not back by a theorem (T3.1 (f)). It
  computes and reports the numbers; it asserts nothing about their direction. PASS means only that the
  contrast was measured (every selected run finite, no divergence); a non-finite run gives INCONCLUSIVE.

Each check that predicts reads the declared sympy expression (``bound``, transformed by ratecheck.mutate
like every other bound), so a wrong declaration gives a wrong prediction and the check FAILs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ratecheck import fit
from ratecheck.theorem import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Check,
    Outcome,
    Plot,
    Run,
    Theorem,
    _divergence_note,
    evaluate,
)
from ratecheck.validate import InputError

__all__ = ["GeometricRate", "MeanVersusBound", "Observation"]


def _expr(check: Check, thm: Theorem) -> sp.Expr:
    if check.bound is None:
        raise InputError(f"check {check.name!r} needs a declared `bound` expression")
    return check.the_bound(thm)


@dataclass
class MeanVersusBound(Check):
    """The mean of ``measure`` at the last checkpoint against ``bound`` (module docstring). 'lower': the
    false-FAIL rate is ``alpha`` family-wise (Student t limits, Bonferroni over points); 'tight': z
    standard errors (plus ``rel_slack`` relative, for rounding where the measure is deterministic)."""

    measure: str = "captured"
    relation: str = "lower"
    alpha: float = 1e-3
    z: float = 6.0
    rel_slack: float = 1e-9
    kind: ClassVar[str] = "bound on a mean"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        if self.relation not in ("lower", "tight"):
            raise InputError(f"check {self.name!r}: relation must be 'lower' or 'tight', got {self.relation!r}")
        runs = self.runs(results)
        if not runs:
            return Outcome(INCONCLUSIVE, "no runs selected", {})
        expr = _expr(self, thm)
        rows, any_fail, all_pass = [], False, True
        plot = Plot(self.name, "point", f"mean {self.measure} / bound", logx=False, logy=False)
        for i, r in enumerate(runs):
            mean, se = (float(a[0]) for a in fit.mean_se(r.trace.values[self.measure][:, -1:]))
            b = float(evaluate(expr, {**r.trace.constants, "T": r.trace.T}))
            slack = self.rel_slack * abs(b)
            if self.relation == "lower":
                q = fit.t_quantile(self.alpha / len(runs), r.trace.R)
                lo, hi = mean - q * se, mean + q * se
                fail, ok = hi < b - slack, lo >= b - slack
            else:
                lo, hi = mean - self.z * se, mean + self.z * se
                ok = abs(mean - b) <= self.z * se + slack
                fail = not ok
            any_fail |= bool(fail)
            all_pass &= bool(ok)
            rows.append({"point": r.label, "mean": mean, "se": se, "bound": b, "ratio": mean / b if b else math.inf,
                         "z": (mean - b) / se if se > 0 else (0.0 if abs(mean - b) <= slack else math.copysign(math.inf, mean - b))})
            plot.add(r.label, [i], [mean / b], "data", [lo / b], [hi / b])
        plot.add("bound (ratio 1)", [0, len(runs) - 1], [1.0, 1.0], "bound")
        observed = FAIL if any_fail else PASS if all_pass else INCONCLUSIVE
        key = min(rows, key=lambda x: x["ratio"]) if self.relation == "lower" else max(rows, key=lambda x: abs(x["z"]))
        what = "min mean/bound" if self.relation == "lower" else "max |mean - bound|/se"
        value = key["ratio"] if self.relation == "lower" else abs(key["z"])
        summary = f"{what} = {value:.4g} at ({key['point']}): mean {key['mean']:.4g} +- {key['se']:.2g} vs bound {key['bound']:.4g}; {len(rows)} points"
        return Outcome(observed, summary, {"relation": self.relation, "alpha": self.alpha, "z": self.z, "runs": rows}, plot)


@dataclass
class GeometricRate(Check):
    """The per-step factor of ``measure`` (fitted on the replica mean of its log over the window t >=
    ``t_min``, a number or an expression in the constants, where every replica stays above ``floor``)
    equals the bound's, exp(d log(bound)/dT) at the window's centre: PASS when the bootstrap interval of the fitted log-factor lies within a relative
    ``tol`` of the predicted one, FAIL when disjoint from that band, INCONCLUSIVE otherwise."""

    measure: str = "angle"
    t_min: sp.Expr | float = 1
    floor: float = 1e-10
    tol: float = 0.05
    relation: str = "tight"
    confidence: float = 0.99
    kind: ClassVar[str] = "geometric rate"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        if not runs:
            return Outcome(INCONCLUSIVE, "no runs selected", {})
        div = _divergence_note(runs)
        if div:
            return Outcome(FAIL, f"diverged at step {div['step']} ({div['point']})", {"diverged": div})
        expr = _expr(self, thm)
        order = {FAIL: 0, INCONCLUSIVE: 1, PASS: 2}
        rows, verdicts = [], []
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
                continue
            tw = t[window]
            centre = float(np.mean(tw))
            h = 0.5
            env = dict(r.trace.constants)
            hi_, lo_ = (float(evaluate(expr, {**env, "T": centre + s_})) for s_ in (h, -h))
            predicted = (math.log(hi_) - math.log(lo_)) / (2 * h) if hi_ > 0 and lo_ > 0 else math.nan
            ci = fit.bootstrap_statistic([logX[:, window]], lambda means, tw=tw: fit.ols_slope(tw, means[0]), self.confidence)
            band = sorted((predicted * (1 - self.tol), predicted * (1 + self.tol)))
            if not (np.isfinite(ci.low) and np.isfinite(predicted)):
                v = INCONCLUSIVE
            elif band[0] <= ci.low and ci.high <= band[1]:
                v = PASS
            elif ci.high < band[0] or ci.low > band[1]:
                v = FAIL
            else:
                v = INCONCLUSIVE
            verdicts.append(v)
            rows.append({"point": r.label, "observed": v, "fitted_factor": math.exp(ci.estimate), "predicted_factor": math.exp(predicted),
                         "fitted_log_factor": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "predicted_log_factor": predicted,
                         "window": [float(tw[0]), float(tw[-1])], "window_points": int(window.sum()), "t_min": t_min})
            if len(plot.series) < 8:
                plot.add(r.label, t, gmean, "data")
                c = float(np.mean(np.log(gmean[window])) - ci.estimate * centre)
                plot.add(f"fit: factor {math.exp(ci.estimate):.4f}, predicted {math.exp(predicted):.4f}", tw, np.exp(c + ci.estimate * tw), "fit")
        observed = min(verdicts, key=lambda v: order[v])
        scored = [x for x in rows if "fitted_factor" in x]
        if scored:
            worst = max(scored, key=lambda x: abs(x["fitted_log_factor"] / x["predicted_log_factor"] - 1) if x["predicted_log_factor"] else math.inf)
            summary = (f"worst: factor/step {worst['fitted_factor']:.4f} (log [{worst['ci_low']:.4f}, {worst['ci_high']:.4f}]) vs predicted "
                       f"{worst['predicted_factor']:.4f} (log {worst['predicted_log_factor']:.4f} +-{self.tol:.0%}) at ({worst['point']}); "
                       f"{len(rows)} points")
        else:
            summary = "no point with 3 checkpoints in the window"
        return Outcome(observed, summary, {"tol_relative": self.tol, "t_min": str(self.t_min), "floor": self.floor, "runs": rows}, plot)


@dataclass
class Observation(Check):
    """An observational contrast (module docstring): ``observe(runs)`` returns (summary, evidence, plot);
    the verdict is PASS when every selected run is finite, INCONCLUSIVE otherwise. Nothing about the
    direction of the contrast is asserted; the summary says what was seen."""

    observe: Callable[[Sequence[Run]], tuple[str, dict[str, Any], Plot | None]] | None = None
    relation: str = "observed"
    kind: ClassVar[str] = "observation"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        if not runs or self.observe is None:
            return Outcome(INCONCLUSIVE, "no runs selected or nothing to observe", {})
        finite = all(r.trace.first_divergence() is None and all(np.all(np.isfinite(v)) for k, v in r.trace.values.items()
                                                               if not k.startswith("tail_")) for r in runs)
        summary, evidence, plot = self.observe(runs)
        observed = PASS if finite else INCONCLUSIVE
        return Outcome(observed, "observation (not asserted): " + summary, {"all_runs_finite": finite, **evidence}, plot)
