"""Simulated photoemission: cross sections, depth weighting, spectra, ratios, centroids, CLI."""

import subprocess

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from perovcalc import imfp, lineshape, photoemission, xps
from perovcalc.bulk import cubic_perovskite
from perovcalc.errors import InputError, PerovcalcError

A_BR = 5.874  # CsPbBr3 lattice constant, Angstrom

# Measured K:Br:Pb on K-Br passivated CsPbI3-xBrx NCs (Yang et al., J. Am. Chem. Soc. 2020,
# doi:10.1021/jacs.9b11719; /work/shared/experiment.md), photon energy (eV) -> (K, Br, Pb).
MEASURED_RATIOS = {450.0: (0.141, 1.96, 1.0), 650.0: (0.085, 1.14, 1.0), 1486.7: (0.101, 1.19, 1.0)}


def bulk_slab(layers: int, halide: str = "Br") -> Atoms:
    """CsPbX3 (001) slab, one cell wide: CsX layers at z = n a, PbX2 layers at (n + 1/2) a, so the
    outermost layer is PbX2; periodic in-plane, vacuum along z."""
    slab = cubic_perovskite(A_BR, halide).repeat((1, 1, layers))
    slab.center(vacuum=10.0, axis=2)
    return slab


def cube(cells: int, halide: str = "Br") -> Atoms:
    """Finite CsX-terminated cube of ``cells`` unit cells per edge (no periodicity)."""
    crystal = cubic_perovskite(A_BR, halide).repeat((cells + 1,) * 3)
    keep = np.all(crystal.positions <= cells * A_BR + 1e-6, axis=1)
    crystal = crystal[keep]
    crystal.pbc = False
    crystal.cell = None
    return crystal


# --- cross sections -------------------------------------------------------------------------


def test_carbon_1s_cross_section_matches_scofield():
    # Scofield (1976), C 1s at Al K-alpha: 13.6 kb per subshell (two electrons).
    assert xps.subshell_cross_section("C", "K", 2, 1486.6) == pytest.approx(13600, rel=0.01)


def test_level_cross_sections_match_yeh_lindau():
    # Yeh and Lindau, At. Data Nucl. Data Tables 32, 1 (1985) at 1486.6 eV (per-electron values
    # times 10 and 14, literature-values.md 5c): Br 3d 0.039 Mb, Pb 4f 0.333 Mb. A different
    # (non-relativistic) calculation: Br agrees to 1 %, Pb 4f to 7 %.
    assert xps.cross_section("Br 3d", 1486.6) == pytest.approx(39_000, rel=0.03)
    assert xps.cross_section("Pb 4f", 1486.6) == pytest.approx(333_000, rel=0.08)


def test_surface_sensitive_photon_energies_have_larger_cross_sections():
    for level in ("K 2p", "Br 3d", "Pb 4f"):
        sigma = [xps.cross_section(level, hv) for hv in xps.PHOTON_ENERGIES]
        assert sigma[0] > sigma[1] > sigma[2]


def test_reference_occupancies_and_branching_ratios():
    import xraylib

    for level in xps.core_levels().values():
        z = xraylib.SymbolToAtomicNumber(level.element)
        for shell, occ in zip(level.shells, level.occupancies, strict=True):
            assert occ == xraylib.ElectronConfig(z, getattr(xraylib, f"{shell}_SHELL"))
        statistical = level.occupancies[1] / level.occupancies[0]
        assert level.branching_ratio == pytest.approx(statistical, rel=0.01)
        # xraylib's subshell cross sections give nearly the statistical ratio at Al K-alpha
        sub = [
            xps.subshell_cross_section(level.element, s, o, 1486.7)
            for s, o in zip(level.shells, level.occupancies, strict=True)
        ]
        assert sub[1] / sub[0] == pytest.approx(level.branching_ratio, rel=0.06)
        assert level.splitting > 0
        assert level.fractions.sum() == pytest.approx(1.0)


def test_levels_that_cannot_be_excited_are_errors():
    with pytest.raises(PerovcalcError, match="Cs M5 cannot be ionised"):
        xps.cross_section("Cs 3d", 650.0)
    with pytest.raises(PerovcalcError, match="below the 50 eV"):
        xps.kinetic_energies("I 3d", 650.0)  # 31 eV left: outside TPP-2M
    assert xps.kinetic_energies("Br 3d", 450.0)[0] == pytest.approx(450.0 - 68.3)


def test_core_level_names():
    assert xps.core_level("Br3d") is xps.core_level("br 3d") is xps.core_level("Br 3d")
    with pytest.raises(InputError, match="core level"):
        xps.core_level("Br 4f")


# --- depth weighting ------------------------------------------------------------------------


def two_layers() -> Atoms:
    """Br at the surface (z = 10 A) and Pb 3 A below it, periodic in-plane."""
    return Atoms("BrPb", positions=[(0, 0, 10), (0, 0, 7)], cell=[4, 4, 20], pbc=True)


def test_two_layer_escape_probability_by_hand():
    atoms = two_layers()
    assert xps.depths(atoms) == pytest.approx([0.0, 3.0])
    # lambda = 10 A, 30 degrees from the normal: exp(-3 / (10 cos 30)) = exp(-0.346410)
    escape = xps.escape_probability(atoms, 10.0, emission_angle=30.0, orientation="normal")
    assert escape == pytest.approx([1.0, 0.7072223522], rel=1e-9)
    both = xps.escape_probability(atoms, [10.0, 20.0], orientation="normal")
    assert both[:, 1] == pytest.approx([np.exp(-0.3), np.exp(-0.15)], rel=1e-12)


def test_two_layer_spectrum_area_by_hand():
    atoms = two_layers()
    material = imfp.perovskite(3.0)
    hv = 1486.7
    level = xps.core_level("Pb 4f")
    grid = np.arange(120.0, 165.0, 0.01)
    spectrum = xps.simulate_spectrum(
        atoms, level, hv, energies=grid, material=material, gaussian_fwhm=0.5, lorentzian_fwhm=0.0,
        escape=xps.Escape(orientation="normal", attenuation="imfp"),
    )  # fmt: skip
    lam = [imfp.tpp2m(hv - be, material) for be in level.binding_energies]
    expected = xps.cross_section(level, hv) * (
        level.fractions[0] * np.exp(-3.0 / lam[0]) + level.fractions[1] * np.exp(-3.0 / lam[1])
    )
    assert np.trapezoid(spectrum.intensity, grid) == pytest.approx(expected, rel=1e-4)
    # the two components sit at the tabulated binding energies, in the branching ratio
    major = grid < level.binding_energy + level.splitting / 2
    peaks = [
        grid[major][np.argmax(spectrum.intensity[major])],
        grid[~major][np.argmax(spectrum.intensity[~major])],
    ]
    assert peaks == pytest.approx(level.binding_energies, abs=0.011)
    areas = [np.trapezoid(spectrum.intensity[m], grid[m]) for m in (major, ~major)]
    assert areas[1] / areas[0] == pytest.approx(
        level.branching_ratio * np.exp(-3.0 / lam[1] + 3.0 / lam[0]), rel=1e-3
    )


def cube_with_centre(half_edge: float) -> Atoms:
    corners = [(sx, sy, sz) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    positions = half_edge * np.array(corners + [(0, 0, 0), (1, 0, 0)], dtype=float)
    return Atoms("Cs8Br2", positions=positions)


def test_cube_centre_matches_monte_carlo_orientation_average():
    atoms = cube_with_centre(10.0)
    lam = 10.0
    p = xps.escape_probability(atoms, lam, indices=[8], geometry="auto", directions=2000)[0]
    # independent: random directions; from the centre the path is h / max|u_k|
    rng = np.random.default_rng(1)
    u = rng.normal(size=(400_000, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    reference = np.mean(np.exp(-10.0 / (lam * np.abs(u).max(axis=1))))
    assert p == pytest.approx(reference, rel=0.005)
    # between the nearest-face (exp(-1)) and the corner-diagonal (exp(-sqrt 3)) paths
    assert np.exp(-np.sqrt(3)) < p < np.exp(-1)


def test_cube_face_atom_escapes_freely_in_half_the_directions():
    atoms = cube_with_centre(10.0)
    short = xps.escape_probability(atoms, 0.05, indices=[9], geometry="cube")[0]
    assert short == pytest.approx(0.5, abs=0.01)
    long = xps.escape_probability(atoms, 1e6, indices=[9], geometry="cube")[0]
    assert long == pytest.approx(1.0, abs=1e-4)


def test_cube_average_is_converged_in_directions():
    atoms = cube(4)
    coarse = xps.escape_probability(atoms, 15.0, geometry="cube", directions=300)
    fine = xps.escape_probability(atoms, 15.0, geometry="cube", directions=3000)
    assert np.max(np.abs(coarse - fine)) < 0.01


def test_geometry_and_shift_errors():
    atoms = two_layers()
    with pytest.raises(InputError, match="geometry"):
        xps.depths(atoms, "sphere")
    with pytest.raises(InputError, match="emission_angle"):
        xps.escape_probability(atoms, 10.0, emission_angle=90.0, orientation="normal")
    with pytest.raises(InputError, match="orientation"):
        xps.escape_probability(atoms, 10.0, orientation="sideways")
    with pytest.raises(InputError, match="ligand_nm"):
        xps.escape_probability(atoms, 10.0, ligand_nm=-1.0, ligand_lengths=10.0)
    with pytest.raises(InputError, match="shifts"):
        xps.simulate_spectrum(atoms, "Br 3d", 1486.7, shifts=[0.1], material=imfp.perovskite(3))
    with pytest.raises(InputError, match="core level"):
        xps.simulate_spectrum(atoms, "I 3d", 1486.7, material=imfp.perovskite(3))
    with pytest.raises(InputError, match="lineshape"):
        xps.simulate_spectrum(atoms, "Br 3d", 1486.7, lineshape="gauss")


# --- line shapes ----------------------------------------------------------------------------


def test_voigt_is_normalised_and_pseudo_voigt_approximates_it():
    x = np.linspace(-30, 30, 60001)
    exact = lineshape.voigt(x, 0.6, 0.3)
    approx = lineshape.pseudo_voigt(x, 0.6, 0.3)
    assert np.trapezoid(exact, x) == pytest.approx(1.0, abs=0.01)  # Lorentz tails beyond 30 eV
    assert np.trapezoid(approx, x) == pytest.approx(1.0, abs=0.01)
    assert np.max(np.abs(approx - exact)) < 0.02 * exact.max()
    # limits: pure Gaussian of FWHM 0.6 has half maximum at +-0.3
    gauss = lineshape.voigt(np.array([0.0, 0.3]), 0.6, 0.0)
    assert gauss[1] / gauss[0] == pytest.approx(0.5)
    with pytest.raises(InputError, match="FWHM"):
        lineshape.voigt(x, 0.0, 0.0)


# --- ratios and centroids -------------------------------------------------------------------


def test_thick_slab_apparent_ratio_matches_layer_sum():
    layers = 25
    slab = bulk_slab(layers)
    material = imfp.perovskite(3.0)
    ratios = photoemission.apparent_ratios(
        slab, levels=("Br 3d", "Pb 4f"), material=material,
        escape=xps.Escape(orientation="normal", attenuation="imfp"),
    )  # fmt: skip
    n = np.arange(layers)

    def amount(level, hv, per_layer):
        lam = imfp.tpp2m(hv - xps.core_level(level).binding_energies, material)
        return np.mean([per_layer(lm).sum() / lm for lm in lam])

    for row, hv in zip(ratios, xps.PHOTON_ENERGIES, strict=True):
        # PbX2 layers at depth n a (1 Pb, 2 Br); CsX layers at (n + 1/2) a (1 Br)
        br = amount(
            "Br 3d", hv, lambda lm: 2 * np.exp(-n * A_BR / lm) + np.exp(-(n + 0.5) * A_BR / lm)
        )
        pb = amount("Pb 4f", hv, lambda lm: np.exp(-n * A_BR / lm))
        assert row[0] == pytest.approx(br / pb, rel=1e-9)
        assert row[1] == 1.0
    # PbBr2-terminated: the Br deficit of the top layer fades as the probe goes deeper, toward 3
    assert 2.0 < ratios[0, 0] < ratios[1, 0] < ratios[2, 0] < 3.0


def test_k_br_surface_enrichment_falls_with_depth_like_experiment():
    # CsPbBr3 slab with CsBr on top and half of those Cs replaced by K (a K-Br enriched surface)
    slab = bulk_slab(12)
    top = Atoms("CsBr", positions=[(0, 0, 0), (A_BR / 2, A_BR / 2, 0)])
    top.positions[:, 2] = slab.positions[:, 2].max() + A_BR / 2
    passivated = (slab + top).repeat((2, 1, 1))
    passivated.symbols[np.flatnonzero(passivated.symbols == "Cs")[-1]] = "K"
    ratios = photoemission.apparent_ratios(passivated)  # K:Br:Pb at 450, 650, 1486.7 eV
    assert ratios.shape == (3, 3)
    assert np.all(ratios[:, 2] == 1.0)
    simulated_falls = ratios[0, :2] > ratios[2, :2]
    measured = np.array([MEASURED_RATIOS[450.0], MEASURED_RATIOS[1486.7]])
    measured_falls = measured[0, :2] > measured[1, :2]
    assert np.all(simulated_falls) and np.all(measured_falls)
    assert np.all(np.diff(ratios[:, 0]) < 0)  # the model's K ratio falls monotonically


def test_csbr_terminated_cube_is_br_rich_at_the_surface():
    ratios = photoemission.apparent_ratios(cube(5), levels=("Br 3d", "Pb 4f"))
    assert xps.resolve_geometry(cube(5)) == "cube"
    assert np.all(ratios[:, 0] > 3.0)
    assert ratios[0, 0] > ratios[1, 0] > ratios[2, 0]


def test_centroid_shift_of_a_shifted_surface_falls_with_photon_energy():
    slab = bulk_slab(10)
    depth = xps.depths(slab)
    shifts = np.where(depth < 1.0, 0.4, 0.0)  # the top PbBr2 layer
    centroids = xps.centroid_shifts(slab, "Br 3d", shifts)
    assert 0.4 > centroids[0] > centroids[1] > centroids[2] > 0.0
    # a uniform shift moves every centroid by exactly that shift
    assert xps.centroid_shifts(slab, "Br 3d", np.full(len(slab), -0.2)) == pytest.approx(-0.2)
    # the centroid is the first moment of the simulated spectrum
    level = xps.core_level("Br 3d")
    grid = np.arange(60.0, 78.0, 0.005)
    spectrum = xps.simulate_spectrum(slab, level, 450.0, shifts, energies=grid, lorentzian_fwhm=0)
    mean_be = np.trapezoid(grid * spectrum.intensity, grid) / np.trapezoid(spectrum.intensity, grid)
    doublet = level.binding_energy + level.fractions[1] * level.splitting
    assert mean_be - doublet == pytest.approx(centroids[0], abs=0.005)


# --- CLI ------------------------------------------------------------------------------------


def test_cli_prints_ratios_and_centroids(tmp_path, perovcalc_cli):
    slab = bulk_slab(8)
    slab.set_array("core_level_shift", np.where(xps.depths(slab) < 1.0, 0.4, 0.0))
    model = tmp_path / "slab.extxyz"
    write(model, slab)
    plot = tmp_path / "br3d.png"
    cmd = [*perovcalc_cli, "xps", str(model), "--levels", "Br3d", "Pb4f", "--ratios"]
    cmd += ["--centroid", "Br 3d", "--spectrum", "Br 3d", "--plot", str(plot)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    ratios = photoemission.apparent_ratios(slab, levels=("Br 3d", "Pb 4f"))
    assert f"{ratios[0, 0]:.3g}:1" in out
    centroids = xps.centroid_shifts(slab, "Br 3d", slab.arrays["core_level_shift"])
    assert f"{centroids[0]:.3f}" in out
    assert plot.stat().st_size > 0
    bad = subprocess.run(
        [*perovcalc_cli, "xps", str(model), "--centroid", "Xe 3d"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "core level" in bad.stderr


# --- one geometry model, attenuation model, band (#23 items 4 and 5) -------------------------


def passivated_slab() -> Atoms:
    """CsPbBr3 slab with CsBr on top and half of those Cs replaced by K (K-Br enriched surface)."""
    slab = bulk_slab(12)
    top = Atoms("CsBr", positions=[(0, 0, 0), (A_BR / 2, A_BR / 2, 0)])
    top.positions[:, 2] = slab.positions[:, 2].max() + A_BR / 2
    passivated = (slab + top).repeat((2, 1, 1))
    passivated.symbols[np.flatnonzero(passivated.symbols == "Cs")[-1]] = "K"
    return passivated


def test_random_orientation_slab_weight_is_half_the_exponential_integral():
    from scipy.special import expn

    depth = np.array([0.0, 2.9, 5.9, 12.0, 30.0])
    weight = xps.depth_weight(depth, [15.0])[0]
    assert weight == pytest.approx(expn(2, depth / 15.0) / 2, rel=1e-4)
    # the ligand shell of thickness t acts as extra depth t L / L_ligand
    with_shell = xps.depth_weight(depth, [15.0], ligand_nm=1.0, ligand_lengths=[20.0])[0]
    assert with_shell == pytest.approx(expn(2, (depth + 10.0 * 15.0 / 20.0) / 15.0) / 2, rel=1e-4)


def test_slab_and_cube_weight_the_outer_layers_alike():
    # the centre of a large cube's top face and the layer below it, against a slab at the same
    # depths: one orientation model, so the surface / subsurface weight agrees within 2 %
    big = cube(12)
    top = big.positions[:, 2].max()
    centre = big.positions[:, :2] - big.positions[:, :2].mean(0)
    near = np.linalg.norm(centre, axis=1) < A_BR

    def pick(depth):
        return int(np.flatnonzero(near & (np.abs(top - big.positions[:, 2] - depth) < 0.1))[0])

    outer, inner = pick(0.0), pick(A_BR / 2)
    cube_weight = xps.escape_probability(big, 10.0, [outer, inner], "cube", directions=2000)
    slab_weight = xps.depth_weight([0.0, A_BR / 2], [10.0], directions=2000)[0]
    ratio_cube, ratio_slab = cube_weight[0] / cube_weight[1], slab_weight[0] / slab_weight[1]
    assert ratio_cube == pytest.approx(ratio_slab, rel=0.02)
    # the previous slab model (normal emission) weighted the outer layer > 10 % differently
    normal = xps.depth_weight([0.0, A_BR / 2], [10.0], orientation="normal")[0]
    assert abs(normal[0] / normal[1] / ratio_cube - 1) > 0.1


def test_normal_orientation_at_an_angle_gives_exp_of_slant_path():
    weight = xps.depth_weight([3.0], [10.0], orientation="normal", emission_angle=60.0)
    assert weight[0, 0] == pytest.approx(np.exp(-3.0 / (10.0 * 0.5)), rel=1e-12)


def test_ligand_shell_lowers_k_pb_more_at_450_than_at_1486_ev():
    slab = passivated_slab()
    bare = photoemission.apparent_ratios(slab)
    shelled = photoemission.apparent_ratios(slab, ligand_nm=1.5)
    factor = shelled[:, 0] / bare[:, 0]  # K 2p (KE 157 eV at 450 eV) vs Pb 4f (312 eV)
    assert 0.0 < factor[0] < factor[1] < factor[2] < 1.0
    # normal emission with IMFPs: exp(-t / L_lig(K 2p)) / exp(-t / L_lig(Pb 4f)), the issue's
    # estimate (about 0.6 at 450 eV); averaged over random orientations the slant paths through
    # the shell make it stronger
    kw = dict(escape=xps.Escape(orientation="normal", attenuation="imfp"))
    normal = (
        photoemission.apparent_ratios(slab, ligand_nm=1.5, **kw)[:, 0]
        / photoemission.apparent_ratios(slab, **kw)[:, 0]
    )
    ligand = imfp.ligand_shell()
    expected = np.exp(
        -15.0 / imfp.tpp2m(450.0 - 293.2, ligand) + 15.0 / imfp.tpp2m(450.0 - 138.3, ligand)
    )
    assert normal[0] == pytest.approx(expected, rel=0.03)
    assert 0.5 < normal[0] < 0.7 and factor[0] < normal[0]


def test_eal_lowers_the_deep_weight_and_keeps_a_thick_slab_stoichiometric():
    slab = bulk_slab(25)
    eal = photoemission.apparent_ratios(slab, levels=("Br 3d", "Pb 4f"))
    imfp_ratios = photoemission.apparent_ratios(
        slab, levels=("Br 3d", "Pb 4f"), escape=xps.Escape(attenuation="imfp")
    )
    # a shorter attenuation length weights the Br-poor PbBr2 top layer more: Br/Pb lower
    assert np.all(eal[:, 0] < imfp_ratios[:, 0])
    assert np.all(np.abs(eal[:, 0] - 3.0) < 1.0)


def test_k_coverage_scales_the_k_ratio_only():
    slab = passivated_slab()
    assert photoemission.surface_coverage(slab) == pytest.approx(0.5)
    half, full = (photoemission.apparent_ratios(slab, k_coverage=c) for c in (0.25, 0.5))
    assert half[:, 0] == pytest.approx(full[:, 0] / 2, rel=1e-12)
    assert half[:, 1] == pytest.approx(full[:, 1], rel=1e-12)
    assert full == pytest.approx(photoemission.apparent_ratios(slab), rel=1e-12)
    with pytest.raises(InputError, match="k_coverage"):
        photoemission.apparent_ratios(slab, k_coverage=1.5)
    with pytest.raises(InputError, match="k_coverage"):
        photoemission.apparent_ratios(bulk_slab(4), levels=("Br 3d", "Pb 4f"), k_coverage=0.2)


def test_asymmetry_parameter_changes_the_ratio_in_the_stated_direction():
    assert xps.angular_factor(1.3, xps.MAGIC_ANGLE) == pytest.approx(1.0, abs=1e-5)
    assert xps.angular_factor(1.3, 0.0) == pytest.approx(2.3)  # along the polarisation
    assert xps.angular_factor(1.3, 90.0, polarised=False) == pytest.approx(1.0 + 1.3 / 4)
    slab = passivated_slab()
    betas = {"K 2p": (1.5, 1.5), "Br 3d": (1.0, 1.0), "Pb 4f": (1.0, 1.0)}
    kw = dict(ligand_nm=(0.0,), betas=betas)
    magic = photoemission.ratio_band(slab, **kw).central
    along = photoemission.ratio_band(slab, analyser_angle=0.0, **kw).central
    # K 2p has the larger beta: along the polarisation its ratio rises by (1 + 1.5) / (1 + 1)
    assert along[:, 0] / magic[:, 0] == pytest.approx(2.5 / 2.0, rel=1e-12)
    assert along[:, 1] == pytest.approx(magic[:, 1], rel=1e-12)


def test_band_contains_each_convention_and_the_input_range():
    slab = passivated_slab()
    band = photoemission.ratio_band(
        slab, ligand_nm=(1.0, 1.5, 2.0), k_coverage=(0.3, 0.4, 0.5),
        betas=photoemission.asymmetry_parameters(), analyser_angle=0.0,
    )  # fmt: skip
    assert set(band.conventions) == set(photoemission.QUANTIFICATIONS)
    for ratios in band.conventions.values():
        assert np.all(band.low <= ratios + 1e-12) and np.all(ratios <= band.high + 1e-12)
    # the conventions differ by the attenuation-length ratio: not the same number twice
    sigma, sigma_lambda = band.conventions["sigma"], band.conventions["sigma_lambda"]
    assert np.all(np.abs(sigma[:, 0] / sigma_lambda[:, 0] - 1) > 0.05)
    for t in (1.0, 2.0):
        for c in (0.3, 0.5):
            one = photoemission.apparent_ratios(slab, ligand_nm=t, k_coverage=c)
            assert np.all(band.low <= one + 1e-12) and np.all(one <= band.high + 1e-12)
    assert band.samples.shape[1:] == band.central.shape


# --- apparent binding energy (#28) ------------------------------------------------------------


def test_apparent_binding_energy_of_one_shared_energy_is_that_energy():
    be = xps.apparent_binding_energy("Br 3d", [68.4, 68.4, 68.4], [0.0, 3.0, 6.0], [2, 1, 4])
    assert be == pytest.approx(68.4, abs=1e-12)
    assert be.shape == (3,)


def test_apparent_binding_energy_follows_the_surface_site():
    depth, population = [0.0, 3.0, 6.0, 9.0], [1, 1, 1, 1]
    lower_surface = xps.apparent_binding_energy("K 2p", [-0.5, 0.0, 0.0, 0.0], depth, population)
    assert lower_surface[0] < lower_surface[1] < lower_surface[2] < 0.0  # rises with hv
    higher_surface = xps.apparent_binding_energy("K 2p", [0.5, 0.0, 0.0, 0.0], depth, population)
    assert higher_surface[0] > higher_surface[1] > higher_surface[2] > 0.0  # falls with hv
    with pytest.raises(InputError, match="sites"):
        xps.apparent_binding_energy("K 2p", [0.5, 0.0], depth, population)
    with pytest.raises(InputError, match="populations"):
        xps.apparent_binding_energy("K 2p", [0.5, 0.0], [0.0, 1.0], [0, 0])
