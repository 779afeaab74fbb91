"""Symmetry-equivalent atoms (spglib): the one place the package classifies sites.

Slabs and molecules are analysed as 3-d periodic cells, so give them their vacuum.
"""

from __future__ import annotations

from ase import Atoms

from perovcalc.errors import InputError, PerovcalcError


def site_classes(atoms: Atoms, symprec: float = 1e-3) -> list[int]:
    """Class of every atom of ``atoms``: the lowest index of the atoms a space-group operation
    maps it onto (spglib, tolerance ``symprec`` in Angstrom). PerovcalcError if spglib fails."""
    import spglib
    from spglib.error import SpglibError

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    formula = atoms.get_chemical_formula()
    try:
        dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    except SpglibError as err:  # spglib's new error handling raises instead of returning None
        raise PerovcalcError(f"spglib failed on {formula}: {err}") from err
    if dataset is None:
        raise PerovcalcError(f"spglib failed on {formula}")
    classes = [int(c) for c in dataset.equivalent_atoms]
    lowest = {c: min(i for i, k in enumerate(classes) if k == c) for c in set(classes)}
    return [lowest[c] for c in classes]


def distinct_sites(atoms: Atoms, element: str, symprec: float = 1e-3) -> list[int]:
    """One atom index (the lowest) per symmetry-distinct site of ``element``
    (see :func:`site_classes`)."""
    indices = [a.index for a in atoms if a.symbol == element]
    if not indices:
        raise InputError("element", element, sorted(set(atoms.get_chemical_symbols())))
    if atoms.cell.rank < 3:
        raise InputError("cell", atoms.cell.tolist(), "a 3-d cell (add vacuum to slabs)")
    classes = site_classes(atoms, symprec)
    return sorted({classes[i] for i in indices})
