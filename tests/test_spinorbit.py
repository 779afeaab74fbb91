"""Spin-orbit coupling added non-self-consistently: CsPbBr3 band edges, the SOC energy, and
the label every printed gap carries."""

import copy

import pytest

from perovcalc.bulk import cubic_perovskite
from perovcalc.formation import fermi_level_figure
from perovcalc.kinds.defects import VacancyResult, vacancy_table
from perovcalc.presets import edge_label
from perovcalc.spinorbit import soc_band_edges, soc_energy_correction
from tests.test_records import VACANCIES_02

A = 5.874  # A, cubic CsPbBr3


@pytest.fixture(scope="module")
def cspbbr3():
    """Cheap PBE SCF of cubic CsPbBr3 on a Gamma-centred 2x2x2 grid (which holds R)."""
    from gpaw import GPAW

    atoms = cubic_perovskite(A, "Br")
    atoms.calc = GPAW(
        mode={"name": "pw", "ecut": 250},
        xc="PBE",
        kpts={"size": (2, 2, 2), "gamma": True},
        occupations={"name": "fermi-dirac", "width": 0.05},
        convergence={"energy": 1e-4, "density": 1e-4},
        txt=None,
    )
    atoms.get_potential_energy()
    return atoms


def test_soc_lowers_the_cspbbr3_conduction_band_and_closes_the_gap(cspbbr3, tmp_path):
    """SOC splits the Pb-6p conduction band at R: its j = 1/2 edge falls by about 1 eV, while
    the Br-4p/Pb-6s valence edge hardly moves. Without SOC (scale 0) the edges must be
    GPAW's own scalar-relativistic HOMO and LUMO (R is on the grid)."""
    edges = soc_band_edges(cspbbr3, tmp_path / "edges.txt")
    homo, lumo = cspbbr3.calc.get_homo_lumo()
    assert edges["vbm_no_soc"] == pytest.approx(homo, abs=0.01)
    assert edges["cbm_no_soc"] == pytest.approx(lumo, abs=0.01)
    assert edges["gap_no_soc"] > 1.0
    assert edges["gap"] < edges["gap_no_soc"] - 0.5
    assert edges["cbm"] < edges["cbm_no_soc"] - 0.5
    assert abs(edges["vbm"] - edges["vbm_no_soc"]) < 0.2
    assert edges["gap"] > 0


def test_soc_lowers_the_energy_of_a_closed_shell_crystal(cspbbr3):
    assert soc_energy_correction(cspbbr3) < -0.01


def test_printed_gaps_and_levels_say_whether_soc_is_in():
    assert edge_label() == "(PBE, no SOC)" and edge_label(soc=True) == "(PBE+SOC)"
    record = VacancyResult.from_dict(copy.deepcopy(VACANCIES_02))
    assert "gap 2.000 eV (PBE, no SOC)" in vacancy_table("vac", record)
    figure = fermi_level_figure(VACANCIES_02)
    assert all("(PBE, no SOC)" in ax.get_xlabel() for ax in figure.axes)


def test_a_host_with_soc_edges_labels_both_gaps_and_draws_the_soc_window():
    data = copy.deepcopy(VACANCIES_02)
    data["host"]["soc_edges"] = {"vbm": 1.05, "cbm": 1.45, "gap": 0.4, "vbm_no_soc": 1.0,
                                 "cbm_no_soc": 3.0, "gap_no_soc": 2.0}  # fmt: skip
    table = vacancy_table("vac", VacancyResult.from_dict(data))
    assert "gap 2.000 eV (PBE, no SOC)" in table
    assert "gap 0.400 eV (PBE+SOC), VBM +0.050 eV, CBM -1.550 eV" in table
    assert "spans 0 to 0.400 eV" in table
    figure = fermi_level_figure(data)
    dashed = [line.get_xdata()[0] for line in figure.axes[0].lines if line.get_linestyle() == "--"]
    assert dashed == pytest.approx([0.05, 0.45])
