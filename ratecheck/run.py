"""Sweeps x replicas: discovery, seeding, caching, resume, parallel backends, progress (DESIGN.md, "Running").

Every sweep point gets its own generator from ``SeedSequence(master_seed, spawn_key=hash(theorem, sweep,
point))``, so a point's numbers never depend on which worker runs it or in which order. Each finished
point is written atomically (temporary file + ``os.replace``) to
``.ratecheck-cache/<theorem>/<key>-<steps>.npz``, where the key hashes the sweep, the point, R, the seed
and the source code of the engine, the problems and the theorem file, and <steps> hashes the step rules
the run read (``<key>.rules.json`` lists them): a planted mutant that changes only the bound, or a step
rule this point does not use, reuses the run. ``resume=True`` reuses what is there, so a killed run loses
no finished point.
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
import zlib
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import sympy as sp

from ratecheck.theorem import STEPS_READ, Run, Theorem, clean
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


def point_seed(master_seed: int, theorem_id: str, sweep: str, point: dict) -> np.random.SeedSequence:
    """The SeedSequence of one sweep point: independent of scheduling and of the other points."""
    key = tuple(zlib.crc32(x.encode()) for x in (theorem_id, sweep, canonical(point)))
    return np.random.SeedSequence(master_seed, spawn_key=key)


@cache
def _code_hash(theorem_path: str) -> str:
    h = hashlib.sha256()
    roots = [Path(__file__).parent]
    try:
        import problems

        roots.append(Path(problems.__file__).parent)
    except ImportError:  # pragma: no cover
        pass
    files = sorted(p for root in roots for p in root.rglob("*.py")) + [Path(theorem_path)]
    for p in files:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cache_key(thm: Theorem, sweep: str, point: dict, R: int, seed: int) -> str:
    """The key of a sweep point's run, before the step rules: the base theorem, the sweep, the point, R,
    the seed and the source code. A run may read the theorem's step rules (gamma = a fraction of the
    declared limit), never its bound, so mutants that change only the bound reuse the runs."""
    blob = json.dumps([thm.id.partition("~")[0], sweep, canonical(point), R, seed, _code_hash(thm.path)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _steps_key(thm: Theorem, key: str, rules: Sequence[str]) -> str | None:
    """The key completed with the expressions of the step rules the run read (None if one is gone)."""
    if any(r not in thm.steps for r in rules):
        return None
    blob = json.dumps([key, {r: sp.srepr(thm.steps[r]) for r in sorted(rules)}], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _cache_dir(thm: Theorem) -> Path:
    return CACHE_DIR.resolve() / thm.id.partition("~")[0]  # absolute: remote workers write it


def _cached(thm: Theorem, key: str) -> Trace | None:
    """The finished run of this point under this theorem's step rules, if the cache has it: the point's
    ``<key>.rules.json`` lists the rules its run read, ``<key>-<steps key>.npz`` holds the trace."""
    folder = _cache_dir(thm)
    try:
        full = _steps_key(thm, key, json.loads((folder / f"{key}.rules.json").read_text()))
        return None if full is None else Trace.from_bytes((folder / f"{key}-{full}.npz").read_bytes())
    except Exception:  # noqa: BLE001 -- a missing or damaged entry, whatever the error: recompute
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


def _run_point(ref: str, sweep: str, point: dict, R: int, seed: int, key: str, cache: str) -> bytes:
    """One sweep point, in a worker: load the theorem (by id or path), run, write the cache (the
    caller's folder ``cache``: a remote worker has its own environment), return."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    thm = load(ref)
    rng = np.random.default_rng(point_seed(seed, thm.id.partition("~")[0], sweep, point))  # mutants: same draws
    read: set[str] = set()
    token = STEPS_READ.set(read)
    try:
        trace = thm.sweep(sweep).run(thm, dict(point), R, rng)
    finally:
        STEPS_READ.reset(token)
    data = trace.to_bytes()
    folder = Path(cache)
    _write_atomic(folder / f"{key}.rules.json", json.dumps(sorted(read)).encode())
    _write_atomic(folder / f"{key}-{_steps_key(thm, key, sorted(read))}.npz", data)
    return data


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
    tasks, done = [], {}
    for sw in thm.sweeps:
        points, R = sw.plan(quick)
        for p in points:
            key = cache_key(thm, sw.name, p, R, seed)
            hit = _cached(thm, key) if resume else None
            if hit is not None:
                done[key] = hit
            else:
                tasks.append((sw.name, p, R, key))
    bar = tqdm(total=len(tasks), desc=f"{thm.id}", unit="pt", disable=not progress or not tasks, leave=False)
    if tasks:
        jobs_ = 1 if len(tasks) == 1 else jobs
        sequential = jobs_ == 1 and backend != "dask"  # dask: always on the cluster, whatever --jobs
        with parallel_config(backend="sequential" if sequential else backend, n_jobs=-1 if backend == "dask" else jobs_):
            outs = Parallel(return_as="generator")(delayed(_run_point)(ref, s_, p, R, seed, key, str(_cache_dir(thm))) for s_, p, R, key in tasks)
            for (s_, p, R, key), data in zip(tasks, outs):
                done[key] = Trace.from_bytes(data)
                bar.update(1)
    bar.close()
    results: dict[str, list[Run]] = {}
    for sw in thm.sweeps:
        points, R = sw.plan(quick)
        results[sw.name] = [Run(p, done[cache_key(thm, sw.name, p, R, seed)]) for p in points]
    return thm, results


def evaluate_checks(thm: Theorem, results: dict[str, list[Run]]) -> list[dict]:
    """Every check's outcome, as the verdict.json entries plus the plot data."""
    out = []
    for c in thm.checks:
        o = c.evaluate(thm, results)
        out.append({"name": c.name, "kind": c.kind, "relation": c.relation, "description": c.description,
                    "expected": c.expected, "observed": o.observed, "summary": o.summary, "evidence": clean(o.evidence),
                    "plot": None if o.plot is None else o.plot.__dict__})
    return out


def iter_refs(refs: Sequence[str], all_: bool) -> Iterator[str]:
    yield from (available() if all_ else refs)
