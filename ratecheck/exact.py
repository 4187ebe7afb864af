"""Exact first and second moments of algorithms that are linear in their state, on quadratics with additive
noise and independent random diagonal masks (DESIGN.md, "exact cross-check": the engine's own oracle).

Setting. f(x) = 1/2 (x - x*)^T H (x - x*) (+ f*), z_t = x_t - x*, stochastic gradient g_t = H z_t + xi_t
with xi_t independent over t, mean 0, covariance Sigma (every model of problems.noise has
Sigma = (sigma^2/d) I, THEOREMS.md G2; only the covariance enters, Gaussianity is not needed). Random-k masks
M_t (uniform among the C(d, k) subsets with k ones) are independent of everything else, and for D = s diag(M)
(s = d/k scaled, s = 1 unscaled; THEOREMS.md T1 E1, T2 (a), facts derived there):

    E M_i = k/d,   E M_i M_j = k(k-1)/(d(d-1)) (i != j)
    E D = s (k/d) I,   E[D X D] = c1 X + (c0 - c1) Diag(X),   c0 = E D_ii^2 = s^2 k/d,  c1 = s^2 k(k-1)/(d(d-1))

(scaled: E D = I, c0 = d/k = 1 + omega, c1 = d(k-1)/(k(d-1))). Each function propagates the mean and the
second-moment matrix of the (joint) state exactly, one step at a time, O(d^3) (or O((2d)^3), O((nd)^3)) work
per step, and returns at the checkpoints

    E f(x_t) - f* = 1/2 tr(H S_t),   E||x_t - x*||^2 = tr S_t,   S_t = E (x_t - x*)(x_t - x*)^T,

by the names the Monte Carlo runners record (``subopt``, ``dist2``; ``e2`` for EF, ``consensus`` for local SGD)
plus their running averages ``avg_<name>`` = (1/t) sum_{s<t} (the Recorder's convention), the mean E x_t
and S_t. Meant for small d (tests use d <= 10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratecheck.compressors import Compressor, Identity, RandomK
from ratecheck.trace import log_checkpoints
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = [
    "MaskMoments",
    "Moments",
    "ef_sgd",
    "fedavg",
    "heavy_ball_sgd",
    "local_sgd",
    "mask_moments",
    "noise_covariance",
    "quantized_sgd",
    "random_k_moments",
    "scaffold",
    "sgd",
]


# ----------------------------------------------------------------------------------------------------
# mask moments


@dataclass(frozen=True)
class MaskMoments:
    """Moments of a random diagonal matrix D = s diag(M), independent of everything else:
    E D = first I, E D_ii^2 = second_diag, E D_ii D_jj = second_off (i != j)."""

    first: float
    second_diag: float
    second_off: float

    def sandwich(self, X: np.ndarray) -> np.ndarray:
        """E[D X D] = second_off X + (second_diag - second_off) Diag(X) for a fixed matrix X."""
        return self.second_off * X + (self.second_diag - self.second_off) * np.diag(np.diag(X))


def random_k_moments(d: int, k: int, scaled: bool) -> MaskMoments:
    """Moments of D = s diag(M), M uniform among the k-subsets of {1..d} (module docstring; THEOREMS.md T1 E1,
    T2 (a)): E M_i = k/d, E M_i M_j = k(k-1)/(d(d-1)), s = d/k if ``scaled`` else 1."""
    d = integer("d", d, low=1)
    k = integer("k", k, low=1, high=d)
    p1 = k / d
    p2 = k * (k - 1) / (d * (d - 1)) if d > 1 else p1  # d = 1: there is no pair i != j
    s = d / k if scaled else 1.0
    return MaskMoments(first=s * p1, second_diag=s * s * p1, second_off=s * s * p2)


def mask_moments(C: Compressor, d: int) -> MaskMoments:
    """The mask moments of a diagonal-mask compressor: Identity (D = I) or RandomK (scaled or not)."""
    if isinstance(C, Identity):
        return MaskMoments(1.0, 1.0, 1.0)
    if isinstance(C, RandomK):
        return random_k_moments(d, C.k, C.scaled)
    raise InputError(f"exact moments need a diagonal random mask compressor (Identity or RandomK), got {C!r}")


# ----------------------------------------------------------------------------------------------------
# results and shared plumbing


@dataclass(frozen=True)
class Moments:
    """Exact moments at the checkpoints ``t``.

    values[name]: E of the monitored quantity at step t, shape (len(t),), and values["avg_" + name], the
        running average (1/t) sum_{s<t} of it (the Recorder's convention);
    mean: E x_t, shape (len(t), d) (local SGD: E of the client average);
    second: S_t = E (x_t - x*)(x_t - x*)^T, shape (len(t), d, d).
    """

    t: np.ndarray
    values: dict[str, np.ndarray]
    mean: np.ndarray
    second: np.ndarray


def noise_covariance(problem: Any) -> np.ndarray:
    """Sigma = (sigma2/d) I, the covariance of every noise model of problems.noise (their module docstring);
    InputError when the variance is infinite."""
    d = int(problem.d)
    noise = getattr(problem, "noise", None)
    sigma2 = 0.0 if noise is None else float(noise.sigma2)
    if not np.isfinite(sigma2):
        raise InputError(f"exact moments need finite noise variance, got sigma2 = {sigma2!r} ({noise!r})")
    return (sigma2 / d) * np.eye(d)


def _hessian(problem: Any) -> np.ndarray:
    H = np.asarray(getattr(problem, "H", None), dtype=np.float64)
    d = int(problem.d)
    if H.shape != (d, d):
        raise InputError(f"exact moments need a quadratic problem with a Hessian H of shape ({d}, {d}), got {problem!r}")
    return H


def _sigma(problem: Any, Sigma: np.ndarray | None) -> np.ndarray:
    if Sigma is None:
        return noise_covariance(problem)
    Sigma = np.asarray(Sigma, dtype=np.float64)
    d = int(problem.d)
    if Sigma.shape != (d, d):
        raise InputError(f"Sigma must have shape ({d}, {d}), got {Sigma.shape}")
    return Sigma


def _grid(T: int, checkpoints: np.ndarray | None) -> tuple[int, np.ndarray]:
    T = integer("T", T, low=1)
    grid = log_checkpoints(T) if checkpoints is None else np.asarray(checkpoints, dtype=np.int64)
    if grid.ndim != 1 or grid.size == 0 or grid[0] < 1 or np.any(np.diff(grid) <= 0) or grid[-1] != T:
        raise InputError(f"checkpoints must be increasing integers >= 1 ending at T={T}, got {checkpoints!r}")
    return T, grid


Observation = tuple[dict[str, float], np.ndarray, np.ndarray]  # (values, E x_t, S_t)


def _propagate(T: int, grid: np.ndarray, state: Any, step: Callable[[Any, int], Any],
               observe: Callable[[Any], Observation]) -> Moments:
    """Run state_{t+1} = step(state_t, t) for t < T; observe every step; keep the checkpoints."""
    slot = {int(s): i for i, s in enumerate(grid)}
    values: dict[str, np.ndarray] = {}
    sums: dict[str, float] = {}
    means, seconds = [], []
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T + 1):
            vals, mean, second = observe(state)
            if t in slot:
                i = slot[t]
                for name, v in vals.items():
                    if name not in values:
                        values[name] = np.empty(grid.size)
                        values["avg_" + name] = np.empty(grid.size)
                    values[name][i] = v
                    values["avg_" + name][i] = sums.get(name, 0.0) / t  # steps 0..t-1, as the Recorder
                means.append(mean)
                seconds.append(second)
            for name, v in vals.items():
                sums[name] = sums.get(name, 0.0) + v
            if t < T:
                state = step(state, t)
    return Moments(t=grid.copy(), values=values, mean=np.array(means), second=np.array(seconds))


def _sym(X: np.ndarray) -> np.ndarray:
    return (X + X.T) / 2


# ----------------------------------------------------------------------------------------------------
# (1), (2) SGD and quantized SGD with a random mask


def quantized_sgd(
    problem: Any,
    Q: Compressor,
    gamma: float,
    T: int,
    checkpoints: np.ndarray | None = None,
    *,
    moments: MaskMoments | None = None,
    Sigma: np.ndarray | None = None,
) -> Moments:
    """Exact moments of quantized SGD x_{t+1} = x_t - gamma Q(g(x_t)) with Q(v) = D_t v a random mask
    (lecture Thm 12.2, seed 004; Alistarh et al., QSGD, NeurIPS 2017; THEOREMS.md T1 (b), E1; the recursion
    is derived here, module docstring for the mask moments):

        z_t = x_t - x*,   g_t = H z_t + xi_t,   z_{t+1} = (I - gamma D_t H) z_t - gamma D_t xi_t
        E z_{t+1} = (I - gamma E[D] H) E z_t
        S_{t+1} = S_t - gamma E[D] (H S_t + S_t H) + gamma^2 E[D (H S_t H + Sigma) D]
        E[D X D] = c1 X + (c0 - c1) Diag(X)
        scaled random-k: E D = I, c0 = d/k = 1 + omega, c1 = d(k-1)/(k(d-1));  Q = Identity: D = I
        E f(x_t) - f* = 1/2 tr(H S_t),   E||x_t - x*||^2 = tr S_t

    (the cross terms vanish: xi_t and D_t are independent of z_t and E xi_t = 0). ``Q`` is Identity or
    RandomK; ``moments`` overrides its mask moments (the tests plant wrong ones); ``Sigma`` overrides the
    noise covariance of ``problem`` (default (sigma^2/d) I). ``problem`` needs H, x_star, x0, d, noise.
    """
    gamma = positive("gamma", gamma)
    T, grid = _grid(T, checkpoints)
    H, Sig = _hessian(problem), _sigma(problem, Sigma)
    d = H.shape[0]
    mm = mask_moments(Q, d) if moments is None else moments
    x_star = np.asarray(problem.x_star, dtype=np.float64)
    z0 = np.asarray(problem.x0, dtype=np.float64) - x_star
    A_mean = np.eye(d) - gamma * mm.first * H  # E[I - gamma D H]

    def step(state: tuple[np.ndarray, np.ndarray], t: int) -> tuple[np.ndarray, np.ndarray]:
        m, S = state
        HS = H @ S
        S_next = S - gamma * mm.first * (HS + HS.T) + gamma**2 * mm.sandwich(HS @ H + Sig)
        return A_mean @ m, _sym(S_next)

    def observe(state: tuple[np.ndarray, np.ndarray]) -> Observation:
        m, S = state
        return {"subopt": 0.5 * float(np.sum(H * S)), "dist2": float(np.trace(S))}, x_star + m, S

    return _propagate(T, grid, (z0, np.outer(z0, z0)), step, observe)


def sgd(problem: Any, gamma: float, T: int, checkpoints: np.ndarray | None = None, *,
        Sigma: np.ndarray | None = None) -> Moments:
    """Exact moments of plain SGD x_{t+1} = x_t - gamma g(x_t) (Robbins and Monro 1951; lecture Thm 12.2,
    seed 004; THEOREMS.md G2, whose stationary floor is the fixed point of this recursion):

        E z_{t+1} = (I - gamma H) E z_t
        S_{t+1} = (I - gamma H) S_t (I - gamma H) + gamma^2 Sigma

    (quantized_sgd with Q = Identity)."""
    return quantized_sgd(problem, Identity(), gamma, T, checkpoints, Sigma=Sigma)


# ----------------------------------------------------------------------------------------------------
# (3) heavy-ball momentum


def heavy_ball_sgd(
    problem: Any,
    gamma: float,
    beta: float,
    T: int,
    checkpoints: np.ndarray | None = None,
    *,
    Sigma: np.ndarray | None = None,
) -> Moments:
    """Exact moments of heavy-ball SGD x_{t+1} = x_t - gamma g_t + beta (x_t - x_{t-1}), x_{-1} = x_0
    (Polyak 1964; stochastic: Loizou and Richtarik, Comput. Optim. Appl. 2020; the Monte Carlo runner
    ratecheck.algorithms.momentum uses the equivalent buffer form m_t = beta m_{t-1} + g_t,
    x_{t+1} = x_t - gamma m_t). Joint state of the last two iterates (derived here):

        w_t = (z_t, z_{t-1}) in R^{2d},   w_{t+1} = A w_t - gamma B xi_t,
        A = [[(1 + beta) I - gamma H, -beta I],      B = [[I],
             [I,                        0     ]],         [0]]
        E w_{t+1} = A E w_t
        P_{t+1} = A P_t A^T + gamma^2 B Sigma B^T,   P_t = E w_t w_t^T,   P_0 = w_0 w_0^T, w_0 = (z_0, z_0)
        S_t = P_t[:d, :d],   E f(x_t) - f* = 1/2 tr(H S_t),   E||x_t - x*||^2 = tr S_t
    """
    gamma = positive("gamma", gamma)
    beta = in_interval("beta", beta, 0.0, 1.0, closed="left")
    T, grid = _grid(T, checkpoints)
    H, Sig = _hessian(problem), _sigma(problem, Sigma)
    d = H.shape[0]
    I = np.eye(d)
    A = np.block([[(1 + beta) * I - gamma * H, -beta * I], [I, np.zeros((d, d))]])
    N = np.zeros((2 * d, 2 * d))
    N[:d, :d] = gamma**2 * Sig  # gamma^2 B Sigma B^T
    x_star = np.asarray(problem.x_star, dtype=np.float64)
    z0 = np.asarray(problem.x0, dtype=np.float64) - x_star
    w0 = np.concatenate([z0, z0])

    def step(state: tuple[np.ndarray, np.ndarray], t: int) -> tuple[np.ndarray, np.ndarray]:
        m, P = state
        return A @ m, _sym(A @ P @ A.T + N)

    def observe(state: tuple[np.ndarray, np.ndarray]) -> Observation:
        m, P = state
        S = P[:d, :d]
        return {"subopt": 0.5 * float(np.sum(H * S)), "dist2": float(np.trace(S))}, x_star + m[:d], S

    return _propagate(T, grid, (w0, np.outer(w0, w0)), step, observe)


# ----------------------------------------------------------------------------------------------------
# (4) error feedback with unscaled random-k


def ef_sgd(
    problem: Any,
    C: Compressor,
    gamma: float,
    T: int,
    checkpoints: np.ndarray | None = None,
    *,
    moments: MaskMoments | None = None,
    Sigma: np.ndarray | None = None,
) -> Moments:
    """Exact moments of EF-SGD with a random mask compressor C(u) = D_t u, typically unscaled random-k
    (D = diag(M), delta = k/d) (lecture slide "Error Feedback SGD", seed 004; Stich, Cordonnier, Jaggi,
    NeurIPS 2018; Karimireddy et al., ICML 2019; THEOREMS.md T2 (b)). Joint state (derived here):

        u_t = e_t + gamma g_t = gamma H z_t + e_t + gamma xi_t,   x_{t+1} = x_t - D_t u_t,
        e_{t+1} = (I - D_t) u_t,   e_0 = 0
        w_t = (z_t, e_t) in R^{2d},  K = [gamma H, I] (d x 2d),  u_t = K w_t + gamma xi_t
        w_{t+1} = E0 w_t + F(D_t) u_t,   E0 = [[I, 0], [0, 0]],   F(D) = [[-D], [I - D]]
        U_t = E u_t u_t^T = K P_t K^T + gamma^2 Sigma,   E w_t u_t^T = P_t K^T,   F1 = E F(D) = [[-p I], [(1-p) I]]
        E w_{t+1} = (E0 + F1 K) E w_t
        P_{t+1} = E0 P_t E0^T + E0 P_t K^T F1^T + F1 K P_t E0^T + E[F(D) U_t F(D)^T], whose blocks are
            zz: E[D U D],   ze: E[D U D] - p U,   ee: (1 - 2p) U + E[D U D]
        with p = E D_ii = k/d and E[D U D] = c1 U + (c0 - c1) Diag(U), c0 = k/d, c1 = k(k-1)/(d(d-1)).
        E f(x_t) - f* = 1/2 tr(H P_zz),  E||x_t - x*||^2 = tr P_zz,  E||e_t||^2 = tr P_ee,
        E||x~_t - x*||^2 = tr(P_zz - 2 P_ze + P_ee)  (virtual iterate x~_t = x_t - e_t; ``vdist2``)

    (D_t is independent of w_t and xi_t, which gives the products of expectations above). With k = d,
    D = I and e_t = 0: plain SGD. The virtual iterate x_t - e_t is plain SGD (T2 (b)), a test identity.
    ``C`` is RandomK (scaled or not) or Identity; ``moments`` overrides its mask moments.
    """
    gamma = positive("gamma", gamma)
    T, grid = _grid(T, checkpoints)
    H, Sig = _hessian(problem), _sigma(problem, Sigma)
    d = H.shape[0]
    mm = mask_moments(C, d) if moments is None else moments
    p = mm.first
    I, O = np.eye(d), np.zeros((d, d))
    K = np.hstack([gamma * H, I])
    E0 = np.block([[I, O], [O, O]])
    F1 = np.vstack([-p * I, (1 - p) * I])
    A_mean = E0 + F1 @ K
    x_star = np.asarray(problem.x_star, dtype=np.float64)
    z0 = np.asarray(problem.x0, dtype=np.float64) - x_star
    w0 = np.concatenate([z0, np.zeros(d)])

    def step(state: tuple[np.ndarray, np.ndarray], t: int) -> tuple[np.ndarray, np.ndarray]:
        m, P = state
        U = K @ P @ K.T + gamma**2 * Sig
        DUD = mm.sandwich(U)
        cross = E0 @ P @ K.T @ F1.T  # E0 E[w u^T] E[F(D)]^T
        P_next = E0 @ P @ E0.T + cross + cross.T
        P_next[:d, :d] += DUD
        P_next[:d, d:] += DUD - p * U
        P_next[d:, :d] += DUD - p * U
        P_next[d:, d:] += (1 - 2 * p) * U + DUD
        return A_mean @ m, _sym(P_next)

    def observe(state: tuple[np.ndarray, np.ndarray]) -> Observation:
        m, P = state
        S = P[:d, :d]
        vals = {
            "subopt": 0.5 * float(np.sum(H * S)),
            "dist2": float(np.trace(S)),
            "e2": float(np.trace(P[d:, d:])),
            "vdist2": float(np.trace(S) - 2 * np.trace(P[:d, d:]) + np.trace(P[d:, d:])),
        }
        return vals, x_star + m[:d], S

    return _propagate(T, grid, (w0, np.outer(w0, w0)), step, observe)


# ----------------------------------------------------------------------------------------------------
# (5) local SGD on client quadratics


def local_sgd(
    problem: Any,
    gamma: float,
    tau: int,
    T: int,
    checkpoints: np.ndarray | None = None,
    *,
    Sigma: np.ndarray | None = None,
) -> Moments:
    """Exact moments of local SGD with n clients, tau local steps, then averaging (Stich, ICLR 2019; THEOREMS.md
    T4 (b) FedAvg with full participation and eta_g = 1; ratecheck.algorithms.local_sgd) on client quadratics
    f_i(x) = 1/2 (x - x*_i)^T H_i (x - x*_i) (problems/federated.py). Stacked state (derived here):

        z_{i,t} = y_{i,t} - x*,   b_i = grad f_i(x*) = H_i (x* - x*_i),   sum_i b_i = 0
        local step:  z_{i,t+1} = (I - gamma H_i) z_{i,t} - gamma b_i - gamma xi_{i,t}
        w = (z_1, ..., z_n) in R^{nd},  A = blockdiag(I - gamma H_i),  c = -gamma (b_1, ..., b_n)
            mu_{t+1} = A mu_t + c,              C_{t+1} = A C_t A^T + gamma^2 (I_n kron Sigma)
        if tau divides t + 1 (averaging),  Pi = (1/n) 1 1^T kron I_d:
            mu_{t+1} <- Pi mu_{t+1},             C_{t+1} <- Pi C_{t+1} Pi^T
        x_t = (1/n) sum_i y_{i,t},  E = (1/n) 1^T kron I_d:   S_t = E (C_t + mu_t mu_t^T) E^T
        E f(x_t) - f* = 1/2 tr(H S_t),  H = (1/n) sum_i H_i,   E||x_t - x*||^2 = tr S_t
        (1/n) sum_i E||y_{i,t} - x_t||^2 = (1/n) tr((I - Pi)(C_t + mu_t mu_t^T))

    (mu_t = E w_t, C_t = Cov w_t; clients draw independent noise). ``problem`` needs H_clients (n, d, d),
    x_star_clients (n, d), x_star, x0, n, d, noise (per client, covariance (sigma^2/d) I unless ``Sigma``).
    """
    gamma = positive("gamma", gamma)
    tau = integer("tau", tau, low=1)
    T, grid = _grid(T, checkpoints)
    Hs = np.asarray(problem.H_clients, dtype=np.float64)
    n, d = int(problem.n), int(problem.d)
    if Hs.shape != (n, d, d):
        raise InputError(f"H_clients must have shape ({n}, {d}, {d}), got {Hs.shape}")
    Sig = _sigma(problem, Sigma)
    H = Hs.mean(axis=0)
    x_star = np.asarray(problem.x_star, dtype=np.float64)
    b = np.einsum("nij,nj->ni", Hs, x_star - np.asarray(problem.x_star_clients, dtype=np.float64))
    nd = n * d
    A = np.zeros((nd, nd))
    for i in range(n):  # block structure assembled once (n is small); the recursion has no client loop
        A[i * d:(i + 1) * d, i * d:(i + 1) * d] = np.eye(d) - gamma * Hs[i]
    c = -gamma * b.reshape(nd)
    N = gamma**2 * np.kron(np.eye(n), Sig)
    Pi = np.kron(np.full((n, n), 1.0 / n), np.eye(d))
    E = np.kron(np.full((1, n), 1.0 / n), np.eye(d))
    z0 = np.asarray(problem.x0, dtype=np.float64) - x_star
    mu0 = np.tile(z0, n)

    def step(state: tuple[np.ndarray, np.ndarray], t: int) -> tuple[np.ndarray, np.ndarray]:
        mu, C = state
        mu, C = A @ mu + c, A @ C @ A.T + N
        if (t + 1) % tau == 0:
            mu, C = Pi @ mu, Pi @ C @ Pi.T
        return mu, _sym(C)

    def observe(state: tuple[np.ndarray, np.ndarray]) -> Observation:
        mu, C = state
        P = C + np.outer(mu, mu)
        S = E @ P @ E.T
        vals = {
            "subopt": 0.5 * float(np.sum(H * S)),
            "dist2": float(np.trace(S)),
            "consensus": float(np.trace(P) - np.trace(Pi @ P)) / n,
        }
        return vals, x_star + E @ mu, S

    return _propagate(T, grid, (mu0, np.zeros((nd, nd))), step, observe)


# ----------------------------------------------------------------------------------------------------
# (6) FedAvg and SCAFFOLD on HeterogeneousClients, full participation, round by round

FED_SCAFFOLD_OPTIONS = ("I", "II")
FED_SCAFFOLD_INITS = ("zero", "gradient")


def _fed_setup(problem: Any, eta_l: float, K: int, eta_g: float, Sigma: np.ndarray | None):
    eta_l, eta_g = positive("eta_l", eta_l), positive("eta_g", eta_g)
    K = integer("K", K, low=1)
    if float(getattr(problem, "c", 0.0)) != 0.0:
        raise InputError(f"exact federated moments need a quadratic problem (c = 0), got {problem!r}")
    Hs = np.asarray(problem.H_clients, dtype=np.float64)
    N, d = int(problem.N), int(problem.d)
    if Hs.shape != (N, d, d):
        raise InputError(f"H_clients must have shape ({N}, {d}, {d}), got {Hs.shape}")
    w = np.asarray(problem.w, dtype=np.float64)
    Sig = _sigma(problem, Sigma)
    I = np.eye(d)
    P = I[None] - eta_l * Hs
    PK = np.empty_like(Hs)  # P_i^K
    Ssum = np.empty_like(Hs)  # S_i = sum_{k<K} P_i^k
    M = np.empty_like(Hs)  # M_i = sum_{k<K} P_i^k Sigma P_i^k
    for i in range(N):  # assembled once (N small)
        Pk, S_, M_ = I.copy(), np.zeros((d, d)), np.zeros((d, d))
        for _ in range(K):
            S_ += Pk
            M_ += Pk @ Sig @ Pk.T
            Pk = P[i] @ Pk
        PK[i], Ssum[i], M[i] = Pk, S_, _sym(M_)
    return eta_l, eta_g, K, Hs, w, Sig, PK, Ssum, M


def _fed_run(problem: Any, T: int, checkpoints: np.ndarray | None, A: np.ndarray, b: np.ndarray, Q: np.ndarray,
             m0: np.ndarray, C0: np.ndarray) -> Moments:
    """Propagate s+ = A s + b + noise (covariance Q, independent of s): m+ = A m + b, C+ = A C A^T + Q;
    observe S = C_zz + m_z m_z^T on the first d coordinates (z = x - x*)."""
    T, grid = _grid(T, checkpoints)
    d = int(problem.d)
    H = np.asarray(problem.H_clients, dtype=np.float64).mean(axis=0)
    x_star = np.asarray(problem.x_star, dtype=np.float64)

    def step(state: tuple[np.ndarray, np.ndarray], t: int) -> tuple[np.ndarray, np.ndarray]:
        m, C = state
        return A @ m + b, _sym(A @ C @ A.T + Q)

    def observe(state: tuple[np.ndarray, np.ndarray]) -> Observation:
        m, C = state
        S = C[:d, :d] + np.outer(m[:d], m[:d])
        return {"subopt": 0.5 * float(np.sum(H * S)), "dist2": float(np.trace(S))}, x_star + m[:d], S

    return _propagate(T, grid, (m0, C0), step, observe)


def fedavg(problem: Any, eta_l: float, K: int, T: int, checkpoints: np.ndarray | None = None, *,
           eta_g: float = 1.0, Sigma: np.ndarray | None = None) -> Moments:
    """Exact moments of FedAvg with full participation (S = N), one ROUND per step (McMahan et al. 2017;
    ratecheck.algorithms.federated.fedavg) on problems.federated.HeterogeneousClients with c = 0:
    f_i(x) = 1/2 z^T H_i z + w_i^T z, z = x - x*, g_i(y) = H_i (y - x*) + w_i + xi (xi: cov Sigma). Derived here:

        P_i = I - eta_l H_i,  local step  y - x* <- P_i (y - x*) - eta_l (w_i + xi_k)
        after K steps from y = x:  y_i - x* = P_i^K z - eta_l S_i w_i - eta_l n_i,
            S_i = sum_{k<K} P_i^k,   n_i = sum_k P_i^{K-1-k} xi_k,   Cov n_i = M_i = sum_{k<K} P_i^k Sigma P_i^k
        x+ - x* = z + eta_g (1/N) sum_i (y_i - x) =  A z + b + noise,
            A = (1 - eta_g) I + (eta_g/N) sum_i P_i^K,   b = -(eta_g eta_l/N) sum_i S_i w_i,
            noise covariance Q = (eta_g eta_l/N)^2 sum_i M_i   (clients and steps draw independent noise)
        E z+ = A E z + b,   Cov z+ = A Cov z A^T + Q,   S = Cov z + E z E z^T
        E f(x) - f* = 1/2 tr(H S), H = (1/N) sum_i H_i (sum_i w_i = 0),   E||x - x*||^2 = tr S

    Fixed point of the mean: (sum_i A_i) z = -eta_l sum_i S_i w_i with A_i = I - P_i^K = eta_l H_i S_i, i.e.
    x_FA = (sum A_i)^{-1} sum A_i x*_i, x*_i = x* - H_i^{-1} w_i (the test identity)."""
    eta_l, eta_g, K, Hs, w, _, PK, Ssum, M = _fed_setup(problem, eta_l, K, eta_g, Sigma)
    N, d = Hs.shape[0], Hs.shape[1]
    A = (1 - eta_g) * np.eye(d) + eta_g * PK.mean(axis=0)
    b = -(eta_g * eta_l / N) * np.einsum("nij,nj->i", Ssum, w)
    Q = (eta_g * eta_l / N) ** 2 * M.sum(axis=0)
    z0 = np.asarray(problem.x0, dtype=np.float64) - np.asarray(problem.x_star, dtype=np.float64)
    return _fed_run(problem, T, checkpoints, A, b, Q, z0, np.zeros((d, d)))


def scaffold(problem: Any, eta_l: float, K: int, T: int, checkpoints: np.ndarray | None = None, *,
             eta_g: float = 1.0, option: str = "II", init: str = "zero", Sigma: np.ndarray | None = None) -> Moments:
    """Exact moments of SCAFFOLD (Karimireddy et al., ICML 2020, Algorithm 1) with full participation, one
    ROUND per step, on HeterogeneousClients with c = 0 (notation of ``fedavg``). Derived here:

        state s = (z, c_1, ..., c_N) in R^{(N+1)d};  c = (1/N) sum_j c_j always (full participation:
            c <- c + mean_i (c_i+ - c_i) keeps it the mean);  E_j s = c_j,  Ebar = (1/N) sum_j E_j
        local step: y - x* <- P_i (y - x*) - eta_l (w_i + xi_k - c_i + c)
        after K steps: y_i - x* = Y_i s + y0_i - eta_l n_i,
            Y_i = P_i^K Z + eta_l S_i (E_i - Ebar)   (Z s = z),   y0_i = -eta_l S_i w_i
        z+ = z + eta_g (1/N) sum_i (y_i - x)  ->  rows  Z + (eta_g/N) sum_i (Y_i - Z),  const (eta_g/N) sum y0_i,
            noise  -(eta_g eta_l/N) n_i
        Option I:   c_i+ = H_i z + w_i + xi'_i        (fresh gradient at x: rows H_i Z, const w_i, noise xi'_i)
        Option II:  c_i+ = c_i - c + (x - y_i)/(K eta_l)
                        = (E_i - Ebar) s + (Z s - Y_i s - y0_i)/(K eta_l) + n_i / K
        s+ = A s + b + sum_i G_i n_i (+ sum_i F_i xi'_i),  noise covariance
            Q = sum_i G_i M_i G_i^T (+ sum_i F_i Sigma F_i^T)   (n_i, xi'_i independent of s and of each other)
        E s+ = A E s + b,   Cov s+ = A Cov s A^T + Q
        init 'zero': c_i = 0;  init 'gradient': c_i = H_i z0 + w_i + xi_i (mean H_i z0 + w_i, Cov blockdiag Sigma)
        E f(x) - f* = 1/2 tr(H S),  E||x - x*||^2 = tr S,  S = Cov z + E z E z^T  (first d coordinates)

    With Sigma = 0 the fixed point of the mean is z = 0, c_i = w_i (= grad f_i(x*))."""
    if option not in FED_SCAFFOLD_OPTIONS:
        raise InputError(f"option must be one of {', '.join(map(repr, FED_SCAFFOLD_OPTIONS))}, got {option!r}")
    if init not in FED_SCAFFOLD_INITS:
        raise InputError(f"init must be one of {', '.join(map(repr, FED_SCAFFOLD_INITS))}, got {init!r}")
    eta_l, eta_g, K, Hs, w, Sig, PK, Ssum, M = _fed_setup(problem, eta_l, K, eta_g, Sigma)
    N, d = Hs.shape[0], Hs.shape[1]
    D = (N + 1) * d
    I = np.eye(d)
    Z = np.zeros((d, D))
    Z[:, :d] = I
    E = np.zeros((N, d, D))
    for j in range(N):
        E[j, :, (j + 1) * d:(j + 2) * d] = I
    Ebar = E.mean(axis=0)
    Y = np.stack([PK[i] @ Z + eta_l * Ssum[i] @ (E[i] - Ebar) for i in range(N)])
    y0 = -eta_l * np.einsum("nij,nj->ni", Ssum, w)
    A = np.zeros((D, D))
    b = np.zeros(D)
    Q = np.zeros((D, D))
    A[:d] = Z + (eta_g / N) * (Y - Z[None]).sum(axis=0)
    b[:d] = (eta_g / N) * y0.sum(axis=0)
    for i in range(N):
        r = slice((i + 1) * d, (i + 2) * d)
        G = np.zeros((D, d))  # loading of n_i
        G[:d] = -(eta_g * eta_l / N) * I
        if option == "I":
            A[r] = Hs[i] @ Z
            b[r] = w[i]
            Q[r, r] += Sig  # xi'_i
        else:
            A[r] = (E[i] - Ebar) + (Z - Y[i]) / (K * eta_l)
            b[r] = -y0[i] / (K * eta_l)
            G[r] = I / K
        Q += G @ M[i] @ G.T
    z0 = np.asarray(problem.x0, dtype=np.float64) - np.asarray(problem.x_star, dtype=np.float64)
    m0 = np.zeros(D)
    m0[:d] = z0
    C0 = np.zeros((D, D))
    if init == "gradient":
        for i in range(N):
            r = slice((i + 1) * d, (i + 2) * d)
            m0[r] = Hs[i] @ z0 + w[i]
            C0[r, r] = Sig
    return _fed_run(problem, T, checkpoints, A, b, _sym(Q), m0, C0)
