"""The lease reaper: tasks whose worker stopped heartbeating go back or fail."""

from typing import cast

import redis.asyncio as aioredis

from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.dispatch import publish_work
from runyard_server.store.queue_settings import wake_if_held
from runyard_server.store.records import number

REAP_BATCH = 100


async def current_lease_token(r: "aioredis.Redis", task_id: str) -> str | None:
    """The lease token of the task's current (or last) attempt; None when it has none."""
    token = await r.hget(keys.task(task_id), "token")
    return str(token) if token else None


async def reap_expired(r: "aioredis.Redis", now: float, batch: int = REAP_BATCH) -> list[str]:
    """Handle every lease that expired by ``now``; the ids of the tasks handled.

    A task goes back to the head of its queue while ``attempt <= max_retries`` (its
    losses so far are within the retries it allows), else it fails with
    ``failure_reason`` "worker lost". Waiters on the queues that got work are woken.
    """
    reaped: list[str] = []
    woken: set[str] = set()
    held: set[str] = set()
    while True:
        expired = cast(
            list[str], await r.zrangebyscore(keys.LEASES, "-inf", now, start=0, num=batch)
        )
        if not expired:
            break
        async with r.pipeline(transaction=False) as pipe:
            for task_id in expired:
                pipe.hmget(keys.task(task_id), "queue", "worker", "gang_workers")
            on: list[list[str | None]] = await pipe.execute()
        # A gang's ranks' workers too: the whole gang is released (store/gangs.py).
        workers = [w for _, worker, gang in on for w in [worker, *(gang or "").split()]]
        declared = script_keys.transition(expired, [queue for queue, _, _ in on], workers)
        reply: list[int | str] = await scripts.run(r, "reap", declared, number(now), *expired)
        pairs = [str(item) for item in reply[1:]]
        was_on = {task_id: queue for task_id, (queue, _, _) in zip(expired, on, strict=True)}
        for task_id, queue in zip(pairs[::2], pairs[1::2], strict=True):
            reaped.append(task_id)
            if queue:
                woken.add(queue)
            elif was_on[task_id]:
                held.add(str(was_on[task_id]))  # it ended: its queue may have room now
        # A task that moved between the read and the script waits for the next round.
        if len(expired) < batch or int(reply[0]) == 0:
            break
    for queue in sorted(woken):
        await publish_work(r, queue)
    for queue in sorted(held - woken):
        await wake_if_held(r, queue)
    return reaped
