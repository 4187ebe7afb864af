"""Theorem declarations, sweeps and checks (DESIGN.md, "Theorem" and "Checks and the statistical method").

A theorem module in ``theorems/`` defines ``THEOREM = Theorem(...)``: the statement, its source and
assumptions, the bound as a sympy expression in the symbols of ratecheck.symbols, the step-size rules as
sympy expressions, the declared sweeps that produce runs (ratecheck.sweep) and the checks that turn runs
into verdicts (ratecheck.checks). Everything a check predicts (an exponent, an
iteration count, a limiting ratio) is computed from the declared bound and step rules, never typed in, so
a wrong bound gives a wrong prediction and the check FAILs.

Each check returns PASS, FAIL or INCONCLUSIVE with its evidence and a plot. A check declares what it is
``expected`` to return: PASS for the theorem's claims, FAIL for negative controls (a configuration that
breaks a hypothesis). The theorem is verified when every check comes out as expected; INCONCLUSIVE is
never as expected.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy as sp

# the check kinds and the expression helpers live in ratecheck.checks and ratecheck.expr; re-exported here
# so that theorem files importing them from ratecheck.theorem keep working
from ratecheck.checks import (  # noqa: F401  # noqa: F401
    FAIL,
    INCONCLUSIVE,
    PASS,
    BoundHolds,
    BoundRatio,
    Check,
    Converges,
    Exponent,
    GeometricRate,
    HittingExponent,
    MeanEquals,
    MeanVersusBound,
    Observation,
    Outcome,
    Plot,
    Ratio,
    Relation,
    StepInequality,
    WithinRounding,
    clean,
    judge,
)
from ratecheck.expr import evaluate, expression, limiting_exponent, local_slope  # noqa: F401
from ratecheck.sweep import Sweep
from ratecheck.symbols import (  # noqa: F401  (the symbols bounds are written in; re-exported)
    F0,
    R0,
    B,
    L,
    Meaning,
    T,
    d,
    delta,
    delta_H,
    epsilon,
    gamma,
    k,
    meanings,
    mu,
    n,
    omega,
    s,
    sigma,
    tau,
    zeta,
)
from ratecheck.trace import Trace
from ratecheck.validate import InputError


@dataclass
class Run:
    point: dict
    trace: Trace

    @property
    def label(self) -> str:
        return ", ".join(f"{key}={v}" for key, v in self.point.items())


# ----------------------------------------------------------------------------------------------------
# the declaration


@dataclass
class Theorem:
    """A convergence theorem, declared. ``id`` is set by the loader from the module name (kebab case).

    ``steps``: the step-size rules (sympy expressions in the constants); runs read them through their
    Context (ratecheck.sweep), never the bound. ``symbols``: the theorem's own symbols with their meaning
    and neutral value (ratecheck.symbols.Meaning), added to the shared registry for this theorem (the
    generic dropped-factor mutants read it). ``stream``: the name that seeds the runs (default: the id), so
    that a renamed copy of the file runs on the same random draws. ``mutants``: planted errors of its own
    (name -> function Theorem -> Theorem). ``search``: the instance space of ``ratecheck falsify``."""

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
    symbols: list[Meaning] = field(default_factory=list)
    mutants: dict[str, Callable[[Theorem], Theorem] | str] = field(default_factory=dict)
    search: Any = None
    stream: str = ""
    id: str = ""
    path: str = ""

    def step(self, rule: str, constants: Mapping[str, Any]) -> float:
        """The step size of the named rule at these constants (e.g. rule 'max' = 1/(2L(1+omega)))."""
        if rule not in self.steps:
            close = difflib.get_close_matches(rule, list(self.steps), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"unknown step rule {rule!r}{hint}; the theorem declares {sorted(self.steps)}")
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

    def map_sweep(self, name: str, fn: Callable[[dict], Mapping[str, Any]]) -> Theorem:
        """The theorem with ``fn`` applied to every point (full and quick) of sweep ``name``: a mutant that
        changes what runs (its points change, so its runs are its own)."""
        self.sweep(name)
        return replace(self, sweeps=[sw.map_points(fn) if sw.name == name else sw for sw in self.sweeps])

    def meanings(self) -> dict[str, Meaning]:
        """Every symbol this theorem may use, with its meaning and neutral value (shared registry + its own)."""
        return meanings(self.symbols)

    def validate(self) -> None:
        names = [s_.name for s_ in self.sweeps]
        duplicated = sorted({x for x in names if names.count(x) > 1})
        if duplicated:
            raise InputError(f"{self.id}: sweep names must be unique; repeated: {duplicated}")
        for sw in self.sweeps:
            if not isinstance(sw, Sweep):
                raise InputError(f"{self.id}: sweeps must be ratecheck.sweep.Sweep objects, got {type(sw).__name__}")
        for rule, expr in self.steps.items():
            if not isinstance(expr, sp.Basic):
                raise InputError(f"{self.id}: step rule {rule!r} must be a sympy expression, got {expr!r}")
        self.meanings()  # a clash with the shared registry is an error here
        for c in self.checks:
            if c.sweep not in names:
                raise InputError(f"{self.id}: check {c.name!r} reads sweep {c.sweep!r}; declared sweeps: {names}")
            if c.expected not in (PASS, FAIL):
                raise InputError(f"{self.id}: check {c.name!r} has expected={c.expected!r}; must be 'PASS' or 'FAIL'")
            c.validate_relation(f"{self.id}: check {c.name!r} ({c.kind})")
