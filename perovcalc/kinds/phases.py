"""Task kinds of the chemical potentials: competing phases and elemental references, and the
stability region of a host (the physics is :mod:`perovcalc.formation`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from perovcalc.calculate import CalcResult, relax_lattice, relax_positions
from perovcalc.errors import PerovcalcError
from perovcalc.formation import CONDITIONS, formula_units, stability_region
from perovcalc.presets import system_kind
from perovcalc.tasks import FMAX, POINTS, STRAIN, Kind, Option, TaskContext, at_least


def competing_phase_task(ctx: TaskContext) -> CalcResult:
    """Relaxed energy of a phase for the chemical potentials: for a bulk cell an isotropic
    E(V) fit (option ``cell``), then positions at the fitted volume; molecules: positions."""
    atoms, data = ctx.atoms, {}
    if ctx.options["cell"] == "isotropic" and system_kind(atoms) == "bulk":
        eos = relax_lattice(
            atoms, ctx.params, ctx.workdir, ctx.options["strain"], ctx.options["points"]
        )
        atoms = eos.atoms
        data = {k: eos.data[k] for k in ("lattice_constant", "volume", "bulk_modulus", "points")}
    result = relax_positions(atoms, ctx.params, ctx.workdir, ctx.fmax(), ctx.options["steps"])
    formula, units = formula_units(result.atoms)
    data.update(result.data)
    data.update(
        formula=formula,
        formula_units=units,
        energy_per_formula_unit=result.energy / units,
    )
    return CalcResult(result.atoms, result.params, data)


def energy_settings(row) -> dict:
    """Settings that make total energies comparable: preset, functional, plane-wave cutoff."""
    return {"preset": row.get("preset"), "xc": row.get("xc"), "ecut": row.get("ecut")}


def _common_settings(rows: Mapping[str, object], where: str) -> dict:
    """The one set of settings all ``rows`` were computed with; error if they differ."""
    seen: dict[str, list[str]] = {}
    for name, row in rows.items():
        seen.setdefault(json.dumps(energy_settings(row), sort_keys=True), []).append(name)
    if len(seen) != 1:
        listed = "; ".join(f"{', '.join(names)}: {key}" for key, names in seen.items())
        raise PerovcalcError(f"{where}: energies computed with different settings ({listed})")
    return json.loads(next(iter(seen)))


def chemical_potentials_task(ctx: TaskContext) -> CalcResult:
    """Stability region of the task's structure (the host) from the energies of all the
    tasks it depends on (host, competing phases, elemental references)."""
    rows = {name: row for name, row in ctx.dependencies.items() if row.get("energy") is not None}
    settings = _common_settings(rows, f"task {ctx.name}")
    energies: dict[str, float] = {}
    for row in rows.values():
        energies[row.formula] = min(row.energy, energies.get(row.formula, math.inf))
    host = formula_units(ctx.atoms)[0]
    region = stability_region(
        host,
        energies,
        ctx.options["host_on_hull"],
        ctx.options["tolerance"],
        ctx.options["exclude"],
    )
    limits = {
        el: {c: region.chemical_potential(el, c) for c in CONDITIONS} for el in region.elements
    }
    data = {
        "region": region.todict(),
        "limits": limits,
        "phases": {
            name: {"formula": row.formula, "energy": row.energy} for name, row in rows.items()
        },
        "settings": settings,
    }
    return CalcResult(ctx.atoms, ctx.params, data)


KINDS: dict[str, Kind] = {
    "competing_phase": Kind(
        "perovcalc.kinds.phases:competing_phase_task",
        {
            "cell": Option(
                str,
                "isotropic",
                "bulk cells: isotropic E(V) fit first, or fixed",
                ("isotropic", "fixed"),
            ),
            "strain": STRAIN,
            "points": POINTS,
            "fmax": FMAX,
            "steps": Option(int, 100, "maximum optimizer steps", bounds=at_least(0)),
        },
        help="relaxed energy per formula unit of a competing phase or elemental reference",
    ),
    "chemical_potentials": Kind(
        "perovcalc.kinds.phases:chemical_potentials_task",
        {
            "host_on_hull": Option(bool, False, "lower a host above the hull just below it"),
            "tolerance": Option(
                float, 1e-3, "eV/atom below the hull for host_on_hull", bounds=at_least(0)
            ),
            "exclude": Option(list, [], "formulas of phases to leave out"),
        },
        dft=False,
        help="stability region of the host (pymatgen) and its halide-rich/poor limits",
    ),
}
