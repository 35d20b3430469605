"""The one launch interface every executor implements.

An executor is a function from a :class:`LaunchRequest` (the claimed task, its
checked-out code and what the agent gives it) to a :class:`Launch`: everything the
task needs is built, nothing runs yet. :meth:`Launch.start` runs it and returns a
:class:`TaskHandle` the runner supervises the same way for every executor; a launch
that is not started (the task was stopped while it was built) is :meth:`Launch.discard`-ed.

A handle whose task can run without the agent (a batch job) may :meth:`TaskHandle.leave`
it when the agent goes away, and the next agent re-adopts it (:class:`Adopted`); one
that ended other than by its own exit (the scheduler's time limit, a node failure)
says so in :attr:`TaskHandle.ending`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from runyard.models import FailureKind, GangRank, InstalledPackage, Task
from runyard_agent.config import AgentSettings
from runyard_agent.environments.torch_builds import TorchBuild
from runyard_agent.slots import Allocation

Log = Callable[[str], None]


@dataclass(frozen=True)
class LaunchRequest:
    """What an executor gets: the task, its code, its GPUs, and where to report."""

    task: Task
    workdir: Path
    allocation: Allocation
    settings: AgentSettings
    token: str | None
    """The task token, else the agent's: what the task's SDK sends."""
    base_env: Mapping[str, str]
    """The agent's own environment (a local process starts from it; a container does not)."""
    note: Log
    """Writes an agent line into the task's console."""
    torch: TorchBuild
    """The PyTorch build this machine runs."""
    record_installed: Callable[[list[InstalledPackage]], object] | None = None
    """Reports what was installed for the task, once its environment is built."""
    gang: GangRank | None = None
    """This agent's rank of a multi-node task (None for a one-node task)."""
    lease_token: str | None = None
    """The claim's lease token (a batch job records it, for the agent that re-adopts it)."""
    worker_id: str | None = None
    """The worker the lease belongs to."""


@dataclass(frozen=True)
class Ending:
    """How a task ended when not by its own exit code alone, to report instead of it."""

    reason: str
    requeue: bool = False
    """True: not the task's fault (node failure, preemption): back to its queue."""
    kind: FailureKind = FailureKind.SCRIPT


Flush = Callable[[], bool]
"""Ships what was read of a task's output; False when some of it could not be."""


class TaskHandle(Protocol):
    """A started task: its output pipes, its exit code, and how to stop it."""

    @property
    def pid(self) -> int: ...

    @property
    def stdout(self) -> IO[bytes]: ...

    @property
    def stderr(self) -> IO[bytes]: ...

    @property
    def returncode(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...

    def terminate(self, grace_s: float) -> int: ...

    def kill(self) -> int: ...

    @property
    def ending(self) -> Ending | None:
        """Set when the task ended other than by its own exit (read after it ended)."""
        ...

    @property
    def state_detail(self) -> str | None:
        """What the task is doing under its status (``pending in Slurm: ...``), for the
        heartbeat to record; None when there is nothing to add."""
        ...

    def leave(self, flush: Flush) -> bool:
        """Stop following the task and leave it running without the agent, after
        ``flush`` shipped what was read; False when it cannot outlive the agent."""
        ...


@dataclass(frozen=True)
class Adopted:
    """A task an earlier agent left running (:meth:`TaskHandle.leave`), found at start."""

    task: Task
    lease_token: str
    task_token: str | None
    worker_id: str
    """The worker the lease belongs to: the agent carries on as it."""
    workdir: Path
    follow: Callable[[Log, Callable[[list[InstalledPackage]], object] | None], TaskHandle]
    """Starts supervising it again: its console notes go to the first argument."""
    first_seq: int
    """The first log batch number this agent uses (the earlier agent's were below)."""


class Launch(Protocol):
    """A task ready to run."""

    def start(self) -> TaskHandle:
        """Run it; raises EnvironmentBuildError when it cannot start."""
        ...

    def discard(self) -> None:
        """Release what was prepared for a launch that will not start."""
        ...


Executor = Callable[[LaunchRequest], Launch]
