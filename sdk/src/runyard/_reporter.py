"""The buffered background sender of a live run's metric points and console lines.

The script never waits on the network: ``log_metric`` appends to a bounded buffer and
a daemon thread sends batches every ``interval_s``. When the server cannot be reached
the buffers keep the newest points and lines (the oldest are dropped past the bound),
the user is warned once, the thread backs off, and everything kept is sent when the
server answers again; at exit a last flush gets a few seconds.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Protocol

from runyard._notices import Notices
from runyard.client import Client
from runyard.errors import ApiError, RateLimitedError, RunyardError, ServerError, ServerUnreachable
from runyard.models import LogBatch, LogLine, MetricBatch, MetricPoint
from runyard.models.limits import (
    MAX_LOG_BATCH_BYTES,
    MAX_LOG_LINES_PER_BATCH,
    MAX_METRIC_POINTS_PER_BATCH,
)

MAX_BUFFERED_POINTS = 100_000
MAX_BUFFERED_LINES = 20_000
_MAX_BACKOFF_S = 30.0
PING_EVERY_S = 60.0
"""How often a local run tells the server it is alive (its lease is minutes long)."""
_TRANSIENT = (ServerUnreachable, ServerError, RateLimitedError)


class Target(Protocol):
    """The task the reporter writes to; its record may not exist yet."""

    def current_id(self) -> str | None:
        """The task id when its record exists, without creating it."""

    def ensure_started(self) -> str | None:
        """The task id, creating the record first if needed; None when not possible now."""

    @property
    def lease_token(self) -> str | None:
        """Token of a local run, sent with log batches."""


class Reporter:
    """Buffers points and lines and sends them from a background thread."""

    def __init__(
        self,
        client: Client,
        target: Target,
        notices: Notices,
        *,
        interval_s: float = 1.0,
        max_points: int = MAX_BUFFERED_POINTS,
        max_lines: int = MAX_BUFFERED_LINES,
    ) -> None:
        self._client = client
        self._target = target
        self._notices = notices
        self._interval_s = interval_s
        self._points: collections.deque[MetricPoint] = collections.deque(maxlen=max_points)
        self._lines: collections.deque[LogLine] = collections.deque(maxlen=max_lines)
        self._point_batch: list[MetricPoint] = []
        self._line_batch: LogBatch | None = None
        self._log_seq = 0
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._down_since: float | None = None
        self._last_ping = float("-inf")
        self._thread = threading.Thread(target=self._loop, name="runyard-reporter", daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def add_point(self, point: MetricPoint) -> None:
        """Keep ``point`` for the next batch."""
        with self._lock:
            full = len(self._points) == self._points.maxlen
            self._points.append(point)
        if full:
            self._dropping()

    def add_line(self, line: LogLine) -> None:
        """Keep a console line for the next batch."""
        with self._lock:
            full = len(self._lines) == self._lines.maxlen
            self._lines.append(line)
        if full:
            self._dropping()

    def pending(self) -> tuple[int, int]:
        """How many points and lines wait to be sent."""
        with self._lock:
            points = len(self._points) + len(self._point_batch)
            waiting = len(self._line_batch.lines) if self._line_batch else 0
            return points, len(self._lines) + waiting

    def flush(self) -> bool:
        """Send everything kept now, on the caller's thread; True when nothing is left."""
        with self._send_lock:
            return self._send_all()

    def stop(self) -> None:
        """Stop the thread; what is buffered is not sent."""
        self._stop.set()
        self._wake.set()

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and send what is left, trying for up to ``timeout_s`` seconds."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        deadline = time.monotonic() + timeout_s
        while not self.flush() and time.monotonic() < deadline:
            time.sleep(0.5)
        points, lines = self.pending()
        if points or lines:
            self._notices.once(
                "unsent",
                f"{points} metric points and {lines} console lines could not be sent to "
                f"{self._client.server} before the script ended; they are lost",
            )

    def _dropping(self) -> None:
        self._notices.once(
            "dropped",
            "the server has been unreachable long enough that the oldest buffered "
            "metrics and console lines are being dropped",
        )

    def _loop(self) -> None:
        backoff = self._interval_s
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._send_lock:
                ok = self._send_all()
            backoff = self._interval_s if ok else min(_MAX_BACKOFF_S, max(backoff * 2, 1.0))

    def _send_all(self) -> bool:
        """Send batches until the buffers are empty or sending fails; True when empty."""
        try:
            while self._send_points() or self._send_lines():
                pass
            self._keep_alive()
        except _TRANSIENT as exc:
            self._went_down(exc)
            return False
        self._came_back()
        return self.pending() == (0, 0)

    def _keep_alive(self) -> None:
        """Ping the server for a local run, so a script killed outright is noticed."""
        token, task_id = self._target.lease_token, self._target.current_id()
        if token is None or task_id is None:
            return
        if time.monotonic() - self._last_ping < PING_EVERY_S:
            return
        self._last_ping = time.monotonic()
        try:
            self._client.tasks.ping(task_id, token)
        except _TRANSIENT:
            raise  # the caller backs off and warns once
        except ApiError:
            pass  # the run ended or was aborted meanwhile; its end report settles it

    def _send_points(self) -> bool:
        """Send one batch of points; False when there is none or no record to send to."""
        with self._lock:
            # A batch leaves the bounded buffer when made, so dropping never touches it.
            while self._points and len(self._point_batch) < MAX_METRIC_POINTS_PER_BATCH:
                self._point_batch.append(self._points.popleft())
            batch = list(self._point_batch)
        if not batch:
            return False
        task_id = self._target.ensure_started()
        if task_id is None:
            return False
        try:
            self._client.metrics.append(task_id, MetricBatch(points=batch), retries=1)
        except _TRANSIENT:
            raise
        except ApiError as exc:
            self._notices.once("metrics-refused", f"the server refused metric points: {exc}")
        with self._lock:
            self._point_batch.clear()
        return True

    def _send_lines(self) -> bool:
        """Send one batch of lines once the record exists; a retried batch keeps its ``seq``."""
        task_id = self._target.current_id()
        if task_id is None:
            return False
        with self._lock:
            if self._line_batch is None or not self._line_batch.lines:
                lines = _take_lines(self._lines)
                if not lines:
                    return False
                token = self._target.lease_token
                self._line_batch = LogBatch(lease_token=token, seq=self._log_seq, lines=lines)
                self._log_seq += 1
            batch = self._line_batch
        try:
            self._client.logs.append(task_id, batch)
        except _TRANSIENT:
            raise
        except ApiError as exc:
            self._notices.once("logs-refused", f"the server refused console lines: {exc}")
        with self._lock:
            self._line_batch = None
        return True

    def _went_down(self, exc: RunyardError) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
        self._notices.unreachable(exc)

    def _came_back(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            Notices.info(f"the server at {self._client.server} answers again; sent what was kept")


def _take_lines(lines: collections.deque[LogLine]) -> list[LogLine]:
    """Take the oldest lines that fit in one batch's line and byte limits."""
    batch: list[LogLine] = []
    size = 0
    while lines and len(batch) < MAX_LOG_LINES_PER_BATCH:
        size += len(lines[0].text.encode()) + 64
        if batch and size > MAX_LOG_BATCH_BYTES // 2:
            break
        batch.append(lines.popleft())
    return batch
