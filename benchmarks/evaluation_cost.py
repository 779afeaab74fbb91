"""Wall time and memory of one DFT energy+forces evaluation of the barrier campaign's models.

    python benchmarks/evaluation_cost.py [--model slab_kbr] [--preset demo]

Models (workflows/migration_barriers.toml): ``slab_bare`` and ``slab_kbr`` are the 2x2
five-layer CsBr-terminated CsPbBr3 (001) slabs (bare / K-Br passivated, 12 A vacuum) with the
outer-layer Br removed; ``bulk`` is the 2x2x2 CsPbBr3 supercell with one Br removed (neutral:
odd electron count, spin-polarised). One SCF from scratch plus forces, GPAW settings from the
preset (as a barrier task would use them), on however many MPI ranks it is started with.
Prints the settings, atoms, electrons, k-points, SCF iterations, wall and CPU time (s) and
peak memory (MiB); a band costs that times its DFT evaluations.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from perovcalc.alloy import mixed_halide_supercell
from perovcalc.calculate import make_calculator
from perovcalc.presets import gpaw_parameters, valence_electrons
from perovcalc.slab import perovskite_slab
from perovcalc.vacancy import remove_atom


def model(name: str):
    """The defect cell called ``name`` (see the module docstring)."""
    if name == "bulk":
        host = mixed_halide_supercell(x=3, supercell=[2, 2, 2])
        index = next(a.index for a in host if a.symbol == "Br")
    else:
        host = perovskite_slab(
            x=3, layers=5, repeat=(2, 2), vacuum=12.0, fix_layers=1,
            passivation="KBr" if name == "slab_kbr" else None,
        )  # fmt: skip
        top = host.positions[:, 2].max()
        index = next(a.index for a in host if a.symbol == "Br" and top - a.position[2] < 0.1)
    return remove_atom(host, index)


def iterations(calc) -> str:
    """SCF iterations of the last calculation, where the calculator says."""
    get = getattr(calc, "get_number_of_iterations", None)
    return str(get()) if get else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("slab_bare", "slab_kbr", "bulk"), default="slab_kbr")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--txt", default="evaluation_cost.txt", help="GPAW log file")
    args = parser.parse_args()
    atoms = model(args.model)
    params = gpaw_parameters(atoms, args.preset)
    atoms.calc = make_calculator(params, txt=args.txt)
    start, cpu_start = time.perf_counter(), time.process_time()
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"model {args.model} ({atoms.get_chemical_formula()}, {len(atoms)} atoms, "
        f"{valence_electrons(atoms)} valence electrons), preset {args.preset}: {params}"
    )
    print(
        f"k-points {len(atoms.calc.get_ibz_k_points())} irreducible, "
        f"SCF iterations {iterations(atoms.calc)}"
    )
    print(f"energy {energy:.4f} eV, max force {np.abs(forces).max():.3f} eV/A")
    print(
        f"per evaluation: wall time {wall:.0f} s, CPU time {cpu:.0f} s on this rank "
        f"(the core-seconds figure when the machine is shared), peak memory {peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
