"""Tests for ratecheck/algorithms/decentralized.py (D-SGD, Koloskova et al. ICML 2020; THEOREMS.md T3.2 (b)):

  * the batched algorithm equals a per-node Python reference (loops over replicas, nodes and neighbours) on the
    same noise draws, with and without local updates;
  * with W doubly stochastic the average follows mini-batch SGD with the averaged gradients at the x_i,
    xbar_{t+1} = xbar_t - eta (1/n) sum_i g_i(x_i^t), to rounding, and a row-stochastic W breaks it (the test has power);
  * bad input raises InputError naming the parameter; equal seeds give equal traces.
"""

from __future__ import annotations

import numpy as np
import pytest

from problems.federated import HeterogeneousClients
from ratecheck.algorithms.decentralized import d_sgd
from ratecheck.mixing import parse
from ratecheck.validate import InputError

RTOL = 1e-12  # the batched and the looped computation differ by rounding only


def clients(n: int = 4, d: int = 3, sigma: float = 0.5, delta_H: float = 0.3) -> HeterogeneousClients:
    return HeterogeneousClients.g3(n, d, mu=0.5, L=1.0, delta_H=delta_H, zeta=1.0, R0=2.0, noise=sigma, seed=3)


def reference(f: HeterogeneousClients, W: np.ndarray, eta: float, T: int, R: int, seed: int, tau_c: int) -> dict[str, np.ndarray]:
    """D-SGD node by node: x_i <- x_i - eta (H_i (x_i - x*) + w_i + xi_i), then x_i <- sum_j W_ij x_j when tau_c | t + 1.
    The noise is drawn as the algorithm draws it (one (R, n, d) standard normal array per step, scaled)."""
    rng = np.random.default_rng(seed)
    n, d = f.n, f.d
    scale = f.constants["sigma"] / np.sqrt(d)
    X = [[f.x0.copy() for _ in range(n)] for _ in range(R)]
    out = {"gnorm2": np.zeros((R, T)), "consensus": np.zeros((R, T))}
    for t in range(T + 1):
        if t > 0:
            for r in range(R):
                xbar = sum(X[r]) / n
                g = f.H @ (xbar - f.x_star)  # grad f at the average (c = 0)
                out["gnorm2"][r, t - 1] = g @ g
                out["consensus"][r, t - 1] = sum((x - xbar) @ (x - xbar) for x in X[r]) / n
        if t == T:
            break
        xi = rng.standard_normal((R, n, d)) * scale
        for r in range(R):
            half = [X[r][i] - eta * (f.H_clients[i] @ (X[r][i] - f.x_star) + f.w[i] + xi[r, i]) for i in range(n)]
            if (t + 1) % tau_c == 0:
                X[r] = [sum(W[i, j] * half[j] for j in range(n)) for i in range(n)]
            else:
                X[r] = half
    return out


@pytest.mark.parametrize("tau_c", [1, 3])
def test_equals_the_per_node_reference(tau_c: int) -> None:
    f, W = clients(), parse("ring:4")
    T, R, eta, seed = 12, 3, 0.2, 5
    tr = d_sgd(f, W, eta, T, R, np.random.default_rng(seed), tau_c=tau_c, checkpoints=np.arange(1, T + 1))
    ref = reference(f, W.W, eta, T, R, seed, tau_c)
    for m in ("gnorm2", "consensus"):
        np.testing.assert_allclose(tr.values[m], ref[m], rtol=RTOL, atol=1e-300)
    assert tr.constants["tau_c"] == tau_c and tr.constants["eta"] == eta and tr.constants["p"] == W.p


class Recording:
    """The clients of ``f`` with every oracle call recorded: the points X^t and the returned gradients G(X^t)."""

    def __init__(self, f: HeterogeneousClients) -> None:
        self.f, self.points, self.grads = f, [], []
        self.n, self.d, self.x0, self.x_star, self.f_star, self.constants = f.n, f.d, f.x0, f.x_star, f.f_star, f.constants

    def loss(self, x):
        return self.f.loss(x)

    def grad(self, x):
        return self.f.grad(x)

    def client_stoch_grads(self, y, rng):
        g = self.f.client_stoch_grads(y, rng)
        self.points.append(np.array(y))
        self.grads.append(np.array(g))
        return g


def average_gaps(W_spec: str, tau_c: int, doubly: bool = True) -> np.ndarray:
    """max |xbar_{t+1} - (xbar_t - eta mean_i g_i(x_i^t))| relative to |xbar|, over the steps of one run."""
    W = parse(W_spec)
    f = Recording(clients(n=W.n, sigma=0.7))
    eta = 0.1
    d_sgd(f, W, eta, 30, 4, np.random.default_rng(1), tau_c=tau_c, doubly_stochastic=doubly)
    gaps = []
    for X, G, X_next in zip(f.points, f.grads, f.points[1:]):
        predicted = X.mean(axis=1) - eta * G.mean(axis=1)  # mini-batch SGD with the averaged gradients at the x_i
        gaps.append(np.abs(X_next.mean(axis=1) - predicted).max() / max(np.abs(X_next).max(), 1.0))
    return np.array(gaps)


@pytest.mark.parametrize("W_spec, tau_c", [("ring:6", 1), ("torus:3x4", 1), ("ring:6", 4), ("two-rings:8", 2), ("complete:4", 1)])
def test_the_average_is_minibatch_sgd_with_the_averaged_gradients(W_spec: str, tau_c: int) -> None:
    assert average_gaps(W_spec, tau_c).max() <= 1e-14


def test_a_row_stochastic_W_moves_the_average_elsewhere() -> None:
    gaps = average_gaps("star-random-walk:6", 1, doubly=False)
    assert gaps.max() > 1e-3  # the identity above is not vacuous: 1^T W != 1^T breaks it


def test_bad_input_names_the_parameter() -> None:
    f, W = clients(), parse("ring:4")
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="tau_c"):
        d_sgd(f, W, 0.1, 10, 2, rng, tau_c=0)
    for eta in (0.0, -0.1, float("nan")):
        with pytest.raises(InputError, match="eta"):
            d_sgd(f, W, eta, 10, 2, rng)
    with pytest.raises(InputError, match="doubly stochastic"):
        d_sgd(clients(n=6), parse("star-random-walk:6"), 0.1, 10, 2, rng)
    with pytest.raises(InputError, match="one row per node"):
        d_sgd(f, parse("ring:6"), 0.1, 10, 2, rng)
    with pytest.raises(InputError, match="MixingMatrix"):
        d_sgd(f, W.W, 0.1, 10, 2, rng)
    with pytest.raises(InputError, match="X0"):
        d_sgd(f, W, 0.1, 10, 2, rng, X0=np.zeros((3, 3)))
    with pytest.raises(InputError, match="measures"):
        d_sgd(f, W, 0.1, 10, 2, rng, measures=("gnorm",))
    with pytest.raises(InputError, match="T"):
        d_sgd(f, W, 0.1, 0, 2, rng)


def test_deterministic_given_the_seed() -> None:
    f, W = clients(), parse("ring:4")
    a, b, c = (d_sgd(f, W, 0.1, 50, 3, np.random.default_rng(s), tau_c=2) for s in (7, 7, 8))
    for m in a.values:
        np.testing.assert_array_equal(a.values[m], b.values[m])
    assert not np.array_equal(a.values["gnorm2"], c.values["gnorm2"])
