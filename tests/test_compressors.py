"""Property tests for ratecheck.compressors.

Three layers, each able to fail:
  1. a contract suite run over every entry of ``REGISTRY`` (shape, dtype, batching, determinism, zero,
     extreme scales, declared constants);
  2. the declared ω and δ checked against the EXACT law of each compressor, written here from its
     definition (random-k: all C(d, k) masks; QSGD and natural compression: independent two-point
     coordinates; deterministic compressors: their output), and that law checked against samples of
     the implementation;
  3. Monte Carlo checks whose tolerances are derived (Markov + binomial tail, Bernstein, Hoeffding) for a
     false-failure rate of at most ALPHA each, with fixed seeds.
Every helper that decides PASS/FAIL is also run on a deliberately broken twin ("mutant") at the end of
the file, to show it has power.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given, settings, target
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from ratecheck.compressors import (
    QSGD,
    REGISTRY,
    Compressor,
    Identity,
    Natural,
    PowerSGD,
    RandomK,
    RankR,
    Scaled,
    ScaledSign,
    Sign,
    TopK,
    make,
)
from ratecheck.validate import InputError

ALPHA = 1e-6  # false-failure rate of every Monte Carlo check (fixed in advance)
# Slack for the "exact" comparisons, relative to ||x||^2 on inputs normalized to max|x| in [1/2, 1):
# the exact expectations are sums of at most C(10, 5) = 252 outcomes of d <= 10 squares, each with
# relative rounding error <= (d + 4) 2^-53; their total error is below 300 * 14 * 1.1e-16 < 1e-12.
FP_RTOL = 1e-12

NAMES = sorted(REGISTRY)
DETERMINISTIC = (Identity, TopK, Sign, ScaledSign, RankR)


# ----------------------------------------------------------------------------------------------------
# inputs


def unit(x: np.ndarray) -> np.ndarray:
    """x times a power of two (exact) so that max|x| lies in [1/2, 1); zero stays zero."""
    top = float(np.max(np.abs(x), initial=0.0))
    return x if top == 0 else np.ldexp(x, -math.frexp(top)[1])


TIE_VALUES = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
MAGNITUDES = st.floats(1e-3, 1e3)
SIGNS = st.sampled_from([-1.0, 1.0])


@st.composite
def inputs(draw: st.DrawFn, max_rows: int = 5, max_cols: int = 10) -> np.ndarray:
    """An (m, n) float64 array: m vectors of dimension n for vector compressors, one m x n matrix for
    matrix compressors. Adversarial kinds: generic, one-hot rows, equal magnitudes with mixed signs,
    ties, a wide dynamic range (10^-6 .. 10^6), signed permutation matrices (equal singular values)."""
    m, n = draw(st.integers(1, max_rows)), draw(st.integers(1, max_cols))
    signs = arrays(np.float64, (m, n), elements=SIGNS)
    kind = draw(st.sampled_from(["generic", "one_hot", "equal", "ties", "wide", "permutation"]))
    if kind == "generic":
        return draw(arrays(np.float64, (m, n), elements=st.floats(-1e3, 1e3, allow_subnormal=False)))
    if kind == "one_hot":
        x = np.zeros((m, n))
        cols = draw(arrays(np.int64, m, elements=st.integers(0, n - 1)))
        x[np.arange(m), cols] = draw(arrays(np.float64, m, elements=MAGNITUDES)) * draw(signs)[:, 0]
        return x
    if kind == "equal":
        return draw(MAGNITUDES) * draw(signs)
    if kind == "ties":
        return draw(arrays(np.float64, (m, n), elements=st.sampled_from(TIE_VALUES)))
    if kind == "wide":
        return draw(signs) * 10.0 ** draw(arrays(np.int64, (m, n), elements=st.integers(-6, 6)))
    perm = np.eye(max(m, n))[draw(st.permutations(range(max(m, n))))][:m, :n]
    return draw(MAGNITUDES) * perm * draw(signs)


def edge_examples(test):
    """@example edge cases for every contract test taking ``x``."""
    for x in (
        np.zeros((2, 5)),  # zero vectors / zero matrix
        np.eye(3, 6),  # one-hot rows, equal singular values
        np.ones((1, 10)),  # all-equal magnitudes
        np.array([[1.0, -1.0, 1.0, -1.0, 1.0, -1.0]]),  # equal magnitudes, mixed signs
        np.array([[2.0, -2.0, 1.0, 1.0, 0.0, -1.0, 0.5]]),  # ties
        np.array([[1e3, -1e-3, 2e-3, -5.0, 0.0, 7.0, -1e3, 3.0]]),  # wide range, mixed signs
        np.array([[5.0]]),  # d = 1
    ):
        test = example(x=x)(test)
    return test


def probe(name: str) -> Compressor:
    return REGISTRY[name](1)


def build(name: str, x: np.ndarray) -> Compressor:
    """The registry compressor for inputs shaped like x: size d = n for vectors, min(m, n) for matrices."""
    m, n = x.shape[-2:]
    return REGISTRY[name](n if probe(name).event_ndim == 1 else min(m, n))


def events(C: Compressor, x: np.ndarray) -> list[tuple[np.ndarray, object]]:
    """The single inputs in x with the size argument of omega/delta/bits: rows and d, or the matrix
    and its shape."""
    if C.event_ndim == 1:
        return [(row, x.shape[-1]) for row in x]
    return [(x, x.shape[-2:])]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------------------
# exact laws, written from the definitions


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.isclose(a, b, rtol=1e-12, atol=1e-300)


@dataclass(frozen=True)
class Joint:
    """A finite law: outcome j (an array shaped like the input) with probability probs[j]."""

    outcomes: np.ndarray
    probs: np.ndarray

    @staticmethod
    def merged(outcomes: np.ndarray, probs: np.ndarray) -> Joint:
        """Equal outcomes merged, their probabilities summed."""
        flat = outcomes.reshape(len(outcomes), -1)
        distinct, inverse = np.unique(flat, axis=0, return_inverse=True)
        return Joint(distinct.reshape(-1, *outcomes.shape[1:]), np.bincount(inverse.ravel(), weights=probs))

    def scaled(self, c: float) -> Joint:
        return Joint(c * self.outcomes, self.probs)

    def mean(self) -> np.ndarray:
        return np.tensordot(self.probs, self.outcomes, axes=1)

    def _sq(self, x: np.ndarray) -> np.ndarray:
        return np.sum((self.outcomes - x).reshape(len(self.outcomes), -1) ** 2, axis=1)

    def sq_err(self, x: np.ndarray) -> float:
        """E||C(x) - x||^2."""
        return float(self.probs @ self._sq(x))

    def sq_err_var(self, x: np.ndarray) -> float:
        z = self._sq(x)
        return float(self.probs @ (z - self.probs @ z) ** 2)

    def sq_err_range(self, x: np.ndarray) -> float:
        z = self._sq(x)
        return float(z.max() - z.min())

    def sample_violation(self, samples: np.ndarray, alpha: float | None = ALPHA) -> str | None:
        """Samples (N, *shape) outside the support, or (alpha given) an outcome frequency outside its
        Bernstein interval (Bonferroni over the outcomes)."""
        N, K = len(samples), len(self.outcomes)
        match = np.all(_close(samples[:, None], self.outcomes[None]).reshape(N, K, -1), axis=2)
        outside = ~match.any(axis=1)
        if outside.any():
            return f"{outside.sum()} of {N} samples are not outcomes of the law, e.g. {samples[outside][0]}"
        if alpha is None or K == 1:
            return None
        freq = np.bincount(np.argmax(match, axis=1), minlength=K) / N
        half = bernstein_halfwidth(self.probs * (1 - self.probs), 1.0, N, alpha / K)
        bad = np.abs(freq - self.probs) > half
        if bad.any():
            return f"outcome frequencies {freq[bad]} differ from probabilities {self.probs[bad]} by > {half[bad]}"
        return None


@dataclass(frozen=True)
class Product:
    """Independent coordinates: coordinate i equals low[i] w.p. 1 - p[i] and high[i] w.p. p[i]."""

    low: np.ndarray
    high: np.ndarray
    p: np.ndarray

    def scaled(self, c: float) -> Product:
        return Product(c * self.low, c * self.high, self.p)

    def mean(self) -> np.ndarray:
        return self.low + self.p * (self.high - self.low)

    def sq_err(self, x: np.ndarray) -> float:
        return float(np.sum((1 - self.p) * (self.low - x) ** 2 + self.p * (self.high - x) ** 2))

    def _jump(self, x: np.ndarray) -> np.ndarray:
        return (self.high - x) ** 2 - (self.low - x) ** 2

    def sq_err_var(self, x: np.ndarray) -> float:
        return float(np.sum(self.p * (1 - self.p) * self._jump(x) ** 2))

    def sq_err_range(self, x: np.ndarray) -> float:
        return float(np.sum(np.abs(self._jump(x))))

    def sample_violation(self, samples: np.ndarray, alpha: float | None = ALPHA) -> str | None:
        """Samples (N, d) with a coordinate outside {low_i, high_i}, or (alpha given) a round-up
        frequency outside its Bernstein interval (Bonferroni over the d coordinates)."""
        is_low, is_high = _close(samples, self.low), _close(samples, self.high)
        if not (is_low | is_high).all():
            bad = ~(is_low | is_high)
            return f"{bad.sum()} coordinates are neither level, e.g. {samples[bad][0]}"
        if alpha is None:
            return None
        N, d = samples.shape
        freq = np.mean(is_high & ~is_low, axis=0)
        two_point = ~_close(self.low, self.high)
        half = bernstein_halfwidth(self.p * (1 - self.p), 1.0, N, alpha / d)
        bad = two_point & (np.abs(freq - self.p) > half)
        if bad.any():
            return f"round-up frequencies {freq[bad]} differ from {self.p[bad]} by more than {half[bad]}"
        return None


def _safe_norm(u: np.ndarray) -> float:
    top = np.max(np.abs(u), initial=0.0)
    return 0.0 if top == 0 else float(top * np.sqrt(np.sum((u / top) ** 2)))


def random_k_law(u: np.ndarray, k: int, scaled: bool) -> Joint:
    """All C(d, k) masks, equally likely; output (d/k) M ⊙ u (scaled) or M ⊙ u."""
    d = len(u)
    masks = np.zeros((math.comb(d, k), d))
    for j, keep in enumerate(itertools.combinations(range(d), k)):
        masks[j, list(keep)] = 1.0
    factor = d / k if scaled else 1.0
    return Joint.merged(factor * masks * u, np.full(len(masks), 1 / len(masks)))


def qsgd_law(u: np.ndarray, s: int) -> Product:
    """THEOREMS.md T1 E2: r_i = s|u_i|/||u||, level floor(r_i) + 1 w.p. r_i - floor(r_i)."""
    norm = _safe_norm(u)
    r = np.minimum(s * np.abs(u) / norm, s) if norm > 0 else np.zeros_like(u)
    ell = np.floor(r)
    return Product(np.sign(u) * norm * ell / s, np.sign(u) * norm * (ell + 1) / s, r - ell)


def natural_law(u: np.ndarray) -> Product:
    """Horváth et al. 2019: |u_i| in [2^e, 2^(e+1)) goes to 2^(e+1) w.p. (|u_i| - 2^e)/2^e, else 2^e."""
    a = np.abs(u)
    e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    e = np.where(2.0**e > a, e - 1, e)  # guard log2 rounding near powers of two
    e = np.where(2.0 ** (e + 1) <= a, e + 1, e)
    low = np.where(a > 0, 2.0**e, 0.0)
    p = np.where(a > 0, (a - low) / np.where(a > 0, low, 1.0), 0.0)
    return Product(np.sign(u) * low, np.sign(u) * 2 * low, p)


def law_of(C: Compressor, u: np.ndarray) -> Joint | Product | None:
    """The exact law of C(u), None where the randomness is continuous (PowerSGD). Only for the real
    classes: a mutant that changes ``__call__`` must not be given to a law-based helper."""
    if isinstance(C, Scaled):
        inner = law_of(C.Q, u)
        return inner.scaled(1 / (1 + C.Q.omega(len(u))))
    if isinstance(C, RandomK):
        return random_k_law(u, C.k, C.scaled)
    if isinstance(C, QSGD):
        return qsgd_law(u, C.s)
    if isinstance(C, Natural):
        return natural_law(u)
    if isinstance(C, PowerSGD):
        return None
    assert isinstance(C, DETERMINISTIC), f"no law written for {C!r}"
    out = C(u, rng(1))
    np.testing.assert_array_equal(out, C(u, rng(2)), err_msg=f"{C!r} is declared deterministic")
    return Joint(out[None], np.ones(1))


# ----------------------------------------------------------------------------------------------------
# decision helpers (each is run on a mutant at the end of the file)


def bernstein_halfwidth(var, bound: float, n: int, alpha: float):
    """t with P(|mean of n i.i.d. - μ| >= t) <= alpha for variance ``var`` and |Z - μ| <= ``bound``:
    Bernstein, 2 exp(-n t^2 / (2 var + 2 bound t / 3)) = alpha, solved for t."""
    L = math.log(2 / alpha)
    b = 2 * bound * L / 3
    return (b + np.sqrt(b * b + 8 * n * np.asarray(var) * L)) / (2 * n)


def omega_violation(omega: float, law: Joint | Product, u: np.ndarray) -> str | None:
    """Definition 12.1 second half, exactly: E||C(u) - u||^2 <= ω||u||^2."""
    err, norm2 = law.sq_err(u), float(np.sum(u**2))
    if err > omega * norm2 + FP_RTOL * norm2:
        return f"E||C(x) - x||^2 = {err:.6g} > ω||x||^2 = {omega * norm2:.6g}"
    return None


def delta_violation(delta: float, law: Joint | Product, u: np.ndarray) -> str | None:
    """Definition 12.3, exactly: E||C(u) - u||^2 <= (1 - δ)||u||^2."""
    err, norm2 = law.sq_err(u), float(np.sum(u**2))
    if err > (1 - delta) * norm2 + FP_RTOL * norm2:
        return f"E||C(x) - x||^2 = {err:.6g} > (1 - δ)||x||^2 = {(1 - delta) * norm2:.6g}"
    return None


BLOCKS = 64
# Under H0 (E Q = x and E||Q - x||^2 <= ω||x||^2) a block mean of m samples has E||mean - x||^2 <=
# ω||x||^2/m, so by Markov it exceeds 4ω||x||^2/m with probability <= 1/4; the blocks are independent,
# so the number of exceeding blocks is dominated by Binomial(BLOCKS, 1/4). Failing when it reaches
# MAX_EXCEEDING has false-failure probability <= ALPHA (a median-of-means test).
MAX_EXCEEDING = next(j for j in range(BLOCKS + 1) if stats.binom.sf(j - 1, BLOCKS, 0.25) <= ALPHA)
# Rounding of a block mean of m <= 1000 outputs of size <= 10 (random-k's d/k): per coordinate at most
# log2(m) 2^-53 * 10 < 1e-14, so ||rounding||^2 < d 1e-28 = 1e-27, far below MEAN_FP_SLACK ||u||^2 >= 1e-20/4.
MEAN_FP_SLACK = 1e-20


def unbiasedness_violation(
    C: Compressor, x: np.ndarray, *, per_block: int = 400, seed: int = 0
) -> str | None:
    """Monte Carlo test of E C(x) = x for a vector x, tolerance from the declared ω (see MAX_EXCEEDING)."""
    u = unit(x)
    omega = C.omega(len(u))
    Y = C(np.broadcast_to(u, (BLOCKS, per_block, len(u))), rng(seed))
    dev2 = np.sum((Y.mean(axis=1) - u) ** 2, axis=-1)
    threshold = (4 * omega / per_block + MEAN_FP_SLACK) * float(np.sum(u**2))
    exceeding = int(np.sum(dev2 > threshold))
    if exceeding >= MAX_EXCEEDING:
        return f"{exceeding} of {BLOCKS} block means are farther than 4ω||x||^2/m from x"
    return None


def mean_violation(z: np.ndarray, mu: float, var: float, bound: float, alpha: float = ALPHA) -> str | None:
    """The sample mean of z against its exact expectation mu, Bernstein interval (exact var, |z - mu| <= bound)."""
    half = float(bernstein_halfwidth(var, bound, len(z), alpha))
    if abs(z.mean() - mu) > half:
        return f"sample mean {z.mean():.6g} vs exact {mu:.6g}: off by more than {half:.3g}"
    return None


def captured_energy_violation(
    C: Compressor, M: np.ndarray, lower: float, *, samples: int = 4000, seed: int = 0
) -> str | None:
    """E[1 - ||C(M) - M||^2/||M||^2] >= lower, one-sided Hoeffding on the value clipped to [0, 1]
    (clipping can only raise the mean, so under H0 the clipped mean is still >= lower)."""
    M = unit(M)
    out = C(np.broadcast_to(M, (samples, *M.shape)), rng(seed))
    captured = np.clip(1 - np.sum((out - M) ** 2, axis=(-2, -1)) / np.sum(M**2), 0.0, 1.0)
    t = math.sqrt(math.log(1 / ALPHA) / (2 * samples))
    if captured.mean() < lower - t:
        return f"mean captured energy {captured.mean():.4f} < {lower:.4f} - {t:.4f}"
    return None


def warm_start_gap(C: PowerSGD, M: np.ndarray, steps: int, seed: int = 0) -> float:
    """Best rank-r energy fraction minus the fraction captured after ``steps`` steps on a fixed M."""
    generator = rng(seed)
    Q = C.init(M.shape, generator)
    for _ in range(steps):
        out, Q = C.step(M, Q, generator)
    sigma2 = np.linalg.svd(M, compute_uv=False) ** 2
    return float(sigma2[: C.rank].sum() / sigma2.sum() - np.sum(out**2) / np.sum(M**2))


def qsgd_nnz_excess(law: Product, s: int) -> float:
    """E||Q_s(x)||_0 / (s(s + sqrt(d))) for the law: > 1 violates QSGD Lemma 3.1 (iii)."""
    nonzero = (1 - law.p) * (law.low != 0) + law.p * (law.high != 0)
    return float(nonzero.sum() / (s * (s + math.sqrt(len(law.p)))))


# ----------------------------------------------------------------------------------------------------
# 1. contract suite over the registry


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(x=inputs(), batch=st.sampled_from([(), (3,), (2, 2)]))
@settings(max_examples=30)
def test_shape_and_dtype_preserved(name, dtype, x, batch):
    C = build(name, x)
    x = np.broadcast_to(x.astype(dtype), (*batch, *x.shape)).copy()
    out = C(x, rng())
    assert out.shape == x.shape and out.dtype == dtype
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
@given(x=inputs(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30)
def test_same_seed_same_output(name, x, seed):
    C = build(name, x)
    np.testing.assert_array_equal(C(x, rng(seed)), C(x, rng(seed)))


@pytest.mark.parametrize("name", NAMES)
@given(x=inputs(), zero_rows=st.lists(st.booleans(), min_size=2, max_size=2))
@settings(max_examples=30)
def test_zero_maps_to_zero(name, x, zero_rows):
    """A batch of two inputs, each possibly zero: zero inputs give exactly zero, nothing is NaN."""
    C = build(name, x)
    batch = np.stack([np.zeros_like(x) if z else x for z in zero_rows])
    out = C(batch, rng())
    assert not np.isnan(out).any()
    for z, o in zip(zero_rows, out):
        if z:
            np.testing.assert_array_equal(o, 0.0)
    np.testing.assert_array_equal(C(np.zeros_like(x), rng()), 0.0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "dtype, power", [(np.float64, 996), (np.float64, -997), (np.float32, 100), (np.float32, -100)]
)
@given(x=inputs())
@settings(max_examples=30)
@edge_examples
def test_equivariant_at_extreme_scales(name, dtype, power, x):
    """Same seed: C(2^p u) = 2^p C(u) at 2^996 ~ 6.7e299 and 2^-997 ~ 7.5e-301 (float64), 2^±100 (float32)
    (unscaled sign: C(2^p u) = C(u)). Every compressor here commutes with multiplication by a power of
    two (natural compression only with those), so any overflow or underflow inside breaks the identity. Entries of u below 2^-20 are set to 0
    so that 2^p u is exact and normal."""
    u = unit(x)
    u = np.where(np.abs(u) < 2.0**-20, 0.0, u).astype(dtype)
    c = dtype(2.0**power)
    C = build(name, x)
    big, small = C(c * u, rng(7)), C(u, rng(7)) * (1 if isinstance(C, Sign) else c)
    assert np.isfinite(big).all()
    # the same operations on exactly scaled numbers: equal, except where an output entry is subnormal
    np.testing.assert_allclose(big, small, rtol=0, atol=1e-12 * (1 if isinstance(C, Sign) else float(c)))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scale", [1e300, 1e-300])
@given(x=inputs())
@settings(max_examples=20)
@edge_examples
def test_finite_at_1e300_and_1e_minus_300(name, scale, x):
    C = build(name, x)
    out = C(scale * unit(x), rng())
    assert np.isfinite(out).all()
    # ||C(x)|| <= (d/k)||x|| <= 10 sqrt(size) max|x| for every compressor here except unscaled sign (<= 1)
    assert (np.abs(out) <= 10 * np.sqrt(x.size) * (1 if isinstance(C, Sign) else scale)).all()


@pytest.mark.parametrize("name", NAMES)
@given(x=inputs(max_rows=3, max_cols=6), batch=st.sampled_from([(4,), (2, 3)]))
@settings(max_examples=25)
def test_each_batched_row_obeys_the_axioms(name, x, batch):
    """A batch (..., event) of independent inputs: every member lies in the support of its own law
    (deterministic compressors: equals the single call), PowerSGD outputs are left projections of rank
    <= rank."""
    C = build(name, x)
    inputs_ = np.stack([unit(x) * (1 + j) for j in range(int(np.prod(batch)))]).reshape(*batch, *x.shape)
    out = C(inputs_, rng()).reshape(-1, *x.shape)
    for o, xin in zip(out, inputs_.reshape(-1, *x.shape)):
        if isinstance(C, DETERMINISTIC):
            np.testing.assert_array_equal(o, C(xin, rng()))
        elif isinstance(C, PowerSGD):
            assert np.linalg.matrix_rank(o, tol=1e-9 * np.abs(xin).max(initial=1)) <= C.rank
            np.testing.assert_allclose(np.sum((xin - o) ** 2) + np.sum(o**2), np.sum(xin**2), rtol=1e-10)
        else:
            for row_out, row_in in zip(o, xin):
                assert law_of(C, row_in).sample_violation(row_out[None], alpha=None) is None


@pytest.mark.parametrize("name", NAMES)
def test_declarations_are_consistent(name):
    """ω >= 0, δ in (0, 1], unbiased => ω declared, bits positive, for every size 1..10."""
    for size in range(1, 11):
        C = REGISTRY[name](size)
        arg = size if C.event_ndim == 1 else (size, size + 2)
        omega, delta, bits = C.omega(arg), C.delta(arg), C.bits(arg)
        assert omega is None or omega >= 0
        assert delta is None or 0 < delta <= 1
        assert not C.unbiased or omega is not None
        assert 0 < bits < math.inf
        assert make(C.name, **C.params()) == C


def _declares(name: str, which: str) -> bool:
    for size in range(1, 11):
        C = REGISTRY[name](size)
        arg = size if C.event_ndim == 1 else (size, size)
        if getattr(C, which)(arg) is not None and not isinstance(C, PowerSGD):
            return True
    return False


@pytest.mark.parametrize("name", [n for n in NAMES if _declares(n, "omega")])
@given(x=inputs())
@edge_examples
def test_omega_inequality_exact(name, x):
    """E||C(x) - x||^2 <= ω||x||^2 with the expectation computed exactly from the law."""
    C = build(name, x)
    tightness = [0.0]
    for event, arg in events(C, x):
        u, omega = unit(event), C.omega(arg)
        law = law_of(C, u)
        if omega > 0 and np.any(u):
            tightness.append(law.sq_err(u) / (omega * np.sum(u**2)))
        assert omega_violation(omega, law, u) is None
    target(max(tightness), label=f"{name}: tightness of ω")


@pytest.mark.parametrize("name", [n for n in NAMES if _declares(n, "delta")])
@given(x=inputs())
@edge_examples
def test_delta_inequality_exact(name, x):
    """E||C(x) - x||^2 <= (1 - δ)||x||^2 with the expectation computed exactly from the law."""
    C = build(name, x)
    tightness = [0.0]
    for event, arg in events(C, x):
        u, delta = unit(event), C.delta(arg)
        if delta is None:
            continue
        law = law_of(C, u)
        if delta < 1 and np.any(u):
            tightness.append(law.sq_err(u) / ((1 - delta) * np.sum(u**2)))
        assert delta_violation(delta, law, u) is None
    target(max(tightness), label=f"{name}: tightness of δ")


UNBIASED = [n for n in NAMES if probe(n).unbiased]


@pytest.mark.parametrize("name", UNBIASED)
@given(x=inputs())
@edge_examples
def test_unbiased_exact_mean(name, x):
    C = build(name, x)
    for event, _ in events(C, x):
        u = unit(event)
        np.testing.assert_allclose(law_of(C, u).mean(), u, rtol=0, atol=FP_RTOL)


@pytest.mark.parametrize("name", UNBIASED)
@given(x=inputs(max_rows=2))
@settings(max_examples=12)
@edge_examples
def test_unbiased_monte_carlo(name, x):
    """The implementation (not the law): block means of Q(x) against x, tolerance from the declared ω."""
    C = build(name, x)
    for event, _ in events(C, x):
        assert unbiasedness_violation(C, event) is None


RANDOM_WITH_LAW = [n for n in NAMES if not isinstance(probe(n), (*DETERMINISTIC, PowerSGD))]


@pytest.mark.parametrize("name", RANDOM_WITH_LAW)
@given(x=inputs(max_rows=3, max_cols=7))
@settings(max_examples=12)
@edge_examples
def test_batch_of_identical_rows_follows_the_exact_law(name, x):
    """A (40, 50, m, d) batch of copies of x: the 2000 outputs of each row are independent draws from
    its exact law (support, and frequencies within Bernstein intervals)."""
    C = build(name, x)
    out = C(np.broadcast_to(x, (40, 50, *x.shape)), rng(3)).reshape(-1, *x.shape)
    for i, row in enumerate(x):
        assert law_of(C, row).sample_violation(out[:, i]) is None


# ----------------------------------------------------------------------------------------------------
# 2. compressor-specific identities


def test_identity_is_exact():
    x = np.array([[1.5, -2.0, 0.0], [3.0, 1e-300, -1e300]])
    out = Identity()(x, rng())
    np.testing.assert_array_equal(out, x)
    assert out is not x


@given(x=inputs(max_rows=1), k=st.integers(1, 10))
@example(x=np.ones((1, 10)), k=1)
@example(x=np.array([[3.0, -3.0, 1.0, 1.0, -1.0, 0.0]]), k=3)
def test_top_k_keeps_the_k_largest_magnitudes_lowest_index_first(x, k):
    """Spec of top-k: k coordinates kept unchanged, every kept |x_i| >= every dropped |x_j|, among equal
    magnitudes the lower index is kept; ratio pushed toward its worst case 1 - k/d."""
    row = x[0]
    d = len(row)
    k = min(k, d)
    out = TopK(k)(row, rng())
    kept = np.zeros(d, dtype=bool)
    kept[np.lexsort((np.arange(d), -np.abs(row)))[:k]] = True  # by magnitude, then by index
    np.testing.assert_array_equal(out, np.where(kept, row, 0.0))
    if np.any(row):
        u = unit(row)
        ratio = np.sum((TopK(k)(u, rng()) - u) ** 2) / np.sum(u**2)
        target(ratio / (1 - k / d) if k < d else 0.0, label="top-k ratio / (1 - k/d)")
        assert ratio <= (1 - k / d) * (1 + FP_RTOL)


@pytest.mark.parametrize("d, k", [(1, 1), (5, 2), (10, 1), (10, 9)])
def test_top_k_delta_is_attained_on_equal_magnitudes(d, k):
    u = np.where(np.arange(d) % 2 == 0, 0.75, -0.75)
    err = np.sum((TopK(k)(u, rng()) - u) ** 2)
    np.testing.assert_allclose(err, (1 - k / d) * np.sum(u**2), rtol=FP_RTOL)


@given(x=inputs(max_rows=1))
@example(x=np.eye(1, 7))
@example(x=np.array([[1.0, 1e-9, -1e-9, 1e-9, 1e-9]]))  # near the worst case δ(x) -> 1/d
def test_scaled_sign_matches_formula(x):
    """(||x||_1/d) sign(x) with sign(0) = 0, so the error is ||x||^2 - 2||x||_1^2/d + nnz(x)||x||_1^2/d^2
    <= ||x||^2 - ||x||_1^2/d; δ(x) -> 1/d for x = (1, ε, ..., ε), ε -> 0."""
    u = unit(x[0])
    d, l1, nnz = len(u), np.abs(unit(x[0])).sum(), np.count_nonzero(u)
    out = ScaledSign()(u, rng())
    np.testing.assert_allclose(out, l1 / d * np.sign(u), rtol=1e-14, atol=0)
    err, norm2 = np.sum((out - u) ** 2), np.sum(u**2)
    np.testing.assert_allclose(err, norm2 - 2 * l1**2 / d + nnz * l1**2 / d**2, rtol=1e-12, atol=1e-14)
    if np.any(u):
        target(err / ((1 - 1 / d) * norm2) if d > 1 else 0.0, label="scaled sign: tightness of δ = 1/d")
        assert err <= (1 - 1 / d) * norm2 * (1 + FP_RTOL)
    if nnz == d and d > 1 and np.sort(np.abs(u))[-2] < 1e-8 * np.abs(u).max():
        assert 1 - err / norm2 < 1 / d + 1e-6


@pytest.mark.parametrize("d", [1, 2, 10])
def test_sign_is_not_a_delta_compressor(d):
    """sign has no δ: for x = ε·1 the error d(1 - ε)^2 exceeds ||x||^2 = dε^2 (so exceeds (1 - δ)||x||^2
    for every δ > 0)."""
    C = Sign()
    assert C.delta(d) is None and C.omega(d) is None and not C.unbiased
    x = np.full(d, 0.1)
    assert np.sum((C(x, rng()) - x) ** 2) > np.sum(x**2)
    np.testing.assert_array_equal(C(np.array([-3.0, 0.0, 2.0]), rng()), [-1.0, 0.0, 1.0])


@given(x=inputs(max_rows=1, max_cols=8), k=st.integers(1, 8), scaled=st.booleans())
@example(x=np.array([[1.0, 0, 0, 0]]), k=1, scaled=True)
def test_random_k_error_is_exact_by_enumeration(x, k, scaled):
    """Scaled: E||Q(x) - x||^2 = (d/k - 1)||x||^2; unscaled: (1 - k/d)||x||^2, for EVERY x (equalities)."""
    u = unit(x[0])
    d = len(u)
    k = min(k, d)
    expected = (d / k - 1 if scaled else 1 - k / d) * np.sum(u**2)
    np.testing.assert_allclose(random_k_law(u, k, scaled).sq_err(u), expected, rtol=FP_RTOL, atol=FP_RTOL)


@pytest.mark.parametrize("k, scaled", [(1, True), (3, True), (3, False)])
def test_random_k_error_monte_carlo_matches_exact(k, scaled):
    u = unit(np.array([3.0, -1.0, 0.5, 2.0, 0.0, -4.0, 1.5]))
    law = random_k_law(u, k, scaled)
    out = RandomK(k, scaled)(np.broadcast_to(u, (20000, len(u))), rng(11))
    z = np.sum((out - u) ** 2, axis=1)
    assert mean_violation(z, law.sq_err(u), law.sq_err_var(u), law.sq_err_range(u)) is None


@given(x=inputs(max_rows=1), s=st.integers(1, 6))
@example(x=np.ones((1, 9)), s=1)
@example(x=np.eye(1, 5), s=3)
def test_qsgd_exact_variance_formula(x, s):
    """E||Q_s(x) - x||^2 = (||x||^2/s^2) Σ p_i(1 - p_i) (THEOREMS.md T1), below ω = min(d/s^2, sqrt(d)/s)."""
    u = unit(x[0])
    law = qsgd_law(u, s)
    formula = np.sum(u**2) / s**2 * np.sum(law.p * (1 - law.p))
    np.testing.assert_allclose(law.sq_err(u), formula, rtol=FP_RTOL, atol=FP_RTOL)
    assert omega_violation(QSGD(s).omega(len(u)), law, u) is None


@pytest.mark.parametrize("s", [1, 2, 5])
def test_qsgd_sampled_variance_matches_exact(s):
    u = unit(np.array([0.3, -1.2, 0.05, 2.0, 0.7, -0.9, 1.1, 0.0, -0.4, 0.6]))
    law = qsgd_law(u, s)
    out = QSGD(s)(np.broadcast_to(u, (20000, len(u))), rng(12))
    z = np.sum((out - u) ** 2, axis=1)
    assert mean_violation(z, law.sq_err(u), law.sq_err_var(u), law.sq_err_range(u)) is None


@given(
    x=arrays(np.float64, st.integers(1, 100), elements=st.floats(-1e3, 1e3, allow_subnormal=False)),
    s=st.sampled_from([1, 2, 3, 4, 8]),
)
@example(x=np.ones(100), s=1)
def test_qsgd_expected_nonzeros_bound(x, s):
    """E||Q_s(x)||_0 <= s(s + sqrt(d)) (QSGD Lemma 3.1 (iii)), expectation exact: P(Q_i != 0) from the law."""
    excess = qsgd_nnz_excess(qsgd_law(unit(x), s), s)
    target(excess, label="E nnz / s(s + sqrt d)")
    assert excess <= 1 + FP_RTOL


@given(a=st.floats(1e-6, 1e6))
@example(a=4 / 3)  # the worst case: variance a^2/8 exactly
@example(a=1.0)
def test_natural_two_point_law_per_coordinate(a):
    """Per coordinate: mean |x_i| exactly and variance (|x_i| - 2^e)(2^(e+1) - |x_i|) <= |x_i|^2/8."""
    law = natural_law(np.array([a]))
    lo, hi, p = law.low[0], law.high[0], law.p[0]
    assert lo <= a < hi == 2 * lo and 0 <= p < 1
    np.testing.assert_allclose(law.mean()[0], a, rtol=1e-15)
    var = law.sq_err(np.array([a]))
    target(var / a**2, label="natural variance / a^2")
    assert var <= Natural().omega(1) * a**2 * (1 + FP_RTOL)
    if a == 4 / 3:
        np.testing.assert_allclose(var, a**2 / 8, rtol=1e-14)


@given(x=inputs(max_rows=1, max_cols=8), k=st.integers(1, 8))
def test_scaled_random_k_delta_identity(x, k):
    """Q/(1+ω) with scaled random-k: E||Q/(1+ω) - x||^2 = (1 - 1/(1+ω))||x||^2 exactly (lecture exercise)."""
    u = unit(x[0])
    d = len(u)
    C = Scaled(RandomK(min(k, d)))
    law = law_of(C, u)
    np.testing.assert_allclose(law.sq_err(u), (1 - C.delta(d)) * np.sum(u**2), rtol=FP_RTOL, atol=FP_RTOL)


@given(x=inputs(max_rows=6, max_cols=6), rank=st.integers(1, 6))
@example(x=np.eye(4, 5), rank=2)
def test_rank_r_error_is_the_tail_energy(x, rank):
    """||M - M_r||^2 = Σ_{i>r} σ_i^2 (Eckart-Young), σ_i^2 from eigvalsh of the Gram matrix (independent
    of the SVD); rank(M_r) <= r; δ = r/min(m, n) inequality."""
    M = unit(x)
    m, n = M.shape
    rank = min(rank, m, n)
    out = RankR(rank)(M, rng())
    gram = M @ M.T if m <= n else M.T @ M
    tail = np.sort(np.linalg.eigvalsh(gram))[::-1][rank:].clip(min=0).sum()
    np.testing.assert_allclose(np.sum((M - out) ** 2), tail, rtol=0, atol=FP_RTOL * max(1.0, np.sum(M**2)))
    assert np.linalg.matrix_rank(out, tol=1e-10) <= rank
    assert delta_violation(RankR(rank).delta(M.shape), Joint(out[None], np.ones(1)), M) is None


def _matrix(m: int, n: int, sigma: list[float], seed: int) -> np.ndarray:
    g = rng(seed)
    U, _ = np.linalg.qr(g.standard_normal((m, len(sigma))))
    V, _ = np.linalg.qr(g.standard_normal((n, len(sigma))))
    return (U * sigma) @ V.T


@pytest.mark.parametrize("rank", [1, 2])
def test_power_sgd_all_reduce_equals_compression_of_the_mean(rank):
    """T3.1 P1: for a fixed query, averaging P = M_w Q and then Q = M_wᵀ P̂ over W workers (the all-reduce
    form, written here from the formulas) gives PowerSGD applied to the mean gradient, = P̂ P̂ᵀ M̄.
    Tolerance: QR is backward stable, so the two P̂ differ by <= ~1e-15 κ(P); κ(P) < 1e3 is asserted."""
    g = rng(5)
    Ms = g.standard_normal((4, 7, 5))
    Q = PowerSGD(rank).init((7, 5), g)
    P = np.mean(Ms @ Q, axis=0)
    assert np.linalg.cond(P) < 1e3
    P_hat, _ = np.linalg.qr(P)
    Q_avg = np.mean(np.swapaxes(Ms, -1, -2) @ P_hat, axis=0)
    all_reduce = P_hat @ Q_avg.T
    M_bar = Ms.mean(axis=0)
    out, new_Q = PowerSGD(rank).step(M_bar, Q, rng(99))
    np.testing.assert_allclose(out, all_reduce, rtol=0, atol=1e-10 * np.abs(M_bar).max())
    np.testing.assert_allclose(all_reduce, P_hat @ P_hat.T @ M_bar, rtol=0, atol=1e-12)
    # the new query Q = M̄ᵀ P̂ is defined up to the signs of P̂'s columns: compare Q Qᵀ (= C(M)ᵀ C(M))
    np.testing.assert_allclose(
        new_Q @ new_Q.T, Q_avg @ Q_avg.T, rtol=0, atol=1e-10 * np.abs(M_bar).max() ** 2
    )


@given(x=inputs(max_rows=6, max_cols=6), rank=st.integers(1, 6), seed=st.integers(0, 1000))
@example(x=np.eye(5), rank=1, seed=0)
def test_power_sgd_step_is_a_projection_capturing_the_query_subspace(x, rank, seed):
    """For a given query Q: C(M) = P̂ P̂ᵀ M (Pythagoras, rank <= r) and ||C(M)||^2 >= ||M Π_Q||^2, the
    inequality behind ``expected_delta_lower`` (M Π_Q has its columns in span(M Q))."""
    M = unit(x)
    m, n = M.shape
    rank = min(rank, m, n)
    C = PowerSGD(rank)
    Q = C.init(M.shape, rng(seed))
    out, _ = C.step(M, Q, rng())
    norm2 = max(float(np.sum(M**2)), 1e-300)
    np.testing.assert_allclose(
        np.sum((M - out) ** 2) + np.sum(out**2), np.sum(M**2), rtol=0, atol=1e-12 * norm2
    )
    assert np.linalg.matrix_rank(out, tol=1e-9) <= rank
    basis, _ = np.linalg.qr(Q)
    assert np.sum(out**2) >= np.sum((M @ basis @ basis.T) ** 2) - 1e-12 * norm2


@pytest.mark.parametrize(
    "rank, M",
    [
        (1, np.eye(6)),  # tight: captured energy is exactly 1/n
        (2, np.eye(6)),
        (1, _matrix(12, 5, [1.0, 1.0, 1.0, 1.0, 1.0], seed=1)),  # equal singular values, rectangular
        (1, rng(2).standard_normal((8, 10))),
        (3, rng(3).standard_normal((9, 7))),
        (1, np.outer(np.arange(1.0, 6.0), np.ones(4))),  # rank one: captured exactly 1
    ],
)
def test_power_sgd_expected_captured_energy_at_least_rank_over_n(rank, M):
    C = PowerSGD(rank)
    assert captured_energy_violation(C, M, C.expected_delta_lower(M.shape)) is None


def test_power_sgd_warm_start_converges_to_the_best_rank_r_energy():
    """T3.1 P3: on a fixed M, warm-started steps are subspace iteration; the gap to Σ_{i<=r}σ_i^2/Σσ_i^2
    shrinks like (σ_{r+1}/σ_r)^{2t} = (1.5/2.9)^{2t}: < 1e-33 times tan^2 of the initial angle after 60
    steps, so 1e-10 is a safe bound."""
    M = _matrix(30, 20, [3.0, 2.9, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0], seed=4)
    gap = warm_start_gap(PowerSGD(2, warm_start=True), M, steps=60)
    assert abs(gap) < 1e-10


@pytest.mark.parametrize("power", [996, -997])
def test_power_sgd_warm_start_equivariant_at_extreme_scales(power):
    """Warm-started steps on 2^p M equal 2^p times the steps on M (same query start): the stored query
    has size ||M||, so P = M Q would be ~1e600 or ~1e-600 without rescaling the query."""
    M = unit(rng(13).standard_normal((6, 5)))
    c = 2.0**power
    C = PowerSGD(2)
    Q = Q_scaled = C.init(M.shape, rng(14))
    for _ in range(3):
        out, Q = C.step(M, Q, rng())
        out_scaled, Q_scaled = C.step(c * M, Q_scaled, rng())
    assert np.isfinite(out_scaled).all() and np.any(out_scaled)
    np.testing.assert_allclose(out_scaled, c * out, rtol=1e-12, atol=1e-12 * c)


def test_power_sgd_state_handling():
    """warm_start=True uses the given query and no randomness; warm_start=False ignores the state."""
    g = rng(6)
    M = g.standard_normal((5, 4))
    Q = PowerSGD(2).init(M.shape, g)
    assert Q.shape == (4, 2)
    a, _ = PowerSGD(2).step(M, Q, rng(1))
    b, _ = PowerSGD(2).step(M, Q, rng(2))
    np.testing.assert_array_equal(a, b)
    c, _ = PowerSGD(2, warm_start=False).step(M, Q, rng(1))
    d, _ = PowerSGD(2, warm_start=False).step(M, np.zeros_like(Q), rng(1))
    np.testing.assert_array_equal(c, d)
    batch = g.standard_normal((3, 2, 5, 4))
    assert PowerSGD(2).init(batch.shape, g).shape == (3, 2, 4, 2)


# ----------------------------------------------------------------------------------------------------
# 3. mutants: every decision helper above must catch a broken twin


class MisScaledRandomK(RandomK):
    """Rescales by d/(k+1) instead of d/k: biased."""

    def __call__(self, x, rng):
        return RandomK.__call__(self, x, rng) * (self.k / (self.k + 1))


class QSGDRoundDown(QSGD):
    """Always rounds the level down: biased toward zero."""

    def __call__(self, x, rng):
        norm = np.linalg.norm(x, axis=-1, keepdims=True)
        return np.sign(x) * norm * np.floor(self.s * np.abs(x) / norm) / self.s


class NaturalNearest(Natural):
    """Rounds |x_i| to the nearest power of two, deterministically: biased."""

    def __call__(self, x, rng):
        return np.sign(x) * 2.0 ** np.round(np.log2(np.where(x != 0, np.abs(x), 1.0))) * (x != 0)


class StuckMaskRandomK(RandomK):
    """Draws one mask and uses it for every vector of the batch (shared randomness across rows)."""

    def __call__(self, x, rng):
        d = x.shape[-1]
        M = np.zeros(d, dtype=bool)
        M[rng.permutation(d)[: self.k]] = True
        return np.where(M, x, 0.0) * (d / self.k)


class QSGDWrongLevels(QSGD):
    """Quantizes with s + 1 levels while claiming s."""

    def __call__(self, x, rng):
        return QSGD(self.s + 1)(x, rng)


class TopKOverclaim(TopK):
    """Declares δ = (k+1)/d."""

    def delta(self, d):
        return (self.k + 1) / d


class RandomKUnderclaim(RandomK):
    """Declares ω = 0.9 (d/k - 1)."""

    def omega(self, d):
        return 0.9 * (d / self.k - 1)


class LeftRandomProjection(PowerSGD):
    """Projects onto a uniformly random left direction, skipping the power step."""

    def __call__(self, M, rng):
        p = rng.standard_normal((*M.shape[:-2], M.shape[-2], 1))
        p /= np.linalg.norm(p, axis=-2, keepdims=True)
        return p @ (np.swapaxes(p, -1, -2) @ M)


MUTANT_X = np.array([3.0, -1.0, 0.5, 2.0, 0.25, -4.0, 1.5, 0.7, -2.2, 1.1])


def test_unbiasedness_helper_catches_mis_scaled_random_k():
    assert unbiasedness_violation(RandomK(3), MUTANT_X) is None
    assert unbiasedness_violation(MisScaledRandomK(3), MUTANT_X) is not None


def test_unbiasedness_helper_catches_qsgd_rounding_down():
    assert unbiasedness_violation(QSGD(2), MUTANT_X) is None
    assert unbiasedness_violation(QSGDRoundDown(2), MUTANT_X) is not None


def test_unbiasedness_helper_catches_natural_rounding_to_nearest():
    assert unbiasedness_violation(Natural(), MUTANT_X) is None
    assert unbiasedness_violation(NaturalNearest(), MUTANT_X) is not None


@pytest.mark.parametrize("d, k", [(4, 1), (10, 3), (7, 6)])
def test_delta_helper_catches_top_k_overclaim_on_equal_magnitudes(d, k):
    u = np.where(np.arange(d) % 3 == 0, -0.5, 0.5)
    assert delta_violation(TopK(k).delta(d), law_of(TopK(k), u), u) is None
    assert delta_violation(TopKOverclaim(k).delta(d), law_of(TopKOverclaim(k), u), u) is not None


def test_omega_helper_catches_random_k_underclaim():
    u = unit(MUTANT_X[:6])
    assert omega_violation(RandomK(2).omega(6), law_of(RandomK(2), u), u) is None
    assert omega_violation(RandomKUnderclaim(2).omega(6), law_of(RandomK(2), u), u) is not None


def test_law_helper_catches_a_mask_shared_across_the_batch():
    u = unit(MUTANT_X[:5])
    law = random_k_law(u, 2, scaled=True)
    assert law.sample_violation(RandomK(2)(np.broadcast_to(u, (3000, 5)), rng(8))) is None
    assert law.sample_violation(StuckMaskRandomK(2)(np.broadcast_to(u, (3000, 5)), rng(8))) is not None


def test_law_and_variance_helpers_catch_qsgd_with_wrong_levels():
    u = unit(MUTANT_X)
    law = qsgd_law(u, 2)
    for C, expect_ok in ((QSGD(2), True), (QSGDWrongLevels(2), False)):
        out = C(np.broadcast_to(u, (20000, len(u))), rng(9))
        z = np.sum((out - u) ** 2, axis=1)
        assert (law.sample_violation(out) is None) == expect_ok
        assert (mean_violation(z, law.sq_err(u), law.sq_err_var(u), law.sq_err_range(u)) is None) == expect_ok


def test_captured_energy_helper_catches_a_random_left_projection():
    M = rng(10).standard_normal((40, 10))
    assert captured_energy_violation(PowerSGD(1), M, 1 / 10) is None
    assert captured_energy_violation(LeftRandomProjection(1), M, 1 / 10) is not None


def test_warm_start_helper_catches_a_cold_start():
    M = _matrix(30, 20, [3.0, 2.9, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0], seed=4)
    assert warm_start_gap(PowerSGD(2, warm_start=False), M, steps=60) > 1e-3


def test_nnz_helper_catches_always_rounding_up():
    u = unit(np.linspace(1.0, 2.0, 50))
    law = qsgd_law(u, 1)
    assert qsgd_nnz_excess(law, 1) <= 1
    always_up = Product(law.low, law.high, np.where(law.p > 0, 1.0, 0.0))
    assert qsgd_nnz_excess(always_up, 1) > 1


def test_binomial_threshold_is_what_the_comment_says():
    assert (
        stats.binom.sf(MAX_EXCEEDING - 1, BLOCKS, 0.25)
        <= ALPHA
        < stats.binom.sf(MAX_EXCEEDING - 2, BLOCKS, 0.25)
    )


# ----------------------------------------------------------------------------------------------------
# bad input, names, factory


def test_bad_parameters_raise_input_error_naming_the_range():
    with pytest.raises(InputError, match=r"k must be an integer >= 1, got 0"):
        RandomK(0)
    with pytest.raises(InputError, match=r"k=12 must be in \[1, d=10\]"):
        RandomK(12)(np.ones(10), rng())
    with pytest.raises(InputError, match=r"k=12 must be in \[1, d=10\]"):
        RandomK(12).omega(10)
    with pytest.raises(InputError, match=r"k=4 must be in \[1, d=3\]"):
        TopK(4)(np.ones((2, 3)), rng())
    with pytest.raises(InputError, match=r"s must be an integer >= 1, got 0"):
        QSGD(0)
    with pytest.raises(InputError, match=r"rank=5 must be in \[1, min\(m, n\)=3\]"):
        RankR(5)(np.ones((3, 4)), rng())
    with pytest.raises(InputError, match=r"rank=5 must be in \[1, min\(m, n\)=3\]"):
        PowerSGD(5).init((3, 4), rng())
    with pytest.raises(InputError, match=r"unknown compressor 'topk_typo'; did you mean 'top_k'\?"):
        make("topk_typo")
    with pytest.raises(InputError, match="unbiased"):
        Scaled(TopK(2))
    for bad in (2.5, True, "3"):
        with pytest.raises(InputError, match="k must be an integer"):
            RandomK(bad)
    with pytest.raises(InputError, match="parameters are k"):
        make("top_k", kk=3)


def test_repr_name_and_make_round_trip():
    assert repr(RandomK(4)) == "RandomK(k=4, scaled=True)"
    assert repr(Scaled(QSGD(2))) == "Scaled(QSGD(s=2))"
    assert repr(PowerSGD(2, warm_start=False)) == "PowerSGD(rank=2, warm_start=False)"
    assert RandomK(4).name == "random_k" and Natural().name == "natural"
    for name in NAMES:
        C = REGISTRY[name](6)
        assert make(C.name, **C.params()) == C


def test_declared_constants_of_the_classes():
    """The values the theorems read (formulas of the docstrings)."""
    assert RandomK(2).omega(10) == 4.0 and RandomK(2).delta(10) is None
    assert RandomK(8).delta(10) == pytest.approx(2 - 10 / 8)  # scaled random-k is contractive for k > d/2
    assert RandomK(2, scaled=False).delta(10) == 0.2 and RandomK(2, scaled=False).omega(10) is None
    assert QSGD(1).omega(16) == 4.0 and QSGD(8).omega(16) == 0.25 and QSGD(8).delta(16) == 0.75
    assert Natural().omega(5) == 0.125 and Natural().bits(5) == 45
    assert Scaled(RandomK(2)).delta(10) == pytest.approx(0.2)
    assert RankR(2).delta((4, 6)) == 0.5 and PowerSGD(2).delta((4, 6)) is None
    assert PowerSGD(1).expected_delta_lower((9, 4)) == 0.25
    assert TopK(1).bits(16) == 32 + 4 and ScaledSign().bits(16) == 48 and Sign().bits(16) == 16
