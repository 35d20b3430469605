"""Task records and the user's queue moves: create, read, edit, clone, enqueue, abort."""

import time
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Response

from runyard.models import (
    CloneRequest,
    EnqueueRequest,
    MoveToQueueRequest,
    PurgeRequest,
    PurgeResult,
    Resources,
    SortOrder,
    Task,
    TaskBatch,
    TaskBatchCreated,
    TaskCreate,
    TaskPage,
    TaskStatus,
    TaskSummaryPage,
    TaskUpdate,
)
from runyard.models.limits import MAX_PAGE
from runyard_server import store
from runyard_server.api.deps import (
    ArtifactFilesDep,
    CallDep,
    ChangeTaskDep,
    CloneTaskDep,
    HistoryDep,
    PrincipalDep,
    RedisDep,
    ServedDep,
    TaskIdDep,
)
from runyard_server.api.idempotency import IdempotencyKeyDep, once
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.errors import Invalid
from runyard_server.permissions import authorize
from runyard_server.store import ServedQueues
from runyard_server.store.purge import purge_tasks as purge
from runyard_server.store.queued_warnings import queued_warnings
from runyard_server.store.quotas import held_by_quota

MAX_METRIC_COLUMNS = 20
"""Metric series one summary page may carry as columns."""

router = APIRouter(prefix="/tasks", tags=["tasks"], route_class=FiniteJSONRoute)


async def _warn_if_unserved(r: RedisDep, served: ServedQueues, task: Task) -> Task:
    """``task`` with the warnings of :func:`queued_warnings` when it waits in a queue."""
    if task.status is not TaskStatus.QUEUED or task.queue is None:
        return task
    warnings = await queued_warnings(r, served, task.queue, task.resources, time.time())
    held = task.resources.gpus * task.resources.nodes
    warnings += await held_by_quota(r, task.owner, task.project, held)
    if not warnings:
        return task
    return task.model_copy(update={"warnings": [*task.warnings, *warnings]})


@router.post("", status_code=201)
async def create_task(body: TaskCreate, call: CallDep, idempotency_key: IdempotencyKeyDep) -> Task:
    """A repeat with the same ``Idempotency-Key`` answers 201 with the task the first
    request made, as it is now."""
    call.who.require("user")
    r = call.redis
    await authorize(r, call.who, "create", body.project, queue=body.queue)
    task = await store.create_task(
        r,
        body,
        time.time(),
        create_queue=body.create_queue,
        require_code=True,
        idem=once(idempotency_key, "POST /tasks", body),
        owner=call.who.owner,
    )
    return await _warn_if_unserved(r, call.served, task)


@router.post(":batch", status_code=201)
async def create_tasks(body: TaskBatch, call: CallDep) -> TaskBatchCreated:
    """Create up to 1,000 tasks in one request, all or none (a queue that does not
    exist, a queued task without code, or an invalid task, and nothing is created)."""
    call.who.require("user")
    for project, queue in sorted({(t.project or "", t.queue or "") for t in body.tasks}):
        await authorize(call.redis, call.who, "create", project, queue=queue or None)
    now = time.time()
    ids = await store.create_tasks(
        call.redis, body.tasks, now, require_code=True, owner=call.who.owner
    )
    warnings: dict[str, None] = {}
    # Tasks of one batch mostly ask alike: each kind of request is judged once.
    asks = {(task.queue, task.resources.model_dump_json()) for task in body.tasks if task.queue}
    for queue, resources in sorted(asks):
        for warning in await queued_warnings(
            call.redis, call.served, queue, Resources.model_validate_json(resources), now
        ):
            warnings[warning] = None
    # A quota that holds them already, once per project (the owner is the caller).
    held = {t.project: t.resources.gpus * t.resources.nodes for t in body.tasks if t.queue}
    for project, gpus in sorted(held.items()):
        for warning in await held_by_quota(call.redis, call.who.owner, project, gpus):
            warnings[warning] = None
    return TaskBatchCreated(ids=ids, warnings=list(warnings))


@router.get("")
async def list_tasks(
    r: RedisDep,
    who: PrincipalDep,
    project: str | None = None,
    status: TaskStatus | None = None,
    queue: str | None = None,
    tag: str | None = None,
    parent: str | None = None,
    owner: Annotated[str | None, Query(max_length=200, description="who created it")] = None,
    q: Annotated[str | None, Query(max_length=256, description="name contains (any case)")] = None,
    sort: Annotated[
        str,
        Query(
            max_length=200,
            description="created, started, finished, name, metric:SERIES (its last value) "
            "or param:Section/key (reads every matching task, at most 20,000)",
        ),
    ] = "created",
    order: Annotated[
        SortOrder | None, Query(description="default: asc for name, else desc")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    view: Annotated[
        Literal["full", "summary"],
        Query(description="summary: items without diff, packages, env and failure text"),
    ] = "full",
    metrics: Annotated[
        str | None,
        Query(max_length=2000, description="summary only: comma-separated series to include"),
    ] = None,
    metrics_min: Annotated[
        str | None,
        Query(max_length=2000, description="summary only: series whose smallest value to include"),
    ] = None,
    metrics_max: Annotated[
        str | None,
        Query(max_length=2000, description="summary only: series whose largest value to include"),
    ] = None,
) -> TaskPage | TaskSummaryPage:
    who.require("user")
    columns = {
        "metrics": _series_list(metrics),
        "metrics_min": _series_list(metrics_min),
        "metrics_max": _series_list(metrics_max),
    }
    count = sum(len(series) for series in columns.values())
    if count > MAX_METRIC_COLUMNS:
        raise Invalid(
            f"metrics, metrics_min and metrics_max: at most {MAX_METRIC_COLUMNS} series "
            f"in all, got {count}"
        )
    return await store.list_tasks(
        r,
        project=project,
        status=status,
        queue=queue,
        tag=tag,
        parent=parent,
        owner=owner,
        q=q,
        sort=sort,
        order=order,
        limit=limit,
        cursor=cursor,
        summary=view == "summary",
        metrics=columns,
    )


def _series_list(text: str | None) -> tuple[str, ...]:
    """The series names of a comma-separated query parameter."""
    return tuple(name for name in (text or "").split(",") if name)


@router.post("/purge")
async def purge_tasks(
    body: PurgeRequest, r: RedisDep, who: PrincipalDep, files: ArtifactFilesDep, history: HistoryDep
) -> PurgeResult:
    """Delete final tasks that finished more than ``older_than_days`` ago, with their output
    and artifacts; up to 1000 a call (``more`` says to call again)."""
    who.require("user")
    await authorize(r, who, "admin", None)
    result = await purge(r, body, time.time())
    if not body.dry_run:
        for task_id in result.tasks:
            # Off the event loop: with --storage s3 each is a few requests to the bucket.
            await anyio.to_thread.run_sync(files.delete_task, task_id)
            await anyio.to_thread.run_sync(history.delete, task_id)
    return result


@router.get("/{task_id}")
async def get_task(task_id: TaskIdDep, r: RedisDep, who: PrincipalDep) -> Task:
    who.require_task(task_id, "user")
    return await store.get_task(r, task_id)


@router.patch("/{task_id}")
async def update_task(task: ChangeTaskDep, body: TaskUpdate, r: RedisDep) -> Task:
    task.who.require("user")
    if body.project is not None:
        await authorize(r, task.who, "create", body.project)
    return await store.update_task(r, task.task_id, body)


@router.delete("/{task_id}", status_code=204)
async def delete_task(
    task: ChangeTaskDep, r: RedisDep, files: ArtifactFilesDep, history: HistoryDep
) -> Response:
    task.who.require("user")
    task_id = task.task_id
    await store.delete_task(r, task_id)
    await anyio.to_thread.run_sync(files.delete_task, task_id)
    await anyio.to_thread.run_sync(history.delete, task_id)
    return Response(status_code=204)


@router.post("/{task_id}/clone", status_code=201)
async def clone_task(
    source: CloneTaskDep,
    body: CloneRequest,
    r: RedisDep,
    served: ServedDep,
    idempotency_key: IdempotencyKeyDep,
) -> Task:
    """``Idempotency-Key`` as for ``POST /tasks``."""
    task_id, who = source.task_id, source.who
    who.require("user")
    await source.use_queue(body.queue)
    idem = once(idempotency_key, f"POST /tasks/{task_id}/clone", body)
    # A clone is owned by who cloned it, not by the source's owner.
    task = await store.clone_task(
        r, task_id, body, time.time(), require_code=True, idem=idem, owner=who.owner
    )
    return await _warn_if_unserved(r, served, task)


@router.post("/{task_id}/enqueue")
async def enqueue_task(
    access: ChangeTaskDep, body: EnqueueRequest, r: RedisDep, served: ServedDep
) -> Task:
    access.who.require("user")
    await access.use_queue(body.queue)
    task = await store.enqueue(
        r,
        access.task_id,
        body.queue,
        body.priority,
        time.time(),
        create_queue=body.create_queue,
        require_code=True,
    )
    return await _warn_if_unserved(r, served, task)


@router.post("/{task_id}/move")
async def move_task_to_queue(
    access: ChangeTaskDep, body: MoveToQueueRequest, r: RedisDep, served: ServedDep
) -> Task:
    access.who.require("user")
    await access.use_queue(body.queue)
    task = await store.move_to_queue(
        r, access.task_id, body.queue, body.priority, time.time(), create_queue=body.create_queue
    )
    return await _warn_if_unserved(r, served, task)


@router.post("/{task_id}/dequeue")
async def dequeue_task(task: ChangeTaskDep, r: RedisDep) -> Task:
    task.who.require("user")
    return await store.dequeue(r, task.task_id)


@router.post("/{task_id}/abort")
async def abort_task(task: ChangeTaskDep, r: RedisDep) -> Task:
    task.who.require("user")
    return await store.abort(r, task.task_id, time.time())
