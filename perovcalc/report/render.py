"""Collect the report sections of a campaign and write report.html, report.md and summary.json."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from pathlib import Path

from perovcalc.campaign import Campaign
from perovcalc.report.common import Done
from perovcalc.report.corelevel import core_level_section
from perovcalc.report.judge import Observable, Section
from perovcalc.report.lattice import lattice_section
from perovcalc.report.migration import migration_section
from perovcalc.report.photoemission import photoemission_section
from perovcalc.report.vacancy import vacancy_section
from perovcalc.report.xrd import xrd_section
from perovcalc.results import task_rows

SECTIONS: list[Callable[[Campaign, Done], Section | None]] = [
    lattice_section,
    core_level_section,
    vacancy_section,
    migration_section,
    photoemission_section,
    xrd_section,
]


def collect(campaign: Campaign, db: str | Path) -> tuple[list[Section], list[tuple[str, str]]]:
    """Sections with their observables and figures, and (task, state) of unfinished tasks."""
    done, missing = [], []
    for name, _, row in task_rows(campaign, db):
        if row is not None and row.status == "done":
            done.append((campaign.tasks[name], row))
        else:
            missing.append(
                (name, "pending" if row is None else f"{row.status} {row.get('reason', '')}")
            )
    sections = [s for build in SECTIONS if (s := build(campaign, done)) is not None]
    return sections, missing


def _table_rows(observables: list[Observable]) -> list[list[str]]:
    out = []
    for o in observables:
        conditions = ", ".join(f"{k}={v}" for k, v in o.conditions.items())
        reference = "-" if o.reference is None else (
            f"{o.reference['value']:.4g}" if isinstance(o.reference["value"], float) else "(trend)"
        )  # fmt: skip
        source = "" if o.reference is None else o.reference["source"]
        out.append([o.observable, conditions, f"{o.value:.4g} {o.unit}", reference, o.agreement,
                    source, f"{o.settings} {o.note}".strip()])  # fmt: skip
    return out


HEADER = ["observable", "conditions", "computed", "reference", "agreement", "source", "settings"]


def write_report(campaign: Campaign, db: str | Path, outdir: str | Path) -> Path:
    """Write report.html, report.md (+ PNG figures) and summary.json to ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sections, missing = collect(campaign, db)
    summary = [o.summary() for s in sections for o in s.observables]
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1))

    md = [f"# perovcalc report: {campaign.name}", "", campaign.description, ""]
    page = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>perovcalc report: {html.escape(campaign.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:"
        "collapse;font-size:85%}td,th{border:1px solid #ccc;padding:2px 6px}"
        ".agrees{background:#dfd}.disagrees{background:#fdd}.inconclusive{background:#ffd}</style>",
        f"</head><body><h1>perovcalc report: {html.escape(campaign.name)}</h1>",
        f"<p>{html.escape(campaign.description)}</p>",
    ]
    figure_number = 0
    for section in sections:
        md += [f"## {section.title}", "", section.text, ""]
        page += [f"<h2>{html.escape(section.title)}</h2>"]
        page += [f"<p>{html.escape(text)}</p>" for text in section.text.split("\n\n")]
        for title, text in section.blocks.items():
            md += [f"**{title}**", "", "```", text, "```", ""]
            page += [f"<h3>{html.escape(title)}</h3><pre>{html.escape(text)}</pre>"]
        rows = _table_rows(section.observables)
        md += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        md += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows] + [""]
        page += ["<table><tr>" + "".join(f"<th>{h}</th>" for h in HEADER) + "</tr>"]
        page += [
            "<tr>" + "".join(
                f"<td class='{html.escape(c)}'>{html.escape(c)}</td>" for c in r
            ) + "</tr>"
            for r in rows
        ] + ["</table>"]  # fmt: skip
        for title, png in section.figures.items():
            figure_number += 1
            name = f"figure{figure_number}.png"
            (outdir / name).write_bytes(png)
            md += [f"![{title}]({name})", ""]
            data = base64.b64encode(png).decode()
            page += [f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(title)}</figcaption></figure>"]  # fmt: skip
    if missing:
        md += ["## Not computed", ""] + [f"- {n}: {s}" for n, s in missing] + [""]
        page += ["<h2>Not computed</h2><ul>"]
        page += [f"<li>{html.escape(n)}: {html.escape(s)}</li>" for n, s in missing] + ["</ul>"]
    page += ["</body></html>"]
    (outdir / "report.md").write_text("\n".join(md))
    (outdir / "report.html").write_text("\n".join(page))
    return outdir / "report.html"
