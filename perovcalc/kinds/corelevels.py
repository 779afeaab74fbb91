"""Task kind ``core_levels``: Delta-SCF binding energies and initial-state shifts of every
distinct site of the requested core levels (:mod:`perovcalc.corelevel`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from perovcalc.calculate import (
    CalcResult,
    make_calculator,
    read_checkpoint,
    single_point,
    write_checkpoint,
)
from perovcalc.corehole import HOLE_LEVELS
from perovcalc.corelevel import (
    central_site,
    delta_scf_energy,
    hole_convergence,
    initial_state_shifts,
)
from perovcalc.errors import InputError
from perovcalc.symmetry import distinct_sites, site_classes
from perovcalc.tasks import Kind, Option, TaskContext


def core_level_task(ctx: TaskContext) -> CalcResult:
    """Campaign task: core-level energies of every distinct site of the requested levels.

    Stores, per level ("Br 3d", ...) and per distinct site: the Delta-SCF binding energy
    E_hole - E_ground (eV; the same frozen-core constant for every model computed with the
    same datasets, so differences between models and between elements' model-to-model
    changes are meaningful), the initial-state shift of every atom, the depth below the
    outermost atom along c (A), the site multiplicity and the reference site: the distinct site
    of the element's atom nearest the mid-plane (:func:`perovcalc.corelevel.central_site`)
    with that atom's depth. Each Delta-SCF energy is checkpointed in ``core_levels.json``.
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
        if level not in HOLE_LEVELS.get(element, ()):
            allowed = [f"{e} {lv}" for e, names in HOLE_LEVELS.items() for lv in names]
            raise InputError("options.levels", label, allowed)
        sites = distinct_sites(atoms, element)
        central = central_site(atoms, element)
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
            "reference_site": classes[central],
            "reference_depth": float(depth[central]),
        }
        if method in ("delta_scf", "both"):
            for i in sites:
                key = f"{label}:{i}"
                if key not in done:
                    params = {**ground.params, "txt": str(workdir / f"hole-{element}{i}.txt")}
                    energy = delta_scf_energy(atoms, i, element, level, params, ctx.options["spin"])
                    done[key] = energy - e_ground
                    write_checkpoint(checkpoint, done)
            entry["delta_scf"] = {str(i): done[f"{label}:{i}"] for i in sites}
        if method in ("initial_state", "both"):
            if calc is None:
                calc = make_calculator(ground.params, workdir / "initial_state.txt")
            shifts = initial_state_shifts(atoms, element, calc=calc, reference_index=sites[0])
            entry["initial_state"] = {str(i): s for i, s in shifts.shifts.items()}
        levels[label] = LevelResult.from_dict(entry)
    record = CoreLevelsResult(e_ground, levels, method, hole_convergence(ground.params))
    return CalcResult(ground.atoms, ground.params, record.to_dict())


# ------------------------------------------------------------------ result and presentation
@dataclass
class LevelResult:
    """One core level of a ``core_levels`` result, keyed by atom index (as a string): the
    distinct ``sites`` (atom indices), each atom's ``depth`` below the outermost atom (A), each
    site's ``multiplicity`` and shallowest member (``site_depth``, A), where computed its
    Delta-SCF energy E_hole - E_ground (eV) and each atom's initial-state shift (eV), and the
    bulk-like reference: the site of the atom nearest the mid-plane (``reference_site``) and
    that atom's depth (``reference_depth``, A). Results stored before the reference was
    recorded have None there; :meth:`reference` then takes the deepest site (for a symmetric
    slab the same class)."""

    sites: list[int]
    depth: dict[str, float]
    multiplicity: dict[str, int]
    site_depth: dict[str, float]
    delta_scf: dict[str, float] | None = None
    initial_state: dict[str, float] | None = None
    reference_site: int | None = None
    reference_depth: float | None = None

    def reference(self) -> int:
        """The reference site: the stored one, or for older results the deepest site."""
        if self.reference_site is not None:
            return self.reference_site
        return max(self.sites, key=lambda s: self.site_depth[str(s)])

    def shifts(self, method: str = "delta_scf") -> dict[int, float] | None:
        """Each site's shift (eV) against the reference site by ``method`` ("delta_scf" or
        "initial_state"), None where that method was not computed."""
        values = getattr(self, method)
        if values is None:
            return None
        zero = values[str(self.reference())]
        return {s: values[str(s)] - zero for s in self.sites}

    def to_dict(self) -> dict:
        """The stored form: without the methods not computed."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, data: dict) -> LevelResult:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass
class CoreLevelsResult:
    """The stored result of a ``core_levels`` task: ground-state energy (eV), method, the
    levels by name ("Br 3d") and the SCF criteria of the core-hole runs (None: stored before
    they were recorded, the ground state's)."""

    ground_energy: float
    levels: dict[str, LevelResult]
    method: str
    hole_convergence: dict | None = None

    def to_dict(self) -> dict:
        levels = {name: level.to_dict() for name, level in self.levels.items()}
        data = {"ground_energy": self.ground_energy, "levels": levels, "method": self.method}
        if self.hole_convergence is not None:  # stored records keep their form
            data["hole_convergence"] = self.hole_convergence
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CoreLevelsResult:
        levels = {name: LevelResult.from_dict(level) for name, level in data["levels"].items()}
        return cls(data["ground_energy"], levels, data["method"], data.get("hole_convergence"))


def core_levels_headline(result: CoreLevelsResult) -> str:
    """Per level: the number of distinct sites and the spread of their Delta-SCF energies and
    initial-state shifts (eV), and the Delta-SCF shift of every site against the central-layer
    reference site (eV)."""
    parts = []
    for name, level in result.levels.items():
        text = f"{name}: {len(level.sites)} distinct site{'s' if len(level.sites) > 1 else ''}"
        computed = (("Delta-SCF", level.delta_scf), ("initial state", level.initial_state))
        for label, values in computed:
            numbers = [values[k] for k in map(str, level.sites) if k in (values or {})]
            if numbers:
                text += f", {label} {min(numbers):.3f} to {max(numbers):.3f} eV"
        shifts = level.shifts()
        if shifts is not None and len(shifts) > 1:
            sites = ", ".join(f"{s} {v:+.3f}" for s, v in shifts.items() if s != level.reference())
            text += f" (shift vs central site {level.reference()}: {sites} eV)"
        parts.append(text)
    return "; ".join(parts)


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
            "spin": Option(
                bool,
                False,
                "solve the Delta-SCF final state (one valence electron more than the ground "
                "state) spin-polarised, 1 Bohr magneton started on the ionised atom (see "
                "perovcalc.corelevel: not yet for dipole-corrected slabs)",
                keyed_at_default=False,  # added after stores existed
            ),
        },
        help="core-level binding energies (Delta-SCF) and initial-state shifts per site",
    ),
}
