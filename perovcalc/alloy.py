"""Mixed-halide CsPb(I1-yBry)3 supercells: random, quasirandom (SQS) and enumerated orderings.

``x = 3y`` is the number of Br per formula unit. An n1 x n2 x n3 supercell of the cubic cell has
3 n1 n2 n3 halide sites, so the composition is exact only when x is a multiple of 1/(n1 n2 n3).

Pair correlations: with spins s = +1 on Br and -1 on I, the correlation of a pair orbit is the
mean of s_i s_j over all its pairs (i, j, periodic image); the ideal random alloy has (2y - 1)^2
for every pair orbit. Halide sites lie on the a/2 grid and each is labelled by the axis normal
to its cube face. Pairs are grouped into orbits of the cubic point group m-3m acting on the pair
vector and the two site labels, so that pairs at the same distance that are not related by
symmetry stay apart (at distance a: the trans pair through Pb and the pair not through Pb).
Neighbour shells are the distinct X-X distances a/sqrt(2), a, a sqrt(3/2), a sqrt(2), ...
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, permutations, product
from math import comb

import numpy as np
from ase import Atoms

from perovcalc.bulk import check_x, cubic_perovskite, perovskite_lattice_constant
from perovcalc.errors import InputError, PerovcalcError

ORDERINGS = ("random", "sqs")
MAX_ENUMERATED = 200_000
_SIGNED_PERMUTATIONS = [(p, s) for p in permutations(range(3)) for s in product((1, -1), repeat=3)]


@dataclass(frozen=True)
class PairCorrelations:
    """Halide pair correlations of an ordering, one value per pair orbit (nearest first)."""

    distances: np.ndarray  # X-X distance of each orbit, Angstrom
    values: np.ndarray  # <s_i s_j> of each orbit
    target: float  # (2y - 1)^2, the value of the ideal random alloy
    images: np.ndarray  # True where the pair vector reaches half the supercell along an axis:
    # the partner at v is also the one at v - L (a periodic image), so the orbit does not
    # sample independent pairs of sites and its correlation is constrained by the cell

    @property
    def mismatch(self) -> float:
        """Sum over pair orbits of |correlation - random-alloy correlation| (dimensionless)."""
        return float(np.abs(self.values - self.target).sum())


@dataclass(frozen=True)
class SQSResult:
    """A special quasirandom structure and how close its pair correlations are to random."""

    atoms: Atoms
    correlations: PairCorrelations

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
class _Pairs:
    first: np.ndarray
    second: np.ndarray
    orbit: np.ndarray
    counts: np.ndarray
    squared: np.ndarray  # squared length of each orbit's pair vector, (a/2)^2 units
    images: np.ndarray  # orbits whose vectors reach half the supercell (see PairCorrelations)

    def correlations(self, spins: np.ndarray) -> np.ndarray:
        weights = spins[self.first] * spins[self.second]
        return np.bincount(self.orbit, weights=weights, minlength=len(self.counts)) / self.counts


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


def _orbit_key(axis_i: int, vector: tuple[int, int, int], axis_j: int) -> tuple:
    """Canonical label of the pair (site on axis_i, site on axis_j at ``vector``) under m-3m."""
    keys = []
    for perm, signs in _SIGNED_PERMUTATIONS:
        image = [0, 0, 0]
        for k in range(3):
            image[perm[k]] = signs[k] * vector[k]
        keys.append((tuple(image), perm[axis_i], perm[axis_j]))
        keys.append((tuple(-c for c in image), perm[axis_j], perm[axis_i]))
    return min(keys)


def _pairs(grid: _Grid, shells: int) -> _Pairs:
    if int(shells) != shells or shells < 1:
        raise InputError("shells", shells, "a positive integer number of X-X neighbour shells")
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
    lookup = grid.lookup()
    keys: dict[tuple, int] = {}
    first, second, labels, reaches = [], [], [], set()
    for axis in range(3):
        sites = np.flatnonzero(grid.axes == axis)
        for vector in vectors[axis]:
            if (vector**2).sum() > cutoff:
                continue
            partners = lookup[tuple(((grid.coords[sites] + vector) % grid.dims).T)]
            axis_j = int(grid.axes[partners[0]]) if len(partners) else 0
            key = ((vector**2).sum(), _orbit_key(axis, tuple(int(v) for v in vector), axis_j))
            labels.append(np.full(len(sites), keys.setdefault(key, len(keys))))
            if np.any(2 * np.abs(vector) >= grid.dims):
                reaches.add(keys[key])
            first.append(sites)
            second.append(partners)
    order = sorted(keys)
    relabel = np.empty(len(keys), dtype=int)
    for new, key in enumerate(order):
        relabel[keys[key]] = new
    orbit = relabel[np.concatenate(labels)]
    return _Pairs(
        first=np.concatenate(first),
        second=np.concatenate(second),
        orbit=orbit,
        counts=np.bincount(orbit, minlength=len(order)).astype(float),
        squared=np.array([k[0] for k in order], dtype=float),
        images=np.array([keys[k] in reaches for k in order]),
    )


def _spins(atoms: Atoms, grid: _Grid) -> np.ndarray:
    symbols = np.array(atoms.get_chemical_symbols())[grid.indices]
    return np.where(symbols == "Br", 1.0, -1.0)


def _result(pairs: _Pairs, grid: _Grid, spins: np.ndarray) -> PairCorrelations:
    y = float(np.mean(spins > 0))
    return PairCorrelations(
        distances=np.sqrt(pairs.squared) * grid.a / 2,
        values=pairs.correlations(spins),
        target=(2 * y - 1) ** 2,
        images=pairs.images,
    )


def pair_correlations(atoms: Atoms, shells: int = 3) -> PairCorrelations:
    """Halide pair correlations of a mixed-halide supercell over the first ``shells`` X-X shells."""
    grid = _grid(atoms)
    return _result(_pairs(grid, shells), grid, _spins(atoms, grid))


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
    steps: int = 10_000,
    seed: int = 0,
    a: float | None = None,
) -> SQSResult:
    """Special quasirandom ordering of CsPbI3-xBrx in ``supercell``.

    Simulated annealing of Br/I swaps (``steps`` trial swaps, seeded) minimising the sum over the
    pair orbits of the first ``shells`` X-X shells of |correlation - (2y - 1)^2|. ``a`` overrides
    the Vegard lattice constant (Angstrom).
    """
    parent = _parent(supercell, x, a)
    count = bromide_count(x, supercell)
    grid = _grid(parent)
    pairs = _pairs(grid, shells)
    n_sites = len(grid.indices)
    target = (2 * count / n_sites - 1) ** 2
    rng = np.random.default_rng(seed)
    spins = -np.ones(n_sites)
    spins[rng.choice(n_sites, count, replace=False)] = 1.0
    cost = np.abs(pairs.correlations(spins) - target).sum()
    best_cost, best = cost, spins.copy()
    if 0 < count < n_sites:
        for temperature in np.geomspace(0.05, 1e-4, int(steps)):
            i = rng.choice(np.flatnonzero(spins > 0))
            j = rng.choice(np.flatnonzero(spins < 0))
            spins[[i, j]] = spins[[j, i]]
            trial = np.abs(pairs.correlations(spins) - target).sum()
            if trial <= cost or rng.random() < np.exp((cost - trial) / temperature):
                cost = trial
                if cost < best_cost - 1e-12:
                    best_cost, best = cost, spins.copy()
                    if best_cost < 1e-12:
                        break
            else:
                spins[[i, j]] = spins[[j, i]]
    atoms = _decorate(parent, grid, best > 0)
    return SQSResult(atoms=atoms, correlations=_result(pairs, grid, best))


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
