"""Byzantine attacks, the robustness ratio they produce, and a search over attack scales (THEOREMS.md T7).

An attack is omniscient: it sees the vectors the good workers send this round (gradients, or momenta
when momentum is on), ``good`` of shape (R, n - f, d), and returns the f Byzantine vectors (R, f, d):

    attack(good, f, rng) -> (R, f, d)

The attacks (each cites its source; THEOREMS.md T7 (a) "Attacks [CODE, exact]"):
    ALIE(z)        mu - z sigma, coordinate-wise mean and (ddof = 1) std of the good vectors; z = z_max(n, f)
                   by default (Baruch, Baruch, Goldberg, NeurIPS 2019)
    IPM(eps)       -eps mean(good) (Xie, Koyejo, Gupta, UAI 2019)
    SignFlip       -(own gradient) (epfml bitflipping)
    LabelFlip(b)   own gradient + b: the gradient of the flipped-target objective on least squares
    Mimic          every Byzantine worker copies one good worker (Karimireddy, He, Jaggi, ICLR 2022)
    Gaussian       N(mu, sigma^2 I) vectors (ByzFL's Gaussian attack)

In this omniscient model the "own gradient" of Byzantine worker j (SignFlip, LabelFlip) is represented by
the good vector number j mod (n - f): it has the law a Byzantine worker's honest gradient would have.

``robustness_ratio`` measures E||AGG - mean_G||^2 / (delta rho^2) (the (delta_max, c)-robustness of
T7 (a)) on iid Gaussian good inputs; ``search_scale`` looks for the ALIE or IPM scale that maximizes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, NamedTuple

import numpy as np
from scipy import optimize, stats

from ratecheck.aggregators import Aggregator
from ratecheck.validate import InputError, integer, positive

__all__ = [
    "ALIE",
    "IPM",
    "Attack",
    "Gaussian",
    "LabelFlip",
    "Mimic",
    "RatioEstimate",
    "ScaleSearch",
    "SignFlip",
    "alie_z_max",
    "byzantine_inputs",
    "robustness_ratio",
    "search_scale",
]


def _good(good: object) -> np.ndarray:
    good = np.asarray(good)
    if good.ndim != 3:
        raise InputError(f"good must be an array of shape (R, n - f, d), got shape {good.shape}")
    return good if np.issubdtype(good.dtype, np.floating) else good.astype(np.float64)


class Attack:
    """An omniscient attack (module docstring). Subclasses set ``NAME`` and ``MIN_GOOD`` (the number of
    good vectors it needs) and implement ``_attack``."""

    NAME: ClassVar[str] = ""
    MIN_GOOD: ClassVar[int] = 1

    def __call__(self, good: np.ndarray, f: int, rng: np.random.Generator) -> np.ndarray:
        good = _good(good)
        f = integer("f", f, low=0)
        if good.shape[1] < self.MIN_GOOD:
            raise InputError(
                f"{type(self).__name__} needs at least {self.MIN_GOOD} good vector(s), got {good.shape[1]}"
            )
        return self._attack(good, f, rng)

    def _attack(self, good: np.ndarray, f: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict[str, object]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.params().items())
        return f"{type(self).__name__}({args})"


def _own(good: np.ndarray, f: int) -> np.ndarray:
    """The f 'own gradients' of the Byzantine workers: good vector j mod (n - f) for worker j."""
    return good[:, np.arange(f) % good.shape[1]]


def alie_z_max(n: int, f: int) -> float:
    """z_max of ALIE (Baruch et al. 2019; epfml codes/attacks/alittle.py): with the number of
    supporters s = floor(n/2 + 1) - f, z_max = Phi^{-1}((n - f - s)/(n - f)). Test vectors (THEOREMS.md T7):
    (25, 5) -> 0.2533, (25, 11) -> 1.0676, (20, 4) -> 0.1573, (10, 2) -> 0. Needs 1 <= f <= floor(n/2)."""
    n = integer("n", n, low=2)
    f = integer("f", f, low=1, high=n // 2)
    s = math.floor(n / 2 + 1) - f
    return float(stats.norm.ppf((n - f - s) / (n - f)))


class ALIE(Attack):
    """A little is enough (Baruch, Baruch, Goldberg, NeurIPS 2019): every Byzantine worker sends
    mu - z sigma, mu and sigma the coordinate-wise mean and (ddof = 1) standard deviation of the good
    vectors; z = ``alie_z_max(n, f)`` when not given (the epfml code's default). Needs 2 good vectors."""

    NAME = "alie"
    MIN_GOOD = 2

    def __init__(self, z: float | None = None) -> None:
        if z is not None and not (isinstance(z, (int, float)) and math.isfinite(z)):
            raise InputError(f"z must be a finite number or None, got {z!r}")
        self.z = None if z is None else float(z)

    def params(self) -> dict[str, object]:
        return {"z": self.z}

    def _attack(self, good: np.ndarray, f: int, rng: np.random.Generator) -> np.ndarray:
        z = alie_z_max(good.shape[1] + f, f) if self.z is None else self.z
        v = good.mean(axis=1) - z * good.std(axis=1, ddof=1)
        return np.repeat(v[:, None, :], f, axis=1)


class IPM(Attack):
    """Inner-product manipulation (Xie, Koyejo, Gupta, UAI 2019, "Fall of empires"): every Byzantine worker
    sends -eps mean(good); epfml code eps = 0.1 (with 11 of 25 Byzantine). The plain mean becomes
    ((n - f) - f eps)/n mean(good): reversed iff eps > (n - f)/f."""

    NAME = "ipm"

    def __init__(self, eps: float = 0.1) -> None:
        self.eps = positive("eps", eps, allow_zero=True)

    def params(self) -> dict[str, object]:
        return {"eps": self.eps}

    def _attack(self, good: np.ndarray, f: int, rng: np.random.Generator) -> np.ndarray:
        return np.repeat(-self.eps * good.mean(axis=1)[:, None, :], f, axis=1)


class SignFlip(Attack):
    """Sign (bit) flipping (epfml codes/attacks/bitflipping.py): Byzantine worker j sends -(its own
    gradient), represented by good vector j mod (n - f) (module docstring)."""

    NAME = "sign_flip"

    def _attack(self, good: np.ndarray, f: int, rng: np.random.Generator) -> np.ndarray:
        return -_own(good, f)


class LabelFlip(Attack):
    """Label flipping, synthetic analogue: Byzantine worker j sends its own gradient plus ``bias``.

    Why: the code flips labels y -> 9 - y; its synthetic analogue flips the sign of the targets
    (THEOREMS.md T7 (a)). On least squares f(x) = (1/2)||Ax - b||^2 the flipped objective (1/2)||Ax + b||^2
    has gradient A^T(Ax + b) = grad f(x) + 2 A^T b = grad f(x) - 2 grad f(0), for every x and every
    sampled row block: the flipped worker's message is exactly an honest stochastic gradient shifted by the
    constant bias = -2 grad f(0) (for f(x) = (1/2)(x - x*)^T H (x - x*): bias = 2 H x*, zero when x* = 0,
    where label flipping is no attack at all). The own gradient is good vector j mod (n - f).
    ``bias`` has shape (d,) or (R, d)."""

    NAME = "label_flip"

    def __init__(self, bias: np.ndarray) -> None:
        bias = np.asarray(bias, dtype=float)
        if bias.ndim not in (1, 2) or not np.isfinite(bias).all():
            raise InputError(f"bias must be a finite array of shape (d,) or (R, d), got shape {bias.shape}")
        self.bias = bias

    @classmethod
    def from_grad_at_zero(cls, grad0: np.ndarray) -> LabelFlip:
        """The label flip of a least-squares or quadratic problem from its gradient at 0:
        bias = -2 grad f(0)."""
        return cls(-2.0 * np.asarray(grad0, dtype=float))

    def params(self) -> dict[str, object]:
        return {"bias": self.bias.tolist()}

    def _attack(self, good: np.ndarray, f: int, rng: np.random.Generator) -> np.ndarray:
        bias = self.bias if self.bias.ndim == 1 else self.bias[:, None, :]
        if self.bias.shape[-1] != good.shape[-1]:
            raise InputError(f"bias has dimension {self.bias.shape[-1]}, the good vectors {good.shape[-1]}")
        return _own(good, f) + bias


class Mimic(Attack):
    """Mimic (Karimireddy, He, Jaggi, ICLR 2022, Sec. 5; epfml codes/attacks/mimic.py MimicVariantAttacker):
    all Byzantine workers send a copy of one good worker, the one that maximizes the projection on the top
    principal direction z of the centred good vectors. The code estimates z during a warm-up by an online
    power iteration from a seeded random start, so the sign of z (argmax or argmin) is arbitrary there; here
    z is the exact top eigenvector of this round's centred vectors and the worker of largest |projection|
    is copied. ``target`` (an index, or one per replica) fixes the copied worker instead, as after the
    code's warm-up; ``choose(good)`` gives the rule's choice, to fix it across rounds."""

    NAME = "mimic"

    def __init__(self, target: int | np.ndarray | None = None) -> None:
        if target is not None:
            target = np.asarray(target)
            if not np.issubdtype(target.dtype, np.integer) or target.ndim > 1 or (target < 0).any():
                raise InputError(f"target must be a worker index >= 0 or one per replica, got {target!r}")
        self.target = target

    def params(self) -> dict[str, object]:
        return {"target": None if self.target is None else self.target.tolist()}

    @staticmethod
    def choose(good: np.ndarray) -> np.ndarray:
        """(R,) index of the good worker with the largest |projection| on the top principal direction."""
        good = _good(good)
        C = good - good.mean(axis=1, keepdims=True)
        gram = C @ np.swapaxes(C, 1, 2)  # (R, m, m); its top eigenvector u gives projections lambda u_i
        _, vecs = np.linalg.eigh(gram)
        return np.argmax(np.abs(vecs[:, :, -1]), axis=1)

    def _attack(self, good: np.ndarray, f: int, rng: np.random.Generator) -> np.ndarray:
        R, m, _ = good.shape
        target = self.choose(good) if self.target is None else np.broadcast_to(self.target, (R,))
        if (target >= m).any():
            raise InputError(f"target must be < the number of good workers {m}, got {self.target!r}")
        copy = np.take_along_axis(good, target[:, None, None], axis=1)
        return np.repeat(copy, f, axis=1)


class Gaussian(Attack):
    """Random vectors N(mu, sigma^2 I) (ByzFL's Gaussian attack); needs no good vector, only d."""

    NAME = "gaussian"
    MIN_GOOD = 0

    def __init__(self, sigma: float = 1.0, mu: float = 0.0) -> None:
        self.sigma = positive("sigma", sigma)
        if not (isinstance(mu, (int, float)) and math.isfinite(mu)):
            raise InputError(f"mu must be a finite number, got {mu!r}")
        self.mu = float(mu)

    def params(self) -> dict[str, object]:
        return {"sigma": self.sigma, "mu": self.mu}

    def _attack(self, good: np.ndarray, f: int, rng: np.random.Generator) -> np.ndarray:
        R, _, d = good.shape
        return self.mu + self.sigma * rng.standard_normal((R, f, d))


# ----------------------------------------------------------------------------------------------------
# measuring robustness


def byzantine_inputs(good: np.ndarray, attack: Callable, f: int, rng: np.random.Generator) -> np.ndarray:
    """The n = (n - f) + f inputs of one round, (R, n, d): the good vectors, then the attack's."""
    good = _good(good)
    return np.concatenate([good, attack(good, f, rng)], axis=1)


class RatioEstimate(NamedTuple):
    """E||AGG - mean_G||^2/(delta rho^2) over R replicas: mean, its standard error, the per-replica values."""

    mean: float
    se: float
    samples: np.ndarray


def _ratios(
    agg: Aggregator, attack: Callable, good: np.ndarray, previous: np.ndarray, f: int, rho2: float, seed: int
) -> np.ndarray:
    n = good.shape[1] + f
    G = byzantine_inputs(good, attack, f, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    out = agg.step(G, previous) if hasattr(agg, "step") else agg(G, rng)
    err2 = np.sum((out - good.mean(axis=1)) ** 2, axis=1)
    return err2 / ((f / n) * rho2)


NOISES = ("gaussian", "exponential")


def _draw(
    n: int, f: int, d: int, sigma: float, R: int, rng: np.random.Generator, noise: str
) -> tuple[np.ndarray, np.ndarray]:
    """Good inputs (R, n - f, d) with mean 0 and covariance sigma^2 I, and a previous round's good mean."""
    if noise not in NOISES:
        raise InputError(f"noise must be one of {NOISES}, got {noise!r}")

    def sample(shape: tuple[int, ...]) -> np.ndarray:
        if noise == "gaussian":
            return sigma * rng.standard_normal(shape)
        return sigma * (rng.standard_exponential(shape) - 1.0)  # skewed, mean 0, variance sigma^2

    return sample((R, n - f, d)), sample((R, n - f, d)).mean(axis=1)


def robustness_ratio(
    agg: Aggregator,
    attack: Callable,
    n: int,
    f: int,
    d: int,
    *,
    sigma: float = 1.0,
    R: int = 200,
    rng: np.random.Generator,
    noise: str = "gaussian",
) -> RatioEstimate:
    """E||AGG(x_1..x_n) - mean_G||^2 / (delta rho^2), delta = f/n, on good inputs iid N(0, sigma^2 I_d) (or,
    with ``noise="exponential"``, iid centred Exp(1) coordinates times sigma: skewed, THEOREMS.md T7 (f)),
    so rho^2 = E||x_k - x_k'||^2 = 2 sigma^2 d exactly (THEOREMS.md G5), and the f Byzantine inputs from
    ``attack``. A stateful rule (CenteredClip) starts from the previous round's good mean, modelled as the
    mean of an independent good sample. Returns the mean over R replicas and its standard error."""
    n = integer("n", n, low=2)
    f = integer("f", f, low=1, high=n - 1)
    good, previous = _draw(
        n, f, integer("d", d, low=1), positive("sigma", sigma), integer("R", R, low=2), rng, noise
    )
    r = _ratios(agg, attack, good, previous, f, 2 * sigma**2 * d, int(rng.integers(2**31)))
    return RatioEstimate(float(r.mean()), float(r.std(ddof=1) / math.sqrt(R)), r)


class ScaleSearch(NamedTuple):
    """The worst scale found for one attack family: its ratio estimate, the grid searched and whether the
    worst point lies beyond the last-but-one grid point (then the ratio may grow without bound in the
    scale)."""

    family: str
    scale: float
    ratio: float
    se: float
    grid: np.ndarray
    grid_ratios: np.ndarray
    at_bound: bool


FAMILIES: dict[str, Callable[[float], Attack]] = {"alie": lambda z: ALIE(z), "ipm": lambda eps: IPM(eps)}


def search_scale(
    agg: Aggregator,
    family: str,
    n: int,
    f: int,
    d: int,
    *,
    bounds: tuple[float, float] = (0.0, 20.0),
    sigma: float = 1.0,
    R: int = 100,
    grid: int = 21,
    rng: np.random.Generator,
) -> ScaleSearch:
    """The scale of an ALIE (z) or IPM (eps) attack that maximizes the robustness ratio, with common random
    numbers (one draw of good inputs and one rng seed for every scale, so the objective is a deterministic
    function of the scale): a grid over ``bounds``, then scipy's bounded Brent search between the
    neighbours of the best grid point. The returned ratio is the best found, a lower bound on the worst."""
    if family not in FAMILIES:
        raise InputError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    lo, hi = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InputError(f"bounds must be finite with low < high, got {bounds!r}")
    n = integer("n", n, low=2)
    f = integer("f", f, low=1, high=n - 1)
    good, previous = _draw(
        n, f, integer("d", d, low=1), positive("sigma", sigma), integer("R", R, low=2), rng, "gaussian"
    )
    rho2, seed = 2 * sigma**2 * d, int(rng.integers(2**31))

    def ratios(scale: float) -> np.ndarray:
        return _ratios(agg, FAMILIES[family](scale), good, previous, f, rho2, seed)

    xs = np.linspace(lo, hi, integer("grid", grid, low=3))
    ys = np.array([ratios(x).mean() for x in xs])
    i = int(np.argmax(ys))
    best_x, best_y = float(xs[i]), float(ys[i])
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, len(xs) - 1)]
    res = optimize.minimize_scalar(
        lambda x: -ratios(x).mean(), bounds=(a, b), method="bounded", options={"xatol": 1e-3 * (hi - lo)}
    )
    if -res.fun > best_y:
        best_x, best_y = float(res.x), float(-res.fun)
    r = ratios(best_x)
    return ScaleSearch(
        family,
        best_x,
        best_y,
        float(r.std(ddof=1) / math.sqrt(R)),
        xs,
        ys,
        at_bound=bool(best_x > xs[-2]),
    )
