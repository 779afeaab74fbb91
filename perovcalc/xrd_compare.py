"""Measured powder patterns: reading, peak finding, cubic indexing and comparison with simulation.

A measured CsPbI3-xBrx pattern is indexed as cubic; its lattice constant gives the Br content x
through Vegard's law between room-temperature (pseudo-)cubic end members (the measurement
temperature), with an uncertainty that includes the known deviation from linearity; leftover peaks
are tried as rock-salt K(Br,I). Angles are 2theta in degrees, lengths in Angstrom.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from perovcalc.bulk import (
    VEGARD_END_MEMBERS,
    EndMembers,
    mixed_halide_cell,
    rock_salt_cell,
    rock_salt_lattice_constant,
    vegard_bowing_uncertainty,
    vegard_br_content,
    vegard_end_members,
    vegard_lattice_constant,
)
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.scattering import CU_KA, REFERENCE_B, Pattern
from perovcalc.xrd import MarchDollase, bragg_reflections, powder_pattern

_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+([eE][+-]?\d+)?$")


def _fields(text: str) -> list[str]:
    """The columns of a data line: separated by semicolons, tabs or spaces (a comma inside such
    a column is a decimal comma), or else by commas."""
    fields = [f.rstrip(",") for f in re.split(r"[;\s]+", text) if f.rstrip(",")]
    if len(fields) >= 2:
        return [f.replace(",", ".") if _DECIMAL_COMMA.match(f) else f for f in fields]
    return [f for f in text.split(",") if f.strip()]


def read_pattern(path: str | Path) -> Pattern:
    """A measured pattern from a two-column text or CSV file: 2theta (degrees), intensity (>= 0).

    Columns are separated by commas, semicolons, tabs or spaces; with semicolons, tabs or spaces
    between the columns, decimal commas are read as decimal points (``10,02;153,5``). Lines
    starting with ``#`` are comments; a first line of column names is allowed; extra columns are
    ignored. Negative intensities and repeated 2theta values are refused.
    """
    path = Path(path)
    if not path.is_file():
        raise PerovcalcError(f"measured pattern {path}: no such file")
    rows: list[tuple[float, float]] = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = _fields(text)
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
        if values[1] < 0:
            raise InputError(
                "intensity",
                values[1],
                "counts >= 0 (not background-subtracted data)",
                where=f"{path} line {lineno}",
            )
        rows.append((values[0], values[1]))
    if len(rows) < 10:
        raise PerovcalcError(f"{path}: {len(rows)} data rows; a pattern needs at least 10")
    data = np.array(rows)
    data = data[np.argsort(data[:, 0], kind="stable")]
    if np.any(np.diff(data[:, 0]) <= 0):
        repeated = data[1:, 0][np.diff(data[:, 0]) <= 0][0]
        raise PerovcalcError(
            f"{path}: repeated 2theta value {repeated:g}; if the file uses decimal commas, "
            "separate its columns by semicolons or tabs, not commas"
        )
    if data[0, 0] < 0 or data[-1, 0] > 180:
        raise InputError(
            "2theta",
            float(data[0, 0] if data[0, 0] < 0 else data[-1, 0]),
            "0 to 180 degrees",
            where=str(path),
        )
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
    br_content: float  # x implied by the fitted lattice constant (Vegard, not clipped)
    br_uncertainty: float  # of x: lattice-fit and bowing (deviation from Vegard) terms combined
    end_members: EndMembers  # the Vegard end members used for x
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
    end_members: str = "room-temperature",
    debye_waller: Mapping[str, float] | str | None = REFERENCE_B,
    preferred_orientation: MarchDollase | None = None,
    anomalous: bool = True,
) -> Comparison:
    """Fit the cubic lattice constant of a measured CsPbI3-xBrx pattern and look for rock-salt
    K(Br,I) impurity reflections.

    Peaks are indexed to cubic CsPbI3-xBrx with a within 2 % of the high-temperature and the
    room-temperature end members; x follows from Vegard's law between ``end_members`` (see
    :data:`perovcalc.bulk.VEGARD_END_MEMBERS`; room temperature for measurements at room
    temperature), its uncertainty combining the lattice-fit error and the bowing term of
    :func:`perovcalc.bulk.vegard_bowing_uncertainty`. Peaks left over are tried as rock-salt
    KBr(1-y)I(y) (a between KBr and KI +-1 %), accepted when at least two of its reflections
    index. Rwp compares the measurement with the simulated phases (sizes ``size_nm``, Debye-Waller
    factors ``debye_waller``, anomalous dispersion if ``anomalous``, preferred orientation of the
    perovskite; non-negative scales and a quadratic background fitted).
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

    members = vegard_end_members(end_members)
    limits = [a for kind in VEGARD_END_MEMBERS for a in astuple(vegard_end_members(kind))[1:3]]
    a_min, a_max = 0.98 * min(limits), 1.02 * max(limits)
    perovskite_hkl = _visible_reflections(
        [mixed_halide_cell(vegard_lattice_constant(x), x) for x in (0.0, 1.5, 3.0)],
        wavelength,
        0.02,
    )
    perovskite = fit_cubic_lattice(
        positions, heights, perovskite_hkl, (a_min, a_max), wavelength, tolerance
    )
    if perovskite is None:
        raise PerovcalcError(
            f"none of the {len(positions)} measured peaks indexes as cubic CsPbI3-xBrx "
            f"with a in [{a_min:.3f}, {a_max:.3f}] Angstrom"
        )
    x = vegard_br_content(perovskite.lattice_constant, end_members)
    fit_error = 3 * np.nan_to_num(perovskite.uncertainty) / abs(members.a_i - members.a_br)
    x_error = float(np.hypot(fit_error, vegard_bowing_uncertainty(x, members)))

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
            debye_waller,
            anomalous=anomalous,
            preferred_orientation=preferred_orientation,
        ).intensity
    ]
    if impurity is not None:
        salt = rock_salt_cell(impurity.lattice_constant, float(np.clip(y, 0, 1)))
        components.append(
            powder_pattern(
                salt,
                measured.two_theta,
                wavelength,
                size_nm,
                instrument_fwhm,
                debye_waller,
                anomalous=anomalous,
            ).intensity
        )
    rwp, fitted = weighted_profile_r(measured, components)
    return Comparison(
        perovskite,
        x,
        x_error,
        members,
        impurity,
        y,
        positions[~used],
        rwp,
        Pattern(measured.two_theta, fitted),
    )
