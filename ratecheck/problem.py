"""The protocol every synthetic problem implements (DESIGN.md, "Problem").

A problem is a synthetic objective whose constants are *certified*: computed from the instance
(eigenvalues, exact norms), never merely assumed. Algorithms know only this protocol.

Shapes: every method takes a batch ``x`` of shape ``(..., d)`` (typically ``(R, d)`` for R
independent replicas, or ``(R, n, d)`` for n clients) and works on the last axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Problem(Protocol):
    """A smooth objective f: R^d -> R with a stochastic first-order oracle and certified constants.

    Attributes
    ----------
    d: dimension.
    x0: starting point, shape ``(d,)``.
    x_star: a minimiser, shape ``(d,)`` (for nonconvex problems: the point with f = f_inf).
    f_star: ``f(x_star)`` (or the infimum ``f_inf``).
    constants: certified constants, by the catalog's names: ``L``, ``mu``, ``sigma``, ``B``,
        ``R0`` (= ||x0 - x*||^2), ``F0`` (= f(x0) - f*), ...
    """

    d: int
    x0: np.ndarray
    x_star: np.ndarray
    f_star: float
    constants: Mapping[str, float]

    def loss(self, x: np.ndarray) -> np.ndarray:
        """f(x) on a batch: ``(..., d) -> (...)``."""
        ...

    def grad(self, x: np.ndarray) -> np.ndarray:
        """Exact gradient on a batch: ``(..., d) -> (..., d)``."""
        ...

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Stochastic gradient g(x) with E g(x) = grad(x), fresh noise per batch element."""
        ...


@runtime_checkable
class Noise(Protocol):
    """Additive gradient noise xi, independent of x: g(x) = grad f(x) + xi.

    ``sigma2`` is E||xi||^2 exactly (``inf`` for heavy tails with infinite variance).
    """

    sigma2: float

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Draw noise of the given shape (last axis = d)."""
        ...
