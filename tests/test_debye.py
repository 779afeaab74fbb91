"""Debye scattering equation: exact pair sum, binned fast method, agreement with Bragg+Scherrer."""

import numpy as np
import pytest
from ase import Atoms

from perovcalc import debye, scattering, xrd, xrd_compare
from perovcalc.bulk import cubic_perovskite
from perovcalc.errors import InputError

LAM = 1.54178


def mixed_cluster(cells=4, seed=1):
    """Rattled CsPbBr3 cube with some I and one K: five elements, no two equal distances."""
    rng = np.random.default_rng(seed)
    atoms = cubic_perovskite(5.9, "Br").repeat(cells)
    atoms.pbc = False
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[rng.choice(np.flatnonzero(symbols == "Br"), 20, replace=False)] = "I"
    symbols[0] = "K"
    atoms.set_chemical_symbols(list(symbols))
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_dimer_and_trimer_by_hand():
    q = np.linspace(0.0, 6.0, 61)
    s = q / (4 * np.pi)
    f_pb = scattering.atomic_scattering_factor("Pb", s)
    f_br = scattering.atomic_scattering_factor("Br", s)
    dimer = Atoms("PbBr", positions=[(0, 0, 0), (2.95, 0, 0)])
    expected = f_pb**2 + f_br**2 + 2 * f_pb * f_br * np.sinc(q * 2.95 / np.pi)
    exact = debye.debye_intensity(dimer, q, "exact", debye_waller=None)
    np.testing.assert_allclose(exact, expected, rtol=1e-12)
    # the fast method places each distance on a 0.001 A grid: phase errors below q x 0.0005
    fast = debye.debye_intensity(dimer, q, "fast", bin_width=0.001, debye_waller=None)
    np.testing.assert_allclose(fast, expected, atol=1e-3 * expected.max())

    # Br-Pb-Br, linear: two Pb-Br pairs at 2.95 A and one Br-Br pair at 5.9 A, with B factors
    trimer = Atoms("BrPbBr", positions=[(-2.95, 0, 0), (0, 0, 0), (2.95, 0, 0)])
    b = {"Pb": 1.5, "Br": 2.5}
    t_pb, t_br = np.exp(-b["Pb"] * s**2), np.exp(-b["Br"] * s**2)
    expected = (
        f_pb**2
        + 2 * f_br**2  # self terms are not damped
        + 4 * f_pb * t_pb * f_br * t_br * np.sinc(q * 2.95 / np.pi)
        + 2 * (f_br * t_br) ** 2 * np.sinc(q * 5.9 / np.pi)
    )
    for method in debye.METHODS:
        got = debye.debye_intensity(trimer, q, method, debye_waller=b)
        np.testing.assert_allclose(got, expected, atol=1e-3 * expected.max())
    np.testing.assert_allclose(
        debye.debye_intensity(trimer, q, "exact", debye_waller=b), expected, rtol=1e-12
    )


def test_coincident_atoms_scatter_as_one():
    q = np.linspace(0.0, 6.0, 31)
    s = q / (4 * np.pi)
    merged = scattering.atomic_scattering_factor("K", s)
    merged += scattering.atomic_scattering_factor("Br", s)
    pair = Atoms("KBr", positions=[(1, 1, 1), (1, 1, 1)])
    for method in debye.METHODS:
        got = debye.debye_intensity(pair, q, method)
        np.testing.assert_allclose(got, merged**2, rtol=1e-3)


def test_forward_scattering_is_the_square_of_the_electron_count():
    atoms = mixed_cluster(cells=2)
    electrons = atoms.get_atomic_numbers().sum()
    for method in debye.METHODS:
        assert debye.debye_intensity(atoms, np.array([0.0]), method)[0] == pytest.approx(
            electrons**2, rel=1e-9
        )


def test_fast_agrees_with_exact_on_a_small_cluster():
    atoms = mixed_cluster()
    assert sorted(set(atoms.get_chemical_symbols())) == ["Br", "Cs", "I", "K", "Pb"]
    q = 4 * np.pi * np.sin(np.radians(np.arange(10, 90, 0.1) / 2)) / LAM
    exact = debye.debye_intensity(atoms, q, "exact")
    fast = debye.debye_intensity(atoms, q, "fast")
    # agreement on the normalised pattern: required 1 %, the binning gives far better
    assert np.max(np.abs(fast / fast.max() - exact / exact.max())) < 1e-3
    coarse = debye.debye_intensity(atoms, q, "fast", bin_width=0.1)
    assert np.max(np.abs(coarse / coarse.max() - exact / exact.max())) < 1e-2


def test_histogram_counts_every_pair_once_and_threads_agree():
    atoms = mixed_cluster(cells=3)
    one = debye.pair_histogram(atoms, threads=1)
    two = debye.pair_histogram(atoms, threads=2)
    np.testing.assert_array_equal(one.counts, two.counts)
    n = len(atoms)
    assert one.counts.sum() == n * (n - 1) // 2
    per_element = dict(zip(one.elements, one.counts_per_element, strict=True))
    pb = one.elements.index("Pb")
    assert (
        one.counts[one.pairs.index((pb, pb))].sum()
        == per_element["Pb"] * (per_element["Pb"] - 1) // 2
    )
    assert np.all(np.abs(one.moments) <= one.counts * one.bin_width / 2 + 1e-9)


def test_large_cube_matches_bragg_and_scherrer():
    a, cells = 5.874, 12
    cube = cubic_perovskite(a, "Br").repeat(cells)
    cube.pbc = False
    two_theta = np.arange(10, 50, 0.01)
    pattern = debye.debye_pattern(cube, two_theta, LAM)
    maxima, _ = xrd_compare.find_peaks(pattern)
    bragg = {
        r.hkl: r.two_theta for r in xrd.bragg_reflections(cubic_perovskite(a, "Br"), LAM, (10, 50))
    }
    for hkl in [(1, 0, 0), (1, 1, 0), (2, 0, 0), (2, 1, 0), (2, 1, 1), (2, 2, 0)]:
        assert np.min(np.abs(maxima - bragg[hkl])) < 0.03, hkl
    # (200) width: a cube's {h00} line is the Laue function of columns of length L = cells * a,
    # FWHM 0.886 lambda / (L cos theta); the Bragg + Scherrer profile uses the same width
    centre = bragg[(2, 0, 0)]
    window = np.abs(two_theta - centre) < 1.5
    x, y = two_theta[window], pattern.intensity[window]
    y = y - np.interp(x, x[[0, -1]], y[[0, -1]])
    debye_fwhm = np.ptp(x[y >= y.max() / 2])
    scherrer = xrd.scherrer_fwhm(centre, LAM, cells * a / 10, k=0.886)
    assert debye_fwhm == pytest.approx(scherrer, rel=0.05)


def test_pattern_applies_polarization_and_doublet():
    atoms = mixed_cluster(cells=2)
    two_theta = np.array([20.0, 40.0, 90.0])
    q = 4 * np.pi * np.sin(np.radians(two_theta / 2)) / LAM
    single = debye.debye_pattern(atoms, two_theta, LAM, method="exact")
    np.testing.assert_allclose(
        single.intensity,
        scattering.polarization(two_theta)
        * debye.debye_intensity(atoms, q, "exact", wavelength=LAM),
    )
    doublet = debye.debye_pattern(atoms, two_theta, ((LAM, 1.0), (LAM, 0.5)), method="exact")
    np.testing.assert_allclose(doublet.intensity, 1.5 * single.intensity)


def test_default_debye_waller_and_anomalous_dispersion():
    q = np.linspace(0.5, 6.0, 23)
    s = q / (4 * np.pi)
    dimer = Atoms("PbBr", positions=[(0, 0, 0), (2.95, 0, 0)])
    b = scattering.debye_waller_factors(["Pb", "Br"])
    assert b["Br"] > 0 and b["Pb"] > 0
    np.testing.assert_allclose(
        debye.debye_intensity(dimer, q, "exact"),
        debye.debye_intensity(dimer, q, "exact", debye_waller=b),
    )
    # complex form factors: |f_Pb|^2 + |f_Br|^2 + 2 Re(f_Pb T_Pb (f_Br T_Br)*) sinc(q r)
    f_pb = scattering.atomic_scattering_factor("Pb", s) + scattering.anomalous_dispersion("Pb", LAM)
    f_br = scattering.atomic_scattering_factor("Br", s) + scattering.anomalous_dispersion("Br", LAM)
    t_pb, t_br = np.exp(-b["Pb"] * s**2), np.exp(-b["Br"] * s**2)
    expected = (
        np.abs(f_pb) ** 2
        + np.abs(f_br) ** 2
        + 2 * np.real(f_pb * t_pb * np.conj(f_br * t_br)) * np.sinc(q * 2.95 / np.pi)
    )
    got = debye.debye_intensity(dimer, q, "exact", wavelength=LAM)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # Pb f' = -4.2 e lowers the intensity by several per cent against f0 alone
    plain = debye.debye_intensity(dimer, q, "exact")
    assert np.all(got < plain) and np.max(1 - got / plain) > 0.05


def test_bad_inputs():
    atoms = Atoms("PbBr", positions=[(0, 0, 0), (2.95, 0, 0)])
    q = np.linspace(0, 5, 11)
    with pytest.raises(InputError, match="method"):
        debye.debye_intensity(atoms, q, "slow")
    with pytest.raises(InputError, match="bin_width"):
        debye.debye_intensity(atoms, q, bin_width=0.0155)
    with pytest.raises(InputError, match="q"):
        debye.debye_intensity(atoms, -q)
    with pytest.raises(InputError, match="atoms"):
        debye.debye_intensity(Atoms(), q)
    with pytest.raises(InputError, match="threads"):
        debye.pair_histogram(atoms, threads=0)
