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
import contextlib
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runyard_server import store

log = logging.getLogger("runyard_server.jobs")


async def reap_forever(r: "aioredis.Redis", interval_s: float, stop: asyncio.Event) -> None:
    """Reap expired leases every ``interval_s`` seconds until ``stop`` is set.

    A refused or failed Redis call is logged once per outage and tried again on the
    next tick: the reaper must outlive a Redis restart, an out-of-memory spell or a
    network cut, since nothing else brings back the tasks of dead agents.
    """
    failing = False
    while not stop.is_set():
        try:
            reaped = await store.reap_expired(r, time.time())
        except RedisError as exc:
            if not failing:
                log.warning("lease reaper: Redis failed, retrying every %gs: %s", interval_s, exc)
            failing = True
        else:
            if failing:
                log.info("lease reaper: Redis answers again")
            failing = False
            if reaped:
                log.info("lease expired, task(s) requeued, failed or aborted: %s", " ".join(reaped))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
