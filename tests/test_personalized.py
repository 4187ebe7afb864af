"""Tests for personalized collaborative learning (THEOREMS.md T5.2; problems/personalized.py,
ratecheck/algorithms/personalized.py, theorems/personalized.py).

* the task family's certified constants (zeta, delta_H, F0, L) against their definitions, nested collaborators;
* WGA and BC, batched over replicas and tasks, against a per-replica, per-task Python reference fed the same draws;
* WGA's fixed point: the simulated limit against the formula, the stationarity of f_alpha, the catalog's sum alpha_i x*_i;
* BC's negative control: beta = 1 with one shared user-0 sample moves along g_0 exactly;
* bad input names the parameter and its range; determinism given the seed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from problems.personalized import PersonalizedTasks
from ratecheck.algorithms.personalized import bias_correction, uniform_weights, validate_weights, wga
from ratecheck.validate import InputError
from theorems.personalized import wga_floor, wga_limit


def _tasks(N: int = 3, *, zeta: float = 1.0, delta_H: float = 0.25, c: float = 0.0, sigma: float = 1.0, d: int = 4) -> PersonalizedTasks:
    return PersonalizedTasks.g3(N, d, mu=0.5, L=1.0, zeta=zeta, delta_H=delta_H, c=c, R0=2.0, noise=sigma, seed=3)


# ------------------------------------------------------------------------------------------------
# the tasks


@pytest.mark.parametrize("c", [0.0, 0.5])
def test_certified_constants(c: float) -> None:
    f = _tasks(5, zeta=0.7, delta_H=0.3, c=c)
    k = f.constants
    assert np.allclose(np.linalg.norm(f.w[1:], axis=1), 0.7, rtol=1e-12)  # every collaborator's bias at x* has norm zeta
    assert k["zeta"] == pytest.approx(0.7, rel=1e-12)
    assert np.allclose([np.abs(np.linalg.eigvalsh(Di)).max() for Di in f.D[1:]], 0.3, rtol=1e-12)
    assert k["delta_H"] == pytest.approx(0.3, rel=1e-12)
    assert not np.any(f.D[0]) and not np.any(f.w[0])  # user 0: D_0 = 0, w_0 = 0
    assert k["F0"] == pytest.approx(float(f.loss(f.x0)), rel=1e-15) and float(f.loss(f.x_star)) == 0.0
    assert k["L"] == pytest.approx(1.0 + 2 * c, rel=1e-12) and k["N1"] == 6.0
    x = np.random.default_rng(0).standard_normal((3, f.d))
    y = np.repeat(x[:, None, :], f.n, axis=1)  # not a broadcast view: the general path
    u = x - f.x_star
    for i in range(f.n):  # grad f_i - grad f_0 = D_i u + w_i
        bias = f.client_grads(y)[:, i] - f.grad(x)
        assert np.allclose(bias, u @ f.D[i] + f.w[i], atol=1e-13)


def test_collaborators_are_nested_and_user_0_is_fixed() -> None:
    small, large = _tasks(3), _tasks(15)
    assert np.array_equal(small.H, large.H) and np.array_equal(small.x0, large.x0)
    assert np.array_equal(small.w, large.w[:4]) and np.array_equal(small.D, large.D[:4])


def test_shared_point_fast_path_equals_the_general_path() -> None:
    f = _tasks(3, c=0.5)
    x = np.random.default_rng(1).standard_normal((5, f.d))
    from ratecheck.problem import broadcast_clients

    assert np.allclose(f.client_grads(broadcast_clients(x, f.n)), f.client_grads(np.repeat(x[:, None], f.n, axis=1)), atol=1e-14)
    rows = np.array([0, 2, 0])
    assert np.allclose(f.client_grads(broadcast_clients(x, 3), rows), f.client_grads(np.repeat(x[:, None], 3, axis=1), rows), atol=1e-14)


# ------------------------------------------------------------------------------------------------
# the algorithms against a per-task reference


def _grad_i(f: PersonalizedTasks, i: int, x: np.ndarray) -> np.ndarray:
    """grad f_i(x) = (H + D_i)(x - x*) + w_i + c sin(2 (x - x*)), one task, one replica."""
    u = x - f.x_star
    return (f.H + f.D[i]) @ u + f.w[i] + f.c * np.sin(2 * u)


def _reference(f: PersonalizedTasks, alpha: np.ndarray, gamma: float, T: int, R: int, seed: int, beta: float | None,
               shared: bool = False) -> np.ndarray:
    """x_T per replica by Python loops over replicas and tasks, drawing the same noise as the batched code (one
    (R, rows, d) standard normal array per step, rows = N + 1 for WGA and shared BC, 2N + 1 for BC)."""
    rng = np.random.default_rng(seed)
    N, d, s = f.N, f.d, math.sqrt(f.noise.sigma2 / f.d)
    rows = N + 1 if beta is None or shared else 2 * N + 1
    xs = [f.x0.astype(float).copy() for _ in range(R)]
    cs = [[np.zeros(d) for _ in range(N)] for _ in range(R)]
    for _ in range(T):
        xi = rng.standard_normal((R, rows, d)) * s
        for r in range(R):
            g = [_grad_i(f, i, xs[r]) + xi[r, i] for i in range(N + 1)]
            direction = sum(alpha[i] * g[i] for i in range(N + 1))
            if beta is not None:
                for i in range(1, N + 1):
                    g0 = g[0] if shared else _grad_i(f, 0, xs[r]) + xi[r, N + i]
                    cs[r][i - 1] = (1 - beta) * cs[r][i - 1] + beta * alpha[i] * (g0 - g[i])
                    direction = direction + cs[r][i - 1]
            xs[r] = xs[r] - gamma * direction
    return np.array(xs)


@pytest.mark.parametrize("method", ["wga", "bc", "bc-shared"])
@pytest.mark.parametrize("c", [0.0, 0.5])
def test_batched_equals_per_task_reference(method: str, c: float) -> None:
    f = _tasks(3, c=c, sigma=1.5)
    alpha = np.array([0.4, 0.3, 0.2, 0.1])
    T, R, seed, gamma = 7, 3, 11, 0.1
    beta = None if method == "wga" else (1.0 if method == "bc-shared" else 0.3)
    x_ref = _reference(f, alpha, gamma, T, R, seed, beta, shared=method == "bc-shared")
    # the batched run records ||grad f_0(x_T)||^2; compare it with the reference's, replica by replica
    grid_ = np.array([T])
    rng = np.random.default_rng(seed)
    if method == "wga":
        tr = wga(f, alpha, gamma, T, R, rng, checkpoints=grid_, reference=np.zeros(f.d))
        assert np.allclose(tr.values["ref_dist2"][:, -1], np.sum(x_ref**2, axis=1), rtol=1e-12)
    else:
        tr = bias_correction(f, alpha, gamma, beta, T, R, rng, shared_user_sample=method == "bc-shared", checkpoints=grid_)
    g_ref = np.array([_grad_i(f, 0, x) for x in x_ref])
    assert np.allclose(tr.values["gnorm2"][:, -1], np.sum(g_ref**2, axis=1), rtol=1e-11)


def test_beta_one_with_a_shared_user_sample_moves_along_g0() -> None:
    """[DERIVED] sum_i alpha_i g_i + sum_{i>=1} alpha_i (g_0 - g_i) = g_0: the negative control has no speedup."""
    f = _tasks(7, sigma=3.0)
    tr = bias_correction(f, uniform_weights(7), 0.05, 1.0, 50, 6, np.random.default_rng(0), shared_user_sample=True,
                         checkpoints=np.arange(1, 51))
    assert tr.values["dir_gap"].max() < 1e-13
    tr2 = bias_correction(f, uniform_weights(7), 0.05, 0.5, 50, 6, np.random.default_rng(0), shared_user_sample=True,
                          checkpoints=np.arange(1, 51))
    assert tr2.values["dir_gap"][:, 1:].min() > 1e-3  # beta < 1: the EMA keeps the past, the direction is not g_0


# ------------------------------------------------------------------------------------------------
# WGA's fixed point


@pytest.mark.parametrize("delta_H", [0.0, 0.3])
@pytest.mark.parametrize("alpha", [None, (0.1, 0.2, 0.3, 0.4)])
def test_wga_converges_to_the_formula(delta_H: float, alpha) -> None:
    f = _tasks(3, delta_H=delta_H, sigma=0.0)
    a = uniform_weights(3) if alpha is None else np.array(alpha)
    x_a = wga_limit(f, a)
    assert np.allclose(f.weighted_grad(x_a, a), 0.0, atol=1e-13)  # stationary for f_alpha = sum alpha_i f_i
    if delta_H == 0:  # shared H: the catalog's x_alpha = sum_i alpha_i x*_i, x*_i = x* - H^{-1} w_i
        x_i = f.x_star - np.linalg.solve(f.H, f.w.T).T
        assert np.allclose(x_a, a @ x_i, atol=1e-13)
        assert wga_floor(f, a) == pytest.approx(float(np.sum((f.H @ (a @ (x_i - x_i[0]))) ** 2)), rel=1e-12)
    tr = wga(f, a, 0.4, 400, 1, np.random.default_rng(0), checkpoints=np.array([400]), reference=x_a)
    assert tr.values["ref_dist2"][0, -1] < 1e-26
    assert tr.values["gnorm2"][0, -1] == pytest.approx(wga_floor(f, a), rel=1e-9)
    assert wga_floor(f, a) > 1e-3  # zeta > 0: a floor that no T removes


def test_wga_floor_on_the_nonconvex_family_is_the_weighted_bias() -> None:
    f = _tasks(3, delta_H=0.0, c=0.5, sigma=0.0)
    a = np.array([0.4, 0.3, 0.2, 0.1])
    tr = wga(f, a, 0.2, 600, 1, np.random.default_rng(0), checkpoints=np.array([600]))
    assert tr.values["gnorm2"][0, -1] == pytest.approx(float(np.sum((a @ f.w) ** 2)), rel=1e-9) == pytest.approx(wga_floor(f, a))


# ------------------------------------------------------------------------------------------------
# bad input, determinism


@pytest.mark.parametrize("alpha, match", [((0.5, 0.6), "sum to 1"), ((1.2, -0.2), "alpha_i >= 0"), ((0.5, 0.5, 0.0), "N \\+ 1 = 2"),
                                          ((np.nan, 1.0), "finite"), ("ab", "finite")])
def test_bad_weights(alpha, match: str) -> None:
    with pytest.raises(InputError, match=match):
        validate_weights(alpha, 1)
    f = _tasks(1)
    if match != "N \\+ 1 = 2":
        with pytest.raises(InputError, match=match):
            wga(f, alpha, 0.1, 5, 2, np.random.default_rng(0))


@pytest.mark.parametrize("beta", [0.0, -0.1, 1.5, float("nan")])
def test_bad_beta(beta: float) -> None:
    with pytest.raises(InputError, match=r"beta .* \(0, 1\]"):
        bias_correction(_tasks(1), uniform_weights(1), 0.1, beta, 5, 2, np.random.default_rng(0))


def test_bad_N_and_gamma() -> None:
    with pytest.raises(InputError, match="N .* >= 0"):
        uniform_weights(-1)
    with pytest.raises(InputError, match="N .* >= 0"):
        PersonalizedTasks.g3(-1, 3, mu=0.5, L=1.0, zeta=1.0)
    with pytest.raises(InputError, match="gamma"):
        wga(_tasks(1), uniform_weights(1), 0.0, 5, 2, np.random.default_rng(0))


def test_no_collaborators_is_sgd_on_f0() -> None:
    f = _tasks(0)
    a = bias_correction(f, uniform_weights(0), 0.1, 0.5, 20, 4, np.random.default_rng(5))
    b = wga(f, uniform_weights(0), 0.1, 20, 4, np.random.default_rng(5))
    assert np.array_equal(a.values["gnorm2"], b.values["gnorm2"])


def test_deterministic_given_the_seed() -> None:
    f = _tasks(3, c=0.5, sigma=2.0)
    runs = [bias_correction(f, uniform_weights(3), 0.05, 0.2, 100, 5, np.random.default_rng(42), monitor_c=True) for _ in range(2)]
    for k_ in runs[0].values:
        assert np.array_equal(runs[0].values[k_], runs[1].values[k_])
    other = bias_correction(f, uniform_weights(3), 0.05, 0.2, 100, 5, np.random.default_rng(43))
    assert not np.array_equal(runs[0].values["gnorm2"], other.values["gnorm2"])
