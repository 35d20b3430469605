"""Queues: ordered by priority (higher first), then first in, first out."""

from typing import Literal

from pydantic import BaseModel, Field

from runyard.models.names import Name, TaskId
from runyard.models.strict import Strict


class QueueCreate(Strict):
    """``POST /queues``."""

    name: Name


class QueueEntry(BaseModel):
    """One waiting task, in claim order."""

    task_id: str
    name: str
    project: str
    priority: int
    enqueued: float = Field(description="unix time the task was put on the queue")


class QueueSettings(BaseModel):
    """What an operator sets on a queue (``PATCH /queues/{name}``); None: no limit."""

    max_running: int | None = Field(
        default=None, ge=0, description="most tasks of this queue running at once"
    )
    max_gpus: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="most GPUs its running tasks hold at once (a share counts as its share)",
    )
    preemptible: bool = Field(
        default=False,
        description="a higher-priority task that fits nowhere may preempt this queue's tasks",
    )
    allowed_projects: list[Name] = Field(
        default_factory=list,
        max_length=100,
        description="only tasks of these projects (or of allowed_users) may wait here; "
        "empty: anyone's",
    )
    allowed_users: list[Name] = Field(
        default_factory=list,
        max_length=100,
        description="only these users (or tasks of allowed_projects) may enqueue here; "
        "empty: anyone",
    )


class QueueUpdate(Strict, QueueSettings):
    """``PATCH /queues/{name}``: only the fields sent change; null clears a limit."""


class Queue(QueueSettings):
    """``GET /queues`` items: depth, how long the oldest task has waited, the settings
    and what its running tasks hold now."""

    name: str
    depth: int
    oldest_wait_s: float | None = None
    running: int = Field(default=0, description="tasks of this queue running now")
    gpus_in_use: float = Field(default=0.0, description="GPUs those tasks hold")


class QueueDetail(Queue):
    """``GET /queues/{name}``: the queue with its first tasks in claim order."""

    entries: list[QueueEntry] = Field(default_factory=list)
    offset: int = Field(default=0, description="the place of the first entry (0: next claimed)")


class MoveRequest(Strict):
    """``POST /queues/{name}/move``: reorder one waiting task."""

    task_id: TaskId
    to: Literal["top", "bottom", "up", "down"]
