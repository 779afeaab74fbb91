"""(001) slabs: composition, neutrality, mirror symmetry, passivation geometry, constraints."""

import numpy as np
import pytest
import spglib

from perovcalc.bulk import formal_charge, vegard_lattice_constant
from perovcalc.errors import InputError
from perovcalc.reference import lattice_constant
from perovcalc.slab import perovskite_slab

A_BR = vegard_lattice_constant(3.0)


def formula(atoms) -> dict:
    symbols = atoms.get_chemical_symbols()
    return {s: symbols.count(s) for s in sorted(set(symbols))}


def min_distance(atoms) -> float:
    d = atoms.get_all_distances(mic=True)
    return d[d > 0].min()


def has_mirror_through_centre(atoms) -> bool:
    """spglib finds z -> 2 z_c - z (mirror or inversion) fixing the plane of the central layer."""
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=1e-3)
    z_centre = atoms.get_scaled_positions()[atoms.arrays["layer"] == 0, 2].mean()
    for rotation, translation in zip(dataset.rotations, dataset.translations, strict=True):
        if rotation[2, 2] == -1 and not rotation[2, :2].any():
            offset = (-z_centre + translation[2]) - z_centre
            if abs(offset - round(offset)) < 1e-4:
                return True
    return False


# Per 1x1 cell, 5 layers: CsX/PbX2/CsX/PbX2/CsX = Cs3Pb2X7, PbX2/CsX/PbX2/CsX/PbX2 = Cs2Pb3X8;
# KBr passivation turns the two outer Cs into K; the overlayer adds 2 K + 2 Br per surface.
CASES = [
    ({}, {"Br": 7, "Cs": 3, "Pb": 2}),
    ({"termination": "PbX2"}, {"Br": 8, "Cs": 2, "Pb": 3}),
    ({"passivation": "KBr"}, {"Br": 7, "Cs": 1, "K": 2, "Pb": 2}),
    ({"passivation": "KBr_overlayer"}, {"Br": 11, "Cs": 3, "K": 4, "Pb": 2}),
    ({"termination": "PbX2", "passivation": "KBr_overlayer"}, {"Br": 12, "Cs": 2, "K": 4, "Pb": 3}),
    (
        {"passivation": "KBr", "repeat": (2, 2), "k_coverage": 0.5},
        {"Br": 28, "Cs": 8, "K": 4, "Pb": 8},
    ),
    ({"x": 1.0, "repeat": (3, 3)}, {"Br": 21, "Cs": 27, "I": 42, "Pb": 18}),
    ({"x": 0.0, "layers": 7, "termination": "PbX2"}, {"Cs": 3, "I": 11, "Pb": 4}),
]


@pytest.mark.parametrize("kwargs, expected", CASES)
def test_composition_neutrality_symmetry(kwargs, expected):
    atoms = perovskite_slab(**kwargs)
    assert formula(atoms) == expected
    assert formal_charge(atoms) == 0
    assert min_distance(atoms) > 2.5
    assert has_mirror_through_centre(atoms)


def test_pure_bromide_slab_distances_and_vacuum():
    atoms = perovskite_slab(layers=5, vacuum=12.0)
    z = atoms.positions[:, 2]
    assert np.ptp(z) == pytest.approx(2 * A_BR)  # 4 spacings of a/2
    assert atoms.cell[2, 2] - np.ptp(z) == pytest.approx(12.0)
    assert min_distance(atoms) == pytest.approx(A_BR / 2)
    assert tuple(atoms.pbc) == (True, True, False)


def test_layer_index_counts_from_the_central_layer():
    atoms = perovskite_slab(layers=7, passivation="KBr_overlayer")
    layer, z = atoms.arrays["layer"], atoms.positions[:, 2]
    centre = z[layer == 0].mean()
    assert centre == pytest.approx(atoms.cell[2, 2] / 2)
    for n in range(4):
        assert np.allclose(np.abs(z[layer == n] - centre), n * A_BR / 2)
    over = layer == 4
    assert np.allclose(np.abs(z[over] - centre), 3 * A_BR / 2 + lattice_constant("KBr") / 2)


def test_kbr_passivation_outer_layer():
    atoms = perovskite_slab(x=0.0, repeat=(2, 2), passivation="KBr", k_coverage=0.5, layers=5)
    symbols = np.array(atoms.get_chemical_symbols())
    outer = atoms.arrays["layer"] == 2
    assert set(symbols[outer]) == {"K", "Cs", "Br"}
    assert set(symbols[~outer]) == {"Cs", "Pb", "I"}  # x = 0 inside: no Br, no K
    k = atoms.positions[symbols == "K"]
    top, bottom = k[k[:, 2] > atoms.cell[2, 2] / 2], k[k[:, 2] < atoms.cell[2, 2] / 2]
    assert len(top) == len(bottom) == 2  # half of the 4 A sites of each surface
    assert np.allclose(np.sort(top[:, :2], axis=0), np.sort(bottom[:, :2], axis=0))


def test_k_below_the_surface_is_neutral_and_mirror_symmetric():
    """K_Cs in the first CsX layer under each surface: K at two depths, charge balance kept."""
    atoms = perovskite_slab(
        x=3.0, repeat=(2, 1), layers=7, passivation="KBr", k_coverage=0.5, k_subsurface=0.5
    )
    symbols = np.array(atoms.get_chemical_symbols())
    layer = atoms.arrays["layer"]
    assert sorted(layer[symbols == "K"]) == [1, 1, 3, 3]  # one K per surface, at two depths
    assert formal_charge(atoms) == 0
    counts = {s: int((symbols == s).sum()) for s in ("Cs", "K", "Pb", "Br")}
    assert counts == {"Cs": 4, "K": 4, "Pb": 6, "Br": 20}  # (Cs+K):Pb:Br = 8:6:20, A4B3X10
    k = atoms.positions[symbols == "K"]
    centre = atoms.positions[:, 2].mean()
    assert np.allclose(np.sort(k[k[:, 2] > centre][:, :2], axis=0),
                       np.sort(k[k[:, 2] < centre][:, :2], axis=0))  # fmt: skip


def test_k_segregation_pair_has_one_composition():
    """K all at the surface or all one layer down: the same atoms, a segregation energy apart."""
    surface = perovskite_slab(layers=7, passivation="KBr", k_coverage=1.0)
    below = perovskite_slab(layers=7, passivation="KBr", k_coverage=0.0, k_subsurface=1.0)
    assert sorted(surface.get_chemical_symbols()) == sorted(below.get_chemical_symbols())
    k_below = below.arrays["layer"][np.array(below.get_chemical_symbols()) == "K"]
    assert set(k_below) == {1}
    outer = below.arrays["layer"] == 3
    assert set(np.array(below.get_chemical_symbols())[outer]) == {"Cs", "Br"}


@pytest.mark.parametrize("termination", ["CsX", "PbX2"])
def test_overlayer_registry(termination):
    atoms = perovskite_slab(termination=termination, passivation="KBr_overlayer", repeat=(2, 2))
    layer, symbols = atoms.arrays["layer"], np.array(atoms.get_chemical_symbols())
    z = atoms.positions[:, 2]
    top_over = (layer == 3) & (z > z.mean())
    surface = (layer == 2) & (z > z.mean())
    subsurface = (layer == 1) & (z > z.mean())
    height = lattice_constant("KBr") / 2
    assert np.allclose(z[top_over] - z[surface].max(), height)

    def on_top(over, under):
        """Whether every atom of ``over`` has the x, y (modulo the cell) of one of ``under``."""
        diff = atoms.positions[over][:, None, :2] - atoms.positions[under][None, :, :2]
        frac = diff / np.diag(atoms.cell)[:2]
        return np.all(np.any(np.all(np.isclose(frac - np.rint(frac), 0), axis=2), axis=1))

    # Br continues the halide sublattice: above the halides of the layer below the surface
    # (CsX termination) or above the Cs and X of that layer (PbX2 termination)
    br, k = top_over & (symbols == "Br"), top_over & (symbols == "K")
    assert br.sum() == k.sum() == 8
    halide_below = subsurface & (symbols == "Br")
    if termination == "PbX2":
        assert on_top(k, surface & (symbols == "Br"))  # every K on top of a surface halide
        assert on_top(br, subsurface)
    else:
        assert on_top(br, halide_below)
        assert on_top(k, surface)  # K on top of the surface Cs and X


def test_mixed_slab_is_mirror_symmetric_and_reproducible():
    first = perovskite_slab(x=1.0, repeat=(3, 3), seed=4)
    again = perovskite_slab(x=1.0, repeat=(3, 3), seed=4)
    other = perovskite_slab(x=1.0, repeat=(3, 3), seed=5)
    assert first.get_chemical_symbols() == again.get_chemical_symbols()
    assert first.get_chemical_symbols() != other.get_chemical_symbols()
    pos, symbols = first.positions, np.array(first.get_chemical_symbols())
    mirrored = pos * [1, 1, -1] + [0, 0, first.cell[2, 2]]
    for i in np.flatnonzero(np.isin(symbols, ["I", "Br"])):
        j = np.argmin(np.linalg.norm(pos - mirrored[i], axis=1))
        assert np.linalg.norm(pos[j] - mirrored[i]) < 1e-6 and symbols[j] == symbols[i]


def test_interstitial_k_below_each_surface():
    atoms = perovskite_slab(interstitial_k=True, layers=5, repeat=(2, 2))
    symbols = np.array(atoms.get_chemical_symbols())
    k = np.flatnonzero(symbols == "K")
    assert len(k) == 2 and formal_charge(atoms) == 2  # two K_i+ donors
    assert set(atoms.arrays["layer"][k]) == {1}
    for i in k:
        d = atoms.get_distances(i, np.arange(len(atoms)), mic=True)
        near = symbols[np.isclose(d, A_BR / 2)]
        assert sorted(near) == ["Br"] * 4 + ["Cs"] * 2  # edge-centre site
    assert has_mirror_through_centre(atoms)


def test_adatom_k_holds_the_interstitial_slabs_atoms_on_the_surface():
    kwargs = {"layers": 5, "passivation": "KBr"}
    adatom = perovskite_slab(adatom_k=True, **kwargs)
    inside = perovskite_slab(interstitial_k=True, **kwargs)
    assert adatom.get_chemical_formula() == inside.get_chemical_formula() == "Br7CsK4Pb2"
    symbols = np.array(adatom.get_chemical_symbols())
    z = adatom.positions[:, 2]
    k = np.flatnonzero(symbols == "K")
    extra = k[adatom.arrays["layer"][k] == 3]
    assert len(extra) == 2 and set(z[extra]) == {z.min(), z.max()}  # outermost, one per side
    for i in extra:
        d = adatom.get_distances(i, np.arange(len(adatom)), mic=True)
        d[i] = np.inf
        nearest = np.argmin(d)
        assert symbols[nearest] == "Br"
        assert np.isclose(d[nearest], lattice_constant("KBr") / 2)
        assert np.isclose(abs(z[i] - z[nearest]), d[nearest])  # on top of it
    assert has_mirror_through_centre(adatom)


def test_fixed_layers():
    centre = perovskite_slab(layers=7, fix_layers=3)
    (fix,) = centre.constraints
    assert set(centre.arrays["layer"][fix.index]) == {0, 1}
    assert len(fix.index) == np.sum(centre.arrays["layer"] <= 1)
    bottom = perovskite_slab(layers=7, fix_layers=2, fix_from="bottom")
    (fix,) = bottom.constraints
    z = bottom.positions[:, 2]
    assert np.allclose(np.sort(np.unique(z[fix.index])), np.sort(np.unique(z))[:2])


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"termination": "CsPbX3"}, "termination = 'CsPbX3'.*'CsX', 'PbX2'"),
        ({"layers": 4}, "layers = 4.*odd number >= 3"),
        ({"layers": 1}, "layers = 1"),
        ({"vacuum": -5.0}, "vacuum = -5.0.*> 0"),
        ({"layers": 5, "fix_layers": 5}, "fix_layers = 5.*layers - 2 = 3"),
        ({"fix_layers": 2}, "fix_layers = 2.*odd"),
        ({"passivation": "KCl"}, "passivation = 'KCl'"),
        ({"termination": "PbX2", "passivation": "KBr"}, "passivation = 'KBr'.*KBr_overlayer"),
        ({"passivation": "KBr", "k_coverage": 0.5}, "k_coverage = 0.5.*multiples of 1/1"),
        ({"k_coverage": 0.5}, "k_coverage = 0.5.*passivation = 'KBr'"),
        ({"x": 1.0}, "x = 1.0.*multiples of 3/7.*0.8571 or 1.286"),
        ({"x": 5.0}, r"x = 5.0.*\[0, 3\]"),
        ({"repeat": (0, 1)}, "repeat = "),
        ({"interstitial_k": True, "layers": 3}, "layers = 3.*>= 5"),
        ({"interstitial_k": True, "adatom_k": True}, "adatom_k = True.*False with interstitial"),
        ({"k_subsurface": 1.0}, "k_subsurface = 1.0.*passivation = 'KBr'"),
        ({"passivation": "KBr", "layers": 3, "k_subsurface": 1.0}, "layers = 3.*k_subsurface"),
        ({"passivation": "KBr", "k_coverage": 0.0}, "k_coverage = 0.0.*k_subsurface > 0"),
        ({"passivation": "KBr", "layers": 5, "k_subsurface": 1.5}, r"k_subsurface = 1.5.*\[0, 1\]"),
    ],
)
def test_bad_input_names_field_and_allowed_values(kwargs, pattern):
    with pytest.raises(InputError, match=pattern):
        perovskite_slab(**kwargs)


def test_mirror_check_detects_an_asymmetric_slab():
    atoms = perovskite_slab(repeat=(2, 2))
    top = int(np.argmax(atoms.positions[:, 2]))
    del atoms[top]  # one surface atom missing on one side only
    assert not has_mirror_through_centre(atoms)
