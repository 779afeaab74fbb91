"""Rows of reference/computed_stability_region.csv: the CsPbBr3 region with and without Cs4PbBr6.

    perovcalc run workflows/kbr_passivation_more.toml --only mu mu_cs4pbbr6
    python workflows/stability_region.py [--db DB] [--output CSV]

One row per chemical_potentials task of the main job's CsPbBr3 (``mu``: CsBr, PbBr2 and the
elements; ``mu_cs4pbbr6``: the same and Cs4PbBr6) and element: its chemical potential at the
element-rich and element-poor points of the stability region (eV, absolute, as the vacancy
formation energies use them), the competing phases and the energy of Cs4PbBr6 against
3 CsBr + CsPbBr3 (eV per formula unit; negative: stable against them). Settings in the columns.
Default output: reference/computed_stability_region.csv (tag C).
"""

from __future__ import annotations

from pathlib import Path

from perovcalc.results import SETTINGS_COLUMNS, csv_command, finished_rows, settings_record

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = ROOT / "workflows" / "kbr_passivation_more.toml"
OUTPUT = ROOT / "reference" / "computed_stability_region.csv"
SOURCE = "computed with perovcalc (workflows/kbr_passivation_more.toml and stability_region.py)"
TASKS = ("mu", "mu_cs4pbbr6")
COLUMNS = [
    "task", "host", "phases", "element", "mu_rich_eV", "mu_poor_eV",
    "cs4pbbr6_vs_csbr_host_eV", *SETTINGS_COLUMNS,
]  # fmt: skip
HEADER = (
    "# Stability region of cubic CsPbBr3 (the main job's relaxed 5-atom cell) at the demo preset,\n"
    "# without and with Cs4PbBr6 (K4CdCl6 type, positions relaxed at its tabulated cell; start\n"
    "# coordinates tag M), computed with perovcalc (pymatgen chemical-potential diagram). mu at\n"
    "# the element-rich and -poor points of the region, absolute (eV per atom, the elemental\n"
    "# references included); cs4pbbr6_vs_csbr_host: E(Cs4PbBr6) - 3 E(CsBr) - E(CsPbBr3) per\n"
    "# formula unit (eV). PbBr2 at its tabulated structure, not relaxed (the main job's choice);\n"
    "# k-points of each phase from the preset's density. CsPb2Br5, the Pb-rich bound, is not\n"
    "# included. Tag C.\n"
)


def records(campaign, db) -> list[dict]:
    done = finished_rows(campaign, db)
    per_unit = {name: done[name].energy / (done[name].natoms / size)
                for name, size in (("cs4pbbr6", 11), ("csbr", 2), ("lattice_x3", 5))
                if name in done}  # fmt: skip
    against = ""
    if len(per_unit) == 3:
        against = per_unit["cs4pbbr6"] - 3 * per_unit["csbr"] - per_unit["lattice_x3"]
        against = round(against, 4)
    out = []
    for name in TASKS:
        if name not in done:
            continue
        row, task = done[name], campaign.tasks[name]
        result = row.data["result"]
        phases = " ".join(sorted(p["formula"] for p in result["phases"].values()))
        settings = {**settings_record(done[task.needs[0]], SOURCE), "kpts": "per phase"}
        for element, limits in result["limits"].items():
            out.append({
                "task": name, "host": result["region"]["host"], "phases": phases,
                "element": element, "mu_rich_eV": round(limits["rich"], 4),
                "mu_poor_eV": round(limits["poor"], 4),
                "cs4pbbr6_vs_csbr_host_eV": against if name == "mu_cs4pbbr6" else "",
                **settings,
            })  # fmt: skip
    return out


if __name__ == "__main__":
    csv_command(__doc__, CAMPAIGN, OUTPUT, records, COLUMNS, HEADER)
