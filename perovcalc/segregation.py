"""Where a dopant sits: segregation energy between two sites of the same atoms, and the share of
each site in equilibrium.

The two models hold the same atoms (same counts of every element) and differ only in which
sites the dopant (K) occupies: at the surface, or below it (one layer down on lattice sites, or
an excess K adsorbed on the surface against the same K interstitial). The segregation energy per
dopant moved is E(below) - E(surface) divided by the number of dopants of the "below" model
that sit deeper than every dopant of the "surface" model; a positive value means the dopant
prefers the surface.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from ase import Atoms
from ase.units import kB

from perovcalc.errors import InputError

SYNTHESIS_K = 453.15  # K: hot-injection synthesis of the studies' nanocrystals, 180 C
ROOM_K = 298.15
LAYER = 1.0  # A: sites closer in depth than this share a layer


def segregation_energy(surface: Atoms, e_surface: float, below: Atoms, e_below: float,
                       element: str = "K") -> float:  # fmt: skip
    """E(below) - E(surface) per ``element`` atom moved (eV, :func:`moved`); the energies are
    total energies (eV) of the two models, computed with the same settings. Refused if the models
    hold different atoms, no ``element``, or no ``element`` below the surface in ``below``."""
    if Counter(surface.get_chemical_symbols()) != Counter(below.get_chemical_symbols()):
        raise InputError(
            "below", below.get_chemical_formula(), f"the atoms of {surface.get_chemical_formula()}"
        )
    if element not in surface.get_chemical_symbols():
        raise InputError("element", element, sorted(set(surface.get_chemical_symbols())))
    count = moved(surface, below, element)
    if not count:
        raise InputError("below", below.get_chemical_formula(), f"{element} below the surface")
    return (e_below - e_surface) / count


def moved(surface: Atoms, below: Atoms, element: str = "K") -> int:
    """How many ``element`` atoms of ``below`` sit more than ``LAYER`` deeper than the deepest
    one of ``surface`` (depth: distance along z from the slab's mid-plane, the middle of its z
    range, counted inwards); 0 when relaxation brought every one back to the surface."""
    innermost = _from_mid_plane(surface, element).min()
    return int(np.sum(_from_mid_plane(below, element) < innermost - LAYER))


def _from_mid_plane(atoms: Atoms, element: str) -> np.ndarray:
    z = atoms.positions[:, 2]
    mine = np.array(atoms.get_chemical_symbols()) == element
    return np.abs(z[mine] - (z.max() + z.min()) / 2)


def fraction_below(energy: float, temperature: float, sites_ratio: float = 1.0) -> float:
    """Equilibrium share of dopants below the surface for a segregation energy ``energy`` (eV per
    dopant, positive: the surface is preferred) at ``temperature`` (K), two kinds of sites in
    the ratio ``sites_ratio`` (below : surface), dilute (no dopant-dopant interaction)."""
    if not temperature > 0:
        raise InputError("temperature", temperature, "> 0 K")
    weight = sites_ratio * np.exp(-energy / (kB * temperature))
    return float(weight / (1.0 + weight))


def depth_populations(
    depths, multiplicities, share_below: float, layer: float = LAYER
) -> np.ndarray:
    """Populations of a dopant's distinct sites for a share ``share_below`` (0 to 1) of the dopant
    below the outer layer: the sites within ``layer`` (A) of the shallowest depth (A below the
    outermost atom) hold 1 - share_below of the total, the deeper ones share_below, each group
    split by the sites' multiplicities; the total stays the sum of the multiplicities."""
    depth = np.asarray(depths, dtype=float)
    multiplicity = np.asarray(multiplicities, dtype=float)
    if not 0.0 <= share_below <= 1.0:
        raise InputError("share_below", share_below, "a fraction from 0 to 1")
    if depth.shape != multiplicity.shape or depth.ndim != 1 or np.any(multiplicity <= 0):
        raise InputError("multiplicities", multiplicities, "one multiplicity > 0 per depth")
    deeper = depth > depth.min() + layer
    if not deeper.any():
        raise InputError("depths", depths, f"sites more than {layer} A apart in depth")
    shares = np.where(deeper, share_below / multiplicity[deeper].sum(),
                      (1.0 - share_below) / multiplicity[~deeper].sum())  # fmt: skip
    return shares * multiplicity * multiplicity.sum()
