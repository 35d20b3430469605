"""ASGI middleware that refuses request bodies over the limit with a clear 413."""

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.models import ErrorCode
from runyard.models.limits import MAX_ARTIFACT_BYTES, MAX_BODY_BYTES
from runyard.models.routes import API_PREFIX
from runyard_server.api.errors import error_response

_ARTIFACT_UPLOAD = re.compile(re.escape(API_PREFIX) + r"(/tasks/[^/]+/artifacts/[^/]+|/bundles)")


class BodyLimitMiddleware:
    """Checks Content-Length, and counts bytes as they arrive so chunked bodies are limited too.

    Artifact and code bundle uploads stream to disk and get the artifact limit; every
    other body the general one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = _ARTIFACT_UPLOAD.fullmatch(scope["path"]) is not None
        limit = MAX_ARTIFACT_BYTES if upload else MAX_BODY_BYTES
        if _declared_length(scope) > limit:
            detail = _detail(limit)
            await error_response(413, ErrorCode.TOO_LARGE, detail)(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI passes an HTTPException raised while reading the body through.
                    raise HTTPException(413, _detail(limit))
            return message

        await self.app(scope, counting_receive, send)


def _declared_length(scope: Scope) -> int:
    """The request's Content-Length, 0 when it has none (or not a number)."""
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _detail(limit: int) -> str:
    return f"request body is over the {limit}-byte limit"
