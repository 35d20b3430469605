"""The records of schedules, triggers and webhooks: one hash each plus an index.

Each kind (``schedule``, ``trigger``, ``webhook``) keeps ``ry:{kind}:{id}``, a hash
with ``spec`` (the create body as JSON), ``owner`` (absent: none), ``created`` and the
kind's own fields, and ``ry:{kind}s``, a sorted set of the ids by creation time. A
record and its index entry are written and removed in one ``MULTI``.
"""

import uuid
from datetime import UTC, datetime
from typing import cast

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from runyard_server.errors import NotFound
from runyard_server.store import keys

Fields = dict[str, str]


def at(value: str | float) -> datetime:
    """A stored time (unix seconds) as the wire's datetime."""
    return datetime.fromtimestamp(float(value), tz=UTC)


def time_of(value: str | None) -> datetime | None:
    """:func:`at`, or None for a time not stored."""
    return None if value is None else at(value)


def new_id() -> str:
    """A fresh record id (32 hex digits, like a task's)."""
    return uuid.uuid4().hex


async def save(
    r: "aioredis.Redis",
    kind: str,
    record_id: str,
    fields: Fields,
    now: float,
    also: dict[str, float] | None = None,
) -> None:
    """Store a new record of ``kind`` with ``fields`` (``created`` is added), and put its
    id in each sorted set of ``also`` (key → score)."""
    async with r.pipeline(transaction=True) as pipe:
        record: dict[FieldT, EncodableT] = dict(fields.items())
        record["created"] = repr(now)
        pipe.hset(keys.automation(kind, record_id), mapping=record)
        pipe.zadd(keys.automation_index(kind), {record_id: now})
        for key, score in (also or {}).items():
            pipe.zadd(key, {record_id: score})
        await pipe.execute()


async def load(r: "aioredis.Redis", kind: str, record_id: str) -> Fields:
    """The record's hash; NotFound naming it when there is none."""
    fields = cast(Fields, await r.hgetall(keys.automation(kind, record_id)))
    if not fields:
        raise NotFound(f"{kind} {record_id} does not exist")
    return fields


async def load_all(r: "aioredis.Redis", kind: str) -> list[tuple[str, Fields]]:
    """Every record of ``kind``, oldest first (one round trip for the hashes)."""
    ids = cast(list[str], await r.zrange(keys.automation_index(kind), 0, -1))
    async with r.pipeline(transaction=False) as pipe:
        for record_id in ids:
            pipe.hgetall(keys.automation(kind, record_id))
        hashes = cast(list[Fields], await pipe.execute())
    return [(i, h) for i, h in zip(ids, hashes, strict=True) if h]


async def remove(
    r: "aioredis.Redis", kind: str, record_id: str, unindex: tuple[str, ...] = ()
) -> None:
    """Delete the record and take its id out of its index and each sorted set of
    ``unindex`` (NotFound if it does not exist)."""
    async with r.pipeline(transaction=True) as pipe:
        pipe.delete(keys.automation(kind, record_id))
        for key in (keys.automation_index(kind), *unindex):
            pipe.zrem(key, record_id)
        deleted, *_ = await pipe.execute()
    if not deleted:
        raise NotFound(f"{kind} {record_id} does not exist")
