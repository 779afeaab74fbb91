"""Delta-SCF final state with and without spin polarisation: the shifts it changes.

    python workflows/corelevel_spin.py [--output CSV] [--ecut 250]

Model: a five-layer 1x1 K-Br passivated CsPbBr3 (001) slab (KBr/PbBr2/CsBr/PbBr2/KBr,
unrelaxed, a = 5.874 A) in which the central Cs is replaced by K, so that K sits at two depths.
For Br 3d (outer KBr layer vs the first PbBr2 layer) and K 2p (outer vs central layer) the
surface-minus-subsurface Delta-SCF shift is computed with the final state spin-restricted and
spin-polarised (1 Bohr magneton started on the ionised atom). Energies in eV. Default output:
reference/computed_corelevel_spin.csv (tagged C, computed; settings in the columns).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from perovcalc.corelevel import delta_scf_shifts
from perovcalc.slab import perovskite_slab

OUTPUT = Path(__file__).resolve().parent.parent / "reference" / "computed_corelevel_spin.csv"
A = 5.874  # A, cubic CsPbBr3
HEADER = (
    "# Delta-SCF surface-minus-subsurface shifts with a spin-restricted and a spin-polarised\n"
    "# final state, computed with perovcalc (python workflows/corelevel_spin.py): five-layer 1x1\n"
    "# K-Br passivated CsPbBr3 (001) slab with the central Cs replaced by K, unrelaxed,\n"
    "# a = 5.874 A, no dipole layer, moment free (1 Bohr magneton started on the hole atom).\n"
    "# Energies in eV; tag C (computed).\n"
)


def slab_with_k_at_two_depths():
    """The model and its sites: {level: (surface index, subsurface index)}."""
    atoms = perovskite_slab(x=3, termination="CsX", layers=5, passivation="KBr", vacuum=8.0, a=A)
    z = atoms.positions[:, 2]
    centre = (z.min() + z.max()) / 2
    (central_cs,) = [
        a.index for a in atoms if a.symbol == "Cs" and abs(a.position[2] - centre) < 0.1
    ]
    atoms[central_cs].symbol = "K"
    top = z.max()
    outer_k = next(a.index for a in atoms if a.symbol == "K" and abs(a.position[2] - top) < 0.1)
    outer_br = next(a.index for a in atoms if a.symbol == "Br" and abs(a.position[2] - top) < 0.1)
    below = sorted({round(p, 3) for p in z if p < top - 0.1})[-1]  # the first PbBr2 layer
    sub_br = next(a.index for a in atoms if a.symbol == "Br" and abs(a.position[2] - below) < 0.1)
    return atoms, {"Br 3d": (outer_br, sub_br), "K 2p": (outer_k, central_cs)}


def params(ecut: float, txt: Path) -> dict:
    return {
        "mode": {"name": "pw", "ecut": ecut},
        "xc": "PBE",
        "kpts": {"size": (2, 2, 1), "gamma": True},
        "occupations": {"name": "fermi-dirac", "width": 0.05},
        "convergence": {"energy": 1e-5, "density": 1e-5},
        "txt": str(txt),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--ecut", type=float, default=250.0, help="plane-wave cutoff, eV")
    parser.add_argument("--logs", type=Path, default=Path("results/corelevel_spin"))
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    atoms, sites = slab_with_k_at_two_depths()
    rows = []
    for label, (surface, subsurface) in sites.items():
        element, level = label.split()
        shifts = {}
        for spin in (False, True):
            result = delta_scf_shifts(
                atoms,
                [surface, subsurface],
                reference_index=subsurface,
                element=element,
                level=level,
                params=params(args.ecut, args.logs / f"{element}-spin{int(spin)}.txt"),
                spin=spin,
            )
            shifts[spin] = result
        row = {
            "level": label,
            "surface_index": surface,
            "subsurface_index": subsurface,
            "shift_restricted_eV": f"{shifts[False].shifts[surface]:.4f}",
            "shift_spin_polarised_eV": f"{shifts[True].shifts[surface]:.4f}",
            "spin_minus_restricted_eV": (
                f"{shifts[True].shifts[surface] - shifts[False].shifts[surface]:.4f}"
            ),
            "e_hole_surface_restricted_eV": f"{shifts[False].values[surface]:.4f}",
            "e_hole_surface_spin_eV": f"{shifts[True].values[surface]:.4f}",
            "e_hole_subsurface_restricted_eV": f"{shifts[False].values[subsurface]:.4f}",
            "e_hole_subsurface_spin_eV": f"{shifts[True].values[subsurface]:.4f}",
            "xc": "PBE",
            "mode": f"pw {args.ecut:g} eV",
            "kpts": "2x2x1 gamma",
            "gpaw_version": shifts[True].gpaw_version,
            "setup": shifts[True].setup_name,
            "source": "computed with perovcalc (workflows/corelevel_spin.py)",
            "tag": "C",
        }
        rows.append(row)
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    with args.output.open("w", newline="") as handle:
        handle.write(HEADER)
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
