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
    why: str = ""  # one line: why the agreement is what it is

    def summary(self) -> dict:
        entry = asdict(self)
        del entry["settings"], entry["note"], entry["why"]
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


def judge_lattice(error: float) -> tuple[str, str]:
    """Agreement of a computed lattice constant ``error`` (relative to the reference, computed /
    reference - 1) with the overestimate PBE is known for, and one line saying why."""
    low, high = PBE_OVERESTIMATE
    inside = low <= error <= high
    return "agrees" if inside else "disagrees", (
        f"{100 * error:+.1f} % from the reference, {'inside' if inside else 'outside'} the "
        f"{100 * low:g} to {100 * high:+.1f} % overestimate PBE is known for"
    )


def judge_sign(
    value: float, expected: float | None, direction: str, tolerance: float = 0.05
) -> tuple[str, str]:
    """Agreement of a computed shift or change (eV) with a measured ``direction`` ("increase",
    "decrease" or "none") and, where ``expected`` is given, its size; and one line saying why.

    No shift expected: |value| up to 2 ``tolerance`` agrees. Otherwise a value below
    ``tolerance`` has no sign (inconclusive), the opposite sign disagrees, and the right sign more
    than max(0.3 eV, |expected|) from ``expected`` is inconclusive.
    """
    if direction == "none":
        if abs(value) <= 2 * tolerance:
            return "agrees", f"{value:+.2f} eV, within {2 * tolerance:.2f} eV of no shift"
        return "disagrees", f"{value:+.2f} eV where none was seen (over {2 * tolerance:.2f} eV)"
    if abs(value) < tolerance:
        return "inconclusive", f"{value:+.3f} eV is below the {tolerance:.2f} eV a sign needs"
    if (value > 0) != (direction == "increase"):
        return "disagrees", f"{value:+.2f} eV: the opposite of the expected {direction}"
    if expected is not None and abs(value - expected) > max(0.3, abs(expected)):
        off = max(0.3, abs(expected))
        return "inconclusive", (
            f"{value:+.2f} eV: the right sign, but over {off:.2f} eV from {expected:+.2f} eV"
        )
    size = "" if expected is None else f" ({expected:+.2f} eV)"
    return "agrees", f"{value:+.2f} eV: the expected {direction}{size}"


def _sign_agreement(value: float, expected: float | None, direction: str, tolerance=0.05) -> str:
    """The agreement of ``judge_sign``."""
    return judge_sign(value, expected, direction, tolerance)[0]


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


def judge_change(change: float, direction: str, reasons: list[str]) -> tuple[str, str]:
    """``judge_sign`` of a computed change (eV) with no expected size, made inconclusive where
    ``reasons`` (see ``_too_crude``) say the models are too crude to decide it."""
    agreement, why = judge_sign(change, None, direction)
    if reasons:
        return "inconclusive", f"{', '.join(reasons)}: too crude to decide ({why})"
    return agreement, why


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


VERDICTS = ("agrees", "disagrees", "undecided")  # of an observation in the report's first table


def overall(judged: list[tuple[str, str, str]]) -> tuple[str, str]:
    """One verdict (``VERDICTS``) and one line of why for an observation, from the (label,
    agreement, why) of its computed counterparts.

    The decided counterparts (agrees or disagrees) must all say the same: that is the verdict,
    and undecided ones beside them are counted. Decided ones that differ, or none decided, make
    it "undecided", and the why says because of what.
    """

    def lines(agreements: set[str]) -> str:
        by_why: dict[str, list[str]] = {}
        for label, a, why in judged:
            if a in agreements:
                by_why.setdefault(why, []).append(label)
        shared = len(by_why) == 1
        found = [f"{', '.join(filter(None, ls))}: {why}" if any(ls) and not shared else why
                 for why, ls in by_why.items()]  # fmt: skip
        more = f"; and {len(found) - 3} more" if len(found) > 3 else ""
        return "; ".join(found[:3]) + more

    decided = {a for _, a, _ in judged if a in ("agrees", "disagrees")}
    if len(decided) == 1:
        verdict = decided.pop()
        rest = sum(a != verdict for _, a, _ in judged)
        return verdict, lines({verdict}) + (
            f" ({rest} other counterpart(s) undecided)" if rest else ""
        )
    if decided:
        return "undecided", "because the counterparts differ: " + lines(decided)
    return "undecided", "because " + lines({a for _, a, _ in judged})
