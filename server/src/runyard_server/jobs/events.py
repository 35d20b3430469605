"""Reading ``ry:events`` (every status change) through a consumer group.

Each reacting job (the archiver now; sweeps, pipelines and webhooks later) is one
``EventConsumer`` with its own group, so one job's failure never redelivers an event
to another. Delivery is at least once: an event is acknowledged only after its
handler returned; one whose handler raised (a full disk, Redis away) or whose
consumer died mid-way (``kill -9``) stays pending, and after ``retry_s`` any
consumer of the group takes it over with ``XAUTOCLAIM`` and runs it again.
Handlers are therefore idempotent: the archiver checks the task's state before
acting, so running an event twice changes nothing the first run did.

Threading: ``run`` is a coroutine; the jobs process runs it on its one event loop,
beside the lease reaper, with a Redis client of its own (it blocks on ``XREADGROUP``).
"""

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from runyard_server.store import keys

log = logging.getLogger("runyard_server.jobs.events")


class Event(BaseModel):
    """One status change: ``task`` went ``from`` → ``to``, made by script ``by``."""

    id: str = Field(description="the stream entry id; its first part is the time in ms")
    task: str
    from_: str = Field(alias="from")
    to: str
    by: str


DEAD_AFTER_S = 3600.0
"""A consumer that has not read for this long, holding nothing, belongs to a process
that is gone (a live one reads every second)."""


class Busy(Exception):
    """A handler's object is held by another process (an archiver, a controller): the
    event stays pending and is retried after ``retry_s``."""


Handler = Callable[[Event], Awaitable[None]]
Entry = tuple[str | None, dict[str, str] | None]
"""A stream entry as redis-py parses it; (None, None) for one trimmed while pending."""


class EventConsumer:
    """One consumer of group ``group`` on ``ry:events``, calling ``handler`` per event."""

    def __init__(
        self,
        r: "aioredis.Redis",
        group: str,
        handler: Handler,
        retry_s: float = 10.0,
        block_s: float = 1.0,
        batch: int = 100,
    ) -> None:
        self.r, self.group, self.handler = r, group, handler
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.retry_ms, self.block_ms, self.batch = int(retry_s * 1000), int(block_s * 1000), batch

    async def ensure_group(self) -> None:
        """Create the group (reading from the stream's start) unless it exists."""
        try:
            await self.r.xgroup_create(keys.EVENTS, self.group, id="0", mkstream=True)
        except aioredis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def forget_dead_consumers(self, idle_s: float = DEAD_AFTER_S) -> list[str]:
        """Remove the group's consumers that hold no pending event and have not read
        for ``idle_s``; returns their names.

        Every jobs process is a consumer named after its host and pid, so each replica
        that died or restarted leaves one behind. A live consumer reads every
        ``block_s``, and one that holds events is never removed (``DELCONSUMER`` would
        drop its pending entries), so only the dead go.
        """
        gone = []
        for consumer in await self.r.xinfo_consumers(keys.EVENTS, self.group):
            if consumer["pending"] == 0 and consumer["idle"] > idle_s * 1000:
                await self.r.xgroup_delconsumer(keys.EVENTS, self.group, consumer["name"])
                gone.append(str(consumer["name"]))
        return gone

    async def poll(self) -> int:
        """Handle the pending events due for a retry, then new ones (waiting up to
        ``block_s`` for some); returns how many were handled successfully."""
        try:
            reply = await self.r.xautoclaim(
                keys.EVENTS, self.group, self.name, self.retry_ms, "0-0", count=self.batch
            )
        except aioredis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            # The stream (and its groups) went away, e.g. a Redis restored without it.
            await self.ensure_group()
            return 0
        done = await self._handle(cast(list[Entry], reply[1]))
        fresh = await self.r.xreadgroup(
            self.group, self.name, {keys.EVENTS: ">"}, count=self.batch, block=self.block_ms
        )
        for _, entries in cast(list[tuple[str, list[Entry]]], fresh or []):
            done += await self._handle(entries)
        return done

    async def _handle(self, entries: list[Entry]) -> int:
        # One XACK for the batch: a task's life is three or four events, each acked on
        # its own was most of what the jobs process spent on a task with no output. A
        # process killed before the XACK runs those handlers again, which is safe.
        done: list[str] = []
        for event_id, fields in entries:
            if event_id is None or fields is None:
                # Trimmed away while pending (Redis 6.2 claims it as nil): nothing to run.
                continue
            try:
                await self.handler(Event.model_validate({"id": event_id, **fields}))
            except Exception:
                # Left pending: XAUTOCLAIM hands it out again after retry_s.
                log.exception(
                    "%s: event %s failed; retrying in %d ms", self.group, event_id, self.retry_ms
                )
                continue
            done.append(event_id)
        if done:
            await self.r.xack(keys.EVENTS, self.group, *done)
        return len(done)

    async def run(
        self, stop: asyncio.Event, every: Sequence[tuple[float, Callable[[], Awaitable[object]]]]
    ) -> None:
        """Poll until ``stop`` is set; also run each ``(period_s, job)`` of ``every`` that
        often (the archiver's sweep, retention). A Redis outage is waited out."""
        await self._until_ok(stop, self.ensure_group)
        await self._until_ok(stop, self.forget_dead_consumers)
        loop = asyncio.get_running_loop()
        due = [loop.time()] * len(every)
        while not stop.is_set():
            for i, (period, job) in enumerate(every):
                if loop.time() >= due[i]:
                    due[i] = loop.time() + period
                    try:
                        await job()
                    except Exception:
                        # A periodic job runs again next period; it must not end the loop.
                        log.exception("%s: periodic job failed", self.group)
            await self._until_ok(stop, self.poll)

    async def _until_ok(self, stop: asyncio.Event, step: Callable[[], Awaitable[object]]) -> None:
        while not stop.is_set():
            try:
                await step()
                return
            except (
                aioredis.ConnectionError,
                aioredis.TimeoutError,
                aioredis.ResponseError,
            ) as error:
                log.warning("%s: Redis refused (%s); retrying in 1 s", self.group, error)
            except OSError as error:
                log.warning("%s: %s; retrying in 1 s", self.group, error)
            await asyncio.sleep(1)
