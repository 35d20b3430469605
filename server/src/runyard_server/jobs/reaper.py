"""The lease reaper: a loop that requeues, fails or aborts tasks whose agent went silent.

Why a plain loop on one event loop and one Redis client, and not the rq ``enqueue_at``
chain 0.1 had: the chain lived only while each run scheduled the next, and it kept its
state in Redis, where a ``kill -9`` leaves it behind. After a crash the dead worker's
rq scheduler lock (61 s, retried only in rq's 10-minute maintenance) kept the new
worker from scheduling anything, and the pending job carried the dead embedded Redis's
address in its arguments; the reaper was gone for 16 minutes. This loop keeps nothing
in Redis: a jobs process that is running is reaping, one interval after it starts.

No lock either: ``reap.lua`` is one atomic script that only touches leases already
expired, so replicas reaping in the same second split the work or find none. A lock
would buy nothing but another key for a killed replica to leave held.
"""

import asyncio
import logging
import time

import redis.asyncio as aioredis

from runyard_server import store
from runyard_server.jobs.ticks import every

log = logging.getLogger("runyard_server.jobs")


async def reap_forever(r: "aioredis.Redis", interval_s: float, stop: asyncio.Event) -> None:
    """Reap expired leases every ``interval_s`` seconds until ``stop`` is set, through
    Redis outages (``ticks.py``): nothing else brings back the tasks of dead agents."""

    async def step() -> None:
        reaped = await store.reap_expired(r, time.time())
        if reaped:
            log.info("lease expired, task(s) requeued, failed or aborted: %s", " ".join(reaped))

    await every("lease reaper", interval_s, stop, step)
