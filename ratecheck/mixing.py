"""Gossip mixing matrices W on n nodes, certified at construction, with their spectral constants.

Sources: Boyd, Ghosh, Prabhakar, Shah, "Randomized gossip algorithms", IEEE Trans. Inf. Theory 2006 (the
averaging rate is set by the second largest eigenvalue modulus of W); Xiao & Boyd, "Fast linear iterations
for distributed averaging", 2004 (Metropolis-Hastings weights); Koloskova, Loizou, Boreiri, Jaggi, Stich,
"A unified theory of decentralized SGD with changing topology and local updates", ICML 2020 (the consensus
constant p); epfml/powergossip topologies.py (Ring 1/3, Torus 1/5, FullyConnected 1/n); THEOREMS.md T3.2.

A ``MixingMatrix`` holds W (n x n) and certifies, when it is built, what it declares:
  * kind "symmetric" (the default, the assumption of T3.2): W = W^T, W 1 = 1 (hence 1^T W = 1^T: doubly
    stochastic), W_ij >= 0;
  * kind "row": W 1 = 1 and W_ij >= 0 only (a row-stochastic matrix, for negative controls: consensus is
    reached at pi^T X_0 with pi the left Perron vector, not at the average).
Bad input raises ``ratecheck.validate.InputError`` naming the parameter and its valid range.

Spectral constants (``constants``), computed from the instance, never assumed:
  symmetric: eigenvalues by ``numpy.linalg.eigvalsh``, 1 = lambda_1 >= lambda_2 >= ... >= lambda_n;
             lambda_ = max(|lambda_2|, |lambda_n|), the consensus rate:
             ||W X - Xbar||_F <= lambda ||X - Xbar||_F;
             p = 1 - lambda^2 (Koloskova et al.: ||X W - Xbar||^2 <= (1 - p) ||X - Xbar||^2 for a fixed W);
             gap = 1 - lambda_2; lambda_next = the largest |lambda_k| (k >= 2) strictly below lambda (0 if
             none): the next eigencomponent, which sets how soon a generic start decays at the rate lambda;
  row:       the same names from the moduli of ``numpy.linalg.eigvals`` (lambda_ = the second largest
             modulus, the asymptotic consensus rate); p = 1 - lambda^2 by the same formula, but Koloskova's
             inequality is not implied for a non-symmetric W.
``connected`` is read from the graph of W's off-diagonal support (scipy connected components), not from λ.

The topologies (all Metropolis-Hastings weights W_ij = 1/(1 + max(deg_i, deg_j)) on the edges, which for a
d-regular graph are the uniform weights 1/(d + 1) of the PowerGossip code): ``ring(n)`` (n >= 3),
``torus(a, b)`` (2-D, n = a b, a, b >= 3), ``complete(n)`` (W = 11^T/n), ``star(n)``, ``erdos_renyi(n,
p_edge, seed)`` (seeded; says whether it is connected), ``disconnected(n)`` (two rings, lambda = 1), and
``star(n, weights="random-walk")``: W = (D + I)^-1 (A + I), row-stochastic only. ``make(name, **params)``
builds one by name, ``parse(spec)`` from the short spec a sweep point declares ('ring:16', 'torus:4x4', ...).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.sparse.csgraph import connected_components

from ratecheck.validate import InputError, in_interval, integer

__all__ = ["KINDS", "SPECS", "TOPOLOGIES", "MixingMatrix", "complete", "disconnected", "erdos_renyi", "make",
           "metropolis", "parse", "random_walk", "ring", "star", "torus"]

KINDS = ("symmetric", "row")
ATOL = 1e-12  # stochasticity and symmetry are certified to this absolute tolerance (entries are O(1))


class MixingMatrix:
    """A gossip matrix W (n x n) certified at construction (module docstring): ``kind`` 'symmetric'
    (symmetric, doubly stochastic, nonnegative) or 'row' (row-stochastic, nonnegative)."""

    def __init__(self, W: np.ndarray, name: str = "W", kind: str = "symmetric") -> None:
        if kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
        W = np.array(W, dtype=np.float64)
        if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 2:
            raise InputError(f"W must be a square matrix of shape (n, n) with n >= 2, got shape {W.shape}")
        if not np.all(np.isfinite(W)):
            raise InputError("W must have finite entries")
        if W.min() < -ATOL:
            i, j = np.unravel_index(int(np.argmin(W)), W.shape)
            raise InputError(f"W must be nonnegative (W_ij >= 0), got W[{i}, {j}] = {W[i, j]:.3g}")
        rows, tol = W.sum(axis=1), ATOL * W.shape[0]
        if np.max(np.abs(rows - 1)) > tol:
            i = int(np.argmax(np.abs(rows - 1)))
            raise InputError(f"W must be row-stochastic (every row sums to 1 within {tol:g}), row {i} sums "
                             f"to {rows[i]!r}")
        if kind == "symmetric":
            asym = float(np.max(np.abs(W - W.T)))
            if asym > ATOL:
                raise InputError(f"W must be symmetric for kind='symmetric' (|W - W^T| <= {ATOL:g}), got max "
                                 f"|W - W^T| = {asym:.3g}; pass kind='row' for a row-stochastic matrix")
            cols = W.sum(axis=0)
            if np.max(np.abs(cols - 1)) > tol:  # implied by the two above; certified anyway
                raise InputError(f"W must be doubly stochastic for kind='symmetric', column sums {cols!r}")
        self.W, self.name, self.kind, self.n = W, name, kind, int(W.shape[0])
        self.components = int(connected_components((W - np.diag(np.diag(W))) > 0, directed=False)[0])
        self.connected = self.components == 1
        self._spectrum()

    def _spectrum(self) -> None:
        if self.kind == "symmetric":
            ev = np.linalg.eigvalsh(self.W)[::-1]  # descending: ev[0] = 1
            self.eigenvalues = ev
            self.lambda_2, self.lambda_n = float(ev[1]), float(ev[-1])
            others = np.abs(ev[1:])
        else:
            ev = np.linalg.eigvals(self.W)
            ev = ev[np.argsort(-np.abs(ev))]
            self.eigenvalues = ev
            self.lambda_2, self.lambda_n = float(abs(ev[1])), float(abs(ev[-1]))
            others = np.abs(ev[1:])
        self.lambda_ = float(np.max(others))
        below = others[others < self.lambda_ - 1e-9]
        self.lambda_next = float(np.max(below)) if below.size else 0.0
        self.p = 1.0 - self.lambda_**2
        self.gap = 1.0 - self.lambda_2

    @property
    def constants(self) -> dict[str, float]:
        """The certified constants a theorem reads: n, lambda_, p, gap, lambda_2, lambda_n, lambda_next."""
        return {"n": float(self.n), "lambda_": self.lambda_, "p": self.p, "gap": self.gap,
                "lambda_2": self.lambda_2, "lambda_n": self.lambda_n, "lambda_next": self.lambda_next}

    def eigenvectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(eigenvalues descending, orthonormal eigenvectors as columns) of a symmetric W (eigh)."""
        if self.kind != "symmetric":
            raise InputError(f"eigenvectors: {self.name} has kind={self.kind!r}; an orthonormal eigenbasis "
                             "needs kind='symmetric'")
        ev, U = np.linalg.eigh(self.W)
        return ev[::-1], U[:, ::-1]

    def __repr__(self) -> str:
        return (f"MixingMatrix({self.name}, n={self.n}, kind={self.kind!r}, lambda={self.lambda_:.6g}, "
                f"connected={self.connected})")


# ----------------------------------------------------------------------------------------------------
# weights on a graph


def _adjacency(A: np.ndarray) -> np.ndarray:
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 2:
        raise InputError(f"A must be a square adjacency matrix of shape (n, n), n >= 2, got shape {A.shape}")
    if not np.all((A == 0) | (A == 1)):
        raise InputError("A must be a 0/1 adjacency matrix")
    if np.any(np.diag(A) != 0):
        raise InputError("A must have a zero diagonal (self-loops are the weights W_ii, not edges)")
    if np.any(A != A.T):
        raise InputError("A must be symmetric (an undirected graph)")
    return A.astype(np.float64)


def metropolis(A: np.ndarray, name: str = "metropolis") -> MixingMatrix:
    """Metropolis-Hastings weights on the undirected graph A (Xiao & Boyd 2004): on the edges
    W_ij = 1/(1 + max(deg_i, deg_j)), W_ii = 1 - sum_{j != i} W_ij: symmetric, doubly stochastic,
    nonnegative."""
    A = _adjacency(A)
    deg = A.sum(axis=1)
    W = A / (1.0 + np.maximum(deg[:, None], deg[None, :]))
    W[np.diag_indices_from(W)] = 1.0 - W.sum(axis=1)
    return MixingMatrix(W, name)


def random_walk(A: np.ndarray, name: str = "random-walk") -> MixingMatrix:
    """The lazy random walk W = (D + I)^-1 (A + I): row-stochastic; column-stochastic only if A is regular."""
    A = _adjacency(A)
    M = A + np.eye(A.shape[0])
    return MixingMatrix(M / M.sum(axis=1, keepdims=True), name, kind="row")


def _ring_adjacency(n: int) -> np.ndarray:
    I = np.eye(n)
    return np.roll(I, 1, axis=1) + np.roll(I, -1, axis=1)


# ----------------------------------------------------------------------------------------------------
# topologies


def ring(n: int) -> MixingMatrix:
    """The ring (cycle) on n >= 3 nodes with weight 1/3 on self and both neighbours: W = (I + P + P^T)/3,
    eigenvalues (1 + 2 cos(2 pi k/n))/3, gap (2/3)(1 - cos(2 pi/n)) ~ 4 pi^2/(3 n^2)."""
    n = integer("n", n, low=3)
    return metropolis(_ring_adjacency(n), f"ring-{n}")


def torus(a: int, b: int) -> MixingMatrix:
    """The 2-D torus (a x b grid with wrap-around), n = a b, weight 1/5 on self and the 4 neighbours;
    a, b >= 3 (a side of 2 would join the same two nodes twice). Node (i, j) is index i b + j."""
    a, b = integer("a", a, low=3), integer("b", b, low=3)
    A = np.kron(_ring_adjacency(a), np.eye(b)) + np.kron(np.eye(a), _ring_adjacency(b))
    return metropolis(A, f"torus-{a}x{b}")


def complete(n: int) -> MixingMatrix:
    """The complete graph on n >= 2 nodes: W = 11^T/n, lambda = 0 (consensus in one step)."""
    n = integer("n", n, low=2)
    return metropolis(np.ones((n, n)) - np.eye(n), f"complete-{n}")


def star(n: int, weights: str = "metropolis") -> MixingMatrix:
    """The star on n >= 3 nodes (node 0 the centre). weights 'metropolis': symmetric doubly stochastic
    (1/n on the spokes); 'random-walk': W = (D + I)^-1 (A + I), row-stochastic only (the centre's row is
    uniform over all n nodes, a leaf's is 1/2, 1/2), whose consensus is the degree-weighted average."""
    n = integer("n", n, low=3)
    A = np.zeros((n, n))
    A[0, 1:] = A[1:, 0] = 1.0
    if weights == "metropolis":
        return metropolis(A, f"star-{n}")
    if weights == "random-walk":
        return random_walk(A, f"star-{n}-random-walk")
    raise InputError(f"weights must be 'metropolis' or 'random-walk', got {weights!r}")


def erdos_renyi(n: int, p_edge: float, seed: int = 0) -> MixingMatrix:
    """G(n, p_edge), each edge independently with probability p_edge in (0, 1] from ``default_rng(seed)``,
    Metropolis-Hastings weights; ``.connected`` says whether the draw is connected (if not, lambda = 1)."""
    n = integer("n", n, low=2)
    p_edge = in_interval("p_edge", p_edge, 0.0, 1.0, closed="right")
    rng = np.random.default_rng(integer("seed", seed, low=0))
    upper = np.triu(rng.random((n, n)) < p_edge, k=1)
    return metropolis((upper | upper.T).astype(np.float64), f"erdos-renyi-{n}-{p_edge:g}-seed{seed}")


def disconnected(n: int) -> MixingMatrix:
    """Two disjoint rings of n // 2 and n - n // 2 nodes (n >= 6): symmetric, doubly stochastic, lambda = 1"""
    n = integer("n", n, low=6)
    h = n // 2
    A = np.zeros((n, n))
    A[:h, :h], A[h:, h:] = _ring_adjacency(h), _ring_adjacency(n - h)
    return metropolis(A, f"two-rings-{h}+{n - h}")


TOPOLOGIES: dict[str, Callable[..., MixingMatrix]] = {
    "ring": ring, "torus": torus, "complete": complete, "star": star, "erdos_renyi": erdos_renyi,
    "disconnected": disconnected,
}


def make(topology: str, **params: object) -> MixingMatrix:
    """The mixing matrix of a named topology: make('torus', a=4, b=4), make('erdos_renyi', n=9, p_edge=0.3)"""
    if topology not in TOPOLOGIES:
        raise InputError(f"topology must be one of {', '.join(map(repr, TOPOLOGIES))}, got {topology!r}")
    try:
        return TOPOLOGIES[topology](**params)
    except TypeError as e:  # a misspelled or missing parameter
        raise InputError(f"topology {topology!r}: {e}") from None



SPECS = ("ring:N", "torus:AxB", "complete:N", "star:N", "star-random-walk:N", "erdos-renyi:N:P_EDGE:SEED",
         "two-rings:N")


def parse(spec: str) -> MixingMatrix:
    """The mixing matrix of a short spec, as a sweep point declares it: 'ring:16', 'torus:4x4', 'complete:16',
    'star:16', 'star-random-walk:16' (row-stochastic), 'erdos-renyi:16:0.3:0' (n, p_edge, seed),
    'two-rings:16'."""
    name, _, rest = str(spec).partition(":")
    args = rest.split(":") if rest else []
    try:
        if name == "torus" and len(args) == 1 and "x" in args[0]:
            a, b = args[0].split("x")
            return torus(int(a), int(b))
        if name == "erdos-renyi" and len(args) == 3:
            return erdos_renyi(int(args[0]), float(args[1]), int(args[2]))
        one = {"ring": ring, "complete": complete, "star": star, "two-rings": disconnected}
        if name in one and len(args) == 1:
            return one[name](int(args[0]))
        if name == "star-random-walk" and len(args) == 1:
            return star(int(args[0]), weights="random-walk")
    except ValueError as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"spec {spec!r}: {e}; valid forms: {', '.join(SPECS)}") from None
    raise InputError(f"spec must be one of the forms {', '.join(SPECS)}, got {spec!r}")
