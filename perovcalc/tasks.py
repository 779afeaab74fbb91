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


@dataclass(frozen=True)
class Option:
    """One option of a task kind: its type and default (None = no default, use the preset)."""

    type: type
    default: object = None
    help: str = ""
    choices: tuple = ()


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


def single_point_task(ctx: TaskContext) -> CalcResult:
    properties = ("energy", "forces", "stress") if ctx.options["stress"] else ("energy", "forces")
    return calculate.single_point(ctx.atoms, ctx.params, ctx.workdir, properties)


def relax_positions_task(ctx: TaskContext) -> CalcResult:
    from perovcalc.presets import get_preset

    fmax = ctx.options["fmax"] or get_preset(ctx.preset).fmax
    return calculate.relax_positions(ctx.atoms, ctx.params, ctx.workdir, fmax, ctx.options["steps"])


def relax_lattice_task(ctx: TaskContext) -> CalcResult:
    return calculate.relax_lattice(
        ctx.atoms, ctx.params, ctx.workdir, ctx.options["strain"], ctx.options["points"]
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
