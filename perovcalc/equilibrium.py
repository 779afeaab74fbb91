"""Defect equilibrium: the self-consistent Fermi level and defect and carrier concentrations at
a temperature, from formation energies and the host's density of states (py-sc-fermi)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perovcalc.errors import InputError


@dataclass(frozen=True)
class DefectLevels:
    """One defect for the equilibrium solver: ``name``, ``sites`` (per cell of the DOS),
    and its formation energy at E_F = VBM (eV) per charge state q (E_f(E_F) = value + q E_F)."""

    name: str
    sites: int
    energies: dict[int, float]


def equilibrium_fermi_level(
    defects: Sequence[DefectLevels],
    energies: Sequence[float],
    dos: Sequence[float],
    gap: float,
    volume: float,
    temperature: float,
) -> dict:
    """Self-consistent Fermi level (eV above the VBM) and concentrations at ``temperature`` (K),
    solved with py-sc-fermi: charge neutrality of the defects (Boltzmann occupation of their
    sites, charge states in equilibrium) and the carriers of the host DOS.

    ``energies`` (eV, VBM = 0, spanning the gap and beyond) and ``dos`` (states/eV per cell)
    describe the host (taken as given: py-sc-fermi's rescaling to an electron count is undone;
    levels below the window hold no carriers at any temperature here);
    ``volume``: its cell, A^3. Returns ``fermi_level`` (eV), ``holes`` and
    ``electrons`` (cm^-3) and ``concentrations`` (cm^-3 per defect and charge state).
    """
    from py_sc_fermi.defect_charge_state import DefectChargeState
    from py_sc_fermi.defect_species import DefectSpecies
    from py_sc_fermi.defect_system import DefectSystem
    from py_sc_fermi.dos import DOS

    if not temperature > 0:
        raise InputError("temperature", temperature, "a temperature > 0 K")
    if not defects:
        raise InputError("defects", [], "at least one defect with its formation energies")
    species = [
        DefectSpecies(
            d.name, d.sites, {q: DefectChargeState(q, energy=e) for q, e in d.energies.items()}
        )
        for d in defects
    ]
    energies, dos = np.asarray(energies, float), np.asarray(dos, float)
    valence = energies <= gap / 2
    electrons = float(np.trapezoid(dos[valence], energies[valence]))  # states up to mid-gap
    host = DOS(dos, energies, float(gap), electrons)
    system = DefectSystem(species, host, float(volume), float(temperature))
    solution = system.concentration_dict(decomposed=True)
    return {
        "fermi_level": solution["Fermi Energy"],
        "holes": solution["p0"],
        "electrons": solution["n0"],
        "concentrations": {d.name: solution[d.name] for d in defects},
    }
