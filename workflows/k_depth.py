"""Rows of reference/computed_k_depth.csv from a finished (part of) workflows/k_depth.toml.

    perovcalc run workflows/k_depth.toml [--only host_k_surface_1x1 host_k_below_1x1 ...]
    python workflows/k_depth.py [--db DB] [--output CSV] [--keep]

One row per K segregation energy (E(below) - E(surface) per K moved, eV, from two relaxed slabs
with the same atoms: K on lattice sites at the surface or one layer down, or an excess K on top
of the surface or interstitial; with the equilibrium share of K below the surface at 453 K and
298 K; when relaxation left no K below, the energy difference of the two slabs instead) and
one per distinct site of each core-level model (Delta-SCF E_hole - E_ground, eV; the site's
depth below the outermost atom, A; the shift from the highest-energy site of that level in the
same model, eV). Settings of each row in its columns.
Default output: reference/computed_k_depth.csv (tag C); ``--keep`` keeps its rows that the
store does not compute again (same quantity, model, level and site).
"""

from __future__ import annotations

from pathlib import Path

from perovcalc.kinds.corelevels import CoreLevelsResult
from perovcalc.report.potassium import k_site_pairs, pair_segregation_energy
from perovcalc.results import SETTINGS_COLUMNS, csv_command, finished_rows, settings_record
from perovcalc.segregation import ROOM_K, SYNTHESIS_K, fraction_below
from perovcalc.store import unconverged

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = ROOT / "workflows" / "k_depth.toml"
OUTPUT = ROOT / "reference" / "computed_k_depth.csv"
SOURCE = "computed with perovcalc (workflows/k_depth.toml, python workflows/k_depth.py)"
COLUMNS = [
    "quantity", "model", "level", "site_index", "site_depth_A", "multiplicity",
    "value_eV", "shift_from_highest_eV", "share_below_453K", "share_below_298K", "atoms",
    "relaxation",
    *SETTINGS_COLUMNS,
]  # fmt: skip


HEADER = (
    "# Where K sits, computed with perovcalc (workflows/k_depth.toml, workflows/k_depth.py):\n"
    "# K segregation energies between relaxed (001) CsPbBr3 slabs with the same atoms (K on the\n"
    "# outer A sites or one CsX layer down, 1x1 models moving a whole layer of K; or an excess K\n"
    "# on top of a surface Br or interstitial below the surface), per K moved, with the\n"
    "# equilibrium share of K below the surface (dilute, as many sites below as at the surface),\n"
    "# and Delta-SCF E_hole - E_ground per distinct core-level site. Energies in eV; tag C.\n"
    "# Hosts relaxed with BFGS, or on the Gaussian-process surrogate where marked (surrogate).\n"
)


def _relaxation(*rows) -> str:
    """ "converged", or "UNCONVERGED" when a relaxation stopped at its step limit; marked
    "(surrogate)" where one relaxed on the surrogate."""
    state = "UNCONVERGED" if any(unconverged(row) for row in rows) else "converged"
    methods = {row.data["result"].get("method") for row in rows}
    return f"{state} (surrogate)" if "surrogate" in methods else state


def records(campaign, db) -> list[dict]:
    done = finished_rows(campaign, db)
    out = []
    for model, rows in sorted(
        k_site_pairs([(campaign.tasks[n], r) for n, r in done.items()]).items()
    ):
        surface, below = rows["surface"], rows["below"]
        energy = pair_segregation_energy(rows)
        row = {"quantity": "K segregation energy E(below) - E(surface) per K moved",
               "model": model, "atoms": below.natoms, "relaxation": _relaxation(surface, below),
               **settings_record(below, SOURCE)}  # fmt: skip
        if energy is None:  # relaxed, no K of "below" sits below the surface
            row["quantity"] = "E(below) - E(surface) per slab, no K below after relaxation"
            row["value_eV"] = round(below.energy - surface.energy, 4)
        else:
            row.update({"value_eV": round(energy, 4),
                        "share_below_453K": f"{fraction_below(energy, SYNTHESIS_K):.3g}",
                        "share_below_298K": f"{fraction_below(energy, ROOM_K):.3g}"})  # fmt: skip
        out.append(row)
    for name, row in done.items():
        task = campaign.tasks[name]
        if task.kind != "core_levels":
            continue
        result = CoreLevelsResult.from_dict(row.data["result"])
        atoms = row.toatoms()
        host = done.get((task.structure or "").removeprefix("task:"))
        for label, level in result.levels.items():
            if not level.delta_scf:
                continue
            highest = max(level.delta_scf.values())
            for site in level.sites:
                value = level.delta_scf[str(site)]
                out.append({
                    "quantity": "Delta-SCF E_hole - E_ground", "model": task.labels.get("model"),
                    "level": label, "site_index": site,
                    "site_depth_A": round(level.site_depth[str(site)], 3),
                    "multiplicity": level.multiplicity[str(site)],
                    "value_eV": round(value, 4),
                    "shift_from_highest_eV": round(value - highest, 4), "atoms": len(atoms),
                    "relaxation": "" if host is None else _relaxation(host),
                    **settings_record(row, SOURCE),
                })  # fmt: skip
    return out


if __name__ == "__main__":
    key = ["quantity", "model", "level", "site_index"]
    csv_command(__doc__, CAMPAIGN, OUTPUT, records, COLUMNS, HEADER, key)
