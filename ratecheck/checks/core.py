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
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
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
# the error model: false-failure rate, power, budget (issue 15)

Z99 = float(stats.norm.ppf(0.99))  # one-sided 0.99 quantile: the deviation detected with probability 0.99
KEEP = 256  # comparisons kept per component for re-scaling (the rest bounded by the last kept one)


def bootstrap_mc_se(se: float, n_resamples: int, confidence: float) -> float:
    """Standard error of a percentile endpoint from its own Monte Carlo (n_resamples draws of a bootstrap
    distribution, approximately normal with sd ``se``): sqrt(a (1 - a) / B) / density at the a-quantile,
    a = (1 - confidence) / 2; 0 without resamples."""
    if not n_resamples or not np.isfinite(se) or se <= 0:
        return 0.0
    a = (1.0 - confidence) / 2.0
    return float(se * math.sqrt(a * (1 - a) / n_resamples) / stats.norm.pdf(stats.norm.ppf(a)))


def band(relation: Relation | str, estimate: float, low: float, high: float, predicted: float, tol: float, se: float,
         R: int, n_resamples: int = 0, confidence: float = 0.99, relative: bool = False) -> dict[str, Any]:
    """The error model of one estimate judged by ``judge`` against predicted +- tol (``relative``: tol a
    fraction of abs(predicted)). The interval's half-widths are the measured ones (est - low, high - est;
    z * se for a normal interval), its centre moves as N(est, se^2 + se_mc^2), se_mc the percentile
    endpoints' own Monte Carlo error (``bootstrap_mc_se``)."""
    p = float(predicted)
    tol_abs = float(tol) * abs(p) if relative else float(tol)
    return {"form": "band", "relation": str(Relation(relation)), "estimate": float(estimate), "predicted": p, "tol": tol_abs,
            "h_lo": float(estimate) - float(low), "h_hi": float(high) - float(estimate), "se": float(se),
            "se_mc": bootstrap_mc_se(float(se), n_resamples, confidence), "n_resamples": int(n_resamples), "R": int(R),
            "confidence": confidence}


def tlimits(side: str, mean: Any, se: Any, bound: Any, slack: Any, q: float, R: int, alpha_each: float) -> dict[str, Any]:
    """The error model of many one-sided Student t comparisons mean +- q se against a bound (+- slack):
    side 'upper' (PASS when every mean + q se <= bound + slack) or 'lower'. Stored as the standardized
    margins d = (bound + slack - mean) / se ('upper'; mirrored for 'lower'); comparisons with se = 0 are
    certain (counted as passing, inconclusive or failing)."""
    mean, se, bound, slack = (np.broadcast_to(np.asarray(a, dtype=np.float64), np.shape(mean)).ravel() for a in (mean, se, bound, slack))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        room = (bound + slack - mean) if side == "upper" else (mean - bound + slack)
        fail_room = (bound + slack - mean) if side == "upper" else (mean - bound + slack)
        random = (se > 0) & np.isfinite(se) & np.isfinite(room)
        d = np.sort(room[random] / se[random])
    certain = ~random
    nonpass = int(np.sum(certain & ~(room >= 0)))
    fails = int(np.sum(certain & ~(fail_room >= 0)))
    kept = d[:KEEP]
    return {"form": "tlimits", "side": side, "d": [float(x) for x in kept], "rest": int(d.size - kept.size), "q": float(q),
            "R": int(R), "alpha_each": float(alpha_each), "certain_nonpass": nonpass, "certain_fail": fails,
            "comparisons": int(mean.size)}


def zscores(scores: Any, z: float, R: int) -> dict[str, Any]:
    """The error model of a z threshold per checkpoint (PASS when every |z_i| <= z); plug-in: the
    statistic is N(z_i, 1) at each checkpoint."""
    sc = np.asarray(scores, dtype=np.float64).ravel()
    finite = np.isfinite(sc)
    order = np.argsort(-np.abs(sc[finite]))
    kept = sc[finite][order][:KEEP]
    return {"form": "zscores", "scores": [float(x) for x in kept], "rest": int(finite.sum() - kept.size), "z": float(z),
            "R": int(R), "certain_fail": int(np.sum(~finite))}


def deterministic(observed: str) -> dict[str, Any]:
    """A statistic without randomness: the verdict repeats with certainty."""
    return {"form": "deterministic", "nonpass": int(observed != PASS), "fail": int(observed == FAIL)}


def _band_probs(c: dict, k: float) -> tuple[float, float]:
    """(P(not PASS), P(not FAIL)) of a band component with the replicas multiplied by k."""
    shrink = 1.0 / math.sqrt(k)
    est, p, tol = c["estimate"], c["predicted"], c["tol"]
    if not (math.isfinite(est) and math.isfinite(p) and math.isfinite(c["h_lo"]) and math.isfinite(c["h_hi"])):
        return 1.0, 1.0
    h_lo, h_hi = c["h_lo"] * shrink, c["h_hi"] * shrink
    s = math.hypot(c["se"], c["se_mc"]) * shrink if math.isfinite(c["se"]) else 0.0
    N = (lambda x: float(stats.norm.cdf(x))) if s > 0 else (lambda x: float(x > 0) + 0.5 * float(x == 0))

    def P_above(level: float) -> float:  # P(est > level)
        return N((est - level) / s) if s > 0 else float(est > level)

    def P_below(level: float) -> float:
        return N((level - est) / s) if s > 0 else float(est < level)

    rel = c["relation"]
    hi_b, lo_b = p + tol, p - tol
    up_np, lo_np = P_above(hi_b - h_hi), P_below(lo_b + h_lo)  # an end outside the band
    up_f, lo_f = P_above(hi_b + h_lo), P_below(lo_b - h_hi)  # the whole interval outside
    if rel == "upper":
        return up_np, 1.0 - up_f
    if rel == "lower":
        return lo_np, 1.0 - lo_f
    if rel == "exact":
        return min(1.0, up_f + lo_f), 1.0 - min(1.0, up_f + lo_f)
    return min(1.0, up_np + lo_np), max(0.0, 1.0 - up_f - lo_f)


def _t_probs(c: dict, k: float) -> tuple[float, float]:
    R = max(c["R"] * k, 2.0)
    nu = R - 1
    q = float(stats.t.ppf(1.0 - c["alpha_each"], nu)) if k != 1 else c["q"]
    d = np.asarray(c["d"], dtype=np.float64) * math.sqrt(k)
    np_each = stats.t.cdf(-(d - q), nu)
    f_each = stats.t.cdf(-(d + q), nu)
    if c["rest"] and d.size:  # the comparisons not kept: at most as likely as the last kept one
        np_each = np.append(np_each, c["rest"] * np_each[-1])
        f_each = np.append(f_each, min(1.0, c["rest"] * f_each[-1]))
    nonpass = min(1.0, float(np.sum(np_each)) + c["certain_nonpass"])
    nofail = 0.0 if c["certain_fail"] else float(np.prod(1.0 - np.clip(f_each, 0, 1)))
    return nonpass, nofail


def _z_probs(c: dict, k: float) -> tuple[float, float]:
    zs = np.asarray(c["scores"], dtype=np.float64) * math.sqrt(k)
    each = stats.norm.cdf(-c["z"] - zs) + stats.norm.cdf(-c["z"] + zs)
    if c["rest"] and zs.size:
        each = np.append(each, min(1.0, c["rest"] * each[-1]))
    fail = min(1.0, float(np.sum(each)) + c["certain_fail"])
    return fail, (0.0 if c["certain_fail"] else float(np.prod(1.0 - np.clip(each, 0, 1))))


def probabilities(model: dict | None, k: float = 1.0) -> tuple[float | None, float | None]:
    """(false_fail, false_pass) of an error model, the replicas multiplied by ``k`` (se ~ 1 / sqrt(R)):
    false_fail sums the components' P(not PASS) (a union bound, capped at 1); false_pass multiplies their
    P(not FAIL) (independent components)."""
    if not model or not model.get("components"):
        return None, None
    nonpass, nofail = 0.0, 1.0
    for c in model["components"]:
        if c["form"] == "band":
            a, b = _band_probs(c, k)
        elif c["form"] == "tlimits":
            a, b = _t_probs(c, k)
        elif c["form"] == "zscores":
            a, b = _z_probs(c, k)
        else:
            a, b = float(c["nonpass"]), float(1 - c["fail"])
        nonpass += a
        nofail *= b
    return min(1.0, nonpass), nofail


def band_power(c: dict) -> float:
    """The smallest deviation from the claim a band component FAILs with probability >= 0.99:
    tol + (the interval's half-width toward the band) + z_0.99 se (the larger side for 'tight')."""
    s = math.hypot(c["se"], c["se_mc"]) if math.isfinite(c["se"]) else math.nan
    up, down = c["tol"] + c["h_lo"] + Z99 * s, c["tol"] + c["h_hi"] + Z99 * s
    return {"upper": up, "lower": down}.get(c["relation"], max(up, down))


def t_power(q: float, R: int, se: float, bound: float, slack_rel: float = 0.0) -> float:
    """The smallest excess over the bound that a one-sided t comparison FAILs with probability >= 0.99,
    relative to abs(bound): slack + (q + t_0.99) se / abs(bound)."""
    t99 = float(stats.t.ppf(0.99, max(R - 1, 1)))
    return float(slack_rel + (q + t99) * se / abs(bound)) if bound else math.inf


def needed_factor(model: dict, share: float, k_max: float = 1e6) -> float | None:
    """The factor k on the replicas at which false_fail falls to ``share`` (bisection in log k); None when
    no k <= k_max reaches it (the measured value sits at or outside the band: replicas do not help)."""
    ff = lambda k: probabilities(model, k)[0]
    if ff(1.0) is None:
        return None
    if ff(1.0) <= share:
        lo, hi = 1e-3, 1.0
        if ff(lo) <= share:
            return lo
    else:
        lo, hi = 1.0, k_max
        if ff(hi) > share:
            return None
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if ff(mid) > share:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1.001:
            break
    return hi


def budget(checks: Iterable[Any], target: float = 1e-3) -> dict[str, Any]:
    """The false-failure budget of one theorem run. ``checks``: verdict.json entries (dicts with name,
    expected, false_fail, false_pass, error_model) or (Check, Outcome) pairs. Returns the total
    false-failure (sum of false_fail over the checks expected to PASS that have one), the share each may
    use (target / their number), the checks over it with the replicas they would need (R_needed = R k,
    k solving false_fail(k) = share, se ~ 1/sqrt(R)), the negative controls' false_pass (the probability
    that one wrongly passes) and their total, and the checks without a figure (observations)."""
    entries = []
    for c in checks:
        if isinstance(c, tuple):
            chk, o = c
            c = {"name": chk.name, "expected": chk.expected, **o.record()}
        entries.append(c)
    positive = [c for c in entries if c.get("expected") == PASS and _num(c.get("false_fail")) is not None]
    negative = [c for c in entries if c.get("expected") == FAIL]
    share = target / max(len(positive), 1)
    total = float(sum(_num(c["false_fail"]) for c in positive))
    over = []
    for c in positive:
        ff = _num(c["false_fail"])
        if ff <= share:
            continue
        model = c.get("error_model") or {}
        R = max((int(x.get("R", 0)) for x in model.get("components", [])), default=0)
        k = needed_factor(model, share) if model.get("rescalable", True) else None
        over.append({"name": c["name"], "false_fail": ff, "share": share, "R": R or None,
                     "R_needed": None if k is None or not R else math.ceil(R * k),
                     "note": model.get("rescale_note") if not model.get("rescalable", True) else
                     ("more replicas do not reach the share: the measured value sits at or outside the band" if k is None else None)})
    neg = [{"name": c["name"], "false_pass": _num(c.get("false_pass"))} for c in negative]
    return {"target": target, "total_false_fail": min(total, 1.0), "sum_false_fail": total, "pass_expected": len(positive),
            "share": share, "over": over, "negative_controls": neg,
            "total_false_pass": float(sum(x["false_pass"] for x in neg if x["false_pass"] is not None)),
            "without_figure": [c["name"] for c in entries if c.get("expected") == PASS and _num(c.get("false_fail")) is None],
            "within": total <= target}


def _num(x: Any) -> float | None:
    """A stored number back as a float ('inf'/'nan' strings of clean() included); None stays None."""
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def straddle_reason(interval: tuple[float, float], predicted: float, tol: float, relation: Relation | str, relative: bool = False,
                    fmt: str = ".4g") -> str | None:
    """Why ``judge`` finds an interval INCONCLUSIVE, in words (None when it does not)."""
    lo, hi, p = float(interval[0]), float(interval[1]), float(predicted)
    if not (math.isfinite(p)):
        return "no finite prediction"
    if math.isnan(lo) or math.isnan(hi):
        return "no interval: the statistic is not finite on these data"
    relation = Relation(relation)
    t = float(tol) * abs(p) if relative else float(tol)
    band_text = f"band {p:{fmt}} +- {tol:.0%}" if relative else f"band {p:{fmt}} +- {tol:{fmt}}"
    band_text += f" = [{p - t:{fmt}}, {p + t:{fmt}}]"
    I = f"[{lo:{fmt}}, {hi:{fmt}}]"
    if judge((lo, hi), p, tol, relation, relative) != INCONCLUSIVE:
        return None
    if relation is Relation.TIGHT:
        edge = p - t if lo < p - t else p + t
        if lo < p - t and hi > p + t:
            return f"the interval {I} is wider than the {band_text}: it holds both edges"
        return f"the interval {I} straddles the band edge {edge:{fmt}} ({band_text})"
    if relation is Relation.UPPER:
        return f"the interval {I} straddles the upper limit {p + t:{fmt}} ({band_text})"
    return f"the interval {I} straddles the lower limit {p - t:{fmt}} ({band_text})"


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
        """Select the runs, INCONCLUSIVE without any, the divergence note, then the kind's statistic; then
        the figures of issue 15 from the kind's error model (false_fail, false_pass), the claim and the
        reason of a verdict that is not clear-cut."""
        relation = self.validate_relation()
        runs = self.runs(results)
        if not runs:
            out = Outcome(INCONCLUSIVE, "no runs selected", {}, relation=relation,
                          reason=f"no run of sweep {self.sweep!r} is selected by the check's `where`")
            return self._finish(thm, out)
        div = divergence_note(runs)
        if div and self.diverged_fails:
            out = Outcome(FAIL, f"diverged at step {div['step']} ({div['point']})", {"diverged": div}, relation=relation,
                          error_model={"components": [deterministic(FAIL)], "note": "a diverged run FAILs with certainty"})
            return self._finish(thm, out)
        out = self.statistic(thm, runs)
        out.relation = relation
        if div and "diverged" not in out.evidence:
            out.evidence["diverged"] = div
        if div and "diverged at step" not in out.summary:
            out.summary += f"; diverged at step {div['step']} ({div['replicas']}/{div['of']} replicas, {div['point']})"
        return self._finish(thm, out)

    def _finish(self, thm: Theorem, out: Outcome) -> Outcome:
        if out.error_model is not None:
            out.false_fail, out.false_pass = probabilities(out.error_model)
        if out.claim is None:
            try:
                out.claim = self.claim_text(thm)
            except Exception:  # noqa: BLE001 -- a claim that cannot be rendered is reported by the statistic itself
                out.claim = None
        if out.observed == INCONCLUSIVE and not out.reason:
            if out.interval is not None and out.predicted is not None and out.tolerance is not None and out.relation in (
                    Relation.TIGHT, Relation.UPPER, Relation.LOWER):
                out.reason = straddle_reason(out.interval, out.predicted, out.tolerance, out.relation, bool(out.relative))
            out.reason = out.reason or out.summary
        return out

    def claim_text(self, thm: Theorem) -> str | None:
        """The expression the check evaluates (its bound after ``subs``), as str()."""
        return str(self.the_bound(thm))

    def statistic(self, thm: Theorem, runs: list[Run]) -> Outcome:
        """The kind's own statistic and verdict on the selected runs (at least one)."""
        raise NotImplementedError
