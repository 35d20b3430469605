"""The hold on a worker whose task was preempted: its claims serve the preemptor.

``lua/preempt.lua`` sets it (``reserved_for``, ``reserved_queue``, ``reserved_until``
on the worker's hash) when it marks the victims. Read by every claim, so it is one
small read with no other store module behind it.
"""

from typing import cast

import redis.asyncio as aioredis

from runyard_server.store import keys


async def held_queues(
    r: "aioredis.Redis", worker_id: str, queues: list[str], now: float
) -> list[str]:
    """The queues a claim by ``worker_id`` looks at: only the preemptor's while the
    worker is held for a preemptor that still waits there, else ``queues``."""
    held = cast(
        list[str | None],
        await r.hmget(keys.worker(worker_id), "reserved_for", "reserved_queue", "reserved_until"),
    )
    task_id, queue, until = held
    if not task_id or queue not in queues or float(until or 0) <= now:
        return queues
    if await r.hget(keys.task(task_id), "status") != "queued":
        return queues
    return [queue]
