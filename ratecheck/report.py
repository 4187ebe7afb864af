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
                  "tolerance", "relative_tolerance", "false_fail", "false_pass", "power", "power_relative", "reason", "claim",
                  "summary", "evidence")
# the check table's columns beside the name: (heading, how a check's entry is shown)
COLUMNS = (
    ("relation", lambda c: str(c.get("relation") or "")),
    ("measured", lambda c: number(c.get("measured"))),
    ("predicted / bound", lambda c: predicted_text(c)),
    ("ratio", lambda c: number(c.get("ratio"))),
    ("interval", lambda c: "" if c.get("interval") is None else f"[{number(c['interval'][0])}, {number(c['interval'][1])}]"),
    ("tolerance", lambda c: "" if c.get("tolerance") is None else number(c["tolerance"]) + (" rel." if c.get("relative_tolerance") else "")),
    ("expected", lambda c: c["expected"]),
    ("observed", lambda c: c["observed"]),
    ("P(false FAIL) / P(false PASS)", lambda c: risk_text(c)),
    ("what the verdict means", lambda c: pass_means(c)),
    ("why not clear-cut", lambda c: c.get("reason") or ""),
)


def predicted_text(c: dict) -> str:
    """The prediction, or 'no finite prediction' where there is none (never a number standing in for it)."""
    if c.get("predicted") is None and str(c.get("reason") or "").startswith("no finite prediction"):
        return "no finite prediction"
    return number(c.get("predicted"))


def risk_text(c: dict) -> str:
    """A claim's false-failure rate (P(not PASS) were it true at the measured value); a negative control's
    P(not FAIL) at the measured value ('wrongly passes')."""
    if c.get("expected") == "FAIL":
        v = c.get("false_pass")
        return "" if v is None else f"wrongly passes: {prob(v)}"
    return "n/a (observation)" if c.get("false_fail") is None else prob(c["false_fail"])


def prob(x: object) -> str:
    if x is None:
        return ""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    return "0" if v == 0 else "< 1e-12" if v < 1e-12 else f"{v:.2g}"


def power_value(c: dict) -> str:
    """The power in the claim's units: a percentage of the claim for a relative figure."""
    pw = c.get("power")
    if pw is None:
        return ""
    try:
        v = float(pw)
    except (TypeError, ValueError):
        return str(pw)
    if c.get("power_relative"):
        return f"x{1 + v:.3g} the claim" if v > 10 else f"{100 * v:.3g} %"
    return f"{v:.3g}"


def pass_means(c: dict) -> str:
    """What PASS (or the FAIL of a negative control) reads as: within the band at its confidence, and the
    smallest deviation the check detects with probability 0.99."""
    rel, tol = c.get("relation"), c.get("tolerance")
    ev = c.get("evidence") or {}
    if rel in (None, "observation") or c.get("power") is None:
        return ""
    detects = f"detects >= {power_value(c)}"
    if "alpha" in ev:
        conf = f"{1 - float(ev['alpha']):.1%} family-wise"
    elif "confidence" in ev:
        conf = f"{float(ev['confidence']):.0%}"
    elif "z_threshold" in ev or "z" in ev:
        conf = f"|z| <= {ev.get('z_threshold', ev.get('z'))}"
    else:
        conf = "with certainty" if c.get("kind") == "exact identity" else "99 %"
    if c.get("kind") == "exact identity":
        return f"identity to {number(tol)} (deterministic); {detects}"
    if conf.startswith("|z|"):
        return f"equal within {conf}; {detects}"
    if tol is None:
        return f"at {conf}; {detects}"
    t = f"{100 * float(tol):.3g} %" if c.get("relative_tolerance") else number(tol)
    band = {"tight": f"within +-{t}", "upper": f"at most +{t} above", "lower": f"at most -{t} below",
            "exact": f"equal within {t}"}.get(str(rel), "")
    if c.get("kind") == "step inequality":
        band = "E lhs <= E rhs"
    elif c.get("relative_tolerance") and float(tol) <= 1e-6:
        band = {"upper": "below the bound", "lower": "above the bound", "exact": "equal"}.get(str(rel), band)
    elif not c.get("relative_tolerance") and float(tol) == 0:
        band = {"upper": "below the threshold", "lower": "above the threshold"}.get(str(rel), band)
    return f"{band} at {conf}; {detects}"


def budget_lines(b: dict | None) -> list[str]:
    """The Markdown of a theorem run's false-failure budget (ratecheck.checks.core.budget)."""
    if not b:
        return []
    lines = ["## False-failure budget", "",
             (f"Total false-failure rate of this run (sum over the {b['pass_expected']} checks expected to PASS of P(not PASS) "
              f"were the claim true at the measured value): **{prob(b['sum_false_fail'])}** against the target {b['target']:g} "
              f"(share per check {b['share']:.2g})."), ""]
    if b.get("negative_controls"):
        lines += [(f"Negative controls: total probability that one wrongly passes (P(not FAIL) at the measured value): "
                   f"{prob(b['total_false_pass'])}."), ""]
    for o in b.get("over", []):
        need = (f"would need R = {o['R_needed']} replicas (has {o['R']})" if o.get("R_needed") else
                (o.get("note") or "more replicas do not reach the share"))
        lines.append(f"> **WARNING (over budget)**: {o['name']}: false_fail {prob(o['false_fail'])} > share {o['share']:.2g}; {need}.")
    if b.get("over"):
        lines.append("")
    return lines


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
    b = theorem_budget(checks)
    verdict = {"theorem": info["id"], "ok": ok, "checks": [{k: c.get(k) for k in VERDICT_FIELDS} for c in checks], "budget": b}
    (folder / "verdict.json").write_text(json.dumps(verdict, indent=1, sort_keys=False))
    (folder / "outcomes.json").write_text(json.dumps({"theorem": info, "checks": checks, "meta": meta, "ok": ok, "budget": b}))
    render(folder)
    return ok


def theorem_budget(checks: list[dict]) -> dict:
    """The run's false-failure budget (information only: verdicts are not changed)."""
    from ratecheck.checks.core import budget, clean

    return clean(budget(checks))


def render(folder: Path) -> None:
    """(Re)draw report.md, report.html and the PNGs of one theorem from its outcomes.json."""
    data = json.loads((folder / "outcomes.json").read_text())
    info, checks, meta, ok = data["theorem"], data["checks"], data["meta"], data["ok"]
    meta = {**meta, "budget": data.get("budget") or (theorem_budget(checks) if any("error_model" in c for c in checks) else None)}
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
    lines += [""] + budget_lines(meta.get("budget"))
    negatives = [c for c in checks if c["expected"] == "FAIL"]
    if negatives:
        lines += ["", "## Negative controls", "", "Configurations that break a hypothesis; each must come out FAIL.", ""]
        lines += [f"- {c['name']}: expected FAIL, observed {c['observed']} ({mark(c)}); {risk_text(c)}. {c['summary']}" for c in negatives]
    lines += ["", "## Details", ""]
    for i, (c, img) in enumerate(zip(checks, images), 1):
        lines += [f"### {i}. {c['name']}", ""]
        if c.get("claim"):
            lines += [f"Claim evaluated: `{c['claim']}`", ""]
        lines += [f"Expected {c['expected']}, observed **{c['observed']}** ({mark(c)}). {c['description']}", "", c["summary"], ""]
        lines += _measured_lines(c)
        if img:
            lines += [f"![{c['name']}]({img})", ""]
        lines += ["<details><summary>evidence</summary>", "", "```json", json.dumps(c["evidence"], indent=1)[:4000], "```", "</details>", ""]
    if info["notes"]:
        lines += ["## Notes", ""] + [f"- {x}" for x in info["notes"]] + [""]
    return "\n".join(lines)


def _measured_lines(c: dict) -> list[str]:
    """Measured against claimed, the reason of a verdict that is not clear-cut, the error figures."""
    out = []
    if c.get("measured") is not None or c.get("predicted") is not None or c.get("reason"):
        iv = c.get("interval")
        iv_text = "" if iv is None else f" [{number(iv[0])}, {number(iv[1])}]"
        out.append(f"Measured {number(c.get('measured'))}{iv_text} against claimed {predicted_text(c) or 'n/a'} "
                   f"({c.get('relation')}).  ")
    if c.get("reason"):
        out.append(f"Why {c['observed']}: {c['reason']}.  " if c["observed"] == "INCONCLUSIVE" else f"Note: {c['reason']}.  ")
    if c.get("expected") == "FAIL" and c.get("false_pass") is not None:
        out.append(f"Probability that this negative control wrongly passes: {prob(c['false_pass'])}.  ")
    elif c.get("false_fail") is not None:
        out.append(f"False-failure rate: {prob(c['false_fail'])}; {pass_means(c)}.  ")
    return out + [""] if out else []


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
        claim = f"<p>Claim evaluated: <code>{e(c['claim'])}</code></p>" if c.get("claim") else ""
        measured = "".join(f"<p>{e(x.strip())}</p>" for x in _measured_lines(c) if x.strip())
        details.append(f"<h3>{i}. {e(c['name'])}</h3>{claim}<p>Expected {c['expected']}, observed <b>{c['observed']}</b>. "
                       f"{e(c['description'])}</p><p>{e(c['summary'])}</p>{measured}{pic}"
                       f"<details><summary>evidence</summary><pre>{e(json.dumps(c['evidence'], indent=1)[:4000])}</pre></details>")
    assumptions = "".join(f"<li>{e(a)}</li>" for a in info["assumptions"])
    bud = budget_lines(meta.get("budget"))
    bud_html = ("<h2>False-failure budget</h2>" + "".join(
        f"<p class=bad>{e(x[2:].replace('**', ''))}</p>" if x.startswith("> ") else f"<p>{e(x.replace('**', ''))}</p>"
        for x in bud[2:] if x.strip())) if bud else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(info['id'])}</title><style>{_CSS}</style></head><body>"
            f"<h1>{e(info['id'])}: {e(info['title'])}</h1><p class={'ok' if ok else 'bad'}><b>{'VERIFIED' if ok else 'NOT VERIFIED'}</b></p>"
            f"<p>Source: {e(info['source'])}<br>Run: seed {meta.get('seed')}, {'quick' if meta.get('quick') else 'full'}, commit "
            f"{e(str(meta.get('commit')))}, {e(str(meta.get('date')))}</p><h2>Statement</h2><p>{e(info['statement'])}</p>"
            f"<pre>{e(info['bound_pretty'])}</pre><h2>Assumptions</h2><ul>{assumptions}</ul><h2>Checks</h2><table>"
            "<tr><th>#</th><th>check</th><th>kind</th>" + "".join(f"<th>{e(h)}</th>" for h, _ in COLUMNS) + "<th></th></tr>"
            f"{rows}</table>{bud_html}{''.join(details)}</body></html>")


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
