"""Reference tables: every table loads with sources and tags, values match the shared documents,
derived rows are consistent with the rows they come from, and malformed files give clear errors."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from perovcalc import reference
from perovcalc.cli.main import main
from perovcalc.errors import InputError, PerovcalcError

STUDY_A = "10.1021/jacs.9b11719"
STUDY_B = "10.1021/acsami.8b06105"
EXPERIMENT_TABLES = (
    "composition",
    "experimental_xps",
    "experimental_xps_shifts",
    "nanocrystal_size",
    "optoelectronics",
    "photoemission_ratios",
    "xrd_experiment",
)
LITERATURE_TABLES = (
    "band_gaps",
    "defect_trends",
    "dft_lattice_constants",
    "lattice_constants",
    "literature_binding_energies",
    "materials_project",
    "method_accuracy",
    "migration_barriers",
    "vegard_lattice_constants",
    "xrd_peaks",
)
PASSIVATION = "kbr_passivated - pristine"


def test_every_table_loads_with_a_source_and_a_valid_tag():
    names = reference.table_names()
    assert set(EXPERIMENT_TABLES + LITERATURE_TABLES) <= set(names)
    for name in names:
        rows = reference.load_table(name)
        assert rows, name
        for row in rows:
            assert isinstance(row["source"], str) and row["source"].strip(), (name, row)
            assert row["tag"] in reference.TAGS, (name, row)


def test_list_tables_gives_rows_sources_tags_and_description():
    infos = {info.name: info for info in reference.list_tables()}
    assert set(infos) == set(reference.table_names())
    for name in EXPERIMENT_TABLES + LITERATURE_TABLES:
        info = infos[name]
        assert info.description, name
        assert info.rows == len(reference.load_table(name))
        assert sum(info.tags.values()) == info.rows
        assert info.sources and all(info.sources)
    assert len(infos["photoemission_ratios"].sources) == 1
    assert STUDY_A in infos["photoemission_ratios"].sources[0]
    assert dict(infos["photoemission_ratios"].tags) == {"E": 3}


def test_experiment_tables_cite_the_two_studies_and_literature_tables_do_not_claim_e():
    for name in EXPERIMENT_TABLES:
        for row in reference.load_table(name):
            assert row["tag"] in ("E", "C"), (name, row)
            assert STUDY_A in row["source"] or STUDY_B in row["source"], (name, row)
    for name in LITERATURE_TABLES:
        assert all(row["tag"] != "E" for row in reference.load_table(name)), name


def test_study_a_binding_energies():
    xps = reference.experimental_xps()
    expected = {
        "Br 3d5/2": (68.3, 68.5),
        "Br 3d3/2": (69.3, 69.6),
        "Pb 4f7/2": (138.3, 138.2),
        "Pb 4f5/2": (143.2, 143.1),
    }
    for line, (pristine, passivated) in expected.items():
        assert xps[line]["pristine"].value == pristine
        assert xps[line]["kbr_passivated"].value == passivated
        assert xps[line]["pristine"].unit == "eV" and xps[line]["pristine"].tag == "E"
    assert xps["Br 3d5/2"]["kbr_reference"].value == 68.70
    assert xps["Br 3d5/2"]["cspbbr3_reference"].value == 68.10


def test_derived_shifts_are_differences_of_the_measured_energies():
    xps = reference.experimental_xps()
    derived = [s for s in reference.experimental_xps_shifts() if s.tag == "C"]
    assert len(derived) == 6
    for shift in derived:
        after, before = shift.comparison.split(" - ")
        if shift.comparison != PASSIVATION:
            expected = xps[shift.line][after].value - xps[shift.line][before].value
        elif " - " in shift.line:
            first, second = shift.line.split(" - ")
            expected = (xps[first][after].value - xps[second][after].value) - (
                xps[first][before].value - xps[second][before].value
            )
        else:
            expected = xps[shift.line][after].value - xps[shift.line][before].value
        assert shift.shift == pytest.approx(expected, abs=1e-9), shift
        assert shift.direction == ("increase" if expected > 0 else "decrease")
    assert reference.experimental_xps_shift("Br 3d5/2").shift == pytest.approx(0.2)
    assert reference.experimental_xps_shift("Br 3d5/2 - Pb 4f7/2").shift == pytest.approx(0.3)


def test_qualitative_xps_observations():
    for line in ("I 3d", "Cs 3d"):
        shift = reference.experimental_xps_shift(line)
        assert shift.shift is None and shift.direction == "none" and shift.tag == "E"
    depth = {
        s.line: s.direction
        for s in reference.experimental_xps_shifts()
        if s.comparison == "deeper - shallower"
    }
    assert depth == {"Br 3d": "decrease", "K 2p": "decrease", "Pb 4f": "none"}
    with pytest.raises(InputError, match="Br 3d5/2"):
        reference.experimental_xps_shift("K 2p")
    with pytest.raises(InputError, match="comparison"):
        reference.experimental_xps_shift("Br 3d5/2", comparison="after - before")


def test_photoemission_ratios_match_study_a():
    ratios = reference.photoemission_ratios()
    assert [r.photon_energy for r in ratios] == [450.0, 650.0, 1486.7]
    assert [r.ratios["K"] for r in ratios] == [0.141, 0.085, 0.101]
    assert [r.ratios["Br"] for r in ratios] == [1.96, 1.14, 1.19]
    assert all(r.ratios["Pb"] == 1.0 and r.tag == "E" for r in ratios)
    assert ratios[0].pair("K", "Br") == pytest.approx(0.141 / 1.96)
    # K and Br are enriched at the surface: the shallowest probe gives the largest ratios to Pb.
    assert ratios[0].pair("K") == max(r.pair("K") for r in ratios)
    assert ratios[0].pair("Br") == max(r.pair("Br") for r in ratios)
    with pytest.raises(InputError, match="'Cs'"):
        ratios[0].pair("Cs")


def test_composition_size_and_xrd_values():
    br = reference.reference_value("composition", "value", method="EDS", quantity="Br:Pb")
    assert (br.value, br.unit, br.tag) == (0.90, "atoms per Pb", "E")
    icp = reference.reference_value(
        "composition", "value", method="ICP-OES", condition="after one wash"
    )
    assert (icp.value, icp.unit) == (10.6, "percent")
    for sample in ("pristine", "kbr_passivated"):
        size = reference.reference_value(
            "nanocrystal_size", "edge_length_nm", study="A", sample=sample
        )
        assert (size.value, size.unit) == (11.4, "nm")
    fused = reference.reference_value("nanocrystal_size", "edge_length_nm", sample="fused")
    assert fused.value == 25.0 and STUDY_B in fused.source
    rows = reference.load_table("xrd_experiment")
    assert {r["wavelength_angstrom"] for r in rows} == {1.54178}
    impurity = {r["k_to_pb_percent"]: r["impurity_phase"] for r in rows}
    assert impurity == {0.0: None, 10.0: None, 20.0: "KBr0.67I0.33", 30.0: "KBr0.67I0.33"}


def test_reference_value_errors():
    with pytest.raises(InputError, match="'Z'"):
        reference.reference_value("nanocrystal_size", "edge_length_nm", study="Z")
    with pytest.raises(PerovcalcError, match="2 rows of nanocrystal_size"):
        reference.reference_value("nanocrystal_size", "edge_length_nm", study="A")
    with pytest.raises(InputError, match="colour"):
        reference.reference_value("nanocrystal_size", "edge_length_nm", colour="red")
    with pytest.raises(PerovcalcError, match="not a number"):
        reference.reference_value("nanocrystal_size", "method", study="B", sample="fused")


def test_lattice_constants_and_phases():
    assert reference.lattice_constant("CsPbI3") == 6.2894
    assert reference.lattice_constant("CsPbBr3") == 5.874
    assert reference.lattice_constant("KBr") == 6.600
    assert reference.lattice_constant("CsPbI3", phase="gamma") == 8.646
    pbi2 = reference.lattice_parameters("PbI2")
    assert (pbi2.a, pbi2.c, pbi2.space_group, pbi2.tag) == (4.557, 6.979, "P-3m1", "V")
    with pytest.raises(InputError, match="'CsSnI3'"):
        reference.lattice_constant("CsSnI3")
    with pytest.raises(InputError, match="'alpha'"):
        reference.lattice_constant("CsPbI3", phase="delta")


def test_pseudocubic_and_vegard_rows_follow_from_the_cells():
    for row in reference.load_table("lattice_constants"):
        if row["a_pseudocubic"] is not None:
            # four perovskite formula units in the Pnma cell
            expected = (row["a"] * row["b"] * row["c"] / 4.0) ** (1.0 / 3.0)
            assert row["a_pseudocubic"] == pytest.approx(expected, abs=6e-4), row
    pseudocubic = {
        r["material"]: r["a_pseudocubic"]
        for r in reference.load_table("lattice_constants")
        if r["a_pseudocubic"] is not None
    }
    ends = {
        "high-temperature cubic": (
            reference.lattice_constant("CsPbI3"),
            reference.lattice_constant("CsPbBr3"),
        ),
        "room-temperature pseudo-cubic": (pseudocubic["CsPbI3"], pseudocubic["CsPbBr3"]),
    }
    for row in reference.load_table("vegard_lattice_constants"):
        a_i, a_br = ends[row["end_members"].split(" (")[0]]
        assert row["a_angstrom"] == pytest.approx(a_i + row["x"] / 3 * (a_br - a_i), abs=6e-4)


def _bragg_two_theta(row) -> float:
    h, k, ell = (int(c) for c in row["hkl"].strip("()"))
    a, c = row["a_angstrom"], row["c_angstrom"]
    if c is None:
        inv_d2 = (h * h + k * k + ell * ell) / a**2
    else:  # hexagonal cell
        inv_d2 = 4.0 / 3.0 * (h * h + h * k + k * k) / a**2 + ell * ell / c**2
    return 2.0 * math.degrees(math.asin(row["wavelength_angstrom"] * math.sqrt(inv_d2) / 2.0))


def test_bragg_peak_positions_match_their_lattice_constants():
    bragg = [r for r in reference.load_table("xrd_peaks") if r["kind"] == "bragg"]
    assert len(bragg) > 80
    deviation = np.array([r["two_theta_deg"] - _bragg_two_theta(r) for r in bragg])
    assert np.abs(deviation).max() < 0.015
    observed = [r for r in reference.load_table("xrd_peaks") if r["kind"] == "observed"]
    assert observed and all(r["tag"] == "M" for r in observed)


def test_ranges_are_ordered():
    for name in reference.table_names():
        rows = reference.load_table(name)
        for low in (c for c in rows[0] if re.search(r"(^|_)min(_|$)", c)):
            high = re.sub(r"(^|_)min(_|$)", r"\1max\2", low)
            assert high in rows[0], (name, low)
            for row in rows:
                if row[low] is not None:
                    assert row[high] is not None and row[low] <= row[high], (name, row)


GOOD = """# A test table.
# second comment line
line,binding_energy_eV,hkl,note,source,tag
Br 3d5/2,68.3,(100),,"Someone et al., J. Test 1, 2 (2020)",E
Pb 4f7/2,138.3,(001),"a, b",Other,M
"""


def test_load_table_parses_a_good_file(tmp_path):
    (tmp_path / "good.csv").write_text(GOOD)
    rows = reference.load_table("good", tmp_path)
    assert rows[0]["binding_energy_eV"] == 68.3 and rows[0]["hkl"] == "(100)"
    assert rows[0]["note"] is None and rows[1]["note"] == "a, b"
    assert rows[0]["source"] == "Someone et al., J. Test 1, 2 (2020)"
    assert reference.load_table("good", tmp_path) is rows  # cached
    with pytest.raises(TypeError):
        rows[0]["binding_energy_eV"] = 0.0  # cached rows are read-only
    assert reference.table_description("good", tmp_path) == ["A test table.", "second comment line"]
    assert [i.name for i in reference.list_tables(tmp_path)] == ["good"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# c\nline,binding_energy_eV,tag\nBr,68.3,E\n", ["line 2 (header)", "missing", "source"]),
        ("line,value,source,source,tag\nBr,1,x,y,E\n", ["line 1 (header)", "duplicated", "source"]),
        (
            "# c\n# c\nline,binding_energy_eV,source,tag\nBr,68.3,S,E\nPb,138.3,S\n",
            ["line 5", "3 fields", "has 4"],
        ),
        (
            "line,binding_energy_eV,source,tag\nBr,68.3 eV,S,E\n",
            ["line 2", "column binding_energy_eV", "'68.3 eV'"],
        ),
        ("line,value,unit,source,tag\nBr,nan,eV,S,E\n", ["line 2", "column value", "'nan'"]),
        (
            "line,binding_energy_eV,source,tag\nBr,68.3,S,X\n",
            ["line 2", "tag = 'X'", "'V', 'C', 'M', 'E'"],
        ),
        ("line,binding_energy_eV,source,tag\nBr,68.3,,E\n", ["line 2", "column source", "empty"]),
        ("# only a comment\n", ["no header row"]),
    ],
)
def test_malformed_files_give_errors_naming_file_line_and_column(tmp_path, text, expected):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(PerovcalcError) as err:
        reference.load_table("bad", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "bad.csv") in message
    for part in expected:
        assert part in message


def test_unknown_table_lists_the_available_ones(tmp_path):
    (tmp_path / "alpha.csv").write_text(GOOD)
    with pytest.raises(InputError, match=r"reference table = 'beta'.*'alpha'"):
        reference.load_table("beta", tmp_path)


def test_cli_lists_and_prints_tables(capsys):
    assert main(["reference"]) == 0
    listing = capsys.readouterr().out
    for name in EXPERIMENT_TABLES + LITERATURE_TABLES:
        assert name in listing
    assert main(["reference", "experimental_xps"]) == 0
    out = capsys.readouterr().out
    assert "68.5" in out and STUDY_A in out and out.startswith("# ")
    assert main(["reference", "photoemission_ratios", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["K"] for r in rows] == [0.141, 0.085, 0.101]
    assert main(["reference", "nope"]) == 2
    assert "'nope' is not allowed" in capsys.readouterr().err
