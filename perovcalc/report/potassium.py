"""Report section: where K sits, from relaxed slabs with the same atoms and K at the surface or
below it: one CsX layer down, or an excess K interstitial against the same K on top of the
surface (``defect_host`` tasks labelled ``k_site = surface`` / ``below``)."""

from __future__ import annotations

from perovcalc.campaign import Campaign
from perovcalc.report.common import Done
from perovcalc.report.judge import Observable, Section, _too_crude, _trend, judge_change
from perovcalc.results import settings
from perovcalc.segregation import ROOM_K, SYNTHESIS_K, fraction_below, moved, segregation_energy


def k_site_pairs(done: Done) -> dict[str, dict]:
    """Finished ``defect_host`` rows labelled ``k_site`` by model: {model: {"surface": row,
    "below": row}}, models with both only."""
    models: dict[str, dict] = {}
    for task, row in done:
        site = task.labels.get("k_site")
        if task.kind == "defect_host" and site in ("surface", "below"):
            models.setdefault(task.labels.get("model", ""), {})[site] = row
    return {model: rows for model, rows in models.items() if len(rows) == 2}


def pair_segregation_energy(rows: dict) -> float | None:
    """E(below) - E(surface) per K moved (eV) of one pair of :func:`k_site_pairs`; None when,
    relaxed, no K of ``below`` sits below the surface (:func:`perovcalc.segregation.moved`)."""
    surface, below = rows["surface"].toatoms(), rows["below"].toatoms()
    if not moved(surface, below):
        return None
    return segregation_energy(surface, rows["surface"].energy, below, rows["below"].energy)


def potassium_section(campaign: Campaign, done: Done) -> Section | None:
    pairs = k_site_pairs(done)
    if not pairs:
        return None
    section = Section(
        "Where K sits: at the surface or below it",
        "Relaxed slabs holding the same atoms, with K on the outer A sites (KBr-terminated) or "
        "one CsX layer down under a CsBr surface (K_Cs); or an excess K on top of a surface Br "
        "against the same K interstitial below the surface. Segregation energy E(below) - "
        "E(surface) per K moved (positive: K prefers the surface) and the equilibrium share of K "
        "below the surface "
        f"at the synthesis temperature ({SYNTHESIS_K - 273.15:.0f} C) and at room temperature "
        "(dilute limit, as many sites below as at the surface). The study reads its "
        "depth-resolved XPS as most K at the surface and a little inside; a 1x1 model moves a "
        "whole layer of K, the nanocrystals hold 16-33 % K on their surface A sites.",
    )
    reference = _trend("k_site_energy", "k_below > k_surface")
    lines = [f"{'model':34s} {'E_seg (eV/K)':>12s} {'below @453 K':>12s} {'below @298 K':>12s}"]
    for model, rows in sorted(pairs.items()):
        surface, below = rows["surface"], rows["below"]
        energy = pair_segregation_energy(rows)
        if energy is None:
            lines.append(f"{model:34s} no K below the surface after relaxation")
            continue
        hot, room = fraction_below(energy, SYNTHESIS_K), fraction_below(energy, ROOM_K)
        lines.append(f"{model:34s} {energy:12.3f} {hot:12.2e} {room:12.2e}")
        agreement, why = judge_change(energy, "increase", _too_crude([surface, below]))
        section.observables.append(
            Observable("k_segregation_energy", {"model": model}, energy, "eV", below.preset,
                       reference, agreement, settings(below),
                       f"share of K below the surface: {hot:.2g} at {SYNTHESIS_K:.0f} K, "
                       f"{room:.2g} at {ROOM_K:.0f} K", why)
        )  # fmt: skip
    section.blocks["Segregation of K (per K moved)"] = "\n".join(lines)
    return section
