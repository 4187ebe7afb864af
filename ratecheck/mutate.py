"""Planted errors built from a theorem's own declaration (issue #4: the mutation suite).

A mutant is the theorem with one deliberate error; ``verify`` must reject it (some check not as
expected). Every theorem gets these without extra code, because its bound and step rules are sympy
expressions:
  * ``drop-<symbol>``: the bound with a symbol at its neutral value (ratecheck.symbols: omega -> 0,
    delta -> 1, n -> 1, zeta -> 0, delta_H -> 0, f -> 0, tau -> infinity, and whatever a theorem adds in
    ``Theorem.symbols``), i.e. a dropped factor such as (1 + omega) or 1/delta (only where that changes a
    bound);
  * ``faster-T``: T -> T^2 in the bound, a wrong (too fast) exponent;
  * ``step-x8-<rule>``: the step rule multiplied by 8, a step size beyond the theorem's limit (the runs
    are redone with it);
and a theorem may add its own (``Theorem.mutants``: name -> function Theorem -> Theorem), e.g. a violated
assumption, or declare a generic one equivalent (name -> the reason, a string: listed, never counted). Every transformation applies to the theorem's bound and to every check's own ``bound``.
A mutant is named ``<id>~<mutation>`` and verified like any theorem: ``ratecheck verify quantized-sgd~faster-T``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import sympy as sp

from ratecheck.symbols import T, meanings, neutral_values
from ratecheck.theorem import Theorem
from ratecheck.validate import InputError

CLAIM_FIELDS = ("bound", "bound_den")  # the fields of a check that hold a claimed expression


def map_bounds(thm: Theorem, f: Callable[[sp.Expr], sp.Expr]) -> Theorem:
    """The theorem with ``f`` applied to its bound and to every claimed expression of its checks (``bound``,
    and ``bound_den`` of a comparison of two bounds): a planted error changes both sides of a ratio."""
    def change(c):
        new = {k: f(getattr(c, k)) for k in CLAIM_FIELDS if getattr(c, k, None) is not None}
        return dataclasses.replace(c, **new)

    return dataclasses.replace(thm, bound=f(thm.bound), checks=[change(c) for c in thm.checks])


def _all_bounds(thm: Theorem) -> list[sp.Expr]:
    return [thm.bound] + [getattr(c, k) for c in thm.checks for k in CLAIM_FIELDS if getattr(c, k, None) is not None]


def mutations(thm: Theorem) -> dict[str, Callable[[Theorem], Theorem]]:
    """Every planted error applicable to this theorem, by name."""
    out: dict[str, Callable[[Theorem], Theorem]] = {}
    for sym, value in neutral_values(meanings(thm.symbols)).items():
        if any(expr.subs(sym, value) != expr for expr in _all_bounds(thm)):
            out[f"drop-{sym}"] = lambda t, sym=sym, value=value: map_bounds(t, lambda b: b.subs(sym, value))
    if any(T in expr.free_symbols for expr in _all_bounds(thm)):
        out["faster-T"] = lambda t: map_bounds(t, lambda b: b.subs(T, T**2))
    for rule in thm.steps:
        out[f"step-x8-{rule}"] = lambda t, rule=rule: dataclasses.replace(t, steps={**t.steps, rule: 8 * t.steps[rule]})
    out.update(getattr(thm, "mutants", None) or {})
    for name in equivalent(thm):  # declared equivalent: the theorem's claims do not change under it
        out.pop(name, None)
    return out


def equivalent(thm: Theorem) -> dict[str, str]:
    """Generic mutants the theorem declares equivalent (``Theorem.mutants`` maps the name to the reason, a
    string): e.g. a step rule used only by exponent claims, whose exponents are the same for any constant
    multiple of the step below the stability limit. They are listed by ``ratecheck mutants``, not counted."""
    return {k: v for k, v in (getattr(thm, "mutants", None) or {}).items() if isinstance(v, str)}


def mutate(thm: Theorem, name: str) -> Theorem:
    """The theorem with the planted error ``name``; its id becomes ``<id>~<name>``."""
    table = mutations(thm)
    if name not in table:
        raise InputError(f"unknown mutation {name!r} of {thm.id}; available: {', '.join(table)}")
    mutant = table[name](thm)
    mutant.id = f"{thm.id}~{name}"
    return mutant
