"""Check kinds beyond those of ratecheck.theorem (DESIGN.md, "Checks and the statistical method").

* ``WithinRounding``: an exact identity, recorded per replica as a relative discrepancy (or a per-sample
  inequality as its positive part), holds to floating-point accuracy at every checkpoint (the
  virtual-sequence identity of EF-SGD; PowerSGD's all-reduce linearity, T3.1 P1).
* ``StepInequality``: a per-step inequality between consecutive checkpoints t and t+1 (a lemma of a proof,
  e.g. Lemma 12.6 or the recursion of Lemma 12.7, lecture seed 004), declared as a sympy relation in the
  measures at t (``e2``), at t+1 (``e2_next``) and the constants. Linear in the measures, so the mean over
  replicas of (lhs - rhs) estimates E lhs - E rhs exactly.
* ``Converges``: the mean measure at the last checkpoint is below a declared threshold and no replica
  diverged (negative controls "compression without error feedback does not converge" and their
  error-feedback twins; EF-PowerSGD contracting at every tuned step).
* ``UniformBoundHolds``: ``BoundHolds`` for a bound that does not depend on T (a bound "at every t", e.g.
  Lemma 12.7); ratecheck.theorem.BoundHolds indexes the evaluated bound per checkpoint and fails on the
  0-d array such a bound evaluates to.
* ``BoundRatio``: like ``Ratio``, but numerator and denominator runs are predicted by different bounds (two
  theorems compared, e.g. EF-SGD against QSGD), with constants that must agree between the pair (bits).

Like the checks of ratecheck.theorem, each reads its prediction from the declared sympy expression
(``bound``), so a wrong declaration gives a wrong prediction and the check FAILs; mutants (ratecheck.mutate)
transform that same field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ratecheck import fit
from ratecheck.theorem import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    BoundHolds,
    Check,
    Outcome,
    Plot,
    Ratio,
    Run,
    T,
    Theorem,
    _divergence_note,
    evaluate,
)
from ratecheck.validate import InputError

__all__ = ["BoundRatio", "Converges", "StepInequality", "UniformBoundHolds", "WithinRounding"]


@dataclass
class UniformBoundHolds(BoundHolds):
    """BoundHolds for a bound uniform in t: the declared expression is unchanged (mutants and reports see it
    as declared); only at evaluation an unevaluated ``+ 0*T`` makes it broadcast over the checkpoints."""

    def the_bound(self, thm: Theorem) -> sp.Expr:
        expr = super().the_bound(thm)
        if T in expr.free_symbols:
            return expr
        return sp.Add(expr, sp.Mul(sp.Integer(0), T, evaluate=False), evaluate=False)


@dataclass
class WithinRounding(Check):
    """max over replicas and checkpoints of ``measure`` (a relative discrepancy, >= 0) is at most ``tol``:
    PASS, else FAIL. Deterministic: no interval. ``tol`` is a multiple of the unit roundoff large enough
    for the accumulation over T steps (the default 1e-9 allows ~1e7 roundings of relative size 1e-16)."""

    measure: str = "virt_gap"
    tol: float = 1e-9
    relation: str = "exact"
    kind: ClassVar[str] = "exact identity"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        if not runs:
            return Outcome(INCONCLUSIVE, "no runs selected", {})
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
        observed = PASS if worst <= self.tol else FAIL
        summary = (f"max {self.measure} = {worst:.3g} (tolerance {self.tol:g}) at {where['point']}, t={where['t']}; "
                   f"{len(runs)} points")
        return Outcome(observed, summary, {"max": worst, "where": where, "tol": self.tol, "runs": rows}, plot)


def _measure_symbols(rel: sp.Basic, measures: Sequence[str]) -> dict[str, tuple[str, int]]:
    """Symbols of ``rel`` that name a recorded measure at t (shift 0) or at t+1 (suffix _next, shift 1)."""
    out = {}
    for s in rel.free_symbols:
        name = str(s)
        if name in measures:
            out[name] = (name, 0)
        elif name.endswith("_next") and name[:-5] in measures:
            out[name] = (name[:-5], 1)
    return out


@dataclass
class StepInequality(Check):
    """E lhs <= E rhs between consecutive steps, at every checkpoint t whose successor t+1 is also a
    checkpoint. ``bound`` is a sympy relation ``lhs <= rhs`` (sp.Le); its symbols are recorded measures
    (value at t), measures with suffix ``_next`` (value at t+1) and constants. The expression must be
    linear in the measures (checked), so that the replica mean of D = lhs - rhs estimates E lhs - E rhs.

    FAIL when the one-sided lower confidence limit of mean D is above 0 at some pair, PASS when every
    upper limit is at most 0, INCONCLUSIVE otherwise; Bonferroni over the pairs, family-wise false-FAIL
    rate ``alpha``. Reported: mean D / abs(rhs) (how much room the inequality leaves, relative)."""

    alpha: float = 1e-3
    t_min: int = 0
    kind: ClassVar[str] = "step inequality"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        if not runs:
            return Outcome(INCONCLUSIVE, "no runs selected", {})
        rel = self.the_bound(thm)
        if not isinstance(rel, sp.LessThan):
            raise InputError(f"check {self.name!r}: bound must be a relation lhs <= rhs (sp.Le), got {rel}")
        D_expr = sp.expand(rel.lhs - rel.rhs)
        div = _divergence_note(runs)
        if div:
            return Outcome(FAIL, f"diverged at step {div['step']} ({div['point']})", {"diverged": div})
        pieces, total = [], 0
        for r in runs:
            symbols = _measure_symbols(D_expr, list(r.trace.values))
            msyms = [s_ for s_ in D_expr.free_symbols if str(s_) in symbols]
            try:
                linear = bool(msyms) and sp.Poly(D_expr, *msyms).total_degree() <= 1
            except sp.PolynomialError:
                linear = False
            if not linear:
                raise InputError(f"check {self.name!r}: {rel} must be linear in the recorded measures (found {sorted(symbols)})")
            t = r.trace.t
            i = np.flatnonzero(np.isin(t + 1, t) & (t >= self.t_min))
            j = np.searchsorted(t, t[i] + 1)
            env: dict[str, Any] = dict(r.trace.constants)
            for s, (m, shift) in symbols.items():
                env[s] = r.trace.values[m][:, j if shift else i]
            D = evaluate(D_expr, env) * np.ones((r.trace.R, i.size))
            rhs = evaluate(rel.rhs, {k_: (v if k_ not in symbols else v.mean(axis=0)) for k_, v in env.items()}) * np.ones(i.size)
            pieces.append((r, t[i], D, rhs))
            total += i.size
        if total == 0:
            return Outcome(INCONCLUSIVE, "no consecutive checkpoints (t, t+1) in the selected runs", {})
        any_fail, all_pass = False, True
        worst: dict[str, Any] = {"ratio": -np.inf}
        plot = Plot(self.name, "t", "mean (lhs - rhs) / abs(rhs)  (<= 0 holds; band: simultaneous interval)", logy=False)
        for r, ts, D, rhs in pieces:
            mean, se = fit.mean_se(D)
            q = fit.t_quantile(self.alpha / total, r.trace.R)
            lcb, ucb = mean - q * se, mean + q * se
            scale = np.maximum(np.abs(rhs), 1e-300)
            slack = 1e-9 * scale
            any_fail |= bool(np.any(lcb > slack))
            all_pass &= bool(np.all(ucb <= slack))
            rel_mean = mean / scale
            k = int(np.argmax(ucb / scale))
            if ucb[k] / scale[k] > worst["ratio"]:
                worst = {"ratio": float(ucb[k] / scale[k]), "point": r.label, "t": int(ts[k]), "mean_D": float(mean[k]),
                         "se": float(se[k]), "rhs": float(rhs[k]), "mean_D_over_rhs": float(rel_mean[k])}
            if len(plot.series) < 6:
                plot.add(r.label, ts, rel_mean, "data", lcb / scale, ucb / scale)
        t_all = np.unique(np.concatenate([p[1] for p in pieces]))
        plot.add("0 (the inequality)", t_all, np.zeros(t_all.shape), "bound")
        observed = FAIL if any_fail else PASS if all_pass else INCONCLUSIVE
        summary = (f"{total} step pairs; worst upper limit of mean(lhs - rhs)/abs(rhs) = {worst['ratio']:.3g} at {worst['point']}, "
                   f"t={worst['t']} (mean {worst['mean_D_over_rhs']:.3g})")
        return Outcome(observed, summary, {"pairs": total, "alpha": self.alpha, "inequality": str(rel), "worst": worst}, plot)


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

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        if not runs:
            return Outcome(INCONCLUSIVE, "no runs selected", {})
        expr = self.the_bound(thm)
        rows, any_fail, all_pass = [], False, True
        plot = Plot(self.name, "t", f"mean {self.measure}")
        for r in runs:
            X = r.trace.values[self.measure]
            mean, se = fit.mean_se(X[:, -1:])
            q = fit.t_quantile(self.alpha / len(runs), r.trace.R)
            thr = float(evaluate(expr, {**r.trace.constants, "T": r.trace.T}))
            lcb, ucb = float(mean[0] - q * se[0]), float(mean[0] + q * se[0])
            diverged = bool(np.any(r.trace.diverged_at >= 0))
            any_fail |= diverged or lcb > thr
            all_pass &= (not diverged) and ucb <= thr
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
            if len(plot.series) < 6:
                plot.add(r.label, t, m_all, "data")
        t_all = np.unique(np.concatenate([r.trace.t for r in runs]))
        plot.add("threshold", t_all, np.full(t_all.shape, rows[0]["threshold"]), "bound")
        if self.floor is not None:
            plot.add("certified floor", t_all, np.full(t_all.shape, rows[0]["certified_floor"]), "bound")
        observed = FAIL if any_fail else PASS if all_pass else INCONCLUSIVE
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
        return Outcome(observed, "; ".join(parts), {"runs": rows, "alpha": self.alpha}, plot)


@dataclass
class BoundRatio(Ratio):
    """Ratio of measured means, numerator runs over denominator runs matched on ``pair_by``, against the
    ratio of two declared bounds as T -> infinity: ``bound`` (with ``subs``) at the numerator's constants
    over ``bound_den`` (with ``subs_den``) at the denominator's. Optionally extrapolated linearly in the point
    key ``extrapolate`` to 0. ``same`` names constants that must be equal within each pair (e.g. the bits
    sent per step); otherwise the check is INCONCLUSIVE. With ``optimize`` (a symbol, e.g. "gamma") each bound
    is first minimised over that symbol, so the prediction is the ratio of the best guarantees and runs at
    mis-tuned step rules are caught. relation 'tight': PASS when the bootstrap interval lies within a relative
    ``tol`` of the prediction, FAIL when disjoint; 'less': PASS when the interval is below prediction (1 + tol),
    FAIL when above it."""

    measure: str = "avg_subopt"
    pair_by: str = "T"
    bound_den: sp.Expr | None = None
    subs_den: Mapping[str, str] = field(default_factory=dict)
    optimize: str | None = None
    same: Sequence[str] = ()
    tol: float = 0.1

    def _value(self, expr: sp.Expr, env: dict) -> float:
        """The bound at env, or its minimum over the symbol ``optimize`` (golden section in log scale)."""
        if self.optimize is None or self.optimize not in {str(s_) for s_ in expr.free_symbols}:
            return float(evaluate(expr, env))
        from scipy import optimize as opt

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
