"""The symbols bounds are written in, each with its meaning and, where it has one, its neutral value: the
value that makes its factor disappear (omega -> 0: no compression variance; delta -> 1: exact compression;
n -> 1: one worker; zeta -> 0: identical optima; delta_H -> 0: identical Hessians; f -> 0: no Byzantine
worker; tau -> infinity: no clipping). The generic "dropped factor" mutants (ratecheck.mutate) substitute the
neutral value of every symbol a bound contains, so a new theorem gets them without an edit to mutate.py.

A theorem extends the registry for itself with ``Theorem(symbols=[Meaning("r", "rank", neutral=1)])``; its
entries override nothing of the shared table silently (a clash of meaning is an error at validation).

Every symbol is positive (sympy then simplifies roots and powers; 'gamma' is the step size, not the Gamma
function). Names follow ../shared/STYLE.md: ``delta`` is the compressor's quality, ``delta_H`` the Hessian
similarity, ``n`` workers, ``f`` Byzantine workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sympy as sp

from ratecheck.validate import InputError


@dataclass(frozen=True)
class Meaning:
    """What a symbol stands for; ``neutral`` is the value that removes its factor from a bound (None: none)."""

    name: str
    meaning: str
    neutral: float | None = None

    @property
    def symbol(self) -> sp.Symbol:
        return sp.Symbol(self.name, positive=True)


REGISTRY: dict[str, Meaning] = {}


def register(name: str, meaning: str, neutral: float | None = None) -> sp.Symbol:
    """Add a symbol to the shared registry and return it (a positive sympy Symbol)."""
    REGISTRY[name] = Meaning(name, meaning, neutral)
    return sp.Symbol(name, positive=True)


T = register("T", "number of steps (iterations, or rounds)")
L = register("L", "smoothness constant: ||grad f(x) - grad f(y)|| <= L ||x - y||")
mu = register("mu", "strong convexity constant")
sigma = register("sigma", "standard deviation of the stochastic gradient: E||g - grad f||^2 <= sigma^2")
R0 = register("R0", "initial squared distance ||x0 - x*||^2")
F0 = register("F0", "initial suboptimality f(x0) - f_inf")
omega = register("omega", "variance of an unbiased compressor: E||Q(x) - x||^2 <= omega ||x||^2", neutral=0)
delta = register("delta", "quality of a biased compressor: E||C(x) - x||^2 <= (1 - delta) ||x||^2", neutral=1)
n = register("n", "number of workers (clients)", neutral=1)
d = register("d", "dimension")
gamma = register("gamma", "step size")
B = register("B", "bound on the second moment of the stochastic gradient: E||g||^2 <= B^2")
epsilon = register("epsilon", "target accuracy")
zeta = register("zeta", "gradient dissimilarity between clients (spread of the optima)", neutral=0)
delta_H = register("delta_H", "Hessian dissimilarity between clients: ||H_i - H|| <= delta_H", neutral=0)
f = register("f", "number of Byzantine workers", neutral=0)
tau = register("tau", "clipping threshold: clip_tau(g) = g min(1, tau/||g||)", neutral=float("inf"))
k = register("k", "coordinates kept by a sparsifier")
s = register("s", "quantization levels")


def meanings(extra: Iterable[Meaning] = ()) -> dict[str, Meaning]:
    """The shared registry extended by a theorem's own entries; a theorem may add symbols, and may give a
    shared symbol the same meaning again, but not a different neutral value."""
    out = dict(REGISTRY)
    for m in extra:
        if not isinstance(m, Meaning):
            raise InputError(f"symbols must be Meaning(name, meaning, neutral) entries, got {m!r}")
        old = out.get(m.name)
        if old is not None and old.neutral != m.neutral:
            raise InputError(f"symbol {m.name!r} has neutral value {old.neutral!r} in the shared registry ({old.meaning}); "
                             f"a theorem cannot redeclare it as {m.neutral!r}: give the new quantity another name")
        out[m.name] = m
    return out


def neutral_values(table: Mapping[str, Meaning]) -> dict[sp.Symbol, float]:
    """symbol -> neutral value, for every symbol that has one (the generic dropped-factor mutants)."""
    return {m.symbol: (sp.oo if m.neutral == float("inf") else m.neutral) for m in table.values() if m.neutral is not None}
