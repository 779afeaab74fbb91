"""Planar against atomic-site potential alignment of the V_Br+ finite-size correction.

Cubic CsPbBr3 (a = 5.874 A) in an n x n x n supercell, host and unrelaxed V_Br+ (one Br taken
out), single points at the demo preset (perovcalc.presets.gpaw_parameters); the Freysoldt
correction of :func:`perovcalc.formation.freysoldt_correction` with the planar alignment (the
toolkit's default, from planar averages) and the atomic-site one (3D potentials averaged around
the host atom farthest from the vacancy, gpaw.defects' "atoms"), at the dielectric constant and
the ends of its range (reference/dielectric_constants.csv). Printed: both corrections, their
parts and the wall time. 2x2x2 (40 atoms): about 15 min on one core; 3x3x3: hours.
``--csv`` writes the rows of reference/computed_alignment_methods.csv (``--from-json``: from
the JSON of an earlier run, without computing).

    python benchmarks/alignment_methods.py [--supercell 2] [--json out.json] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from perovcalc.bulk import cubic_perovskite
from perovcalc.calculate import make_calculator
from perovcalc.formation import dielectric_constant, freysoldt_correction
from perovcalc.presets import gpaw_parameters
from perovcalc.vacancy import remove_atom

SOURCE = "computed with perovcalc (python benchmarks/alignment_methods.py --csv)"


def write_csv(path: Path, result: dict) -> None:
    """One row per (epsilon, alignment) of a run's ``result``, its settings as comments."""
    import csv

    corrections = result["corrections"]
    head = [
        "Freysoldt correction of V_Br+ in cubic CsPbBr3 (a = 5.874 A, unrelaxed, one Br "
        f"removed) in a {result['supercell']}x{result['supercell']}x{result['supercell']} "
        f"supercell ({result['atoms']}-atom host), demo preset (PW {result['ecut']} eV, PBE), "
        f"GPAW {result['gpaw_version']}, computed with benchmarks/alignment_methods.py: planar "
        "alignment (planar averages, the toolkit's default) against atomic-site alignment "
        "(3D potential averaged around the host atom farthest from the vacancy, Kumagai and "
        "Oba, PRB 89, 195205 (2014)) at the dielectric constant and the ends of its range "
        "(reference/dielectric_constants.csv).",
        "E_corr = lattice - q x alignment (eV); alignment in V; tag C (computed).",
        "Atomic-site minus planar E_corr: "
        + ", ".join(
            f"{c['energy'] - corrections[name.replace('atomic-site', 'planar')]['energy']:+.3f} eV "
            f"at epsilon {name.split('epsilon ')[1]}"
            for name, c in corrections.items()
            if name.startswith("atomic-site")
        )
        + ": a lower bound on the finite-size uncertainty of a corrected E_f(V_Br+) in this cell.",
    ]
    with path.open("w", newline="") as handle:
        for line in head:
            handle.write(f"# {line}\n")
        writer = csv.writer(handle)
        writer.writerow(["supercell", "host_atoms", "epsilon", "alignment_method", "E_corr_eV",
                         "lattice_eV", "alignment_V", "preset", "gpaw_version", "source",
                         "tag"])  # fmt: skip
        for name, c in result["corrections"].items():
            method, eps = name.split(", epsilon ")
            writer.writerow([result["supercell"], result["atoms"], eps, method,
                             f"{c['energy']:.4f}", f"{c['lattice']:.4f}",
                             f"{c['alignment']:.4f}", "demo", result["gpaw_version"], SOURCE,
                             "C"])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supercell", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--csv", type=Path, help="also write the rows as CSV here")
    parser.add_argument("--from-json", type=Path, help="the JSON of an earlier run: CSV only")
    args = parser.parse_args()
    if args.from_json:
        write_csv(args.csv, json.loads(args.from_json.read_text()))
        return
    start = time.perf_counter()
    host = cubic_perovskite(5.874, "Br").repeat([args.supercell] * 3)
    site = next(a.index for a in host if a.symbol == "Br")
    defect = remove_atom(host, site)
    potentials = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, atoms, charge in (("host", host, 0), ("defect", defect, 1)):
            atoms.calc = make_calculator(
                gpaw_parameters(atoms, "demo", charge), Path(folder) / f"{name}.txt"
            )
            atoms.get_potential_energy()
            potentials[name] = atoms.calc.get_electrostatic_potential()
    epsilon, ends = dielectric_constant("CsPbBr3")
    import gpaw

    result = {
        "supercell": args.supercell,
        "atoms": len(host),
        "ecut": gpaw_parameters(host, "demo", 0)["mode"]["ecut"],
        "gpaw_version": gpaw.__version__,
        "corrections": {},
    }
    for eps in (epsilon, *ends):
        for alignment in ("planar", "atomic-site"):
            correction = freysoldt_correction(
                host.cell, potentials["host"], potentials["defect"], host.positions[site], 1, eps,
                alignment=alignment, host=host,
            )  # fmt: skip
            result["corrections"][f"{alignment}, epsilon {eps:g}"] = asdict(correction)
            print(
                f"epsilon {eps:>4g} {alignment:<12} E_corr {correction.energy:+.4f} eV "
                f"(lattice {correction.lattice:+.4f}, alignment {correction.alignment:+.4f} V)"
            )
    result["wall_s"] = time.perf_counter() - start
    print(f"{len(host)}-atom host, demo preset: {result['wall_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.csv:
        write_csv(args.csv, result)


if __name__ == "__main__":
    main()
