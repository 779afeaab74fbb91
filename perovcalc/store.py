"""Results store on the ASE database: an SQLite file by default, any ASE db URL at scale.

One row per task, keyed by its content-hash ``task_id``. A row is created when a runner claims
the task (``status="running"``) and completed in place (``done``, ``failed`` or ``interrupted``),
so a task never has two rows. Every write (claim, heartbeat, finish, mark) is a read-modify-write
done while holding a lock shared by all processes using the store: an exclusive ``flock`` on
``<db>.claim`` for SQLite, a session advisory lock on PostgreSQL (both released by the server or
kernel if the holder dies). So claims are atomic, a heartbeat never overwrites a result written
at the same moment, and rows are only inserted under the lock (ASE's PostgreSQL backend reads
back the id of an inserted row from the shared sequence, which concurrent inserts would confuse).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from ase import Atoms

STATUSES = ("running", "done", "failed", "interrupted")
ADVISORY_LOCK = 7303  # PostgreSQL advisory lock key of the store
STALE_AFTER = 600.0  # s without a heartbeat after which a running claim on another host is stale
HEARTBEAT = 30.0  # s between heartbeats of a running task


def redact(url: str, mask: str = ":***") -> str:
    """``url`` with any password replaced by ``mask`` (default ``:***``, for printing and
    logs; ``""`` removes it, and libpq then reads ~/.pgpass or PGPASSWORD)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f"{mask}@")
    return urlunsplit(parts._replace(netloc=netloc))


def password_of(url: str) -> str | None:
    """The password in ``url`` (decoded), or None."""
    password = urlsplit(url).password
    return None if password is None else unquote(password)


def owner_id() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return True


def is_stale(row, now: float | None = None) -> bool:
    """A ``running`` row whose owner has died (same host) or stopped heartbeating."""
    if row.get("status") != "running":
        return False
    now = time.time() if now is None else now
    host, _, pid = str(row.get("owner", ":")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return not _alive(int(pid))
    return now - float(row.get("heartbeat", 0.0)) > STALE_AFTER


class Store:
    """Task rows of one ASE database (path or URL)."""

    def __init__(self, url: str | Path):
        import ase.db

        self.url = str(url)
        self.is_postgres = self.url.startswith(("postgresql://", "postgres://"))
        if not self.is_postgres:
            Path(self.url).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        self.db = ase.db.connect(self.url, use_lock_file=False)
        # create the tables once, under the lock: ASE checks for them and then creates them, so
        # a second process could find the tables without the version row and fail to read them
        with self._exclusive(), self.db.managed_connection():
            pass

    def __repr__(self) -> str:
        return f"Store({redact(self.url)!r})"

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise the writes of all processes that use this store."""
        if self.is_postgres:
            con = self.db._connect()  # a session of its own, which holds the lock
            try:
                con.cursor().execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK,))
                yield
            finally:
                con.close()  # ends the session and so releases the lock
            return
        with open(f"{self.url}.claim", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def get(self, task_id: str):
        """The row of ``task_id`` or None."""
        rows = list(self.db.select(task_id=task_id))
        return rows[0] if rows else None

    def rows(self, **selection) -> list:
        """All rows matching key=value ``selection`` (e.g. ``campaign="smoke"``)."""
        return list(self.db.select(**selection))

    def claim(self, task_id: str, metadata: dict, retry_failed: bool = False) -> bool:
        """Take ``task_id`` for this process; False if it is done or held by a live owner.

        A new task gets its row here; an interrupted or stale one (and a failed one with
        ``retry_failed``) is taken over in place.
        """
        now = time.time()
        claim = {"status": "running", "owner": owner_id(), "started": now, "heartbeat": now}
        with self._exclusive():
            row = self.get(task_id)
            if row is None:
                self.db.write(Atoms(), task_id=task_id, reason="", **metadata, **claim)
                return True
            takeable = row.status == "interrupted" or is_stale(row, now)
            if retry_failed and row.status == "failed":
                takeable = True
            if not takeable:
                return False
            self.db.update(row.id, reason="", **claim)
            return True

    def heartbeat(self, task_id: str) -> None:
        """Record that the owner of ``task_id`` is alive."""
        with self._exclusive():
            row = self.get(task_id)
            if row is not None and row.status == "running":
                self.db.update(row.id, heartbeat=time.time())

    def finish(self, task_id: str, atoms: Atoms, key_value_pairs: dict, data: dict) -> None:
        """Complete a claimed task: final structure with its results, settings and data."""
        with self._exclusive():
            row = self.get(task_id)
            now = time.time()
            self.db.update(
                row.id,
                atoms=atoms,
                data=data,
                status="done",
                finished=now,
                wall_s=now - row.started,
                **key_value_pairs,
            )

    def rekey(self, old_id: str, new_id: str) -> bool:
        """Give the row of ``old_id`` the id ``new_id``; False if either makes that impossible."""
        with self._exclusive():
            row = self.get(old_id)
            if row is None or self.get(new_id) is not None:
                return False
            self.db.update(row.id, task_id=new_id)
            return True

    def mark(self, task_id: str, status: str, reason: str) -> None:
        """Set a claimed task to ``failed`` or ``interrupted`` with a one-line ``reason``."""
        with self._exclusive():
            row = self.get(task_id)
            now = time.time()
            self.db.update(
                row.id, status=status, reason=reason[:500], finished=now, wall_s=now - row.started
            )
