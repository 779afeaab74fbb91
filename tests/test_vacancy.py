"""Halide vacancies: distinct sites and multiplicities, removal, octahedron-edge hops (NEB)."""

import numpy as np
import pytest
from ase.constraints import FixAtoms

from perovcalc import alloy, vacancy
from perovcalc.bulk import cubic_perovskite, formal_charge
from perovcalc.errors import InputError
from perovcalc.slab import perovskite_slab

A = 5.874


def test_bulk_sites_by_spglib():
    (site,) = vacancy.distinct_halide_sites(cubic_perovskite(A))
    assert (site.species, site.multiplicity, site.layer, site.depth) == ("Br", 3, None, None)
    (site,) = vacancy.distinct_halide_sites(cubic_perovskite(A).repeat(2))
    assert site.multiplicity == 24


def test_cspbi2br_cell_has_two_distinct_sites():
    # P4/mmm CsPbI2Br: the Br site (1 per cell) and the two I sites related by the 4-fold axis
    atoms = alloy.enumerate_orderings(1.0)[0][0]
    sites = vacancy.distinct_halide_sites(atoms)
    assert sorted((s.species, s.multiplicity) for s in sites) == [("Br", 1), ("I", 2)]


def test_multiplicities_add_up_for_an_sqs():
    atoms = alloy.sqs(1.0, (2, 2, 2)).atoms
    sites = vacancy.distinct_halide_sites(atoms)
    assert sum(s.multiplicity for s in sites) == 24
    assert {s.species for s in sites} == {"I", "Br"}


def test_slab_sites_by_layer_from_the_top():
    # CsX/PbX2/CsX/PbX2/CsX, 1x1: surface X (2, top and bottom), subsurface X (4), central X (1)
    atoms = perovskite_slab(layers=5)
    sites = vacancy.distinct_halide_sites(atoms)
    assert [(s.layer, s.multiplicity) for s in sites] == [(2, 2), (1, 4), (0, 1)]
    assert [s.depth for s in sites] == pytest.approx([0.0, A / 2, A])
    top = atoms.positions[:, 2].max()
    assert atoms.positions[sites[0].index, 2] == pytest.approx(top)


def test_slab_sites_tell_k_neighbours_apart():
    # 3x3 KBr surface with one K of nine A sites: the 4 surface Br around the K and the 5 others
    # differ, and so do the 4 subsurface halides next to the K and the 14 others (per side)
    atoms = perovskite_slab(repeat=(3, 3), passivation="KBr", k_coverage=1 / 9)
    sites = vacancy.distinct_halide_sites(atoms)
    assert sum(s.multiplicity for s in sites) == len(
        [s for s in atoms.get_chemical_symbols() if s in ("I", "Br")]
    )
    assert sorted(s.multiplicity for s in sites if s.layer == 2) == [8, 10]
    assert sorted(s.multiplicity for s in sites if s.layer == 1) == [8, 28]


def test_remove_atom_keeps_constraints_consistent():
    atoms = perovskite_slab(layers=7, fix_layers=3)
    fixed = set(atoms.constraints[0].index)
    halide = max(fixed)  # last fixed atom
    result = vacancy.remove_atom(atoms, halide)
    assert len(result) == len(atoms) - 1
    assert formal_charge(result) == 1  # V_X+
    assert len(result.constraints[0].index) == len(fixed) - 1
    assert len(result.arrays["layer"]) == len(result)
    with pytest.raises(InputError, match="index = 99.*0..16"):
        vacancy.remove_atom(atoms, 99)


def test_neighbour_hops_are_the_eight_cis_halides():
    atoms = cubic_perovskite(A).repeat(2)
    hops = vacancy.neighbour_hops(atoms, 2)
    assert len(hops) == 8
    d = atoms.get_distances(2, hops, mic=True)
    assert d == pytest.approx([A / np.sqrt(2)] * 8)
    trans = np.flatnonzero(np.isclose(atoms.get_distances(2, range(len(atoms)), mic=True), A))
    assert not set(trans) & set(hops)  # trans partners (through Pb) are not octahedron edges


def test_hop_endpoints_map_one_to_one():
    atoms = cubic_perovskite(A).repeat(2)
    atoms.set_constraint(FixAtoms(indices=[0]))
    b = vacancy.neighbour_hops(atoms, 2)[-1]
    initial, final = vacancy.hop_endpoints(atoms, 2, b)
    assert initial.get_chemical_symbols() == final.get_chemical_symbols()
    assert len(initial) == len(atoms) - 1
    moved = b - 1
    delta = np.linalg.norm(final.positions - initial.positions, axis=1)
    assert np.flatnonzero(delta > 1e-9).tolist() == [moved]
    assert delta[moved] == pytest.approx(A / np.sqrt(2))  # short path, even across the cell edge
    wrapped = np.linalg.solve(atoms.cell.T, final.positions[moved] - atoms.positions[2])
    assert np.allclose(wrapped - np.rint(wrapped), 0)  # lands on the vacant site
    assert final.constraints[0].index.tolist() == [0]


def test_hop_endpoints_accept_sites_and_reject_non_neighbours():
    atoms = perovskite_slab(layers=5)
    top = vacancy.distinct_halide_sites(atoms)[0]
    hops = vacancy.neighbour_hops(atoms, top.index)
    assert len(hops) == 2  # surface halide: the two cis halides of the octahedron below (1x1)
    initial, final = vacancy.hop_endpoints(atoms, top, hops[0])
    assert len(initial) == len(final) == len(atoms) - 1
    with pytest.raises(InputError, match="site_b = .*octahedron edge"):
        vacancy.hop_endpoints(atoms, top.index, top.index)
    with pytest.raises(InputError, match="site_a = 0.*halide"):
        vacancy.hop_endpoints(atoms, 0, hops[0])  # atom 0 is Cs
