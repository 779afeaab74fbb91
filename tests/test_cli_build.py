"""`perovcalc build`: files written, read back, and option errors that name the option."""

import numpy as np
import pytest
from ase.io import read

from perovcalc.bulk import formal_charge
from perovcalc.cli.main import main


def test_help_lists_the_structure_kinds(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for kind in ("bulk", "slab", "nanocrystal", "vacancy"):
        assert kind in out


def test_bulk_sqs_extxyz(tmp_path, capsys):
    path = tmp_path / "CsPbI2Br_sqs.extxyz"
    args = ["build", "bulk", "--x", "1", "--supercell", "2", "2", "2", "--ordering", "sqs"]
    assert main([*args, "--seed", "0", "-o", str(path)]) == 0
    atoms = read(path)
    assert atoms.get_chemical_formula() == "Br8Cs8I16Pb8"
    out = capsys.readouterr().out
    table = [line.split() for line in out.splitlines() if line.startswith(("pair", "triplet"))]
    assert [row[0] for row in table] == ["pair"] * 4 + ["triplet"] * 3
    assert ["images" in " ".join(row) for row in table] == [False, True, True, True] + [
        False,
        True,
        True,
    ]
    assert "mismatch (sum of |correlation - random|): 0.3194" in out


def test_bulk_enumerate_writes_every_ordering(tmp_path):
    path = tmp_path / "orderings.extxyz"
    args = ["build", "bulk", "--x", "1", "--supercell", "2", "1", "1", "--ordering", "enumerate"]
    assert main([*args, "-o", str(path)]) == 0
    frames = read(path, index=":")
    assert [f.info["multiplicity"] for f in frames] == [8, 2, 2, 2, 1]


def test_competing_phase_cif(tmp_path):
    path = tmp_path / "KBr.cif"
    assert main(["build", "bulk", "--material", "KBr", "-o", str(path)]) == 0
    assert read(path).get_chemical_formula() == "BrK"


def test_slab_extxyz_keeps_layers_and_constraints(tmp_path):
    path = tmp_path / "slab.extxyz"
    args = ["build", "slab", "--x", "3", "--termination", "CsX", "--layers", "5"]
    assert main([*args, "--passivation", "KBr", "--fix-layers", "1", "-o", str(path)]) == 0
    atoms = read(path)
    assert atoms.get_chemical_formula() == "Br7CsK2Pb2"
    assert atoms.arrays["layer"].tolist() == [2, 2, 1, 1, 1, 0, 0, 1, 1, 1, 2, 2]
    assert len(atoms.constraints[0].index) == 2  # the central CsBr layer


def test_nanocrystal(tmp_path):
    path = tmp_path / "nc.extxyz"
    args = ["build", "nanocrystal", "--x", "1", "--edge-nm", "3", "--shell", "KBr"]
    assert main([*args, "-o", str(path)]) == 0
    atoms = read(path)
    assert "K" in atoms.get_chemical_symbols() and formal_charge(atoms) == 0


def test_vacancy_listing_removal_and_neb_endpoints(tmp_path, capsys):
    slab = tmp_path / "slab.extxyz"
    assert main(["build", "slab", "-o", str(slab)]) == 0
    capsys.readouterr()
    assert main(["build", "vacancy", str(slab)]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[:4] for row in rows] == [
        ["11", "Br", "2", "2"],
        ["8", "Br", "4", "1"],
        ["6", "Br", "1", "0"],
    ]
    out = tmp_path / "v.extxyz"
    assert main(["build", "vacancy", str(slab), "--site", "11", "-o", str(out)]) == 0
    assert len(read(out)) == 11
    neb = tmp_path / "hop.extxyz"
    args = ["build", "vacancy", str(slab), "--site", "11", "--hop-to", "8", "-o", str(neb)]
    assert main(args) == 0
    initial, final = read(tmp_path / "hop_initial.extxyz"), read(tmp_path / "hop_final.extxyz")
    assert initial.get_chemical_symbols() == final.get_chemical_symbols()
    moved = np.linalg.norm(final.positions - initial.positions, axis=1) > 1e-6
    assert moved.sum() == 1


@pytest.mark.parametrize(
    "args, expected",
    [
        (["bulk", "--x", "4"], ["--x = 4.0", "[0, 3]"]),
        (["bulk", "--x", "0.3", "--supercell", "2", "2", "2"], ["--x = 0.3", "1/8"]),
        (["bulk", "--supercell", "0", "1", "1"], ["--supercell", "positive integers"]),
        (["slab", "--vacuum", "-1"], ["--vacuum = -1.0", "> 0"]),
        (["slab", "--layers", "4"], ["--layers = 4", "odd"]),
        (["slab", "--layers", "5", "--fix-layers", "5"], ["--fix-layers = 5", "layers - 2"]),
        (["slab", "--termination", "PbX2", "--passivation", "KBr"], ["--passivation", "PbX2"]),
        (["slab", "--k-coverage", "0.5"], ["--k-coverage = 0.5", "passivation"]),
        (["nanocrystal", "--edge-nm", "0.5"], ["--edge-nm = 0.5", "3 cells"]),
        (["nanocrystal", "--shell", "KBr", "--k-ratio", "2"], ["--k-ratio = 2.0", "(0, 1]"]),
    ],
)
def test_bad_options_name_the_option(tmp_path, capsys, args, expected):
    assert main(["build", *args, "-o", str(tmp_path / "out.cif")]) == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err
    assert not (tmp_path / "out.cif").exists()


def test_unknown_choice_and_output_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "slab", "--termination", "SnX2", "-o", str(tmp_path / "s.cif")])
    assert exit_info.value.code == 2
    assert "--termination" in capsys.readouterr().err
    assert main(["build", "slab", "-o", str(tmp_path / "s.pdb")]) == 2
    assert "--output = " in capsys.readouterr().err


def test_vacancy_errors(tmp_path, capsys):
    assert main(["build", "vacancy", str(tmp_path / "missing.extxyz")]) == 2
    assert "STRUCTURE" in capsys.readouterr().err
    slab = tmp_path / "slab.extxyz"
    main(["build", "slab", "-o", str(slab)])
    assert main(["build", "vacancy", str(slab), "--site", "0", "-o", str(tmp_path / "v.cif")]) == 2
    assert "--site = 0" in capsys.readouterr().err
    args = ["build", "vacancy", str(slab), "--site", "11", "--hop-to", "6"]
    assert main([*args, "-o", str(tmp_path / "v.cif")]) == 2
    assert "--hop-to = 6" in capsys.readouterr().err
