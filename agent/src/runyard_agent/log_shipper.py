"""The log upload loop: batches from a :class:`LogBuffer` to the server, in order, at least once.

A batch leaves when it is big enough (lines or bytes) or when its oldest line has
waited ``flush_s``. Each batch carries the next ``seq``; a batch that failed to
arrive is retried with the same ``seq`` (with backoff while the server is
unreachable), so the server stores it exactly once and lines stay in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from runyard.errors import (
    ApiError,
    AuthError,
    StaleLeaseError,
    TooLargeError,
)
from runyard.models import LogBatch, LogLine
from runyard.models.limits import MAX_LOG_BATCH_BYTES, MAX_LOG_LINES_PER_BATCH
from runyard_agent.errors import TRANSIENT
from runyard_agent.logs import LogBuffer

log = logging.getLogger(__name__)

SendBatch = Callable[[LogBatch], object]

# JSON escapes can make text up to ~4x longer on the wire than its length in characters.
BATCH_BYTES = MAX_LOG_BATCH_BYTES // 4


class LogShipper:
    """Ships one task's lines from ``buffer`` through ``send`` on its own thread.

    ``on_lost`` is called when the server says the lease is gone, ``on_auth`` when it
    refuses the agent's token; shipping stops in both cases. ``before_flush`` runs at
    every flush tick (the readers use it to emit ``\\r`` progress lines).
    """

    def __init__(
        self,
        buffer: LogBuffer,
        send: SendBatch,
        lease_token: str,
        *,
        flush_s: float = 0.5,
        max_lines: int = MAX_LOG_LINES_PER_BATCH,
        max_bytes: int = BATCH_BYTES,
        on_lost: Callable[[], None] = lambda: None,
        on_auth: Callable[[AuthError], None] = lambda exc: None,
        before_flush: Callable[[], None] = lambda: None,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.buffer = buffer
        self.send = send
        self.lease_token = lease_token
        self.flush_s = flush_s
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.on_lost = on_lost
        self.on_auth = on_auth
        self.before_flush = before_flush
        self.max_backoff_s = max_backoff_s
        buffer.wake_lines, buffer.wake_bytes = max_lines, max_bytes
        self.next_seq = 0
        self._closing = threading.Event()
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)

    def start(self) -> None:
        """Start the upload thread."""
        self._thread.start()

    def finish(self, timeout: float) -> bool:
        """Ship every line buffered so far, then stop; False when that took over ``timeout``."""
        self._closing.set()
        with self.buffer.changed:
            self.buffer.changed.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.abandon()
            return False
        return True

    def abandon(self) -> None:
        """Stop at once, shipping nothing more (the lease is gone or the agent is stopping)."""
        self._abandoned.set()
        self._closing.set()
        with self.buffer.changed:
            self.buffer.changed.notify_all()

    def _run(self) -> None:
        while not self._abandoned.is_set():
            self.before_flush()
            lines = self._next_batch()
            if lines:
                self._deliver(lines)
            elif self._closing.is_set() and self.buffer.pending()[0] == 0:
                return

    def _next_batch(self) -> list[LogLine]:
        """Wait until a batch is due (size, age or closing), then take it."""
        deadline: float | None = None
        with self.buffer.changed:
            while not self._closing.is_set():
                count, size = self.buffer.pending()
                if count >= self.max_lines or size >= self.max_bytes:
                    break
                now = time.monotonic()
                if count and deadline is None:
                    deadline = now + self.flush_s
                if deadline is not None and now >= deadline:
                    break
                # Wake at the flush tick even when idle, so progress lines get emitted.
                self.buffer.changed.wait(self.flush_s if deadline is None else deadline - now)
                if deadline is None:
                    return []
            return self.buffer.take(self.max_lines, self.max_bytes)

    def _deliver(self, lines: list[LogLine]) -> None:
        batch = LogBatch(lease_token=self.lease_token, seq=self.next_seq, lines=lines)
        delay = 0.5
        while not self._abandoned.is_set():
            try:
                self.send(batch)
            except TRANSIENT as exc:
                log.warning(
                    "log batch %d not delivered, retrying in %.1fs: %s", batch.seq, delay, exc
                )
                self._abandoned.wait(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            except StaleLeaseError:
                log.warning("log batch %d refused: the task's lease is gone", batch.seq)
                self.abandon()
                self.on_lost()
                return
            except AuthError as exc:
                self.abandon()
                self.on_auth(exc)
                return
            except TooLargeError as exc:
                if len(lines) > 1:
                    half = len(lines) // 2
                    self._deliver(lines[:half])
                    self._deliver(lines[half:])
                    return
                log.error("log line dropped, the server refused it: %s", exc)
            except ApiError as exc:
                log.error("log batch %d dropped, the server refused it: %s", batch.seq, exc)
            self.next_seq += 1
            return
