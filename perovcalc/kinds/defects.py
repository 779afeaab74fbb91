"""Task kinds of the defect study: the defect host and halide vacancy formation energies (the
physics is :mod:`perovcalc.formation`), and the helpers the migration kind shares with them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from perovcalc.calculate import (
    CalcResult,
    read_checkpoint,
    write_checkpoint,
)
from perovcalc.equilibrium import DefectLevels, equilibrium_fermi_level
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
    host_dos,
    site_distribution,
    vacancy_moments,
)
from perovcalc.kinds.phases import energy_settings
from perovcalc.kinds.relaxation import METHOD, RATTLE, rattle_option, relax
from perovcalc.presets import edge_label, system_kind
from perovcalc.spinorbit import soc_band_edges
from perovcalc.tasks import (
    FMAX,
    Kind,
    Option,
    TaskContext,
    above,
    at_least,
)
from perovcalc.vacancy import distinct_halide_sites, remove_atom


def defect_host_task(ctx: TaskContext) -> CalcResult:
    """Relaxed defect-free host supercell or slab, with its band edges and the planar-averaged
    electrostatic potential (for the charged-defect correction). Option ``rattle`` (A): the
    free atoms start randomly displaced (seed 0); option ``soc``: band edges with
    non-self-consistent spin-orbit coupling too (:func:`perovcalc.spinorbit.soc_band_edges`)."""
    rattle = rattle_option(ctx, ctx.options["steps"], "steps")
    atoms = ctx.atoms.copy()
    if rattle:
        atoms.rattle(rattle, seed=0)

    def analyse(atoms: Atoms) -> dict:
        edges = band_edges(atoms, ctx.workdir / "band_edges.txt")
        dos = host_dos(atoms, edges["vbm"], edges["gap"]) if system_kind(atoms) == "bulk" else {}
        if ctx.options["soc"]:
            edges["soc_edges"] = soc_band_edges(atoms, ctx.workdir / "soc_edges.txt")
        return {**edges, **electrostatic_profile(atoms), **dos}

    result = relax(ctx, atoms, ctx.params, ctx.workdir, ctx.fmax(), ctx.options["steps"], analyse)
    result.data["rattle"] = rattle
    if "layer" in ctx.atoms.arrays:  # the results store keeps no per-atom arrays
        result.data["layer"] = ctx.atoms.arrays["layer"].tolist()
        keys = ("layers", "termination", "passivation", "a")
        result.data["slab"] = {k: ctx.atoms.info[k] for k in keys if k in ctx.atoms.info}
    result.data["formula"] = formula_units(ctx.atoms)[0]
    return result


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


def host_charge(ctx: TaskContext, host_row, environment: str) -> int:
    """The net charge (elementary charges) of the ``defect_host`` of task ``ctx``, checked:
    the vacancy task must be declared with the host's charge (its ``options.charges`` are
    charge states q relative to the host, the defect cell carrying the host's charge + q), and
    a charged slab host is refused (no slab correction is offered). A charged bulk host is
    taken to hold its charge spread uniformly (band carriers with their neutralising
    background), which leaves the Freysoldt correction of the defect's own q unchanged."""
    charge = int(host_row.get("net_charge", 0))
    declared = int(ctx.params.get("charge", 0))
    where = f"task {ctx.name}"
    if declared != charge:
        raise InputError(
            f"tasks.{ctx.name}.charge",
            declared,
            f"{charge}, the charge of its defect_host (task {host_row.task}); the charge "
            "states of options.charges are relative to the host",
            where,
        )
    if charge and environment != "bulk":
        raise InputError(
            f"tasks.{host_row.task}.charge",
            charge,
            "0 for a slab host with vacancies: a charged slab needs a slab correction "
            "(Freysoldt and Neugebauer 2018; Komsa and Pasquarello 2013), none is offered",
            where,
        )
    return charge


def vacancy_formation_task(ctx: TaskContext) -> CalcResult:
    """Halide vacancies at every symmetry-distinct site of a relaxed host (its structure is a
    ``defect_host`` task), in each charge state q relative to the host, relaxed, with
    formation energies at the halide-rich and halide-poor limits of a ``chemical_potentials``
    task (E_F at the VBM)."""
    from perovcalc.presets import system_kind

    host_row, host, outer = defect_host(ctx)
    environment = system_kind(host)
    base_charge = host_charge(ctx, host_row, environment)
    chem_row = dependency_row(ctx, "chemical_potentials")
    host_settings = energy_settings(host_row)
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
    charges = _charges(ctx.options["charges"])
    if environment != "bulk" and charges != [0]:
        raise InputError(
            "options.charges", charges, "[0] for a slab (no charged-slab correction is offered)"
        )
    epsilon, epsilon_range = ctx.options["epsilon"], ctx.options["epsilon_range"]
    if any(charges) and epsilon is None:
        epsilon, ends = dielectric_constant(host_data.get("formula", formula_units(host)[0]))
        epsilon_range = ends if epsilon_range is None else epsilon_range
    if epsilon_range is not None and (
        len(epsilon_range) != 2 or not epsilon_range[0] <= epsilon <= epsilon_range[1]
    ):
        raise InputError(
            "options.epsilon_range", epsilon_range, f"[low, high] with low <= {epsilon} <= high"
        )
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
            params = defect_parameters(ctx.params, defect, base_charge + q)
            if params.get("spinpol"):
                vacancy_moments(host, defect, site.index, site.index)
            relaxed = relax(
                ctx,
                defect,
                params,
                ctx.workdir / key,
                fmax,
                ctx.options["steps"],
                electrostatic_profile if q else None,
            )
            correction, correction_range = ChargeCorrection(0.0, 0.0, 0.0), None
            if q:
                corrections = [
                    freysoldt_correction(
                        host.cell,
                        host_data["potential_profile"],
                        relaxed.data["potential_profile"],
                        host.positions[site.index],
                        q,
                        eps,
                    )
                    for eps in (epsilon, *epsilon_range)
                ]
                correction = corrections[0]
                correction_range = [c.energy for c in corrections[1:]]
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
                correction_range=correction_range,
                formation_energy=energies,
                converged=relaxed.data["converged"],
                steps=relaxed.data["steps"],
                max_force=relaxed.data["max_force"],
                spinpol=bool(params.get("spinpol", False)),
                positions=relaxed.atoms.positions.tolist(),
            ).to_dict()
            write_checkpoint(checkpoint, done)
    entries = [done[f"{s.species}{s.index}_q{q:+d}"] for s in sites for q in charges]
    equilibrium = None
    if "dos" in host_data:
        equilibrium = vacancy_equilibrium(entries, host_data, host.get_volume())
    first = entries[0]
    atoms = remove_atom(host, first["site"])
    atoms.positions = first["positions"]
    atoms.calc = SinglePointCalculator(atoms, energy=first["energy"])
    record = VacancyResult(
        environment=environment,
        host={
            "formula": host_data.get("formula"),
            "energy": host_row.energy,
            "charge": base_charge,
            **{k: host_data.get(k) for k in ("vbm", "cbm", "gap", "slab", "soc_edges")},
        },
        chemical_potentials=chem_row.data["result"]["limits"],
        region_host=region.host,
        epsilon=epsilon,
        epsilon_range=None if epsilon_range is None else list(epsilon_range),
        equilibrium=equilibrium,
        entries=[VacancyEntry.from_dict(e) for e in entries],
    )
    return CalcResult(atoms, ctx.params, record.to_dict())


#: (condition, temperature K) of the equilibrium Fermi level: synthesis (180 C), room temperature
EQUILIBRIA = (("rich", 453.15), ("poor", 453.15), ("rich", 300.0), ("poor", 300.0))


def vacancy_equilibrium(entries: list[dict], host: Mapping, volume: float) -> list[dict]:
    """Self-consistent Fermi level (eV above the VBM) and vacancy concentrations (cm^-3) of a
    bulk host whose only defects are the computed vacancies (each distinct site with its
    multiplicity), at each of :data:`EQUILIBRIA`, with the host's DOS (``volume``: A^3)."""
    results = []
    for condition, temperature in EQUILIBRIA:
        defects = {}
        for e in entries:
            name = f"V_{e['species']}{e['site']}"
            defects.setdefault(name, DefectLevels(name, e["multiplicity"], {}))
            defects[name].energies[e["charge"]] = e["formation_energy"][condition]
        solved = equilibrium_fermi_level(
            list(defects.values()), host["dos_energies"], host["dos"], host["gap"], volume,
            temperature,
        )  # fmt: skip
        solved["concentrations"] = {  # charge keys as text: the stored (JSON) form
            name: {f"{q:+d}": c for q, c in by_charge.items()}
            for name, by_charge in solved["concentrations"].items()
        }
        results.append({"condition": condition, "temperature": temperature, **solved})
    return results


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
    correction_range: list | None  # E_corr (eV) at the ends of the result's epsilon_range
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
        ``spinpol`` (None, 0 and False), and older results no ``correction_range`` (None)."""
        defaults = {"relaxation_energy": None, "rattle": 0.0, "spinpol": False}
        return cls(**{f.name: data.get(f.name, defaults.get(f.name)) for f in fields(cls)})


@dataclass
class VacancyResult:
    """The stored result of a ``vacancy_formation`` task: ``environment`` (bulk, slab), the
    ``host`` (formula, energy, band edges in eV, slab), the chemical-potential limits (eV),
    the dielectric constant of the charged defects, the range (low, high) their formation
    energies are also given at (None in older results) and the vacancies."""

    environment: str
    host: dict
    chemical_potentials: dict
    region_host: str
    epsilon: float | None
    entries: list[VacancyEntry]
    epsilon_range: list | None = None
    equilibrium: list | None = None  # vacancy_equilibrium of a bulk host (None: slab, older)

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
    soc = host.get("soc_edges")
    if soc:
        shift = soc["vbm"] - soc["vbm_no_soc"]
        lines.append(
            f"  with SOC (non-self-consistent): gap {soc['gap']:.3f} eV {edge_label(soc=True)}, "
            f"VBM {shift:+.3f} eV, CBM {soc['cbm'] - soc['cbm_no_soc']:+.3f} eV; the E_f below "
            f"are PBE totals with E_F at the PBE VBM: with E_F at the SOC VBM add q x {shift:+.3f} "
            f"eV, and E_F then spans 0 to {soc['gap']:.3f} eV"
        )
    if host.get("charge"):
        lines.append(f"  host charge {host['charge']:+d}; q below is relative to the host")
    for element, mu in result["chemical_potentials"].items():
        lines.append(
            f"  mu_{element} (eV): {element}-rich {mu['rich']:.3f}, {element}-poor {mu['poor']:.3f}"
        )
    if any(e["charge"] for e in result["entries"]):
        lines.append(f"  charged defects: Freysoldt correction, epsilon = {result['epsilon']:g}")
        if result["epsilon_range"]:
            low, high = result["epsilon_range"]
            lines.append(
                f"  epsilon is a parameter: E_f X-poor at epsilon = {low:g} and {high:g} "
                "(reference/dielectric_constants.csv, range_note):"
            )
            for e in record.entries:
                ends = _range_columns(record, e)
                if ends["E_f_poor_eps_low_eV"]:
                    lines.append(
                        f"    V_{e.species} site {e.site} q {e.charge:+d}: "
                        f"{ends['E_f_poor_eps_low_eV']} / {ends['E_f_poor_eps_high_eV']} eV "
                        f"(at {result['epsilon']:g}: {e.formation_energy['poor']:.4f})"
                    )
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
    if result["equilibrium"]:
        lines.append(
            "  equilibrium (py-sc-fermi; the computed vacancies are the only defects, no cation "
            "vacancies or interstitials; host DOS: its levels at the SCF k-points, PBE gap):"
        )
        for state in result["equilibrium"]:
            concentrations = ", ".join(
                f"{name} {q}: {c:.2e}"
                for name, by_charge in state["concentrations"].items()
                for q, c in by_charge.items()
            )
            lines.append(
                f"    X-{state['condition']}, {state['temperature']:g} K: E_F "
                f"{state['fermi_level']:.3f} eV above the VBM; n {state['electrons']:.2e}, "
                f"p {state['holes']:.2e}, {concentrations} cm^-3"
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
    "E_relax_eV", "relaxed", "max_force_eV_A", "relax_steps", "rattle_A", "epsilon_low",
    "epsilon_high", "E_f_poor_eps_low_eV", "E_f_poor_eps_high_eV",
]  # fmt: skip


def _range_columns(result: VacancyResult, e: VacancyEntry) -> dict:
    """E_f X-poor (eV) of a charged entry at the ends of the result's epsilon range."""
    if not (e.charge and e.correction_range and result.epsilon_range):
        return dict.fromkeys(VACANCY_COLUMNS[-4:], "")
    ends = [e.formation_energy["poor"] + c - e.correction["energy"] for c in e.correction_range]
    values = [*result.epsilon_range, *(f"{v:.4f}" for v in ends)]
    return dict(zip(VACANCY_COLUMNS[-4:], values, strict=True))


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
            **_range_columns(result, e),
        }
        for e in result.entries
    ]


KINDS: dict[str, Kind] = {
    "defect_host": Kind(
        "perovcalc.kinds.defects:defect_host_task",
        {
            "fmax": FMAX,
            "steps": Option(int, 100, "maximum optimizer steps", bounds=at_least(0)),
            "method": METHOD,
            "rattle": Option(
                float,
                0.0,
                "standard deviation (A) of random displacements of the free atoms before the "
                "relaxation (seed 0): lets the host leave a symmetric saddle (untilted octahedra); "
                "a bulk host loses its symmetry, so give vacancy_formation its sites",
                keyed_at_default=False,  # added after stores existed
                bounds=at_least(0),
            ),
            "soc": Option(
                bool,
                False,
                "also band edges with spin-orbit coupling (non-self-consistent, at the SCF "
                "k-points and the cell's TRIM points): the (PBE+SOC) gap and Fermi-level window "
                "of its vacancies",
                keyed_at_default=False,  # added after stores existed
            ),
        },
        help="relaxed defect-free supercell or slab with band edges and electrostatic potential",
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
            "epsilon_range": Option(
                list,
                None,
                "[low, high] dielectric constants the charged-defect energies are also given at "
                "(default: reference)",
                keyed_at_default=False,  # added after stores existed
                bounds=above(0),
            ),
            "fmax": FMAX,
            "steps": Option(int, 100, "maximum optimizer steps per vacancy", bounds=at_least(0)),
            "method": METHOD,
            "rattle": RATTLE,
        },
        help="halide vacancy formation energies at every distinct site of a defect_host",
    ),
}
