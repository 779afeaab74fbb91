"""Halide vacancies: symmetry-distinct halide sites, removing one, and NEB hop endpoints.

Bulk structures (no ``layer`` array) are classified with spglib: halide sites mapped onto each
other by a space-group operation are one site. Slabs (structures with ``atoms.arrays["layer"]``,
as built by :mod:`perovcalc.slab`) are classified by layer, species and the numbers of each
cation species in the first cation shells (within 1.8 times the shortest halide-cation distance,
which takes the Pb and A-site neighbours at a/2 and a/sqrt(2) but not the next Pb at 1.12 a); this
keeps top and bottom sites together and tells apart halides next to K. The representative of a
slab site is the member nearest the top surface.

A vacancy hop goes along an octahedron edge: between two halides bonded to the same Pb and
a/sqrt(2) apart (cis), not across the octahedron (trans, a apart).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from perovcalc.errors import InputError

HALIDES = ("I", "Br")
CATIONS = ("Cs", "K", "Pb")


@dataclass(frozen=True)
class Site:
    """A symmetry-distinct halide site: representative atom index and multiplicity.

    ``layer`` is the slab layer counted from the central layer (None in bulk); ``depth`` is the
    distance in Angstrom below the topmost atom along z (None in bulk).
    """

    index: int
    species: str
    multiplicity: int
    layer: int | None = None
    depth: float | None = None


def check_halide_index(atoms: Atoms, index: int | Site, field: str = "index") -> int:
    """Return ``index`` (or ``Site.index``) after checking that it is the index of a halide."""
    halides = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s in HALIDES]
    value = index.index if isinstance(index, Site) else index
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value not in halides:
        shown = ", ".join(map(str, halides[:20])) + (", ..." if len(halides) > 20 else "")
        raise InputError(field, value, f"the index of a halide (I or Br) atom: {shown}")
    return int(value)


def _distances(atoms: Atoms, index: int) -> np.ndarray:
    return atoms.get_distances(index, np.arange(len(atoms)), mic=True)


def distinct_halide_sites(atoms: Atoms, symprec: float = 1e-3) -> list[Site]:
    """Symmetry-distinct halide sites of ``atoms`` with their multiplicities.

    Bulk: spglib equivalence (tolerance ``symprec``, Angstrom), ordered by atom index.
    Slab: by layer, species and cation environment, ordered from the top surface inwards.
    """
    symbols = np.array(atoms.get_chemical_symbols())
    halides = np.flatnonzero(np.isin(symbols, HALIDES))
    if len(halides) == 0:
        raise InputError("atoms", atoms.get_chemical_formula(), "a structure containing I or Br")
    if "layer" not in atoms.arrays:
        import spglib

        dataset = spglib.get_symmetry_dataset(
            (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=symprec
        )
        groups = Counter(int(dataset.equivalent_atoms[i]) for i in halides)
        return [Site(index, str(symbols[index]), n) for index, n in sorted(groups.items())]

    cations = np.flatnonzero(np.isin(symbols, CATIONS))
    distances = np.array([_distances(atoms, i)[cations] for i in halides])
    cutoff = 1.8 * distances.min()
    groups: dict[tuple, list[int]] = {}
    for i, row in zip(halides, distances, strict=True):
        shell = tuple(sorted(Counter(symbols[cations[row < cutoff]]).items()))
        groups.setdefault((int(atoms.arrays["layer"][i]), str(symbols[i]), shell), []).append(i)
    z = atoms.positions[:, 2]
    sites = []
    for (layer, species, _), members in groups.items():
        top = max(members, key=lambda i: (round(z[i], 6), -i))
        sites.append(Site(int(top), species, len(members), layer, float(z.max() - z[top])))
    return sorted(sites, key=lambda s: (s.depth, s.species, s.index))


def remove_atom(atoms: Atoms, index: int) -> Atoms:
    """Copy of ``atoms`` without atom ``index`` (constraints and per-atom arrays follow)."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise InputError("index", index, f"an atom index 0..{len(atoms) - 1}")
    if not -len(atoms) <= index < len(atoms):
        raise InputError("index", index, f"an atom index 0..{len(atoms) - 1}")
    result = atoms.copy()
    del result[int(index)]
    return result


def neighbour_hops(atoms: Atoms, index: int) -> list[int]:
    """Halides that share an octahedron edge with halide ``index``, nearest first.

    Both halides are bonded to a common Pb (within 1.25 times the shortest Pb-X distance of
    ``index``) and are closer than 1.7 times that distance (cis pairs at sqrt(2) d, not trans
    pairs at 2 d).
    """
    index = check_halide_index(atoms, index, "index")
    symbols = np.array(atoms.get_chemical_symbols())
    lead = np.flatnonzero(symbols == "Pb")
    if len(lead) == 0:
        return []
    to_index = _distances(atoms, index)
    bond = to_index[lead].min()
    bonded = lead[to_index[lead] < 1.25 * bond]
    hops = []
    for j in np.flatnonzero(np.isin(symbols, HALIDES)):
        if j == index or to_index[j] > 1.7 * bond:
            continue
        if np.any(_distances(atoms, int(j))[bonded] < 1.25 * bond):
            hops.append(int(j))
    return sorted(hops, key=lambda j: (round(to_index[j], 6), j))


def hop_endpoints(atoms: Atoms, site_a: int | Site, site_b: int | Site) -> tuple[Atoms, Atoms]:
    """Initial and final states of a vacancy hop from site_a to site_b (NEB endpoints).

    Initial: the halide of ``site_a`` removed. Final: the halide of ``site_b`` moved into the
    vacancy at ``site_a`` (by the shortest periodic vector), leaving the vacancy at ``site_b``.
    Both have the same atoms in the same order, so NEB images map one to one. Unrelaxed.
    """
    a = check_halide_index(atoms, site_a, "site_a")
    b = check_halide_index(atoms, site_b, "site_b")
    hops = neighbour_hops(atoms, a)
    if b not in hops:
        raise InputError("site_b", b, f"a halide sharing an octahedron edge with {a}: {hops}")
    initial = remove_atom(atoms, a)
    final = initial.copy()
    moved = b - (b > a)
    step, _ = find_mic(atoms.positions[a] - atoms.positions[b], atoms.cell, atoms.pbc)
    positions = final.get_positions()
    positions[moved] = atoms.positions[b] + step
    final.set_positions(positions, apply_constraint=False)
    return initial, final
