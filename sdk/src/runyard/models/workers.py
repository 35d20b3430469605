"""Agents as the server sees them: registration, heartbeats and claims."""

from datetime import datetime

from pydantic import BaseModel, Field

from runyard.models.limits import MAX_WAIT_S
from runyard.models.names import Name
from runyard.models.strict import Strict
from runyard.models.tasks import Resources, Task


class Gpu(Strict):
    """One GPU an agent detected."""

    index: int = Field(ge=0)
    name: str = Field(default="", max_length=256)
    memory_gb: float = Field(default=0, ge=0)
    uuid: str = Field(default="", max_length=128)


class WorkerRegister(Strict):
    """``POST /workers``: an agent announces itself and what it has."""

    name: Name
    hostname: str = Field(default="", max_length=255)
    queues: list[Name] = Field(min_length=1, max_length=64)
    resources: Resources
    gpus: list[Gpu] = Field(default_factory=list)
    executor: str = Field(default="venv", max_length=32)
    version: str = Field(default="", max_length=64)


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


class HeldTask(Strict):
    """A task an agent runs, with the lease token it holds for it."""

    task_id: str = Field(max_length=64)
    lease_token: str = Field(max_length=128)


class Heartbeat(Strict):
    """``POST /workers/{id}/heartbeat``: extends the leases of the held tasks."""

    running: list[HeldTask] = Field(default_factory=list, max_length=1024)


class HeartbeatReply(BaseModel):
    """What the agent must act on: tasks to abort, and tasks whose lease it lost."""

    abort: list[str] = Field(default_factory=list)
    lost: list[str] = Field(default_factory=list)
    lease_s: float


class ClaimRequest(Strict):
    """``POST /workers/{id}/claim``: the first task that fits, waiting up to ``wait_s``."""

    queues: list[Name] = Field(min_length=1, max_length=64)
    free: Resources
    wait_s: float = Field(default=0, ge=0, le=MAX_WAIT_S)


class Claim(BaseModel):
    """A claimed task. ``task`` is None when nothing came within ``wait_s``."""

    task: Task | None = None
    lease_token: str | None = None
    task_token: str | None = Field(
        default=None, description="token the running script uses to write to its own task"
    )
