"""Triggers: records (``store/automation.py``), which tasks' ends they match, and what
each firing left (the jobs process fires them, ``jobs/triggers.py``)."""

import operator
from collections.abc import Callable
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from runyard.models import Task, Trigger, TriggerCreate
from runyard_server.store import automation, keys

KIND = "trigger"

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def trigger_of(trigger_id: str, h: automation.Fields) -> Trigger:
    """The wire form of a stored trigger."""
    spec = TriggerCreate.model_validate_json(h["spec"])
    return Trigger(
        **spec.model_dump(),
        id=trigger_id,
        project=h.get("project", ""),
        owner=h.get("owner"),
        created=automation.at(h["created"]),
        paused=h.get("paused") == "1",
        fired=int(h.get("fired", 0)),
        last_fired=automation.time_of(h.get("last_fired")),
        last_task=h.get("last_task"),
        last_error=h.get("last_error"),
    )


async def create_trigger(
    r: "aioredis.Redis", body: TriggerCreate, project: str, owner: str | None, now: float
) -> Trigger:
    trigger_id = automation.new_id()
    fields = {"spec": body.model_dump_json(), "project": project, "fired": "0"}
    if owner is not None:
        fields["owner"] = owner
    await automation.save(r, KIND, trigger_id, fields, now)
    return await get_trigger(r, trigger_id)


async def get_trigger(r: "aioredis.Redis", trigger_id: str) -> Trigger:
    return trigger_of(trigger_id, await automation.load(r, KIND, trigger_id))


async def list_triggers(r: "aioredis.Redis") -> list[Trigger]:
    return [trigger_of(i, h) for i, h in await automation.load_all(r, KIND)]


async def delete_trigger(r: "aioredis.Redis", trigger_id: str) -> None:
    await automation.remove(r, KIND, trigger_id)


async def set_paused(r: "aioredis.Redis", trigger_id: str, paused: bool) -> Trigger:
    record = keys.automation(KIND, trigger_id)
    await automation.load(r, KIND, trigger_id)  # its NotFound
    if paused:
        await r.hset(record, "paused", "1")
    else:
        await r.hdel(record, "paused")
    return await get_trigger(r, trigger_id)


def matches(trigger: Trigger, task: Task, final: dict[str, float]) -> bool:
    """Whether ``task``, which just ended, with its last metric values ``final``, fires
    ``trigger``."""
    if trigger.paused or task.status.value not in trigger.statuses:
        return False
    if trigger.watch_project is not None and task.project != trigger.watch_project:
        return False
    if trigger.watch_tag is not None and trigger.watch_tag not in task.tags:
        return False
    if trigger.metric is None or trigger.threshold is None:
        return True
    value = final.get(trigger.metric)
    return value is not None and _COMPARE[trigger.op](value, trigger.threshold)


async def record_firing(
    r: "aioredis.Redis",
    trigger_id: str,
    event_id: str,
    now: float,
    task_id: str | None,
    error: str | None,
) -> None:
    """Count one firing for event ``event_id`` (once: an event handled again, as
    at-least-once delivery may, finds it counted) and what it made."""
    record = keys.automation(KIND, trigger_id)
    async with r.pipeline(transaction=True) as pipe:
        try:
            # Reads go through the client: a cluster pipeline may queue them after WATCH.
            await pipe.watch(record)
            last, created = await r.hmget(record, "last_event", "created")
            if last == event_id or created is None:
                return
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.hincrby(record, "fired", 1)
            pipe.hset(record, mapping={"last_event": event_id, "last_fired": repr(now)})
            if task_id is not None:
                pipe.hset(record, "last_task", task_id)
                pipe.hdel(record, "last_error")
            else:
                pipe.hset(record, "last_error", error or "")
            await pipe.execute()
        except WatchError:
            return  # another consumer recorded this firing just now


async def final_metrics(r: "aioredis.Redis", task_id: str) -> dict[str, float]:
    """The task's last value of each series."""
    final = cast(dict[str, str], await r.hgetall(keys.task_final_metrics(task_id)))
    return {name: float(value) for name, value in final.items()}
