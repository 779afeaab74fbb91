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
on all ranks. Launch with ``mpiexec -n N gpaw python script.py`` (or set
``GPAW_MPI_BACKEND=cgpaw``), so that ``ase.parallel.world`` is the MPI world; a run under MPI
whose ``ase.parallel.world`` has a single rank is refused.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic
from ase.mep import NEB
from ase.mep.neb import NEBOptimizer

from perovcalc.errors import InputError, PerovcalcError

HALOGENS = ("F", "Cl", "Br", "I")
HOP_DISTANCE = (3.0, 5.3)  # Angstrom: the X-X octahedron edge a/sqrt(2) is 4.1-4.5 A in CsPbX3
MAX_OTHER_DISPLACEMENT = 1.0  # Angstrom: relaxation of the other atoms between the endpoints
OPTIMIZERS = ("ode", "FIRE", "BFGS", "LBFGS", "MDMin")
INTERPOLATIONS = ("idpp", "linear")
DEFAULT_OPTIMIZER = "ode"
SPRING_CONSTANT = 0.1  # eV/Angstrom^2
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
    are measured from the saddle (highest) image. ``cost`` is this call, ``total_cost`` all
    calls on the same work directory.
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
    images: list[Atoms] = field(repr=False)

    def as_dict(self) -> dict:
        """JSON-compatible summary (without the images)."""
        data = asdict(self)
        del data["images"]
        return data


def validate_endpoints(initial: Atoms, final: Atoms) -> Hop:
    """Check that ``initial`` -> ``final`` is a single-halide hop; raise PerovcalcError if not.

    Both must have the same cell, boundary conditions and atoms in the same order; exactly one
    halogen atom moves by an octahedron-edge distance (``HOP_DISTANCE``, A, minimum image) and
    no other atom moves more than ``MAX_OTHER_DISPLACEMENT`` A.
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
    index = int(order[0])
    other = float(lengths[order[1]]) if len(order) > 1 else 0.0
    movers = [int(k) for k in order if lengths[k] > MAX_OTHER_DISPLACEMENT]
    if len(movers) > 1:
        listed = ", ".join(f"{k} ({symbols_i[k]}, {lengths[k]:.2f} A)" for k in movers[:6])
        raise PerovcalcError(
            f"not a single-atom hop: {len(movers)} atoms move more than "
            f"{MAX_OTHER_DISPLACEMENT} A between the endpoints: {listed}; {hint}"
        )
    low, high = HOP_DISTANCE
    if not low <= lengths[index] <= high:
        raise PerovcalcError(
            f"no hop along an octahedron edge: the largest displacement is {lengths[index]:.2f} A "
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


def _write_json(path: Path, data: dict, world) -> None:
    if world.rank == 0:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)


def _read_frames(path: Path) -> list[Atoms]:
    from ase.io import read

    return list(read(path, index=":")) if path.is_file() and path.stat().st_size else []


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

    def calculator(self, calc_factory: Callable[..., Calculator]) -> CountingCalculator:
        calc = calc_factory() if self.comm is None else calc_factory(communicator=self.comm)
        return CountingCalculator(calc, self.primary)


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
    """Endpoints with energy and forces, from ``path`` where saved; and the evaluations spent.

    Image-parallel runs compute the initial state on the ranks of the first image and the final
    state on those of the last image, at the same time.
    """
    saved = _read_frames(path)
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
        group = 0 if k == 0 else n_images - 1
        data = np.zeros(1 + 3 * len(atoms))
        counted = 0
        if layout.comm is None or group + 1 in layout.images:
            image = atoms.copy()
            image.calc = counter = layout.calculator(calc_factory)
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


def _saved_band(path: Path, n_total: int) -> list[Atoms] | None:
    frames = _read_frames(path)
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
        images[i].calc = counter = layout.calculator(calc_factory)
        if saved is not None:
            counter.seed(images[i], saved[i].get_potential_energy(), saved[i].get_forces())
        counters.append(counter)
    return counters


def _max_force(forces: np.ndarray) -> float:
    """Largest atomic force (eV/A) in an array of NEB forces."""
    return float(np.linalg.norm(np.reshape(forces, (-1, 3)), axis=1).max())


class _ODE(NEBOptimizer):
    """ASE's ODE12r band optimizer, converged on all moving images.

    ``ase.mep.NEB.get_residual`` (which ``NEBOptimizer`` uses) leaves out the climbing image,
    so the saddle would not be converged; here the residual is the largest NEB force.
    """

    _residual = np.inf

    def get_residual(self, F=None, X=None):
        if F is not None:
            self._residual = _max_force(F)
        return self._residual


def _make_optimizer(name: str, neb: NEB, workdir: Path, resumed_with: str | None, world):
    log = workdir / LOG_FILE
    if name == "ode":
        return _ODE(neb, method="ode", logfile=str(log))
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
) -> NEBResult:
    """CI-NEB between relaxed endpoints ``initial`` and ``final`` (a single-halide hop).

    ``n_images`` moving images are placed by ``interpolation`` (IDPP or linear, minimum image)
    and relaxed with ``optimizer`` until the NEB force is below ``fmax`` eV/A or ``max_steps``
    steps were taken in this call. ``calc_factory()`` returns a new calculator per image; for
    image-parallel MPI runs it is called as ``calc_factory(communicator=comm)``. Rerunning with
    the same ``workdir`` continues the band saved there (see the module docstring).
    """
    hop = validate_endpoints(initial, final)
    _check_options(n_images, fmax, interpolation, optimizer, max_steps)
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

    def save_state(this_run: NEBCost) -> None:
        data = {
            "n_images": n_images,
            "optimizer": optimizer,
            "settings": settings,
            "hop": asdict(hop),
            "total_cost": asdict(total_before + this_run),
        }
        _write_json(state_path, data, world)

    neb.get_forces()  # the starting band; free when it comes from band.traj
    checkpoint(write_band=saved is None)
    opt.attach(checkpoint)
    # NEBOptimizer answers True also when it ran out of steps: check the force as well
    converged = bool(opt.run(fmax=fmax, steps=max_steps)) and snapshot["residual"] <= fmax

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
        images=band,
    )
    save_state(this_run)
    _write_json(workdir / RESULT_FILE, result.as_dict(), world)
    world.barrier()
    return result


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
