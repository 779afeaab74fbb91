"""Checks that everything the toolkit needs is installed and usable."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from perovcalc.parallel import default_ranks, mpi_launcher

ELEMENTS = ("Cs", "Pb", "I", "Br", "K")  # PBE datasets every workflow needs


@dataclass
class Check:
    """One line of the report: a name, what was found, and whether it is good enough."""

    name: str
    found: str
    ok: bool
    hint: str = ""


def _version(module: str) -> Check:
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        return Check(module, f"missing ({err})", False, "run scripts/setup.sh (or `make setup`)")
    return Check(module, getattr(mod, "__version__", "installed"), True)


def check_environment() -> list[Check]:
    """Versions of GPAW, ASE, pymatgen, spglib; MPI; ranks; PAW datasets."""
    checks = [_version(m) for m in ("gpaw", "ase", "pymatgen.core", "spglib", "xraylib")]
    checks[2].name = "pymatgen"
    if not checks[0].ok:
        return checks
    from gpaw import cgpaw, setup_paths

    checks.append(
        Check(
            "GPAW MPI",
            "yes" if cgpaw.have_mpi else "no",
            bool(cgpaw.have_mpi),
            "rebuild GPAW with mpic++ on PATH (apt-get install libopenmpi-dev; scripts/setup.sh)",
        )
    )
    launcher = mpi_launcher()
    checks.append(
        Check("mpiexec", launcher or "missing", launcher is not None, "apt-get install openmpi-bin")
    )
    checks.append(
        Check("ranks per task", f"{default_ranks()} (--ranks N or $PEROVCALC_RANKS)", True)
    )
    missing = [
        el for el in ELEMENTS if not any((Path(p) / f"{el}.PBE.gz").exists() for p in setup_paths)
    ]
    where = ", ".join(str(p) for p in setup_paths) or "no setup path"
    checks.append(
        Check(
            "PAW datasets",
            where + (f"; missing PBE for {', '.join(missing)}" if missing else ""),
            bool(setup_paths) and not missing,
            "pip install gpaw-data (or set GPAW_SETUP_PATH)",
        )
    )
    return checks
