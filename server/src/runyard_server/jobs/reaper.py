"""The lease reaper: an rq job that requeues or fails tasks whose agent went silent.

It reschedules itself with ``enqueue_at``, and a failed run still schedules the
next, retrying while Redis refuses the write. The job id names the second it is
due, so replicas scheduling the same tick collapse into one job, and a finished run
(deleted at once, ``result_ttl=0``) never deletes the run it scheduled.
"""

import asyncio
import logging
import os
import time
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis
from rq import Queue

from runyard_server import store

JOBS_QUEUE = "runyard-jobs"
REAPER_JOB_ID = "runyard-lease-reaper"
log = logging.getLogger("runyard_server.jobs")
_STARTED_BY = os.getppid()


async def _reap(redis_url: str) -> list[str]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return await store.reap_expired(client, time.time())
    finally:
        await client.aclose()


def reap_leases(redis_url: str, interval_s: int) -> int:
    """Reap expired leases once, then schedule the next run in ``interval_s`` seconds."""
    try:
        reaped = asyncio.run(_reap(redis_url))
        if reaped:
            log.info("lease expired, task(s) requeued or failed: %s", ", ".join(reaped))
        return len(reaped)
    finally:
        with redis.Redis.from_url(redis_url) as connection:
            keep_scheduling(connection, redis_url, interval_s)


def keep_scheduling(connection: redis.Redis, redis_url: str, interval_s: int) -> None:
    """:func:`schedule_reaper`, retried until Redis takes it.

    The reaper lives only as long as each run schedules the next: one refused write
    (Redis out of memory, or restarting) would end it for good, and running tasks of
    dead agents would never come back. Nothing else waits on this worker meanwhile.
    """
    while True:
        try:
            schedule_reaper(connection, redis_url, interval_s)
            return
        except redis.RedisError as exc:
            if os.getppid() != _STARTED_BY:
                # The server that started this worker died (its Redis with it): retrying
                # would keep an orphan alive forever. rq stops after this job.
                log.warning("the process that started this worker is gone; stopping")
                return
            log.warning("cannot schedule the lease reaper, retrying in 1s: %s", exc)
            time.sleep(1)


def schedule_reaper(connection: redis.Redis, redis_url: str, interval_s: int) -> None:
    """Put the next reaper run on the rq schedule (replacing any pending one)."""
    due = int(time.time()) + interval_s
    Queue(JOBS_QUEUE, connection=connection).enqueue_at(
        datetime.fromtimestamp(due, tz=UTC),
        reap_leases,
        redis_url,
        interval_s,
        job_id=f"{REAPER_JOB_ID}-{due}",
        result_ttl=0,
        failure_ttl=3600,
    )
