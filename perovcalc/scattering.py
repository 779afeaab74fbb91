"""X-ray scattering basics shared by the Bragg (:mod:`perovcalc.xrd`) and Debye
(:mod:`perovcalc.debye`) patterns: wavelengths, atomic form factors with anomalous dispersion,
Debye-Waller and Lorentz-polarisation factors, the :class:`Pattern` container and 2theta grids.

Form factors are the neutral-atom ones that pymatgen's ``XRDCalculator`` uses (electrons), as a
function of s = sin(theta)/lambda in 1/Angstrom; the anomalous-dispersion corrections f', f'' come
from xraylib (``Fi``, ``Fii``; Kissel-Pratt). Angles are 2theta in degrees, lengths in Angstrom.
A wavelength is either one number or a sequence of (wavelength, relative weight) lines such as
:data:`CU_KA_DOUBLET`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase.data import atomic_numbers
from ase.units import Bohr
from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS, WAVELENGTHS

from perovcalc.errors import InputError

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
#: 8 pi^2 a0 (Angstrom): the Mott-Bethe factor converting the electron form-factor fit that
#: pymatgen tabulates into the X-ray form factor, f_x = Z - 8 pi^2 a0 s^2 f_e(s).
MOTT_BETHE = 8.0 * np.pi**2 * Bohr
#: h c in keV Angstrom (photon energy E = HC_KEV_ANGSTROM / wavelength).
HC_KEV_ANGSTROM = 12.398419843320026
#: ``debye_waller`` value that selects the room-temperature B of reference/debye_waller.csv.
REFERENCE_B = "reference"
#: Finest 2theta grid a pattern may have (points); finer grids are refused.
MAX_GRID_POINTS = 200_000

Wavelength = float | Sequence[tuple[float, float]]


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
    """X-ray form factor f0(s) of a neutral atom in electrons; s = sin(theta)/lambda, 1/Angstrom."""
    if symbol not in ATOMIC_SCATTERING_PARAMS:
        raise InputError("element", symbol, "elements with tabulated form factors in pymatgen")
    coeff = np.asarray(ATOMIC_SCATTERING_PARAMS[symbol])
    s2 = np.asarray(s, dtype=float)[..., None] ** 2
    electron = np.sum(coeff[:, 0] * np.exp(-coeff[:, 1] * s2), axis=-1)
    return atomic_numbers[symbol] - MOTT_BETHE * s2[..., 0] * electron


def anomalous_dispersion(symbol: str, wavelength: float) -> complex:
    """f' + i f'' (electrons) of ``symbol`` at ``wavelength`` (Angstrom), from xraylib.

    xraylib's ``Fii`` carries the opposite sign convention (f = f0 + f' - i f''), so f'' = -Fii.
    """
    import xraylib

    if symbol not in atomic_numbers:
        raise InputError("element", symbol, "a chemical element")
    energy = HC_KEV_ANGSTROM / float(wavelength)
    z = atomic_numbers[symbol]
    return complex(xraylib.Fi(z, energy), -xraylib.Fii(z, energy))


def form_factor(symbol: str, s: np.ndarray | float, wavelength: float | None = None) -> np.ndarray:
    """Complex form factor f0(s) + f' + i f'' (electrons); ``wavelength`` None: f0 alone."""
    f0 = atomic_scattering_factor(symbol, s)
    if wavelength is None:
        return f0.astype(complex)
    return f0 + anomalous_dispersion(symbol, wavelength)


def temperature_factor(
    symbol: str, s: np.ndarray, debye_waller: Mapping[str, float] | None
) -> np.ndarray:
    """Debye-Waller amplitude factor exp(-B s^2) of ``symbol`` (1 when no B is given)."""
    b = (debye_waller or {}).get(symbol, 0.0)
    if b < 0:
        raise InputError(f"debye_waller[{symbol}]", b, "B >= 0 Angstrom^2")
    return np.exp(-b * np.asarray(s) ** 2)


def debye_waller_factors(
    elements, debye_waller: Mapping[str, float] | str | None = REFERENCE_B
) -> dict[str, float]:
    """B per element (Angstrom^2): ``debye_waller`` itself, {} for None, or for
    :data:`REFERENCE_B` the room-temperature values of reference/debye_waller.csv.

    The table holds the cubic average of room-temperature CsPbX3 (large Cs and halide B from the
    octahedral tilt disorder); it applies to structures that contain Pb, to their Cs, Pb, Br and I.
    Other elements, and structures without Pb (e.g. rock-salt KBr), get B = 0.
    """
    if debye_waller is None:
        return {}
    if isinstance(debye_waller, str):
        if debye_waller != REFERENCE_B:
            allowed = f"B per element, None or {REFERENCE_B!r}"
            raise InputError("debye_waller", debye_waller, allowed)
        from perovcalc.reference import load_table

        elements = set(elements)
        if "Pb" not in elements:
            return {}
        return {
            str(row["element"]): float(row["value"])
            for row in load_table("debye_waller")
            if row["element"] in elements
        }
    return dict(debye_waller)


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


def check_range(two_theta_range: tuple[float, float]) -> tuple[float, float]:
    """``two_theta_range`` as floats after checking 0 <= MIN < MAX <= 180 degrees."""
    lo, hi = (float(t) for t in two_theta_range)
    if not 0 <= lo < hi <= 180:
        raise InputError("two_theta_range", two_theta_range, "0 <= MIN < MAX <= 180 degrees")
    return lo, hi


def two_theta_grid(
    two_theta_range: tuple[float, float] = (10.0, 60.0), step: float = 0.02
) -> np.ndarray:
    """Evenly spaced 2theta values (degrees) from MIN to MAX inclusive, at most
    :data:`MAX_GRID_POINTS` points."""
    lo, hi = check_range(two_theta_range)
    if not 0 < step < hi - lo:
        raise InputError("step", step, f"a step > 0 and < {hi - lo:g} degrees")
    points = int(round((hi - lo) / step)) + 1
    if points > MAX_GRID_POINTS:
        raise InputError(
            "step",
            step,
            f"a step >= {(hi - lo) / (MAX_GRID_POINTS - 1):.2g} degrees: {step:g} would give "
            f"{points} points over [{lo:g}, {hi:g}], above the limit of {MAX_GRID_POINTS}",
        )
    return np.linspace(lo, hi, points)
