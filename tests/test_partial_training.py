"""Masked / partial training (THEOREMS.md T6): the algorithm against a written-out Python reference, the block
problem's certified constants against their definitions, the exact noiseless floor of an incompatible core and its
a^2 growth, bad input and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from problems.masked import MaskedBlock
from ratecheck.algorithms.partial_training import check_mask, partial_training, random_masks
from ratecheck.validate import InputError

# ----------------------------------------------------------------------------------------------------
# the problem


@pytest.mark.parametrize("a, c", [(0.0, 0.0), (0.2, 0.0), (-0.1, 0.3)])
def test_constants_match_their_definitions(a: float, c: float) -> None:
    f = MaskedBlock.g1(3, 7, a, c=c, outside=2.0, R0=1.5, noise=0.4, seed=3)
    k, H = f.k, f.H
    np.testing.assert_allclose(H, H.T)
    np.testing.assert_allclose(H[:k, k:], a * f.C, atol=1e-15)  # the coupling block is a C, ||C||_op = 1
    assert np.linalg.norm(f.C, 2) == pytest.approx(1.0, rel=1e-12)
    lam = np.linalg.eigvalsh(H)
    assert f.constants["L"] == pytest.approx(lam[-1] + 2 * c)
    assert f.constants["lambda_min"] == pytest.approx(lam[0]) and lam[0] >= 0
    assert f.constants["rho"] == pytest.approx(max(2 * c - lam[0], 0.0))
    assert f.constants["R0"] == pytest.approx(1.5) and f.constants["outside"] == pytest.approx(2.0)
    assert f.constants["F0"] == pytest.approx(float(f.loss(f.x0))) and float(f.loss(f.x_star)) == 0.0
    assert f.constants["sigma"] == pytest.approx(0.4)
    u_star = f.core_grad(f.x_star)
    np.testing.assert_allclose(u_star[:k], -a * f.C @ f.x_star[k:], atol=1e-14)  # u(x*) = -a C x*_n  [DERIVED]
    assert f.constants["core_gap"] == pytest.approx(float(np.linalg.norm(u_star)), abs=1e-14)
    assert f.constants["compatible"] == float(a == 0) and f.constants["aligned"] == float(a == 0)


def test_gradient_and_smoothness_by_definition() -> None:
    """grad f by central differences; ||grad f(x) - grad f(y)|| <= L ||x - y|| on random pairs, attained near x*."""
    f = MaskedBlock.g1(4, 9, 0.15, c=0.3, seed=1)
    rng = np.random.default_rng(0)
    x = f.x_star + rng.standard_normal((5, f.d))
    h = 1e-6
    fd = np.stack([(f.loss(x + h * e) - f.loss(x - h * e)) / (2 * h) for e in np.eye(f.d)], axis=-1)
    np.testing.assert_allclose(f.grad(x), fd, rtol=1e-6, atol=1e-7)
    y = x + rng.standard_normal((5, f.d))
    ratio = np.linalg.norm(f.grad(x) - f.grad(y), axis=-1) / np.linalg.norm(x - y, axis=-1)
    assert np.all(ratio <= f.constants["L"] * (1 + 1e-12))
    top = np.linalg.eigh(f.H)[1][:, -1]  # at x* the Hessian is H + 2cI: the top eigenvector attains L
    near = np.linalg.norm(f.grad(f.x_star + 1e-5 * top)) / 1e-5
    assert near == pytest.approx(f.constants["L"], rel=1e-6)


def test_core_gradient_is_the_parent_core_block_when_aligned() -> None:
    """a = 0: u(x) = m . grad f(x) everywhere (perfect alignment); a != 0: they differ by a C x_n on the core."""
    rng = np.random.default_rng(2)
    for a in (0.0, 0.2):
        f = MaskedBlock.g1(5, 10, a, seed=0)
        x = rng.standard_normal((4, f.d))
        diff = f.core_grad(x) - f.m * f.grad(x)
        np.testing.assert_allclose(diff[:, :5], -a * x[:, 5:] @ f.C.T, atol=1e-14)


def test_bad_problem_input() -> None:
    with pytest.raises(InputError, match="a must be in"):
        MaskedBlock.g1(5, 10, 0.3)  # |a| > sqrt(mu_c mu_n) = 0.25
    with pytest.raises(InputError, match="core_eigenvalues"):
        MaskedBlock([0.0, 1.0], [1.0], 0.0)
    with pytest.raises(InputError, match="d must be"):
        MaskedBlock.g1(5, 5, 0.0)
    with pytest.raises(InputError, match="c must be"):
        MaskedBlock.g1(2, 4, 0.0, c=-1.0)


# ----------------------------------------------------------------------------------------------------
# the algorithm against a Python reference


def _reference(f: MaskedBlock, masks: np.ndarray, gamma: float, T: int, noise: np.ndarray) -> tuple[np.ndarray, list]:
    """One replica, written out step by step: even t a full step, odd t a core step at m . x; noise[t] the draw of step t."""
    x = f.x0.copy()
    gn, cn = [], []
    for t in range(T + 1):
        m = masks[t]
        g_full = f.H @ (x - f.x_star)
        u = m * (f.H @ (m * x - f.x_star))
        gn.append(g_full @ g_full)
        cn.append(u @ u)
        if t == T:
            break
        if t % 2 == 0:
            x = x - gamma * (g_full + noise[t])
        else:
            x = x - gamma * m * (f.H @ (m * x - f.x_star) + noise[t])
    return x, [np.array(gn), np.array(cn)]


def test_matches_reference_with_fixed_mask() -> None:
    """Same Gaussian draws (the loop draws one (R, d) noise array per step, in order): the recorded values agree."""
    f = MaskedBlock.g1(3, 6, 0.1, noise=0.5, seed=4)
    T, R, gamma = 9, 3, 0.2
    tr = partial_training(f, f.m, gamma, T, R, np.random.default_rng(7), checkpoints=np.arange(1, T + 1))
    draws = np.random.default_rng(7)
    noise = np.stack([f.noise.sample((R, f.d), draws) for _ in range(T)])  # (T, R, d)
    for r in range(R):
        _, (gn, cn) = _reference(f, np.broadcast_to(f.m, (T + 1, f.d)), gamma, T, noise[:, r])
        np.testing.assert_allclose(tr.values["gnorm2"][r], gn[1:], rtol=1e-12)
        np.testing.assert_allclose(tr.values["core_gnorm2"][r], cn[1:], rtol=1e-12)
        np.testing.assert_allclose(tr.values["avg_gnorm2"][r, -1], gn[:T].mean(), rtol=1e-12)


def test_matches_reference_with_resampled_masks() -> None:
    """Resampled masks: one random_masks draw per step before the noise draw, each keeping k coordinates per replica."""
    f = MaskedBlock.g1(3, 6, 0.0, noise=0.3, seed=5)
    T, R, gamma = 7, 2, 0.3
    tr = partial_training(f, f.m, gamma, T, R, np.random.default_rng(11), checkpoints=np.arange(1, T + 1), resample=True)
    draws = np.random.default_rng(11)
    k = np.full(R, 3)
    masks, noise = [], []
    for t in range(T + 1):
        masks.append(random_masks(k, f.d, draws))
        if t < T:
            noise.append(f.noise.sample((R, f.d), draws))
    masks, noise = np.stack(masks), np.stack(noise)
    assert np.all(masks.sum(axis=-1) == 3)
    for r in range(R):
        _, (gn, cn) = _reference(f, masks[:, r], gamma, T, noise[:, r])
        np.testing.assert_allclose(tr.values["gnorm2"][r], gn[1:], rtol=1e-12)
        np.testing.assert_allclose(tr.values["core_gnorm2"][r], cn[1:], rtol=1e-12)


def test_q_hat_surrogate_and_norm_ratio() -> None:
    """cos = <grad f, u>/(||grad f|| ||u||) at every step, cos_min its running minimum, ratio = ||u||/||grad f||."""
    f = MaskedBlock.g1(3, 6, 0.2, outside=4.0, noise=0.0, seed=0)
    T = 12
    tr = partial_training(f, f.m, 0.3, T, 1, np.random.default_rng(0), checkpoints=np.arange(1, T + 1))
    x = f.x0.copy()
    cos = []
    for t in range(T + 1):
        g, u = f.grad(x), f.core_grad(x)
        cos.append(g @ u / (np.linalg.norm(g) * np.linalg.norm(u)))
        if t > 0:
            assert tr.values["ratio"][0, t - 1] == pytest.approx(np.linalg.norm(u) / np.linalg.norm(g), rel=1e-12)
        x = x - 0.3 * (g if t % 2 == 0 else u)
    np.testing.assert_allclose(tr.values["cos"][0], cos[1:], rtol=1e-12)
    np.testing.assert_allclose(tr.values["cos_min"][0], np.minimum.accumulate(cos)[1:], rtol=1e-12)


# ----------------------------------------------------------------------------------------------------
# the exact floor of an incompatible core (sigma = 0) [DERIVED]


def test_floor_formula_matches_the_iteration() -> None:
    f = MaskedBlock.g1(5, 10, 0.2, outside=4.0, seed=0)
    gamma = 0.5
    x_even, x_odd = f.alternating_limit(gamma)
    # a fixed point of the 2-step map: a full step from x_even gives x_odd, a core step from x_odd gives x_even
    np.testing.assert_allclose(x_even - gamma * f.grad(x_even), x_odd, atol=1e-13)
    np.testing.assert_allclose(x_odd - gamma * f.core_grad(x_odd), x_even, atol=1e-13)
    T = 800
    tr = partial_training(f, f.m, gamma, T, 1, np.random.default_rng(0), burn_in=T // 2)
    floor = f.alternating_floor(gamma)
    assert tr.values["tail_gnorm2"][0, -1] == pytest.approx(floor["gnorm2"], rel=1e-9)
    assert tr.values["tail_core_gnorm2"][0, -1] == pytest.approx(floor["core_gnorm2"], rel=1e-9)
    assert floor["gnorm2"] > 1e-3  # a real floor: no common stationary point


def test_floor_grows_like_a_squared_and_vanishes_when_compatible() -> None:
    base = {"outside": 4.0, "seed": 0}
    floors = np.array([MaskedBlock.g1(5, 10, a, **base).alternating_floor(0.5)["gnorm2"] for a in (1e-3, 2e-3, 4e-3)])
    slopes = np.diff(np.log(floors)) / np.log(2.0)
    np.testing.assert_allclose(slopes, 2.0, atol=1e-2)
    assert MaskedBlock.g1(5, 10, 0.0, **base).alternating_floor(0.5)["gnorm2"] == pytest.approx(0.0, abs=1e-28)
    # a != 0 but x* inside the core: compatible, no floor
    f = MaskedBlock.g1(5, 10, 0.2, x_star=np.r_[np.ones(5), np.zeros(5)], R0=1.0, seed=0)
    assert f.constants["compatible"] == 1.0
    assert f.alternating_floor(0.5)["gnorm2"] == pytest.approx(0.0, abs=1e-28)


# ----------------------------------------------------------------------------------------------------
# bad input, determinism


@pytest.mark.parametrize("mask, match", [(np.ones(5), r"mask must have shape \(6,\)"), (np.zeros(6), "at least 1"),
                                         (np.full(6, 0.5), r"entries in \{0, 1\}"), (np.ones((3, 6)), "shape"),
                                         ("abc", "mask must be")])
def test_bad_mask(mask: object, match: str) -> None:
    f = MaskedBlock.g1(3, 6, 0.0, seed=0)
    with pytest.raises(InputError, match=match):
        partial_training(f, mask, 0.1, 10, 2, np.random.default_rng(0))


@pytest.mark.parametrize("gamma", [0.0, -0.1, float("nan")])
def test_bad_gamma(gamma: float) -> None:
    f = MaskedBlock.g1(3, 6, 0.0, seed=0)
    with pytest.raises(InputError, match="gamma must be"):
        partial_training(f, f.m, gamma, 10, 2, np.random.default_rng(0))


def test_mask_per_replica_and_check_mask() -> None:
    m = check_mask(np.array([[1, 0, 0], [0, 1, 1]]), 2, 3)
    assert m.shape == (2, 3)
    with pytest.raises(InputError, match="at least 1"):
        check_mask(np.array([[1, 0, 0], [0, 0, 0]]), 2, 3)


def test_deterministic_given_the_seed() -> None:
    f = MaskedBlock.g1(5, 10, 0.1, noise=0.2, seed=0)
    a = partial_training(f, f.m, 0.1, 200, 4, np.random.default_rng(3), resample=True)
    b = partial_training(f, f.m, 0.1, 200, 4, np.random.default_rng(3), resample=True)
    for key in a.values:
        np.testing.assert_array_equal(a.values[key], b.values[key])
    c = partial_training(f, f.m, 0.1, 200, 4, np.random.default_rng(4), resample=True)
    assert not np.array_equal(a.values["gnorm2"], c.values["gnorm2"])


def test_every_tuned_point_lies_below_the_step_cap() -> None:
    """The theorem's tuned sweeps are declared where sqrt(F0/(L sigma^2 T)) < 1/(2L): the bound's O-form holds there."""
    from theorems.partial_training import THEOREM, instance, run_tuned

    for sw in THEOREM.sweeps:
        if sw.run is not run_tuned:
            continue
        for p in sw.points:
            c = instance(p).constants
            assert np.sqrt(c["F0"] / (c["L"] * c["sigma"] ** 2 * p["T"])) < 1 / (2 * c["L"]), (sw.name, p)


class _OracleOnly:
    """The same problem seen only through the Problem protocol (no ``noise``): the algorithm calls stoch_grad."""

    def __init__(self, f: MaskedBlock) -> None:
        self.f, self.d, self.x0, self.x_star, self.f_star, self.constants = f, f.d, f.x0, f.x_star, f.f_star, f.constants

    def loss(self, x: np.ndarray) -> np.ndarray:
        return self.f.loss(x)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.f.grad(x)

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.f.stoch_grad(x, rng)


def test_additive_fast_path_equals_the_oracle_path() -> None:
    """Reusing the exact gradient plus a noise draw gives the same numbers as problem.stoch_grad (same draws, same order)."""
    f = MaskedBlock.g1(5, 10, 0.1, c=0.2, noise=0.3, seed=2)
    a = partial_training(f, f.m, 0.1, 300, 4, np.random.default_rng(5), resample=True)
    b = partial_training(_OracleOnly(f), f.m, 0.1, 300, 4, np.random.default_rng(5), resample=True)
    for key in a.values:
        np.testing.assert_allclose(a.values[key], b.values[key], rtol=1e-12, atol=1e-15)
