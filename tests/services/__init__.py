"""Real services for the tests, started on loopback in temporary directories and stopped after:
a single-node SLURM (munged, slurmctld, slurmd; :mod:`tests.services.slurm`) and a PostgreSQL
server (:mod:`tests.services.postgres`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; TimeoutError naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen, how: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal a daemon we started to stop (SIGKILL if it has not exited after ``timeout`` s)."""
    if proc.poll() is None:
        proc.send_signal(how)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def is_root() -> bool:
    return os.geteuid() == 0
