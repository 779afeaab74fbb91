"""Rows of reference/computed_vacancy_thickness.csv from a finished vacancy_thickness campaign.

    perovcalc run workflows/vacancy_thickness.toml
    python workflows/vacancy_thickness.py [--db DB] [--output CSV]

One row per neutral outer-layer V_Br of a bare slab (three, five, seven layers) and one for the
neutral bulk V_Br: E_f at the Br-rich and Br-poor limits (eV, E_F at the VBM), the slab's gap
and its CBM offset from the bulk (eV, aligned through the electrostatic potential,
:func:`perovcalc.band_alignment.conduction_band_offset`; blank for slabs too thin to align) and
E_f with the bulk CBM (E_f minus that offset). Settings of each row in its columns.
Default output: reference/computed_vacancy_thickness.csv (tag C).
"""

from __future__ import annotations

from pathlib import Path

from perovcalc.band_alignment import conduction_band_offset
from perovcalc.errors import InputError
from perovcalc.results import SETTINGS_COLUMNS, csv_command, finished_rows, settings_record
from perovcalc.store import unconverged

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = ROOT / "workflows" / "vacancy_thickness.toml"
OUTPUT = ROOT / "reference" / "computed_vacancy_thickness.csv"
SOURCE = "computed with perovcalc (workflows/vacancy_thickness.toml and vacancy_thickness.py)"
TASKS = ("vacancy_bare", "vacancy_outer_5l", "vacancy_outer_7l", "vacancy_bulk")
COLUMNS = [
    "task", "environment", "layers", "atoms", "site", "E_f_Br_rich_eV", "E_f_Br_poor_eV",
    "gap_eV", "cbm_offset_eV", "E_f_bulk_cbm_Br_rich_eV", "E_f_bulk_cbm_Br_poor_eV",
    "relaxation", *SETTINGS_COLUMNS,
]  # fmt: skip
HEADER = (
    "# Neutral outer-layer V_Br of bare (001) CsPbBr3 1x1 slabs against slab thickness, and the\n"
    "# neutral bulk V_Br (5-atom cell), demo preset, E_F at the VBM, computed with perovcalc\n"
    "# (workflows/vacancy_thickness.toml, workflows/vacancy_thickness.py). cbm_offset: slab CBM\n"
    "# minus bulk CBM aligned through the electrostatic potential of the slab's middle (blank:\n"
    "# three layers, too thin); E_f_bulk_cbm = E_f - cbm_offset (V_Br^0 is a shallow donor, its\n"
    "# electron at the CBM). Energies in eV; tag C.\n"
)


def records(campaign, db) -> list[dict]:
    done = finished_rows(campaign, db)

    def host(name):
        return done.get(campaign.tasks[name].structure.removeprefix("task:"))

    bulk = host("vacancy_bulk") if "vacancy_bulk" in done else None
    out = []
    for name in TASKS:
        if name not in done:
            continue
        row, slab_host = done[name], host(name)
        result = row.data["result"]
        layers = (result["host"].get("slab") or {}).get("layers")
        offset = None
        if layers and bulk is not None:
            try:
                offset = conduction_band_offset(slab_host.toatoms(), slab_host.data["result"],
                                                bulk.toatoms(), bulk.data["result"])  # fmt: skip
            except InputError:  # too thin to align
                offset = None
        for e in result["entries"]:
            if e["charge"] or (layers and e["layer_from_surface"] != 0):
                continue
            f = e["formation_energy"]
            aligned = {c: "" if offset is None else round(f[c] - offset, 4) for c in f}
            out.append({
                "task": name, "environment": result["environment"], "layers": layers or "",
                "atoms": row.natoms, "site": e["site"],
                "E_f_Br_rich_eV": round(f["rich"], 4), "E_f_Br_poor_eV": round(f["poor"], 4),
                "gap_eV": round(slab_host.data["result"]["gap"], 4),
                "cbm_offset_eV": "" if offset is None else round(offset, 4),
                "E_f_bulk_cbm_Br_rich_eV": aligned["rich"] if layers else "",
                "E_f_bulk_cbm_Br_poor_eV": aligned["poor"] if layers else "",
                "relaxation": "UNCONVERGED" if unconverged(row) or not e["converged"]
                else "converged",
                **settings_record(row, SOURCE),
            })  # fmt: skip
    return out


if __name__ == "__main__":
    csv_command(__doc__, CAMPAIGN, OUTPUT, records, COLUMNS, HEADER)
