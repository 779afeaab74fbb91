"""Simulated core-level photoemission of a structure model: spectra, intensity ratios, centroids.

Intensity model. The signal of level X (a spin-orbit doublet, ``reference/core_levels.csv``) from
atom i at photon energy hv is

    I_i = sigma_X(hv) * f_c * P_i(lambda(KE_c)),    KE_c = hv - BE_c - WORK_FUNCTION,

summed over the two components c with branching fractions f_c. sigma_X is the photoionisation
cross section of the level from xraylib (Kissel/Scofield-type relativistic subshell values per
electron, times the subshell occupancy), lambda the TPP-2M inelastic mean free path of one matrix
material (:mod:`perovcalc.imfp`), and P_i the probability that the photoelectron leaves the model
without an inelastic loss. Neglected: elastic scattering (IMFP, not effective attenuation length),
the photoemission asymmetry parameter, X-ray attenuation, shadowing by neighbouring crystals and
ligands.

Geometries for P_i:

- ``"slab"``: P = exp(-d / (lambda cos theta)), d the depth of the atom below the outermost atom
  along the surface normal (a x b, pointing along c; the analyser is on that side), theta the
  emission angle from the normal. Also the model for a textured film of face-down nanocubes.
- ``"cube"``: a nanocrystal in a film of randomly oriented crystals. The analyser direction u is
  uniform over the sphere in the crystal frame, and P_i is the average over u of
  exp(-L_i(u) / lambda), L_i(u) the straight path from atom i along u to the surface of the
  axis-aligned box through the outermost atoms. Unlike the depth to the nearest face, this counts
  that atoms near edges and corners escape through several faces and that oblique paths are
  longer; an atom on a face escapes without loss in half of all directions. The average uses a
  Fibonacci lattice of ``directions`` points on the sphere.

Binding energies refer to the Fermi level, and so does the TPP-2M energy scale inside the solid;
the kinetic energy that sets lambda is therefore hv - BE, with ``WORK_FUNCTION = 0``.
Per-atom core-level shifts (eV, > 0 = higher binding energy) move each atom's doublet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np
from ase import Atoms

from perovcalc import imfp as imfp_mod
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.lineshape import check_widths, pseudo_voigt, voigt
from perovcalc.reference import load_table

#: Subtracted from hv - BE to get the kinetic energy that sets the IMFP, eV (see module docs).
WORK_FUNCTION = 0.0
#: Photon energies of the experiment's depth series (synchrotron 450 and 650 eV, Al K-alpha), eV.
PHOTON_ENERGIES = (450.0, 650.0, 1486.7)
#: Levels of the measured K:Br:Pb ratio table, in that order.
RATIO_LEVELS = ("K 2p", "Br 3d", "Pb 4f")
GEOMETRIES = ("auto", "slab", "cube")
LINESHAPES = ("voigt", "pseudo-voigt")
#: Lines closer than this (eV) are merged before broadening.
LINE_RESOLUTION = 0.005


@dataclass(frozen=True)
class CoreLevel:
    """A spin-orbit doublet: binding energy of the major component (eV), splitting (eV) and
    branching ratio area(minor) / area(major), with xraylib subshells and occupancies."""

    element: str
    level: str
    components: tuple[str, str]
    shells: tuple[str, str]
    occupancies: tuple[int, int]
    binding_energy: float
    splitting: float
    branching_ratio: float

    @property
    def name(self) -> str:
        return f"{self.element} {self.level}"

    @property
    def binding_energies(self) -> np.ndarray:
        """Binding energies of the major and minor component, eV."""
        return np.array([self.binding_energy, self.binding_energy + self.splitting])

    @property
    def fractions(self) -> np.ndarray:
        """Area fractions of the major and minor component."""
        return np.array([1.0, self.branching_ratio]) / (1.0 + self.branching_ratio)


@dataclass(frozen=True)
class Spectrum:
    """Simulated spectrum: intensity (barn / eV) on a binding-energy grid (eV)."""

    level: str
    photon_energy: float
    binding_energy: np.ndarray
    intensity: np.ndarray


@cache
def core_levels() -> dict[str, CoreLevel]:
    """All levels of ``reference/core_levels.csv`` by name ("Br 3d")."""
    levels = {}
    for row in load_table("core_levels"):
        level = CoreLevel(
            element=row["element"],
            level=row["level"],
            components=(row["major"], row["minor"]),
            shells=(row["shell_major"], row["shell_minor"]),
            occupancies=(int(row["occupancy_major"]), int(row["occupancy_minor"])),
            binding_energy=float(row["binding_energy"]),
            splitting=float(row["splitting"]),
            branching_ratio=float(row["branching_ratio"]),
        )
        levels[level.name] = level
    return levels


def core_level(name: str | CoreLevel) -> CoreLevel:
    """The level called ``name``: "Br 3d", "Br3d" or "br 3d"."""
    if isinstance(name, CoreLevel):
        return name
    match = re.fullmatch(r"\s*([A-Za-z]{1,2})\s*(\d[spdf])\s*", str(name))
    key = f"{match.group(1).capitalize()} {match.group(2)}" if match else None
    if key not in core_levels():
        raise InputError("core level", name, list(core_levels()))
    return core_levels()[key]


def subshell_cross_section(element: str, shell: str, occupancy: int, photon_energy: float) -> float:
    """Photoionisation cross section (barn per atom) of one subshell: xraylib's per-electron
    ``CSb_Photo_Partial`` times the occupancy. ``shell`` is the xraylib name ("K", "M5", ...)."""
    import xraylib

    try:
        z = xraylib.SymbolToAtomicNumber(element)
        shell_id = getattr(xraylib, f"{shell}_SHELL")
    except (ValueError, AttributeError) as err:
        raise InputError("element / shell", f"{element} {shell}", "xraylib names") from err
    try:
        return occupancy * xraylib.CSb_Photo_Partial(z, shell_id, photon_energy / 1000.0)
    except ValueError as err:
        raise PerovcalcError(
            f"{element} {shell} cannot be ionised at hv = {photon_energy} eV ({err})"
        ) from err


def cross_section(level: str | CoreLevel, photon_energy: float) -> float:
    """Photoionisation cross section of a whole doublet (both subshells), barn per atom."""
    level = core_level(level)
    return sum(
        subshell_cross_section(level.element, shell, occ, photon_energy)
        for shell, occ in zip(level.shells, level.occupancies, strict=True)
    )


def kinetic_energies(level: str | CoreLevel, photon_energy: float) -> np.ndarray:
    """Kinetic energies (eV) of the two components; errors below the TPP-2M range (50 eV)."""
    level = core_level(level)
    energies = photon_energy - level.binding_energies - WORK_FUNCTION
    if energies.min() < imfp_mod.VALID_RANGE[0]:
        raise PerovcalcError(
            f"{level.name} (binding energy {level.binding_energy} eV) at hv = {photon_energy} eV "
            f"leaves {energies.min():.0f} eV kinetic energy: below the 50 eV where TPP-2M holds"
        )
    return energies


def matrix_material(atoms: Atoms) -> imfp_mod.IMFPMaterial:
    """IMFP matrix of a model: cubic CsPbI(3-x)Br(x) with x = 3 Br / (Br + I) over all atoms."""
    symbols = np.array(atoms.get_chemical_symbols())
    n_br, n_i = np.sum(symbols == "Br"), np.sum(symbols == "I")
    if n_br + n_i == 0:
        raise InputError("model", atoms.get_chemical_formula(), "a model containing Br or I")
    return imfp_mod.perovskite(3.0 * n_br / (n_br + n_i))


def resolve_geometry(atoms: Atoms, geometry: str = "auto") -> str:
    """``"slab"`` or ``"cube"``; ``"auto"``: slab when any direction is periodic, else cube."""
    if geometry not in GEOMETRIES:
        raise InputError("geometry", geometry, GEOMETRIES)
    if geometry == "auto":
        return "slab" if atoms.pbc.any() else "cube"
    return geometry


def _surface_normal(atoms: Atoms) -> np.ndarray:
    cell = atoms.cell.array
    normal = np.cross(cell[0], cell[1])
    norm = np.linalg.norm(normal)
    if norm == 0:
        raise InputError("cell", atoms.cell.cellpar(), "cell vectors a, b spanning the surface")
    normal /= norm
    return normal if normal @ cell[2] >= 0 else -normal


def depths(atoms: Atoms, geometry: str = "auto") -> np.ndarray:
    """Depth of every atom, Angstrom: below the outermost atom along the surface normal (slab),
    or to the nearest face of the box through the outermost atoms (cube)."""
    positions = atoms.positions
    if resolve_geometry(atoms, geometry) == "slab":
        height = positions @ _surface_normal(atoms)
        return height.max() - height
    return np.minimum(positions - positions.min(0), positions.max(0) - positions).min(axis=1)


def fibonacci_directions(n: int) -> np.ndarray:
    """``n`` nearly uniform unit vectors on the sphere (Fibonacci lattice), shape (n, 3)."""
    if n < 1:
        raise InputError("directions", n, "an integer >= 1")
    z = 1.0 - (2.0 * np.arange(n) + 1.0) / n
    phi = np.arange(n) * np.pi * (3.0 - np.sqrt(5.0))
    r = np.sqrt(1.0 - z**2)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def escape_probability(
    atoms: Atoms,
    imfp,
    indices=None,
    geometry: str = "auto",
    emission_angle: float = 0.0,
    directions: int = 300,
) -> np.ndarray:
    """Probability that a photoelectron from each atom leaves without inelastic loss.

    ``imfp``: one IMFP or a 1-D array of m IMFPs (Angstrom); ``indices``: atoms to evaluate
    (default all). Returns shape (len(indices),) for a scalar IMFP, else (m, len(indices)).
    ``emission_angle`` (degrees from the normal) is used by the slab geometry, ``directions`` by
    the cube geometry (see the module docstring for both models).
    """
    lambdas = np.atleast_1d(np.asarray(imfp, dtype=float))
    if lambdas.ndim != 1 or not np.all(lambdas > 0):
        raise InputError("imfp", imfp, "IMFPs > 0 Angstrom")
    indices = np.arange(len(atoms)) if indices is None else np.asarray(indices, dtype=int)
    if resolve_geometry(atoms, geometry) == "slab":
        if not 0.0 <= emission_angle < 90.0:
            raise InputError("emission_angle", emission_angle, "0 <= angle < 90 degrees")
        depth = depths(atoms, "slab")[indices]
        path = depth[None, :] / np.cos(np.radians(emission_angle))
        result = np.exp(-path / lambdas[:, None])
    else:
        result = _cube_escape(atoms.positions, indices, lambdas, fibonacci_directions(directions))
    return result[0] if np.ndim(imfp) == 0 else result


def _cube_escape(positions, indices, lambdas, units) -> np.ndarray:
    """Direction average of exp(-L/lambda), L the path along u to the envelope box."""
    lo, hi = positions.min(0), positions.max(0)
    pos = positions[indices]
    total = np.zeros((len(lambdas), len(pos)))
    block = max(1, 1_000_000 // max(1, len(pos)))
    for start in range(0, len(units), block):
        u = units[start : start + block]
        bound = np.where(u > 0, hi, lo)  # (b, 3): the face each component heads for
        with np.errstate(divide="ignore", invalid="ignore"):
            steps = (bound[None, :, :] - pos[:, None, :]) / u[None, :, :]
        steps = np.where(u[None, :, :] == 0, np.inf, steps)
        path = np.clip(steps.min(axis=2), 0.0, None)  # (n, b)
        for k, lam in enumerate(lambdas):
            total[k] += np.exp(-path / lam).sum(axis=1)
    return total / len(units)


def _weights(atoms, level, photon_energies, material, geometry, emission_angle, directions):
    """Atom indices of the level's element and their intensities, barn, shape (n_hv, 2, n)."""
    indices = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == level.element)
    if len(indices) == 0:
        raise InputError("core level", level.name, "a level of an element in the model")
    energies = np.array([kinetic_energies(level, hv) for hv in photon_energies])
    lambdas = imfp_mod.tpp2m(energies, material)  # (n_hv, 2)
    escape = escape_probability(
        atoms, lambdas.ravel(), indices, geometry, emission_angle, directions
    ).reshape(len(photon_energies), 2, len(indices))
    sigma = np.array([cross_section(level, hv) for hv in photon_energies])
    weights = sigma[:, None, None] * level.fractions[None, :, None] * escape
    return indices, weights, lambdas


def _shifts(atoms: Atoms, shifts) -> np.ndarray:
    if shifts is None:
        return np.zeros(len(atoms))
    shifts = np.asarray(shifts, dtype=float)
    if shifts.shape != (len(atoms),):
        raise InputError("shifts", f"shape {shifts.shape}", f"one shift per atom ({len(atoms)})")
    return shifts


def simulate_spectrum(
    atoms: Atoms,
    level: str | CoreLevel,
    photon_energy: float,
    shifts=None,
    energies=None,
    material: imfp_mod.IMFPMaterial | None = None,
    geometry: str = "auto",
    emission_angle: float = 0.0,
    directions: int = 300,
    gaussian_fwhm: float = 0.6,
    lorentzian_fwhm: float = 0.3,
    lineshape: str = "voigt",
) -> Spectrum:
    """Spectrum of ``level`` at ``photon_energy`` (eV): every atom's doublet at its binding energy
    plus its shift (eV, one per atom of the model), weighted as in the module docstring and
    broadened with ``lineshape``. ``energies``: binding-energy grid (eV); default covers all
    lines with 0.02 eV steps. Intensity in barn / eV, so the area is the total intensity."""
    level = core_level(level)
    if lineshape not in LINESHAPES:
        raise InputError("lineshape", lineshape, LINESHAPES)
    profile = voigt if lineshape == "voigt" else pseudo_voigt
    check_widths(gaussian_fwhm, lorentzian_fwhm)
    material = material or matrix_material(atoms)
    indices, weights, _ = _weights(
        atoms, level, [photon_energy], material, geometry, emission_angle, directions
    )
    lines = level.binding_energies[:, None] + _shifts(atoms, shifts)[indices][None, :]
    keys, inverse = np.unique(np.rint(lines.ravel() / LINE_RESOLUTION), return_inverse=True)
    centres = keys * LINE_RESOLUTION
    amplitudes = np.bincount(inverse, weights=weights[0].ravel())
    if energies is None:
        margin = 6.0 * (gaussian_fwhm + lorentzian_fwhm)
        energies = np.arange(centres.min() - margin, centres.max() + margin, 0.02)
    energies = np.asarray(energies, dtype=float)
    intensity = np.zeros_like(energies)
    for start in range(0, len(centres), 512):
        offsets = energies[:, None] - centres[None, start : start + 512]
        intensity += (
            profile(offsets, gaussian_fwhm, lorentzian_fwhm) @ amplitudes[start : start + 512]
        )
    return Spectrum(level.name, float(photon_energy), energies, intensity)


def plot_spectra(ax, spectra: list[tuple[str, Spectrum]]) -> None:
    """Overlay (label, spectrum) pairs on a matplotlib axes, each normalised to its maximum,
    binding energy (eV) increasing to the left as in XPS plots."""
    for label, spectrum in spectra:
        ax.plot(spectrum.binding_energy, spectrum.intensity / spectrum.intensity.max(), label=label)
    ax.set_xlabel(f"{spectra[0][1].level} binding energy (eV)")
    ax.set_ylabel("intensity (normalised)")
    if not ax.xaxis_inverted():
        ax.invert_xaxis()
    ax.legend(fontsize=7)


def apparent_ratios(
    atoms: Atoms,
    photon_energies=PHOTON_ENERGIES,
    levels=RATIO_LEVELS,
    material: imfp_mod.IMFPMaterial | None = None,
    geometry: str = "auto",
    emission_angle: float = 0.0,
    directions: int = 300,
) -> np.ndarray:
    """Atomic ratios an experiment would report, normalised to the last level, shape
    (n_photon_energies, n_levels).

    Each component's intensity is divided by its sensitivity factor sigma * lambda, the usual
    quantification of a homogeneous sample: a thick homogeneous model returns its stoichiometry,
    and a surface enrichment shows up as a ratio that falls with photon energy.
    """
    material = material or matrix_material(atoms)
    amounts = np.empty((len(photon_energies), len(levels)))
    for j, name in enumerate(levels):
        level = core_level(name)
        _, weights, lambdas = _weights(
            atoms, level, photon_energies, material, geometry, emission_angle, directions
        )
        sigma = np.array([cross_section(level, hv) for hv in photon_energies])
        sensitivity = sigma[:, None] * level.fractions[None, :] * lambdas  # (n_hv, 2)
        amounts[:, j] = (weights.sum(axis=2) / sensitivity).sum(axis=1) / 2.0
    return amounts / amounts[:, -1:]


def centroid_shifts(
    atoms: Atoms,
    level: str | CoreLevel,
    shifts,
    photon_energies=PHOTON_ENERGIES,
    material: imfp_mod.IMFPMaterial | None = None,
    geometry: str = "auto",
    emission_angle: float = 0.0,
    directions: int = 300,
) -> np.ndarray:
    """Intensity-weighted mean core-level shift (eV) of ``level`` at each photon energy: the
    apparent peak position relative to the unshifted level, as the probed depth changes."""
    level = core_level(level)
    material = material or matrix_material(atoms)
    indices, weights, _ = _weights(
        atoms, level, photon_energies, material, geometry, emission_angle, directions
    )
    per_atom = weights.sum(axis=1)  # (n_hv, n)
    return per_atom @ _shifts(atoms, shifts)[indices] / per_atom.sum(axis=1)
