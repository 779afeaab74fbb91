"""A PostgreSQL server on 127.0.0.1 in a temporary directory, with a password-protected role.

Uses the Debian ``postgresql`` binaries (``/usr/lib/postgresql/<version>/bin``). As root the
server runs as the ``postgres`` system user (PostgreSQL refuses to run as root); otherwise as
the current user. ``python -m tests.services.postgres`` starts one by hand.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.services import free_port, is_root, stop_process, wait_until

USER = "perovcalc"
DATABASE = "perovcalc_test"


def bin_dir() -> Path | None:
    """Directory of initdb and postgres (newest installed version), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=_version)
    return found[-1].parent if found else None


def _version(path: Path) -> float:
    try:
        return float(path.parent.parent.name)
    except ValueError:
        return 0.0


@dataclass
class PostgresServer:
    """A running server; :attr:`url` connects as a role with a password."""

    root: Path
    port: int
    password: str
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        """URL of the test database, password included."""
        return self.url_of(DATABASE)

    def url_of(self, database: str) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` (letters, digits, _); its URL."""
        self._execute("postgres", f"CREATE DATABASE {name}")
        return self.url_of(name)

    @classmethod
    def start(cls) -> PostgresServer:
        binaries = bin_dir()
        if binaries is None:
            raise FileNotFoundError("PostgreSQL server binaries (Debian package postgresql)")
        root = Path(tempfile.mkdtemp(prefix="perovcalc-pg-"))
        password = secrets.token_urlsafe(16)
        (root / "pwfile").write_text(password + "\n")
        as_server = {}
        if is_root():  # the server must not run as root: hand the directory to 'postgres'
            owner = pwd.getpwnam("postgres")
            for path in (root, root / "pwfile"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            as_server = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        data = root / "data"
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", USER,
             f"--pwfile={root / 'pwfile'}", "--auth=scram-sha-256", "-E", "UTF8"],
            check=True, capture_output=True, text=True, cwd=root, **as_server,
        )  # fmt: skip
        (root / "pwfile").unlink()
        port = free_port()
        log = open(root / "server.log", "ab")  # noqa: SIM115 - kept by the server
        proc = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(data), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
             "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, cwd=root, **as_server,
        )  # fmt: skip
        server = cls(root, port, password, proc)
        try:
            wait_until(server._accepts, 30, "PostgreSQL accepting connections")
            server.create_database(DATABASE)
        except BaseException:
            server.stop()
            raise
        return server

    def _execute(self, database: str, statement: str) -> None:
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=USER, password=self.password, dbname=database
        )
        con.autocommit = True
        try:
            con.cursor().execute(statement)
        finally:
            con.close()

    def _accepts(self) -> bool:
        import psycopg2

        if self.proc.poll() is not None:
            log = (self.root / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{log}")
        try:
            self._execute("postgres", "SELECT 1")
        except psycopg2.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """Stop the server (SIGINT: fast shutdown) and remove its directory."""
        stop_process(self.proc, signal.SIGINT)
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly on kill
    server = PostgresServer.start()
    print(f"PostgreSQL is up: {server.url}  (Ctrl-C stops it)")
    with contextlib.suppress(KeyboardInterrupt):
        server.proc.wait()
    server.stop()
