"""The event-driven controllers: sweeps and pipelines react to their tasks' events.

A controller owns objects (one sweep, one pipeline run) that make tasks. Each task it
makes carries ``origin`` = ``KIND:OBJECT_ID:SLOT`` (a trial number, a step name),
written by ``lua/create.lua`` with the task. One consumer group (``controllers``) on
``ry:events`` reads every status change, looks up the task's origin and calls the
controller of that kind, holding the object's lock (``keys.controller_lock``), so two
jobs processes never act for one object at once. There is no process per sweep or
pipeline: the state lives in Redis and a controller's handler reads it, decides and
writes, so a ``kill -9`` anywhere leaves an event pending that the next consumer runs.

Delivery is at least once, so handlers are idempotent: a task a controller makes is
spawned with ``clone_task(..., idem=spawn_idem(...))``; create.lua records the key with
the task, so a handler run twice (or a process killed between the create and the
controller's own bookkeeping) gets the same task back, never a second one.
"""

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, cast

import redis.asyncio as aioredis

from runyard_server.jobs.events import Busy, Event
from runyard_server.store import keys
from runyard_server.store.idempotency import Idempotency

log = logging.getLogger("runyard_server.jobs.controllers")

GROUP = "controllers"
LOCK_S = 30.0
"""How long an object's lock outlives a holder that died mid-handler."""
LOCK_WAIT_S = 5.0
"""How long a handler waits for another process to finish with the same object before
its event is left pending for a retry."""


class Controller(Protocol):
    """What the consumer calls for the tasks of one kind of object."""

    kind: str
    """The first part of the origin of the tasks it makes: "sweep", "pipeline"."""
    tick_s: float
    """How often ``tick`` runs (pruning, deadlines, repairing what an event missed)."""

    async def on_task_event(self, object_id: str, slot: str, event: Event) -> None:
        """React to a status change of the task this object made for ``slot``."""

    async def tick(self) -> None:
        """Periodic work over all of this kind's live objects; it takes each object's
        lock itself (``locked``), as the event handler does."""


def origin(kind: str, object_id: str, slot: str | int) -> str:
    """A task's ``origin`` value for the object ``object_id`` of ``kind`` and ``slot``."""
    return f"{kind}:{object_id}:{slot}"


def parse_origin(value: str) -> tuple[str, str, str] | None:
    """(kind, object id, slot) of an ``origin``, or None for one this module never wrote."""
    parts = value.split(":", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def spawn_idem(kind: str, object_id: str, slot: str | int, attempt: int = 0) -> Idempotency:
    """The idempotency key under which the object's task for ``slot`` (its ``attempt``-th
    try, for a slot re-run after a failure) is made exactly once."""
    key = f"{origin(kind, object_id, slot)}:{attempt}"
    return Idempotency(key, hashlib.sha256(key.encode()).hexdigest())


async def locked(
    r: "aioredis.Redis",
    kind: str,
    object_id: str,
    act: Callable[[], Awaitable[None]],
    wait_s: float = LOCK_WAIT_S,
) -> None:
    """Run ``act`` holding the object's lock; Busy if another process holds it past
    ``wait_s``."""
    lock = r.lock(keys.controller_lock(kind, object_id), timeout=LOCK_S, blocking_timeout=wait_s)
    if not await lock.acquire():
        raise Busy(f"{kind} {object_id} is being handled by another process")
    try:
        await act()
    finally:
        await lock.release()


class ControllerHub:
    """Routes each event to the controller of the task's origin."""

    def __init__(self, r: "aioredis.Redis", controllers: Sequence[Controller]) -> None:
        self.r = r
        self.by_kind = {c.kind: c for c in controllers}

    async def on_event(self, event: Event) -> None:
        """The consumer's handler: call the controller, if any made this task."""
        made_by = cast(str | None, await self.r.hget(keys.task(event.task), "origin"))
        parsed = parse_origin(made_by) if made_by else None
        if parsed is None:
            return
        kind, object_id, slot = parsed
        controller = self.by_kind.get(kind)
        if controller is None:
            # Schedules and triggers mark their tasks too, but react through their own groups.
            return
        await locked(
            self.r, kind, object_id, lambda: controller.on_task_event(object_id, slot, event)
        )

    def periodic(self) -> list[tuple[float, Callable[[], Awaitable[object]]]]:
        """Each controller's ``tick`` with its period, for ``EventConsumer.run``."""
        return [(c.tick_s, c.tick) for c in self.by_kind.values()]
