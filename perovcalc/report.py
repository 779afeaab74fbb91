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

import numpy as np

from perovcalc import reference as ref
from perovcalc.campaign import Campaign, TaskSpec
from perovcalc.errors import PerovcalcError
from perovcalc.results import settings, task_rows

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
    """A group of observables with an explanation and figures (PNG bytes by title)."""

    title: str
    text: str
    observables: list[Observable] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)


Done = list[tuple[TaskSpec, object]]  # (task, finished row)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _figure(width=5.5, height=3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


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
        a = float(row.data["result"]["lattice_constant"])
        if x is None:
            continue
        points.append((x, a))
        if x in (0.0, 3.0):
            material = "CsPbI3" if x == 0 else "CsPbBr3"
            source = ref.lattice_parameters(material).source
            reference = {"value": a_i if x == 0 else a_br, "source": source}
        else:
            reference = {
                "value": a_i + (a_br - a_i) * x / 3,
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
def _site_energies(row, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Delta-SCF energies, site depths (A) and multiplicities of one level in one model."""
    entry = row.data["result"]["levels"][label]
    sites = [str(s) for s in entry["sites"]]
    return (
        np.array([entry["delta_scf"][s] for s in sites]),
        np.array([entry["site_depth"][s] for s in sites]),
        np.array([entry["multiplicity"][s] for s in sites], dtype=float),
    )


def weighted_binding_energy(row, label: str, photon_energy: float = 1486.7) -> float:
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


def core_level_section(campaign: Campaign, done: Done) -> Section | None:
    rows = {t.labels.get("environment", t.name): (t, r) for t, r in done if t.kind == "core_levels"}
    if not rows:
        return None
    section = Section(
        "Core-level shifts",
        "Delta-SCF binding energies (full core hole, electron kept in the cell) per distinct site, "
        "shown relative to the deepest site of each model; model-to-model shifts use the "
        "photoemission-weighted mean over sites (Al K-alpha). A shift below 0.05 eV is called "
        "inconclusive: the demo preset is not converged to that level.",
    )
    fig, ax = _figure()
    for env, (_, row) in rows.items():
        for label in row.data["result"]["levels"]:
            entry = row.data["result"]["levels"][label]
            if "delta_scf" not in entry:
                continue
            energies, depth, _ = _site_energies(row, label)
            deepest = energies[np.argmax(depth)]
            order = np.argsort(depth)
            ax.plot(depth[order], (energies - deepest)[order], "o-", label=f"{label}, {env}")
            trend = None
            if env == "kbr_passivated":
                try:
                    trend = ref.experimental_xps_shift(label, "deeper - shallower")
                except PerovcalcError:  # no depth series measured for this line
                    trend = None
            for e, d in zip(energies, depth, strict=True):
                agreement = "no reference"
                reference = None
                if trend is not None and len(energies) > 1:
                    agreement = "inconclusive"
                    reference = {
                        "value": None,
                        "source": f"{trend.direction} with depth: {_source(trend)}",
                    }
                section.observables.append(
                    Observable("core_level_shift",
                               {"level": label, "environment": env, "depth": round(float(d), 3),
                                "method": "delta_scf"},
                               float(e - deepest), "eV", row.preset, reference, agreement,
                               settings(row), "relative to the deepest site of the model")
                )  # fmt: skip
            if trend is not None and len(energies) > 1:
                surface, deep = energies[np.argmin(depth)], deepest
                change = float(deep - surface)
                agreement = _sign_agreement(change, None, trend.direction)
                section.observables.append(
                    Observable("core_level_shift",
                               {"level": label, "environment": env, "depth": "deepest - surface",
                                "method": "delta_scf"},
                               change, "eV", row.preset,
                               {"value": None, "source": f"{trend.direction}: {_source(trend)}"},
                               agreement, settings(row))
                )  # fmt: skip
    ax.set_xlabel("depth below the surface (Å)")
    ax.set_ylabel("binding energy − deepest site (eV)")
    ax.legend(fontsize=7)
    section.figures["Core-level binding energy versus depth (Delta-SCF)"] = _png(fig)

    if {"bare_surface", "kbr_passivated"} <= set(rows):
        bare, passivated = rows["bare_surface"][1], rows["kbr_passivated"][1]
        common = [label for label in passivated.data["result"]["levels"]
                  if label in bare.data["result"]["levels"]]  # fmt: skip
        models = (("bare", bare), ("passivated", passivated))
        mean = {
            (env, label): weighted_binding_energy(r, label) for env, r in models for label in common
        }
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
                agreement = _sign_agreement(shift, measured.shift, measured.direction)
            section.observables.append(
                Observable("core_level_shift",
                           {"level": label, "environment": "kbr_passivated - bare_surface",
                            "method": "delta_scf"},
                           shift, "eV", passivated.preset, reference, agreement,
                           settings(passivated))
            )  # fmt: skip
        if {"Br 3d", "Pb 4f"} <= set(common):
            double = (mean["passivated", "Br 3d"] - mean["passivated", "Pb 4f"]) - (
                mean["bare", "Br 3d"] - mean["bare", "Pb 4f"]
            )
            measured = ref.experimental_xps_shift("Br 3d5/2 - Pb 4f7/2")
            section.observables.append(
                Observable("br3d_pb4f_double_difference",
                           {"environment": "kbr_passivated - bare_surface", "method": "delta_scf"},
                           double, "eV", passivated.preset,
                           {"value": measured.shift, "source": _source(measured)},
                           _sign_agreement(double, measured.shift, measured.direction),
                           settings(passivated), "reference-free: no calibration needed")
            )  # fmt: skip
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
            r = _xrd_reference(x, hkl, 1.54178)
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
        page += [f"<h2>{html.escape(section.title)}</h2><p>{html.escape(section.text)}</p>"]
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
