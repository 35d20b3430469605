"""The preemption loop: waiting tasks that fit nowhere stop lower-priority work.

A plain loop beside the reaper, for the same reasons (``reaper.py``): it keeps nothing
in Redis, and each decision is one atomic script (``lua/preempt.lua``) that checks
what it relies on, so replicas running it in the same second cannot preempt twice for
one task: the second finds the first one's victims stopping and does nothing.
"""

import asyncio
import logging
import time

import redis.asyncio as aioredis

from runyard_server.jobs.ticks import every
from runyard_server.store.preemption import PreemptPolicy, preempt_waiting
from runyard_server.store.preemption_fleet import Running

log = logging.getLogger("runyard_server.jobs")

INTERVAL_S = 1.0


async def preempt_forever(
    r: "aioredis.Redis", policy: PreemptPolicy, alive_after_s: float, stop: asyncio.Event
) -> None:
    """Look for preemptions every second until ``stop`` is set, through Redis outages."""

    known: dict[str, Running] = {}  # what running tasks hold, read once per task

    async def step() -> None:
        for decision in await preempt_waiting(r, policy, time.time(), alive_after_s, known):
            log.info(
                "task %s preempts %s on worker %s",
                decision.task_id, " ".join(decision.victims), decision.worker,
            )  # fmt: skip

    await every("preemption", INTERVAL_S, stop, step)
