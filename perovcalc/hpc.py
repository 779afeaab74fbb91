"""Campaigns on SLURM and PBS Pro clusters: site profiles, the Parsl executor, batch scripts.

A profile (``workflows/profiles/*.toml``) says how a site runs GPAW::

    [profile]
    name = "archer-like"
    scheduler = "slurm"             # or "pbs"

    [job]                           # every batch job
    walltime = "04:00:00"           # HH:MM:SS
    nodes = 2                       # nodes per batch job
    partition = "standard"          # SLURM; PBS: queue = "workq", cores_per_node = 128
    account = "e05-surfaces"
    max_jobs = 4                    # batch jobs at once (perovcalc run --profile)
    exclusive = true                # whole nodes
    options = ["--qos=standard"]    # more directives, one per '#SBATCH' / '#PBS' line
    worker_init = ["module load openmpi", "source /work/e05/venv/bin/activate"]

    [task]                          # MPI launch of each GPAW task inside a batch job
    nodes = 1
    ranks_per_node = 128
    launcher = "srun"               # or "mpiexec" (Open MPI)
    launcher_options = ["--mpi=pmix", "--cpu-bind=cores"]

    [parsl]                         # optional
    python = "/work/e05/venv/bin/python"   # interpreter on the compute nodes (default: this one)
    address = "10.0.0.1"            # where workers reach this machine (default: every interface)
    heartbeat_period = 30           # s
    heartbeat_threshold = 120       # s without a heartbeat before a batch job counts as gone

It is used in two ways.

``perovcalc run CAMPAIGN.toml --profile P.toml``
    The runner stays on this (login) machine. Parsl's HighThroughputExecutor in MPI mode
    submits batch jobs through SlurmProvider or PBSProProvider, starts a worker pool in each,
    and gives every task ``[task] nodes`` of its job's nodes, on which the task is started with
    ``srun`` or ``mpiexec``. A job killed by its walltime leaves its task ``interrupted``; a
    rerun resumes it from its checkpoint.
``perovcalc submit CAMPAIGN.toml --profile P.toml [--dry-run]``
    Writes (or prints) one batch script whose job runs the same runner inside its own
    allocation (``perovcalc run --in-allocation``, Parsl with a local provider). Submitting the
    script again resumes the campaign.

Names and paths reach generated scripts only quoted: ``shlex.quote`` on shell lines, the
directive quoting of sbatch on ``#SBATCH`` lines. A SLURM job is named exactly like its
campaign; PBS allows only letters, digits and ``_ . + -`` in job names, so other characters
become ``_``. ``worker_init`` and ``options`` are the site's own shell lines and directives and
are written as given. Database passwords never go into scripts. Everything is written below
the campaign work directory.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import signal
import subprocess
import sys
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from perovcalc.errors import InputError, MissingDependencyError, PerovcalcError
from perovcalc.files import read_toml
from perovcalc.parallel import gpaw_environment
from perovcalc.store import Location

SCHEDULERS = ("slurm", "pbs")
LAUNCHERS = ("srun", "mpiexec")
LABEL = "perovcalc"  # Parsl executor label (it ends up in paths and scripts: keep it plain)
SCHEDULER_WORD = re.compile(r"[A-Za-z0-9_.@+,:-]+")  # partition, queue, account
WALLTIME = re.compile(r"\d+:[0-5]\d:[0-5]\d")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Parsl writes its run directory unquoted into batch scripts and shell commands
PARSL_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+,=@:-]+")
PBS_NAME_LENGTH = 236
# directives that would send job output, or the job itself, outside the work directory
REDIRECTING = {
    "slurm": ("-o", "--output", "-e", "--error", "-i", "--input", "-D", "--chdir"),
    "pbs": ("-o", "-e", "-j", "-d", "-w"),
}


@dataclass(frozen=True)
class Key:
    """One key of a profile section: the Profile attribute it sets, its type, who may use it."""

    attribute: str
    type: type
    required: bool = False
    schedulers: tuple[str, ...] = SCHEDULERS


SCHEMA: dict[str, dict[str, Key]] = {
    "profile": {
        "name": Key("name", str, required=True),
        "scheduler": Key("scheduler", str, required=True),
        "description": Key("description", str),
    },
    "job": {
        "walltime": Key("walltime", str, required=True),
        "nodes": Key("nodes", int),
        "partition": Key("partition", str, schedulers=("slurm",)),
        "queue": Key("queue", str, schedulers=("pbs",)),
        "account": Key("account", str),
        "cores_per_node": Key("cores_per_node", int, schedulers=("pbs",)),
        "max_jobs": Key("max_jobs", int),
        "exclusive": Key("exclusive", bool),
        "options": Key("options", list),
        "worker_init": Key("worker_init", list),
    },
    "task": {
        "nodes": Key("task_nodes", int),
        "ranks_per_node": Key("ranks_per_node", int),
        "launcher": Key("launcher", str),
        "launcher_options": Key("launcher_options", list),
    },
    "parsl": {
        "python": Key("python", str),
        "address": Key("address", str),
        "heartbeat_period": Key("heartbeat_period", int),
        "heartbeat_threshold": Key("heartbeat_threshold", int),
    },
}


@dataclass(frozen=True)
class Profile:
    """How a site runs campaign tasks (see the module docstring for the TOML keys)."""

    name: str
    scheduler: str
    walltime: str  # per batch job, HH:MM:SS
    description: str = ""
    nodes: int = 1  # per batch job
    partition: str | None = None  # SLURM
    queue: str | None = None  # PBS
    account: str | None = None
    cores_per_node: int | None = None  # PBS 'ncpus' (default: ranks_per_node)
    max_jobs: int = 1
    exclusive: bool = True
    options: tuple[str, ...] = ()
    worker_init: tuple[str, ...] = ()
    task_nodes: int = 1
    ranks_per_node: int = 1
    launcher: str = "srun"
    launcher_options: tuple[str, ...] = ()
    python: str = field(default_factory=lambda: sys.executable)
    address: str | None = None
    heartbeat_period: int = 30  # s
    heartbeat_threshold: int = 120  # s
    source: str = "<profile>"

    @property
    def tasks_per_job(self) -> int:
        """Tasks that run at once in one batch job."""
        return self.nodes // self.task_nodes

    @property
    def ranks_per_task(self) -> int:
        """MPI ranks of one GPAW task."""
        return self.task_nodes * self.ranks_per_node


def _check_value(name: str, key: Key, value: object, source: str) -> object:
    if key.type is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(name, value, "a list of strings", source)
        if any(CONTROL.search(item) for item in value):
            raise InputError(name, value, "strings of one line without control characters", source)
        return tuple(value)
    if key.type is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InputError(name, value, "a positive integer", source)
    if not isinstance(value, key.type):
        raise InputError(name, value, f"a {key.type.__name__}", source)
    if isinstance(value, str) and CONTROL.search(value):
        raise InputError(name, value, "a string without control characters", source)
    return value


def profile_from_dict(data: dict, source: str = "<dict>") -> Profile:
    """Build and validate a profile from the parsed TOML structure."""
    for section, table in data.items():
        if section not in SCHEMA:
            raise InputError(section, table, sorted(SCHEMA), source)
        if not isinstance(table, dict):
            raise InputError(section, table, "a table", source)
    scheduler = data.get("profile", {}).get("scheduler")
    if scheduler not in SCHEDULERS:
        raise InputError("profile.scheduler", scheduler, SCHEDULERS, source)
    values: dict[str, object] = {"source": source}
    for section, keys in SCHEMA.items():
        table = data.get(section, {})
        allowed = sorted(k for k, key in keys.items() if scheduler in key.schedulers)
        for name, value in table.items():
            if name not in allowed:
                raise InputError(f"{section}.{name}", value, allowed, source)
            values[keys[name].attribute] = _check_value(
                f"{section}.{name}", keys[name], value, source
            )
        for name, key in keys.items():
            if key.required and name not in table:
                raise InputError(f"{section}.{name}", None, f"a {key.type.__name__}", source)
    profile = Profile(**values)
    _check_profile(profile)
    return profile


def _check_profile(p: Profile) -> None:
    where = p.source
    if not p.name.strip():
        raise InputError("profile.name", p.name, "a non-empty string", where)
    if not WALLTIME.fullmatch(p.walltime) or not any(map(int, p.walltime.split(":"))):
        raise InputError("job.walltime", p.walltime, "HH:MM:SS above 0, e.g. '04:00:00'", where)
    for option in p.options:
        word = option.split("=")[0].split()[0] if option.strip() else ""
        short = word[:2] if not word.startswith("--") else word  # -o/path as well as -o /path
        if word in REDIRECTING[p.scheduler] or short in REDIRECTING[p.scheduler]:
            raise InputError(
                "job.options",
                option,
                f"directives other than {', '.join(REDIRECTING[p.scheduler])}: perovcalc "
                "writes job output and runs jobs in the campaign work directory (--workdir)",
                where,
            )
    for name, value in (("partition", p.partition), ("queue", p.queue), ("account", p.account)):
        if value is not None and not SCHEDULER_WORD.fullmatch(value):
            raise InputError(f"job.{name}", value, "letters, digits and _ . @ + , : -", where)
    if p.task_nodes > p.nodes:
        raise InputError("task.nodes", p.task_nodes, f"at most job.nodes = {p.nodes}", where)
    if p.launcher not in LAUNCHERS:
        raise InputError("task.launcher", p.launcher, LAUNCHERS, where)
    if not os.path.isabs(p.python):
        raise InputError("parsl.python", p.python, "an absolute path", where)
    if p.address is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]+", p.address):
        raise InputError("parsl.address", p.address, "an IP address or host name", where)
    if p.heartbeat_threshold <= p.heartbeat_period:
        raise InputError(
            "parsl.heartbeat_threshold",
            p.heartbeat_threshold,
            f"more than parsl.heartbeat_period = {p.heartbeat_period}",
            where,
        )


def load_profile(path: str | Path) -> Profile:
    """Read and validate a cluster profile TOML file."""
    return profile_from_dict(read_toml(path, "profile file"), source=str(path))


# ---------------------------------------------------------------------- quoting and scripts
def check_job_name(name: str) -> str:
    """A campaign name usable as a batch job name: any text on one line."""
    if not name or CONTROL.search(name):
        raise InputError("campaign.name", name, "one line of text (it names the batch job)")
    return name


def sbatch_quote(value: str) -> str:
    """``value`` as one argument on an ``#SBATCH`` line: sbatch reads double quotes and
    backslash escapes there, not shell quoting (and ``#`` inside quotes is kept)."""
    if CONTROL.search(value):
        raise InputError("batch directive value", value, "one line without control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pbs_quote(value: str) -> str:
    """``value`` as one argument on a ``#PBS`` line (double quotes; no quote inside)."""
    if CONTROL.search(value) or '"' in value:
        raise InputError("batch directive value", value, 'one line without control characters or "')
    return f'"{value}"'


def pbs_job_name(name: str) -> str:
    """``name`` as a PBS job name: letters, digits and ``_ . + -`` only, starting with a
    letter, at most 236 characters (other characters become ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", check_job_name(name))
    if not safe[0].isalpha():
        safe = "j" + safe
    return safe[:PBS_NAME_LENGTH]


def job_directives(profile: Profile, job_name: str, output: Path) -> list[str]:
    """The scheduler directive lines of a batch job of ``profile`` called ``job_name``, with
    its standard output and error going to ``output``."""
    p = profile
    if p.scheduler == "slurm":
        lines = [
            f"--job-name={sbatch_quote(check_job_name(job_name))}",
            f"--nodes={p.nodes}",
            f"--time={p.walltime}",
            f"--ntasks-per-node={p.ranks_per_node}",
        ]
        lines += [f"--partition={p.partition}"] * (p.partition is not None)
        lines += [f"--account={p.account}"] * (p.account is not None)
        lines += ["--exclusive"] * p.exclusive
        lines += [f"--output={sbatch_quote(str(output))}", *p.options]
        return [f"#SBATCH {line}" for line in lines]
    ncpus = p.cores_per_node or p.ranks_per_node
    lines = [
        f"-N {pbs_job_name(job_name)}",
        f"-l select={p.nodes}:ncpus={ncpus}:mpiprocs={p.ranks_per_node}",
        f"-l walltime={p.walltime}",
        f"-l place=scatter{':excl' if p.exclusive else ''}",
    ]
    lines += [f"-q {p.queue}"] * (p.queue is not None)
    lines += [f"-A {p.account}"] * (p.account is not None)
    lines += ["-j oe", f"-o {pbs_quote(str(output))}", *p.options]
    return [f"#PBS {line}" for line in lines]


def batch_script(
    profile: Profile,
    job_name: str,
    campaign_file: Path,
    profile_file: Path,
    workdir: Path,
    db: Location,
) -> str:
    """Batch script whose job runs (or resumes) a campaign inside its allocation.

    The job runs ``perovcalc run CAMPAIGN --profile PROFILE --in-allocation``; ``db`` is
    written without its password (``db.url``). All paths should be absolute.
    """
    if profile.scheduler == "slurm":  # sbatch expands %j to the job id, %% to a literal %
        output = Path(str(workdir).replace("%", "%%")) / "slurm-%j.out"
    else:
        output = workdir / "pbs-job.out"
    command = [
        profile.python, "-m", "perovcalc.cli.main", "run", str(campaign_file),
        "--profile", str(profile_file), "--in-allocation",
        "--db", db.url, "--workdir", str(workdir),
    ]  # fmt: skip
    lines = [
        "#!/bin/bash",
        *job_directives(profile, job_name, output),
        "",
        "# site set-up (worker_init of the profile)",
        *profile.worker_init,
        "",
        f"cd {shlex.quote(str(workdir))}",
        "exec " + shlex.join(command),
    ]
    return "\n".join(lines) + "\n"


def submit_batch_script(profile: Profile, script: Path) -> str:
    """Submit ``script`` with sbatch or qsub (run in its directory); the job id."""
    command = ["sbatch", "--parsable"] if profile.scheduler == "slurm" else ["qsub"]
    try:
        done = subprocess.run(
            [*command, script.name], cwd=script.parent, capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        raise MissingDependencyError(
            f"{command[0]} not found: submit from a {profile.scheduler.upper()} login node, "
            "or print the script with --dry-run"
        ) from None
    if done.returncode != 0:
        raise PerovcalcError(f"{command[0]} refused {script}: {done.stderr.strip()}")
    return done.stdout.strip().split(";")[0]


# ---------------------------------------------------------------------- running through Parsl
def mpi_launch(profile: Profile, ranks: int, nodes: list[str]) -> list[str]:
    """Launcher words starting one task on ``ranks`` MPI ranks over ``nodes``."""
    per_node = math.ceil(ranks / len(nodes))
    if profile.launcher == "srun":
        return [
            "srun", f"--nodes={len(nodes)}", f"--ntasks={ranks}",
            f"--ntasks-per-node={per_node}", f"--nodelist={','.join(nodes)}",
            *profile.launcher_options,
        ]  # fmt: skip
    hosts = ",".join(f"{node}:{per_node}" for node in nodes)
    return ["mpiexec", "-n", str(ranks), "--host", hosts, *profile.launcher_options]


def launch_task(
    command: list[str],
    workdir: str,
    profile: Profile,
    env: dict[str, str],
    parsl_resource_specification: dict,
) -> int:
    """Run on a Parsl worker: start ``command`` with the ranks of its resource specification
    on the nodes Parsl gave it, ``env`` added to its environment; its exit status (negative:
    killed by that signal)."""
    ranks = int(parsl_resource_specification["num_ranks"])
    nodes = os.environ["PARSL_MPI_NODELIST"].split(",")
    with open(Path(workdir) / "worker.log", "ab") as log:
        return subprocess.call(
            [*mpi_launch(profile, ranks, nodes), *command],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=gpaw_environment() | env,
        )


@dataclass
class ParslJob:
    """A task submitted to Parsl; ``poll()`` as for a subprocess."""

    future: Future
    log: Path
    status: int | None = None

    def poll(self) -> int | None:
        if self.status is None and self.future.done():
            try:
                self.status = int(self.future.result())
            except Exception as err:  # the batch job ended first, or could not be submitted
                with self.log.open("a") as fh:
                    fh.write(f"perovcalc: the batch job ended before the task did: {err!r}\n")
                self.status = -signal.SIGTERM
        return self.status

    def terminate(self) -> None:
        self.future.cancel()


def parsl_run_dir(workdir: Path) -> Path:
    """Parsl's directory (logs, generated batch scripts) below ``workdir``."""
    run_dir = workdir.resolve() / "parsl"
    if not PARSL_SAFE_PATH.fullmatch(str(run_dir)):
        raise InputError(
            "--workdir",
            str(workdir),
            "a path of letters, digits and _ . / + , = @ : - when running through Parsl "
            "(Parsl writes it into batch scripts unquoted)",
        )
    return run_dir


def parsl_config(profile: Profile, workdir: Path, job_name: str, in_allocation: bool = False):
    """The Parsl configuration: one MPI-mode HighThroughputExecutor whose blocks are batch jobs
    of ``profile`` called ``job_name`` (or, ``in_allocation``, the batch job we run in)."""
    try:
        import parsl  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "Parsl is not installed: pip install 'perovcalc[hpc]' (or run `make setup`)"
        ) from None
    from parsl.config import Config
    from parsl.executors import MPIExecutor
    from parsl.executors.high_throughput.executor import DEFAULT_LAUNCH_CMD
    from parsl.launchers import SimpleLauncher
    from parsl.providers import LocalProvider, PBSProProvider, SlurmProvider

    p = profile
    if in_allocation:
        provider = LocalProvider(launcher=SimpleLauncher(), init_blocks=1, max_blocks=1)
        address = "127.0.0.1"
    else:
        common = {
            "nodes_per_block": p.nodes,
            "init_blocks": 0,
            "min_blocks": 0,
            "max_blocks": p.max_jobs,
            "walltime": p.walltime,
            "worker_init": "\n".join(p.worker_init),
            "launcher": SimpleLauncher(),
        }
        # Parsl names its jobs itself; a directive after its own renames them
        naming = job_directives(p, job_name, Path("/dev/null"))[0]
        if p.scheduler == "slurm":  # and asks for one task per node: we need CPUs for all ranks
            options = "\n".join(
                [naming, f"#SBATCH --ntasks-per-node={p.ranks_per_node}"]
                + [f"#SBATCH {o}" for o in p.options]
            )
            provider = SlurmProvider(
                partition=p.partition,
                account=p.account,
                exclusive=p.exclusive,
                scheduler_options=options,
                **common,
            )
        else:
            options = "\n".join([naming, *(f"#PBS {o}" for o in p.options)])
            provider = PBSProProvider(
                queue=p.queue,
                account=p.account,
                cpus_per_node=p.cores_per_node or p.ranks_per_node,
                select_options=f"mpiprocs={p.ranks_per_node}",
                scheduler_options=options,
                **common,
            )
        address = p.address
    python = shlex.quote(p.python).replace("{", "{{").replace("}", "}}")
    pool = f"{python} -m parsl.executors.high_throughput.process_worker_pool"
    executor = MPIExecutor(
        label=LABEL,
        provider=provider,
        address=address,
        max_workers_per_block=p.tasks_per_job,
        mpi_launcher=p.launcher,
        heartbeat_period=p.heartbeat_period,
        heartbeat_threshold=p.heartbeat_threshold,
        launch_cmd=DEFAULT_LAUNCH_CMD.replace("process_worker_pool.py", pool, 1),
        interchange_launch_cmd=str(Path(sys.executable).parent / "interchange.py"),
        encrypted=True,
    )
    return Config(
        executors=[executor],
        run_dir=str(parsl_run_dir(workdir)),
        retries=0,
        usage_tracking=0,
        strategy_period=2,
    )


class ParslExecutor:
    """The runner's executor on a cluster: tasks run in batch jobs through Parsl.

    Use as a context manager; leaving it cancels the batch jobs still running.
    ``in_allocation``: run inside the current batch job instead of submitting new ones.
    """

    def __init__(self, profile: Profile, workdir: Path, job_name: str, in_allocation: bool = False):
        if in_allocation and not (os.environ.get("SLURM_JOB_ID") or os.environ.get("PBS_JOBID")):
            raise PerovcalcError(
                "--in-allocation runs inside a SLURM or PBS batch job (as the scripts of "
                "`perovcalc submit` do), but neither SLURM_JOB_ID nor PBS_JOBID is set"
            )
        self.profile = profile
        self.config = parsl_config(profile, workdir, check_job_name(job_name), in_allocation)
        self.max_running = profile.tasks_per_job * (1 if in_allocation else profile.max_jobs)
        self.dfk = None

    def __enter__(self) -> ParslExecutor:
        from parsl.app.app import python_app
        from parsl.dataflow.dflow import DataFlowKernel

        self.dfk = DataFlowKernel(self.config)
        self.app = python_app(launch_task, data_flow_kernel=self.dfk, executors=[LABEL])
        return self

    def __exit__(self, *exc) -> None:
        self.dfk.cleanup()

    def submit(
        self, command: list[str], workdir: Path, ranks: int, env: dict[str, str]
    ) -> ParslJob:
        """Queue ``command`` (its interpreter replaced by the profile's) on ``ranks`` ranks."""
        if command[0] == sys.executable:
            command = [self.profile.python, *command[1:]]
        nodes = math.ceil(ranks / self.profile.ranks_per_node)
        spec = {"num_nodes": nodes, "num_ranks": ranks, "ranks_per_node": math.ceil(ranks / nodes)}
        future = self.app(
            command, str(workdir), self.profile, env, parsl_resource_specification=spec
        )
        return ParslJob(future, workdir / "worker.log")
