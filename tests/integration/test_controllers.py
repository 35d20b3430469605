"""The controller machinery sweeps and pipelines share (``jobs/controllers.py``), on a real
Redis: a spawned task is made once however often its handler runs, carries its origin,
and each event reaches the controller of that origin holding the object's lock."""

import asyncio

import pytest
import redis.asyncio as aioredis

from runyard.models import CloneRequest
from runyard_server import store
from runyard_server.jobs.controllers import ControllerHub, locked, origin, spawn_idem
from runyard_server.jobs.events import Busy, Event, EventConsumer
from runyard_server.store import keys
from tests.integration.store_support import T0, make_task

pytestmark = pytest.mark.anyio


class Recorder:
    """A controller that records what it was called with, and whether it held the lock."""

    kind = "sweep"
    tick_s = 60.0

    def __init__(self, r: aioredis.Redis) -> None:
        self.r = r
        self.calls: list[tuple[str, str, str, str, bool]] = []

    async def on_task_event(self, object_id: str, slot: str, event: Event) -> None:
        held = await self.r.exists(keys.controller_lock(self.kind, object_id)) == 1
        self.calls.append((object_id, slot, event.task, event.to, held))

    async def tick(self) -> None:
        return None


async def spawn(r: aioredis.Redis, base: str, object_id: str, slot: int) -> str:
    body = CloneRequest(overrides={"Args/lr": 0.1}, queue="q", create_queue=True)
    task = await store.clone_task(
        r,
        base,
        body,
        T0,
        idem=spawn_idem("sweep", object_id, slot),
        origin=origin("sweep", object_id, slot),
    )
    return task.id


async def test_a_task_spawned_twice_under_one_slot_is_made_once_with_its_origin(
    r: aioredis.Redis,
) -> None:
    base = await make_task(r, params={"Args": {"lr": 0.01}}, script={"entry_point": "train.py"})
    first = await spawn(r, base.id, "s1", 3)
    again = await spawn(r, base.id, "s1", 3)
    other = await spawn(r, base.id, "s1", 4)

    assert first == again != other
    task = await store.get_task(r, first)
    assert task.origin == "sweep:s1:3"
    assert task.parent == base.id and task.params == {"Args": {"lr": 0.1}}
    assert (await store.get_task(r, base.id)).origin is None


async def test_each_event_reaches_the_controller_of_its_origin_under_the_lock(
    r: aioredis.Redis,
) -> None:
    await r.delete(keys.EVENTS)
    recorder = Recorder(r)
    hub = ControllerHub(r, [recorder])
    consumer = EventConsumer(r, "controllers-test", hub.on_event, retry_s=0.2, block_s=0.1)
    await consumer.ensure_group()
    base = await make_task(r, params={"Args": {"lr": 0.01}}, script={"entry_point": "train.py"})
    trial = await spawn(r, base.id, "s2", 0)
    await store.abort(r, trial, T0 + 1)

    await consumer.poll()

    # The base's own event (made by a person) reaches no controller.
    assert recorder.calls == [
        ("s2", "0", trial, "queued", True),
        ("s2", "0", trial, "aborted", True),
    ]
    assert not await r.exists(keys.controller_lock("sweep", "s2"))


async def test_an_object_held_elsewhere_leaves_its_event_pending_for_a_retry(
    r: aioredis.Redis,
) -> None:
    release = asyncio.Event()

    async def hold() -> None:
        await release.wait()

    holder = asyncio.create_task(locked(r, "pipeline", "p1", hold))
    await asyncio.sleep(0.05)
    with pytest.raises(Busy, match="pipeline p1 is being handled by another process"):
        await locked(r, "pipeline", "p1", hold, wait_s=0.1)
    release.set()
    await holder
    assert not await r.exists(keys.controller_lock("pipeline", "p1"))
