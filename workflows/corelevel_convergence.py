"""Run (or resume) workflows/corelevel_convergence.toml and write its table to reference/.

    python workflows/corelevel_convergence.py [--ranks N] [--output CSV]

Per in-plane cell: the Br 3d Delta-SCF binding energies (E_hole - E_ground, eV) of the
outer-layer and the subsurface Br, their difference (the shift, eV), the same difference in
the initial-state approximation, the core-hole separation (the in-plane cell edge, A) and the
settings, tagged C (computed). Default output: reference/computed_corelevel_convergence.csv.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from perovcalc.campaign import load_campaign
from perovcalc.corelevel import image_extrapolation
from perovcalc.results import finished_rows
from perovcalc.runner import default_workdir, run_campaign

HERE = Path(__file__).resolve().parent
CAMPAIGN = HERE / "corelevel_convergence.toml"
OUTPUT = HERE.parent / "reference" / "computed_corelevel_convergence.csv"
LEVEL = "Br 3d"
HEADER = (
    "# Cell-size convergence of a Delta-SCF core-level shift, computed with perovcalc\n"
    "# (python workflows/corelevel_convergence.py): Br 3d, outer-layer minus subsurface Br of a\n"
    "# three-layer CsBr-terminated CsPbBr3 (001) slab, unrelaxed, a = 5.97 A; only the in-plane\n"
    "# cell (the core-hole image separation) changes. Energies in eV, lengths in A.\n"
)


def rows_of(campaign, db: str) -> list[dict]:
    """One table row per finished core_levels task of ``campaign``."""
    table = []
    for name, row in finished_rows(campaign, db).items():
        structure = campaign.structures[campaign.tasks[name].structure]
        repeat = structure.args.get("repeat", [1, 1])
        entry = row.data["result"]["levels"][LEVEL]
        depth = {int(i): d for i, d in entry["site_depth"].items()}
        surface, subsurface = sorted(depth, key=depth.get)[:2]
        delta = {int(i): e for i, e in entry["delta_scf"].items()}
        initial = {int(i): e for i, e in entry["initial_state"].items()}
        table.append(
            {
                "task": name,
                "in_plane_cell": "x".join(map(str, repeat)),
                "hole_separation_A": f"{np.linalg.norm(row.cell[0]):.3f}",
                "atoms": row.natoms,
                "surface_site_depth_A": f"{depth[surface]:.3f}",
                "subsurface_site_depth_A": f"{depth[subsurface]:.3f}",
                "delta_scf_surface_eV": f"{delta[surface]:.4f}",
                "delta_scf_subsurface_eV": f"{delta[subsurface]:.4f}",
                "shift_delta_scf_eV": f"{delta[surface] - delta[subsurface]:.4f}",
                "shift_initial_state_eV": f"{initial[surface] - initial[subsurface]:.4f}",
                "preset": row.get("preset"),
                "xc": row.get("xc"),
                "ecut_eV": row.get("ecut"),
                "kpts": row.get("kpts"),
                "gpaw_version": row.get("gpaw_version"),
                "source": "computed with perovcalc (workflows/corelevel_convergence.py)",
                "tag": "C",
            }
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks per task")
    parser.add_argument("--output", default=str(OUTPUT), help="CSV file to write")
    args = parser.parse_args()
    campaign = load_campaign(CAMPAIGN)
    db = str(default_workdir(campaign) / "results.db")
    summary = run_campaign(campaign, db, args.ranks)
    table = rows_of(campaign, db)
    with open(args.output, "w", newline="") as handle:
        handle.write(HEADER)
        writer = csv.DictWriter(handle, list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    for line in table:
        print(
            f"{line['in_plane_cell']:>5} ({line['atoms']} atoms, holes {line['hole_separation_A']}"
            f" A apart): Br 3d surface - subsurface {line['shift_delta_scf_eV']} eV (Delta-SCF),"
            f" {line['shift_initial_state_eV']} eV (initial state)"
        )
    if len(table) > 1:
        lengths = [float(line["hole_separation_A"]) for line in table]
        fit = image_extrapolation(lengths, [float(line["shift_delta_scf_eV"]) for line in table])
        print(f"1/L extrapolation: {fit.shift:+.4f} eV for isolated holes; image error of the "
              f"largest cell {fit.error(max(lengths)):.4f} eV")  # fmt: skip
    print(f"wrote {args.output}" + ("" if summary.ok else " (some tasks did not finish)"))


if __name__ == "__main__":
    main()
