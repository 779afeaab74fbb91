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

A hop need not be one band: :func:`run_path` stops a band whose image falls below both
endpoints, relaxes that image (or a minimum between images) into an intermediate state and
runs a band on each side of it, ``<workdir>/neb-<from>-<to>``; the barriers of the whole path
count from the lowest state before each saddle (:func:`path_barriers`).

Campaign task kind ``migration_barrier`` (:func:`migration_barrier_task`): the barrier of a
neutral halide vacancy hopping between neighbouring sites of a relaxed ``defect_host``.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import operator
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic

from perovcalc.calculate import read_frames, write_checkpoint
from perovcalc.errors import InputError, PerovcalcError

if TYPE_CHECKING:  # ase.mep (scipy) is imported where a band runs: tasks.py imports this module
    from ase.mep import NEB

    from perovcalc.calculate import CalcResult
    from perovcalc.surrogate import SurrogateOptions

HALOGENS = ("F", "Cl", "Br", "I")
HOP_DISTANCE = (3.0, 5.3)  # Angstrom: the X-X octahedron edge a/sqrt(2) is 4.1-4.5 A in CsPbX3
MAX_OTHER_DISPLACEMENT = 1.5  # A: relaxation differences; a misordered atom moves >= 3.5 A
RECONSTRUCTION = 1.0  # A: relaxed endpoints differing more besides the hop: a reconstruction
OPTIMIZERS = ("ode", "FIRE", "BFGS", "LBFGS", "MDMin")
INTERPOLATIONS = ("idpp", "linear")
DEFAULT_OPTIMIZER = "ode"
METHODS = ("neb", "surrogate")  # a band of DFT images; the surrogate band of perovcalc.surrogate
SPRING_CONSTANT = 0.1  # eV/Angstrom^2
ENDPOINT_TOLERANCE = 0.01  # eV: an image this far below its neighbouring endpoint: no minimum
SAME_STATE = 0.1  # A: a relaxed intermediate no atom of which is further from an end is that end
MPI_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")  # set by Open MPI / MPICH, Slurm

ENDPOINTS_FILE = "endpoints.traj"
BAND_FILE = "band.traj"
STATE_FILE = "neb.json"
LOG_FILE = "neb.log"
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Hop:
    """The hopping atom: index, symbol, hop length and the largest other displacement (A)."""

    index: int
    symbol: str
    distance: float
    max_other_displacement: float


@dataclass(frozen=True)
class NEBCost:
    """Cost of a band: real energy/force evaluations, optimizer steps, wall time (s)."""

    evaluations: int = 0
    steps: int = 0
    wall_time: float = 0.0

    def __add__(self, other: NEBCost) -> NEBCost:
        return NEBCost(
            self.evaluations + other.evaluations,
            self.steps + other.steps,
            self.wall_time + other.wall_time,
        )


@dataclass
class NEBResult:
    """Outcome of a CI-NEB. Energies in eV, forces in eV/A.

    ``energies`` are absolute total energies of all images, endpoints included; the barriers
    are measured from the saddle (highest) image. ``unstable_endpoints`` names the endpoints
    ("initial", "final") next to which an image lies more than ``ENDPOINT_TOLERANCE`` eV lower:
    such an endpoint is no minimum (a symmetric saddle that its relaxation could not leave) and
    the barrier from it means nothing. ``cost`` is this call, ``total_cost`` all calls on the
    same work directory.

    A path through relaxed intermediate minima (:func:`run_path`) is one result over all its
    bands: ``minima`` are the image indices of the relaxed states (the endpoints and each
    intermediate), ``intermediates`` describe the intermediates, and the barriers are those of
    :func:`path_barriers`. A single band has ``minima == [0, len(energies) - 1]``.
    """

    forward_barrier: float
    reverse_barrier: float
    reaction_energy: float
    saddle_index: int
    saddle_energy: float
    energies: list[float]
    residual: float
    converged: bool
    cost: NEBCost
    total_cost: NEBCost
    hop: Hop
    settings: dict
    unstable_endpoints: list[str]
    minima: list[int]
    intermediates: list[dict]
    images: list[Atoms] = field(repr=False)

    def as_dict(self) -> dict:
        """JSON-compatible summary (without the images)."""
        data = asdict(self)
        del data["images"]
        return data


def validate_endpoints(initial: Atoms, final: Atoms, hopper: int | None = None) -> Hop:
    """Check that ``initial`` -> ``final`` is a single-halide hop; raise PerovcalcError if not.

    Both must have the same cell, boundary conditions and atoms in the same order; exactly one
    halogen atom moves by an octahedron-edge distance (``HOP_DISTANCE``, A, minimum image) and
    no other atom moves more than ``MAX_OTHER_DISPLACEMENT`` A. With ``hopper`` (an atom index)
    the endpoints are a part of such a hop: that halogen moves at most the longest hop distance,
    any distance less, and no other atom more than ``MAX_OTHER_DISPLACEMENT`` A.
    """
    hint = "the endpoints must list the same atoms in the same order; only the hopping halide moves"
    if initial.get_chemical_formula() != final.get_chemical_formula():
        raise PerovcalcError(
            f"endpoints differ in composition: initial {initial.get_chemical_formula()}, "
            f"final {final.get_chemical_formula()}; {hint}"
        )
    symbols_i, symbols_f = initial.get_chemical_symbols(), final.get_chemical_symbols()
    if symbols_i != symbols_f:
        k = next(k for k, (a, b) in enumerate(zip(symbols_i, symbols_f, strict=True)) if a != b)
        raise PerovcalcError(
            f"endpoints list the atoms in a different order: atom {k} is {symbols_i[k]} in the "
            f"initial and {symbols_f[k]} in the final state; {hint}"
        )
    if not np.allclose(initial.cell, final.cell, atol=1e-6) or any(initial.pbc != final.pbc):
        raise PerovcalcError(
            f"endpoints have different cells or boundary conditions: {initial.cell.cellpar()} "
            f"{initial.pbc} vs {final.cell.cellpar()} {final.pbc}; a NEB needs a fixed cell"
        )
    step, lengths = find_mic(final.positions - initial.positions, initial.cell, initial.pbc)
    order = np.argsort(lengths)[::-1]
    index = int(order[0]) if hopper is None else hopper
    others = [int(k) for k in order if k != index]
    other = float(lengths[others[0]]) if others else 0.0
    movers = [k for k in others if lengths[k] > MAX_OTHER_DISPLACEMENT]
    if movers:
        listed = ", ".join(f"{k} ({symbols_i[k]}, {lengths[k]:.2f} A)" for k in movers[:6])
        raise PerovcalcError(
            f"not a single-atom hop: atom {index} ({symbols_i[index]}, {lengths[index]:.2f} A) "
            f"hops and {len(movers)} other atom(s) move more than {MAX_OTHER_DISPLACEMENT} A "
            f"between the endpoints: {listed}; {hint}"
        )
    low, high = HOP_DISTANCE if hopper is None else (0.0, HOP_DISTANCE[1])
    if not low <= lengths[index] <= high:
        largest = "the largest displacement" if hopper is None else "the hopping atom moves"
        raise PerovcalcError(
            f"no hop along an octahedron edge: {largest} is {lengths[index]:.2f} A "
            f"(atom {index}, {symbols_i[index]}); a halide hop moves one atom {low}-{high} A"
        )
    if symbols_i[index] not in HALOGENS:
        raise PerovcalcError(
            f"the hopping atom {index} is {symbols_i[index]}, not a halide {HALOGENS}; {hint}"
        )
    return Hop(index, symbols_i[index], float(lengths[index]), other)


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


def _frozen(atoms: Atoms, energy: float, forces: np.ndarray) -> Atoms:
    """Copy of ``atoms`` carrying ``energy`` (eV) and unconstrained ``forces`` (eV/A)."""
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(copy, energy=float(energy), forces=np.array(forces))
    return copy


def _write_frames(path: Path, images: list[Atoms]) -> None:
    from ase.io.trajectory import Trajectory

    with Trajectory(path, "a") as traj:
        for image in images:
            traj.write(image)


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
        if _accepts_label(calc_factory):
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
            endpoints.append(_frozen(atoms, saved[k].get_potential_energy(), saved[k].get_forces()))
            continue
        if (carried := _carried(atoms)) is not None:
            endpoints.append(_frozen(atoms, *carried))
            _write_frames(path, endpoints[-1:])
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
        frozen = _frozen(atoms, data[0], data[1:].reshape(-1, 3))
        _write_frames(path, [frozen])
        endpoints.append(frozen)
    return endpoints, evaluations


def _carried(atoms: Atoms) -> tuple[float, np.ndarray] | None:
    """Energy (eV) and unconstrained forces (eV/A) that ``atoms`` carry from a calculation on
    exactly these positions (an endpoint taken from another band or relaxation), else None."""
    calc = atoms.calc
    if calc is None or not {"energy", "forces"} <= set(calc.results) or calc.check_state(atoms):
        return None
    return float(calc.results["energy"]), np.array(calc.results["forces"])


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


def _accepts_label(factory: Callable) -> bool:
    try:
        return "label" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


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


def _max_force(forces: np.ndarray) -> float:
    """Largest atomic force (eV/A) in an array of NEB forces."""
    return float(np.linalg.norm(np.reshape(forces, (-1, 3)), axis=1).max())


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
                self._residual = _max_force(F)
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
    if not isinstance(n_images, int) or n_images < 1:
        raise InputError("n_images", n_images, "an integer >= 1 (moving images)")
    if not fmax > 0:
        raise InputError("fmax", fmax, "a force criterion > 0 eV/A")
    if interpolation not in INTERPOLATIONS:
        raise InputError("interpolation", interpolation, INTERPOLATIONS)
    if optimizer not in OPTIMIZERS:
        raise InputError("optimizer", optimizer, OPTIMIZERS)
    if not isinstance(max_steps, int) or max_steps < 0:
        raise InputError("max_steps", max_steps, "an integer >= 0")


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
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
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
            _frozen(a, a.get_potential_energy(), a.get_forces(apply_constraint=False))
            for a in neb.iterimages()
        ]
        residual = _max_force(neb.get_forces())  # cached image forces: no new evaluations
        snapshot.update(band=band, residual=residual, positions=positions)
        if write_band:
            _write_frames(workdir / BAND_FILE, band)
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


def below_endpoints(energies: list[float], tolerance: float = ENDPOINT_TOLERANCE) -> bool:
    """Whether a moving image of a band (energies in eV, endpoints included) lies more than
    ``tolerance`` below both endpoints: then a state lower than either lies along the hop,
    converged band or not, and the barrier between the endpoints means nothing."""
    return min(energies[1:-1]) < min(energies[0], energies[-1]) - tolerance


def intermediate_minimum(
    energies: list[float], tolerance: float = ENDPOINT_TOLERANCE
) -> int | None:
    """The moving image of a band (energies in eV, endpoints included) to relax into a minimum
    between the endpoints: the lowest if it lies below both endpoints (:func:`below_endpoints`),
    else the lowest that lies more than ``tolerance`` below both its neighbours; else None."""
    if below_endpoints(energies, tolerance):
        return 1 + int(np.argmin(energies[1:-1]))
    found = [
        i
        for i in range(1, len(energies) - 1)
        if energies[i] < min(energies[i - 1], energies[i + 1]) - tolerance
    ]
    return min(found, key=lambda i: energies[i]) if found else None


def unresolved_minima(energies: list[float], minima: list[int] | None = None) -> bool:
    """Whether a band or path (energies in eV) has an image to relax into an intermediate
    (:func:`intermediate_minimum`) between two of its relaxed ``minima`` (image indices;
    default: the endpoints)."""
    minima = minima or [0, len(energies) - 1]
    return any(
        intermediate_minimum(energies[a : b + 1]) is not None for a, b in itertools.pairwise(minima)
    )


def path_barriers(energies: list[float], minima: list[int]) -> tuple[float, float, int]:
    """Forward and reverse barriers (eV) of a path through relaxed minima, and its saddle.

    ``energies`` (eV) of all images; ``minima`` the indices of the relaxed states, the
    endpoints first and last. Each step between neighbouring minima has its saddle (highest
    image); a barrier is the highest saddle above the lowest minimum before it (forward) or
    after it (reverse): a hop trapped in a deep intermediate starts again from there. With no
    intermediate: saddle - initial and saddle - final. The saddle returned (an image index) is
    the one that sets the forward barrier.
    """
    saddles = [a + 1 + int(np.argmax(energies[a + 1 : b])) for a, b in itertools.pairwise(minima)]
    low = [energies[m] for m in minima]
    forward = [energies[s] - min(low[: k + 1]) for k, s in enumerate(saddles)]
    reverse = [energies[s] - min(low[k + 1 :]) for k, s in enumerate(saddles)]
    return max(forward), max(reverse), saddles[int(np.argmax(forward))]


def _largest_displacement(a: Atoms, b: Atoms) -> float:
    """Largest minimum-image displacement (A) of an atom between two configurations."""
    return float(find_mic(b.positions - a.positions, a.cell, a.pbc)[1].max())


def _hop_fraction(state: Atoms, initial: Atoms, final: Atoms, index: int) -> float:
    """How far atom ``index`` of ``state`` lies along its hop from ``initial`` to ``final``
    (0 at the initial, 1 at the final position; projection on the hop vector)."""

    def step(a: Atoms) -> np.ndarray:
        delta = a.positions[index] - initial.positions[index]
        return find_mic(delta, initial.cell, initial.pbc)[0]

    hop = step(final)
    return float(step(state) @ hop / (hop @ hop))


def _labelled(calc_factory: Callable[..., Calculator], prefix: str) -> Callable[..., Calculator]:
    """``calc_factory`` with ``prefix`` before the label it is given, if it takes one."""
    if not _accepts_label(calc_factory):
        return calc_factory

    def factory(communicator=None, label: str = "image"):
        kwargs = {} if communicator is None else {"communicator": communicator}
        return calc_factory(label=f"{prefix}-{label}", **kwargs)

    return factory


def run_path(
    initial: Atoms,
    final: Atoms,
    calc_factory: Callable[..., Calculator],
    workdir: str | Path,
    relax: Callable[[Atoms, str], tuple[Atoms, dict]],
    max_intermediates: int = 2,
    **band,
) -> NEBResult:
    """CI-NEB of a hop (:func:`run_neb` with the ``band`` options) through the minima along it.

    A band stops as soon as a moving image lies below both its endpoints. Where an image is
    such a lower state, or a minimum between its neighbours (:func:`intermediate_minimum`),
    ``relax(image, name)`` relaxes it (``name``: ``intermediate1``, ...), returning the relaxed
    atoms carrying their energy and forces and a JSON-able record of the relaxation; the band
    is replaced by two bands through that intermediate, at most ``max_intermediates`` times.
    The bands lie in ``workdir/neb`` (the whole hop) and ``workdir/neb-<from>-<to>`` (named
    by their end states), so that a rerun resumes each. Returns one result over the whole path
    (:class:`NEBResult`, barriers from :func:`path_barriers`): ``cost`` and ``total_cost``
    count the bands, ``intermediates`` hold the records with the energy (eV, from the initial
    state), band index and ``hop_fraction`` (:func:`_hop_fraction`) of each intermediate.
    """
    if type(max_intermediates) is not int or max_intermediates < 0:
        raise InputError("max_intermediates", max_intermediates, "an integer >= 0")
    hop = validate_endpoints(initial, final)
    workdir = Path(workdir)
    names = ["initial", "final"]
    bands = [
        run_neb(initial, final, calc_factory, workdir / "neb", stop_below_endpoints=True, **band)
    ]
    intermediates: list[dict] = []
    while len(intermediates) < max_intermediates:
        k = next((k for k, b in enumerate(bands) if intermediate_minimum(b.energies)), None)
        if k is None:
            break
        name = f"intermediate{len(intermediates) + 1}"
        state, record = relax(bands[k].images[intermediate_minimum(bands[k].energies)], name)
        first, last, before, after = bands[k].images[0], bands[k].images[-1], *names[k : k + 2]
        if min(_largest_displacement(state, end) for end in (first, last)) < SAME_STATE:
            break  # relaxed back into an end of its band: no intermediate
        segment = {"hopper": hop.index, "stop_below_endpoints": True, **band}
        bands[k : k + 1] = [
            run_neb(a, b, _labelled(calc_factory, band_dir), workdir / band_dir, **segment)
            for a, b, band_dir in ((first, state, f"neb-{before}-{name}"),
                                   (state, last, f"neb-{name}-{after}"))
        ]  # fmt: skip
        names.insert(k + 1, name)
        fraction = _hop_fraction(state, initial, final, hop.index)
        intermediates.append({"name": name, "hop_fraction": fraction, **record})
    images = bands[0].images + [image for b in bands[1:] for image in b.images[1:]]
    energies = [float(a.get_potential_energy()) for a in images]
    minima = [0, *np.cumsum([len(b.images) - 1 for b in bands]).tolist()]
    for entry in intermediates:
        entry["index"] = minima[names.index(entry["name"])]
        entry["energy"] = energies[entry["index"]] - energies[0]
    forward, reverse, saddle = path_barriers(energies, minima)
    return NEBResult(
        forward_barrier=forward,
        reverse_barrier=reverse,
        reaction_energy=energies[-1] - energies[0],
        saddle_index=saddle,
        saddle_energy=energies[saddle],
        energies=energies,
        residual=max(b.residual for b in bands),
        converged=all(b.converged for b in bands),
        cost=functools.reduce(operator.add, (b.cost for b in bands)),
        total_cost=functools.reduce(operator.add, (b.total_cost for b in bands)),
        hop=hop,
        settings={**bands[0].settings, "max_intermediates": max_intermediates},
        unstable_endpoints=unstable_endpoints(energies),
        minima=minima,
        intermediates=intermediates,
        images=images,
    )


def unstable_endpoints(energies: list[float], tolerance: float = ENDPOINT_TOLERANCE) -> list[str]:
    """The endpoints of a band (energies in eV, endpoints included) that are no minimum along
    it: "initial" and/or "final" when the image next to it lies more than ``tolerance`` lower."""
    ends = (("initial", energies[0], energies[1]), ("final", energies[-1], energies[-2]))
    return [name for name, end, image in ends if image < end - tolerance]


def reconstruction(hop: dict) -> float | None:
    """The largest displacement (A) of an atom other than the hopping one between the relaxed
    endpoints of a stored hop (``NEBResult.hop``) where it exceeds ``RECONSTRUCTION``, else None.

    Beyond it the endpoints relaxed into different local structures (measured on 2x1 K-Br slabs:
    a Pb 1.4 A off its site in one endpoint only) and the band measures a reconstruction
    together with the hop, not the barrier of the hop alone.
    """
    moved = hop["max_other_displacement"]
    return moved if moved > RECONSTRUCTION else None


def plot_profile(result: NEBResult, path: str | Path) -> Path:
    """Energy profile of ``result`` with a cubic spline through energies and tangential forces.

    Energies relative to the initial state (eV) against the path length (A).
    """
    from ase.utils.forcecurve import fit_raw
    from matplotlib.figure import Figure

    images = result.images
    positions = [images[0].positions]  # unwrapped along the band (fit_raw's tangents are not mic)
    for a, b in zip(images[:-1], images[1:], strict=True):
        positions.append(positions[-1] + find_mic(b.positions - a.positions, a.cell, a.pbc)[0])
    fit = fit_raw(
        [a.get_potential_energy() for a in images], [a.get_forces() for a in images], positions
    )
    fig = Figure(figsize=(5.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(fit.fit_path, fit.fit_energies, "-", color="0.3", label="spline (E and F along path)")
    ax.plot(fit.path, fit.energies, "o", color="C0", label="images")
    ax.plot(
        fit.path[result.saddle_index],
        fit.energies[result.saddle_index],
        "*",
        ms=14,
        color="C3",
        label="saddle (climbing image)" if result.settings["climb"] else "highest image",
    )
    ax.set_xlabel("path length (Å)")
    ax.set_ylabel("E − E(initial) (eV)")
    ax.set_title(
        f"{result.hop.symbol} hop: E_f = {result.forward_barrier:.3f} eV, "
        f"E_r = {result.reverse_barrier:.3f} eV, ΔE = {result.reaction_energy:+.3f} eV",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    path = Path(path)
    fig.savefig(path, dpi=150)
    return path


def band_profile(images: list[Atoms]) -> tuple[list[float], list[float]]:
    """Path length (A, cumulative minimum-image distance of the whole configuration from the
    first image) and tangential force F . t (eV/A, t the unit tangent from initial towards
    final; dE/ds = -F . t) of every image, as ``ase.utils.forcecurve.fit_raw`` defines them."""
    positions = [images[0].positions]
    for a, b in zip(images[:-1], images[1:], strict=True):
        positions.append(positions[-1] + find_mic(b.positions - a.positions, a.cell, a.pbc)[0])
    steps = [
        float(np.linalg.norm(b - a)) for a, b in zip(positions[:-1], positions[1:], strict=True)
    ]
    path = [0.0, *np.cumsum(steps).tolist()]
    forces = []
    for i, image in enumerate(images):
        direction = positions[min(i + 1, len(images) - 1)] - positions[max(i - 1, 0)]
        direction = direction / np.linalg.norm(direction)
        forces.append(float(np.sum(image.get_forces(apply_constraint=False) * direction)))
    return path, forces


# ------------------------------------------------------------------ campaign task kind
def _layers_from_surface(host: Atoms, outer: int | None) -> np.ndarray | None:
    """Perovskite layer below the nearest surface of each atom of a slab (0 = outermost,
    -1 = KBr overlayer); None in bulk."""
    if outer is None or "layer" not in host.arrays:
        return None
    return outer - host.arrays["layer"]


def _fixed_atoms(atoms: Atoms) -> set[int]:
    from ase.constraints import FixAtoms

    return {int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.index}


def _listed(indices: list[int]) -> str:
    return ", ".join(map(str, indices[:20])) + (", ..." if len(indices) > 20 else "")


def choose_hop(
    host: Atoms,
    species: str,
    site: int | None = None,
    to: int | None = None,
    outer: int | None = None,
    where: str = "",
) -> tuple[int, int]:
    """The vacancy site and the neighbouring halide that hops into it (host atom indices).

    ``site`` defaults to the first symmetry-distinct ``species`` site
    (:func:`perovcalc.vacancy.distinct_halide_sites`); for a slab (``outer`` = the layer number
    of its outermost perovskite layer) the distinct site nearest the surface in the outer
    perovskite layer or below (never in a KBr overlayer). ``to`` defaults to the nearest
    ``species`` neighbour along an octahedron edge (:func:`perovcalc.vacancy.neighbour_hops`);
    for a slab the nearest one in the same layer as ``site`` or in the layer just below it
    (the vacancy stays near the surface instead of moving out into an overlayer), else the
    nearest of all. Atoms fixed by a ``FixAtoms`` constraint cannot hop. Bad choices raise
    InputError naming the option and the allowed indices.
    """
    from perovcalc.vacancy import distinct_halide_sites, neighbour_hops

    symbols = host.get_chemical_symbols()
    same = [i for i, s in enumerate(symbols) if s == species]
    if not same:
        present = sorted({s for s in symbols if s in HALOGENS})
        raise InputError("options.species", species, present, where)
    depth = _layers_from_surface(host, outer)
    if site is None:
        sites = [s for s in distinct_halide_sites(host) if s.species == species]
        if depth is not None:
            sites = [s for s in sites if depth[s.index] >= 0] or sites
            sites.sort(key=lambda s: depth[s.index])
        site = sites[0].index
    elif isinstance(site, bool) or site not in same:
        allowed = f"the index of a {species} atom: {_listed(same)}"
        raise InputError("options.site", site, allowed, where)
    fixed = _fixed_atoms(host)
    hops = [j for j in neighbour_hops(host, site) if symbols[j] == species and j not in fixed]
    if not hops:
        raise InputError(
            "options.site", site, f"a {species} site with a free {species} neighbour to hop", where
        )
    if to is None:
        if depth is not None:
            near = [j for j in hops if depth[j] in (depth[site], depth[site] + 1)]
            hops = near or hops
        return site, hops[0]
    if isinstance(to, bool) or to not in hops:
        raise InputError(
            "options.to",
            to,
            f"a free {species} atom sharing an octahedron edge with site {site}: {hops}",
            where,
        )
    return site, to


def _symmetry_operations(host: Atoms, source: int, target: int, tolerance: float = 0.01):
    """The space-group operations of ``host`` that take atom ``source`` onto atom ``target``:
    (Cartesian matrix M acting on row vectors, u' = u @ M; permutation p, atom i -> p[i]).
    ``tolerance`` in A."""
    import spglib

    cell = np.array(host.cell)
    frac = host.get_scaled_positions(wrap=False)
    ops = spglib.get_symmetry((cell, frac, host.numbers), symprec=tolerance)
    if ops is None:
        return

    def distances(delta: np.ndarray) -> np.ndarray:
        return np.linalg.norm((delta - np.round(delta)) @ cell, axis=-1)

    for rotation, translation in zip(ops["rotations"], ops["translations"], strict=True):
        mapped = frac @ rotation.T + translation
        if distances(mapped[source] - frac[target]) > tolerance:
            continue
        gaps = distances(mapped[:, None, :] - frac[None, :, :])
        gaps[host.numbers[:, None] != host.numbers[None, :]] = np.inf
        permutation = gaps.argmin(axis=1)
        if gaps.min(axis=1).max() < tolerance and len(set(permutation)) == len(host):
            yield np.linalg.inv(cell) @ rotation.T @ cell, permutation


def _displacements(host: Atoms, vacancy: int, positions) -> np.ndarray:
    """Displacement (A) of every host atom from its host position in a cell without atom
    ``vacancy`` (``positions``: host order without it; its own row is zero)."""
    field = np.zeros((len(host), 3))
    others = np.arange(len(host)) != vacancy
    moved = np.asarray(positions, dtype=float) - host.positions[others]
    field[others] = find_mic(moved, host.cell, host.pbc)[0]
    return field


def vacancy_displacements(
    host: Atoms, source: int, positions, target: int, reference: np.ndarray | None = None
) -> np.ndarray | None:
    """Relaxation of ``host`` around a vacancy at ``target``, from a relaxed vacancy at
    ``source`` (``positions``: host without atom ``source``, host order, A).

    Returns the displacement (A) of every host atom from its host position (the row of
    ``target`` is zero), carried over by a space-group operation of the host that takes
    ``source`` to ``target`` (the identity if they are equal); None if no operation does.
    Given ``reference`` displacements (A, every host atom), the operation whose result is
    closest to them (largest deviation, atoms ``source`` and ``target`` aside) is taken, else
    the first: a symmetric vacancy gives the same result for all, a distorted one several.
    """
    others = np.delete(np.arange(len(host)), source)
    moved = _displacements(host, source, positions)[others]
    compared = np.ones(len(host), dtype=bool)
    compared[[source, target]] = False
    best = None
    for matrix, permutation in _symmetry_operations(host, source, target):
        result = np.zeros((len(host), 3))
        result[permutation[others]] = moved @ matrix
        if reference is None:
            return result
        gap = np.linalg.norm(result[compared] - reference[compared], axis=1).max(initial=0.0)
        if best is None or gap < best[0]:
            best = (gap, result)
    return None if best is None else best[1]


def _same_params(a: dict, b: dict) -> bool:
    def plain(value):
        return value.tolist() if isinstance(value, np.ndarray | np.generic) else str(value)

    return json.dumps(a, sort_keys=True, default=plain) == json.dumps(
        b, sort_keys=True, default=plain
    )


def _vacancy_sources(ctx, host_row, species: str) -> list[tuple[str, dict]]:
    """Neutral ``species`` vacancies of the ``vacancy_formation`` tasks ``ctx`` depends on:
    (task name, entry). They must share the host and the GPAW parameters of ``ctx``."""
    from perovcalc.campaign import TASK_REF

    found = []
    for name, row in sorted(ctx.dependencies.items()):
        if row.get("kind") != "vacancy_formation":
            continue
        if row.data["recipe"]["structure"] != TASK_REF + host_row.task_id:
            raise PerovcalcError(
                f"task {ctx.name}: vacancy task {name} has another host than this task's "
                f"{host_row.task}; relaxed vacancies can only be reused on the same host"
            )
        if not _same_params(row.data["params"], ctx.params):
            raise PerovcalcError(
                f"task {ctx.name}: vacancy task {name} used other GPAW parameters "
                f"({row.data['params']} vs {ctx.params}); give both tasks the same params"
            )
        entries = row.data["result"]["entries"]
        found += [(name, e) for e in entries if e["charge"] == 0 and e["species"] == species]
    return found


def _reused_relaxation(
    host: Atoms, vacancy: int, sources, reference: np.ndarray | None = None
) -> tuple[np.ndarray, dict] | None:
    """Displacements around a vacancy at ``vacancy`` from the first source that maps onto it
    (the mapping closest to ``reference``: see :func:`vacancy_displacements`)."""
    for name, entry in sorted(sources, key=lambda s: s[1]["site"] != vacancy):
        site = int(entry["site"])
        moved = vacancy_displacements(host, site, entry["positions"], vacancy, reference)
        if moved is not None:
            info = {
                "task": name,
                "site": site,
                "mapping": "identity" if entry["site"] == vacancy else "space-group operation",
                "converged": bool(entry["converged"]),
                "max_force": float(entry["max_force"]),
            }
            return moved, info
    return None


def _endpoint(ctx, name: str, start: Atoms, params: dict, reused, fmax: float, seed: int) -> dict:
    """Relaxed endpoint or intermediate ``name``: positions (A), source and cost, and where it
    was relaxed here its energy (eV) and forces (eV/A), checkpointed in
    ``<workdir>/endpoints.json`` and ``<workdir>/<name>/``. A fresh relaxation starts rattled
    (``rattle`` option, ``seed``: the vacancy's host index, or the intermediate's number)."""
    from perovcalc.calculate import relax_positions

    checkpoint = ctx.workdir / "endpoints.json"
    done = json.loads(checkpoint.read_text()) if checkpoint.is_file() else {}
    if name in done:
        return done[name]
    record: dict = {"source": "relaxed", "reused_from": None}
    atoms = start.copy()
    if reused is not None:
        moved, info = reused
        atoms.set_positions(atoms.positions + moved, apply_constraint=False)
        relaxed_enough = info["max_force"] <= fmax
        source = "reused" if relaxed_enough else "reused, relaxed further"
        record = {"source": source, "reused_from": info}
    if record["source"] == "reused":
        record.update(evaluations=0, converged=True, max_force=record["reused_from"]["max_force"])
    else:
        if record["source"] == "relaxed" and ctx.options["rattle"]:
            atoms.rattle(ctx.options["rattle"], seed=seed)
            record["rattle"] = ctx.options["rattle"]
        relaxed = relax_positions(
            atoms, params, ctx.workdir / name, fmax, ctx.options["endpoint_steps"]
        )
        atoms = relaxed.atoms
        record.update(
            evaluations=relaxed.data["evaluations"],
            converged=relaxed.data["converged"],
            max_force=relaxed.data["max_force"],
            energy=atoms.get_potential_energy(),
            forces=atoms.get_forces(apply_constraint=False).tolist(),
        )
    record["positions"] = atoms.positions.tolist()
    done[name] = record
    write_checkpoint(checkpoint, done)
    return record


def intermediate_relaxer(ctx, params: dict, fmax: float) -> Callable[[Atoms, str], tuple]:
    """``relax(image, name)`` for :func:`run_path` in task ``ctx``: the image relaxed like an
    endpoint (:func:`_endpoint`; GPAW ``params``, ``fmax`` eV/A, rattled with the number of
    the intermediate as seed), carrying its energy and forces, and the record of it."""

    def relax(image: Atoms, name: str) -> tuple[Atoms, dict]:
        number = int(name.removeprefix("intermediate"))
        record = _endpoint(ctx, name, image, params, None, fmax, number)
        state = image.copy()
        state.set_positions(record["positions"], apply_constraint=False)
        return _frozen(state, record["energy"], record["forces"]), _summary(record)

    return relax


def _summary(record: dict) -> dict:
    """An endpoint or intermediate record without its positions and forces."""
    return {key: value for key, value in record.items() if key not in ("positions", "forces")}


def _gpaw_factory(params: dict, logdir: Path) -> Callable[..., Calculator]:
    """GPAW calculators with ``params`` for the band, one log per endpoint or image in
    ``logdir`` (``gpaw-initial.txt``, ``gpaw-image1.txt``, ...)."""
    from perovcalc.calculate import make_calculator

    def factory(communicator=None, label: str = "image"):
        return make_calculator(params, logdir / f"gpaw-{label}.txt", communicator)

    return factory


def migration_barrier_task(ctx) -> CalcResult:
    """Vacancy-mediated halide hop by CI-NEB on a relaxed ``defect_host`` (the task's structure).

    A neutral vacancy at ``site`` and a neighbouring halide ``to`` that hops into it (see
    :func:`choose_hop`); both endpoints are relaxed (BFGS, ``fmax``) with the host's GPAW
    parameters, spin-polarised when the electron count is odd, unless a ``vacancy_formation``
    task in ``needs`` holds the same vacancy relaxed or one a space-group operation of the host
    takes onto it: then its positions are used (and relaxed further if they were relaxed
    less tightly than ``fmax``). Failing that, a final vacancy equivalent to the initial one is
    the relaxed initial one carried over by the symmetry operation (a symmetric hop stays
    symmetric, rattled or not). The band is then :func:`run_path` on ``<workdir>``: a state
    below both endpoints or a minimum along the band is relaxed like an endpoint
    (``<workdir>/intermediate1``, ...) and the hop split there, up to ``intermediates`` times.
    Energies in eV, lengths in A; the stored structure is the saddle image.
    """
    from perovcalc.calculate import CalcResult
    from perovcalc.formation import defect_host, defect_parameters, rattle_option, vacancy_moments
    from perovcalc.presets import system_kind
    from perovcalc.vacancy import hop_endpoints

    options = ctx.options
    where = f"task {ctx.name}"
    _check_options(
        options["n_images"], options["fmax"], "idpp", options["optimizer"], options["max_steps"]
    )
    if options["endpoint_steps"] < 0:
        raise InputError("options.endpoint_steps", options["endpoint_steps"], "an integer >= 0")
    rattle_option(ctx, options["endpoint_steps"], "endpoint_steps")
    host_row, host, outer = defect_host(ctx)
    host_data = host_row.data["result"]
    slab = host_data.get("slab")
    environment = system_kind(host)
    species = options["species"]
    site, to = choose_hop(host, species, options["site"], options["to"], outer, where)
    sources = _vacancy_sources(ctx, host_row, species)

    initial, final = hop_endpoints(host, site, to)
    params = defect_parameters(ctx.params, initial, 0)
    if params.get("spinpol"):
        vacancy_moments(host, initial, site, site)
        vacancy_moments(host, final, to, site)
    fmax = options["fmax"]
    reused_initial = _reused_relaxation(host, site, sources)
    if reused_initial is not None:
        reused_initial = (np.delete(reused_initial[0], site, axis=0), reused_initial[1])
    endpoints = {"initial": _endpoint(ctx, "initial", initial, params, reused_initial, fmax, site)}
    initial.set_positions(endpoints["initial"]["positions"], apply_constraint=False)
    # the final vacancy from a vacancy task, else from the initial one where a symmetry maps
    # it; of several mappings the one that moves the other atoms least from the initial state
    own = {"site": site, **endpoints["initial"]}
    start = _displacements(host, site, initial.positions)
    reused_final = _reused_relaxation(host, to, sources, start) or _reused_relaxation(
        host, to, [("initial endpoint", own)], start
    )
    if reused_final is not None:  # the atom at ``site`` of the vacancy-at-``to`` cell is ``to``
        moved = reused_final[0].copy()
        moved[to] = moved[site]
        reused_final = (np.delete(moved, site, axis=0), reused_final[1])
    endpoints["final"] = _endpoint(ctx, "final", final, params, reused_final, fmax, to)
    final.set_positions(endpoints["final"]["positions"], apply_constraint=False)
    validate_endpoints(initial, final)

    # images have less symmetry than the endpoints: no point group unless params set one
    band_params = {"symmetry": {"point_group": False}, **params}
    result = run_path(
        initial,
        final,
        _gpaw_factory(band_params, ctx.workdir / "neb"),
        ctx.workdir,
        intermediate_relaxer(ctx, band_params, fmax),
        options["intermediates"],
        n_images=options["n_images"],
        fmax=fmax,
        climb=options["climb"],
        optimizer=options["optimizer"],
        max_steps=options["max_steps"],
    )
    path, tangential = band_profile(result.images)
    depth = _layers_from_surface(host, outer)
    data = result.as_dict()
    data["settings"].update(
        endpoint_fmax=fmax,
        endpoint_steps=options["endpoint_steps"],
        symmetry=band_params["symmetry"],
        spinpol=bool(params.get("spinpol", False)),
        preset=ctx.preset,
    )
    data.update(
        environment=environment,
        slab=slab,
        kbr_passivated=bool(slab) and str(slab.get("passivation")).startswith("KBr"),
        species=species,
        site=site,
        to=to,
        layer_from_surface=None
        if depth is None
        else {"site": int(depth[site]), "to": int(depth[to])},
        endpoints={k: _summary(e) for k, e in endpoints.items()},
        endpoint_evaluations=sum(e["evaluations"] for e in endpoints.values()),
        intermediate_evaluations=sum(e["evaluations"] for e in result.intermediates),
        path=path,
        tangential_forces=tangential,
        host={
            "task": host_row.task,
            "energy": host_row.energy,
            "formula": host_data.get("formula"),
            "rattle": host_data.get("rattle", 0.0),
        },
    )
    saddle = result.images[result.saddle_index]
    return CalcResult(saddle, ctx.params, data)
