"""The buffered background senders of a live run's metric points and console lines.

The script never waits on the network. ``log_metric`` appends to a bounded buffer and
a daemon thread sends batches every ``interval_s``; the same thread records a local
run on the server at once and keeps it alive. Console lines go to a spool
(:mod:`runyard.logship`, the agent's path too): memory, then local disk up to a
quota, sent in order by their own thread as fast as the server takes them. When the
server cannot be reached the user is warned once, the threads back off, and what was
kept is sent when it answers again; at exit the last lines get as long as the server
keeps taking them, and metrics a few seconds.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Protocol

from runyard._notices import Notices
from runyard.client import Client
from runyard.errors import TRANSIENT, ApiError, RunyardError
from runyard.logship import Chunk, Sender, Spool, SpoolSettings
from runyard.logship.sender import NotReady
from runyard.models import MetricBatch, MetricPoint
from runyard.models.limits import MAX_METRIC_POINTS_PER_BATCH
from runyard.retry import Backoff

MAX_BUFFERED_POINTS = 100_000
_BACKOFF_BASE_S = 1.0
_MAX_BACKOFF_S = 30.0
# At exit the script waits on the points: short waits, so they go as soon as the server is back.
_CLOSE_BACKOFF_BASE_S = 0.25
_CLOSE_BACKOFF_CAP_S = 2.0
_FLUSH_STALL_S = 10.0
PING_EVERY_S = 60.0
"""How often a local run tells the server it is alive (its lease is minutes long)."""


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
        spool: SpoolSettings | None = None,
    ) -> None:
        self._client = client
        self._target = target
        self._notices = notices
        self._interval_s = interval_s
        self._points: collections.deque[MetricPoint] = collections.deque(maxlen=max_points)
        self._point_batch: list[MetricPoint] = []
        self.spool = Spool(spool)
        self._console = Sender(
            self.spool,
            self._post_lines,
            on_down=self._went_down,
            on_up=self._came_back,
            on_fatal=self._lines_refused,
            on_refused=self._lines_refused,
            name="runyard-console",
        )
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._down_since: float | None = None
        self._last_ping = float("-inf")
        self._thread = threading.Thread(target=self._loop, name="runyard-reporter", daemon=True)

    def start(self) -> None:
        """Start the background threads."""
        self._thread.start()
        self._console.start()

    def add_point(self, point: MetricPoint) -> None:
        """Keep ``point`` for the next batch."""
        with self._lock:
            full = len(self._points) == self._points.maxlen
            self._points.append(point)
        if full:
            self._notices.once(
                "dropped-points",
                f"more than {self._points.maxlen} metric points are waiting for the server; "
                "the oldest are being dropped",
            )

    def add_lines(self, stream: str, texts: list[str]) -> None:
        """Keep console lines (``stream`` is ``stdout`` or ``stderr``) to send in order."""
        self.spool.put_many(stream, texts)

    def pending(self) -> tuple[int, int]:
        """How many points and lines wait to be sent."""
        with self._lock:
            points = len(self._points) + len(self._point_batch)
        return points, self.spool.pending()

    def flush(self) -> bool:
        """Send everything kept now (points on the caller's thread); True when nothing is left."""
        with self._send_lock:
            sent = self._send_all()
        return self._console.wait_sent(_FLUSH_STALL_S) and sent

    def stop(self) -> None:
        """Stop the threads; what is buffered is not sent."""
        self._stop.set()
        self._wake.set()
        self._console.abandon()
        self.spool.close()

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the threads and send what is left: lines while the server keeps taking
        them (giving up after ``timeout_s`` without progress), points for ``timeout_s``."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        deadline = time.monotonic() + timeout_s
        backoff = Backoff(_CLOSE_BACKOFF_BASE_S, _CLOSE_BACKOFF_CAP_S)
        while not self.flush_points() and time.monotonic() < deadline:
            time.sleep(min(backoff.next(), max(0.0, deadline - time.monotonic())))
        self._console.finish(timeout_s)
        points, lines = self.pending()
        if points or lines:
            self._notices.once(
                "unsent",
                f"{points} metric points and {lines} console lines could not be sent to "
                f"{self._client.server} before the script ended; they are lost",
            )
        if self.spool.dropped:
            self._notices.once(
                "dropped",
                f"{self.spool.dropped} console lines were dropped: the server took them "
                f"slower than they came and the spool at {self.spool.where()} was full "
                "(RUNYARD_SPOOL_QUOTA_MB sets its size); the task's log says where",
            )
        self.spool.close()

    def flush_points(self) -> bool:
        """Send the kept points and create the record if needed; True when none are left."""
        with self._send_lock:
            return self._send_all()

    def _loop(self) -> None:
        wait = 0.0  # the first pass records a local run at once
        backoff = Backoff(_BACKOFF_BASE_S, _MAX_BACKOFF_S)
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._send_lock:
                ok = self._send_all()
            if ok:
                backoff.reset()
            wait = self._interval_s if ok else backoff.next()

    def _send_all(self) -> bool:
        """Record the run, send points until none are left or sending fails; True when none are."""
        try:
            if self._target.ensure_started() is None:
                return False
            while self._send_points():
                pass
            self._keep_alive()
        except TRANSIENT as exc:
            self._went_down(exc)
            return False
        self._came_back()
        return self.pending()[0] == 0

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
        except TRANSIENT:
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
            self._client.metrics.append(task_id, MetricBatch(points=batch), retries=0)
        except TRANSIENT:
            raise
        except ApiError as exc:
            self._notices.once("metrics-refused", f"the server refused metric points: {exc}")
        with self._lock:
            self._point_batch.clear()
        return True

    def _post_lines(self, chunk: Chunk, seq: int) -> None:
        task_id = self._target.current_id()
        if task_id is None:
            raise NotReady("the run is not recorded yet")
        self._client.logs.append_encoded(
            task_id, chunk.body(seq, self._target.lease_token), retries=0
        )

    def _lines_refused(self, exc: ApiError) -> None:
        self._notices.once("logs-refused", f"the server refused console lines: {exc}")

    def _went_down(self, exc: RunyardError) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
        self._notices.unreachable(exc)

    def _came_back(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            Notices.info(f"the server at {self._client.server} answers again; sent what was kept")
