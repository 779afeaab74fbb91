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
import functools
import os
import re
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from ase import Atoms

from perovcalc.errors import InputError, PerovcalcError, StoreError

STATUSES = ("running", "done", "failed", "interrupted")
ADVISORY_LOCK = 7303  # PostgreSQL advisory lock key of the store
STALE_AFTER = 600.0  # s without a heartbeat after which a running claim on another host is stale
HEARTBEAT = 30.0  # s between heartbeats of a running task


SCHEMES = ("postgresql", "postgres", "sqlite")  # besides a plain SQLite file path
URL_START = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")  # a scheme (one letter: a drive, no URL)
HOST_PORT = re.compile(r"[A-Za-z0-9._%-]*(:\d*)?|\[[0-9A-Fa-f:.%]+\](:\d*)?")
FORMS = (
    "an SQLite file path (e.g. results/NAME/results.db; start a name that holds ':' with ./), "
    "sqlite:///PATH, or postgresql://USER@HOST[:PORT]/DATABASE with the password in "
    "~/.pgpass, PGPASSFILE or PGPASSWORD"
)


@dataclass(frozen=True)
class Location:
    """Where a store lives: an absolute SQLite file path, or a PostgreSQL URL without its
    password (``url``, safe to write and print). A password given in the URL is kept only in
    memory (``password``) and reaches libpq when connecting, or workers as PGPASSWORD."""

    url: str
    password: str | None = field(default=None, repr=False, compare=False)

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql://")

    def __str__(self) -> str:
        """For messages: the URL, with ``:***`` where a password was given."""
        if self.password is None:
            return self.url
        head, _, tail = self.url.partition("://")
        user, at, rest = tail.rpartition("@")
        return f"{head}://{user}:***@{rest}" if at else f"{head}://:***@{tail}"

    def connection(self) -> str:
        """The name ASE connects to (with the password: never write this anywhere)."""
        if self.password is None:
            return self.url
        head, _, tail = self.url.partition("://")
        user, at, rest = tail.rpartition("@")
        secret = quote(self.password, safe="")
        return f"{head}://{user}:{secret}@{rest}" if at else f"{head}://:{secret}@{tail}"


def _bad_url(scheme: str, problem: str) -> InputError:
    # the value itself is never shown: it may hold a password
    return InputError("--db", f"{scheme}://...", f"{FORMS} ({problem})")


def _postgres(rest: str) -> Location:
    """A ``postgresql://`` URL (without its scheme) taken apart: user, password (also from a
    ``password=`` query parameter), hosts and ports, database, other libpq parameters."""
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        userinfo, hostpart = "", rest
    address, _, query = hostpart.partition("?")
    hosts, _, database = address.partition("/")
    if "#" in hostpart or not all(HOST_PORT.fullmatch(h) for h in hosts.split(",")):
        raise _bad_url(
            "postgresql",
            "its host part cannot be read; percent-encode #, /, ?, @ in a password "
            "(%23, %2F, %3F, %40), or better leave the password out of the URL",
        )
    user, colon, password = userinfo.partition(":")
    if any(c in user for c in "/?#"):
        raise _bad_url("postgresql", "its user name cannot be read")
    secret = unquote(password) if colon else None
    kept = []
    for pair in filter(None, query.split("&")):  # percent-decoding only, as libpq does
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise _bad_url("postgresql", "its ?key=value parameters cannot be read")
        if unquote(key) == "password":
            secret = unquote(value)
        else:
            kept.append(pair)
    url = f"postgresql://{user + '@' if user else ''}{hosts}/{database}"
    if kept:
        url += "?" + "&".join(kept)
    return Location(url, secret)


def parse_location(db: str | Path | Location) -> Location:
    """The store named by ``db`` in one absolute form: an SQLite path (``~`` expanded,
    resolved; ``sqlite:///PATH`` as in SQLAlchemy) or a PostgreSQL URL whose password is
    kept apart. Other URL schemes (mysql, ...) raise InputError without echoing the value."""
    if isinstance(db, Location):
        return db
    text = str(db)
    scheme = URL_START.match(text) if isinstance(db, str) else None
    if scheme is not None:
        name = scheme.group(1).lower()
        if name not in SCHEMES:
            raise InputError("--db", f"{name}:...", f"{FORMS}; the store cannot use {name}")
        if not text[scheme.end() :].startswith("//"):
            raise _bad_url(name, "a URL starts with SCHEME://")
        rest = text[scheme.end() + 2 :]
        if name != "sqlite":
            return _postgres(rest)
        if not rest.startswith("/") or len(rest) < 2:
            raise _bad_url("sqlite", "write sqlite:///relative/path or sqlite:////absolute/path")
        text = rest[1:]
    if not text.strip():
        raise InputError("--db", text, FORMS)
    return Location(str(Path(text).expanduser().resolve()))


def locate(db: str | Path | Location | None, default: Path) -> Location:
    """``db`` if given, else ``default``, as a :class:`Location`."""
    return parse_location(default if db is None else db)


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


def _sqlite_state(path: Path) -> str:
    """``"missing"``, ``"empty"`` (no tables yet) or ``"store"``; StoreError for a file that
    is no results store (a folder, another format, another program's database)."""
    if not path.exists():
        return "missing"
    if not path.is_file():
        raise StoreError(f"results store {path} is not a file; give --db a file name")
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master")}
        finally:
            con.close()
    except sqlite3.Error as err:
        raise StoreError(
            f"results store {path} cannot be read as an SQLite database ({err}): it is damaged "
            "or another kind of file; give --db a results store, or a new file name"
        ) from None
    if not tables:
        return "empty"
    if "systems" not in tables:
        raise StoreError(
            f"{path} is an SQLite database of another program (no ASE 'systems' table), not a "
            "results store; give --db another file name"
        )
    return "store"


class NoStore(StoreError):
    """No store at a path that a read-only command was given (nothing has run with it)."""


def _store_errors(method):
    """Turn database and file-system errors inside a Store method into StoreError."""

    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except PerovcalcError:
            raise
        except Exception as err:
            database = type(err).__module__.split(".")[0] in ("sqlite3", "psycopg2")
            if not (database or isinstance(err, OSError | sqlite3.Error)):
                raise
            advice = (
                "check that the PostgreSQL server is reachable and the user may use the database"
                if self.location.is_postgres
                else "check that the file and its folder exist and may be written "
                "(a damaged file: move it away and run again)"
            )
            message = " ".join(str(err).split()) or type(err).__name__
            raise StoreError(f"results store {self.location}: {message}; {advice}") from None

    return wrapped


def _any_unconverged(value: object) -> bool:
    if isinstance(value, dict):
        return value.get("converged") is False or any(map(_any_unconverged, value.values()))
    if isinstance(value, list | tuple):
        return any(map(_any_unconverged, value))
    return False


def unconverged(row) -> bool:
    """A ``done`` row whose result holds a relaxation or band that stopped above its force
    threshold, at its step limit or by a guard (``converged`` false anywhere in the result)."""
    if row is None or row.get("status") != "done" or row.get("data") is None:
        return False
    return _any_unconverged(row.data.get("result", {}))


class Store:
    """Task rows of one ASE database: an SQLite path or a PostgreSQL URL (see
    :func:`parse_location`). ``create=False`` (read-only commands) opens only an existing
    store and creates nothing: a missing one raises StoreError."""

    @_store_errors
    def __init__(self, url: str | Path | Location, create: bool = True):
        import ase.db

        self.location = parse_location(url)
        self.url = self.location.url  # without the password
        self.is_postgres = self.location.is_postgres
        if not self.is_postgres:
            path = Path(self.url)
            state = _sqlite_state(path)
            if state == "missing" and not create:
                raise NoStore(
                    f"no results store at {path}: nothing has run with it yet (or --db names "
                    "another file); run the campaign first, or give --db the store it used"
                )
            if state != "store" and not create:
                raise StoreError(f"results store {path} holds no results yet")
            path.parent.mkdir(parents=True, exist_ok=True)
        kind = "postgresql" if self.is_postgres else "db"
        self.db = ase.db.connect(self.location.connection(), type=kind, use_lock_file=False)
        # create the tables once, under the lock: ASE checks for them and then creates them, so
        # a second process could find the tables without the version row and fail to read them
        if create:
            with self._exclusive(), self.db.managed_connection():
                pass

    def __repr__(self) -> str:
        return f"Store({str(self.location)!r})"

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

    @_store_errors
    def get(self, task_id: str):
        """The row of ``task_id`` or None."""
        rows = list(self.db.select(task_id=task_id))
        return rows[0] if rows else None

    @_store_errors
    def rows(self, **selection) -> list:
        """All rows matching key=value ``selection`` (e.g. ``campaign="smoke"``)."""
        return list(self.db.select(**selection))

    @_store_errors
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

    @_store_errors
    def heartbeat(self, task_id: str) -> None:
        """Record that the owner of ``task_id`` is alive."""
        with self._exclusive():
            row = self.get(task_id)
            if row is not None and row.status == "running":
                self.db.update(row.id, heartbeat=time.time())

    @_store_errors
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

    @_store_errors
    def rekey(self, old_id: str, new_id: str) -> bool:
        """Give the row of ``old_id`` the id ``new_id``; False if either makes that impossible."""
        with self._exclusive():
            row = self.get(old_id)
            if row is None or self.get(new_id) is not None:
                return False
            self.db.update(row.id, task_id=new_id)
            return True

    @_store_errors
    def mark(self, task_id: str, status: str, reason: str) -> None:
        """Set a claimed task to ``failed`` or ``interrupted`` with a one-line ``reason``."""
        with self._exclusive():
            row = self.get(task_id)
            now = time.time()
            self.db.update(
                row.id, status=status, reason=reason[:500], finished=now, wall_s=now - row.started
            )
