"""Console output of a task: batches in from the agent, pages and plain text out to readers."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from runyard.models import LogAck, LogBatch, LogPage
from runyard_server import log_batch, store
from runyard_server.api.deps import HistoryDep, PrincipalDep, RedisDep, TaskIdDep
from runyard_server.api.json_body import (
    FiniteJSONRoute,
    body_schema,
    parse_body,
    require_finite,
)
from runyard_server.errors import Forbidden, Invalid
from runyard_server.permissions import authorize_task
from runyard_server.store.logs import page_after, page_before

router = APIRouter(prefix="/tasks", tags=["logs"], route_class=FiniteJSONRoute)

Cursor = Annotated[str | None, Query(max_length=64)]


@router.post("/{task_id}/logs", openapi_extra=body_schema(LogBatch))
async def append_logs(
    task_id: TaskIdDep, request: Request, r: RedisDep, who: PrincipalDep
) -> LogAck:
    """Store a ``LogBatch``: the server's hottest body, read by ``log_batch.decode``, and
    by ``parse_body`` when that leaves it to pydantic (for its answer on a bad body)."""
    who.require_task(task_id, "agent", "user")
    await authorize_task(r, who, "change", task_id)
    body: store.Batch | None = log_batch.decode(await request.body())
    if body is None:
        model = await parse_body(request, LogBatch)
        require_finite(line.ts for line in model.lines)
        body = model
    if who.role == "agent" and not body.lease_token:
        # The lease token is what ties an agent to the tasks its worker holds.
        raise Forbidden(
            "an agent token writes logs only with the lease_token of a task its worker holds"
        )
    return await store.append_logs(r, task_id, body)


@router.get("/{task_id}/logs", response_model=LogPage)
async def read_logs(
    task_id: TaskIdDep,
    r: RedisDep,
    history: HistoryDep,
    who: PrincipalDep,
    after: Cursor = None,
    before: Cursor = None,
    tail: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """``after``: the lines that follow a cursor (the first lines without one);
    ``tail=N``: the last N lines; ``before`` (with ``limit``): the lines before a cursor.
    Every page's ``cursor`` follows forward, its ``before`` pages backward."""
    who.require_task(task_id, "user")
    if sum(x is not None for x in (after, before, tail)) > 1:
        raise Invalid("give one of after, before and tail")
    if tail is not None:
        page = await page_before(r, history, task_id, None, tail)
    elif before is not None:
        page = await page_before(r, history, task_id, before, limit)
    else:
        page = await page_after(r, history, task_id, after, limit)
    # Lines go out as the dicts they were read as: as models, FastAPI would build, dump,
    # validate and dump each line again (2.5x the CPU of the whole read).
    return Response(page.json(), media_type="application/json")


@router.get("/{task_id}/logs/text", response_class=StreamingResponse)
async def log_text(
    task_id: TaskIdDep, r: RedisDep, history: HistoryDep, who: PrincipalDep
) -> StreamingResponse:
    """The whole console output as plain text, one line per line, streamed."""
    who.require_task(task_id, "user")
    await store.check_task(r, task_id)
    return StreamingResponse(
        store.log_text(r, history, task_id),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{task_id}.log"'},
    )
