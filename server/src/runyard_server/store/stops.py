"""Telling an agent within a second that a task it runs must stop (abort or preemption).

The heartbeat tells the agent too, but only every lease/3 (10 s with the default
lease): a sweep's prune, a user's Abort or a preemption would wait that long for the
SIGTERM, and a trial that finished meanwhile would lose its prune. So an agent that
runs tasks also holds a stop watch (``POST /workers/{id}/stops``), a long-poll that
answers as soon as one of them is told to stop.

The change that requests the stop (``abort``, ``preempt_for``) publishes the task's
worker id on ``ry:stop``; the process's one ``Dispatcher`` subscription wakes that
worker's watches, which read their tasks again. A watch reads before it waits (it
registers first, so a publish in between still wakes it) and after every wake-up,
with the heartbeat's own rules, so it reports exactly what the next heartbeat would.
A publish that is lost (a crash between the script and the publish, a dropped
subscription) costs only speed: the heartbeat still carries the stop.
"""

import asyncio
import random

import redis.asyncio as aioredis

from runyard.models import HeldTask, StopNews
from runyard_server.store import keys
from runyard_server.store.dispatch import Dispatcher


async def publish_stop(r: "aioredis.Redis", worker_id: str) -> None:
    """Tell every server process that a task of ``worker_id`` was told to stop."""
    await r.publish(keys.STOP_CHANNEL, worker_id)


async def stop_news(r: "aioredis.Redis", worker_id: str, held: list[HeldTask]) -> StopNews:
    """Which ``held`` tasks the next heartbeat of ``worker_id`` would tell to stop
    (``lua/heartbeat.lua``: a running task of this attempt on this worker, flagged
    ``abort_requested``, or marked for preemption of this attempt). A rank of a
    multi-node task hears of its stop by the heartbeat only."""
    async with r.pipeline(transaction=False) as pipe:
        for task in held:
            pipe.hmget(
                keys.task(task.task_id),
                "status", "token", "worker", "abort_requested", "preempt_by", "preempt_token",
            )  # fmt: skip
        rows: list[list[str | None]] = await pipe.execute()
    news = StopNews()
    for task, (status, token, worker, abort, by, preempt_token) in zip(held, rows, strict=True):
        if status != "running" or token != task.lease_token or worker != worker_id:
            continue
        if abort:
            news.abort.append(task.task_id)
        if by and preempt_token == token:
            news.preempt[task.task_id] = by
    return news


async def wait_for_stops(
    r: "aioredis.Redis",
    dispatcher: Dispatcher,
    worker_id: str,
    held: list[HeldTask],
    wait_s: float,
) -> StopNews:
    """The news of :func:`stop_news`, as soon as there is some or after ``wait_s`` s
    (up to a fifth shorter, at random, as a claim's: watches that began together, agents
    back after a restart, come back spread out instead of as one burst every ``wait_s``).

    A wake-up for this worker that finds nothing for ``held`` ends the wait with no
    news: it was for a task the agent claimed after it began the watch, which the
    agent's next watch lists. A wake-up for every watch (the subscription dropped and
    a publish may be lost) reads again and keeps waiting, so a Redis failover never
    sends every agent back at once. The dispatcher's claim slots bound the reads
    running at once, as they bound the claims of woken claimers.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s * (1 - random.random() / 5)
    while True:
        with dispatcher.watching_stops(worker_id) as waiter:
            async with dispatcher.claim_slots:
                news = await stop_news(r, worker_id, held)
            remaining = deadline - loop.time()
            if news.abort or news.preempt or remaining <= 0:
                return news
            if await waiter.wait(remaining) and waiter.queue:
                async with dispatcher.claim_slots:
                    return await stop_news(r, worker_id, held)
