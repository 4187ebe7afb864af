"""Compression operators C(x, rng) for distributed SGD, with their declared constants.

A vector compressor maps ``x`` of shape ``(..., d)`` to the same shape and compresses every last-axis
vector independently, with fresh randomness from the ``np.random.Generator`` it is given (a batch
``(R, n, d)`` is R*n independent compressions). Matrix compressors (``RankR``, ``PowerSGD``,
``event_ndim = 2``) do the same on the last two axes ``(..., m, n)``. Outputs keep the input's float
dtype; the zero vector maps to zero; norms are computed as ``scale * norm(x / scale)`` with
``scale = max|x|`` so that entries of magnitude 1e300 or 1e-300 neither overflow nor underflow.

Every compressor declares what the theorems read (lecture = Stich, CISPA 2024, seed 004):
  * ``unbiased``: E C(x) = x (Definition 12.1, first half);
  * ``omega(d)``: ω with E||C(x) - x||^2 <= ω ||x||^2 for all x (Definition 12.1), else None;
  * ``delta(d)``: δ in (0, 1] with E||C(x) - x||^2 <= (1 - δ) ||x||^2 for all x (Definition 12.3),
    else None. An unbiased compressor with ω < 1 is also a δ = 1 - ω compressor, and says so;
  * ``bits(d)``: bits sent for one vector, counting every float as ``FLOAT_BITS = 32`` bits and every
    index as ceil(log2 d) bits; no entropy coding, no shared-seed tricks.
Matrix compressors take the matrix shape ``(m, n)`` in place of ``d`` in these three methods.

``REGISTRY`` maps a name to a factory of one configured compressor given the event size (d for
vectors, min(m, n) for matrices); the property tests run every entry through every contract test.
``make(name, **params)`` builds a compressor by class name; ``parse(spec)`` builds one from the short spec a
sweep point declares ("random_k:5", "random_k_u:5" for unscaled random-k, "qsgd:2", "top_k:1", "sign").
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from ratecheck.validate import InputError, build, integer

__all__ = [
    "FLOAT_BITS",
    "QSGD",
    "REGISTRY",
    "Compressor",
    "Identity",
    "Natural",
    "PowerSGD",
    "RandomK",
    "RankR",
    "Scaled",
    "ScaledSign",
    "Sign",
    "TopK",
    "make",
    "parse",
]

FLOAT_BITS = 32  # every float sent counts as one IEEE single (the convention of the QSGD and PowerSGD papers)


# ----------------------------------------------------------------------------------------------------
# helpers


def _as_float(x: np.ndarray) -> np.ndarray:
    """``x`` as a floating array (integers and bools become float64; float dtypes are kept)."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _max_abs(x: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """max|x| over ``axis`` (kept as size-1 axes); 0 for empty or zero input."""
    return np.max(np.abs(x), axis=axis, keepdims=True, initial=0.0)


def _nonzero(scale: np.ndarray) -> np.ndarray:
    """``scale`` with zeros replaced by ones, to divide by safely."""
    return np.where(scale > 0, scale, 1).astype(scale.dtype)


def _norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis (kept), computed as scale * ||x / scale|| with scale = max|x|."""
    scale = _max_abs(x, -1)
    return scale * np.sqrt(np.sum(np.square(x / _nonzero(scale)), axis=-1, keepdims=True))


def _norm1(x: np.ndarray) -> np.ndarray:
    """l1 norm over the last axis (kept), computed as scale * ||x / scale||_1."""
    scale = _max_abs(x, -1)
    return scale * np.sum(np.abs(x / _nonzero(scale)), axis=-1, keepdims=True)


def _index_bits(d: int) -> int:
    """Bits of one index into {0, ..., d - 1}."""
    return math.ceil(math.log2(d)) if d > 1 else 0


def _dimension(d: object) -> int:
    return integer("d", d, low=1)


def _matrix_shape(shape: object) -> tuple[int, int]:
    """The last two entries (m, n) of a matrix shape."""
    if not isinstance(shape, Sequence) or len(shape) < 2:
        raise InputError(f"shape must be a matrix shape (..., m, n), got {shape!r}")
    return integer("m", shape[-2], low=1), integer("n", shape[-1], low=1)


def _keep(x: np.ndarray, M: np.ndarray) -> np.ndarray:
    """M ⊙ x for a boolean mask M, dtype of x."""
    return np.where(M, x, 0)


def _mask_from_indices(shape: tuple[int, ...], idx: np.ndarray) -> np.ndarray:
    M = np.zeros(shape, dtype=bool)
    np.put_along_axis(M, idx, True, axis=-1)
    return M


# ----------------------------------------------------------------------------------------------------
# base class


class Compressor:
    """A compression operator C: R^d -> R^d (lecture, "Compressor" slide: we write C(x) for the
    decompressed message). Subclasses set ``NAME`` and ``unbiased`` and implement ``__call__``,
    ``bits`` and, when they have one, ``omega`` or ``delta``."""

    NAME: ClassVar[str] = ""
    unbiased: bool = False  # a class attribute; RandomK sets it per instance (scaled or not)
    event_ndim: int = 1  # 1: compresses vectors (..., d); 2: matrices (..., m, n)

    def omega(self, d: int) -> float | None:
        """ω of Definition 12.1 for dimension d, or None if there is no such guarantee."""
        return None

    def delta(self, d: int) -> float | None:
        """δ of Definition 12.3 for dimension d, or None if C is not a δ-compressor. Default: an
        unbiased ω-quantizer with ω < 1 satisfies E||Q(x) - x||^2 <= ω||x||^2 = (1 - (1 - ω))||x||^2."""
        omega = self.omega(d)
        if self.unbiased and omega is not None and omega < 1:
            return 1.0 - omega
        return None

    def bits(self, d: int) -> float:
        """Bits sent for one vector of dimension d (encoding documented in the subclass)."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def constants(self, d: int) -> dict[str, float]:
        """The declared constants a theorem reads at dimension d: omega where C is an omega-quantizer, delta
        where it is a delta-compressor (absent otherwise, so a bound that needs one cannot evaluate by
        accident), the bits per vector and k (d when C keeps every coordinate)."""
        omega, delta = self.omega(d), self.delta(d)
        out = {"bits": float(self.bits(d)), "k": float(getattr(self, "k", d))}
        if omega is not None:
            out["omega"] = float(omega)
        if delta is not None:
            out["delta"] = float(delta)
        return out

    @property
    def name(self) -> str:
        """The name ``make`` knows this class by."""
        return self.NAME

    def params(self) -> dict[str, object]:
        """Constructor parameters, as given."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))


def _check_k(k: int, d: int) -> None:
    if k > d:
        raise InputError(f"k={k} must be in [1, d={d}]")


# ----------------------------------------------------------------------------------------------------
# vector compressors


class Identity(Compressor):
    """No compression: C(x) = x. ω = 0, δ = 1; sends d floats."""

    NAME = "identity"
    unbiased = True

    def omega(self, d: int) -> float:
        _dimension(d)
        return 0.0

    def bits(self, d: int) -> float:
        return float(FLOAT_BITS * _dimension(d))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _as_float(x).copy()


class RandomK(Compressor):
    """Random sparsification: keep k coordinates chosen uniformly among the C(d, k) subsets.

    scaled=True:  Q(x) = (d/k) M ⊙ x, unbiased with ω = d/k - 1 exactly for every x (lecture Def. 12.1
                  example; THEOREMS.md T1 E1). It is also contractive, δ = 2 - d/k, when k > d/2.
    scaled=False: C(x) = M ⊙ x, biased, δ = k/d exactly for every x (lecture Def. 12.3 example; T2 (a)).
    Bits: k values and k indices, k (32 + ceil(log2 d)) (no shared seed assumed for the mask).
    """

    NAME = "random_k"

    def __init__(self, k: int, scaled: bool = True) -> None:
        self.k = integer("k", k, low=1)
        if not isinstance(scaled, (bool, np.bool_)):
            raise InputError(f"scaled must be True or False, got {scaled!r}")
        self.scaled = bool(scaled)
        self.unbiased = self.scaled  # instance value shadows the class default

    def params(self) -> dict[str, object]:
        return {"k": self.k, "scaled": self.scaled}

    def omega(self, d: int) -> float | None:
        d = _dimension(d)
        _check_k(self.k, d)
        return d / self.k - 1.0 if self.scaled else None

    def delta(self, d: int) -> float | None:
        d = _dimension(d)
        _check_k(self.k, d)
        return super().delta(d) if self.scaled else self.k / d

    def bits(self, d: int) -> float:
        d = _dimension(d)
        _check_k(self.k, d)
        return float(self.k * (FLOAT_BITS + _index_bits(d)))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = _as_float(x)
        d, k = x.shape[-1], self.k
        _check_k(k, d)
        # the k smallest of d i.i.d. uniforms form a uniformly random k-subset
        M = _mask_from_indices(x.shape, np.argpartition(rng.random(x.shape), k - 1, axis=-1)[..., :k])
        out = _keep(x, M)
        return (out * (d / k)).astype(x.dtype, copy=False) if self.scaled else out


class TopK(Compressor):
    """Top-k sparsification: keep the k coordinates of largest magnitude (ties: the lower index wins).

    ||x - top_k(x)||^2 <= (1 - k/d)||x||^2, equality iff all |x_i| are equal, so δ = k/d (lecture
    Def. 12.3 example; Stich, Cordonnier, Jaggi 2018 "k-contraction"). Deterministic, biased.
    Bits: k (32 + ceil(log2 d)).
    """

    NAME = "top_k"

    def __init__(self, k: int) -> None:
        self.k = integer("k", k, low=1)

    def params(self) -> dict[str, object]:
        return {"k": self.k}

    def delta(self, d: int) -> float:
        d = _dimension(d)
        _check_k(self.k, d)
        return self.k / d

    def bits(self, d: int) -> float:
        d = _dimension(d)
        _check_k(self.k, d)
        return float(self.k * (FLOAT_BITS + _index_bits(d)))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = _as_float(x)
        _check_k(self.k, x.shape[-1])
        order = np.argsort(-np.abs(x), axis=-1, kind="stable")  # stable: equal magnitudes keep index order
        return _keep(x, _mask_from_indices(x.shape, order[..., : self.k]))


class QSGD(Compressor):
    """Stochastic s-level quantization (Alistarh et al. 2017; lecture Def. 12.1 example; THEOREMS.md T1 E2;
    epfml/sparsifiedSGD qsgd.quantize):

        r_i = s|x_i| / ||x||,  ℓ_i = floor(r_i),  ξ_i = ℓ_i + 1 w.p. r_i - ℓ_i, else ℓ_i,
        Q(x)_i = ||x|| sign(x_i) ξ_i / s.

    Unbiased, ω = min(d/s^2, sqrt(d)/s) (QSGD Lemma 3.1); exact variance for a given x is
    (||x||^2/s^2) Σ_i p_i (1 - p_i), p_i = r_i - ℓ_i. Bits (no Elias coding): the norm as one float,
    then per coordinate a sign bit and a level in {0, ..., s}: 32 + d (1 + ceil(log2(s + 1))).
    """

    NAME = "qsgd"
    unbiased = True

    def __init__(self, s: int) -> None:
        self.s = integer("s", s, low=1)

    def params(self) -> dict[str, object]:
        return {"s": self.s}

    def omega(self, d: int) -> float:
        d = _dimension(d)
        return min(d / self.s**2, math.sqrt(d) / self.s)

    def bits(self, d: int) -> float:
        d = _dimension(d)
        return float(FLOAT_BITS + d * (1 + math.ceil(math.log2(self.s + 1))))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = _as_float(x)
        s = self.s
        norm = _norm(x)
        r = np.minimum(s * (np.abs(x) / _nonzero(norm)), s)  # r_i = s|x_i|/||x|| (<= s; 0 when x = 0)
        ell = np.floor(r)
        xi = ell + (rng.random(x.shape) < r - ell)  # round up with probability r_i - ℓ_i
        return (np.sign(x) * norm * (xi / s)).astype(x.dtype, copy=False)


class Sign(Compressor):
    """Unscaled sign, C(x) = sign(x) (signSGD; sign(0) = 0). NOT a δ-compressor: for x = ε·1,
    ||sign(x) - x||^2 = d(1 - ε)^2 exceeds ||x||^2 = dε^2 for every ε < 1/2, so no δ > 0 works
    (Karimireddy et al. 2019). Biased, no ω, no δ. Bits: one per coordinate, d (the value 0 is treated
    as a sign; exact zeros have measure zero)."""

    NAME = "sign"

    def bits(self, d: int) -> float:
        return float(_dimension(d))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.sign(_as_float(x))


class ScaledSign(Compressor):
    """Scaled sign C(x) = (||x||_1 / d) sign(x) (Karimireddy et al. 2019, scaled_sign; THEOREMS.md T2 (a)).
    With sign(0) = 0 (as in the reference code) ||C(x) - x||^2 = ||x||^2 - 2||x||_1^2/d + nnz(x)||x||_1^2/d^2
    <= ||x||^2 - ||x||_1^2/d (THEOREMS.md's formula, exact when no x_i = 0), so δ(x) >= ||x||_1^2/(d||x||^2)
    >= 1/d; the infimum 1/d is approached by x = (1, ε, ..., ε), ε -> 0: δ = 1/d. Deterministic, biased.
    Bits: one float and d signs, 32 + d."""

    NAME = "scaled_sign"

    def delta(self, d: int) -> float:
        return 1.0 / _dimension(d)

    def bits(self, d: int) -> float:
        return float(FLOAT_BITS + _dimension(d))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = _as_float(x)
        d = max(x.shape[-1], 1)
        return ((_norm1(x) / d) * np.sign(x)).astype(x.dtype, copy=False)


class Natural(Compressor):
    """Natural compression (Horváth, Ho, Horváth, Sahu, Canini, Richtárik 2019, "Natural compression for
    distributed deep learning"): each |x_i| in [2^e, 2^(e+1)) becomes 2^(e+1) with probability
    (|x_i| - 2^e)/2^e and 2^e otherwise; the sign is kept and 0 stays 0.

    Unbiased; per coordinate the variance is (|x_i| - 2^e)(2^(e+1) - |x_i|) <= |x_i|^2/8 (equality at
    |x_i| = (4/3) 2^e), so ω = 1/8 (and δ = 7/8 by the unbiased rule). Bits: 9 per coordinate (sign and
    the 8 exponent bits of a float32; float64 inputs would need 12). |x_i| >= 2^1023 (float64) or 2^127
    (float32) can round up to inf: the power of two above is not representable.
    """

    NAME = "natural"
    unbiased = True

    def omega(self, d: int) -> float:
        _dimension(d)
        return 1.0 / 8.0

    def bits(self, d: int) -> float:
        return float(9 * _dimension(d))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = _as_float(x)
        a = np.abs(x)
        mantissa, e = np.frexp(a)  # |x_i| = mantissa 2^e, mantissa in [1/2, 1): 2^(e-1) <= |x_i| < 2^e
        p_up = 2 * mantissa - 1  # (|x_i| - 2^(e-1)) / 2^(e-1); negative at x_i = 0 (never rounded up)
        up = rng.random(x.shape) < p_up
        level = np.ldexp(np.ones_like(a), e - 1 + up)  # 2^(e-1), or 2^e when rounded up
        return np.where(a > 0, np.sign(x) * level, 0).astype(x.dtype, copy=False)


class Scaled(Compressor):
    """C(x) = Q(x)/(1 + ω) for an unbiased ω-quantizer Q: a δ = 1/(1 + ω) compressor (lecture, remark
    after Def. 12.3, "exercise"): E||Q/(1+ω) - x||^2 = (ω + ω^2)/(1+ω)^2 ||x||^2 = (1 - 1/(1+ω))||x||^2
    using E Q = x. Biased (unless ω = 0). Bits: those of Q (the receiver knows ω)."""

    NAME = "scaled"

    def __init__(self, Q: Compressor) -> None:
        if not isinstance(Q, Compressor):
            raise InputError(f"Q must be a Compressor, got {Q!r}")
        if not Q.unbiased:
            raise InputError(f"Q must be an unbiased quantizer (Definition 12.1), got {Q!r}")
        self.Q = Q
        self.event_ndim = Q.event_ndim

    def params(self) -> dict[str, object]:
        return {"Q": self.Q}

    def __repr__(self) -> str:
        return f"Scaled({self.Q!r})"

    def _omega_q(self, d: int) -> float:
        omega = self.Q.omega(d)
        if omega is None:
            raise InputError(f"Q={self.Q!r} declares no ω for d={d}")
        return omega

    def delta(self, d: int) -> float:
        return 1.0 / (1.0 + self._omega_q(d))

    def bits(self, d: int) -> float:
        return self.Q.bits(d)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = _as_float(x)
        d = x.shape[-1] if self.event_ndim == 1 else x.shape[-2:]
        return (self.Q(x, rng) / (1.0 + self._omega_q(d))).astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------------------------------
# matrix compressors


def _check_rank(rank: int, shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        raise InputError(f"a matrix compressor needs input of shape (..., m, n), got shape {shape}")
    m, n = shape[-2], shape[-1]
    if rank > min(m, n):
        raise InputError(f"rank={rank} must be in [1, min(m, n)={min(m, n)}] for {m}x{n} matrices")
    return m, n


class RankR(Compressor):
    """Best rank-r approximation by truncated SVD, on arrays (..., m, n) (Eckart-Young; THEOREMS.md T2 (a)):
    ||M - M_r||^2 = Σ_{i>r} σ_i^2 <= (1 - r/min(m, n))||M||^2, so δ = rank/min(m, n) (equality when all
    singular values are equal). Deterministic, biased. ``omega``/``delta``/``bits`` take the matrix
    shape (m, n) instead of d. Bits: the factors U_r Σ_r and V_r, 32 rank (m + n)."""

    NAME = "rank_r"
    event_ndim = 2

    def __init__(self, rank: int) -> None:
        self.rank = integer("rank", rank, low=1)

    def params(self) -> dict[str, object]:
        return {"rank": self.rank}

    def delta(self, shape: tuple[int, int]) -> float:  # type: ignore[override]
        m, n = _check_rank(self.rank, _matrix_shape(shape))
        return self.rank / min(m, n)

    def bits(self, shape: tuple[int, int]) -> float:  # type: ignore[override]
        m, n = _check_rank(self.rank, _matrix_shape(shape))
        return float(FLOAT_BITS * self.rank * (m + n))

    def __call__(self, M: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        M = _as_float(M)
        _check_rank(self.rank, M.shape)
        r = self.rank
        a = _max_abs(M, (-2, -1))
        U, sigma, Vt = np.linalg.svd(M / _nonzero(a), full_matrices=False)
        M_r = (U[..., :, :r] * sigma[..., None, :r]) @ Vt[..., :r, :]
        return (a * M_r).astype(M.dtype, copy=False)


class PowerSGD(Compressor):
    """PowerSGD rank-r compression (Vogels, Karimireddy, Jaggi 2019; THEOREMS.md T3.1 (b); epfml/powersgd
    RankKReducer), on arrays M of shape (..., m, n) with a query Q of shape (..., n, rank):

        P = M Q;  P̂ = orthogonalize(P) (reduced QR; for rank 1 this is ±P/||P||);  Q ← Mᵀ P̂;  C(M) = P̂ Qᵀ,

    so C(M) = P̂ P̂ᵀ M, the projection of M onto span(M Q). Stateful, optax-like: ``init(shape, rng)``
    gives a fresh N(0, 1) query, ``step(M, Q, rng) -> (C(M), Q_new)``; with ``warm_start`` the next
    step reuses Q_new (subspace iteration), otherwise each step draws a fresh query from ``rng``.
    ``__call__(M, rng)`` is one step from a fresh query. All-reduce: the step is linear in M for a
    fixed query, so averaging P and Q over workers gives the compression of the mean (T3.1 P1).

    Declared δ is None: with warm start the query depends on past inputs and one step can capture
    nothing (P = 0). One step from a fresh Gaussian query is a δ-compressor in expectation (Def. 12.3)
    with δ >= rank/n, see ``expected_delta_lower``. Bits: the factors P̂ and Q, 32 rank (m + n).
    ``omega``/``delta``/``bits`` take the matrix shape (m, n) instead of d.
    """

    NAME = "power_sgd"
    event_ndim = 2

    def __init__(self, rank: int, warm_start: bool = True) -> None:
        self.rank = integer("rank", rank, low=1)
        if not isinstance(warm_start, (bool, np.bool_)):
            raise InputError(f"warm_start must be True or False, got {warm_start!r}")
        self.warm_start = bool(warm_start)

    def params(self) -> dict[str, object]:
        return {"rank": self.rank, "warm_start": self.warm_start}

    def bits(self, shape: tuple[int, int]) -> float:  # type: ignore[override]
        m, n = _check_rank(self.rank, _matrix_shape(shape))
        return float(FLOAT_BITS * self.rank * (m + n))

    def expected_delta_lower(self, shape: tuple[int, int]) -> float:
        """rank/n: a lower bound on E||C(M)||^2/||M||^2 = 1 - E||C(M) - M||^2/||M||^2 for one step from a
        fresh Gaussian query Q (n x rank), tight at M = I.

        rank 1 (THEOREMS.md T3.1 P2): with A = MᵀM the captured energy is qᵀA²q/(qᵀAq tr A) >=
        qᵀAq/(||q||^2 tr A) by Cauchy-Schwarz, whose expectation is 1/n. THEOREMS.md labels rank > 1 a
        conjecture; it follows the same way: with Π_Q the projection onto span(Q), M Π_Q has columns in
        span(MQ), so ||P̂P̂ᵀM|| >= ||P̂P̂ᵀ M Π_Q|| = ||M Π_Q||, and E Π_Q = (rank/n) I for Gaussian Q gives
        E||M Π_Q||^2 = (rank/n)||M||^2 [derived here, checked by Monte Carlo in the tests]."""
        _, n = _check_rank(self.rank, _matrix_shape(shape))
        return self.rank / n

    def init(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """A fresh query Q with N(0, 1) entries, shape (..., n, rank) for matrices of shape (..., m, n)."""
        shape = tuple(shape)
        _, n = _check_rank(self.rank, shape)
        return rng.standard_normal((*shape[:-2], n, self.rank))

    def step(
        self, M: np.ndarray, state: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """One PowerSGD step: (C(M), new query). Uses ``state`` as the query if ``warm_start``, else a
        fresh one drawn from ``rng``."""
        M = _as_float(M)
        _check_rank(self.rank, M.shape)
        Q = state if self.warm_start else self.init(M.shape, rng)
        return self._power_step(M, np.asarray(Q, dtype=M.dtype))

    def __call__(self, M: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        M = _as_float(M)
        return self._power_step(M, self.init(M.shape, rng).astype(M.dtype, copy=False))[0]

    @staticmethod
    def _power_step(M: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # M and Q are divided by their max entries: span(P) and hence P̂ do not change, nothing overflows
        a = _max_abs(M, (-2, -1))
        M_unit = M / _nonzero(a)
        P = M_unit @ (Q / _nonzero(_max_abs(Q, (-2, -1))))  # P = M Q (up to a positive factor)
        P_hat, _ = np.linalg.qr(P)  # orthonormal columns; an arbitrary basis if P = 0
        Q_unit = np.swapaxes(M_unit, -1, -2) @ P_hat  # Q = Mᵀ P̂ (divided by a)
        out = a * (P_hat @ np.swapaxes(Q_unit, -1, -2))  # C(M) = P̂ Qᵀ
        return out.astype(M.dtype, copy=False), (a * Q_unit).astype(M.dtype, copy=False)


# ----------------------------------------------------------------------------------------------------
# registry and factory

_CLASSES: dict[str, type[Compressor]] = {
    cls.NAME: cls
    for cls in (Identity, RandomK, TopK, QSGD, Sign, ScaledSign, Natural, Scaled, RankR, PowerSGD)
}

REGISTRY: dict[str, Callable[[int], Compressor]] = {
    "identity": lambda d: Identity(),
    "random_k": lambda d: RandomK(max(1, d // 3)),
    "random_k_unscaled": lambda d: RandomK(max(1, d // 3), scaled=False),
    "top_k": lambda d: TopK(max(1, d // 3)),
    "qsgd": lambda d: QSGD(2),
    "sign": lambda d: Sign(),
    "scaled_sign": lambda d: ScaledSign(),
    "natural": lambda d: Natural(),
    "scaled_random_k": lambda d: Scaled(RandomK(max(1, d // 3))),
    "scaled_qsgd": lambda d: Scaled(QSGD(1)),
    "rank_r": lambda d: RankR(max(1, d // 2)),  # d = min(m, n) for matrix compressors
    "power_sgd": lambda d: PowerSGD(max(1, d // 2)),
}


def make(name: str, **params: object) -> Compressor:
    """The compressor class called ``name`` (one of ``identity, random_k, top_k, qsgd, sign,
    scaled_sign, natural, scaled, rank_r, power_sgd``) built with ``params``."""
    return build("compressor", name, _CLASSES, params)  # type: ignore[return-value]


ALIASES: dict[str, tuple[str, dict[str, object]]] = {"random_k_u": ("random_k", {"scaled": False})}  # unscaled random-k: delta = k/d


def parse(spec: str) -> Compressor:
    """The compressor of a sweep point's spec ``name`` or ``name:value``: the value is the class's first
    parameter (k of random_k/top_k, s of qsgd, rank of rank_r/power_sgd); ``random_k_u:k`` is random-k
    without the d/k scaling (a delta-compressor, delta = k/d)."""
    if not isinstance(spec, str) or not spec:
        raise InputError(f"a compressor spec must be a string such as 'random_k:5', got {spec!r}")
    name, _, value = spec.partition(":")
    name, fixed = ALIASES.get(name, (name, {}))
    if name not in _CLASSES:
        known = sorted([*_CLASSES, *ALIASES])
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown compressor {spec!r}{hint} (known: {', '.join(known)}; a parameter follows a colon, e.g. 'top_k:5')")
    params = dict(fixed)
    if value:
        first = next(iter(inspect.signature(_CLASSES[name]).parameters), None)
        if first is None:
            raise InputError(f"compressor {name!r} takes no parameter, got {spec!r}")
        try:
            params[first] = int(value)
        except ValueError:
            raise InputError(f"compressor spec {spec!r}: {first} must be an integer, got {value!r}") from None
    return make(name, **params)
