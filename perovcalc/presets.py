"""Named GPAW precision presets and the parameter set of one calculation.

A preset fixes mode, cutoff or basis, k-point density, smearing and convergence. The
parameters of a calculation are derived from a preset and the structure (bulk, slab or
molecule; charge; odd electron count) plus explicit overrides, and are stored with every
result. They are plain JSON-compatible dicts of GPAW keyword arguments.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms

from perovcalc.errors import InputError

VACUUM_GAP = 6.0  # Angstrom: an empty gap at least this wide along an axis means "not periodic"


@dataclass(frozen=True)
class Preset:
    """Precision settings: energies in eV, lengths in A, k density in points per 1/A."""

    name: str
    mode: str  # "pw" or "lcao"
    ecut: float | None  # plane-wave cutoff, eV (pw only)
    basis: str | None  # LCAO basis (lcao only)
    kpt_density: float  # k-points per reciprocal Angstrom (x 2 pi / a rule of ASE)
    smearing: float  # Fermi-Dirac width, eV
    scf_energy: float  # SCF energy convergence: total-energy change, eV (absolute, any cell)
    scf_density: float  # SCF density convergence, electrons per valence electron
    fmax: float  # force criterion for relaxations, eV/Angstrom
    maxiter: int  # SCF iterations before giving up
    description: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "demo", "pw", 300.0, None, 2.5, 0.1, 0.02, 1e-3, 0.1, 100,
            "cheapest settings that keep trends qualitatively right; laptop minutes",
        ),
        Preset(
            "standard", "pw", 400.0, None, 3.5, 0.05, 4e-3, 1e-4, 0.05, 200,
            "converged enough for semi-quantitative comparisons; workstation hours",
        ),
        Preset(
            "production", "pw", 500.0, None, 5.0, 0.02, 4e-5, 1e-5, 0.02, 300,
            "publication settings; cluster",
        ),
    )
}  # fmt: skip


def get_preset(name: str) -> Preset:
    """The preset called ``name``."""
    if name not in PRESETS:
        raise InputError("preset", name, list(PRESETS))
    return PRESETS[name]


def periodic_directions(atoms: Atoms, gap: float = VACUUM_GAP) -> tuple[bool, bool, bool]:
    """True for each axis along which the structure is extended (no vacuum gap >= ``gap`` A)."""
    result = []
    scaled = atoms.get_scaled_positions(wrap=True) if len(atoms) else np.zeros((0, 3))
    for axis in range(3):
        if not atoms.pbc[axis]:
            result.append(False)
            continue
        length = np.linalg.norm(atoms.cell[axis])
        coords = np.sort(scaled[:, axis])
        if len(coords) == 0:
            result.append(False)
            continue
        gaps = np.diff(np.append(coords, coords[0] + 1.0)) * length
        result.append(bool(gaps.max() < gap))
    return tuple(result)


def system_kind(atoms: Atoms) -> str:
    """``bulk``, ``slab`` (vacuum along c) or ``molecule``, from the geometry."""
    periodic = periodic_directions(atoms)
    if all(periodic):
        return "bulk"
    if periodic == (True, True, False):
        return "slab"
    if not any(periodic):
        return "molecule"
    raise InputError(
        "structure", f"periodic along {periodic}", "bulk, a slab with vacuum along c, or a molecule"
    )


def kpoints(atoms: Atoms, density: float) -> list[int]:
    """Monkhorst-Pack grid with ``density`` points per reciprocal Angstrom; 1 along vacuum."""
    periodic = periodic_directions(atoms)
    reciprocal = atoms.cell.reciprocal()
    return [
        max(1, math.ceil(2 * math.pi * np.linalg.norm(reciprocal[i]) * density))
        if periodic[i]
        else 1
        for i in range(3)
    ]


def valence_electrons(atoms: Atoms, setups: str = "paw") -> int:
    """Number of valence electrons in the standard GPAW PBE datasets."""
    from gpaw.setup_data import SetupData

    counts: dict[str, int] = {}
    for symbol in set(atoms.get_chemical_symbols()):
        counts[symbol] = round(SetupData(symbol, "PBE", setups, readxml=True).Nv)
    return sum(counts[s] for s in atoms.get_chemical_symbols())


def gpaw_parameters(
    atoms: Atoms, preset: str = "demo", charge: int = 0, overrides: dict | None = None
) -> dict:
    """GPAW keyword arguments for ``atoms`` at ``preset``; ``overrides`` win over everything.

    Slabs get one k-point along the normal and a dipole correction; an odd number of electrons
    (neutral halide vacancy, say) switches on spin polarisation.
    """
    p = get_preset(preset)
    kind = system_kind(atoms)
    params: dict = {"xc": "PBE"}
    if p.mode == "pw":
        params["mode"] = {"name": "pw", "ecut": p.ecut}
    else:
        params["mode"] = "lcao"
        params["basis"] = p.basis
    params["kpts"] = {"size": kpoints(atoms, p.kpt_density), "gamma": True}
    params["occupations"] = {"name": "fermi-dirac", "width": p.smearing}
    params["convergence"] = {"energy": scf_energy_criterion(p.scf_energy), "density": p.scf_density}
    params["maxiter"] = p.maxiter
    if kind == "slab":
        params["poissonsolver"] = {"dipolelayer": "xy"}
    params.update(electronic_settings(atoms, charge))
    params.update(overrides or {})
    return params


def scf_energy_criterion(tolerance: float) -> dict:
    """GPAW's energy criterion with an absolute ``tolerance``: the peak-to-peak change of the
    total energy over the last three SCF iterations, eV, whatever the number of electrons.
    (GPAW's default divides by the valence electrons: 5e-4 eV/el is 0.02 eV in a 40-electron
    cell but 0.3 eV in a 600-electron slab, the size of the energy differences sought.)"""
    return {"name": "energy", "tol": tolerance, "n_old": 3, "relative": False}


def electronic_settings(atoms: Atoms, charge: int = 0) -> dict:
    """The GPAW ``charge`` (elementary charges; left out when 0) of ``atoms`` and ``spinpol``
    (True when the number of electrons, valence electrons less ``charge``, is odd)."""
    settings: dict = {}
    if charge:
        settings["charge"] = charge
    if (valence_electrons(atoms) - charge) % 2:
        settings["spinpol"] = True
    return settings


def describe(preset: Preset) -> dict:
    """Preset as a plain dict (for storage next to results)."""
    return asdict(preset)


def edge_label(soc: bool = False, xc: str = "PBE") -> str:
    """The label of every printed gap, band edge and transition level: "(PBE+SOC)" with
    spin-orbit coupling (:mod:`perovcalc.spinorbit`), else "(PBE, no SOC)"; ``xc``: the
    functional."""
    return f"({xc}+SOC)" if soc else f"({xc}, no SOC)"
