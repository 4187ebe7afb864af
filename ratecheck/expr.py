"""Numbers from sympy expressions: evaluation with every symbol looked up by name, the bound's local slope
in log-log coordinates and its leading exponent (DESIGN.md, "Checks and the statistical method": fit against
the bound's own variable, over the window where its leading term dominates)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp
from scipy import optimize

from ratecheck.validate import InputError


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


def hitting_time(expr: sp.Expr, env: Mapping[str, Any], eps: float) -> float:
    """The T at which the bound reaches eps (solving bound(T) = eps by bracketing in log T); inf when the
    bound does not cross eps between T = 1e-9 and 1e18."""
    g = lambda logT: float(evaluate(expr, {**env, "T": math.exp(logT)})) - eps
    lo, hi = math.log(1e-9), math.log(1e18)
    if not (g(lo) > 0 > g(hi)):
        return math.inf
    return math.exp(optimize.brentq(g, lo, hi, xtol=1e-12))
