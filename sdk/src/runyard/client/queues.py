"""``client.queues``: list, create, inspect, set limits, reorder and delete queues (``/queues``)."""

from __future__ import annotations

from typing import Literal

from runyard.client._http import Transport, seg
from runyard.errors import NotFoundError
from runyard.models import MoveRequest, Queue, QueueCreate, QueueDetail, QueueUpdate

Where = Literal["top", "bottom", "up", "down"]


class Queues:
    """Queues order waiting tasks by priority (higher first), then first in, first out."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def list(self) -> list[Queue]:
        """Every queue with its depth and the oldest task's wait."""
        return self._http.call_list(Queue, "GET", "/queues")

    def create(self, name: str) -> Queue:
        """Create an empty queue; :class:`~runyard.errors.ConflictError` when it exists."""
        return self._http.call(Queue, "POST", "/queues", body=QueueCreate(name=name))

    def get(self, name: str, limit: int = 100) -> QueueDetail:
        """The queue with its first ``limit`` waiting tasks in claim order."""
        return self._http.call(QueueDetail, "GET", f"/queues/{seg(name)}", params={"limit": limit})

    def update(self, name: str, changes: QueueUpdate) -> Queue:
        """Change the queue's settings: only the fields set in ``changes`` (a field set to
        None clears that limit); :class:`~runyard.errors.NotFoundError` for no such queue."""
        body = changes.model_dump(mode="json", exclude_unset=True)
        return self._http.call(Queue, "PATCH", f"/queues/{seg(name)}", body=body)

    def delete(self, name: str) -> None:
        """Delete an empty queue; :class:`~runyard.errors.ConflictError` while tasks wait."""
        try:
            self._http.send("DELETE", f"/queues/{seg(name)}")
        except NotFoundError as exc:
            if not exc.retried:  # else an earlier attempt deleted it
                raise

    def move(self, name: str, task_id: str, to: Where) -> QueueDetail:
        """Move a waiting task to the top or bottom, or one place up or down."""
        body = MoveRequest(task_id=task_id, to=to)
        return self._http.call(QueueDetail, "POST", f"/queues/{seg(name)}/move", body=body)
