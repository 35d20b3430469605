"""One place that turns every failure into ``{"error", "detail"}`` with the right status."""

import logging
from collections.abc import Mapping
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from runyard.models import API_PREFIX, ErrorBody, ErrorCode
from runyard_server.api.security_headers import SECURITY_HEADERS
from runyard_server.errors import RunyardServerError

log = logging.getLogger("runyard_server")

_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.INVALID,
    429: ErrorCode.TOO_MANY_REQUESTS,
}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": f"`{code}`: see docs/api.md, Errors"}
    for status, code in _HTTP_CODES.items()
    if status in (400, 401, 403, 404, 409, 413, 422)
}
"""The error statuses every API route can answer, declared in the OpenAPI with the
body they really carry (FastAPI's default 422 schema is not ours)."""


def error_response(
    status: int, code: ErrorCode, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


STORE_FULL = (
    "the task store (Redis) is out of memory (maxmemory reached, noeviction): nothing was "
    "written. Delete old tasks or give Redis more memory, then retry"
)


def is_out_of_memory(exc: Exception) -> bool:
    """A write Redis refused at ``maxmemory``; a Lua script reports it inside a plain error."""
    return isinstance(exc, redis.exceptions.OutOfMemoryError) or (
        "OOM command not allowed" in str(exc)
    )


def is_demoted(exc: Exception) -> bool:
    """A write refused by a Redis that is (now) a replica, or a replica cut off from its
    master: a failover is under way, and the request did nothing. A Lua script reports
    READONLY inside a plain error, so the text is checked too."""
    return isinstance(exc, redis.exceptions.ReadOnlyError) or any(
        marker in str(exc) for marker in ("READONLY", "MASTERDOWN")
    )


def _describe(exc: RequestValidationError) -> tuple[int, ErrorCode, str]:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error") or err.get("msg", "cannot parse")
            return 400, ErrorCode.BAD_REQUEST, f"malformed JSON body: {reason}"
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return 422, ErrorCode.INVALID, "; ".join(parts) or "invalid request"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: RFC 9110 wants them all in a 405's
    ``Allow``, and Starlette names only those of the first route whose path matched."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RunyardServerError)
    async def _domain(_: Request, exc: RunyardServerError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, detail = _describe(exc)
        return error_response(status, code, detail)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.ERROR)
        headers, detail = exc.headers, str(exc.detail)
        if exc.status_code == 405:
            allowed = ", ".join(_allowed_methods(request))
            headers = {"Allow": allowed}
            detail = f"{request.method} is not allowed on {request.url.path}: use {allowed}"
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}: the routes are listed at {API_PREFIX}/docs"
        return error_response(exc.status_code, code, detail, headers)

    @app.exception_handler(redis.exceptions.ConnectionError)
    @app.exception_handler(redis.exceptions.TimeoutError)
    async def _redis_down(_: Request, exc: Exception) -> JSONResponse:
        log.error("redis unavailable: %s", exc)
        return error_response(
            503, ErrorCode.UNAVAILABLE, "the task store (Redis) is unreachable; retry"
        )

    @app.exception_handler(redis.exceptions.ResponseError)
    async def _redis_refused(request: Request, exc: Exception) -> JSONResponse:
        if is_demoted(exc):
            return await _redis_down(request, exc)
        if not is_out_of_memory(exc):
            return await _bug(request, exc)
        log.error("redis out of memory on %s %s: %s", request.method, request.url.path, exc)
        return error_response(503, ErrorCode.STORE_FULL, STORE_FULL)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this one outside every middleware, so the id and the
        # security headers are added here.
        request_id = str(request.scope.get("state", {}).get("request_id", ""))
        log.exception(
            "unhandled error on %s %s",
            request.method,
            request.url.path,
            extra={"fields": {"request_id": request_id}},
        )
        detail = f"internal server error (a bug): see the server log, request id {request_id}"
        headers = {"x-request-id": request_id}
        headers.update((name.decode(), value.decode()) for name, value in SECURITY_HEADERS)
        return error_response(500, ErrorCode.INTERNAL, detail, headers)
