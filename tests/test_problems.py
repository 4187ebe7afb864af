"""Tests for problems/: every certified constant checked against its DEFINITION (THEOREMS.md G1, G2, G4).

Layers, each able to fail:
  1. geometry on random points (seeded) and on a witness point where the constant is attained: L by
     ||grad f(x) - grad f(y)|| <= L ||x - y|| and near-equality along the top curvature direction; mu (or
     -rho for the nonconvex family) by <grad f(x) - grad f(y), x - y> >= mu ||x - y||^2 and near-equality
     along the bottom direction; the gradient against central differences; the optimum (grad f(x*) = 0,
     f(x*) = f*, f >= f*); R0 and F0 from their definitions;
  2. the stochastic oracle against its exact law (Gaussian and Student-t moments in closed form; finite-sum
     sampling enumerated over the N examples) by Monte Carlo with tolerance Z standard errors, the standard
     error computed from the exact variance of the estimated quantity;
  3. family-specific identities (spectra, SGD floor by simulation, Student-t moments by quadrature, logistic
     optimum by an independent cvxpy and scipy solve, least-squares projections, Kronecker Hessian);
  4. every checker of layer 1-3 run on a planted-wrong twin ("mutant") at the end, to show it has power.

Floating-point slack: ``FP * magnitude`` where ``magnitude`` bounds the size of the numbers summed to form f
or grad f at the point (at most N = 60 terms of a few flops each, so 1000 ulps is a generous bound).
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.optimize import minimize
from scipy.special import expit

from problems.least_squares import LeastSquares, MatrixLeastSquares
from problems.logistic import AGREEMENT, Logistic
from problems.noise import Gaussian, NoNoise, StudentT
from problems.nonconvex import Nonconvex
from problems.pseudo_huber import PseudoHuber
from problems.quadratic import Quadratic
from ratecheck.problem import Noise, Problem
from ratecheck.validate import InputError

EPS = np.finfo(float).eps
FP = 1e3 * EPS  # rounding slack per unit of magnitude (module docstring)
Z = 6.0  # Monte Carlo tolerance in standard errors: two-sided normal tail 2e-9 per check
N_MC = 40_000  # Monte Carlo sample size: 6 SE of E||xi||^2 is < 2% of sigma^2 for d >= 6
# half-width of the witness pairs: the mean curvature along a pair is within O(T_PAIR^2) of the Hessian's
T_PAIR = 1e-4
TIGHT = 1e-6  # relative slack of the attainment checks (>> O(T_PAIR^2) curvature variation)


# ----------------------------------------------------------------------------------------------------
# the instances under test


@dataclass(frozen=True)
class Case:
    build: Callable[[], object]
    M3: Callable[[object], float]  # bound on |d^3 f / dx_j^3| (finite-difference truncation error)
    L_witness: Callable[[object], np.ndarray]  # a point where the curvature L is attained
    mu_witness: Callable[[object], np.ndarray] | None  # a point where mu (or -rho) is attained, if any


def _logistic_M3(p: Logistic) -> float:
    # d^3/dm^3 log(1 + e^-m) = -s(1-s)(1-2s), |.| <= 1/(6 sqrt 3); along e_j: (1/N) sum_i |a_ij|^3 times that
    return float(np.max(np.mean(np.abs(p.A) ** 3, axis=0)) / (6 * math.sqrt(3)))


at_x_star = lambda p: np.array(p.x_star)
at_zero = lambda p: np.zeros(p.d)
zero_M3 = lambda p: 0.0

CASES: dict[str, Case] = {
    "quadratic-log-spaced": Case(
        lambda: Quadratic.log_spaced(6, 0.1, 1.0, noise=0.7, seed=1), zero_M3, at_x_star, at_x_star
    ),
    "quadratic-power-law-diagonal": Case(
        lambda: Quadratic.power_law(6, 2.0, rotate=False, noise=0.5, seed=2), zero_M3, at_x_star, at_x_star
    ),
    "quadratic-isotropic-student-t": Case(
        lambda: Quadratic.isotropic(6, 1.5, noise=StudentT(9.0, 0.3, 6), R0=4.0, seed=3),
        zero_M3,
        at_x_star,
        at_x_star,
    ),
    "pseudo-huber": Case(
        lambda: PseudoHuber(6, kappa=0.5, noise=0.3, seed=4),
        lambda p: 1.0 / p.kappa,  # |f'''| = (3/kappa) s (1+s^2)^(-5/2) <= 0.86/kappa
        at_x_star,
        lambda p: p.x_star + 1e3 * p.kappa,  # f'' = (1+u^2)^(-3/2) ~ 1e-9: mu = 0 is approached
    ),
    "least-squares-gaussian": Case(
        lambda: LeastSquares.random(40, 6, noise=0.4, seed=5), zero_M3, at_x_star, at_x_star
    ),
    "least-squares-sampling": Case(
        lambda: LeastSquares.random(40, 6, noise="sampling", seed=6), zero_M3, at_x_star, at_x_star
    ),
    "least-squares-rank-deficient-sampling": Case(
        lambda: LeastSquares.random(4, 6, noise="sampling", seed=7, x0=np.linspace(-1, 1, 6)),
        zero_M3,
        at_x_star,
        at_x_star,
    ),
    "matrix-least-squares-sampling": Case(
        lambda: MatrixLeastSquares.random(30, 4, 3, noise="sampling", seed=8), zero_M3, at_x_star, at_x_star
    ),
    "logistic-sampling": Case(
        lambda: Logistic.random(60, 5, 0.05, seed=9, noise="sampling"), _logistic_M3, at_zero, None
    ),
    "logistic-gaussian": Case(
        lambda: Logistic.random(60, 5, 0.05, seed=9, noise=0.2), _logistic_M3, at_zero, None
    ),
    "nonconvex": Case(
        lambda: Nonconvex(np.geomspace(0.05, 1.0, 6), 0.5, noise=0.4, seed=10),
        lambda p: 4 * p.c,  # d^3/dx^3 c sin^2(x) = -4c sin(2x)
        at_zero,
        lambda p: np.full(p.d, math.pi / 2),  # Hessian H - 2cI there
    ),
}
NAMES = sorted(CASES)


@functools.cache
def problem(name: str):
    return CASES[name].build()


@pytest.fixture(params=NAMES)
def name(request) -> str:
    return request.param


# ----------------------------------------------------------------------------------------------------
# helpers


def norm(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x, axis=-1)


def lower_curvature(p) -> float:
    """mu for convex problems, -rho for the weakly convex (nonconvex) family."""
    return p.constants["mu"] if "mu" in p.constants else -p.constants["rho"]


def magnitude(p, x: np.ndarray) -> np.ndarray:
    """Size of the numbers summed to form grad f(x) (rounding slack = FP * magnitude)."""
    L = p.constants["L"]
    return L * (norm(x) + norm(p.x_star)) + np.sqrt(L * (np.abs(p.loss(x)) + abs(p.f_star))) + 1.0


def loss_magnitude(p, x: np.ndarray) -> np.ndarray:
    """Size of the numbers summed to form f(x)."""
    return np.abs(p.loss(x)) + p.constants["L"] * (norm(x) + norm(p.x_star)) ** 2 + 1.0


def random_points(p, rng: np.random.Generator, per_scale: int = 10, scales=(0.01, 1.0, 10.0)) -> np.ndarray:
    s = np.repeat(scales, per_scale)[:, None]
    return p.x_star + s * rng.standard_normal((s.shape[0], p.d))


def random_pairs(p, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = random_points(p, rng, per_scale=30)
    t = np.tile([1e-3, 1.0, 10.0], X.shape[0] // 3)[:, None]
    return X, X + t * rng.standard_normal(X.shape)


def fd_hessian(p, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of the gradient, symmetrized."""
    E = h * np.eye(p.d)
    H = (p.grad(x + E) - p.grad(x - E)) / (2 * h)  # row j = d grad / d x_j
    return (H + H.T) / 2


def witness_pair(p, w: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
    """w +- T_PAIR v with v the top ('L') or bottom ('mu') eigenvector of the Hessian at w."""
    _, V = np.linalg.eigh(fd_hessian(p, w))
    v = V[:, -1] if which == "L" else V[:, 0]
    return (w + T_PAIR * v)[None], (w - T_PAIR * v)[None]


def example_grads(p, x: np.ndarray) -> np.ndarray:
    """grad f_i(x) for every example i, from the definitions (least squares: f_i = 1/2 ||a_i^T X - B_i||^2;
    logistic: f_i = log(1 + exp(-y_i a_i^T x)) + lam/2 ||x||^2). Shape (N, D)."""
    if isinstance(p, Logistic):
        return -(p.y * expit(-p.y * (p.A @ x)))[:, None] * p.A + p.lam * x
    X = x.reshape(p.shape)
    residual = p.A @ X - p.B  # (N, m)
    return (p.A[:, :, None] * residual[:, None, :]).reshape(p.N, -1)


@dataclass
class NoiseLaw:
    """Exact law of g(x) - grad f(x) at one x: per-coordinate variance, E||.||^2 and Var||.||^2."""

    var_coord: np.ndarray
    m2: float
    var_m2: float


def noise_law(p, x: np.ndarray) -> NoiseLaw:
    if getattr(p, "sampling", False):
        G = example_grads(p, x)
        C = G - G.mean(axis=0)
        sq = np.sum(C**2, axis=1)
        return NoiseLaw(np.mean(C**2, axis=0), float(np.mean(sq)), float(np.var(sq)))
    d, noise = p.d, p.noise
    if isinstance(noise, Gaussian):  # xi ~ N(0, s2 I): E||xi||^2 = d s2, Var||xi||^2 = 2 d s2^2
        s2 = noise.sigma**2 / d
        return NoiseLaw(np.full(d, s2), d * s2, 2 * d * s2**2)
    if isinstance(noise, StudentT):  # E t^2 = nu/(nu-2), E t^4 = 3 nu^2 / ((nu-2)(nu-4))
        nu, s = noise.nu, noise.scale
        m2, m4 = s**2 * nu / (nu - 2), s**4 * 3 * nu**2 / ((nu - 2) * (nu - 4))
        return NoiseLaw(np.full(d, m2), d * m2, d * (m4 - m2**2))
    assert isinstance(noise, NoNoise)
    return NoiseLaw(np.zeros(d), 0.0, 0.0)


def declared_m2(p, x: np.ndarray) -> float:
    """E||g(x) - grad f(x)||^2 as the problem declares it."""
    return float(p.sampling_variance(x)) if getattr(p, "sampling", False) else p.constants["sigma2"]


# ----------------------------------------------------------------------------------------------------
# checkers (each raises AssertionError; the mutants at the end show that each one can)


def check_lipschitz(p, X: np.ndarray, Y: np.ndarray) -> None:
    """||grad f(x) - grad f(y)|| <= L ||x - y|| on every pair."""
    lhs = norm(p.grad(X) - p.grad(Y))
    rhs = p.constants["L"] * norm(X - Y) + FP * (magnitude(p, X) + magnitude(p, Y))
    assert np.all(lhs <= rhs), f"L violated: max excess {np.max(lhs - rhs):.3g}"


def check_L_attained(p, w: np.ndarray) -> None:
    """Along the top curvature direction at w, ||grad f(x) - grad f(y)|| >= (1 - TIGHT) L ||x - y||."""
    X, Y = witness_pair(p, w, "L")
    lhs = norm(p.grad(X) - p.grad(Y))
    rhs = (1 - TIGHT) * p.constants["L"] * norm(X - Y) - FP * (magnitude(p, X) + magnitude(p, Y))
    assert np.all(lhs >= rhs), f"L not attained: ratio {float(lhs[0] / norm(X - Y)[0])} vs {p.constants['L']}"


def check_monotone(p, X: np.ndarray, Y: np.ndarray) -> None:
    """<grad f(x) - grad f(y), x - y> >= mu ||x - y||^2 (mu = -rho for the weakly convex family)."""
    D = X - Y
    lhs = np.sum((p.grad(X) - p.grad(Y)) * D, axis=-1)
    rhs = lower_curvature(p) * norm(D) ** 2 - FP * (magnitude(p, X) + magnitude(p, Y)) * norm(D)
    assert np.all(lhs >= rhs), f"mu violated: max deficit {np.max(rhs - lhs):.3g}"


def check_mu_attained(p, w: np.ndarray) -> None:
    """Along the bottom curvature direction at w, <grad f(x) - grad f(y), x - y> <= (mu + TIGHT L)||x - y||^2."""
    X, Y = witness_pair(p, w, "mu")
    D = X - Y
    lhs = np.sum((p.grad(X) - p.grad(Y)) * D, axis=-1)
    bound = lower_curvature(p) + TIGHT * p.constants["L"]
    rhs = bound * norm(D) ** 2 + FP * (magnitude(p, X) + magnitude(p, Y)) * norm(D)
    assert np.all(lhs <= rhs), f"mu not attained: curvature {float(lhs[0] / norm(D)[0] ** 2)} vs {bound}"


def check_grad_fd(p, X: np.ndarray, M3: float, h: float = 1e-5) -> None:
    """grad f = central differences of f, within h^2 M3 / 6 (truncation) + rounding of f / h."""
    E = h * np.eye(p.d)
    for x in X:
        fd = (p.loss(x + E) - p.loss(x - E)) / (2 * h)
        tol = h**2 * M3 / 6 + FP * np.max(loss_magnitude(p, x + E)) / h
        err = np.max(np.abs(fd - p.grad(x)))
        assert err <= tol, f"gradient differs from finite differences by {err:.3g} > {tol:.3g}"


def check_optimum(p, X: np.ndarray) -> None:
    """grad f(x*) = 0, f(x*) = f* = constants['f_star'], f >= f* on X."""
    assert p.f_star == p.constants["f_star"]
    g_star = norm(p.grad(p.x_star))
    assert g_star <= FP * magnitude(p, p.x_star), f"||grad f(x*)|| = {g_star:.3g}"
    assert abs(p.loss(p.x_star) - p.f_star) <= FP * loss_magnitude(p, p.x_star)
    gap = p.loss(X) - p.f_star
    assert np.all(gap >= -FP * loss_magnitude(p, X)), f"f < f* by {-np.min(gap):.3g}"


def check_start(p) -> None:
    """R0 = ||x0 - x*||^2 and F0 = f(x0) - f*."""
    R0 = float(np.sum((np.asarray(p.x0) - p.x_star) ** 2))
    assert p.constants["R0"] == pytest.approx(R0, rel=1e-13, abs=1e-300)
    F0 = float(p.loss(p.x0)) - p.f_star
    assert p.constants["F0"] == pytest.approx(F0, rel=1e-13, abs=FP * float(loss_magnitude(p, p.x0)))


def check_noise(p, x: np.ndarray, rng: np.random.Generator, n: int = N_MC) -> None:
    """Monte Carlo on a (n/8, 8, D) batch at x: E[g - grad f] = 0 coordinate-wise and
    E||g - grad f||^2 = the declared value, each within Z standard errors of the exact law."""
    law = noise_law(p, x)
    xi = p.stoch_grad(np.broadcast_to(x, (n // 8, 8, p.d)), rng).reshape(n, p.d) - p.grad(x)
    slack = FP * magnitude(p, x)
    bias = np.abs(xi.mean(axis=0))
    assert np.all(bias <= Z * np.sqrt(law.var_coord / n) + slack), f"biased: {bias}"
    m2 = float(np.mean(np.sum(xi**2, axis=1)))
    target = declared_m2(p, x)
    assert abs(m2 - target) <= Z * math.sqrt(law.var_m2 / n) + slack, f"E||xi||^2 {m2} vs declared {target}"


FLOOR_REPLICAS = 40_000  # 6 SE of E f(x_inf) is ~3.3% of it at gamma L = 1.9 (Var f from the exact law)


@functools.cache
def simulated_floor(gamma_L: float) -> tuple[Quadratic, float, float, float]:
    """(q, gamma, mean, se): SGD with step gamma = gamma_L / L on a G1 quadratic with Gaussian noise,
    FLOOR_REPLICAS independent replicas started at x*, one sample of f(x_k) per replica after k steps,
    k large enough that the transient max|1 - gamma lambda|^(2k) < 1e-12. The standard error comes from the
    exact stationary law: x - x* is Gaussian, f = 1/2 sum lambda_i c_i z_i^2 with
    c_i = gamma sigma^2 / (d lambda_i (2 - gamma lambda_i)), so Var f = 1/2 sum (lambda_i c_i)^2."""
    q = Quadratic.log_spaced(4, 0.3, 1.0, noise=1.0, seed=15)
    gamma, lam, rng = gamma_L / q.constants["L"], q.eigenvalues, np.random.default_rng(16)
    k = math.ceil(math.log(1e-12) / (2 * math.log(np.max(np.abs(1 - gamma * lam)))))
    x = np.tile(q.x_star, (FLOOR_REPLICAS, 1))
    for _ in range(k):
        x = x - gamma * q.stoch_grad(x, rng)
    lam_c = gamma * q.constants["sigma2"] / (q.d * (2 - gamma * lam))
    return q, gamma, float(np.mean(q.loss(x))), math.sqrt(0.5 * np.sum(lam_c**2) / FLOOR_REPLICAS)


def check_sgd_floor(mean: float, se: float, floor: float) -> None:
    assert abs(mean - floor) <= Z * se, f"E f(x_inf) = {mean:.5g} +- {se:.2g}, formula {floor:.5g}"


def check_alpha_moment(noise: StudentT, alpha: float) -> None:
    """E|xi_j|^alpha against numerical integration of the Student-t density."""
    pdf = lambda t: t**alpha * stats.t.pdf(t, noise.nu, scale=noise.scale)
    exact = 2 * integrate.quad(pdf, 0, np.inf, epsabs=0, epsrel=1e-12, limit=500)[0]
    assert noise.alpha_moment(alpha) == pytest.approx(exact, rel=1e-9)


# ----------------------------------------------------------------------------------------------------
# layer 1: every constant against its definition, on every instance


def test_protocol_and_constants_are_plain_floats(name):
    p = problem(name)
    assert isinstance(p, Problem)
    assert type(p.constants) is dict and all(type(v) is float for v in p.constants.values())
    required = {"L", "R0", "F0", "d", "f_star"}
    required |= {"sigma2_star", "L_max"} if getattr(p, "sampling", False) else {"sigma", "sigma2"}
    assert required <= set(p.constants) and ({"mu", "rho"} & set(p.constants))
    assert p.constants["d"] == p.d and p.x0.shape == p.x_star.shape == (p.d,)
    assert not p.x0.flags.writeable and not p.x_star.flags.writeable
    if not getattr(p, "sampling", False):
        assert p.constants["sigma"] == math.sqrt(p.constants["sigma2"])
    assert repr(p).startswith(type(p).__name__ + "(")


def test_L_is_a_lipschitz_constant_of_the_gradient_and_attained(name):
    p, case = problem(name), CASES[name]
    X, Y = random_pairs(p, np.random.default_rng(1))
    Xw, Yw = witness_pair(p, case.L_witness(p), "L")
    check_lipschitz(p, np.concatenate([X, Xw]), np.concatenate([Y, Yw]))
    check_L_attained(p, case.L_witness(p))


def test_mu_is_a_strong_convexity_constant_and_attained(name):
    p, case = problem(name), CASES[name]
    X, Y = random_pairs(p, np.random.default_rng(2))
    if case.mu_witness is not None:
        Xw, Yw = witness_pair(p, case.mu_witness(p), "mu")
        X, Y = np.concatenate([X, Xw]), np.concatenate([Y, Yw])
        check_mu_attained(p, case.mu_witness(p))
    check_monotone(p, X, Y)


def test_grad_equals_central_differences(name):
    p = problem(name)
    check_grad_fd(
        p, random_points(p, np.random.default_rng(3), per_scale=2, scales=(0.1, 1.0, 3.0)), CASES[name].M3(p)
    )


def test_x_star_is_optimal_and_f_star_is_its_value(name):
    p = problem(name)
    check_optimum(p, random_points(p, np.random.default_rng(4), scales=(1e-4, 0.01, 1.0, 10.0)))


def test_R0_and_F0_are_exact(name):
    check_start(problem(name))


def test_stochastic_gradient_is_unbiased_with_the_declared_variance(name):
    p = problem(name)
    x = random_points(p, np.random.default_rng(5), per_scale=1, scales=(1.0,))[0]
    if getattr(p, "sampling", False):  # the enumerated law's mean is the exact gradient
        np.testing.assert_allclose(example_grads(p, x).mean(axis=0), p.grad(x), rtol=1e-12, atol=FP)
    else:
        assert p.constants["sigma2"] == pytest.approx(noise_law(p, x).m2, rel=1e-14)
    check_noise(p, x, np.random.default_rng(6))


@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("-sampling")])
def test_sampled_gradients_are_example_gradients(name):
    """Every draw of the sampling oracle is exactly one grad f_i(x) (exact, unlike the Monte Carlo check)."""
    p = problem(name)
    X = random_points(p, np.random.default_rng(27), per_scale=1, scales=(1.0, 30.0))
    g = p.stoch_grad(np.broadcast_to(X[:, None], (2, 100, p.d)), np.random.default_rng(28))
    for x, draws in zip(X, g):
        G = example_grads(p, x)
        gap = np.min(norm(draws[:, None, :] - G[None]), axis=1)
        assert np.all(gap <= FP * magnitude(p, x)), f"a draw is {np.max(gap):.3g} away from every grad f_i"


@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("-sampling")])
def test_sampling_variance_is_the_enumerated_variance(name):
    p = problem(name)
    X = random_points(p, np.random.default_rng(19), per_scale=2)
    np.testing.assert_allclose(p.sampling_variance(X), [noise_law(p, x).m2 for x in X], rtol=1e-10)


@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("-sampling")])
def test_sampling_sigma2_star_and_L_max_from_the_examples(name):
    p = problem(name)
    assert p.sampling
    G = example_grads(p, np.asarray(p.x_star))
    assert p.constants["sigma2_star"] == pytest.approx(float(np.mean(np.sum(G**2, axis=1))), rel=1e-12)
    # f_i is L_max-smooth: its Hessian is a_i a_i^T (least squares, per column of X) or <= a_i a_i^T/4 + lam I
    row2 = np.sum(p.A**2, axis=1)
    expected = np.max(row2) / 4 + p.lam if isinstance(p, Logistic) else np.max(row2)
    assert p.constants["L_max"] == pytest.approx(float(expected), rel=1e-14)


def test_batches_equal_row_wise_calls(name):
    p = problem(name)
    rng = np.random.default_rng(7)
    X = p.x_star + rng.standard_normal((3, 4, p.d))
    for batch in (X, X[0]):  # (R, n, d) and (R, d)
        rows = batch.reshape(-1, p.d)
        np.testing.assert_allclose(p.loss(batch).ravel(), [p.loss(x) for x in rows], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(
            p.grad(batch).reshape(-1, p.d), [p.grad(x) for x in rows], rtol=1e-12, atol=FP
        )
        g1 = p.stoch_grad(batch, np.random.default_rng(8))
        assert g1.shape == batch.shape
        np.testing.assert_array_equal(g1, p.stoch_grad(batch, np.random.default_rng(8)))
    assert np.shape(p.loss(p.x0)) == () and p.grad(p.x0).shape == (p.d,)


# ----------------------------------------------------------------------------------------------------
# noise models


@pytest.mark.parametrize("sigma, d", [(1.0, 1), (0.3, 7), (2.0, 50)])
def test_gaussian_noise_moments(sigma, d):
    noise = Gaussian(sigma, d)
    assert (
        isinstance(noise, Noise)
        and noise.sigma2 == sigma**2
        and repr(noise) == f"Gaussian(sigma={sigma:g}, d={d})"
    )
    xi = noise.sample((N_MC, d), np.random.default_rng(9))
    s2 = sigma**2 / d
    assert np.all(np.abs(xi.mean(axis=0)) <= Z * math.sqrt(s2 / N_MC))
    sq = np.sum(xi**2, axis=1)  # Var ||xi||^2 = E||xi||^4 - sigma^4 = sigma^4 (1 + 2/d) - sigma^4
    assert abs(sq.mean() - sigma**2) <= Z * math.sqrt(2 * sigma**4 / d / N_MC)


def test_zero_noise_is_exactly_zero_and_draws_nothing():
    for noise in (Gaussian(0.0, 4), NoNoise()):
        rng = np.random.default_rng(10)
        state = copy.deepcopy(rng.bit_generator.state)
        assert noise.sigma2 == 0 and np.all(noise.sample((5, 4), rng) == 0)
        assert rng.bit_generator.state == state


@pytest.mark.parametrize(
    "nu, scale, alpha", [(1.5, 1.0, 1.2), (1.5, 2.0, 0.5), (3.0, 0.7, 1.0), (3.0, 0.7, 2.5), (10.0, 2.0, 4.0)]
)
def test_student_t_alpha_moment_by_quadrature(nu, scale, alpha):
    check_alpha_moment(StudentT(nu, scale, 3), alpha)


def test_student_t_sigma2_infinite_moments_and_law():
    assert StudentT(1.5, 1.0, 3).sigma2 == math.inf and StudentT(2.0, 1.0, 3).sigma2 == math.inf
    assert (
        StudentT(1.5, 1.0, 3).alpha_moment(1.5) == math.inf
        and StudentT(1.5, 1.0, 3).alpha_moment(2) == math.inf
    )
    noise = StudentT(5.0, 0.5, 4)
    assert noise.sigma2 == pytest.approx(4 * noise.alpha_moment(2), rel=1e-12)
    assert noise.sigma2 == pytest.approx(4 * 0.25 * 5 / 3, rel=1e-15)
    assert noise.alpha_moment(0) == pytest.approx(1.0, rel=1e-14)
    heavy = StudentT(1.5, 2.0, 5)
    sample = heavy.sample((20_000, 5), np.random.default_rng(11)).ravel() / 2.0
    assert stats.kstest(sample, stats.t(1.5).cdf).pvalue > 1e-6  # fixed seed; false-failure rate 1e-6


def test_problem_noise_argument():
    q = Quadratic.isotropic(3, 1.0, noise=0.5)
    assert isinstance(q.noise, Gaussian) and q.constants["sigma"] == 0.5
    assert isinstance(Quadratic.isotropic(3, 1.0).noise, NoNoise)
    heavy = Quadratic.isotropic(3, 1.0, noise=StudentT(1.5, 1.0, 3))
    assert heavy.constants["sigma2"] == math.inf


# ----------------------------------------------------------------------------------------------------
# quadratics (G1) and the SGD floor (G2)


def test_quadratic_spectrum_rotation_and_equal_energy_start():
    q = Quadratic.log_spaced(8, 0.01, 3.0, R0=2.5, seed=12)
    np.testing.assert_allclose(q.eigenvalues, np.geomspace(0.01, 3.0, 8), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(q.H), q.eigenvalues, rtol=0, atol=0)
    np.testing.assert_allclose(q.Q.T @ q.Q, np.eye(8), atol=1e-14)
    assert q.constants["L"] == q.eigenvalues[-1] and q.constants["mu"] == q.eigenvalues[0]
    assert q.constants["R0"] == pytest.approx(2.5, rel=1e-14)
    _, V = np.linalg.eigh(q.H)  # distinct eigenvalues: unique eigenvectors up to sign
    np.testing.assert_allclose((V.T @ (q.x0 - q.x_star)) ** 2, np.full(8, 2.5 / 8), rtol=1e-10)
    assert np.count_nonzero(np.abs(q.H - np.diag(np.diag(q.H))) > 1e-3) > 0  # really rotated

    diag = Quadratic.power_law(5, 2.0, p=1.5, rotate=False, x_star=np.arange(5.0))
    np.testing.assert_array_equal(diag.H, np.diag(2.0 * np.arange(1, 6) ** -1.5))
    np.testing.assert_array_equal(diag.x_star, np.arange(5.0))
    np.testing.assert_allclose((diag.x0 - diag.x_star) ** 2, np.full(5, 1 / 5), rtol=1e-14)

    iso = Quadratic.isotropic(4, 1.5)
    np.testing.assert_allclose(iso.H, 1.5 * np.eye(4), atol=1e-14)

    same, other = Quadratic.log_spaced(8, 0.01, 3.0, seed=12), Quadratic.log_spaced(8, 0.01, 3.0, seed=13)
    np.testing.assert_array_equal(same.H, q.H)
    assert not np.allclose(other.H, q.H)


def test_quadratic_zero_eigenvalue_gives_mu_zero():
    q = Quadratic([0.0, 0.5, 1.0], seed=14)
    assert q.constants["mu"] == 0.0 and q.constants["L"] == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("gamma_L", [0.5, 1.9])
def test_stationary_sgd_floor_matches_simulation(gamma_L):
    q, gamma, mean, se = simulated_floor(gamma_L)
    floor = q.stationary_sgd_floor(gamma)
    lam = np.geomspace(0.3, 1.0, 4)
    assert floor == pytest.approx(gamma / 8 * np.sum(1 / (2 - gamma * lam)), rel=1e-12)
    check_sgd_floor(mean, se, floor)


def test_stationary_sgd_floor_ignores_flat_directions():
    q = Quadratic([0.0, 1.0], noise=1.0, rotate=False)
    assert q.stationary_sgd_floor(0.5) == pytest.approx(0.5 / 4 * 1 / 1.5, rel=1e-14)


# ----------------------------------------------------------------------------------------------------
# pseudo-Huber (G2, bounded gradients)


def test_pseudo_huber_gradient_bound_is_a_supremum_and_B2():
    p = problem("pseudo-huber")
    bound = p.constants["grad_bound"]
    assert bound == pytest.approx(p.kappa * math.sqrt(p.d), rel=1e-15)
    X = random_points(p, np.random.default_rng(17), scales=(1.0, 1e3, 1e150))
    assert np.all(norm(p.grad(X)) <= bound * (1 + 4 * EPS)) and np.all(np.isfinite(p.loss(X)))
    far = p.x_star + 1e8 * p.kappa
    assert norm(p.grad(far)) >= bound * (1 - 1e-12)  # approached: no smaller bound is valid
    sigma2 = p.constants["sigma2"]
    assert p.constants["B2"] == pytest.approx(bound**2 + sigma2, rel=1e-15)
    assert p.constants["B"] == pytest.approx(math.sqrt(bound**2 + sigma2), rel=1e-15)
    # E||g||^2 = ||grad f||^2 + sigma^2 <= B^2 at the far point, by Monte Carlo;
    # Var||grad f + xi||^2 = 4 (sigma^2/d) ||grad f||^2 + 2 sigma^4 / d for Gaussian xi
    g = p.stoch_grad(np.broadcast_to(far, (N_MC, p.d)), np.random.default_rng(18))
    g2, gf2 = np.sum(g**2, axis=1), float(norm(p.grad(far)) ** 2)
    se = math.sqrt((4 * sigma2 / p.d * gf2 + 2 * sigma2**2 / p.d) / N_MC)
    assert abs(g2.mean() - (gf2 + sigma2)) <= Z * se and gf2 + sigma2 <= p.constants["B2"]


def test_pseudo_huber_loss_is_accurate_near_x_star():
    p = PseudoHuber(3, kappa=2.0, x_star=np.zeros(3))
    u = 1e-9  # kappa^2 (sqrt(1 + u^2) - 1) = kappa^2 (u^2/2 - u^4/8 + ...): no cancellation to 0
    assert p.loss(np.full(3, 2.0 * u)) == pytest.approx(3 * 4.0 * (u**2 / 2 - u**4 / 8), rel=1e-14, abs=0)


# ----------------------------------------------------------------------------------------------------
# least squares


def test_least_squares_x_star_and_constants_from_the_svd():
    p = problem("least-squares-gaussian")
    A, b, N = p.A, p.b, p.N
    s = np.linalg.svd(A, compute_uv=False)
    assert p.constants["L"] == pytest.approx(s[0] ** 2 / N, rel=1e-12)
    assert p.constants["mu"] == pytest.approx(s[-1] ** 2 / N, rel=1e-12)
    np.testing.assert_allclose(A.T @ (A @ p.x_star - b), 0, atol=1e-12)
    assert p.f_star == pytest.approx(np.sum((A @ p.x_star - b) ** 2) / (2 * N), rel=1e-14)


def test_rank_deficient_least_squares_projects_x0_on_the_solution_set():
    p = problem("least-squares-rank-deficient-sampling")
    assert p.constants["mu"] <= 1e-14 * p.constants["L"]
    np.testing.assert_allclose(p.A.T @ (p.A @ p.x_star - p.b), 0, atol=1e-12)
    _, _, Vt = np.linalg.svd(p.A)
    null = Vt[p.N :]  # N = 4 < d = 6: a 2-dimensional null space
    np.testing.assert_allclose(null @ (p.x_star - p.x0), 0, atol=1e-13)
    projection = p.x0 + np.linalg.pinv(p.A) @ (p.b - p.A @ p.x0)
    assert p.constants["R0"] == pytest.approx(float(np.sum((projection - p.x0) ** 2)), rel=1e-10)


def test_matrix_least_squares_is_the_reshaped_problem():
    p = problem("matrix-least-squares-sampling")
    d, m = p.shape
    assert p.d == d * m
    X = np.random.default_rng(20).standard_normal((d, m))
    np.testing.assert_allclose(p.grad(X.ravel()).reshape(d, m), p.A.T @ (p.A @ X - p.B) / p.N, rtol=1e-12)
    assert p.loss(X.ravel()) == pytest.approx(np.sum((p.A @ X - p.B) ** 2) / (2 * p.N), rel=1e-13)
    np.testing.assert_allclose(fd_hessian(p, X.ravel()), np.kron(p.A.T @ p.A / p.N, np.eye(m)), atol=1e-9)
    vector = LeastSquares(p.A, p.B[:, 0])
    column = MatrixLeastSquares(p.A, p.B[:, :1])
    np.testing.assert_allclose(vector.x_star, column.x_star, rtol=1e-14)
    assert vector.constants == column.constants and vector.shape == (d, 1)


# ----------------------------------------------------------------------------------------------------
# logistic regression


def test_logistic_f_star_against_independent_cvxpy_and_scipy():
    import cvxpy as cp

    p = problem("logistic-gaussian")
    x = cp.Variable(p.d)
    objective = cp.sum(cp.logistic(-cp.multiply(p.y, p.A @ x))) / p.N + p.lam / 2 * cp.sum_squares(x)
    cp.Problem(cp.Minimize(objective)).solve()
    f_cvx = float(p.loss(x.value))
    start = np.random.default_rng(21).standard_normal(p.d)
    res = minimize(lambda v: float(p.loss(v)), start, jac=p.grad, method="BFGS", options={"gtol": 1e-12})
    f_scipy = float(p.loss(res.x))
    for f in (f_cvx, f_scipy):  # f* is the minimum: nothing is lower, and both solvers reach it
        assert p.f_star - 1e-14 <= f <= p.f_star + 1e-7


def test_logistic_hessian_and_L_at_zero():
    p = problem("logistic-gaussian")
    H0 = p.A.T @ p.A / (4 * p.N) + p.lam * np.eye(p.d)  # s(1 - s) = 1/4 at margin 0
    np.testing.assert_allclose(p.hessian(np.zeros(p.d)), H0, rtol=1e-14)
    assert p.constants["L"] == pytest.approx(np.linalg.eigvalsh(H0)[-1], rel=1e-12)
    x = np.random.default_rng(22).standard_normal(p.d)
    np.testing.assert_allclose(fd_hessian(p, x), p.hessian(x), atol=1e-9)


def test_logistic_raises_when_the_solvers_disagree(monkeypatch):
    p = problem("logistic-gaussian")
    monkeypatch.setattr(Logistic, "_solve_cvxpy", lambda self: np.full(self.d, 0.5))
    with pytest.raises(RuntimeError, match="disagree"):
        Logistic(p.A, p.y, p.lam)
    assert AGREEMENT == 1e-6  # the tolerance the brief fixes (|f_cvxpy - f_scipy| <= 1e-6)


# ----------------------------------------------------------------------------------------------------
# nonconvex (G4)


def test_nonconvex_flag_rho_and_values():
    p = problem("nonconvex")
    assert p.nonconvex and p.constants["rho"] == pytest.approx(2 * 0.5 - 0.05, rel=1e-12)
    assert p.constants["L"] == pytest.approx(1.0 + 2 * 0.5, rel=1e-14)
    assert p.loss(np.zeros(p.d)) == 0 and p.constants["F0"] == p.loss(p.x0)
    kink = np.full(p.d, math.pi / 2)  # Hessian H - 2cI: the bottom eigenvalue is -rho
    np.testing.assert_allclose(np.linalg.eigvalsh(fd_hessian(p, kink))[0], -p.constants["rho"], atol=1e-8)
    convex = Nonconvex(np.geomspace(0.05, 1.0, 6), 0.02, seed=10)
    assert not convex.nonconvex and convex.constants["rho"] == 0.0
    check_monotone(convex, *random_pairs(convex, np.random.default_rng(23)))


# ----------------------------------------------------------------------------------------------------
# bad inputs


A3 = np.arange(6.0).reshape(3, 2)
BAD_INPUTS = [
    (lambda: Quadratic([-1.0, 1.0]), "eigenvalues"),
    (lambda: Quadratic([0.0, 0.0]), "eigenvalues"),
    (lambda: Quadratic([[1.0]]), "eigenvalues"),
    (lambda: Quadratic([1.0, np.inf]), "eigenvalues"),
    (lambda: Quadratic.isotropic(0, 1.0), "d"),
    (lambda: Quadratic.isotropic(3, -1.0), "L"),
    (lambda: Quadratic.log_spaced(3, 2.0, 1.0), "mu"),
    (lambda: Quadratic.log_spaced(1, 0.5, 1.0), "d"),
    (lambda: Quadratic.power_law(3, 1.0, p=-1), "p"),
    (lambda: Quadratic([1.0, 2.0], x_star=[1.0, 2.0, 3.0]), "x_star"),
    (lambda: Quadratic([1.0, 2.0], x0=[1.0, np.nan]), "x0"),
    (lambda: Quadratic([1.0, 2.0], R0=-1.0), "R0"),
    (lambda: Quadratic([1.0, 2.0], x0=[0.0, 0.0], R0=1.0), "R0"),
    (lambda: Quadratic([1.0, 2.0], noise=Gaussian(1.0, 3)), "noise"),
    (lambda: Quadratic([1.0, 2.0], noise=-1.0), "noise"),
    (lambda: Quadratic([1.0, 2.0], noise="sampling"), "noise"),
    (lambda: Quadratic([1.0, 2.0], seed=-1), "seed"),
    (lambda: Quadratic([1.0, 2.0], rotate="yes"), "rotate"),
    (lambda: Quadratic([1.0, 2.0]).stationary_sgd_floor(1.5), "gamma"),
    (lambda: Quadratic([1.0, 2.0]).stationary_sgd_floor(0.0), "gamma"),
    (lambda: Gaussian(-1.0, 3), "sigma"),
    (lambda: Gaussian(1.0, 0), "d"),
    (lambda: StudentT(0.0, 1.0, 3), "nu"),
    (lambda: StudentT(3.0, 0.0, 3), "scale"),
    (lambda: StudentT(3.0, 1.0, 3).alpha_moment(-1.0), "alpha"),
    (lambda: PseudoHuber(0), "d"),
    (lambda: PseudoHuber(3, kappa=0.0), "kappa"),
    (lambda: LeastSquares(np.ones(3), np.ones(3)), "A"),
    (lambda: LeastSquares(A3, np.ones(4)), "b"),
    (lambda: LeastSquares(A3, np.ones(3), noise="bogus"), "noise"),
    (lambda: LeastSquares(A3, np.ones(3), x0=np.ones(3)), "x0"),
    (lambda: LeastSquares.random(0, 3), "N"),
    (lambda: LeastSquares.random(5, 3, noise_level=-1.0), "noise_level"),
    (lambda: MatrixLeastSquares(A3, np.ones(3)), "B"),
    (lambda: MatrixLeastSquares(A3, np.ones((3, 2)), X0=np.ones(4)), "X0"),
    (lambda: MatrixLeastSquares.random(5, 3, 0), "m"),
    (lambda: Logistic(A3, [1.0, 0.0, -1.0], 0.1), "y"),
    (lambda: Logistic(A3, [1.0, -1.0], 0.1), "y"),
    (lambda: Logistic(A3, [1.0, 1.0, -1.0], 0.0), "lam"),
    (lambda: Logistic(A3, [1.0, 1.0, -1.0], 0.1, noise="bogus"), "noise"),
    (lambda: Nonconvex([1.0, 2.0], -1.0), "c"),
    (lambda: Nonconvex([0.0, 0.0], 0.0), "c"),
    (lambda: Nonconvex([-1.0, 1.0], 1.0), "eigenvalues"),
]


@pytest.mark.parametrize(
    "build, parameter", BAD_INPUTS, ids=[f"{i}-{p}" for i, (_, p) in enumerate(BAD_INPUTS)]
)
def test_bad_input_raises_input_error_naming_the_parameter(build, parameter):
    with pytest.raises(InputError, match=rf"^{re.escape(parameter)}\b"):
        build()


# ----------------------------------------------------------------------------------------------------
# layer 4: planted-wrong twins; every checker above must reject its mutant


def mutant(p, **constants: float):
    twin = copy.copy(p)
    twin.constants = {**p.constants, **constants}
    return twin


def test_mutants_of_L_and_mu_are_caught():
    p = problem("quadratic-log-spaced")
    L, mu, w = p.constants["L"], p.constants["mu"], p.x_star
    Xw, Yw = witness_pair(p, w, "L")
    with pytest.raises(AssertionError, match="not attained"):
        check_L_attained(mutant(p, L=1.01 * L), w)
    with pytest.raises(AssertionError, match="L violated"):
        check_lipschitz(mutant(p, L=0.99 * L), Xw, Yw)
    Xw, Yw = witness_pair(p, w, "mu")
    with pytest.raises(AssertionError, match="mu violated"):
        check_monotone(mutant(p, mu=1.01 * mu), Xw, Yw)
    with pytest.raises(AssertionError, match="not attained"):
        check_mu_attained(mutant(p, mu=0.99 * mu), w)
    q = problem("nonconvex")  # an under-declared rho (weak convexity) is caught at the kink
    Xw, Yw = witness_pair(q, CASES["nonconvex"].mu_witness(q), "mu")
    with pytest.raises(AssertionError, match="mu violated"):
        check_monotone(mutant(q, rho=0.99 * q.constants["rho"]), Xw, Yw)
    h = problem("pseudo-huber")  # a positive mu on pseudo-Huber is caught far away, where f'' -> 0
    Xw, Yw = witness_pair(h, CASES["pseudo-huber"].mu_witness(h), "mu")
    with pytest.raises(AssertionError, match="mu violated"):
        check_monotone(mutant(h, mu=1e-3), Xw, Yw)


def test_mutants_of_the_gradient_and_the_optimum_are_caught():
    p = problem("logistic-gaussian")
    X = random_points(p, np.random.default_rng(24), per_scale=1, scales=(1.0,))
    twin = copy.copy(p)
    twin.grad = lambda x: p.grad(x) * (1 + 1e-4)
    with pytest.raises(AssertionError, match="finite differences"):
        check_grad_fd(twin, X, _logistic_M3(p))
    twin = copy.copy(p)
    twin.x_star = p.x_star + 1e-6
    with pytest.raises(AssertionError, match="grad f"):
        check_optimum(twin, X)
    with pytest.raises(AssertionError):
        check_optimum(mutant(p, f_star=p.f_star + 1e-9), X)
    twin = mutant(p)
    twin.f_star = twin.constants["f_star"] = p.f_star + 1e-6  # declared too high: f < f* near x*
    with pytest.raises(AssertionError):
        check_optimum(twin, X)
    with pytest.raises(AssertionError):
        check_start(mutant(p, R0=p.constants["R0"] * (1 + 1e-9)))
    with pytest.raises(AssertionError):
        check_start(mutant(p, F0=float(p.loss(p.x0))))  # f(x0) instead of f(x0) - f*


def test_mutants_of_the_stochastic_oracle_are_caught():
    p = problem("quadratic-log-spaced")
    x = np.asarray(p.x0)
    shift = 0.05 * math.sqrt(p.constants["sigma2"] / p.d) * np.eye(p.d)[0]
    variants = [  # (planted error, what check_noise reports)
        (lambda z, rng: p.stoch_grad(z, rng) + shift, "biased"),
        (lambda z, rng: p.grad(z) + 1.02 * (p.stoch_grad(z, rng) - p.grad(z)), "E||xi||"),
        (lambda z, rng: p.grad(z) + p.noise.sample((p.d,), rng), "biased"),  # one draw for the whole batch
    ]
    for stoch_grad, message in variants:
        twin = copy.copy(p)
        twin.stoch_grad = stoch_grad
        with pytest.raises(AssertionError, match=re.escape(message)):
            check_noise(twin, x, np.random.default_rng(25))

    s = problem("least-squares-sampling")

    def sample_rows(z: np.ndarray, i: np.ndarray) -> np.ndarray:
        return s.A[i] * (np.sum(s.A[i] * z, axis=-1) - s.b[i])[..., None]

    for draw in (
        lambda z, rng: rng.integers(s.N // 2, size=z.shape[:-1]),  # only the first half of the rows
        lambda z, rng: np.full(z.shape[:-1], rng.integers(s.N)),  # one row for the whole batch
    ):
        twin = copy.copy(s)
        twin.stoch_grad = lambda z, rng, draw=draw: sample_rows(z, draw(z, rng))
        with pytest.raises(AssertionError, match="biased"):
            check_noise(twin, np.asarray(s.x0), np.random.default_rng(26))


def test_mutants_of_the_sgd_floor_and_alpha_moment_are_caught():
    q, gamma, mean, se = simulated_floor(1.9)
    with pytest.raises(AssertionError, match="formula"):  # the small-gamma approximation gamma sigma^2 / 4
        check_sgd_floor(mean, se, gamma * q.constants["sigma2"] / 4)
    with pytest.raises(AssertionError, match="formula"):  # 5% off is visible too
        check_sgd_floor(mean, se, 1.05 * q.stationary_sgd_floor(gamma))
    wrong = StudentT(3.0, 0.7, 3)
    wrong.alpha_moment = lambda a: StudentT.alpha_moment(wrong, a) / wrong.nu ** (a / 2)  # drops nu^(a/2)
    with pytest.raises(AssertionError):
        check_alpha_moment(wrong, 1.0)
