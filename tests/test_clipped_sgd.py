"""Clipped SGD and heavy-tailed noise (THEOREMS.md T9, G2 heavy tails): the Student-t models and their declared
alpha-moments, the clipping schedules, bad input, vectorization over replicas and determinism; ACClip against a
written-out transcription of the third-party step, for alpha = 1 (quoted spec) and 2 (third-party code).

Stochastic assertions use fixed seeds and tolerances of 6 standard errors (sample quantiles: the asymptotic
standard error sqrt(p(1-p)/N)/density at the quantile, valid for heavy tails; means only where the variance
is finite)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from problems.noise import OneSidedStudentT, StudentT
from problems.quadratic import Quadratic
from ratecheck.algorithms.clipped_sgd import (
    acclip_sgd,
    check_alpha,
    clipped_sgd,
    nonconvex_schedule,
    strongly_convex_schedule,
)
from ratecheck.transforms import acclip, clip
from ratecheck.validate import InputError

N = 200_000
PROBS = (0.1, 0.25, 0.5, 0.75, 0.9)


def _quantile_z(sample: np.ndarray, q_true: float, p: float, density: float) -> float:
    se = math.sqrt(p * (1 - p) / sample.size) / density
    return (float(np.quantile(sample, p)) - q_true) / se


# ----------------------------------------------------------------------------------------------------
# noise models


@pytest.mark.parametrize("nu, scale", [(1.5, 1.0), (1.2, 0.3), (2.0, 2.0)])
def test_student_t_quantiles_match_scipy(nu: float, scale: float) -> None:
    xi = StudentT(nu, scale, 4).sample((N // 4, 4), np.random.default_rng(1)).ravel()
    law = stats.t(nu, scale=scale)
    for p in PROBS:
        z = _quantile_z(xi, law.ppf(p), p, law.pdf(law.ppf(p)))
        assert abs(z) <= 6, (nu, p, z)


def test_student_t_tail_index_is_nu() -> None:
    """P(|xi| > x) ~ x^-nu: the sample tail probabilities at x and 10x agree with scipy's (binomial 6 se)."""
    nu = 1.5
    xi = np.abs(StudentT(nu, 1.0, 1).sample((N, 1), np.random.default_rng(2)).ravel())
    for x in (3.0, 30.0):
        p = 2 * stats.t.sf(x, nu)
        assert abs(np.mean(xi > x) - p) <= 6 * math.sqrt(p * (1 - p) / N)


@pytest.mark.parametrize("nu", [1.5, 3.0])
def test_one_sided_student_t_quantiles(nu: float) -> None:
    """xi = s(|t| - E|t|): P(xi <= x) = 2 F_t(x/s + m) - 1, so q_p = s (F_t^-1((1+p)/2) - m)."""
    s = 0.5
    noise = OneSidedStudentT(nu, s, 2)
    xi = noise.sample((N // 2, 2), np.random.default_rng(3)).ravel()
    m = noise.shift
    for p in PROBS:
        q = s * (stats.t.ppf((1 + p) / 2, nu) - m)
        density = 2 * stats.t.pdf(q / s + m, nu) / s
        assert abs(_quantile_z(xi, q, p, density)) <= 6, p


def test_one_sided_student_t_has_mean_zero() -> None:
    """nu = 3: finite variance sigma2/d, so the sample mean is within 6 standard errors of 0."""
    noise = OneSidedStudentT(3.0, 1.0, 1)
    xi = noise.sample((N, 1), np.random.default_rng(4)).ravel()
    assert noise.shift == pytest.approx(2 * math.sqrt(3) / math.pi, rel=1e-12)  # E|t_3| = 2 sqrt(3)/pi
    assert abs(xi.mean()) <= 6 * math.sqrt(noise.sigma2 / N)


def test_alpha_moment_rule_is_enforced() -> None:
    """G(alpha) exists for alpha < nu only (E|xi|^alpha = inf for alpha >= nu): InputError naming alpha."""
    t = StudentT(1.5, 1.0, 1)
    assert t.G(1.4) ** 1.4 == pytest.approx(t.alpha_moment(1.4), rel=1e-12)  # d = 1: exact
    assert t.alpha_moment(1.5) == math.inf
    for bad in (1.5, 1.6, 2.0):
        with pytest.raises(InputError, match=r"alpha must be in \(0, 1.5\)"):
            t.G(bad)
    with pytest.raises(InputError, match="alpha"):
        OneSidedStudentT(1.5, 1.0, 1).G(1.5)
    assert StudentT(3.0, 1.0, 2).G(2.0) ** 2 == pytest.approx(2 * 3.0, rel=1e-12)  # nu > 2: alpha = 2 allowed, E t^2 = nu/(nu-2)


def test_norm_moment_bound_holds_by_monte_carlo() -> None:
    """E||xi||^alpha <= G^alpha for d > 1 (subadditivity); nu = 3, alpha = 1.2 (finite variance of ||xi||^alpha)."""
    for noise in (StudentT(3.0, 0.7, 5), OneSidedStudentT(3.0, 0.7, 5)):
        xi = noise.sample((N, 5), np.random.default_rng(5))
        v = np.sqrt(np.sum(xi**2, axis=1)) ** 1.2
        assert v.mean() - 6 * v.std() / math.sqrt(N) <= noise.G(1.2) ** 1.2


@pytest.mark.parametrize("nu", [1.0, 0.5, 0.0, -1.0, float("nan")])
def test_student_t_nu_at_most_one_is_refused(nu: float) -> None:
    for cls in (StudentT, OneSidedStudentT):
        with pytest.raises(InputError, match=r"nu must be .*in \(1, inf\)"):
            cls(nu, 1.0, 3)


# ----------------------------------------------------------------------------------------------------
# schedules and bad input


def test_schedules_follow_the_catalog() -> None:
    sc = strongly_convex_schedule(mu=2.0, G=3.0, alpha=1.4)
    assert sc.eta(1) == pytest.approx(1 / (2.0 * 2)) and sc.eta(99) == pytest.approx(1 / (2.0 * 100))
    assert sc.tau(1) == pytest.approx(3.0) and sc.tau(1000) == pytest.approx(3.0 * 1000 ** (1 / 1.4))
    nc = nonconvex_schedule(K=10_000, G=2.0, alpha=2.0, eta0=0.5)  # alpha = 2: tau ~ K^(1/4), eta ~ K^(-1/2)
    assert nc.tau(1) == pytest.approx(2.0 * 10.0) and nc.eta(7) == pytest.approx(0.5 / 100.0)
    nc15 = nonconvex_schedule(K=4096, G=1.0, alpha=1.5, eta0=1.0)
    assert nc15.tau(3) == pytest.approx(4096 ** (1 / 2.5)) and nc15.eta(3) == pytest.approx(4096 ** (-1.5 / 2.5))


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0001, 3.0, float("nan")])
def test_alpha_outside_one_two_is_refused(alpha: float) -> None:
    for make in (lambda: check_alpha(alpha), lambda: strongly_convex_schedule(1.0, 1.0, alpha),
                 lambda: nonconvex_schedule(100, 1.0, alpha, 0.1)):
        with pytest.raises(InputError, match=r"alpha must be .*in \(1, 2\]"):
            make()


@pytest.mark.parametrize("tau", [0.0, -1.0, float("inf"), float("nan")])
def test_tau_not_positive_is_refused(tau: float) -> None:
    with pytest.raises(InputError, match="tau"):
        clip(tau)
    f = Quadratic.isotropic(2, 1.0, noise=StudentT(1.5, 1.0, 2))
    with pytest.raises(InputError, match="tau"):
        clipped_sgd(f, 0.1, tau, 5, 3, np.random.default_rng(0))
    tx = clip(lambda k: tau)  # a schedule value is checked when it is used
    with pytest.raises(InputError, match="tau_k"):
        tx.update(np.ones((3, 2)), tx.init(np.zeros(2), 3, None), None)


def test_clip_schedule_counts_updates() -> None:
    tx = clip(lambda k: float(k))
    state = tx.init(np.zeros(2), 1, None)
    g = np.array([[30.0, 40.0]])  # ||g|| = 50
    for k in (1, 2, 3):
        u, state = tx.update(g, state, None)
        np.testing.assert_allclose(np.linalg.norm(u), k, rtol=1e-12)  # the k-th update clips at tau_k = k
    assert state == 3
    u, _ = tx.update(np.zeros((1, 2)), state, None)
    assert np.all(u == 0)


# ----------------------------------------------------------------------------------------------------
# the algorithm: one clipped step, vectorization, determinism


class _Replay:
    """A quadratic whose stochastic gradient adds pre-drawn noise, draw k at the k-th call (rows = replicas)."""

    def __init__(self, f: Quadratic, noise: np.ndarray) -> None:
        self.f, self.noise, self.calls = f, noise, 0
        self.d, self.x0, self.x_star, self.f_star, self.constants = f.d, f.x0, f.x_star, f.f_star, f.constants

    def loss(self, x):
        return self.f.loss(x)

    def grad(self, x):
        return self.f.grad(x)

    def stoch_grad(self, x, rng):
        xi = self.noise[self.calls]
        self.calls += 1
        return self.f.grad(x) + xi


def test_replicas_equal_separate_runs_on_the_same_draws() -> None:
    """R replicas in one (R, d) array equal R runs of one replica each (a Python loop), noise draw for draw."""
    R, d, K = 7, 3, 40
    f = Quadratic.log_spaced(d, 0.5, 2.0, R0=4.0, seed=1)
    xi = StudentT(1.5, 1.0, d).sample((K + 1, R, d), np.random.default_rng(6))
    sch = strongly_convex_schedule(mu=0.5, G=1.0, alpha=1.4)
    grid = np.array([1, 5, 20, K])
    batched = clipped_sgd(_Replay(f, xi), sch.eta, sch.tau, K, R, None, grid)
    for r in range(R):
        one = clipped_sgd(_Replay(f, xi[:, r:r + 1]), sch.eta, sch.tau, K, 1, None, grid)
        for name in ("dist2", "subopt", "gmin", "avg_gmin"):
            np.testing.assert_allclose(batched.values[name][r], one.values[name][0], rtol=1e-13, atol=1e-15)
    x = f.x0.copy()  # and the paper's update written out for replica 0
    for k in range(1, K + 1):
        g = f.grad(x) + xi[k - 1, 0]
        x = x - sch.eta(k) * min(1.0, sch.tau(k) / np.linalg.norm(g)) * g
    assert batched.values["dist2"][0, -1] == pytest.approx(np.sum((x - f.x_star) ** 2), rel=1e-12)


def test_every_step_is_at_most_eta_tau() -> None:
    """||x_{k+1} - x_k|| <= eta_k tau_k for every replica (the clipping), while unclipped steps exceed it."""
    R, K = 500, 30
    f = Quadratic.isotropic(1, 1.0, R0=1.0, noise=StudentT(1.5, 1.0, 1))
    sch = strongly_convex_schedule(1.0, 1.0, 1.4)
    every = np.arange(1, K + 1)
    for tau, ok in ((sch.tau, True), (None, False)):
        tr = clipped_sgd(f, sch.eta, tau, K, R, np.random.default_rng(7), every, measures=("dist2",))
        x = np.sqrt(tr.values["dist2"])  # 1-D: |x_k - x*|
        step = np.abs(np.diff(x, axis=1))  # <= |x_{k+1} - x_k| (triangle inequality)
        limit = np.array([sch.eta(k) * sch.tau(k) for k in range(2, K + 1)])
        assert bool(np.all(step <= limit * (1 + 1e-12))) is ok


def test_huge_tau_is_plain_sgd_and_runs_are_deterministic() -> None:
    f = Quadratic.isotropic(3, 1.0, R0=1.0, noise=StudentT(1.5, 1.0, 3))
    a = clipped_sgd(f, 0.05, 1e300, 200, 50, np.random.default_rng(8))
    b = clipped_sgd(f, 0.05, None, 200, 50, np.random.default_rng(8))
    c = clipped_sgd(f, 0.05, None, 200, 50, np.random.default_rng(8))
    d = clipped_sgd(f, 0.05, None, 200, 50, np.random.default_rng(9))
    for name in ("dist2", "avg_gmin"):
        np.testing.assert_array_equal(a.values[name], b.values[name])
        np.testing.assert_array_equal(b.values[name], c.values[name])
    assert not np.array_equal(b.values["dist2"], d.values["dist2"])


def test_measures_are_validated() -> None:
    f = Quadratic.isotropic(1, 1.0, noise=StudentT(1.5, 1.0, 1))
    with pytest.raises(InputError, match="measures"):
        clipped_sgd(f, 0.1, 1.0, 5, 2, np.random.default_rng(0), measures=("dist",))
    with pytest.raises(InputError, match="eta"):
        clipped_sgd(f, 0.0, 1.0, 5, 2, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------------------
# ACClip (T9 (b): quoted spec alpha = 1, third-party code alpha = 2)


def _acclip_reference(gs: np.ndarray, alpha: float, beta1: float = 0.9, beta2: float = 0.99, eps: float = 1e-5) -> np.ndarray:
    """The third-party step (rivercold/ACClip-Pytorch optimizers/ACClip.py, mod = 0) written out per coordinate:
    momentum = b1 momentum + (1 - b1) g; clip = b2 clip + (1 - b2) |g|^alpha;
    denom = clamp(clip^(1/alpha) / (|momentum| + eps), 0, 1); update = denom * momentum."""
    momentum, clip_, out = [0.0] * gs.shape[1], [0.0] * gs.shape[1], []
    for g in gs:
        row = []
        for j, gj in enumerate(g):
            momentum[j] = beta1 * momentum[j] + (1 - beta1) * gj
            clip_[j] = beta2 * clip_[j] + (1 - beta2) * abs(gj) ** alpha
            row.append(min(max(clip_[j] ** (1 / alpha) / (abs(momentum[j]) + eps), 0.0), 1.0) * momentum[j])
        out.append(row)
    return np.array(out)


@pytest.mark.parametrize("alpha", [1.0, 1.5, 2.0])
def test_acclip_matches_the_reference_step(alpha: float) -> None:
    gs = StudentT(1.5, 1.0, 4).sample((60, 4), np.random.default_rng(10))
    tx = acclip(alpha)
    state = tx.init(np.zeros(4), 1, None)
    got = []
    for g in gs:
        u, state = tx.update(g[None, :], state, None)
        got.append(u[0])
    np.testing.assert_allclose(np.array(got), _acclip_reference(gs, alpha), rtol=1e-12, atol=1e-15)


def test_acclip_first_step_and_state() -> None:
    """k = 1 from zero buffers: m = (1-b1) g, tau = (1-b2)^(1/alpha) |g|, so u = min((1-b2)^(1/alpha)|g|/((1-b1)|g| + eps), 1) m:
    alpha = 1 clips to 0.1 m (tau = 0.01 |g|), alpha = 2 keeps m (tau = 0.1 |g|, up to eps)."""
    g = np.array([[3.0, -40.0]])
    for alpha, factor in ((1.0, 0.01 / 0.1), (2.0, 1.0)):
        tx = acclip(alpha, eps=0.0)
        state = tx.init(np.zeros(2), 1, None)
        before = (state.m.copy(), state.tau_alpha.copy())
        u, new = tx.update(g, state, None)
        np.testing.assert_allclose(u, factor * 0.1 * g, rtol=1e-12)
        np.testing.assert_allclose(new.tau_alpha, 0.01 * np.abs(g) ** alpha, rtol=1e-12)
        assert np.array_equal(state.m, before[0]) and np.array_equal(state.tau_alpha, before[1])  # no update in place


def test_acclip_is_coordinate_wise_unlike_norm_clipping() -> None:
    """An outlier in coordinate 0 leaves ACClip's coordinate 1 unchanged; global norm clipping shrinks it."""
    calm, wild = np.array([[1.0, 1.0]]), np.array([[1e6, 1.0]])
    for tx in (acclip(1.0), acclip(2.0)):
        u_calm, _ = tx.update(calm, tx.init(np.zeros(2), 1, None), None)
        u_wild, _ = tx.update(wild, tx.init(np.zeros(2), 1, None), None)
        assert u_wild[0, 1] == u_calm[0, 1]
    norm = clip(2.0)
    assert norm.update(wild, None, None)[0][0, 1] < 1e-5 < norm.update(calm, None, None)[0][0, 1]


@pytest.mark.parametrize("kwargs, name", [({"alpha": 0.5}, "alpha"), ({"alpha": 2.5}, "alpha"), ({"alpha": 1.0, "beta1": 1.0}, "beta1"),
                                          ({"alpha": 1.0, "beta2": -0.1}, "beta2"), ({"alpha": 1.0, "eps": -1.0}, "eps")])
def test_acclip_bad_input_names_the_parameter(kwargs: dict, name: str) -> None:
    with pytest.raises(InputError, match=name):
        acclip(**kwargs)


def test_acclip_sgd_equals_the_written_out_update() -> None:
    R, d, K = 4, 3, 25
    f = Quadratic.log_spaced(d, 0.5, 2.0, R0=4.0, seed=2)
    xi = StudentT(1.5, 1.0, d).sample((K + 1, R, d), np.random.default_rng(11))
    tr = acclip_sgd(_Replay(f, xi), 0.1, 1.0, K, R, None, np.array([K]), measures=("dist2",))
    for r in range(R):
        x, gs = f.x0.copy(), []
        for k in range(K):
            g = f.grad(x) + xi[k, r]
            gs.append(g)
            x = x - 0.1 * _acclip_reference(np.array(gs), 1.0)[-1]
        assert tr.values["dist2"][r, -1] == pytest.approx(np.sum((x - f.x_star) ** 2), rel=1e-10)
