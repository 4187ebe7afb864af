"""EF-PowerSGD (ratecheck.algorithms.powersgd), the low-rank check kinds (ratecheck.checks) and the
planted-wrong copies of theorems/powersgd.py (THEOREMS.md T3.1).

The batched algorithm is compared with a slow transcription of the paper code (epfml/powersgd
paper-code/gradient_reducers.py RankKReducer: per worker, sum all-reduce, Gram-Schmidt) on the same random
draws; every check kind is shown to PASS on data that satisfies its claim and to FAIL on data that does
not. The planted copies (tests/planted_copies.py) differ from the real theorem file in one declared line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from problems.least_squares import MatrixLeastSquares
from ratecheck.algorithms.powersgd import (
    allreduce_compress,
    ef_powersgd,
    local_compress_then_average,
    orthogonalize,
)
from ratecheck.checks import Converges, GeometricRate, MeanVersusBound, Observation, WithinRounding
from ratecheck.compressors import PowerSGD
from ratecheck.problem import IIDClients
from ratecheck.theorem import FAIL, INCONCLUSIVE, PASS, Run, T, Theorem
from ratecheck.trace import Trace
from ratecheck.validate import InputError

ROOT = Path(__file__).resolve().parents[1]
# planted copy (tests/planted_copies.py) -> the check that must come out FAIL although expected PASS
MUST_FAIL = {
    "powersgd_delta_2r_over_m.py": "P2 rank 1: E captured energy >= 1/m",
    "powersgd_energy_rate_2t.py": "P3 warm start: energy error ~ (sigma_{r+1}/sigma_r)^{4t}",
    "powersgd_step_x8.py": "EF-PowerSGD and SGD contract at every tuned step, including the cap 1/(2L)",
}


# ----------------------------------------------------------------------------------------------------
# the compression step


def _gram_schmidt(P: np.ndarray) -> np.ndarray:
    """The paper code's orthogonalize (without its eps), column by column."""
    P = P.copy()
    for i in range(P.shape[1]):
        P[:, i] /= np.linalg.norm(P[:, i])
        if i + 1 < P.shape[1]:
            P[:, i + 1:] -= np.outer(P[:, i], P[:, i] @ P[:, i + 1:])
    return P


@pytest.mark.parametrize("n, rows, cols, r", [(1, 5, 4, 1), (3, 6, 5, 2), (4, 8, 6, 3), (2, 5, 7, 4)])
def test_allreduce_is_the_compression_of_the_mean(n: int, rows: int, cols: int, r: int) -> None:
    """T3.1 P1 against compressors.PowerSGD on the mean and a per-worker transcription of RankKReducer;
    the local-orthogonalization variant differs (n > 1 workers)."""
    rng = np.random.default_rng(n * 100 + r)
    M = rng.standard_normal((10, n, rows, cols)) * 10.0 ** rng.uniform(-2, 2, size=(10, n, 1, 1))
    Q = rng.standard_normal((10, cols, r))
    out, Q_new = allreduce_compress(M, Q)
    single, _ = PowerSGD(r).step(M.mean(axis=1), Q, rng)
    scale = np.abs(M.mean(axis=1)).max()
    assert np.max(np.abs(out - single)) <= 1e-11 * scale
    for i in range(10):  # RankKReducer: p = sum_j M_j q; orthogonalize; q = (1/n) sum_j M_j^T p; out = p q^T
        p = _gram_schmidt(sum(M[i, j] @ Q[i] for j in range(n)))
        q = sum(M[i, j].T @ p for j in range(n)) / n
        assert np.allclose(out[i], p @ q.T, rtol=1e-10, atol=1e-12 * scale)
        assert np.allclose(np.abs(Q_new[i]), np.abs(q), rtol=1e-9, atol=1e-12 * scale)  # columns up to sign
    if n > 1:
        assert np.max(np.abs(local_compress_then_average(M, Q) - single)) > 1e-3 * scale


def test_orthogonalize() -> None:
    rng = np.random.default_rng(0)
    for r in (1, 3):
        P = rng.standard_normal((7, 9, r))
        P_hat = orthogonalize(P)
        assert np.allclose(np.swapaxes(P_hat, -1, -2) @ P_hat, np.eye(r), atol=1e-12)
        assert np.allclose(P_hat @ (np.swapaxes(P_hat, -1, -2) @ P), P, atol=1e-12)  # same span
    zero = orthogonalize(np.zeros((2, 5, 1)))
    assert np.all(np.isfinite(zero)) and np.allclose(np.sum(zero**2, axis=(-2, -1)), 1.0)


# ----------------------------------------------------------------------------------------------------
# the EF-PowerSGD loop


def _problem(noise: float) -> MatrixLeastSquares:
    return MatrixLeastSquares.random(20, 5, 4, noise_level=0.1, seed=3, noise=noise, X0=np.ones((5, 4)))


def _reference(f: MatrixLeastSquares, rank: int, n_workers: int, gamma: float, T_: int, R: int, seed: int, warm: bool) -> np.ndarray:
    """Per replica and per worker, following the paper's loop (Alg. 2 without momentum, RankKReducer memory
    mem = tensor - out), with the random numbers drawn in the order ef_powersgd draws them. Returns
    f(x_t) - f* for t = 0..T, shape (R, T + 1). Along the way it asserts the virtual-iterate identity of
    the module docstring: x_t - gamma ebar_t equals mini-batch SGD y_t on the same gradients."""
    W = n_workers
    n, m = f.shape  # rows, cols of the gradient matrices
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((R, m, rank))
    x = np.tile(f.x0, (R, 1))
    y = x.copy()  # y_{t+1} = y_t - gamma gbar_t
    e = np.zeros((R, W, n, m))
    out = np.empty((R, T_ + 1))
    for t in range(T_ + 1):
        noise = f.noise.sample((R, W, n * m), rng)
        if not warm:
            Q = rng.standard_normal((R, m, rank))
        for i in range(R):
            out[i, t] = f.loss(x[i]) - f.f_star
            assert np.allclose(x[i] - gamma * e[i].mean(axis=0).ravel(), y[i], rtol=1e-10, atol=1e-12)
            grad = f.grad(x[i]).reshape(n, m)
            y[i] = y[i] - gamma * (grad.ravel() + noise[i].mean(axis=0))
            Delta = [grad + noise[i, w].reshape(n, m) + e[i, w] for w in range(W)]
            p = _gram_schmidt(sum(D @ Q[i] for D in Delta))
            q = sum(D.T @ p for D in Delta) / W
            approx = p @ q.T
            for w in range(W):
                e[i, w] = Delta[w] - approx
            x[i] = x[i] - gamma * approx.ravel()
            Q[i] = q
    return out


@pytest.mark.parametrize("warm", [True, False])
def test_batched_loop_equals_the_per_worker_transcription(warm: bool) -> None:
    f = _problem(noise=0.5)
    T_, R, n, rank, gamma = 30, 3, 3, 2, 0.05
    trace = ef_powersgd(IIDClients(f, n), f.shape, rank, gamma, T_, R, np.random.default_rng(11), warm_start=warm,
                        checkpoints=np.arange(1, T_ + 1))
    ref = _reference(f, rank, n, gamma, T_, R, 11, warm)
    assert np.allclose(trace.values["subopt"], ref[:, 1:], rtol=1e-9, atol=1e-12)
    assert np.allclose(trace.values["avg_subopt"][:, -1], ref[:, :-1].mean(axis=1), rtol=1e-9)
    assert np.max(trace.values["allreduce_gap"]) < 1e-12


def test_full_rank_is_exact_minibatch_sgd() -> None:
    """rank = min(n, m): nothing is lost (delta_t = 1, memory 0), so EF-PowerSGD is mini-batch SGD."""
    f = _problem(noise=0.0)
    a = ef_powersgd(IIDClients(f, 2), f.shape, 4, 0.1, 50, 2, np.random.default_rng(0))
    b = ef_powersgd(IIDClients(f, 2), f.shape, None, 0.1, 50, 2, np.random.default_rng(0))
    assert np.allclose(a.values["delta_obs"], 1.0, atol=1e-12) and np.max(a.values["e2"]) < 1e-24
    assert np.allclose(a.values["subopt"], b.values["subopt"], rtol=1e-9, atol=1e-14)
    low = ef_powersgd(IIDClients(f, 2), f.shape, 1, 0.1, 50, 2, np.random.default_rng(0))
    assert np.min(low.values["delta_obs"]) < 0.999  # rank 1 does lose something: the test can fail


def test_ef_off_keeps_no_memory_and_bad_input_is_refused() -> None:
    f = _problem(noise=0.5)
    clients = IIDClients(f, 2)
    tr = ef_powersgd(clients, f.shape, 1, 0.05, 20, 2, np.random.default_rng(0), error_feedback=False)
    assert np.all(tr.values["e2"] == 0)
    with pytest.raises(InputError, match="rows\\*cols"):
        ef_powersgd(clients, (4, 4), 1, 0.05, 20, 2, np.random.default_rng(0))
    with pytest.raises(InputError, match="rank must be an integer in \\[1, 4\\]"):
        ef_powersgd(clients, f.shape, 5, 0.05, 20, 2, np.random.default_rng(0))
    with pytest.raises(InputError, match="n must be an integer >= 1"):
        IIDClients(f, 0)
    with pytest.raises(InputError, match="ClientProblem"):
        ef_powersgd(f, f.shape, 1, 0.05, 20, 2, np.random.default_rng(0))  # a single objective: IIDClients(f, n) needed


# ----------------------------------------------------------------------------------------------------
# the check kinds, each shown to pass and to fail

THM = Theorem(title="t", source="s", statement="s", assumptions=[], bound=T, measure="m", sweeps=[], checks=[])
rho = sp.Symbol("rho", positive=True)


def _runs(values: dict[str, np.ndarray], t: np.ndarray, constants: dict, diverged: np.ndarray | None = None) -> dict[str, list[Run]]:
    R = next(iter(values.values())).shape[0]
    dv = np.full(R, -1) if diverged is None else diverged
    return {"s": [Run({"p": 1}, Trace(t, values, dv, constants))]}


def test_geometric_rate_passes_on_the_true_rate_and_fails_on_a_wrong_one() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(1, 41)
    c = np.exp(rng.standard_normal((200, 1)))  # random prefactors, one per replica
    X = c * 0.7 ** t * np.exp(0.01 * rng.standard_normal((200, 40)))
    res = _runs({"x": X}, t, {"rho": 0.7})
    assert GeometricRate("g", "s", measure="x", bound=rho**T, t_min=3).evaluate(THM, res).observed == PASS
    assert GeometricRate("g", "s", measure="x", bound=rho ** (2 * T), t_min=3).evaluate(THM, res).observed == FAIL
    assert GeometricRate("g", "s", measure="x", bound=rho ** (T**2), t_min=3).evaluate(THM, res).observed == FAIL
    assert GeometricRate("g", "s", measure="x", bound=rho**T, floor=1.0).evaluate(THM, res).observed == INCONCLUSIVE


def test_mean_versus_bound() -> None:
    rng = np.random.default_rng(1)
    X = (0.3 + 0.05 * rng.standard_normal(400))[:, None]  # se = 0.0025: the bounds below are 8-12 se away
    res = _runs({"x": X}, np.array([1]), {"a": 0.3})
    a = sp.Symbol("a", positive=True)
    assert MeanVersusBound("m", "s", measure="x", bound=a - sp.Rational(3, 100)).evaluate(THM, res).observed == PASS
    assert MeanVersusBound("m", "s", measure="x", bound=a + sp.Rational(3, 100)).evaluate(THM, res).observed == FAIL
    assert MeanVersusBound("m", "s", measure="x", relation="exact", bound=a).evaluate(THM, res).observed == PASS
    assert MeanVersusBound("m", "s", measure="x", relation="exact", bound=a + sp.Rational(1, 50)).evaluate(THM, res).observed == FAIL


def test_exact_identity_ends_below_and_observation() -> None:
    t = np.array([1, 2])
    ok = _runs({"g": np.full((3, 2), 1e-15)}, t, {})
    bad = _runs({"g": np.array([[1e-15, 1e-15], [1e-15, 1e-6], [0, 0]])}, t, {})
    assert WithinRounding("e", "s", measure="g", tol=1e-12).evaluate(THM, ok).observed == PASS
    assert WithinRounding("e", "s", measure="g", tol=1e-12).evaluate(THM, bad).observed == FAIL
    R0_ = sp.Symbol("R0", positive=True)
    below = _runs({"d": np.array([[1.0, 0.1], [1.0, 0.12], [1.0, 0.11]])}, t, {"R0": 1.0})
    assert Converges("b", "s", measure="d", bound=R0_).evaluate(THM, below).observed == PASS
    diverged = _runs({"d": np.array([[1.0, np.inf], [1.0, 0.12], [1.0, 0.11]])}, t, {"R0": 1.0}, np.array([2, -1, -1]))
    assert Converges("b", "s", measure="d", bound=R0_).evaluate(THM, diverged).observed == FAIL
    seen = Observation("o", "s", observe=lambda runs: ("fine", {"n": len(runs)}, None))
    assert seen.evaluate(THM, below).observed == PASS
    assert seen.evaluate(THM, diverged).observed == INCONCLUSIVE


# ----------------------------------------------------------------------------------------------------
# planted-wrong copies of the theorem


@pytest.mark.parametrize("name", sorted(MUST_FAIL))
def test_planted_copy_fails_its_check(name: str, planted_dir: Path) -> None:
    """The check the planted line breaks comes out FAIL, from only the sweep points it needs (the step-cap
    copy: the cap points T = 16, where a step of 4/L diverges)."""
    from ratecheck.run import load, run_point

    thm = load(str(planted_dir / name))
    check = next(c for c in thm.checks if c.name == MUST_FAIL[name])
    sw = thm.sweep(check.sweep)
    points, R = sw.plan(True)
    if sw.name == "ef-tuned":
        points = [p for p in points if p["T"] == 16]
    rng = np.random.default_rng(0)
    runs = {sw.name: [Run(p, run_point(thm, sw.name, p, R, rng)[0]) for p in points]}
    outcome = check.evaluate(thm, runs)
    assert check.expected == PASS and outcome.observed == FAIL, outcome.summary
