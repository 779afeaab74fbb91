"""Simulated powder X-ray diffraction of periodic structures and comparison with measurements.

Bragg patterns are kinematic: F(hkl) = sum_j occ_j f_j(s) T_j(s) exp(2 pi i hkl.x_j), with the
neutral-atom form factors f(s) that pymatgen's ``XRDCalculator`` uses, s = sin(theta)/lambda in
1/Angstrom, and optional Debye-Waller factors T = exp(-B s^2) per element (B in Angstrom^2).
Intensities are multiplicity x |F|^2 x Lorentz-polarisation. Line profiles are pseudo-Voigt
functions: the instrument gives a Gaussian width, the crystallite size a Lorentzian Scherrer
width, combined as by Thompson, Cox and Hastings, J. Appl. Cryst. 20, 79 (1987).
Angles are 2theta in degrees, lengths in Angstrom; crystallite sizes in nm.

A wavelength is either one number or a sequence of (wavelength, relative weight) lines such as
:data:`CU_KA_DOUBLET`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.units import Bohr
from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS, WAVELENGTHS

from perovcalc.bulk import check_x, cubic_perovskite, vegard_lattice_constant
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.lineshape import pseudo_voigt
from perovcalc.reference import lattice_constant

#: Cu K-alpha wavelength (Angstrom) stated by the measured study (Yang et al., J. Am. Chem. Soc.
#: 2020, doi:10.1021/jacs.9b11719): the weighted K-alpha1/K-alpha2 mean.
CU_KA = 1.54178
#: Cu K-alpha1 and K-alpha2 (Angstrom) from pymatgen's wavelength table.
CU_KA1 = WAVELENGTHS["CuKa1"]
CU_KA2 = WAVELENGTHS["CuKa2"]
#: Cu K-alpha doublet with the 2:1 K-alpha1:K-alpha2 intensity ratio (the 2p3/2 : 2p1/2 ratio of
#: statistical weights, the usual value for a Cu tube without a K-alpha2 filter).
CU_KA_DOUBLET = ((CU_KA1, 1.0), (CU_KA2, 0.5))
#: Named radiations accepted by :func:`parse_wavelength`: pymatgen's lines plus the doublet.
RADIATIONS: dict[str, float | tuple[tuple[float, float], ...]] = {
    **WAVELENGTHS,
    "CuKa1+2": CU_KA_DOUBLET,
}
#: Scherrer constant for the FWHM of cube-shaped crystallites (0.886 for {h00} of a cube: the
#: FWHM of the Laue function of a column of constant length; 0.83-0.91 over other reflections).
SCHERRER_K = 0.89
#: 8 pi^2 a0 (Angstrom): the Mott-Bethe factor converting the electron form-factor fit that
#: pymatgen tabulates into the X-ray form factor, f_x = Z - 8 pi^2 a0 s^2 f_e(s).
MOTT_BETHE = 8.0 * np.pi**2 * Bohr
#: Reflections weaker than this fraction of the strongest |F|^2 are systematic absences.
ABSENCE_TOLERANCE = 1e-8

Wavelength = float | Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Reflection:
    """One family of symmetry-equivalent reflections at one wavelength.

    ``intensity`` = weight x multiplicity x |F|^2 x Lorentz-polarisation (electrons^2).
    """

    hkl: tuple[int, int, int]
    multiplicity: int
    d: float  # Angstrom
    two_theta: float  # degrees
    intensity: float
    wavelength: float  # Angstrom


@dataclass(frozen=True)
class Pattern:
    """A powder pattern: intensity on a 2theta grid (degrees)."""

    two_theta: np.ndarray
    intensity: np.ndarray


def wavelength_lines(wavelength: Wavelength) -> tuple[tuple[float, float], ...]:
    """``wavelength`` as (wavelength in Angstrom, relative weight) lines."""
    if isinstance(wavelength, int | float):
        lines = ((float(wavelength), 1.0),)
    else:
        lines = tuple((float(lam), float(weight)) for lam, weight in wavelength)
    if not lines or any(not (lam > 0 and weight > 0) for lam, weight in lines):
        raise InputError(
            "wavelength", wavelength, "a wavelength > 0 Angstrom or (wavelength, weight > 0) lines"
        )
    return lines


def parse_wavelength(text: str) -> Wavelength:
    """A wavelength given as a number (Angstrom) or as a name of :data:`RADIATIONS`."""
    if text in RADIATIONS:
        return RADIATIONS[text]
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            "wavelength", text, "a number in Angstrom or one of " + ", ".join(RADIATIONS)
        ) from None
    return wavelength_lines(value)[0][0]


def mean_wavelength(wavelength: Wavelength) -> float:
    """Intensity-weighted mean wavelength of the lines, Angstrom."""
    lines = np.array(wavelength_lines(wavelength))
    return float(np.average(lines[:, 0], weights=lines[:, 1]))


def atomic_scattering_factor(symbol: str, s: np.ndarray | float) -> np.ndarray:
    """X-ray form factor f(s) of a neutral atom in electrons; s = sin(theta)/lambda, 1/Angstrom."""
    if symbol not in ATOMIC_SCATTERING_PARAMS:
        raise InputError("element", symbol, "elements with tabulated form factors in pymatgen")
    coeff = np.asarray(ATOMIC_SCATTERING_PARAMS[symbol])
    s2 = np.asarray(s, dtype=float)[..., None] ** 2
    electron = np.sum(coeff[:, 0] * np.exp(-coeff[:, 1] * s2), axis=-1)
    return atomic_numbers[symbol] - MOTT_BETHE * s2[..., 0] * electron


def temperature_factor(
    symbol: str, s: np.ndarray, debye_waller: Mapping[str, float] | None
) -> np.ndarray:
    """Debye-Waller amplitude factor exp(-B s^2) of ``symbol`` (1 when no B is given)."""
    b = (debye_waller or {}).get(symbol, 0.0)
    if b < 0:
        raise InputError(f"debye_waller[{symbol}]", b, "B >= 0 Angstrom^2")
    return np.exp(-b * np.asarray(s) ** 2)


def polarization(two_theta: np.ndarray, monochromator_2theta: float | None = None) -> np.ndarray:
    """Polarisation factor (1 + cos^2 2theta_m cos^2 2theta) / (1 + cos^2 2theta_m) of an
    unpolarised beam.

    ``monochromator_2theta`` is the diffraction angle 2theta_m (degrees) of a monochromator crystal
    whose scattering plane contains the diffractometer's; None means no monochromator.
    """
    cm2 = np.cos(np.radians(monochromator_2theta or 0.0)) ** 2
    return (1.0 + cm2 * np.cos(np.radians(two_theta)) ** 2) / (1.0 + cm2)


def lorentz_polarization(
    two_theta: np.ndarray, monochromator_2theta: float | None = None
) -> np.ndarray:
    """Lorentz-polarisation factor of a powder line: polarisation / (sin^2 theta cos theta)."""
    theta = np.radians(np.asarray(two_theta) / 2)
    return polarization(two_theta, monochromator_2theta) / (np.sin(theta) ** 2 * np.cos(theta))


def _check_range(two_theta_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(t) for t in two_theta_range)
    if not 0 <= lo < hi <= 180:
        raise InputError("two_theta_range", two_theta_range, "0 <= MIN < MAX <= 180 degrees")
    return lo, hi


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


def _structure_factors(cell, frac, elements, occ, hkl, debye_waller) -> np.ndarray:
    s = np.linalg.norm(hkl @ np.linalg.inv(cell).T, axis=1) / 2
    factors = np.stack(
        [atomic_scattering_factor(e, s) * temperature_factor(e, s, debye_waller) for e in elements],
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
    structure, hkl: np.ndarray, debye_waller: Mapping[str, float] | None = None
) -> np.ndarray:
    """Complex structure factors F(hkl) (electrons) of a periodic structure (ase.Atoms or pymatgen
    Structure with fractional occupancies), hkl referring to its cell as given."""
    return _structure_factors(*_sites(structure), np.atleast_2d(hkl), debye_waller)


def bragg_reflections(
    structure,
    wavelength: Wavelength = CU_KA,
    two_theta_range: tuple[float, float] = (5.0, 90.0),
    debye_waller: Mapping[str, float] | None = None,
    monochromator_2theta: float | None = None,
    symprec: float = 1e-3,
    conventional: bool = True,
) -> list[Reflection]:
    """Powder reflections of a periodic structure (ase.Atoms or pymatgen Structure) by 2theta.

    Symmetry-equivalent reflections (spglib point group plus Friedel pairs) are merged into one
    :class:`Reflection` whose ``multiplicity`` counts them; systematic absences are dropped.
    With ``conventional``, Miller indices refer to spglib's conventional standard cell (e.g. the
    cubic cell of a primitive rock-salt cell); otherwise to the cell as given.
    """
    lines = wavelength_lines(wavelength)
    lo, hi = _check_range(two_theta_range)
    cell, frac, elements, occ = _sites(structure)
    if conventional:
        cell, frac, occ = _conventional_cell(cell, frac, occ, symprec)
    lams = np.array([lam for lam, _ in lines])
    g_max = 2 * np.sin(np.radians(hi / 2)) / lams.min()
    g_min = 2 * np.sin(np.radians(lo / 2)) / lams.max()
    n_max = np.floor(g_max * np.linalg.norm(cell, axis=1)).astype(int)
    axes = [np.arange(-n, n + 1) for n in n_max]
    hkl = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    g = np.linalg.norm(hkl @ np.linalg.inv(cell).T, axis=1)
    keep = (g > 0) & (g >= g_min) & (g <= g_max)
    hkl, g = hkl[keep], g[keep]
    if len(hkl) == 0:
        return []
    f2 = np.abs(_structure_factors(cell, frac, elements, occ, hkl, debye_waller)) ** 2
    present = f2 > ABSENCE_TOLERANCE * f2.max()
    hkl, g, f2 = hkl[present], g[present], f2[present]
    representative, family = _families(hkl, _point_group(cell, frac, occ, symprec))
    n_families = family.max() + 1
    multiplicity = np.bincount(family, minlength=n_families)
    total_f2 = np.bincount(family, weights=f2, minlength=n_families)
    first = np.unique(family, return_index=True)[1]
    reflections = []
    for lam, weight in lines:
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
    debye_waller: Mapping[str, float] | None = None,
    monochromator_2theta: float | None = None,
) -> Pattern:
    """Profile powder pattern of a periodic structure on the 2theta grid (degrees).

    Reflections up to 10 degrees outside the grid are included for their tails.
    """
    two_theta = np.asarray(two_theta, float)
    window = (max(0.0, two_theta.min() - 10.0), min(180.0, two_theta.max() + 10.0))
    reflections = bragg_reflections(
        structure, wavelength, window, debye_waller, monochromator_2theta
    )
    return Pattern(two_theta, powder_profile(reflections, two_theta, size_nm, instrument_fwhm))


def two_theta_grid(
    two_theta_range: tuple[float, float] = (10.0, 60.0), step: float = 0.02
) -> np.ndarray:
    """Evenly spaced 2theta values (degrees) from MIN to MAX inclusive."""
    lo, hi = _check_range(two_theta_range)
    if not 0 < step < hi - lo:
        raise InputError("step", step, f"a step > 0 and < {hi - lo:g} degrees")
    return np.linspace(lo, hi, int(round((hi - lo) / step)) + 1)


# --- cubic phases of the study: CsPbI3-xBrx (virtual crystal) and rock-salt K(Br,I) -----------


def mixed_halide_cell(a: float, x: float):
    """Cubic CsPb(I1-yBry)3, y = x/3, as a pymatgen Structure with mixed I/Br occupancy of the
    halide sites (the average structure of a random alloy), lattice constant ``a`` in Angstrom."""
    from pymatgen.io.ase import AseAtomsAdaptor

    y = check_x(x) / 3
    structure = AseAtomsAdaptor.get_structure(cubic_perovskite(a, "I"))
    for i, site in enumerate(structure):
        if site.specie.symbol == "I":
            structure.replace(i, {"I": 1 - y, "Br": y} if 0 < y < 1 else ("Br" if y == 1 else "I"))
    return structure


def rock_salt_lattice_constant(iodide_fraction: float) -> float:
    """Vegard lattice constant (Angstrom) of rock-salt KBr(1-y)I(y) between reference KBr and KI."""
    y = _check_fraction(iodide_fraction)
    return (1 - y) * lattice_constant("KBr") + y * lattice_constant("KI")


def _check_fraction(y: float) -> float:
    if not 0 <= y <= 1:
        raise InputError("iodide_fraction", y, "a fraction in [0, 1]")
    return float(y)


def rock_salt_cell(a: float, iodide_fraction: float):
    """Rock-salt K(Br1-yIy) (Fm-3m, conventional cell) with mixed Br/I occupancy, a in Angstrom."""
    from pymatgen.core import Lattice, Structure

    y = _check_fraction(iodide_fraction)
    anion = {"Br": 1 - y, "I": y} if 0 < y < 1 else ("I" if y == 1 else "Br")
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["K", anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def vegard_br_content(a: float) -> float:
    """Br per formula unit x implied by a cubic lattice constant (Angstrom) through Vegard's law
    (not clipped to [0, 3])."""
    a0, a3 = vegard_lattice_constant(0.0), vegard_lattice_constant(3.0)
    return 3.0 * (a - a0) / (a3 - a0)


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
) -> list[SeriesEntry]:
    """Patterns and (100)/(110)/(200) positions of cubic CsPbI3-xBrx for each x in ``xs``.

    The lattice constant is ``lattice_constants[x]`` (e.g. relaxed values from the results store)
    where given, else Vegard's law between the experimental end members. Peak positions are those
    of the first (strongest) wavelength line.
    """
    two_theta = two_theta_grid() if two_theta is None else np.asarray(two_theta, float)
    first_line = max(wavelength_lines(wavelength), key=lambda line: line[1])[0]
    entries = []
    for x in xs:
        a = (lattice_constants or {}).get(x) or vegard_lattice_constant(x)
        structure = mixed_halide_cell(a, x)
        pattern = powder_pattern(structure, two_theta, wavelength, size_nm, instrument_fwhm)
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


# --- measured patterns ----------------------------------------------------------------------


def read_pattern(path: str | Path) -> Pattern:
    """A measured pattern from a two-column text or CSV file: 2theta (degrees), intensity.

    Columns are separated by commas, semicolons, tabs or spaces; lines starting with ``#`` are
    comments; a first line of column names is allowed. Extra columns are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise PerovcalcError(f"measured pattern {path}: no such file")
    rows: list[tuple[float, float]] = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f for f in re.split(r"[,;\s]+", text) if f]
        if not rows and not any(_is_number(f) for f in fields):
            continue  # header line
        if len(fields) < 2:
            raise PerovcalcError(
                f"{path} line {lineno}: found {len(fields)} column, "
                f"need two (2theta, intensity): {text!r}"
            )
        values = []
        for name, field in zip(("2theta", "intensity"), fields[:2], strict=True):
            if not _is_number(field):
                raise InputError(name, field, "a number", where=f"{path} line {lineno}")
            values.append(float(field))
        rows.append((values[0], values[1]))
    if len(rows) < 10:
        raise PerovcalcError(f"{path}: {len(rows)} data rows; a pattern needs at least 10")
    data = np.array(rows)
    data = data[np.argsort(data[:, 0], kind="stable")]
    if np.any(np.diff(data[:, 0]) <= 0):
        raise PerovcalcError(f"{path}: repeated 2theta values")
    return Pattern(data[:, 0], data[:, 1])


def _is_number(text: str) -> bool:
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


def find_peaks(pattern: Pattern, min_prominence: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Peak positions (2theta, degrees) and heights above background of a measured pattern.

    Peaks are maxima of the pattern smoothed over about 0.15 degrees (Savitzky-Golay) whose
    prominence exceeds ``min_prominence`` times the intensity range and ten times the noise left
    after smoothing; each position is the vertex of a parabola through the points within half a
    width of the maximum.
    """
    from scipy.signal import find_peaks as scipy_find_peaks
    from scipy.signal import savgol_filter

    x, y = pattern.two_theta, pattern.intensity
    window = min(len(y) - (1 - len(y) % 2), max(5, int(0.15 / np.median(np.diff(x))) | 1))
    smooth = savgol_filter(y, window, 2) if window > 3 else y
    span = smooth.max() - smooth.min()
    # white noise of variance v leaves f v after quadratic Savitzky-Golay smoothing and (1 - f) v
    # in the residual; the robust residual spread gives v
    f = 3 * (3 * window**2 - 7) / (4 * window * (window**2 - 4))
    residual = 1.4826 * np.median(np.abs(y - smooth))
    threshold = max(min_prominence * span, 10 * residual * np.sqrt(f / (1 - f)))
    index, props = scipy_find_peaks(smooth, prominence=threshold, width=1)
    positions = []
    for i, width in zip(index, props["widths"], strict=True):
        half = max(2, int(round(width / 2)))
        sel = slice(max(0, i - half), min(len(x), i + half + 1))
        c2, c1, _ = np.polyfit(x[sel] - x[i], smooth[sel], 2)
        shift = -c1 / (2 * c2) if c2 < 0 else 0.0
        positions.append(x[i] + float(np.clip(shift, x[sel][0] - x[i], x[sel][-1] - x[i])))
    return np.array(positions), props["prominences"]


@dataclass(frozen=True)
class PeakMatch:
    """A measured peak indexed to a reflection of a cubic phase."""

    hkl: tuple[int, int, int]
    observed: float  # 2theta, degrees
    calculated: float  # 2theta at the fitted lattice constant, degrees

    @property
    def residual(self) -> float:
        """observed - calculated, degrees 2theta."""
        return self.observed - self.calculated


@dataclass(frozen=True)
class CubicFit:
    """A cubic lattice constant fitted to indexed peak positions."""

    lattice_constant: float  # Angstrom
    uncertainty: float  # Angstrom (nan with one indexed peak)
    matches: tuple[PeakMatch, ...]


def _visible_reflections(
    cells: Sequence, wavelength: float, min_intensity: float
) -> dict[int, tuple[int, int, int]]:
    """h^2+k^2+l^2 -> strongest hkl for reflections reaching ``min_intensity`` of the strongest in
    any of the cubic ``cells`` (pymatgen Structures)."""
    visible: dict[int, tuple[tuple[int, int, int], float]] = {}
    for cell in cells:
        reflections = bragg_reflections(cell, wavelength, (1.0, 179.0))
        strongest = max(r.intensity for r in reflections)
        for r in reflections:
            n = sum(h * h for h in r.hkl)
            rel = r.intensity / strongest
            if rel >= min_intensity and rel > visible.get(n, ((0, 0, 0), 0.0))[1]:
                visible[n] = (r.hkl, rel)
    return {n: hkl for n, (hkl, _) in sorted(visible.items())}


def _cubic_two_theta(a: np.ndarray | float, n: np.ndarray, wavelength: float) -> np.ndarray:
    sin_theta = wavelength * np.sqrt(n) / (2 * np.asarray(a)[..., None])
    with np.errstate(invalid="ignore"):
        return np.degrees(2 * np.arcsin(np.where(sin_theta <= 1, sin_theta, np.nan)))


def fit_cubic_lattice(
    positions: np.ndarray,
    heights: np.ndarray,
    reflections: Mapping[int, tuple[int, int, int]],
    a_range: tuple[float, float],
    wavelength: float,
    tolerance: float = 0.25,
) -> CubicFit | None:
    """Index peaks (2theta, degrees) to a cubic phase with the given reflections (h^2+k^2+l^2 ->
    hkl) and fit its lattice constant in ``a_range`` (Angstrom); None if no peak indexes.

    A scan over a maximises the height-weighted number of peaks within ``tolerance`` degrees of a
    reflection; a least-squares fit of the indexed positions then refines a.
    """
    from scipy.optimize import minimize_scalar

    n = np.array(list(reflections))
    positions, heights = np.asarray(positions, float), np.asarray(heights, float)

    def offsets(a):
        calc = np.nan_to_num(_cubic_two_theta(a, n, wavelength), nan=1e3)  # (..., reflections)
        diff = np.abs(positions[:, None] - calc[..., None, :])  # (..., peaks, reflections)
        return diff.min(axis=-1), diff.argmin(axis=-1)

    scan = np.arange(a_range[0], a_range[1], 2e-4)
    distance, _ = offsets(scan)
    score = np.sum(heights * np.clip(1 - (distance / tolerance) ** 2, 0, None), axis=-1)
    if score.max() <= 0:
        return None
    a0 = scan[score.argmax()]
    distance, nearest = offsets(a0)
    indexed = distance < tolerance
    # one peak per reflection: the nearest
    for k in np.unique(nearest[indexed]):
        rivals = np.flatnonzero(indexed & (nearest == k))
        indexed[rivals[rivals != rivals[np.argmin(distance[rivals])]]] = False
    obs, n_obs = positions[indexed], n[nearest[indexed]]

    def sum_sq(a):
        return float(np.sum((obs - _cubic_two_theta(a, n_obs, wavelength)) ** 2))

    a_fit = minimize_scalar(
        sum_sq, bounds=(a0 - 0.05, a0 + 0.05), method="bounded", options={"xatol": 1e-7}
    ).x
    calc = _cubic_two_theta(a_fit, n_obs, wavelength)
    if len(obs) > 1:
        slope = (_cubic_two_theta(a_fit + 1e-5, n_obs, wavelength) - calc) / 1e-5
        uncertainty = float(np.sqrt(sum_sq(a_fit) / (len(obs) - 1) / np.sum(slope**2)))
    else:
        uncertainty = float("nan")
    matches = tuple(
        PeakMatch(reflections[int(k)], float(o), float(c))
        for k, o, c in zip(n_obs, obs, calc, strict=True)
    )
    return CubicFit(float(a_fit), uncertainty, matches)


def weighted_profile_r(
    measured: Pattern, components: Sequence[np.ndarray], background_order: int = 2
):
    """Rwp of the best fit of ``measured`` by non-negative multiples of the ``components`` (on the
    measured grid) plus a polynomial background; returns (Rwp, fitted intensity).

    Rwp = sqrt(sum w (y_obs - y_calc)^2 / sum w y_obs^2) with counting-statistics weights
    w = 1 / y_obs (y_obs floored at 1e-3 of its maximum).
    """
    from scipy.optimize import lsq_linear

    y = measured.intensity
    w = 1 / np.maximum(y, 1e-3 * np.abs(y).max())
    t = (measured.two_theta - measured.two_theta.mean()) / np.ptp(measured.two_theta)
    basis = np.column_stack([*components, *(t**k for k in range(background_order + 1))])
    scale = np.sqrt(w)
    norms = np.linalg.norm(basis * scale[:, None], axis=0)
    norms[norms == 0] = 1
    lower = [0.0] * len(components) + [-np.inf] * (background_order + 1)
    fit = lsq_linear(basis * scale[:, None] / norms, y * scale, bounds=(lower, np.inf))
    fitted = basis @ (fit.x / norms)
    return float(np.sqrt(np.sum(w * (y - fitted) ** 2) / np.sum(w * y**2))), fitted


@dataclass(frozen=True)
class Comparison:
    """A measured pattern compared with cubic CsPbI3-xBrx (and rock-salt K(Br,I) if present)."""

    perovskite: CubicFit
    br_content: float  # x implied by the fitted lattice constant (Vegard)
    impurity: CubicFit | None  # rock-salt K(Br1-yIy), if at least two of its reflections index
    iodide_fraction: float | None  # y of the impurity (Vegard between KBr and KI)
    unindexed: np.ndarray  # peak positions no phase explains, 2theta degrees
    rwp: float
    fitted: Pattern  # the simulation (scaled, plus background) on the measured grid


def compare_with_measurement(
    measured: Pattern,
    wavelength: float = CU_KA,
    size_nm: float | None = 11.4,
    instrument_fwhm: float = 0.05,
    two_theta_range: tuple[float, float] | None = None,
    tolerance: float = 0.25,
    min_prominence: float = 0.03,
) -> Comparison:
    """Fit the cubic lattice constant of a measured CsPbI3-xBrx pattern and look for rock-salt
    K(Br,I) impurity reflections.

    Peaks are indexed to cubic CsPbI3-xBrx with a between the Vegard end members (+-2 %);
    peaks left over are tried as rock-salt KBr(1-y)I(y) (a between KBr and KI +-1 %), accepted
    when at least two of its reflections index. Rwp compares the measurement with the simulated
    phases (sizes ``size_nm``, non-negative scales and a quadratic background fitted).
    """
    lo, hi = two_theta_range or (measured.two_theta.min(), measured.two_theta.max())
    inside = (measured.two_theta >= lo) & (measured.two_theta <= hi)
    if inside.sum() < 10:
        raise PerovcalcError(
            f"measured pattern has {inside.sum()} points in 2theta [{lo:g}, {hi:g}]"
        )
    measured = Pattern(measured.two_theta[inside], measured.intensity[inside])
    positions, heights = find_peaks(measured, min_prominence)
    if len(positions) == 0:
        raise PerovcalcError(
            f"no peaks found in the measured pattern in 2theta [{lo:g}, {hi:g}] degrees"
        )

    a_br, a_i = vegard_lattice_constant(3.0), vegard_lattice_constant(0.0)
    perovskite_hkl = _visible_reflections(
        [mixed_halide_cell(vegard_lattice_constant(x), x) for x in (0.0, 1.5, 3.0)],
        wavelength,
        0.02,
    )
    perovskite = fit_cubic_lattice(
        positions, heights, perovskite_hkl, (0.98 * a_br, 1.02 * a_i), wavelength, tolerance
    )
    if perovskite is None:
        raise PerovcalcError(
            f"none of the {len(positions)} measured peaks indexes as cubic CsPbI3-xBrx "
            f"with a in [{0.98 * a_br:.3f}, {1.02 * a_i:.3f}] Angstrom"
        )
    x = vegard_br_content(perovskite.lattice_constant)

    used = np.isin(positions, [m.observed for m in perovskite.matches])
    impurity, y = None, None
    if (~used).sum() >= 2:
        salt_hkl = _visible_reflections(
            [rock_salt_cell(rock_salt_lattice_constant(v), v) for v in (0, 1)], wavelength, 0.05
        )
        a_kbr, a_ki = rock_salt_lattice_constant(0.0), rock_salt_lattice_constant(1.0)
        fit = fit_cubic_lattice(
            positions[~used],
            heights[~used],
            salt_hkl,
            (0.99 * a_kbr, 1.01 * a_ki),
            wavelength,
            tolerance,
        )
        if fit is not None and len({m.hkl for m in fit.matches}) >= 2:
            impurity = fit
            y = (fit.lattice_constant - a_kbr) / (a_ki - a_kbr)
            used |= np.isin(positions, [m.observed for m in fit.matches])

    components = [
        powder_pattern(
            mixed_halide_cell(perovskite.lattice_constant, float(np.clip(x, 0, 3))),
            measured.two_theta,
            wavelength,
            size_nm,
            instrument_fwhm,
        ).intensity
    ]
    if impurity is not None:
        salt = rock_salt_cell(impurity.lattice_constant, float(np.clip(y, 0, 1)))
        components.append(
            powder_pattern(salt, measured.two_theta, wavelength, size_nm, instrument_fwhm).intensity
        )
    rwp, fitted = weighted_profile_r(measured, components)
    return Comparison(
        perovskite, x, impurity, y, positions[~used], rwp, Pattern(measured.two_theta, fitted)
    )


def write_patterns(
    path: str | Path, two_theta: np.ndarray, columns: Mapping[str, np.ndarray]
) -> None:
    """CSV file with a 2theta column (degrees) and one intensity column per pattern."""
    with Path(path).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["two_theta_deg", *columns])
        for i, t in enumerate(two_theta):
            writer.writerow([f"{t:.4f}", *(f"{c[i]:.6g}" for c in columns.values())])
