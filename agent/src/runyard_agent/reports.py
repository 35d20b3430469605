"""A task's reports to the server, retried until they land or the lease is gone.

While the server is unreachable a report waits and tries again with backoff (the
task keeps its state meanwhile). A stale lease means another attempt owns the task
now: the caller is told through ``on_lost`` and nothing more is reported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from runyard.client import Client
from runyard.errors import TRANSIENT, ApiError, AuthError, StaleLeaseError
from runyard.models import FailureKind, InstalledPackage
from runyard.retry import Backoff

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 1.0
MAX_BACKOFF_S = 30.0


class LeaseReporter:
    """Sends ``started``, ``completed``, ``failed``, ``aborted`` and ``requeue`` for one task.

    Each method returns True once the server took the report, False when it was refused
    or given up (``stop`` set: the lease is lost or the agent is going away).
    """

    def __init__(
        self,
        client: Client,
        task_id: str,
        lease_token: str,
        *,
        stop: threading.Event,
        on_lost: Callable[[], None],
        on_auth: Callable[[AuthError], None],
    ) -> None:
        self.client = client
        self.task_id = task_id
        self.lease_token = lease_token
        self.stop = stop
        self.on_lost = on_lost
        self.on_auth = on_auth

    def started(self) -> bool:
        """The task was taken and its environment is being built."""
        return self._send("started", lambda: self.client.tasks.report_started(*self._ids))

    def installed(self, packages: list[InstalledPackage]) -> bool:
        """What was installed for the task, once its environment is built."""
        tasks = self.client.tasks
        return self._send("installed", lambda: tasks.report_installed(*self._ids, packages))

    def completed(self, exit_code: int = 0) -> bool:
        """The script exited 0."""
        tasks = self.client.tasks
        return self._send("completed", lambda: tasks.report_completed(*self._ids, exit_code))

    def failed(self, kind: FailureKind, reason: str, exit_code: int | None = None) -> bool:
        """The environment could not be built (``environment``) or the script failed."""
        tasks = self.client.tasks
        return self._send(
            f"failed ({kind})",
            lambda: tasks.report_failed(*self._ids, kind, reason, exit_code=exit_code),
        )

    def aborted(self, exit_code: int | None) -> bool:
        """The task was stopped after an abort request."""
        tasks = self.client.tasks
        return self._send("aborted", lambda: tasks.report_aborted(*self._ids, exit_code))

    def requeue(self) -> bool:
        """Give the unfinished task back to the head of its queue."""
        return self._send("requeue", lambda: self.client.tasks.report_requeue(*self._ids))

    @property
    def _ids(self) -> tuple[str, str]:
        return self.task_id, self.lease_token

    def _send(self, what: str, call: Callable[[], object]) -> bool:
        backoff = Backoff(BACKOFF_BASE_S, MAX_BACKOFF_S)
        while not self.stop.is_set():
            try:
                call()
            except TRANSIENT as exc:
                delay = backoff.next()
                log.warning(
                    "task %s: %s report not sent, retry in %.1fs: %s",
                    self.task_id,
                    what,
                    delay,
                    exc,
                )
                self.stop.wait(delay)
                continue
            except StaleLeaseError:
                log.warning("task %s: lease lost, another attempt owns the task now", self.task_id)
                self.on_lost()
                return False
            except AuthError as exc:
                self.on_auth(exc)
                return False
            except ApiError as exc:
                log.error("task %s: the server refused the %s report: %s", self.task_id, what, exc)
                return False
            log.info("task %s: reported %s", self.task_id, what)
            return True
        return False
