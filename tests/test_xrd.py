"""Powder XRD: Bragg positions and intensities, profiles, composition series, measured patterns."""

import subprocess
from dataclasses import astuple

import numpy as np
import pytest
import xraylib
from ase import Atoms
from ase.data import atomic_numbers
from pymatgen.analysis.diffraction.xrd import XRDCalculator
from pymatgen.io.ase import AseAtomsAdaptor

from perovcalc import bulk, lineshape, reference, scattering, xrd, xrd_compare
from perovcalc.bulk import competing_phase, cubic_perovskite
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.kinds.xrd import xrd_task
from perovcalc.tasks import TaskContext

LAM = 1.54178  # the study's Cu K-alpha


def bragg_two_theta(a, hkl, lam=LAM):
    """2theta (degrees) of reflection hkl of a cubic cell by Bragg's law."""
    return np.degrees(2 * np.arcsin(lam * np.linalg.norm(hkl) / (2 * a)))


def by_two_theta(reflections):
    """Intensities summed per 2theta (rounded to 1e-4 degrees), as pymatgen merges lines."""
    merged = {}
    for r in reflections:
        key = round(r.two_theta, 4)
        merged[key] = merged.get(key, 0.0) + r.intensity
    return merged


@pytest.mark.parametrize(
    ("atoms", "a", "expected"),
    [
        # 2theta for lambda = 1.54178 A from literature-values.md section 2 [C]
        (
            cubic_perovskite(6.2894, "I"),
            6.2894,
            {(1, 0, 0): 14.08, (1, 1, 0): 19.96, (2, 0, 0): 28.38},
        ),
        (competing_phase("KBr"), 6.600, {(2, 0, 0): 27.02, (2, 2, 0): 38.58}),
    ],
)
def test_peak_positions_follow_braggs_law(atoms, a, expected):
    reflections = xrd.bragg_reflections(atoms, LAM, (5, 90))
    for r in reflections:
        assert r.two_theta == pytest.approx(bragg_two_theta(a, r.hkl), abs=0.01)
        assert r.d == pytest.approx(a / np.linalg.norm(r.hkl), rel=1e-9)
    found = {r.hkl: r.two_theta for r in reflections}
    for hkl, two_theta in expected.items():
        assert found[hkl] == pytest.approx(two_theta, abs=0.01)


def test_rock_salt_extinctions_and_perovskite_primitive_reflections():
    kbr = {r.hkl for r in xrd.bragg_reflections(competing_phase("KBr"), LAM)}
    assert all(len({h % 2 for h in hkl}) == 1 for hkl in kbr)  # fcc: h, k, l all even or all odd
    assert {(1, 1, 1), (2, 0, 0), (2, 2, 0)} <= kbr
    perovskite = {r.hkl for r in xrd.bragg_reflections(cubic_perovskite(6.2894, "I"), LAM)}
    assert {(1, 0, 0), (1, 1, 0), (2, 1, 0)} <= perovskite


@pytest.mark.parametrize(
    "structure",
    [
        cubic_perovskite(6.2894, "I"),
        cubic_perovskite(5.874, "Br"),
        competing_phase("KBr"),
        competing_phase("KI"),
        competing_phase("PbI2"),
    ],
    ids=["CsPbI3", "CsPbBr3", "KBr", "KI", "PbI2"],
)
def test_relative_intensities_match_pymatgen(structure):
    dw = {"Cs": 3.0, "Pb": 2.0, "I": 2.5, "Br": 2.2, "K": 1.5}
    for debye_waller in (None, dw):
        reflections = xrd.bragg_reflections(structure, LAM, (5, 90), debye_waller, anomalous=False)
        ours = by_two_theta(reflections)
        reference = XRDCalculator(LAM, debye_waller_factors=debye_waller).get_pattern(
            AseAtomsAdaptor.get_structure(structure), two_theta_range=(5, 90)
        )
        strongest = max(ours.values())
        assert len(reference.x) >= 10
        for two_theta, intensity in zip(reference.x, reference.y, strict=True):
            assert 100 * ours[round(two_theta, 4)] / strongest == pytest.approx(intensity, abs=1e-3)


def test_form_factors_agree_with_xraylib():
    s = np.linspace(0, 0.6, 13)
    for element in ("Cs", "Pb", "I", "Br", "K"):
        z = atomic_numbers[element]
        ours = scattering.atomic_scattering_factor(element, s)
        hubbell = np.array([xraylib.FF_Rayl(z, v) for v in s])
        assert ours[0] == pytest.approx(z, abs=1e-3)
        np.testing.assert_allclose(ours, hubbell, rtol=0.03)
    with pytest.raises(InputError, match="element"):
        scattering.atomic_scattering_factor("Xx", 0.1)


def test_structure_factors_of_the_perovskite_by_hand():
    a = 5.874
    s = {hkl: np.linalg.norm(hkl) / (2 * a) for hkl in [(1, 0, 0), (1, 1, 0), (2, 0, 0)]}
    f = {
        e: {h: float(scattering.atomic_scattering_factor(e, v)) for h, v in s.items()}
        for e in ("Cs", "Pb", "Br")
    }
    # Cs (0,0,0), Pb (1/2,1/2,1/2), Br at (1/2,1/2,0), (1/2,0,1/2), (0,1/2,1/2)
    expected = {
        (1, 0, 0): f["Cs"][(1, 0, 0)] - f["Pb"][(1, 0, 0)] - f["Br"][(1, 0, 0)],
        (1, 1, 0): f["Cs"][(1, 1, 0)] + f["Pb"][(1, 1, 0)] - f["Br"][(1, 1, 0)],
        (2, 0, 0): f["Cs"][(2, 0, 0)] + f["Pb"][(2, 0, 0)] + 3 * f["Br"][(2, 0, 0)],
    }
    computed = xrd.structure_factors(cubic_perovskite(a, "Br"), np.array(list(expected)))
    np.testing.assert_allclose(computed, list(expected.values()), atol=1e-9)

    # virtual crystal: the halide site scatters with the occupancy-weighted mean form factor
    y = 0.5
    mixed = xrd.structure_factors(bulk.mixed_halide_cell(a, 3 * y), np.array([[2, 0, 0]]))[0]
    f_i = float(scattering.atomic_scattering_factor("I", s[(2, 0, 0)]))
    halide = (1 - y) * f_i + y * f["Br"][(2, 0, 0)]
    assert mixed.real == pytest.approx(f["Cs"][(2, 0, 0)] + f["Pb"][(2, 0, 0)] + 3 * halide)


def test_multiplicities():
    cubic = {
        r.hkl: r.multiplicity
        for r in xrd.bragg_reflections(cubic_perovskite(6.0, "Br"), LAM, (5, 90))
    }
    assert cubic[(1, 0, 0)] == 6 and cubic[(1, 1, 0)] == 12 and cubic[(1, 1, 1)] == 8
    assert cubic[(2, 1, 0)] == 24 and cubic[(3, 2, 1)] == 48
    assert cubic[(3, 0, 0)] == 6 and cubic[(2, 2, 1)] == 24  # same d, separate families
    hexagonal = {r.hkl: r.multiplicity for r in xrd.bragg_reflections(competing_phase("PbI2"), LAM)}
    assert hexagonal[(0, 0, 1)] == 2
    assert (
        sum(m for hkl, m in hexagonal.items() if hkl[2] == 0 and sorted(np.abs(hkl)) == [0, 0, 1])
        == 6
    )


def test_lorentz_polarization_and_monochromator():
    assert scattering.polarization(90.0) == pytest.approx(0.5)
    assert scattering.lorentz_polarization(90.0) == pytest.approx(0.5 / (0.5 * np.sqrt(0.5)))
    mono = 26.6  # graphite (002) for Cu K-alpha
    atoms = cubic_perovskite(6.2894, "I")
    plain = xrd.bragg_reflections(atoms, LAM)
    with_mono = xrd.bragg_reflections(atoms, LAM, monochromator_2theta=mono)
    cm2 = np.cos(np.radians(mono)) ** 2
    for p, m in zip(plain, with_mono, strict=True):
        c2 = np.cos(np.radians(p.two_theta)) ** 2
        ratio = ((1 + cm2 * c2) / (1 + cm2)) / ((1 + c2) / 2)
        assert m.intensity / p.intensity == pytest.approx(ratio, rel=1e-10)


def test_debye_waller_factor_damps_as_exp_minus_2Bs2():
    atoms = cubic_perovskite(6.0, "Br")
    b = 2.0
    cold = xrd.bragg_reflections(atoms, LAM, debye_waller=None)
    warm = xrd.bragg_reflections(atoms, LAM, debye_waller=dict.fromkeys(("Cs", "Pb", "Br"), b))
    for c, w in zip(cold, warm, strict=True):
        assert w.intensity / c.intensity == pytest.approx(np.exp(-2 * b / (4 * c.d**2)), rel=1e-10)
    with pytest.raises(InputError, match="debye_waller"):
        xrd.bragg_reflections(atoms, LAM, debye_waller={"Br": -1.0})


def test_cu_doublet_gives_two_lines_per_reflection():
    atoms = cubic_perovskite(6.2894, "I")
    lines = xrd.bragg_reflections(atoms, scattering.CU_KA_DOUBLET, (10, 60), anomalous=False)
    alpha1 = [r for r in lines if r.wavelength == scattering.CU_KA1]
    alpha2 = {r.hkl: r for r in lines if r.wavelength == scattering.CU_KA2}
    for r in alpha1:
        partner = alpha2[r.hkl]
        assert partner.two_theta == pytest.approx(
            bragg_two_theta(6.2894, r.hkl, scattering.CU_KA2), abs=1e-9
        )
        assert partner.two_theta > r.two_theta
        lp = scattering.lorentz_polarization(partner.two_theta)
        lp /= scattering.lorentz_polarization(r.two_theta)
        assert partner.intensity / r.intensity == pytest.approx(0.5 * lp, rel=1e-9)
    assert scattering.mean_wavelength(scattering.CU_KA_DOUBLET) == pytest.approx(1.5418, abs=2e-4)


def test_anomalous_dispersion_of_lead_at_cu_k_alpha():
    # f', f'' (electrons) at Cu K-alpha: Pb about -4.2 / 8.7, Cs -0.7 / 7.9, I -0.4 / 6.9
    # (the values quoted in the project's physics review and issue #23 for Cu K-alpha)
    expected = {"Pb": (-4.2, 8.7), "Cs": (-0.7, 7.9), "I": (-0.4, 6.9)}
    for element, (f1, f2) in expected.items():
        value = scattering.anomalous_dispersion(element, LAM)
        assert value.real == pytest.approx(f1, abs=0.15), element
        assert value.imag == pytest.approx(f2, abs=0.25), element
    # F(100) of CsPbBr3 with complex form factors, by hand: Cs - Pb - Br at (1/2,1/2,0) etc.
    a = 5.874
    s = 1 / (2 * a)
    f = {e: complex(scattering.form_factor(e, s, LAM)) for e in ("Cs", "Pb", "Br")}
    assert f["Pb"] == pytest.approx(
        float(scattering.atomic_scattering_factor("Pb", s))
        + scattering.anomalous_dispersion("Pb", LAM)
    )
    computed = xrd.structure_factors(cubic_perovskite(a, "Br"), [[1, 0, 0]], wavelength=LAM)[0]
    assert computed == pytest.approx(f["Cs"] - f["Pb"] - f["Br"], abs=1e-9)
    # the imaginary parts do not cancel in |F|^2: (100) changes by more than a few per cent
    plain = xrd.structure_factors(cubic_perovskite(a, "Br"), [[1, 0, 0]])[0]
    assert abs(abs(computed) ** 2 / abs(plain) ** 2 - 1) > 0.03


def test_room_temperature_debye_waller_factors_by_default():
    atoms = cubic_perovskite(5.874, "Br")
    table = {r["element"]: r["value"] for r in reference.load_table("debye_waller")}
    assert table["Br"] > table["Pb"] > 0  # halides move most in the cubic average
    assert scattering.debye_waller_factors(["Cs", "Pb", "Br"]) == {
        e: table[e] for e in ("Cs", "Pb", "Br")
    }
    assert scattering.debye_waller_factors(["K", "Br"]) == {}  # the table is for CsPbX3 only

    def ratio(reflections):
        found = {r.hkl: r.intensity for r in reflections}
        return found[(2, 2, 0)] / found[(2, 0, 0)]

    cold = ratio(xrd.bragg_reflections(atoms, LAM, debye_waller=None, anomalous=False))
    warm = ratio(xrd.bragg_reflections(atoms, LAM, anomalous=False))
    assert cold == pytest.approx(0.74, abs=0.01)
    assert 0.5 < warm < 0.62  # the review's 74 % -> 55 % with similar B
    # independent code: pymatgen with the same B
    b = {e: table[e] for e in ("Cs", "Pb", "Br")}
    reference_pattern = XRDCalculator(LAM, debye_waller_factors=b).get_pattern(
        AseAtomsAdaptor.get_structure(atoms), two_theta_range=(5, 90)
    )
    hkls = [tuple(f[0]["hkl"]) for f in reference_pattern.hkls]
    intensity = dict(zip(hkls, reference_pattern.y, strict=True))
    assert warm == pytest.approx(intensity[(2, 2, 0)] / intensity[(2, 0, 0)], rel=1e-4)
    with pytest.raises(InputError, match="debye_waller"):
        xrd.bragg_reflections(atoms, LAM, debye_waller="room")


def test_march_dollase_preferred_orientation():
    atoms = cubic_perovskite(6.0, "Br")
    r = 0.7
    random = {x.hkl: x.intensity for x in xrd.bragg_reflections(atoms, LAM)}
    texture = xrd.MarchDollase(r, (1, 0, 0))
    textured = {
        x.hkl: x.intensity for x in xrd.bragg_reflections(atoms, LAM, preferred_orientation=texture)
    }

    def march(cos2):
        return (r**2 * cos2 + (1 - cos2) / r) ** -1.5

    # family averages: {100}: 2 members along the axis, 4 normal to it; {111}: all at cos^2 = 1/3;
    # {110}: 8 at cos^2 = 1/2 (+-1,+-1,0), (+-1,0,+-1), 4 at 0 (0,+-1,+-1)
    expected = {
        (1, 0, 0): (2 * march(1.0) + 4 * march(0.0)) / 6,
        (2, 0, 0): (2 * march(1.0) + 4 * march(0.0)) / 6,
        (1, 1, 1): march(1 / 3),
        (1, 1, 0): (8 * march(0.5) + 4 * march(0.0)) / 12,
    }
    for hkl, factor in expected.items():
        assert textured[hkl] / random[hkl] == pytest.approx(factor, rel=1e-9), hkl
    assert textured[(2, 0, 0)] / textured[(1, 1, 0)] > random[(2, 0, 0)] / random[(1, 1, 0)]
    same = xrd.bragg_reflections(atoms, LAM, preferred_orientation=xrd.MarchDollase(1.0))
    assert [x.intensity for x in same] == pytest.approx(list(random.values()))
    with pytest.raises(InputError, match="preferred_orientation.r"):
        xrd.MarchDollase(0.0)


def test_kbr_111_line_is_a_usable_marker():
    # rock salt: F(111) = 4 (f_K - f_Br), F(200) = 4 (f_K + f_Br); 18 e vs 36 e do not cancel
    kbr = competing_phase("KBr")
    found = {
        r.hkl: r
        for r in xrd.bragg_reflections(kbr, LAM, (5, 60), debye_waller=None, anomalous=False)
    }
    by_hand = {}
    for hkl, mult, sign in (((1, 1, 1), 8, -1), ((2, 0, 0), 6, 1)):
        s = 1 / (2 * found[hkl].d)
        f_k = float(scattering.atomic_scattering_factor("K", s))
        f_br = float(scattering.atomic_scattering_factor("Br", s))
        lp = float(scattering.lorentz_polarization(found[hkl].two_theta))
        by_hand[hkl] = mult * (4 * (f_k + sign * f_br)) ** 2 * lp
    ratio = found[(1, 1, 1)].intensity / found[(2, 0, 0)].intensity
    assert ratio == pytest.approx(by_hand[(1, 1, 1)] / by_hand[(2, 0, 0)], rel=1e-9)
    assert ratio == pytest.approx(0.20, abs=0.01)
    assert found[(1, 1, 1)].two_theta == pytest.approx(23.34, abs=0.02)
    rows = reference.load_table("xrd_peaks")
    notes = {r["note"] for r in rows if r["phase"] == "KBr" and r["kind"] == "bragg"}
    assert notes and all("close to" not in n and "about 0.2" in n for n in notes)


def test_profile_area_and_widths():
    peak = xrd.Reflection((2, 0, 0), 6, 3.0, 30.0, 5.0, LAM)
    grid = np.arange(10, 50, 0.001)
    # size broadening only (negligible instrument): FWHM is the Scherrer width
    profile = xrd.powder_profile([peak], grid, size_nm=11.4, instrument_fwhm=1e-4)
    fwhm = np.ptp(grid[profile >= profile.max() / 2])
    scherrer = np.degrees(xrd.SCHERRER_K * LAM / (114.0 * np.cos(np.radians(15.0))))
    assert fwhm == pytest.approx(scherrer, abs=0.002)
    # Gaussian instrument only: Gaussian of that FWHM, unit area times the intensity
    gauss = xrd.powder_profile([peak], grid, size_nm=None, instrument_fwhm=0.2)
    assert np.ptp(grid[gauss >= gauss.max() / 2]) == pytest.approx(0.2, abs=0.002)
    assert np.trapezoid(gauss, grid) == pytest.approx(5.0, rel=1e-4)
    # Voigt limit of the TCH pseudo-Voigt: equal widths give FWHM ~1.64 x width
    total, eta = lineshape.pseudo_voigt_width(1.0, 1.0)
    assert total == pytest.approx(1.6376, abs=0.005)  # Voigt FWHM, Olivero-Longbothum formula
    assert 0 < eta < 1
    # smaller crystallites broaden
    small = xrd.powder_profile([peak], grid, size_nm=5.0)
    assert small.max() < xrd.powder_profile([peak], grid, size_nm=25.0).max()
    with pytest.raises(InputError, match="size_nm"):
        xrd.powder_profile([peak], grid, size_nm=0.0)


def test_composition_series_positions_follow_vegard():
    entries = xrd.composition_series([0.0, 1.0, 2.0, 3.0], two_theta=np.arange(10, 35, 0.05))
    assert [e.lattice_constant for e in entries] == pytest.approx(
        [6.2894, 6.1509, 6.0125, 5.874], abs=1e-4
    )
    for e in entries:
        for hkl, position in e.peaks.items():
            assert position == pytest.approx(bragg_two_theta(e.lattice_constant, hkl), abs=1e-6)
    for hkl in xrd.SERIES_PEAKS:
        positions = [e.peaks[hkl] for e in entries]
        assert np.all(np.diff(positions) > 0)  # Br contracts the lattice: peaks move up
    # the pattern maximum sits on (200) for CsPbI3; with the large room-temperature halide B
    # factors the (110) line overtakes (200) in CsPbBr3 (110: Cs + Pb - Br, 200: Cs + Pb + 3 Br)
    maxima = [e.pattern.two_theta[e.pattern.intensity.argmax()] for e in entries]
    assert maxima[0] == pytest.approx(entries[0].peaks[(2, 0, 0)], abs=0.05)
    assert maxima[-1] == pytest.approx(entries[-1].peaks[(1, 1, 0)], abs=0.05)
    relaxed = xrd.composition_series(
        [1.0], lattice_constants={1.0: 6.25}, two_theta=np.arange(10, 35, 0.1)
    )
    assert relaxed[0].peaks[(1, 0, 0)] == pytest.approx(bragg_two_theta(6.25, (1, 0, 0)), abs=1e-6)


def test_waterfall_plot(tmp_path):
    entries = xrd.composition_series([0.0, 3.0], two_theta=np.arange(10, 35, 0.1))
    xrd.plot_waterfall(entries, tmp_path / "series.png")
    assert (tmp_path / "series.png").stat().st_size > 1000


# --- structure files: crystal, slab (platelet), finite model --------------------------------


def five_layer_slab(**kwargs):
    from perovcalc.slab import perovskite_slab

    return perovskite_slab(x=3.0, termination="CsX", layers=5, **kwargs)


def test_slab_is_scattered_as_a_platelet_with_bulk_peak_positions():
    slab = five_layer_slab(passivation="KBr")
    assert slab.pbc.tolist() == [True, True, False] and len(slab) == 12
    two_theta = scattering.two_theta_grid((10, 50), 0.02)
    result = xrd.model_pattern(slab, two_theta, LAM)
    assert result.method == "platelet-debye-fast"
    assert "platelet" in result.explanation and "periodic in two directions" in result.explanation
    # 19 x 19 repeats of the 5.874 A cell: 11.2 nm, the study's 11.4 nm to the nearest cell
    assert result.atoms_scattered == 19 * 19 * 12 and result.warning is None
    maxima, _ = xrd_compare.find_peaks(result.pattern)
    bulk_lines = {
        r.hkl: r.two_theta for r in xrd.bragg_reflections(cubic_perovskite(5.874, "Br"), LAM)
    }
    for hkl in [(1, 0, 0), (1, 1, 0), (2, 0, 0)]:
        width = xrd.scherrer_fwhm(bulk_lines[hkl], LAM, xrd.PLATELET_NM)
        assert np.min(np.abs(maxima - bulk_lines[hkl])) < width, hkl
    # the 12-atom slab taken as a cluster (what the issue saw) gets the size warning
    cluster = slab.copy()
    cluster.pbc = False
    blob = xrd.model_pattern(cluster, two_theta, LAM)
    assert blob.method == "debye-fast" and "12 atoms" in blob.warning


def test_two_dimensional_models_never_take_the_finite_path():
    # periodic in all three directions but with vacuum along c: still a slab
    boxed = five_layer_slab(vacuum=20.0)
    boxed.pbc = True
    two_theta = scattering.two_theta_grid((10, 40), 0.05)
    result = xrd.model_pattern(boxed, two_theta, LAM, lateral_nm=3.0)
    assert result.method == "platelet-debye-fast"
    assert result.atoms_scattered == 5 * 5 * len(boxed)
    crystallite = xrd.platelet(boxed, 3.0)
    assert not crystallite.pbc.any() and crystallite.info["repeat"] == (5, 5, 1)
    # a bulk crystal is Bragg; one periodic direction is refused
    assert xrd.model_pattern(cubic_perovskite(5.874, "Br"), two_theta, LAM).method == "bragg"
    wire = boxed.copy()
    wire.pbc = (True, False, False)
    with pytest.raises(InputError, match="periodic along"):
        xrd.model_pattern(wire, two_theta, LAM)
    with pytest.raises(InputError, match="lateral_nm"):
        xrd.platelet(boxed, 0.0)


# --- measured patterns --------------------------------------------------------------------


def synthetic_pattern(a=6.151, salt_a=None, seed=0):
    """SYNTHETIC test pattern (not a measurement): Gaussian peaks at Bragg positions of a cubic
    perovskite with lattice constant a (and rock-salt (200)/(220) at salt_a), linear background,
    Poisson noise."""
    two_theta = np.arange(10, 50, 0.02)
    counts = 200 - 1.5 * (two_theta - 10)
    peaks = [(1, 300), (2, 300), (3, 60), (4, 900), (5, 150), (6, 120), (8, 500)]
    for n, height in peaks:
        centre = bragg_two_theta(a, (np.sqrt(n), 0, 0))
        counts = counts + height * np.exp(-4 * np.log(2) * ((two_theta - centre) / 0.7) ** 2)
    if salt_a is not None:
        for n, height in [(4, 250), (8, 150)]:
            centre = bragg_two_theta(salt_a, (np.sqrt(n), 0, 0))
            counts = counts + height * np.exp(-4 * np.log(2) * ((two_theta - centre) / 0.3) ** 2)
    return scattering.Pattern(two_theta, np.random.default_rng(seed).poisson(counts).astype(float))


def write_pattern(path, pattern, header="2theta,intensity"):
    lines = ["# SYNTHETIC pattern generated by tests/test_xrd.py, not a measurement", header]
    lines += [f"{t:.3f},{i:.0f}" for t, i in zip(pattern.two_theta, pattern.intensity, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_pattern_formats(tmp_path):
    pattern = synthetic_pattern()
    csv_file = write_pattern(tmp_path / "p.csv", pattern)
    read = xrd_compare.read_pattern(csv_file)
    np.testing.assert_allclose(read.two_theta, np.round(pattern.two_theta, 3))
    text = "\n".join(
        f"{t:.3f}  {i:.0f}  0.0" for t, i in zip(pattern.two_theta, pattern.intensity, strict=True)
    )
    (tmp_path / "p.xy").write_text(text)
    assert len(xrd_compare.read_pattern(tmp_path / "p.xy").two_theta) == len(pattern.two_theta)


def test_read_pattern_errors(tmp_path):
    good = [f"{10 + 0.1 * i:.1f},{100 + i}" for i in range(20)]
    missing = tmp_path / "missing.csv"
    missing.write_text("\n".join(["2theta,I", *good[:5], "10.6", *good[6:]]))
    with pytest.raises(PerovcalcError, match=r"line 7: found 1 column, need two"):
        xrd_compare.read_pattern(missing)
    text = tmp_path / "text.csv"
    text.write_text("\n".join([*good[:3], "10.3,abc", *good[4:]]))
    with pytest.raises(
        InputError, match=r"text.csv line 4: intensity = 'abc' is not allowed; allowed: a number"
    ):
        xrd_compare.read_pattern(text)
    with pytest.raises(PerovcalcError, match="no such file"):
        xrd_compare.read_pattern(tmp_path / "absent.csv")
    short = tmp_path / "short.csv"
    short.write_text("\n".join(good[:3]))
    with pytest.raises(PerovcalcError, match="at least 10"):
        xrd_compare.read_pattern(short)


def test_no_peaks_in_range_is_an_error():
    two_theta = np.arange(10, 50, 0.02)
    flat = scattering.Pattern(two_theta, 100 + 0.5 * two_theta)
    with pytest.raises(PerovcalcError, match=r"no peaks found .* \[10, 49.98\] degrees"):
        xrd_compare.compare_with_measurement(flat)
    with pytest.raises(PerovcalcError, match="points in 2theta"):
        xrd_compare.compare_with_measurement(synthetic_pattern(), two_theta_range=(70, 80))


def test_compare_fits_lattice_constant_and_finds_rock_salt_impurity():
    # a = 6.151 A is CsPbI2Br by Vegard between the high-temperature cubic end members; rock salt
    # at the Vegard KBr0.67I0.33 lattice constant
    salt_a = 0.67 * 6.600 + 0.33 * 7.066
    result = xrd_compare.compare_with_measurement(
        synthetic_pattern(6.151, salt_a), end_members="high-temperature"
    )
    assert result.perovskite.lattice_constant == pytest.approx(6.151, abs=0.002)
    assert result.br_content == pytest.approx(1.0, abs=0.05)
    assert {m.hkl for m in result.perovskite.matches} >= {
        (1, 0, 0),
        (1, 1, 0),
        (2, 0, 0),
        (2, 2, 0),
    }
    assert max(abs(m.residual) for m in result.perovskite.matches) < 0.03
    assert result.impurity is not None
    salt = {m.hkl: m.observed for m in result.impurity.matches}
    assert salt[(2, 0, 0)] == pytest.approx(26.4, abs=0.05) and salt[(2, 2, 0)] == pytest.approx(
        37.6, abs=0.1
    )
    assert result.iodide_fraction == pytest.approx(0.33, abs=0.03)
    assert len(result.unindexed) == 0
    assert 0 < result.rwp < 0.3

    clean = xrd_compare.compare_with_measurement(synthetic_pattern(5.95, None, seed=1))
    assert clean.impurity is None and clean.iodide_fraction is None
    # room-temperature (pseudo-cubic) end members by default: 6.203 and 5.840 A
    assert clean.end_members.kind == "room-temperature"
    assert clean.br_content == pytest.approx(3 * (6.203 - 5.95) / (6.203 - 5.840), abs=0.05)


def test_room_temperature_vegard_gives_the_eds_composition():
    # SYNTHETIC CsPbI2Br-like pattern at a = 6.04 A, the usual room-temperature film value; EDS of
    # the study's crystals gives I:Br = 1.84:0.90 per Pb, x about 1 (reference/composition.csv)
    measured = synthetic_pattern(6.04, None, seed=2)
    result = xrd_compare.compare_with_measurement(measured)
    assert result.perovskite.lattice_constant == pytest.approx(6.04, abs=0.002)
    assert result.end_members.kind == "room-temperature"
    assert "6.2030" in result.end_members.description and "5.8400" in result.end_members.description
    assert result.br_content == pytest.approx(3 * (6.203 - 6.04) / (6.203 - 5.840), abs=0.02)
    assert abs(result.br_content - 1.0) < 0.45
    # the uncertainty holds the known bowing: the CsPbI2Br film (6.04 A) lies 0.042 A below the
    # linear room-temperature law at x = 1
    bowing = 3 * 0.042 / (6.203 - 5.840) * result.br_content * (3 - result.br_content) / 2
    assert result.br_uncertainty == pytest.approx(bowing, rel=0.05)
    assert abs(result.br_content - 1.0) < result.br_uncertainty + 0.05
    # the high-temperature cubic end members put the same pattern at x = 1.80
    hot = xrd_compare.compare_with_measurement(measured, end_members="high-temperature")
    assert hot.br_content == pytest.approx(1.80, abs=0.02)
    with pytest.raises(InputError, match="end_members"):
        xrd_compare.compare_with_measurement(measured, end_members="cold")


def test_compare_fits_use_preferred_orientation():
    # SYNTHETIC textured film: cubes face down, (100) March-Dollase r = 0.6, a = 6.04 A
    a = 6.04
    x = bulk.vegard_br_content(a, "room-temperature")
    two_theta = np.arange(10, 50, 0.02)
    texture = xrd.MarchDollase(0.6)
    film = xrd.powder_pattern(
        bulk.mixed_halide_cell(a, x), two_theta, size_nm=11.4, preferred_orientation=texture
    )
    scale = 1000 / film.intensity.max()
    measured = scattering.Pattern(two_theta, scale * film.intensity + 50 + 0.5 * two_theta)
    random = xrd_compare.compare_with_measurement(measured)
    textured = xrd_compare.compare_with_measurement(measured, preferred_orientation=texture)
    assert textured.perovskite.lattice_constant == pytest.approx(a, abs=0.002)
    assert textured.rwp < 0.3 * random.rwp


def test_rwp_is_zero_for_the_model_itself_and_grows_with_mismatch():
    two_theta = np.arange(10, 50, 0.02)
    model = xrd.powder_pattern(cubic_perovskite(6.1, "I"), two_theta, size_nm=11.4).intensity
    measured = scattering.Pattern(two_theta, 3.0 * model + 50 + 0.2 * two_theta)
    rwp, fitted = xrd_compare.weighted_profile_r(measured, [model])
    assert rwp < 1e-6
    np.testing.assert_allclose(fitted, measured.intensity, rtol=1e-6)
    shifted = xrd.powder_pattern(cubic_perovskite(6.0, "I"), two_theta, size_nm=11.4).intensity
    assert xrd_compare.weighted_profile_r(measured, [shifted])[0] > 0.2


def test_bad_inputs():
    with pytest.raises(InputError, match="wavelength"):
        xrd.bragg_reflections(cubic_perovskite(6.0), -1.0)
    with pytest.raises(InputError, match="two_theta_range"):
        xrd.bragg_reflections(cubic_perovskite(6.0), LAM, (50, 10))
    with pytest.raises(InputError, match="structure"):
        xrd.bragg_reflections(Atoms("Cs", pbc=False), LAM)
    with pytest.raises(InputError, match="wavelength"):
        scattering.parse_wavelength("CuKx")
    assert scattering.parse_wavelength("CuKa1+2") == scattering.CU_KA_DOUBLET
    assert scattering.parse_wavelength("1.5406") == 1.5406


def test_xrd_task(tmp_path):
    from perovcalc.kinds import resolve_options
    from perovcalc.slab import perovskite_slab

    options = resolve_options(
        "xrd",
        {"wavelength": LAM, "two_theta_min": 10.0, "two_theta_max": 40.0, "step": 0.05,
         "size_nm": 11.4, "instrument_fwhm": 0.05, "method": "fast", "platelet_nm": 4.0},
    )  # fmt: skip
    periodic = TaskContext("xrd", cubic_perovskite(6.2894, "I"), {}, options, tmp_path, "demo", {})
    result = xrd_task(periodic)
    assert result.data["method"] == "bragg"
    two_theta = np.array(result.data["two_theta"])
    assert two_theta[np.argmax(result.data["intensity"])] == pytest.approx(28.38, abs=0.05)
    assert {tuple(r["hkl"]) for r in result.data["reflections"]} >= {(1, 0, 0), (2, 0, 0)}
    cluster = cubic_perovskite(6.2894, "I").repeat(3)
    cluster.pbc = False
    finite = TaskContext("xrd", cluster, {}, options, tmp_path, "demo", {})
    assert xrd_task(finite).data["method"] == "debye-fast"
    # a slab is scattered as a platelet, never as the finite cluster of its cell's atoms
    slab = perovskite_slab(x=3, layers=3, vacuum=10.0)
    data = xrd_task(TaskContext("xrd", slab, {}, options, tmp_path, "demo", {})).data
    assert data["method"].startswith("platelet") and data["atoms_scattered"] > 20 * len(slab)
    assert "slab" in data["explanation"]


# --- command line ---------------------------------------------------------------------------


def run_cli(perovcalc_cli, *args, cwd):
    return subprocess.run(
        [*perovcalc_cli, "xrd", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def test_cli_patterns_series_and_compare(perovcalc_cli, tmp_path):
    from ase.io import write

    write(tmp_path / "cspbi3.cif", cubic_perovskite(6.2894, "I"))
    cluster = cubic_perovskite(5.874, "Br").repeat(4)
    cluster.pbc = False
    write(tmp_path / "cluster.extxyz", cluster)
    done = run_cli(
        perovcalc_cli,
        "cspbi3.cif",
        "cluster.extxyz",
        "--two-theta",
        10,
        40,
        "-o",
        "p.csv",
        "--plot",
        "p.png",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "2 0 0" in done.stdout and "periodic in three directions: Bragg" in done.stdout
    assert "finite model of 320 atoms: Debye equation (fast)" in done.stdout
    header = (tmp_path / "p.csv").read_text().splitlines()[0]
    assert header == "two_theta_deg,cspbi3,cluster"
    assert (tmp_path / "p.png").stat().st_size > 1000

    series = run_cli(perovcalc_cli, "--series", 0, 3, "-o", "s.csv", cwd=tmp_path)
    assert series.returncode == 0, series.stderr
    assert "14.081" in series.stdout and "15.082" in series.stdout  # (100) of x = 0 and x = 3

    write_pattern(tmp_path / "measured.csv", synthetic_pattern(6.151, 0.67 * 6.600 + 0.33 * 7.066))
    compare = run_cli(
        perovcalc_cli, "--compare", "measured.csv", "cspbi3.cif", "-o", "c.csv", cwd=tmp_path
    )
    assert compare.returncode == 0, compare.stderr
    assert "a = 6.15" in compare.stdout and "rock-salt impurity KBr0.6" in compare.stdout
    assert "Vegard end members (room-temperature): CsPbI3 gamma 6.2030 A at 295 K" in compare.stdout
    assert "Rwp against measured.csv" in compare.stdout
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == "two_theta_deg,measured,fit,cspbi3"


def test_cli_errors(tmp_path, monkeypatch, capsys):
    from perovcalc.cli.main import main

    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([f"{10 + i},{i}" for i in range(12)] + ["22,oops"]))
    assert main(["xrd", "--compare", str(bad)]) == 2
    assert "line 13: intensity = 'oops' is not allowed" in capsys.readouterr().err
    assert main(["xrd"]) == 2
    assert "--series" in capsys.readouterr().err
    assert main(["xrd", "nope.cif"]) == 2
    assert "nope.cif" in capsys.readouterr().err
    assert main(["xrd", "--series", "1", "--wavelength", "CuKx"]) == 2
    assert "CuKa1+2" in capsys.readouterr().err


def test_cli_slab_is_a_platelet(perovcalc_cli, tmp_path):
    # the README's example: a five-layer KBr-passivated CsPbBr3 slab
    from ase.io import write

    write(tmp_path / "slab.extxyz", five_layer_slab(passivation="KBr"))
    done = run_cli(perovcalc_cli, "slab.extxyz", "--plot", "xrd.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "periodic in two directions (ab), not along c: a slab, scattered as a platelet" in (
        done.stdout
    )
    assert "19 x 19 in-plane repeats" in done.stdout and "4332 atoms" in done.stdout
    assert "warning" not in done.stdout
    small = run_cli(perovcalc_cli, "slab.extxyz", "--platelet-nm", 1.0, cwd=tmp_path)
    assert "2 x 2 in-plane repeats" in small.stdout
    assert "warning: the model has only 48 atoms: its pattern is dominated by its size" in (
        small.stdout
    )


def test_cli_measured_file_and_grid_errors(tmp_path, monkeypatch, capsys):
    from perovcalc.cli.main import main

    monkeypatch.chdir(tmp_path)
    pattern = synthetic_pattern(6.04, None, seed=3)
    # decimal commas with semicolons between the columns are read as decimal points
    rows = [f"{t:.3f};{i:.1f}".replace(".", ",") for t, i in zip(*astuple(pattern), strict=True)]
    (tmp_path / "comma.csv").write_text("2theta;I\n" + "\n".join(rows) + "\n")
    read = xrd_compare.read_pattern(tmp_path / "comma.csv")
    np.testing.assert_allclose(read.two_theta, np.round(pattern.two_theta, 3))
    assert main(["xrd", "--compare", "comma.csv"]) == 0
    assert "a = 6.04" in capsys.readouterr().out
    # decimal commas in a comma-separated file cannot be read: refused, with the reason
    rows = [f"{t:.2f},{i:.0f}".replace(".", ",") for t, i in zip(*astuple(pattern), strict=True)]
    (tmp_path / "ambiguous.csv").write_text("\n".join(rows) + "\n")
    assert main(["xrd", "--compare", "ambiguous.csv"]) == 2
    err = capsys.readouterr().err
    assert "ambiguous.csv" in err and "decimal commas" in err
    # negative intensities are refused, naming the file, the line and the field
    lines = [f"{10 + 0.1 * i:.1f},{100 - 10 * i}" for i in range(20)]
    (tmp_path / "negative.csv").write_text("\n".join(lines) + "\n")
    assert main(["xrd", "--compare", "negative.csv"]) == 2
    assert "negative.csv line 12: intensity = -10.0 is not allowed" in capsys.readouterr().err
    # a lattice constant beyond CsPbBr3: x outside 0-3 is an error, after the fit is shown
    write_pattern(tmp_path / "small_a.csv", synthetic_pattern(5.76, None, seed=4))
    assert main(["xrd", "--compare", "small_a.csv"]) == 2
    captured = capsys.readouterr()
    assert "a = 5.75" in captured.out or "a = 5.76" in captured.out
    assert (
        "small_a.csv: fitted Br content x = 3.6" in captured.err and "outside 0-3" in captured.err
    )
    # a step that would give a huge grid is refused, naming the limit
    assert main(["xrd", "--series", "1", "--step", "1e-5"]) == 2
    err = capsys.readouterr().err
    assert "step = 1e-05 is not allowed" in err and "200000" in err
