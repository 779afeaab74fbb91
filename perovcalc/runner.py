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
import os
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
from perovcalc.store import HEARTBEAT, Location, Store, is_stale, locate, unconverged

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


def default_store(campaign: Campaign, workdir: str | Path | None = None) -> Path:
    """The results store of ``campaign`` when none is given: ``<workdir>/results.db``
    (``workdir`` default: :func:`default_workdir`), as an absolute path."""
    folder = Path(workdir) if workdir is not None else default_workdir(campaign)
    return (folder.expanduser() / "results.db").resolve()


def task_directory(workdir: Path, name: str, task_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "task"
    return workdir / "tasks" / f"{safe}-{task_id[:8]}"


def legacy_rows(campaign: Campaign, store: Store) -> list[str]:
    """The tasks without a row under their id that have one under the id perovcalc 0.1 gave
    them (see ``Campaign.recipe``); reads only."""
    ids, legacy = campaign.task_ids(), campaign.task_ids(legacy=True)
    return [
        t.name
        for t in campaign.order()
        if ids[t.name] != legacy[t.name]
        and store.get(ids[t.name]) is None
        and store.get(legacy[t.name]) is not None
    ]


def adopt_legacy_rows(
    campaign: Campaign, store: Store, workdir: Path, stream: TextIO | None = None
) -> list[str]:
    """Move the rows that perovcalc 0.1 stored under its task ids (:func:`legacy_rows`) to the
    current ids, with their task folders in ``workdir``; the names of the tasks adopted, each
    also told to ``stream`` if given. ``perovcalc run`` and ``perovcalc migrate`` call it; no
    read-only command does.

    A row is adopted only if it is the same computation: every task it depends on has its
    current result, finished before the row's task started; an interrupted one resumes in its
    folder."""
    ids, legacy = campaign.task_ids(), campaign.task_ids(legacy=True)
    adopted, candidates = [], legacy_rows(campaign, store)
    for task in campaign.order():
        name = task.name
        if name not in candidates:
            continue
        old = store.get(legacy[name])
        resumable = old.status == "interrupted" or is_stale(old)
        if old.status != "done" and not resumable:
            continue
        deps = [store.get(ids[d]) for d in campaign.dependencies(task)]
        if any(d is None or d.status != "done" or d.finished > old.started for d in deps):
            continue
        if not store.rekey(legacy[name], ids[name]):
            continue
        folder = task_directory(workdir, name, legacy[name])
        if folder.is_dir() and not task_directory(workdir, name, ids[name]).exists():
            folder.rename(task_directory(workdir, name, ids[name]))
        adopted.append(name)
        if stream is not None:
            text = f"{name}: result of perovcalc 0.1 adopted under the task's current id"
            print(text, file=stream)
    return adopted


def scf_iterations(taskdir: Path) -> int:
    """SCF iterations so far of the calculation running in ``taskdir``: those of the newest
    ``*.txt`` log below it (``gpaw.txt``, the images' ``gpaw-image1.txt``, a core hole's
    ``hole-Br3.txt``, ...); 0 before the first log."""
    try:
        log = max(taskdir.rglob("*.txt"), key=lambda p: p.stat().st_mtime)
        return sum(1 for line in log.open(errors="replace") if SCF_LINE.match(line))
    except (OSError, ValueError):  # no log yet
        return 0


def stored_wall_times(store: Store) -> dict[tuple[str, str], list[float]]:
    """Wall times (s) of the finished tasks in ``store``, by (kind, preset)."""
    times: dict[tuple[str, str], list[float]] = {}
    for row in store.db.select(status="done", columns=["id", "key_value_pairs"]):
        if row.get("wall_s") is not None:
            times.setdefault((row.get("kind"), row.get("preset")), []).append(float(row.wall_s))
    return times


def duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``3 h 05 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class Progress:
    """While a campaign runs: one line per running task (elapsed time, SCF iterations of its
    current GPAW calculation, see :func:`scf_iterations`) and an overall line (tasks done,
    elapsed time, an estimate of the time left). On a terminal a live display (rich), redrawn
    every second; elsewhere (a log, a batch job) the same lines as plain text every 30 s.

    The time left: for each unfinished task, the mean wall time of the finished tasks of its kind
    and preset (``history``, from the store, and those finished in this run), less what a running
    task has already taken, summed and divided by ``jobs`` (tasks at once), but no less than the
    longest of them; tasks of a kind and preset without a finished task are of unknown time, not
    guessed."""

    def __init__(
        self,
        tasks: list[TaskSpec],
        history: dict[tuple[str, str], list[float]] | None = None,
        jobs: int = 1,
        stream: TextIO | None = None,
    ):
        stream = stream or sys.stderr
        self.tasks = {t.name: t for t in tasks}
        self.number = {t.name: n for n, t in enumerate(tasks, 1)}
        self.history = {key: list(times) for key, times in (history or {}).items()}
        self.jobs, self.stream = max(jobs, 1), stream
        self.settled: dict[str, str] = {}  # name -> outcome (done, failed, interrupted)
        self.start = time.time()
        self.last = 0.0
        self.tty = stream.isatty() and os.environ.get("TERM") != "dumb"
        self.live = None

    def __enter__(self) -> Progress:
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, highlight=False)
            self.live = Live(
                console=console, refresh_per_second=2, redirect_stdout=False,
                redirect_stderr=False, transient=True,
            )  # fmt: skip
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.message(self.lines({}, time.time())[0])

    def expected(self, name: str) -> float | None:
        """Mean wall time (s) of the finished tasks of the kind and preset of ``name``."""
        task = self.tasks[name]
        times = self.history.get((task.kind, task.preset))
        return sum(times) / len(times) if times else None

    def lines(self, running: dict[str, tuple[float, Path]], now: float) -> list[str]:
        """The overall line, then one line per running task (``name: (started, taskdir)``)."""
        left, longest, unknown = 0.0, 0.0, 0
        for name in self.tasks:
            if name in self.settled:
                continue
            expected = self.expected(name)
            if expected is None:
                unknown += 1
            else:
                taken = now - running[name][0] if name in running else 0.0
                left += max(expected - taken, 0.0)
                longest = max(longest, expected - taken)
        done = sum(1 for outcome in self.settled.values() if outcome == "done")
        todo = len(self.tasks) - len(self.settled)
        head = f"{done}/{len(self.tasks)} done"
        if len(self.settled) > done:
            head += f", {len(self.settled) - done} failed or interrupted"
        head += f", elapsed {duration(now - self.start)}"
        if unknown and unknown == todo:
            head += ", left unknown (none of their kind finished yet)"
        elif todo:
            head += f", left ~{duration(max(left / self.jobs, longest))}"
            if unknown:
                head += f" + {unknown} task{'s' if unknown > 1 else ''} of unknown time"
        rows = [head]
        for name, (started, taskdir) in running.items():
            task, expected = self.tasks[name], self.expected(name)
            of = f" of ~{duration(expected)}" if expected is not None else ""
            rows.append(
                f"  [{self.number[name]}/{len(self.tasks)}] {name} ({task.kind}) "
                f"{duration(now - started)}{of}, SCF iterations {scf_iterations(taskdir)}"
            )
        return rows

    def show(self, running: dict[str, tuple[float, Path]], force: bool = False) -> None:
        """Redraw (a terminal: at most every second) or print (otherwise: every 30 s) the
        progress lines of the tasks ``running`` (``name: (started, taskdir)``)."""
        now = time.time()
        if not force and now - self.last < (1.0 if self.tty else 30.0):
            return
        self.last = now
        lines = self.lines(running, now)
        if self.live is not None:
            from rich.text import Text

            text = Text("\n".join(lines), no_wrap=True, overflow="ellipsis")
            self.live.update(text, refresh=True)
        else:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def settle(self, name: str, outcome: str, seconds: float | None = None) -> None:
        """Record the outcome of ``name``; ``seconds``: it ran here for that long (a line says
        so, and a finished task's time joins the estimates)."""
        self.settled[name] = outcome
        if seconds is None:
            return
        if outcome == "done":
            task = self.tasks[name]
            self.history.setdefault((task.kind, task.preset), []).append(seconds)
        self.message(
            f"[{self.number[name]}/{len(self.tasks)}] {name}: {outcome} in {seconds:.0f} s"
        )

    def message(self, text: str) -> None:
        """A line above the live display (or in the log)."""
        if self.live is not None:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()


def task_ranks(task: TaskSpec, ranks: int) -> int:
    """MPI ranks of ``task``: ``ranks`` for a DFT kind, at most its ``max_ranks``; 1 otherwise."""
    if not get_kind(task.kind).dft:
        return 1
    return min(ranks, task.max_ranks or ranks)


def run_campaign(
    campaign: Campaign,
    db: str | Path | Location | None = None,
    ranks: int = 1,
    workdir: str | Path | None = None,
    executor: Executor | None = None,
    retry_failed: bool = False,
    stream: TextIO | None = None,
) -> RunSummary:
    """Run every task of ``campaign`` that has not finished; return what happened.

    ``db`` defaults to ``<workdir>/results.db``; ``workdir`` to ``results/<campaign name>``.
    A password in a ``db`` URL reaches the workers as ``PGPASSWORD`` in their environment, not
    through their task files.
    """
    from perovcalc.errors import OutputError

    stream = stream or sys.stderr
    campaign.validate()
    location = locate(db, default_store(campaign, workdir))
    store = Store(location)  # a store that cannot be used stops the run before anything is made
    workdir = (Path(workdir) if workdir is not None else default_workdir(campaign)).expanduser()
    workdir = workdir.resolve()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the work directory {workdir}: {err.strerror}") from None
    executor = executor or LocalExecutor()
    secrets = {} if location.password is None else {"PGPASSWORD": location.password}
    adopt_legacy_rows(campaign, store, workdir, stream)
    ids = campaign.task_ids()
    order = campaign.order()
    progress = Progress(order, stored_wall_times(store), executor.max_running, stream)
    summary = RunSummary()
    pending = list(order)
    running: dict[str, tuple[Job, float, Path, float]] = {}

    # Every task leaves ``pending`` as done, failed or launched, and a dependency comes first in
    # ``order``: the state of a dependency is known here, only a task's own row is looked up.
    finished: set[str] = set()

    def deps_of(name: str) -> list[str]:
        return campaign.dependencies(campaign.tasks[name])

    with progress:
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
                    progress.settle(task.name, "done")
                    pending.remove(task)
                    continue
                if row is not None and row.status == "failed" and not retry_failed:
                    summary.failed[task.name] = row.reason
                    progress.settle(task.name, "failed")
                    pending.remove(task)
                    continue
                if broken:
                    reason = f"dependency {broken[0]} did not finish"
                    if store.claim(ids[task.name], _metadata(campaign, task)):
                        store.mark(ids[task.name], "failed", reason)
                    summary.failed[task.name] = reason
                    progress.settle(task.name, "failed")
                    pending.remove(task)
                    continue
                if len(running) >= executor.max_running:
                    break
                if not store.claim(ids[task.name], _metadata(campaign, task), retry_failed):
                    continue  # another runner holds it; look again later
                pending.remove(task)
                tdir = task_directory(workdir, task.name, ids[task.name])
                spec = {
                    "db": store.url,
                    "task_id": ids[task.name],
                    "name": task.name,
                    "campaign": campaign.name,
                    "workdir": str(tdir),
                    "recipe": campaign.recipe(task, ids),
                    "dependencies": {d: ids[d] for d in deps_of(task.name)},
                }
                try:
                    tdir.mkdir(parents=True, exist_ok=True)
                    (tdir / "task.json").write_text(json.dumps(spec, indent=1, default=str))
                except OSError as err:  # the claim must not stay "running" with no worker
                    reason = f"cannot write the task folder {tdir}: {err.strerror}"
                    store.mark(ids[task.name], "failed", reason)
                    summary.failed[task.name] = reason
                    progress.settle(task.name, "failed")
                    continue
                command = [sys.executable, "-m", "perovcalc.worker", str(tdir / "task.json")]
                job = executor.submit(command, tdir, task_ranks(task, ranks), secrets)
                now = time.time()
                running[task.name] = (job, now, tdir, now)
                launched = True
            for name, (job, started, tdir, beat) in list(running.items()):
                status = job.poll()
                if status is None:
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
                progress.settle(name, outcome, time.time() - started)
                if unconverged(row):
                    progress.message(
                        f"{name}: UNCONVERGED (a relaxation or band stopped above fmax)"
                    )
            progress.show(
                {name: (started, tdir) for name, (_, started, tdir, _) in running.items()}
            )
            if not launched and (running or pending):
                time.sleep(POLL)
    return summary


def _metadata(campaign: Campaign, task) -> dict:
    return {"campaign": campaign.name, "task": task.name, "kind": task.kind, "preset": task.preset}
