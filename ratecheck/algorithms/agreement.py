"""Averaging agreement among n nodes, f of them Byzantine, batched over replicas (THEOREMS.md T8).

Source: El-Mhamdi, Farhadkhani, Guerraoui, Guirguis, Hoang, Rouault, "Collaborative learning as an agreement
problem" (arXiv 2008.00742; NeurIPS 2021 "Collaborative learning in the jungle"), catalog T8 (a), (b), (d).
A synchronous round: every honest node j in H (h = n - f of them, rows of X, shape (R, h, d)) receives the h
honest vectors and f Byzantine ones, and outputs

  ICwTM: per coordinate, the mean of the n received values after discarding the f largest and the f smallest
         (iterated coordinate-wise trimmed mean; ratecheck.aggregators.TrimmedMean(f));
  MDA:   the average of the n - f received vectors forming the subset of smallest diameter (minimum-diameter
         averaging; exact enumeration of the C(n, f) excluded sets, vectorized over them).

Reliable broadcast is modelled by Byzantine nodes sending one value to everybody: a (R, f, d) array, so that every
honest node receives the same multiset. Equivocation is modelled by per-receiver values: a (R, h, f, d) array,
entry [:, i] being what honest node i receives. No Python loop over replicas, nodes or subsets (MDA runs its
problems and its excluded sets in blocks to bound memory, vectorized within a block). ``collaborative_gd`` is the
learning side: gradient descent whose averaging of the honest gradients is replaced by ICwTM or MDA.

Attacks (``attack(X, f)`` -> Byzantine values, seeing the round's honest vectors, as the catalog's omniscient
adversary): 'extreme' (f copies of xbar + 100 (1 + Delta_2) u, u = 1/sqrt(d), a fixed direction; broadcast),
'inside' (f copies of the honest vector farthest along u moved 1e-3 of the way toward xbar: just inside the
honest hull; broadcast), 'edge' (f copies of x_a, an end of the honest diameter pair (a, b): Byzantine values
posing as honest at the edge of the hull; broadcast), 'split' (equivocation: the first h // 2 honest receivers
get xbar + 100 (1 + Delta_2) u, the others xbar - 100 (1 + Delta_2) u; under MDA the first half get copies of
x_a, the others of x_b), 'none' (f copies of xbar: Byzantine nodes that behave like an honest average).

Recorded at every round t (ratecheck.algorithms.loop), with x the honest vectors at round t, x0 at round 0,
range_t the vector of per-coordinate honest ranges max_j x_j - min_j x_j (its l2 norm ||range_t||):
    delta2          = Delta_2(x_t) = max_{j,k in H} ||x_j - x_k||
    delta2_rel      = Delta_2(x_t) / Delta_2(x_0)
    delta2_range0   = Delta_2(x_t) / ||range_0||
    ratio           = ||xbar_t - xbar_0|| / Delta_2(x_0)       (the averaging ratio of t rounds, honest averages)
    ratio_range0    = ||xbar_t - xbar_0|| / ||range_0||
    step_ratio_range = ||xbar_t - xbar_{t-1}|| / ||range_{t-1}||   (0 at t = 0 and where range_{t-1} = 0)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np

from ratecheck.aggregators import TrimmedMean
from ratecheck.algorithms.loop import run_steps
from ratecheck.trace import Trace
from ratecheck.validate import InputError, integer

__all__ = ["ATTACKS", "agreement", "attack_values", "collaborative_gd", "diameter", "icwtm_round", "mda", "mda_round", "range_norm",
           "received", "sq_distances"]

ATTACKS = ("extreme", "inside", "edge", "split", "none")
BLOCK = 2**22  # MDA: entries per block (problems x n x n distances; excluded sets x problems x candidate pairs)


def _honest(X: object) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or min(X.shape) < 1:
        raise InputError(f"X (the honest vectors) must have shape (R, h, d) with R, h, d >= 1, got shape {X.shape}")
    return X


def _byzantine(B: object, X: np.ndarray, f: int) -> np.ndarray:
    """B as (R, f, d) (broadcast) or (R, h, f, d) (per receiver), checked against X (R, h, d)."""
    B = np.asarray(B, dtype=np.float64)
    R, h, d = X.shape
    if B.shape not in ((R, f, d), (R, h, f, d)):
        raise InputError(f"the Byzantine values must have shape (R, f, d) = {(R, f, d)} (reliable broadcast) or (R, h, f, d) = "
                         f"{(R, h, f, d)} (equivocation: one set per honest receiver), got shape {B.shape}")
    return B


def received(X: np.ndarray, B: np.ndarray) -> np.ndarray:
    """What the honest receivers get: (R, n, d) when B is broadcast (the same n vectors for all), else (R, h, n, d)."""
    if B.ndim == 3:
        return np.concatenate([X, B], axis=1)
    R, h, d = X.shape
    return np.concatenate([np.broadcast_to(X[:, None], (R, h, h, d)), B], axis=2)


def sq_distances(X: np.ndarray) -> np.ndarray:
    """||x_j - x_k||^2 over axis -2 of X (..., m, d) -> (..., m, m), from the differences (no Gram rounding), summed one
    coordinate at a time (memory of the result only)."""
    D2 = np.zeros(X.shape[:-1] + X.shape[-2:-1])
    for k in range(X.shape[-1]):
        diff = np.subtract(X[..., :, None, k], X[..., None, :, k])
        D2 += np.square(diff, out=diff)
    return D2


def diameter(X: np.ndarray) -> np.ndarray:
    """Delta_2 = max_{j,k} ||x_j - x_k|| over axis -2 of X (..., m, d)."""
    return np.sqrt(np.max(sq_distances(X), axis=(-2, -1)))


def range_norm(X: np.ndarray) -> np.ndarray:
    """||range||_2 of the per-coordinate ranges max_j x_j - min_j x_j over axis -2 of X (..., m, d)."""
    return np.linalg.norm(np.max(X, axis=-2) - np.min(X, axis=-2), axis=-1)


def _resilience(n: int, f: int, need: int, rule: str, enforce: bool) -> None:
    if f >= 1 and enforce and n < need * f + 1:
        raise InputError(f"n must be >= {need}f + 1 = {need * f + 1} for {rule} with f = {f} Byzantine nodes, got n = {n}")


def icwtm_round(X: object, B: object, f: int, *, enforce: bool = True) -> np.ndarray:
    """One ICwTM round: honest X (R, h, d), Byzantine B (R, f, d) or (R, h, f, d); returns the honest outputs (R, h, d).
    Requires n = h + f > 2f (the trimmed mean keeps n - 2f >= 1 values); with ``enforce`` (default) also the
    resilience n >= 3f + 1 of the theorem (catalog T8 (b)); enforce=False runs the negative control n = 3f."""
    X = _honest(X)
    f = integer("f", f, low=0)
    R, h, d = X.shape
    n = h + f
    if n <= 2 * f:
        raise InputError(f"n must be > 2f = {2 * f} for a trimmed mean of n values (f = {f}), got n = h + f = {n}")
    _resilience(n, f, 3, "ICwTM (n >= 3f + 1)", enforce)
    B = _byzantine(B, X, f)
    G = received(X, B)
    tm = TrimmedMean(f)
    if G.ndim == 3:  # reliable broadcast: one multiset, one output for every honest node
        return np.broadcast_to(tm(G)[:, None], (R, h, d)).copy()
    return tm(G.reshape(R * h, n, d)).reshape(R, h, d)


def mda(G: object, f: int) -> np.ndarray:
    """Minimum-diameter averaging of G (N, n, d) -> (N, d): the mean of the n - f vectors whose subset has the smallest
    diameter (ties: the first excluded set in itertools.combinations(range(n), f) order). Exact: the C(n, f) excluded
    sets are enumerated; the diameter of the subset left by excluded set E is the largest pairwise distance whose two
    ends are both kept, found among the f(n - 1) + 1 largest pairs (E kills at most f(n - 1) of them)."""
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 3 or min(G.shape) < 1:
        raise InputError(f"G must have shape (N, n, d) with N, n, d >= 1, got shape {G.shape}")
    f = integer("f", f, low=0)
    N, n = G.shape[:2]
    if n < 2 * f + 1:
        raise InputError(f"n must be >= 2f + 1 = {2 * f + 1} for MDA (the kept n - f vectors an honest majority), got n = {n}")
    if f == 0:
        return G.mean(axis=1)
    combos = np.array(list(itertools.combinations(range(n), f)), dtype=np.intp)  # (C, f) excluded sets
    chunk = max(1, BLOCK // (n * n))  # problems per block (memory of their distance matrices), vectorized within
    return np.concatenate([_mda_block(G[s:s + chunk], f, combos) for s in range(0, N, chunk)])


def _mda_block(G: np.ndarray, f: int, combos: np.ndarray) -> np.ndarray:
    """mda on one block of problems G (N, n, d) with the excluded sets ``combos`` (C, f)."""
    N, n = G.shape[:2]
    D2 = sq_distances(G)  # (N, n, n)
    iu, ju = np.triu_indices(n, k=1)
    pair = D2[:, iu, ju]  # (N, P)
    K = min(pair.shape[1], f * (n - 1) + 1)
    order = np.argpartition(-pair, K - 1, axis=1)[:, :K] if K < pair.shape[1] else np.broadcast_to(np.arange(K), pair.shape)
    order = np.take_along_axis(order, np.argsort(-np.take_along_axis(pair, order, axis=1), axis=1), axis=1)
    top = np.take_along_axis(pair, order, axis=1)  # (N, K), the K largest, descending (the order of equal ones is immaterial:
    # only the value of the first alive pair is used)
    I, J = iu[order], ju[order]  # (N, K) the ends of each candidate pair
    C = combos.shape[0]
    best = np.full(N, np.inf)
    best_c = np.zeros(N, dtype=np.intp)
    K0 = min(K, 4 * f + 4)  # most excluded sets leave one of the few largest pairs: look there first, then at all K
    step = max(1, BLOCK // max(N * K0, 1))
    for s in range(0, C, step):  # blocks of excluded sets (memory), vectorized within
        hit = np.zeros((min(step, C - s), n), dtype=bool)
        np.put_along_axis(hit, combos[s:s + step], True, axis=1)
        alive = ~hit[:, I[:, :K0]] & ~hit[:, J[:, :K0]]  # (c, N, K0): both ends kept
        found = alive.any(axis=2)
        diam2 = np.take_along_axis(np.broadcast_to(top[:, :K0], alive.shape), np.argmax(alive, axis=2)[..., None], axis=2)[..., 0]
        cc, rr = np.nonzero(~found)  # the rest: the first alive pair among all K (one exists, see the docstring)
        if cc.size:
            alive_all = ~hit[cc[:, None], I[rr]] & ~hit[cc[:, None], J[rr]]  # (m, K)
            diam2[cc, rr] = np.where(alive_all.any(axis=1), top[rr, np.argmax(alive_all, axis=1)], 0.0)
        c_min = np.argmin(diam2, axis=0)  # first minimum within the block
        v = diam2[c_min, np.arange(N)]
        better = v < best
        best = np.where(better, v, best)
        best_c = np.where(better, s + c_min, best_c)
    excluded = G[np.arange(N)[:, None], combos[best_c]]  # (N, f, d)
    return (G.sum(axis=1) - excluded.sum(axis=1)) / (n - f)


def mda_round(X: object, B: object, f: int) -> np.ndarray:
    """One MDA round: honest X (R, h, d), Byzantine B (R, f, d) or (R, h, f, d); returns the honest outputs (R, h, d).
    Requires n = h + f >= 2f + 1. The paper's n >= 6f + 1 is the resilience of its asynchronous algorithm; in this
    synchronous model the averaging bound 2f/(n - f) is derived for n >= 2f + 1 (theorems/averaging_agreement.py)."""
    X = _honest(X)
    f = integer("f", f, low=0)
    R, h, d = X.shape
    B = _byzantine(B, X, f)
    G = received(X, B)
    if G.ndim == 3:
        return np.broadcast_to(mda(G, f)[:, None], (R, h, d)).copy()
    return mda(G.reshape(R * h, h + f, d), f).reshape(R, h, d)


def _diameter_pair(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (a, b), shape (R,), of the honest pair at distance Delta_2 (first in row-major order)."""
    D2 = sq_distances(X)
    h = X.shape[1]
    k = np.argmax(D2.reshape(len(X), -1), axis=1)
    return k // h, k % h


def attack_values(kind: str, X: np.ndarray, f: int, rule: str = "icwtm") -> np.ndarray:
    """The Byzantine values of attack ``kind`` (module docstring) against honest X (R, h, d): (R, f, d) for the broadcast
    attacks, (R, h, f, d) for 'split'; 'none' sends honest-looking copies of xbar (broadcast)."""
    if kind not in ATTACKS:
        raise InputError(f"attack must be one of {ATTACKS}, got {kind!r}")
    R, h, d = X.shape
    xbar = X.mean(axis=1)  # (R, d)
    u = np.full(d, 1.0 / np.sqrt(d))
    far = 100.0 * (1.0 + diameter(X))[:, None] * u  # (R, d)
    rows = np.arange(R)

    def copies(v: np.ndarray) -> np.ndarray:
        return np.broadcast_to(v[:, None, :], (R, f, d)).copy()

    if kind == "none":
        return copies(xbar)
    if kind == "extreme":
        return copies(xbar + far)
    if kind == "inside":
        top = X[rows, np.argmax(X @ u, axis=1)]
        return copies(top + 1e-3 * (xbar - top))
    a, b = _diameter_pair(X)
    if kind == "edge":
        return copies(X[rows, a])
    half = np.arange(h) < h // 2  # (h,) the first h // 2 receivers
    if rule == "mda":
        hi, lo = X[rows, a], X[rows, b]
    else:
        hi, lo = xbar + far, xbar - far
    per = np.where(half[None, :, None], hi[:, None, :], lo[:, None, :])  # (R, h, d)
    return np.broadcast_to(per[:, :, None, :], (R, h, f, d)).copy()


def agreement(X0: object, f: int, T: int, *, rule: str = "icwtm", attack: str = "extreme", enforce: bool = True,
              checkpoints: np.ndarray | None = None,
              attack_fn: Callable[[np.ndarray, int], np.ndarray] | None = None) -> Trace:
    """T synchronous rounds of ``rule`` ('icwtm', 'mda' or 'mean', the non-robust control) from honest X0 (R, h, d) with
    f Byzantine nodes playing ``attack`` (or ``attack_fn(X, f)``) each round; records the module docstring's measures.
    The Trace carries n, f, h, d."""
    X0 = _honest(X0)
    f = integer("f", f, low=0)
    T = integer("T", T, low=1)
    if rule not in ("icwtm", "mda", "mean"):
        raise InputError(f"rule must be 'icwtm', 'mda' or 'mean', got {rule!r}")
    R, h, d = X0.shape
    n = h + f
    if rule == "icwtm":
        _resilience(n, f, 3, "ICwTM (n >= 3f + 1)", enforce)
    if rule == "mda" and n < 2 * f + 1:
        raise InputError(f"n must be >= 2f + 1 = {2 * f + 1} for MDA, got n = {n}")

    def step(X: np.ndarray) -> np.ndarray:
        B = attack_fn(X, f) if attack_fn is not None else attack_values(attack, X, f, rule)
        if rule == "icwtm":
            return icwtm_round(X, B, f, enforce=enforce)
        if rule == "mda":
            return mda_round(X, B, f)
        G = received(X, B)  # 'mean': plain averaging of everything received
        return np.broadcast_to(G.mean(axis=1)[:, None], (R, h, d)).copy() if G.ndim == 3 else G.mean(axis=2)

    d0, r0, xbar0 = diameter(X0), range_norm(X0), X0.mean(axis=1)

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        X, previous = X0.copy(), None
        while True:
            xbar, dlt = X.mean(axis=1), diameter(X)
            drift = np.linalg.norm(xbar - xbar0, axis=1)
            step_ratio = np.zeros(R) if previous is None else ratio(np.linalg.norm(xbar - previous[0], axis=1), previous[1])
            yield {"delta2": dlt, "delta2_rel": ratio(dlt, d0), "delta2_range0": ratio(dlt, r0), "ratio": ratio(drift, d0),
                   "ratio_range0": ratio(drift, r0), "step_ratio_range": step_ratio}
            previous = (xbar, range_norm(X))
            X = step(X)

    return run_steps(steps(), T, R, checkpoints, constants={"n": n, "f": f, "h": h, "d": d})


def collaborative_gd(problem, f: int, T: int, gamma: float, R: int, *, rule: str = "mda", attack: str = "edge",
                     checkpoints: np.ndarray | None = None) -> Trace:
    """Collaborative learning by C-averaging of gradients (catalog T8 (a), the reduction "run SGD but replace averaging
    by C-averaging of gradients"), full gradients (sigma = 0): the h = problem.n honest nodes start at problem.x0 and
    every round compute their local gradients g_i = grad f_i(theta_i) (R, h, d), receive them with f Byzantine values
    (``attack`` on the gradients), replace the average by ``rule`` ('mda' or 'icwtm') and step
    theta_i <- theta_i - gamma y_i. Recorded: grad_norm = ||grad Lbar(thetabar)|| (Lbar the honest average loss,
    problem.grad) and delta2 = Delta_2(theta). The Trace carries n = h + f, f, h, d, gamma."""
    f, T, R = integer("f", f, low=0), integer("T", T, low=1), integer("R", R, low=1)
    if rule not in ("icwtm", "mda"):
        raise InputError(f"rule must be 'icwtm' or 'mda', got {rule!r}")
    h, d = problem.n, problem.d
    gamma = float(gamma)
    if not (np.isfinite(gamma) and gamma > 0):
        raise InputError(f"gamma must be a finite number > 0, got {gamma!r}")
    X0 = np.broadcast_to(np.asarray(problem.x0, dtype=np.float64), (R, h, d)).copy()

    def steps() -> Iterator[dict[str, np.ndarray]]:
        X = X0
        while True:
            yield {"grad_norm": np.linalg.norm(problem.grad(X.mean(axis=1)), axis=-1), "delta2": diameter(X)}
            G = problem.client_grads(X)  # (R, h, d): g_i = grad f_i(theta_i)
            B = attack_values(attack, G, f, rule)
            Y = mda_round(G, B, f) if rule == "mda" else icwtm_round(G, B, f, enforce=False)
            X = X - gamma * Y  # theta_i <- theta_i - gamma y_i

    return run_steps(steps(), T, R, checkpoints, constants={"n": h + f, "f": f, "h": h, "d": d, "gamma": gamma})
