"""Agents as the server sees them: registration, heartbeats and claims."""

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from runyard.models.limits import (
    MAX_ENDED_PER_CLAIM,
    MAX_REASON_CHARS,
    MAX_STATE_DETAIL_CHARS,
    MAX_WAIT_S,
)
from runyard.models.names import Name, TaskId
from runyard.models.resources import Resources
from runyard.models.strict import Strict
from runyard.models.tasks import FailureKind, ReportBase, Task, TaskStatus

GANG_HOST_PATTERN = r"^[A-Za-z0-9.:_%\[\]-]+$"
"""What ``ClaimRequest.gang_host`` may hold: a host name or an IPv4/IPv6 address."""


class Gpu(Strict):
    """One GPU an agent detected."""

    index: int = Field(ge=0)
    name: str = Field(default="", max_length=256)
    memory_gb: float = Field(default=0, ge=0)
    uuid: str = Field(default="", max_length=128)
    peers: list[int] = Field(default_factory=list, max_length=1024, exclude_if=lambda v: not v)
    """Indices of the GPUs this one has an NVLink connection to (left out of the JSON when
    none, for clients older than it)."""


def nvlink_groups(gpus: Sequence[Gpu]) -> dict[int, int]:
    """Each GPU's NVLink group: GPUs of one group are all NVLink peers of each other.

    Greedy in index order: a GPU joins the first group whose every member it is linked
    to (a link either side reports counts), else starts its own. That finds the quads of
    a hybrid cube-mesh and the one group of an NVSwitch machine. A group's id is the
    index of its first GPU.
    """
    peers = {gpu.index: set(gpu.peers) for gpu in gpus}

    def linked(a: int, b: int) -> bool:
        return b in peers.get(a, ()) or a in peers.get(b, ())

    groups: list[list[int]] = []
    for index in sorted(peers):
        group = next((g for g in groups if all(linked(index, m) for m in g)), None)
        if group is None:
            groups.append([index])
        else:
            group.append(index)
    return {member: group[0] for group in groups for member in group}


class GpuTask(Strict):
    """A task running on a GPU, and the share of the GPU it holds (1 for the whole GPU)."""

    task_id: str = Field(max_length=64)
    share: float = Field(default=1.0, gt=0, le=1)


class GpuState(Strict):
    """One GPU of an agent right now: busy with other people's work, and who runs on it."""

    index: int = Field(ge=0)
    busy: bool = False
    """Memory in use by processes the agent did not start is over ``--gpu-busy-mb``: the
    agent does not hand this GPU out."""
    foreign_mb: int = Field(default=0, ge=0)
    """GPU memory (MiB) in use by processes the agent did not start."""
    tasks: list[GpuTask] = Field(default_factory=list, max_length=64)


class GpuFree(Strict):
    """One of a claiming agent's GPUs, as the claim matches and places tasks on it."""

    index: int = Field(ge=0)
    name: str = Field(default="", max_length=256)
    memory_gb: float = Field(default=0, ge=0)
    free: float = Field(ge=0, le=1)
    """The share of it free now: 1 wholly free, 0 held by a whole task or busy."""
    group: int = Field(default=0, ge=0)
    """Its NVLink clique: the GPUs of one group are all NVLink peers of each other."""


class WorkerRegister(Strict):
    """``POST /workers``: an agent announces itself and what it has."""

    name: Name
    hostname: str = Field(default="", max_length=255)
    queues: list[Name] = Field(min_length=1, max_length=64)
    resources: Resources
    gpus: list[Gpu] = Field(default_factory=list)
    executor: str = Field(default="venv", max_length=32)
    version: str = Field(default="", max_length=64)
    slots: int | None = Field(
        default=None, ge=1, le=1024, description="most tasks it runs at once (None: unknown)"
    )


class Worker(BaseModel):
    """``GET /workers`` items."""

    id: str
    name: str
    hostname: str = ""
    queues: list[str]
    resources: Resources
    gpus: list[Gpu] = Field(default_factory=list)
    executor: str = "venv"
    version: str = ""
    registered: datetime
    last_heartbeat: datetime
    alive: bool
    running: list[str] = Field(default_factory=list)
    gpu_state: list[GpuState] = Field(default_factory=list)
    """Each GPU as of the agent's last heartbeat that changed it."""


class HeldTask(Strict):
    """A task an agent runs, with the lease token it holds for it."""

    task_id: str = Field(max_length=64)
    lease_token: str = Field(max_length=128)
    state_detail: str | None = Field(default=None, min_length=1, max_length=MAX_STATE_DETAIL_CHARS)
    """What the task is doing under its status, e.g. ``pending in Slurm: Resources (job
    42)``; each beat sets it (None clears it) on the task record."""


class Heartbeat(Strict):
    """``POST /workers/{id}/heartbeat``: extends the leases of the held tasks."""

    running: list[HeldTask] = Field(default_factory=list, max_length=1024)
    gpu_state: list[GpuState] | None = Field(default=None, max_length=64)
    """Each GPU's state; None when it has not changed since the last delivered beat."""


class HeartbeatReply(BaseModel):
    """What the agent must act on: tasks to abort, tasks whose lease it lost, and tasks
    a higher-priority task preempts (``preempt``: task id → the preemptor's id)."""

    abort: list[str] = Field(default_factory=list)
    lost: list[str] = Field(default_factory=list)
    preempt: dict[str, str] = Field(default_factory=dict)
    lease_s: float


class StopWatch(Strict):
    """``POST /workers/{id}/stops``: wait up to ``wait_s`` for a held task to be told to
    stop (aborted or preempted), so the agent hears of it within a second instead of
    at its next heartbeat. Leases are not extended: the heartbeat still does that."""

    running: list[HeldTask] = Field(min_length=1, max_length=1024)
    wait_s: float = Field(default=0, ge=0, le=MAX_WAIT_S)


class StopNews(BaseModel):
    """Which of the watched tasks must stop, as a heartbeat reply would say it (``abort``
    ids; ``preempt``: task id → the preemptor's id). Both empty: the wait ended without
    news, or a task the watch did not list may have some (watch again with all held)."""

    abort: list[str] = Field(default_factory=list)
    preempt: dict[str, str] = Field(default_factory=dict)


class EndReport(ReportBase):
    """A held task's end, carried by the next claim instead of its own request: what
    ``POST /tasks/{id}/completed``, ``failed`` or ``aborted`` would say."""

    task_id: TaskId
    status: Literal[TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.ABORTED]
    exit_code: int | None = None
    kind: FailureKind = FailureKind.SCRIPT
    """Why it failed (``failed`` only)."""
    reason: str | None = Field(default=None, min_length=1, max_length=MAX_REASON_CHARS)
    """What failed (``failed`` only, and needed then)."""

    @model_validator(mode="after")
    def _failed_says_why(self) -> "EndReport":
        if self.status is TaskStatus.FAILED and self.reason is None:
            raise ValueError("a failed report needs a reason")
        return self


class ClaimRequest(Strict):
    """``POST /workers/{id}/claim``: the first task that fits, waiting up to ``wait_s``.

    ``ended`` reports tasks this worker held that have ended, before the claim: one
    request where a report and a claim took two. Each is applied as its own report
    route would; a refused one (the lease is no longer this worker's) is named in
    ``Claim.refused`` and does not stop the claim.
    """

    queues: list[Name] = Field(min_length=1, max_length=64)
    free: Resources
    wait_s: float = Field(default=0, ge=0, le=MAX_WAIT_S)
    ended: list[EndReport] = Field(default_factory=list, max_length=MAX_ENDED_PER_CLAIM)
    gpus: list[GpuFree] | None = Field(default=None, max_length=1024)
    """This agent's GPUs with their free shares: the server matches typed and fractional
    requests on them and places the task (``Task.placement``). None from an agent older
    than typed requests: ``free.gpus`` then counts untyped whole GPUs."""
    gang_host: str = Field(default="", max_length=255, pattern=f"^$|{GANG_HOST_PATTERN}")
    """The address other agents reach this one at, should it become rank 0 of a
    multi-node task (``MASTER_ADDR``); empty: this agent takes no multi-node tasks."""
    gang_port: int = Field(default=0, ge=0, le=65535)
    """A free port on this agent for that rank 0 to listen on (``MASTER_PORT``)."""
    whole_gangs: bool = False
    """True: this agent takes a multi-node task whole, every rank under its one lease,
    and places the ranks itself (a Slurm agent: one job over ``nodes`` nodes); it joins
    no gang of other agents."""


class GangRank(BaseModel):
    """This agent's part of a multi-node task: what torch.distributed needs to know."""

    rank: int = Field(ge=0)
    world_size: int = Field(ge=1)
    master_addr: str
    """Rank 0's agent's ``gang_host``."""
    master_port: int
    """The free port rank 0's agent offered."""


class Claim(BaseModel):
    """A claimed task. ``task`` is None when nothing came within ``wait_s``.

    ``gang`` is set for a multi-node task: ``lease_token`` is then this rank's own.
    """

    task: Task | None = None
    lease_token: str | None = None
    gang: GangRank | None = None
    task_token: str | None = Field(
        default=None, description="token the running script uses to write to its own task"
    )
    refused: list[str] = Field(
        default_factory=list,
        description="ids of the ended tasks whose report was refused: their lease was lost",
    )
