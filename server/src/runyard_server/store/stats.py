"""What ``GET /metrics`` reports from Redis, read at scrape time with cheap commands only.

One pipeline: ZCARD and the oldest entry of each queue, ZCARD of its running tasks,
ZCARD of each status index,
the ``ry:stats`` counters, and each worker's last heartbeat. Nothing walks the tasks,
so a scrape costs the same behind 100,000 of them.
"""

from dataclasses import dataclass, field
from typing import cast

import redis.asyncio as aioredis

from runyard.models import TaskStatus
from runyard_server.store import keys


@dataclass
class StoreStats:
    """A snapshot of the store for the metrics page."""

    queue_depth: dict[str, int] = field(default_factory=dict)
    queue_oldest_wait_s: dict[str, float] = field(default_factory=dict)
    queue_running: dict[str, int] = field(default_factory=dict)
    tasks_by_status: dict[str, int] = field(default_factory=dict)
    workers_registered: int = 0
    workers_alive: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    """The ``ry:stats`` hash: lease_expired_requeued/failed/aborted, log_bytes, preempted."""


async def read_stats(r: "aioredis.Redis", now: float, alive_after_s: float) -> StoreStats:
    """The snapshot at ``now``; a worker is alive within ``alive_after_s`` of a heartbeat."""
    queues = sorted(cast(set[str], await r.smembers(keys.QUEUES)))
    workers = sorted(cast(set[str], await r.smembers(keys.WORKERS)))
    statuses = [status.value for status in TaskStatus]
    async with r.pipeline(transaction=False) as pipe:
        for name in queues:
            pipe.zcard(keys.queue(name))
            pipe.zrange(keys.queue_since(name), 0, 0, withscores=True)
            pipe.zcard(keys.queue_running(name))
        for status in statuses:
            pipe.zcard(keys.status_index(status))
        pipe.hgetall(keys.STATS)
        for worker_id in workers:
            pipe.hget(keys.worker(worker_id), "last_heartbeat")
        replies = await pipe.execute()
    stats = StoreStats()
    for i, name in enumerate(queues):
        depth, oldest, running = replies[3 * i : 3 * i + 3]
        stats.queue_depth[name] = int(depth)
        stats.queue_oldest_wait_s[name] = max(0.0, now - float(oldest[0][1])) if oldest else 0.0
        stats.queue_running[name] = int(running)
    rest = replies[3 * len(queues) :]
    counts = rest[: len(statuses)]
    stats.tasks_by_status = {s: int(n) for s, n in zip(statuses, counts, strict=True)}
    stats.counters = {k: int(v) for k, v in rest[len(statuses)].items()}
    beats = [float(b) for b in rest[len(statuses) + 1 :] if b is not None]
    stats.workers_registered = len(beats)
    stats.workers_alive = sum(1 for beat in beats if now - beat <= alive_after_s)
    return stats
