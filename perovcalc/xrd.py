"""Simulated powder X-ray diffraction of periodic structures (Bragg) and composition series.

Bragg patterns are kinematic: F(hkl) = sum_j occ_j f_j(s) T_j(s) exp(2 pi i hkl.x_j), with the
complex form factors f = f0(s) + f' + i f'' of :mod:`perovcalc.scattering` (electrons),
s = sin(theta)/lambda in 1/Angstrom, and Debye-Waller factors T = exp(-B s^2) per element (B in
Angstrom^2; by default the room-temperature values of ``reference/debye_waller.csv`` for the
perovskite's elements). Intensities are multiplicity x |F|^2 x Lorentz-polarisation x an optional
March-Dollase preferred-orientation factor. Line profiles are pseudo-Voigt functions: the
instrument gives a Gaussian width, the crystallite size a Lorentzian Scherrer width, combined as by
Thompson, Cox and Hastings, J. Appl. Cryst. 20, 79 (1987). Angles are 2theta in degrees, lengths in
Angstrom; crystallite sizes in nm. Measured patterns are analysed in :mod:`perovcalc.xrd_compare`.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from perovcalc.bulk import mixed_halide_cell, vegard_lattice_constant
from perovcalc.debye import debye_pattern
from perovcalc.errors import InputError
from perovcalc.lineshape import pseudo_voigt
from perovcalc.presets import periodic_directions
from perovcalc.scattering import (
    CU_KA,
    REFERENCE_B,
    Pattern,
    Wavelength,
    check_range,
    debye_waller_factors,
    form_factor,
    lorentz_polarization,
    temperature_factor,
    two_theta_grid,
    wavelength_lines,
)

#: Scherrer constant for the FWHM of cube-shaped crystallites (0.886 for {h00} of a cube: the
#: FWHM of the Laue function of a column of constant length; 0.83-0.91 over other reflections).
SCHERRER_K = 0.89
#: Reflections weaker than this fraction of the strongest |F|^2 are systematic absences.
ABSENCE_TOLERANCE = 1e-8


@dataclass(frozen=True)
class Reflection:
    """One family of symmetry-equivalent reflections at one wavelength.

    ``intensity`` = weight x sum over the family of |F|^2 (x the preferred-orientation factor) x
    Lorentz-polarisation (electrons^2).
    """

    hkl: tuple[int, int, int]
    multiplicity: int
    d: float  # Angstrom
    two_theta: float  # degrees
    intensity: float
    wavelength: float  # Angstrom


def _sites(structure) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Cell, fractional coordinates, elements and site occupancies (sites x elements)."""
    if isinstance(structure, Atoms):
        cell = structure.cell.array
        frac = (
            structure.cell.scaled_positions(structure.positions)
            if structure.cell.rank == 3
            else None
        )
        species = [{s: 1.0} for s in structure.get_chemical_symbols()]
    else:  # pymatgen Structure, possibly with fractional occupancies
        cell = structure.lattice.matrix
        frac = structure.frac_coords
        species = [
            {sp.symbol: float(occ) for sp, occ in site.species.items()} for site in structure
        ]
    if frac is None or abs(np.linalg.det(cell)) < 1e-6:
        raise InputError(
            "structure", "a cell of zero volume", "a periodic structure with three cell vectors"
        )
    elements = sorted({e for sp in species for e in sp})
    occ = np.array([[sp.get(e, 0.0) for e in elements] for sp in species])
    return np.asarray(cell, float), np.asarray(frac, float), elements, occ


def _point_group(cell: np.ndarray, frac: np.ndarray, occ: np.ndarray, symprec: float) -> np.ndarray:
    """Rotations (fractional coordinates) of the crystal's point group with inversion added."""
    import spglib

    _, types = np.unique(np.round(occ, 6), axis=0, return_inverse=True)
    symmetry = spglib.get_symmetry((cell, frac, types.ravel()), symprec=symprec)
    rotations = (
        np.eye(3, dtype=int)[None] if symmetry is None else np.unique(symmetry["rotations"], axis=0)
    )
    return np.concatenate([rotations, -rotations])  # Friedel's law: I(-hkl) = I(hkl)


def _families(hkl: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Representative (lexicographically largest equivalent) and family index of each hkl."""
    images = np.einsum("mi,nij->mnj", hkl.astype(np.int32), rotations.astype(np.int32))
    width = 2 * int(np.abs(images).max()) + 1
    keys = (images[..., 0].astype(np.int64) * width + images[..., 1]) * width + images[..., 2]
    best = keys.argmax(axis=1)
    representative = images[np.arange(len(hkl)), best]
    _, family = np.unique(keys[np.arange(len(hkl)), best], return_inverse=True)
    return representative, family.ravel()


def _conventional_cell(
    cell: np.ndarray, frac: np.ndarray, occ: np.ndarray, symprec: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same crystal in spglib's conventional standard cell (unchanged if spglib fails)."""
    import spglib

    kinds, types = np.unique(np.round(occ, 6), axis=0, return_inverse=True)
    standard = spglib.standardize_cell(
        (cell, frac, types.ravel()), to_primitive=False, symprec=symprec
    )
    if standard is None:
        return cell, frac, occ
    std_cell, std_frac, std_types = standard
    return np.asarray(std_cell), np.asarray(std_frac), kinds[std_types]


@dataclass(frozen=True)
class MarchDollase:
    """March-Dollase preferred orientation (Dollase, J. Appl. Cryst. 19, 267 (1986)).

    A reflection whose scattering vector makes the angle alpha with the orientation axis ``axis``
    (a reciprocal-lattice direction hkl of the conventional cell) is weighted by
    P = (r^2 cos^2 alpha + sin^2 alpha / r)^(-3/2), averaged over its symmetry family. r = 1 is a
    random powder; r < 1 enhances reflections along the axis (plates or cubes lying face down on a
    substrate in reflection geometry, axis = the face normal, (100) for the cubes of the study).
    """

    r: float
    axis: tuple[int, int, int] = (1, 0, 0)

    def __post_init__(self):
        if not self.r > 0:
            raise InputError("preferred_orientation.r", self.r, "a March-Dollase r > 0")
        if not any(self.axis):
            raise InputError("preferred_orientation.axis", self.axis, "a nonzero hkl direction")

    def factor(self, g: np.ndarray, axis: np.ndarray) -> np.ndarray:
        """P for reciprocal vectors ``g`` (rows, 1/Angstrom) and the axis vector ``axis``."""
        cos2 = (g @ axis) ** 2 / (np.sum(g * g, axis=1) * (axis @ axis))
        return (self.r**2 * cos2 + (1 - cos2) / self.r) ** -1.5


def _structure_factors(cell, frac, elements, occ, hkl, debye_waller, wavelength=None):
    s = np.linalg.norm(hkl @ np.linalg.inv(cell).T, axis=1) / 2
    factors = np.stack(
        [form_factor(e, s, wavelength) * temperature_factor(e, s, debye_waller) for e in elements],
        axis=1,
    )
    f_hkl = np.empty(len(hkl), complex)
    rows = max(1, 2_000_000 // len(frac))
    for start in range(0, len(hkl), rows):
        chunk = slice(start, start + rows)
        phase = np.exp(2j * np.pi * (hkl[chunk] @ frac.T))
        f_hkl[chunk] = np.sum((phase @ occ) * factors[chunk], axis=1)
    return f_hkl


def structure_factors(
    structure,
    hkl: np.ndarray,
    debye_waller: Mapping[str, float] | None = None,
    wavelength: float | None = None,
) -> np.ndarray:
    """Complex structure factors F(hkl) (electrons) of a periodic structure (ase.Atoms or pymatgen
    Structure with fractional occupancies), hkl referring to its cell as given; with
    ``wavelength`` (Angstrom) the form factors include the anomalous dispersion f' + i f''."""
    cell, frac, elements, occ = _sites(structure)
    return _structure_factors(
        cell, frac, elements, occ, np.atleast_2d(hkl), debye_waller, wavelength
    )


def bragg_reflections(
    structure,
    wavelength: Wavelength = CU_KA,
    two_theta_range: tuple[float, float] = (5.0, 90.0),
    debye_waller: Mapping[str, float] | str | None = REFERENCE_B,
    monochromator_2theta: float | None = None,
    symprec: float = 1e-3,
    conventional: bool = True,
    anomalous: bool = True,
    preferred_orientation: MarchDollase | None = None,
) -> list[Reflection]:
    """Powder reflections of a periodic structure (ase.Atoms or pymatgen Structure) by 2theta.

    Symmetry-equivalent reflections (spglib point group plus Friedel pairs) are merged into one
    :class:`Reflection` whose ``multiplicity`` counts them; systematic absences are dropped.
    With ``conventional``, Miller indices refer to spglib's conventional standard cell (e.g. the
    cubic cell of a primitive rock-salt cell); otherwise to the cell as given. ``debye_waller``:
    B per element (Angstrom^2), None for none, or :data:`REFERENCE_B` for the room-temperature
    table (:func:`perovcalc.scattering.debye_waller_factors`). ``anomalous`` adds f' + i f'' at each
    wavelength line; ``preferred_orientation`` weights each family by its March-Dollase factor.
    """
    lines = wavelength_lines(wavelength)
    lo, hi = check_range(two_theta_range)
    cell, frac, elements, occ = _sites(structure)
    b_factors = debye_waller_factors(elements, debye_waller)
    if conventional:
        cell, frac, occ = _conventional_cell(cell, frac, occ, symprec)
    lams = np.array([lam for lam, _ in lines])
    g_max = 2 * np.sin(np.radians(hi / 2)) / lams.min()
    g_min = 2 * np.sin(np.radians(lo / 2)) / lams.max()
    n_max = np.floor(g_max * np.linalg.norm(cell, axis=1)).astype(int)
    axes = [np.arange(-n, n + 1) for n in n_max]
    hkl = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    reciprocal = np.linalg.inv(cell).T
    g = np.linalg.norm(hkl @ reciprocal, axis=1)
    keep = (g > 0) & (g >= g_min) & (g <= g_max)
    hkl, g = hkl[keep], g[keep]
    if len(hkl) == 0:
        return []
    f2_lines = [
        np.abs(
            _structure_factors(
                cell, frac, elements, occ, hkl, b_factors, lam if anomalous else None
            )
        )
        ** 2
        for lam, _ in lines
    ]
    present = f2_lines[0] > ABSENCE_TOLERANCE * f2_lines[0].max()
    hkl, g = hkl[present], g[present]
    texture = (
        np.ones(len(hkl))
        if preferred_orientation is None
        else preferred_orientation.factor(
            hkl @ reciprocal, np.asarray(preferred_orientation.axis, float) @ reciprocal
        )
    )
    representative, family = _families(hkl, _point_group(cell, frac, occ, symprec))
    n_families = family.max() + 1
    multiplicity = np.bincount(family, minlength=n_families)
    first = np.unique(family, return_index=True)[1]
    reflections = []
    for (lam, weight), f2 in zip(lines, f2_lines, strict=True):
        total_f2 = np.bincount(family, weights=f2[present] * texture, minlength=n_families)
        sin_theta = lam * g[first] / 2
        for i in np.flatnonzero(sin_theta <= 1):
            two_theta = float(np.degrees(2 * np.arcsin(sin_theta[i])))
            if lo <= two_theta <= hi:
                lp = float(lorentz_polarization(two_theta, monochromator_2theta))
                reflections.append(
                    Reflection(
                        hkl=tuple(int(v) for v in representative[first[i]]),
                        multiplicity=int(multiplicity[i]),
                        d=float(1 / g[first[i]]),
                        two_theta=two_theta,
                        intensity=float(weight * total_f2[i] * lp),
                        wavelength=lam,
                    )
                )
    return sorted(reflections, key=lambda r: (r.two_theta, r.hkl))


def scherrer_fwhm(
    two_theta: np.ndarray | float, wavelength: float, size_nm: float, k: float = SCHERRER_K
):
    """Size-broadening FWHM in degrees 2theta: K lambda / (L cos theta) for crystallite size L."""
    if not size_nm > 0:
        raise InputError("size_nm", size_nm, "a crystallite size > 0 nm")
    theta = np.radians(np.asarray(two_theta) / 2)
    return np.degrees(k * wavelength / (10.0 * size_nm * np.cos(theta)))


def powder_profile(
    reflections: Sequence[Reflection],
    two_theta: np.ndarray,
    size_nm: float | None = None,
    instrument_fwhm: float = 0.05,
    scherrer_k: float = SCHERRER_K,
) -> np.ndarray:
    """Sum of unit-area pseudo-Voigt peaks (area = reflection intensity) on a 2theta grid (degrees).

    ``instrument_fwhm`` (degrees) is the Gaussian instrumental width; ``size_nm`` adds the
    Lorentzian Scherrer width of crystallites of that size (None: no size broadening).
    """
    if not instrument_fwhm > 0:
        raise InputError("instrument_fwhm", instrument_fwhm, "a width > 0 degrees")
    two_theta = np.asarray(two_theta, float)
    intensity = np.zeros_like(two_theta)
    if not reflections:
        return intensity
    centre = np.array([r.two_theta for r in reflections])
    area = np.array([r.intensity for r in reflections])
    lam = np.array([r.wavelength for r in reflections])
    lorentzian = (
        np.zeros_like(centre)
        if size_nm is None
        else scherrer_fwhm(centre, lam, size_nm, scherrer_k)
    )
    for c, a, lor in zip(centre, area, lorentzian, strict=True):
        intensity += a * pseudo_voigt(two_theta - c, instrument_fwhm, lor)
    return intensity


def powder_pattern(
    structure,
    two_theta: np.ndarray,
    wavelength: Wavelength = CU_KA,
    size_nm: float | None = None,
    instrument_fwhm: float = 0.05,
    debye_waller: Mapping[str, float] | str | None = REFERENCE_B,
    monochromator_2theta: float | None = None,
    anomalous: bool = True,
    preferred_orientation: MarchDollase | None = None,
) -> Pattern:
    """Profile powder pattern of a periodic structure on the 2theta grid (degrees).

    Reflections up to 10 degrees outside the grid are included for their tails; the other
    arguments are those of :func:`bragg_reflections` and :func:`powder_profile`.
    """
    two_theta = np.asarray(two_theta, float)
    window = (max(0.0, two_theta.min() - 10.0), min(180.0, two_theta.max() + 10.0))
    reflections = bragg_reflections(
        structure,
        wavelength,
        window,
        debye_waller,
        monochromator_2theta,
        anomalous=anomalous,
        preferred_orientation=preferred_orientation,
    )
    return Pattern(two_theta, powder_profile(reflections, two_theta, size_nm, instrument_fwhm))


# --- any structure file: periodic crystal, slab (platelet) or finite model ---------------------

#: Default lateral size (nm) of a platelet made from a slab: the TEM edge of the study's
#: nanocrystals (reference/nanocrystal_size.csv, study A).
PLATELET_NM = 11.4
#: Finite models with fewer atoms than this get a warning: their pattern is dominated by size.
SMALL_MODEL_ATOMS = 300


@dataclass(frozen=True)
class ModelPattern:
    """The powder pattern of a structure file and how it was obtained."""

    pattern: Pattern
    method: str  # "bragg", "debye-<m>" (finite model) or "platelet-debye-<m>" (slab)
    explanation: str  # what was scattered and why, for the user
    reflections: tuple[Reflection, ...] = ()  # Bragg reflections (method "bragg")
    warning: str | None = None
    atoms_scattered: int = 0  # atoms in the Debye sum (0 for Bragg)


def platelet(slab: Atoms, lateral_nm: float = PLATELET_NM) -> Atoms:
    """A finite platelet crystallite: a model periodic in two directions (see
    :func:`perovcalc.presets.periodic_directions`) repeated along them to about ``lateral_nm``
    (nm) each way, with no periodic boundary conditions; the thickness is the slab's."""
    if not lateral_nm > 0:
        raise InputError("lateral_nm", lateral_nm, "a platelet size > 0 nm")
    periodic = periodic_directions(slab)
    if sum(periodic) != 2:
        raise InputError(
            "structure", f"periodic along {periodic}", "a slab periodic in exactly two directions"
        )
    lengths = slab.cell.lengths()
    repeat = [
        max(1, int(round(10.0 * lateral_nm / lengths[i]))) if periodic[i] else 1 for i in range(3)
    ]
    crystallite = slab.repeat(repeat)
    crystallite.pbc = False
    crystallite.info["repeat"] = tuple(repeat)
    return crystallite


def model_pattern(
    atoms: Atoms,
    two_theta: np.ndarray,
    wavelength: Wavelength = CU_KA,
    size_nm: float | None = 11.4,
    instrument_fwhm: float = 0.05,
    method: str = "fast",
    lateral_nm: float = PLATELET_NM,
    debye_waller: Mapping[str, float] | str | None = REFERENCE_B,
    anomalous: bool = True,
    preferred_orientation: MarchDollase | None = None,
    threads: int = 2,
) -> ModelPattern:
    """Powder pattern of a structure as what it stands for, on a 2theta grid (degrees).

    Periodic in three directions: a crystal, Bragg reflections with Scherrer broadening for
    ``size_nm``. Periodic in two (pbc like (True, True, False), or vacuum along one axis): a slab,
    scattered as a platelet crystallite of ``lateral_nm`` (:func:`platelet`) by the Debye
    equation. Periodic in none: a finite model, Debye equation, with a warning below
    :data:`SMALL_MODEL_ATOMS` atoms. One periodic direction (a wire) is refused.
    ``preferred_orientation`` applies to Bragg patterns only (the Debye equation is an orientation
    average).
    """
    two_theta = np.asarray(two_theta, float)
    periodic = periodic_directions(atoms)
    n_periodic = sum(periodic)
    if n_periodic == 3:
        window = (max(0.0, two_theta.min() - 10.0), min(180.0, two_theta.max() + 10.0))
        reflections = bragg_reflections(
            atoms,
            wavelength,
            window,
            debye_waller,
            anomalous=anomalous,
            preferred_orientation=preferred_orientation,
        )
        size = "no size broadening" if size_nm is None else f"Scherrer broadening for {size_nm} nm"
        return ModelPattern(
            Pattern(two_theta, powder_profile(reflections, two_theta, size_nm, instrument_fwhm)),
            "bragg",
            f"periodic in three directions: Bragg reflections of the crystal, {size}",
            tuple(reflections),
        )
    if n_periodic == 1:
        raise InputError(
            "structure",
            f"periodic along {periodic} only",
            "a crystal (3 periodic directions), a slab (2) or a finite model (0)",
        )
    if n_periodic == 2:
        model = platelet(atoms, lateral_nm)
        axes = "".join("abc"[i] for i in range(3) if periodic[i])
        normal = [i for i in range(3) if not periodic[i]][0]
        thickness = np.ptp(atoms.positions[:, normal]) / 10.0
        n1, n2 = (model.info["repeat"][i] for i in range(3) if periodic[i])
        lateral = [
            atoms.cell.lengths()[i] * n / 10.0
            for i, n in zip([i for i in range(3) if periodic[i]], (n1, n2), strict=True)
        ]
        explanation = (
            f"periodic in two directions ({axes}), not along {'abc'[normal]}: a slab, scattered "
            f"as a platelet crystallite: {n1} x {n2} in-plane repeats, "
            f"{lateral[0]:.1f} x {lateral[1]:.1f} nm, {thickness:.2f} nm between the outer atomic "
            f"planes, {len(model)} atoms,"
            f" Debye equation ({method}); size broadening comes from this shape"
        )
        kind = f"platelet-debye-{method}"
    else:
        model = atoms
        explanation = f"finite model of {len(atoms)} atoms: Debye equation ({method})"
        kind = f"debye-{method}"
    warning = None
    if len(model) < SMALL_MODEL_ATOMS:
        warning = (
            f"the model has only {len(model)} atoms: its pattern is dominated by its size "
            "(broad, shifted maxima), not by the crystal structure"
        )
    pattern = debye_pattern(
        model,
        two_theta,
        wavelength,
        method=method,
        debye_waller=debye_waller,
        threads=threads,
        anomalous=anomalous,
    )
    return ModelPattern(pattern, kind, explanation, (), warning, len(model))


@dataclass(frozen=True)
class SeriesEntry:
    """The simulated pattern of CsPbI3-xBrx at one composition."""

    x: float
    lattice_constant: float  # Angstrom
    pattern: Pattern
    peaks: dict[tuple[int, int, int], float]  # (100), (110), (200) positions, 2theta degrees


SERIES_PEAKS = ((1, 0, 0), (1, 1, 0), (2, 0, 0))


def composition_series(
    xs: Sequence[float],
    lattice_constants: Mapping[float, float] | None = None,
    two_theta: np.ndarray | None = None,
    wavelength: Wavelength = CU_KA,
    size_nm: float | None = 11.4,
    instrument_fwhm: float = 0.05,
    debye_waller: Mapping[str, float] | str | None = REFERENCE_B,
    anomalous: bool = True,
) -> list[SeriesEntry]:
    """Patterns and (100)/(110)/(200) positions of cubic CsPbI3-xBrx for each x in ``xs``.

    The lattice constant is ``lattice_constants[x]`` (e.g. relaxed values from the results store)
    where given, else Vegard's law between the experimental end members. Peak positions are those
    of the first (strongest) wavelength line; intensities as for :func:`bragg_reflections`.
    """
    two_theta = two_theta_grid() if two_theta is None else np.asarray(two_theta, float)
    first_line = max(wavelength_lines(wavelength), key=lambda line: line[1])[0]
    entries = []
    for x in xs:
        a = (lattice_constants or {}).get(x) or vegard_lattice_constant(x)
        structure = mixed_halide_cell(a, x)
        pattern = powder_pattern(
            structure,
            two_theta,
            wavelength,
            size_nm,
            instrument_fwhm,
            debye_waller,
            anomalous=anomalous,
        )
        found = {r.hkl: r.two_theta for r in bragg_reflections(structure, first_line, (1.0, 179.0))}
        entries.append(
            SeriesEntry(float(x), float(a), pattern, {hkl: found[hkl] for hkl in SERIES_PEAKS})
        )
    return entries


def plot_waterfall(entries: Sequence[SeriesEntry], path: str | Path, offset: float = 1.1) -> None:
    """Waterfall plot of a composition series: patterns normalised to their maximum, offset by x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 1.2 + 0.8 * len(entries)))
    for i, entry in enumerate(entries):
        y = entry.pattern.intensity / entry.pattern.intensity.max() + i * offset
        ax.plot(entry.pattern.two_theta, y, lw=1)
        ax.text(entry.pattern.two_theta[-1], i * offset + 0.2, f"x = {entry.x:g}", ha="right")
        for hkl, position in entry.peaks.items():
            ax.plot([position] * 2, [i * offset, i * offset + 0.08], color="k", lw=0.8)
            if i == len(entries) - 1:
                ax.text(
                    position, i * offset + 1.05, "".join(map(str, hkl)), ha="center", fontsize=8
                )
    ax.set_xlabel("2θ (degrees)")
    ax.set_ylabel("normalised intensity (offset)")
    ax.set_yticks([])
    ax.set_title("CsPbI$_{3-x}$Br$_x$")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def write_patterns(
    path: str | Path, two_theta: np.ndarray, columns: Mapping[str, np.ndarray]
) -> None:
    """CSV file with a 2theta column (degrees) and one intensity column per pattern."""
    with Path(path).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["two_theta_deg", *columns])
        for i, t in enumerate(two_theta):
            writer.writerow([f"{t:.4f}", *(f"{c[i]:.6g}" for c in columns.values())])
