"""Report section: simulated powder XRD peak positions against the tabulated Bragg positions."""

from __future__ import annotations

import numpy as np

from perovcalc import reference as ref
from perovcalc.campaign import Campaign
from perovcalc.report.common import Done, _figure, _png, composition_x
from perovcalc.report.judge import Observable, Section, judge_lattice

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
    from perovcalc.scattering import CU_KA

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
            agreement, why = "no reference", ""
            if reference is not None:
                implied = (
                    np.sin(np.radians(reference["value"] / 2))
                    / np.sin(np.radians(peak["two_theta"] / 2))
                    - 1
                )
                agreement, why = judge_lattice(implied)
                why = f"the implied lattice constant is {why}"
            section.observables.append(
                Observable("xrd_peak_position", {"x": x, "hkl": hkl}, float(peak["two_theta"]),
                           "degree", row.preset, reference, agreement,
                           f"lambda = {result['wavelength']} A, structure {task.structure}", why)
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
