"""Console output of a task: batches in from the agent, pages out to readers."""

from typing import Annotated

from fastapi import APIRouter, Query

from runyard.models import LogAck, LogBatch, LogPage
from runyard_server import store
from runyard_server.api.deps import PrincipalDep, RedisDep, TaskIdDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.errors import Forbidden

router = APIRouter(prefix="/tasks", tags=["logs"], route_class=FiniteJSONRoute)


@router.post("/{task_id}/logs")
async def append_logs(task_id: TaskIdDep, body: LogBatch, r: RedisDep, who: PrincipalDep) -> LogAck:
    who.require_task(task_id, "agent", "user")
    if who.role == "agent" and not body.lease_token:
        # The lease token is what ties an agent to the tasks its worker holds.
        raise Forbidden(
            "an agent token writes logs only with the lease_token of a task its worker holds"
        )
    return await store.append_logs(r, task_id, body)


@router.get("/{task_id}/logs")
async def read_logs(
    task_id: TaskIdDep,
    r: RedisDep,
    who: PrincipalDep,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> LogPage:
    who.require_task(task_id, "user")
    return await store.read_logs(r, task_id, after, limit)
