"""Robust aggregators AGG: (R, n, d) -> (R, d) for Byzantine-robust distributed SGD, with the robustness
they declare (THEOREMS.md T7).

Every aggregator is called as ``agg(G, rng=None)`` on an array ``G`` of shape ``(R, n, d)``: R independent
replicas of n worker vectors of dimension d. It returns ``(R, d)``. Everything is batched over replicas and
workers (pairwise distances through Gram matrices, sorting and partitioning along the worker axis, batched
Weiszfeld and clipping iterations): no Python loop over replicas or workers.

Each aggregator is built with ``f``, the number of Byzantine inputs it must tolerate, and checks its
requirement on n at call time (``check(n)``, an InputError naming f, n and the condition). ``max_f(n)`` is
the requirement solved for f. ``robustness()`` returns the (delta_max, c)-robustness the literature claims
for the rule (THEOREMS.md T7 (a), after Karimireddy, He, Jaggi 2021): whenever the Byzantine fraction
delta = f/n <= delta_max and the good inputs satisfy E||x_k - x_k'||^2 <= rho^2,

    E||AGG(x_1..x_n) - mean_G||^2 <= c delta rho^2,

with its provenance tag, or None for a rule that is not robust on its own in this sense.

Inputs that are not finite (NaN, +-inf) are treated as Byzantine: the order-based rules sort NaN above
+inf, the distance-based rules give them infinite distance, the iterative rules (GM, CC) give them zero
weight. Finite inputs of any size (1e300) are handled without overflow where the rule's result is finite.

State: CenteredClip carries its centre v across rounds (``step(G, v) -> v_new``; ``init``/``update`` pairs
for the ``ratecheck.transforms`` server slot, see ``ratecheck.transforms.aggregate``). Bucketing needs the
rng passed to the call. No aggregator keeps hidden state.

``REGISTRY`` maps a name to a factory of a configured aggregator given f; the property tests run every
entry through every contract test. ``make(name, **params)`` builds one by class name; ``parse(spec, f)``
builds one from a short spec ("krum", "trimmed_mean:2", "bucketing:2:krum", "nnm:coordinate_median").
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ratecheck.validate import InputError, build, integer, positive

__all__ = [
    "NNM",
    "REGISTRY",
    "Aggregator",
    "Bucketing",
    "CenteredClip",
    "CoordinateMedian",
    "GeometricMedian",
    "Krum",
    "Mean",
    "MultiKrum",
    "Robustness",
    "TrimmedMean",
    "make",
    "parse",
    "squared_distances",
]


class Robustness(NamedTuple):
    """A declared (delta_max, c)-robustness (THEOREMS.md T7 (a)). ``c`` is None where the source gives only
    its order (``order``: "O(1)", "O(d)"); ``status`` is the catalog's provenance tag."""

    delta_max: float
    c: float | None
    order: str
    status: str
    source: str


# ----------------------------------------------------------------------------------------------------
# helpers


def _inputs(G: object) -> np.ndarray:
    """``G`` as a float array of shape (R, n, d) with R, n, d >= 1."""
    G = np.asarray(G)
    if G.ndim != 3 or min(G.shape) < 1:
        raise InputError(f"G must be an array of shape (R, n, d) with R, n, d >= 1, got shape {G.shape}")
    return G if np.issubdtype(G.dtype, np.floating) else G.astype(np.float64)


def _finite_rows(G: np.ndarray) -> np.ndarray:
    """(R, n) mask of the inputs with only finite entries."""
    return np.isfinite(G).all(axis=-1)


def _row_norms(U: np.ndarray) -> np.ndarray:
    """Euclidean norms over the last axis; rows whose plain sum of squares overflows (or underflows to 0)
    are recomputed as scale * ||u / scale|| with scale = max|u|."""
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.sqrt(np.einsum("...i,...i->...", U, U))
    bad = ~np.isfinite(norms) | (norms == 0)
    if bad.any():
        rows = U[bad]
        scale = np.max(np.abs(rows), axis=-1, initial=0.0)
        safe = np.where(scale > 0, scale, 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            norms[bad] = scale * np.sqrt(np.sum(np.square(rows / safe[:, None]), axis=-1))
    return norms


def _mean(G: np.ndarray) -> np.ndarray:
    """(1/n) Σ_i G[:, i] as a BLAS matrix-vector product (faster than a NumPy reduction over axis 1)."""
    R, n, _ = G.shape
    return (np.full((R, 1, n), 1.0 / n, dtype=G.dtype) @ G)[:, 0]


def _sort(G: np.ndarray) -> np.ndarray:
    """G sorted along the worker axis (NaN last). A full sort of the short worker axis is faster than
    np.partition for the n of interest (n <= 10^3, benchmarks/bench_aggregators.py); one replica is sorted
    as a 2-D array, NumPy's faster loop for that case."""
    return np.sort(G[0], axis=0)[None] if len(G) == 1 else np.sort(G, axis=1)


def _median(G: np.ndarray) -> np.ndarray:
    """Coordinate-wise median over axis 1; even n averages the two middle values; NaN sorts above +inf."""
    n = G.shape[1]
    k = n // 2
    S = _sort(G)
    if n % 2:
        return S[:, k]
    return S[:, k - 1] / 2 + S[:, k] / 2  # halves first: no overflow near the float limit


def _gram_distances(Y: np.ndarray) -> np.ndarray:
    """(R, n, n) ||y_i||^2 + ||y_j||^2 - 2 <y_i, y_j>, clipped at 0, diagonal 0; entries involving a
    non-finite or overflowing input are +inf (inf - inf would be NaN)."""
    R, n, _ = Y.shape
    with np.errstate(over="ignore", invalid="ignore"):
        sq = np.einsum("rnd,rnd->rn", Y, Y)
        gram = (Y[0] @ Y[0].T)[None] if R == 1 else Y @ np.swapaxes(Y, 1, 2)  # 2-D product: BLAS syrk
        gram *= 2.0
        D = sq[:, :, None] + sq[:, None, :]  # (sq_i + sq_j) - 2 g_ij: symmetric in i, j when g is
        D -= gram
    if R > 1:  # a batched product need not be exactly symmetric; ties (Krum's mutual neighbours) must be
        D = np.maximum(D, np.swapaxes(D, 1, 2))
    np.maximum(D, 0.0, out=D)  # NaN propagates through maximum
    bad = ~np.isfinite(sq)
    if bad.any():
        D[np.isnan(D) | bad[:, :, None] | bad[:, None, :]] = np.inf
    D[:, np.arange(n), np.arange(n)] = 0.0
    return D


def squared_distances(G: np.ndarray) -> np.ndarray:
    """(R, n, n) squared Euclidean distances ||x_i - x_j||^2 between the inputs of each replica, through
    Gram matrices. Diagonal 0; a distance involving a non-finite or overflowing input is +inf.

    The Gram form loses accuracy when the inputs sit far from the origin relative to their spread (absolute
    error ~ eps ||x||^2). So a first pass picks a central input x_k (smallest median distance to the others:
    with fewer than n/2 Byzantine inputs a good one or one among them), and when ||x_k||^2 exceeds 1e3 times
    that median distance the distances are recomputed for the inputs centred at x_k."""
    G = _inputs(G)
    n = G.shape[1]
    D = _gram_distances(G)
    med = np.partition(D, n // 2, axis=2)[:, :, n // 2]  # (upper) median distance of each input
    k = np.argmin(med, axis=1)  # (R,) a central input
    centre = np.take_along_axis(G, k[:, None, None], axis=1)  # (R, 1, d)
    spread = np.take_along_axis(med, k[:, None], axis=1)[:, 0]
    with np.errstate(over="ignore", invalid="ignore"):
        far = np.einsum("rkd,rkd->r", centre, centre) > 1e3 * spread
    if far.any():
        D = _gram_distances(G - np.where(far[:, None, None], centre, 0.0))
    return D


def _krum_scores(G: np.ndarray, f: int) -> np.ndarray:
    """(R, n) Krum scores: the sum of the n - f - 2 smallest squared distances to the other inputs."""
    n = G.shape[1]
    D = squared_distances(G)
    D[:, np.arange(n), np.arange(n)] = np.inf  # j != i
    k = n - f - 2  # >= f + 1 >= 1 since n > 2f + 2
    return np.sum(np.partition(D, k - 1, axis=2)[:, :, :k], axis=2)


# ----------------------------------------------------------------------------------------------------
# base class


class Aggregator:
    """A robust aggregation rule AGG: (R, n, d) -> (R, d) tolerating f Byzantine inputs. Subclasses set
    ``NAME`` and ``REQUIRES`` (the condition on n and f, as text), implement ``max_f`` (that condition
    solved for f) and ``_aggregate``, and override ``robustness`` where the literature claims one."""

    NAME: ClassVar[str] = ""
    REQUIRES: ClassVar[str] = "n > 2f"

    def __init__(self, f: int = 0) -> None:
        self.f = integer("f", f, low=0)

    def max_f(self, n: int) -> int:
        """The largest f this rule tolerates among n inputs (negative: none). Does not depend on self.f."""
        return (n - 1) // 2

    def check(self, n: int) -> None:
        """InputError unless the rule's requirement holds for n inputs and this f."""
        n = integer("n", n, low=1)
        if self.f > self.max_f(n):
            raise InputError(f"{type(self).__name__} needs {self.REQUIRES}, got n={n}, f={self.f}")

    def robustness(self) -> Robustness | None:
        """The (delta_max, c)-robustness claimed in the literature, or None (module docstring)."""
        return None

    def __call__(self, G: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        G = _inputs(G)
        self.check(G.shape[1])
        return self._aggregate(G, rng)

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        raise NotImplementedError

    # the ratecheck.transforms slot: stateless rules carry None
    def init(self, R: int, d: int) -> Any:
        """The state before the first round (None for stateless rules)."""
        return None

    def update(self, G: np.ndarray, state: Any, rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        """One round: (AGG(G), new state)."""
        return self(G, rng), state

    @property
    def name(self) -> str:
        return self.NAME

    def params(self) -> dict[str, object]:
        """Constructor parameters, as given."""
        return {"f": self.f}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))


# ----------------------------------------------------------------------------------------------------
# rules


class Mean(Aggregator):
    """The average (1/n) Σ_i x_i. Not robust: one input moves it arbitrarily (breakdown point 0), so no
    (delta_max, c) claim; ``f`` is recorded only (any f < n)."""

    NAME = "mean"
    REQUIRES = "f < n"

    def max_f(self, n: int) -> int:
        return n - 1

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return _mean(G)


class CoordinateMedian(Aggregator):
    """Coordinate-wise median, CM (Yin, Chen, Ramchandran, Bartlett, ICML 2018): per coordinate the median
    of the n values; even n averages the two middle values (epfml code: (median(x) - median(-x))/2).
    Requires n > 2f. Not (delta_max, c)-robust on its own (THEOREMS.md T7 (a): median != mean under skewed
    noise, so the error does not vanish with delta); robust after bucketing (see ``Bucketing``)."""

    NAME = "coordinate_median"

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return _median(G)


class TrimmedMean(Aggregator):
    """Coordinate-wise trimmed mean TM(b) (Yin et al., ICML 2018): per coordinate drop the b largest and the
    b smallest values and average the remaining n - 2b. Requires n > 2b and b >= f (b = f by default, as
    in the epfml code). No (delta_max, c) claim in the catalog."""

    NAME = "trimmed_mean"
    REQUIRES = "n > 2b and b >= f"

    def __init__(self, f: int = 0, b: int | None = None) -> None:
        super().__init__(f)
        self._b = None if b is None else integer("b", b, low=0)
        if self._b is not None and self._b < self.f:
            raise InputError(f"b must be >= f={self.f} (trim at least the Byzantine inputs), got b={b}")

    @property
    def b(self) -> int:
        return self.f if self._b is None else self._b

    def params(self) -> dict[str, object]:
        return {"f": self.f, "b": self._b}

    def max_f(self, n: int) -> int:
        if self._b is None:
            return (n - 1) // 2
        return self._b if n > 2 * self._b else -1

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        n, b = G.shape[1], self.b
        if b == 0:
            return _mean(G)
        return _mean(_sort(G)[:, b : n - b])  # NaN sorts above +inf: trimmed


class Krum(Aggregator):
    """Krum (Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017, the Krum choice function):
    score(i) = Σ of the n - f - 2 smallest squared distances ||x_i - x_j||^2, j != i; output the input of
    smallest score (ties: lowest index). Requires n > 2f + 2. The epfml code squares its already squared
    distances (ranks by Σ d^4); this follows the paper. Not (delta_max, c)-robust on its own (it outputs a
    single input, E||x_i - mean_G||^2 ~ rho^2/2 for every delta); robust after bucketing."""

    NAME = "krum"
    REQUIRES = "n > 2f + 2"

    def max_f(self, n: int) -> int:
        return (n - 3) // 2

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        best = np.argmin(_krum_scores(G, self.f), axis=1)
        return np.take_along_axis(G, best[:, None, None], axis=1)[:, 0]


class MultiKrum(Aggregator):
    """Multi-Krum (Blanchard et al., NeurIPS 2017): the AVERAGE of the m inputs of smallest Krum score (the
    epfml code sums them). m = n - f by default (ByzFL's choice). Requires n > 2f + 2 and 1 <= m <= n - f.
    No (delta_max, c) claim."""

    NAME = "multi_krum"
    REQUIRES = "n > 2f + 2 and 1 <= m <= n - f"

    def __init__(self, f: int = 0, m: int | None = None) -> None:
        super().__init__(f)
        self.m = None if m is None else integer("m", m, low=1)

    def params(self) -> dict[str, object]:
        return {"f": self.f, "m": self.m}

    def max_f(self, n: int) -> int:
        top = (n - 3) // 2
        return top if self.m is None else min(top, n - self.m)

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        n = G.shape[1]
        m = n - self.f if self.m is None else self.m
        scores = _krum_scores(G, self.f)
        if m == n:
            return _mean(G)
        best = np.argpartition(scores, m - 1, axis=1)[:, :m]
        w = np.zeros(scores.shape)
        np.put_along_axis(w, best, 1.0 / m, axis=1)
        suspect = ~np.isfinite(scores)  # every input with a NaN or inf entry has score inf
        if suspect.any():  # 0 * inf is NaN in the product: unselected suspects are zeroed first
            G = np.where((suspect & (w == 0))[:, :, None], 0.0, G)
        return np.einsum("rn,rnd->rd", w, G)


class GeometricMedian(Aggregator):
    """Geometric median argmin_z Σ_i α_i ||z - x_i||, α_i = 1/n (RFA: Pillutla, Kakade, Harchaoui, "Robust
    aggregation for federated learning", IEEE TSP 2022, the smoothed Weiszfeld algorithm):

        β_i = α_i / max(nu, ||z - x_i||),   z <- Σ_i β_i x_i / Σ_i β_i,

    at most ``max_iter`` iterations, stopped when every replica's step ||Δz|| <= tol (nu + median_i
    ||z - x_i||). ``start="median"`` starts at the coordinate-wise median, so the result is translation
    equivariant; ``start="zero"`` starts at z_0 = 0 as the epfml and ByzFL code (nu = 0.1, T = 3 or 8 there).
    Non-finite inputs get weight 0. Requires n > 2f (breakdown point 1/2). Not (delta_max, c)-robust on its
    own (THEOREMS.md T7 (a)); robust after bucketing."""

    NAME = "geometric_median"

    def __init__(
        self, f: int = 0, nu: float = 1e-6, max_iter: int = 100, tol: float = 1e-10, start: str = "median"
    ) -> None:
        super().__init__(f)
        self.nu = positive("nu", nu)
        self.max_iter = integer("max_iter", max_iter, low=1)
        self.tol = positive("tol", tol, allow_zero=True)
        if start not in ("median", "zero"):
            raise InputError(f"start must be 'median' or 'zero', got {start!r}")
        self.start = start

    def params(self) -> dict[str, object]:
        return {"f": self.f, "nu": self.nu, "max_iter": self.max_iter, "tol": self.tol, "start": self.start}

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        finite = _finite_rows(G)
        if not finite.all():
            G = np.where(finite[:, :, None], G, 0.0)
        z = _median(G) if self.start == "median" else np.zeros((G.shape[0], G.shape[2]), dtype=G.dtype)
        for _ in range(self.max_iter):
            U = G - z[:, None, :]
            dist = _row_norms(U)
            beta = np.where(finite, 1.0 / np.maximum(self.nu, dist), 0.0)  # α_i = 1/n cancels in the ratio
            step = np.einsum("rn,rnd->rd", beta, U) / beta.sum(axis=1, keepdims=True)  # Σβ(x - z)/Σβ
            z = z + step
            if self.tol > 0:
                scale = self.nu + np.median(np.where(finite, dist, np.inf), axis=1)
                if np.all(_row_norms(step) <= self.tol * scale):
                    break
        return z


class CenteredClip(Aggregator):
    """Centered clipping, CC (Karimireddy, He, Jaggi, "Learning from history for Byzantine robust
    optimization", ICML 2021; THEOREMS.md T7 (a)): from the centre v, repeated l times,

        v <- v + (1/n) Σ_i clip_tau(x_i - v),   clip_tau(u) = u min(1, tau/||u||).

    State: the centre is carried across rounds (the previous aggregate). ``step(G, v)`` is one round from
    the centre v of shape (R, d), (d,) or a scalar and returns the new centre, which is also the output;
    ``__call__(G)`` is a first round from v = 0; ``init``/``update`` carry v for ``ratecheck.transforms``.
    A non-finite input contributes 0 (as if it sent v). Requires n > 2f.

    Claim [UNVERIFIED, recalled; THEOREMS.md T7]: for delta <= 0.1, tau ~ sqrt((E||v - x̄||^2 + rho^2)/delta)
    (up to a factor ~4) and l iterations,
    E||v_l - x̄||^2 <= (9.7 delta)^l 3 E||v_0 - x̄||^2 + 4000 delta rho^2,
    so (0.1, 4000)-robust once the first term has decayed."""

    NAME = "centered_clip"

    def __init__(self, f: int = 0, tau: float = 1.0, l: int = 1) -> None:  # l: the paper's symbol
        super().__init__(f)
        self.tau = positive("tau", tau)
        self.l = integer("l", l, low=1)

    def params(self) -> dict[str, object]:
        return {"f": self.f, "tau": self.tau, "l": self.l}

    def robustness(self) -> Robustness:
        return Robustness(
            delta_max=0.1,
            c=4000.0,
            order="O(1)",
            status="UNVERIFIED",
            source="Karimireddy, He, Jaggi ICML 2021 (recalled, THEOREMS.md T7): needs tau ~ "
            "sqrt((E||v - mean||^2 + rho^2)/delta) and the (9.7 delta)^l start term decayed",
        )

    def step(self, G: np.ndarray, v: np.ndarray | float) -> np.ndarray:
        """One round from centre v: returns the new centre (R, d), the aggregate."""
        G = _inputs(G)
        self.check(G.shape[1])
        R, n, d = G.shape
        v = np.broadcast_to(np.asarray(v, dtype=G.dtype), (R, d)).copy()
        finite = _finite_rows(G)
        if not finite.all():
            G = np.where(finite[:, :, None], G, 0.0)  # and weight 0 below: contributes 0 (as if it sent v)
        for _ in range(self.l):
            U = G - v[:, None, :]
            norms = _row_norms(U)
            scale = np.where(finite, np.minimum(1.0, self.tau / np.where(norms > 0, norms, 1.0)), 0.0)
            v = v + np.einsum("rn,rnd->rd", scale, U) / n
        return v

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return self.step(G, 0.0)

    def init(self, R: int, d: int) -> np.ndarray:
        return np.zeros((R, d))

    def update(
        self, G: np.ndarray, state: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        v = self.step(G, state)
        return v, v


def _inner(inner: object) -> tuple[Aggregator, int]:
    """A wrapper's inner rule, checked, and its f (the wrapper tolerates what the inner rule does)."""
    if not isinstance(inner, Aggregator):
        raise InputError(f"inner must be a ratecheck.aggregators.Aggregator, got {inner!r}")
    return inner, inner.f


class Bucketing(Aggregator):
    """Bucketing wrapper (Karimireddy, He, Jaggi, "Byzantine-robust learning on heterogeneous datasets via
    bucketing", ICLR 2022, the bucketing algorithm; epfml bucketing_wrapper): a uniformly random
    permutation of the n inputs
    (per replica, from the rng passed to the call), ceil(n/s) buckets of s consecutive inputs (the last one
    smaller when s does not divide n), the mean of each bucket, then ``inner`` on the bucket means; f is
    the inner rule's (at most f buckets hold a Byzantine input), its requirement is checked at n :=
    ceil(n/s). Needs ``rng``.

    Claim [UNVERIFIED, recalled ICLR'22 theorem; THEOREMS.md T7]: with s = floor(delta_max/delta), delta_max
    < 1/4, bucketed Krum and RFA (geometric median) are (1/4, O(1))-robust, bucketed CM (1/4, O(d))-robust;
    no claim for other inner rules."""

    NAME = "bucketing"
    _CLAIMS: ClassVar[dict[str, str]] = {
        "krum": "O(1)",
        "geometric_median": "O(1)",
        "coordinate_median": "O(d)",
    }

    def __init__(self, s: int, inner: Aggregator) -> None:
        self.s = integer("s", s, low=1)
        self.inner, self.f = _inner(inner)

    @property
    def REQUIRES(self) -> str:  # type: ignore[override]
        return f"{self.inner.REQUIRES} for the inner {self.inner.NAME} at n := ceil(n/s), s={self.s}"

    def params(self) -> dict[str, object]:
        return {"s": self.s, "inner": self.inner}

    def max_f(self, n: int) -> int:
        return self.inner.max_f(math.ceil(n / self.s))

    def robustness(self) -> Robustness | None:
        order = self._CLAIMS.get(self.inner.NAME)
        if order is None:
            return None
        return Robustness(
            0.25,
            None,
            order,
            "UNVERIFIED",
            "Karimireddy, He, Jaggi ICLR 2022 (recalled), s = floor(delta_max/delta)",
        )

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if rng is None:
            raise InputError("Bucketing needs rng, a numpy.random.Generator, for its random permutation")
        R, n, _ = G.shape
        s = self.s
        order = np.argsort(rng.random((R, n)), axis=1)  # a uniform permutation per replica
        rows, full = np.arange(R)[:, None], n // s
        # bucket j holds permuted positions j s, ..., j s + s - 1: sum the t-th members of all buckets at once
        total = G[rows, order[:, 0 : full * s : s]]
        for t in range(1, s):  # s terms, each a batched copy of one row per bucket (no loop over workers)
            total += G[rows, order[:, t : full * s : s]]
        means = total / s
        if full * s < n:
            means = np.concatenate([means, G[rows, order[:, full * s :]].mean(axis=1, keepdims=True)], axis=1)
        return self.inner(means, rng)


class NNM(Aggregator):
    """Nearest-neighbour mixing (Allouah, Farhadkhani, Guerraoui, Gupta, Pinot, Stephan, "Fixing by mixing:
    a recipe for optimal Byzantine ML under heterogeneity", AISTATS 2023): every input x_i is
    replaced by the mean of its n - f nearest neighbours (itself included, squared distances through the
    Gram matrix), then ``inner`` aggregates the mixed vectors. f is the inner rule's; requires n > 2f and
    the inner requirement. A mixed vector whose neighbourhood holds a non-finite input is NaN.

    Allouah et al. prove (f, kappa)-robustness (||F - mean_S||^2 <= kappa/|S| Σ_S ||x_i - mean_S||^2) with
    kappa = 8f/(n - f) (kappa_inner + 1) [recalled, UNVERIFIED]; that is a different notion, so no
    (delta_max, c) claim is declared here."""

    NAME = "nnm"

    def __init__(self, inner: Aggregator) -> None:
        self.inner, self.f = _inner(inner)

    @property
    def REQUIRES(self) -> str:  # type: ignore[override]
        return f"n > 2f and {self.inner.REQUIRES} (inner {self.inner.NAME})"

    def params(self) -> dict[str, object]:
        return {"inner": self.inner}

    def max_f(self, n: int) -> int:
        return min((n - 1) // 2, self.inner.max_f(n))

    def mix(self, G: np.ndarray) -> np.ndarray:
        """The mixed inputs (R, n, d): y_i = mean of the n - f nearest inputs to x_i."""
        G = _inputs(G)
        self.check(G.shape[1])
        R, n, _ = G.shape
        k = n - self.f
        D = squared_distances(G)
        D[:, np.arange(n), np.arange(n)] = -1.0  # itself first, whatever the ties
        near = (
            np.argpartition(D, k - 1, axis=2)[:, :, :k] if k < n else np.broadcast_to(np.arange(n), (R, n, n))
        )
        W = np.zeros((R, n, n))
        np.put_along_axis(W, near, 1.0 / k, axis=2)
        finite = _finite_rows(G)
        if finite.all():
            return W @ G
        Y = W @ np.where(finite[:, :, None], G, 0.0)
        tainted = (W @ (~finite).astype(float)[:, :, None])[:, :, 0] > 0
        return np.where(tainted[:, :, None], np.nan, Y)

    def _aggregate(self, G: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return self.inner(self.mix(G), rng)


# ----------------------------------------------------------------------------------------------------
# registry and factory

_CLASSES: dict[str, type[Aggregator]] = {
    cls.NAME: cls
    for cls in (
        Mean,
        CoordinateMedian,
        TrimmedMean,
        Krum,
        MultiKrum,
        GeometricMedian,
        CenteredClip,
        Bucketing,
        NNM,
    )
}

REGISTRY: dict[str, Callable[[int], Aggregator]] = {
    "mean": lambda f: Mean(f),
    "coordinate_median": lambda f: CoordinateMedian(f),
    "trimmed_mean": lambda f: TrimmedMean(f),
    "krum": lambda f: Krum(f),
    "multi_krum": lambda f: MultiKrum(f),
    "geometric_median": lambda f: GeometricMedian(f),
    "centered_clip": lambda f: CenteredClip(f, tau=1.0, l=3),
    "bucketing_krum": lambda f: Bucketing(2, Krum(f)),
    "bucketing_cm": lambda f: Bucketing(2, CoordinateMedian(f)),
    "bucketing_gm": lambda f: Bucketing(2, GeometricMedian(f)),
    "nnm_cm": lambda f: NNM(CoordinateMedian(f)),
    "nnm_tm": lambda f: NNM(TrimmedMean(f)),
}


def make(name: str, **params: object) -> Aggregator:
    """The aggregator class called ``name`` (one of mean, coordinate_median, trimmed_mean, krum, multi_krum,
    geometric_median, centered_clip, bucketing, nnm) built with ``params``."""
    return build("aggregator", name, _CLASSES, params)  # type: ignore[return-value]


def parse(spec: str, f: int) -> Aggregator:
    """The aggregator of a short spec with f Byzantine inputs: ``name`` or ``name:value`` (the value is
    the class's parameter after f: b of trimmed_mean, m of multi_krum, tau of centered_clip),
    ``bucketing:s:<spec>`` and ``nnm:<spec>`` for the wrappers."""
    if not isinstance(spec, str) or not spec:
        raise InputError(
            f"an aggregator spec must be a string such as 'krum' or 'bucketing:2:krum', got {spec!r}"
        )
    name, _, rest = spec.partition(":")
    if name == "bucketing":
        s, _, inner = rest.partition(":")
        if not s.isdigit() or not inner:
            raise InputError(
                f"aggregator spec {spec!r}: write bucketing:<s>:<inner spec>, e.g. 'bucketing:2:krum'"
            )
        return Bucketing(int(s), parse(inner, f))
    if name == "nnm":
        return NNM(parse(rest, f))
    if name not in _CLASSES:
        make(name)  # raises the unknown-name error with a hint
    params: dict[str, object] = {"f": f}
    if rest:
        names = [p for p in inspect.signature(_CLASSES[name]).parameters if p != "f"]
        if not names:
            raise InputError(f"aggregator {name!r} takes no parameter besides f, got {spec!r}")
        try:
            params[names[0]] = float(rest) if names[0] in ("tau", "nu") else int(rest)
        except ValueError:
            raise InputError(f"aggregator spec {spec!r}: {names[0]} must be a number, got {rest!r}") from None
    return make(name, **params)
