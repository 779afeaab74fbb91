"""Task kind ``core_levels``: Delta-SCF binding energies and initial-state shifts of every
distinct site of the requested core levels (:mod:`perovcalc.corelevel`)."""

from __future__ import annotations

from perovcalc.calculate import (
    CalcResult,
    make_calculator,
    read_checkpoint,
    single_point,
    write_checkpoint,
)
from perovcalc.corehole import LEVELS
from perovcalc.corelevel import delta_scf_energy, initial_state_shifts
from perovcalc.errors import InputError
from perovcalc.symmetry import distinct_sites, site_classes
from perovcalc.tasks import Kind, Option, TaskContext


def core_level_task(ctx: TaskContext) -> CalcResult:
    """Campaign task: core-level energies of every distinct site of the requested levels.

    Stores, per level ("Br 3d", ...) and per distinct site: the Delta-SCF binding energy
    E_hole - E_ground (eV; the same frozen-core constant for every model computed with the
    same datasets, so differences between models and between elements' model-to-model
    changes are meaningful), the initial-state shift of every atom, the depth below the
    outermost atom along c (A) and the site multiplicity. Each Delta-SCF energy is
    checkpointed in ``core_levels.json``.
    """
    atoms, workdir = ctx.atoms, ctx.workdir
    method = ctx.options["method"]
    ground = single_point(atoms, ctx.params, workdir / "ground", ("energy",))
    e_ground = ground.energy
    checkpoint = workdir / "core_levels.json"
    done = read_checkpoint(checkpoint)
    depth = atoms.positions[:, 2].max() - atoms.positions[:, 2]
    classes = site_classes(atoms)
    calc = None
    levels = {}
    for label in ctx.options["levels"]:
        element, _, level = label.partition(" ")
        if element not in LEVELS or LEVELS[element] != level:
            allowed = [f"{e} {lv}" for e, lv in LEVELS.items()]
            raise InputError("options.levels", label, allowed)
        sites = distinct_sites(atoms, element)
        entry = {
            "sites": sites,
            "depth": {
                str(i): float(depth[i]) for i in range(len(atoms)) if atoms[i].symbol == element
            },
            "multiplicity": {str(i): classes.count(classes[i]) for i in sites},
            "site_depth": {  # shallowest member of each class of equivalent atoms
                str(i): float(min(depth[j] for j in range(len(atoms)) if classes[j] == classes[i]))
                for i in sites
            },
        }
        if method in ("delta_scf", "both"):
            for i in sites:
                key = f"{label}:{i}"
                if key not in done:
                    params = {**ground.params, "txt": str(workdir / f"hole-{element}{i}.txt")}
                    done[key] = delta_scf_energy(atoms, i, element, level, params) - e_ground
                    write_checkpoint(checkpoint, done)
            entry["delta_scf"] = {str(i): done[f"{label}:{i}"] for i in sites}
        if method in ("initial_state", "both"):
            if calc is None:
                calc = make_calculator(ground.params, workdir / "initial_state.txt")
            shifts = initial_state_shifts(atoms, element, calc=calc, reference_index=sites[0])
            entry["initial_state"] = {str(i): s for i, s in shifts.shifts.items()}
        levels[label] = entry
    data = {"ground_energy": e_ground, "levels": levels, "method": method}
    return CalcResult(ground.atoms, ground.params, data)


KINDS: dict[str, Kind] = {
    "core_levels": Kind(
        "perovcalc.kinds.corelevels:core_level_task",
        {
            "levels": Option(list, ["Br 3d", "Pb 4f"], "core levels, e.g. ['Br 3d', 'K 2p']"),
            "method": Option(
                str,
                "both",
                "Delta-SCF, initial-state or both",
                ("delta_scf", "initial_state", "both"),
            ),
        },
        help="core-level binding energies (Delta-SCF) and initial-state shifts per site",
    ),
}
