"""Minimum-energy paths of halide hops: what every band method shares.

The records of a band (:class:`Hop`, :class:`NEBCost`, :class:`NEBResult`), the check that two
endpoints form a single-halide hop, the verdicts on a band's energies (an image below both
endpoints, an endpoint that is no minimum) and small helpers on calculators and frames. The
band methods are :mod:`perovcalc.neb` (a band of real images) and :mod:`perovcalc.surrogate`
(a band on a Gaussian-process surrogate); both import this module, neither imports the other's
internals.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic

from perovcalc.errors import InputError, PerovcalcError
from perovcalc.vacancy import HALOGENS

ML_PRIORS = ("chgnet", "sevennet")  # universal ML potentials a surrogate may take as prior mean
# what a surrogate band's whole-band DFT check asks (gaussian_process.SurrogateOptions)
BAND_CHECKS = ("energy", "forces")

HOP_DISTANCE = (3.0, 5.3)  # Angstrom: the X-X octahedron edge a/sqrt(2) is 4.1-4.5 A in CsPbX3
MAX_OTHER_DISPLACEMENT = 1.5  # A: relaxation differences; a misordered atom moves >= 3.5 A
INTERPOLATIONS = ("idpp", "linear")
SPRING_CONSTANT = 0.1  # eV/Angstrom^2
ENDPOINT_TOLERANCE = 0.01  # eV: an image this far below its neighbouring endpoint: no minimum


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
    the barrier from it means nothing. ``residual`` is the largest NEB force the convergence
    test read: of every image (a band of DFT images, or a surrogate band's force check) or of the
    climbing image alone (a surrogate band's energy check). ``cost`` is this call,
    ``total_cost`` all calls on the same work directory.

    A path through relaxed intermediate minima (:func:`perovcalc.path.run_path`) is one result
    over all its bands: ``minima`` are the image indices of the relaxed states (the endpoints
    and each intermediate), ``intermediates`` describe the intermediates, and the barriers are
    those of :func:`perovcalc.path.path_barriers`. A single band has
    ``minima == [0, len(energies) - 1]``.
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

    @classmethod
    def from_dict(cls, data: dict) -> NEBResult:
        """The result :meth:`as_dict` stored (no images). Results of earlier versions: a band
        without ``total_cost`` cost what it cost this run; without ``minima``, ``intermediates``
        or ``unstable_endpoints`` it is one band, judged here."""
        energies = [float(e) for e in data["energies"]]
        return cls(
            forward_barrier=data["forward_barrier"],
            reverse_barrier=data["reverse_barrier"],
            reaction_energy=data["reaction_energy"],
            saddle_index=data["saddle_index"],
            saddle_energy=data["saddle_energy"],
            energies=energies,
            residual=data["residual"],
            converged=data["converged"],
            cost=NEBCost(**data["cost"]),
            total_cost=NEBCost(**(data.get("total_cost") or data["cost"])),
            hop=Hop(**data["hop"]),
            settings=data["settings"],
            unstable_endpoints=data.get("unstable_endpoints", unstable_endpoints(energies)),
            minima=data.get("minima", [0, len(energies) - 1]),
            intermediates=data.get("intermediates", []),
            images=[],
        )


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


def frozen_copy(atoms: Atoms, energy: float, forces: np.ndarray) -> Atoms:
    """Copy of ``atoms`` carrying ``energy`` (eV) and unconstrained ``forces`` (eV/A)."""
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(copy, energy=float(energy), forces=np.array(forces))
    return copy


def carried_results(atoms: Atoms) -> tuple[float, np.ndarray] | None:
    """Energy (eV) and unconstrained forces (eV/A) that ``atoms`` carry from a calculation on
    exactly these positions (an endpoint taken from another band or relaxation), else None."""
    calc = atoms.calc
    if calc is None or not {"energy", "forces"} <= set(calc.results) or calc.check_state(atoms):
        return None
    return float(calc.results["energy"]), np.array(calc.results["forces"])


def accepts_label(factory: Callable) -> bool:
    try:
        return "label" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def max_force(forces: np.ndarray) -> float:
    """Largest atomic force (eV/A) in an array of NEB forces."""
    return float(np.linalg.norm(np.reshape(forces, (-1, 3)), axis=1).max())


def below_endpoints(energies: list[float], tolerance: float = ENDPOINT_TOLERANCE) -> bool:
    """Whether a moving image of a band (energies in eV, endpoints included) lies more than
    ``tolerance`` below both endpoints: then a state lower than either lies along the hop,
    converged band or not, and the barrier between the endpoints means nothing."""
    return min(energies[1:-1]) < min(energies[0], energies[-1]) - tolerance


def unstable_endpoints(energies: list[float], tolerance: float = ENDPOINT_TOLERANCE) -> list[str]:
    """The endpoints of a band (energies in eV, endpoints included) that are no minimum along
    it: "initial" and/or "final" when the image next to it lies more than ``tolerance`` lower."""
    ends = (("initial", energies[0], energies[1]), ("final", energies[-1], energies[-2]))
    return [name for name, end, image in ends if image < end - tolerance]


def check_band_options(n_images, fmax, interpolation, max_steps) -> None:
    """Refuse band settings out of range, naming the field."""
    if not isinstance(n_images, int) or n_images < 1:
        raise InputError("n_images", n_images, "an integer >= 1 (moving images)")
    if not fmax > 0:
        raise InputError("fmax", fmax, "a force criterion > 0 eV/A")
    if interpolation not in INTERPOLATIONS:
        raise InputError("interpolation", interpolation, INTERPOLATIONS)
    if not isinstance(max_steps, int) or max_steps < 0:
        raise InputError("max_steps", max_steps, "an integer >= 0")
