"""Request ids and one structured log line per request.

A client's ``X-Request-ID`` is kept when it is sane (1-128 of ``A-Z a-z 0-9 . _ : -``),
so an agent's retries and the server's lines can be matched; anything else is
replaced by a fresh id, so a hostile header cannot forge or break log lines. The
id goes back in the response header (``api.edge`` adds it) and into the ``request``
log line: method, path, status, duration, id. Never headers, query strings or bodies:
a token may ride in any of them (``?ticket=`` on the log stream).
"""

import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable

from starlette.types import Scope

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
log = logging.getLogger("runyard_server.requests")


def id_maker() -> Callable[[], str]:
    """New request ids: 32 hex digits, a random half per maker and a counter.

    As unique as a UUID for what an id is for (matching a client's retries to the
    server's lines) at a fifth of ``uuid4``'s cost, which reads the OS's random source
    on every request. Each app makes its own, so ``--workers`` processes never share a
    prefix."""
    prefix = secrets.token_hex(8)
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter) & 0xFFFFFFFFFFFFFFFF:016x}"


def request_id_of(scope: Scope, new_id: Callable[[], str]) -> str:
    """The client's id when it is sane, else a new one."""
    for name, value in scope.get("headers") or []:
        if name == HEADER:
            if _SANE.fullmatch(value):
                return str(value.decode())
            break
    return new_id()


def log_request(scope: Scope, status: int, started: float, request_id: str) -> None:
    """The ``request`` line of a request answered with ``status``, begun at ``started``
    (``time.perf_counter``)."""
    if log.isEnabledFor(logging.INFO):  # else not even the fields are built
        fields = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "request_id": request_id,
        }
        log.info("request", extra={"fields": fields})
