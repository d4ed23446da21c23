"""A throwaway single-node SLURM cluster: munged with a generated key, slurmctld and slurmd with a generated
slurm.conf, all in one temporary folder, on loopback, as the current user. Every daemon is stopped on exit,
also when the test fails."""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "scancel")
NODE = "localhost"  # resolves to 127.0.0.1, so the daemons bind loopback only (NoInAddrAny)
NODE_CPUS = 8  # more than the machine has (config_overrides): 4 array tasks of 2 CPUs run at once
START_TIMEOUT = 30.0


def missing_binaries() -> list[str]:
    return [name for name in DAEMONS if not shutil.which(name)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SlurmCluster:
    """``with SlurmCluster() as cluster: cluster.sbatch(...)``; ``cluster.env`` points the client commands at it."""

    def __init__(self) -> None:
        # A short path of its own: munge's socket path must fit a sockaddr_un (108 bytes).
        self.root = Path(tempfile.mkdtemp(prefix="nf-slurm-"))
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._daemons: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> SlurmCluster:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        root = self.root
        for name in ("key", "run", "state", "spool", "log"):
            (root / name).mkdir()
        (root / "key").chmod(0o700)
        key = root / "key" / "munge.key"
        subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True)
        socket_path = root / "run" / "munge.socket"
        self._spawn(
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={socket_path}",
                f"--key-file={key}",
                f"--log-file={root / 'log' / 'munged.log'}",
                f"--pid-file={root / 'run' / 'munged.pid'}",
                f"--seed-file={root / 'run' / 'munged.seed'}",
            ],
            "munged",
        )
        self._wait_for(socket_path.exists, "munged did not create its socket")
        self.conf.write_text(self._slurm_conf(socket_path))
        self._spawn(["slurmctld", "-D", "-i"], "slurmctld")
        self._spawn(["slurmd", "-D", "-N", NODE], "slurmd")
        self._wait_for(self._node_ready, "the node did not become idle")

    def _slurm_conf(self, munge_socket: Path) -> str:
        root, user = self.root, getpass.getuser()
        return f"""\
ClusterName=neurofetch-test
SlurmctldHost={NODE}
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "run" / "slurmctld.pid"}
SlurmdPidFile={root / "run" / "slurmd.pid"}
SlurmctldLogFile={root / "log" / "slurmctld.log"}
SlurmdLogFile={root / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
SlurmdParameters=config_overrides
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory=16384 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""

    def _spawn(self, command: list[str], name: str) -> None:
        log = open(self.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 - kept open as the daemon's stdout
        self._daemons.append(
            subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    def _wait_for(self, ready: object, problem: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            dead = [d for d in self._daemons if d.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead[0].args[0]} exited with {dead[0].returncode}: {self.logs()}")
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.2)
        raise RuntimeError(f"{problem} within {START_TIMEOUT:.0f} s: {self.logs()}")

    def _node_ready(self) -> bool:
        state = self.run("sinfo", "-h", "-n", NODE, "-o", "%t", check=False)
        return state.returncode == 0 and state.stdout.strip() == "idle"

    def run(
        self, *command: str, check: bool = True, cwd: Path | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A SLURM client command against this cluster."""
        return subprocess.run(
            command,
            env={**(env or self.env), "SLURM_CONF": str(self.conf)},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def sbatch(self, script: Path, *options: str, cwd: Path, env: Mapping[str, str]) -> str:
        """Submit ``script``; returns the job id."""
        submitted = self.run("sbatch", "--parsable", *options, str(script), cwd=cwd, env=env)
        return submitted.stdout.strip().split(";")[0]

    def wait(self, job: str, timeout: float = 180) -> dict[str, dict[str, str]]:
        """Wait until every task of ``job`` has ended; each task's ``scontrol show job`` fields by task id."""
        deadline = time.monotonic() + timeout
        while self.run("squeue", "-h", "-j", job, "-o", "%i", check=False).stdout.strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job} still running after {timeout:.0f} s: {self.logs()}")
            time.sleep(0.3)
        shown = self.run("scontrol", "-o", "show", "job", job).stdout
        tasks = {}
        for line in shown.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            tasks[fields.get("ArrayTaskId", fields["JobId"])] = fields
        return tasks

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted((self.root / "log").iterdir())
        )

    def close(self) -> None:
        if self._daemons and self._daemons[-1].args[0] == "slurmd" and self._daemons[-1].poll() is None:
            self.run("scancel", "--user", getpass.getuser(), check=False)  # no job outlives its cluster
        for daemon in reversed(self._daemons):  # slurmd, slurmctld, then munged
            if daemon.poll() is None:
                os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
        self._daemons.clear()
        shutil.rmtree(self.root, ignore_errors=True)
