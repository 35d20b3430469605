"""What a schedule or trigger starts: a clone of its target task, enqueued, made once
per run however often the jobs processes try it.

The clone is made under an idempotency key of the object and the run's slot (a
schedule's run time, a trigger's event id), recorded by the create script with the
task, so a replica that starts the same run, or a jobs process that restarts between
the clone and its bookkeeping, gets the same task back instead of a second one.
"""

from dataclasses import dataclass

import redis.asyncio as aioredis

from runyard.models import CloneRequest, RunTarget
from runyard_server.errors import RunyardServerError
from runyard_server.jobs.controllers import origin, spawn_idem
from runyard_server.store import clone_task


@dataclass(frozen=True, slots=True)
class Started:
    """A run's outcome: the task it made, or why it made none."""

    task_id: str | None
    error: str | None = None


async def start(
    r: "aioredis.Redis",
    target: RunTarget,
    owner: str | None,
    made_by: tuple[str, str, str],
    now: float,
) -> Started:
    """Clone and enqueue ``target`` for the run ``made_by`` (kind, object id, slot: the
    clone's ``origin``). A target that cannot run (its task deleted, its queue gone, no
    code) is an error in the answer, not an exception: the schedule or trigger records
    it and goes on."""
    body = CloneRequest(queue=target.queue, overrides=target.overrides, priority=target.priority)
    try:
        task = await clone_task(
            r,
            target.task,
            body,
            now,
            require_code=True,
            idem=spawn_idem(*made_by),
            owner=owner,
            origin=origin(*made_by),
        )
    except RunyardServerError as error:
        return Started(None, error.detail)
    return Started(task.id)
