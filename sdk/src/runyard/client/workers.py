"""``client.workers``: what agents use to register, heartbeat and claim (``/workers``)."""

from __future__ import annotations

from runyard.client._http import Transport, seg
from runyard.errors import NotFoundError
from runyard.models import (
    Claim,
    ClaimRequest,
    Heartbeat,
    HeartbeatReply,
    StopNews,
    StopWatch,
    Worker,
    WorkerRegister,
)


class Workers:
    """Agent registration, heartbeats and long-poll claims; worker listing for people."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def register(self, worker: WorkerRegister, *, retries: int | None = None) -> Worker:
        """Announce an agent and what it has; its queues are created when missing.

        ``retries`` (here and below) overrides the client's count: a loop that retries
        with its own backoff passes 0.
        """
        return self._http.call(Worker, "POST", "/workers", body=worker, retries=retries)

    def heartbeat(
        self, worker_id: str, beat: Heartbeat, *, retries: int | None = None
    ) -> HeartbeatReply:
        """Extend the leases of the held tasks; the reply lists tasks to abort or drop."""
        path = f"/workers/{seg(worker_id)}/heartbeat"
        return self._http.call(HeartbeatReply, "POST", path, body=beat, retries=retries)

    def claim(self, worker_id: str, request: ClaimRequest, *, retries: int | None = None) -> Claim:
        """Long-poll up to ``request.wait_s`` for the first task that fits.

        Retried after ambiguous failures too: a task handed to a request whose answer was
        lost returns to its queue when its short first lease expires.
        """
        return self._http.call(
            Claim,
            "POST",
            f"/workers/{seg(worker_id)}/claim",
            body=request,
            read_timeout=self._http.timeout + request.wait_s,
            retries=retries,
        )

    def stops(self, worker_id: str, watch: StopWatch, *, retries: int | None = None) -> StopNews:
        """Long-poll up to ``watch.wait_s`` for a held task to be told to stop (aborted or
        preempted); no news when the wait ends without. A read: safe to retry."""
        return self._http.call(
            StopNews,
            "POST",
            f"/workers/{seg(worker_id)}/stops",
            body=watch,
            read_timeout=self._http.timeout + watch.wait_s,
            retries=retries,
        )

    def list(self) -> list[Worker]:
        """Every registered worker, with ``alive`` and the tasks it runs."""
        return self._http.call_list(Worker, "GET", "/workers")

    def unregister(self, worker_id: str) -> None:
        """Remove a worker on a clean agent exit."""
        try:
            self._http.send("DELETE", f"/workers/{seg(worker_id)}")
        except NotFoundError as exc:
            if not exc.retried:  # else an earlier attempt removed it
                raise
