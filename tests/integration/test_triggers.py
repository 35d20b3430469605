"""Triggers through their event handler on real Redis: an ended task fires the triggers
it matches once per event, however often the event is handled."""

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from runyard.models import Script, TriggerCreate
from runyard_server import store
from runyard_server.jobs.events import Event
from runyard_server.jobs.triggers import Triggers
from runyard_server.store import keys, triggers
from tests.integration.store_support import T0, make_task

pytestmark = pytest.mark.anyio


async def _ended(r: aioredis.Redis, project: str, tags: list[str], to: str) -> Event:
    """A task of ``project`` with ``tags`` that ended ``to`` (its record says so), and
    the event of that end."""
    task = await make_task(r, project=project, tags=tags, script=Script(entry_point="t.py"))
    await r.hset(keys.task(task.id), "status", to)
    return Event.model_validate({"id": f"{int(T0 * 1000)}-0", "task": task.id, "from": "running",
                                 "to": to, "by": "end"})  # fmt: skip


async def _trigger(r: aioredis.Redis, **rule: object) -> str:
    await store.create_queue(r, "rerun")
    target = await make_task(r, project="ops", name="fix", script=Script(entry_point="f.py"))
    body = TriggerCreate.model_validate({"task": target.id, "queue": "rerun", **rule})
    return (await triggers.create_trigger(r, body, "ops", "ann", T0)).id


async def _made(r: aioredis.Redis) -> int:
    return await r.zcard(keys.queue("rerun"))


async def test_an_event_handled_twice_fires_once(r: aioredis.Redis) -> None:
    trigger_id = await _trigger(r, watch_project="vision", statuses=["failed"])
    event = await _ended(r, "vision", [], "failed")
    handler = Triggers(r)
    await asyncio.gather(handler.on_event(event), handler.on_event(event))
    await handler.on_event(event)
    assert await _made(r) == 1
    shown = await triggers.get_trigger(r, trigger_id)
    assert shown.fired == 1 and shown.last_task is not None
    made = await store.get_task(r, shown.last_task)
    assert made.origin == f"trigger:{trigger_id}:{event.id}" and made.owner == "ann"


@pytest.mark.parametrize(
    ("project", "tags", "to", "fires"),
    [
        ("vision", ["nightly"], "failed", True),
        ("vision", [], "failed", False),  # no tag
        ("nlp", ["nightly"], "failed", False),  # another project
        ("vision", ["nightly"], "completed", False),  # another status
    ],
)
async def test_a_trigger_fires_on_its_project_tag_and_status_only(
    r: aioredis.Redis, project: str, tags: list[str], to: str, fires: bool
) -> None:
    await _trigger(r, watch_project="vision", watch_tag="nightly", statuses=["failed", "aborted"])
    await Triggers(r).on_event(await _ended(r, project, tags, to))
    assert await _made(r) == int(fires)


async def test_a_paused_trigger_does_not_fire(r: aioredis.Redis) -> None:
    trigger_id = await _trigger(r, watch_project="vision")
    await triggers.set_paused(r, trigger_id, True)
    await Triggers(r).on_event(await _ended(r, "vision", [], "failed"))
    assert await _made(r) == 0
    assert (await triggers.get_trigger(r, trigger_id)).paused


async def test_a_target_gone_is_recorded_on_the_trigger(r: aioredis.Redis) -> None:
    trigger_id = await _trigger(r, watch_project="vision")
    await store.delete_queue(r, "rerun")
    await Triggers(r).on_event(await _ended(r, "vision", [], "failed"))
    shown = await triggers.get_trigger(r, trigger_id)
    assert shown.fired == 1 and shown.last_error and "rerun" in shown.last_error
    assert shown.last_fired is not None and shown.last_fired.timestamp() <= time.time()
