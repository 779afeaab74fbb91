"""Runs one task (``python -m perovcalc.worker TASK.json``), on any number of MPI ranks.

The task file (written by the runner into the task's work directory) holds the store URL, the
task id and the task recipe. Rank 0 writes the result row; on SIGTERM (a walltime, say) the task
is recorded as ``interrupted`` so that a rerun resumes it from its checkpoint.
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path

from ase import Atoms

from perovcalc.campaign import builder_function
from perovcalc.errors import PerovcalcError
from perovcalc.guards import check_dft_size
from perovcalc.kinds import get_kind, resolve_options
from perovcalc.store import Store
from perovcalc.tasks import TASK_REF, TaskContext

EXIT_FAILED = 3
EXIT_INTERRUPTED = 143


class Interrupted(Exception):
    """The worker received SIGTERM."""


def versions() -> dict[str, str]:
    """Versions of the codes that produce results."""
    import ase
    import numpy

    import perovcalc

    found = {"perovcalc": perovcalc.__version__, "ase": ase.__version__, "numpy": numpy.__version__}
    try:
        import gpaw

        found["gpaw"] = gpaw.__version__
    except ImportError:
        pass
    return found


def lattice_constant_of(row) -> float:
    """The ``lattice_constant`` a finished relax_lattice row computed, Angstrom."""
    try:
        return float(row.data["result"]["lattice_constant"])
    except (KeyError, TypeError):
        raise PerovcalcError(f"task {row.task} has no computed lattice_constant") from None


def build_structure(recipe: dict | str, store: Store) -> Atoms:
    """The input structure of a task from its recipe (builder call or an upstream task)."""
    if isinstance(recipe, str):  # "task:<id>": the final structure of that task
        return store.get(recipe[len(TASK_REF) :]).toatoms()
    if recipe["builder"] == "atoms":
        from ase.io.jsonio import decode

        return decode(recipe["args"]["atoms"])
    args = {
        key: lattice_constant_of(store.get(value[len(TASK_REF) :]))
        if isinstance(value, str) and value.startswith(TASK_REF)
        else value
        for key, value in recipe["args"].items()
    }
    return builder_function(recipe["builder"])(**args)


def summary_keys(params: dict, spec: dict, atoms: Atoms) -> dict:
    """Flat, searchable key-value pairs describing the settings of a result."""
    mode = params.get("mode", "")
    mode_name = mode.get("name", "") if isinstance(mode, dict) else str(mode)
    keys = {
        "preset": spec["recipe"]["preset"],
        "mode": mode_name,
        "xc": str(params.get("xc", "")),
        "net_charge": int(spec["recipe"]["charge"]),
        "spinpol": bool(params.get("spinpol", False)),
        **{f"{code}_version": v for code, v in versions().items()},
    }
    if isinstance(mode, dict) and "ecut" in mode:
        keys["ecut"] = float(mode["ecut"])
    if "basis" in params:
        keys["basis"] = str(params["basis"])
    kpts = params.get("kpts")
    if isinstance(kpts, dict) and "size" in kpts:
        keys["kpts"] = "x".join(str(k) for k in kpts["size"])
    if "supercell" in atoms.info:
        keys["supercell"] = "x".join(str(n) for n in atoms.info["supercell"])
    return keys


def run_task(spec: dict) -> int:
    """Compute one task and store its result; the exit status for the runner."""
    from gpaw.mpi import world

    from perovcalc.presets import gpaw_parameters

    store = Store(spec["db"])
    task_id = spec["task_id"]
    recipe = spec["recipe"]

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # srun forwards a second one: not now
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        kind = get_kind(recipe["kind"])
        atoms = build_structure(recipe["structure"], store)
        if kind.dft:
            volume = atoms.cell.volume or None
            check_dft_size(len(atoms), volume, f"the structure of task {spec['name']}")
        dependencies = {name: store.get(tid) for name, tid in spec["dependencies"].items()}
        params = (
            gpaw_parameters(atoms, recipe["preset"], recipe["charge"], recipe["params"])
            if kind.dft
            else dict(recipe["params"])
        )
        ctx = TaskContext(
            name=spec["name"],
            atoms=atoms,
            params=params,
            options=resolve_options(recipe["kind"], recipe["options"]),
            workdir=Path(spec["workdir"]),
            preset=recipe["preset"],
            dependencies=dependencies,
        )
        result = kind.load()(ctx)
    except Interrupted:
        if world.rank == 0:
            store.mark(task_id, "interrupted", "terminated by SIGTERM (walltime or user)")
        return EXIT_INTERRUPTED
    except PerovcalcError as err:
        if world.rank == 0:
            store.mark(task_id, "failed", str(err))
        return EXIT_FAILED
    except Exception as err:
        traceback.print_exc()
        if world.rank == 0:
            store.mark(task_id, "failed", f"{type(err).__name__}: {err} (see worker.log)")
        return EXIT_FAILED
    if world.rank == 0:
        data = {"params": result.params, "result": result.data, "recipe": recipe}
        data["versions"] = versions()
        store.finish(task_id, result.atoms, summary_keys(result.params, spec, atoms), data)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    return run_task(spec)


if __name__ == "__main__":
    sys.exit(main())
