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

* ASE: ``ase.mep.NEB`` with a climbing image from IDPP interpolation, optimized with FIRE
  (stopped, unconverged, if its highest image rises ``LEFT_HOP`` above the starting band's);
* perovcalc: ``perovcalc.neb.run_neb`` with its defaults (IDPP interpolation, climbing image
  from the start, the default optimizer);
* surrogate: ``run_neb(..., method="surrogate")`` (Gaussian-process surrogate, DFT only where
  it is unsure and on the climbing image);
* surrogate + ML prior: the same with ``--prior`` (chgnet or sevennet, the ``perovcalc[ml]``
  extra) as the surrogate's mean; left out when the extra is not installed.

Both surrogate bands check the whole band with ``--band-check`` (``SurrogateOptions.band_check``:
``energy``, the default, or ``forces``, a plain CI-NEB's criterion on every image).

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
the surrogate resume from their own files) and each finished strategy in
``<stage>-band/row.json``; a rerun with the same arguments and work directory continues where
the last one stopped and counts every evaluation once (a work directory keeps its settings in
``args.json`` and refuses other ones). Wall times are summed over the runs. ``--only`` runs
some stages (e.g. one endpoint, or one band strategy) so that two processes can share a work
directory. ``--host tilted`` (2x2x2 and up): see :func:`endpoints`. There the endpoints need
``--relax-fmax 0.02``: at 0.05 eV/A the final endpoint stopped on a soft tilt slope, and both
the plain and the surrogate band slid below it (the climbing image onto it); the host, only a
common start for both, is relaxed to ``--host-fmax`` (default ``--relax-fmax``). The 2x2x2 run
takes many core-hours over several sessions: its work directory is kept in the repository,
``benchmarks/neb_cost_222/`` (``--supercell 2 2 2 --host tilted --host-fmax 0.05 --relax-fmax
0.02 --workdir benchmarks/neb_cost_222``), so that it replays at no cost and goes on where it
stopped; ``benchmarks/neb_cost_222.sh`` runs it on two cores.

``--calculator chgnet`` (or ``sevennet``) puts an ML potential where GPAW stands, everywhere
(host, endpoints, bands): the same 39-atom hop runs in minutes, so that changes to the
surrogate can be measured on a cell of this size before they cost DFT hours. Its counts say how
an algorithm scales with the cell; its barriers are no result (the prior stage then wants the
other potential as ``--prior``).

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
from ase.io import read, write
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


def make_factory(settings: dict, calculator: str = "gpaw"):
    """Calculators for the evaluations: GPAW with ``settings``, or the ML potential
    ``calculator`` (settings unused)."""

    def factory(communicator=None):
        if calculator != "gpaw":
            return gaussian_process.ml_calculator(calculator)
        from gpaw import GPAW

        extra = {} if communicator is None else {"communicator": communicator}
        return GPAW(**settings, **extra)

    return factory


def endpoints(args: argparse.Namespace, workdir: Path):
    """Unrelaxed V_Br hop endpoints with the same seeded displacement of every atom, and the
    cost of the host's DFT relaxation (``--host tilted``; else None).

    ``--host tilted``: the seeded displacement is applied to the pristine supercell instead,
    which is relaxed with the ML potential ``--prior`` and then with DFT (neutral, BFGS to
    ``--host-fmax``; cations fixed unless ``--relax-cations``) before the vacancy is made: the
    Br octahedra take the tilts of the cubic cell's unstable modes, and both endpoints relax to
    neighbouring minima of that one tilt pattern (from the cubic host each endpoint picks its
    own, and they no longer bound a single-halide hop; from the ML host alone the DFT endpoints
    stop in flat tilt basins that band images then undercut). The ML host is saved in
    ``workdir`` and read back on a rerun, so that saved evaluations replay exactly.
    """
    host = cubic_perovskite(args.a, "Br").repeat(args.supercell)
    rng = np.random.default_rng(args.seed)
    host_cost = None
    if args.host == "tilted":
        saved = workdir / "tilted-host.json"
        if saved.exists():
            host = read(saved)
        else:
            host.positions += rng.normal(0.0, args.rattle, (len(host), 3))
            if not args.relax_cations:
                host.set_constraint(FixAtoms(_cations(host)))
            host.calc = gaussian_process.ml_calculator(args.prior)
            with BFGS(host, logfile=None) as opt:
                opt.run(fmax=0.01, steps=1000)
            host.calc = None
            workdir.mkdir(parents=True, exist_ok=True)
            write(saved, host)
        neutral = make_factory({**gpaw_settings(args), "charge": 0}, args.calculator)
        host, host_cost = relax(host, neutral, args.host_fmax, workdir / "relax-host")
        print(f"host: BFGS {host_cost.evaluations} evaluations", flush=True)
    site = next(i for i, s in enumerate(host.get_chemical_symbols()) if s == "Br")
    initial, final = hop_endpoints(host, site, neighbour_hops(host, site)[0])
    shift = 0.0 if args.host == "tilted" else rng.normal(0.0, args.rattle, (len(initial), 3))
    for atoms in (initial, final):
        atoms.positions += shift
        if not args.relax_cations:
            atoms.set_constraint(FixAtoms(_cations(atoms)))
    return initial, final, host_cost


def _cations(atoms: Atoms) -> list[int]:
    return [i for i, s in enumerate(atoms.get_chemical_symbols()) if s in ("Cs", "Pb")]


class Replayed(Calculator):
    """Energy and forces through an :class:`~perovcalc.surrogate.EvaluationLog`: saved ones
    are replayed, new ones computed (calculator ``label``) and saved at once."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, log: surrogate.EvaluationLog, label: str, kind: str):
        super().__init__()
        self.log, self.label, self.kind = log, label, kind

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.log.evaluate(self.atoms, self.label, self.kind, snap=False)
        self.results = {"energy": energy, "forces": forces}


def _log(factory, folder: Path) -> surrogate.EvaluationLog:
    folder.mkdir(parents=True, exist_ok=True)
    return surrogate.EvaluationLog(folder / surrogate.LOG_FILE, factory)


def _cost(log: surrogate.EvaluationLog, steps: int) -> mep.NEBCost:
    """Every saved evaluation of ``log`` (all runs), ``steps``, wall time of all runs (s)."""
    evaluated = sum(e["evaluated"] for e in log.entries)
    return mep.NEBCost(evaluated, steps, log.total().wall_time)


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


LEFT_HOP = 0.3  # eV: a plain band whose highest image rises this far above the starting
# band's highest image has climbed out of the hop (the margin leaves room for a saddle that
# lies between two starting images, above both)


class _LeftTheHop(Exception):
    """The climbing image rose ``LEFT_HOP`` above the starting band's highest image."""


def plain_ase_neb(initial: Atoms, final: Atoms, factory, args, folder: Path) -> dict:
    """The baseline: CI-NEB from IDPP interpolation, FIRE, every evaluation counted. It stops,
    not converged, when its highest image rises more than ``LEFT_HOP`` eV above the highest
    image of the starting band: a climbing image that climbs out of the hop."""
    log = _log(factory, folder)
    images = [initial.copy() for _ in range(args.n_images + 1)] + [final.copy()]
    band = NEB(images, k=mep.SPRING_CONSTANT, climb=True, method="improvedtangent")
    band.interpolate("idpp", mic=True, apply_constraint=False)
    for i, image in enumerate(images):
        image.calc = Replayed(log, f"image{i}", "band")
    band.get_forces()  # the starting band (FIRE's first step takes the same cached values)
    ceiling = max(band.energies[1:-1]) + LEFT_HOP

    def below_ceiling():
        if max(band.energies[1:-1]) > ceiling:
            raise _LeftTheHop

    status = None
    with FIRE(band, logfile=None) as opt:
        opt.attach(below_ceiling)
        try:
            opt.run(fmax=args.fmax, steps=args.max_steps)
        except _LeftTheHop:
            status = (
                f"stopped at step {opt.nsteps}: the climbing image rose more than {LEFT_HOP} "
                f"eV above the starting band's highest image, to "
                f"{max(band.energies[1:-1]) - band.energies[0]:.3f} eV above the initial "
                "endpoint: out of the hop"
            )
    forces = band.get_forces()  # cached: no new evaluations
    energies = band.energies
    saddle = 1 + int(np.argmax(energies[1:-1]))
    residual = float(np.linalg.norm(forces, axis=1).max())
    log.save()
    cost = _cost(log, opt.nsteps)
    converged = status is None and residual < args.fmax
    return {
        "evaluations": cost.evaluations,
        "steps": cost.steps,
        "wall_time": cost.wall_time,
        "forward_barrier": float(energies[saddle] - energies[0]),
        "reverse_barrier": float(energies[saddle] - energies[-1]),
        "converged": converged,
        "status": status or ("converged" if converged else f"not converged in {opt.nsteps} steps"),
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
        "status": result.settings.get("surrogate", {}).get("status")
        or ("converged" if result.converged else "not converged"),
    }


def _barrier(r: dict, key: str) -> float | None:
    """A row's barrier (eV), or None for a band that did not converge (its highest image is no
    saddle: a stopped band's may lie far out of the hop)."""
    return r[key] if r["converged"] else None


def table(rows: dict[str, dict]) -> str:
    """The strategies, then each one's difference from the first converged one (the ASE
    baseline where it converged); unconverged bands show no barrier."""

    def number(value, form):
        return f"{'-':>9}" if value is None else format(value, form)

    header = (
        f"{'strategy':<40} {'evaluations':>11} {'steps':>6} {'wall (s)':>9} "
        f"{'E_f (eV)':>9} {'E_r (eV)':>9} {'converged':>9}"
    )
    lines = [header, "-" * len(header)]
    for name, r in rows.items():
        lines.append(
            f"{name:<40} {r['evaluations']:>11d} {r['steps']:>6d} {r['wall_time']:>9.1f} "
            f"{number(_barrier(r, 'forward_barrier'), '>9.4f')} "
            f"{number(_barrier(r, 'reverse_barrier'), '>9.4f')} {r['converged']!s:>9}"
        )
    converged = [(name, r) for name, r in rows.items() if r["converged"]]
    if not converged:
        return "\n".join(lines)
    base_name, base = converged[0]
    for name, r in rows.items():
        if name == base_name:
            continue
        barriers = [
            None if _barrier(r, key) is None else r[key] - base[key]
            for key in ("forward_barrier", "reverse_barrier")
        ]
        lines.append(
            f"{'  - ' + base_name.split(' (')[0] + ': ' + name.split(' (')[0]:<40} "
            f"{r['evaluations'] - base['evaluations']:>+11d} "
            f"{r['steps'] - base['steps']:>+6d} {r['wall_time'] - base['wall_time']:>+9.1f} "
            f"{number(barriers[0], '>+9.4f')} {number(barriers[1], '>+9.4f')}"
        )
    return "\n".join(lines)


def _prior_available(name: str) -> bool:
    try:
        gaussian_process.ml_calculator(name)
    except neb.PerovcalcError:
        return False
    return True


STRATEGIES = {
    "ase": "ASE CI-NEB (IDPP, FIRE)",
    "perovcalc": "perovcalc (IDPP, CI-NEB, {optimizer})",
    "surrogate": "surrogate (IDPP, CI, GP, {band_check} check)",
    "prior": "surrogate + {prior} prior ({band_check} check)",
}
STAGES = ("relax-initial", "relax-final", "surrogate-relax", *STRATEGIES)


def strategy_name(stage: str, args: argparse.Namespace) -> str:
    """The table's name of a band strategy (``STRATEGIES`` key)."""
    return STRATEGIES[stage].format(
        optimizer=args.optimizer, prior=args.prior, band_check=args.band_check
    )


def relax_endpoint(
    name: str, start: Atoms, factory, args, workdir: Path
) -> tuple[Atoms, mep.NEBCost]:
    """One endpoint relaxed by BFGS in ``workdir/relax-<name>`` (replayed when saved)."""
    relaxed = relax(start, factory, args.relax_fmax, workdir / f"relax-{name}")
    print(f"{name} endpoint: BFGS {relaxed[1].evaluations} evaluations", flush=True)
    return relaxed


def surrogate_relaxations(starts: dict[str, Atoms], factory, args, workdir: Path) -> list[dict]:
    """The same endpoints relaxed on the surrogate instead: their records."""
    records = [
        surrogate.relax(atoms, factory, workdir / f"surrogate-relax-{name}", args.relax_fmax)[1]
        for name, atoms in starts.items()
    ]
    print(f"  the same by surrogate relaxation: "
          f"{sum(r['total_evaluations'] for r in records)} evaluations, converged "
          f"{all(r['converged'] for r in records)}")  # fmt: skip
    return records


def band_rows(bands: list[str], initial: Atoms, final: Atoms, factory, args, workdir: Path):
    """One row per band strategy in table order; each finished one is kept in
    ``workdir/<stage>-band/row.json`` and read back on a rerun."""
    names = {stage: strategy_name(stage, args) for stage in bands}
    rows = {}
    for stage in reversed(bands):  # the cheapest first
        name, folder = names[stage], workdir / f"{stage}-band"
        finished = folder / "row.json"
        rows[name] = read_checkpoint(finished)
        if not rows[name]:
            if stage == "ase":
                rows[name] = plain_ase_neb(initial, final, factory, args, folder)
            else:
                method = {}
                if stage != "perovcalc":
                    prior = args.prior if stage == "prior" else None
                    method = {
                        "method": "surrogate",
                        "surrogate": gaussian_process.SurrogateOptions(
                            prior=prior, band_check=args.band_check
                        ),
                    }
                rows[name] = perovcalc_neb(initial, final, factory, folder, args, **method)
            write_checkpoint(finished, rows[name])
        print(f"{name}: {rows[name]['evaluations']} evaluations", flush=True)
    return {names[stage]: rows[names[stage]] for stage in bands}


RUN_ARGS = ("supercell", "a", "ecut", "charge", "n_images", "fmax", "relax_fmax", "host_fmax",
            "optimizer", "rattle", "seed", "relax_cations", "prior", "host",
            "calculator", "band_check")  # fmt: skip


def same_run(args: argparse.Namespace, workdir: Path) -> None:
    """Refuse to continue a work directory saved with other settings (``RUN_ARGS``): its
    evaluations would not replay, and counting them would be wrong. Records them on the first
    run (``workdir/args.json``); a setting added since counts there as its default."""
    path = workdir / "args.json"
    ours = json.loads(json.dumps({name: getattr(args, name) for name in RUN_ARGS}))
    saved = read_checkpoint(path)
    if not saved:
        workdir.mkdir(parents=True, exist_ok=True)
        write_checkpoint(path, ours)
        return
    defaults = parser()
    saved = {k: saved.get(k, defaults.get_default(k)) for k in ours}
    differ = [f"--{k.replace('_', '-')} {saved[k]} (now {v})" for k, v in ours.items()
              if saved[k] != v]  # fmt: skip
    if differ:
        raise SystemExit(f"{workdir} was run with {', '.join(differ)}: rerun with those "
                         "settings or use another --workdir")  # fmt: skip


def parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--supercell", type=int, nargs=3, default=(2, 1, 1))
    parser.add_argument("--a", type=float, default=lattice_constant("CsPbBr3"), help="A")
    parser.add_argument("--ecut", type=float, default=200.0, help="PW cutoff, eV")
    parser.add_argument("--charge", type=int, default=1, help="1: V_Br+ (even electrons)")
    parser.add_argument("--n-images", type=int, default=3)
    parser.add_argument("--fmax", type=float, default=0.05, help="NEB force criterion, eV/A")
    parser.add_argument("--relax-fmax", type=float, default=0.05, help="endpoints, eV/A")
    parser.add_argument("--host-fmax", type=float, help="--host tilted, eV/A (--relax-fmax)")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--optimizer", choices=neb.OPTIMIZERS, default=neb.DEFAULT_OPTIMIZER)
    parser.add_argument("--rattle", type=float, default=0.02, help="displacement std, A")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--relax-cations", action="store_true", help="do not fix Cs and Pb")
    parser.add_argument("--prior", choices=gaussian_process.ML_PRIORS, default="chgnet",
                        help="ML prior of the last row (needs perovcalc[ml])")  # fmt: skip
    parser.add_argument("--host", choices=("cubic", "tilted"), default="cubic",
                        help="tilted: pristine cell relaxed with --prior, then DFT")  # fmt: skip
    parser.add_argument("--band-check", choices=gaussian_process.BAND_CHECKS,
                        default=gaussian_process.SurrogateOptions.band_check,
                        help="the surrogate bands' whole-band check")  # fmt: skip
    parser.add_argument("--calculator", choices=("gpaw", *gaussian_process.ML_PRIORS),
                        default="gpaw", help="what stands for DFT (an ML potential: minutes, "
                        "the algorithm's counts only)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument("--only", nargs="+", choices=STAGES,
                        help="run these stages only (no table), e.g. in two processes that "
                        "share --workdir; the band stages need both relaxed endpoints")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--csv", type=Path, help="also write the table here, settings on top "
                        "(reference/computed_neb_cost.csv)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    import gpaw.mpi  # noqa: F401  before ASE's world is first used: under mpiexec it is GPAW's

    args = parser().parse_args(argv)
    args.host_fmax = args.host_fmax or args.relax_fmax

    settings = gpaw_settings(args)
    factory = make_factory(settings, args.calculator)
    print(f"V_Br hop in CsPbBr3 {'x'.join(map(str, args.supercell))}, a = {args.a} A, "
          f"{args.n_images} moving images, fmax {args.fmax} eV/A, seed {args.seed}")  # fmt: skip
    if args.calculator == "gpaw":
        print("GPAW:", json.dumps({k: v for k, v in settings.items() if k != "txt"}))
    else:
        print(f"{args.calculator} stands for DFT: evaluation counts only, no barrier of record")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        same_run(args, workdir)
        start_i, start_f, host_cost = endpoints(args, workdir)
        starts = {"initial": start_i, "final": start_f}
        stages = args.only or STAGES
        bands = [stage for stage in STRATEGIES if stage in stages]
        if "prior" in bands and not _prior_available(args.prior):
            print(f"{strategy_name('prior', args)}: left out ({gaussian_process.ML_INSTALL})")
            bands.remove("prior")
        relaxed = {  # both when a band is run (replayed when saved), else those asked for
            name: relax_endpoint(name, atoms, factory, args, workdir)
            for name, atoms in starts.items()
            if bands or f"relax-{name}" in stages
        }
        if "surrogate-relax" in stages:
            records = surrogate_relaxations(starts, factory, args, workdir)
        if bands:
            rows = band_rows(bands, relaxed["initial"][0], relaxed["final"][0], factory, args,
                             workdir)  # fmt: skip
        if args.only:  # one part of a run split over processes: no table
            return 0
        shared = relaxed["initial"][1] + relaxed["final"][1]
        print(f"endpoint relaxation (shared, not in the table): BFGS {shared.evaluations} "
              f"evaluations, {shared.wall_time:.1f} s")  # fmt: skip
    print(table(rows))
    if world.rank != 0:  # under MPI: one writer
        return 0
    if args.json:
        record = {
            "settings": {**vars(args), "gpaw": settings},
            "relaxation": asdict(shared),
            "host_relaxation": asdict(host_cost) if host_cost else None,
            "surrogate_relaxation": records,
        }
        args.json.write_text(json.dumps({**record, "results": rows}, indent=1, default=str))
    if args.csv:
        write_csv(args.csv, rows, settings, args, shared, records, host_cost)
    return 0


def write_csv(path: Path, rows, settings, args, shared, relaxations, host_cost) -> None:
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
        f"{args.seed}, cations {'free' if args.relax_cations else 'fixed'}, host {args.host}"
        + (
            f" (the pristine cell, displaced, relaxed with {args.prior} to 0.01 eV/A, then by "
            f"BFGS to {args.host_fmax} eV/A in {host_cost.evaluations} evaluations, before the "
            "vacancy was made)"
            if host_cost
            else ""
        )
        + ".",
        f"GPAW settings: {gpaw_settings}"
        if args.calculator == "gpaw"
        else f"Calculator: {args.calculator} in place of DFT (an algorithm's counts only).",
        *(
            f"{name}: {r.get('status', 'not converged')}."
            for name, r in rows.items()
            if not r["converged"]
        ),
        "Energies in eV, wall time in s; evaluations are DFT energy+force calls of the band.",
    ]
    with path.open("w", newline="") as handle:
        for line in head:
            handle.write(f"# {line}\n")
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["strategy", "evaluations", "steps", "wall_s", "forward_barrier_eV",
                         "reverse_barrier_eV", "converged", "source", "tag"])  # fmt: skip
        for name, r in rows.items():
            barriers = [_barrier(r, key) for key in ("forward_barrier", "reverse_barrier")]
            writer.writerow([name, r["evaluations"], r["steps"], round(r["wall_time"], 1),
                             *("" if b is None else round(b, 4) for b in barriers),
                             r["converged"], SOURCE, "C"])  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
