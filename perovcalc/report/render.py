"""Collect the report sections of a campaign and write report.html, report.md, summary.json and
observations.json (the first table: each observation of the studies with its verdict)."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from pathlib import Path

from perovcalc.campaign import Campaign
from perovcalc.report.answer import Finding, Measurement, answer, why_missing
from perovcalc.report.common import Done
from perovcalc.report.corelevel import core_level_section
from perovcalc.report.judge import VERDICTS, Observable, Section
from perovcalc.report.lattice import lattice_section
from perovcalc.report.migration import migration_section
from perovcalc.report.photoemission import photoemission_section
from perovcalc.report.potassium import potassium_section
from perovcalc.report.vacancy import vacancy_section
from perovcalc.report.xrd import xrd_section
from perovcalc.results import task_rows

SECTIONS: list[Callable[[Campaign, Done], Section | None]] = [
    lattice_section,
    core_level_section,
    vacancy_section,
    migration_section,
    potassium_section,
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
ANSWER_HEADER = ["study", "observation", "measured", "computed", "verdict", "why"]
ANSWER_TITLE = "The answer: what the studies observed, and what this campaign computed"
ANSWER_TEXT = (
    "Study A: Yang et al., J. Am. Chem. Soc. 2020, doi:10.1021/jacs.9b11719 (K-Br passivated "
    "CsPbI3-xBrx NCs). Study B: Wang et al., ACS Appl. Mater. Interfaces 2018, "
    "doi:10.1021/acsami.8b06105 (CsPbBr3 NCs). One row per observation this campaign computes a "
    "counterpart for; the observation links to its section. Verdict: agrees or disagrees by the "
    "rule of that section, undecided where the models are too crude to decide or their "
    "counterparts differ. Tags of the measured values: E measured in the study, C computed from "
    "its numbers, M a literature value not checked here (hover for the source)."
)
MISSING_TITLE = "Observations without a computed counterpart"
STYLE = (
    "body{font-family:system-ui,sans-serif;line-height:1.4;max-width:72em;margin:auto;"
    "padding:0 1em;color:#222}"
    "table{border-collapse:collapse;font-size:85%}td,th{border:1px solid #ccc;padding:2px 6px;"
    "vertical-align:top}th{background:#f2f2f2;text-align:left}"
    ".agrees{background:#dfd}.disagrees{background:#fdd}.inconclusive,.undecided{background:#ffd}"
    "table.answer{width:100%;font-size:88%}table.answer td{padding:4px 6px}"
    "table.answer td:nth-child(1){width:3em;text-align:center}"
    "table.answer td:nth-child(2){width:30%}table.answer td:nth-child(3){width:13%}"
    "table.answer td:nth-child(4){width:15%}"
    "table.answer td:nth-child(5){width:6.5em;font-weight:bold}"
    ".source{color:#666;font-size:85%}a{color:#1a5fb4}ul.missing{font-size:90%}"
)


def anchor(title: str) -> str:
    """The HTML id of a section title: lower case, runs of other characters as one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _answer_rows(findings: list[Finding]) -> list[list[str]]:
    """Text cells of the first table (study, observation, measured, computed, verdict, why)."""
    return [[f.measurement.study, f.measurement.text, f.measurement.measured, f.computed(),
             f.verdict, f.why] for f in findings]  # fmt: skip


def _observations(findings: list[Finding], missing: list[Measurement]) -> dict:
    """The first table as JSON: judged observations and the ones without a counterpart."""

    def entry(m: Measurement) -> dict:
        return {"key": m.key, "study": m.study, "observation": m.text, "measured": m.measured,
                "source": m.source, "reference_rows": [list(r) for r in m.rows]}  # fmt: skip

    return {
        "observations": [
            {
                **entry(f.measurement),
                "verdict": f.verdict,
                "why": f.why,
                "section": anchor(f.section),
                "computed": [o.summary() for o, _ in f.counterparts],
            }
            for f in findings
        ],  # fmt: skip
        "not_computed": [{**entry(m), "why": why_missing(m)} for m in missing],
    }


def tally(findings: list[Finding], missing: list[Measurement]) -> str:
    """One sentence: how many observations got which verdict, and how many are not computed."""
    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    judged = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    computed = (
        f"{len(findings)} observations with a computed counterpart ({judged})"
        if findings
        else "No observation has a computed counterpart yet"
    )
    return f"{computed}; {len(missing)} without one (listed below the table)."


def _tag(source: str) -> str:
    """The check tag at the end of a "citation [tag]" source."""
    found = re.search(r"\[(\w)\]$", source)
    return found.group(1) if found else "?"


def _answer_md(findings: list[Finding], missing: list[Measurement]) -> list[str]:
    md = [f"## {ANSWER_TITLE}", "", f"**{tally(findings, missing)}**", "", ANSWER_TEXT, ""]
    md += ["| " + " | ".join(ANSWER_HEADER) + " |", "|" + "---|" * len(ANSWER_HEADER)]
    for f, cells in zip(findings, _answer_rows(findings), strict=True):
        cells[1] = f"[{cells[1]}](#{anchor(f.section)})"
        cells[2] += f" [{_tag(f.measurement.source)}]"
        md.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    md += ["", f"**{MISSING_TITLE}**", ""]
    md += [f"- {m.text} (study {m.study}): {m.measured}. {why_missing(m)}" for m in missing]
    return md + [""]


def _answer_html(findings: list[Finding], missing: list[Measurement]) -> list[str]:
    e = html.escape
    page = [f"<h2 id=answer>{e(ANSWER_TITLE)}</h2>", f"<p><b>{e(tally(findings, missing))}</b></p>",
            f"<p class=source>{e(ANSWER_TEXT)}</p>",
            "<table class=answer><tr>" + "".join(f"<th>{h}</th>" for h in ANSWER_HEADER)
            + "</tr>"]  # fmt: skip
    for f, cells in zip(findings, _answer_rows(findings), strict=True):
        study, text, measured, computed, verdict, why = map(e, cells)
        # unquoted href: an anchor in this page (quoted src/href are embedded figures only)
        page.append(
            f"<tr><td>{study}</td><td><a href=#{anchor(f.section)}>{text}</a></td>"
            f"<td>{measured} <span class=source title='{e(f.measurement.source)}'>"
            f"[{e(_tag(f.measurement.source))}]</span></td>"
            f"<td>{computed}</td><td class={verdict}>{verdict}</td><td>{why}</td></tr>"
        )
    page += ["</table>", f"<h3>{e(MISSING_TITLE)}</h3><ul class=missing>"]
    page += [f"<li><b>{e(m.text)}</b> (study {e(m.study)}): {e(m.measured)}. "
             f"<i>{e(why_missing(m))}</i></li>" for m in missing]  # fmt: skip
    return page + ["</ul>"]


def write_report(campaign: Campaign, db: str | Path, outdir: str | Path) -> Path:
    """Write report.html, report.md (+ PNG figures), summary.json and observations.json to
    ``outdir``. Both reports open with the answer: the studies' observations judged."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sections, missing = collect(campaign, db)
    summary = [o.summary() for s in sections for o in s.observables]
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1))
    findings, uncomputed = answer(sections)
    observations = _observations(findings, uncomputed)
    (outdir / "observations.json").write_text(json.dumps(observations, indent=1))

    md = [f"# perovcalc report: {campaign.name}", "", campaign.description, ""]
    md += _answer_md(findings, uncomputed)
    page = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>perovcalc report: {html.escape(campaign.name)}</title>",
        f"<style>{STYLE}</style>",
        f"</head><body><h1>perovcalc report: {html.escape(campaign.name)}</h1>",
        f"<p>{html.escape(campaign.description)}</p>",
    ]
    page += _answer_html(findings, uncomputed)
    figure_number = 0
    for section in sections:
        md += [f"<a id='{anchor(section.title)}'></a>", "", f"## {section.title}", "",
               section.text, ""]  # fmt: skip
        page += [f"<h2 id={anchor(section.title)}>{html.escape(section.title)}</h2>"]
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
