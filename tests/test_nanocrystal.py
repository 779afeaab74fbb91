"""Cubic nanocrystal models: size, composition, neutrality, K-Br shell."""

import time

import numpy as np
import pytest
from scipy.spatial import cKDTree

from perovcalc.bulk import formal_charge, vegard_lattice_constant
from perovcalc.errors import InputError
from perovcalc.nanocrystal import nanocrystal


def counts(atoms) -> dict:
    symbols = atoms.get_chemical_symbols()
    return {s: symbols.count(s) for s in ("Cs", "K", "Pb", "I", "Br")}


def test_default_cube_edge_and_composition():
    start = time.perf_counter()
    atoms = nanocrystal()  # x = 1, 11.4 nm
    assert time.perf_counter() - start < 10  # numpy-built, tens of thousands of atoms
    a = vegard_lattice_constant(1.0)
    n = 19  # round(114 / 6.1509)
    assert atoms.info["cells"] == n
    assert abs(n * a - 114.0) <= a / 2
    assert np.ptp(atoms.positions, axis=0) == pytest.approx([n * a] * 3)
    c = counts(atoms)
    # (n+1)^3 A sites less 3n + 1 (corners and edges) for neutrality; n^3 Pb; 3 n^2 (n+1) X
    assert c["Cs"] == (n + 1) ** 3 - (3 * n + 1) and c["Pb"] == n**3 and c["K"] == 0
    assert c["I"] + c["Br"] == 3 * n**2 * (n + 1)
    assert abs(3 * c["Br"] / (c["I"] + c["Br"]) - 1.0) < 3 / (c["I"] + c["Br"])
    assert formal_charge(atoms) == 0
    assert len(atoms) > 30_000


def test_small_cube_geometry():
    atoms = nanocrystal(x=3.0, edge_nm=3.0)
    a = vegard_lattice_constant(3.0)
    d, _ = cKDTree(atoms.positions).query(atoms.positions, k=2)
    assert d[:, 1].min() == pytest.approx(a / 2)  # Pb-X
    symbols = np.array(atoms.get_chemical_symbols())
    corners = np.all(np.isclose(atoms.positions % (atoms.info["cells"] * a), 0), axis=1)
    assert not corners[symbols == "Cs"].any()  # the 8 corner Cs are removed
    assert formal_charge(atoms) == 0


def test_kbr_shell():
    atoms = nanocrystal(x=1.0, edge_nm=6.0, shell="KBr", k_ratio=0.10, seed=2)
    n, a = atoms.info["cells"], atoms.info["a"]
    symbols = np.array(atoms.get_chemical_symbols())
    c = counts(atoms)
    assert c["K"] == round(0.10 * n**3)
    assert c["K"] + c["Cs"] == (n + 1) ** 3 - (3 * n + 1)  # K replaces Cs one for one
    on_surface = np.any(np.isclose(atoms.positions, 0) | np.isclose(atoms.positions, n * a), axis=1)
    assert on_surface[symbols == "K"].all()
    halide = np.isin(symbols, ["I", "Br"])
    assert (symbols[halide & on_surface] == "Br").all()
    core = halide & ~on_surface
    assert 3 * np.mean(symbols[core] == "Br") == pytest.approx(1.0, abs=3 / core.sum())
    assert formal_charge(atoms) == 0


def test_reproducible_for_a_seed():
    one, two, three = (nanocrystal(edge_nm=4.0, shell="KBr", seed=s) for s in (1, 1, 2))
    assert one.get_chemical_symbols() == two.get_chemical_symbols()
    assert np.array_equal(one.positions, two.positions)
    assert one.get_chemical_symbols() != three.get_chemical_symbols()


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"edge_nm": 1.0}, "edge_nm = 1.0.*3 cells"),
        ({"edge_nm": -5}, "edge_nm = -5"),
        ({"shell": "KI"}, "shell = 'KI'"),
        ({"shell": "KBr", "k_ratio": 0.9, "edge_nm": 6.0}, "k_ratio = 0.9.*at most"),
        ({"shell": "KBr", "k_ratio": -0.1}, r"k_ratio = -0.1.*\(0, 1\]"),
        ({"x": -1}, "x = -1"),
    ],
)
def test_bad_input(kwargs, pattern):
    with pytest.raises(InputError, match=pattern):
        nanocrystal(**kwargs)
