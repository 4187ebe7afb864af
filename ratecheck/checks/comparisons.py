"""Comparisons of two methods (DESIGN.md, "Checks and the statistical method": comparison).

* ``Ratio``: the ratio of measured means between paired points (numerator / denominator, matched on
  ``pair_by``), optionally extrapolated linearly in a point key to 0, against the ratio the theorem's bound
  predicts as T -> infinity.
* ``BoundRatio``: the same, numerator and denominator predicted by two different bounds (two theorems
  compared, e.g. EF-SGD against QSGD), with constants that must agree within each pair (the bits per step).

Bootstrap of the ratio of means over replicas; relation tight: PASS when the interval lies within a
relative ``tol`` of the prediction, FAIL when disjoint; upper (the numerator beats the denominator by at
least the predicted factor): PASS when the interval lies below prediction (1 + tol), FAIL when above it.
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
from ratecheck.checks.core import INCONCLUSIVE, Check, Outcome, Plot, Relation, judge
from ratecheck.expr import evaluate
from ratecheck.validate import InputError

if TYPE_CHECKING:
    from ratecheck.theorem import Run, Theorem


@dataclass
class Ratio(Check):
    """A ratio of measured means between paired points (module docstring). ``numerator`` and
    ``denominator`` select the points of each side; ``pair_by`` (a point key) matches them; with
    ``extrapolate`` (a point key) the ratios are extrapolated linearly in it to 0."""

    measure: str = "tail_subopt"
    numerator: Callable[[dict], bool] = lambda p: True
    denominator: Callable[[dict], bool] = lambda p: False
    pair_by: str = "T"
    extrapolate: str | None = None
    tol: float = 0.05
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
            return Outcome(INCONCLUSIVE, "no matched numerator/denominator pairs", {})
        problem = self.pair_problem(num, den, keys)
        if problem:
            return Outcome(INCONCLUSIVE, problem, {})
        predicted = self.predicted(thm, num, den, keys)
        x = np.array([float(num[k_].point[self.extrapolate]) for k_ in keys]) if self.extrapolate else None
        groups = [g for k_ in keys for g in (num[k_].trace.values[self.measure][:, -1:], den[k_].trace.values[self.measure][:, -1:])]

        def ratios(means: list[np.ndarray]) -> np.ndarray:
            return np.stack([means[2 * i][0] / means[2 * i + 1][0] for i in range(len(keys))], axis=0)

        def statistic(means: list[np.ndarray]) -> np.ndarray:
            rho = ratios(means)
            if x is None or len(keys) < 2:
                return rho.mean(axis=0)
            slope = fit.ols_slope(x, rho)
            return rho.mean(axis=0) - slope * x.mean()  # intercept at x = 0

        ci = fit.bootstrap_statistic(groups, statistic, self.confidence)
        target = float(np.mean(predicted))
        if x is not None and len(keys) >= 2 and np.ptp(predicted) > 1e-9 * abs(target):
            target = float(np.polyval(np.polyfit(x, predicted, 1), 0.0))
        observed = judge((ci.low, ci.high), target, self.tol, Relation(self.relation), relative=True)
        measured = ratios([fit.mean_se(g)[0] for g in groups])
        evidence = {"predicted": target, "estimate": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "tol_relative": self.tol,
                    "pairs": {str(k_): float(m) for k_, m in zip(keys, measured)}, "extrapolated_in": self.extrapolate}
        summary = f"ratio {ci.estimate:.4g} [{ci.low:.4g}, {ci.high:.4g}] vs predicted {target:.4g} (+-{self.tol:.0%})"
        more, note = self.pair_notes(num, keys)
        evidence.update(more)
        summary += note
        plot = Plot(self.name, self.extrapolate or self.pair_by, f"ratio of {self.measure}", logx=False, logy=False)
        xs = x if x is not None else np.arange(len(keys), dtype=float)
        plot.add("measured ratio", xs, measured, "data")
        plot.add("predicted by the bound", xs, predicted, "bound")
        if x is not None:
            plot.add(f"extrapolated to 0: {ci.estimate:.4g} [{ci.low:.4g}, {ci.high:.4g}]", [0.0, 0.0], [ci.low, ci.high], "fit")
        return Outcome(observed, summary, evidence, plot, measured=ci.estimate, predicted=target, interval=(ci.low, ci.high),
                       tolerance=self.tol, relative=True)

    def predicted(self, thm: Theorem, num: Mapping[Any, Run], den: Mapping[Any, Run], keys: Sequence[Any]) -> np.ndarray:
        """The ratio the bound predicts for each pair, as T -> infinity."""
        expr, far = self.the_bound(thm), {"T": 1e30}
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

    def predicted(self, thm: Theorem, num: Mapping[Any, Run], den: Mapping[Any, Run], keys: Sequence[Any]) -> np.ndarray:
        e_num, e_den, far = self.the_bound(thm), self._den_bound(thm), {"T": 1e30}
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
