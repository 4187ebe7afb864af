"""Least squares, vector and matrix (DESIGN.md "Problem": least squares; the matrix form is for PowerSGD, T3.1).

f(X) = (1/(2N)) ||A X - B||_F^2 with A of shape (N, d) and X of shape (d, m), flattened row-major to a
vector of length D = d m so that the Problem protocol stays ``(..., D)``; ``LeastSquares`` is m = 1 with
x of length d. Hessian: (A^T A / N) (x) I_m, so L and mu are the extreme eigenvalues of H = A^T A / N
(np.linalg.eigvalsh; mu clipped at 0 when A has rank < d).

X* is the point of the solution set closest to X0 (X0 + the minimum-norm least-squares correction), so
R0 = ||X0 - X*||^2 is the squared distance to the solution set; it is checked to solve the normal equations.

Stochastic gradient (``noise``): None (exact), a number sigma or a Noise of dimension D (additive, G2), or
"sampling": one row i uniform in {1..N} per draw, g = a_i (a_i^T X - B_i) = grad f_i(X) with
f_i(X) = 1/2 ||a_i^T X - B_i||^2. Its variance depends on X (``sampling_variance``); the constants then carry
sigma2_star = (1/N) sum_i ||grad f_i(X*)||^2 and L_max = max_i ||a_i||^2 (smoothness of every f_i).
"""

from __future__ import annotations

import math

import numpy as np

from problems.noise import SAMPLING, resolve_noise
from problems.quadratic import finite_array, make_rng
from ratecheck.validate import InputError, integer, positive

__all__ = ["LeastSquares", "MatrixLeastSquares"]


class _LinearLeastSquares:
    """What the vector and the matrix forms share: everything, on X of shape (d, m)."""

    def _build(self, A: np.ndarray, B: np.ndarray, X0: np.ndarray, noise: object) -> None:
        N, d = A.shape
        m = B.shape[1]
        self.A, self.B = A, B
        self.N, self.shape, self.d = N, (d, m), d * m
        self.noise = resolve_noise(noise, self.d, sampling=True)
        self.sampling = self.noise is None

        X_star = X0 + np.linalg.lstsq(A, B - A @ X0, rcond=None)[0]
        X_star += np.linalg.lstsq(A, B - A @ X_star, rcond=None)[0]  # one step of iterative refinement
        self._check_normal_equations(X_star)
        self.x0, self.x_star = X0.ravel(), X_star.ravel()
        self.x0.setflags(write=False)
        self.x_star.setflags(write=False)
        self.f_star = float(self.loss(self.x_star))

        self.H = A.T @ A / N
        self.H.setflags(write=False)
        self.eigenvalues = np.linalg.eigvalsh(self.H)
        self.constants = {
            "L": float(self.eigenvalues[-1]),
            "mu": max(float(self.eigenvalues[0]), 0.0),
            "R0": float(np.sum((self.x0 - self.x_star) ** 2)),
            "F0": float(self.loss(self.x0)) - self.f_star,
            "d": float(self.d),
            "f_star": self.f_star,
        }
        if self.sampling:
            residual = A @ X_star - B
            row_norms2 = np.sum(A**2, axis=1)
            self.constants["L_max"] = float(np.max(row_norms2))
            self.constants["sigma2_star"] = float(np.mean(row_norms2 * np.sum(residual**2, axis=1)))
        else:
            self.constants["sigma"] = math.sqrt(self.noise.sigma2)
            self.constants["sigma2"] = float(self.noise.sigma2)

    def _check_normal_equations(self, X_star: np.ndarray) -> None:
        """A^T (A X* - B) = 0 up to the backward error of a stable least-squares solve."""
        A, B = self.A, self.B
        residual = A @ X_star - B
        norm_A = np.linalg.norm(A, 2)
        tol = (
            64
            * max(A.shape)
            * np.finfo(float).eps
            * norm_A
            * (norm_A * np.linalg.norm(X_star) + np.linalg.norm(residual))
        )
        error = np.linalg.norm(A.T @ residual)
        if not error <= tol:
            raise RuntimeError(
                f"lstsq solution violates the normal equations: ||A^T r|| = {error:.3g} > {tol:.3g}"
            )

    # -- oracle ------------------------------------------------------------------------------------

    def _matrix(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return x.reshape(*x.shape[:-1], *self.shape)

    def _residual(self, x: np.ndarray) -> np.ndarray:
        """(A X - B)^T on a batch, shape (..., m, N) (one BLAS call for the whole batch)."""
        return np.tensordot(self._matrix(x), self.A, axes=([-2], [1])) - self.B.T

    def loss(self, x: np.ndarray) -> np.ndarray:
        return np.sum(self._residual(x) ** 2, axis=(-2, -1)) / (2 * self.N)

    def grad(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        AtR = np.tensordot(self._residual(x), self.A, axes=([-1], [0]))  # (..., m, d)
        return np.swapaxes(AtR, -1, -2).reshape(x.shape) / self.N

    def stoch_grad(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x)
        if not self.sampling:
            g = self.grad(x)
            return g + self.noise.sample(g.shape, rng)
        i = rng.integers(self.N, size=x.shape[:-1])
        a = self.A[i]  # (..., d)
        residual = np.einsum("...j,...jk->...k", a, self._matrix(x)) - self.B[i]  # (..., m)
        return (a[..., :, None] * residual[..., None, :]).reshape(x.shape)

    def sampling_variance(self, x: np.ndarray) -> np.ndarray:
        """E||g(x) - grad f(x)||^2 under row sampling: (1/N) sum_i ||grad f_i(x)||^2 - ||grad f(x)||^2."""
        per_row = np.sum(self._residual(x) ** 2, axis=-2)  # ||a_i^T X - B_i||^2, shape (..., N)
        second_moment = np.mean(np.sum(self.A**2, axis=1) * per_row, axis=-1)
        return second_moment - np.sum(self.grad(x) ** 2, axis=-1)

    def _noise_repr(self) -> str:
        return repr(SAMPLING) if self.sampling else repr(self.noise)


class MatrixLeastSquares(_LinearLeastSquares):
    """f(X) = (1/(2N)) ||A X - B||_F^2, X in R^{d x m} flattened row-major to length d m (``shape``).

    Parameters
    ----------
    A: (N, d) design; B: (N, m) targets.
    noise: None, a number sigma, a Noise of dimension d m, or "sampling" (one row per draw).
    X0: the start, shape (d, m) (default 0).

    Constants: L, mu (of A^T A / N), R0, F0, d (= d m, the protocol's dimension), f_star, and sigma,
    sigma2 (additive noise) or L_max, sigma2_star (sampling).
    """

    def __init__(self, A: object, B: object, *, noise: object = None, X0: object = None) -> None:
        A = finite_array("A", A, ndim=2)
        B = finite_array("B", B, ndim=2)
        if B.shape[0] != A.shape[0]:
            raise InputError(f"B must have N={A.shape[0]} rows like A, got shape {B.shape}")
        shape = (A.shape[1], B.shape[1])
        X0 = np.zeros(shape) if X0 is None else finite_array("X0", X0, ndim=2, shape=shape)
        self._build(A, B, X0, noise)

    @classmethod
    def random(
        cls, N: int, d: int, m: int, noise_level: float = 0.1, seed: int = 0, **kw: object
    ) -> MatrixLeastSquares:
        """A with iid N(0, 1) entries, B = A X_true + noise_level * N(0, 1) entries, X_true ~ N(0, 1)."""
        N, d, m = integer("N", N, low=1), integer("d", d, low=1), integer("m", m, low=1)
        noise_level = positive("noise_level", noise_level, allow_zero=True)
        rng = make_rng(seed)
        A = rng.standard_normal((N, d))
        B = A @ rng.standard_normal((d, m)) + noise_level * rng.standard_normal((N, m))
        return cls(A, B, **kw)

    def __repr__(self) -> str:
        N, (d, m) = self.N, self.shape
        return (
            f"MatrixLeastSquares(N={N}, d={d}, m={m}, L={self.constants['L']:g}, noise={self._noise_repr()})"
        )


class LeastSquares(_LinearLeastSquares):
    """f(x) = (1/(2N)) ||A x - b||^2, the m = 1 case of MatrixLeastSquares.

    Parameters
    ----------
    A: (N, d) design; b: (N,) targets.
    noise: None, a number sigma, a Noise of dimension d, or "sampling" (one row per draw).
    x0: the start, shape (d,) (default 0).

    Constants: L = lambda_max(A^T A / N), mu = lambda_min(A^T A / N) (0 if rank < d), R0, F0, d, f_star,
    and sigma, sigma2 (additive noise) or L_max, sigma2_star (sampling).
    """

    def __init__(self, A: object, b: object, *, noise: object = None, x0: object = None) -> None:
        A = finite_array("A", A, ndim=2)
        b = finite_array("b", b, ndim=1)
        if b.shape[0] != A.shape[0]:
            raise InputError(f"b must have length N={A.shape[0]} like A's rows, got shape {b.shape}")
        d = A.shape[1]
        x0 = np.zeros(d) if x0 is None else finite_array("x0", x0, ndim=1, shape=(d,))
        self._build(A, b[:, None], x0[:, None], noise)
        self.b = b

    @classmethod
    def random(cls, N: int, d: int, noise_level: float = 0.1, seed: int = 0, **kw: object) -> LeastSquares:
        """A with iid N(0, 1) entries, b = A x_true + noise_level * N(0, I_N), x_true ~ N(0, I_d)."""
        N, d = integer("N", N, low=1), integer("d", d, low=1)
        noise_level = positive("noise_level", noise_level, allow_zero=True)
        rng = make_rng(seed)
        A = rng.standard_normal((N, d))
        b = A @ rng.standard_normal(d) + noise_level * rng.standard_normal(N)
        return cls(A, b, **kw)

    def __repr__(self) -> str:
        return (
            f"LeastSquares(N={self.N}, d={self.d}, L={self.constants['L']:g}, mu={self.constants['mu']:g}, "
            f"noise={self._noise_repr()})"
        )
