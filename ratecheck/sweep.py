"""Declared sweeps: grids of points, the point a run reads, and the context a run works in (DESIGN.md,
"Running").

A theorem declares its points, it does not write loops for them:

    grid(problem=("isotropic", "log-spaced"), Q=("random_k:5", "identity"), sigma=1.0, T=4000)

is the product of the named values (a tuple or list is an axis, the first one outermost; anything else a
constant), ``zipped(T=(1000, 2000), gamma=(0.1, 0.05))`` pairs axes of equal length, ``+`` concatenates
grids, ``*`` takes their product, ``.where(pred)`` keeps some points, ``.set(T=3000)`` overrides a value on
every point and ``.derive(inv_sqrt_T=lambda p: ...)`` adds a value computed from each point. A point is a
plain dict; its contents seed its run (ratecheck.run.point_seed), so two declarations that expand to the
same dicts give the same numbers.

A run reads its point through ``Point``, a mapping that names the missing key and the known ones when a
run asks for a key the point does not have, and records what the run read: after the run the engine
refuses a declared key that neither the run nor any check read (a misspelled key in the declaration).

A run gets a ``Context``: ``ctx.step(rule, **overrides)`` is the step size of a declared rule at the
constants known so far (the engine records which rules a run read, so a mutant that changes another rule
reuses the run), ``ctx.problem(f)`` and ``ctx.compressor(spec, d)`` build the instance and the operator and
merge their certified constants (L, mu, sigma, R0, ...; omega, delta, bits, k) into the run's trace, and
``ctx.record(**constants)`` adds or overrides others. No run has to copy constants into its trace.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ratecheck.validate import InputError

if TYPE_CHECKING:
    from ratecheck.compressors import Compressor
    from ratecheck.theorem import Theorem
    from ratecheck.trace import Trace

# ----------------------------------------------------------------------------------------------------
# grids


class Grid(Sequence[dict]):
    """An ordered list of sweep points (dicts), built from named values (module docstring)."""

    def __init__(self, points: Iterable[Mapping[str, Any]] = ()) -> None:
        self._points = [dict(p) for p in points]

    def __getitem__(self, i):  # type: ignore[override]
        return Grid(self._points[i]) if isinstance(i, slice) else dict(self._points[i])

    def __len__(self) -> int:
        return len(self._points)

    def __iter__(self) -> Iterator[dict]:
        return (dict(p) for p in self._points)

    def __add__(self, other: Iterable[Mapping[str, Any]]) -> Grid:
        return Grid([*self._points, *other])

    def __mul__(self, other: Iterable[Mapping[str, Any]]) -> Grid:
        return Grid({**a, **b} for a in self._points for b in other)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (Grid, list, tuple)) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Grid({self._points!r})"

    def where(self, keep: Callable[[dict], bool]) -> Grid:
        """The points for which ``keep(point)`` is true."""
        return Grid(p for p in self._points if keep(dict(p)))

    def set(self, **values: Any) -> Grid:
        """Every point with these values (added, or replacing the declared ones)."""
        return Grid({**p, **values} for p in self._points)

    def derive(self, **functions: Callable[[dict], Any]) -> Grid:
        """Every point with values computed from it, e.g. derive(inv_sqrt_T=lambda p: 1 / sqrt(p["T"]))."""
        return Grid({**p, **{k: fn(dict(p)) for k, fn in functions.items()}} for p in self._points)

    def map(self, fn: Callable[[dict], Mapping[str, Any]]) -> Grid:
        """Every point transformed by ``fn`` (for a mutant that changes what some points run)."""
        return Grid(fn(dict(p)) for p in self._points)


def _axis(value: Any) -> list:
    return list(value) if isinstance(value, (tuple, list, range, np.ndarray)) else [value]


def grid(**axes: Any) -> Grid:
    """The product of the named values, the first name outermost (a tuple or list is an axis, anything
    else a constant): grid(a=(1, 2), b=(3, 4), c=0) -> a=1,b=3; a=1,b=4; a=2,b=3; a=2,b=4 (each with c=0)."""
    names = list(axes)
    values = [_axis(axes[k]) for k in names]
    for k, v in zip(names, values):
        if not v:
            raise InputError(f"grid axis {k!r} is empty")
    return Grid(dict(zip(names, combo)) for combo in itertools.product(*values))


def zipped(**axes: Any) -> Grid:
    """Axes of equal length taken together (constants broadcast): zipped(T=(10, 20), gamma=(0.1, 0.05))."""
    names = list(axes)
    values = {k: _axis(axes[k]) for k in names}
    lengths = {len(v) for v in values.values() if len(v) != 1}
    if len(lengths) > 1:
        raise InputError(f"zipped axes must have equal lengths, got {{{', '.join(f'{k}: {len(v)}' for k, v in values.items())}}}")
    size = lengths.pop() if lengths else 1
    return Grid({k: (v[i] if len(v) > 1 else v[0]) for k, v in values.items()} for i in range(size))


def points(*declared: Mapping[str, Any]) -> Grid:
    """Points written out one by one (where no product describes them)."""
    return Grid(declared)


# ----------------------------------------------------------------------------------------------------
# the point a run reads


class Point(Mapping[str, Any]):
    """A sweep point as the run sees it: a read-only mapping that records the keys read and refuses a
    missing key with its name and the known ones (``get`` with a default is for optional keys)."""

    def __init__(self, values: Mapping[str, Any], sweep: str = "") -> None:
        self._values = dict(values)
        self._sweep = sweep
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        if key not in self._values:
            close = difflib.get_close_matches(key, list(self._values), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = f"sweep {self._sweep!r}: " if self._sweep else ""
            raise InputError(f"{where}the run reads point[{key!r}], which the point does not have{hint} "
                             f"(its keys: {', '.join(self._values)}; use point.get(key, default) for an optional key)")
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Point({self._values!r})"


def unread_keys(point: Mapping[str, Any], read: Iterable[str]) -> list[str]:
    """The declared keys of ``point`` that are not in ``read``."""
    seen = set(read)
    return [k for k in point if k not in seen]


# ----------------------------------------------------------------------------------------------------
# the context of one run


@dataclass
class Context:
    """What a run may use besides its point (module docstring): the theorem's step rules, recorded as they
    are read, and the certified constants merged into the run's trace."""

    theorem: Theorem
    constants: dict[str, Any] = field(default_factory=dict)
    steps_read: set[str] = field(default_factory=set)

    def step(self, rule: str, constants: Mapping[str, Any] | None = None, /, **overrides: Any) -> float:
        """The step size of the declared rule, evaluated at the constants known so far (or at ``constants``
        when given), with ``overrides`` on top; the rule is recorded as read by this run."""
        self.steps_read.add(rule)
        env = dict(self.constants if constants is None else constants)
        return self.theorem.step(rule, {**env, **overrides})

    def problem(self, problem: Any) -> Any:
        """Register a problem: its certified constants (``problem.constants``) go into the trace."""
        self.constants.update(getattr(problem, "constants", {}))
        return problem

    def compressor(self, spec: str, d: int) -> Compressor:
        """The compressor named by ``spec`` (ratecheck.compressors.parse), with its declared constants at
        dimension d (omega or delta where it has them, bits per step, k) registered for the trace."""
        from ratecheck.compressors import parse

        C = parse(spec)
        self.constants.update(C.constants(d))
        return C

    def record(self, **constants: Any) -> None:
        """Add or override constants of the trace (the step used, a claimed value, the horizon T)."""
        self.constants.update(constants)

    def finish(self, trace: Trace) -> Trace:
        """The run's trace with the registered constants merged in (they override the algorithm's own)."""
        trace.constants.update(self.constants)
        return trace


# ----------------------------------------------------------------------------------------------------
# sweeps


Points = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Sweep:
    """A named set of points and the function that runs one: ``run(ctx, point, R, rng) -> Trace`` for R
    replicas (``ctx`` a Context, ``point`` a Point). ``quick`` is the ``--quick`` subset: a predicate on
    the points, or points of its own (e.g. shorter horizons); by default the same points. ``quick_R``:
    the replicas of ``--quick`` (default R)."""

    name: str
    run: Callable[..., Trace]
    points: Points
    R: int
    quick: Callable[[dict], bool] | Points | None = None
    quick_R: int | None = None

    def plan(self, quick: bool) -> tuple[list[dict], int]:
        """The points and the replicas of a full or ``--quick`` run."""
        if not quick:
            return [dict(p) for p in self.points], self.R
        if self.quick is None:
            chosen: Iterable[Mapping[str, Any]] = self.points
        elif callable(self.quick):
            chosen = [p for p in self.points if self.quick(dict(p))]
        else:
            chosen = self.quick
        return [dict(p) for p in chosen], self.quick_R or self.R

    def map_points(self, fn: Callable[[dict], Mapping[str, Any]]) -> Sweep:
        """The sweep with ``fn`` applied to every point, full and quick (a mutant that changes what runs)."""
        quick = self.quick if self.quick is None or callable(self.quick) else Grid(self.quick).map(fn)
        return replace(self, points=Grid(self.points).map(fn), quick=quick)
