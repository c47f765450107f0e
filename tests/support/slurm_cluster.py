"""A real one-node Slurm cluster in a temp dir: its own munged, slurmctld and slurmd, ports and state, stopped by pid.

Debian's ``slurm-wlm`` and ``munge`` packages provide the daemons (.ci/run installs
them). Everything the daemons write stays under the cluster's directory; the
node is this host under its short name, with the CPUs and memory ``slurmd -C``
reports, so the tests drain and resume a real node record.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd", "sinfo", "scontrol", "sbatch", "srun")
START_TIMEOUT_S = 60.0


def missing() -> str | None:
    """Why the cluster cannot start here, or None."""
    if os.geteuid() != 0:
        return "the one-node Slurm cluster runs slurmd as root (SlurmdUser=root); not root here"
    absent = [name for name in DAEMONS if shutil.which(name) is None]
    if absent:
        return f"slurm-wlm / munge not installed ({', '.join(absent)} missing; .ci/run installs them with apt-get)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hardware() -> str:
    """This host's node line from ``slurmd -C`` without NodeName (CPUs, sockets, cores, threads, memory)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("NodeName="))
    return " ".join(part for part in line.split() if not part.startswith(("NodeName=", "UpTime=")))


@dataclass
class SlurmCluster:
    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    pids: dict[str, int] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    hooks: Path | None = None  # where a test keeps the scripts and settings slurmd's hooks read
    _outputs: list[IO[bytes]] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a client command (sinfo, scontrol, sbatch, the gate) needs to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf), **extra}

    def run(self, *argv: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=check, env=self.env())

    # ------------------------------------------------------------------ start

    def start(self, extra_conf: str = "") -> None:
        self._start_munge()
        self._write_conf(extra_conf)
        logs = self.root / "logs"
        for daemon in ("slurmctld", "slurmd"):
            out = (logs / f"{daemon}.stdout").open("wb")
            self._outputs.append(out)
            proc = subprocess.Popen(
                [daemon, "-D", "-f", str(self.conf)], stdout=out, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True
            )
            self.procs.append(proc)
            self.pids[daemon] = proc.pid
            if daemon == "slurmctld":
                self._wait(lambda: self.run("scontrol", "ping", check=False).returncode == 0, "slurmctld to answer scontrol ping")
        self.wait_state("idle")

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o700, parents=True)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        pid_file = munge / "munged.pid"
        subprocess.run(
            [
                "munged",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={pid_file}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
                "--force",  # root, and a key directory that is not /etc/munge
            ],
            check=True,
            timeout=30,
            capture_output=True,
        )
        self._wait(pid_file.exists, "munged to write its pid file")
        self.pids["munged"] = int(pid_file.read_text().strip())

    def _write_conf(self, extra_conf: str) -> None:
        for name in ("state", "spool", "logs"):
            (self.root / name).mkdir(exist_ok=True)
        r = self.root
        self.conf.write_text(
            f"""ClusterName=preflighttest
SlurmctldHost=localhost
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "slurmctld.pid"}
SlurmdPidFile={r / "slurmd.pid"}
SlurmctldLogFile={r / "logs" / "slurmctld.log"}
SlurmdLogFile={r / "logs" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=300
{extra_conf}
NodeName={self.node} NodeAddr=127.0.0.1 {_hardware()} State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        )

    # ------------------------------------------------------------------ query

    def _wait(self, ready: object, what: str, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited {proc.returncode} while waiting for {what}: {self.logs()}")
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}: {self.logs()}")

    def logs(self) -> str:
        tails = []
        for log in sorted((self.root / "logs").glob("*")):
            tails.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(tails)

    def state(self) -> str:
        """The node's long state as sinfo prints it (idle, drained, draining, mixed, ...), less the not-responding ``*``.

        A one-node cluster flags its node not responding for a moment after some state changes.
        """
        return self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T").stdout.strip().rstrip("*")

    def reason(self) -> str:
        return self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%E").stdout.strip()

    def wait_state(self, want: str, timeout: float = START_TIMEOUT_S) -> None:
        self._wait(lambda: self.state() == want, f"node {self.node} to be {want} (now {self.state()!r})", timeout)

    # ------------------------------------------------------------------ stop

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for out in self._outputs:
            out.close()
        munged = self.pids.get("munged")
        if munged:
            with contextlib.suppress(ProcessLookupError):
                os.kill(munged, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and Path(f"/proc/{munged}").exists():
                time.sleep(0.1)


@contextlib.contextmanager
def cluster(tmp_path_factory: pytest.TempPathFactory, extra_conf: str = "") -> Iterator[SlurmCluster]:
    """For a fixture: skip with the reason when Slurm is not installed, else a started cluster, stopped after."""
    why = missing()
    if why:
        pytest.skip(why)
    # munged and slurmd refuse world-writable parents and long socket paths: a short private dir.
    root = Path(tmp_path_factory.mktemp("slurm"))
    root.chmod(0o755)
    running = SlurmCluster(root)
    try:
        running.start(extra_conf)
        yield running
    finally:
        running.stop()
