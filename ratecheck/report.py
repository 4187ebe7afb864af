"""Reports: per theorem ``report.md``, a self-contained ``report.html``, one PNG per check and
``verdict.json``; ``index.md`` and ``index.html`` over all theorems (DESIGN.md, "Reports").

Everything is rendered from ``outcomes.json`` (the check outcomes with their plot data), so
``ratecheck report`` redraws a report without recomputing anything.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe slug: 'mu=0.01' becomes 'mu-0-01' (no suffix cut at a dot)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:limit] or "plot"


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell: '|' (as in a norm ||x||) escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def mark(check: dict) -> str:
    return "ok" if check["observed"] == check["expected"] else "NOT OK"


# the fixed names of a check in verdict.json (ratecheck.checks.Outcome.record): theory beside numerics
VERDICT_FIELDS = ("name", "kind", "relation", "expected", "observed", "measured", "predicted", "ratio", "interval",
                  "tolerance", "relative_tolerance", "summary", "evidence")
# the check table's columns beside the name: (heading, how a check's entry is shown)
COLUMNS = (
    ("relation", lambda c: str(c.get("relation") or "")),
    ("measured", lambda c: number(c.get("measured"))),
    ("predicted / bound", lambda c: number(c.get("predicted"))),
    ("ratio", lambda c: number(c.get("ratio"))),
    ("interval", lambda c: "" if c.get("interval") is None else f"[{number(c['interval'][0])}, {number(c['interval'][1])}]"),
    ("tolerance", lambda c: "" if c.get("tolerance") is None else number(c["tolerance"]) + (" rel." if c.get("relative_tolerance") else "")),
    ("expected", lambda c: c["expected"]),
    ("observed", lambda c: c["observed"]),
)


def number(x: object) -> str:
    """A headline number, 4 significant digits ('inf', 'nan' as stored; empty where it does not apply)."""
    if x is None:
        return ""
    return f"{x:.4g}" if isinstance(x, (int, float)) else str(x)


# ----------------------------------------------------------------------------------------------------
# plots


def draw(plot: dict, path: Path, evidence: dict | None = None) -> None:
    """One PNG from a Plot's data: mean with its confidence band, the bound, the fitted line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = 0
    for series in plot["series"]:
        x = np.array([np.nan if v is None else v for v in series["x"]], dtype=float)
        y = np.array([np.nan if v is None else v for v in series["y"]], dtype=float)
        style = series["style"]
        if style == "data":
            c = palette[colour % len(palette)]
            colour += 1
            ax.plot(x, y, "o-", ms=3, lw=1.2, color=c, label=series["label"])
            if "lo" in series:
                lo = np.array([np.nan if v is None else v for v in series["lo"]], dtype=float)
                hi = np.array([np.nan if v is None else v for v in series["hi"]], dtype=float)
                if plot["logy"]:
                    lo = np.where(lo > 0, lo, np.nan)
                ax.fill_between(x, lo, hi, color=c, alpha=0.2, lw=0)
        elif style == "bound":
            c = palette[(colour - 1) % len(palette)] if colour and plot["series"].count(series) and _one_bound_per_data(plot) else "k"
            ax.plot(x, y, "--", lw=1.4, color=c, label=series["label"])
        elif style == "shape":
            ax.plot(x, y, ":", lw=1.6, color="0.35", label=series["label"])
        elif style == "fit":
            ax.plot(x, y, "-", lw=2.2, color="crimson", alpha=0.8, label=series["label"])
    if plot["logx"]:
        ax.set_xscale("log")
    if plot["logy"]:
        ax.set_yscale("log")
    div = (evidence or {}).get("diverged")
    x_max = max((v for s_ in plot["series"] for v in s_["x"] if v is not None), default=None)
    if div and plot["xlabel"] in ("T", "t") and x_max is not None and div["step"] <= x_max:  # within the plotted steps
        ax.axvline(div["step"], color="k", lw=0.8, ls=":")
        ax.annotate(f"diverged at step {div['step']}", (div["step"], 0.95), xycoords=("data", "axes fraction"), fontsize=8, ha="right")
    ax.set_xlabel(plot["xlabel"])
    ax.set_ylabel(plot["ylabel"])
    ax.set_title(plot["title"], fontsize=9, wrap=True)
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) > 8:  # many points: keep the legend readable
        handles, labels = handles[:8], labels[:8]
    ax.legend(handles, labels, fontsize=6.5, loc="best")
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _one_bound_per_data(plot: dict) -> bool:
    styles = [s["style"] for s in plot["series"]]
    return styles.count("bound") > 1


# ----------------------------------------------------------------------------------------------------
# one theorem


def theorem_info(thm: Any) -> dict:
    import sympy as sp

    return {
        "id": thm.id, "title": thm.title, "source": thm.source, "statement": thm.statement,
        "assumptions": list(thm.assumptions), "bound": str(thm.bound), "bound_pretty": sp.pretty(thm.bound, use_unicode=False),
        "steps": {k: str(v) for k, v in thm.steps.items()}, "measure": thm.measure, "notes": list(thm.notes), "path": thm.path,
    }


def write_theorem(out: Path, info: dict, checks: list[dict], meta: dict) -> bool:
    """Write OUT/<id>/{verdict.json, outcomes.json, report.md, report.html, *.png}; return ok."""
    folder = out / info["id"]
    folder.mkdir(parents=True, exist_ok=True)
    ok = all(c["observed"] == c["expected"] for c in checks)
    verdict = {"theorem": info["id"], "ok": ok, "checks": [{k: c.get(k) for k in VERDICT_FIELDS} for c in checks]}
    (folder / "verdict.json").write_text(json.dumps(verdict, indent=1, sort_keys=False))
    (folder / "outcomes.json").write_text(json.dumps({"theorem": info, "checks": checks, "meta": meta, "ok": ok}))
    render(folder)
    return ok


def render(folder: Path) -> None:
    """(Re)draw report.md, report.html and the PNGs of one theorem from its outcomes.json."""
    data = json.loads((folder / "outcomes.json").read_text())
    info, checks, meta, ok = data["theorem"], data["checks"], data["meta"], data["ok"]
    for old in folder.glob("*.png"):
        old.unlink()
    images = []
    for i, c in enumerate(checks, 1):
        if c.get("plot"):
            name = f"{i:02d}-{slug(c['name'])}.png"
            draw(c["plot"], folder / name, c["evidence"])
            images.append(name)
        else:
            images.append(None)
    (folder / "report.md").write_text(_markdown(info, checks, meta, ok, images))
    (folder / "report.html").write_text(_html(folder, info, checks, meta, ok, images))


def _markdown(info: dict, checks: list[dict], meta: dict, ok: bool, images: list[str | None]) -> str:
    lines = [f"# {info['id']}: {info['title']}", "",
             f"**Verdict: {'VERIFIED' if ok else 'NOT VERIFIED'}** (every check as expected: {ok}). ",
             f"Source: {info['source']}.  ", (f"Run: seed {meta.get('seed')}, {'quick' if meta.get('quick') else 'full'}, "
                                              f"commit {meta.get('commit')}, {meta.get('date')}, {meta.get('seconds', 0):.0f} s."), "",
             "## Statement", "", info["statement"], "", "Bound on " + info["measure"] + ":", "", "```", info["bound_pretty"], "```", ""]
    if info["steps"]:
        lines += ["Step-size rules: " + "; ".join(f"`{k}`: {v}" for k, v in info["steps"].items()), ""]
    lines += ["## Assumptions", ""] + [f"- {a}" for a in info["assumptions"]] + [""]
    lines += ["## Checks", "", "| # | check | kind | " + " | ".join(h for h, _ in COLUMNS) + " | |",
              "|---" * (len(COLUMNS) + 4) + "|"]
    for i, c in enumerate(checks, 1):
        lines.append(f"| {i} | {cell(c['name'])} | {c['kind']} | " + " | ".join(cell(f(c)) for _, f in COLUMNS) + f" | {mark(c)} |")
    negatives = [c for c in checks if c["expected"] == "FAIL"]
    if negatives:
        lines += ["", "## Negative controls", "", "Configurations that break a hypothesis; each must come out FAIL.", ""]
        lines += [f"- {c['name']}: expected FAIL, observed {c['observed']} ({mark(c)}). {c['summary']}" for c in negatives]
    lines += ["", "## Details", ""]
    for i, (c, img) in enumerate(zip(checks, images), 1):
        lines += [f"### {i}. {c['name']}", "", f"Expected {c['expected']}, observed **{c['observed']}** ({mark(c)}). {c['description']}", "",
                  c["summary"], ""]
        if img:
            lines += [f"![{c['name']}]({img})", ""]
        lines += ["<details><summary>evidence</summary>", "", "```json", json.dumps(c["evidence"], indent=1)[:4000], "```", "</details>", ""]
    if info["notes"]:
        lines += ["## Notes", ""] + [f"- {x}" for x in info["notes"]] + [""]
    return "\n".join(lines)


_CSS = ("body{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
        ".ok{color:#070}.bad{color:#b00;font-weight:bold}pre{background:#f6f6f6;padding:6px;overflow-x:auto}img{max-width:100%}")


def _html(folder: Path, info: dict, checks: list[dict], meta: dict, ok: bool, images: list[str | None]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{i}</td><td>{e(c['name'])}</td><td>{e(c['kind'])}</td>" + "".join(f"<td>{e(f(c))}</td>" for _, f in COLUMNS)
        + f"<td class={'ok' if mark(c) == 'ok' else 'bad'}>{mark(c)}</td></tr>"
        for i, c in enumerate(checks, 1))
    details = []
    for i, (c, img) in enumerate(zip(checks, images), 1):
        pic = ""
        if img:
            b64 = base64.b64encode((folder / img).read_bytes()).decode()
            pic = f"<img alt='{e(c['name'])}' src='data:image/png;base64,{b64}'>"
        details.append(f"<h3>{i}. {e(c['name'])}</h3><p>Expected {c['expected']}, observed <b>{c['observed']}</b>. "
                       f"{e(c['description'])}</p><p>{e(c['summary'])}</p>{pic}"
                       f"<details><summary>evidence</summary><pre>{e(json.dumps(c['evidence'], indent=1)[:4000])}</pre></details>")
    assumptions = "".join(f"<li>{e(a)}</li>" for a in info["assumptions"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(info['id'])}</title><style>{_CSS}</style></head><body>"
            f"<h1>{e(info['id'])}: {e(info['title'])}</h1><p class={'ok' if ok else 'bad'}><b>{'VERIFIED' if ok else 'NOT VERIFIED'}</b></p>"
            f"<p>Source: {e(info['source'])}<br>Run: seed {meta.get('seed')}, {'quick' if meta.get('quick') else 'full'}, commit "
            f"{e(str(meta.get('commit')))}, {e(str(meta.get('date')))}</p><h2>Statement</h2><p>{e(info['statement'])}</p>"
            f"<pre>{e(info['bound_pretty'])}</pre><h2>Assumptions</h2><ul>{assumptions}</ul><h2>Checks</h2><table>"
            "<tr><th>#</th><th>check</th><th>kind</th>" + "".join(f"<th>{e(h)}</th>" for h, _ in COLUMNS) + "<th></th></tr>"
            f"{rows}</table>{''.join(details)}</body></html>")


# ----------------------------------------------------------------------------------------------------
# index


def write_index(out: Path) -> list[dict]:
    """index.md and index.html over every OUT/<id>/outcomes.json."""
    entries = []
    for f in sorted(out.glob("*/outcomes.json")):
        data = json.loads(f.read_text())
        checks = data["checks"]
        entries.append({"id": data["theorem"]["id"], "title": data["theorem"]["title"], "ok": data["ok"], "meta": data["meta"],
                        "n": len(checks), "as_expected": sum(c["observed"] == c["expected"] for c in checks),
                        "negatives": sum(c["expected"] == "FAIL" for c in checks)})
    metas = {json.dumps({k: e["meta"].get(k) for k in ("seed", "commit", "quick")}) for e in entries}
    lines = ["# ratecheck report", ""]
    for m in sorted(metas):
        meta = json.loads(m)
        lines.append(f"Seed {meta['seed']}, commit {meta['commit']}, {'quick' if meta['quick'] else 'full'} sweeps.  ")
    lines += ["", "| theorem | title | verdict | checks as expected | negative controls | date |", "|---|---|---|---|---|---|"]
    for e in entries:
        lines.append(f"| [{e['id']}]({e['id']}/report.md) | {cell(e['title'])} | {'VERIFIED' if e['ok'] else 'NOT VERIFIED'} | "
                     f"{e['as_expected']}/{e['n']} | {e['negatives']} | {e['meta'].get('date')} |")
    (out / "index.md").write_text("\n".join(lines) + "\n")
    rows = "".join(
        f"<tr><td><a href='{e['id']}/report.html'>{html.escape(e['id'])}</a></td><td>{html.escape(e['title'])}</td>"
        f"<td class={'ok' if e['ok'] else 'bad'}>{'VERIFIED' if e['ok'] else 'NOT VERIFIED'}</td><td>{e['as_expected']}/{e['n']}</td>"
        f"<td>{e['negatives']}</td><td>seed {e['meta'].get('seed')}, commit {html.escape(str(e['meta'].get('commit')))}, "
        f"{html.escape(str(e['meta'].get('date')))}</td></tr>" for e in entries)
    (out / "index.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>ratecheck report</title><style>{_CSS}</style></head><body>"
        "<h1>ratecheck report</h1><table><tr><th>theorem</th><th>title</th><th>verdict</th><th>checks as expected</th>"
        f"<th>negative controls</th><th>run</th></tr>{rows}</table></body></html>")
    return entries
