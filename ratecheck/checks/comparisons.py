"""Comparisons of two methods (DESIGN.md, "Checks and the statistical method": comparison).

* ``Ratio``: the ratio of measured means between paired points (numerator / denominator, matched on
  ``pair_by``), optionally extrapolated linearly in a point key to 0, against the ratio the theorem's bound
  predicts as T -> infinity.
* ``BoundRatio``: the same, numerator and denominator predicted by two different bounds (two theorems
  compared, e.g. EF-SGD against QSGD), with constants that must agree within each pair (the bits per step).

Bootstrap of the ratio of means over replicas; relation tight: PASS when the interval lies within a
relative ``tol`` of the prediction, FAIL when disjoint; upper (the numerator beats the denominator by at
least the predicted factor): PASS when the interval lies below prediction (1 + tol), FAIL when above it.

False-failure rate (issue 15): the probability that the bootstrap interval of the ratio (extrapolated,
where declared) is not inside the relative band (tight; below its upper edge for upper) were the true
ratio the estimate here: the estimate normal with the bootstrap distribution's standard deviation plus
the percentile endpoints' Monte Carlo error (n_resamples = fit.N_RESAMPLES), the interval's measured
half-widths. It covers the estimator's spread, not its bias: an extrapolation whose bias is not bounded
is not accounted for. Power: the smallest relative deviation of the ratio FAILed with probability 0.99.
A prediction whose limit does not exist (the bounds' ratio still moving by > 0.1 % between T = 1e24 and 1e30, or
not finite) is no prediction: INCONCLUSIVE, predicted null, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import sympy as sp
from scipy import optimize as opt

from ratecheck import fit
from ratecheck.checks.core import (
    INCONCLUSIVE,
    Check,
    Outcome,
    Plot,
    Relation,
    band,
    band_power,
    judge,
    straddle_reason,
)
from ratecheck.expr import evaluate
from ratecheck.validate import InputError

if TYPE_CHECKING:
    from ratecheck.theorem import Run, Theorem


@dataclass
class Ratio(Check):
    """A ratio of measured means between paired points (module docstring). ``numerator`` and
    ``denominator`` select the points of each side; ``pair_by`` (a point key) matches them; with
    ``extrapolate`` (a point key) the ratios are extrapolated linearly in it to 0, by weighted least
    squares (``gls``: inverse-variance weights fixed from each pair's delta-method standard error, so the
    noisy short horizons count less). ``bias_allowance`` (relative) is the declared bound on the bias of
    that first-order extrapolation, calibrated on untuned seeds (|measured bias| + 3 se): it enters the
    false-failure rate, the replicas needed and the power, never the PASS band."""

    measure: str = "tail_subopt"
    numerator: Callable[[dict], bool] = lambda p: True
    denominator: Callable[[dict], bool] = lambda p: False
    pair_by: str = "T"
    extrapolate: str | None = None
    tol: float = 0.05
    bias_allowance: float = 0.0
    gls: bool = True
    confidence: float = 0.99
    kind: ClassVar[str] = "comparison"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.TIGHT, Relation.UPPER)
    diverged_fails: ClassVar[bool] = True

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        num = {r.point[self.pair_by]: r for r in runs if self.numerator(r.point)}
        den = {r.point[self.pair_by]: r for r in runs if self.denominator(r.point)}
        n_num, n_den = sum(map(self.numerator, (r.point for r in runs))), sum(map(self.denominator, (r.point for r in runs)))
        if n_num != len(num) or n_den != len(den):
            raise InputError(f"check {self.name!r}: several runs share a value of {self.pair_by!r}; narrow them with `where`")
        keys = sorted(set(num) & set(den))
        if not keys:
            return Outcome(INCONCLUSIVE, "no matched numerator/denominator pairs", {},
                           reason=f"no value of {self.pair_by!r} has both a numerator and a denominator run")
        problem = self.pair_problem(num, den, keys)
        if problem:
            return Outcome(INCONCLUSIVE, problem, {}, reason=problem)
        predicted = self.predicted(thm, num, den, keys)
        no_limit = self._no_limit(thm, num, den, keys, predicted)
        x = np.array([float(num[k_].point[self.extrapolate]) for k_ in keys]) if self.extrapolate else None
        groups = [g for k_ in keys for g in (num[k_].trace.values[self.measure][:, -1:], den[k_].trace.values[self.measure][:, -1:])]

        def ratios(means: list[np.ndarray]) -> np.ndarray:
            return np.stack([means[2 * i][0] / means[2 * i + 1][0] for i in range(len(keys))], axis=0)

        weights = self._intercept_weights(groups, x) if x is not None and len(keys) >= 2 else None

        def statistic(means: list[np.ndarray]) -> np.ndarray:
            rho = ratios(means)
            if weights is None:
                return rho.mean(axis=0)
            return np.tensordot(weights, rho, axes=(0, 0))  # the fitted line's intercept at x = 0

        ci = fit.bootstrap_statistic(groups, statistic, self.confidence)
        target = float(np.mean(predicted))
        if weights is not None and np.ptp(predicted) > 1e-9 * abs(target):
            target = float(weights @ predicted)  # the same fit of the predicted ratios
        observed = judge((ci.low, ci.high), target, self.tol, Relation(self.relation), relative=True)
        if no_limit:
            observed = INCONCLUSIVE
        measured = ratios([fit.mean_se(g)[0] for g in groups])
        evidence = {"predicted": None if no_limit else target, "estimate": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
                    "tol_relative": self.tol, "pairs": {str(k_): float(m) for k_, m in zip(keys, measured)}, "extrapolated_in": self.extrapolate}
        shown = "none (no finite prediction)" if no_limit else f"{target:.4g}"
        what = "extrapolated ratio" if x is not None and len(keys) >= 2 else "ratio"
        summary = f"{what} {ci.estimate:.4g} [{ci.low:.4g}, {ci.high:.4g}] vs predicted {shown} (+-{self.tol:.0%})"
        more, note = self.pair_notes(num, keys)
        evidence.update(more)
        summary += note
        plot = Plot(self.name, self.extrapolate or self.pair_by, f"ratio of {self.measure}", logx=False, logy=False)
        xs = x if x is not None else np.arange(len(keys), dtype=float)
        plot.add("measured ratio", xs, measured, "data")
        if no_limit:
            plot.title += " (no finite prediction)"
        else:
            plot.add("predicted by the bound", xs, predicted, "bound")
        if x is not None:
            plot.add(f"extrapolated to 0: {ci.estimate:.4g} [{ci.low:.4g}, {ci.high:.4g}]", [0.0, 0.0], [ci.low, ci.high], "fit")
        out = Outcome(observed, summary, evidence, plot, measured=ci.estimate, predicted=None if no_limit else target,
                      interval=(ci.low, ci.high), tolerance=self.tol, relative=True)
        R = max(g.shape[0] for g in groups)
        if no_limit:
            out.reason = no_limit
        elif np.isfinite(ci.low) and np.isfinite(ci.high) and target:
            B = self.bias_allowance
            c = band(Relation(self.relation), ci.estimate, ci.low, ci.high, target, self.tol - B, ci.se, R, ci.n_resamples,
                     self.confidence, relative=True)
            widest = band(Relation(self.relation), ci.estimate, ci.low, ci.high, target, self.tol + B, ci.se, R, ci.n_resamples,
                          self.confidence, relative=True)
            out.error_model = {"components": [c], "n_resamples": ci.n_resamples, "bias_allowance": B,
                               "note": ("P(interval of the ratio not inside the relative band) at the estimated ratio, the band narrowed by "
                                        f"the declared bias allowance {B:.1%} on both sides (conservative)")}
            out.power, out.power_relative = band_power(widest) / abs(target), True
            if observed == INCONCLUSIVE:
                src = (f" (extrapolated linearly in {self.extrapolate} to 0 from pairs " + ", ".join(f"{m:.4g}" for m in measured) + ")"
                       if x is not None and len(keys) >= 2 else "")
                out.reason = f"{what} {ci.estimate:.4g}{src}: " + (straddle_reason((ci.low, ci.high), target, self.tol, Relation(self.relation),
                                                                                     relative=True) or "")
        else:
            out.reason = "no interval: the ratio of means is not finite on these data" if observed == INCONCLUSIVE else None
        return out

    def _intercept_weights(self, groups: list[np.ndarray], x: np.ndarray) -> np.ndarray:
        """w with intercept = w @ rho for the (weighted) least-squares line through the pairs' ratios rho(x):
        weights 1/se_i^2 from the delta method, se_i^2 = rho_i^2 (se_a^2/a^2 + se_b^2/b^2), or equal weights."""
        X = np.stack([np.ones_like(x), x], axis=1)
        W = np.ones_like(x)
        if self.gls:
            num, den = [fit.mean_se(g) for g in groups[0::2]], [fit.mean_se(g) for g in groups[1::2]]
            with np.errstate(divide="ignore", invalid="ignore"):
                var = np.array([(a[0] / b[0]) ** 2 * ((sa[0] / a[0]) ** 2 + (sb[0] / b[0]) ** 2) for (a, sa), (b, sb) in zip(num, den)])
            if np.all(np.isfinite(var)) and np.all(var > 0):
                W = 1.0 / var
        XtW = (X * W[:, None]).T
        return np.linalg.solve(XtW @ X, XtW)[0]

    def _no_limit(self, thm: Theorem, num: Mapping[Any, Run], den: Mapping[Any, Run], keys: Sequence[Any], predicted: np.ndarray) -> str | None:
        """Why the bounds' ratio has no finite limit as T -> infinity (None when it has one): not finite
        at T = 1e30, beyond 1e12 in size, or still moving between T = 1e24 and T = 1e30."""
        p30 = np.asarray(predicted, dtype=np.float64)
        if not np.all(np.isfinite(p30)):
            return "no finite prediction: the bound's ratio is not finite as T -> infinity"
        if np.any(np.abs(p30) > 1e12) or np.any(p30 == 0):
            return (f"no finite prediction: the bound's ratio {'diverges' if np.any(np.abs(p30) > 1e12) else 'tends to 0'} as T -> infinity "
                    f"({float(p30[np.argmax(np.abs(p30))]):.4g} at T = 1e30)")
        try:
            p24 = np.asarray(self.predicted(thm, num, den, keys, far=1e24), dtype=np.float64)
        except (ValueError, ZeroDivisionError, OverflowError):
            return "no finite prediction: the bound's ratio cannot be evaluated as T -> infinity"
        with np.errstate(divide="ignore", invalid="ignore"):
            moving = np.abs(p30 / p24 - 1) > 1e-3  # a power T^a, a >= 1/24, moves by > 50 %; a settling ratio by ~1/T
        if np.any(moving):
            i = int(np.argmax(moving))
            trend = "diverges" if abs(p30[i]) > abs(p24[i]) else "tends to 0"
            return (f"no finite prediction: the bound's ratio {trend} as T -> infinity ({p24[i]:.4g} at T = 1e24, "
                    f"{p30[i]:.4g} at T = 1e30)")
        return None

    def claim_text(self, thm: Theorem) -> str | None:
        e = self.the_bound(thm)
        return f"({e})[numerator] / ({e})[denominator] as T -> infinity"

    def predicted(self, thm: Theorem, num: Mapping[Any, Run], den: Mapping[Any, Run], keys: Sequence[Any], far: float = 1e30) -> np.ndarray:
        """The ratio the bound predicts for each pair, as T -> infinity (at T = ``far``)."""
        expr, far = self.the_bound(thm), {"T": far}
        return np.array([float(evaluate(expr, {**num[k_].trace.constants, **far}) / evaluate(expr, {**den[k_].trace.constants, **far}))
                         for k_ in keys])

    def pair_problem(self, num: Mapping[Any, Run], den: Mapping[Any, Run], keys: Sequence[Any]) -> str | None:
        """Why the pairs cannot be compared (the check is then INCONCLUSIVE), or None."""
        return None

    def pair_notes(self, num: Mapping[Any, Run], keys: Sequence[Any]) -> tuple[dict[str, Any], str]:
        """Extra evidence and summary text about the pairs."""
        return {}, ""


@dataclass
class BoundRatio(Ratio):
    """Ratio of measured means against the ratio of two declared bounds as T -> infinity: ``bound`` (with
    ``subs``) at the numerator's constants over ``bound_den`` (with ``subs_den``) at the denominator's.
    ``same`` names constants that must be equal within each pair (e.g. the bits sent per step); otherwise
    the check is INCONCLUSIVE. With ``optimize`` (a symbol, e.g. "gamma") each bound is first minimised over
    that symbol, so the prediction is the ratio of the best guarantees and runs at mis-tuned step rules are
    caught."""

    measure: str = "avg_subopt"
    bound_den: sp.Expr | None = None
    subs_den: Mapping[str, str] = field(default_factory=dict)
    optimize: str | None = None
    same: Sequence[str] = ()
    tol: float = 0.1

    def _value(self, expr: sp.Expr, env: dict) -> float:
        """The bound at env, or its minimum over the symbol ``optimize`` (bounded search in log scale)."""
        if self.optimize is None or self.optimize not in {str(s_) for s_ in expr.free_symbols}:
            return float(evaluate(expr, env))
        res = opt.minimize_scalar(lambda z: float(np.log(evaluate(expr, {**env, self.optimize: math.exp(z)}))),
                                  bounds=(-120.0, 60.0), method="bounded", options={"xatol": 1e-10, "maxiter": 2000})
        return float(math.exp(res.fun))

    def _den_bound(self, thm: Theorem) -> sp.Expr:
        expr = thm.bound if self.bound_den is None else self.bound_den
        return expr.subs({sp.Symbol(s_, positive=True): thm.steps[rule] for s_, rule in self.subs_den.items()})

    def claim_text(self, thm: Theorem) -> str | None:
        opt_ = f", each minimised over {self.optimize}" if self.optimize else ""
        return f"({self.the_bound(thm)}) / ({self._den_bound(thm)}) as T -> infinity{opt_}"

    def predicted(self, thm: Theorem, num: Mapping[Any, Run], den: Mapping[Any, Run], keys: Sequence[Any], far: float = 1e30) -> np.ndarray:
        e_num, e_den, far = self.the_bound(thm), self._den_bound(thm), {"T": far}
        return np.array([self._value(e_num, {**num[k_].trace.constants, **far}) / self._value(e_den, {**den[k_].trace.constants, **far})
                         for k_ in keys])

    def pair_problem(self, num: Mapping[Any, Run], den: Mapping[Any, Run], keys: Sequence[Any]) -> str | None:
        for k_ in keys:
            for c in self.same:
                a, b = num[k_].trace.constants.get(c), den[k_].trace.constants.get(c)
                if a is None or b is None or not np.isclose(a, b, rtol=1e-12, atol=0):
                    return f"{c} differs within pair {k_}: {a} vs {b}"
        return None

    def pair_notes(self, num: Mapping[Any, Run], keys: Sequence[Any]) -> tuple[dict[str, Any], str]:
        same = {c: num[keys[0]].trace.constants.get(c) for c in self.same}
        return {"same": same}, ("; equal " + ", ".join(f"{c} = {v:g}" for c, v in same.items()) if same else "")
