"""Declared sweeps (ratecheck.sweep), the symbol registry and what the cache key covers (issue #10, items 5-6)."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest
import sympy as sp

from ratecheck.compressors import RandomK, parse
from ratecheck.run import EVALUATION_ONLY, check_point_keys, code_files
from ratecheck.sweep import Context, Grid, Point, Sweep, grid, points, zipped
from ratecheck.symbols import Meaning, meanings, neutral_values
from ratecheck.validate import InputError


def test_grid_is_the_product_with_the_first_axis_outermost() -> None:
    g = grid(a=(1, 2), b=("x", "y"), c=0.5)
    assert list(g) == [{"a": 1, "b": "x", "c": 0.5}, {"a": 1, "b": "y", "c": 0.5}, {"a": 2, "b": "x", "c": 0.5},
                       {"a": 2, "b": "y", "c": 0.5}]


def test_grid_operations_match_the_hand_written_lists() -> None:
    Ts = (1000, 2000, 4000)
    g = grid(C=("a", "b"), T=Ts).derive(inv_sqrt_T=lambda p: 1 / math.sqrt(p["T"]))
    assert list(g) == [{"C": c, "T": T, "inv_sqrt_T": 1 / math.sqrt(T)} for c in ("a", "b") for T in Ts]
    assert list(g.where(lambda p: p["T"] <= 2000).set(T=7)) == [{"C": c, "T": 7, "inv_sqrt_T": 1 / math.sqrt(T)}
                                                                  for c in ("a", "b") for T in Ts[:2]]
    assert list(zipped(T=(1, 2), g=(0.1, 0.2), s=0)) == [{"T": 1, "g": 0.1, "s": 0}, {"T": 2, "g": 0.2, "s": 0}]
    assert list(grid(a=(1, 2)) * points({"b": 3}, {"b": 4})) == [{"a": 1, "b": 3}, {"a": 1, "b": 4}, {"a": 2, "b": 3}, {"a": 2, "b": 4}]
    assert len(grid(a=1) + grid(a=(2, 3))) == 3


def test_bad_grids_are_refused() -> None:
    with pytest.raises(InputError, match="equal lengths"):
        zipped(T=(1, 2), g=(0.1, 0.2, 0.3))
    with pytest.raises(InputError, match="axis 'a' is empty"):
        grid(a=())


def test_quick_subset_by_predicate_or_points_and_map_points() -> None:
    full = grid(T=(10, 20, 40))
    sw = Sweep("s", lambda *a: None, full, R=8, quick=lambda p: p["T"] < 40, quick_R=4)
    assert sw.plan(True) == ([{"T": 10}, {"T": 20}], 4) and sw.plan(False) == (list(full), 8)
    own = Sweep("s", lambda *a: None, full, R=8, quick=full.set(T=5)[:1])
    assert own.plan(True) == ([{"T": 5}], 8)
    mapped = own.map_points(lambda p: {**p, "x": 1})
    assert mapped.plan(True)[0] == [{"T": 5, "x": 1}] and all(p["x"] == 1 for p in mapped.plan(False)[0])


def test_point_names_a_missing_key_and_records_reads() -> None:
    P = Point({"sigma": 1.0, "T": 10}, "main")
    assert P["sigma"] == 1.0 and P.get("fraction", 0.5) == 0.5
    with pytest.raises(InputError, match=r"point\['sigam'\].*did you mean 'sigma'.*its keys: sigma, T"):
        P["sigam"]
    assert P.read == {"sigma", "fraction", "sigam"}


class _Thm:
    """The parts of a Theorem that check_point_keys reads."""

    id = "toy"

    def __init__(self, checks=()) -> None:
        self.checks = list(checks)


class _Check:
    def __init__(self, sweep, where=None, pair_by=None) -> None:
        self.sweep, self.where, self.pair_by = sweep, where, pair_by


def test_a_declared_key_nobody_reads_is_an_error_naming_it() -> None:
    pts = [{"sigma": 1.0, "fracton": 0.1}]
    with pytest.raises(InputError, match=r"key 'fracton' \(did you mean 'fraction'\?\) is declared but neither the run"):
        check_point_keys(_Thm(), "main", pts, [{"sigma", "fraction"}])
    # a key read only by a check's selection or pairing is read
    thm = _Thm([_Check("main", where=lambda p: p["tag"] == 3), _Check("main", pair_by="T")])
    check_point_keys(thm, "main", [{"sigma": 1.0, "tag": 3, "T": 5}], [{"sigma"}])
    with pytest.raises(InputError, match="key 'tag'"):
        check_point_keys(_Thm([_Check("other", where=lambda p: p["tag"] == 3)]), "main", [{"sigma": 1.0, "tag": 3}], [{"sigma"}])


class _StepThm:
    def step(self, rule, constants):
        return constants["c"] / constants["L"]


def test_context_merges_certified_constants_and_records_rules() -> None:
    ctx = Context(_StepThm())  # type: ignore[arg-type]

    class F:
        constants: ClassVar[dict] = {"L": 2.0, "R0": 1.0}

    ctx.problem(F())
    C = ctx.compressor("random_k:5", 20)
    assert C == RandomK(5)
    assert ctx.step("max", c=1.0) == 0.5 and ctx.steps_read == {"max"}
    ctx.record(gamma=0.5, omega=7.0)

    class Tr:
        constants: ClassVar[dict] = {"gamma": 0.1, "n": 4.0}

    tr = ctx.finish(Tr())  # type: ignore[arg-type]
    assert tr.constants == {"gamma": 0.5, "n": 4.0, "L": 2.0, "R0": 1.0, "omega": 7.0, "bits": RandomK(5).bits(20), "k": 5.0}


def test_compressor_specs_parse_with_clear_errors() -> None:
    assert parse("random_k_u:5") == RandomK(5, scaled=False) and parse("random_k_u:5").delta(20) == 0.25
    with pytest.raises(InputError, match="did you mean 'top_k'"):
        parse("topk:3")
    with pytest.raises(InputError, match="k must be an integer"):
        parse("top_k:x")


def test_the_symbol_registry_drives_the_dropped_factor_mutants() -> None:
    table = meanings([Meaning("r", "rank of the compressor", neutral=1)])
    neutral = neutral_values(table)
    omega, delta, n, r, tau = (sp.Symbol(x, positive=True) for x in ("omega", "delta", "n", "r", "tau"))
    assert neutral[omega] == 0 and neutral[delta] == 1 and neutral[n] == 1 and neutral[r] == 1 and neutral[tau] == sp.oo
    with pytest.raises(InputError, match="cannot redeclare"):
        meanings([Meaning("omega", "something else", neutral=1)])


def test_a_theorem_symbol_gets_a_drop_mutant_without_editing_mutate() -> None:
    import dataclasses

    from ratecheck.mutate import mutations
    from ratecheck.run import load

    base = load("quantized-sgd")
    r = sp.Symbol("r", positive=True)
    thm = dataclasses.replace(base, bound=base.bound * r, symbols=[Meaning("r", "a made-up rank factor", neutral=1)])
    assert "drop-r" in mutations(thm)
    assert mutations(thm)["drop-r"](thm).bound == base.bound


def test_the_cache_key_covers_runs_not_reports() -> None:
    files = {str(p) for p in code_files()}
    assert not any(p.endswith(("ratecheck/report.py", "ratecheck/cli.py")) or "/ratecheck/checks/" in p for p in files)
    assert any(p.endswith("ratecheck/compressors.py") for p in files) and any("/ratecheck/algorithms/" in p for p in files)
    assert any("/problems/" in p for p in files)
    assert "report.py" in EVALUATION_ONLY


_RUN_FILE = """
import numpy as np
from ratecheck.symbols import R0, T, gamma
SETTINGS = {"d": 5}
BOUND = R0 / (gamma * T)


def helper(point):
    return SETTINGS["d"] * point["T"]


def run(ctx, point, R, rng):
    return helper(point) + np.zeros(3).sum()
"""


def _fingerprint_of(text: str, tmp_path, name: str) -> str:
    import importlib.util

    from ratecheck.run import run_fingerprint

    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"fp_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return run_fingerprint(module.run)


def test_the_run_fingerprint_follows_what_the_run_reaches(tmp_path) -> None:
    base = _fingerprint_of(_RUN_FILE, tmp_path, "a")
    assert _fingerprint_of(_RUN_FILE.replace("R0 / (gamma * T)", "R0 / (gamma * T**2)"), tmp_path, "b") == base  # a claim only
    assert _fingerprint_of(_RUN_FILE.replace('{"d": 5}', '{"d": 6}'), tmp_path, "c") != base  # a setting the run reads
    assert _fingerprint_of(_RUN_FILE.replace("* point", "+ point"), tmp_path, "d") != base  # a helper the run calls


def test_grid_equality_and_slicing() -> None:
    g = grid(a=(1, 2, 3))
    assert g[:2] == [{"a": 1}, {"a": 2}] and isinstance(g[:2], Grid) and g[0] == {"a": 1}
