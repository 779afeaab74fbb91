"""Report section: computed cubic lattice constants against experiment and Vegard's law."""

from __future__ import annotations

import numpy as np

from perovcalc import reference as ref
from perovcalc.bulk import vegard_lattice_constant
from perovcalc.campaign import Campaign
from perovcalc.report.common import Done, _figure, _png, composition_x
from perovcalc.report.judge import PBE_OVERESTIMATE, Observable, Section, judge_lattice
from perovcalc.results import settings
from perovcalc.worker import lattice_constant_of


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
        agreement, why = judge_lattice(error)
        section.observables.append(
            Observable("lattice_constant", {"x": x}, a, "angstrom", row.preset, reference,
                       agreement, settings(row), f"{100 * error:+.1f} % vs reference", why)
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
