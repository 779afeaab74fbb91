"""Spin-orbit coupling (SOC), added non-self-consistently to a converged scalar-relativistic
GPAW calculation with :mod:`gpaw.spinorbit`: band edges, gap and the SOC change of the energy.

The SOC Hamiltonian of the PAW spheres is diagonalised in the basis of the calculation's
Kohn-Sham states (all its bands) at each k-point of the full Brillouin zone; the density is not
updated. In CsPbX3 this lowers the Pb-6p conduction band by about 1 eV and leaves the halide-p
valence band almost where it was, so a PBE gap without SOC is right only by cancellation of
errors. Every gap, band edge and transition level perovcalc prints carries
:func:`perovcalc.presets.edge_label`.

The energy change is the band-energy change at fixed density (the force theorem, as in
:func:`gpaw.spinorbit.get_anisotropy`): sum of occupied SOC eigenvalues minus the same sum
without SOC, both over the full zone with the calculation's occupation smearing. All energies
are in eV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from perovcalc.errors import InputError


def _occupied(calc) -> int:
    """Number of occupied one-electron states with SOC (one electron each): the valence
    electron count, which must be whole (an insulator's band edges)."""
    electrons = float(calc.wfs.nvalence)
    if abs(electrons - round(electrons)) > 1e-6:
        raise InputError("charge", electrons, "a cell with a whole number of valence electrons")
    return int(round(electrons))


def soc_eigenvalues(calc, scale: float = 1.0) -> np.ndarray:
    """Eigenvalues (eV) with SOC of a converged GPAW calculator, shape (k-points of the full
    zone, 2 x bands), sorted per k-point; ``scale`` multiplies the SOC (0: none)."""
    from gpaw.spinorbit import soc_eigenstates

    return np.sort(soc_eigenstates(calc, scale=scale).eigenvalues(), axis=1)


def _edges(eigenvalues: np.ndarray, occupied: int) -> dict:
    if eigenvalues.shape[1] <= occupied:
        raise InputError("nbands", eigenvalues.shape[1] // 2, f"> {occupied // 2} (empty bands)")
    vbm = float(eigenvalues[:, occupied - 1].max())
    cbm = float(eigenvalues[:, occupied].min())
    return {"vbm": vbm, "cbm": cbm, "gap": cbm - vbm}


def soc_band_edges(atoms: Atoms, txt: str | Path = "-") -> dict:
    """VBM, CBM and gap (eV) with non-self-consistent SOC of ``atoms`` with a converged GPAW
    calculator, over the SCF k-points and the time-reversal-invariant points of the cell
    (:func:`perovcalc.formation.edge_kpoints`, computed at fixed density like
    :func:`perovcalc.formation.band_edges`), and the same without SOC (``*_no_soc``): both
    from the same states, so their difference is the SOC shift alone."""
    from perovcalc.formation import edge_kpoints

    calcs = [atoms.calc]
    points = edge_kpoints(atoms)
    if len(points) > 1:
        calcs.append(atoms.calc.fixed_density(kpts=points, symmetry="off", txt=str(txt)))
    occupied = _occupied(atoms.calc)
    with_soc, without = [], []
    for calc in calcs:
        with_soc.append(soc_eigenvalues(calc))
        without.append(soc_eigenvalues(calc, scale=0.0))
    soc = _edges(np.concatenate(with_soc), occupied)
    scalar = _edges(np.concatenate(without), occupied)
    return {**soc, **{f"{key}_no_soc": value for key, value in scalar.items()}}


def soc_energy_correction(atoms: Atoms) -> float:
    """SOC change of the total energy (eV) of ``atoms`` with a converged GPAW calculator:
    band energy with SOC minus band energy without, at fixed density (force theorem)."""
    from gpaw.spinorbit import soc_eigenstates

    energies = [soc_eigenstates(atoms.calc, scale=s).calculate_band_energy() for s in (1.0, 0.0)]
    return float(energies[0] - energies[1])
