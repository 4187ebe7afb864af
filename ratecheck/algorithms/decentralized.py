"""Decentralized SGD (D-SGD) with local updates, batched over replicas and nodes (THEOREMS.md T3.2 (b)).

Source: Koloskova, Loizou, Boreiri, Jaggi, Stich, "A unified theory of decentralized SGD with changing
topology and local updates", ICML 2020, Algorithm 1 in matrix form (nodes as columns there, rows here):

    G(X^t) = [g_1(x_1^t), ..., g_n(x_n^t)]      (node i's stochastic gradient of f_i at its own x_i)
    X^{t+1} = W^{(t)} (X^t - eta G(X^t)),        W^{(t)} = W if tau_c divides t + 1, else I

so tau_c = 1 is plain D-SGD and tau_c > 1 the local-update variant (tau_c local steps between two gossip
steps; called tau in the paper, tau_c here because tau is the clipping threshold of ratecheck.symbols).
Row i of X (n x d) is node i's iterate; the paper's X W (nodes as columns) is W^T X here, the same map for
a symmetric W. All iterates of all replicas are one array of shape (R, n, d); a step is one call of the
client oracle and one batched product with W; the loop is over steps only.

Recorded at every step t = 0..T (ratecheck.algorithms.loop; ``avg_<name>`` are the running averages
(1/t) sum_{s<t}), with xbar_t = (1/n) sum_i x_i^t:
    gnorm2    = ||grad f(xbar_t)||^2            (avg_gnorm2: the left-hand side of Koloskova's Thm 2)
    consensus = (1/n) sum_i ||x_i^t - xbar_t||^2 (Xi_t, Koloskova's consensus distance)
    subopt    = f(xbar_t) - f*                  dist2 = ||xbar_t - x*||^2
The clients' gradients come from the one client oracle, ``problem.client_stoch_grads`` (ratecheck.problem).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.mixing import ATOL, MixingMatrix
from ratecheck.problem import ClientProblem
from ratecheck.trace import Trace
from ratecheck.validate import InputError, integer, positive

__all__ = ["MEASURES", "d_sgd"]

MEASURES = ("gnorm2", "consensus", "subopt", "dist2")


def d_sgd(
    problem: ClientProblem,
    W: MixingMatrix,
    eta: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    *,
    tau_c: int = 1,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    doubly_stochastic: bool = True,
    X0: np.ndarray | None = None,
    measures: tuple[str, ...] = MEASURES,
) -> Trace:
    """R independent runs of D-SGD (module docstring) on the ``problem.n`` nodes of W for T steps, gossip
    every ``tau_c`` steps. ``doubly_stochastic`` (the theorem's assumption) requires 1^T W = 1^T; pass False
    only to run a row-stochastic W on purpose (a negative control). X0: the start, shape (n, d) or
    (R, n, d) (default: every node at problem.x0, consensus). ``measures``: the names recorded (a subset of
    MEASURES; fewer are cheaper)."""
    if not isinstance(W, MixingMatrix):
        raise InputError(f"W must be a ratecheck.mixing.MixingMatrix (certified), got {type(W).__name__}")
    n, d = int(problem.n), int(problem.d)
    if W.n != n:
        raise InputError(f"W must have one row per node: W is {W.n} x {W.n}, the problem has n = {n} nodes")
    cols = W.W.sum(axis=0)
    if doubly_stochastic and np.max(np.abs(cols - 1)) > ATOL * n:
        j = int(np.argmax(np.abs(cols - 1)))
        raise InputError(f"W must be doubly stochastic (every column sums to 1 within {ATOL * n:g}), "
                         f"column {j} sums to {cols[j]!r}; pass doubly_stochastic=False for a row-stochastic "
                         "W on purpose")
    eta = positive("eta", eta)
    T, R = integer("T", T, low=1), integer("R", R, low=1)
    tau_c = integer("tau_c", tau_c, low=1)
    if X0 is None:
        X0 = tile(np.broadcast_to(problem.x0, (n, d)), R)
    X0 = np.asarray(X0, dtype=np.float64)
    if X0.shape == (n, d):
        X0 = tile(X0, R)
    if X0.shape != (R, n, d):
        raise InputError(f"X0 must have shape (n, d) = ({n}, {d}) or (R, n, d) = ({R}, {n}, {d}), "
                         f"got {X0.shape}")
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise InputError(f"measures must be a nonempty subset of {MEASURES}, got {measures!r}")
    x_star = np.asarray(problem.x_star)

    def monitor(X: np.ndarray) -> dict[str, np.ndarray]:
        xbar = X.mean(axis=1)  # (R, d)
        out = {}
        for m in measures:
            if m == "gnorm2":
                g = problem.grad(xbar)
                out[m] = np.sum(g * g, axis=-1)
            elif m == "consensus":
                out[m] = np.sum((X - xbar[:, None, :]) ** 2, axis=(1, 2)) / n
            elif m == "subopt":
                out[m] = problem.loss(xbar) - problem.f_star
            else:
                out[m] = np.sum((xbar - x_star) ** 2, axis=-1)
        return out

    def steps() -> Iterator[dict[str, np.ndarray]]:
        X, t = X0.copy(), 0
        while True:
            yield monitor(X)
            X = X - eta * problem.client_stoch_grads(X, rng)  # X^t - eta G(X^t)
            if (t + 1) % tau_c == 0:
                X = np.matmul(W.W, X)  # W^{(t)} = W: one batched product over the R replicas
            t += 1

    return run_steps(steps(), T, R, checkpoints, burn_in, {**W.constants, "eta": eta, "tau_c": float(tau_c)})
