"""Depth-resolved photoemission ratios (K:Br:Pb against photon energy) of a structure model, and
the model band over the quantification conventions and the stated inputs (ligand shell, K
coverage, asymmetry parameter). The intensity and attenuation model is :mod:`perovcalc.xps`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from ase import Atoms

from perovcalc import imfp as imfp_mod
from perovcalc.errors import InputError
from perovcalc.reference import load_table
from perovcalc.xps import (
    MAGIC_ANGLE,
    PHOTON_ENERGIES,
    Escape,
    angular_factor,
    core_level,
    cross_section,
    depths,
    matrix_material,
    site_weights,
)

#: Levels of the measured K:Br:Pb ratio table, in that order.
RATIO_LEVELS = ("K 2p", "Br 3d", "Pb 4f")
#: Quantification conventions: sensitivity sigma * lambda (homogeneous sample) or sigma only.
QUANTIFICATIONS = ("sigma_lambda", "sigma")
#: A-site atoms shallower than this (Angstrom) are on the outer A sites (coverage).
OUTER_DEPTH = 1.0


@cache
def asymmetry_parameters() -> dict[str, tuple[float, float]]:
    """Range (min, max) of the asymmetry parameter beta of each ratio line,
    ``reference/asymmetry_parameters.csv``."""
    return {
        f"{row['element']} {row['level']}": (row["beta_min_ratio"], row["beta_max_ratio"])
        for row in load_table("asymmetry_parameters")
    }


def surface_coverage(atoms: Atoms, element: str = "K", geometry: str = "auto") -> float:
    """Fraction of the outer A sites (Cs or K within ``OUTER_DEPTH`` of the surface) that hold
    ``element``."""
    symbols = np.array(atoms.get_chemical_symbols())
    outer = (depths(atoms, geometry) < OUTER_DEPTH) & np.isin(symbols, ("Cs", "K"))
    if not outer.any():
        raise InputError("model", atoms.get_chemical_formula(), "a model with outer A sites")
    return float(np.mean(symbols[outer] == element))


def coverage_from_ratio(atoms: Atoms, k_to_pb: float, geometry: str = "auto") -> float:
    """K coverage of the model's outer A sites that a K:Pb atomic ratio would give if all K sat
    on them: k_to_pb N_Pb / N_outer_A."""
    symbols = np.array(atoms.get_chemical_symbols())
    outer = (depths(atoms, geometry) < OUTER_DEPTH) & np.isin(symbols, ("Cs", "K"))
    return float(k_to_pb * np.sum(symbols == "Pb") / max(1, outer.sum()))


def _populations(atoms: Atoms, k_coverage: float | None, geometry: str) -> np.ndarray:
    """Per-atom populations: 1, except the outer K, scaled to ``k_coverage`` of the outer A
    sites (K placed at random over them, so the signal scales with their number)."""
    populations = np.ones(len(atoms))
    if k_coverage is None:
        return populations
    if not 0.0 <= k_coverage <= 1.0:
        raise InputError("k_coverage", k_coverage, "a fraction of the outer A sites, 0 to 1")
    symbols = np.array(atoms.get_chemical_symbols())
    outer_k = (depths(atoms, geometry) < OUTER_DEPTH) & (symbols == "K")
    if not outer_k.any():
        raise InputError("k_coverage", k_coverage, "None for a model without surface K")
    populations[outer_k] = k_coverage / surface_coverage(atoms, "K", geometry)
    return populations


def _amounts(atoms, levels, photon_energies, material, escape, ligand_nm, populations) -> dict:
    """Quantified amounts, (n_hv, n_levels), for each convention of :data:`QUANTIFICATIONS`:
    intensity / (sigma lambda) or intensity / sigma (both components averaged)."""
    amounts = {q: np.empty((len(photon_energies), len(levels))) for q in QUANTIFICATIONS}
    for j, name in enumerate(levels):
        level = core_level(name)
        indices, weights, lambdas = site_weights(
            atoms, level, photon_energies, material, escape, ligand_nm
        )
        signal = weights @ populations[indices]  # (n_hv, 2)
        sigma = np.array([cross_section(level, hv) for hv in photon_energies])
        per_sigma = signal / (sigma[:, None] * level.fractions[None, :])
        amounts["sigma"][:, j] = per_sigma.sum(axis=1) / 2.0
        amounts["sigma_lambda"][:, j] = (per_sigma / lambdas).sum(axis=1) / 2.0
    return amounts


def apparent_ratios(
    atoms: Atoms,
    photon_energies=PHOTON_ENERGIES,
    levels=RATIO_LEVELS,
    material: imfp_mod.IMFPMaterial | None = None,
    escape: Escape = Escape(),
    ligand_nm: float = 0.0,
    quantification: str = "sigma_lambda",
    k_coverage: float | None = None,
) -> np.ndarray:
    """Atomic ratios an experiment would report, normalised to the last level, shape
    (n_photon_energies, n_levels).

    Each line's intensity is divided by its sensitivity factor: ``"sigma_lambda"`` (sigma times
    the attenuation length in the matrix: the quantification of a homogeneous sample, so a thick
    homogeneous model returns its stoichiometry) or ``"sigma"`` (cross section only, as many
    synchrotron studies quantify). A surface enrichment shows up as a ratio that falls with
    photon energy. ``ligand_nm``: organic shell over the model (:func:`imfp.ligand_shell`);
    ``k_coverage``: fraction of the outer A sites held by K (None: the model's own).
    """
    if quantification not in QUANTIFICATIONS:
        raise InputError("quantification", quantification, QUANTIFICATIONS)
    material = material or matrix_material(atoms)
    populations = _populations(atoms, k_coverage, escape.geometry)
    amounts = _amounts(atoms, levels, photon_energies, material, escape, ligand_nm, populations)
    amounts = amounts[quantification]
    return amounts / amounts[:, -1:]


@dataclass(frozen=True)
class RatioBand:
    """Apparent ratios (n_hv, n_levels, normalised to the last level) of the central inputs and
    the band: min and max over the quantification conventions and the input ranges."""

    central: np.ndarray
    low: np.ndarray
    high: np.ndarray
    conventions: dict[str, np.ndarray]  # each convention at the central inputs
    samples: np.ndarray  # every input combination, (n, n_hv, n_levels)


def ratio_band(
    atoms: Atoms,
    photon_energies=PHOTON_ENERGIES,
    levels=RATIO_LEVELS,
    material: imfp_mod.IMFPMaterial | None = None,
    escape: Escape = Escape(),
    ligand_nm=(1.0, 1.5, 2.0),
    k_coverage=(None,),
    betas: dict[str, tuple[float, float]] | None = None,
    analyser_angle: float = MAGIC_ANGLE,
    polarised=True,
) -> RatioBand:
    """Apparent ratios over the stated inputs: every ligand thickness in ``ligand_nm`` (nm),
    every K coverage in ``k_coverage`` (None: the model's), both quantification conventions and
    every corner of the ``betas`` ranges {level: (min, max)} at ``analyser_angle`` (degrees;
    ``polarised``: one flag, or one per photon energy: synchrotron light is linearly polarised,
    a laboratory anode is not). Central: the middle ligand thickness and coverage, sigma * lambda,
    the middle of each beta range. The ratio is monotonic in each input, so the corners span the
    band."""
    material = material or matrix_material(atoms)
    polarised = np.broadcast_to(np.asarray(polarised, dtype=bool), (len(photon_energies),))
    betas = betas or {}
    names = [core_level(n).name for n in levels]
    ranges = [betas.get(name, (0.0, 0.0)) for name in names]
    corners = np.array(np.meshgrid(*ranges, indexing="ij")).reshape(len(names), -1).T
    middle = np.array([np.mean(r) for r in ranges])

    def angular(beta_row) -> np.ndarray:  # (n_hv, n_levels)
        return np.array([[angular_factor(b, analyser_angle, p) for b in beta_row]
                         for p in polarised])  # fmt: skip

    k_index = next((j for j, n in enumerate(names) if n.startswith("K ")), None)
    values, central, conventions = [], None, {}
    for t_i, t in enumerate(ligand_nm):
        amounts = _amounts(atoms, levels, photon_energies, material, escape, t, np.ones(len(atoms)))
        for c_i, coverage in enumerate(k_coverage):
            scale = np.ones(len(names))
            if coverage is not None and not 0.0 <= coverage <= 1.0:
                raise InputError("k_coverage", coverage, "a fraction of the outer A sites, 0 to 1")
            if coverage is not None and k_index is not None:
                scale[k_index] = coverage / surface_coverage(atoms, "K", escape.geometry)
            for q, amount in amounts.items():
                for beta_row in [middle, *corners]:
                    a = amount * scale * angular(beta_row)
                    values.append(a / a[:, -1:])
                mid = t_i == len(ligand_nm) // 2 and c_i == len(k_coverage) // 2
                if mid:
                    a = amount * scale * angular(middle)
                    conventions[q] = a / a[:, -1:]
    central = conventions["sigma_lambda"]
    stack = np.array(values)
    return RatioBand(central, stack.min(axis=0), stack.max(axis=0), conventions, stack)
