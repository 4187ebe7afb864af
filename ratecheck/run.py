"""Sweeps x replicas: discovery, seeding, caching, resume, parallel backends, progress (DESIGN.md, "Running").

Every sweep point gets its own generator from ``SeedSequence(master_seed, spawn_key=hash(theorem, sweep,
point))``, so a point's numbers never depend on which worker runs it or in which order. Each finished
point is written atomically (temporary file + ``os.replace``) to ``.ratecheck-cache/<theorem>/<key>.npz``,
where the key hashes the theorem's declared step rules, the sweep, the point, R, the seed and the
source code of the engine, the problems and the theorem file; ``resume=True`` reuses what is there, so a
killed run loses no finished point.
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

from ratecheck.theorem import Run, Theorem, clean
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
    # a run may read the theorem's step rules (gamma = a fraction of the declared limit), never its bound:
    # mutants that change only the bound reuse the runs, mutants that change a step rule rerun them
    declared = {"steps": {k: sp.srepr(v) for k, v in sorted(thm.steps.items())}}
    blob = json.dumps([thm.id.partition("~")[0], declared, sweep, canonical(point), R, seed, _code_hash(thm.path)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _cache_path(thm: Theorem, key: str) -> Path:
    return CACHE_DIR.resolve() / thm.id.partition("~")[0] / f"{key}.npz"  # absolute: remote workers write it


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------------
# running


def _run_point(ref: str, sweep: str, point: dict, R: int, seed: int, key: str, cache_path: str) -> bytes:
    """One sweep point, in a worker: load the theorem (by id or path), run, write the cache, return."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    thm = load(ref)
    rng = np.random.default_rng(point_seed(seed, thm.id.partition("~")[0], sweep, point))  # mutants: same draws
    trace = thm.sweep(sweep).run(thm, dict(point), R, rng)
    data = trace.to_bytes()
    _write_atomic(Path(cache_path), data)
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
            path = _cache_path(thm, key)
            if resume and path.is_file():
                try:
                    done[key] = Trace.from_bytes(path.read_bytes())
                    continue
                except Exception:  # a damaged file: recompute it
                    pass
            tasks.append((sw.name, p, R, key, str(path)))
    bar = tqdm(total=len(tasks), desc=f"{thm.id}", unit="pt", disable=not progress or not tasks, leave=False)
    if tasks:
        jobs_ = 1 if len(tasks) == 1 else jobs
        sequential = jobs_ == 1 and backend != "dask"  # dask: always on the cluster, whatever --jobs
        with parallel_config(backend="sequential" if sequential else backend, n_jobs=-1 if backend == "dask" else jobs_):
            outs = Parallel(return_as="generator")(delayed(_run_point)(ref, s_, p, R, seed, key, path) for s_, p, R, key, path in tasks)
            for (s_, p, R, key, _), data in zip(tasks, outs):
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
