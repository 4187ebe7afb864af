"""Byzantine-robust SGD with worker momentum (ratecheck.algorithms.byzantine; THEOREMS.md T7 (b)).

* vectorization: the batched run equals an explicit loop over replicas and workers on the same draws;
* determinism: the same generator state gives the same trace, another one a different trace;
* the momentum recursion: the good momenta's spread has the exact mean 2 sigma^2 (alpha (1 - (1-alpha)^(2t))/(2 - alpha)
  + (1-alpha)^(2t)) [DERIVED from m_0 = g_0, m_t = alpha g_t + (1 - alpha) m_{t-1}; G5 at t -> infinity];
* bad input: an InputError naming the parameter;
* divergence (IPM against the mean) is a recorded verdict, never a crash or a NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

from problems.quadratic import Quadratic
from ratecheck.aggregators import CenteredClip, CoordinateMedian, Krum, Mean
from ratecheck.algorithms.byzantine import byzantine_sgd
from ratecheck.attacks import ALIE, IPM, alie_z_max
from ratecheck.checks import FAIL, Converges
from ratecheck.problem import IIDClients
from ratecheck.symbols import R0, L
from ratecheck.theorem import Run
from ratecheck.validate import InputError

D, SIGMA = 4, 1.0


def _problem(good: int, sigma: float = SIGMA) -> IIDClients:
    return IIDClients(Quadratic.isotropic(D, 1.0, R0=1.0, noise=sigma, seed=3), good)


def _loop_reference(q: Quadratic, good: int, f: int, agg_name: str, gamma: float, beta: float, T: int, R: int, seed: int,
                    tau: float = 1.0) -> np.ndarray:
    """||grad f(x_t)||^2 for t = 0..T, every replica and worker handled one at a time (no batching), drawing the noise
    exactly as the batched run does (one (R, good, d) Gaussian draw per round)."""
    rng = np.random.default_rng(seed)
    x = np.tile(q.x0, (R, 1)).astype(float)
    m = np.zeros((R, good, D))
    v = np.zeros((R, D))
    z = alie_z_max(good + f, f)
    out = np.zeros((R, T + 1))
    for t in range(T + 1):
        xi = rng.standard_normal((R, good, D)) * (SIGMA / np.sqrt(D))
        for r in range(R):
            grad = q.H @ (x[r] - q.x_star)
            out[r, t] = grad @ grad
            for i in range(good):
                g = grad + xi[r, i]
                m[r, i] = g if t == 0 else (1 - beta) * g + beta * m[r, i]
            mu = np.array([np.mean(m[r, :, j]) for j in range(D)])
            s = np.array([np.std(m[r, :, j], ddof=1) for j in range(D)])
            inputs = [m[r, i] for i in range(good)] + [mu - z * s for _ in range(f)]
            if agg_name == "cm":
                u = np.array([np.median([vec[j] for vec in inputs]) for j in range(D)])
            else:  # centered clipping, one iteration from the previous centre
                step = np.zeros(D)
                for vec in inputs:
                    diff = vec - v[r]
                    nrm = np.sqrt(diff @ diff)
                    step += diff * min(1.0, tau / nrm) if nrm > 0 else 0.0
                u = v[r] + step / len(inputs)
                v[r] = u
            x[r] = x[r] - gamma * u
    return out


@pytest.mark.parametrize("agg_name", ["cm", "cc"])
def test_batched_run_equals_an_explicit_loop_over_replicas_and_workers(agg_name: str) -> None:
    q = Quadratic.isotropic(D, 1.0, R0=1.0, noise=SIGMA, seed=3)
    good, f, T, R, gamma, beta = 7, 2, 12, 3, 0.1, 0.6
    agg = CoordinateMedian(f) if agg_name == "cm" else CenteredClip(f, tau=1.0, l=1)
    every = np.arange(1, T + 1)
    tr = byzantine_sgd(IIDClients(q, good), agg, ALIE(), f, gamma, beta, T, R, np.random.default_rng(11), every, measures=("gnorm2",))
    ref = _loop_reference(q, good, f, agg_name, gamma, beta, T, R, 11)
    np.testing.assert_allclose(tr.values["gnorm2"], ref[:, 1:], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(tr.values["avg_gnorm2"][:, -1], ref[:, :T].mean(axis=1), rtol=1e-10)


def test_same_generator_state_same_trace_and_another_seed_differs() -> None:
    args = (_problem(8), Krum(2), ALIE(), 2, 0.05, 0.9, 50, 6)
    a = byzantine_sgd(*args, np.random.default_rng(5))
    b = byzantine_sgd(*args, np.random.default_rng(5))
    c = byzantine_sgd(*args, np.random.default_rng(6))
    for name in a.values:
        np.testing.assert_array_equal(a.values[name], b.values[name])
    assert not np.array_equal(a.values["gnorm2"], c.values["gnorm2"])


def test_mean_without_byzantine_workers_has_zero_aggregation_error() -> None:
    tr = byzantine_sgd(_problem(5), Mean(0), None, 0, 0.1, 0.5, 30, 4, np.random.default_rng(0))
    assert np.all(tr.values["agg_err"] <= 1e-28)


def test_momentum_spread_has_its_exact_mean_at_every_step() -> None:
    """E rho2_t = 2 sigma^2 (alpha (1 - (1-alpha)^(2t))/(2 - alpha) + (1-alpha)^(2t)) [DERIVED, module docstring]: the
    spread comes from the noise alone (every good worker sees the same x_t). 6 standard errors, fixed seed."""
    beta, R, T = 0.8, 400, 40
    alpha = 1 - beta
    every = np.arange(1, T + 1)
    tr = byzantine_sgd(_problem(6), CoordinateMedian(1), ALIE(), 1, 0.05, beta, T, R, np.random.default_rng(2), every,
                       measures=("rho2",))
    t = every.astype(float)
    decay = (1 - alpha) ** (2 * t)
    predicted = 2 * SIGMA**2 * (alpha * (1 - decay) / (2 - alpha) + decay)
    X = tr.values["rho2"]
    z = (X.mean(axis=0) - predicted) / (X.std(axis=0, ddof=1) / np.sqrt(R))
    assert np.max(np.abs(z)) < 6, f"max |z| = {np.max(np.abs(z)):.2f}"
    wrong = 2 * SIGMA**2 * np.ones_like(t)  # the power: the spread of raw gradients (no momentum) is rejected
    z_wrong = (X.mean(axis=0)[-1] - wrong[-1]) / (X.std(axis=0, ddof=1)[-1] / np.sqrt(R))
    assert abs(z_wrong) > 6


@pytest.mark.parametrize("beta", [1.0, -0.1, 1.5, float("nan")])
def test_beta_outside_the_unit_interval_is_an_input_error_naming_beta(beta: float) -> None:
    with pytest.raises(InputError, match="beta"):
        byzantine_sgd(_problem(8), CoordinateMedian(2), ALIE(), 2, 0.1, beta, 10, 2, np.random.default_rng(0))


def test_a_byzantine_majority_is_an_input_error_naming_f() -> None:
    with pytest.raises(InputError, match=r"f must be < n/2"):
        byzantine_sgd(_problem(4), CoordinateMedian(4), ALIE(), 4, 0.1, 0.5, 10, 2, np.random.default_rng(0))


def test_an_aggregator_whose_requirement_fails_is_an_input_error_naming_n_and_f() -> None:
    with pytest.raises(InputError, match=r"Krum needs n > 2f \+ 2, got n=10, f=4"):  # 10 > 2*4 + 2 fails
        byzantine_sgd(_problem(6), Krum(4), ALIE(), 4, 0.1, 0.5, 10, 2, np.random.default_rng(0))


def test_an_aggregator_built_for_fewer_byzantine_inputs_is_an_input_error() -> None:
    with pytest.raises(InputError, match="agg tolerates f=1"):
        byzantine_sgd(_problem(8), CoordinateMedian(1), ALIE(), 2, 0.1, 0.5, 10, 2, np.random.default_rng(0))


def test_bad_gamma_and_missing_attack_are_input_errors() -> None:
    with pytest.raises(InputError, match="gamma"):
        byzantine_sgd(_problem(8), CoordinateMedian(2), ALIE(), 2, 0.0, 0.5, 10, 2, np.random.default_rng(0))
    with pytest.raises(InputError, match="attack"):
        byzantine_sgd(_problem(8), CoordinateMedian(2), None, 2, 0.1, 0.5, 10, 2, np.random.default_rng(0))


def test_ipm_against_the_mean_diverges_as_a_recorded_verdict_without_nan() -> None:
    """IPM with eps = 5 > (n - f)/f = 4 reverses the mean [DERIVED]: the run diverges; the trace says when, its values are
    inf (never NaN), and the Converges check FAILs naming the step."""
    tr = byzantine_sgd(_problem(20), Mean(5), IPM(5.0), 5, 0.1, 0.0, 3000, 4, np.random.default_rng(0))
    assert np.all(tr.diverged_at > 0)
    assert not np.isnan(tr.values["gnorm2"]).any() and not np.isnan(tr.values["avg_gnorm2"]).any()
    assert np.isinf(tr.values["gnorm2"][:, -1]).all()
    tr.constants.update({"L": 1.0, "R0": 1.0})
    check = Converges("IPM vs mean converges", "ipm", measure="gnorm2", bound=L**2 * R0, expected=FAIL)
    out = check.evaluate(None, {"ipm": [Run({"agg": "mean"}, tr)]})
    assert out.observed == FAIL
    assert f"diverged at step {tr.first_divergence()}" in out.summary
