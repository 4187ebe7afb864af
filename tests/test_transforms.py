"""Tests for ratecheck/transforms.py, the step loop (ratecheck/algorithms/loop.py) and the client oracle
(ratecheck/problem.py): chains equal the hand-written updates on a fixed seed, no state is modified in
place, the EF memory obeys the virtual-sequence identity, the momentum and clipping formulas, and the
i.i.d. client adapter's shapes and independent noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from problems.counterexamples import ShiftedWorkers
from problems.federated import FederatedQuadratic
from problems.quadratic import Quadratic
from ratecheck.algorithms.error_feedback import ef_sgd_update
from ratecheck.algorithms.loop import run_steps
from ratecheck.compressors import Identity, RandomK, TopK
from ratecheck.problem import ClientProblem, IIDClients, broadcast_clients, shared_point
from ratecheck.transforms import (
    chain,
    clip,
    compress,
    error_feedback,
    mean_aggregator,
    momentum,
    powersgd_allreduce,
    scale,
)
from ratecheck.validate import InputError

Z = 6.0  # Monte Carlo tolerance in standard errors
EPS = np.finfo(float).eps


def _copy(state):
    """A deep copy of a nested state (tuples / NamedTuples of arrays and None)."""
    if isinstance(state, np.ndarray):
        return state.copy()
    if isinstance(state, tuple):
        items = [_copy(s) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    return state


def _assert_same(a, b) -> None:
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a is b or a == b


CHAINS = {
    "ef-sgd": lambda: ef_sgd_update(RandomK(2, scaled=False), 0.1),
    "qsgd": lambda: chain(compress(RandomK(2)), scale(0.1)),
    "momentum": lambda: chain(momentum(0.9), scale(0.1)),
    "heavy-ball": lambda: chain(momentum(0.9, damped=False), scale(0.1)),
    "clip": lambda: chain(clip(0.5), scale(0.1)),
    "ef-mean": lambda: error_feedback(mean_aggregator()),
    "ef-powersgd": lambda: error_feedback(powersgd_allreduce(1, (2, 3))),
    "powersgd-cold": lambda: powersgd_allreduce(2, (2, 3), warm_start=False),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_update_does_not_modify_the_state_or_the_input(name: str) -> None:
    tx = CHAINS[name]()
    rng = np.random.default_rng(0)
    aggregates = name.startswith(("ef-mean", "ef-powersgd", "powersgd"))
    template = np.zeros((4, 6)) if aggregates else np.zeros(6)
    state = tx.init(template, 3, rng)
    for _ in range(3):  # a few steps, so that the memories are not zero
        g = rng.standard_normal((3, *template.shape))
        before, g_before = _copy(state), g.copy()
        _, new = tx.update(g, state, rng)
        _assert_same(state, before)  # the caller's state is as it was
        np.testing.assert_array_equal(g, g_before)
        state = new


def test_chain_equals_the_hand_written_ef_sgd_and_qsgd() -> None:
    """EF-SGD as chain(scale, error_feedback(compress)) is bit-identical to the lecture's lines."""
    C, gamma, R, d = TopK(2), 0.3, 4, 7
    g_seq = np.random.default_rng(1).standard_normal((20, R, d))
    tx = ef_sgd_update(C, gamma)
    state = tx.init(np.zeros(d), R, np.random.default_rng(0))
    e = np.zeros((R, d))
    for g in g_seq:
        v, state = tx.update(g, state, np.random.default_rng(2))
        u = e + gamma * g  # by hand: v_t = C(e_t + gamma g_t), e_{t+1} = e_t + gamma g_t - v_t
        v_hand = C(u, np.random.default_rng(2))
        e = u - v_hand
        np.testing.assert_array_equal(v, v_hand)
        np.testing.assert_array_equal(state[1].e, e)
    Q = RandomK(3)
    tq = chain(compress(Q), scale(gamma))
    u, _ = tq.update(g_seq[0], tq.init(np.zeros(d), R, None), np.random.default_rng(5))
    np.testing.assert_array_equal(u, gamma * Q(g_seq[0], np.random.default_rng(5)))


@pytest.mark.parametrize("n", [None, 3])
def test_ef_memory_gives_the_virtual_sequence(n: int | None) -> None:
    """x~_t = x_t - e_t (n workers: x_t - mean_i e_{i,t}) follows x~_{t+1} = x~_t - gamma g_t to rounding,
    for the chained EF with any compressor (Stich et al. 2018; lecture, Proof I)."""
    R, d, gamma = 5, 9, 0.2
    rng = np.random.default_rng(3)
    shape = (d,) if n is None else (n, d)
    workers, server = ef_sgd_update(RandomK(2, scaled=False), gamma), mean_aggregator()
    state = workers.init(np.zeros(shape), R, rng)
    x = rng.standard_normal((R, d))
    y = x.copy()
    for _ in range(200):
        g = rng.standard_normal((R, *shape))
        v, state = workers.update(g, state, rng)
        if n is None:
            x, y = x - v, y - gamma * g
        else:
            x, y = x - server.update(v, None, rng)[0], y - gamma * g.mean(axis=1)
        e = state[1].e if n is None else state[1].e.mean(axis=1)
        assert np.abs((x - e) - y).max() <= 1e3 * EPS * max(1.0, np.abs(x).max(), np.abs(y).max())


def test_momentum_damping_and_heavy_ball_formulas() -> None:
    beta, R, d = 0.7, 2, 3
    g_seq = np.random.default_rng(4).standard_normal((5, R, d))
    damped, heavy = momentum(beta), momentum(beta, damped=False)
    s_d, s_h = damped.init(np.zeros(d), R, None), heavy.init(np.zeros(d), R, None)
    m_d = m_h = np.zeros((R, d))
    for g in g_seq:
        u_d, s_d = damped.update(g, s_d, None)
        u_h, s_h = heavy.update(g, s_h, None)
        m_d, m_h = (1 - beta) * g + beta * m_d, beta * m_h + g
        np.testing.assert_array_equal(u_d, m_d)
        np.testing.assert_array_equal(u_h, m_h)
    # a constant g: the damped buffer tends to g, the heavy ball's to g/(1 - beta)
    g = np.ones((R, d))
    for _ in range(200):
        u_d, s_d = damped.update(g, s_d, None)
        u_h, s_h = heavy.update(g, s_h, None)
    np.testing.assert_allclose(u_d, g, rtol=1e-12)
    np.testing.assert_allclose(u_h, g / (1 - beta), rtol=1e-12)
    with pytest.raises(InputError, match="beta"):
        momentum(1.0)


def test_clipping_norm_is_at_most_tau() -> None:
    tau = 0.5
    g = np.random.default_rng(5).standard_normal((100, 4, 6)) * 10.0 ** np.random.default_rng(6).uniform(-3, 3, (100, 4, 1))
    g[0, 0] = 0.0
    u, _ = clip(tau).update(g, None, None)
    norm_g, norm_u = np.linalg.norm(g, axis=-1), np.linalg.norm(u, axis=-1)
    assert np.all(norm_u <= tau * (1 + 4 * EPS))
    small = norm_g <= tau
    np.testing.assert_array_equal(u[small], g[small])  # untouched below tau (including g = 0)
    np.testing.assert_allclose(norm_u[~small], tau, rtol=1e-12)
    np.testing.assert_allclose(u[~small] / norm_u[~small, None], g[~small] / norm_g[~small, None], rtol=1e-12)  # same direction
    with pytest.raises(InputError, match="tau"):
        clip(0.0)


def test_powersgd_allreduce_warm_state_and_fresh_query() -> None:
    """Warm start carries the averaged Q_new; a cold start draws a fresh query (``used``) every step."""
    tx = powersgd_allreduce(1, (3, 4))
    rng = np.random.default_rng(7)
    state = tx.init(np.zeros((2, 12)), 5, rng)
    g = rng.standard_normal((5, 2, 12))
    out, new = tx.update(g, state, rng)
    assert out.shape == (5, 12) and new.Q.shape == (5, 4, 1)
    np.testing.assert_array_equal(new.used, state.Q)
    cold = powersgd_allreduce(1, (3, 4), warm_start=False)
    _, c1 = cold.update(g, state, np.random.default_rng(8))
    assert not np.array_equal(c1.used, state.Q)
    with pytest.raises(InputError, match="rank"):
        powersgd_allreduce(4, (3, 4))


def test_chain_composes_in_order_and_needs_a_transform() -> None:
    g = np.full((1, 2), 3.0)
    u, _ = chain(scale(2.0), clip(1.0)).update(g, (None, None), None)  # clip after scaling
    np.testing.assert_allclose(np.linalg.norm(u), 1.0)
    u, _ = chain(clip(1.0), scale(2.0)).update(g, (None, None), None)
    np.testing.assert_allclose(np.linalg.norm(u), 2.0)
    with pytest.raises(InputError):
        chain()


# ----------------------------------------------------------------------------------------------------
# the step loop


def test_run_steps_records_stops_at_T_and_on_divergence() -> None:
    resumed = []

    def steps(factor: float):
        x = np.ones(3)
        t = 0
        while True:
            yield {"v": x}
            resumed.append(t)
            x = x * factor
            t += 1

    tr = run_steps(steps(1.0), 10, 3, np.arange(1, 11))
    assert resumed == list(range(10))  # never resumed after t = T
    np.testing.assert_array_equal(tr.values["v"], 1.0)
    resumed.clear()
    tr = run_steps(steps(1e6), 50, 3, np.arange(1, 51))
    assert np.all(tr.diverged_at == 2) and np.all(np.isinf(tr.values["v"][:, 2:]))  # 1e12 > 1e10 x start
    assert resumed == [0, 1]  # stopped once every replica diverged


# ----------------------------------------------------------------------------------------------------
# the client oracle


def test_client_oracle_shapes_and_protocol() -> None:
    f = Quadratic.log_spaced(5, 0.1, 1.0, noise=1.0, seed=0)
    fed = FederatedQuadratic.random(3, 5, 0.1, 1.0, 0.5, noise=1.0, seed=0)
    shifted = ShiftedWorkers(f, 3, 0.5, seed=0)
    rng = np.random.default_rng(0)
    for P in (IIDClients(f, 3), IIDClients(f, 3, one_gradient=False), fed, shifted):
        assert isinstance(P, ClientProblem)
        y = rng.standard_normal((4, 3, 5))  # every client at its own point
        assert P.client_stoch_grads(y, rng).shape == (4, 3, 5)
        assert P.client_stoch_grads(broadcast_clients(y[:, 0], 3), rng).shape == (4, 3, 5)
    assert not isinstance(f, ClientProblem)
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(shared_point(broadcast_clients(x, 3)), x)
    assert shared_point(np.ascontiguousarray(broadcast_clients(x, 3))) is None
    assert IIDClients(f, 3).constants["n"] == 3.0
    with pytest.raises(InputError, match="n"):
        IIDClients(f, 0)


def test_iid_clients_fast_path_same_draws_and_own_points() -> None:
    """The additive fast path at a shared point is grad f(x) + n noise draws; at distinct points each
    client is evaluated at its own y_i."""
    f = Quadratic.log_spaced(5, 0.1, 1.0, noise=1.0, seed=0)
    x = np.random.default_rng(1).standard_normal((4, 5))
    fast = IIDClients(f, 3).client_stoch_grads(broadcast_clients(x, 3), np.random.default_rng(2))
    expected = f.grad(x)[:, None, :] + f.noise.sample((4, 3, 5), np.random.default_rng(2))
    np.testing.assert_array_equal(fast, expected)
    exact = IIDClients(Quadratic.log_spaced(5, 0.1, 1.0, noise=0.0, seed=0), 3)
    y = np.random.default_rng(3).standard_normal((4, 3, 5))
    np.testing.assert_allclose(exact.client_stoch_grads(y, np.random.default_rng(0)), f.grad(y), rtol=1e-12, atol=1e-15)


def test_iid_clients_noise_is_independent_across_clients() -> None:
    """E <xi_i, xi_j> = 0 for i != j and E||xi_i||^2 = sigma^2, by Monte Carlo (Gaussian: Var <xi_i, xi_j> =
    sigma^4/d, Var ||xi||^2 = 2 sigma^4/d), on both paths of the adapter."""
    sigma, d, n, N = 1.5, 6, 3, 40_000
    f = Quadratic.isotropic(d, 1.0, noise=sigma, seed=0)
    x = np.zeros((N, d)) + f.x_star
    for clients in (IIDClients(f, n), IIDClients(f, n, one_gradient=False)):
        xi = clients.client_stoch_grads(broadcast_clients(x, n), np.random.default_rng(9)) - f.grad(x)[:, None, :]
        s4 = sigma**4
        for i in range(n):
            assert abs(np.mean(np.sum(xi[:, i] ** 2, axis=-1)) - sigma**2) <= Z * math.sqrt(2 * s4 / d / N)
            for j in range(i + 1, n):
                assert abs(np.mean(np.sum(xi[:, i] * xi[:, j], axis=-1))) <= Z * math.sqrt(s4 / d / N)
        assert not np.array_equal(xi[:, 0], xi[:, 1])


def test_identity_compressor_chain_is_the_identity() -> None:
    g = np.random.default_rng(0).standard_normal((2, 3, 4))
    u, _ = compress(Identity()).update(g, None, np.random.default_rng(0))
    np.testing.assert_array_equal(u, g)
