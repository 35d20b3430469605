"""Queues: names in ``ry:queues``, waiting tasks in claim order, reordering."""

from typing import Literal, cast

import redis.asyncio as aioredis

from runyard.models import Queue, QueueDetail, QueueEntry, QueueUpdate, is_valid_name
from runyard_server.errors import Conflict, Invalid, NotFound
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.queue_settings import settings_from_hash, update_settings


async def _summaries(r: "aioredis.Redis", names: list[str], now: float) -> list[Queue]:
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcard(keys.queue(name))
            pipe.zrange(keys.queue_since(name), 0, 0, withscores=True)
            pipe.hgetall(keys.queue_settings(name))
            pipe.zrange(keys.queue_running(name), 0, -1, withscores=True)
        replies = await pipe.execute()
    result = []
    for i, name in enumerate(names):
        depth, oldest, settings, running = replies[4 * i : 4 * i + 4]
        wait = max(0.0, now - float(oldest[0][1])) if oldest else None
        result.append(
            Queue(
                name=name,
                depth=depth,
                oldest_wait_s=wait,
                **settings_from_hash(settings).model_dump(),
                running=len(running),
                gpus_in_use=sum(float(gpus) for _, gpus in running),
            )
        )
    return result


async def list_queues(r: "aioredis.Redis", now: float) -> list[Queue]:
    """Every queue by name, with its depth and how long its oldest task has waited."""
    names = sorted(cast(set[str], await r.smembers(keys.QUEUES)))
    return await _summaries(r, names, now)


async def create_queue(r: "aioredis.Redis", name: str) -> Queue:
    """A new empty queue; Conflict when one has this name."""
    if not is_valid_name(name):
        raise Invalid(f"invalid queue name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if not await r.sadd(keys.QUEUES, name):
        raise Conflict(f"queue {name} already exists")
    return Queue(name=name, depth=0)


async def get_queue(
    r: "aioredis.Redis", name: str, now: float, limit: int = 100, offset: int = 0
) -> QueueDetail:
    """The queue with ``limit`` waiting tasks in claim order from place ``offset`` (0 is
    the next claimed); NotFound if unknown."""
    if not await r.sismember(keys.QUEUES, name):
        raise NotFound(f"queue {name} does not exist")
    (summary,) = await _summaries(r, [name], now)
    ids = (
        cast(list[str], await r.zrange(keys.queue(name), offset, offset + limit - 1))
        if limit > 0
        else []
    )
    async with r.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hmget(keys.task(task_id), "name", "project", "priority", "enqueued")
        rows = await pipe.execute()
    entries = [
        QueueEntry(
            task_id=task_id,
            name=row[0] or "",
            project=row[1] or "",
            priority=int(float(row[2] or 0)),
            enqueued=float(row[3] or 0),
        )
        for task_id, row in zip(ids, rows, strict=True)
    ]
    return QueueDetail(**summary.model_dump(), entries=entries, offset=offset)


async def set_queue(r: "aioredis.Redis", name: str, body: QueueUpdate, now: float) -> Queue:
    """Change the queue's settings (only the fields sent; null clears a limit) and return
    the queue; NotFound for an unknown queue."""
    await update_settings(r, name, body)
    (summary,) = await _summaries(r, [name], now)
    return summary


async def delete_queue(r: "aioredis.Redis", name: str) -> None:
    """Forget an empty queue; Conflict while tasks wait in it, NotFound if unknown."""
    declared = {**script_keys.queue(name), "queues": keys.QUEUES}
    reply = await scripts.run(r, "delete_queue", declared, name)
    if reply[0] == "missing":
        raise NotFound(f"queue {name} does not exist")
    if reply[0] == "conflict":
        raise Conflict(
            f"queue {name} has {reply[1]} waiting tasks; dequeue or abort them before deleting it"
        )


async def move(
    r: "aioredis.Redis",
    name: str,
    task_id: str,
    to: Literal["top", "bottom", "up", "down"],
    now: float,
) -> QueueDetail:
    """Move a waiting task to the top or bottom, or one place up or down, of its queue."""
    reply = await scripts.run(r, "move", script_keys.queue(name), name, task_id, to)
    if reply[0] == "missing":
        raise NotFound(f"task {task_id} is not waiting in queue {name}")
    return await get_queue(r, name, now)
