"""Spin-orbit coupling: the CsPbBr3 band edges and the formation enthalpies of PbBr2 and CsPbBr3.

    python workflows/soc_shifts.py [--output CSV] [--ecut 300] [--kpts 6]

Each phase is computed once with PBE (scalar-relativistic, no SOC) at its experimental
structure, unrelaxed: cubic CsPbBr3 at a = 5.874 A, cotunnite PbBr2 and the elements (fcc Pb,
bcc Cs, Br2 in a 10 A box) from perovcalc.bulk.phase_structure. SOC is then added
non-self-consistently (perovcalc.spinorbit): band edges and gap of CsPbBr3 over its k-grid and
its time-reversal-invariant points (R among them), and the SOC change of every phase's energy
(band energy at fixed density), hence of the formation enthalpies. The structures are not
relaxed, so the enthalpies themselves are rough; their SOC change is the result. Energies in eV.
Default output: reference/computed_soc.csv (tag C, settings in the columns).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from perovcalc.bulk import cubic_perovskite, phase_structure
from perovcalc.calculate import read_checkpoint, write_checkpoint
from perovcalc.formation import formula_units
from perovcalc.results import write_csv
from perovcalc.spinorbit import soc_band_edges, soc_energy_correction

OUTPUT = Path(__file__).resolve().parent.parent / "reference" / "computed_soc.csv"
A = 5.874  # A, cubic CsPbBr3 (experiment, > 403 K)
HEADER = (
    "# Spin-orbit coupling added non-self-consistently (gpaw.spinorbit) to PBE, computed with\n"
    "# perovcalc (python workflows/soc_shifts.py): band edges and gap of cubic CsPbBr3 at\n"
    "# a = 5.874 A over its k-grid and the TRIM points (the edges are at R), and the SOC change\n"
    "# of the formation enthalpies of PbBr2 and CsPbBr3 from the elements (fcc Pb, bcc Cs, Br2\n"
    "# molecule), per formula unit, from the band-energy change at fixed density. Structures\n"
    "# unrelaxed (experimental cells; Br2 at twice the covalent radius), so the enthalpies are\n"
    "# rough; the SOC change is the result. Energies in eV; tag C (computed).\n"
)
#: Phase -> (k-point grid or None for the CLI's --kpts, smearing width eV).
PHASES = {
    "CsPbBr3": (None, 0.05),
    "PbBr2": ((2, 3, 2), 0.05),
    "Pb": ((12, 12, 12), 0.1),
    "Cs": ((8, 8, 8), 0.1),
    "Br2": ((1, 1, 1), 0.05),
}


def params(ecut: float, kpts, width: float, txt: Path) -> dict:
    return {
        "mode": {"name": "pw", "ecut": ecut},
        "xc": "PBE",
        "kpts": {"size": kpts, "gamma": True},
        "occupations": {"name": "fermi-dirac", "width": width},
        "convergence": {"energy": 1e-5, "density": 1e-5},
        "txt": str(txt),
    }


def compute(phase: str, ecut: float, kpts, width: float, logs: Path) -> dict:
    """PBE energy, SOC energy change (eV) and, for CsPbBr3, band edges of one phase."""
    from gpaw import GPAW

    atoms = cubic_perovskite(A, "Br") if phase == "CsPbBr3" else phase_structure(phase, box=10.0)
    atoms.calc = GPAW(**params(ecut, kpts, width, logs / f"{phase}.txt"))
    energy = atoms.get_potential_energy()
    formula, units = formula_units(atoms)
    result = {
        "formula": formula,
        "units": units,
        "atoms": len(atoms),
        "kpts": "x".join(map(str, kpts)),
        "energy": energy,
        "soc": soc_energy_correction(atoms),
    }
    if phase == "CsPbBr3":
        result["edges"] = soc_band_edges(atoms, logs / f"{phase}-edges.txt")
    print(phase, result, flush=True)
    return result


def main() -> None:
    import gpaw

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--ecut", type=float, default=300.0, help="plane-wave cutoff, eV")
    parser.add_argument("--kpts", type=int, default=6, help="CsPbBr3 k-grid n x n x n")
    parser.add_argument("--logs", type=Path, default=Path("results/soc_shifts"))
    parser.add_argument(
        "--phases", nargs="+", default=list(PHASES), choices=list(PHASES), help="to compute now"
    )
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    checkpoint = args.logs / f"phases-{args.ecut:g}-k{args.kpts}.json"
    for phase in args.phases:
        kpts, width = PHASES[phase]
        if phase not in read_checkpoint(checkpoint):
            result = compute(phase, args.ecut, kpts or (args.kpts,) * 3, width, args.logs)
            write_checkpoint(checkpoint, {**read_checkpoint(checkpoint), phase: result})
    done = read_checkpoint(checkpoint)
    missing = [phase for phase in PHASES if phase not in done]
    if "CsPbBr3" in missing:
        print(f"phases still to compute: {missing}")
        return

    def per_unit(phase: str, soc: bool) -> float:
        r = done[phase]
        return (r["energy"] + (r["soc"] if soc else 0.0)) / r["units"]

    def per_atom(element: str, soc: bool) -> float:
        r = done["Br2" if element == "Br" else element]
        return (r["energy"] + (r["soc"] if soc else 0.0)) / r["atoms"]

    common = {"xc": "PBE", "ecut_eV": f"{args.ecut:g}", "gpaw_version": gpaw.__version__}
    source = "computed with perovcalc (workflows/soc_shifts.py)"
    rows = []

    def add(material, quantity, phases, no_soc, with_soc):
        rows.append(
            {
                "material": material,
                "quantity": quantity,
                "value_no_soc_eV": f"{no_soc:.4f}",
                "value_soc_eV": f"{with_soc:.4f}",
                "soc_change_eV": f"{with_soc - no_soc:.4f}",
                "cells": "; ".join(
                    f"{p} {done[p]['atoms']} atoms k {done[p]['kpts']}" for p in phases
                ),
                **common,
                "source": source,
                "tag": "C",
            }
        )

    edges = done["CsPbBr3"]["edges"]
    for key, name in (("vbm", "VBM"), ("cbm", "CBM"), ("gap", "band gap")):
        add("CsPbBr3", f"{name} (at R)", ["CsPbBr3"], edges[f"{key}_no_soc"], edges[key])
    for phase in done:
        r = done[phase]
        add(phase, "SOC energy per atom", [phase], 0.0, r["soc"] / r["atoms"])
    for compound, elements in (
        ("PbBr2", {"Pb": 1, "Br": 2}),
        ("CsPbBr3", {"Cs": 1, "Pb": 1, "Br": 3}),
    ):
        phases = [compound, *("Br2" if el == "Br" else el for el in elements)]
        if set(phases) & set(missing):
            continue
        values = [
            per_unit(compound, soc) - sum(n * per_atom(el, soc) for el, n in elements.items())
            for soc in (False, True)
        ]
        add(compound, "formation enthalpy per formula unit", phases, *values)
    header = HEADER
    if missing:
        header += f"# Not computed (too slow on a 2-core machine): {', '.join(missing)}.\n"
    write_csv(list(rows[0]), rows, args.output, header)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
