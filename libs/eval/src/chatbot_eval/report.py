"""The run's report: Markdown (with the chart as an SVG file beside it) and one self-contained
HTML page (the chart inline, no script, no outside resource)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from chatbot_eval.compare import Comparison

BAR_WIDTH = 360


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _delta(value: float | None) -> str:
    return "" if value is None else f"{value:+.3f}"


def chart_svg(run: dict[str, Any], comparison: Comparison | None = None) -> str:
    """Horizontal bars, one per metric on 0..1; the earlier run's value as a thin grey bar below."""
    before = {c.metric: c.before for c in comparison.metrics} if comparison else {}
    names = list(run["summary"])
    row, label, top = 34, 170, 10
    height = top + row * max(1, len(names)) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label + BAR_WIDTH + 70}" height="{height}" '
             f'font-family="sans-serif" font-size="12" role="img" aria-label="metrics">']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = label + tick * BAR_WIDTH
        parts.append(f'<line x1="{x:.0f}" y1="{top - 4}" x2="{x:.0f}" y2="{height - 18}" stroke="#ddd"/>'
                     f'<text x="{x:.0f}" y="{height - 4}" text-anchor="middle" fill="#666">{tick:g}</text>')
    for i, name in enumerate(names):
        y = top + i * row
        value = run["summary"][name]["mean"]
        width = max(0.0, min(1.0, value or 0.0)) * BAR_WIDTH
        parts.append(f'<text x="{label - 8}" y="{y + 15}" text-anchor="end">{html.escape(name)}</text>')
        parts.append(f'<rect x="{label}" y="{y + 3}" width="{width:.1f}" height="16" fill="#3b6fd8"/>')
        parts.append(f'<text x="{label + width + 6:.1f}" y="{y + 15}">{_fmt(value)}</text>')
        if before.get(name) is not None:
            w = max(0.0, min(1.0, before[name])) * BAR_WIDTH
            parts.append(f'<rect x="{label}" y="{y + 21}" width="{w:.1f}" height="5" fill="#999"><title>before: {before[name]:.3f}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _question_columns(run: dict[str, Any]) -> list[str]:
    return list(run["summary"])


def markdown(run: dict[str, Any], meta: dict[str, Any], comparison: Comparison | None, failures: list[str],
             chart_name: str) -> str:
    out = ["# chatbot-eval report", ""]
    out += [f"- {k}: {v}" for k, v in meta.items()]
    out += ["", f"![metrics]({chart_name})", "", "## Metrics", ""]
    if comparison:
        out += ["| metric | value | questions | before | change |", "|---|---:|---:|---:|---|"]
        changes = {c.metric: c for c in comparison.metrics}
        for name, entry in run["summary"].items():
            c = changes.get(name)
            out.append(f"| {name} | {_fmt(entry['mean'])} | {entry['questions']} | {_fmt(c.before if c else None)} | "
                       f"{_delta(c.delta if c else None)} {c.verdict() if c else ''} |")
    else:
        out += ["| metric | value | questions |", "|---|---:|---:|"]
        out += [f"| {name} | {_fmt(e['mean'])} | {e['questions']} |" for name, e in run["summary"].items()]
    out += ["", "## Gates", ""]
    out += [f"- FAILED {f}" for f in failures] or [f"- passed ({meta.get('gates', 'none')})"]
    if comparison:
        out += ["", f"## Against the run of {comparison.previous_created_at}", ""]
        for title, moved in (("Regressed", comparison.regressed), ("Improved", comparison.improved)):
            out += [f"### {title} ({len(moved)} questions)", ""]
            for qid, changes in moved.items():
                out.append(f"- {qid}: " + ", ".join(f"{c.metric} {_fmt(c.before)} -> {_fmt(c.after)}" for c in changes))
            out.append("")
    cols = _question_columns(run)
    out += ["", "## Questions", "", "| id | question | rank | " + " | ".join(cols) + " | notes |",
            "|---|---|---:|" + "---:|" * len(cols) + "---|"]
    for row in run["questions"]:
        notes = ", ".join(f"{k}: {v}" for k, v in row.get("reasons", {}).items())
        question = row["question"].replace("|", "\\|")
        out.append(f"| {row['id']} | {question} | {row.get('rank') or '–'} | "
                   + " | ".join(_fmt(row["scores"].get(c)) for c in cols) + f" | {notes} |")
    return "\n".join(out) + "\n"


def html_page(run: dict[str, Any], meta: dict[str, Any], comparison: Comparison | None, failures: list[str]) -> str:
    e = html.escape
    cols = _question_columns(run)
    changes = {c.metric: c for c in comparison.metrics} if comparison else {}
    rows = "".join(
        f"<tr><td>{e(n)}</td><td>{_fmt(v['mean'])}</td><td>{v['questions']}</td>"
        + (f"<td>{_fmt(changes[n].before)}</td><td class='{changes[n].verdict()}'>{_delta(changes[n].delta)} {changes[n].verdict()}</td>"
           if n in changes else ("<td></td><td></td>" if comparison else "")) + "</tr>"
        for n, v in run["summary"].items())
    moved = ""
    if comparison:
        for title, group in (("Regressed", comparison.regressed), ("Improved", comparison.improved)):
            items = "".join(f"<li>{e(qid)}: " + e(", ".join(f"{c.metric} {_fmt(c.before)} → {_fmt(c.after)}" for c in cs)) + "</li>"
                            for qid, cs in group.items())
            moved += f"<h3>{title} ({len(group)} questions)</h3><ul>{items}</ul>"
        moved = f"<h2>Against the run of {e(comparison.previous_created_at)}</h2>{moved}"
    questions = "".join(
        f"<tr><td>{e(r['id'])}</td><td>{e(r['question'])}<details><summary>answer</summary>{e(r.get('answer', ''))}</details></td>"
        f"<td>{r.get('rank') or '–'}</td>" + "".join(f"<td>{_fmt(r['scores'].get(c))}</td>" for c in cols)
        + f"<td>{e(', '.join(f'{k}: {v}' for k, v in r.get('reasons', {}).items()))}</td></tr>"
        for r in run["questions"])
    gates = "".join(f"<li class='regressed'>FAILED {e(f)}</li>" for f in failures) or f"<li>passed ({e(str(meta.get('gates', 'none')))})</li>"
    head = "<th>metric</th><th>value</th><th>questions</th>" + ("<th>before</th><th>change</th>" if comparison else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chatbot-eval report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 6px;
vertical-align:top}}.regressed{{color:#b00}}.improved{{color:#070}}details{{font-size:90%;color:#444}}</style></head><body>
<h1>chatbot-eval report</h1><ul>{"".join(f"<li>{e(str(k))}: {e(str(v))}</li>" for k, v in meta.items())}</ul>
{chart_svg(run, comparison)}
<h2>Metrics</h2><table><tr>{head}</tr>{rows}</table>
<h2>Gates</h2><ul>{gates}</ul>{moved}
<h2>Questions</h2><table><tr><th>id</th><th>question</th><th>rank</th>{"".join(f"<th>{e(c)}</th>" for c in cols)}<th>notes</th></tr>
{questions}</table></body></html>
"""


def write(out_dir: Path, run: dict[str, Any], meta: dict[str, Any], comparison: Comparison | None, failures: list[str]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"svg": out_dir / "report.svg", "md": out_dir / "report.md", "html": out_dir / "report.html"}
    paths["svg"].write_text(chart_svg(run, comparison), encoding="utf-8")
    paths["md"].write_text(markdown(run, meta, comparison, failures, paths["svg"].name), encoding="utf-8")
    paths["html"].write_text(html_page(run, meta, comparison, failures), encoding="utf-8")
    return paths
