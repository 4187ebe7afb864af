"""``ratecheck falsify ID``: search the instances a theorem's assumptions allow for the largest ratio of the
measured value to the bound (issue #4 item 3).

A theorem declares its instance space as ``Theorem.search = SearchSpace(...)``: a box of parameters
(spectrum shape, initial point, noise direction, compressor parameter, step fraction, T, ...) and a function
that runs the algorithm on the instance those parameters describe. The search maximizes

    ratio(instance) = max over checkpoints t of  mean_R(measure at t) / bound(t, instance's constants)

with scipy.optimize.differential_evolution (seeded, so the search is reproducible), each evaluation on a
few replicas with a generator seeded from the instance. The worst instance found is then re-run with many
replicas and a fresh seed, and its ratio gets a two-sided 99 % confidence interval (Student t on the mean,
divided by the bound). A true theorem stays at or below 1 within the interval; a wrong bound is found above.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from ratecheck import fit
from ratecheck.sweep import Context
from ratecheck.theorem import Theorem, evaluate
from ratecheck.trace import Trace
from ratecheck.validate import InputError, integer


@dataclass
class SearchSpace:
    """Instances allowed by a theorem's assumptions: ``params`` maps a name to its (low, high) range
    (names in ``integers`` are rounded, names in ``log`` are searched on a log scale); ``run(ctx,
    instance, R, rng)`` returns a Trace; with the constants the run registers in its Context
    (ratecheck.sweep) it holds every symbol of the bound."""

    params: dict[str, tuple[float, float]]
    run: Callable[[Context, dict, int, np.random.Generator], Trace]
    measure: str = "avg_subopt"
    integers: frozenset[str] = field(default_factory=frozenset)
    log: frozenset[str] = field(default_factory=frozenset)
    R: int = 24
    R_confirm: int = 400


def _instance(space: SearchSpace, z: np.ndarray) -> dict[str, float]:
    out = {}
    for (name, (lo, hi)), u in zip(space.params.items(), z):
        v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if name in space.log else lo + u * (hi - lo)
        out[name] = round(v) if name in space.integers else float(v)
    return out


def ratio_curve(thm: Theorem, space: SearchSpace, instance: dict, R: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checkpoints, mean, standard error and bound of one instance."""
    ctx = Context(thm)
    tr = ctx.finish(space.run(ctx, instance, R, rng))
    mean, se = fit.mean_se(tr.values[space.measure])
    b = np.broadcast_to(evaluate(thm.bound, {**tr.constants, "T": tr.t}), tr.t.shape)
    return tr.t, mean, se, b


def falsify(thm: Theorem, *, budget: int = 120, seed: int = 0) -> dict[str, Any]:
    """The worst instance found within ``budget`` evaluations, with the confirmed ratio and its interval."""
    space = thm.search
    if not isinstance(space, SearchSpace):
        raise InputError(f"{thm.id} declares no search space (Theorem.search); falsify cannot run on it")
    budget = integer("budget", budget, low=10)
    dim = len(space.params)
    popsize = max(5, min(15, budget // (4 * dim) or 1))
    maxiter = max(1, budget // (popsize * dim) - 1)
    evaluations: list[tuple[float, dict]] = []

    def objective(z: np.ndarray) -> float:
        inst = _instance(space, z)
        key = zlib.crc32(json.dumps(inst, sort_keys=True).encode())
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))
        _, mean, _, b = ratio_curve(thm, space, inst, space.R, rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = float(np.nanmax(np.where(b > 0, mean / b, 0.0)))
        r = min(r, 1e12) if not math.isnan(r) else 1e12
        evaluations.append((r, inst))
        return -math.log(max(r, 1e-300))

    optimize.differential_evolution(objective, [(0.0, 1.0)] * dim, maxiter=maxiter, popsize=popsize, seed=seed,
                                    polish=False, tol=0, init="sobol" if popsize * dim >= 2 else "latinhypercube")
    worst_ratio, worst = max(evaluations, key=lambda e: e[0])
    # confirmation with many replicas and an independent seed
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xC0FFEE,)))
    t, mean, se, b = ratio_curve(thm, space, worst, space.R_confirm, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(b > 0, mean / b, 0.0)
    i = int(np.nanargmax(ratio))
    q = fit.t_quantile(0.005, space.R_confirm)
    lo, hi = (mean[i] - q * se[i]) / b[i], (mean[i] + q * se[i]) / b[i]
    verdict = "VIOLATED" if lo > 1 else "HOLDS" if hi <= 1 else "INCONCLUSIVE"
    return {"theorem": thm.id, "evaluations": len(evaluations), "search_worst_ratio": worst_ratio, "instance": worst,
            "confirmed_ratio": float(ratio[i]), "ci_low": float(lo), "ci_high": float(hi), "at_T": int(t[i]),
            "R_confirm": space.R_confirm, "verdict": verdict}
