"""TPP-2M inelastic mean free paths against published and independently computed numbers."""

import numpy as np
import pytest
from ase.data import atomic_masses, atomic_numbers
from ase.units import mol

from perovcalc import imfp
from perovcalc.errors import InputError
from perovcalc.reference import lattice_constant, load_table


def _rows(quantity):
    return [r for r in load_table("imfp_published") if r["quantity"] == quantity]


def _material(row):
    return imfp.IMFPMaterial(
        row["material"],
        row["density"],
        row["valence_electrons"],
        row["molar_mass"],
        row["band_gap"],
    )


@pytest.mark.parametrize("row", _rows("plasmon_energy"), ids=lambda r: r["material"])
def test_plasmon_energy_matches_tpp2m_paper(row):
    # The paper prints Ep to 0.1 eV: agreement to its rounding (0.05 eV) plus float slack.
    assert imfp.plasmon_energy(_material(row)) == pytest.approx(row["value"], abs=0.06)


def test_published_table_has_all_three_kinds():
    kinds = {r["quantity"] for r in load_table("imfp_published")}
    assert kinds == {"plasmon_energy", "optical_imfp", "tpp2m_imfp"}
    assert len(_rows("plasmon_energy")) == 14


@pytest.mark.parametrize("row", _rows("tpp2m_imfp"), ids=lambda r: f"{r['material']}-{r['energy']}")
def test_imfp_matches_independent_tpp2m_values(row):
    # Values were computed elsewhere and rounded to 0.01 nm = 0.1 A.
    lam = imfp.tpp2m(row["energy"], _material(row))
    assert lam == pytest.approx(row["value"], abs=0.06)


@pytest.mark.parametrize("row", _rows("optical_imfp"), ids=lambda r: f"Si-{r['energy']:g}")
def test_silicon_tracks_optical_imfps(row):
    # TPP-2M is a fit to optical IMFPs with ~10 % RMS scatter over materials; for Si it sits
    # within 3 %, so 5 % here would catch a wrong term anywhere in the formula.
    lam = imfp.tpp2m(row["energy"], _material(row))
    assert lam == pytest.approx(row["value"], rel=0.05)


def test_perovskite_end_members_density_from_lattice_constant():
    for x, name in ((3.0, "CsPbBr3"), (0.0, "CsPbI3")):
        halide = "Br" if x else "I"
        mass = (
            sum(atomic_masses[atomic_numbers[el]] for el in ("Cs", "Pb"))
            + 3 * atomic_masses[atomic_numbers[halide]]
        )
        a_cm = lattice_constant(name) * 1e-8
        material = imfp.perovskite(x)
        assert material.name == name
        assert material.density == pytest.approx(mass / mol / a_cm**3, rel=1e-9)
        assert material.valence_electrons == 44
    assert imfp.perovskite(3.0).density == pytest.approx(4.750, abs=0.001)  # literature 5b
    mixed = imfp.perovskite(1.0)
    assert mixed.name == "CsPbI2Br"
    assert imfp.perovskite(0.0).band_gap < mixed.band_gap < imfp.perovskite(3.0).band_gap


def test_imfp_rises_with_energy_and_is_longer_for_chemical_valence():
    material = imfp.perovskite(1.0)
    energies = np.array([100.0, 200.0, 500.0, 1000.0, 2000.0])
    lam = imfp.tpp2m(energies, material)
    assert np.all(np.diff(lam) > 0)
    # Br 3d: 450 eV photons probe much shallower than Al K-alpha (380 vs 1420 eV kinetic).
    assert imfp.tpp2m(1418.0, material) / imfp.tpp2m(382.0, material) > 2.5
    chemical = imfp.IMFPMaterial(
        "CsPbI2Br chemical valence", material.density, 26, material.molar_mass, material.band_gap
    )
    assert 1.10 < imfp.tpp2m(1000.0, chemical) / imfp.tpp2m(1000.0, material) < 1.25


def test_band_gap_barely_matters_for_perovskites():
    base = imfp.perovskite(1.0)
    shifted = imfp.IMFPMaterial("gap+1", base.density, 44, base.molar_mass, base.band_gap + 1)
    ratio = imfp.tpp2m(1000.0, shifted) / imfp.tpp2m(1000.0, base)
    assert 1.0 < ratio < 1.02


def test_kbr_from_composition():
    kbr = imfp.material_from_composition("KBr", {"K": 1, "Br": 1}, 2.749, 7.4)
    assert kbr.valence_electrons == 16
    assert kbr.molar_mass == pytest.approx(119.00, abs=0.01)
    assert imfp.tpp2m(1420.0, kbr) == pytest.approx(35.2, abs=0.06)  # literature 5b


def test_bad_inputs_name_the_field():
    material = imfp.perovskite(3.0)
    with pytest.raises(InputError, match="kinetic energy"):
        imfp.tpp2m(30.0, material)
    with pytest.raises(InputError, match="kinetic energy"):
        imfp.tpp2m([100.0, 2500.0], material)
    with pytest.raises(InputError, match="density"):
        imfp.IMFPMaterial("x", 0.0, 44, 580.0)
    with pytest.raises(InputError, match="band_gap"):
        imfp.IMFPMaterial("x", 4.7, 44, 580.0, -1.0)
    with pytest.raises(InputError, match="x = 4"):
        imfp.perovskite(4)
    with pytest.raises(InputError, match="element"):
        imfp.material_from_composition("NaCl", {"Na": 1, "Cl": 1}, 2.16, 8.5)


def test_eal_is_shorter_than_the_imfp_by_the_jablonski_powell_factor():
    material = imfp.perovskite(3.0)
    energies = np.array([150.0, 400.0, 1400.0])
    eal = imfp.attenuation_length(energies, material, "eal")
    lam = imfp.attenuation_length(energies, material, "imfp")
    z = (55 + 82 + 3 * 35) / 5  # mean atomic number of CsPbBr3
    factor = (1 - 0.028 * np.sqrt(z)) * (0.501 + 0.068 * np.log(energies))
    assert eal == pytest.approx(lam * factor, rel=1e-12)
    assert np.all(eal < lam) and np.all(eal / lam > 0.6)
    # light organic ligand: Z ~ 3, the correction is smaller than in the perovskite
    ligand = imfp.ligand_shell()
    ratio = imfp.attenuation_length(400.0, ligand) / imfp.tpp2m(400.0, ligand)
    assert eal[1] / lam[1] < ratio < 1.0
    with pytest.raises(InputError, match="attenuation"):
        imfp.attenuation_length(400.0, material, "tpp")


def test_ligand_shell_imfp_is_hydrocarbon_like():
    # TPP-2M of oleic acid at 0.895 g/cm3: organic IMFPs at 1 keV are ~3-4 nm (longer than the
    # perovskite's ~2.2 nm: lighter, less dense)
    assert 28.0 < imfp.tpp2m(1000.0, imfp.ligand_shell()) < 45.0
    assert imfp.tpp2m(1000.0, imfp.ligand_shell()) > imfp.tpp2m(1000.0, imfp.perovskite(3.0))
