"""The heartbeat loop: keeps the leases of running tasks alive and hears about aborts.

One thread beats every lease/3 (the server says the lease in each reply). A reply's
``abort`` lists tasks a user stopped; ``preempt`` the tasks a higher-priority task
preempts (they stop as an abort would, then go back to their queue); ``lost`` lists
tasks whose lease this agent no longer holds, whose processes must die without
another word to the server.

When no beat gets through for a whole lease (network cut, server down, the agent
frozen), the server has expired the leases or will the moment it looks: the agent
must not wait to be told, or the task would run twice. :meth:`HeartbeatLoop.silent_since`
says since when the agent's leases are unconfirmed.

A beat also carries the state of each GPU (busy, foreign memory, tasks on it), but
only when it changed since the last delivered beat: most beats stay a few bytes. The
agent :meth:`HeartbeatLoop.nudge`-s the loop when that state changes, so the server
hears of it within a second instead of a third of a lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from runyard.client import Client
from runyard.errors import TRANSIENT, ApiError, AuthError
from runyard.models import GpuState, Heartbeat, HeldTask
from runyard.retry import Backoff
from runyard_agent.thread_loop import ThreadLoop

log = logging.getLogger(__name__)

_FIRST_INTERVAL_S = 5.0
_MIN_INTERVAL_S = 0.2
_RETRY_BASE_S = 1.0


class HeartbeatLoop(ThreadLoop):
    """Beats for ``worker_id()`` on its own thread (once at :meth:`start`, then every
    lease/3, or at once when :meth:`nudge`-d: the GPU state changed) until :meth:`stop`."""

    def __init__(
        self,
        client: Client,
        worker_id: Callable[[], str],
        held: Callable[[], list[HeldTask]],
        *,
        on_abort: Callable[[str], None],
        on_preempt: Callable[[str, str], None],
        on_lost: Callable[[str], None],
        on_auth: Callable[[AuthError], None],
        gpu_state: Callable[[], list[GpuState]] | None = None,
    ) -> None:
        super().__init__("heartbeat")
        self.client = client
        self.worker_id = worker_id
        self.held = held
        self.on_abort = on_abort
        self.on_preempt = on_preempt
        self.on_lost = on_lost
        self.on_auth = on_auth
        self.gpu_state = gpu_state
        self.interval_s = _FIRST_INTERVAL_S
        self.lease_s: float | None = None
        self._confirmed_at: float | None = None
        # (worker id, GPU state) of the last delivered beat: a new worker id after
        # registering again must hear the state afresh.
        self._delivered: tuple[str, list[GpuState]] | None = None

    def _run(self) -> None:
        wait = 0.0
        failures = 0
        # Retries wait at most one interval: a beat must land well within the lease.
        backoff = Backoff(_RETRY_BASE_S, max(_RETRY_BASE_S, self.interval_s))
        while not self._sleep(wait):
            try:
                self.beat()
            except TRANSIENT as exc:
                failures += 1
                backoff.cap_s = max(_RETRY_BASE_S, self.interval_s)
                wait = backoff.next()
                log.warning("heartbeat failed (%d in a row): %s", failures, exc)
                continue
            except AuthError as exc:
                self.on_auth(exc)
                return
            except ApiError as exc:
                failures += 1
                wait = self.interval_s
                log.error("heartbeat refused: %s", exc)
                continue
            if failures:
                log.info("heartbeat delivered again after %d failure(s)", failures)
            failures = 0
            backoff.reset()
            wait = self.interval_s

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` or until nudged; True when stopped."""
        self._wake.wait(seconds)
        self._wake.clear()
        return self._stop.is_set()

    def silent_since(self) -> float | None:
        """``time.monotonic()`` when the last delivered beat was sent; None before the first.

        The server extended every held lease to at least this time plus ``lease_s``.
        """
        return self._confirmed_at

    def beat(self) -> None:
        """Send one heartbeat and act on the reply."""
        running = self.held()
        worker_id = self.worker_id()
        state = self.gpu_state() if self.gpu_state is not None else None
        changed = state is not None and self._delivered != (worker_id, state)
        sent = time.monotonic()
        reply = self.client.workers.heartbeat(
            worker_id, Heartbeat(running=running, gpu_state=state if changed else None), retries=0
        )
        if state is not None:
            self._delivered = (worker_id, state)
        self._confirmed_at, self.lease_s = sent, reply.lease_s
        self.interval_s = max(_MIN_INTERVAL_S, reply.lease_s / 3)
        for task_id in reply.abort:
            self.on_abort(task_id)
        for task_id, by in reply.preempt.items():
            self.on_preempt(task_id, by)
        for task_id in reply.lost:
            self.on_lost(task_id)
