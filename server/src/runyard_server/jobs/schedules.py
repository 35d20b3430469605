"""The schedule loop of the jobs process: every ``tick_s``, start the runs of the
schedules that are due.

Any number of jobs processes run it at once (one per server replica). Each run is
started exactly once: its clone is made under the key ``schedule:{id}:{time}``
(``jobs/starts.py``), and only the replica whose compare-and-set on the stored due
time succeeds moves the schedule on (``store/schedules.advance``); one that lost made
the same task or none. A process killed between the clone and the advance leaves the
run due, and the next tick (here or elsewhere) finds its clone already made.

Missed runs (no jobs process ran, or Redis was away) follow the schedule's
``catch_up``: ``once`` starts one run, ``all`` each of them, ``skip`` none
(``cron.runs_due``).
"""

import asyncio
import logging
import time

import redis.asyncio as aioredis

from runyard_server import cron
from runyard_server.jobs.starts import start
from runyard_server.jobs.ticks import every
from runyard_server.store import schedules

log = logging.getLogger("runyard_server.jobs.schedules")


async def start_due(r: "aioredis.Redis", now: float) -> int:
    """Start the runs of every schedule due at ``now``; how many runs made a task."""
    made = 0
    for schedule_id, h in await schedules.due_schedules(r, now):
        spec = schedules.spec_of(h)
        due = float(h["due"])
        runs = []
        for at in cron.runs_due(spec.cron, spec.tz, due, now, spec.catch_up):
            slot = f"{at:.0f}"
            started = await start(r, spec, h.get("owner"), ("schedule", schedule_id, slot), now)
            if started.error:
                log.warning("schedule %s run %s: no task: %s", schedule_id, slot, started.error)
            runs.append((at, started.task_id, started.error))
        next_due = cron.next_after(spec.cron, spec.tz, max(now, runs[-1][0] if runs else now))
        if await schedules.advance(r, schedule_id, h["due"], next_due, runs):
            made += sum(1 for _, task_id, _ in runs if task_id)
    return made


async def schedule_forever(r: "aioredis.Redis", tick_s: float, stop: asyncio.Event) -> None:
    """Start due runs every ``tick_s`` until ``stop`` is set (Redis outages waited out)."""

    async def step() -> None:
        await start_due(r, time.time())

    await every("schedules", tick_s, stop, step)
