"""Mixed-halide CsPb(I1-yBry)3 supercells: random, quasirandom (SQS) and enumerated orderings.

``x = 3y`` is the number of Br per formula unit. An n1 x n2 x n3 supercell of the cubic cell has
3 n1 n2 n3 halide sites, so the composition is exact only when x is a multiple of 1/(n1 n2 n3).

Cluster correlations: with spins s = +1 on Br and -1 on I, the correlation of a pair orbit is
the mean of s_i s_j over all its pairs (i, j, periodic image), that of a triplet orbit the mean
of s_i s_j s_k; the ideal random alloy has (2y - 1)^2 and (2y - 1)^3. Halide sites lie on the
a/2 grid and each is labelled by the axis normal to its cube face. Clusters are grouped into
orbits of the cubic point group m-3m acting on their vectors and site labels, so that clusters
of the same size that are not related by symmetry stay apart (at distance a: the trans pair
through Pb and the pair not through Pb). Neighbour shells are the distinct X-X distances
a/sqrt(2), a, a sqrt(3/2), a sqrt(2), ...
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, permutations, product
from math import comb

import numpy as np
from ase import Atoms
from scipy.special import factorial

from perovcalc.bulk import check_x, cubic_perovskite, perovskite_lattice_constant
from perovcalc.errors import InputError, PerovcalcError

ORDERINGS = ("random", "sqs")
MAX_ENUMERATED = 200_000
_SIGNED_PERMUTATIONS = [(p, s) for p in permutations(range(3)) for s in product((1, -1), repeat=3)]


@dataclass(frozen=True)
class Correlations:
    """Halide cluster correlations of an ordering: pair orbits (nearest first), then triplets.

    One value per orbit: the mean of the product of the spins of its clusters over all of them
    (periodic images included), against the ideal random alloy's (2y - 1)^order.
    """

    order: np.ndarray  # 2 for a pair orbit, 3 for a triplet orbit
    distances: np.ndarray  # longest X-X distance within a cluster of the orbit, Angstrom
    values: np.ndarray  # <s_i s_j> or <s_i s_j s_k> of each orbit
    targets: np.ndarray  # (2y - 1)^order, the value of the ideal random alloy
    multiplicities: np.ndarray  # distinct clusters of each orbit per halide site
    images: np.ndarray  # True where a vector of the cluster reaches half the supercell along
    # an axis: a partner at v is also the one at v - L (a periodic image), so the orbit does not
    # sample independent sites and its correlation is constrained by the cell

    @property
    def mismatch(self) -> float:
        """Sum over orbits of |correlation - random-alloy correlation| (dimensionless)."""
        return float(np.abs(self.values - self.targets).sum())


@dataclass(frozen=True)
class SQSResult:
    """A special quasirandom structure and how close its cluster correlations are to random."""

    atoms: Atoms
    correlations: Correlations

    @property
    def mismatch(self) -> float:
        return self.correlations.mismatch


@dataclass(frozen=True)
class _Grid:
    """Halide sublattice of a cubic supercell on the a/2 grid."""

    indices: np.ndarray  # atom indices of the halide sites
    coords: np.ndarray  # (N, 3) integer coordinates in units of a/2
    axes: np.ndarray  # (N,) axis normal to the cube face of each site
    dims: np.ndarray  # (3,) grid periods 2 n1, 2 n2, 2 n3
    a: float

    def lookup(self) -> np.ndarray:
        table = np.full(self.dims, -1, dtype=int)
        table[tuple(self.coords.T)] = np.arange(len(self.indices))
        return table


@dataclass(frozen=True)
class _Clusters:
    members: np.ndarray  # (M, 3) site indices; a pair's third member is N (a spin of +1)
    orbit: np.ndarray  # (M,) orbit of each cluster
    counts: np.ndarray  # clusters per orbit
    order: np.ndarray  # 2 or 3 per orbit
    squared: np.ndarray  # longest squared side of each orbit, (a/2)^2 units
    images: np.ndarray  # orbits that reach half the supercell (see Correlations)

    def correlations(self, spins: np.ndarray) -> np.ndarray:
        padded = np.append(spins, 1.0)[self.members]
        products = padded[:, 0] * padded[:, 1] * padded[:, 2]
        return np.bincount(self.orbit, weights=products, minlength=len(self.counts)) / self.counts


def check_supercell(supercell) -> tuple[int, int, int]:
    """Return ``supercell`` as three positive integers (n1, n2, n3)."""
    allowed = "three positive integers n1 n2 n3"
    try:
        values = tuple(int(v) for v in supercell)
        exact = all(float(v) == int(v) for v in supercell)
    except (TypeError, ValueError):
        raise InputError("supercell", supercell, allowed) from None
    if len(values) != 3 or not exact or min(values) < 1:
        raise InputError("supercell", supercell, allowed)
    return values


def bromide_count(x: float, supercell) -> int:
    """Number of Br sites for ``x`` Br per formula unit in ``supercell``; error if not whole."""
    x = check_x(x)
    n1, n2, n3 = check_supercell(supercell)
    cells = n1 * n2 * n3
    count = x * cells
    if abs(count - round(count)) > 1e-6:
        below, above = np.floor(count) / cells, np.ceil(count) / cells
        raise InputError(
            "x",
            x,
            f"multiples of 1/{cells} in [0, 3] for a {n1}x{n2}x{n3} supercell "
            f"({3 * cells} halide sites); nearest: {below:.6g} or {above:.6g}",
        )
    return round(count)


def _parent(supercell, x: float, a: float | None) -> Atoms:
    cell = cubic_perovskite(perovskite_lattice_constant(x, a), halide="I")
    return cell.repeat(check_supercell(supercell))


def _grid(atoms: Atoms) -> _Grid:
    symbols = np.array(atoms.get_chemical_symbols())
    n_pb = int(np.sum(symbols == "Pb"))
    lengths = atoms.cell.lengths()
    a = (atoms.get_volume() / max(n_pb, 1)) ** (1 / 3)
    cells = np.rint(lengths / a).astype(int)
    indices = np.flatnonzero(np.isin(symbols, ("I", "Br")))
    coords = np.rint(atoms.get_scaled_positions()[indices] * 2 * cells).astype(int) % (2 * cells)
    even = coords % 2 == 0
    if (
        n_pb == 0
        or np.prod(cells) != n_pb
        or not np.allclose(atoms.cell.angles(), 90.0)
        or not np.all(even.sum(axis=1) == 1)
    ):
        raise PerovcalcError(
            "pair correlations need a cubic CsPbX3 supercell with Cs at the origin "
            "(as built by perovcalc.alloy)"
        )
    return _Grid(indices, coords, np.argmax(even, axis=1), 2 * cells, float(a))


def _apply(perm, signs, vector) -> tuple[int, int, int]:
    image = [0, 0, 0]
    for k in range(3):
        image[perm[k]] = signs[k] * vector[k]
    return tuple(image)


def _cluster_key(points: list[tuple[tuple[int, int, int], int]]) -> tuple:
    """Canonical label of a cluster of halide sites (vector from the first, face axis) under m-3m.

    Equal labels mean a point operation plus a lattice translation maps one cluster onto the
    other: relative vectors and face axes determine the cluster up to translation.
    """
    keys = []
    for perm, signs in _SIGNED_PERMUTATIONS:
        mapped = [(_apply(perm, signs, v), perm[axis]) for v, axis in points]
        for order in permutations(mapped):
            origin = order[0][0]
            keys.append(
                tuple(
                    (tuple(c - o for c, o in zip(v, origin, strict=True)), axis)
                    for v, axis in order
                )
            )
    return min(keys)


def _shell_vectors(shells: int, what: str) -> tuple[dict[int, np.ndarray], int]:
    """Grid vectors from a site on each face axis to the halide sites of the first ``shells``
    X-X shells, and the squared cutoff ((a/2)^2 units)."""
    if int(shells) != shells or shells < 1:
        raise InputError(what, shells, "a positive integer number of X-X neighbour shells")
    reach = 2 * shells + 2
    box = np.array(list(product(range(-reach, reach + 1), repeat=3)))
    vectors, squared = {}, set()
    for axis in range(3):
        site = np.ones(3, dtype=int)
        site[axis] = 0
        ok = ((site + box) % 2 == 0).sum(axis=1) == 1
        ok &= np.any(box != 0, axis=1)
        vectors[axis] = box[ok]
        squared.update((box[ok] ** 2).sum(axis=1).tolist())
    cutoff = sorted(squared)[shells - 1]
    return {k: v[(v**2).sum(axis=1) <= cutoff] for k, v in vectors.items()}, cutoff


def _axis_at(vector, axis: int) -> int:
    """Face axis of the halide site at grid ``vector`` from a site on face ``axis``."""
    site = np.ones(3, dtype=int)
    site[axis] = 0
    return int(np.argmax((site + np.asarray(vector)) % 2 == 0))


def _clusters(grid: _Grid, shells: int, triplet_shells: int) -> _Clusters:
    """Pair orbits within ``shells`` X-X shells and triplet orbits whose three sides all lie
    within ``triplet_shells`` shells (0: no triplets)."""
    pair_vectors, _ = _shell_vectors(shells, "shells")
    triangles: dict[int, list] = {axis: [] for axis in range(3)}
    if triplet_shells != 0:
        vectors, cutoff = _shell_vectors(triplet_shells, "triplet_shells")
        for axis in range(3):
            for u, v in permutations(vectors[axis], 2):
                if ((v - u) ** 2).sum() <= cutoff:
                    triangles[axis].append((u, v))
    lookup = grid.lookup()
    n_sites = len(grid.indices)
    keys: dict[tuple, int] = {}
    members, labels, reaches = [], [], set()

    def partners(sites, vector):
        return lookup[tuple(((grid.coords[sites] + vector) % grid.dims).T)]

    def add(sites, cluster_vectors, axis):
        points = [((0, 0, 0), axis)] + [
            (tuple(int(c) for c in v), _axis_at(v, axis)) for v in cluster_vectors
        ]
        sides = [np.asarray(p[0]) - np.asarray(q[0]) for p, q in combinations(points, 2)]
        longest = max(int((d**2).sum()) for d in sides)
        key = (len(points), longest, _cluster_key(points))
        label = keys.setdefault(key, len(keys))
        if any(np.any(2 * np.abs(d) >= grid.dims) for d in sides):
            reaches.add(label)
        columns = [sites, *(partners(sites, v) for v in cluster_vectors)]
        columns += [np.full(len(sites), n_sites)] * (3 - len(columns))
        members.append(np.column_stack(columns))
        labels.append(np.full(len(sites), label))

    for axis in range(3):
        sites = np.flatnonzero(grid.axes == axis)
        for vector in pair_vectors[axis]:
            add(sites, [vector], axis)
        for u, v in triangles[axis]:
            add(sites, [u, v], axis)
    order = sorted(keys)
    relabel = np.empty(len(keys), dtype=int)
    for new, key in enumerate(order):
        relabel[keys[key]] = new
    orbit = relabel[np.concatenate(labels)]
    return _Clusters(
        members=np.concatenate(members),
        orbit=orbit,
        counts=np.bincount(orbit, minlength=len(order)).astype(float),
        order=np.array([k[0] for k in order]),
        squared=np.array([k[1] for k in order], dtype=float),
        images=np.array([keys[k] in reaches for k in order]),
    )


def _spins(atoms: Atoms, grid: _Grid) -> np.ndarray:
    symbols = np.array(atoms.get_chemical_symbols())[grid.indices]
    return np.where(symbols == "Br", 1.0, -1.0)


def _result(clusters: _Clusters, grid: _Grid, spins: np.ndarray) -> Correlations:
    y = float(np.mean(spins > 0))
    return Correlations(
        order=clusters.order,
        distances=np.sqrt(clusters.squared) * grid.a / 2,
        values=clusters.correlations(spins),
        targets=(2 * y - 1) ** clusters.order.astype(float),
        multiplicities=clusters.counts / factorial(clusters.order) / len(spins),
        images=clusters.images,
    )


def correlations(atoms: Atoms, shells: int = 3, triplet_shells: int = 2) -> Correlations:
    """Halide cluster correlations of a mixed-halide supercell: pairs over the first ``shells``
    X-X shells, triplets with every side within the first ``triplet_shells`` (0: none)."""
    grid = _grid(atoms)
    return _result(_clusters(grid, shells, triplet_shells), grid, _spins(atoms, grid))


def _decorate(parent: Atoms, grid: _Grid, bromide: np.ndarray) -> Atoms:
    atoms = parent.copy()
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[grid.indices[bromide]] = "Br"
    atoms.set_chemical_symbols(list(symbols))
    return atoms


def sqs(
    x: float,
    supercell=(2, 2, 2),
    shells: int = 3,
    triplet_shells: int = 2,
    steps: int = 10_000,
    seed: int = 0,
    a: float | None = None,
) -> SQSResult:
    """Special quasirandom ordering of CsPbI3-xBrx in ``supercell``.

    Simulated annealing of Br/I swaps (``steps`` trial swaps, seeded) minimising the sum over
    the pair orbits of the first ``shells`` X-X shells and the triplet orbits within the first
    ``triplet_shells`` (0: pairs only) of |correlation - (2y - 1)^order|. ``a`` overrides the
    Vegard lattice constant (Angstrom).
    """
    parent = _parent(supercell, x, a)
    count = bromide_count(x, supercell)
    grid = _grid(parent)
    clusters = _clusters(grid, shells, triplet_shells)
    n_sites = len(grid.indices)
    targets = (2 * count / n_sites - 1) ** clusters.order.astype(float)
    rng = np.random.default_rng(seed)
    spins = -np.ones(n_sites)
    spins[rng.choice(n_sites, count, replace=False)] = 1.0
    cost = np.abs(clusters.correlations(spins) - targets).sum()
    best_cost, best = cost, spins.copy()
    if 0 < count < n_sites:
        for temperature in np.geomspace(0.05, 1e-4, int(steps)):
            i = rng.choice(np.flatnonzero(spins > 0))
            j = rng.choice(np.flatnonzero(spins < 0))
            spins[[i, j]] = spins[[j, i]]
            trial = np.abs(clusters.correlations(spins) - targets).sum()
            if trial <= cost or rng.random() < np.exp((cost - trial) / temperature):
                cost = trial
                if cost < best_cost - 1e-12:
                    best_cost, best = cost, spins.copy()
                    if best_cost < 1e-12:
                        break
            else:
                spins[[i, j]] = spins[[j, i]]
    atoms = _decorate(parent, grid, best > 0)
    return SQSResult(atoms=atoms, correlations=_result(clusters, grid, best))


def mixed_halide_supercell(
    x: float,
    supercell=(1, 1, 1),
    ordering: str = "random",
    seed: int = 0,
    a: float | None = None,
) -> Atoms:
    """CsPbI3-xBrx supercell with exactly x Br per formula unit.

    ``ordering`` is "random" (Br sites drawn uniformly with ``seed``) or "sqs" (see :func:`sqs`);
    all symmetry-distinct orderings come from :func:`enumerate_orderings`. ``a`` overrides the
    Vegard lattice constant (Angstrom).
    """
    if ordering == "sqs":
        return sqs(x, supercell, seed=seed, a=a).atoms
    if ordering not in ORDERINGS:
        raise InputError(
            "ordering", ordering, "'random', 'sqs' (all orderings: alloy.enumerate_orderings)"
        )
    parent = _parent(supercell, x, a)
    count = bromide_count(x, supercell)
    grid = _grid(parent)
    bromide = np.zeros(len(grid.indices), dtype=bool)
    bromide[np.random.default_rng(seed).choice(len(bromide), count, replace=False)] = True
    return _decorate(parent, grid, bromide)


def enumerate_orderings(
    x: float, supercell=(1, 1, 1), a: float | None = None, symprec: float = 1e-5
) -> list[tuple[Atoms, int]]:
    """All symmetry-distinct Br/I orderings of ``supercell`` at ``x``, with their multiplicities.

    Two orderings are equivalent when an operation of the space group of the undecorated
    supercell (from spglib, pure translations included) maps one onto the other. The
    multiplicities add up to the number of ways of placing the Br atoms, C(3 n1 n2 n3, x n1 n2 n3).
    Ordered by decreasing multiplicity.
    """
    import spglib

    parent = _parent(supercell, x, a)
    count = bromide_count(x, supercell)
    grid = _grid(parent)
    n_sites = len(grid.indices)
    total = comb(n_sites, count)
    if total > MAX_ENUMERATED or n_sites > 62:
        raise InputError(
            "supercell",
            supercell,
            f"a cell with at most {MAX_ENUMERATED} orderings to enumerate "
            f"(this one has {total} at x = {x:g})",
        )
    dataset = spglib.get_symmetry_dataset(
        (parent.cell[:], parent.get_scaled_positions(), parent.numbers), symprec=symprec
    )
    lookup = grid.lookup()
    scaled = parent.get_scaled_positions()[grid.indices]
    chosen = np.array(list(combinations(range(n_sites), count)), dtype=int).reshape(total, count)
    codes = (np.int64(1) << chosen.astype(np.int64)).sum(axis=1)
    canonical = codes.copy()
    for rotation, translation in zip(dataset.rotations, dataset.translations, strict=True):
        image = np.rint((scaled @ rotation.T + translation) * grid.dims).astype(int) % grid.dims
        permutation = lookup[tuple(image.T)].astype(np.int64)
        canonical = np.minimum(canonical, (np.int64(1) << permutation[chosen]).sum(axis=1))
    orbits, multiplicities = np.unique(canonical, return_counts=True)
    position = {int(code): i for i, code in enumerate(codes)}
    result = []
    for code, multiplicity in sorted(
        zip(orbits.tolist(), multiplicities.tolist(), strict=True), key=lambda t: (-t[1], t[0])
    ):
        bromide = np.zeros(n_sites, dtype=bool)
        bromide[chosen[position[code]]] = True
        atoms = _decorate(parent, grid, bromide)
        atoms.info["multiplicity"] = multiplicity
        result.append((atoms, multiplicity))
    return result
