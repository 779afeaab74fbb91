"""How GPAW is launched: MPI ranks, environment, command lines."""

from __future__ import annotations

import os
import shutil

from perovcalc.errors import InputError, MissingDependencyError

RANKS_ENV = "PEROVCALC_RANKS"


def default_ranks() -> int:
    """MPI ranks per GPAW task: ``$PEROVCALC_RANKS`` if set, else the number of cores."""
    value = os.environ.get(RANKS_ENV)
    if value is None:
        return os.cpu_count() or 1
    return check_ranks(value, RANKS_ENV)


def check_ranks(value: object, field: str = "ranks") -> int:
    """Validate a rank count (a positive integer)."""
    try:
        ranks = int(str(value))
    except ValueError:
        raise InputError(field, value, "a positive integer") from None
    if ranks < 1:
        raise InputError(field, value, "a positive integer")
    return ranks


def gpaw_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for GPAW processes: one BLAS thread per rank, MPI-enabled GPAW."""
    env = dict(os.environ if base is None else base)
    env.update(
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        # GPAW >= 25 uses its own MPI only when asked (or under `gpaw python`).
        GPAW_MPI_BACKEND="cgpaw",
    )
    if os.geteuid() == 0:  # Open MPI refuses to run as root unless told it may
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def mpi_launcher() -> str | None:
    """Path of ``mpiexec`` (or ``mpirun``), or None."""
    return shutil.which("mpiexec") or shutil.which("mpirun")


def mpi_prefix(ranks: int) -> list[str]:
    """``mpiexec -n RANKS``, the words that start a command on ``ranks`` local MPI ranks
    (none for one rank)."""
    if ranks == 1:
        return []
    launcher = mpi_launcher()
    if launcher is None:
        raise MissingDependencyError(
            f"{ranks} MPI ranks requested but no mpiexec/mpirun is on PATH; "
            "install Open MPI (apt-get install openmpi-bin) or use --ranks 1"
        )
    return [launcher, "-n", str(ranks)]
