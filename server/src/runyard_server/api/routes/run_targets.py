"""What a schedule's or trigger's create checks about its target, and who may change
one afterwards (``permissions.can``, as for the tasks it makes)."""

import redis.asyncio as aioredis

from runyard.models import RunTarget

# The same check as starting a run by hand (h14p's; to be made public when both land).
from runyard_server.api.routes.pipelines import authorize_run
from runyard_server.auth import Principal
from runyard_server.errors import NoCode
from runyard_server.permissions import authorize
from runyard_server.store import automation, get_task, keys
from runyard_server.store.pipelines import get_pipeline
from runyard_server.store.scripts import no_queue


async def checked_target(r: "aioredis.Redis", who: Principal, target: RunTarget) -> str:
    """The project of what ``target`` starts, after checking that the caller may start
    it: make tasks in the task's project on ``target.queue`` (which must exist, and the
    task must have code), or run the pipeline (as ``POST /pipelines/{id}/runs`` checks).
    A schedule that could never run is refused now rather than failing at 3 a.m."""
    if target.pipeline is not None:
        pipeline = await get_pipeline(r, target.pipeline)
        await authorize_run(r, who, pipeline)
        return pipeline.project or ""
    task = await get_task(r, str(target.task))
    await authorize(r, who, "create", task.project, queue=target.queue)
    if not await r.sismember(keys.QUEUES, target.queue):
        raise no_queue(target.queue)
    missing = task.script.missing_code()
    if missing:
        raise NoCode(f"task {task.id} cannot be scheduled: {missing}")
    return task.project or ""


async def authorize_change(r: "aioredis.Redis", who: Principal, kind: str, record_id: str) -> None:
    """Raise unless ``who`` may change (pause, delete) the record: its owner, a
    maintainer of its project, or an admin. A record of no project (a webhook for every
    project) is an admin's. NotFound first for one that does not exist."""
    record = await automation.load(r, kind, record_id)
    project, owner = record.get("project"), record.get("owner")
    if project is None and kind == "webhook":
        await authorize(r, who, "admin", None)
        return
    await authorize(r, who, "change", project, owner=owner)
