"""Federated algorithms with client sampling, batched over replicas and clients (THEOREMS.md T4 (b)).

Sources: McMahan et al., AISTATS 2017 (FedAvg); Karimireddy et al., "SCAFFOLD", ICML 2020, Algorithm 1
(Options I and II); Karimireddy et al., "Mime" (arXiv 2008.03606; NeurIPS 2021), code google/fedjax
fedjax/algorithms/mime.py and mime_lite.py (same minibatch at y and x; base-optimizer state frozen during
the local steps); MimeMVR / MimeLiteMVR as THEOREMS.md T4 (b) writes them [UNVERIFIED reconstruction].

One call runs R independent replicas for T rounds. Every round each replica samples its own S of the N
clients without replacement (problems.federated.sample_clients); the client iterates of all replicas are
one array y of shape (R, S, d) and the local steps are a loop over k = 1..K only. The server model x is
recorded at every round r = 0..T: subopt = f(x_r) - f*, dist2 = ||x_r - x*||^2, grad2 = ||grad f(x_r)||^2
(and their running averages avg_<name>, ratecheck.trace.Recorder), so T counts rounds.

``problem`` is a federated client problem with the oracle of problems.federated.HeterogeneousClients:
client_stoch_grads(y, rng, clients, xi) and client_grads(y, clients) on (R, S, d) with client indices
(R, S) (clients = None: all N clients in order), loss, grad, x0, x_star, f_star, N, d.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.problem import sample_clients
from ratecheck.trace import Trace
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = ["fedavg", "mime", "scaffold", "server_only"]

SCAFFOLD_OPTIONS = ("I", "II")
SCAFFOLD_INITS = ("zero", "gradient")
MIME_BASES = ("momentum", "mvr")
SERVER_BASES = ("sgd", "momentum", "mvr")


def _choice(name: str, value: object, options: tuple[str, ...]) -> str:
    if value not in options:
        raise InputError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return str(value)


def _setup(problem, K: int, S: int | None, R: int) -> tuple[int, int, int]:
    N = int(problem.N)
    K = integer("K", K, low=1)
    S = N if S is None else integer("S", S, low=1, high=N)
    return K, S, integer("R", R, low=1)


def _monitor(problem, x: np.ndarray, reference: np.ndarray | None = None) -> dict[str, np.ndarray]:
    g = problem.grad(x)
    out = {"subopt": problem.loss(x) - problem.f_star, "dist2": np.sum((x - problem.x_star) ** 2, axis=-1),
           "grad2": np.sum(g * g, axis=-1)}
    if reference is not None:  # a predicted limit point (e.g. FedAvg's x_FA): ||x_r - reference||^2
        out["ref_dist2"] = np.sum((x - reference) ** 2, axis=-1)
    return out


def _sample(R: int, N: int, S: int, rng: np.random.Generator) -> np.ndarray | None:
    """This round's clients (R, S); None for full participation (every client, in order)."""
    return None if S == N else sample_clients(R, N, S, rng)


def _rows(c_all: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """The sampled clients' rows of a per-client state of shape (R, N, d): (R, S, d)."""
    return c_all if idx is None else np.take_along_axis(c_all, idx[..., None], axis=1)


def fedavg(problem, eta_l: float, K: int, T: int, R: int, rng: np.random.Generator, *, eta_g: float = 1.0,
           S: int | None = None, checkpoints: np.ndarray | None = None, reference: np.ndarray | None = None) -> Trace:
    """FedAvg / local SGD (THEOREMS.md T4 (b); SCAFFOLD paper Sec. 3), per round:

        sample S clients;  y_i <- x;  K times  y_i <- y_i - eta_l g_i(y_i);
        x <- x + (eta_g / S) sum_{i in S} (y_i - x)

    With ``reference`` (a point of shape (d,)), ||x_r - reference||^2 is recorded as ref_dist2."""
    eta_l, eta_g = positive("eta_l", eta_l), positive("eta_g", eta_g)
    K, S, R = _setup(problem, K, S, R)
    N = int(problem.N)

    def rounds() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        while True:
            yield _monitor(problem, x, reference)
            idx = _sample(R, N, S, rng)
            y = np.repeat(x[:, None, :], S, axis=1)  # y_i <- x
            for _ in range(K):
                y = y - eta_l * problem.client_stoch_grads(y, rng, idx)  # y_i <- y_i - eta_l g_i(y_i)
            x = x + eta_g * (y - x[:, None, :]).mean(axis=1)  # x <- x + (eta_g/S) sum (y_i - x)

    return run_steps(rounds(), T, R, checkpoints, None, {"eta_l": eta_l, "eta_g": eta_g, "K": float(K), "S": float(S), "N": float(N)})


def scaffold(problem, eta_l: float, K: int, T: int, R: int, rng: np.random.Generator, *, eta_g: float = 1.0,
             S: int | None = None, option: str = "II", init: str = "zero", stale: bool = False,
             checkpoints: np.ndarray | None = None, reference: np.ndarray | None = None) -> Trace:
    """SCAFFOLD, Algorithm 1 of Karimireddy et al. (ICML 2020), per round:

        sample S clients; on each i in S:  y_i <- x;  K times  y_i <- y_i - eta_l (g_i(y_i) - c_i + c)
            c_i+ <- g_i(x)                                (Option I: an extra pass at the server point)
            c_i+ <- c_i - c + (x - y_i) / (K eta_l)       (Option II)
            (Delta y_i, Delta c_i) = (y_i - x, c_i+ - c_i);  c_i <- c_i+
        server: x <- x + eta_g mean_S Delta y_i;   c <- c + (S/N) mean_S Delta c_i

    Control variates start at 0 (``init='zero'``, the paper) or at c_i = g_i(x_0), c = mean_i c_i
    (``init='gradient'``: one extra pass before round 0). ``stale=True`` is the negative control of T4 (f):
    the control variates are never updated (they keep their initial values)."""
    eta_l, eta_g = positive("eta_l", eta_l), positive("eta_g", eta_g)
    K, S, R = _setup(problem, K, S, R)
    option = _choice("option", option, SCAFFOLD_OPTIONS)
    init = _choice("init", init, SCAFFOLD_INITS)
    N, d = int(problem.N), int(problem.d)
    rows = np.arange(R)[:, None]

    def rounds() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        if init == "zero":
            c_all = np.zeros((R, N, d))
        else:
            c_all = problem.client_stoch_grads(np.repeat(x[:, None, :], N, axis=1), rng)  # c_i = g_i(x_0)
        c = c_all.mean(axis=1)  # c = (1/N) sum_i c_i
        while True:
            yield _monitor(problem, x, reference)
            idx = _sample(R, N, S, rng)
            c_i = _rows(c_all, idx)
            y = np.repeat(x[:, None, :], S, axis=1)  # y_i <- x
            for _ in range(K):
                y = y - eta_l * (problem.client_stoch_grads(y, rng, idx) - c_i + c[:, None, :])
            if stale:
                c_new = c_i
            elif option == "I":
                c_new = problem.client_stoch_grads(np.repeat(x[:, None, :], S, axis=1), rng, idx)  # c_i+ = g_i(x)
            else:
                c_new = c_i - c[:, None, :] + (x[:, None, :] - y) / (K * eta_l)  # c_i+ = c_i - c + (x - y_i)/(K eta_l)
            dy, dc = (y - x[:, None, :]).mean(axis=1), (c_new - c_i).mean(axis=1)
            if idx is None:
                c_all = c_new
            else:
                c_all = c_all.copy()
                c_all[rows, idx] = c_new  # c_i <- c_i+ for the sampled clients
            x = x + eta_g * dy  # x <- x + eta_g Delta x
            c = c + (S / N) * dc  # c <- c + (|S|/N) Delta c

    consts = {"eta_l": eta_l, "eta_g": eta_g, "K": float(K), "S": float(S), "N": float(N)}
    return run_steps(rounds(), T, R, checkpoints, None, consts)


def mime(problem, eta: float, K: int, T: int, R: int, rng: np.random.Generator, *, base: str = "momentum",
         beta: float = 0.9, a: float = 0.1, lite: bool = False, eta_s: float = 1.0, S: int | None = None,
         checkpoints: np.ndarray | None = None) -> Trace:
    """Mime and MimeLite with momentum or MVR as the base optimizer (THEOREMS.md T4 (b); fedjax mime.py,
    mime_lite.py), per round, with the server state m FROZEN during the local steps:

        sample S clients;  c <- (1/S) sum_{i in S} grad f_i(x)        (full local-batch gradients at x)
        on each client: y <- x; K times, with one minibatch xi per step used at y and at x:
          momentum:  gt = g_i(y; xi) - g_i(x; xi) + c  (Mime)  |  gt = g_i(y; xi)  (MimeLite)
                     y <- y - eta ((1 - beta) gt + beta m)
          MVR:       d = g_i(y; xi) - g_i(x; xi) + a c + (1 - a) m                        (MimeMVR)
                     d = a g_i(y; xi) + (1 - a)(m + g_i(y; xi) - g_i(x; xi))              (MimeLiteMVR)
                     y <- y - eta d
        server: x+ <- x - eta_s mean_S (x - y_i);
          momentum:  m <- (1 - beta) c + beta m                       (c: the gradient at the OLD x)
          MVR:       m <- a grad f_S(x+) + (1 - a)(m + grad f_S(x+) - grad f_S(x))   (same clients S)

    m starts at 0; MVR's server state starts at m = grad f_S(x_0) of round 0's clients."""
    eta, eta_s = positive("eta", eta), positive("eta_s", eta_s)
    base = _choice("base", base, MIME_BASES)
    beta = in_interval("beta", beta, 0.0, 1.0, closed="left")
    a = in_interval("a", a, 0.0, 1.0, closed="right")
    K, S, R = _setup(problem, K, S, R)
    N = int(problem.N)

    def rounds() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        m = None
        while True:
            yield _monitor(problem, x)
            idx = _sample(R, N, S, rng)
            xs = np.repeat(x[:, None, :], S, axis=1)
            grads_x = problem.client_grads(xs, idx)  # grad f_i(x), i in S
            c = grads_x.mean(axis=1)  # c <- (1/S) sum_{i in S} grad f_i(x)
            if m is None:
                m = np.zeros_like(x) if base == "momentum" else c
            y = xs.copy()
            for _ in range(K):
                xi = problem.noise.sample(y.shape, rng)  # one minibatch, used at y and at x
                g_y = problem.client_stoch_grads(y, rng, idx, xi)
                g_x = grads_x + xi
                if base == "momentum":
                    gt = g_y if lite else g_y - g_x + c[:, None, :]
                    y = y - eta * ((1 - beta) * gt + beta * m[:, None, :])
                elif lite:
                    y = y - eta * (a * g_y + (1 - a) * (m[:, None, :] + g_y - g_x))
                else:
                    y = y - eta * (g_y - g_x + a * c[:, None, :] + (1 - a) * m[:, None, :])
            x_new = x - eta_s * (x[:, None, :] - y).mean(axis=1)  # x+ <- x - eta_s mean (x - y_i)
            if base == "momentum":
                m = (1 - beta) * c + beta * m  # m <- (1 - beta) c + beta m
            else:
                c_new = problem.client_grads(np.repeat(x_new[:, None, :], S, axis=1), idx).mean(axis=1)
                m = a * c_new + (1 - a) * (m + c_new - c)
            x = x_new

    consts = {"eta": eta, "eta_s": eta_s, "K": float(K), "S": float(S), "N": float(N), "beta": beta, "a": a}
    return run_steps(rounds(), T, R, checkpoints, None, consts)


def server_only(problem, eta: float, T: int, R: int, rng: np.random.Generator, *, base: str = "momentum",
                beta: float = 0.9, a: float = 0.1, S: int | None = None, checkpoints: np.ndarray | None = None) -> Trace:
    """The server-only baselines of the Mime comparison (THEOREMS.md T4 (c): S client gradients per round,
    no local steps), with g = grad f_S(x) = (1/S) sum_{i in S} grad f_i(x) (the same full local-batch
    gradients as Mime's c):

        sgd:       x <- x - eta g
        momentum:  m <- (1 - beta) g + beta m;   x <- x - eta m
        MVR:       d <- g(x) + (1 - a)(d - g(x_prev)), both at this round's clients S;  x <- x - eta d
    """
    eta = positive("eta", eta)
    base = _choice("base", base, SERVER_BASES)
    beta = in_interval("beta", beta, 0.0, 1.0, closed="left")
    a = in_interval("a", a, 0.0, 1.0, closed="right")
    _, S, R = _setup(problem, 1, S, R)
    N = int(problem.N)

    def grad_S(x: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        return problem.client_grads(np.repeat(x[:, None, :], S, axis=1), idx).mean(axis=1)

    def rounds() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        m = np.zeros_like(x)
        x_prev = None
        while True:
            yield _monitor(problem, x)
            idx = _sample(R, N, S, rng)
            g = grad_S(x, idx)
            if base == "sgd":
                x_prev, x = x, x - eta * g
            elif base == "momentum":
                m = (1 - beta) * g + beta * m
                x_prev, x = x, x - eta * m
            else:
                m = g if x_prev is None else g + (1 - a) * (m - grad_S(x_prev, idx))  # d_t (STORM)
                x_prev, x = x, x - eta * m

    return run_steps(rounds(), T, R, checkpoints, None, {"eta": eta, "S": float(S), "N": float(N), "beta": beta, "a": a})
