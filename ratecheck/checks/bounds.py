"""Bounds compared point by point (DESIGN.md, "Checks and the statistical method": bound holds).

* ``BoundHolds``: the mean of a measure is below the bound at every (point, T >= T_min); a bound free of T
  (a bound "at every t", e.g. Lemma 12.7) is broadcast over the checkpoints.
* ``MeanVersusBound``: the mean at the last checkpoint against a declared expression in the constants,
  relation lower (E measure >= bound) or exact (E measure = bound; T3.1 P2: E captured energy >= r/m,
  = r/m on M = I).
* ``StepInequality``: a per-step inequality between consecutive checkpoints t and t+1 (a lemma of a proof,
  e.g. Lemma 12.6 or the recursion of Lemma 12.7, lecture seed 004), declared as a sympy relation in the
  measures at t (``e2``), at t+1 (``e2_next``) and the constants.

Each compares many points: Student t limits per comparison with Bonferroni over all of them (family-wise
false-FAIL rate ``alpha``), one ``judge`` per comparison, joined by ``combine``; the headline numbers are
those of the worst point, the one the summary names.

False-failure rate (issue 15): the probability that some comparison's upper limit (lower for 'lower')
crosses the bound were the true means the measured ones: sum over the comparisons of
T_nu(-((bound - mean)/se - q)), nu = R - 1, capped at 1 (a comparison with se = 0 is certain). Power: the
smallest excess over the bound (relative to it) at the worst point FAILed with probability 0.99,
(q + t_0.99) se / bound. MeanVersusBound 'exact': a z threshold per point, plug-in sum of
P(|N(z_i, 1)| > z).
"""

from __future__ import annotations

from collections.abc import Sequence
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
    combine,
    judge,
    t_power,
    tlimits,
    zscores,
)
from ratecheck.expr import evaluate
from ratecheck.validate import InputError

if TYPE_CHECKING:
    from ratecheck.theorem import Run, Theorem

ROUNDING = 1e-9  # relative slack of every comparison with a bound: rounding, not statistics


@dataclass
class BoundHolds(Check):
    """The measured mean is below the bound at every (point, T >= T_min): FAIL when the one-sided lower
    confidence limit of some mean lies above the bound, PASS when every upper confidence limit is below,
    INCONCLUSIVE otherwise. The family-wise false-FAIL rate is ``alpha`` (Bonferroni over comparisons)."""

    measure: str = "avg_subopt"
    T_min: float = 1
    alpha: float = 1e-3
    kind: ClassVar[str] = "bound holds"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.UPPER,)

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        expr = self.the_bound(thm)
        rows = []
        for r in runs:
            t = r.trace.t[r.trace.t >= self.T_min]
            mean, se = fit.mean_se(r.trace.values[self.measure][:, r.trace.t >= self.T_min])
            rows.append((r, t, mean, se, np.broadcast_to(evaluate(expr, {**r.trace.constants, "T": t}), t.shape)))
        m = sum(row[1].size for row in rows)
        worst: dict[str, Any] = {"ratio": -np.inf}
        head: tuple[float, ...] | None = None
        verdicts, comps, inconclusive = [], [], []
        plot = Plot(f"{self.name}", "T", f"mean {self.measure} / bound (band: simultaneous interval)")
        for r, t, mean, se, b in rows:
            q = fit.t_quantile(self.alpha / m, r.trace.R)
            comps.append(tlimits("upper", mean, se, b, ROUNDING * np.abs(b), q, r.trace.R, self.alpha / m))
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                lcb, ucb = mean - q * se, mean + q * se
                ratio = mean / b
            here = [judge((lo, hi), b_, ROUNDING, Relation.UPPER, relative=True) for lo, hi, b_ in zip(lcb, ucb, b)]
            verdicts += here
            inconclusive += [(r.label, int(t_), lo, hi, b_) for v_, t_, lo, hi, b_ in zip(here, t, lcb, ucb, b) if v_ == INCONCLUSIVE]
            i = int(np.nanargmax(np.where(np.isnan(ratio), -np.inf, ratio)))
            if ratio[i] > worst["ratio"]:
                worst = {"ratio": ratio[i], "point": r.label, "T": int(t[i]), "mean": mean[i], "se": se[i], "bound": b[i]}
                head = (mean[i], b[i], lcb[i], ucb[i], q, r.trace.R)
            if len(plot.series) < 5:
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a bound that underflows to 1e-300
                    plot.add(r.label, t, ratio, "data", lcb / b, ucb / b)
        ts = np.unique(np.concatenate([row[1] for row in rows]))
        plot.add("bound (ratio 1)", ts, np.ones_like(ts, dtype=float), "bound")
        if len(rows) > 5:
            plot.title += f" ({min(len(rows), 5)} of {len(rows)} points drawn)"
        evidence = {"comparisons": m, "alpha": self.alpha, "max_ratio_mean_over_bound": worst["ratio"], "worst": worst}
        summary = f"max mean/bound = {worst['ratio']:.3g} at step {worst.get('T')} of ({worst.get('point')})"
        out = Outcome(combine(verdicts), summary, evidence, plot, tolerance=ROUNDING, relative=True)
        out.error_model = {"components": comps, "note": f"P(some of the {m} upper limits above the bound) at the measured means"}
        if head is not None:
            out.measured, out.predicted, out.interval = head[0], head[1], (head[2], head[3])
            out.power, out.power_relative = t_power(head[4], head[5], float(worst["se"]), float(head[1]), ROUNDING), True
        if out.observed == INCONCLUSIVE and inconclusive:
            p_, t_, lo, hi, b_ = max(inconclusive, key=lambda x: x[3] / x[4] if x[4] else np.inf)
            out.reason = (f"{len(inconclusive)} of {m} comparisons are undecided: e.g. at ({p_}) T={t_} the simultaneous interval "
                          f"[{lo:.4g}, {hi:.4g}] of the mean holds the bound {b_:.4g}")
        return out


@dataclass
class MeanVersusBound(Check):
    """The mean of ``measure`` at the last checkpoint against ``bound`` (module docstring). 'lower': FAIL
    when a one-sided upper confidence limit lies below the bound, PASS when every lower limit is above it,
    false-FAIL rate ``alpha`` family-wise (Student t limits, Bonferroni over points); 'exact': PASS when
    |mean - bound| <= ``z`` standard errors (plus ``rel_slack`` relative, for rounding where the measure is
    deterministic) at every point, else FAIL."""

    measure: str = "captured"
    relation: Relation | str = Relation.LOWER
    alpha: float = 1e-3
    z: float = 6.0
    rel_slack: float = ROUNDING
    kind: ClassVar[str] = "bound on a mean"
    relations: ClassVar[tuple[Relation, ...]] = (Relation.LOWER, Relation.EXACT)

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        relation = Relation(self.relation)
        expr = self.declared_bound(thm)
        rows, limits, verdicts, comps, qs = [], [], [], [], []
        for r in runs:
            mean, se = (float(a[0]) for a in fit.mean_se(r.trace.values[self.measure][:, -1:]))
            b = float(evaluate(expr, {**r.trace.constants, "T": r.trace.T}))
            slack = self.rel_slack * abs(b)
            q = fit.t_quantile(self.alpha / len(runs), r.trace.R) if relation is Relation.LOWER else self.z
            lo, hi = mean - q * se, mean + q * se
            verdicts.append(judge((lo, hi), b, self.rel_slack, relation, relative=True))
            limits.append((lo, hi))
            qs.append((q, r.trace.R))
            if relation is Relation.LOWER:
                comps.append(tlimits("lower", mean, se, b, slack, q, r.trace.R, self.alpha / len(runs)))
            rows.append({"point": r.label, "mean": mean, "se": se, "bound": b, "ratio": mean / b if b else np.inf,
                         "z": (mean - b) / se if se > 0 else (0.0 if abs(mean - b) <= slack else np.copysign(np.inf, mean - b))})
        # the ratio to the bound, or the difference where a bound is 0 (e.g. "E benefit >= 0")
        zero = any(x["bound"] == 0 for x in rows)
        plot = Plot(self.name, "point", f"mean {self.measure} " + ("- bound" if zero else "/ bound"), logx=False, logy=False)
        for i, (x, (lo, hi)) in enumerate(zip(rows, limits)):
            b = x["bound"]
            c, d = (b, 1.0) if zero else (0.0, b)
            plot.add(x["point"], [i], [(x["mean"] - c) / d], "data", [(lo - c) / d], [(hi - c) / d])
        plot.add("bound (difference 0)" if zero else "bound (ratio 1)", [0, len(runs) - 1], [0.0, 0.0] if zero else [1.0, 1.0], "bound")
        lower = relation is Relation.LOWER
        margin = (lambda x: x["mean"] - x["bound"]) if zero else (lambda x: x["ratio"])
        k = min(range(len(rows)), key=lambda j: margin(rows[j])) if lower else max(range(len(rows)), key=lambda j: abs(rows[j]["z"]))
        key = rows[k]
        what = ("min mean - bound" if zero else "min mean/bound") if lower else "max |mean - bound|/se"
        value = margin(key) if lower else abs(key["z"])
        summary = f"{what} = {value:.4g} at ({key['point']}): mean {key['mean']:.4g} +- {key['se']:.2g} vs bound {key['bound']:.4g}; {len(rows)} points"
        out = Outcome(combine(verdicts), summary, {"alpha": self.alpha, "z": self.z, "runs": rows}, plot,
                      measured=key["mean"], predicted=key["bound"], interval=limits[k], tolerance=self.rel_slack, relative=True)
        if lower:
            out.error_model = {"components": comps, "note": f"P(some of the {len(rows)} lower limits below the bound) at the measured means"}
            out.power = t_power(qs[k][0], qs[k][1], key["se"], key["bound"], self.rel_slack)
        else:
            # judge's rule: |mean - bound| <= z se + slack; the z-score of the excess over the rounding slack, in units of
            # se (a deterministic mean: 0 within the slack, else a certain FAIL)
            sc = []
            for x in rows:
                gap = x["mean"] - x["bound"]
                excess = max(abs(gap) - self.rel_slack * abs(x["bound"]), 0.0)
                sc.append(np.copysign(excess / x["se"], gap) if x["se"] > 0 else (0.0 if excess == 0 else np.copysign(np.inf, gap)))
            out.error_model = {"components": [zscores(sc, self.z, max(r.trace.R for r in runs))], "rescalable": False,
                               "rescale_note": "a z threshold: more replicas do not lower it (raise z)",
                               "note": f"plug-in P(some |z| > {self.z:g}) with the z-scores N(z_i, 1) at the measured ones"}
            out.power = t_power(self.z, 10**9, key["se"], key["bound"], self.rel_slack)
        out.power_relative = True
        if key["bound"] == 0:  # no relative deviation from 0: the smallest absolute one detected
            q_, R_ = (qs[k][0], qs[k][1]) if lower else (self.z, 10**9)
            out.power, out.power_relative = t_power(q_, R_, key["se"], 1.0), False
        if out.observed == INCONCLUSIVE:
            j = next(j for j, v_ in enumerate(verdicts) if v_ == INCONCLUSIVE)
            out.reason = (f"at ({rows[j]['point']}) the interval [{limits[j][0]:.4g}, {limits[j][1]:.4g}] of the mean holds the bound "
                          f"{rows[j]['bound']:.4g}")
        return out


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
    relations: ClassVar[tuple[Relation, ...]] = (Relation.UPPER,)
    diverged_fails: ClassVar[bool] = True

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        rel = self.the_bound(thm)
        if not isinstance(rel, sp.LessThan):
            raise InputError(f"check {self.name!r}: bound must be a relation lhs <= rhs (sp.Le), got {rel}")
        D_expr = sp.expand(rel.lhs - rel.rhs)
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
        verdicts, comps = [], []
        worst: dict[str, Any] = {"ratio": -np.inf}
        head: tuple[float, ...] = ()
        plot = Plot(self.name, "t", "mean (lhs - rhs) / abs(rhs)  (<= 0 holds; band: simultaneous interval)", logy=False)
        for r, ts, D, rhs in pieces:
            mean, se = fit.mean_se(D)
            q = fit.t_quantile(self.alpha / total, r.trace.R)
            lcb, ucb = mean - q * se, mean + q * se
            scale = np.maximum(np.abs(rhs), 1e-300)
            slack = ROUNDING * scale
            verdicts += [judge((lo, hi), 0.0, s_, Relation.UPPER) for lo, hi, s_ in zip(lcb, ucb, slack)]
            comps.append(tlimits("upper", mean, se, 0.0, slack, q, r.trace.R, self.alpha / total))
            rel_mean = mean / scale
            k = int(np.argmax(ucb / scale))
            if ucb[k] / scale[k] > worst["ratio"]:
                worst = {"ratio": float(ucb[k] / scale[k]), "point": r.label, "t": int(ts[k]), "mean_D": float(mean[k]),
                         "se": float(se[k]), "rhs": float(rhs[k]), "mean_D_over_rhs": float(rel_mean[k])}
                head = (float(mean[k]), float(lcb[k]), float(ucb[k]), float(slack[k]), q, r.trace.R, float(se[k]), float(scale[k]))
            if len(plot.series) < 6:
                plot.add(r.label, ts, rel_mean, "data", lcb / scale, ucb / scale)
        t_all = np.unique(np.concatenate([p[1] for p in pieces]))
        plot.add("0 (the inequality)", t_all, np.zeros(t_all.shape), "bound")
        summary = (f"{total} step pairs; worst upper limit of mean(lhs - rhs)/abs(rhs) = {worst['ratio']:.3g} at {worst['point']}, "
                   f"t={worst['t']} (mean {worst['mean_D_over_rhs']:.3g})")
        out = Outcome(combine(verdicts), summary, {"pairs": total, "alpha": self.alpha, "inequality": str(rel), "worst": worst}, plot)
        out.error_model = {"components": comps, "note": f"P(some of the {total} upper limits of mean(lhs - rhs) above 0) at the measured means"}
        if head:
            out.measured, out.predicted, out.interval, out.tolerance, out.relative = head[0], 0.0, (head[1], head[2]), head[3], False
            out.power, out.power_relative = t_power(head[4], head[5], head[6], head[7], ROUNDING), True
            if out.observed == INCONCLUSIVE:
                out.reason = (f"{sum(v_ == INCONCLUSIVE for v_ in verdicts)} of {total} step pairs are undecided: at ({worst['point']}) "
                              f"t={worst['t']} the upper limit of mean(lhs - rhs) is {head[2]:.3g} > 0 while its lower limit {head[1]:.3g} <= 0")
        return out
