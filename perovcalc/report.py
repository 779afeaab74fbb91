"""Reports: every computed observable of a campaign next to its measured or literature value.

``write_report(campaign, db, outdir)`` writes ``report.html`` (self-contained, figures embedded),
``report.md`` (with the figures as PNG files beside it) and ``summary.json``: a list with one
entry per computed observable::

    {"observable", "conditions", "value", "unit", "preset", "reference", "agreement"}

``reference`` is ``{"value", "source"}`` or null; ``agreement`` is "agrees", "disagrees",
"inconclusive" or "no reference". Values come only from finished rows of the store; numbers from
``reference/`` appear only as references.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from perovcalc import reference as ref
from perovcalc.bulk import vegard_lattice_constant
from perovcalc.campaign import Campaign, TaskSpec
from perovcalc.errors import PerovcalcError
from perovcalc.results import settings, task_rows
from perovcalc.worker import lattice_constant_of

AGREEMENTS = ("agrees", "disagrees", "inconclusive", "no reference")
PBE_OVERESTIMATE = (0.0, 0.035)  # relative lattice-constant error PBE is known for (no SOC)
XPS_PHOTON_ENERGY = 1486.7  # Al K-alpha, eV
XPS_LEVELS = ("Br 3d", "Pb 4f", "K 2p", "I 3d")  # levels of the simulated spectra


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


Done = list[tuple[TaskSpec, object]]  # (task, finished row)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _figure(width=5.5, height=3.6):
    """A matplotlib Figure (no pyplot state) and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _source(value: ref.ReferenceValue | ref.XPSShift) -> str:
    return f"{value.source} [{value.tag}]"


def composition_x(task: TaskSpec, campaign: Campaign) -> float | None:
    """Br per formula unit of the task's input structure recipe, if the recipe says."""
    spec = campaign.structures.get(task.structure or "")
    if spec is None:
        return None
    if "x" in spec.args:
        return float(spec.args["x"])
    if spec.builder == "perovskite":
        return {"I": 0.0, "Br": 3.0}.get(spec.args.get("halide", "Br"))
    return None


# ----------------------------------------------------------------------------- lattice constants
def lattice_section(campaign: Campaign, done: Done) -> Section | None:
    rows = [(t, r) for t, r in done if t.kind == "relax_lattice"]
    if not rows:
        return None
    a_i, a_br = ref.lattice_constant("CsPbI3"), ref.lattice_constant("CsPbBr3")
    section = Section(
        "Lattice constants and Vegard's law",
        "Computed cubic lattice constants (E(V) fit, internal coordinates fixed) against the "
        "high-temperature cubic experiments; intermediate x against Vegard's law between those "
        "end members. PBE without spin-orbit is known to overestimate a by about "
        f"{100 * PBE_OVERESTIMATE[0]:.0f}-{100 * PBE_OVERESTIMATE[1]:.1f} %: a value in that "
        "window "
        "counts as agreeing.",
    )
    points = []
    for task, row in rows:
        x = composition_x(task, campaign)
        if x is None:
            continue
        a = lattice_constant_of(row)
        points.append((x, a))
        if x in (0.0, 3.0):
            material = "CsPbI3" if x == 0 else "CsPbBr3"
            source = ref.lattice_parameters(material).source
            reference = {"value": a_i if x == 0 else a_br, "source": source}
        else:
            reference = {
                "value": vegard_lattice_constant(x),
                "source": "Vegard's law between the experimental cubic end members",
            }
        error = a / reference["value"] - 1
        agreement = "agrees" if PBE_OVERESTIMATE[0] <= error <= PBE_OVERESTIMATE[1] else "disagrees"
        section.observables.append(
            Observable("lattice_constant", {"x": x}, a, "angstrom", row.preset, reference,
                       agreement, settings(row), f"{100 * error:+.1f} % vs reference")
        )  # fmt: skip
    if points:
        fig, ax = _figure()
        xs, values = np.array(sorted(points)).T
        ax.plot(xs, values, "o", label="computed (this campaign)")
        if len(xs) >= 2:
            slope, intercept = np.polyfit(xs, values, 1)
            grid = np.linspace(0, 3, 50)
            ax.plot(grid, intercept + slope * grid, "-", lw=1, label="linear fit (Vegard)")
        ax.plot([0, 3], [a_i, a_br], "s--", label="experiment, cubic end members")
        ax.set_xlabel("x in CsPbI$_{3-x}$Br$_x$")
        ax.set_ylabel("a (Å)")
        ax.legend()
        section.figures["Lattice constant versus Br content"] = _png(fig)
    return section


# ----------------------------------------------------------------------------- core levels
def _site_energies(
    row, label: str, method: str = "delta_scf"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (eV; Delta-SCF binding energies or initial-state shifts), site depths (A) and
    multiplicities of the distinct sites of one level in one model."""
    entry = row.data["result"]["levels"][label]
    sites = [str(s) for s in entry["sites"]]
    return (
        np.array([entry[method][s] for s in sites]),
        np.array([entry["site_depth"][s] for s in sites]),
        np.array([entry["multiplicity"][s] for s in sites], dtype=float),
    )


def weighted_binding_energy(row, label: str, photon_energy: float = XPS_PHOTON_ENERGY) -> float:
    """Photoemission-weighted mean Delta-SCF energy of a level in a model, eV.

    Each distinct site is weighted by its multiplicity and by exp(-d / lambda), d its depth and
    lambda the TPP-2M inelastic mean free path at the line's kinetic energy.
    """
    from perovcalc import imfp, xps

    energies, depth, multiplicity = _site_energies(row, label)
    level = xps.core_level(label)
    material = xps.matrix_material(row.toatoms())
    lam = imfp.tpp2m(float(xps.kinetic_energies(level, photon_energy)[0]), material)
    weights = multiplicity * np.exp(-depth / lam)
    return float(np.sum(weights * energies) / np.sum(weights))


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


CORE_LEVEL_METHODS = {  # stored key -> (marker, note on the method)
    "delta_scf": ("o-", "Delta-SCF"),
    "initial_state": (
        "x:",
        "initial-state approximation (ground-state potential at the nucleus, no screening of "
        "the hole): a cheap estimate",
    ),
}


def _site_table(row, label: str) -> str:
    """Distinct sites of one level: depth, multiplicity and the shift of each method (eV)."""
    entry = row.data["result"]["levels"][label]
    methods = [m for m in CORE_LEVEL_METHODS if m in entry]
    columns = {m: _site_energies(row, label, m)[0] for m in methods}
    _, depth, multiplicity = _site_energies(row, label, methods[0])
    deepest = int(np.argmax(depth))
    lines = [f"  {'site':>5} {'depth A':>8} {'mult':>5}" + "".join(f" {m:>14}" for m in methods)]
    for k, site in enumerate(entry["sites"]):
        values = "".join(f" {columns[m][k] - columns[m][deepest]:>+14.3f}" for m in methods)
        lines.append(f"  {site:>5} {depth[k]:>8.2f} {multiplicity[k]:>5.0f}{values}")
    return "\n".join(lines)


def _depth_trend(env: str, label: str) -> ref.XPSShift | None:
    """The measured direction of a level's binding energy with probing depth, for the
    passivated model only (the measured films are passivated)."""
    if env != "kbr_passivated":
        return None
    try:
        return ref.experimental_xps_shift(label, "deeper - shallower")
    except PerovcalcError:  # no depth series measured for this line
        return None


def _with_model(conditions: dict, model: str | None) -> dict:
    """``conditions`` with the model label first, unchanged where there is none."""
    return conditions if model is None else {"model": model, **conditions}


def _depth_shifts(section: Section, ax, model: str | None, env: str, row) -> None:
    """Site table, depth curves and per-site observables of one (model, environment) row."""
    name = env if model is None else f"{model}, {env}"
    for label, entry in row.data["result"]["levels"].items():
        methods = [m for m in CORE_LEVEL_METHODS if m in entry]
        if not methods:
            continue
        section.blocks[f"{label}, {name}: shifts from the deepest site (eV)"] = _site_table(
            row, label
        )
        trend = _depth_trend(env, label)
        colour = None
        for method in methods:
            marker, note = CORE_LEVEL_METHODS[method]
            energies, depth, _ = _site_energies(row, label, method)
            deepest = energies[np.argmax(depth)]
            order = np.argsort(depth)
            line = ax.plot(depth[order], (energies - deepest)[order], marker, color=colour,
                           label=f"{label}, {name} ({method})")  # fmt: skip
            colour = line[0].get_color()
            compared = trend is not None and len(energies) > 1
            for e, d in zip(energies, depth, strict=True):
                reference = None
                if compared:
                    source = f"{trend.direction} with depth: {_source(trend)}"
                    reference = {"value": None, "source": source}
                conditions = {"level": label, "environment": env, "depth": round(float(d), 3),
                              "method": method}  # fmt: skip
                section.observables.append(
                    Observable("core_level_shift", _with_model(conditions, model),
                               float(e - deepest), "eV", row.preset, reference,
                               "inconclusive" if compared else "no reference", settings(row),
                               f"{note}, relative to the deepest site of the model")
                )  # fmt: skip
            if compared:
                change = float(deepest - energies[np.argmin(depth)])
                source = f"{trend.direction}: {_source(trend)}"
                conditions = {"level": label, "environment": env, "depth": "deepest - surface",
                              "method": method}  # fmt: skip
                section.observables.append(
                    Observable("core_level_shift", _with_model(conditions, model), change, "eV",
                               row.preset, {"value": None, "source": source},
                               _sign_agreement(change, None, trend.direction), settings(row),
                               note)
                )  # fmt: skip


def hole_image_error(rows: list) -> float:
    """Smallest core-level shift (eV) with a meaningful sign for models of ``rows``: 0.05 eV,
    or for 1x1 slabs (in-plane cell edges below 9 A: a 1x1 CsPbX3 cell is below 6.5 A, a 2x2
    one above 11.5 A) the change of a Delta-SCF shift from 1x1 to 2x2 in-plane cells (core-hole
    image interaction) in reference/computed_corelevel_convergence.csv, if larger."""
    if all(np.linalg.norm(np.asarray(row.cell)[:2], axis=1).max() >= 9.0 for row in rows):
        return 0.05
    table = {r["in_plane_cell"]: r["shift_delta_scf_eV"] for r in ref.load_table(
        "computed_corelevel_convergence")}  # fmt: skip
    return max(0.05, abs(table["2x2"] - table["1x1"]))


def _passivation_shifts(section: Section, model: str | None, bare, passivated) -> None:
    """K-Br passivated minus bare: the weighted Delta-SCF shift of every level both rows have,
    the Br 3d - Pb 4f double difference and the simulated XPS overlay of one model."""
    levels = bare.data["result"]["levels"]
    common = [label for label, entry in passivated.data["result"]["levels"].items()
              if "delta_scf" in entry and "delta_scf" in levels.get(label, {})]  # fmt: skip
    models = (("bare", bare), ("passivated", passivated))
    mean = {
        (env, label): weighted_binding_energy(r, label) for env, r in models for label in common
    }
    environment = "kbr_passivated - bare_surface"
    tolerance = hole_image_error([bare, passivated])
    for label in common:
        shift = mean["passivated", label] - mean["bare", label]
        line = {"Br 3d": "Br 3d5/2", "Pb 4f": "Pb 4f7/2"}.get(label, label)
        try:
            measured = ref.experimental_xps_shift(line)
        except PerovcalcError:  # no measured shift for this line
            measured = None
        reference = None
        agreement = "no reference"
        if measured is not None:
            reference = {"value": measured.shift, "source": _source(measured)}
            agreement = _sign_agreement(shift, measured.shift, measured.direction, tolerance)
        conditions = {"level": label, "environment": environment, "method": "delta_scf"}
        section.observables.append(
            Observable("core_level_shift", _with_model(conditions, model), shift, "eV",
                       passivated.preset, reference, agreement, settings(passivated))
        )  # fmt: skip
    if {"Br 3d", "Pb 4f"} <= set(common):
        double = (mean["passivated", "Br 3d"] - mean["passivated", "Pb 4f"]) - (
            mean["bare", "Br 3d"] - mean["bare", "Pb 4f"]
        )
        measured = ref.experimental_xps_shift("Br 3d5/2 - Pb 4f7/2")
        conditions = {"environment": environment, "method": "delta_scf"}
        section.observables.append(
            Observable("br3d_pb4f_double_difference", _with_model(conditions, model), double,
                       "eV", passivated.preset,
                       {"value": measured.shift, "source": _source(measured)},
                       _sign_agreement(double, measured.shift, measured.direction, tolerance),
                       settings(passivated), "reference-free: no calibration needed")
        )  # fmt: skip
    which = "" if model is None else f"{model}: "
    title = (f"Simulated XPS at {XPS_PHOTON_ENERGY} eV, {which}bare vs K-Br passivated slab "
             "(depth-weighted; lines: tabulated binding energy + Delta-SCF shift from the bare "
             "model's weighted mean)")  # fmt: skip
    section.figures[title] = _png(xps_overlay_figure({"bare": bare, "passivated": passivated}))


def core_level_section(campaign: Campaign, done: Done) -> Section | None:
    """Core-level rows grouped by (``labels.model``, ``labels.environment``); no model label is
    one default model. Passivation shifts for every model with both environments."""
    rows = {
        (t.labels.get("model"), t.labels.get("environment", t.name)): r
        for t, r in done
        if t.kind == "core_levels"
    }
    if not rows:
        return None
    section = Section(
        "Core-level shifts",
        "Delta-SCF binding energies (full core hole, electron kept in the cell) per distinct site, "
        "shown relative to the deepest site of each model; model-to-model shifts use the "
        "photoemission-weighted mean over sites (Al K-alpha). Where the task also computed "
        "initial-state shifts (method 'initial_state': the ground-state electrostatic potential "
        "at the nucleus, no screening of the hole) they are printed next to the Delta-SCF ones: "
        "the cheap approximation, within one model only. A shift below 0.05 eV is called "
        "inconclusive: the demo preset is not converged to that level; between 1x1 slabs the "
        "threshold is the computed core-hole image error instead (the change of a shift from 1x1 "
        "to 2x2 cells, reference/computed_corelevel_convergence.csv). Tasks labelled with a "
        "model are compared (bare vs K-Br passivated) only within that model.",
    )
    fig, ax = _figure()
    for (model, env), row in rows.items():
        _depth_shifts(section, ax, model, env, row)
    ax.set_xlabel("depth below the surface (Å)")
    ax.set_ylabel("shift from the deepest site (eV)")
    ax.legend(fontsize=6)
    section.figures[
        "Core-level shift versus depth (o-: Delta-SCF, x: initial-state approximation)"
    ] = _png(fig)
    for model in dict.fromkeys(model for model, _ in rows):
        bare, passivated = rows.get((model, "bare_surface")), rows.get((model, "kbr_passivated"))
        if bare is not None and passivated is not None:
            _passivation_shifts(section, model, bare, passivated)
    return section


def _atom_shifts(row, classes: list[int], label: str, reference: float) -> np.ndarray | None:
    """Delta-SCF binding energy of ``label`` on every atom of its element (``classes``: the
    site class of each atom of the row's model) minus ``reference`` (eV; 0 on other atoms), or
    None where the model has no Delta-SCF energies of that level."""
    entry = row.data["result"]["levels"].get(label, {})
    if "delta_scf" not in entry:
        return None
    element = label.split()[0]
    shifts = np.zeros(len(classes))
    for i, symbol in enumerate(row.symbols):
        if symbol == element:
            shifts[i] = entry["delta_scf"][str(classes[i])] - reference
    return shifts


def xps_overlay_figure(models: dict[str, object]):
    """Simulated Al K-alpha spectra of ``XPS_LEVELS`` of core_levels rows by model name, one
    panel per level, slab geometry (depth-weighted with the TPP-2M IMFP).

    Each atom's line sits at the tabulated binding energy plus its Delta-SCF energy minus the
    photoemission-weighted mean of the first model that has the level (eV); a model without
    Delta-SCF energies of a level it contains is drawn unshifted and says so.
    """
    from matplotlib.figure import Figure

    from perovcalc import xps
    from perovcalc.symmetry import site_classes

    panels = []
    structures = {name: row.toatoms() for name, row in models.items()}
    classes = {name: site_classes(atoms) for name, atoms in structures.items()}
    for label in XPS_LEVELS:
        element, spectra, reference = label.split()[0], [], None
        for name, row in models.items():
            atoms = structures[name]
            if element not in atoms.get_chemical_symbols():
                continue
            if reference is None and "delta_scf" in row.data["result"]["levels"].get(label, {}):
                reference = weighted_binding_energy(row, label, XPS_PHOTON_ENERGY)
            shifts = (
                None if reference is None else _atom_shifts(row, classes[name], label, reference)
            )
            spectrum = xps.simulate_spectrum(
                atoms, label, XPS_PHOTON_ENERGY, shifts, geometry="slab"
            )
            spectra.append((name if shifts is not None else f"{name} (no Delta-SCF)", spectrum))
        if spectra:
            panels.append(spectra)
    fig = Figure(figsize=(4.0 * len(panels), 3.4), layout="tight")
    for ax, spectra in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels, strict=True):
        xps.plot_spectra(ax, spectra)
    return fig


# ----------------------------------------------------------------------------- defects
def _slab(result: dict) -> dict:
    """The slab description {layers, termination, passivation, a} of a defect result's host
    (vacancy_formation: under ``host``, migration_barrier: top level), {} for bulk."""
    return result.get("slab") or (result.get("host") or {}).get("slab") or {}


def environment(task: TaskSpec, result: dict) -> str:
    """What a defect result models: the task's ``labels.environment``, else the result's
    labels, else bulk, ``bare_surface`` or ``<passivation>_passivated`` from its slab host."""
    labels = {**(result.get("labels") or {}), **task.labels}
    if "environment" in labels:
        return labels["environment"]
    slab = _slab(result)
    if not slab:
        return result.get("environment", "bulk")
    passivation = slab.get("passivation")
    return "bare_surface" if passivation in (None, "None") else f"{passivation.lower()}_passivated"


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


def vacancy_section(campaign: Campaign, done: Done) -> Section | None:
    from perovcalc import formation
    from perovcalc.kinds.defects import VacancyResult, vacancy_table

    rows = {t.name: (t, r) for t, r in done if t.kind == "vacancy_formation"}
    if not rows:
        return None
    results = {name: r.data["result"] for name, (_, r) in rows.items()}
    section = Section(
        "Halide vacancy formation energies",
        "Neutral and charged halide vacancies at every distinct site, relaxed, at the "
        "halide-rich and halide-poor limits of the computed stability region (E_F at the VBM; "
        "charged bulk defects with the Freysoldt correction). The experiment's mechanism "
        "(K-Br bonds hold surface bromide) predicts that passivation makes surface halide "
        "vacancies harder to form: a positive change of the surface (layer 0) formation energy "
        "from the bare to the K-Br passivated slab. The demo preset and 1x1 slabs are too "
        "crude to decide its size: the agreement is then inconclusive.",
    )
    headline = []
    for name, (task, row) in rows.items():
        result = results[name]
        env = environment(task, result)
        table = vacancy_table(name, VacancyResult.from_dict(result))
        section.blocks[f"{name} ({env})"] = f"{table}\n  settings: {settings(row)}"
        for e in result["entries"]:
            conditions = {"environment": env, "species": e["species"], "site": e["site"]}
            if e["layer_from_surface"] is not None:
                conditions["layer_from_surface"] = e["layer_from_surface"]
            relaxed = "relaxed" if e["converged"] else f"not relaxed ({e['max_force']:.2f} eV/A)"
            for condition in formation.CONDITIONS:
                section.observables.append(
                    Observable("vacancy_formation_energy",
                               {**conditions, "chemical_potential_limit":
                                f"{e['species']}-{condition}", "charge": e["charge"]},
                               float(e["formation_energy"][condition]), "eV", row.preset, None,
                               "no reference", settings(row), f"{relaxed}, E_F at the VBM")
                )  # fmt: skip
        if env == "bulk":
            headline += [
                f"Bulk V_{e['species']} (site {e['site']}, neutral, X-poor): "
                f"{e['formation_energy']['poor']:.3f} eV ({name})."
                for e in result["entries"]
                if e["charge"] == 0
            ]
    reference = _trend("vacancy_formation_energy", "kbr_passivated > bare_surface")
    for bare, passivated in formation.slab_pairs(results):
        pair = [rows[bare][1], rows[passivated][1]]
        agreement, verdict = "", ""
        for condition in formation.CONDITIONS:
            for change in formation.surface_change(results[bare], results[passivated], condition):
                if change["layer_from_surface"] != 0:
                    continue
                agreement, verdict = _decide(change["change"], "increase", _too_crude(pair))
                species = change["species"]
                section.observables.append(
                    Observable("vacancy_formation_energy_change",
                               {"environment": "kbr_passivated - bare_surface",
                                "species": species, "layer_from_surface": 0,
                                "chemical_potential_limit": f"{species}-{condition}", "charge": 0},
                               float(change["change"]), "eV", pair[1].preset, reference,
                               agreement, settings(pair[1]), f"{passivated} - {bare}")
                )  # fmt: skip
                if condition == "poor":
                    headline.append(
                        f"Surface V_{species} (layer 0, neutral): {change['bare']:.3f} eV on the "
                        f"bare slab ({bare}), {change['passivated']:.3f} eV on the passivated "
                        f"slab ({passivated}), change {change['change']:+.3f} eV (the same at "
                        f"both limits); expected > 0: {verdict}."
                    )
    if headline:
        section.text += "\n\nHeadline. " + " ".join(headline)
    slabs = {n: r for n, r in results.items() if r["environment"] != "bulk"}
    if slabs:
        title = "Neutral vacancy formation energy versus depth (X-poor; -1 = KBr overlayer)"
        section.figures[title] = _png(formation.depth_figure(slabs, "poor"))
    for name, result in results.items():
        if result["environment"] == "bulk":
            title = f"Vacancy formation energy versus Fermi level ({name}, lowest charge state)"
            section.figures[title] = _png(formation.fermi_level_figure(result))
    section.blocks["Literature"] = formation.literature_table()
    return section


def _barrier_system(row) -> str | None:
    """CsPbBr3 or CsPbI3 for a single-halide model, else None (no tabulated barrier)."""
    symbols = set(row.toatoms().get_chemical_symbols())
    if "Br" in symbols and "I" not in symbols:
        return "CsPbBr3"
    if "I" in symbols and "Br" not in symbols:
        return "CsPbI3"
    return None


def _range(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


def _bulk_barrier_reference(system: str | None, species: str) -> tuple[dict, float, float] | None:
    """The widest tabulated bulk barrier range of V_``species`` in ``system``: reference
    {value (middle of the range), source} and the range (eV)."""
    candidates = [
        r for r in ref.load_table("migration_barriers")
        if r["system"] == system and r["defect"] == f"V_{species}" and r["environment"] == "bulk"
    ]  # fmt: skip
    if not candidates:
        return None
    r = max(candidates, key=lambda r: r["barrier_max_eV"] - r["barrier_min_eV"])
    low, high = r["barrier_min_eV"], r["barrier_max_eV"]
    source = f"{_range(low, high)} eV, {r['method']}: {r['source']} [{r['tag']}]"
    return {"value": (low + high) / 2, "source": source}, low, high


def barrier_table(rows: list[tuple[str, str, dict, str]]) -> str:
    """Text table of (task, environment, result, settings) of migration_barrier rows: barriers
    and reaction energy (eV), convergence and cost (DFT evaluations, optimizer steps, wall s)."""
    from perovcalc.neb import RECONSTRUCTION, reconstruction

    lines = [
        f"  {'task':<20} {'environment':<16} {'X':<3}{'E_fwd':>7} {'E_rev':>7} {'dE':>7} "
        f"{'converged':>9} {'evals':>6} {'steps':>6} {'wall s':>8}"
    ]
    for name, env, r, _ in rows:
        cost = r.get("total_cost") or r["cost"]
        lines.append(
            f"  {name:<20} {env:<16} {r['species']:<3}{r['forward_barrier']:>7.3f} "
            f"{r['reverse_barrier']:>7.3f} {r['reaction_energy']:>+7.3f} "
            f"{'yes' if r['converged'] else 'no':>9} {cost['evaluations']:>6} {cost['steps']:>6} "
            f"{cost['wall_time']:>8.0f}"
        )
    lines += [f"  {name}: {text}" for name, _, _, text in rows]
    for name, _, r, _ in rows:
        for m in r.get("intermediates", []):
            lines.append(
                f"  {name}: through {m['name']}, a minimum {m['energy']:+.3f} eV from the "
                f"initial state with the hopping {r['species']} {m['hop_fraction']:.0%} of the "
                f"way (relaxed in {m['evaluations']} evaluations): barriers from the lowest "
                "state before (forward) or after (reverse) each saddle"
            )
        ends = _no_minimum(r)
        if ends:
            e = r["energies"]
            lines.append(
                f"  {name}: NO BARRIER: {' and '.join(ends)} "
                f"{'endpoints are no minima' if len(ends) == 2 else 'endpoint is no minimum'} "
                f"along the band (image next to each endpoint {e[1] - e[0]:+.3f} / "
                f"{e[-2] - e[-1]:+.3f} eV): its relaxation stopped on a slope or a symmetric "
                "saddle, and a lower state lies along the band"
            )
        moved = reconstruction(r["hop"])
        if moved is not None:
            lines.append(
                f"  {name}: RECONSTRUCTION: an atom other than the hopping "
                f"{r['species']} is {moved:.2f} A apart between the relaxed endpoints "
                f"(> {RECONSTRUCTION} A): they relaxed into different structures, and the "
                "band measures that change with the hop"
            )
    return "\n".join(lines)


def _no_minimum(r: dict) -> list[str]:
    """The endpoints of a stored band that are no minimum along it (see neb.unstable_endpoints)."""
    from perovcalc.neb import unstable_endpoints

    return unstable_endpoints(r["energies"])


def profile_figure(profiles: dict[str, dict]):
    """Energy (eV, relative to the initial image) vs path length (A) of migration_barrier
    results by label: the images and a cubic spline through them, with slopes -F.t from the
    stored tangential forces (eV/A) where there are any."""
    from scipy.interpolate import CubicHermiteSpline, CubicSpline

    fig, ax = _figure()
    for label, r in profiles.items():
        energies = np.array(r["energies"]) - r["energies"][0]
        path = np.array(r.get("path") or np.arange(len(energies)), dtype=float)
        line = ax.plot(path, energies, "o", label=label)
        if len(path) > 2 and np.all(np.diff(path) > 0):
            grid = np.linspace(path[0], path[-1], 200)
            forces = r.get("tangential_forces")
            spline = (
                CubicSpline(path, energies)
                if forces is None
                else CubicHermiteSpline(path, energies, -np.asarray(forces))
            )
            ax.plot(grid, spline(grid), "-", color=line[0].get_color())
    ax.set_xlabel("path length (Å)")
    ax.set_ylabel("E − E(initial image) (eV)")
    ax.legend(fontsize=7)
    return fig


def migration_literature() -> str:
    """Tabulated halide-vacancy migration barriers and trends, with source and tag."""
    lines = ["literature (reference/migration_barriers.csv, defect_trends.csv; V checked, "
             "M not checked, E the experiment):"]  # fmt: skip
    for r in ref.load_table("migration_barriers"):
        if r["system"].startswith("CsPb"):
            lines.append(f"  {r['system']} {r['defect']} {r['environment']}: "
                         f"{_range(r['barrier_min_eV'], r['barrier_max_eV'])} eV, {r['method']} "
                         f"[{r['tag']}] ({r['source']})")  # fmt: skip
    for r in ref.load_table("defect_trends"):
        if r["observable"] == "migration_barrier" and "CsPb" in r["system"]:
            lines.append(f"  {r['system']}: {r['relation']}: {r['finding']} [{r['tag']}] "
                         f"({r['source']})")  # fmt: skip
    return "\n".join(lines)


def _band_problems(r: dict) -> list[str]:
    """Why a stored band cannot decide anything: not converged, an endpoint no minimum, a
    minimum along it not relaxed, endpoints reconstructed differently."""
    from perovcalc.neb import reconstruction, unresolved_minima

    problems = [] if r["converged"] else ["band not converged"]
    problems += ["an endpoint is no minimum"] if _no_minimum(r) else []
    if unresolved_minima(r["energies"], r.get("minima")):
        problems.append("a minimum along the band not relaxed")
    if reconstruction(r["hop"]) is not None:
        problems.append("endpoints reconstructed differently")
    return problems


def mixed_host_headline(host: str, i: dict, br: dict) -> str:
    """The I and Br hops (stored band results) of one mixed-halide host side by side (eV)."""

    ok_i, ok_br = not _no_minimum(i), not _no_minimum(br)

    def shown(r: dict, ok: bool) -> str:
        return f"{r['forward_barrier']:.3f} eV" if ok else "no barrier (an endpoint is no minimum)"

    text = (
        f"In one mixed-halide host ({host}): V_I hop {shown(i, ok_i)}, V_Br hop {shown(br, ok_br)}"
    )
    if not (ok_i and ok_br):
        return text + "."
    return text + f", difference (I - Br) {i['forward_barrier'] - br['forward_barrier']:+.3f} eV."


def _hop(r: dict) -> str | None:
    """Where the vacancy of a slab hop moves, in perovskite layers from the surface
    ("vacancy layer 1 -> 0": from the first PbX2 layer to the outer layer); None in bulk."""
    depth = r.get("layer_from_surface")
    return None if depth is None else f"vacancy layer {depth['site']} -> {depth['to']}"


class Band(NamedTuple):
    """A finished barrier task as the barrier reports use it."""

    task: TaskSpec
    row: object  # its ase.db row
    result: dict
    env: str
    conditions: dict
    text: str  # its settings in words
    system: str | None  # the compound of a pure host (see _barrier_system)


def barrier_bands(done: Done) -> list[Band]:
    """The finished ``migration_barrier`` tasks of ``done`` as the barrier reports use them."""
    entries = []
    for task, row in done:
        if task.kind != "migration_barrier":
            continue
        r = row.data["result"]
        env = environment(task, r)
        conditions = {"environment": env, "species": r["species"]}
        if (hop := _hop(r)) is not None:
            conditions["hop"] = hop
        if "model" in task.labels:
            conditions["model"] = task.labels["model"]
        s = r.get("settings", {})
        neb = ", ".join(f"{k}={s[k]}" for k in ("n_images", "fmax", "optimizer", "climb") if k in s)
        text = f"{settings(row)}; NEB {neb}"
        entries.append(Band(task, row, r, env, conditions, text, _barrier_system(row)))
    return entries


def migration_section(campaign: Campaign, done: Done) -> Section | None:
    rows = [(t, r) for t, r in done if t.kind == "migration_barrier"]
    if not rows:
        return None
    section = Section(
        "Halide migration barriers (CI-NEB)",
        "Vacancy-mediated halide hops: forward barrier from the initial state to the highest "
        "(climbing) image, reverse barrier and reaction energy, with the cost of each band in "
        "energy/force evaluations and wall time. Where a state lower than both endpoints or a "
        "minimum between images lies along a band, it is relaxed and the hop split there: the "
        "barrier is then the highest saddle above the lowest state before it. Biega and "
        "Leppert (2021) find the bare (001) surface V_Br barrier about half the bulk one and an "
        "alkali-halide monolayer raising it again; the experiment proposes that K-Br raises "
        "the Br barrier (passivated minus bare > 0). The demo preset or an unconverged band "
        "makes that comparison inconclusive.",
    )
    entries = barrier_bands(rows)
    section.blocks["Barriers and cost"] = barrier_table(
        [(b.task.name, b.env, b.result, b.text) for b in entries]
    )
    bulk = {(b.system, b.result["species"]): b.result for b in entries if b.env == "bulk"}
    for task, row, r, env, conditions, text, system in entries:
        reasons = _too_crude([row], _band_problems(r))
        reference, agreement = None, "no reference"
        if env == "bulk":
            found = _bulk_barrier_reference(system, r["species"])
            if found is not None:
                reference, low, high = found
                agreement = "agrees" if low <= r["forward_barrier"] <= high else "disagrees"
        elif env == "bare_surface" and (system, r["species"]) in bulk:
            value = bulk[system, r["species"]]["forward_barrier"]
            trend = _trend("migration_barrier", "bare_surface < bulk")
            reference = {"value": 0.5 * value, "source": f"half the computed bulk barrier, "
                         f"{trend['source']}"}  # fmt: skip
            agreement = _sign_agreement(r["forward_barrier"] - value, -0.5 * value, "decrease")
        if reasons and agreement in ("agrees", "disagrees"):
            agreement = "inconclusive"
        cost = r.get("total_cost") or r["cost"]
        section.observables.append(
            Observable("migration_barrier", conditions, float(r["forward_barrier"]), "eV",
                       row.preset, reference, agreement, text,
                       f"{task.name}; {cost['evaluations']} evaluations, {cost['wall_time']:.0f} s")
        )  # fmt: skip
    headline = []
    experiment = _trend("migration_barrier", "kbr_passivated > bare_surface")
    theory = _trend("migration_barrier", "alkali_halide_passivated > bare_surface")
    reference = {"value": None, "source": f"{experiment['source']}; {theory['source']}"}
    for band in entries:
        if band.env != "bare_surface":
            continue
        bare_row, bare, conditions = band.row, band.result, band.conditions
        pair = {**conditions, "environment": "kbr_passivated"}
        found = [b for b in entries if b.conditions == pair]
        if not found:
            continue
        kbr_row, kbr = found[0].row, found[0].result
        problems = sorted(set(_band_problems(bare) + _band_problems(kbr)))
        change = kbr["forward_barrier"] - bare["forward_barrier"]
        agreement, verdict = _decide(change, "increase", _too_crude([bare_row, kbr_row], problems))
        section.observables.append(
            Observable("migration_barrier_change",
                       {**conditions, "environment": "kbr_passivated - bare_surface"},
                       float(change), "eV", kbr_row.preset, reference, agreement,
                       settings(kbr_row))
        )  # fmt: skip
        where = f" ({conditions['hop']})" if "hop" in conditions else ""
        headline.append(
            f"V_{bare['species']} barrier{where}: bare {bare['forward_barrier']:.3f} eV, K-Br "
            f"passivated {kbr['forward_barrier']:.3f} eV, change {change:+.3f} eV; expected "
            f"> 0: {verdict}."
        )
    hosts: dict[str, dict[str, dict]] = {}  # I and Br hops in one mixed-halide host
    for b in entries:
        if b.system is None and b.result.get("host"):
            hosts.setdefault(b.result["host"]["task"], {})[b.result["species"]] = b.result
    for host, bands in hosts.items():
        if {"I", "Br"} <= set(bands):
            headline.append(mixed_host_headline(host, bands["I"], bands["Br"]))
    if headline:
        section.text += "\n\nHeadline. " + " ".join(headline)
    labels = {", ".join(str(v) for v in b.conditions.values()): b.result for b in entries}
    section.figures["Energy profiles along the band (spline through the images)"] = _png(
        profile_figure(labels)
    )
    section.blocks["Literature"] = migration_literature()
    return section


# ----------------------------------------------------------------------------- photoemission
def photoemission_section(campaign: Campaign, done: Done) -> Section | None:
    rows = [(t, r) for t, r in done if t.kind == "photoemission_ratios"]
    if not rows:
        return None
    measured = {round(m.photon_energy, 1): m for m in ref.photoemission_ratios()}
    section = Section(
        "Depth-resolved photoemission ratios",
        "Apparent atomic ratios of the model (TPP-2M attenuation, xraylib cross sections, "
        "homogeneous-sample quantification) against the K-Br passivated film. A ratio within 30 % "
        "of the measurement agrees; the trend with photon energy is the more robust comparison.",
    )
    fig, ax = _figure()
    for task, row in rows:
        result = row.data["result"]
        energies, levels = result["photon_energies"], result["levels"]
        ratios = np.array(result["ratios"])
        denominator = levels[-1].split()[0]
        for j, level in enumerate(levels[:-1]):
            element = level.split()[0]
            pair = f"{element}/{denominator}"
            ax.plot(energies, ratios[:, j], "o-", label=f"{pair} model ({task.name})")
            for hv, value in zip(energies, ratios[:, j], strict=True):
                m = measured.get(round(hv, 1))
                reference, agreement = None, "no reference"
                if m is not None:
                    target = m.pair(element, denominator)
                    reference = {"value": target, "source": f"{m.source} [{m.tag}]"}
                    agreement = "agrees" if abs(value / target - 1) <= 0.3 else "disagrees"
                section.observables.append(
                    Observable("photoemission_ratio", {"photon_energy": hv, "pair": pair},
                               float(value), "ratio", row.preset, reference, agreement,
                               f"model {task.structure}, {result['geometry']} geometry")
                )  # fmt: skip
    for element, marker in (("K", "s"), ("Br", "^")):
        hv = sorted(measured)
        ax.plot(hv, [measured[e].pair(element) for e in hv], marker + "--k", mfc="none",
                label=f"{element}/Pb measured")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("photon energy (eV)")
    ax.set_ylabel("atomic ratio")
    ax.legend(fontsize=7)
    section.figures["Photoemission ratios versus photon energy"] = _png(fig)
    return section


# ----------------------------------------------------------------------------- XRD
XRD_PHASES = {0.0: "alpha-CsPbI3", 1.0: "CsPbI2Br (film)", 3.0: "CsPbBr3 (cubic)"}
XRD_HKL = ("(100)", "(110)", "(200)")
XRD_FAMILIES = {(0, 0, 1): "(100)", (0, 1, 1): "(110)", (0, 0, 2): "(200)"}


def _xrd_reference(x: float | None, hkl: str, wavelength: float) -> dict | None:
    phase = XRD_PHASES.get(x)
    for row in ref.load_table("xrd_peaks") if phase else ():
        if (
            row["phase"] == phase
            and row["hkl"] == hkl
            and abs((row["wavelength_angstrom"] or 0.0) - wavelength) < 1e-4
        ):
            source = f"{row['source']} [{row['tag']}], a = {row['a_angstrom']} A"
            return {"value": float(row["two_theta_deg"]), "source": source}
    return None


def xrd_section(campaign: Campaign, done: Done) -> Section | None:
    from perovcalc.xrd import CU_KA

    rows = [(t, r) for t, r in done if t.kind == "xrd"]
    if not rows:
        return None
    section = Section(
        "Powder XRD",
        "Simulated Cu K-alpha patterns (Bragg for periodic cells at the computed lattice constant, "
        "Debye equation for the nanocrystal model). Peak positions agree when the lattice constant "
        "they imply is within the known PBE overestimate of the reference.",
    )
    fig, ax = _figure(6.0, 4.5)
    offset = 0.0
    for task, row in sorted(rows, key=lambda tr: composition_x(tr[0], campaign) or 0.0):
        result = row.data["result"]
        x = composition_x(task, campaign)
        intensity = np.array(result["intensity"])
        two_theta = np.array(result["two_theta"])
        ax.plot(two_theta, intensity / intensity.max() + offset, lw=1,
                label=f"{task.name} ({result['method']})")  # fmt: skip
        offset += 1.1
        seen = set()
        for peak in result.get("reflections", []):
            hkl = XRD_FAMILIES.get(tuple(sorted(abs(int(i)) for i in peak["hkl"])))
            if hkl is None or hkl in seen:
                continue
            seen.add(hkl)
            reference = _xrd_reference(x, hkl, result["wavelength"])
            agreement = "no reference"
            if reference is not None:
                implied = (
                    np.sin(np.radians(reference["value"] / 2))
                    / np.sin(np.radians(peak["two_theta"] / 2))
                    - 1
                )
                inside = PBE_OVERESTIMATE[0] <= implied <= PBE_OVERESTIMATE[1]
                agreement = "agrees" if inside else "disagrees"
            section.observables.append(
                Observable("xrd_peak_position", {"x": x, "hkl": hkl}, float(peak["two_theta"]),
                           "degree", row.preset, reference, agreement,
                           f"lambda = {result['wavelength']} A, structure {task.structure}")
            )  # fmt: skip
    for x in XRD_PHASES:
        for hkl in XRD_HKL:
            r = _xrd_reference(x, hkl, CU_KA)
            if r is not None:
                ax.axvline(r["value"], color="0.7", lw=0.6, ls=":")
    ax.set_xlabel("2θ (degrees, Cu Kα)")
    ax.set_ylabel("normalised intensity (offset)")
    ax.set_yticks([])
    ax.legend(fontsize=7)
    section.figures["Simulated XRD (dotted: reference (100), (110), (200) positions)"] = _png(fig)
    return section


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
