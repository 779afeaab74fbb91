"""Cubic perovskite cells, Vegard's law, competing phases and the curated structures/ files."""

from pathlib import Path

import numpy as np
import pytest
import spglib
from ase.io import read
from ase.neighborlist import neighbor_list

from perovcalc import alloy, bulk
from perovcalc.errors import InputError

STRUCTURES = Path(__file__).resolve().parent.parent / "structures"


def space_group(atoms, symprec=1e-3) -> int:
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    return spglib.get_symmetry_dataset(cell, symprec=symprec).number


def nearest(atoms, a: str, b: str) -> float:
    d = atoms.get_all_distances(mic=True)
    s = np.array(atoms.get_chemical_symbols())
    block = d[np.ix_(s == a, s == b)]
    return block[block > 1e-8].min()


def test_vegard_end_members_and_hand_values():
    # end members are the reference experimental values; x = 1: 6.2894 - (6.2894 - 5.874) / 3
    assert bulk.vegard_lattice_constant(0) == pytest.approx(6.2894)
    assert bulk.vegard_lattice_constant(3) == pytest.approx(5.874)
    assert bulk.vegard_lattice_constant(1) == pytest.approx(6.150933, abs=1e-6)
    assert bulk.vegard_lattice_constant(1.5) == pytest.approx(6.0817, abs=1e-6)


@pytest.mark.parametrize("x", [-0.1, 3.5, "one"])
def test_vegard_rejects_x_outside_range(x):
    with pytest.raises(InputError, match=r"x = .* allowed: .*\[0, 3\]"):
        bulk.vegard_lattice_constant(x)


def test_lattice_constant_override_and_validation():
    assert bulk.perovskite_lattice_constant(1.0, a=6.0) == 6.0
    assert bulk.perovskite_lattice_constant(3.0) == pytest.approx(5.874)
    with pytest.raises(InputError, match="a = -6.0"):
        bulk.perovskite_lattice_constant(1.0, a=-6.0)


@pytest.mark.parametrize("halide, x, formula", [("I", 0, "CsI3Pb"), ("Br", 3, "Br3CsPb")])
def test_cubic_end_members_are_pm3m_and_neutral(halide, x, formula):
    a = bulk.vegard_lattice_constant(x)
    atoms = bulk.cubic_perovskite(a, halide=halide)
    assert atoms.get_chemical_formula() == formula
    assert space_group(atoms) == 221
    assert bulk.formal_charge(atoms) == 0
    assert nearest(atoms, "Pb", halide) == pytest.approx(a / 2)  # octahedron Pb-X
    assert nearest(atoms, "Cs", halide) == pytest.approx(a / np.sqrt(2))  # 12-fold A site


def test_cubic_perovskite_rejects_unknown_halide_and_a_site():
    with pytest.raises(InputError, match="halide = 'Cl'.*'I', 'Br'"):
        bulk.cubic_perovskite(6.0, halide="Cl")
    with pytest.raises(InputError, match="a_site = 'Rb'"):
        bulk.cubic_perovskite(6.0, a_site="Rb")


def test_formal_charge_counts_oxidation_states():
    atoms = bulk.cubic_perovskite(6.0)
    del atoms[2]  # one Br missing: a halide vacancy is formally +1
    assert bulk.formal_charge(atoms) == 1


@pytest.mark.parametrize(
    "material, number, formula, bond",
    [
        ("KBr", 225, "BrK", ("K", "Br", 6.600 / 2)),
        ("KI", 225, "IK", ("K", "I", 7.066 / 2)),
        ("CsBr", 221, "BrCs", ("Cs", "Br", 4.296 * np.sqrt(3) / 2)),
        ("CsI", 221, "CsI", ("Cs", "I", 4.567 * np.sqrt(3) / 2)),
        # Pb-I in CdI2-type PbI2: sqrt((a / sqrt(3))^2 + (z c)^2) with z = 0.265
        ("PbI2", 164, "I2Pb", ("Pb", "I", np.hypot(4.557 / np.sqrt(3), 0.265 * 6.979))),
    ],
)
def test_competing_phases(material, number, formula, bond):
    atoms = bulk.competing_phase(material)
    assert space_group(atoms) == number
    assert atoms.get_chemical_formula() == formula
    assert bulk.formal_charge(atoms) == 0
    assert nearest(atoms, bond[0], bond[1]) == pytest.approx(bond[2], abs=1e-3)


def test_pbbr2_is_cotunnite_with_seven_short_pb_br_bonds():
    atoms = bulk.competing_phase("PbBr2")
    assert space_group(atoms) == 62
    assert atoms.get_chemical_formula() == "Br8Pb4"
    assert atoms.cell.cellpar()[:3] == pytest.approx([8.05, 4.73, 9.54])
    first, distance = neighbor_list("id", atoms, 4.0)
    lead_bromide = np.sort(distance[first == 0])  # atom 0 is Pb, all its neighbours are Br
    assert 2.8 < lead_bromide[0] < 3.1
    assert np.sum(lead_bromide < 3.5) == 7  # the 7 + 2 coordination of the cotunnite type
    assert len(lead_bromide) == 9


def test_competing_phase_override_scales_cell():
    atoms = bulk.competing_phase("PbBr2", a=8.05 * 1.02)
    assert atoms.cell.cellpar()[:3] == pytest.approx(np.array([8.05, 4.73, 9.54]) * 1.02)
    with pytest.raises(InputError, match="material = 'NaCl'"):
        bulk.competing_phase("NaCl")


def test_cs4pbbr6_is_zero_dimensional_r3c():
    """Cs4PbBr6 (K4CdCl6 type): 22-atom primitive cell of R-3c with Cs:Pb:Br 4:1:6, every Pb in
    an octahedron of six Br at one distance and every Br bound to one Pb only (isolated
    octahedra, the 0D phase that bounds CsPbBr3 on the CsBr-rich side)."""
    import spglib
    from ase.neighborlist import neighbor_list

    atoms = bulk.competing_phase("Cs4PbBr6")
    assert atoms.get_chemical_formula() == "Br12Cs8Pb2"
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    assert spglib.get_spacegroup(cell, symprec=1e-3) == "R-3c (167)"
    first, second, distance = neighbor_list("ijd", atoms, 3.3)
    symbols = np.array(atoms.get_chemical_symbols())
    bonds = (symbols[first] == "Pb") & (symbols[second] == "Br")
    per_atom = np.bincount(first[bonds], minlength=len(atoms))
    assert per_atom[symbols == "Pb"].tolist() == [6, 6]
    assert distance[bonds] == pytest.approx(3.047, abs=1e-3)  # A, at the tabulated cell
    owners = (symbols[first] == "Br") & (symbols[second] == "Pb")
    assert np.bincount(first[owners], minlength=len(atoms))[symbols == "Br"].tolist() == [1] * 12
    assert distance.min() == pytest.approx(3.047, abs=1e-3)  # nothing closer than Pb-Br


def _curated():
    return {
        "CsPbI3.cif": bulk.cubic_perovskite(6.2894, "I"),
        "CsPbBr3.cif": bulk.cubic_perovskite(5.874, "Br"),
        "CsPbI2Br.cif": alloy.enumerate_orderings(1.0)[0][0],
        "CsPbI2Br_sqs222.cif": alloy.sqs(1.0, (2, 2, 2), seed=0).atoms,
        **{f"{m}.cif": bulk.competing_phase(m) for m in bulk.COMPETING_PHASES},
    }


def test_structures_folder_matches_builders_and_readme():
    expected = _curated()
    readme = (STRUCTURES / "README.md").read_text()
    assert sorted(p.name for p in STRUCTURES.glob("*.cif")) == sorted(expected)
    for name, atoms in expected.items():
        stored = read(STRUCTURES / name)
        assert f"`{name}`" in readme
        assert stored.get_chemical_symbols() == atoms.get_chemical_symbols(), name
        assert np.allclose(stored.cell.cellpar(), atoms.cell.cellpar(), atol=1e-4), name
        shift = stored.get_scaled_positions() - atoms.get_scaled_positions()
        assert np.allclose(shift - np.rint(shift), 0, atol=1e-5), name
        assert bulk.formal_charge(stored) == 0


def test_structures_space_groups():
    numbers = {"CsPbI3.cif": 221, "CsPbBr3.cif": 221, "CsPbI2Br.cif": 123, "PbBr2.cif": 62}
    for name, number in numbers.items():
        assert space_group(read(STRUCTURES / name)) == number, name
