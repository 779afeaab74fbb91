"""The report's first table: what the two studies observed, next to what the campaign computed.

Each ``Measurement`` is one observation of study A (K-Br passivated CsPbI3-xBrx NCs) or study B
(CsPbBr3 NCs), read from ``reference/``. Every row tagged E there (measured in one of the
studies) belongs to at least one measurement; so do the cubic lattice constants the studies index
their patterns to and study A's proposed defect trends (tag M). A measurement's computed
counterparts are observables of the report's sections; ``answer`` judges each measurement from
them (``judge.overall``) or names it as not computed, and says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from perovcalc import reference as ref
from perovcalc.report.judge import Observable, Section, overall

#: text in a source -> study
STUDIES = {"jacs.9b11719": "A", "Yang et al., J. Am. Chem. Soc.": "A", "acsami.8b06105": "B"}
UNITS = {"eV": "{:+.3f} eV", "angstrom": "{:.3f} Å", "degree": "{:.2f}°", "ratio": "{:.3g}"}
#: Tables of measured rows (tag E) perovcalc computes nothing for: what they hold (a row in
#: words) and why there is no counterpart.
NOT_MODELLED = {
    "composition": (
        "Composition of the passivated NCs (EDS, ICP-OES) and of the synthesis",
        lambda r: f"{r['quantity']} {r['value']:g} {r['unit']} ({r['method']})",
        "An input of the models (x, K coverage), not a computed quantity",
    ),
    "core_levels": (
        "Absolute binding energies of the pristine NCs",
        lambda r: f"{r['element']} {r['major']} {r['binding_energy']:g} eV",
        "Delta-SCF gives shifts, not absolute binding energies; these values place the lines of "
        "the simulated spectra",
    ),
    "nanocrystal_size": (
        "NC edge length (TEM)",
        lambda r: f"{r['edge_length_nm']:g} nm ({r['sample']})",
        "An input (size of the nanocrystal model, XRD size broadening), not computed",
    ),
    "optoelectronics": (
        "Photoluminescence and LED figures",
        lambda r: str(r["quantity"]),
        "perovcalc computes no optical, excited-state or device properties",
    ),
}


@dataclass(frozen=True)
class Measurement:
    """One observation: what was seen (``text``, ``measured`` with its ``source``), the
    reference rows it stands for ((table, record index) pairs), and which computed observables
    answer it. ``needs`` says what would compute it; ``why_not`` (instead) why perovcalc does
    not."""

    key: str
    study: str
    text: str
    measured: str
    source: str
    rows: tuple[tuple[str, int], ...]
    observable: str | None = None
    match: Callable[[dict], bool] = field(default=lambda conditions: True, compare=False)
    needs: str = ""
    why_not: str = ""


@dataclass
class Finding:
    """A measurement with its computed counterparts (observable, section title), the verdict
    (``judge.VERDICTS``) and one line of why."""

    measurement: Measurement
    counterparts: list[tuple[Observable, str]]
    verdict: str
    why: str

    def computed(self) -> str:
        """The counterparts' values, labelled by the conditions in which they differ."""
        labels = _labels([o for o, _ in self.counterparts])
        shown: dict[str, list[str]] = {}
        for (o, _), label in zip(self.counterparts, labels, strict=True):
            value = UNITS.get(o.unit, "{:.4g} " + o.unit).format(o.value)
            shown.setdefault(value, []).append(label)
        return "; ".join(
            f"{value} ({', '.join(filter(None, ls))})" if any(ls) else value
            for value, ls in shown.items()
        )

    @property
    def section(self) -> str:
        return self.counterparts[0][1]


def _study(source: str) -> str:
    return next((s for mark, s in STUDIES.items() if mark in source), "")


def _source(row) -> str:
    return f"{row['source']} [{row['tag']}]"


def _level(line: str) -> str:
    """The spin-orbit doublet of a line: "Br 3d5/2" -> "Br 3d"."""
    return re.sub(r"(\d[spdf])\d/2$", r"\1", line)


def _xps_measurements() -> list[Measurement]:
    """Passivation shifts by level (both doublet components), the Br 3d - Pb 4f separation,
    the bulk-reference shift and the depth trends of study A."""
    xps = list(enumerate(ref.load_table("experimental_xps")))
    shifts = list(enumerate(ref.load_table("experimental_xps_shifts")))
    found = []
    passivation: dict[str, list] = {}
    for i, s in shifts:
        if s["comparison"] == "kbr_passivated - pristine":
            line = str(s["line"])
            passivation.setdefault(line if " - " in line else _level(line), []).append((i, s))
    for level, group in passivation.items():
        parts = level.split(" - ")  # the lines of a separation, else the level
        rows = [("experimental_xps_shifts", i) for i, _ in group] + [
            ("experimental_xps", j)
            for j, x in xps
            if x["sample"] in ("pristine", "kbr_passivated")
            and (x["line"] in parts if len(parts) > 1 else _level(str(x["line"])) == level)
        ]
        measured = ", ".join(
            "no obvious shift" if s["shift_eV"] is None
            else f"{s['shift_eV']:+.1f} eV" + (f" ({s['line'][3:]})" if len(group) > 1 else "")
            for _, s in group
        )  # fmt: skip
        if len(parts) > 1:
            found.append(Measurement(
                "xps_separation", "A", f"{level} separation, K-Br passivated minus pristine NCs",
                measured, _source(group[0][1]), tuple(rows), "br3d_pb4f_double_difference",
                lambda c: c["environment"] == "kbr_passivated - bare_surface",
                "core_levels tasks with Br 3d and Pb 4f of a bare_surface and a kbr_passivated "
                "model (labels.environment)",
            ))  # fmt: skip
            continue
        found.append(Measurement(
            f"xps_passivation:{level}", "A",
            f"{level} binding energy, K-Br passivated minus pristine NCs", measured,
            _source(group[0][1]), tuple(rows), "core_level_shift",
            lambda c, level=level: c["environment"] == "kbr_passivated - bare_surface"
            and c.get("level") == level,
            f"core_levels tasks with {level} of a bare_surface and a kbr_passivated model "
            "(labels.environment)",
        ))  # fmt: skip
    for i, s in shifts:
        if s["comparison"] == "kbr_reference - cspbbr3_reference":
            rows = [("experimental_xps_shifts", i)] + [
                ("experimental_xps", j) for j, x in xps
                if x["sample"] in ("kbr_reference", "cspbbr3_reference")
            ]  # fmt: skip
            found.append(Measurement(
                "xps_bulk_references", "A",
                f"{s['line']} in KBr minus in CsPbBr3 (bulk values quoted by the study)",
                f"{s['shift_eV']:+.1f} eV", _source(s), tuple(rows),
                why_not="The report compares no bulk KBr with bulk CsPbBr3 core levels",
            ))  # fmt: skip
        if s["comparison"] == "deeper - shallower":
            line = str(s["line"])
            word = {"none": "no shift", "decrease": "lower", "increase": "higher"}[s["direction"]]
            found.append(Measurement(
                f"xps_depth:{line}", "A",
                f"{line} binding energy with depth, passivated film (model: apparent binding "
                "energy, the photoemission-weighted mean over sites, 450 to 650 eV)",
                f"{word} deeper (photon energy 450 to 1486.7 eV)", _source(s),
                (("experimental_xps_shifts", i),),
                "apparent_binding_energy_change",
                lambda c, line=line: c["environment"] == "kbr_passivated"
                and c.get("level") == line and c.get("from_eV") == 450.0
                and c.get("to_eV") == 650.0,
                f"a core_levels task with {line} at two or more depths of a kbr_passivated "
                "slab (labels.environment)",
            ))  # fmt: skip
    return found


def _photoemission_measurements() -> list[Measurement]:
    found = []
    for i, row in enumerate(ref.load_table("photoemission_ratios")):
        hv = float(row["photon_energy_eV"])
        for element in ("K", "Br"):
            pair = f"{element}/Pb"
            found.append(Measurement(
                f"photoemission:{pair}:{hv:g}", "A",
                f"{pair} atomic ratio at {hv:g} eV ({row['probe']}), passivated film",
                f"{row[element] / row['Pb']:.3g}", _source(row), (("photoemission_ratios", i),),
                "photoemission_ratio",
                lambda c, hv=hv, pair=pair: abs(c["photon_energy"] - hv) < 0.05
                and c["pair"] == pair,
                f"a photoemission_ratios task computing {hv:g} eV",
            ))  # fmt: skip
    return found


def _structure_measurements() -> list[Measurement]:
    """Powder XRD of study A and the cubic lattice constants the studies' patterns index to."""
    found = []
    xrd = list(enumerate(ref.load_table("xrd_experiment")))
    for i, row in xrd:
        if row["sample"] == "pristine":
            found.append(Measurement(
                "xrd_cubic", "A",
                f"Powder XRD ({row['radiation']}): {row['phase']} ({row['reference_card']}), "
                "peak positions", str(row["observation"]), _source(row), (("xrd_experiment", i),),
                "xrd_peak_position", lambda c: c["x"] is not None and c["x"] < 3,
                "an xrd task of a cubic CsPbI3 (x = 0) or CsPbI2Br (x = 1) model",
            ))  # fmt: skip
    stronger = [(i, r) for i, r in xrd if r["sample"] != "pristine" and not r["impurity_phase"]]
    impurity = [(i, r) for i, r in xrd if r["impurity_phase"]]
    for i, row in stronger:
        found.append(Measurement(
            "xrd_crystallinity", "A", f"Powder XRD at K:Pb = {row['k_to_pb_percent']:g} %",
            str(row["observation"]), _source(row), (("xrd_experiment", i),),
            why_not="Peak heights (crystallinity) are not modelled",
        ))  # fmt: skip
    if impurity:
        loads = " and ".join(f"{r['k_to_pb_percent']:g}" for _, r in impurity)
        found.append(Measurement(
            "xrd_impurity", "A", f"Impurity phase in powder XRD at K:Pb = {loads} %",
            f"{impurity[0][1]['impurity_phase']} present", _source(impurity[0][1]),
            tuple(("xrd_experiment", i) for i, _ in impurity),
            why_not="The report compares no rock-salt KBr(1-y)I(y) pattern",
        ))  # fmt: skip
    lattice = list(enumerate(ref.load_table("lattice_constants")))
    for material, x, study, note in (
        ("CsPbI3", 0.0, "A", "the card study A indexes its pattern to"),
        ("CsPbBr3", 3.0, "B", "study B's NCs are cubic CsPbBr3"),
    ):
        i, row = next((i, r) for i, r in lattice if r["material"] == material)
        found.append(Measurement(
            f"lattice:{material}", study,
            f"Cubic {material} lattice constant, measured at {row['temperature_K']:g} K ({note})",
            f"{row['a']:g} Å", _source(row), (("lattice_constants", i),), "lattice_constant",
            lambda c, x=x: c["x"] == x, f"a relax_lattice task of cubic {material} (x = {x:g})",
        ))  # fmt: skip
    found.append(Measurement(
        "lattice:vegard", "A", "CsPbI3-xBrx lattice constant at intermediate x (study A: x near "
        "1), Vegard's law between the cubic end members", "linear in x",
        "Vegard's law between the experimental cubic end members", (), "lattice_constant",
        lambda c: c["x"] not in (0.0, 3.0), "a relax_lattice task at an intermediate x",
    ))  # fmt: skip
    return found


#: Study A's readings in reference/defect_trends.csv the report answers, by (observable,
#: relation): the observation in words, the measured relation, the computed observable, which
#: of its conditions answer it and what would compute it.
TRENDS = {
    ("vacancy_formation_energy", "kbr_passivated > bare_surface"): (
        "K-Br passivation raises the surface halide vacancy formation energy (the study's "
        "proposed mechanism, not measured)",
        "passivated > bare",
        "vacancy_formation_energy_change",
        lambda c: c["environment"] == "kbr_passivated - bare_surface",
        "vacancy_formation tasks on a bare and a K-Br passivated slab",
    ),
    ("migration_barrier", "kbr_passivated > bare_surface"): (
        "K-Br passivation raises the halide migration barrier (the study's proposed mechanism, "
        "not measured)",
        "passivated > bare",
        "migration_barrier_change",
        lambda c: c["environment"] == "kbr_passivated - bare_surface",
        "migration_barrier tasks on a bare and a K-Br passivated slab",
    ),
    ("k_site_energy", "k_below > k_surface"): (
        "Most K sits at the surface, a little inside the lattice (the study's reading of its "
        "depth-resolved XPS)",
        "K at the surface preferred",
        "k_segregation_energy",
        lambda c: True,
        "defect_host tasks on slabs with K at the surface and one layer below "
        "(labels k_site = surface / below: workflows/k_depth.toml)",
    ),
}


def _trend_measurements() -> list[Measurement]:
    """Study A's readings and proposed mechanism (reference/defect_trends.csv, ``TRENDS``)."""
    found = []
    for i, row in enumerate(ref.load_table("defect_trends")):
        trend = TRENDS.get((row["observable"], row["relation"]))
        if trend is None or not _study(str(row["source"])):
            continue
        text, measured, observable, match, needs = trend
        found.append(Measurement(
            f"trend:{row['observable']}", "A", text, measured, _source(row),
            (("defect_trends", i),), observable, match, needs,
        ))  # fmt: skip
    return found


def measurements() -> list[Measurement]:
    """Every observation of the two studies the report answers, in the order of its first table;
    measured rows (tag E) of ``reference/`` no comparison covers come last, by table and study,
    with why perovcalc computes no counterpart."""
    found = (
        _xps_measurements()
        + _photoemission_measurements()
        + _structure_measurements()
        + _trend_measurements()
    )
    covered = {row for m in found for row in m.rows}
    rest: dict[tuple[str, str], list[int]] = {}
    for name in ref.table_names():
        for i, row in enumerate(ref.load_table(name)):
            if row["tag"] == "E" and (name, i) not in covered:
                study = str(row.get("study") or _study(str(row["source"])))
                rest.setdefault((name, study), []).append(i)
    for (name, study), indices in rest.items():
        table = ref.load_table(name)
        text, row_text, why = NOT_MODELLED.get(name, (
            ref.table_description(name)[0].rstrip("."), lambda r: "",
            "The report has no comparison for this table",
        ))  # fmt: skip
        shown = list(dict.fromkeys(filter(None, (row_text(table[i]) for i in indices))))
        found.append(Measurement(
            f"table:{name}:{study}", study, text,
            ", ".join(shown[:6]) + (f" and {len(shown) - 6} more" if len(shown) > 6 else ""),
            _source(table[indices[0]]), tuple((name, i) for i in indices), why_not=why,
        ))  # fmt: skip
    return found


def _labels(observables: list[Observable]) -> list[str]:
    """For each observable, the values of the conditions that differ among ``observables``."""
    keys = [
        k for k in dict.fromkeys(k for o in observables for k in o.conditions)
        if len({str(o.conditions.get(k)) for o in observables}) > 1
    ]  # fmt: skip
    return [", ".join(str(o.conditions.get(k, f"no {k}")) for k in keys) for o in observables]


def answer(sections: list[Section]) -> tuple[list[Finding], list[Measurement]]:
    """The measurements with computed counterparts in ``sections``, judged, and the others."""
    findings, missing = [], []
    for m in measurements():
        counterparts = [
            (o, s.title)
            for s in sections
            for o in s.observables
            if o.observable == m.observable and o.reference is not None and m.match(o.conditions)
        ]
        if not counterparts:
            missing.append(m)
            continue
        labels = _labels([o for o, _ in counterparts])
        judged = [
            (label, o.agreement, o.why or o.note or o.agreement)
            for (o, _), label in zip(counterparts, labels, strict=True)
        ]
        findings.append(Finding(m, counterparts, *overall(judged)))
    return findings, missing


def why_missing(m: Measurement) -> str:
    """Why a measurement has no computed counterpart."""
    return m.why_not or f"Not computed by this campaign: it needs {m.needs}"
