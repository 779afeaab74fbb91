"""Simulated core-level photoemission of a structure model: spectra, intensity ratios, centroids,
apparent binding energies.

Intensity model. The signal of level X (a spin-orbit doublet, ``reference/core_levels.csv``) from
atom i at photon energy hv is

    I_i = sigma_X(hv) * f_c * n_i * P_i(L(KE_c)),    KE_c = hv - BE_c - WORK_FUNCTION,

summed over the two components c with branching fractions f_c. sigma_X is the photoionisation
cross section of the level from xraylib (Kissel/Scofield-type relativistic subshell values per
electron, times the subshell occupancy), n_i the atom's population (1, or for outer K the ratio of
a stated K coverage of the outer A sites to the model's), L the attenuation length of one matrix
material (:mod:`perovcalc.imfp`: the TPP-2M IMFP, or by default the Jablonski-Powell effective
attenuation length, which accounts for elastic scattering), and P_i the probability that the
photoelectron leaves the model, and an organic ligand shell of ``ligand_nm`` around it (its own
TPP-2M attenuation length, :func:`imfp.ligand_shell`), without an inelastic loss. The asymmetry
parameter beta enters the ratios through :func:`angular_factor` (it drops out at the magic angle).
Neglected: X-ray attenuation, shadowing by neighbouring crystals, the ligands' own signal.

Geometry: P_i is the mean over analyser directions u in the crystal frame of exp(-path_i(u) / L)
(plus the path through the ligand shell over its length), one model for both geometries
(:func:`analyser_directions`): ``"random"`` (default) u uniform over the sphere, a film of
randomly oriented crystals; ``"normal"`` u at the emission angle theta from the surface (film)
normal, averaged over azimuths.

- ``"slab"``: the path is d / cos(u, normal), d the depth of the atom below the outermost atom
  along the surface normal (a x b, pointing along c; the analyser is on that side); directions into
  the slab give nothing (the slab stands for the outer layers of a thick crystal).
  :func:`depth_weight`; with random orientation it is E_2(d / L) / 2, with "normal"
  exp(-d / (L cos theta)).
- ``"cube"``: a nanocrystal; the path is the straight line from atom i along u to the surface of
  the axis-aligned box through the outermost atoms. This counts that atoms near edges and corners
  escape through several faces and that oblique paths are longer; an atom on a face escapes
  without loss in half of all directions, and far from edges the cube's weights become the slab's.
  "normal" here means a cube lying face-down (film normal along z).

The average uses a Fibonacci lattice of ``directions`` points on the sphere (or as many azimuths).

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
#: Ligand shell thicknesses of the model band, nm (min, central, max): ~1.5 nm of oleate /
#: oleylamine (an extended C18 chain is ~2 nm long, tilted and interdigitated less).
LIGAND_NM = (1.0, 1.5, 2.0)
#: Laboratory anodes (Mg, Al K-alpha), eV: unpolarised light; other sources are synchrotrons.
LAB_SOURCES = (1253.6, 1486.7)
GEOMETRIES = ("auto", "slab", "cube")
#: Analyser direction in the crystal frame: uniform over the sphere (a film of randomly
#: oriented crystals) or at a fixed emission angle from the surface (film) normal.
ORIENTATIONS = ("random", "normal")
LINESHAPES = ("voigt", "pseudo-voigt")
#: Angle (degrees) at which the asymmetry parameter drops out of the angular distribution.
MAGIC_ANGLE = float(np.degrees(np.arccos(1.0 / np.sqrt(3.0))))  # 54.7356
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


@dataclass(frozen=True)
class Escape:
    """How photoelectrons leave the model for the analyser (module docstring): the model's
    ``geometry`` (:data:`GEOMETRIES`), the analyser ``orientation`` (:data:`ORIENTATIONS`) at
    ``emission_angle`` (degrees from the normal; ``"normal"`` only), averaged over ``directions``
    points, and the ``attenuation`` length (``imfp.ATTENUATIONS``: effective attenuation length
    or IMFP)."""

    geometry: str = "auto"
    orientation: str = "random"
    emission_angle: float = 0.0
    directions: int = 300
    attenuation: str = "eal"


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


def analyser_directions(
    orientation: str, normal, emission_angle: float = 0.0, directions: int = 300
) -> np.ndarray:
    """Analyser directions in the crystal frame, shape (m, 3), for the orientation model:
    ``"random"`` uniform over the sphere (Fibonacci lattice of ``directions`` points), ``"normal"``
    at ``emission_angle`` (degrees) from ``normal``, averaged over ``directions`` azimuths."""
    if orientation not in ORIENTATIONS:
        raise InputError("orientation", orientation, ORIENTATIONS)
    if orientation == "random":
        return fibonacci_directions(directions)
    if not 0.0 <= emission_angle < 90.0:
        raise InputError("emission_angle", emission_angle, "0 <= angle < 90 degrees")
    if directions < 1:
        raise InputError("directions", directions, "an integer >= 1")
    normal = np.asarray(normal, dtype=float) / np.linalg.norm(normal)
    theta = np.radians(emission_angle)
    if theta == 0.0:
        return normal[None, :]
    e1 = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    phi = 2 * np.pi * np.arange(directions) / directions
    ring = np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2
    return np.cos(theta) * normal + np.sin(theta) * ring


def _attenuate(path, ligand_path, lambdas, ligand_lambdas) -> np.ndarray:
    """exp(-path / lambda - ligand_path / lambda_ligand) summed over directions (last axis) for
    each of the m lengths, shape (m, n); ``path`` (n, b), ``ligand_path`` (n, b) or None."""
    out = np.empty((len(lambdas), path.shape[0]))
    for k, lam in enumerate(lambdas):
        exponent = path / lam
        if ligand_path is not None:
            exponent = exponent + ligand_path / ligand_lambdas[k]
        out[k] = np.exp(-exponent).sum(axis=1)
    return out


def depth_weight(
    depth,
    lengths,
    ligand_nm: float = 0.0,
    ligand_lengths=None,
    orientation: str = "random",
    emission_angle: float = 0.0,
    directions: int = 300,
) -> np.ndarray:
    """Photoemission weight of atoms at ``depth`` (Angstrom) below a flat surface, shape
    (m, n) for m attenuation ``lengths`` (Angstrom): the mean over the analyser directions u
    (:func:`analyser_directions`) of exp(-d / (L mu) - t / (L_ligand mu)), mu = cos(u, normal),
    zero for directions into the crystal (mu <= 0: the slab stands for the outer layers of a
    crystal much thicker than L). t: the ligand shell (``ligand_nm``) with its own lengths.
    With random orientation this is E_2(d / L) / 2 (E_2 the exponential integral), the limit of
    the cube model far from edges; with ``"normal"`` at angle theta, exp(-d / (L cos theta))."""
    depth = np.atleast_1d(np.asarray(depth, dtype=float))
    lambdas = np.atleast_1d(np.asarray(lengths, dtype=float))
    units = analyser_directions(orientation, [0.0, 0.0, 1.0], emission_angle, directions)
    mu = units[:, 2]
    mu = mu[mu > 1e-12]
    path = depth[:, None] / mu[None, :]
    ligand = None if not ligand_nm else np.broadcast_to(10.0 * ligand_nm / mu, path.shape)
    return _attenuate(
        path, ligand, lambdas, _ligand_lambdas(ligand_nm, ligand_lengths, lambdas)
    ) / len(units)


def _ligand_lambdas(ligand_nm, ligand_lengths, lambdas):
    if not ligand_nm:
        return None
    if ligand_nm < 0:
        raise InputError("ligand_nm", ligand_nm, "a shell thickness >= 0 nm")
    ligand_lengths = np.atleast_1d(np.asarray(ligand_lengths, dtype=float))
    if ligand_lengths.shape != lambdas.shape:
        raise InputError("ligand_lengths", ligand_lengths, "one ligand length per length")
    return ligand_lengths


def escape_probability(
    atoms: Atoms,
    imfp,
    indices=None,
    geometry: str = "auto",
    emission_angle: float = 0.0,
    directions: int = 300,
    orientation: str = "random",
    ligand_nm: float = 0.0,
    ligand_lengths=None,
) -> np.ndarray:
    """Probability that a photoelectron from each atom leaves without inelastic loss.

    ``imfp``: one attenuation length or a 1-D array of m (Angstrom); ``indices``: atoms to
    evaluate (default all). Returns shape (len(indices),) for a scalar length, else
    (m, len(indices)). Both geometries average exp(-path / L) over the same analyser directions
    (``orientation``, ``emission_angle``, ``directions``: :func:`analyser_directions`; for the
    cube "normal" means face-down on the substrate, normal along z): the slab through
    :func:`depth_weight`, the cube along the straight path to its envelope box. A ligand shell
    of ``ligand_nm`` (lengths ``ligand_lengths``) adds the path through a box (plane) that much
    further out.
    """
    lambdas = np.atleast_1d(np.asarray(imfp, dtype=float))
    if lambdas.ndim != 1 or not np.all(lambdas > 0):
        raise InputError("imfp", imfp, "IMFPs > 0 Angstrom")
    indices = np.arange(len(atoms)) if indices is None else np.asarray(indices, dtype=int)
    kw = dict(orientation=orientation, emission_angle=emission_angle, directions=directions)
    if resolve_geometry(atoms, geometry) == "slab":
        depth = depths(atoms, "slab")[indices]
        result = depth_weight(depth, lambdas, ligand_nm, ligand_lengths, **kw)
    else:
        units = analyser_directions(orientation, [0.0, 0.0, 1.0], emission_angle, directions)
        ligand_lambdas = _ligand_lambdas(ligand_nm, ligand_lengths, lambdas)
        result = _cube_escape(atoms.positions, indices, lambdas, units, ligand_nm, ligand_lambdas)
    return result[0] if np.ndim(imfp) == 0 else result


def _box_path(pos, lo, hi, u) -> np.ndarray:
    """Straight path (n, b) from each position along each direction to the box [lo, hi]."""
    bound = np.where(u > 0, hi, lo)  # (b, 3): the face each component heads for
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = (bound[None, :, :] - pos[:, None, :]) / u[None, :, :]
    steps = np.where(u[None, :, :] == 0, np.inf, steps)
    return np.clip(steps.min(axis=2), 0.0, None)


def _cube_escape(positions, indices, lambdas, units, ligand_nm=0.0, ligand_lambdas=None):
    """Direction average of exp(-L/lambda), L the path along u to the envelope box, plus the
    path through a ligand shell of ``ligand_nm`` around it."""
    lo, hi = positions.min(0), positions.max(0)
    pos = positions[indices]
    total = np.zeros((len(lambdas), len(pos)))
    block = max(1, 1_000_000 // max(1, len(pos)))
    shell = 10.0 * ligand_nm
    for start in range(0, len(units), block):
        u = units[start : start + block]
        path = _box_path(pos, lo, hi, u)
        ligand = _box_path(pos, lo - shell, hi + shell, u) - path if shell else None
        total += _attenuate(path, ligand, lambdas, ligand_lambdas)
    return total / len(units)


def _lengths(level, photon_energies, material, attenuation):
    """Attenuation lengths (Angstrom) of the level's two components, (n_hv, 2), in ``material``
    and in the ligand shell."""
    energies = np.array([kinetic_energies(level, hv) for hv in photon_energies])
    return (
        imfp_mod.attenuation_length(energies, material, attenuation),
        imfp_mod.attenuation_length(energies, imfp_mod.ligand_shell(), attenuation),
    )


def site_weights(atoms, level, photon_energies, material, escape: Escape, ligand_nm=0.0):
    """Atom indices of the level's element and their intensities, barn, shape (n_hv, 2, n),
    and the attenuation lengths in the matrix (n_hv, 2)."""
    indices = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == level.element)
    if len(indices) == 0:
        raise InputError("core level", level.name, "a level of an element in the model")
    lambdas, ligand = _lengths(level, photon_energies, material, escape.attenuation)
    probability = escape_probability(
        atoms, lambdas.ravel(), indices, escape.geometry, escape.emission_angle,
        escape.directions, escape.orientation, ligand_nm, ligand.ravel(),
    ).reshape(len(photon_energies), 2, len(indices))  # fmt: skip
    sigma = np.array([cross_section(level, hv) for hv in photon_energies])
    weights = sigma[:, None, None] * level.fractions[None, :, None] * probability
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
    escape: Escape = Escape(),
    ligand_nm: float = 0.0,
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
    indices, weights, _ = site_weights(atoms, level, [photon_energy], material, escape, ligand_nm)
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


def angular_factor(beta: float, angle: float = MAGIC_ANGLE, polarised: bool = True) -> float:
    """Dipole angular distribution of photoelectrons from a randomly oriented (or polycrystalline)
    sample relative to its angle average: 1 + beta P2(cos angle) for linearly polarised light,
    ``angle`` between the polarisation and the analyser (degrees); 1 - beta P2(cos angle) / 2 for
    unpolarised light, ``angle`` between the photon beam and the analyser. P2(x) = (3x^2 - 1)/2
    vanishes at the magic angle, 54.74 degrees, where beta drops out."""
    p2 = (3.0 * np.cos(np.radians(angle)) ** 2 - 1.0) / 2.0
    return float(1.0 + beta * p2) if polarised else float(1.0 - beta * p2 / 2.0)


def apparent_binding_energy(
    level: str | CoreLevel,
    binding_energies,
    site_depths,
    populations,
    photon_energies=PHOTON_ENERGIES,
    material: imfp_mod.IMFPMaterial | None = None,
    escape: Escape = Escape(),
    ligand_nm: float = 0.0,
) -> np.ndarray:
    """Apparent binding energy (eV) of ``level`` at each photon energy: the photoemission-weighted
    mean over the sites of a model, each with its binding energy (eV, e.g. Delta-SCF), depth
    below the surface (Angstrom) and population (atoms of the site, e.g. its multiplicity). The
    weight is the population times :func:`depth_weight`, summed over the doublet's components
    with their fractions, with the attenuation model of the ratios (``escape.geometry`` is not
    used: the depths are below a flat surface). ``material``: the matrix (default CsPbBr3)."""
    level = core_level(level)
    energies = np.asarray(binding_energies, dtype=float)
    depth = np.asarray(site_depths, dtype=float)
    population = np.asarray(populations, dtype=float)
    if not energies.shape == depth.shape == population.shape or energies.ndim != 1:
        raise InputError("sites", f"shapes {energies.shape}, {depth.shape}, {population.shape}",
                         "one binding energy, depth and population per site")  # fmt: skip
    if np.any(population < 0) or not population.sum() > 0:
        raise InputError("populations", populations, "populations >= 0, not all 0")
    material = material or imfp_mod.perovskite(3.0)
    lambdas, ligand = _lengths(level, photon_energies, material, escape.attenuation)
    weight = depth_weight(depth, lambdas.ravel(), ligand_nm, ligand.ravel(), escape.orientation,
                          escape.emission_angle, escape.directions)  # fmt: skip
    weight = weight.reshape(len(photon_energies), 2, len(depth))
    per_site = (level.fractions[None, :, None] * weight).sum(axis=1) * population  # (n_hv, n)
    return per_site @ energies / per_site.sum(axis=1)


def centroid_shifts(
    atoms: Atoms,
    level: str | CoreLevel,
    shifts,
    photon_energies=PHOTON_ENERGIES,
    material: imfp_mod.IMFPMaterial | None = None,
    escape: Escape = Escape(),
    ligand_nm: float = 0.0,
) -> np.ndarray:
    """Intensity-weighted mean core-level shift (eV) of ``level`` at each photon energy: the
    apparent peak position relative to the unshifted level, as the probed depth changes."""
    level = core_level(level)
    material = material or matrix_material(atoms)
    indices, weights, _ = site_weights(atoms, level, photon_energies, material, escape, ligand_nm)
    per_atom = weights.sum(axis=1)  # (n_hv, n)
    return per_atom @ _shifts(atoms, shifts)[indices] / per_atom.sum(axis=1)
