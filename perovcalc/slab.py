"""Symmetric (001) slabs of cubic CsPbI3-xBrx, bare or K-Br passivated.

A slab is a stack of ``layers`` atomic (001) layers a/2 apart, alternately CsX (Cs at (0, 0),
X at (1/2, 1/2)) and PbX2 (Pb at (1/2, 1/2), X at (1/2, 0) and (0, 1/2)), in-plane coordinates in
units of a. The number of layers is odd, so the top and bottom layers have the same termination
and the slab has a mirror plane through its central layer. Both CsX and PbX2 layers are neutral.

``atoms.arrays["layer"]`` is the number of layers between an atom and the central layer:
0 = central layer, (layers - 1) / 2 = outermost perovskite layer, one more for a KBr overlayer;
both surfaces carry the same numbers. z is the surface normal; the slab is centred in the cell
with ``vacuum`` Angstrom between its outermost atoms across the periodic boundary.

Passivation (experiment: K binds surface bromide):

- "KBr": the outer CsX layers become KBr: K replaces Cs on a fraction ``k_coverage`` of the outer
  A sites (the same in-plane sites on both surfaces), and every halide of the outer layers is Br.
  ``k_subsurface`` puts K on a fraction of the A sites of the first CsX layer below the surface
  (K_Cs, isovalent: the slab stays neutral; the same in-plane sites under both surfaces), so K
  sits at two depths; with ``k_coverage = 0`` all K is below a CsBr surface, the same
  composition as K at the surface when the two fractions are swapped (a segregation energy).
- "KBr_overlayer": one rock-salt KBr (001) layer on each surface, cube-on-cube (KBr [100] parallel
  to perovskite [100]) and strained to the substrate, K-Br = a/2 in plane, i.e. 2 K + 2 Br per
  surface cell. Br continues the perovskite halide sublattice (it sits where the next perovskite
  layer would put its halides) and K takes the other sites of the a/2 grid: on a PbX2
  termination every K sits on top of a surface halide and Br on top of Pb; on a CsX termination
  K sits on top of the surface halide and Cs, Br above the hollows. The layer is a_KBr / 2 (the
  (002) spacing of bulk KBr) above the outermost perovskite layer.

``interstitial_k`` adds one K per surface at the edge-centre interstitial site (four halides and
two A cations at a/2) of the layer below the outermost perovskite layer. Each K_i is a donor:
the slab then carries a formal charge of +2 (see :func:`perovcalc.bulk.formal_charge`), to be
used as the charge of the DFT calculation for the K_i+ state. ``adatom_k`` instead puts the same
extra K on the surface: one per surface on top of a halide of the outermost layer, at the K-Br
distance of rock-salt KBr (a_KBr / 2) above it. Both hold the same atoms, so their energy
difference says whether excess K goes inside (see :mod:`perovcalc.segregation`).

The Br/I ordering of a mixed slab is random (``seed``) but mirror-symmetric: a site and its mirror
image through the central layer hold the same halide.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from perovcalc.bulk import check_x, perovskite_lattice_constant
from perovcalc.errors import InputError
from perovcalc.reference import lattice_constant

TERMINATIONS = ("CsX", "PbX2")
PASSIVATIONS = (None, "KBr", "KBr_overlayer")
FIX_FROM = ("centre", "bottom")
_MOTIFS = {
    "CsX": (("Cs", 0.0, 0.0), ("X", 0.5, 0.5)),
    "PbX2": (("Pb", 0.5, 0.5), ("X", 0.5, 0.0), ("X", 0.0, 0.5)),
}
_INTERSTITIAL = {"CsX": (0.5, 0.0), "PbX2": (0.0, 0.0)}
_ON_HALIDE = {"CsX": (0.5, 0.5), "PbX2": (0.5, 0.0)}


def _whole_number(value, field: str, allowed: str) -> int:
    try:
        number = int(value)
        exact = float(value) == number
    except (TypeError, ValueError):
        raise InputError(field, value, allowed) from None
    if not exact or number < 0:
        raise InputError(field, value, allowed)
    return number


def _check_repeat(repeat) -> tuple[int, int]:
    allowed = "two positive integers (in-plane repetition of the 1x1 surface cell)"
    try:
        values = tuple(repeat)
    except TypeError:
        raise InputError("repeat", repeat, allowed) from None
    if len(values) != 2:
        raise InputError("repeat", repeat, allowed)
    r1, r2 = (_whole_number(v, "repeat", allowed) for v in values)
    if min(r1, r2) < 1:
        raise InputError("repeat", repeat, allowed)
    return r1, r2


def _fraction(value, field: str, n_cells: int) -> float:
    """A site fraction in [0, 1] that is a whole number of the n_cells surface cells."""
    allowed = f"multiples of 1/{n_cells} in [0, 1] for a surface of {n_cells} cell(s)"
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(field, value, allowed) from None
    if not 0 <= value <= 1 or abs(value * n_cells - round(value * n_cells)) > 1e-6:
        raise InputError(field, value, allowed)
    return value


def _kind(m: int, termination: str) -> str:
    """Kind of perovskite layer m (0 = bottom): the outer layers have the termination's kind."""
    other = TERMINATIONS[1 - TERMINATIONS.index(termination)]
    return termination if m % 2 == 0 else other


def _tile(motif, r1: int, r2: int):
    offsets = np.array([(i, j) for i in range(r1) for j in range(r2)], dtype=float)
    species = [s for s, _, _ in motif for _ in offsets]
    uv = np.concatenate([offsets + (u, v) for _, u, v in motif])
    return species, uv


def _choose_mirror_symmetric(free_sites, uv, m, layers, count, rng) -> np.ndarray:
    """Indices of ``count`` free halide sites, chosen at random in mirror-related pairs."""
    half = (layers - 1) // 2
    central = [i for i in free_sites if m[i] == half]
    lower = [i for i in free_sites if m[i] < half]
    partner = {}
    for i in free_sites:
        partner[(round(uv[i, 0] * 2), round(uv[i, 1] * 2), m[i])] = i
    singles_ideal = count * len(central) / len(free_sites)
    options = [
        s
        for s in range(min(len(central), count) + 1)
        if (count - s) % 2 == 0 and (count - s) // 2 <= len(lower)
    ]
    singles = min(options, key=lambda s: abs(s - singles_ideal))
    chosen = list(rng.choice(central, singles, replace=False)) if singles else []
    for i in rng.choice(lower, (count - singles) // 2, replace=False) if lower else []:
        key = (round(uv[i, 0] * 2), round(uv[i, 1] * 2), layers - 1 - m[i])
        chosen += [i, partner[key]]
    return np.array(chosen, dtype=int)


def perovskite_slab(
    x: float = 3.0,
    termination: str = "CsX",
    layers: int = 5,
    repeat=(1, 1),
    vacuum: float = 15.0,
    fix_layers: int = 0,
    passivation: str | None = None,
    k_coverage: float = 1.0,
    k_subsurface: float = 0.0,
    interstitial_k: bool = False,
    adatom_k: bool = False,
    seed: int = 0,
    a: float | None = None,
    fix_from: str = "centre",
) -> Atoms:
    """Symmetric (001) slab of CsPbI3-xBrx (see the module docstring for the conventions).

    ``layers`` atomic layers (odd, >= 3), ``repeat`` in-plane copies of the a x a surface cell,
    ``vacuum`` in Angstrom. ``fix_layers`` layers get a ``FixAtoms`` constraint: the central ones
    (``fix_from="centre"``, an odd number, keeps the slab symmetric) or the bottom ones
    (``fix_from="bottom"``). x sets the Br fraction of the halide sites not made Br by the
    passivation and must give a whole number of Br. ``a`` overrides the Vegard lattice constant.
    """
    x = check_x(x)
    if termination not in TERMINATIONS:
        raise InputError("termination", termination, TERMINATIONS)
    layers_allowed = "an odd number >= 3 of atomic (001) layers"
    layers = _whole_number(layers, "layers", layers_allowed)
    if layers < 3 or layers % 2 == 0:
        raise InputError("layers", layers, layers_allowed)
    r1, r2 = _check_repeat(repeat)
    try:
        vacuum = float(vacuum)
    except (TypeError, ValueError):
        raise InputError("vacuum", vacuum, "a thickness > 0 Angstrom") from None
    if not vacuum > 0:
        raise InputError("vacuum", vacuum, "a thickness > 0 Angstrom")
    if fix_from not in FIX_FROM:
        raise InputError("fix_from", fix_from, FIX_FROM)
    if fix_from == "centre":
        fix_allowed = f"0 or an odd number of central layers <= layers - 2 = {layers - 2}"
        fix_layers = _whole_number(fix_layers, "fix_layers", fix_allowed)
        if fix_layers > layers - 2 or (fix_layers and fix_layers % 2 == 0):
            raise InputError("fix_layers", fix_layers, fix_allowed)
    else:
        fix_allowed = f"a number of bottom layers <= layers - 1 = {layers - 1}"
        fix_layers = _whole_number(fix_layers, "fix_layers", fix_allowed)
        if fix_layers > layers - 1:
            raise InputError("fix_layers", fix_layers, fix_allowed)
    if passivation not in PASSIVATIONS:
        raise InputError("passivation", passivation, PASSIVATIONS)
    if passivation == "KBr" and termination != "CsX":
        raise InputError(
            "passivation",
            passivation,
            "None or 'KBr_overlayer' for a PbX2-terminated slab ('KBr' turns the outer CsX layer"
            " into KBr)",
        )
    if passivation != "KBr":
        if k_coverage != 1.0:
            raise InputError("k_coverage", k_coverage, "1.0 unless passivation = 'KBr'")
        if k_subsurface != 0.0:
            raise InputError("k_subsurface", k_subsurface, "0 unless passivation = 'KBr'")
    n_cells = r1 * r2
    k_coverage = _fraction(k_coverage, "k_coverage", n_cells)
    k_subsurface = _fraction(k_subsurface, "k_subsurface", n_cells)
    if passivation == "KBr" and not k_coverage + k_subsurface:
        raise InputError("k_coverage", k_coverage, "> 0, or k_subsurface > 0 (a slab with K)")
    if k_subsurface and layers < 5:
        raise InputError("layers", layers, "an odd number >= 5 with k_subsurface")
    if interstitial_k and layers < 5:
        raise InputError("layers", layers, "an odd number >= 5 with interstitial K")
    if adatom_k and (interstitial_k or passivation == "KBr_overlayer"):
        raise InputError(
            "adatom_k", adatom_k, "False with interstitial_k or a KBr overlayer (one extra K site)"
        )

    a = perovskite_lattice_constant(x, a)
    rng = np.random.default_rng(seed)
    species, uv, m = [], [], []
    for layer in range(layers):
        s, p = _tile(_MOTIFS[_kind(layer, termination)], r1, r2)
        species += s
        uv.append(p)
        m += [layer] * len(s)
    species, uv, m = np.array(species, dtype=object), np.concatenate(uv), np.array(m)
    z = m * a / 2

    outer = (m == 0) | (m == layers - 1)
    halide = species == "X"
    forced = halide & outer if passivation == "KBr" else np.zeros(len(species), dtype=bool)
    free = np.flatnonzero(halide & ~forced)
    count = x / 3 * len(free)
    if abs(count - round(count)) > 1e-6:
        below, above = np.floor(count) * 3 / len(free), np.ceil(count) * 3 / len(free)
        raise InputError(
            "x",
            x,
            f"multiples of 3/{len(free)} for this slab ({len(free)} halide sites set by x); "
            f"nearest: {below:.4g} or {above:.4g}",
        )
    species[halide] = "I"
    species[forced] = "Br"
    species[_choose_mirror_symmetric(free, uv, m, layers, round(count), rng)] = "Br"

    if passivation == "KBr":
        for depth, fraction in ((0, k_coverage), (2, k_subsurface)):
            bottom_a = np.flatnonzero((m == depth) & (species == "Cs"))
            for i in rng.choice(bottom_a, round(fraction * n_cells), replace=False):
                mirror = (m == layers - 1 - depth) & np.all(np.isclose(uv, uv[i]), axis=1)
                species[[i, *np.flatnonzero(mirror)]] = "K"

    extra_species, extra_uv, extra_z, extra_layer = [], [], [], []
    half = (layers - 1) // 2
    if passivation == "KBr_overlayer":
        height = lattice_constant("KBr") / 2
        next_layer = _kind(1, termination)
        halide_parity = round(2 * sum(_MOTIFS[next_layer][1][1:])) % 2
        grid = np.array([(i, j) for i in range(2 * r1) for j in range(2 * r2)])
        for z_layer in (-height, (layers - 1) * a / 2 + height):
            extra_species += ["Br" if (i + j) % 2 == halide_parity else "K" for i, j in grid]
            extra_uv.append(grid / 2)
            extra_z += [z_layer] * len(grid)
            extra_layer += [half + 1] * len(grid)
    extra_k = []  # (in-plane site, z, layer index) of each extra K
    if interstitial_k:
        for host in (1, layers - 2):
            extra_k.append((_INTERSTITIAL[_kind(host, termination)], host * a / 2, half - 1))
    if adatom_k:
        height = lattice_constant("KBr") / 2
        for outer, z_k in ((0, -height), (layers - 1, (layers - 1) * a / 2 + height)):
            extra_k.append((_ON_HALIDE[_kind(outer, termination)], z_k, half + 1))
    for site, z_k, layer in extra_k:
        extra_species.append("K")
        extra_uv.append(np.array([site]))
        extra_z.append(z_k)
        extra_layer.append(layer)

    layer_index = np.abs(m - half)
    if extra_species:
        species = np.concatenate([species, np.array(extra_species, dtype=object)])
        uv = np.concatenate([uv, *extra_uv])
        z = np.concatenate([z, extra_z])
        layer_index = np.concatenate([layer_index, extra_layer])
    thickness = z.max() - z.min()
    positions = np.column_stack([uv * a, z - z.min() + vacuum / 2])
    atoms = Atoms(
        symbols=list(species),
        positions=positions,
        cell=[r1 * a, r2 * a, thickness + vacuum],
        pbc=(True, True, False),
    )
    atoms.arrays["layer"] = layer_index.astype(int)
    atoms.info.update(a=a, termination=termination, layers=layers, passivation=str(passivation))
    if fix_layers:
        mask = np.zeros(len(atoms), dtype=bool)
        if fix_from == "centre":
            mask[: len(m)] = np.abs(m - half) <= (fix_layers - 1) // 2
        else:
            mask[: len(m)] = m < fix_layers
        atoms.set_constraint(FixAtoms(mask=mask))
    return atoms
