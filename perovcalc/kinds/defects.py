"""Task kinds of the defect study: competing phases, the defect host, chemical potentials and
halide vacancy formation energies (the physics is :mod:`perovcalc.formation`), and the helpers
the migration kind shares with them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

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
    site_distribution,
    stability_region,
    vacancy_moments,
)
from perovcalc.presets import edge_label, system_kind
from perovcalc.tasks import (
    FMAX,
    POINTS,
    STRAIN,
    Kind,
    Option,
    TaskContext,
    above,
    at_least,
)
from perovcalc.vacancy import distinct_halide_sites, remove_atom


def rattle_option(ctx: TaskContext, steps: int, steps_field: str) -> float:
    """The task's ``rattle`` option (A, >= 0: see its range), checked against its relaxation
    ``steps``."""
    rattle, where = ctx.options["rattle"], f"task {ctx.name}"
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
            done[key] = VacancyEntry(
                site=site.index,
                species=site.species,
                multiplicity=site.multiplicity,
                layer=site.layer,
                layer_from_surface=None if outer is None else outer - site.layer,
                depth=site.depth,
                charge=q,
                energy=relaxed.energy,
                relaxation_energy=None  # the rattled start is no reference
                if rattle
                else relaxed.data["initial_energy"] - relaxed.energy,
                rattle=rattle,
                correction=asdict(correction),
                formation_energy=energies,
                converged=relaxed.data["converged"],
                steps=relaxed.data["steps"],
                max_force=relaxed.data["max_force"],
                spinpol=bool(params.get("spinpol", False)),
                positions=relaxed.atoms.positions.tolist(),
            ).to_dict()
            write_checkpoint(checkpoint, done)
    entries = [done[f"{s.species}{s.index}_q{q:+d}"] for s in sites for q in charges]
    first = entries[0]
    atoms = remove_atom(host, first["site"])
    atoms.positions = first["positions"]
    atoms.calc = SinglePointCalculator(atoms, energy=first["energy"])
    record = VacancyResult(
        environment=environment,
        host={
            "formula": host_data.get("formula"),
            "energy": host_row.energy,
            **{k: host_data.get(k) for k in ("vbm", "cbm", "gap", "slab")},
        },
        chemical_potentials=chem_row.data["result"]["limits"],
        region_host=region.host,
        epsilon=epsilon,
        entries=[VacancyEntry.from_dict(e) for e in entries],
    )
    return CalcResult(atoms, ctx.params, record.to_dict())


# ------------------------------------------------------------------ result and presentation
@dataclass
class VacancyEntry:
    """One relaxed vacancy of a ``vacancy_formation`` result: host site, charge, energies (eV),
    ``formation_energy`` at the X-rich and X-poor limits (E_F at the VBM), relaxation
    (``max_force`` eV/A) and positions (A). ``relaxation_energy`` is None from a rattled start."""

    site: int
    species: str
    multiplicity: int
    layer: int | None
    layer_from_surface: int | None
    depth: float | None
    charge: int
    energy: float
    relaxation_energy: float | None
    rattle: float
    correction: dict
    formation_energy: dict
    converged: bool
    steps: int
    max_force: float
    spinpol: bool
    positions: list

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> VacancyEntry:
        """A stored entry; perovcalc 0.1 stored no ``relaxation_energy``, ``rattle`` or
        ``spinpol``: None, 0 and False."""
        defaults = {"relaxation_energy": None, "rattle": 0.0, "spinpol": False}
        return cls(**{f.name: data.get(f.name, defaults.get(f.name)) for f in fields(cls)})


@dataclass
class VacancyResult:
    """The stored result of a ``vacancy_formation`` task: ``environment`` (bulk, slab), the
    ``host`` (formula, energy, band edges in eV, slab), the chemical-potential limits (eV),
    the dielectric constant of the charged defects and the vacancies."""

    environment: str
    host: dict
    chemical_potentials: dict
    region_host: str
    epsilon: float | None
    entries: list[VacancyEntry]

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**data, "entries": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: Mapping) -> VacancyResult:
        values = {f.name: data.get(f.name) for f in fields(cls)}
        return cls(**{**values, "entries": [VacancyEntry.from_dict(e) for e in data["entries"]]})


def vacancy_headline(result: VacancyResult) -> str:
    """One line per computed vacancy (site, charge): E_f at both limits (eV)."""
    lines = ["E_f at the X-rich / X-poor limit, E_F at the VBM:"]
    for e in result.entries:
        where = "" if e.layer_from_surface is None else f", layer {e.layer_from_surface}"
        f = e.formation_energy
        lines.append(
            f"V_{e.species} site {e.site} (x{e.multiplicity}{where}, q {e.charge:+d}): "
            f"{f['rich']:.3f} / {f['poor']:.3f} eV"
            + ("" if e.converged else f" (not relaxed: {e.max_force:.2f} eV/A left)")
        )
    return "\n    ".join(lines)


def vacancy_table(name: str, record: VacancyResult) -> str:
    """The vacancy formation energies of task ``name`` as a text table (eV)."""
    result = record.to_dict()
    host = result["host"]
    lines = [f"{name}: halide vacancies in {result['environment']} {host['formula']}"]
    if result["environment"] == "bulk":
        lines.append(f"  host: VBM {host['vbm']:.3f} eV, gap {host['gap']:.3f} eV {edge_label()}")
    for element, mu in result["chemical_potentials"].items():
        lines.append(
            f"  mu_{element} (eV): {element}-rich {mu['rich']:.3f}, {element}-poor {mu['poor']:.3f}"
        )
    if any(e["charge"] for e in result["entries"]):
        lines.append(f"  charged defects: Freysoldt correction, epsilon = {result['epsilon']:g}")
    lines.append("  E_relax: energy given up by relaxing the defect cell (eV; unrelaxed - relaxed)")
    rattled = sorted({e["rattle"] for e in result["entries"] if e.get("rattle")})
    if rattled:
        lines.append(
            f"  rattled starts (free atoms displaced by {', '.join(f'{r:g}' for r in rattled)} A, "
            "std. dev.): no E_relax"
        )
    lines.append(
        f"  {'site':>5} {'X':<3}{'mult':>5} {'layer':>6} {'depth A':>8} {'q':>3} "
        f"{'E_corr':>7} {'E_f X-rich':>11} {'E_f X-poor':>11} {'E_relax':>8}  relaxed"
    )
    for e in result["entries"]:
        layer = "-" if e["layer_from_surface"] is None else str(e["layer_from_surface"])
        depth = "-" if e["depth"] is None else f"{e['depth']:.2f}"
        e_relax = "-" if e.get("relaxation_energy") is None else f"{e['relaxation_energy']:.3f}"
        relaxed = "yes" if e["converged"] else f"no ({e['max_force']:.2f} eV/A)"
        lines.append(
            f"  {e['site']:>5} {e['species']:<3}{e['multiplicity']:>5} {layer:>6} {depth:>8} "
            f"{e['charge']:>+3d} {e['correction']['energy']:>7.3f} "
            f"{e['formation_energy']['rich']:>11.3f} {e['formation_energy']['poor']:>11.3f} "
            f"{e_relax:>8}  {relaxed}"
        )
    distribution = site_distribution(result)
    if any(d["sites"] > 1 for d in distribution.values()):
        for species, d in distribution.items():
            lines.append(
                f"  V_{species} over {d['sites']} distinct sites (X-poor, E_F = VBM): "
                f"min {d['min']:.3f}, mean {d['mean']:.3f}, max {d['max']:.3f} eV"
            )
    return "\n".join(lines)


VACANCY_COLUMNS = [
    "task", "environment", "host", "host_atoms", "species", "site", "multiplicity",
    "layer_from_surface", "charge", "E_f_rich_eV", "E_f_poor_eV", "E_corr_eV", "epsilon",
    "E_relax_eV", "relaxed", "max_force_eV_A", "relax_steps", "rattle_A",
]  # fmt: skip


def vacancy_csv_rows(task: str, result: VacancyResult) -> list[dict]:
    """The :data:`VACANCY_COLUMNS` of every vacancy (site, charge state) of task ``task``."""
    return [
        {
            "task": task,
            "environment": result.environment,
            "host": result.host["formula"],
            "host_atoms": len(e.positions) + 1,
            "species": e.species,
            "site": e.site,
            "multiplicity": e.multiplicity,
            "layer_from_surface": e.layer_from_surface,
            "charge": e.charge,
            "E_f_rich_eV": f"{e.formation_energy['rich']:.4f}",
            "E_f_poor_eV": f"{e.formation_energy['poor']:.4f}",
            "E_corr_eV": f"{e.correction['energy']:.4f}",
            "epsilon": result.epsilon if e.charge else "",
            "E_relax_eV": "" if e.relaxation_energy is None else f"{e.relaxation_energy:.4f}",
            "relaxed": "yes" if e.converged else "no",
            "max_force_eV_A": f"{e.max_force:.3f}",
            "relax_steps": e.steps,
            "rattle_A": e.rattle,
        }
        for e in result.entries
    ]


RATTLE = Option(
    float,
    0.0,
    "standard deviation (A) of random displacements of the free atoms of a vacancy cell before "
    "its relaxation, seeded with the vacancy's host index: lets it leave a symmetric saddle",
    keyed_at_default=False,  # added after stores existed
    bounds=at_least(0),
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
            "strain": STRAIN,
            "points": POINTS,
            "fmax": FMAX,
            "steps": Option(int, 100, "maximum optimizer steps", bounds=at_least(0)),
        },
        help="relaxed energy per formula unit of a competing phase or elemental reference",
    ),
    "defect_host": Kind(
        "perovcalc.kinds.defects:defect_host_task",
        {
            "fmax": FMAX,
            "steps": Option(int, 100, "maximum optimizer steps", bounds=at_least(0)),
            "rattle": Option(
                float,
                0.0,
                "standard deviation (A) of random displacements of the free atoms before the "
                "relaxation (seed 0): lets the host leave a symmetric saddle (untilted octahedra); "
                "a bulk host loses its symmetry, so give vacancy_formation its sites",
                keyed_at_default=False,  # added after stores existed
                bounds=at_least(0),
            ),
        },
        help="relaxed defect-free supercell or slab with band edges and electrostatic potential",
    ),
    "chemical_potentials": Kind(
        "perovcalc.kinds.defects:chemical_potentials_task",
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
    "vacancy_formation": Kind(
        "perovcalc.kinds.defects:vacancy_formation_task",
        {
            "species": Option(str, "all", "halide to remove", ("all", "I", "Br")),
            "sites": Option(
                list,
                None,
                "representative atom indices (default: every site)",
                bounds=at_least(0),
            ),
            "charges": Option(list, [0], "charge states; non-zero only in bulk"),
            "epsilon": Option(
                float,
                None,
                "static dielectric constant (default: reference)",
                bounds=above(0),
            ),
            "fmax": FMAX,
            "steps": Option(int, 100, "maximum optimizer steps per vacancy", bounds=at_least(0)),
            "rattle": RATTLE,
        },
        help="halide vacancy formation energies at every distinct site of a defect_host",
    ),
}
