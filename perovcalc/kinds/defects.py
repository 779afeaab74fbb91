"""Task kinds of the defect study: competing phases, the defect host, chemical potentials and
halide vacancy formation energies (the physics is :mod:`perovcalc.formation`), and the helpers
the migration kind shares with them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from perovcalc.calculate import (
    CalcResult,
    read_checkpoint,
    relax_lattice,
    relax_positions,
    write_checkpoint,
)
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.formation import (
    CONDITIONS,
    ChargeCorrection,
    StabilityRegion,
    band_edges,
    defect_parameters,
    dielectric_constant,
    electrostatic_profile,
    formation_energy,
    formula_units,
    freysoldt_correction,
    stability_region,
    vacancy_moments,
)
from perovcalc.presets import system_kind
from perovcalc.tasks import Kind, Option, TaskContext
from perovcalc.vacancy import distinct_halide_sites, remove_atom


def rattle_option(ctx: TaskContext, steps: int, steps_field: str) -> float:
    """The task's ``rattle`` option (A), checked against its relaxation ``steps``."""
    rattle, where = ctx.options["rattle"], f"task {ctx.name}"
    if rattle < 0:
        raise InputError("options.rattle", rattle, "a standard deviation >= 0 A", where)
    if rattle and not steps:
        raise InputError(
            "options.rattle", rattle, f"0 with options.{steps_field} = 0 (no relaxation)", where
        )
    return rattle


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


def defect_host_task(ctx: TaskContext) -> CalcResult:
    """Relaxed defect-free host supercell or slab, with its band edges and the planar-averaged
    electrostatic potential (for the charged-defect correction). Option ``rattle`` (A): the
    free atoms start randomly displaced (seed 0)."""
    rattle = rattle_option(ctx, ctx.options["steps"], "steps")
    atoms = ctx.atoms.copy()
    if rattle:
        atoms.rattle(rattle, seed=0)

    def analyse(atoms: Atoms) -> dict:
        return {
            **band_edges(atoms, ctx.workdir / "band_edges.txt"),
            **electrostatic_profile(atoms),
        }

    result = relax_positions(
        atoms, ctx.params, ctx.workdir, ctx.fmax(), ctx.options["steps"], analyse
    )
    result.data["rattle"] = rattle
    if "layer" in ctx.atoms.arrays:  # the results store keeps no per-atom arrays
        result.data["layer"] = ctx.atoms.arrays["layer"].tolist()
        keys = ("layers", "termination", "passivation", "a")
        result.data["slab"] = {k: ctx.atoms.info[k] for k in keys if k in ctx.atoms.info}
    result.data["formula"] = formula_units(ctx.atoms)[0]
    return result


def _settings(row) -> dict:
    """Settings that make total energies comparable: preset, functional, plane-wave cutoff."""
    return {"preset": row.get("preset"), "xc": row.get("xc"), "ecut": row.get("ecut")}


def _common_settings(rows: Mapping[str, object], where: str) -> dict:
    """The one set of settings all ``rows`` were computed with; error if they differ."""
    seen: dict[str, list[str]] = {}
    for name, row in rows.items():
        seen.setdefault(json.dumps(_settings(row), sort_keys=True), []).append(name)
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


def dependency_row(ctx: TaskContext, kind: str):
    """The one finished dependency of task ``ctx`` of ``kind`` (an ASE db row); error otherwise."""
    found = [row for row in ctx.dependencies.values() if row.get("kind") == kind]
    if len(found) != 1:
        raise PerovcalcError(
            f"task {ctx.name} needs exactly one finished '{kind}' task among its dependencies "
            f"(structure or needs), found {len(found)}"
        )
    return found[0]


def defect_host(ctx: TaskContext) -> tuple[object, Atoms, int | None]:
    """The ``defect_host`` dependency of task ``ctx``: its row, the relaxed host (``ctx.atoms``)
    with its per-atom ``layer`` array restored (the store keeps no per-atom arrays), and the
    index of the outermost perovskite layer of a slab (None in bulk)."""
    row = dependency_row(ctx, "defect_host")
    data = row.data["result"]
    host = ctx.atoms.copy()
    if "layer" in data:
        host.arrays["layer"] = np.array(data["layer"], dtype=int)
    outer = (data["slab"]["layers"] - 1) // 2 if data.get("slab") else None
    return row, host, outer


def _charges(value) -> list[int]:
    allowed = "a list of integer charge states, e.g. [0, 1]"
    if not isinstance(value, list) or not value:
        raise InputError("options.charges", value, allowed)
    for q in value:
        if isinstance(q, bool) or not isinstance(q, int):
            raise InputError("options.charges", value, allowed)
    return sorted(set(value))


def vacancy_formation_task(ctx: TaskContext) -> CalcResult:
    """Halide vacancies at every symmetry-distinct site of a relaxed host (its structure is a
    ``defect_host`` task), in each charge state, relaxed, with formation energies at the
    halide-rich and halide-poor limits of a ``chemical_potentials`` task (E_F at the VBM)."""
    from perovcalc.presets import system_kind

    host_row, host, outer = defect_host(ctx)
    chem_row = dependency_row(ctx, "chemical_potentials")
    host_settings = _settings(host_row)
    kpts = "x".join(str(k) for k in ctx.params["kpts"]["size"])
    if host_row.get("kpts") != kpts:
        raise PerovcalcError(
            f"task {ctx.name}: host k-points {host_row.get('kpts')}, vacancies {kpts}; "
            "give both tasks the same params"
        )
    if (
        host_settings != chem_row.data["result"]["settings"]
        or host_settings["preset"] != ctx.preset
    ):
        raise PerovcalcError(
            f"task {ctx.name}: host {host_settings}, chemical potentials "
            f"{chem_row.data['result']['settings']}, vacancies preset={ctx.preset}; "
            "compute all of them with one preset"
        )
    region = StabilityRegion.fromdict(chem_row.data["result"]["region"])
    host_data = host_row.data["result"]
    fmax, host_force = ctx.fmax(), host_data.get("max_force", 0.0)
    if ctx.options["steps"] and fmax < host_force:  # it would gain the host's relaxation too
        raise InputError(
            "options.fmax",
            fmax,
            f">= {host_force:.3f} eV/A, the largest force left in the host (task "
            f"{host_row.task}); a defect relaxed further than its host biases E_f low: "
            "relax the host to this fmax (its fmax option)",
            f"task {ctx.name}",
        )
    rattle = rattle_option(ctx, ctx.options["steps"], "steps")
    environment = system_kind(host)
    charges = _charges(ctx.options["charges"])
    if environment != "bulk" and charges != [0]:
        raise InputError(
            "options.charges", charges, "[0] for a slab (no charged-slab correction is offered)"
        )
    epsilon = ctx.options["epsilon"]
    if any(charges) and epsilon is None:
        epsilon = dielectric_constant(host_data.get("formula", formula_units(host)[0]))
    species = ctx.options["species"]
    sites = [s for s in distinct_halide_sites(host) if species in ("all", s.species)]
    if ctx.options["sites"] is not None:
        allowed = [s.index for s in sites]
        chosen = ctx.options["sites"]
        bad = [i for i in chosen if i not in allowed]
        if bad:
            raise InputError("options.sites", bad[0], allowed)
        sites = [s for s in sites if s.index in chosen]
    for s in sites:
        if s.species not in region.elements:
            raise InputError("species", s.species, region.elements, f"task {ctx.name}")
    checkpoint = ctx.workdir / "vacancies.json"
    done = read_checkpoint(checkpoint)
    for site in sites:
        for q in charges:
            key = f"{site.species}{site.index}_q{q:+d}"
            if key in done:
                continue
            defect = remove_atom(host, site.index)
            if rattle:
                defect.rattle(rattle, seed=site.index)
            params = defect_parameters(ctx.params, defect, q)
            if params.get("spinpol"):
                vacancy_moments(host, defect, site.index, site.index)
            relaxed = relax_positions(
                defect,
                params,
                ctx.workdir / key,
                fmax,
                ctx.options["steps"],
                electrostatic_profile if q else None,
            )
            correction = ChargeCorrection(0.0, 0.0, 0.0)
            if q:
                correction = freysoldt_correction(
                    host.cell,
                    host_data["potential_profile"],
                    relaxed.data["potential_profile"],
                    host.positions[site.index],
                    q,
                    epsilon,
                )
            energies = {
                c: formation_energy(
                    relaxed.energy,
                    host_row.energy,
                    {site.species: 1},
                    {site.species: region.chemical_potential(site.species, c)},
                    q,
                    host_data["vbm"] if q else 0.0,
                    0.0,
                    correction.energy,
                )
                for c in CONDITIONS
            }
            done[key] = {
                "site": site.index,
                "species": site.species,
                "multiplicity": site.multiplicity,
                "layer": site.layer,
                "layer_from_surface": None if outer is None else outer - site.layer,
                "depth": site.depth,
                "charge": q,
                "energy": relaxed.energy,
                "relaxation_energy": None  # the rattled start is no reference
                if rattle
                else relaxed.data["initial_energy"] - relaxed.energy,
                "rattle": rattle,
                "correction": asdict(correction),
                "formation_energy": energies,
                "converged": relaxed.data["converged"],
                "steps": relaxed.data["steps"],
                "max_force": relaxed.data["max_force"],
                "spinpol": bool(params.get("spinpol", False)),
                "positions": relaxed.atoms.positions.tolist(),
            }
            write_checkpoint(checkpoint, done)
    entries = [done[f"{s.species}{s.index}_q{q:+d}"] for s in sites for q in charges]
    first = entries[0]
    atoms = remove_atom(host, first["site"])
    atoms.positions = first["positions"]
    atoms.calc = SinglePointCalculator(atoms, energy=first["energy"])
    data = {
        "environment": environment,
        "host": {
            "formula": host_data.get("formula"),
            "energy": host_row.energy,
            **{k: host_data.get(k) for k in ("vbm", "cbm", "gap", "slab")},
        },
        "chemical_potentials": chem_row.data["result"]["limits"],
        "region_host": region.host,
        "epsilon": epsilon,
        "entries": entries,
    }
    return CalcResult(atoms, ctx.params, data)


RATTLE = Option(
    float,
    0.0,
    "standard deviation (A) of random displacements of the free atoms of a vacancy cell before "
    "its relaxation, seeded with the vacancy's host index: lets it leave a symmetric saddle",
    keyed_at_default=False,  # added after stores existed
)

KINDS: dict[str, Kind] = {
    "competing_phase": Kind(
        "perovcalc.kinds.defects:competing_phase_task",
        {
            "cell": Option(
                str,
                "isotropic",
                "bulk cells: isotropic E(V) fit first, or fixed",
                ("isotropic", "fixed"),
            ),
            "strain": Option(float, 0.03, "largest linear strain of the E(V) scan"),
            "points": Option(int, 5, "number of E(V) points (>= 4)"),
            "fmax": Option(float, None, "force criterion, eV/A (default: the preset's)"),
            "steps": Option(int, 100, "maximum optimizer steps"),
        },
        help="relaxed energy per formula unit of a competing phase or elemental reference",
    ),
    "defect_host": Kind(
        "perovcalc.kinds.defects:defect_host_task",
        {
            "fmax": Option(float, None, "force criterion, eV/A (default: the preset's)"),
            "steps": Option(int, 100, "maximum optimizer steps"),
            "rattle": Option(
                float,
                0.0,
                "standard deviation (A) of random displacements of the free atoms before the "
                "relaxation (seed 0): lets the host leave a symmetric saddle (untilted octahedra); "
                "a bulk host loses its symmetry, so give vacancy_formation its sites",
                keyed_at_default=False,  # added after stores existed
            ),
        },
        help="relaxed defect-free supercell or slab with band edges and electrostatic potential",
    ),
    "chemical_potentials": Kind(
        "perovcalc.kinds.defects:chemical_potentials_task",
        {
            "host_on_hull": Option(bool, False, "lower a host above the hull just below it"),
            "tolerance": Option(float, 1e-3, "eV/atom below the hull for host_on_hull"),
            "exclude": Option(list, [], "formulas of phases to leave out"),
        },
        dft=False,
        help="stability region of the host (pymatgen) and its halide-rich/poor limits",
    ),
    "vacancy_formation": Kind(
        "perovcalc.kinds.defects:vacancy_formation_task",
        {
            "species": Option(str, "all", "halide to remove", ("all", "I", "Br")),
            "sites": Option(list, None, "representative atom indices (default: every site)"),
            "charges": Option(list, [0], "charge states; non-zero only in bulk"),
            "epsilon": Option(float, None, "static dielectric constant (default: reference)"),
            "fmax": Option(float, None, "force criterion, eV/A (default: the preset's)"),
            "steps": Option(int, 100, "maximum optimizer steps per vacancy"),
            "rattle": RATTLE,
        },
        help="halide vacancy formation energies at every distinct site of a defect_host",
    ),
}
