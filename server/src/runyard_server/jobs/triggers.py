"""Triggers in the jobs process: a consumer group (``triggers``) on ``ry:events``; for
each task that ends, fire every trigger it matches.

A firing clones the trigger's target under the key ``trigger:{id}:{event id}``
(``jobs/starts.py``), so an event handled twice (at-least-once delivery, two jobs
processes) starts one task. A task a trigger started never fires that same trigger,
so "on failure, rerun it" cannot loop forever; a trigger that runs a pipeline ignores
every pipeline's steps for the same reason.
"""

import logging
import time

import redis.asyncio as aioredis

from runyard.models import TaskStatus, Trigger
from runyard_server.errors import NotFound
from runyard_server.jobs.events import Event
from runyard_server.jobs.starts import start
from runyard_server.store import get_task, triggers

log = logging.getLogger("runyard_server.jobs.triggers")

GROUP = "triggers"
FINAL = {TaskStatus.COMPLETED.value, TaskStatus.FAILED.value, TaskStatus.ABORTED.value}


def _made_by(trigger: Trigger, made_by: str) -> bool:
    """Whether a task of this ``origin`` may be the trigger's own doing: a task it
    cloned, or (for a pipeline target) any pipeline's step, which it cannot tell apart
    from its own runs' steps."""
    if made_by.startswith(f"trigger:{trigger.id}:"):
        return True
    return trigger.pipeline is not None and made_by.startswith("pipeline:")


class Triggers:
    """The handler of the ``triggers`` group."""

    def __init__(self, r: "aioredis.Redis") -> None:
        self.r = r

    async def on_event(self, event: Event) -> None:
        if event.to not in FINAL:
            return
        armed = [t for t in await triggers.list_triggers(self.r) if not t.paused]
        if not armed:
            return
        try:
            task = await get_task(self.r, event.task)
        except NotFound:
            return  # deleted since it ended
        final = await triggers.final_metrics(self.r, event.task)
        for trigger in armed:
            if _made_by(trigger, task.origin or ""):
                continue
            if not triggers.matches(trigger, task, final):
                continue
            made_by = ("trigger", trigger.id, event.id)
            started = await start(self.r, trigger, trigger.owner, made_by, time.time())
            if started.error:
                log.warning("trigger %s, event %s made no task: %s", *made_by[1:], started.error)
            await triggers.record_firing(
                self.r, trigger.id, event.id, time.time(), started.made, started.error
            )
