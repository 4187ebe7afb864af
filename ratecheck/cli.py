"""``ratecheck list | show ID | verify [ID ... | --all | PATH.py] | report``.

Exit status: 0 when every check of every theorem came out as expected (claims PASS, negative controls
FAIL), 1 otherwise, 2 for a usage error (bad option, unknown theorem, bad parameter), with a one-line
message and no traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

from ratecheck.validate import InputError


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             check=False, cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                               check=False, timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _nonneg_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {0 if name == 'seed' else 1}, got {text!r}") from None
        low = 0 if name == "seed" else 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {low}, got {value}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ratecheck", description="Check convergence-rate theorems numerically.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the theorems in the library")
    show = sub.add_parser("show", help="statement, assumptions, source and bound of a theorem")
    show.add_argument("theorem", help="theorem id or path of a .py file")
    v = sub.add_parser("verify", help="run the sweeps, evaluate the checks, write the reports")
    v.add_argument("theorems", nargs="*", metavar="ID|PATH.py", help="theorem ids, paths of theorem files, or ID~MUTATION (default: all)")
    v.add_argument("--all", action="store_true", help="every theorem in the library")
    v.add_argument("--quick", action="store_true", help="the small sweeps (still separate PASS from FAIL)")
    v.add_argument("--seed", type=_nonneg_int("seed"), default=0, help="master seed (default 0)")
    v.add_argument("--jobs", type=_nonneg_int("jobs"), default=min(2, os.cpu_count() or 1), help="parallel workers")
    v.add_argument("--out", default="reports", help="report folder (default: reports)")
    v.add_argument("--resume", action="store_true", help="reuse finished points from .ratecheck-cache")
    v.add_argument("--backend", choices=["loky", "dask"], default="loky", help="joblib backend; dask needs the [dask] extra")
    v.add_argument("--scheduler", default=None, help="address of a Dask scheduler (default: a LocalCluster)")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    st = sub.add_parser("stability", help="verify under many master seeds and report verdict flips")
    st.add_argument("theorems", nargs="*", metavar="ID|PATH.py", help="default: all theorems")
    st.add_argument("--seeds", type=_nonneg_int("seeds"), default=20, help="how many master seeds, START..START+N-1 (default 20)")
    st.add_argument("--start", type=_nonneg_int("seed"), default=3000,
                    help="first master seed (default 3000: seeds no theorem or tolerance was tuned on)")
    st.add_argument("--seed-list", type=_seed_list, default=None, metavar="S1,S2,...", help="explicit master seeds (overrides --seeds/--start)")
    st.add_argument("--quick", action="store_true")
    st.add_argument("--jobs", type=_nonneg_int("jobs"), default=min(2, os.cpu_count() or 1))
    st.add_argument("--out", default="reports")
    st.add_argument("--no-progress", action="store_true")
    mu = sub.add_parser("mutants", help="verify every planted error of the theorems; report the mutation score")
    mu.add_argument("theorems", nargs="*", metavar="ID|PATH.py", help="default: all theorems")
    mu.add_argument("--quick", action="store_true")
    mu.add_argument("--seed", type=_nonneg_int("seed"), default=0)
    mu.add_argument("--jobs", type=_nonneg_int("jobs"), default=min(2, os.cpu_count() or 1))
    mu.add_argument("--out", default="reports")
    mu.add_argument("--no-progress", action="store_true")
    fa = sub.add_parser("falsify", help="search the allowed instances for the largest measured/bound ratio")
    fa.add_argument("theorem", help="theorem id, path, or ID~MUTATION")
    fa.add_argument("--budget", type=_nonneg_int("budget"), default=120, help="instances evaluated (default 120)")
    fa.add_argument("--seed", type=_nonneg_int("seed"), default=0)
    fa.add_argument("--out", default="reports")
    r = sub.add_parser("report", help="redraw the reports and the index from the stored outcomes (no recomputation)")
    r.add_argument("--out", default="reports")
    return p


def cmd_list() -> int:
    from ratecheck.run import available, load

    for ref in available():
        print(f"{ref:24s} {load(ref).title}")
    return 0


def cmd_show(ref: str) -> int:
    import sympy as sp

    from ratecheck.run import load

    thm = load(ref)
    print(f"{thm.id}: {thm.title}\nsource: {thm.source}\n\n{thm.statement}\n\nassumptions:")
    print("\n".join(f"  - {a}" for a in thm.assumptions))
    print(f"\nbound on {thm.measure}:\n")
    print(sp.pretty(thm.bound, use_unicode=True))
    for k, v in thm.steps.items():
        print(f"\nstep rule {k!r}:\n{sp.pretty(v, use_unicode=True)}")
    print("\nchecks:")
    for c in thm.checks:
        print(f"  [{c.expected:4s}] {c.kind}: {c.name}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from ratecheck import report
    from ratecheck.run import available, evaluate_checks, load, run_theorem

    if args.all and args.theorems:
        raise InputError("give theorem ids or --all, not both")
    refs = args.theorems or available()  # no ids: every theorem in the library (same as --all)
    for ref in refs:
        load(ref)  # every name is checked before anything runs
    out = Path(args.out)
    client = None
    if args.backend == "dask":
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise InputError("--backend dask needs the dask extra: pip install 'ratecheck[dask]'") from None
        client = Client(args.scheduler) if args.scheduler else Client(LocalCluster(n_workers=args.jobs, threads_per_worker=1))
    all_ok = True
    try:
        for ref in refs:
            start = time.time()
            thm, results = run_theorem(ref, quick=args.quick, seed=args.seed, jobs=args.jobs, resume=args.resume,
                                       backend=args.backend, progress=not args.no_progress)
            checks = evaluate_checks(thm, results)
            meta = {"seed": args.seed, "quick": args.quick, "commit": _commit(), "date": dt.datetime.now().isoformat(timespec="seconds"),
                    "seconds": time.time() - start, "jobs": args.jobs, "backend": args.backend}
            ok = report.write_theorem(out, report.theorem_info(thm), checks, meta)
            all_ok &= ok
            print(f"{thm.id}: {'VERIFIED' if ok else 'NOT VERIFIED'} ({meta['seconds']:.0f} s) -> {out / thm.id / 'report.md'}")
            for c in checks:
                flag = "ok " if c["observed"] == c["expected"] else "!! "
                head = "" if c.get("measured") is None else f"  [{c['relation']}: measured {report.number(c['measured'])} vs {report.predicted_text(c)}]"
                print(f"  {flag} expected {c['expected']:4s} observed {c['observed']:12s} {c['name']}{head}")
                if c["observed"] == "INCONCLUSIVE" and c.get("reason"):
                    print(f"        why: {c['reason']}")
            _print_budget(report.theorem_budget(checks))
    finally:
        if client is not None:
            client.close()
    report.write_index(out)
    print(f"index: {out / 'index.html'}")
    return 0 if all_ok else 1


def _print_budget(b: dict) -> None:
    """The run's false-failure total and a warning per check over its share (information: verdicts stand)."""
    from ratecheck.report import prob

    print(f"  false-failure rate of this run: {prob(b['sum_false_fail'])} (target {b['target']:g}, {b['pass_expected']} checks expected to PASS)"
          + (f"; negative controls wrongly passing: {prob(b['total_false_pass'])}" if b["negative_controls"] else ""))
    for o in b["over"]:
        need = f"would need R = {o['R_needed']} replicas (has {o['R']})" if o.get("R_needed") else (o.get("note") or "more replicas do not help")
        print(f"  WARNING over the false-failure budget: {o['name']}: {prob(o['false_fail'])} > share {o['share']:.2g}; {need}")


def verdicts(ref: str, *, quick: bool, seed: int, jobs: int, progress: bool) -> tuple[str, list[dict]]:
    """Run and check one theorem; the check outcomes (no report written)."""
    from ratecheck.run import evaluate_checks, run_theorem

    thm, results = run_theorem(ref, quick=quick, seed=seed, jobs=jobs, resume=True, progress=progress)
    return thm.id, evaluate_checks(thm, results)


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed-list must be comma-separated integers >= 0, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seed-list must be comma-separated integers >= 0, got {text!r}")
    return seeds


def cmd_stability(args: argparse.Namespace) -> int:
    """Every theorem under many master seeds (default 3000..3019, seeds no theorem was tuned on): a flip
    is a check whose verdict is not the expected one under some seed. Writes OUT/stability.md."""
    from ratecheck.report import cell
    from ratecheck.run import available, load

    refs = args.theorems or available()
    for ref in refs:
        load(ref)
    seeds = args.seed_list or list(range(args.start, args.start + args.seeds))
    shown = ", ".join(map(str, seeds)) if args.seed_list else f"{seeds[0]}..{seeds[-1]}"
    lines = ["# Seed stability", "", f"{'quick' if args.quick else 'full'} sweeps, master seeds {shown}", "",
             "| theorem | check | expected | observed under the seeds | flips | flips the check predicts (sum of its false-failure figures) |",
             "|---|---|---|---|---|---|"]
    flips = 0
    for ref in refs:
        table: dict[str, list[str]] = {}
        expected: dict[str, str] = {}
        predicted_flips: dict[str, list] = {}
        for seed in seeds:
            tid, checks = verdicts(ref, quick=args.quick, seed=seed, jobs=args.jobs, progress=not args.no_progress)
            for c in checks:
                table.setdefault(c["name"], []).append(c["observed"])
                expected[c["name"]] = c["expected"]
                risk = c.get("false_pass") if c["expected"] == "FAIL" else c.get("false_fail")
                predicted_flips.setdefault(c["name"], []).append(risk)
        for name, seen in table.items():
            bad = sum(o != expected[name] for o in seen)
            flips += bad
            counts = ", ".join(f"{o} x{seen.count(o)}" for o in sorted(set(seen)))
            risks = [float(x) for x in predicted_flips.get(name, []) if x is not None and not isinstance(x, str)]
            lines.append(f"| {tid} | {cell(name)} | {expected[name]} | {counts} | {bad} | {f'{sum(risks):.2g}' if risks else 'n/a'} |")
            print(f"{'ok ' if not bad else '!! '} {tid}: {name}: {counts}")
    lines += ["", f"Total verdicts not as expected: {flips}"]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "stability.md").write_text("\n".join(lines) + "\n")
    print(f"verdicts not as expected over {len(seeds)} seeds ({shown}): {flips}; table: {Path(args.out) / 'stability.md'}")
    return 0 if flips == 0 else 1


def cmd_mutants(args: argparse.Namespace) -> int:
    """Every planted error of every theorem (ratecheck.mutate): each must be rejected. Writes OUT/mutants.md."""
    from ratecheck.mutate import equivalent, mutations
    from ratecheck.report import cell
    from ratecheck.run import available, load

    refs = args.theorems or available()
    lines = ["# Mutation score", "", "| mutant | rejected | checks not as expected |", "|---|---|---|"]
    planted = rejected = 0
    for ref in refs:
        for name in mutations(load(ref)):
            tid, checks = verdicts(f"{ref}~{name}", quick=args.quick, seed=args.seed, jobs=args.jobs, progress=not args.no_progress)
            caught = [c["name"] for c in checks if c["observed"] != c["expected"]]
            planted += 1
            rejected += bool(caught)
            lines.append(f"| {tid} | {'yes' if caught else 'NO'} | {cell('; '.join(caught))} |")
            print(f"{'ok ' if caught else '!! '} {tid}: {'rejected' if caught else 'NOT rejected'} ({len(caught)} checks)")
    same = [(ref, name, why) for ref in refs for name, why in equivalent(load(ref)).items()]
    for ref, name, why in same:
        print(f"--  {ref}~{name}: declared equivalent, not counted ({why})")
    lines += [f"| {ref}~{name} | equivalent, not counted | {cell(why)} |" for ref, name, why in same]
    lines += ["", f"Mutation score: {rejected}/{planted} rejected."]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "mutants.md").write_text("\n".join(lines) + "\n")
    print(f"mutation score: {rejected}/{planted} rejected; table: {Path(args.out) / 'mutants.md'}")
    return 0 if rejected == planted else 1


def cmd_falsify(args: argparse.Namespace) -> int:
    """Exit 0 when no violation is found (ratio <= 1 within its interval), 1 when the bound is violated or
    the result is inconclusive. Writes OUT/<id>/falsify.json."""
    import json

    from ratecheck.falsify import falsify
    from ratecheck.run import load
    from ratecheck.theorem import clean

    thm = load(args.theorem)
    res = falsify(thm, budget=args.budget, seed=args.seed)
    folder = Path(args.out) / thm.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "falsify.json").write_text(json.dumps(clean(res), indent=1))
    print(f"{thm.id}: worst ratio measured/bound {res['confirmed_ratio']:.4g} "
          f"[{res['ci_low']:.4g}, {res['ci_high']:.4g}] at T={res['at_T']} after {res['evaluations']} instances: {res['verdict']}")
    print("instance: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res["instance"].items()))
    return 0 if res["verdict"] == "HOLDS" else 1


def cmd_report(out: str) -> int:
    from ratecheck import report

    folder = Path(out)
    found = sorted(folder.glob("*/outcomes.json"))
    if not found:
        raise InputError(f"no reports under {out!r}; run `ratecheck verify` first")
    for f in found:
        report.render(f.parent)
    entries = report.write_index(folder)
    print(f"redrew {len(found)} reports; index: {folder / 'index.html'}")
    return 0 if all(e["ok"] for e in entries) else 1


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "show":
            return cmd_show(args.theorem)
        if args.command == "verify":
            return cmd_verify(args)
        if args.command == "stability":
            return cmd_stability(args)
        if args.command == "falsify":
            return cmd_falsify(args)
        if args.command == "mutants":
            return cmd_mutants(args)
        return cmd_report(args.out)
    except InputError as e:
        print(f"ratecheck: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ratecheck: interrupted; finished points are cached, rerun with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
