"""The upload loop: chunks from a :class:`~runyard.logship.spool.Spool` to the server, in order,
at least once.

One chunk is on the wire at a time: the server appends a batch where it lands, so two
in flight could be stored out of order. Each chunk carries the next ``seq``; one that
failed to arrive is retried with the same ``seq`` (with backoff while the server is
away), so the server stores it exactly once. Meanwhile the producers go on filling
the spool, which is what keeps them from ever waiting on the network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from runyard.errors import (
    TRANSIENT,
    ApiError,
    AuthError,
    ProtocolError,
    RunyardError,
    StaleLeaseError,
    TooLargeError,
)
from runyard.logship.spool import Spool
from runyard.logship.wire import Chunk
from runyard.retry import Backoff

_BACKOFF_BASE_S = 0.25

Post = Callable[[Chunk, int], object]
"""Sends ``chunk`` as batch ``seq``; raises a :mod:`runyard.errors` class when it did not land."""


class NotReady(RunyardError):
    """Raised by a :data:`Post` when there is nowhere to send yet (a local run not yet
    recorded); the chunk is tried again shortly, with no warning."""


class Sender:
    """Ships ``spool``'s chunks through ``post`` on its own thread.

    ``on_down(exc)`` is called for each failed attempt while the server is away (the
    sender itself logs nothing: in a local run stderr is the task's own console) and
    ``on_up()`` when it answers again; ``on_fatal(exc)`` when the server refuses this
    writer for good (a stale lease, a refused token), after which nothing more is sent;
    ``on_refused(exc)`` when it refuses one batch (the batch is skipped).
    ``before_flush`` runs at every flush tick (the agent emits ``\\r`` progress lines).
    ``idle_s``: after a tick that found nothing to ship, wait up to this long instead of
    ``flush_s`` (a new line still wakes the sender at once), so hundreds of silent
    writers (batch jobs queued in Slurm) do not each wake twice a second.
    """

    def __init__(
        self,
        spool: Spool,
        post: Post,
        *,
        flush_s: float = 0.5,
        max_backoff_s: float = 5.0,
        idle_s: float | None = None,
        before_flush: Callable[[], None] = lambda: None,
        on_down: Callable[[RunyardError], None] = lambda exc: None,
        on_up: Callable[[], None] = lambda: None,
        on_fatal: Callable[[ApiError], None] = lambda exc: None,
        on_refused: Callable[[ApiError], None] = lambda exc: None,
        name: str = "log-sender",
    ) -> None:
        self.spool = spool
        self.post = post
        self.flush_s = flush_s
        self.idle_s = idle_s
        self.max_backoff_s = max_backoff_s
        self.before_flush = before_flush
        self.on_down, self.on_up = on_down, on_up
        self.on_fatal, self.on_refused = on_fatal, on_refused
        self.next_seq = 0
        self.down = False
        self.last_progress = time.monotonic()
        self._abandoned = threading.Event()
        self._poke = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the upload thread."""
        self._thread.start()

    def finish(self, stall_s: float) -> bool:
        """Ship every line added so far, then stop.

        Waits as long as batches keep arriving at the server; gives up (and sends
        nothing more) once none arrived for ``stall_s`` seconds. False when lines were
        left unsent.
        """
        self.spool.finish()
        self._poke.set()
        self.last_progress = max(self.last_progress, time.monotonic())
        while self._thread.is_alive():
            self._thread.join(0.1)
            if time.monotonic() - self.last_progress > stall_s:
                self.abandon()
                return False
        return self.spool.pending() == 0

    def wait_sent(self, stall_s: float) -> bool:
        """Wait until every line added so far is sent; False when the server is away or no
        batch arrived for ``stall_s`` seconds (the thread goes on trying)."""
        since = time.monotonic()
        self._poke.set()
        with self.spool.changed:
            while self.spool.pending():
                stalled = time.monotonic() - max(since, self.last_progress) > stall_s
                if self.down or self.stopped or stalled:
                    return False
                self.spool.changed.wait(0.05)
        return True

    def abandon(self) -> None:
        """Stop at once, shipping nothing more."""
        self._abandoned.set()
        self._poke.set()
        self.spool.finish()

    @property
    def stopped(self) -> bool:
        return self._abandoned.is_set()

    def _run(self) -> None:
        idle = False
        while not self._abandoned.is_set():
            self.before_flush()
            chunk = self.spool.next_chunk(self.flush_s, self.idle_s if idle else None)
            idle = chunk is None
            if chunk is not None:
                if self._deliver(chunk):
                    self.spool.release()
            elif self.spool.finishing and self.spool.pending() == 0:
                return

    def _deliver(self, chunk: Chunk) -> bool:
        """Post ``chunk`` until it lands or is refused; False when shipping stopped."""
        backoff = Backoff(_BACKOFF_BASE_S, max(_BACKOFF_BASE_S, self.max_backoff_s))
        while not self._abandoned.is_set():
            try:
                self.post(chunk, self.next_seq)
            except NotReady:
                self._pause(0.1)
                continue
            except (*TRANSIENT, ProtocolError) as exc:
                # ProtocolError: an answer that was not the expected JSON (a proxy's error
                # page); the batch may or may not have landed, and its seq makes a retry safe.
                self.down = True
                self.on_down(exc)
                self._pause(backoff.next())
                continue
            except TooLargeError as exc:
                if chunk.count < 2:
                    self.on_refused(exc)
                else:
                    first, second = chunk.halves()
                    return self._deliver(first) and self._deliver(second)
            except (StaleLeaseError, AuthError) as exc:
                self.abandon()
                self.on_fatal(exc)
                return False
            except ApiError as exc:
                self.on_refused(exc)
            self.next_seq += 1
            self.last_progress = time.monotonic()
            if self.down:
                self.down = False
                self.on_up()
            return True
        return False

    def _pause(self, seconds: float) -> None:
        """Wait before another attempt; :meth:`finish` cuts it short."""
        self._poke.wait(seconds)
        self._poke.clear()
