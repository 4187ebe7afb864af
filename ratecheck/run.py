"""Sweeps x replicas: discovery, seeding, caching, resume, parallel backends, progress (DESIGN.md, "Running").

Every sweep point gets its own generator from ``SeedSequence(master_seed, spawn_key=hash(stream, sweep,
point))`` (``stream``: the theorem's declared seed stream, by default its id), so a point's numbers never
depend on which worker runs it or in which order, and a renamed copy of a theorem file runs on the same
draws. A point runs in a fresh ``Context`` (ratecheck.sweep) on a recording ``Point``: the context records
the step rules the run read and merges the certified constants into the trace; the point records the keys
the run read, and a declared key that neither the run nor a check reads is an error (a misspelling).

Each finished point is written atomically (temporary file + ``os.replace``) to
``.ratecheck-cache/<theorem>/<key>-<steps>.npz``, where the key hashes the sweep, the point, R, the seed
and the source code a run depends on (``code_files``: the engine less the evaluation-only modules such as
report.py and the checks, the problems package and the theorem file), and <steps> hashes the step rules
the run read (``<key>.rules.json`` lists them and the point keys read): a planted mutant that changes only
the bound, or a step rule this point does not use, reuses the run, and editing report.py reruns nothing.
``resume=True`` reuses what is there, so a killed run loses no finished point.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import json
import os
import pkgutil
import re
import sys
import tempfile
import types
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from ratecheck.sweep import Context, Grid, Point, unread_keys
from ratecheck.theorem import Run, Theorem
from ratecheck.trace import Trace
from ratecheck.validate import InputError

CACHE_DIR = Path(os.environ.get("RATECHECK_CACHE", ".ratecheck-cache"))


# ----------------------------------------------------------------------------------------------------
# discovery


def kebab(module_name: str) -> str:
    return module_name.replace("_", "-")


def available() -> list[str]:
    """Ids of the theorems in the ``theorems`` package (every module defining THEOREM)."""
    import theorems

    return sorted(kebab(m.name) for m in pkgutil.iter_modules(theorems.__path__) if not m.name.startswith("_"))


@cache
def load(ref: str) -> Theorem:
    """A theorem by id (``quantized-sgd``), by the path of a Python file that defines THEOREM, or a planted
    mutant of either (``quantized-sgd~faster-T``, see ratecheck.mutate)."""
    if "~" in ref:
        from ratecheck.mutate import mutate

        base, _, name = ref.rpartition("~")
        mutant = mutate(load(base), name)
        mutant.validate()
        return mutant
    if ref.endswith(".py") or os.sep in ref:
        path = Path(ref).resolve()
        if not path.is_file():
            raise InputError(f"theorem file {ref!r} does not exist")
        name = path.stem
        module_name = "ratecheck_user_" + re.sub(r"\W", "_", name)
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        ids = available()
        if ref not in ids:
            close = difflib.get_close_matches(ref, ids, n=1, cutoff=0.4)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"unknown theorem {ref!r}{hint} (known: {', '.join(ids)}; or give the path of a .py file)")
        name = ref.replace("-", "_")
        module = importlib.import_module(f"theorems.{name}")
        path = Path(module.__file__).resolve()  # type: ignore[arg-type]
    thm = getattr(module, "THEOREM", None)
    if not isinstance(thm, Theorem):
        raise InputError(f"{ref}: the module must define THEOREM = Theorem(...)")
    thm.id = kebab(name)
    thm.path = str(path)
    thm.validate()
    return thm


# ----------------------------------------------------------------------------------------------------
# seeding and caching


def canonical(point: dict) -> str:
    return json.dumps(point, sort_keys=True, default=str)


def point_seed(master_seed: int, stream: str, sweep: str, point: dict) -> np.random.SeedSequence:
    """The SeedSequence of one sweep point: independent of scheduling and of the other points."""
    key = tuple(zlib.crc32(x.encode()) for x in (stream, sweep, canonical(point)))
    return np.random.SeedSequence(master_seed, spawn_key=key)


# Modules whose code cannot change a run's numbers: they read finished runs (checks, fits, reports, the
# CLI, mutants, the falsification search) or only schedule them. Every other file of the engine (algorithms,
# transforms, operators, problem protocol, traces, validation, expression evaluation, sweeps) and of the
# problems package is part of a run's cache key, with the theorem file itself.
EVALUATION_ONLY = ("checks", "report.py", "cli.py", "fit.py", "mutate.py", "falsify.py", "run.py", "__main__.py")
RUNNER_VERSION = 2  # bump when the seeding or the layout of a cached run changes (run.py is not hashed)


def code_files() -> list[Path]:
    """The source files every run's numbers depend on: every engine module but EVALUATION_ONLY, and the
    problems package. Editing report.py reruns nothing; editing an algorithm reruns everything."""
    engine = Path(__file__).parent
    files = [p for p in engine.rglob("*.py") if p.relative_to(engine).parts[0] not in EVALUATION_ONLY]
    try:
        import problems

        files += list(Path(problems.__file__).parent.rglob("*.py"))
    except ImportError:  # pragma: no cover
        pass
    return sorted(files)


@cache
def _code_hash() -> str:
    h = hashlib.sha256(str(RUNNER_VERSION).encode())
    for p in code_files():
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def run_fingerprint(run: Callable[..., Any]) -> str:
    """A hash of what a sweep's run function computes inside its theorem file: its code and, following the
    names it uses, every function, class and value of that module it reaches (constants, dicts of
    settings, sympy expressions, arrays); objects from other modules count by name (their code is in
    ``_code_hash``). The declarations a run does not reach (the bound, the checks, the title) are not in
    it, so a planted copy of a theorem file that changes a claim reuses the original's runs."""
    h = hashlib.sha256()
    module = getattr(run, "__module__", None)
    seen: set[int] = set()

    def code(co: types.CodeType, env: dict) -> None:
        h.update(co.co_code)
        h.update(repr((co.co_names, co.co_varnames, co.co_freevars)).encode())
        for c in co.co_consts:
            code(c, env) if isinstance(c, types.CodeType) else value(c)
        for name in co.co_names:
            if name in env:
                h.update(name.encode())
                value(env[name])

    def value(v: Any) -> None:
        if isinstance(v, (bool, int, float, complex, str, bytes, type(None))):
            h.update(repr(v).encode())
            return
        if id(v) in seen:
            return
        seen.add(id(v))
        if isinstance(v, types.FunctionType):
            if v.__module__ != module:
                h.update(f"{v.__module__}.{v.__qualname__}".encode())
                return
            code(v.__code__, v.__globals__)
            for x in (v.__defaults__ or ()) + tuple((v.__kwdefaults__ or {}).values()):
                value(x)
            for cell in v.__closure__ or ():
                value(cell.cell_contents)
        elif isinstance(v, type):
            h.update(f"{v.__module__}.{v.__qualname__}".encode())
            if v.__module__ == module:
                for name, x in sorted(vars(v).items()):
                    h.update(name.encode())
                    value(getattr(x, "__func__", x))
        elif isinstance(v, types.ModuleType):
            h.update(v.__name__.encode())
        elif isinstance(v, sp.Basic):
            h.update(sp.srepr(v).encode())
        elif isinstance(v, np.ndarray):
            h.update(repr((v.shape, v.dtype.str)).encode() + np.ascontiguousarray(v).tobytes())
        elif isinstance(v, Mapping):
            for k_, x in v.items():
                value(k_)
                value(x)
        elif isinstance(v, (list, tuple, set, frozenset, Grid)):
            for x in (sorted(v, key=repr) if isinstance(v, (set, frozenset)) else v):
                value(x)
        else:  # an instance: its type, and its attributes where it has them
            h.update(f"{type(v).__module__}.{type(v).__qualname__}".encode())
            if hasattr(v, "__dict__"):
                value(dict(vars(v)))

    value(run)
    return h.hexdigest()[:16]


def cache_key(thm: Theorem, sweep: str, point: dict, R: int, seed: int) -> str:
    """The key of a sweep point's run, before the step rules: the seed stream, the sweep, the point, R, the
    seed, the engine's and the problems' code and the fingerprint of the sweep's run function. A run may
    read the theorem's step rules (gamma = a fraction of the declared limit), never its bound, so mutants
    and planted copies that change only a claim reuse the runs."""
    fp = run_fingerprint(thm.sweep(sweep).run)
    blob = json.dumps([stream(thm), sweep, canonical(point), R, seed, _code_hash(), fp], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _steps_key(thm: Theorem, key: str, rules: Sequence[str]) -> str | None:
    """The key completed with the expressions of the step rules the run read (None if one is gone)."""
    if any(r not in thm.steps for r in rules):
        return None
    blob = json.dumps([key, {r: sp.srepr(thm.steps[r]) for r in sorted(rules)}], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _cache_dir(thm: Theorem) -> Path:
    return CACHE_DIR.resolve() / stream(thm)  # absolute: remote workers write it


def _cached(thm: Theorem, key: str) -> tuple[Trace, list[str]] | None:
    """The finished run of this point under this theorem's step rules, if the cache has it, with the point
    keys the run read: ``<key>.rules.json`` lists the rules and keys the run read, ``<key>-<steps key>.npz``
    holds the trace."""
    folder = _cache_dir(thm)
    try:
        read = json.loads((folder / f"{key}.rules.json").read_text())
        full = _steps_key(thm, key, read["steps"])
        return None if full is None else (Trace.from_bytes((folder / f"{key}-{full}.npz").read_bytes()), list(read["keys"]))
    except Exception:  # noqa: BLE001 -- a missing, damaged or older entry, whatever the error: recompute
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------------
# running


def stream(thm: Theorem) -> str:
    """The name that seeds a theorem's runs: its declared ``stream`` (so that a renamed copy of a file, or a
    planted error in one, runs on the same random draws as the original), else its id; a mutant uses its
    base's (same draws, different claim)."""
    return thm.stream or thm.id.partition("~")[0]


def run_point(thm: Theorem, sweep: str, point: dict, R: int, rng: np.random.Generator) -> tuple[Trace, Context, Point]:
    """One point of a sweep, R replicas, in a fresh Context on a recording Point: the trace (with the
    registered constants merged in), the context (step rules read) and the point (keys read)."""
    ctx, P = Context(thm), Point(point, sweep)
    return ctx.finish(thm.sweep(sweep).run(ctx, P, R, rng)), ctx, P


def _run_point(ref: str, sweep: str, point: dict, R: int, seed: int, key: str, cache: str) -> tuple[bytes, list[str]]:
    """One sweep point, in a worker: load the theorem (by id or path), run it in a fresh Context on a
    recording Point, write the cache (the caller's folder ``cache``: a remote worker has its own
    environment), return the trace and the point keys the run read."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    thm = load(ref)
    trace, ctx, P = run_point(thm, sweep, point, R, np.random.default_rng(point_seed(seed, stream(thm), sweep, point)))
    data = trace.to_bytes()
    folder = Path(cache)
    steps, keys = sorted(ctx.steps_read), sorted(P.read)
    _write_atomic(folder / f"{key}.rules.json", json.dumps({"steps": steps, "keys": keys}).encode())
    _write_atomic(folder / f"{key}-{_steps_key(thm, key, steps)}.npz", data)
    return data, keys


def _keys_read_by_checks(thm: Theorem, sweep: str, points: Sequence[dict]) -> set[str]:
    """The point keys the checks of a sweep read: their selections (where, numerator, denominator) called
    on recording Points, and the keys they pair or extrapolate by."""
    read: set[str] = set()
    for c in thm.checks:
        if c.sweep != sweep:
            continue
        read.update(k for k in (getattr(c, "pair_by", None), getattr(c, "extrapolate", None)) if isinstance(k, str))
        for select in (getattr(c, "where", None), getattr(c, "numerator", None), getattr(c, "denominator", None)):
            if not callable(select):
                continue
            for p in points:
                P = Point(p, sweep)
                try:
                    select(P)
                except (InputError, KeyError, TypeError):  # the check itself reports a bad selection
                    pass
                read |= P.read
    return read


def check_point_keys(thm: Theorem, sweep: str, points: Sequence[dict], read_by_run: Sequence[Iterable[str]]) -> None:
    """A declared point key that neither the run nor a check reads is a misspelling or a dead value: an
    error naming the key, the point and what was read."""
    by_checks = _keys_read_by_checks(thm, sweep, points)
    for p, read in zip(points, read_by_run):
        seen = set(read) | by_checks
        unread = unread_keys(p, seen)
        if unread:
            hints = {k: difflib.get_close_matches(k, sorted(seen - set(p)), n=1) for k in unread}
            text = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
            raise InputError(f"{thm.id}, sweep {sweep!r}, point {canonical(p)}: key {text} is declared but neither the run nor a "
                             f"check reads it; read: {', '.join(sorted(seen))}")


def run_theorem(
    ref: str,
    *,
    quick: bool = False,
    seed: int = 0,
    jobs: int = 1,
    resume: bool = False,
    backend: str = "loky",
    progress: bool = True,
) -> tuple[Theorem, dict[str, list[Run]]]:
    """Run every sweep point of a theorem (cached points reused with ``resume``) and return its runs."""
    from joblib import Parallel, delayed, parallel_config
    from tqdm.auto import tqdm

    thm = load(ref)
    base, tilde, mutation = ref.rpartition("~") if "~" in ref else (ref, "", "")
    base = str(Path(base).resolve()) if (base.endswith(".py") or os.sep in base) else base
    ref = base + tilde + mutation  # what a worker process loads
    tasks, done, keys_read = [], {}, {}
    for sw in thm.sweeps:
        points, R = sw.plan(quick)
        for p in points:
            key = cache_key(thm, sw.name, p, R, seed)
            hit = _cached(thm, key) if resume else None
            if hit is not None:
                done[key], keys_read[key] = hit
            else:
                tasks.append((sw.name, p, R, key))
    bar = tqdm(total=len(tasks), desc=f"{thm.id}", unit="pt", disable=not progress or not tasks, leave=False)
    if tasks:
        jobs_ = 1 if len(tasks) == 1 else jobs
        sequential = jobs_ == 1 and backend != "dask"  # dask: always on the cluster, whatever --jobs
        with parallel_config(backend="sequential" if sequential else backend, n_jobs=-1 if backend == "dask" else jobs_):
            outs = Parallel(return_as="generator")(delayed(_run_point)(ref, s_, p, R, seed, key, str(_cache_dir(thm))) for s_, p, R, key in tasks)
            for (s_, p, R, key), (data, keys) in zip(tasks, outs):
                done[key], keys_read[key] = Trace.from_bytes(data), keys
                bar.update(1)
    bar.close()
    results: dict[str, list[Run]] = {}
    for sw in thm.sweeps:
        points, R = sw.plan(quick)
        keys = [cache_key(thm, sw.name, p, R, seed) for p in points]
        check_point_keys(thm, sw.name, points, [keys_read[k_] for k_ in keys])
        results[sw.name] = [Run(p, done[k_]) for p, k_ in zip(points, keys)]
    return thm, results


def evaluate_checks(thm: Theorem, results: dict[str, list[Run]]) -> list[dict]:
    """Every check's outcome, as the verdict.json entries plus the plot data."""
    out = []
    for c in thm.checks:
        o = c.evaluate(thm, results)
        out.append({"name": c.name, "kind": c.kind, "description": c.description, "expected": c.expected, **o.record(),
                    "plot": None if o.plot is None else o.plot.__dict__})
    return out


def iter_refs(refs: Sequence[str], all_: bool) -> Iterator[str]:
    yield from (available() if all_ else refs)
