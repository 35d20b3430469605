"""What a schedule or trigger starts: a clone of its target task, enqueued, or a run of
its target pipeline; made once per run however often the jobs processes try it.

A clone is made under an idempotency key of the object and the run's slot (a
schedule's run time, a trigger's event id), recorded by the create script with the
task, so a replica that starts the same run, or a jobs process that restarts between
the clone and its bookkeeping, gets the same task back instead of a second one.

A pipeline run has no such key in its create (``jobs/pipelines.start_run``), so the slot
is claimed first (``SET NX`` on ``ry:started:{origin}``) and the run's id recorded
there after: two replicas never both start it, but a jobs process killed between the
claim and the start loses that one run (at most once, where a task is exactly once).
"""

from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from runyard.models import CloneRequest, RunTarget
from runyard_server.errors import RunyardServerError
from runyard_server.jobs.controllers import origin, spawn_idem
from runyard_server.jobs.events import Busy
from runyard_server.jobs.pipelines import start_run
from runyard_server.store import clone_task, keys

CLAIM_S = 7 * 86400
"""How long a pipeline run's slot claim is kept: longer than any retry of its slot."""


@dataclass(frozen=True, slots=True)
class Started:
    """A run's outcome: the task (or pipeline run) it made, or why it made none."""

    made: str | None
    error: str | None = None


async def start(
    r: "aioredis.Redis",
    target: RunTarget,
    owner: str | None,
    made_by: tuple[str, str, str],
    now: float,
) -> Started:
    """Start ``target`` for the run ``made_by`` (kind, object id, slot: the clone's
    ``origin``). A target that cannot run (its task or pipeline deleted, its queue gone,
    no code) is an error in the answer, not an exception: the schedule or trigger
    records it and goes on. Busy while another process starts the same pipeline run
    (try again later: by then it has its id)."""
    try:
        if target.pipeline is not None:
            return await _start_pipeline(r, target.pipeline, target, owner, made_by, now)
        body = CloneRequest(
            queue=target.queue, overrides=target.overrides, priority=target.priority
        )
        task = await clone_task(
            r,
            str(target.task),
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


async def _start_pipeline(
    r: "aioredis.Redis",
    pipeline_id: str,
    target: RunTarget,
    owner: str | None,
    made_by: tuple[str, str, str],
    now: float,
) -> Started:
    claim = keys.started(origin(*made_by))
    if not await r.set(claim, "", nx=True, ex=CLAIM_S):
        run_id = cast(str | None, await r.get(claim))
        if not run_id:
            raise Busy(f"{origin(*made_by)} is being started by another process")
        return Started(run_id)
    try:
        run = await start_run(r, pipeline_id, target.params, owner, now)
    except RunyardServerError:
        await r.delete(claim)
        raise
    await r.set(claim, run.id, ex=CLAIM_S)
    return Started(run.id)
