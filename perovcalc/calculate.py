"""Calculation primitives: single point, position relaxation, cubic lattice constant.

Each takes an ``ase.Atoms``, a GPAW parameter dict (see :mod:`perovcalc.presets`) and a work
directory that holds the checkpoint: a rerun with the same directory continues where an
interrupted run stopped. An SCF that does not converge is retried once with safer mixing and
wider smearing; if that fails too, :class:`SCFFailure` says why.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from perovcalc.errors import PerovcalcError

GPAW_LOG = "gpaw.txt"


class SCFFailure(PerovcalcError):
    """The SCF did not converge, even with the safer retry settings."""


@dataclass
class CalcResult:
    """Final structure (with energy/forces/stress attached), settings and extra results."""

    atoms: Atoms
    params: dict
    data: dict = field(default_factory=dict)

    @property
    def energy(self) -> float:
        """Total energy, eV."""
        return float(self.atoms.get_potential_energy())


def read_checkpoint(path: Path, empty: type = dict):
    """The JSON data :func:`write_checkpoint` left in ``path``; ``empty()`` if there is none."""
    return json.loads(path.read_text()) if path.is_file() else empty()


def write_checkpoint(path: Path, data, indent: int | None = 1) -> None:
    """Atomically replace ``path`` with ``data`` as JSON (on MPI rank 0 only; ``indent`` None:
    one line, for bulk numbers); processes that share a directory each write their own
    temporary file."""
    from ase.parallel import world

    if world.rank == 0:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=indent))
        tmp.replace(path)
    world.barrier()


def safer_parameters(params: dict) -> dict:
    """Retry settings: gentle density mixing, wider smearing (>= 0.1 eV), more iterations."""
    safer = copy.deepcopy(params)
    safer["mixer"] = {"beta": 0.02, "nmaxold": 8, "weight": 100.0}
    occ = dict(safer.get("occupations") or {"name": "fermi-dirac", "width": 0.05})
    occ["width"] = max(0.1, 2 * float(occ.get("width", 0.05)))
    safer["occupations"] = occ
    safer["maxiter"] = 2 * int(safer.get("maxiter", 300))
    return safer


def make_calculator(params: dict, txt: str | Path = "-", communicator=None):
    """A GPAW calculator from a parameter dict."""
    from gpaw import GPAW

    kwargs = copy.deepcopy(params)
    if communicator is not None:
        kwargs["communicator"] = communicator
    return GPAW(txt=str(txt), **kwargs)


def _freeze(atoms: Atoms, properties: tuple[str, ...]) -> Atoms:
    """Copy of ``atoms`` holding the calculated properties in a SinglePointCalculator."""
    results = {p: atoms.calc.get_property(p, atoms) for p in properties}
    frozen = atoms.copy()
    frozen.calc = SinglePointCalculator(frozen, **results)
    return frozen


class _Retrying:
    """Runs ``compute(atoms)`` with a GPAW calculator, retrying once with safer settings."""

    def __init__(self, params: dict, workdir: Path):
        self.attempts: list[dict] = []
        self.candidates = [params, safer_parameters(params)]
        self.workdir = workdir

    def __call__(self, atoms: Atoms, compute: Callable[[Atoms], object]):
        from gpaw import KohnShamConvergenceError

        while self.candidates:
            params = self.candidates[0]
            if atoms.calc is None or getattr(atoms.calc, "_perovcalc_params", None) is not params:
                atoms.calc = make_calculator(params, self.workdir / GPAW_LOG)
                atoms.calc._perovcalc_params = params
            try:
                return compute(atoms)
            except KohnShamConvergenceError:
                self.attempts.append({"params": params, "error": "SCF not converged"})
                self.candidates.pop(0)
                atoms.calc = None
        maxiters = [a["params"].get("maxiter") for a in self.attempts]
        raise SCFFailure(
            f"SCF did not converge in {len(self.attempts)} attempts (maxiter {maxiters}; "
            "the retry used mixer beta 0.02 and wider smearing)"
        )

    @property
    def params(self) -> dict:
        return self.candidates[0]


def single_point(
    atoms: Atoms,
    params: dict,
    workdir: str | Path,
    properties: tuple[str, ...] = ("energy", "forces"),
) -> CalcResult:
    """Energy (eV) and ``properties`` (forces eV/A, stress eV/A^3) of ``atoms`` as they are."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    atoms = atoms.copy()
    run = _Retrying(params, workdir)
    run(atoms, lambda a: [a.calc.get_property(p, a) for p in properties])
    return CalcResult(
        _freeze(atoms, properties), run.params, {"scf_attempts": len(run.attempts) + 1}
    )


def _moves(frames: list[Atoms]) -> int:
    """Optimizer steps in a trajectory: frames whose positions differ from the frame before
    (a restarted relaxation evaluates its last positions once more)."""
    positions = np.array([f.positions for f in frames])
    return int(np.any(np.abs(np.diff(positions, axis=0)) > 1e-10, axis=(1, 2)).sum())


def read_frames(path: Path) -> list[Atoms]:
    """The frames of an ASE trajectory checkpoint; none if it is missing or has none yet.

    A file cut short (a kill while it was appended to) gives the frames before the cut; when
    not one frame can be read, PerovcalcError names the file and what to do."""
    from ase.io.trajectory import Trajectory

    if not path.is_file() or not path.stat().st_size:
        return []
    frames: list[Atoms] = []
    try:
        traj = Trajectory(path)
        try:
            frames.extend(traj[i] for i in range(len(traj)))
        finally:
            traj.close()
    except Exception as err:  # ULM/JSON decoding of a cut file: ValueError, KeyError, ...
        if not frames:
            raise PerovcalcError(
                f"checkpoint {path} is damaged and holds no readable frame ({type(err).__name__}"
                f"); move it away (with the relax.bfgs.json next to it, if any) and run again to "
                "start that calculation from its input structure"
            ) from None
    return frames


def write_frames(path: Path, frames: list[Atoms], append: bool = False) -> None:
    """Write ``frames`` to the trajectory ``path`` (on MPI rank 0): atomically replace it, so
    that a kill leaves the previous or the new file, never a cut one; with ``append`` add them
    at its end instead (a kill may cut the last frame: :func:`read_frames` reads up to it)."""
    from ase.io.trajectory import Trajectory
    from ase.parallel import world

    target = path if append else path.with_name(path.name + ".tmp")
    with Trajectory(target, "a" if append else "w") as traj:
        for frame in frames:
            traj.write(frame)
    if world.rank == 0 and not append:
        target.replace(path)
    world.barrier()


def relax_positions(
    atoms: Atoms,
    params: dict,
    workdir: str | Path,
    fmax: float = 0.05,
    steps: int = 200,
    analyse: Callable[[Atoms], dict] | None = None,
) -> CalcResult:
    """Relax atomic positions (cell fixed, constraints kept) to ``fmax`` eV/A with at most
    ``steps`` BFGS steps; the data hold the energy before the first step (``initial_energy``,
    eV), the BFGS ``steps`` taken and the DFT ``evaluations`` (one more than the steps, plus one
    for each restart) next to the result.

    Checkpoint: ``relax.traj`` (every evaluation, rewritten atomically) and ``relax.bfgs.json``
    (Hessian) in ``workdir``.
    ``analyse(atoms)``, if given, is called with the final atoms and their live GPAW calculator
    (eigenvalues, potentials); the dict it returns is added to the result data.
    """
    from ase.optimize import BFGS

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    traj_path, hessian = workdir / "relax.traj", workdir / "relax.bfgs.json"
    atoms = atoms.copy()
    done_steps = 0
    frames = read_frames(traj_path)  # none when stopped before the first evaluation finished
    if frames:
        atoms.positions = frames[-1].positions
        done_steps = _moves(frames)
    run = _Retrying(params, workdir)

    def record(a: Atoms) -> None:
        frames.append(_freeze(a, ("energy", "forces")))
        write_frames(traj_path, frames)

    def optimise(a: Atoms) -> bool:
        opt = BFGS(a, restart=str(hessian), logfile=str(workdir / "relax.log"))
        opt.attach(record, 1, a)
        return opt.run(fmax=fmax, steps=max(0, steps - done_steps))

    converged = run(atoms, optimise)
    data = {
        "converged": bool(converged),
        "fmax": fmax,
        "steps": _moves(frames),
        "evaluations": len(frames),
        "initial_energy": frames[0].get_potential_energy(),
        "max_force": float(np.linalg.norm(atoms.get_forces(), axis=1).max()),
        "scf_attempts": len(run.attempts) + 1,
    }
    if analyse is not None:
        data.update(analyse(atoms))
    return CalcResult(_freeze(atoms, ("energy", "forces")), run.params, data)


def relax_lattice(
    atoms: Atoms,
    params: dict,
    workdir: str | Path,
    strain: float = 0.03,
    points: int = 5,
) -> CalcResult:
    """Cubic lattice constant from a Birch-Murnaghan fit of E(V), internal coordinates fixed.

    The cell is scaled isotropically by 1 - ``strain`` ... 1 + ``strain`` (linear strain) at
    ``points`` points. Each point is checkpointed in ``eos.json``. Reports ``lattice_constant``
    (pseudo-cubic: (V0 / number of Pb)^(1/3) when Pb is present, else V0^(1/3)) in Angstrom,
    ``bulk_modulus`` in GPa and the E(V) points. The returned structure is the cell at V0.
    """
    from ase.eos import EquationOfState
    from ase.units import GPa

    if points < 4:
        raise PerovcalcError(f"relax_lattice needs at least 4 points for the fit, got {points}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = workdir / "eos.json"
    done = read_checkpoint(checkpoint, list)
    run = _Retrying(params, workdir)
    scales = np.linspace(1 - strain, 1 + strain, points)
    for scale in scales[len(done) :]:
        strained = atoms.copy()
        strained.set_cell(atoms.cell * scale, scale_atoms=True)
        energy = run(strained, lambda a: a.get_potential_energy())
        done.append({"scale": float(scale), "volume": strained.get_volume(), "energy": energy})
        write_checkpoint(checkpoint, done)
    volumes = [p["volume"] for p in done]
    energies = [p["energy"] for p in done]
    v0, e0, bulk = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    if not min(volumes) < v0 < max(volumes):
        raise PerovcalcError(
            f"E(V) minimum at V0 = {v0:.2f} A^3 lies outside the sampled range "
            f"[{min(volumes):.2f}, {max(volumes):.2f}]; start nearer the minimum or raise strain"
        )
    n_b = atoms.get_chemical_symbols().count("Pb") or 1
    relaxed = atoms.copy()
    relaxed.set_cell(atoms.cell * (v0 / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
    relaxed.calc = SinglePointCalculator(relaxed, energy=float(e0))
    data = {
        "lattice_constant": float((v0 / n_b) ** (1 / 3)),
        "volume": float(v0),
        "bulk_modulus": float(bulk / GPa),
        "eos": "birchmurnaghan",
        "points": done,
        "scf_attempts": len(run.attempts) + 1,
    }
    return CalcResult(relaxed, run.params, data)
