"""A single-node SLURM on localhost: munged, slurmctld and slurmd with a small slurm.conf.

Everything lives in a new directory below /tmp (munged insists that every directory above its
socket is searchable by all, which pytest's temporary directories are not); clients find the
cluster through ``SLURM_CONF`` (see :attr:`SlurmCluster.env`). Needs root (slurmd starts jobs as
their user) and the Debian packages slurm-wlm and munge. ``python -m tests.services.slurm``
starts one by hand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import free_port, stop_process, wait_until

DAEMONS = ("munged", "slurmctld", "slurmd")
NODE = "localhost"
PARTITION = "debug"


def missing() -> list[str]:
    """Daemons and clients that are not installed."""
    return [p for p in (*DAEMONS, "sbatch", "squeue") if shutil.which(p) is None]


def slurm_conf(root: Path, ctld_port: int, slurmd_port: int, cpus: int) -> str:
    """A slurm.conf for one node (localhost) and one partition, all state under ``root``."""
    return f"""\
ClusterName=perovcalc-test
SlurmctldHost={socket.gethostname().split(".")[0]}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.log
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=600
SchedulerParameters=sched_interval=2
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    """A running single-node SLURM; :meth:`stop` cancels its jobs and stops its daemons."""

    root: Path
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def start(cls, cpus: int | None = None) -> SlurmCluster:
        """Start munged, slurmctld and slurmd with ``cpus`` CPUs (default: all)."""
        root = Path(tempfile.mkdtemp(prefix="perovcalc-slurm-", dir="/tmp"))
        root.chmod(0o755)
        for sub, mode in (("munge", 0o755), ("munge-private", 0o700), ("state", 0o700),
                          ("spool", 0o755)):  # fmt: skip
            (root / sub).mkdir(mode=mode, exist_ok=True)
        key = root / "munge-private" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        conf = root / "slurm.conf"
        conf.write_text(slurm_conf(root, free_port(), free_port(), cpus or os.cpu_count() or 1))
        env = dict(os.environ, SLURM_CONF=str(conf))
        cluster = cls(root, env)
        private = root / "munge-private"
        cluster._daemon(
            ["munged", "--foreground", f"--socket={root}/munge/munge.socket",
             f"--key-file={key}", f"--pid-file={private}/munged.pid",
             f"--log-file={private}/munged.log", f"--seed-file={private}/munged.seed"],
            "munged",
        )  # fmt: skip
        try:
            socket_file = root / "munge" / "munge.socket"
            wait_until(lambda: cluster.alive() and socket_file.exists(), 20, "munged socket")
            cluster._daemon(["slurmctld", "-D", "-i"], "slurmctld")
            cluster._daemon(["slurmd", "-D", "-N", NODE], "slurmd")
            wait_until(cluster.node_idle, 60, "an idle SLURM node")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _daemon(self, command: list[str], name: str) -> None:
        log = open(self.root / f"{name}.out", "ab")  # noqa: SIM115 - kept by the daemon
        self.procs.append(
            subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )

    def run(self, *command: str) -> str:
        """Output of a SLURM client command (sinfo, squeue, scontrol, ...)."""
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=30)
        return done.stdout

    def alive(self) -> bool:
        """True, or RuntimeError with the daemon logs if one of the daemons has exited."""
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{self.logs()}")
        return True

    def logs(self) -> str:
        """The end of every daemon log (for failure messages)."""
        return "\n".join(
            f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:]
            for path in sorted(self.root.glob("*.out"))
        )

    def node_idle(self) -> bool:
        return self.alive() and self.run("sinfo", "-h", "-N", "-o", "%T").strip() == "idle"

    def jobs(self) -> list[tuple[str, str, str]]:
        """(id, name, state) of every job slurmctld knows (running and recently ended)."""
        out = self.run("squeue", "-h", "-t", "all", "-o", "%i\x1f%j\x1f%T")
        return [tuple(line.split("\x1f")) for line in out.splitlines() if line]

    def completed_jobs(self) -> list[dict[str, str]]:
        """The job completion log (jobcomp/filetxt): one dict per finished job."""
        path = self.root / "jobcomp.log"
        if not path.exists():
            return []
        return [_jobcomp_fields(line) for line in path.read_text().splitlines() if line]

    def stop(self) -> None:
        """Cancel all jobs, wait for them to end, stop the daemons, remove the directory."""
        if self.procs and self.procs[-1].args[0] == "slurmd" and self.procs[-1].poll() is None:
            subprocess.run(["scancel", "--full", "--user=root"], env=self.env, timeout=30)
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: not self.run("squeue", "-h"), 60, "all jobs ended")
        for proc in reversed(self.procs):
            stop_process(proc)
        shutil.rmtree(self.root, ignore_errors=True)


def _jobcomp_fields(line: str) -> dict[str, str]:
    """Parse ``Key=value Key=value ...`` where a value may contain spaces (JobName does)."""
    fields: dict[str, str] = {}
    key = None
    for word in line.split(" "):
        name, eq, value = word.partition("=")
        if eq and name.isalpha() and name[0].isupper():
            key = name
            fields[key] = value
        elif key is not None:
            fields[key] += " " + word
    return fields


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly on kill
    cluster = SlurmCluster.start()
    print(f"SLURM is up: export SLURM_CONF={cluster.env['SLURM_CONF']}  (Ctrl-C stops it)")
    try:
        cluster.procs[-1].wait()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
