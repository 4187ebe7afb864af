"""Tests for error feedback (THEOREMS.md T2): the EF-SGD algorithm, the counterexample problems, the new
check kinds, the declared bounds of theorems/error_feedback.py, the planted copies and the exercises.

Statistical tests use fixed seeds and a tolerance of Z standard errors computed from the sample itself (or
from the exact variance where it is known); each test also runs a deliberately broken twin to show that
it can fail. The planted copies come from tests/planted_copies.py.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from problems.counterexamples import (
    ConstantGradient,
    ShiftedWorkers,
    SignCounterexample,
    TopKCounterexample,
    line_minimum,
)
from problems.nonconvex import Nonconvex
from problems.pseudo_huber import PseudoHuber
from problems.quadratic import Quadratic
from ratecheck.algorithms.error_feedback import ef_sgd, ef_sgd_update, ef_sgd_workers
from ratecheck.algorithms.sgd import quantized_sgd, sgd
from ratecheck.checks import BoundHolds, BoundRatio, Converges, StepInequality, WithinRounding
from ratecheck.compressors import Identity, RandomK, Scaled, ScaledSign, Sign, TopK
from ratecheck.problem import IIDClients, broadcast_clients
from ratecheck.theorem import FAIL, INCONCLUSIVE, PASS, Run, Sweep, T, Theorem, evaluate, limiting_exponent
from ratecheck.trace import Trace
from ratecheck.validate import InputError

ROOT = Path(__file__).resolve().parents[1]
Z = 6.0  # Monte Carlo tolerance in standard errors (two-sided normal tail 2e-9 per comparison)
EPS = np.finfo(float).eps


# ----------------------------------------------------------------------------------------------------
# the algorithm


@pytest.mark.parametrize("C", [RandomK(3, scaled=False), TopK(2), ScaledSign(), Scaled(RandomK(3))], ids=repr)
def test_virtual_sequence_is_sgd_on_the_same_gradients(C) -> None:
    """x~_t = x_t - e_t equals x_0 - gamma sum_{s<t} g_s to rounding (lecture, Proof I), one and n workers."""
    f = Quadratic.log_spaced(12, 0.1, 1.0, noise=0.5, seed=3)
    tr = ef_sgd(f, C, 0.05, 400, 6, np.random.default_rng(0), checkpoints=np.arange(1, 401))
    assert tr.values["virt_gap"].max() < 1e3 * 400 * EPS
    tw = ef_sgd_workers(IIDClients(f, 3), C, 0.05, 400, 6, np.random.default_rng(0), checkpoints=np.arange(1, 401))
    assert tw.values["virt_gap"].max() < 1e3 * 400 * EPS


def test_virtual_sequence_gap_catches_a_broken_error_update() -> None:
    """Power: an EF whose memory uses a second, independent compression draw breaks the identity, and the
    recorded virt_gap (same formula as in ef_sgd) sees it."""
    from ratecheck.algorithms.error_feedback import _virt_gap

    f = Quadratic.isotropic(10, 1.0, noise=1.0, seed=0)
    C, gamma, rng = RandomK(2, scaled=False), 0.05, np.random.default_rng(1)
    x = np.tile(f.x0, (4, 1))
    e, y = np.zeros_like(x), x.copy()
    for _ in range(50):
        g = f.stoch_grad(x, rng)
        v = C(e + gamma * g, rng)
        e = e + gamma * g - C(e + gamma * g, rng)  # BROKEN: a different mask for the memory
        x, y = x - v, y - gamma * g
    assert _virt_gap(x, e, y).min() > 1e-3


def test_a_compressor_that_is_not_contractive_makes_the_buffer_explode() -> None:
    """EF needs a delta-compressor: rescaled random-k (unbiased, omega = d/k - 1 = 3 > 1) has
    E||u - C(u)||^2 = 3 ||u||^2, so the memory grows geometrically (in mean square by ~3 per step)."""
    f = Quadratic.log_spaced(12, 0.1, 1.0, noise=0.5, seed=3)
    tr = ef_sgd(f, RandomK(3), 0.05, 400, 6, np.random.default_rng(0))
    assert np.all(tr.diverged_at >= 0) and tr.diverged_at.max() < 100
    ok = ef_sgd(f, Scaled(RandomK(3)), 0.05, 400, 6, np.random.default_rng(0))  # the same quantizer divided by 1 + omega
    assert np.all(ok.diverged_at < 0)


def test_identity_compressor_gives_plain_sgd_bit_for_bit() -> None:
    f = Quadratic.log_spaced(8, 0.1, 1.0, noise=1.0, seed=1)
    a = ef_sgd(f, Identity(), 0.1, 300, 5, np.random.default_rng(7))
    b = sgd(f, 0.1, 300, 5, np.random.default_rng(7))
    np.testing.assert_array_equal(a.values["subopt"], b.values["subopt"])
    assert np.all(a.values["e2"] == 0)


def test_one_worker_of_the_multi_worker_code_is_ef_sgd() -> None:
    f = Quadratic.log_spaced(8, 0.1, 1.0, noise=1.0, seed=1)
    a = ef_sgd(f, RandomK(3, scaled=False), 0.1, 200, 5, np.random.default_rng(7))
    b = ef_sgd_workers(IIDClients(f, 1, one_gradient=False), RandomK(3, scaled=False), 0.1, 200, 5, np.random.default_rng(7))
    np.testing.assert_allclose(b.values["subopt"], a.values["subopt"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(b.values["e2"], a.values["e2"], rtol=1e-12, atol=0)


def test_ef_update_reads_like_the_paper() -> None:
    e, g = np.array([[1.0, -2.0, 0.5]]), np.array([[0.0, 4.0, -1.0]])
    tx = ef_sgd_update(TopK(1), 0.5)
    state = tx.init(np.zeros(3), 1, np.random.default_rng(0))
    state = (state[0], state[1]._replace(e=e))
    v, new = tx.update(g, state, np.random.default_rng(0))
    np.testing.assert_array_equal(v, [[1.0, 0.0, 0.0]])  # u = e + gamma g = (1, 0, 0): top-1 keeps it whole
    np.testing.assert_array_equal(new[1].e, [[0.0, 0.0, 0.0]])


def _stationary_e2(problem, k: int, d: int, gamma: float, R: int, seed: int) -> tuple[float, float]:
    """Mean and standard error of the time-averaged ||e_t||^2 over the second half of a long run."""
    delta = k / d
    T_ = int(40 / delta)
    tr = ef_sgd(problem, RandomK(k, scaled=False), gamma, T_, R, np.random.default_rng(seed), burn_in=T_ // 2, measures=("e2",))
    x = tr.values["tail_e2"][:, -1]
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(R))


def test_error_buffer_stationary_values_random_k() -> None:
    """[DERIVED] random-k unscaled, g independent of x: pure noise gives E||e||^2 = (1-delta) gamma^2 sigma^2/delta,
    a constant gradient G gives (1-delta)(2-delta) gamma^2 ||G||^2/delta^2 (geometric age of every
    coordinate). The standard error is over replicas of time averages (independent runs)."""
    d, k, gamma = 16, 2, 0.3
    delta = k / d
    m, se = _stationary_e2(ConstantGradient(np.zeros(d), noise=1.5), k, d, gamma, 40, 0)
    exact = (1 - delta) * gamma**2 * 1.5**2 / delta
    assert abs(m - exact) <= Z * se, (m, se, exact)
    G = np.linspace(-1, 1, d)
    m, se = _stationary_e2(ConstantGradient(G), k, d, gamma, 40, 1)
    exact = (1 - delta) * (2 - delta) * gamma**2 * float(G @ G) / delta**2
    assert abs(m - exact) <= Z * se, (m, se, exact)
    # power: the other formula is far outside the interval
    wrong = ((1 - delta) / delta) ** 2 * gamma**2 * float(G @ G)  # ||E e||^2 alone misses the variance of the age
    assert abs(m - wrong) > Z * se


def test_lemma_127_holds_and_the_planted_one_over_delta_does_not() -> None:
    """The deterministic part dominates on pseudo-Huber far from x*: E||e_t||^2 sits between the planted
    4(1-delta) gamma^2 B^2/delta and Lemma 12.7's 4(1-delta) gamma^2 B^2/delta^2."""
    d, k, gamma = 40, 2, 0.01
    delta = k / d
    f = PseudoHuber(d, kappa=1.0, R0=400.0 * d, noise=1.0, seed=0)
    tr = ef_sgd(f, RandomK(k, scaled=False), gamma, 400, 200, np.random.default_rng(3), measures=("e2",))
    m = tr.values["e2"].mean(axis=0)
    se = tr.values["e2"].std(axis=0, ddof=1) / math.sqrt(200)
    B2 = f.constants["B2"]
    assert np.all(m + Z * se <= 4 * (1 - delta) * gamma**2 * B2 / delta**2)
    assert np.any(m - Z * se > 4 * (1 - delta) * gamma**2 * B2 / delta)


def test_measures_are_validated() -> None:
    f = Quadratic.isotropic(4, 1.0, seed=0)
    with pytest.raises(InputError):
        ef_sgd(f, TopK(1), 0.1, 10, 2, np.random.default_rng(0), measures=("nope",))
    with pytest.raises(InputError):
        ef_sgd_workers(f, TopK(1), 0.1, 10, 2, np.random.default_rng(0))  # not a ClientProblem: IIDClients(f, n) needed
    with pytest.raises(InputError):
        ef_sgd(f, TopK(1), -0.1, 10, 2, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------------------
# the counterexamples and the extreme instances


def test_sign_counterexample_constants_and_invariant() -> None:
    eps = 0.5
    p = SignCounterexample(eps)
    c = p.constants
    assert c["L"] == pytest.approx(8.0) and c["mu"] == pytest.approx(8 * eps**2)
    assert c["floor"] == pytest.approx(8 * eps**2)  # f(1 + u, 1 - u) = 8u^2 + 8 eps^2 (THEOREMS.md T2 N1)
    u = np.linspace(-3, 3, 61)
    line = np.stack([1 + u, 1 - u], axis=1)
    np.testing.assert_allclose(p.loss(line), 8 * u**2 + 8 * eps**2, rtol=1e-12)
    # the oracle is unbiased: the mean over the two equally likely choices is the gradient (exact enumeration)
    x = np.random.default_rng(0).standard_normal((5, 2))
    g_choices = [4.0 * (x @ a)[:, None] * a for a in p.a]
    np.testing.assert_allclose((g_choices[0] + g_choices[1]) / 2, p.grad(x), rtol=1e-12)
    # L by its definition on random pairs and attained along the top eigenvector of the Hessian 2A
    y = np.random.default_rng(1).standard_normal((200, 2))
    z = np.random.default_rng(2).standard_normal((200, 2))
    ratio = np.linalg.norm(p.grad(y) - p.grad(z), axis=1) / np.linalg.norm(y - z, axis=1)
    assert ratio.max() <= c["L"] * (1 + 1e-12)
    top = np.linalg.eigh(p.A)[1][:, -1]
    assert np.linalg.norm(p.grad(top)) == pytest.approx(c["L"], rel=1e-12)
    # sign steps keep x_1 + x_2: signSGD and scaled sign without memory never get below the floor
    for C in (Sign(), ScaledSign()):
        tr = quantized_sgd(p, C, 0.02, 500, 20, np.random.default_rng(4))
        assert tr.values["subopt"].min() >= c["floor"] * (1 - 1e-12)
    # with error feedback the same compressor converges (the twin)
    tr = ef_sgd(p, ScaledSign(), 0.02, 500, 20, np.random.default_rng(4))
    assert tr.values["subopt"][:, -1].max() < 1e-10 * c["F0"]


def test_line_minimum_is_the_minimum_on_the_line() -> None:
    rng = np.random.default_rng(0)
    M = rng.standard_normal((3, 3))
    A = M @ M.T
    x0, u = rng.standard_normal(3), rng.standard_normal(3)
    s = np.linspace(-10, 10, 20001)
    q = np.einsum("si,ij,sj->s", x0 + s[:, None] * u, A, x0 + s[:, None] * u)
    assert line_minimum(A, x0, u) == pytest.approx(q.min(), rel=1e-6)
    assert np.all(q >= line_minimum(A, x0, u) * (1 - 1e-12))


def test_top1_counterexample_constants_divergence_and_ef_twin() -> None:
    p = TopKCounterexample()
    assert p.constants["L"] == pytest.approx(53 / 3, rel=1e-12)
    assert p.constants["mu"] == pytest.approx(5 / 3, rel=1e-12)
    x = np.random.default_rng(0).standard_normal((7, 3))
    np.testing.assert_allclose(p.client_stoch_grads(broadcast_clients(x, 3)).mean(axis=-2), p.grad(x), rtol=1e-12)
    np.testing.assert_array_equal(p.client_stoch_grads(np.zeros((1, 3, 3))), np.zeros((1, 3, 3)))  # zeta = 0 at x*
    y = np.random.default_rng(1).standard_normal((7, 3, 3))  # every worker at its own point: row i is grad f_i(y_i)
    np.testing.assert_allclose(p.client_stoch_grads(y), 2 * np.einsum('rij,ij->ri', y, p.a)[..., None] * p.a + y, rtol=1e-12)
    np.testing.assert_allclose(p.client_stoch_grads(np.ascontiguousarray(broadcast_clients(x, 3))),
                               p.client_stoch_grads(broadcast_clients(x, 3)), rtol=1e-12)  # shared-point path = general path
    h = 1e-6  # the gradient against central differences of the loss
    fd = np.stack([(p.loss(x + h * e) - p.loss(x - h * e)) / (2 * h) for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(fd, p.grad(x), rtol=1e-6, atol=1e-6)
    no_ef = ef_sgd_workers(p, TopK(1), 0.05, 600, 1, np.random.default_rng(0), error_feedback=False)
    ef = ef_sgd_workers(p, TopK(1), 0.05, 600, 1, np.random.default_rng(0))
    assert no_ef.values["dist2"][0, -1] > 1e6 * p.constants["R0"]  # geometric divergence
    assert ef.values["dist2"][0, -1] < 1e-20 * p.constants["R0"]
    # uncompressed distributed GD at the same step converges: the failure is the compression's
    gd = ef_sgd_workers(p, Identity(), 0.05, 600, 1, np.random.default_rng(0), error_feedback=False)
    assert gd.values["dist2"][0, -1] < 1e-20 * p.constants["R0"]


def test_constant_gradient_oracle_moments() -> None:
    d, N = 8, 20000
    G = np.arange(d, dtype=float) / d
    p = ConstantGradient(G, noise=0.7)
    g = p.stoch_grad(np.zeros((N, d)), np.random.default_rng(0))
    sq = np.sum(g * g, axis=1)
    assert abs(sq.mean() - p.constants["B2"]) <= Z * sq.std() / math.sqrt(N)
    assert np.all(np.abs(g.mean(axis=0) - G) <= Z * 0.7 / math.sqrt(d * N))
    with pytest.raises(InputError):
        ConstantGradient(np.zeros(3))


def test_shifted_workers_heterogeneity_is_exact() -> None:
    base = Nonconvex(np.geomspace(0.5, 1.0, 6), 0.5, noise=0.0, seed=0)
    p = ShiftedWorkers(base, 5, 0.8, seed=2)
    x = np.random.default_rng(0).standard_normal((3, 6))
    G = p.client_stoch_grads(broadcast_clients(x, 5), np.random.default_rng(1))
    np.testing.assert_allclose(G.mean(axis=-2), base.grad(x), rtol=1e-12, atol=1e-12)
    zeta2 = np.mean(np.sum((G - base.grad(x)[:, None, :]) ** 2, axis=-1), axis=-1)
    np.testing.assert_allclose(zeta2, 0.8**2, rtol=1e-12)
    assert p.constants["zeta2"] == pytest.approx(0.64, rel=1e-12)


# ----------------------------------------------------------------------------------------------------
# the new check kinds (each can say PASS and FAIL; StepInequality also INCONCLUSIVE)

e2, e2_next = sp.symbols("e2 e2_next", positive=True)
c_ = sp.Symbol("c", positive=True)


def _thm(checks: list, runs: dict[str, list[Run]]) -> tuple[Theorem, dict]:
    sweeps = [Sweep(name, lambda *a: None, [r.point for r in rs], R=1) for name, rs in runs.items()]
    thm = Theorem("t", "s", "st", [], T, "m", sweeps, checks)
    thm.id = "test"
    return thm, runs


def _trace(t, values: dict[str, np.ndarray], diverged=None, **constants) -> Trace:
    R = next(iter(values.values())).shape[0]
    return Trace(np.asarray(t), values, np.full(R, -1) if diverged is None else np.asarray(diverged), dict(constants))


@pytest.mark.parametrize("shift, verdict", [(-0.5, PASS), (0.5, FAIL), (0.0, INCONCLUSIVE)])
def test_step_inequality(shift: float, verdict: str) -> None:
    """e2_{t+1} = 0.5 e2_t + c + shift + noise; the declared relation e2_next <= 0.5 e2 + c."""
    rng = np.random.default_rng(0)
    t = np.arange(1, 21)
    R = 400
    x = np.empty((R, t.size))
    x[:, 0] = 1.0
    for j in range(1, t.size):
        x[:, j] = 0.5 * x[:, j - 1] + 1.0 + shift + 0.1 * rng.standard_normal(R)
    check = StepInequality("step", "s", bound=sp.Le(e2_next, e2 / 2 + c_))
    thm, runs = _thm([check], {"s": [Run({"a": 1}, _trace(t, {"e2": x}, c=1.0))]})
    assert check.evaluate(thm, runs).observed == verdict
    bad = StepInequality("nonlinear", "s", bound=sp.Le(e2_next, e2**2 + c_))
    with pytest.raises(InputError):
        bad.evaluate(thm, runs)


@pytest.mark.parametrize("gap, verdict", [(1e-14, PASS), (1e-6, FAIL)])
def test_within_rounding(gap: float, verdict: str) -> None:
    check = WithinRounding("id", "s", measure="virt_gap", tol=1e-9)
    thm, runs = _thm([check], {"s": [Run({"a": 1}, _trace([1, 2, 3], {"virt_gap": np.full((2, 3), gap)}))]})
    assert check.evaluate(thm, runs).observed == verdict


@pytest.mark.parametrize("final, diverged, verdict", [(1e-9, -1, PASS), (2.0, -1, FAIL), (1e-9, 2, FAIL)])
def test_converges(final: float, diverged: int, verdict: str) -> None:
    F0 = sp.Symbol("F0", positive=True)
    x = np.array([[1.0, 0.5, final], [1.0, 0.5, final]])
    check = Converges("conv", "s", bound=F0 / 10**6)
    thm, runs = _thm([check], {"s": [Run({"a": 1}, _trace([1, 2, 3], {"subopt": x}, diverged=[diverged, -1], F0=1.0))]})
    assert check.evaluate(thm, runs).observed == verdict


@pytest.mark.parametrize("scale, verdict", [(0.5, PASS), (2.0, FAIL)])
def test_bound_holds_broadcasts_a_bound_free_of_T(scale: float, verdict: str) -> None:
    rng = np.random.default_rng(0)
    x = scale * (1 + 0.01 * rng.standard_normal((50, 4)))
    check = BoundHolds("b", "s", measure="e2", bound=c_)
    thm, runs = _thm([check], {"s": [Run({"a": 1}, _trace([1, 2, 3, 4], {"e2": x}, c=1.0))]})
    assert check.evaluate(thm, runs).observed == verdict
    assert check.bound == c_  # the declaration is untouched (mutants and reports see it as declared)


@pytest.mark.parametrize("factor, bits, verdict", [(0.5, 10.0, PASS), (1.0, 10.0, FAIL), (0.5, 12.0, INCONCLUSIVE)])
def test_bound_ratio(factor: float, bits: float, verdict: str) -> None:
    """Numerator bound c/T, denominator bound 2c/T: predicted ratio 1/2; 'same' guards the bits."""
    rng = np.random.default_rng(0)
    runs = []
    for T_ in (100, 200, 400):
        den = 1.0 + 0.01 * rng.standard_normal((200, 1))
        num = factor * (1.0 + 0.01 * rng.standard_normal((200, 1)))
        runs.append(Run({"who": "num", "T": T_}, _trace([T_], {"m": num}, c=1.0, bits=bits)))
        runs.append(Run({"who": "den", "T": T_}, _trace([T_], {"m": den}, c=1.0, bits=10.0)))
    check = BoundRatio("r", "s", measure="m", numerator=lambda p: p["who"] == "num", denominator=lambda p: p["who"] == "den",
                       bound=c_ / T, bound_den=2 * c_ / T, same=("bits",), relation="tight", tol=0.1)
    thm, res = _thm([check], {"s": runs})
    assert check.evaluate(thm, res).observed == verdict


# ----------------------------------------------------------------------------------------------------
# the declaration: predictions come from the declared expressions


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_ef_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


EF = _load(ROOT / "theorems" / "error_feedback.py")


def test_predicted_exponents_come_from_the_declared_bounds(planted_dir: Path) -> None:
    env = {"gamma": 0.1, "B": 2.0, "sigma": 8.0, "R0": 1.0, "L": 1.0, "F0": 1.0, "n": 4.0, "T": 1e4, "delta": 0.25}
    assert limiting_exponent(EF.LEMMA_127, "delta", env, "small", 0.01) == -2
    assert limiting_exponent(EF.E2_NOISE, "delta", env, "small", 0.01) == -1
    # the T^(-2/3) term fades like T^(-1/6): 10^8 T is not quite the limit (-0.502 at the sweep's constants)
    assert limiting_exponent(EF.RATE_124_TUNED, "T", env, "large", 1e4) == pytest.approx(-0.5, abs=0.005)
    assert limiting_exponent(EF.RATE_124.subs(sp.Symbol("gamma", positive=True), EF.GAMMA_EDGE).subs(sp.Symbol("sigma", positive=True), 0),
                             "delta", env, "small", 0.01) == -1
    assert limiting_exponent(EF.NONCONVEX, "n", env, "small", 1.0) == -0.5
    assert limiting_exponent(EF.NONCONVEX.subs(sp.Symbol("sigma", positive=True), 0), "delta", env, "small", 0.01) == -2
    planted = {p.stem: _load(p) for p in sorted(planted_dir.glob("error_feedback_*.py"))}
    assert limiting_exponent(planted["error_feedback_lemma127_one_over_delta"].LEMMA_127, "delta", env, "small", 0.01) == -1
    assert limiting_exponent(planted["error_feedback_tuned_slope_minus1"].RATE_124_TUNED, "T", env, "large", 1e4) == -1
    # the planted leading term in 1/delta: the limiting ratio EF/SGD becomes 1/sqrt(delta) instead of 1
    far = {**env, "T": 1e30}
    ratio = lambda expr: float(evaluate(expr, far) / evaluate(expr, {**far, "delta": 1.0}))
    assert ratio(EF.RATE_124_TUNED) == pytest.approx(1.0, abs=1e-3)
    assert ratio(planted["error_feedback_leading_term_delta"].RATE_124_TUNED) == pytest.approx(2.0, abs=1e-3)


# ----------------------------------------------------------------------------------------------------
# the exercises run (small sizes) and state a takeaway the numbers support


@pytest.mark.parametrize("script", ["ef_fixes_biased", "compression_for_free"])
def test_exercise_runs_and_concludes(script: str, tmp_path: Path) -> None:
    module = _load(ROOT / "exercises" / f"{script}.py")
    summary = module.main(out_dir=tmp_path, quick=True)
    assert (tmp_path / f"{script}.png").is_file()
    assert summary["supported"], summary
