"""Task kinds: what a campaign task can compute, and the options each accepts.

A kind is a function ``f(ctx: TaskContext) -> CalcResult`` named as ``"module:function"``
(imported only when a task of that kind runs) plus its option schema. Domain modules
(vacancies, NEB, core levels, XRD) add their kinds to :data:`KINDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms

from perovcalc import calculate
from perovcalc.calculate import CalcResult
from perovcalc.errors import InputError
from perovcalc.neb import DEFAULT_OPTIMIZER, OPTIMIZERS


@dataclass(frozen=True)
class Option:
    """One option of a task kind: its type and default (None = no default, use the preset).

    ``keyed_at_default=False`` leaves the option out of task ids while it has its default, so
    that adding an option to a kind keeps the ids (and stored results) of existing tasks."""

    type: type
    default: object = None
    help: str = ""
    choices: tuple = ()
    keyed_at_default: bool = True


@dataclass(frozen=True)
class Kind:
    """A task kind: implementation, options, and whether it runs DFT (and so MPI ranks)."""

    function: str
    options: dict[str, Option] = field(default_factory=dict)
    dft: bool = True
    help: str = ""

    def load(self) -> Callable[[TaskContext], CalcResult]:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass
class TaskContext:
    """Everything a running task sees: its input structure, GPAW parameters, options,
    work directory (checkpoints live there) and the stored results of its dependencies."""

    name: str
    atoms: Atoms | None
    params: dict
    options: dict
    workdir: Path
    preset: str
    dependencies: dict  # task name -> ase.db row (atoms via row.toatoms(), results in row.data)

    def fmax(self) -> float:
        """The force criterion of the task's relaxations: its ``fmax`` option, else its
        preset's (eV/A)."""
        from perovcalc.presets import get_preset

        return self.options["fmax"] or get_preset(self.preset).fmax


def single_point_task(ctx: TaskContext) -> CalcResult:
    properties = ("energy", "forces", "stress") if ctx.options["stress"] else ("energy", "forces")
    return calculate.single_point(ctx.atoms, ctx.params, ctx.workdir, properties)


def relax_positions_task(ctx: TaskContext) -> CalcResult:
    return calculate.relax_positions(
        ctx.atoms, ctx.params, ctx.workdir, ctx.fmax(), ctx.options["steps"]
    )


def relax_lattice_task(ctx: TaskContext) -> CalcResult:
    return calculate.relax_lattice(
        ctx.atoms, ctx.params, ctx.workdir, ctx.options["strain"], ctx.options["points"]
    )


RATTLE = Option(
    float,
    0.0,
    "standard deviation (A) of random displacements of the free atoms of a vacancy cell before "
    "its relaxation, seeded with the vacancy's host index: lets it leave a symmetric saddle",
    keyed_at_default=False,  # added after stores existed
)

KINDS: dict[str, Kind] = {
    "single_point": Kind(
        "perovcalc.tasks:single_point_task",
        {"stress": Option(bool, False, "also compute the stress tensor (plane-wave mode)")},
        help="energy and forces of the structure as given",
    ),
    "relax_positions": Kind(
        "perovcalc.tasks:relax_positions_task",
        {
            "fmax": Option(float, None, "force criterion, eV/A (default: the preset's)"),
            "steps": Option(int, 200, "maximum optimizer steps"),
        },
        help="relax atomic positions at fixed cell (BFGS)",
    ),
    "relax_lattice": Kind(
        "perovcalc.tasks:relax_lattice_task",
        {
            "strain": Option(float, 0.03, "largest linear strain of the E(V) scan"),
            "points": Option(int, 5, "number of E(V) points (>= 4)"),
        },
        help="cubic lattice constant from a Birch-Murnaghan E(V) fit",
    ),
    "core_levels": Kind(
        "perovcalc.corelevel:core_level_task",
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
    "photoemission_ratios": Kind(
        "perovcalc.xps:photoemission_task",
        {
            "photon_energies": Option(list, [450.0, 650.0, 1486.7], "photon energies, eV"),
            "levels": Option(list, ["K 2p", "Br 3d", "Pb 4f"], "levels; last = denominator"),
        },
        dft=False,
        help="simulated depth-resolved XPS atomic ratios of a model (no DFT)",
    ),
    "xrd": Kind(
        "perovcalc.xrd:xrd_task",
        {
            "wavelength": Option(float, 1.54178, "X-ray wavelength, Angstrom"),
            "two_theta_min": Option(float, 10.0, "degrees"),
            "two_theta_max": Option(float, 60.0, "degrees"),
            "step": Option(float, 0.02, "2theta step, degrees"),
            "size_nm": Option(float, None, "Scherrer size, nm (periodic cells; none if unset)"),
            "instrument_fwhm": Option(float, 0.05, "Gaussian instrumental FWHM, degrees"),
            "method": Option(str, "fast", "Debye method for finite models", ("fast", "exact")),
        },
        dft=False,
        help="simulated powder XRD (Bragg for periodic cells, Debye for finite models)",
    ),
    "competing_phase": Kind(
        "perovcalc.formation:competing_phase_task",
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
        "perovcalc.formation:defect_host_task",
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
        "perovcalc.formation:chemical_potentials_task",
        {
            "host_on_hull": Option(bool, False, "lower a host above the hull just below it"),
            "tolerance": Option(float, 1e-3, "eV/atom below the hull for host_on_hull"),
            "exclude": Option(list, [], "formulas of phases to leave out"),
        },
        dft=False,
        help="stability region of the host (pymatgen) and its halide-rich/poor limits",
    ),
    "vacancy_formation": Kind(
        "perovcalc.formation:vacancy_formation_task",
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
    "migration_barrier": Kind(
        "perovcalc.neb:migration_barrier_task",
        {
            "species": Option(str, "Br", "halide whose vacancy migrates", ("Br", "I")),
            "site": Option(
                int,
                None,
                "host index of the vacancy's initial site (default: the first distinct site; "
                "slabs: the one nearest the surface in the outer perovskite layer)",
            ),
            "to": Option(
                int,
                None,
                "host index of the neighbouring halide that hops into the vacancy (default: "
                "the nearest along an octahedron edge; slabs: in the same layer or just below)",
            ),
            "n_images": Option(int, 3, "moving images of the band"),
            "fmax": Option(float, 0.05, "force criterion of band and endpoints, eV/A"),
            "climb": Option(bool, True, "climbing image (CI-NEB)"),
            "optimizer": Option(str, DEFAULT_OPTIMIZER, "band optimizer", OPTIMIZERS),
            "max_steps": Option(int, 300, "maximum band optimizer steps per run"),
            "endpoint_steps": Option(int, 100, "maximum BFGS steps per endpoint relaxation"),
            "rattle": RATTLE,
            "intermediates": Option(
                int,
                2,
                "minima along the hop (an image below both endpoints or its neighbours) to "
                "relax and split the band at, as neb.run_path does; 0: one band",
                keyed_at_default=False,  # added after stores existed
            ),
        },
        help="vacancy-mediated halide hop barrier by CI-NEB on a defect_host (reuses the "
        "relaxed vacancies of a vacancy_formation task in needs), through the minima along it",
    ),
}


def get_kind(name: str, where: str = "") -> Kind:
    """The task kind called ``name``."""
    if name not in KINDS:
        raise InputError("kind", name, sorted(KINDS), where)
    return KINDS[name]


def resolve_options(kind_name: str, options: dict, where: str = "") -> dict:
    """``options`` checked against the kind's schema, with defaults filled in."""
    kind = get_kind(kind_name, where)
    unknown = sorted(set(options) - set(kind.options))
    if unknown:
        raise InputError(f"options.{unknown[0]}", options[unknown[0]], sorted(kind.options), where)
    resolved = {}
    for key, opt in kind.options.items():
        value = options.get(key, opt.default)
        if value is not None and opt.type is float and isinstance(value, int):
            value = float(value)
        if value is not None and not (
            isinstance(value, opt.type) and not (opt.type is not bool and isinstance(value, bool))
        ):
            raise InputError(f"options.{key}", value, f"a value of type {opt.type.__name__}", where)
        if opt.choices and value not in opt.choices:
            raise InputError(f"options.{key}", value, opt.choices, where)
        resolved[key] = value
    return resolved


def keyed_options(kind_name: str, options: dict) -> dict:
    """The options of a task that enter its id: ``options`` resolved, less those at their
    default that are not keyed at their default (see :class:`Option`)."""
    kind = get_kind(kind_name)
    return {
        key: value
        for key, value in resolve_options(kind_name, options).items()
        if kind.options[key].keyed_at_default or value != kind.options[key].default
    }
