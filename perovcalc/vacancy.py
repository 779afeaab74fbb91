"""Halide vacancies: symmetry-distinct halide sites, removing one, and NEB hop endpoints.

Bulk structures (no ``layer`` array) are classified with spglib: halide sites mapped onto each
other by a space-group operation are one site. Slabs (structures with ``atoms.arrays["layer"]``,
as built by :mod:`perovcalc.slab`) are classified by layer, species and the numbers of each
cation species in the first cation shells (within 1.8 times the shortest halide-cation distance,
which takes the Pb and A-site neighbours at a/2 and a/sqrt(2) but not the next Pb at 1.12 a); this
keeps top and bottom sites together and tells apart halides next to K. The representative of a
slab site is the member nearest the top surface.

A vacancy hop goes along an octahedron edge: between two halides bonded to the same Pb and
a/sqrt(2) apart (cis), not across the octahedron (trans, a apart). :func:`choose_hop` picks
one, and :func:`vacancy_displacements` carries the relaxation around one vacancy onto an
equivalent site by a space-group operation of the host.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from perovcalc.errors import InputError
from perovcalc.symmetry import site_classes

HALIDES = ("I", "Br")
HALOGENS = ("F", "Cl", "Br", "I")
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
        classes = site_classes(atoms, symprec)
        groups = Counter(classes[i] for i in halides)
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


# ------------------------------------------------------------------ vacancy hops
def layers_from_surface(host: Atoms, outer: int | None) -> np.ndarray | None:
    """Perovskite layer below the nearest surface of each atom of a slab (0 = outermost,
    -1 = KBr overlayer); None in bulk."""
    if outer is None or "layer" not in host.arrays:
        return None
    return outer - host.arrays["layer"]


def _fixed_atoms(atoms: Atoms) -> set[int]:
    from ase.constraints import FixAtoms

    return {int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.index}


def _listed(indices: list[int]) -> str:
    return ", ".join(map(str, indices[:20])) + (", ..." if len(indices) > 20 else "")


def choose_hop(
    host: Atoms,
    species: str,
    site: int | None = None,
    to: int | None = None,
    outer: int | None = None,
    where: str = "",
) -> tuple[int, int]:
    """The vacancy site and the neighbouring halide that hops into it (host atom indices).

    ``site`` defaults to the first symmetry-distinct ``species`` site
    (:func:`distinct_halide_sites`); for a slab (``outer`` = the layer number
    of its outermost perovskite layer) the distinct site nearest the surface in the outer
    perovskite layer or below (never in a KBr overlayer). ``to`` defaults to the nearest
    ``species`` neighbour along an octahedron edge (:func:`neighbour_hops`);
    for a slab the nearest one in the same layer as ``site`` or in the layer just below it
    (the vacancy stays near the surface instead of moving out into an overlayer), else the
    nearest of all. Atoms fixed by a ``FixAtoms`` constraint cannot hop. Bad choices raise
    InputError naming the option and the allowed indices.
    """
    symbols = host.get_chemical_symbols()
    same = [i for i, s in enumerate(symbols) if s == species]
    if not same:
        present = sorted({s for s in symbols if s in HALOGENS})
        raise InputError("options.species", species, present, where)
    depth = layers_from_surface(host, outer)
    if site is None:
        sites = [s for s in distinct_halide_sites(host) if s.species == species]
        if depth is not None:
            sites = [s for s in sites if depth[s.index] >= 0] or sites
            sites.sort(key=lambda s: depth[s.index])
        site = sites[0].index
    elif isinstance(site, bool) or site not in same:
        allowed = f"the index of a {species} atom: {_listed(same)}"
        raise InputError("options.site", site, allowed, where)
    fixed = _fixed_atoms(host)
    hops = [j for j in neighbour_hops(host, site) if symbols[j] == species and j not in fixed]
    if not hops:
        raise InputError(
            "options.site", site, f"a {species} site with a free {species} neighbour to hop", where
        )
    if to is None:
        if depth is not None:
            near = [j for j in hops if depth[j] in (depth[site], depth[site] + 1)]
            hops = near or hops
        return site, hops[0]
    if isinstance(to, bool) or to not in hops:
        raise InputError(
            "options.to",
            to,
            f"a free {species} atom sharing an octahedron edge with site {site}: {hops}",
            where,
        )
    return site, to


def _symmetry_operations(host: Atoms, source: int, target: int, tolerance: float = 0.01):
    """The space-group operations of ``host`` that take atom ``source`` onto atom ``target``:
    (Cartesian matrix M acting on row vectors, u' = u @ M; permutation p, atom i -> p[i]).
    ``tolerance`` in A."""
    import spglib

    cell = np.array(host.cell)
    frac = host.get_scaled_positions(wrap=False)
    ops = spglib.get_symmetry((cell, frac, host.numbers), symprec=tolerance)
    if ops is None:
        return

    def distances(delta: np.ndarray) -> np.ndarray:
        return np.linalg.norm((delta - np.round(delta)) @ cell, axis=-1)

    for rotation, translation in zip(ops["rotations"], ops["translations"], strict=True):
        mapped = frac @ rotation.T + translation
        if distances(mapped[source] - frac[target]) > tolerance:
            continue
        gaps = distances(mapped[:, None, :] - frac[None, :, :])
        gaps[host.numbers[:, None] != host.numbers[None, :]] = np.inf
        permutation = gaps.argmin(axis=1)
        if gaps.min(axis=1).max() < tolerance and len(set(permutation)) == len(host):
            yield np.linalg.inv(cell) @ rotation.T @ cell, permutation


def _displacements(host: Atoms, vacancy: int, positions) -> np.ndarray:
    """Displacement (A) of every host atom from its host position in a cell without atom
    ``vacancy`` (``positions``: host order without it; its own row is zero)."""
    field = np.zeros((len(host), 3))
    others = np.arange(len(host)) != vacancy
    moved = np.asarray(positions, dtype=float) - host.positions[others]
    field[others] = find_mic(moved, host.cell, host.pbc)[0]
    return field


def vacancy_displacements(
    host: Atoms, source: int, positions, target: int, reference: np.ndarray | None = None
) -> np.ndarray | None:
    """Relaxation of ``host`` around a vacancy at ``target``, from a relaxed vacancy at
    ``source`` (``positions``: host without atom ``source``, host order, A).

    Returns the displacement (A) of every host atom from its host position (the row of
    ``target`` is zero), carried over by a space-group operation of the host that takes
    ``source`` to ``target`` (the identity if they are equal); None if no operation does.
    Given ``reference`` displacements (A, every host atom), the operation whose result is
    closest to them (largest deviation, atoms ``source`` and ``target`` aside) is taken, else
    the first: a symmetric vacancy gives the same result for all, a distorted one several.
    """
    others = np.delete(np.arange(len(host)), source)
    moved = _displacements(host, source, positions)[others]
    compared = np.ones(len(host), dtype=bool)
    compared[[source, target]] = False
    best = None
    for matrix, permutation in _symmetry_operations(host, source, target):
        result = np.zeros((len(host), 3))
        result[permutation[others]] = moved @ matrix
        if reference is None:
            return result
        gap = np.linalg.norm(result[compared] - reference[compared], axis=1).max(initial=0.0)
        if best is None or gap < best[0]:
            best = (gap, result)
    return None if best is None else best[1]
