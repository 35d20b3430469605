"""Request ids and one structured log line per request.

A client's ``X-Request-ID`` is kept when it is sane (1-128 of ``A-Z a-z 0-9 . _ : -``),
so an agent's retries and the server's lines can be matched; anything else is
replaced by a fresh id, so a hostile header cannot forge or break log lines. The
id goes back in the response header and into the ``request`` log line: method,
path, status, duration, id. Never headers, query strings or bodies: a token may
ride in any of them (``?ticket=`` on the log stream).
"""

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
log = logging.getLogger("runyard_server.requests")


def request_id_of(scope: Scope) -> str:
    """The client's id when it is sane, else a new one."""
    for name, value in scope.get("headers") or []:
        if name == HEADER.encode() and _SANE.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex


class RequestLogMiddleware:
    """Assigns the request id, returns it, and logs the request when it is done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "request_id": request_id,
            }
            log.info("request", extra={"fields": fields})
