"""What an algorithm run returns: monitored quantities per replica at log-spaced checkpoints (DESIGN.md,
"Algorithm").

A ``Trace`` holds, for every monitored name (``subopt`` = f(x_t) - f*, ``dist2`` = ||x_t - x*||^2, ...):
  * ``values[name]``, shape ``(R, len(t))``: the value at step ``t`` (x_t after t updates);
  * ``values["avg_" + name]``: the running average (1/t) sum_{s<t} of the value over steps 0..t-1, the
    left-hand side of the "averaged" theorems (e.g. lecture Thm 12.2);
  * ``values["tail_" + name]`` when a burn-in is set: the average over steps burn_in..t-1 (stationary
    floors).
``diverged_at[r]`` is the first step at which replica r became non-finite or exceeded ``blowup`` times its
start value (-1 if never); from there on its values are ``inf``, so a diverging run is a recorded fact
(a mean of ``inf`` is above every bound) and never a NaN in a plot.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from ratecheck.validate import InputError, integer

BLOWUP = 1e10  # a value above BLOWUP * max(|start|, 1) (or non-finite) counts as diverged


def log_checkpoints(T: int, per_decade: int = 12) -> np.ndarray:
    """Log-spaced integer steps from 1 to T (both included), about ``per_decade`` per decade."""
    T = integer("T", T, low=1)
    n = max(2, int(np.ceil(per_decade * np.log10(max(T, 10)))) + 1)
    return np.unique(np.round(np.geomspace(1, T, n)).astype(np.int64))


def pair_checkpoints(T: int, every_step_until: int = 64) -> np.ndarray:
    """Every step up to ``every_step_until``, then log-spaced pairs (t, t+1) and T: the checkpoints of a
    per-step inequality between consecutive steps (a lemma of a proof, checked at t and t+1)."""
    T = integer("T", T, low=1)
    base = log_checkpoints(T)
    early = np.arange(1, min(every_step_until, T) + 1)
    return np.unique(np.concatenate([early, base[base < T], base[base < T] + 1, [T]]))


def checkpoint_grid(T: int, checkpoints: np.ndarray | None = None) -> np.ndarray:
    """The steps at which a run of T steps records: ``checkpoints`` (whose last entry must be T) or,
    by default, log-spaced in 1..T."""
    T = integer("T", T, low=1)
    if checkpoints is None:
        return log_checkpoints(T)
    grid = np.asarray(checkpoints)
    if grid.ndim != 1 or grid.size == 0 or grid[-1] != T:
        raise InputError(f"checkpoints must end at T = {T}, got {checkpoints!r}")
    return grid


@dataclass
class Trace:
    """Monitored values per replica at checkpoints ``t`` (see the module docstring)."""

    t: np.ndarray
    values: dict[str, np.ndarray]
    diverged_at: np.ndarray
    constants: dict[str, float] = field(default_factory=dict)

    @property
    def R(self) -> int:
        return int(self.diverged_at.shape[0])

    @property
    def T(self) -> int:
        return int(self.t[-1])

    def first_divergence(self) -> int | None:
        """The earliest step at which some replica diverged, or None."""
        hit = self.diverged_at[self.diverged_at >= 0]
        return int(hit.min()) if hit.size else None

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays = {f"v:{k}": v for k, v in self.values.items()}
        np.savez(buf, t=self.t, diverged_at=self.diverged_at, constants=json.dumps(self.constants), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Trace:
        with np.load(io.BytesIO(data)) as z:
            values = {k[2:]: z[k] for k in z.files if k.startswith("v:")}
            return cls(t=z["t"], values=values, diverged_at=z["diverged_at"], constants=json.loads(str(z["constants"])))


class Recorder:
    """Collects monitored values at every step t = 0..T of a run batched over R replicas.

    Call ``record(t, subopt=..., dist2=...)`` once per step with arrays of shape ``(R,)``; ``trace()``
    returns the Trace. Running sums make the averages exact over every step, not just checkpoints.
    """

    def __init__(self, t: np.ndarray, R: int, burn_in: int | None = None) -> None:
        self.t = np.asarray(t, dtype=np.int64)
        if self.t.ndim != 1 or self.t.size == 0 or self.t[0] < 1 or np.any(np.diff(self.t) <= 0):
            raise InputError(f"checkpoints must be increasing integers >= 1, got {t!r}")
        self.R = integer("R", R, low=1)
        self.burn_in = burn_in
        self._slot = {int(s): i for i, s in enumerate(self.t)}
        self._sum: dict[str, np.ndarray] = {}
        self._tail: dict[str, np.ndarray] = {}
        self._limit: dict[str, np.ndarray] = {}
        self._cap: dict[str, float] = {}  # the smallest limit of each name: the fast path's one comparison
        self._any_gone = False
        self.values: dict[str, np.ndarray] = {}
        self.diverged_at = np.full(self.R, -1, dtype=np.int64)

    @property
    def T(self) -> int:
        return int(self.t[-1])

    def record(self, t: int, **monitored: np.ndarray) -> None:
        """Record the values at step t (x_t); the averages at checkpoint t use steps 0..t-1."""
        slot = self._slot.get(t)
        for name, value in monitored.items():
            v = np.asarray(value, dtype=np.float64).reshape(self.R)
            if name not in self._sum:
                self._sum[name] = np.zeros(self.R)
                self._limit[name] = BLOWUP * np.maximum(np.abs(v), 1.0)
                self._tail[name] = np.zeros(self.R)
                self._cap[name] = self._limit[name].min()
                for prefix in ("", "avg_") + (("tail_",) if self.burn_in is not None else ()):
                    self.values[prefix + name] = np.empty((self.R, self.t.size))
            if not self._any_gone and np.abs(v).max() <= self._cap[name]:
                # fast path: nothing has diverged and every |v| is below the smallest limit (False for NaN)
                if slot is not None:
                    self._write(name, slot, t, v, None)
                self._sum[name] += v
                if self.burn_in is not None and t >= self.burn_in:
                    self._tail[name] += v
                continue
            bad = ~(np.abs(v) <= self._limit[name])  # also catches NaN and inf
            if bad.any():
                self.diverged_at[bad & (self.diverged_at < 0)] = t
                self._any_gone = True
            if self._any_gone:
                gone = self.diverged_at >= 0
                v = np.where(gone, np.inf, v)
                if slot is not None:
                    self._write(name, slot, t, v, gone)
                self._sum[name] += np.where(gone, 0.0, v)
                if self.burn_in is not None and t >= self.burn_in:
                    self._tail[name] += np.where(gone, 0.0, v)
            else:  # nothing has diverged (some |v| is above another replica's limit)
                if slot is not None:
                    self._write(name, slot, t, v, None)
                self._sum[name] += v
                if self.burn_in is not None and t >= self.burn_in:
                    self._tail[name] += v

    def _write(self, name: str, slot: int, t: int, v: np.ndarray, gone: np.ndarray | None) -> None:
        self.values[name][:, slot] = v
        avg = self._sum[name] / t
        self.values["avg_" + name][:, slot] = avg if gone is None else np.where(gone, np.inf, avg)
        if self.burn_in is not None:
            n_tail = t - self.burn_in
            tail = self._tail[name] / n_tail if n_tail > 0 else np.full(self.R, np.nan)
            self.values["tail_" + name][:, slot] = tail if gone is None else np.where(gone, np.inf, tail)

    def all_diverged(self) -> bool:
        return self._any_gone and bool(np.all(self.diverged_at >= 0))

    def trace(self, constants: dict[str, float] | None = None) -> Trace:
        """The Trace; if every replica diverged early the remaining checkpoints are filled with inf."""
        return Trace(self.t.copy(), {k: v.copy() for k, v in self.values.items()}, self.diverged_at.copy(), dict(constants or {}))

    def fill_diverged(self, t_stop: int) -> None:
        """After stopping early at step t_stop (all replicas diverged), mark later checkpoints inf."""
        later = self.t > t_stop
        for v in self.values.values():
            v[:, later] = np.inf
