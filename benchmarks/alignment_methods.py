"""Planar against atomic-site potential alignment of the V_Br+ finite-size correction.

Cubic CsPbBr3 (a = 5.874 A) in an n x n x n supercell, host and unrelaxed V_Br+ (one Br taken
out), single points at the demo preset (perovcalc.presets.gpaw_parameters); the Freysoldt
correction of :func:`perovcalc.formation.freysoldt_correction` with the planar alignment (the
toolkit's default, from planar averages) and the atomic-site one (3D potentials averaged around
the host atom farthest from the vacancy, gpaw.defects' "atoms"), at the dielectric constant and
the ends of its range (reference/dielectric_constants.csv). Printed: both corrections, their
parts and the wall time. 2x2x2 (40 atoms): about 10-20 min on 2 cores; 3x3x3: hours.

    python benchmarks/alignment_methods.py [--supercell 2] [--json out.json]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supercell", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
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
    result = {"supercell": args.supercell, "atoms": len(host), "corrections": {}}
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


if __name__ == "__main__":
    main()
