"""Report section: depth-resolved photoemission ratios against the photon-energy series."""

from __future__ import annotations

import numpy as np

from perovcalc import reference as ref
from perovcalc.campaign import Campaign
from perovcalc.report.common import Done, _figure, _png
from perovcalc.report.judge import Observable, Section


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
                reference, agreement, why = None, "no reference", ""
                if m is not None:
                    target = m.pair(element, denominator)
                    reference = {"value": target, "source": f"{m.source} [{m.tag}]"}
                    inside = abs(value / target - 1) <= 0.3
                    agreement = "agrees" if inside else "disagrees"
                    why = (f"model / measured = {value / target:.2f}, "
                           f"{'within' if inside else 'beyond'} 30 %")  # fmt: skip
                section.observables.append(
                    Observable("photoemission_ratio", {"photon_energy": hv, "pair": pair},
                               float(value), "ratio", row.preset, reference, agreement,
                               f"model {task.structure}, {result['geometry']} geometry", why)
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
