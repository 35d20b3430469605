"""``GET /tasks/{id}/logs/stream``: a task's console output as server-sent events.

Each log line is one ``data: <LogLine JSON>`` event. The lines of one page are
sent as one chunk and the page's cursor rides on the last event as its ``id:``,
so a browser that reconnects (``EventSource`` does so by itself, sending
``Last-Event-ID``) resumes exactly after the last page it received. Once the task
is final and every line has been sent, an ``event: end`` (data: the status)
closes the stream.

Auth is that of ``GET /tasks/{id}/logs``, with one addition: a browser's
``EventSource`` cannot set an ``Authorization`` header, so this route alone also
takes ``?ticket=``, a stream ticket from ``POST .../logs/stream-ticket`` (see
``auth.py``). Never a token: a token in a URL lands in access logs and browser
history. The ticket is checked when a response starts; each reconnection (every
``MAX_STREAM_S``) needs a fresh one.

A stream is bounded to ``MAX_STREAM_S``: uvicorn's graceful shutdown waits for
every open response, so an endless follower would hold a stopping server
forever. The client reconnects ``retry`` ms later with ``Last-Event-ID`` and
sees no gap.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from runyard.models import StreamTicket, TaskStatus
from runyard_server import store
from runyard_server.api.deps import (
    HistoryDep,
    PrincipalDep,
    RedisDep,
    TaskIdDep,
    TokensDep,
    authenticate,
)
from runyard_server.auth import TICKET_S
from runyard_server.errors import NotFound
from runyard_server.log_chunks import dump_line
from runyard_server.store import keys
from runyard_server.store.logs import LinePage, page_after

router = APIRouter(prefix="/tasks", tags=["logs"])

POLL_S = 0.3
"""How often an idle stream looks for new lines."""
MAX_STREAM_S = 15.0
"""How long one response lasts before the client is asked to reconnect."""
RETRY_MS = 500
"""The reconnection delay the stream asks ``EventSource`` to use."""
PAGE_LINES = 1000
KEEPALIVE_S = 5.0
"""A comment this often keeps proxies from closing an idle stream."""

FINAL = {s.value for s in TaskStatus if s.is_final}


def _page_events(page: LinePage) -> str:
    events = [f"data: {dump_line(line)}\n\n" for line in page.lines]
    # The id on the last event only: an id marks a point the stream can resume after.
    events[-1] = f"id: {page.cursor}\n{events[-1]}"
    return "".join(events)


async def _status(r: RedisDep, task_id: str) -> str:
    # One hash field, not get_task: a task record carries its diff (up to megabytes),
    # and an idle follower asks about three times a second.
    status = cast(str | None, await r.hget(keys.task(task_id), "status"))
    if status is None:
        raise NotFound(f"task {task_id} does not exist")
    return status


async def _events(
    request: Request, r: RedisDep, history: HistoryDep, task_id: str, cursor: str | None
) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    started = last_sent = time.monotonic()
    while not await request.is_disconnected():
        # Read the status before the lines: a final status seen here means every
        # line the task will ever have is already stored, so an empty page after it
        # means drained.
        status = await _status(r, task_id)
        page = await page_after(r, history, task_id, cursor, PAGE_LINES)
        now = time.monotonic()
        if page.lines:
            cursor = page.cursor
            last_sent = now
            yield _page_events(page)
            continue
        if status in FINAL:
            yield f"event: end\ndata: {status}\n\n"
            return
        if now - started > MAX_STREAM_S:
            return
        if now - last_sent > KEEPALIVE_S:
            last_sent = now
            yield ": keepalive\n\n"
        await asyncio.sleep(POLL_S)


@router.get("/{task_id}/logs/stream", response_class=StreamingResponse)
async def stream_logs(
    task_id: str,
    request: Request,
    r: RedisDep,
    history: HistoryDep,
    tokens: TokensDep,
    authorization: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=64)] = None,
    ticket: Annotated[str | None, Query(max_length=256)] = None,
) -> StreamingResponse:
    """Follow a task's console output live; ``Last-Event-ID`` (or ``after``) resumes.

    Send a token as ``Authorization``, or a ticket for this task (its full id) as
    ``?ticket=``."""
    if authorization is None and ticket is not None:
        tokens.check_stream_ticket(ticket, task_id, time.time())
    else:
        who = await authenticate(request, authorization)
        task_id = await store.resolve_task_id(r, task_id)
        who.require_task(task_id, "user")
    cursor = last_event_id or after
    # Fail before the 200 goes out: an unknown task or a bad cursor is a JSON error.
    await _status(r, task_id)
    await page_after(r, history, task_id, cursor, 1)
    return StreamingResponse(
        _events(request, r, history, task_id, cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/{task_id}/logs/stream-ticket")
async def stream_ticket(
    task_id: TaskIdDep, r: RedisDep, who: PrincipalDep, tokens: TokensDep
) -> StreamTicket:
    """A ticket that opens this task's log stream for a minute (for ``EventSource``)."""
    who.require_task(task_id, "user")
    await _status(r, task_id)
    return StreamTicket(ticket=tokens.stream_ticket(task_id, time.time()), expires_in=TICKET_S)
