"""Slurm's commands, run with argument lists (never a shell), and their output read.

Accounting (``sacct``) is often off, so jobs are read with ``squeue -t all``: it lists
pending and running jobs and, for ``MinJobAge`` seconds (300 by default), ended ones
with their final state. One ``squeue --me`` call reads every job of this agent's user;
the agent picks its own out by job name, so supervising 500 jobs is one call per poll.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runyard_agent.errors import AgentError

log = logging.getLogger(__name__)

_TIMEOUT_S = 60.0
_FIELDS = "%i\t%j\t%T\t%r\t%N"

ENDED = frozenset(
    {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
        "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT", "REVOKED", "SPECIAL_EXIT",
    }
)  # fmt: skip
"""Job states after which nothing of the job runs any more."""


class SlurmError(AgentError):
    """Raised when a Slurm command fails (its stderr is the message)."""


@dataclass(frozen=True)
class JobState:
    """One job as ``squeue`` shows it."""

    job_id: str
    name: str
    state: str
    reason: str
    nodes: str

    @property
    def ended(self) -> bool:
        """True once the job is over (completed, failed, cancelled, timed out, ...)."""
        return self.state in ENDED


def run(argv: list[str], env: Mapping[str, str] | None = None) -> str:
    """A Slurm command's standard output; raises SlurmError when it fails."""
    try:
        done = subprocess.run(
            argv,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmError(f"{argv[0]}: {exc}") from None
    if done.returncode != 0:
        raise SlurmError(f"{' '.join(argv[:2])}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def sbatch(script: Path) -> str:
    """Submit a batch script; the job id."""
    out = run(["sbatch", "--parsable", str(script)]).strip()
    # "--parsable" prints "jobid" or "jobid;cluster".
    return out.split(";", 1)[0]


def squeue_mine() -> dict[str, JobState]:
    """Every job of this user Slurm still knows, by job id (one call)."""
    out = run(["squeue", "--me", "--noheader", "--states=all", f"--format={_FIELDS}"])
    return {state.job_id: state for state in parse_squeue(out)}


def parse_squeue(out: str) -> list[JobState]:
    """The lines of ``squeue --format=%i\\t%j\\t%T\\t%r\\t%N``."""
    states = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 5:
            states.append(JobState(*(part.strip() for part in parts)))
    return states


def scancel(job_id: str, signal: str | None = None) -> None:
    """Signal the job's every process (``--full``: the batch step too), or end the job."""
    argv = ["scancel", "--full", f"--signal={signal}", job_id] if signal else ["scancel", job_id]
    try:
        run(argv)
    except SlurmError as exc:
        # A job that ended meanwhile cannot be signalled: nothing left to stop.
        log.info("scancel of job %s: %s", job_id, exc)
