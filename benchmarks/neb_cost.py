"""Cost of one halide-vacancy hop: perovcalc's NEB strategies against a plain ASE CI-NEB.

One V_Br+ hop along an octahedron edge in a small cubic CsPbBr3 supercell, with fixed cheap
GPAW settings (PW cutoff, Gamma point, loose SCF) and a fixed-seed displacement of all atoms,
applied identically to both endpoints, so that the hop is not exactly symmetric. By default the
Cs and Pb atoms stay on their cubic sites (FixAtoms; ``--relax-cations`` frees them): in a cell
this small a fully relaxed vacancy distorts the lattice so much that the endpoints no longer
form a single-halide hop. Both endpoints are relaxed first with BFGS (shared cost, reported
apart, next to what the surrogate relaxation of :func:`perovcalc.surrogate.relax` needs from the
same start). Then the same band is converged to the same force criterion from the same relaxed
endpoints:

* ASE: ``ase.mep.NEB`` with a climbing image from IDPP interpolation, optimized with FIRE;
* perovcalc: ``perovcalc.neb.run_neb`` with its defaults (IDPP interpolation, climbing image
  from the start, the default optimizer);
* surrogate: ``run_neb(..., method="surrogate")`` (Gaussian-process surrogate, DFT only where
  it is unsure and on the climbing image);
* surrogate + ML prior: the same with ``--prior`` (chgnet or sevennet, the ``perovcalc[ml]``
  extra) as the surrogate's mean; left out when the extra is not installed.

Printed: DFT energy/force evaluations (endpoints included, their relaxation apart), optimizer
steps (surrogate: cycles), wall time and the barriers, and their differences from ASE. The
defaults finish in about 10-20 minutes on 2 cores; ``--supercell 2 2 2`` (39 atoms, about 25 s
an evaluation on one core) takes hours; ``--optimizer`` tries perovcalc's band with another of
its optimizers. In parallel: ``GPAW_MPI_BACKEND=cgpaw mpiexec -n N python benchmarks/neb_cost.py
...`` (each evaluation on all ranks); at the Gamma point alone GPAW 26.7's default PW eigensolver
stops on an assertion on 2 ranks (BLACS layout of the subspace matrix), so run those serially.

Resumable: with ``--workdir`` every DFT evaluation is saved there as it is made (BFGS and the
ASE band through :class:`perovcalc.surrogate.EvaluationLog`, which a rerun replays: the
optimizers are deterministic, so they retrace the same path at no cost; perovcalc's band and
the surrogate resume from their own files) and each finished strategy in ``rows.json``; a
rerun with the same arguments and work directory continues where the last one stopped and
counts every evaluation once. Wall times are summed over the runs.

    python benchmarks/neb_cost.py [--supercell 2 1 1] [--n-images 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixAtoms
from ase.mep import NEB
from ase.optimize import BFGS, FIRE
from ase.parallel import world

from perovcalc import gaussian_process, mep, neb, surrogate
from perovcalc.bulk import cubic_perovskite
from perovcalc.calculate import read_checkpoint, write_checkpoint
from perovcalc.reference import lattice_constant
from perovcalc.vacancy import hop_endpoints, neighbour_hops

SOURCE = "computed with perovcalc (python benchmarks/neb_cost.py --csv)"


def gpaw_settings(args: argparse.Namespace) -> dict:
    """Fixed GPAW keyword arguments of the benchmark (recorded with its output)."""
    return {
        "mode": {"name": "pw", "ecut": args.ecut},
        "xc": "PBE",
        "kpts": {"size": (1, 1, 1), "gamma": True},
        "occupations": {"name": "fermi-dirac", "width": 0.1},
        "convergence": {"energy": 1e-4, "density": 1e-4, "forces": 1e-2},
        "charge": args.charge,
        "symmetry": "off",
        "txt": None,
    }


def make_factory(settings: dict):
    def factory(communicator=None):
        from gpaw import GPAW

        extra = {} if communicator is None else {"communicator": communicator}
        return GPAW(**settings, **extra)

    return factory


def endpoints(args: argparse.Namespace) -> tuple[Atoms, Atoms]:
    """Unrelaxed V_Br hop endpoints with the same seeded displacement of every atom."""
    atoms = cubic_perovskite(args.a, "Br").repeat(args.supercell)
    site = next(i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Br")
    initial, final = hop_endpoints(atoms, site, neighbour_hops(atoms, site)[0])
    shift = np.random.default_rng(args.seed).normal(0.0, args.rattle, (len(initial), 3))
    cations = [i for i, s in enumerate(initial.get_chemical_symbols()) if s in ("Cs", "Pb")]
    for atoms in (initial, final):
        atoms.positions += shift
        if not args.relax_cations:
            atoms.set_constraint(FixAtoms(cations))
    return initial, final


class Replayed(Calculator):
    """Energy and forces through an :class:`~perovcalc.surrogate.EvaluationLog`: saved ones
    are replayed, new ones computed (calculator ``label``) and saved at once."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, log: surrogate.EvaluationLog, label: str, kind: str):
        super().__init__()
        self.log, self.label, self.kind = log, label, kind

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.log.evaluate(self.atoms, self.label, self.kind)
        self.results = {"energy": energy, "forces": forces}


def _log(factory, folder: Path) -> surrogate.EvaluationLog:
    folder.mkdir(parents=True, exist_ok=True)
    return surrogate.EvaluationLog(folder / surrogate.LOG_FILE, factory)


def _cost(log: surrogate.EvaluationLog, steps: int) -> mep.NEBCost:
    """Every saved evaluation of ``log`` (all runs), ``steps``, wall time of all runs (s)."""
    evaluated = sum(e["evaluated"] for e in log.entries)
    return mep.NEBCost(evaluated, steps, log.total_before.wall_time + log.cost().wall_time)


def relax(atoms: Atoms, factory, fmax: float, folder: Path) -> tuple[Atoms, mep.NEBCost]:
    """Positions relaxed with BFGS; the cost in evaluations, steps and seconds."""
    log = _log(factory, folder)
    atoms = atoms.copy()
    atoms.calc = Replayed(log, "relax", "relaxation")
    with BFGS(atoms, logfile=None) as opt:
        opt.run(fmax=fmax, steps=200)
    atoms.calc = None
    log.save()
    return atoms, _cost(log, opt.nsteps)


def plain_ase_neb(initial: Atoms, final: Atoms, factory, args, folder: Path) -> dict:
    """The baseline: CI-NEB from IDPP interpolation, FIRE, every evaluation counted."""
    log = _log(factory, folder)
    images = [initial.copy() for _ in range(args.n_images + 1)] + [final.copy()]
    band = NEB(images, k=mep.SPRING_CONSTANT, climb=True, method="improvedtangent")
    band.interpolate("idpp", mic=True, apply_constraint=False)
    for i, image in enumerate(images):
        image.calc = Replayed(log, f"image{i}", "band")
    with FIRE(band, logfile=None) as opt:
        opt.run(fmax=args.fmax, steps=args.max_steps)
    forces = band.get_forces()  # cached: no new evaluations
    energies = band.energies
    saddle = 1 + int(np.argmax(energies[1:-1]))
    residual = float(np.linalg.norm(forces, axis=1).max())
    log.save()
    cost = _cost(log, opt.nsteps)
    return {
        "evaluations": cost.evaluations,
        "steps": cost.steps,
        "wall_time": cost.wall_time,
        "forward_barrier": float(energies[saddle] - energies[0]),
        "reverse_barrier": float(energies[saddle] - energies[-1]),
        "converged": residual < args.fmax,
    }


def perovcalc_neb(initial: Atoms, final: Atoms, factory, workdir: Path, args, **method) -> dict:
    result = neb.run_neb(
        initial, final, factory, workdir, n_images=args.n_images, fmax=args.fmax,
        optimizer=args.optimizer, max_steps=args.max_steps, **method,
    )  # fmt: skip
    return {
        "evaluations": result.total_cost.evaluations,
        "steps": result.total_cost.steps,
        "wall_time": result.total_cost.wall_time,
        "forward_barrier": result.forward_barrier,
        "reverse_barrier": result.reverse_barrier,
        "converged": result.converged,
    }


def table(rows: dict[str, dict]) -> str:
    """The strategies, then each one's difference from the first (the ASE baseline)."""
    header = (
        f"{'strategy':<40} {'evaluations':>11} {'steps':>6} {'wall (s)':>9} "
        f"{'E_f (eV)':>9} {'E_r (eV)':>9} {'converged':>9}"
    )
    lines = [header, "-" * len(header)]
    for name, r in rows.items():
        lines.append(
            f"{name:<40} {r['evaluations']:>11d} {r['steps']:>6d} {r['wall_time']:>9.1f} "
            f"{r['forward_barrier']:>9.4f} {r['reverse_barrier']:>9.4f} {r['converged']!s:>9}"
        )
    (base_name, base), *others = rows.items()
    for name, r in others:
        lines.append(
            f"{'  - ' + base_name.split(' (')[0] + ': ' + name.split(' (')[0]:<40} "
            f"{r['evaluations'] - base['evaluations']:>+11d} "
            f"{r['steps'] - base['steps']:>+6d} {r['wall_time'] - base['wall_time']:>+9.1f} "
            f"{r['forward_barrier'] - base['forward_barrier']:>+9.4f} "
            f"{r['reverse_barrier'] - base['reverse_barrier']:>+9.4f}"
        )
    return "\n".join(lines)


def _prior_available(name: str) -> bool:
    try:
        gaussian_process.ml_calculator(name)
    except neb.PerovcalcError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    import gpaw.mpi  # noqa: F401  before ASE's world is first used: under mpiexec it is GPAW's

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--supercell", type=int, nargs=3, default=(2, 1, 1))
    parser.add_argument("--a", type=float, default=lattice_constant("CsPbBr3"), help="A")
    parser.add_argument("--ecut", type=float, default=200.0, help="PW cutoff, eV")
    parser.add_argument("--charge", type=int, default=1, help="1: V_Br+ (even electrons)")
    parser.add_argument("--n-images", type=int, default=3)
    parser.add_argument("--fmax", type=float, default=0.05, help="NEB force criterion, eV/A")
    parser.add_argument("--relax-fmax", type=float, default=0.05, help="endpoints, eV/A")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--optimizer", choices=neb.OPTIMIZERS, default=neb.DEFAULT_OPTIMIZER)
    parser.add_argument("--rattle", type=float, default=0.02, help="displacement std, A")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--relax-cations", action="store_true", help="do not fix Cs and Pb")
    parser.add_argument("--prior", choices=gaussian_process.ML_PRIORS, default="chgnet",
                        help="ML prior of the last row (needs perovcalc[ml])")  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--csv", type=Path, help="also write the table here, settings on top "
                        "(reference/computed_neb_cost.csv)")  # fmt: skip
    args = parser.parse_args(argv)

    settings = gpaw_settings(args)
    factory = make_factory(settings)
    print(f"V_Br hop in CsPbBr3 {'x'.join(map(str, args.supercell))}, a = {args.a} A, "
          f"{args.n_images} moving images, fmax {args.fmax} eV/A, seed {args.seed}")  # fmt: skip
    print("GPAW:", json.dumps({k: v for k, v in settings.items() if k != "txt"}))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        start_i, start_f = endpoints(args)
        initial, cost_i = relax(start_i, factory, args.relax_fmax, workdir / "relax-initial")
        final, cost_f = relax(start_f, factory, args.relax_fmax, workdir / "relax-final")
        shared = cost_i + cost_f
        print(f"endpoint relaxation (shared, not in the table): BFGS {shared.evaluations} "
              f"evaluations, {shared.wall_time:.1f} s")  # fmt: skip
        records = [
            surrogate.relax(atoms, factory, workdir / f"surrogate-relax-{name}", args.relax_fmax)[1]
            for name, atoms in (("initial", start_i), ("final", start_f))
        ]
        print(f"  the same by surrogate relaxation: "
              f"{sum(r['total_evaluations'] for r in records)} evaluations, converged "
              f"{all(r['converged'] for r in records)}")  # fmt: skip
        strategies = {
            "ASE CI-NEB (IDPP, FIRE)": lambda: plain_ase_neb(
                initial, final, factory, args, workdir / "ase-band"
            ),
            f"perovcalc (IDPP, CI-NEB, {args.optimizer})": lambda: perovcalc_neb(
                initial, final, factory, workdir / "perovcalc-band", args
            ),
            "surrogate (IDPP, CI, GP)": lambda: perovcalc_neb(
                initial, final, factory, workdir / "surrogate-band", args, method="surrogate"
            ),
        }
        if _prior_available(args.prior):
            options = gaussian_process.SurrogateOptions(prior=args.prior)
            strategies[f"surrogate + {args.prior} prior"] = lambda: perovcalc_neb(
                initial, final, factory, workdir / "surrogate-prior-band", args,
                method="surrogate", surrogate=options,
            )  # fmt: skip
        else:
            print(f"surrogate + {args.prior} prior: left out ({gaussian_process.ML_INSTALL})")
        finished = workdir / "rows.json"
        rows = read_checkpoint(finished)
        for name, run in reversed(strategies.items()):  # the cheapest first
            if name not in rows:
                rows[name] = run()
                write_checkpoint(finished, rows)
            print(f"{name}: {rows[name]['evaluations']} evaluations", flush=True)
        rows = {name: rows[name] for name in strategies}
    print(table(rows))
    if world.rank != 0:  # under MPI: one writer
        return 0
    if args.json:
        record = {
            "settings": {**vars(args), "gpaw": settings},
            "relaxation": asdict(shared),
            "surrogate_relaxation": records,
        }
        args.json.write_text(json.dumps({**record, "results": rows}, indent=1, default=str))
    if args.csv:
        write_csv(args.csv, rows, settings, args, shared, records)
    return 0


def write_csv(path: Path, rows: dict, settings: dict, args, shared, relaxations) -> None:
    """The table as CSV: one row per strategy, the settings and endpoint costs as comments."""
    import csv
    import os

    import ase
    import gpaw

    gpaw_settings = json.dumps({k: v for k, v in settings.items() if k != "txt"})
    head = [
        "Cost of one V_Br hop by NEB strategy, measured with benchmarks/neb_cost.py "
        f"(python benchmarks/neb_cost.py --csv {path.name} ...) on a {os.cpu_count()}-core "
        f"machine, one MPI rank, GPAW {gpaw.__version__}, ASE {ase.__version__}.",
        f"Hop: CsPbBr3 {'x'.join(map(str, args.supercell))} supercell, a = {args.a} A, charge "
        f"{args.charge}, {args.n_images} moving images, fmax {args.fmax} eV/A, endpoints "
        f"relaxed by BFGS to {args.relax_fmax} eV/A ({shared.evaluations} evaluations, not "
        f"in the rows; the surrogate relaxation of the same starts took "
        f"{sum(r['total_evaluations'] for r in relaxations)}), displacement {args.rattle} A seed "
        f"{args.seed}, cations {'free' if args.relax_cations else 'fixed'}.",
        f"GPAW settings: {gpaw_settings}",
        "Energies in eV, wall time in s; evaluations are DFT energy+force calls of the band.",
    ]
    with path.open("w", newline="") as handle:
        for line in head:
            handle.write(f"# {line}\n")
        writer = csv.writer(handle)
        writer.writerow(["strategy", "evaluations", "steps", "wall_s", "forward_barrier_eV",
                         "reverse_barrier_eV", "converged", "source", "tag"])  # fmt: skip
        for name, r in rows.items():
            writer.writerow([name, r["evaluations"], r["steps"], round(r["wall_time"], 1),
                             round(r["forward_barrier"], 4), round(r["reverse_barrier"], 4),
                             r["converged"], SOURCE, "C"])  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
