"""Gossip averaging X_{t+1} = W X_t, batched over replicas (THEOREMS.md T3.2 (b)).

Sources: Boyd, Ghosh, Prabhakar, Shah, "Randomized gossip algorithms", IEEE Trans. Inf. Theory 2006 (the
synchronous form with a fixed W); Koloskova et al., ICML 2020 (the consensus distance ||X - Xbar||_F^2);
epfml/powergossip algorithms.py SimpleGossip (x_i <- x_i + gamma sum_j w_ij (x_j - x_i), gamma the
"diffusion rate", 1 by default). Row i of X (n x d) is node i's vector; the catalog's X W with nodes as
columns is the transpose, the same map for a symmetric W.

One call runs R replicas: X has shape (R, n, d) and every step is one batched product with the
(n x n) matrix W_gamma = (1 - gamma) I + gamma W (W itself for gamma = 1); the loop is over steps only.
Recorded at every step t (ratecheck.algorithms.loop), with Xbar_t the n x d matrix whose rows are the
average (1/n) sum_i x_i at step t:
    consensus     = ||X_t - Xbar_t||_F^2
    consensus_rel = ||X_t - Xbar_t||_F^2 / ||X_0 - Xbar_0||_F^2      (0 if X_0 is already in consensus)
    drift         = ||Xbar_t - Xbar_0||_F / ||X_0||_F                 (the average's drift, relative)
    dist_avg0     = ||X_t - Xbar_0||_F^2 / ||X_0 - Xbar_0||_F^2      (distance to the initial average)
    gap_obs       = 1 - sqrt(consensus_t / consensus_{t-1})           (the observed contraction; 0 at t = 0)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps
from ratecheck.mixing import MixingMatrix
from ratecheck.trace import Trace
from ratecheck.validate import InputError, integer, positive

__all__ = ["gossip"]


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, else 0."""
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def gossip(W: MixingMatrix, X0: np.ndarray, T: int, *, gamma: float = 1.0,
           checkpoints: np.ndarray | None = None) -> Trace:
    """T steps of X_{t+1} = X_t + gamma (W - I) X_t (= W X_t for gamma = 1) from X0 of shape (R, n, d);
    the Trace carries W's certified constants (ratecheck.mixing) and gamma."""
    if not isinstance(W, MixingMatrix):
        raise InputError(f"W must be a ratecheck.mixing.MixingMatrix (certified), got {type(W).__name__}")
    X0 = np.asarray(X0, dtype=np.float64)
    if X0.ndim != 3 or X0.shape[1] != W.n:
        raise InputError(f"X0 must have shape (R, n, d) with n = {W.n} (the nodes of W), got {X0.shape}")
    T, gamma = integer("T", T, low=1), positive("gamma", gamma)
    R, n = X0.shape[0], W.n
    W_gamma = (1.0 - gamma) * np.eye(n) + gamma * W.W

    def consensus(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = X.mean(axis=1, keepdims=True)  # (R, 1, d)
        D = X - mean  # not ||X||^2 - n ||mean||^2: that cancels once the nodes agree to 1e-8
        return np.einsum("rij,rij->r", D, D), mean

    c0, mean0 = consensus(X0)
    scale0 = np.sqrt(np.sum(X0**2, axis=(1, 2)))

    def steps() -> Iterator[dict[str, np.ndarray]]:
        X, previous = X0.copy(), None
        while True:
            c, mean = consensus(X)
            shift = mean[:, 0] - mean0[:, 0]
            moved = n * np.einsum("rj,rj->r", shift, shift)  # ||Xbar_t - Xbar_0||_F^2
            yield {"consensus": c, "consensus_rel": _ratio(c, c0),
                   "drift": _ratio(np.sqrt(moved), scale0),
                   "dist_avg0": _ratio(c + moved, c0),  # ||X_t - Xbar_0||^2 = ||X_t - Xbar_t||^2 + ||Xbar_t - Xbar_0||^2
                   "gap_obs": np.zeros(R) if previous is None else 1.0 - np.sqrt(_ratio(c, previous))}
            previous = c
            X = W_gamma @ X  # X_{t+1} = W X_t: one batched product over the R replicas
    return run_steps(steps(), T, R, checkpoints, constants={**W.constants, "gamma": gamma})
