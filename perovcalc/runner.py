"""Runs a campaign: claims tasks in dependency order, launches workers, resumes after a crash.

Each task runs in its own process (``python -m perovcalc.worker``, under ``mpiexec`` for more
than one rank) in ``<workdir>/tasks/<name>-<id>/``, which holds its log and checkpoints. Several
runners may work on one campaign and store at once: claims in the store are atomic, so no task
runs twice. A rerun skips finished tasks, resumes interrupted ones (and ones whose runner died)
and, unless ``retry_failed``, leaves failed ones with their reason.
"""

from __future__ import annotations

import ctypes
import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from perovcalc.campaign import Campaign, TaskSpec
from perovcalc.kinds import get_kind
from perovcalc.parallel import gpaw_environment, mpi_prefix
from perovcalc.store import HEARTBEAT, Store, is_stale, password_of, redact

SCF_LINE = re.compile(r"^\|?iter:\s*\d+")  # an SCF iteration in a GPAW log (new and old code)
POLL = 0.5  # s


class Job(Protocol):
    """A launched task: ``poll()`` returns None while running, else the exit status."""

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...


class Executor(Protocol):
    """Where tasks run: the local machine, or a cluster through Parsl (:mod:`perovcalc.hpc`).

    ``submit(command, workdir, ranks, env)`` starts ``command`` (the command line of one
    process) on ``ranks`` MPI ranks in ``workdir``, with ``env`` added to its environment (kept
    in memory, never written to disk); the executor adds its own MPI launcher.
    """

    max_running: int

    def submit(self, command: list[str], workdir: Path, ranks: int, env: dict[str, str]) -> Job: ...


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the runner dies, so no orphan keeps computing."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class LocalExecutor:
    """Runs tasks as subprocesses of this machine, ``max_running`` at a time."""

    max_running: int = 1

    def submit(
        self, command: list[str], workdir: Path, ranks: int, env: dict[str, str]
    ) -> subprocess.Popen:
        log = open(workdir / "worker.log", "ab")  # noqa: SIM115 - owned by the child process
        return subprocess.Popen(
            [*mpi_prefix(ranks), *command],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=gpaw_environment() | env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


@dataclass
class RunSummary:
    """What a run did: task names by outcome."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # finished earlier (or by another runner)
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason
    interrupted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


def default_workdir(campaign: Campaign) -> Path:
    """``results/<campaign name>/`` below the current directory."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", campaign.name).strip("._") or "campaign"
    return Path("results") / safe


def task_directory(workdir: Path, name: str, task_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "task"
    return workdir / "tasks" / f"{safe}-{task_id[:8]}"


def adopt_legacy_rows(campaign: Campaign, store: Store, workdir: Path | None) -> list[str]:
    """Move the rows that perovcalc 0.1 stored under its task ids (see ``Campaign.recipe``) to
    the current ids, with their task folders in ``workdir``; the names of the tasks adopted.

    A row is adopted only if it is the same computation: every task it depends on has its
    current result, finished before the row's task started. Without ``workdir`` only finished
    rows are adopted (an interrupted task needs its checkpoints)."""
    ids, legacy = campaign.task_ids(), campaign.task_ids(legacy=True)
    adopted = []
    for task in campaign.order():
        name = task.name
        if ids[name] == legacy[name] or store.get(ids[name]) is not None:
            continue
        old = store.get(legacy[name])
        if old is None:
            continue
        resumable = old.status == "interrupted" or is_stale(old)
        if old.status != "done" and not (workdir is not None and resumable):
            continue
        deps = [store.get(ids[d]) for d in campaign.dependencies(task)]
        if any(d is None or d.status != "done" or d.finished > old.started for d in deps):
            continue
        if not store.rekey(legacy[name], ids[name]):
            continue
        if workdir is not None:
            folder = task_directory(workdir, name, legacy[name])
            if folder.is_dir() and not task_directory(workdir, name, ids[name]).exists():
                folder.rename(task_directory(workdir, name, ids[name]))
        adopted.append(name)
    return adopted


class Progress:
    """One status line per running task: n of m, name, elapsed time, SCF iterations of its
    current GPAW calculation (the newest ``*.txt`` log in its directory: ``gpaw.txt``, the
    images' ``gpaw-image1.txt``, a core hole's ``hole-Br3.txt``, ...)."""

    def __init__(self, total: int, stream: TextIO = sys.stderr):
        self.total, self.stream, self.last = total, stream, 0.0
        self.tty = stream.isatty()

    def __call__(self, n: int, name: str, kind: str, started: float, taskdir: Path, force=False):
        now = time.time()
        if not force and now - self.last < (1.0 if self.tty else 30.0):
            return
        self.last = now
        try:
            log = max(taskdir.rglob("*.txt"), key=lambda p: p.stat().st_mtime)
            scf = sum(1 for line in log.open(errors="replace") if SCF_LINE.match(line))
        except (OSError, ValueError):  # no log yet
            scf = 0
        line = f"[{n}/{self.total}] {name} ({kind}) {now - started:6.0f} s, SCF iterations {scf}"
        self.stream.write(f"\r{line:<78}" if self.tty else line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        self.stream.write(("\r" if self.tty else "") + f"{text:<78}\n")
        self.stream.flush()


def task_ranks(task: TaskSpec, ranks: int) -> int:
    """MPI ranks of ``task``: ``ranks`` for a DFT kind, at most its ``max_ranks``; 1 otherwise."""
    if not get_kind(task.kind).dft:
        return 1
    return min(ranks, task.max_ranks or ranks)


def run_campaign(
    campaign: Campaign,
    db: str | Path | None = None,
    ranks: int = 1,
    workdir: str | Path | None = None,
    executor: Executor | None = None,
    retry_failed: bool = False,
    stream: TextIO = sys.stderr,
) -> RunSummary:
    """Run every task of ``campaign`` that has not finished; return what happened.

    ``db`` defaults to ``<workdir>/results.db``; ``workdir`` to ``results/<campaign name>``.
    A password in a ``db`` URL reaches the workers as ``PGPASSWORD`` in their environment, not
    through their task files.
    """
    campaign.validate()
    workdir = (Path(workdir) if workdir is not None else default_workdir(campaign)).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    db = str(db if db is not None else workdir / "results.db")
    store = Store(db if "://" in db else Path(db).resolve())
    executor = executor or LocalExecutor()
    password = password_of(store.url)
    secrets = {} if password is None else {"PGPASSWORD": password}
    for name in adopt_legacy_rows(campaign, store, workdir):
        print(f"{name}: result of perovcalc 0.1 adopted under the task's current id", file=stream)
    ids = campaign.task_ids()
    order = campaign.order()
    names = [t.name for t in order]
    progress = Progress(len(order), stream)
    summary = RunSummary()
    pending = list(order)
    running: dict[str, tuple[Job, float, Path, float]] = {}

    # Every task leaves ``pending`` as done, failed or launched, and a dependency comes first in
    # ``order``: the state of a dependency is known here, only a task's own row is looked up.
    finished: set[str] = set()

    def deps_of(name: str) -> list[str]:
        return campaign.dependencies(campaign.tasks[name])

    while pending or running:
        launched = False
        for task in list(pending):
            deps = deps_of(task.name)
            broken = [d for d in deps if d in summary.failed or d in summary.interrupted]
            if not broken and not finished.issuperset(deps):
                continue
            row = store.get(ids[task.name])
            if row is not None and row.status == "done":
                finished.add(task.name)
                summary.skipped.append(task.name)
                pending.remove(task)
                continue
            if row is not None and row.status == "failed" and not retry_failed:
                summary.failed[task.name] = row.reason
                pending.remove(task)
                continue
            if broken:
                reason = f"dependency {broken[0]} did not finish"
                if store.claim(ids[task.name], _metadata(campaign, task)):
                    store.mark(ids[task.name], "failed", reason)
                summary.failed[task.name] = reason
                pending.remove(task)
                continue
            if len(running) >= executor.max_running:
                break
            if not store.claim(ids[task.name], _metadata(campaign, task), retry_failed):
                continue  # another runner holds it; look again later
            pending.remove(task)
            tdir = task_directory(workdir, task.name, ids[task.name])
            tdir.mkdir(parents=True, exist_ok=True)
            spec = {
                "db": redact(store.url, mask=""),
                "task_id": ids[task.name],
                "name": task.name,
                "campaign": campaign.name,
                "workdir": str(tdir),
                "recipe": campaign.recipe(task, ids),
                "dependencies": {d: ids[d] for d in deps_of(task.name)},
            }
            (tdir / "task.json").write_text(json.dumps(spec, indent=1, default=str))
            command = [sys.executable, "-m", "perovcalc.worker", str(tdir / "task.json")]
            job = executor.submit(command, tdir, task_ranks(task, ranks), secrets)
            now = time.time()
            running[task.name] = (job, now, tdir, now)
            launched = True
        for name, (job, started, tdir, beat) in list(running.items()):
            n = names.index(name) + 1
            status = job.poll()
            if status is None:
                progress(n, name, campaign.tasks[name].kind, started, tdir)
                if time.time() - beat > HEARTBEAT:
                    store.heartbeat(ids[name])
                    running[name] = (job, started, tdir, time.time())
                continue
            del running[name]
            row = store.get(ids[name])
            if row.status == "running":  # the worker died without recording why
                reason = f"worker exited with status {status} (see {tdir / 'worker.log'})"
                store.mark(ids[name], "interrupted" if status < 0 else "failed", reason)
                row = store.get(ids[name])
            outcome = row.status
            if outcome == "done":
                finished.add(name)
                summary.done.append(name)
            elif outcome == "interrupted":
                summary.interrupted.append(name)
            else:
                summary.failed[name] = row.reason
            progress.message(
                f"[{n}/{len(order)}] {name}: {outcome} in {time.time() - started:.0f} s"
            )
        if not launched and (running or pending):
            time.sleep(POLL)
    return summary


def _metadata(campaign: Campaign, task) -> dict:
    return {"campaign": campaign.name, "task": task.name, "kind": task.kind, "preset": task.preset}
