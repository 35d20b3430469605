"""``client.logs``: console output of a task — batches in, pages and a live follow out."""

from __future__ import annotations

import time
from collections.abc import Iterator

from runyard.client._http import Transport, seg
from runyard.client.tasks import Tasks
from runyard.models import LogAck, LogBatch, LogLine, LogPage

_TEXT_PIECE = 1 << 16


class Logs:
    """Append and read a task's console output (``/tasks/{id}/logs``)."""

    def __init__(self, http: Transport, tasks: Tasks) -> None:
        self._http = http
        self._tasks = tasks

    def append(self, task_id: str, batch: LogBatch, *, retries: int | None = None) -> LogAck:
        """Store a batch; safe to retry, since a ``seq`` already stored is acknowledged once.

        ``retries`` overrides the client's count (a sender retrying by itself passes 0).
        """
        path = f"/tasks/{seg(task_id)}/logs"
        return self._http.call(LogAck, "POST", path, body=batch, retries=retries)

    def append_encoded(self, task_id: str, body: bytes, *, retries: int | None = None) -> LogAck:
        """:meth:`append` for a batch already encoded as ``LogBatch`` JSON (see
        :mod:`runyard.logship.wire`): no model is built or dumped per line."""
        path = f"/tasks/{seg(task_id)}/logs"
        return self._http.call(LogAck, "POST", path, json_bytes=body, retries=retries)

    def read(self, task_id: str, after: str | None = None, limit: int = 1000) -> LogPage:
        """Lines after the cursor ``after`` (from the start when None), at most ``limit``."""
        params = {"after": after, "limit": limit}
        return self._http.call(LogPage, "GET", f"/tasks/{seg(task_id)}/logs", params=params)

    def iter(self, task_id: str, after: str | None = None) -> Iterator[LogLine]:
        """Every line stored so far after the cursor ``after``, page by page."""
        cursor = after
        while True:
            page = self.read(task_id, after=cursor)
            if not page.lines:
                return
            yield from page.lines
            cursor = page.cursor

    def tail(self, task_id: str, lines: int = 1000, before: str | None = None) -> LogPage:
        """The last ``lines`` lines (before the cursor ``before`` when given); the page's
        ``cursor`` follows on with :meth:`read`, its ``before`` pages further back."""
        params = {"tail": lines} if before is None else {"before": before, "limit": lines}
        return self._http.call(LogPage, "GET", f"/tasks/{seg(task_id)}/logs", params=params)

    def text(self, task_id: str) -> Iterator[bytes]:
        """The whole log as plain UTF-8 text, in pieces as the server streams it."""
        response = self._http.send("GET", f"/tasks/{seg(task_id)}/logs/text", stream=True)
        with response:
            yield from response.iter_content(_TEXT_PIECE)

    def follow(
        self, task_id: str, poll_s: float = 0.5, after: str | None = None
    ) -> Iterator[LogLine]:
        """Yield lines as they arrive until the task is final and its log is drained."""
        cursor = after
        final = False
        while True:
            page = self.read(task_id, after=cursor)
            yield from page.lines
            cursor = page.cursor or cursor
            if page.lines:
                continue
            if final:
                return
            # One more read after seeing the final status: lines shipped just before the
            # agent's final report are not lost.
            if self._tasks.get(task_id).status.is_final:
                final = True
            else:
                time.sleep(poll_s)
