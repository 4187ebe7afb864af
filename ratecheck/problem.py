"""The protocol every synthetic problem implements (DESIGN.md, "Problem").

A problem is a synthetic objective whose constants are *certified*: computed from the instance
(eigenvalues, exact norms), never merely assumed. Algorithms know only this protocol.

Shapes: every method takes a batch ``x`` of shape ``(..., d)`` (typically ``(R, d)`` for R
independent replicas, or ``(R, n, d)`` for n clients) and works on the last axis.

Several clients (workers) have one protocol, ``ClientProblem``: f = (1/n) sum_i f_i with
``client_stoch_grads(y, rng)`` on client points y of shape (..., n, d), row i client i's stochastic
gradient of f_i at its own point y_i, with its own noise. Local SGD, multi-worker error feedback,
PowerSGD and the federated methods all read it. A caller whose clients share one point x passes
``np.broadcast_to(x[..., None, :], (..., n, d))`` (``broadcast_clients``); an implementation may detect
that (``shared_point``) and evaluate at x once. ``IIDClients(problem, n)`` turns a single-objective
Problem into n i.i.d. clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from ratecheck.validate import integer


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


@runtime_checkable
class ClientProblem(Protocol):
    """f = (1/n) sum_i f_i with one stochastic oracle per client (module docstring).

    ``client_stoch_grads(y, rng)``: y of shape (..., n, d) -> (..., n, d), row i an unbiased stochastic
    gradient of f_i at y_i, independent across clients and batch entries. ``loss``, ``grad``, ``x0``,
    ``x_star``, ``f_star`` and ``constants`` are those of the mean objective f on (..., d)."""

    n: int
    d: int
    x0: np.ndarray
    x_star: np.ndarray
    f_star: float
    constants: Mapping[str, float]

    def loss(self, x: np.ndarray) -> np.ndarray: ...

    def grad(self, x: np.ndarray) -> np.ndarray: ...

    def client_stoch_grads(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


def broadcast_clients(x: np.ndarray, n: int) -> np.ndarray:
    """The shared point x (..., d) as the points of n clients, (..., n, d): a read-only broadcast view."""
    x = np.asarray(x)
    return np.broadcast_to(x[..., None, :], x.shape[:-1] + (n, x.shape[-1]))


def shared_point(y: np.ndarray) -> np.ndarray | None:
    """x when the client points y (..., n, d) are a broadcast of one x (..., d) over the client axis
    (stride 0, as ``broadcast_clients`` makes them), else None."""
    return y[..., 0, :] if y.ndim >= 2 and y.strides[-2] == 0 else None


class IIDClients:
    """n i.i.d. clients of one objective: f_i = f, client i's gradient an independent stochastic gradient of
    f at y_i (data-parallel SGD with n workers sampling the same distribution).

    Fast path (``one_gradient=True``, the default): when the problem's noise is additive and independent
    of x (a ratecheck.problem.Noise in ``problem.noise``) and the clients share one point (``shared_point``),
    one exact gradient at x plus n independent noise draws, grad f(x) + xi_i: the same distribution as n
    calls of stoch_grad, n times cheaper. Otherwise (or with ``one_gradient=False``) problem.stoch_grad on
    the client points."""

    def __init__(self, problem: Problem, n: int, *, one_gradient: bool = True) -> None:
        self.problem = problem
        self.n = integer("n", n, low=1)
        self.d = int(problem.d)
        self.x0, self.x_star, self.f_star = problem.x0, problem.x_star, problem.f_star
        self.constants = {**problem.constants, "n": float(self.n)}
        self.additive = bool(one_gradient) and isinstance(getattr(problem, "noise", None), Noise)

    def loss(self, x: np.ndarray) -> np.ndarray:
        return self.problem.loss(x)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.problem.grad(x)

    def client_stoch_grads(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """g_i(y_i) for every client: (..., n, d) -> (..., n, d), independent noise per client (class docstring)."""
        x = shared_point(y) if self.additive else None
        if x is not None:
            return self.problem.grad(x)[..., None, :] + self.problem.noise.sample(y.shape, rng)  # type: ignore[attr-defined]
        return self.problem.stoch_grad(y, rng)

    def __repr__(self) -> str:
        return f"IIDClients({self.problem!r}, n={self.n})"


def sample_clients(R: int, N: int, S: int, rng: np.random.Generator) -> np.ndarray:
    """S of the N clients per replica, uniformly without replacement and independently across the R
    replicas: shape (R, S), sorted within each row (a vectorized permutation: argsort of uniform keys)."""
    N = integer("N", N, low=1)
    S = integer("S", S, low=1, high=N)
    if S == N:
        return np.broadcast_to(np.arange(N), (R, N))
    return np.sort(np.argsort(rng.random((R, N)), axis=1)[:, :S], axis=1)
