"""Band edges of supercells: the primitive cell's R point must be sampled in any supercell."""

import numpy as np
import pytest
from ase.build import make_supercell

from perovcalc.bulk import cubic_perovskite
from perovcalc.formation import band_edges, edge_kpoints
from perovcalc.slab import perovskite_slab

A = 5.874  # A, cubic CsPbBr3


def _scf(atoms, size):
    """Cheap PBE SCF on an unshifted Monkhorst-Pack grid (which never holds 0 or 1/2)."""
    from gpaw import GPAW

    atoms.calc = GPAW(
        mode={"name": "pw", "ecut": 250},
        xc="PBE",
        kpts={"size": size, "gamma": False},
        occupations={"name": "fermi-dirac", "width": 0.05},
        convergence={"energy": 1e-5, "density": 1e-5},
        txt=None,
    )
    atoms.get_potential_energy()
    return atoms


def test_edge_kpoints_are_the_trim_points_along_periodic_axes():
    bulk = cubic_perovskite(A, "Br")
    assert len(edge_kpoints(bulk)) == 8
    assert (0.5, 0.5, 0.5) in edge_kpoints(bulk)
    slab = perovskite_slab(x=3, termination="CsX", layers=3)
    assert sorted(edge_kpoints(slab)) == [(0, 0, 0), (0, 0.5, 0), (0.5, 0, 0), (0.5, 0.5, 0)]


@pytest.mark.parametrize(
    "repeat",
    [(2, 1, 1), pytest.param((2, 2, 1), marks=pytest.mark.slow)],  # 20 atoms: ~2 min
)
def test_supercell_vbm_is_the_primitive_vbm_at_r(repeat, tmp_path):
    """A supercell on the folded k-grid of the primitive cell has the same density, so its
    band edges must be the primitive cell's at R (0.01 eV: the empty bands of a non-self-
    consistent step converge more loosely). The SCF grids here never sample R itself; before
    the edges covered every TRIM point, the 2x1x1 and 2x2x1 cells (R folds to (0, 1/2, 1/2)
    and (0, 0, 1/2)) missed it by the valence band's dispersion."""
    base = (2, 2, 2)
    primitive = _scf(
        cubic_perovskite(A, "Br"), tuple(b * r for b, r in zip(base, repeat, strict=True))
    )
    reference = band_edges(primitive, tmp_path / "primitive.txt")
    supercell = _scf(make_supercell(cubic_perovskite(A, "Br"), np.diag(repeat)), base)
    edges = band_edges(supercell, tmp_path / "supercell.txt")
    scf_homo, _ = supercell.calc.get_homo_lumo()
    assert reference["vbm"] - scf_homo > 0.1  # R is really missing from the SCF grid
    assert edges["vbm"] == pytest.approx(reference["vbm"], abs=0.01)
    assert edges["cbm"] == pytest.approx(reference["cbm"], abs=0.01)
