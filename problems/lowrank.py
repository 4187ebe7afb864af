"""The matrix instances of the PowerSGD catalog entry (THEOREMS.md T3.1; Vogels, Karimireddy, Jaggi, NeurIPS
2019). One orientation: a matrix has shape (rows, cols) and the PowerSGD query acts on its columns
(Q in R^{cols x r}; the catalog's M in R^{n x m} with m = cols).

* ``worker_matrices`` (P1): n workers' random matrices, batched over R replicas.
* ``p2_matrix`` (P2): fixed matrices for one step from a fresh Gaussian query.
* ``p3_matrix`` (P3): a fixed matrix with a prescribed gap sigma_{r+1}/sigma_r for the warm start.
* ``ef_least_squares`` (EF): matrix least squares with additive per-worker noise.
The fixed instances are drawn from their own seeds, never from the run's generator.
"""

from __future__ import annotations

import numpy as np

from problems.least_squares import MatrixLeastSquares
from ratecheck.validate import InputError, in_interval, integer

__all__ = ["P2_KINDS", "WORKER_KINDS", "ef_least_squares", "p2_matrix", "p3_matrix", "worker_matrices"]

WORKER_KINDS = ("gaussian", "scales", "low-rank")
P2_KINDS = ("identity-8", "identity-40", "gaussian", "near-flat", "spiked")


def worker_matrices(kind: str, R: int, n: int, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """(R, n, rows, cols) worker matrices: 'gaussian' N(0, 1); 'scales' worker i multiplied by 10^u_i with
    u_i uniform in [-3, 3] (heterogeneous magnitudes); 'low-rank' a rank-1 matrix per worker plus 1e-3 noise
    (P = Mbar Q nearly rank 1 when r > 1: the ill-conditioned case of the orthogonalization)."""
    if kind not in WORKER_KINDS:
        raise InputError(f"kind must be one of {WORKER_KINDS}, got {kind!r}")
    G = rng.standard_normal((R, n, rows, cols))
    if kind == "gaussian":
        return G
    if kind == "scales":
        return G * 10.0 ** rng.uniform(-3, 3, size=(R, n, 1, 1))
    return rng.standard_normal((R, n, rows, 1)) * rng.standard_normal((R, n, 1, cols)) + 1e-3 * G


def p2_matrix(kind: str) -> np.ndarray:
    """The instances of P2: identity I_m (m = 8 or 40; 1/m is attained), 'gaussian' 30 x 40 N(0, 1) (the
    catalog's NUM instance), 'near-flat' 20 x 20 with singular values evenly spaced in [0.7, 1] (close to
    the worst case), 'spiked' 30 x 40: 3 u v^T + N(0, 1/40) entries (far from the worst case)."""
    g = np.random.default_rng(20190)
    if kind.startswith("identity-"):
        return np.eye(int(kind.split("-")[1]))
    if kind == "gaussian":
        return g.standard_normal((30, 40))
    if kind == "near-flat":
        U, _ = np.linalg.qr(g.standard_normal((20, 20)))
        V, _ = np.linalg.qr(g.standard_normal((20, 20)))
        return (U * np.linspace(1.0, 0.7, 20)) @ V.T
    if kind == "spiked":
        u, v = g.standard_normal(30), g.standard_normal(40)
        return 3 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v)) + g.standard_normal((30, 40)) / np.sqrt(40)
    raise InputError(f"kind must be one of {P2_KINDS} (identity-m for any m), got {kind!r}")


def p3_matrix(rank: int, rho: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """30 x 40 matrix U diag(s) V^T with sigma_{r+1}/sigma_r = rho and the rest well separated: s = (1) or
    (1, 0.5) for the top r, then s_{r+1} = rho s_r, s_{r+1+i} = 0.5 rho s_r 0.95^i (so the next-order
    terms, (s_{r+2}/s_{r+1})^{2t} and for r = 2 (s_2/s_1)^{4t}, die out within a few steps). Returns
    (M, U, s)."""
    rank = integer("rank", rank, low=1, high=2)
    rho = in_interval("rho", rho, 0.0, 1.0, closed="neither")
    g = np.random.default_rng(2019)
    top = [1.0] if rank == 1 else [1.0, 0.5]
    s = np.array(top + [rho * top[-1]] + [0.5 * rho * top[-1] * 0.95**i for i in range(30 - rank - 1)])
    U, _ = np.linalg.qr(g.standard_normal((30, 30)))
    V, _ = np.linalg.qr(g.standard_normal((40, 30)))
    return (U * s) @ V.T, U, s


def ef_least_squares(shape: tuple[int, int] = (8, 6), sigma: float = 1.0) -> MatrixLeastSquares:
    """f(X) = (1/(2N))||A X - B||^2, X of shape (rows, cols) = ``shape``, N = 32, A N(0, 1), B = A X_true +
    0.1 N(0, 1), started at X0 = X* + U with ||U||_F = 1 (R0 = 1); additive Gaussian noise (G2) of
    E||xi||^2 = sigma^2 per draw (per worker), isotropic, so the noise is spread over every singular
    direction. Drawn from seed 4."""
    g = np.random.default_rng(4)
    rows, cols = shape
    A = g.standard_normal((32, rows))
    B = A @ g.standard_normal((rows, cols)) + 0.1 * g.standard_normal((32, cols))
    X_star = MatrixLeastSquares(A, B).x_star.reshape(rows, cols)
    U = g.standard_normal((rows, cols))
    return MatrixLeastSquares(A, B, X0=X_star + U / np.linalg.norm(U), noise=sigma)
