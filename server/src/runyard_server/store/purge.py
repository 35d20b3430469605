"""Purging old tasks: the final tasks a user wants gone, found by when they finished."""

import redis.asyncio as aioredis

from runyard.models.history import MAX_PURGE, PurgeRequest, PurgeResult
from runyard_server.errors import Conflict, NotFound
from runyard_server.store.final_tasks import final_tasks
from runyard_server.store.tasks import delete_task


async def purge_tasks(r: "aioredis.Redis", body: PurgeRequest, now: float) -> PurgeResult:
    """Delete (or on a dry run, list) up to ``MAX_PURGE`` final tasks finished before
    ``now - older_than_days``, in ``project`` when given. The caller removes their files."""
    cutoff = now - body.older_than_days * 86400
    found = [
        task_id
        async for task_id, (finished,) in final_tasks(r, "finished", project=body.project)
        if finished is not None and float(finished) < cutoff
    ]
    chosen = found[:MAX_PURGE]
    more = len(found) > MAX_PURGE
    if body.dry_run:
        return PurgeResult(tasks=chosen, more=more)
    deleted = []
    for task_id in chosen:
        try:
            await delete_task(r, task_id)
        except (NotFound, Conflict):
            continue  # deleted meanwhile, or queued again by a rerun
        deleted.append(task_id)
    return PurgeResult(tasks=deleted, more=more)
