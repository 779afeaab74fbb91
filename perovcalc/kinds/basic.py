"""Task kinds on the structure as given: single point, relaxed positions, relaxed lattice."""

from __future__ import annotations

from perovcalc import calculate
from perovcalc.calculate import CalcResult
from perovcalc.tasks import (
    FMAX,
    POINTS,
    STRAIN,
    Kind,
    Option,
    TaskContext,
    at_least,
)


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


KINDS: dict[str, Kind] = {
    "single_point": Kind(
        "perovcalc.kinds.basic:single_point_task",
        {"stress": Option(bool, False, "also compute the stress tensor (plane-wave mode)")},
        help="energy and forces of the structure as given",
    ),
    "relax_positions": Kind(
        "perovcalc.kinds.basic:relax_positions_task",
        {
            "fmax": FMAX,
            "steps": Option(int, 200, "maximum optimizer steps", bounds=at_least(0)),
        },
        help="relax atomic positions at fixed cell (BFGS)",
    ),
    "relax_lattice": Kind(
        "perovcalc.kinds.basic:relax_lattice_task",
        {
            "strain": STRAIN,
            "points": POINTS,
        },
        help="cubic lattice constant from a Birch-Murnaghan E(V) fit",
    ),
}
