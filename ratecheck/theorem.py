"""Theorem declarations, sweeps and checks (DESIGN.md, "Theorem" and "Checks and the statistical method").

A theorem module in ``theorems/`` defines ``THEOREM = Theorem(...)``: the statement, its source and
assumptions, the bound as a sympy expression, the step-size rules as sympy expressions, the sweeps that
produce runs, and the checks that turn runs into verdicts. Everything a check predicts (an exponent, an
iteration count, a limiting ratio) is computed from the declared bound and step rules, never typed in, so
a wrong bound gives a wrong prediction and the check FAILs.

Each check returns PASS, FAIL or INCONCLUSIVE with its evidence and a plot. A check declares what it is
``expected`` to return: PASS for the theorem's claims, FAIL for negative controls (a configuration that
breaks a hypothesis). The theorem is verified when every check comes out as expected; INCONCLUSIVE is
never as expected.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import sympy as sp
from scipy import optimize

from ratecheck import fit
from ratecheck.trace import Trace
from ratecheck.validate import InputError

# ----------------------------------------------------------------------------------------------------
# the symbols bounds are written in (all positive: sympy then simplifies roots and powers)

T, L, mu, sigma, R0, F0, omega, delta, n, d, gamma, B, epsilon, zeta, k, s = sp.symbols(
    "T L mu sigma R0 F0 omega delta n d gamma B epsilon zeta k s", positive=True
)

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"


def evaluate(expr: sp.Expr, env: Mapping[str, Any]) -> np.ndarray:
    """Numerical value of ``expr`` with every free symbol looked up by name in ``env`` (numbers or
    arrays, broadcast together). Division by zero gives inf (e.g. sqrt(R0/sigma^2) with sigma = 0)."""
    names = sorted(str(x) for x in expr.free_symbols)
    missing = [x for x in names if x not in env]
    if missing:
        raise InputError(f"cannot evaluate {expr}: no value for {', '.join(missing)} (known: {', '.join(sorted(env))})")
    f = _lambdify(expr, tuple(names))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(f(*[np.asarray(env[x], dtype=np.float64) for x in names]), dtype=np.float64)


def expression(value: sp.Expr | str | float) -> sp.Expr:
    """A sympy expression from an expression, a number or a string such as '1 + omega' (every name is a
    positive symbol: 'gamma' is the step size, not the Gamma function)."""
    if isinstance(value, str):
        names = {x: sp.Symbol(x, positive=True) for x in re.findall(r"[A-Za-z_]\w*", value)}
        return sp.sympify(value, locals=names)
    return sp.sympify(value)


_LAMBDIFIED: dict[tuple[str, tuple[str, ...]], Callable[..., Any]] = {}


def _lambdify(expr: sp.Expr, names: tuple[str, ...]) -> Callable[..., Any]:
    key = (sp.srepr(expr), names)
    if key not in _LAMBDIFIED:
        _LAMBDIFIED[key] = sp.lambdify([sp.Symbol(x, positive=True) for x in names], expr, "numpy")
    return _LAMBDIFIED[key]


def local_slope(expr: sp.Expr, var: str, env: Mapping[str, Any], v: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """d log(expr) / d log(var) at var = v (central difference in log v; exact for power laws, and it
    also works through Min/Max of the tuned step rules)."""
    v = np.asarray(v, dtype=np.float64)
    hi = np.broadcast_to(evaluate(expr, {**env, var: v * math.exp(h)}), v.shape)  # a bound free of var has slope 0
    lo = np.broadcast_to(evaluate(expr, {**env, var: v * math.exp(-h)}), v.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.log(hi) - np.log(lo)) / (2 * h)


def limiting_exponent(expr: sp.Expr, var: str, env: Mapping[str, Any], regime: str, v_ref: float) -> float:
    """The exponent of the bound's leading term: the local slope far into the regime (var -> infinity
    for 'large', var -> 0 for 'small'), rounded to a multiple of 1/24 when within 1e-3 of one."""
    far = v_ref * (1e12 if regime == "large" else 1e-12)
    p = float(local_slope(expr, var, env, np.array([far]))[0])
    if not np.isfinite(p):  # the bound is 0 or infinite there: it claims no power law in var
        return float("nan")
    q = round(p * 24) / 24
    return q if abs(p - q) < 1e-3 else p


# ----------------------------------------------------------------------------------------------------
# sweeps and runs


@dataclass(frozen=True)
class Sweep:
    """Named set of points (dicts of JSON-able parameters); ``run(theorem, point, R, rng)`` returns the
    Trace of R replicas at that point, whose ``constants`` must hold every constant the checks need."""

    name: str
    run: Callable[[Theorem, dict, int, np.random.Generator], Trace]
    points: Sequence[dict]
    R: int
    quick_points: Sequence[dict] | None = None
    quick_R: int | None = None

    def plan(self, quick: bool) -> tuple[list[dict], int]:
        if quick:
            return list(self.quick_points if self.quick_points is not None else self.points), self.quick_R or self.R
        return list(self.points), self.R


@dataclass
class Run:
    point: dict
    trace: Trace

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.point.items())


# ----------------------------------------------------------------------------------------------------
# outcomes


@dataclass
class Plot:
    """What report.py draws: series of (x, y) with optional band [lo, hi]; style is 'data', 'bound',
    'shape' (the bound rescaled through the data), 'fit' or 'window'. Kept as plain lists so that it is stored in JSON and re-rendered from the cache."""

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
    observed: str
    summary: str
    evidence: dict[str, Any]
    plot: Plot | None = None


def clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to floats, non-finite floats to strings ('inf', 'nan')."""
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
# checks


@dataclass
class Check:
    """Base of the check kinds. ``sweep`` names the runs it reads; ``where`` selects points; ``subs``
    maps a bound symbol to a step rule of the theorem (e.g. {"gamma": "tuned"}: the bound at the tuned
    step gamma(T)); ``bound`` overrides the theorem's bound."""

    name: str
    sweep: str
    expected: str = PASS
    relation: str = "upper"
    description: str = ""
    where: Callable[[dict], bool] | None = None
    subs: Mapping[str, str] = field(default_factory=dict)
    bound: sp.Expr | None = None
    kind: ClassVar[str] = "check"

    def runs(self, results: Mapping[str, list[Run]]) -> list[Run]:
        if self.sweep not in results:
            raise InputError(f"check {self.name!r} reads sweep {self.sweep!r}, which is not declared")
        return [r for r in results[self.sweep] if self.where is None or self.where(r.point)]

    def the_bound(self, thm: Theorem) -> sp.Expr:
        expr = thm.bound if self.bound is None else self.bound
        return expr.subs({sp.Symbol(sym, positive=True): thm.steps[rule] for sym, rule in self.subs.items()})

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        raise NotImplementedError


def _divergence_note(runs: Sequence[Run]) -> dict[str, Any] | None:
    for r in runs:
        step = r.trace.first_divergence()
        if step is not None:
            return {"point": r.label, "step": step, "replicas": int(np.sum(r.trace.diverged_at >= 0)), "of": r.trace.R}
    return None


@dataclass
class BoundHolds(Check):
    """The measured mean is below the bound at every (point, T >= T_min): FAIL when the one-sided lower
    confidence limit of some mean lies above the bound, PASS when every upper confidence limit is below,
    INCONCLUSIVE otherwise. The family-wise false-FAIL rate is ``alpha`` (Bonferroni over comparisons)."""

    measure: str = "avg_subopt"
    T_min: float = 1
    alpha: float = 1e-3
    kind: ClassVar[str] = "bound holds"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        expr = self.the_bound(thm)
        rows = []
        for r in runs:
            t = r.trace.t[r.trace.t >= self.T_min]
            mean, se = fit.mean_se(r.trace.values[self.measure][:, r.trace.t >= self.T_min])
            rows.append((r, t, mean, se, np.broadcast_to(evaluate(expr, {**r.trace.constants, "T": t}), t.shape)))
        m = sum(row[1].size for row in rows)
        worst: dict[str, Any] = {"ratio": -np.inf}
        any_fail, all_pass = False, True
        plot = Plot(f"{self.name}", "T", f"mean {self.measure} / bound (band: simultaneous interval)")
        for r, t, mean, se, b in rows:
            q = fit.t_quantile(self.alpha / m, r.trace.R)
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                lcb, ucb = mean - q * se, mean + q * se
                ratio = mean / b
            slack = 1e-9 * np.abs(b)
            any_fail |= bool(np.any(lcb > b + slack))
            all_pass &= bool(np.all(ucb <= b + slack))
            i = int(np.nanargmax(np.where(np.isnan(ratio), -np.inf, ratio)))
            if ratio[i] > worst["ratio"]:
                worst = {"ratio": ratio[i], "point": r.label, "T": int(t[i]), "mean": mean[i], "se": se[i], "bound": b[i]}
            if len(plot.series) < 5:
                with np.errstate(divide="ignore", invalid="ignore"):
                    plot.add(r.label, t, ratio, "data", lcb / b, ucb / b)
        ts = np.unique(np.concatenate([row[1] for row in rows]))
        plot.add("bound (ratio 1)", ts, np.ones_like(ts, dtype=float), "bound")
        if len(rows) > 5:
            plot.title += f" ({min(len(rows), 5)} of {len(rows)} points drawn)"
        observed = FAIL if any_fail else PASS if all_pass else INCONCLUSIVE
        evidence = {"comparisons": m, "alpha": self.alpha, "max_ratio_mean_over_bound": worst["ratio"], "worst": worst}
        div = _divergence_note(runs)
        if div:
            evidence["diverged"] = div
        summary = f"max mean/bound = {worst['ratio']:.3g} at step {worst.get('T')} of ({worst.get('point')})"
        if div:
            summary += f"; diverged at step {div['step']} ({div['replicas']}/{div['of']} replicas, {div['point']})"
        return Outcome(observed, summary, evidence, plot)


@dataclass
class Exponent(Check):
    """The fitted log-log slope of the measure against ``variable`` matches the exponent the bound
    predicts in its leading regime.

    mode 'trajectory': v = the checkpoints of each selected run (variable must be T);
    mode 'final': v = the variable at each selected point, measure at the run's last checkpoint;
    With ``at_T`` (mode 'final'), the bound is evaluated at that horizon instead of the run's own (at_T =
        inf: the stationary limit, for floors measured by a tail average);
    mode 'hitting': the first checkpoint where the mean measure <= ``epsilon`` (an iteration count),
        against the variable at each point; predicted: the slope of the bound's own hitting time.
    The fit uses the window where the bound's local slope is within ``window_tol`` of the predicted
    exponent and T >= ``T_min`` (an expression in the constants). relation 'tight': PASS when the
    bootstrap interval lies inside predicted +- tol, FAIL when it is disjoint from it; 'upper' (decays at
    least as fast / grows at most as fast): PASS when the interval is below predicted + tol, FAIL when it
    is above."""

    variable: str = "T"
    measure: str = "avg_subopt"
    mode: str = "trajectory"
    regime: str = "large"
    tol: float = 0.1
    window_tol: float = 0.05
    T_min: sp.Expr | float = 1
    epsilon: sp.Expr | None = None
    at_T: float | None = None
    confidence: float = 0.99
    kind: ClassVar[str] = "exponent"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        if not runs:
            return Outcome(INCONCLUSIVE, "no runs selected", {})
        expr = self.the_bound(thm)
        div = _divergence_note(runs)
        if div:
            return Outcome(FAIL, f"diverged at step {div['step']} ({div['point']})", {"diverged": div})
        if self.mode == "trajectory":
            outcomes = [self._trajectory(thm, expr, r) for r in runs]
            order = {FAIL: 0, INCONCLUSIVE: 1, PASS: 2}
            worst = min(outcomes, key=lambda o: order[o.observed])
            return worst if len(outcomes) == 1 else Outcome(worst.observed, worst.summary, {"runs": [o.evidence for o in outcomes]}, worst.plot)
        return self._across_points(thm, expr, runs)

    def _judge(self, predicted: float, ci: fit.Interval) -> str:
        lo, hi = ci.low, ci.high
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return INCONCLUSIVE
        if self.relation == "tight":
            if predicted - self.tol <= lo and hi <= predicted + self.tol:
                return PASS
            return FAIL if hi < predicted - self.tol or lo > predicted + self.tol else INCONCLUSIVE
        return PASS if hi <= predicted + self.tol else FAIL if lo > predicted + self.tol else INCONCLUSIVE

    def _report(self, predicted: float, ci: fit.Interval, v: np.ndarray, window: np.ndarray, extra: dict) -> Outcome:
        observed = self._judge(predicted, ci) if window.sum() >= 3 and np.isfinite(predicted) else INCONCLUSIVE
        evidence = {
            "predicted": predicted, "fitted": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
            "confidence": self.confidence, "tol": self.tol, "relation": self.relation,
            "window": [float(f"{v[window].min():.4g}"), float(f"{v[window].max():.4g}")] if window.any() else None,
            "window_points": int(window.sum()), **extra,
        }
        summary = (f"slope {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}] vs predicted {predicted:.3g} "
                   f"({'+-' if self.relation == 'tight' else '<= +'}{self.tol}) over {self.variable} in "
                   f"{evidence['window']}")
        if not np.isfinite(predicted):
            summary = f"the bound is 0 or infinite as {self.variable} -> {'infinity' if self.regime == 'large' else '0'}: no exponent to test; " + summary
        elif window.sum() < 3:
            summary = f"only {int(window.sum())} points where the predicted term dominates; " + summary
        return Outcome(observed, summary, evidence)

    def _trajectory(self, thm: Theorem, expr: sp.Expr, r: Run) -> Outcome:
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
        ci = fit.loglog_slope(t[window], [X], confidence=self.confidence) if window.sum() >= 3 else fit.Interval(np.nan, np.nan, np.nan)
        out = self._report(predicted, ci, t, window, {"point": r.label})
        mean, se = fit.mean_se(r.trace.values[self.measure])
        b = np.broadcast_to(evaluate(expr, {**env, "T": t}), t.shape)
        out.plot = _slope_plot(self, t, mean, se, b, window, ci, predicted, r.label)
        return out

    def _across_points(self, thm: Theorem, expr: sp.Expr, runs: list[Run]) -> Outcome:
        horizon = (lambda r: r.trace.T) if self.at_T is None else (lambda r: min(self.at_T, 1e30))
        envs = [{**r.trace.constants, "T": horizon(r)} for r in runs]
        v = np.array([float(evaluate(expression(self.variable), e)) for e in envs])
        order = np.argsort(v)
        runs, envs, v = [runs[i] for i in order], [envs[i] for i in order], v[order]
        if self.mode == "final":
            b = np.array([float(evaluate(expr, e)) for e in envs])
            var = str(self.variable)
            predicted = limiting_exponent(expr, var, envs[-1 if self.regime == "large" else 0], self.regime, float(v[-1] if self.regime == "large" else v[0]))
            slope_b = np.array([float(local_slope(expr, var, e, np.array([e[var]]))[0]) for e in envs])
            tmin = np.array([float(evaluate(expression(self.T_min), e)) for e in envs])
            window = (np.abs(slope_b - predicted) <= self.window_tol) & (np.array([e["T"] for e in envs]) >= tmin)
            groups = [r.trace.values[self.measure][:, -1:] for r, w in zip(runs, window) if w]
            ci = fit.loglog_slope(v[window], groups, confidence=self.confidence) if window.sum() >= 3 else fit.Interval(np.nan, np.nan, np.nan)
            out = self._report(predicted, ci, v, window, {})
            stats = [fit.mean_se(r.trace.values[self.measure][:, -1:]) for r in runs]
            mean = np.array([m[0] for m, _ in stats])
            se = np.array([s_[0] for _, s_ in stats])
            out.plot = _slope_plot(self, v, mean, se, b, window, ci, predicted, "final value per point")
            return out
        # hitting times
        eps = [float(evaluate(self.epsilon, e)) for e in envs]
        T_bound = np.array([_hitting_time(expr, e, x) for e, x in zip(envs, eps)])
        window = np.isfinite(T_bound)
        if window.sum() < 3:
            return self._report(np.nan, fit.Interval(np.nan, np.nan, np.nan), v, window, {"bound_hitting_times": T_bound})
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
        if not np.all(np.isfinite(measured)):
            ci = fit.Interval(np.nan, np.nan, np.nan)
        else:
            ci = fit.loglog_slope(v, groups, reduce=hitting, confidence=self.confidence)
        out = self._report(predicted, ci, v, window, {"epsilon": eps, "measured_hitting": measured, "bound_hitting": T_bound})
        plot = Plot(self.name, str(self.variable), f"steps until mean {self.measure} <= epsilon")
        plot.add("measured", v, measured, "data")
        plot.add("bound's hitting time", v, T_bound, "bound")
        if np.isfinite(ci.estimate):
            c = np.mean(np.log(measured)) - ci.estimate * np.mean(np.log(v))
            plot.add(f"fit: slope {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}]", v, np.exp(c) * v**ci.estimate, "fit")
        out.plot = plot
        return out


def _hitting_time(expr: sp.Expr, env: Mapping[str, Any], eps: float) -> float:
    """The T at which the bound reaches eps (solving bound(T) = eps by bracketing in log T)."""
    g = lambda logT: float(evaluate(expr, {**env, "T": math.exp(logT)})) - eps
    lo, hi = math.log(1e-9), math.log(1e18)
    if not (g(lo) > 0 > g(hi)):
        return math.inf
    return math.exp(optimize.brentq(g, lo, hi, xtol=1e-12))


def _slope_plot(check: Exponent, v, mean, se, b, window, ci, predicted, label) -> Plot:
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
        plot.add(f"fit: slope {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}], predicted {predicted:.3g}", vw, np.exp(c) * vw**ci.estimate, "fit")
    return plot


@dataclass
class Ratio(Check):
    """A ratio of measured means between paired points (numerator / denominator, matched on ``pair_by``),
    optionally extrapolated linearly in ``extrapolate`` (a point key) to 0, against the ratio the bound
    predicts as T -> infinity. relation 'tight': PASS when the bootstrap interval lies within a relative
    ``tol`` of the prediction, FAIL when disjoint from it; 'less': PASS when the interval lies below it."""

    measure: str = "tail_subopt"
    numerator: Callable[[dict], bool] = lambda p: True
    denominator: Callable[[dict], bool] = lambda p: False
    pair_by: str = "gamma_fraction"
    extrapolate: str | None = None
    tol: float = 0.05
    confidence: float = 0.99
    kind: ClassVar[str] = "comparison"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        div = _divergence_note(runs)
        if div:
            return Outcome(FAIL, f"diverged at step {div['step']} ({div['point']})", {"diverged": div})
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
        lo_ok, hi_ok = target * (1 - self.tol), target * (1 + self.tol)
        if not np.isfinite(ci.low):
            observed = INCONCLUSIVE
        elif self.relation == "tight":
            observed = PASS if lo_ok <= ci.low and ci.high <= hi_ok else FAIL if ci.high < lo_ok or ci.low > hi_ok else INCONCLUSIVE
        else:  # 'less': numerator beats denominator by at least the predicted factor
            observed = PASS if ci.high <= hi_ok else FAIL if ci.low > hi_ok else INCONCLUSIVE
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
        return Outcome(observed, summary, evidence, plot)

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
class MeanEquals(Check):
    """Exact identity in expectation: the mean of ``measure`` at checkpoints t <= ``t_max`` equals
    ``predicted(constants, t)`` to within ``z`` standard errors (plus 1e-9 relative for rounding). With
    ``geometric``, the evidence also reports the fitted growth factor per step against the predicted one."""

    measure: str = "dist2"
    predicted: Callable[[Mapping[str, float], np.ndarray], np.ndarray] = lambda c, t: np.zeros_like(t)
    t_max: int = 10
    z: float = 6.0
    geometric: bool = False
    relation: str = "exact"
    kind: ClassVar[str] = "exact"

    def evaluate(self, thm: Theorem, results: Mapping[str, list[Run]]) -> Outcome:
        runs = self.runs(results)
        if not runs:
            return Outcome(INCONCLUSIVE, "no runs selected", {})
        worst, evidence_runs = 0.0, []
        plot = Plot(self.name, "t", self.measure, logx=False)
        for r in runs:
            sel = r.trace.t <= self.t_max
            t = r.trace.t[sel]
            mean, se = fit.mean_se(r.trace.values[self.measure][:, sel])
            exact = np.asarray(self.predicted(r.trace.constants, t), dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                zscore = np.abs(mean - exact) / np.maximum(se, 1e-9 * np.abs(exact) + 1e-300)
            worst = max(worst, float(np.nanmax(zscore)))
            ev: dict[str, Any] = {"point": r.label, "max_abs_z": float(np.nanmax(zscore)), "R": r.trace.R}
            if self.geometric:
                ev["growth_factor_fitted"] = float(np.exp(fit.ols_slope(t.astype(float), np.log(mean))))
                ev["growth_factor_predicted"] = float(np.exp(fit.ols_slope(t.astype(float), np.log(exact))))
            evidence_runs.append(ev)
            with np.errstate(invalid="ignore", over="ignore"):
                plot.add(f"mean +- {self.z:g} se ({r.label})", t, mean, "data", mean - self.z * se, mean + self.z * se)
            plot.add("exact", t, exact, "bound")
        observed = PASS if worst <= self.z else FAIL
        summary = f"max |mean - exact| / se = {worst:.2f} (threshold {self.z:g})"
        if self.geometric:
            e = evidence_runs[0]
            summary += f"; growth factor {e['growth_factor_fitted']:.4f} vs exact {e['growth_factor_predicted']:.4f}"
        return Outcome(observed, summary, {"z_threshold": self.z, "runs": evidence_runs}, plot)


# ----------------------------------------------------------------------------------------------------
# the declaration

STEPS_READ: ContextVar[set[str] | None] = ContextVar("STEPS_READ", default=None)  # set by the runner


@dataclass
class Theorem:
    """A convergence theorem, declared. ``id`` is set by the loader from the module name (kebab case)."""

    title: str
    source: str
    statement: str
    assumptions: list[str]
    bound: sp.Expr
    measure: str
    sweeps: list[Sweep]
    checks: list[Check]
    steps: dict[str, sp.Expr] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    mutants: dict[str, Callable[[Theorem], Theorem]] = field(default_factory=dict)  # extra planted errors
    search: Any = None  # the instance space of `ratecheck falsify` (ratecheck.falsify), if declared
    id: str = ""
    path: str = ""

    def step(self, rule: str, constants: Mapping[str, Any]) -> float:
        """The step size of the named rule at these constants (e.g. rule 'max' = 1/(2L(1+omega))). The
        runner notes which rules a run reads, so a mutant that changes another rule reuses the run."""
        if rule not in self.steps:
            raise InputError(f"unknown step rule {rule!r}; the theorem declares {sorted(self.steps)}")
        read = STEPS_READ.get()
        if read is not None:
            read.add(rule)
        value = float(evaluate(self.steps[rule], constants))
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"step rule {rule!r} gives gamma={value!r} at {dict(constants)}: gamma must be a positive number")
        return value

    def sweep(self, name: str) -> Sweep:
        for sw in self.sweeps:
            if sw.name == name:
                return sw
        close = difflib.get_close_matches(name, [s_.name for s_ in self.sweeps], n=1)
        raise InputError(f"unknown sweep {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""))

    def validate(self) -> None:
        names = [s_.name for s_ in self.sweeps]
        for c in self.checks:
            if c.sweep not in names:
                raise InputError(f"{self.id}: check {c.name!r} reads sweep {c.sweep!r}; declared sweeps: {names}")
            if c.expected not in (PASS, FAIL):
                raise InputError(f"{self.id}: check {c.name!r} has expected={c.expected!r}; must be 'PASS' or 'FAIL'")
