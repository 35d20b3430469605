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


class Queue(BaseModel):
    """``GET /queues`` items: depth and how long the oldest task has waited."""

    name: str
    depth: int
    oldest_wait_s: float | None = None


class QueueDetail(Queue):
    """``GET /queues/{name}``: the queue with its first tasks in claim order."""

    entries: list[QueueEntry] = Field(default_factory=list)
    offset: int = Field(default=0, description="the place of the first entry (0: next claimed)")


class MoveRequest(Strict):
    """``POST /queues/{name}/move``: reorder one waiting task."""

    task_id: TaskId
    to: Literal["top", "bottom", "up", "down"]
