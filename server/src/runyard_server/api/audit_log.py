"""The audit trail's recorder: one ``ry:audit`` entry per state-changing request.

Every POST, PUT, PATCH and DELETE under the API is recorded once it has been answered,
with the caller (``who``), the route template and its path parameters (the object),
the status, the request id and the client address: never a header, query string or
body, where a token or stream ticket may ride. Reads record nothing.

Not recorded, as machine traffic (ClearML and W&B audit what people do, not every log
batch): an agent's heartbeats, claims, stop watches and pings, and the log and metric appends of
agents and scripts. Their effect on a task's state is in ``ry:events`` already. The
agents' reports that change a task (started, completed, failed, aborted, requeue,
installed) and their registration are recorded: one each per attempt or start.

The entry is written after the response has gone to the client, so a request waits
for nothing; a failed write (Redis away) is logged and never fails the request.
"""

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.models.routes import API_PREFIX
from runyard_server.auth import Principal
from runyard_server.store import audit

log = logging.getLogger("runyard_server.audit")

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MACHINE_TRAFFIC = frozenset(
    {
        f"{API_PREFIX}/workers/{{worker_id}}/heartbeat",
        f"{API_PREFIX}/workers/{{worker_id}}/claim",
        f"{API_PREFIX}/workers/{{worker_id}}/stops",  # a read, waiting; changes nothing
        f"{API_PREFIX}/tasks/{{task_id}}/ping",
        f"{API_PREFIX}/tasks/{{task_id}}/logs",
        f"{API_PREFIX}/tasks/{{task_id}}/metrics",
        # Mints a short-lived read ticket: a read, although a POST.
        f"{API_PREFIX}/tasks/{{task_id}}/logs/stream-ticket",
    }
)
"""Route templates whose writes are not audited (see the module docstring)."""
ANONYMOUS = "anonymous"
"""``who`` of a request refused before the caller was known (no or a bad token)."""


def who(principal: Principal) -> str:
    """The audit trail's name for a caller: the one place that turns a principal into it."""
    if principal.task_id:
        return f"task:{principal.task_id}"
    if principal.user:
        return principal.user
    return f"agent:{principal.pool}" if principal.pool else principal.role


class AuditMiddleware:
    """Records each answered write under the API prefix in ``ry:audit``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITES
            or not scope["path"].startswith(API_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        status = 500

        async def keep_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, keep_status)
        finally:
            await self._record(scope, status)

    async def _record(self, scope: Scope, status: int) -> None:
        template = _template(scope)
        if template in MACHINE_TRAFFIC:
            return
        state = scope.get("state") or {}
        principal = state.get("principal")
        params = scope.get("path_params") or {}
        client = scope.get("client")
        fields = {
            "who": who(principal) if isinstance(principal, Principal) else ANONYMOUS,
            "method": scope["method"],
            "route": template,
            "object": " ".join(f"{k}={v}" for k, v in params.items()),
            "status": str(status),
            "rid": str(state.get("request_id", "")),
            "client": client[0] if client else "",
        }
        try:
            await audit.record(scope["app"].state.redis, fields)
        except Exception:
            # The request is answered; losing its audit entry is logged, not raised.
            log.exception("could not record the audit entry of request %s", fields["rid"])


def _template(scope: Scope) -> str:
    """The matched route's path template under the API prefix; "(no route)" for none
    (a 404, or a request refused before routing)."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str) or not path:
        return "(no route)"
    # FastAPI keeps an included router's own path on the route, without the prefix
    # ``include_router`` added; every router here is included under API_PREFIX.
    return path if path.startswith(API_PREFIX) else API_PREFIX + path
