"""The one middleware every request passes first: its id and log line, the security
headers of its answer, and the same-origin checks (``request_log``, ``security_headers``
and ``same_origin`` say what each does).

One pure ASGI middleware for the three, not three: each layer costs every request a call
and a wrapped ``send``, and every waiting long-poll (``long_poll``, below this one) holds
each layer's frame and closure for as long as it waits, about 1 KB per waiting agent for
the two layers this saves.
"""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard_server.api.request_log import HEADER, id_maker, log_request, request_id_of
from runyard_server.api.same_origin import OriginPolicy
from runyard_server.api.security_headers import with_security_headers
from runyard_server.config import Settings


class EdgeMiddleware:
    """Assigns the request id, refuses what the same-origin checks refuse, adds the id and
    the security headers to the answer, and logs the request when it is done."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.origin = OriginPolicy(settings)
        self.new_id = id_maker()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope, self.new_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # One the app set is replaced (the 500 handler sets the same id).
                headers = [(k, v) for k, v in message.get("headers", ()) if k != HEADER]
                headers.append((HEADER, request_id.encode()))
                message["headers"] = with_security_headers(headers)
            await send(message)

        try:
            if not await self.origin.refuse(scope, receive, send_with_headers):
                await self.app(scope, receive, send_with_headers)
        finally:
            log_request(scope, status, started, request_id)
