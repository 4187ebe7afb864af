"""Byzantine-robust SGD with worker momentum (THEOREMS.md T7 (b)).

Source: Karimireddy, He, Jaggi, "Learning from history for Byzantine robust optimization", ICML 2021
(Alg. 2, as restated by Yang, Shi, Li, ICLR 2024) [SECONDARY]; lecture seeds 000/002; code
epfml/byzantine-robust-optimizer (codes/simulators/worker.py) [CODE].

n workers, f of them Byzantine; the n - f good workers are the clients of ``problem`` (a ClientProblem:
i.i.d. workers of one objective are ``IIDClients(problem, n - f)``, non-iid ones G3 clients). Round t:

    g_i = g_i(x_t)                                  good worker i: a stochastic gradient (G2 noise)
    m_i = g_i (t = 0),  m_i = (1 - beta) g_i + beta m_i (t >= 1)     worker momentum, the paper's damped form
    b_1..b_f = attack(m_good)                       omniscient Byzantine vectors, seeing the good momenta
    u = AGG(m_1..m_{n-f}, b_1..b_f)                 robust aggregation (CenteredClip keeps its centre v)
    x_{t+1} = x_t - gamma u

The epfml code uses the undamped m <- beta m + g (THEOREMS.md Appendix B item 7): the same iterates as
the damped form with gamma replaced by gamma/(1 - beta) (pass gamma (1 - beta) to reproduce the code).
beta = 0 is SGD with robust aggregation and no momentum.

Batched over replicas and workers: the state is x (R, d) and the good momenta m (R, n - f, d); the loop is
over rounds only. Recorded at every round t = 0..T (ratecheck.trace.Recorder: values at the checkpoints,
running averages ``avg_*``, tail averages with a burn-in):
    gnorm2   = ||grad f(x_t)||^2                    (f the mean of the good workers' objectives)
    subopt   = f(x_t) - f*
    agg_err  = ||AGG(m^t) - mean_G(m^t)||^2          (the aggregation error of Yang et al. Lemma 2)
    rho2     = (1/|G|(|G|-1)) sum_{i != j in G} ||m_i - m_j||^2   (the good momenta's pairwise spread)
The measures at round t use the momenta that round t aggregates. A diverging run is recorded, never a
crash: its values become inf from the step it diverged (ratecheck.algorithms.loop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ratecheck.aggregators import Aggregator
from ratecheck.algorithms.loop import run_steps, tile
from ratecheck.problem import ClientProblem, broadcast_clients
from ratecheck.trace import Trace
from ratecheck.validate import InputError, in_interval, integer, positive

__all__ = ["MEASURES", "byzantine_sgd"]

MEASURES = ("gnorm2", "subopt", "agg_err", "rho2")


def _sq(a: np.ndarray) -> np.ndarray:
    return np.einsum("...j,...j->...", a, a)


def _spread(m: np.ndarray) -> np.ndarray:
    """(R,) mean pairwise squared distance of the k = m.shape[1] vectors: 2k/(k-1) mean_i ||m_i - m_bar||^2."""
    k = m.shape[1]
    if k < 2:
        return np.zeros(m.shape[0])
    c = m - m.mean(axis=1, keepdims=True)
    return 2.0 / (k - 1) * np.einsum("rkd,rkd->r", c, c)


def _server(agg: Aggregator, R: int, d: int) -> tuple[object, Callable]:
    """The aggregator's state and its update (G, state, rng) -> (u, state): CenteredClip carries its centre v
    across rounds (started at 0, THEOREMS.md T7 (a)); the others are stateless."""
    if hasattr(agg, "init") and hasattr(agg, "update"):
        return agg.init(R, d), agg.update
    return None, lambda G, state, rng: (agg(G, rng), None)


def byzantine_sgd(
    problem: ClientProblem,
    agg: Aggregator,
    attack: Callable | None,
    f: int,
    gamma: float,
    beta: float,
    T: int,
    R: int,
    rng: np.random.Generator,
    checkpoints: np.ndarray | None = None,
    burn_in: int | None = None,
    *,
    measures: tuple[str, ...] | None = None,
) -> Trace:
    """R independent runs of robust SGD with worker momentum for T rounds (module docstring): the n - f good
    workers are the clients of ``problem``, the f Byzantine ones send ``attack(m_good, f, rng)``
    (ratecheck.attacks; None only with f = 0), ``agg`` aggregates the n = problem.n + f vectors.

    Bad input is an InputError naming the parameter: beta outside [0, 1), gamma <= 0, f >= n/2, an
    aggregator whose requirement fails for (n, f) or that tolerates fewer than f Byzantine inputs."""
    if not hasattr(problem, "client_stoch_grads"):
        raise InputError(f"problem must be a ClientProblem (client_stoch_grads); wrap one objective as IIDClients(problem, n - f), got {problem!r}")
    if not isinstance(agg, Aggregator):
        raise InputError(f"agg must be a ratecheck.aggregators.Aggregator, got {agg!r}")
    good = integer("problem.n (good workers)", problem.n, low=1)
    f = integer("f", f, low=0)
    n = good + f
    if 2 * f >= n:
        raise InputError(f"f must be < n/2 (a Byzantine minority), got f={f} of n={n} workers")
    if f > 0 and attack is None:
        raise InputError(f"attack must be given when f > 0, got attack=None with f={f}")
    if agg.f < f:
        raise InputError(f"agg tolerates f={agg.f} Byzantine inputs, fewer than the run's f={f}")
    agg.check(n)  # InputError naming f, n and the aggregator's requirement
    gamma = positive("gamma", gamma)
    beta = in_interval("beta", beta, 0.0, 1.0, closed="left")
    want = MEASURES if measures is None else tuple(measures)
    if not want or any(m not in MEASURES for m in want):
        raise InputError(f"measures must be a non-empty subset of {MEASURES}, got {measures!r}")
    d = int(problem.d)

    def steps() -> Iterator[dict[str, np.ndarray]]:
        x = tile(problem.x0, R)
        state, update = _server(agg, R, d)
        m = None
        while True:
            g = problem.client_stoch_grads(broadcast_clients(x, good), rng)  # g_i = g_i(x_t), (R, n - f, d)
            m = g if m is None else (1 - beta) * g + beta * m  # m_i = (1 - beta) g_i + beta m_i (t = 0: m_i = g_i)
            G = m if f == 0 else np.concatenate([m, attack(m, f, rng)], axis=1)  # good momenta, then the f Byzantine
            u, state = update(G, state, rng)  # u = AGG(m_1..m_n)
            out: dict[str, np.ndarray] = {}
            for name in want:
                if name == "gnorm2":
                    out[name] = _sq(problem.grad(x))
                elif name == "subopt":
                    out[name] = problem.loss(x) - problem.f_star
                elif name == "agg_err":
                    out[name] = _sq(u - m.mean(axis=1))
                elif name == "rho2":
                    out[name] = _spread(m)
            yield out
            x = x - gamma * u  # x_{t+1} = x_t - gamma AGG(m^t)

    return run_steps(steps(), T, R, checkpoints, burn_in, {"gamma": gamma, "beta": beta, "n": float(n), "f": float(f)})
