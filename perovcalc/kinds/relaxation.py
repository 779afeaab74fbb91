"""How task kinds relax positions: ASE's BFGS or the Gaussian-process surrogate of
:mod:`perovcalc.surrogate`, chosen by a task's ``method`` option, and the options the relaxing
kinds share (``method``, ``rattle``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import Calculator

from perovcalc.calculate import CalcResult, make_calculator, relax_positions
from perovcalc.errors import InputError
from perovcalc.tasks import Option, TaskContext, at_least


def rattle_option(ctx: TaskContext, steps: int, steps_field: str) -> float:
    """The task's ``rattle`` option (A, >= 0: see its range), checked against its relaxation
    ``steps``."""
    rattle, where = ctx.options["rattle"], f"task {ctx.name}"
    if rattle and not steps:
        raise InputError(
            "options.rattle", rattle, f"0 with options.{steps_field} = 0 (no relaxation)", where
        )
    return rattle


def gpaw_factory(params: dict, logdir: Path) -> Callable[..., Calculator]:
    """GPAW calculators with ``params`` for the surrogate's evaluations, one log per label in
    ``logdir`` (``gpaw-initial.txt``, ``gpaw-image1.txt``, ``gpaw-relax.txt``, ...)."""

    def factory(communicator=None, label: str = "image"):
        return make_calculator(params, logdir / f"gpaw-{label}.txt", communicator)

    return factory


def relax(
    ctx: TaskContext,
    atoms: Atoms,
    params: dict,
    workdir: Path,
    fmax: float,
    steps: int,
    analyse: Callable[[Atoms], dict] | None = None,
    options=None,
) -> CalcResult:
    """``atoms`` relaxed to ``fmax`` eV/A in ``workdir``: on the Gaussian-process surrogate
    where the task's ``method`` is "surrogate" (:func:`perovcalc.surrogate.relax`, settings
    ``options``, ``steps`` DFT evaluations at most), else by ASE's BFGS
    (:func:`perovcalc.calculate.relax_positions`, ``steps`` BFGS steps at most); the data of
    either (``converged``, ``steps``, ``evaluations``, ``initial_energy``, ``max_force``,
    ``fmax``, and what ``analyse`` returns)."""
    if ctx.options["method"] != "surrogate":
        return relax_positions(atoms, params, workdir, fmax, steps, analyse)
    from perovcalc import surrogate  # scipy and ase's GP: only when a task runs

    factory = gpaw_factory(params, workdir)
    relaxed, data = surrogate.relax(atoms, factory, workdir, fmax, steps, options, analyse)
    data["evaluations"], data["fmax"] = data.pop("total_evaluations"), fmax
    return CalcResult(relaxed, params, data)


METHOD = Option(
    str,
    "bfgs",
    "how positions are relaxed: bfgs (ASE's BFGS, a DFT evaluation per step) or surrogate "
    "(perovcalc.surrogate.relax: a Gaussian-process surrogate, DFT at each of its minima); "
    "steps counts BFGS steps or DFT evaluations",
    ("bfgs", "surrogate"),
    keyed_at_default=False,  # added after stores existed
)
RATTLE = Option(
    float,
    0.0,
    "standard deviation (A) of random displacements of the free atoms of a vacancy cell before "
    "its relaxation, seeded with the vacancy's host index: lets it leave a symmetric saddle",
    keyed_at_default=False,  # added after stores existed
    bounds=at_least(0),
)
