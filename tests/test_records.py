"""Typed result records of the vacancy, barrier and core-level kinds: the stored dicts of
earlier versions load, round-trip unchanged and are presented by one function each."""

import copy

import pytest

from perovcalc.kinds.corelevels import CoreLevelsResult, core_levels_headline
from perovcalc.kinds.defects import (
    VACANCY_COLUMNS,
    VacancyResult,
    vacancy_csv_rows,
    vacancy_headline,
    vacancy_table,
)
from perovcalc.kinds.migration import (
    BARRIER_COLUMNS,
    MigrationResult,
    barrier_csv_row,
    barrier_headline,
)
from perovcalc.report import migration as report_migration
from perovcalc.results import headline


class Row:
    """The parts of an ase.db row that results.headline reads."""

    def __init__(self, kind: str, result: dict):
        self.kind, self.data = kind, {"result": result}

    def get(self, key, default=None):
        return getattr(self, key, default)


ENTRY_02 = {  # a vacancy as perovcalc 0.2 stored it
    "site": 2, "species": "Br", "multiplicity": 3, "layer": None, "layer_from_surface": None,
    "depth": None, "charge": 0, "energy": -20.5, "relaxation_energy": 0.12, "rattle": 0.0,
    "correction": {"energy": 0.0, "alignment": 0.0, "isolated": 0.0},
    "formation_energy": {"rich": 1.234, "poor": 0.456}, "converged": True, "steps": 7,
    "max_force": 0.03, "spinpol": True, "positions": [[0.0, 0.0, 0.0]] * 4,
    "correction_range": None,
}  # fmt: skip
VACANCIES_02 = {
    "environment": "bulk",
    "host": {"formula": "CsPbBr3", "energy": -25.0, "vbm": 1.0, "cbm": 3.0, "gap": 2.0,
             "slab": None},
    "chemical_potentials": {"Br": {"rich": -0.1, "poor": -1.2}},
    "region_host": "CsPbBr3",
    "epsilon": 5.8,
    "entries": [ENTRY_02, {**ENTRY_02, "charge": 1, "formation_energy": {"rich": 0.9, "poor": -0.2},
                           "converged": False, "max_force": 0.25,
                           "correction": {"energy": 0.1, "lattice": 0.15, "alignment": -0.05},
                           "correction_range": [0.6, 0.05]}],
    "epsilon_range": [3.0, 12.0],
    "equilibrium": [{"condition": "rich", "temperature": 453.15, "fermi_level": 1.2,
                     "holes": 1e3, "electrons": 2e15, "concentrations": {"V_Br2": {"+1": 2e15}}}],
}  # fmt: skip


def test_a_stored_vacancy_result_round_trips_and_reads():
    record = VacancyResult.from_dict(copy.deepcopy(VACANCIES_02))
    assert record.to_dict() == VACANCIES_02
    assert record.entries[1].charge == 1 and record.entries[0].formation_energy["poor"] == 0.456
    line = vacancy_headline(record)
    assert "V_Br site 2 (x3, q +0): 1.234 / 0.456 eV" in line
    assert "q +1): 0.900 / -0.200 eV (not relaxed: 0.25 eV/A left)" in line
    assert headline(Row("vacancy_formation", VACANCIES_02)) == line
    table = vacancy_table("vac", record)
    assert "vac: halide vacancies in bulk CsPbBr3" in table and "no (0.25 eV/A)" in table
    rows = vacancy_csv_rows("vac", record)
    assert [list(r) for r in rows] == [VACANCY_COLUMNS] * 2
    assert rows[0]["E_f_poor_eV"] == "0.4560" and rows[0]["host_atoms"] == 5
    assert rows[0]["E_relax_eV"] == "0.1200" and rows[1]["relaxed"] == "no"
    # epsilon 5.8 in [3, 12]: E_f X-poor moves by the change of E_corr (0.1 -> 0.6 and 0.05 eV)
    assert rows[1]["E_f_poor_eps_low_eV"] == "0.3000" and rows[1]["epsilon_low"] == 3.0
    assert rows[1]["E_f_poor_eps_high_eV"] == "-0.2500" and rows[0]["epsilon_high"] == ""
    assert "V_Br site 2 q +1: 0.3000 / -0.2500 eV (at 5.8: -0.2000)" in table
    assert "X-rich, 453.15 K: E_F 1.200 eV above the VBM; n 2.00e+15, p 1.00e+03, V_Br2 +1: " in (
        table
    )


def test_a_vacancy_of_perovcalc_01_reads_with_neutral_values_for_later_fields():
    old = copy.deepcopy(VACANCIES_02)
    for entry in old["entries"]:
        for key in ("relaxation_energy", "rattle", "spinpol", "correction_range"):
            del entry[key]
    del old["epsilon_range"], old["equilibrium"]
    record = VacancyResult.from_dict(old)
    entry = record.entries[0]
    assert (entry.relaxation_energy, entry.rattle, entry.spinpol) == (None, 0.0, False)
    assert vacancy_csv_rows("vac", record)[0]["E_relax_eV"] == ""
    assert "E_relax" in vacancy_table("vac", record)


BARRIER_02 = {  # a migration_barrier result as perovcalc 0.2 stored it
    "forward_barrier": 0.3, "reverse_barrier": 0.25, "reaction_energy": 0.05,
    "saddle_index": 2, "saddle_energy": -99.7, "energies": [-100.0, -99.85, -99.7, -99.95],
    "residual": 0.04, "converged": True,
    "cost": {"evaluations": 12, "steps": 5, "wall_time": 30.0},
    "total_cost": {"evaluations": 40, "steps": 20, "wall_time": 130.0},
    "hop": {"index": 3, "symbol": "Br", "distance": 4.2, "max_other_displacement": 0.2},
    "settings": {"n_images": 2, "fmax": 0.05, "spinpol": True},
    "unstable_endpoints": [], "minima": [0, 3], "intermediates": [],
    "environment": "bulk", "slab": None, "kbr_passivated": False, "species": "Br", "site": 2,
    "to": 3, "layer_from_surface": None,
    "endpoints": {"initial": {"source": "relaxed", "evaluations": 9}},
    "endpoint_evaluations": 18, "intermediate_evaluations": 0, "path": [0.0, 1.0, 2.0, 3.0],
    "tangential_forces": [0.0, -0.2, 0.0, 0.2],
    "host": {"task": "host", "energy": -105.0, "formula": "CsPbBr3", "rattle": 0.0},
}  # fmt: skip


def test_a_stored_barrier_round_trips_and_reads():
    record = MigrationResult.from_dict(copy.deepcopy(BARRIER_02))
    assert record.to_dict() == BARRIER_02
    assert record.band.total_cost.evaluations == 40 and record.band.hop.symbol == "Br"
    line = barrier_headline(record)
    assert line == (
        "V_Br hop (vacancy 2 -> 3): forward 0.300 eV, reverse 0.250 eV, reaction +0.050 eV; "
        "converged (0.040 eV/A), 40 DFT evaluations"
    )
    assert headline(Row("migration_barrier", BARRIER_02)) == line
    row = barrier_csv_row("hop", "bulk", {"model": "SQS"}, record, 40)
    assert list(row) == BARRIER_COLUMNS
    assert (row["forward_eV"], row["band_evaluations"], row["model"]) == ("0.3000", 40, "SQS")


def test_an_unconverged_surrogate_barrier_says_why_it_stopped():
    stopped = copy.deepcopy(BARRIER_02)
    status = "stopped: the hopping Br of DFT image 1 lies 1.18 A past an endpoint"
    stopped.update(converged=False, residual=0.27)
    stopped["settings"]["surrogate"] = {"status": status}
    line = barrier_headline(MigrationResult.from_dict(stopped))
    assert f"NOT converged (0.270 eV/A; {status}), 40 DFT evaluations" in line
    assert "stopped" not in barrier_headline(MigrationResult.from_dict(BARRIER_02))
    # the report names no barrier for it, and says why
    record = MigrationResult.from_dict(stopped)
    assert report_migration._shown(record) == "0.300 eV (highest image of an unconverged band)"
    assert report_migration._stopped(record) == f"band not converged, {status}"
    assert report_migration._shown(MigrationResult.from_dict(BARRIER_02)) == "0.300 eV"


def test_a_barrier_of_perovcalc_01_reads_as_one_band_judged_here():
    old = copy.deepcopy(BARRIER_02)
    for key in (
        "total_cost",
        "unstable_endpoints",
        "minima",
        "intermediates",
        "intermediate_evaluations",
        "path",
        "tangential_forces",
        "kbr_passivated",
    ):
        del old[key]  # fmt: skip
    old["energies"] = [-100.0, -100.2, -99.7, -99.95]  # an image below the initial state
    record = MigrationResult.from_dict(old)
    band = record.band
    assert band.total_cost == band.cost and band.minima == [0, 3] and band.intermediates == []
    assert band.unstable_endpoints == ["initial"]
    line = barrier_headline(record)
    assert "12 DFT evaluations" in line and "NO BARRIER: initial endpoint" in line


CORE_LEVELS_02 = {
    "ground_energy": -50.0,
    "levels": {
        "Br 3d": {"sites": [2, 3], "depth": {"2": 0.0, "3": 1.5, "4": 1.5},
                  "multiplicity": {"2": 1, "3": 2}, "site_depth": {"2": 0.0, "3": 1.5},
                  "delta_scf": {"2": 65.1, "3": 65.4},
                  "initial_state": {"2": 0.0, "3": -0.3, "4": -0.3}},
        "Pb 4f": {"sites": [1], "depth": {"1": 0.8}, "multiplicity": {"1": 1},
                  "site_depth": {"1": 0.8}, "initial_state": {"1": 0.0}},
    },
    "method": "both",
}  # fmt: skip


def test_a_stored_core_level_result_round_trips_and_reads():
    record = CoreLevelsResult.from_dict(copy.deepcopy(CORE_LEVELS_02))
    assert record.to_dict() == CORE_LEVELS_02  # the Pb 4f level keeps no delta_scf key
    assert record.levels["Pb 4f"].delta_scf is None and record.hole_convergence is None
    newer = {**CORE_LEVELS_02, "hole_convergence": {"eigenstates": 1e-5, "density": 1e-3}}
    assert CoreLevelsResult.from_dict(copy.deepcopy(newer)).to_dict() == newer
    line = core_levels_headline(record)
    assert line == (
        "Br 3d: 2 distinct sites, Delta-SCF 65.100 to 65.400 eV, initial state -0.300 to "
        "0.000 eV (shift vs central site 3: 2 -0.300 eV); Pb 4f: 1 distinct site, initial "
        "state 0.000 to 0.000 eV"
    )
    assert headline(Row("core_levels", CORE_LEVELS_02)) == line
    # stored without a reference site: the deepest site stands in for the central layer
    assert record.levels["Br 3d"].reference_site is None
    assert record.levels["Br 3d"].reference() == 3
    assert record.levels["Br 3d"].shifts() == {2: pytest.approx(-0.3), 3: 0.0}


def test_a_core_level_result_with_its_reference_site_round_trips():
    stored = copy.deepcopy(CORE_LEVELS_02)
    stored["levels"]["Br 3d"].update(reference_site=2, reference_depth=0.0)
    record = CoreLevelsResult.from_dict(copy.deepcopy(stored))
    assert record.to_dict() == stored
    assert record.levels["Br 3d"].shifts() == {2: 0.0, 3: pytest.approx(0.3)}
    assert record.levels["Br 3d"].shifts("initial_state") == {2: 0.0, 3: -0.3}
    assert "shift vs central site 2: 3 +0.300 eV" in core_levels_headline(record)


@pytest.mark.parametrize(
    ("record", "stored", "key"),
    [
        (VacancyResult, VACANCIES_02, "entries"),
        (MigrationResult, BARRIER_02, "energies"),
        (CoreLevelsResult, CORE_LEVELS_02, "levels"),
    ],
)
def test_the_main_quantities_are_not_optional(record, stored, key):
    with pytest.raises(KeyError, match=key):
        record.from_dict({k: v for k, v in stored.items() if k != key})


PHOTOEMISSION_02 = {  # a photoemission_ratios result as stored before the band model
    "photon_energies": [450.0, 650.0, 1486.7],
    "levels": ["K 2p", "Br 3d", "Pb 4f"],
    "ratios": [[0.75, 2.25, 1.0], [0.47, 1.93, 1.0], [0.23, 1.54, 1.0]],
    "composition": {"Br": 10, "Cs": 5, "K": 2, "Pb": 4},
    "geometry": "cube",
}


def test_a_stored_photoemission_result_without_band_loads_and_round_trips():
    from perovcalc.kinds.spectra import PhotoemissionResult

    record = PhotoemissionResult.from_dict(copy.deepcopy(PHOTOEMISSION_02))
    assert record.to_dict() == PHOTOEMISSION_02
    assert not record.has_band and record.model is None and record.ratios[2][1] == 1.54


def test_a_photoemission_band_record_gives_the_change_over_its_samples():
    from perovcalc.kinds.spectra import PhotoemissionResult

    samples = [[[0.2, 2.0, 1.0], [0.1, 1.5, 1.0]], [[0.4, 3.0, 1.0], [0.1, 1.5, 1.0]]]
    stored = {**PHOTOEMISSION_02, "photon_energies": [450.0, 650.0],
              "ratios": [[0.3, 2.5, 1.0], [0.1, 1.5, 1.0]], "low": samples[0],
              "high": samples[1], "samples": samples, "model": {"attenuation": "eal"}}  # fmt: skip
    record = PhotoemissionResult.from_dict(copy.deepcopy(stored))
    assert record.to_dict() == stored and record.has_band
    central, low, high = record.change(0, 1, 0)  # K/Pb at 650 over 450 eV
    assert (central, low, high) == pytest.approx((1 / 3, 0.25, 0.5))


def test_the_measured_k_to_pb_ratios_come_from_the_composition_table():
    from perovcalc.kinds.spectra import measured_k_to_pb

    assert measured_k_to_pb() == pytest.approx([0.05, 0.06, 0.106])


def test_kept_rows_are_the_old_rows_the_store_does_not_compute_again(tmp_path):
    from perovcalc.results import kept_rows, write_csv

    path = tmp_path / "old.csv"
    columns = ["quantity", "model", "value_eV"]
    old = [
        {"quantity": "E_seg", "model": "1x1", "value_eV": "0.1189"},
        {"quantity": "E_seg", "model": "interstitial", "value_eV": "UNCONVERGED"},
    ]
    write_csv(columns, old, path, "# a header\n")
    new = [{"quantity": "E_seg", "model": "interstitial", "value_eV": 0.2}]
    assert kept_rows(path, new, ["quantity", "model"]) == [old[0]]
    assert kept_rows(tmp_path / "missing.csv", new, ["quantity", "model"]) == []
