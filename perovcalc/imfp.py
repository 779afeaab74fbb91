"""Inelastic mean free paths of photoelectrons from the TPP-2M formula.

Tanuma, Powell and Penn, Surf. Interface Anal. 21, 165 (1994):

    lambda = E / (Ep^2 [beta ln(gamma E) - C/E + D/E^2])          (Angstrom, E in eV)
    Ep     = 28.8 sqrt(Nv rho / M)                                 (free-electron plasmon, eV)
    beta   = -0.10 + 0.944 / sqrt(Ep^2 + Eg^2) + 0.069 rho^0.1
    gamma  = 0.191 rho^-0.5,  C = 1.97 - 0.91 U,  D = 53.4 - 20.8 U,  U = Nv rho / M

with rho the density (g/cm3), M the molar mass of the formula unit (g/mol), Nv its valence
electrons and Eg the band gap (eV). E is the electron kinetic energy inside the solid, referred to
the Fermi level (metals) or the conduction-band minimum (insulators); the formula was fitted over
50-2000 eV. Only the ratio Nv / M enters, so any formula unit (or a whole cell) may be used.

Effective attenuation length (EAL). Elastic scattering deflects photoelectrons, so a signal from
depth d decays faster than exp(-d / lambda) would say near normal emission and the practical
attenuation length for quantification is shorter than the IMFP. Jablonski and Powell, Surf. Sci.
Rep. 47, 33 (2002), give for emission angles up to ~50 degrees

    L = lambda (1 - 0.028 Z^0.5) (0.501 + 0.068 ln E)                       (E in eV)

with Z the atomic number, here the atom-averaged Z of the material (a stated choice for
compounds). It is ~0.75 lambda in CsPbX3 at 400-1400 eV.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from ase.data import atomic_masses, atomic_numbers
from ase.units import mol

from perovcalc.errors import InputError
from perovcalc.reference import lattice_constant

#: Valence electrons per atom in the TPP convention: outer-core shells bound by less than ~40 eV
#: count (K 3s3p, Cs 5s5p, Pb 5d: K, Cs = 9, Pb = 14); I 4d (~50 eV) and Br 3d (~70 eV) do not.
#: This gives Nv = 44 per CsPbX3 and 16 per KBr. Tanuma, Powell and Penn (IMFP paper VII,
#: doi:10.1002/sia.1526) recommend it over the chemical valence, which here gives IMFPs ~15 %
#: longer.
VALENCE_ELECTRONS = {"K": 9, "Cs": 9, "Pb": 14, "Br": 7, "I": 7, "H": 1, "C": 4, "N": 5, "O": 6}

#: Optical band gaps (eV) of the cubic end members, TPP-2M inputs only: one eV of gap changes
#: lambda by < 2 % here. CsPbI3 1.73 (Eperon et al., J. Mater. Chem. A 3, 19688 (2015));
#: CsPbBr3 2.25 (Stoumpos et al., Cryst. Growth Des. 13, 2722 (2013)); literature-values.md sec. 6.
END_MEMBER_BAND_GAPS = {"CsPbI3": 1.73, "CsPbBr3": 2.25}

#: Kinetic-energy range (eV) over which TPP-2M was fitted.
VALID_RANGE = (50.0, 2000.0)

#: Attenuation lengths: "eal" (Jablonski-Powell effective attenuation length) or "imfp".
ATTENUATIONS = ("eal", "imfp")

#: Ligand shell of the nanocrystals: oleic acid C18H34O2 (oleate; oleylamine C18H37N differs by
#: < 5 % in the TPP-2M result) at 0.895 g/cm3, the liquid's density (typical handbook value, M),
#: with a 7 eV gap (a saturated-hydrocarbon-like HOMO-LUMO gap, M; 1 eV of gap changes lambda by
#: < 2 %).
LIGAND = {"composition": {"C": 18.0, "H": 34.0, "O": 2.0}, "density": 0.895, "band_gap": 7.0}


@dataclass(frozen=True)
class IMFPMaterial:
    """TPP-2M inputs: density (g/cm3), valence electrons and molar mass (g/mol) of one formula
    unit, band gap (eV)."""

    name: str
    density: float
    valence_electrons: float
    molar_mass: float
    band_gap: float = 0.0
    mean_atomic_number: float | None = None  # atom-averaged Z, for the EAL

    def __post_init__(self):
        for field in ("density", "valence_electrons", "molar_mass"):
            if not getattr(self, field) > 0:
                raise InputError(field, getattr(self, field), "a number > 0")
        if not self.band_gap >= 0:
            raise InputError("band_gap", self.band_gap, "a band gap >= 0 eV")


def plasmon_energy(material: IMFPMaterial) -> float:
    """Free-electron plasmon energy Ep = 28.8 sqrt(Nv rho / M), eV."""
    return 28.8 * np.sqrt(material.valence_electrons * material.density / material.molar_mass)


def tpp2m(kinetic_energy, material: IMFPMaterial):
    """Inelastic mean free path (Angstrom) at electron kinetic energies (eV, scalar or array).

    Energies outside the 50-2000 eV fitting range are rejected: below ~50 eV the formula is not
    valid and soon diverges.
    """
    energy = np.asarray(kinetic_energy, dtype=float)
    if np.any(energy < VALID_RANGE[0]) or np.any(energy > VALID_RANGE[1]):
        raise InputError("kinetic energy", kinetic_energy, "50-2000 eV (the TPP-2M fitting range)")
    rho = material.density
    u = material.valence_electrons * rho / material.molar_mass
    ep2 = 28.8**2 * u
    beta = -0.10 + 0.944 / np.sqrt(ep2 + material.band_gap**2) + 0.069 * rho**0.1
    gamma = 0.191 / np.sqrt(rho)
    c = 1.97 - 0.91 * u
    d = 53.4 - 20.8 * u
    imfp = energy / (ep2 * (beta * np.log(gamma * energy) - c / energy + d / energy**2))
    return float(imfp) if imfp.ndim == 0 else imfp


def material_from_composition(
    name: str, composition: Mapping[str, float], density: float, band_gap: float
) -> IMFPMaterial:
    """TPP-2M inputs for a composition {element: atoms per formula unit} (fractions allowed),
    with Nv counted as in :data:`VALENCE_ELECTRONS` and standard atomic masses."""
    unknown = [el for el in composition if el not in VALENCE_ELECTRONS]
    if unknown:
        raise InputError("element", unknown[0], sorted(VALENCE_ELECTRONS))
    nv = sum(n * VALENCE_ELECTRONS[el] for el, n in composition.items())
    mass = sum(n * atomic_masses[atomic_numbers[el]] for el, n in composition.items())
    atoms = sum(composition.values())
    z = sum(n * atomic_numbers[el] for el, n in composition.items()) / atoms
    return IMFPMaterial(name, float(density), float(nv), float(mass), float(band_gap), float(z))


def ligand_shell() -> IMFPMaterial:
    """TPP-2M inputs of the organic ligand shell (:data:`LIGAND`: oleic acid)."""
    return material_from_composition("C18H34O2 (oleate)", **LIGAND)


def eal_factor(kinetic_energy, material: IMFPMaterial):
    """EAL / IMFP of Jablonski and Powell (2002): (1 - 0.028 Z^0.5)(0.501 + 0.068 ln E)."""
    if material.mean_atomic_number is None:
        raise InputError("mean_atomic_number", None, f"the mean Z of {material.name} (> 0)")
    energy = np.asarray(kinetic_energy, dtype=float)
    return (1 - 0.028 * np.sqrt(material.mean_atomic_number)) * (0.501 + 0.068 * np.log(energy))


def attenuation_length(kinetic_energy, material: IMFPMaterial, attenuation: str = "eal"):
    """Attenuation length (Angstrom) at electron kinetic energies (eV): the TPP-2M IMFP, or with
    ``attenuation="eal"`` the Jablonski-Powell effective attenuation length (module docs)."""
    if attenuation not in ATTENUATIONS:
        raise InputError("attenuation", attenuation, ATTENUATIONS)
    imfp = tpp2m(kinetic_energy, material)
    return imfp if attenuation == "imfp" else imfp * eal_factor(kinetic_energy, material)


def perovskite(x: float) -> IMFPMaterial:
    """Cubic CsPbI(3-x)Br(x), 0 <= x <= 3: lattice constant and band gap interpolated linearly
    (Vegard) between the CsPbI3 and CsPbBr3 end members, density from that lattice constant."""
    if not 0.0 <= x <= 3.0:
        raise InputError("x", x, "0 <= x <= 3 (Br per formula unit)")
    t = x / 3.0
    a = (1 - t) * lattice_constant("CsPbI3") + t * lattice_constant("CsPbBr3")
    gap = (1 - t) * END_MEMBER_BAND_GAPS["CsPbI3"] + t * END_MEMBER_BAND_GAPS["CsPbBr3"]
    composition = {"Cs": 1.0, "Pb": 1.0, "I": 3.0 - x, "Br": x}
    mass = sum(n * atomic_masses[atomic_numbers[el]] for el, n in composition.items())
    density = mass / mol / a**3 * 1e24  # g per formula unit / (a^3 in cm3)
    name = "".join(el if n == 1 else f"{el}{n:g}" for el, n in composition.items() if n > 0)
    return material_from_composition(name, composition, density, gap)
