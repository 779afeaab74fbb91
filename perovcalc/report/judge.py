"""How the report judges a computed number against a measurement or literature value.

One page: the observable record, the agreement words, the PBE lattice window, the sign rule for
shifts and changes, and when a model is too crude to decide a small difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from perovcalc import reference as ref
from perovcalc.report.common import _slab

AGREEMENTS = ("agrees", "disagrees", "inconclusive", "no reference")
PBE_OVERESTIMATE = (0.0, 0.035)  # relative lattice-constant error PBE is known for (no SOC)


@dataclass
class Observable:
    """One computed number with its conditions, settings and the reference it is judged against."""

    observable: str
    conditions: dict
    value: float
    unit: str
    preset: str
    reference: dict | None
    agreement: str
    settings: str = ""
    note: str = ""

    def summary(self) -> dict:
        entry = asdict(self)
        del entry["settings"], entry["note"]
        return entry


@dataclass
class Section:
    """A group of observables with an explanation, figures (PNG bytes by title) and text
    tables (preformatted, by title)."""

    title: str
    text: str
    observables: list[Observable] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)


def _source(value: ref.ReferenceValue | ref.XPSShift) -> str:
    return f"{value.source} [{value.tag}]"


def _sign_agreement(value: float, expected: float | None, direction: str, tolerance=0.05) -> str:
    if direction == "none":
        return "agrees" if abs(value) <= 2 * tolerance else "disagrees"
    if abs(value) < tolerance:
        return "inconclusive"
    sign_ok = (value > 0) == (direction == "increase")
    if not sign_ok:
        return "disagrees"
    if expected is not None and abs(value - expected) > max(0.3, abs(expected)):
        return "inconclusive"
    return "agrees"


def _trend(observable: str, relation: str) -> dict:
    """A row of reference/defect_trends.csv as a reference with no number: {value, source}."""
    row = next(
        r for r in ref.load_table("defect_trends")
        if r["observable"] == observable and r["relation"] == relation
    )  # fmt: skip
    return {"value": None, "source": f"{relation}: {row['source']} [{row['tag']}]"}


def _too_crude(rows: list, reasons: list[str] | None = None) -> list[str]:
    """Why results of ``rows`` cannot decide a small difference: the demo preset, 1x1 slabs."""
    reasons = list(reasons or [])
    if any(row.preset == "demo" for row in rows):
        reasons.append("demo preset")
    for row in rows:
        slab = _slab(row.data["result"])
        if slab.get("a") and np.linalg.norm(row.cell[0]) < 1.5 * float(slab["a"]):
            reasons.append("1x1 slabs")
            break
    return reasons


def _decide(change: float, direction: str, reasons: list[str]) -> tuple[str, str]:
    """Agreement of a change with the expected ``direction``, and a plain sentence saying it."""
    agreement = _sign_agreement(change, None, direction)
    sign = {"agrees": "has the expected sign", "disagrees": "has the opposite sign"}.get(
        agreement, "is too small to have a sign (below 0.05 eV)"
    )
    if reasons:
        agreement = "inconclusive"
    because = f" ({', '.join(reasons)}: too crude to decide)" if reasons else ""
    return agreement, f"the computed change {sign}; agreement: {agreement}{because}"
