"""Climbing-image nudged elastic band (CI-NEB) for vacancy-mediated halide hops.

Calculator-agnostic: the caller passes ``calc_factory``, a callable returning a fresh ASE
calculator for one image. Every energy/force evaluation of a real calculator (endpoints
included) is counted and reported with the barrier, next to optimizer steps and wall time.

The work directory holds everything needed to resume an interrupted band:

``endpoints.traj``
    the two endpoints with their energies and forces (never recomputed once saved);
``band.traj``
    the whole band (endpoints included) after every accepted optimizer step;
``optimizer-<name>.json``
    the optimizer state (ASE optimizers only; the ODE solver restarts from the band);
``neb.json``
    settings and the cost summed over all runs on this directory;
``neb.log``
    the optimizer log.

A rerun with the same work directory continues from the last saved band; the first band of
the rerun is taken from the file, so it costs no new evaluations. A converged band is returned
at no cost.

Convergence is the largest NEB force on any moving image, the climbing image included, for
every optimizer (``ase.mep.NEB.get_residual``, which ASE's ODE optimizer uses, leaves the
climbing image out, and that optimizer reports success when it runs out of steps).

Image parallelism: under MPI with ``world.size == n_images * ranks_per_image`` each moving image
gets its own communicator of ``ranks_per_image`` ranks and ``calc_factory`` is called as
``calc_factory(communicator=comm)`` (GPAW accepts ``communicator=``); the initial and final
states are computed at the same time on the ranks of the first and of the last image.
Otherwise images and endpoints are computed one after the other with ``calc_factory()``, each
on all ranks. A factory with a ``label`` parameter is also told which calculator it makes:
``"initial"``, ``"final"`` or ``"image<i>"`` (i = 1 ... n_images), e.g. to name its log file.
Launch with ``mpiexec -n N gpaw python script.py`` (or set ``GPAW_MPI_BACKEND=cgpaw``), so that
``ase.parallel.world`` is the MPI world; a run under MPI whose ``ase.parallel.world`` has a
single rank is refused.

A hop through intermediate minima, several bands, is :func:`perovcalc.path.run_path`; the
campaign task kind ``migration_barrier`` (:mod:`perovcalc.kinds.migration`) runs it on a halide
vacancy hopping between neighbouring sites of a relaxed host.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from perovcalc.calculate import read_checkpoint, read_frames, write_checkpoint, write_frames
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.mep import (
    SPRING_CONSTANT,
    Hop,
    NEBCost,
    NEBResult,
    accepts_label,
    below_endpoints,
    carried_results,
    check_band_options,
    frozen_copy,
    max_force,
    unstable_endpoints,
    validate_endpoints,
)

if TYPE_CHECKING:  # ase.mep (scipy) is imported where a band runs: kinds/ imports this module
    from ase.mep import NEB

    from perovcalc.gaussian_process import SurrogateOptions

RECONSTRUCTION = 1.0  # A: relaxed endpoints differing more besides the hop: a reconstruction
OPTIMIZERS = ("ode", "FIRE", "BFGS", "LBFGS", "MDMin")
DEFAULT_OPTIMIZER = "ode"
METHODS = ("neb", "surrogate")  # a band of DFT images; the surrogate band of perovcalc.surrogate
MPI_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")  # set by Open MPI / MPICH, Slurm

ENDPOINTS_FILE = "endpoints.traj"
BAND_FILE = "band.traj"
STATE_FILE = "neb.json"
LOG_FILE = "neb.log"
RESULT_FILE = "result.json"


class CountingCalculator(Calculator):
    """Wraps a calculator and counts how often it really evaluates energy and forces.

    ``primary`` marks the copy that counts for its image under MPI (one rank per image group).
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, calc: Calculator, primary: bool = True):
        super().__init__()
        self.calc = calc
        self.primary = primary
        self.evaluations = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.evaluations += 1
        self.results = {
            "energy": float(self.calc.get_potential_energy(self.atoms)),
            "forces": np.array(self.calc.get_forces(self.atoms)),
        }

    def seed(self, atoms: Atoms, energy: float, forces: np.ndarray) -> None:
        """Take saved results for ``atoms`` as if computed, so that they cost nothing."""
        self.atoms = atoms.copy()
        self.results = {"energy": float(energy), "forces": np.array(forces)}


def _same_structure(a: Atoms, b: Atoms) -> bool:
    return (
        len(a) == len(b)
        and bool(np.all(a.numbers == b.numbers))
        and np.allclose(a.positions, b.positions, atol=1e-6)
        and np.allclose(a.cell, b.cell, atol=1e-6)
    )


@dataclass(frozen=True)
class _Layout:
    """The moving images (band indices) this MPI rank evaluates, and on which communicator."""

    images: tuple[int, ...]
    comm: object | None  # the image communicator; None: images one after another on all ranks
    primary: bool  # this rank counts the evaluations of its images
    per_image: int  # ranks per image

    def calculator(self, calc_factory: Callable[..., Calculator], label: str) -> CountingCalculator:
        kwargs: dict = {} if self.comm is None else {"communicator": self.comm}
        if accepts_label(calc_factory):
            kwargs["label"] = label
        return CountingCalculator(calc_factory(**kwargs), self.primary)


def _layout(world, n_images: int, parallel: bool) -> _Layout:
    if not parallel:
        return _Layout(tuple(range(1, n_images + 1)), None, world.rank == 0, world.size)
    per_image = world.size // n_images
    group = world.rank // per_image
    if hasattr(world, "new_communicator"):  # GPAW's world
        comm = world.new_communicator(np.arange(group * per_image, (group + 1) * per_image))
    else:  # ASE's mpi4py wrapper: consecutive blocks of ranks
        comm = world.split(n_images)
    return _Layout((group + 1,), comm, comm.rank == 0, per_image)


def _endpoints(
    initial: Atoms,
    final: Atoms,
    calc_factory: Callable[..., Calculator],
    path: Path,
    world,
    layout: _Layout,
) -> tuple[list[Atoms], int]:
    """Endpoints with energy and forces, from ``path`` where saved, else from the atoms where
    they carry them (see :func:`_carried`); and the evaluations spent.

    Image-parallel runs compute the initial state on the ranks of the first image and the final
    state on those of the last image, at the same time.
    """
    saved = read_frames(path)
    for image, old in zip((initial, final), saved[:2], strict=False):
        if not _same_structure(image, old):
            raise PerovcalcError(
                f"{path} holds a band for other endpoints; use a fresh work directory"
            )
    n_images = world.size // layout.per_image
    endpoints, evaluations = [], 0
    for k, atoms in enumerate((initial, final)):
        if k < len(saved):
            endpoints.append(
                frozen_copy(atoms, saved[k].get_potential_energy(), saved[k].get_forces())
            )
            continue
        if (carried := carried_results(atoms)) is not None:
            endpoints.append(frozen_copy(atoms, *carried))
            write_frames(path, endpoints[-1:], append=True)
            continue
        group = 0 if k == 0 else n_images - 1
        data = np.zeros(1 + 3 * len(atoms))
        counted = 0
        if layout.comm is None or group + 1 in layout.images:
            image = atoms.copy()
            image.calc = counter = layout.calculator(calc_factory, ("initial", "final")[k])
            data[0] = image.get_potential_energy()
            data[1:] = image.get_forces(apply_constraint=False).ravel()
            counted = counter.evaluations if counter.primary else 0
        if layout.comm is not None:
            world.broadcast(data, group * layout.per_image)
        evaluations += int(world.sum_scalar(counted))
        frozen = frozen_copy(atoms, data[0], data[1:].reshape(-1, 3))
        write_frames(path, [frozen], append=True)
        endpoints.append(frozen)
    return endpoints, evaluations


def _saved_band(path: Path, n_total: int) -> list[Atoms] | None:
    frames = read_frames(path)
    if not frames:
        return None
    if len(frames) % n_total:
        raise PerovcalcError(
            f"{path} holds {len(frames)} images, not a multiple of the {n_total} images of this "
            "band; use a fresh work directory or the n_images it was started with"
        )
    return frames[-n_total:]


def _accepts_communicator(factory: Callable) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "communicator" or p.kind is p.VAR_KEYWORD for p in parameters)


def _attach_calculators(
    images: list[Atoms],
    calc_factory: Callable[..., Calculator],
    layout: _Layout,
    saved: list[Atoms] | None,
) -> list[CountingCalculator]:
    """Give this rank's moving images counting calculators, seeded from a saved band."""
    counters = []
    for i in layout.images:
        images[i].calc = counter = layout.calculator(calc_factory, f"image{i}")
        if saved is not None:
            counter.seed(images[i], saved[i].get_potential_energy(), saved[i].get_forces())
        counters.append(counter)
    return counters


@functools.cache
def _ode_optimizer() -> type:
    """ASE's ODE12r band optimizer, converged on all moving images.

    ``ase.mep.NEB.get_residual`` (which ``NEBOptimizer`` uses) leaves out the climbing image,
    so the saddle would not be converged; here the residual is the largest NEB force.
    """
    from ase.mep.neb import NEBOptimizer

    class ODE(NEBOptimizer):
        _residual = np.inf

        def get_residual(self, F=None, X=None):
            if F is not None:
                self._residual = max_force(F)
            return self._residual

    return ODE


def _make_optimizer(name: str, neb: NEB, workdir: Path, resumed_with: str | None, world):
    log = workdir / LOG_FILE
    if name == "ode":
        return _ode_optimizer()(neb, method="ode", logfile=str(log))
    from ase.optimize import BFGS, FIRE, LBFGS, MDMin

    restart = workdir / f"optimizer-{name}.json"
    if resumed_with != name and world.rank == 0:
        restart.unlink(missing_ok=True)  # the state of an earlier, interrupted use: stale
    world.barrier()
    cls = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS, "MDMin": MDMin}[name]
    return cls(neb, restart=str(restart), logfile=str(log))


def _mpi_world():
    """``ase.parallel.world``; an error if the process runs under MPI but it has one rank."""
    if "gpaw" in sys.modules:
        import gpaw.mpi  # noqa: F401  (ASE picks GPAW's MPI world only once it is loaded)
    from ase.parallel import world

    launched = max(int(os.environ.get(name, "1")) for name in MPI_SIZE_VARIABLES)
    if launched > 1 and world.size == 1:
        raise PerovcalcError(
            f"started on {launched} MPI ranks but ase.parallel.world has one rank: every rank "
            "would run the whole band; launch with `gpaw python` or import gpaw.mpi first"
        )
    return world


def _check_options(n_images, fmax, interpolation, optimizer, max_steps) -> None:
    check_band_options(n_images, fmax, interpolation, max_steps)
    if optimizer not in OPTIMIZERS:
        raise InputError("optimizer", optimizer, OPTIMIZERS)


def run_neb(
    initial: Atoms,
    final: Atoms,
    calc_factory: Callable[..., Calculator],
    workdir: str | Path,
    n_images: int = 5,
    fmax: float = 0.05,
    climb: bool = True,
    interpolation: str = "idpp",
    optimizer: str = DEFAULT_OPTIMIZER,
    max_steps: int = 300,
    hopper: int | None = None,
    stop_below_endpoints: bool = False,
    method: str = "neb",
    surrogate: SurrogateOptions | None = None,
) -> NEBResult:
    """CI-NEB between relaxed endpoints ``initial`` and ``final`` (a single-halide hop, or with
    ``hopper`` a part of one: see :func:`validate_endpoints`).

    ``method="surrogate"`` relaxes the band on a Gaussian-process surrogate and calls the
    calculator only where it is unsure or to verify the climbing image
    (:func:`perovcalc.surrogate.surrogate_neb`, settings ``surrogate``; ``optimizer`` unused);
    ``"neb"`` is the band of real images described here.

    ``n_images`` moving images are placed by ``interpolation`` (IDPP or linear, minimum image)
    and relaxed with ``optimizer`` until the NEB force is below ``fmax`` eV/A or ``max_steps``
    steps were taken in this call. ``calc_factory()`` returns a new calculator per image; for
    image-parallel MPI runs it is called as ``calc_factory(communicator=comm)``. Endpoints that
    carry their energy and forces are not computed again. With ``stop_below_endpoints`` the
    band stops, unconverged, as soon as a moving image lies below both endpoints
    (:func:`below_endpoints`). Rerunning with the same ``workdir`` continues the band saved
    there (see the module docstring).
    """
    hop = validate_endpoints(initial, final, hopper)
    _check_options(n_images, fmax, interpolation, optimizer, max_steps)
    if method not in METHODS:
        raise InputError("method", method, METHODS)
    if method == "surrogate":
        from perovcalc.surrogate import surrogate_neb

        return surrogate_neb(
            initial, final, calc_factory, workdir, n_images, fmax, climb, interpolation,
            max_steps, stop_below_endpoints, surrogate, hop,
        )  # fmt: skip
    world = _mpi_world()
    parallel = world.size > 1 and world.size % n_images == 0
    if parallel and not _accepts_communicator(calc_factory):
        raise PerovcalcError(
            f"image-parallel NEB on {world.size} ranks needs calc_factory(communicator=...)"
        )
    start = time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    state_path = workdir / STATE_FILE
    state = read_checkpoint(state_path)
    if state and state["n_images"] != n_images:
        raise InputError("n_images", n_images, f"{state['n_images']} (the band saved in {workdir})")
    total_before = NEBCost(**state.get("total_cost", {}))
    settings = {
        "n_images": n_images,
        "fmax": fmax,
        "climb": climb,
        "interpolation": state.get("settings", {}).get("interpolation", interpolation),
        "optimizer": optimizer,
        "max_steps": max_steps,
        "spring_constant": SPRING_CONSTANT,
        "neb_method": "improvedtangent",
        "parallel_images": parallel,
        "ranks": world.size,
        "ranks_per_image": world.size // n_images if parallel else world.size,
    }

    layout = _layout(world, n_images, parallel)
    endpoints, evaluations = _endpoints(
        initial, final, calc_factory, workdir / ENDPOINTS_FILE, world, layout
    )
    saved = _saved_band(workdir / BAND_FILE, n_images + 2)
    world.barrier()  # all ranks have read the saved band before rank 0 writes to it
    from ase.mep import NEB

    images = [endpoints[0], *(initial.copy() for _ in range(n_images)), endpoints[1]]
    mic = bool(initial.pbc.any())
    if saved is None:
        path = NEB(images, k=SPRING_CONSTANT, method="improvedtangent")
        path.interpolate(interpolation, mic=mic, apply_constraint=False)
    else:
        for image, old in zip(images[1:-1], saved[1:-1], strict=True):
            image.set_positions(old.positions, apply_constraint=False)
    counters = _attach_calculators(images, calc_factory, layout, saved)
    neb = NEB(images, k=SPRING_CONSTANT, climb=climb, parallel=parallel, method="improvedtangent")
    opt = _make_optimizer(optimizer, neb, workdir, state.get("optimizer"), world)

    snapshot: dict = {}

    def cost() -> NEBCost:
        local = sum(c.evaluations for c in counters if c.primary)
        band = int(world.sum_scalar(local))
        return NEBCost(evaluations + band, opt.nsteps, time.perf_counter() - start)

    def checkpoint(write_band: bool = True) -> None:
        positions = neb.get_positions()
        if "band" in snapshot and np.array_equal(positions, snapshot["positions"]):
            return  # ASE optimizers report the starting band once more
        band = [
            frozen_copy(a, a.get_potential_energy(), a.get_forces(apply_constraint=False))
            for a in neb.iterimages()
        ]
        residual = max_force(neb.get_forces())  # cached image forces: no new evaluations
        snapshot.update(band=band, residual=residual, positions=positions)
        if write_band:
            write_frames(workdir / BAND_FILE, band, append=True)
        save_state(cost())
        if stop_below_endpoints and below_endpoints([a.get_potential_energy() for a in band]):
            raise _LowerState

    def save_state(this_run: NEBCost) -> None:
        data = {
            "n_images": n_images,
            "optimizer": optimizer,
            "settings": settings,
            "hop": asdict(hop),
            "total_cost": asdict(total_before + this_run),
        }
        write_checkpoint(state_path, data)

    neb.get_forces()  # the starting band; free when it comes from band.traj
    try:
        checkpoint(write_band=saved is None)
        opt.attach(checkpoint)
        # NEBOptimizer answers True also when it ran out of steps: check the force as well
        converged = bool(opt.run(fmax=fmax, steps=max_steps)) and snapshot["residual"] <= fmax
    except _LowerState:
        converged = False

    band = snapshot["band"]
    energies = [float(a.get_potential_energy()) for a in band]
    saddle = 1 + int(np.argmax(energies[1:-1]))
    this_run = cost()
    result = NEBResult(
        forward_barrier=energies[saddle] - energies[0],
        reverse_barrier=energies[saddle] - energies[-1],
        reaction_energy=energies[-1] - energies[0],
        saddle_index=saddle,
        saddle_energy=energies[saddle],
        energies=energies,
        residual=snapshot["residual"],
        converged=converged,
        cost=this_run,
        total_cost=total_before + this_run,
        hop=hop,
        settings=settings,
        unstable_endpoints=unstable_endpoints(energies),
        minima=[0, len(band) - 1],
        intermediates=[],
        images=band,
    )
    save_state(this_run)
    write_checkpoint(workdir / RESULT_FILE, result.as_dict())
    return result


class _LowerState(Exception):
    """A band stopped because a state lower than both endpoints lies along it."""


def reconstruction(hop: Hop) -> float | None:
    """The largest displacement (A) of an atom other than the hopping one between the relaxed
    endpoints of a hop (``NEBResult.hop``) where it exceeds ``RECONSTRUCTION``, else None.

    Beyond it the endpoints relaxed into different local structures (measured on 2x1 K-Br slabs:
    a Pb 1.4 A off its site in one endpoint only) and the band measures a reconstruction
    together with the hop, not the barrier of the hop alone.
    """
    moved = hop.max_other_displacement
    return moved if moved > RECONSTRUCTION else None
