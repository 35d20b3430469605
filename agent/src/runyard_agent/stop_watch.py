"""The stop watch: hears within a second that a running task must stop.

The heartbeat tells the agent about aborts and preemptions too, but only every
lease/3 (10 s with the default lease). While the agent runs tasks, this thread holds a
long-poll (``POST /workers/{id}/stops``) listing the tasks not yet told to stop; the
server answers it the moment one is aborted or preempted (``store/stops.py``), and the
agent stops it as the heartbeat's reply would have. An answer without news (the wait
ended, or a task claimed since the watch began got news) starts the next watch, with
the tasks held then.

A server that has no stop watch (older than this agent) refuses the route: the agent
then relies on heartbeats alone, as before. A server that is away is retried with the
jittered backoff every loop uses (``runyard.retry``), so agents come back spread out
after a restart; meanwhile heartbeats keep working as they always did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from runyard.client import Client
from runyard.errors import TRANSIENT, ApiError, AuthError
from runyard.models import HeldTask, StopWatch
from runyard.retry import Backoff
from runyard_agent.thread_loop import ThreadLoop

log = logging.getLogger(__name__)

_RETRY_BASE_S = 1.0
_RETRY_CAP_S = 30.0


class StopWatchLoop(ThreadLoop):
    """Watches the tasks ``watched()`` returns on its own thread until :meth:`stop`; an
    idle loop (nothing to watch) starts again when :meth:`nudge`-d (a task launched)."""

    def __init__(
        self,
        client: Client,
        worker_id: Callable[[], str],
        watched: Callable[[], list[HeldTask]],
        *,
        wait_s: float,
        on_abort: Callable[[str], None],
        on_preempt: Callable[[str, str], None],
    ) -> None:
        super().__init__("stop-watch")
        self.client = client
        self.worker_id = worker_id
        self.watched = watched
        self.wait_s = wait_s
        self.on_abort = on_abort
        self.on_preempt = on_preempt

    def _run(self) -> None:
        backoff = Backoff(_RETRY_BASE_S, _RETRY_CAP_S)
        failures = 0
        while not self._stop.is_set():
            held = self.watched()
            if not held:
                self._wake.wait()
                self._wake.clear()
                continue
            watch = StopWatch(running=held, wait_s=self.wait_s)
            try:
                news = self.client.workers.stops(self.worker_id(), watch, retries=0)
            except TRANSIENT as exc:
                failures += 1
                delay = backoff.next()
                log.debug("stop watch failed, again in %.1fs: %s", delay, exc)
                self._stop.wait(delay)
                continue
            except AuthError:
                return  # the heartbeat and the claims report a refused token
            except ApiError as exc:
                log.info("the server has no stop watch (%s): aborts come with heartbeats", exc)
                return
            if failures:
                log.info("stop watch back after %d failure(s)", failures)
            failures = 0
            backoff.reset()
            for task_id in news.abort:
                self.on_abort(task_id)
            for task_id, by in news.preempt.items():
                self.on_preempt(task_id, by)
