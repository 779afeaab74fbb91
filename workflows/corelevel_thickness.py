"""Slab-thickness check of the central-layer reference of Delta-SCF core-level shifts.

    python workflows/corelevel_thickness.py [--output CSV] [--ecut 250] [--level "Pb 4f"]

Model: bare CsBr-terminated 1x1 CsPbBr3 (001) slabs of five and seven layers, unrelaxed, 8 A
vacuum, demo preset with the plane-wave cutoff lowered to ``--ecut`` (the settings of
tests/test_corelevel_reference.py). Per slab and distinct site of the level: the Delta-SCF
shift against the slab's central-layer reference (perovcalc.corelevel.central_site), eV.
In a five-layer slab the Pb nearest the mid-plane is the subsurface Pb, so its subsurface shift
is 0 by construction; the seven-layer slab's subsurface-minus-central shift tells whether that
reference is bulk-like. Default output: reference/computed_corelevel_thickness.csv (tag C).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from perovcalc.corelevel import central_site, delta_scf_shifts
from perovcalc.presets import gpaw_parameters
from perovcalc.slab import perovskite_slab

OUTPUT = Path(__file__).resolve().parent.parent / "reference" / "computed_corelevel_thickness.csv"
HEADER = (
    "# Delta-SCF core-level shifts against the central-layer reference site in five- and\n"
    "# seven-layer bare CsBr-terminated 1x1 CsPbBr3 (001) slabs, computed with perovcalc\n"
    "# (python workflows/corelevel_thickness.py): unrelaxed, 8 A vacuum, demo preset with a\n"
    "# lowered cutoff. Energies in eV, depths in A below the nearer surface; tag C (computed).\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--ecut", type=float, default=250.0, help="plane-wave cutoff, eV")
    parser.add_argument("--level", default="Pb 4f", help="core level, e.g. 'Pb 4f'")
    parser.add_argument("--logs", type=Path, default=Path("results/corelevel_thickness"))
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    element, level = args.level.split()
    rows = []
    for layers in (5, 7):
        atoms = perovskite_slab(x=3, layers=layers, vacuum=8.0)
        overrides = {
            "mode": {"name": "pw", "ecut": args.ecut},
            "txt": str(args.logs / f"{layers}.txt"),
        }
        params = gpaw_parameters(atoms, overrides=overrides)
        reference = central_site(atoms, element)
        result = delta_scf_shifts(
            atoms, reference_index=reference, element=element, level=level, params=params
        )
        z = atoms.positions[:, 2]
        depth = np.minimum(z.max() - z, z - z.min())  # below the nearer surface
        for site, shift in result.shifts.items():
            rows.append(
                {
                    "layers": layers,
                    "level": args.level,
                    "site": site,
                    "site_depth_A": f"{depth[site]:.3f}",
                    "reference_site": reference,
                    "reference_depth_A": f"{depth[reference]:.3f}",
                    "shift_vs_central_eV": f"{shift:.4f}",
                    "e_hole_eV": f"{result.values[site]:.4f}",
                    "xc": params["xc"],
                    "mode": f"pw {args.ecut:g} eV",
                    "kpts": "x".join(map(str, params["kpts"]["size"])),
                    "gpaw_version": result.gpaw_version,
                    "setup": result.setup_name,
                    "source": "computed with perovcalc (workflows/corelevel_thickness.py)",
                    "tag": "C",
                }
            )
            print(", ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    with args.output.open("w", newline="") as handle:
        handle.write(HEADER)
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
