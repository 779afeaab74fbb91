"""Cluster execution: profiles, batch scripts, and real SLURM and PostgreSQL services.

The tests marked ``services`` start a single-node SLURM (munged, slurmctld, slurmd) and a
PostgreSQL server on loopback (tests/services/) and stop them afterwards. SLURM needs root;
`make test` installs the Debian packages when run as root (as CI does).
"""

import json
import math
import multiprocessing
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from perovcalc.campaign import campaign_from_dict, load_campaign
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.hpc import (
    ParslExecutor,
    job_directives,
    load_profile,
    mpi_launch,
    parsl_config,
    pbs_job_name,
    profile_from_dict,
)
from perovcalc.store import Store
from tests.conftest import WORKFLOWS
from tests.services import is_root, wait_until
from tests.services import postgres as pg
from tests.services import slurm as slurm_service

PROFILES = WORKFLOWS / "profiles"
LOCAL = PROFILES / "localhost-slurm.toml"
SMOKE = WORKFLOWS / "smoke.toml"
DANGEROUS = "x; rm -rf ~"
BULK = {"cspbbr3": {"builder": "perovskite", "halide": "Br", "a": 5.874}}
EOS_SECONDS = 120  # GPAW time of the E(V) scan that a one-minute walltime interrupts


def write_campaign(path: Path, name: str, tasks: dict) -> Path:
    """A campaign file with the CsPbBr3 structure and ``tasks`` (validated on the way)."""
    data = {"campaign": {"name": name}, "structures": BULK, "tasks": tasks}
    campaign_from_dict(data)
    lines = [f"[campaign]\nname = {json.dumps(name)}\n", "[structures.cspbbr3]"]
    lines += ['builder = "perovskite"', 'halide = "Br"', "a = 5.874", ""]
    for task, settings in tasks.items():
        lines.append(f"[tasks.{task}]")
        lines += [f"{key} = {_toml(value)}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def profile_variant(path: Path, **changes: str) -> Path:
    """A copy of the localhost profile with ``key = value`` lines replaced."""
    text = LOCAL.read_text()
    for key, value in changes.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    path.write_text(text)
    return path


def script_of(cli, *args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli, "submit", *map(str, args), "--dry-run"],
        capture_output=True, text=True, env=env, cwd=cwd,
    )  # fmt: skip


def exec_words(script: str) -> list[str]:
    """The command of the script's ``exec`` line, as bash would split it."""
    (line,) = [line for line in script.splitlines() if line.startswith("exec ")]
    return shlex.split(line)[1:]


# ---------------------------------------------------------------------- profiles and scripts
def test_example_profiles_load_with_their_task_layout():
    slurm = load_profile(PROFILES / "slurm-example.toml")
    assert (slurm.scheduler, slurm.tasks_per_job, slurm.ranks_per_task) == ("slurm", 4, 128)
    assert slurm.worker_init[0].startswith("module load")
    pbs = load_profile(PROFILES / "pbs-example.toml")
    assert (pbs.scheduler, pbs.tasks_per_job, pbs.ranks_per_task) == ("pbs", 2, 128)
    local = load_profile(LOCAL)
    assert (local.partition, local.ranks_per_task, local.address) == ("debug", 1, "127.0.0.1")


BASE = {"profile": {"name": "p", "scheduler": "slurm"}, "job": {"walltime": "01:00:00"}}


@pytest.mark.parametrize(
    "section, key, value, field",
    [
        ("job", "queue", "workq", "job.queue"),  # a PBS key in a SLURM profile
        ("job", "walltime", "90 minutes", "job.walltime"),
        ("job", "partition", "debug; rm -rf ~", "job.partition"),
        ("job", "account", "a b", "job.account"),
        ("job", "nodes", 0, "job.nodes"),
        ("job", "exclusive", "yes", "job.exclusive"),
        ("job", "worker_init", ["module load x\nrm -rf ~"], "job.worker_init"),
        ("task", "nodes", 2, "task.nodes"),  # more than the job's one node
        ("task", "launcher", "aprun", "task.launcher"),
        ("task", "ranks_per_node", True, "task.ranks_per_node"),
        ("parsl", "python", "python3", "parsl.python"),
        ("parsl", "heartbeat_threshold", 10, "parsl.heartbeat_threshold"),
        ("site", "name", "x", "site"),
    ],
)
def test_bad_profile_values_name_the_field(section, key, value, field):
    data = {name: dict(table) for name, table in BASE.items()}
    data.setdefault(section, {})[key] = value
    with pytest.raises(InputError) as err:
        profile_from_dict(data, "p.toml")
    assert err.value.field == field
    assert err.value.value == value or field == "site"
    assert "p.toml" in str(err.value)


def test_pbs_script_of_the_sample_profile(perovcalc_cli, tmp_path):
    done = script_of(
        perovcalc_cli,
        SMOKE,
        "--profile",
        PROFILES / "pbs-example.toml",
        "--workdir",
        tmp_path / "w",
    )
    assert done.returncode == 0, done.stderr
    script = done.stdout
    workdir = tmp_path / "w"
    head = [line for line in script.splitlines() if line.startswith("#PBS")]
    assert head == [
        "#PBS -N smoke",
        "#PBS -l select=4:ncpus=64:mpiprocs=64",
        "#PBS -l walltime=12:00:00",
        "#PBS -l place=scatter:excl",
        "#PBS -q workq",
        "#PBS -A perovskite-ncs",
        "#PBS -j oe",
        f'#PBS -o "{workdir}/pbs-job.out"',
        "#PBS -l fs=scratch",
        "#PBS -m n",
    ]
    assert script.startswith("#!/bin/bash\n#PBS -N smoke\n")  # directives before any command
    assert "module load openmpi/4.1 openblas libxc\n" in script
    assert f"cd {workdir}\n" in script
    assert exec_words(script) == [
        "/home/user/perovcalc/.venv/bin/python", "-m", "perovcalc.cli.main", "run",
        str(SMOKE), "--profile", str(PROFILES / "pbs-example.toml"), "--in-allocation",
        "--db", f"{workdir}/results.db", "--workdir", str(workdir),
    ]  # fmt: skip
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert not workdir.exists()  # a dry run writes nothing


def test_dangerous_names_and_paths_are_quoted_in_scripts(perovcalc_cli, tmp_path):
    campaign = write_campaign(
        tmp_path / "c.toml", DANGEROUS, {"e": {"kind": "single_point", "structure": "cspbbr3"}}
    )
    workdir = tmp_path / "it's a $(dir) `x`"
    db = "postgresql://me:s3cr3t@db.example:5432/perov"
    done = script_of(
        perovcalc_cli, campaign, "--profile", PROFILES / "slurm-example.toml",
        "--workdir", workdir, "--db", db,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    script = done.stdout
    assert '#SBATCH --job-name="x; rm -rf ~"\n' in script
    assert f'#SBATCH --output="{workdir}/slurm-%j.out"\n' in script
    words = exec_words(script)
    assert words[words.index("--workdir") + 1] == str(workdir)
    assert words[words.index("--db") + 1] == "postgresql://me@db.example:5432/perov"
    assert "s3cr3t" not in script and "s3cr3t" not in done.stderr
    assert "postgresql://me:***@db.example:5432/perov" in done.stderr
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    pbs = job_directives(load_profile(PROFILES / "pbs-example.toml"), DANGEROUS, workdir / "o")
    assert pbs[0] == "#PBS -N x__rm_-rf__" == f"#PBS -N {pbs_job_name(DANGEROUS)}"
    with pytest.raises(InputError, match="campaign.name"):
        pbs_job_name("two\nlines")


def test_mpi_launch_lines():
    srun = load_profile(PROFILES / "slurm-example.toml")
    assert mpi_launch(srun, 256, ["n1", "n2"]) == [
        "srun", "--nodes=2", "--ntasks=256", "--ntasks-per-node=128", "--nodelist=n1,n2",
        "--mpi=pmix", "--cpu-bind=cores", "--hint=nomultithread",
    ]  # fmt: skip
    openmpi = load_profile(PROFILES / "pbs-example.toml")
    assert mpi_launch(openmpi, 128, ["a", "b"]) == [
        "mpiexec", "-n", "128", "--host", "a:64,b:64", "--bind-to", "core",
    ]  # fmt: skip


def test_parsl_configuration_for_pbs(tmp_path):
    profile = load_profile(PROFILES / "pbs-example.toml")
    config = parsl_config(profile, tmp_path / "w", DANGEROUS)
    (executor,) = config.executors
    provider = executor.provider
    assert type(provider).__name__ == "PBSProProvider"
    assert provider.scheduler_options.splitlines()[0] == "#PBS -N x__rm_-rf__"
    assert "#PBS -l fs=scratch" in provider.scheduler_options
    assert (provider.nodes_per_block, provider.max_blocks, provider.walltime) == (4, 1, "12:00:00")
    assert provider.select_options == "mpiprocs=64" and provider.cpus_per_node == 64
    assert executor.max_workers_per_block == 2 and executor.address == "10.10.0.1"
    assert executor.launch_cmd.startswith(
        "/home/user/perovcalc/.venv/bin/python -m parsl.executors.high_throughput"
    )
    assert config.run_dir == str(tmp_path / "w" / "parsl")


def test_parsl_refuses_shell_unsafe_workdir_and_in_allocation_outside_a_job(tmp_path, monkeypatch):
    profile = load_profile(LOCAL)
    with pytest.raises(InputError, match="--workdir"):
        parsl_config(profile, tmp_path / "a b", "smoke")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("PBS_JOBID", raising=False)
    with pytest.raises(PerovcalcError, match="SLURM_JOB_ID"):
        ParslExecutor(profile, tmp_path / "w", "smoke", in_allocation=True)


# ---------------------------------------------------------------------- real services
@pytest.fixture(scope="module")
def slurm():
    if not is_root():
        pytest.skip("slurmd must run as root to start jobs: run the tests as root (make test)")
    missing = slurm_service.missing()
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `make setup` as root")
    cluster = slurm_service.SlurmCluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def postgres():
    if pg.bin_dir() is None:
        if not is_root():
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql as root)")
        pytest.fail("PostgreSQL server binaries not installed: run `make setup` as root")
    server = pg.PostgresServer.start()
    yield server
    server.stop()


def eos_points_for(seconds: float) -> int:
    """E(V) points (demo preset, CsPbBr3, one core) that take about ``seconds`` here and now:
    SLURM ends a one-minute job 60-90 s after its start, so a scan of 120 s is interrupted on
    any machine unless that machine gets 1.3 times faster meanwhile (it gets slower: the smoke
    campaign runs beside it)."""
    from perovcalc.bulk import cubic_perovskite
    from perovcalc.calculate import single_point
    from perovcalc.presets import gpaw_parameters

    atoms = cubic_perovskite(5.874 * 0.96, "Br")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        single_point(atoms, gpaw_parameters(atoms, "demo"), tmp, ("energy",))
        per_point = time.perf_counter() - start
    return max(12, math.ceil(seconds / per_point))


@pytest.fixture(scope="module")
def walltime_run(slurm, tmp_path_factory, perovcalc_cli_module):
    """A one-task campaign (an E(V) scan of ~2 min) run through Parsl with a one-minute
    walltime, started in the background: the smoke test requests it first so that both jobs
    share the node's CPUs. Yields (directory, campaign file, process, number of points)."""
    root = tmp_path_factory.mktemp("walltime")
    points = eos_points_for(EOS_SECONDS)
    campaign = write_campaign(
        root / "long.toml",
        "walltime",
        {"eos": {"kind": "relax_lattice", "structure": "cspbbr3",
                 "options": {"points": points, "strain": 0.04}}},
    )  # fmt: skip
    short = profile_variant(root / "short.toml", walltime='"00:01:00"')
    with open(root / "out.txt", "w") as out, open(root / "err.txt", "w") as err:
        proc = subprocess.Popen(
            [*perovcalc_cli_module, "run", str(campaign), "--profile", str(short),
             "--workdir", str(root / "w")],
            cwd=root, env=slurm.env, stdout=out, stderr=err,
        )  # fmt: skip
    yield root, campaign, proc, points
    if proc.poll() is None:  # SIGINT: the runner shuts Parsl down and cancels its jobs
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def perovcalc_cli_module():
    return [sys.executable, "-m", "perovcalc.cli.main"]


@pytest.mark.services
def test_smoke_campaign_runs_on_slurm_through_parsl(slurm, walltime_run, tmp_path, perovcalc_cli):
    proc = subprocess.Popen(
        [*perovcalc_cli, "run", str(SMOKE), "--profile", str(LOCAL), "--workdir", "w"],
        cwd=tmp_path, env=slurm.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = set()
    while proc.poll() is None:
        seen |= {(name, state) for _, name, state in slurm.jobs()}
        time.sleep(1)
    out, err = proc.communicate()
    assert proc.returncode == 0, err + slurm.logs()
    assert ("smoke", "RUNNING") in seen  # Parsl's batch job, named after the campaign
    rows = {row.task: row for row in Store(tmp_path / "w" / "results.db").rows()}
    ids = load_campaign(SMOKE).task_ids()
    assert sorted(rows) == ["lattice", "relax", "stress"]
    assert all(rows[t].status == "done" and rows[t].task_id == ids[t] for t in rows)
    a = rows["lattice"].data["result"]["lattice_constant"]
    assert f"a = {a:.4f} A" in out
    assert rows["stress"].toatoms().cell.lengths() == pytest.approx([a] * 3)
    assert rows["stress"].stress.shape == (6,)
    scripts = list((tmp_path / "w" / "parsl").glob("*/submit_scripts/parsl.perovcalc.block-*"))
    batch = [s for s in scripts if not s.name.endswith((".stdout", ".stderr"))]
    assert batch and all('#SBATCH --job-name="smoke"\n' in s.read_text() for s in batch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]  # nothing outside the workdir


@pytest.mark.services
def test_walltime_interrupts_a_task_and_a_rerun_resumes_it(slurm, walltime_run, perovcalc_cli):
    root, campaign, proc, points_total = walltime_run
    proc.wait(timeout=400)
    out, err = (root / "out.txt").read_text(), (root / "err.txt").read_text()
    assert proc.returncode == 1, err + slurm.logs()
    assert "interrupted: eos" in out
    (row,) = Store(root / "w" / "results.db").rows()
    assert row.status == "interrupted" and "SIGTERM" in row.reason  # recorded by the worker
    ended = [j for j in slurm.completed_jobs() if j.get("Name") == "walltime"]
    assert any(j["JobState"] == "TIMEOUT" for j in ended), ended
    (checkpoint,) = (root / "w" / "tasks").glob("eos-*/eos.json")
    points = json.loads(checkpoint.read_text())
    assert 1 <= len(points) < points_total
    points[0]["written_before_the_walltime"] = True  # only a resumed task keeps this key
    checkpoint.write_text(json.dumps(points))

    longer = profile_variant(root / "longer.toml", ranks_per_node="2")  # 10 min, 2 ranks
    rerun = subprocess.run(
        [*perovcalc_cli, "run", str(campaign), "--profile", str(longer), "--workdir", "w"],
        cwd=root, env=slurm.env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr + slurm.logs()
    rows = Store(root / "w" / "results.db").rows()
    assert len(rows) == 1 and rows[0].id == row.id and rows[0].status == "done"
    final = rows[0].data["result"]["points"]
    assert len(final) == points_total
    assert final[0]["written_before_the_walltime"] is True
    assert [p["energy"] for p in final[: len(points)]] == [p["energy"] for p in points]
    assert 5.8 < rows[0].data["result"]["lattice_constant"] < 6.2


@pytest.mark.services
def test_sbatch_reads_quoted_job_names_back_exactly(slurm, tmp_path):
    profile = load_profile(LOCAL)
    names = [DANGEROUS, "a \"quoted\" \\ back#slash $(touch pwned) `id` 'x'"]
    for name in names:
        script = tmp_path / "job.sh"
        lines = job_directives(profile, name, tmp_path / "out-%j")
        script.write_text("\n".join(["#!/bin/bash", *lines, "true"]) + "\n")
        done = subprocess.run(
            ["sbatch", "--parsable", "--hold", str(script)],
            env=slurm.env, capture_output=True, text=True, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        job = done.stdout.strip()
        assert dict((i, n) for i, n, _ in slurm.jobs())[job] == name
        subprocess.run(["scancel", job], env=slurm.env, check=True)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.services
def test_dangerous_campaign_name_submits_a_job_named_exactly_that(
    slurm, postgres, tmp_path, perovcalc_cli
):
    """`perovcalc submit` of a campaign called 'x; rm -rf ~' with its results on PostgreSQL:
    the job has exactly that name, deletes nothing, writes only into the campaign directory,
    and the database password appears in no output, script or log."""
    home, here, elsewhere = tmp_path / "home", tmp_path / "here", tmp_path / "campaigns"
    for path in (home, here, elsewhere):
        path.mkdir()
    (home / "canary").write_text("still here\n")
    (home / ".pgpass").write_text(f"127.0.0.1:{postgres.port}:*:{pg.USER}:{postgres.password}\n")
    (home / ".pgpass").chmod(0o600)
    campaign = write_campaign(
        elsewhere / "dangerous.toml",
        DANGEROUS,
        {"energy": {"kind": "single_point", "structure": "cspbbr3"}},
    )
    env = dict(slurm.env, HOME=str(home), PGPASSFILE=str(home / ".pgpass"))
    submit = subprocess.run(
        [*perovcalc_cli, "submit", str(campaign), "--profile", str(LOCAL), "--workdir", "w",
         "--db", postgres.url],
        cwd=here, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr
    job = re.search(r"submitted batch job (\d+)", submit.stdout).group(1)
    assert dict((i, n) for i, n, _ in slurm.jobs())[job] == DANGEROUS

    def finished():
        return [j for j in slurm.completed_jobs() if j.get("JobId") == job]

    wait_until(finished, 180, f"job {job} finished")
    (record,) = finished()
    assert record["Name"] == DANGEROUS and record["JobState"] == "COMPLETED", slurm.logs()
    (row,) = Store(postgres.url).rows(campaign=DANGEROUS)
    assert row.status == "done" and row.energy < 0
    assert (home / "canary").read_text() == "still here\n"
    assert sorted(p.name for p in home.iterdir()) == [".pgpass", "canary"]
    assert sorted(p.name for p in here.iterdir()) == ["w"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["dangerous.toml"]
    status = subprocess.run(
        [*perovcalc_cli, "status", str(campaign), "--db", postgres.url],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert re.search(r"energy\s+single_point\s+done", status.stdout)
    outputs = submit.stdout + submit.stderr + status.stdout + status.stderr
    files = [p for p in (here / "w").rglob("*") if p.is_file()]
    assert any(p.name == f"slurm-{job}.out" for p in files)
    leaks = [p for p in files if postgres.password.encode() in p.read_bytes()]
    assert postgres.password not in outputs and not leaks


@pytest.mark.services
def test_local_run_keeps_the_database_password_out_of_task_files(postgres, tmp_path, perovcalc_cli):
    """`perovcalc run --db URL-with-password` with no ~/.pgpass: the worker reaches the
    database (it gets the password in its environment) and no file of the run holds it."""
    url = postgres.create_database("password")
    campaign = write_campaign(
        tmp_path / "pw.toml", "pw", {"energy": {"kind": "single_point", "structure": "cspbbr3"}}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGPASS")}
    env["HOME"] = str(tmp_path)  # no ~/.pgpass to fall back on
    run = subprocess.run(
        [*perovcalc_cli, "run", str(campaign), "--db", url, "--workdir", str(tmp_path / "w")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (row,) = Store(url).rows(campaign="pw")
    assert row.status == "done" and row.energy < 0
    (task_file,) = (tmp_path / "w").rglob("task.json")
    assert json.loads(task_file.read_text())["db"] == url.replace(f":{postgres.password}@", "@")
    leaks = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and postgres.password.encode() in p.read_bytes()
    ]
    assert postgres.password not in run.stdout + run.stderr and not leaks


def _writer(url: str, ids: list[str], writer: int, start_at: float) -> list[str]:
    """One of several concurrent writers: claims what it can and finishes it, and between
    tasks sends heartbeats for random tasks, as runners do for tasks that their workers may
    be finishing at that moment (a heartbeat must never undo a result)."""
    from ase import Atoms

    time.sleep(max(0.0, start_at - time.time()))
    store = Store(url)  # several at once on an empty database: the tables are created once
    rng = random.Random(writer)
    claimed = []
    for task_id in rng.sample(ids, len(ids)):
        if store.claim(task_id, {"campaign": "concurrency", "task": task_id}):
            claimed.append(task_id)
            atoms = Atoms("Cs", cell=[4.0, 4.0, 4.0], pbc=True)
            store.finish(task_id, atoms, {"writer": writer}, {"result": {"writer": writer}})
        for other in rng.sample(ids, 2):
            store.heartbeat(other)
    return claimed


@pytest.mark.services
def test_postgres_store_with_concurrent_writers(postgres):
    url = postgres.create_database("concurrency")
    ids = [f"task-{n:02d}" for n in range(24)]
    writers = 6
    start_at = time.time() + 3.0
    with multiprocessing.get_context("spawn").Pool(writers) as pool:
        claimed = pool.starmap(_writer, [(url, ids, k, start_at) for k in range(writers)])
    rows = Store(url).rows()
    assert sorted(row.task_id for row in rows) == ids  # no lost and no duplicated rows
    assert sum(len(c) for c in claimed) == len(ids)  # every task claimed exactly once
    owner = {task_id: k for k, tasks in enumerate(claimed) for task_id in tasks}
    for row in rows:
        assert row.status == "done"
        assert row.writer == owner[row.task_id] == row.data["result"]["writer"]
    assert sum(1 for c in claimed if c) > 1  # the writers really overlapped
    assert "***" in repr(Store(url)) and postgres.password not in repr(Store(url))
