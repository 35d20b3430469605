"""A one-node Slurm cluster on this machine, for the Slurm executor's tests.

Debian's ``slurm-wlm`` 22.05 and ``munge``: ``munged``, ``slurmctld`` and ``slurmd`` run
as root with their key, state, spool, logs and sockets under one temporary directory,
so nothing of the machine's own configuration is read or changed. ``SLURM_CONF`` points
the client commands (and the agent) at it. Accounting is off: jobs are read with
``squeue``/``scontrol``. ``MinJobAge`` keeps an ended job visible long enough for the
agent's next poll; ``KillWait`` is short so a time limit or cancel ends fast.

A second ``slurmd`` (Debian builds Slurm with multiple-slurmd support) plays a second
node, ``{host}-b``, on its own port: partition ``debug`` (the default) has the first
node only, so one busy node still makes a job wait; partition ``multi`` has both, for
multi-node jobs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd")


@dataclass(frozen=True)
class SlurmCluster:
    """A running cluster: its config file (``SLURM_CONF``), node, partition and CPUs (of
    each node); ``multi`` is the partition of both nodes."""

    root: Path
    conf: Path
    node: str
    partition: str
    cpus: int
    multi: str = "multi"

    @property
    def env(self) -> dict[str, str]:
        """The environment Slurm's commands (and an agent) need to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *argv: str) -> str:
        """A Slurm command's output (it must succeed)."""
        return subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, check=True, timeout=30
        ).stdout


def missing() -> str | None:
    """Why no cluster can start here, or None when it can."""
    absent = [path for path in DAEMONS if not os.access(path, os.X_OK)]
    if absent:
        return f"slurm-wlm and munge are not installed ({', '.join(absent)} missing)"
    if os.geteuid() != 0:
        return "the Slurm daemons must run as root"
    return None


def _conf(root: Path, node: str, cpus: int, munge_socket: Path) -> str:
    return "\n".join(
        [
            "ClusterName=runyardtest",
            f"SlurmctldHost={node}",
            "AuthType=auth/munge",
            # The daemons and commands find this cluster's munged through its socket.
            f"AuthInfo=socket={munge_socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=sched_interval=1",
            "MinJobAge=120",
            "KillWait=2",
            "MessageTimeout=10",
            "InactiveLimit=0",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            f"StateSaveLocation={root}/state",
            f"SlurmdSpoolDir={root}/spool/%n",
            f"SlurmctldPidFile={root}/slurmctld.pid",
            f"SlurmdPidFile={root}/slurmd.%n.pid",
            f"SlurmctldLogFile={root}/slurmctld.log",
            f"SlurmdLogFile={root}/slurmd.%n.log",
            f"NodeName={node} CPUs={cpus} RealMemory=2000 State=UNKNOWN",
            f"NodeName={node}-b NodeHostname={node} NodeAddr=127.0.0.1 Port={_free_port()} "
            f"CPUs={cpus} RealMemory=2000 State=UNKNOWN",
            f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName=multi Nodes={node},{node}-b MaxTime=INFINITE State=UP",
            "",
        ]
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(root: Path) -> tuple[SlurmCluster, list[subprocess.Popen[bytes]]]:
    """Start munged, slurmctld and slurmd under ``root``; wait until the node is idle."""
    node, cpus = socket.gethostname().split(".")[0], os.cpu_count() or 1
    for folder in ("state", "spool", "munge"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    munge = root / "munge"
    munge.chmod(0o700)
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    socket_path = munge / "munge.socket"
    conf = root / "slurm.conf"
    conf.write_text(_conf(root, node, cpus, socket_path))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    munged = [
        "/usr/sbin/munged", "--foreground", "--force", f"--key-file={key}",
        f"--socket={socket_path}", f"--pid-file={munge}/munged.pid",
        f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed",
    ]  # fmt: skip
    with open(root / "daemons.log", "ab") as logs:
        procs = [subprocess.Popen(munged, env=env, stdout=logs, stderr=logs)]
        _wait_for(lambda: socket_path.exists(), "munged's socket", procs)
        slurmds = [["/usr/sbin/slurmd", "-D", "-N", name] for name in (node, f"{node}-b")]
        for daemon in (["/usr/sbin/slurmctld", "-D", "-i"], *slurmds):
            procs.append(
                subprocess.Popen([*daemon, "-f", str(conf)], env=env, stdout=logs, stderr=logs)
            )
    cluster = SlurmCluster(root, conf, node, "debug", cpus)

    def idle() -> bool:
        done = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"], env=env, capture_output=True, text=True
        )
        return done.returncode == 0 and set(done.stdout.split()) == {"idle"}

    _wait_for(idle, "the nodes to be idle", procs)
    return cluster, procs


def _wait_for(ready: object, what: str, procs: list[subprocess.Popen[bytes]]) -> None:
    assert callable(ready)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready():
            return
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}) waiting for {what}")
        time.sleep(0.2)
    raise RuntimeError(f"the Slurm cluster did not start: no {what} after 60 s")


def stop(cluster: SlurmCluster, procs: list[subprocess.Popen[bytes]]) -> None:
    """Cancel every job, stop the daemons (slurmd first), remove the directory."""
    subprocess.run(["scancel", "--full", "-u", "root"], env=cluster.env, check=False)
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(cluster.root, ignore_errors=True)
