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
from runyard_server.errors import Invalid
from runyard_server.jobs.events import Busy
from runyard_server.jobs.starts import start
from runyard_server.jobs.ticks import every
from runyard_server.store import schedules

log = logging.getLogger("runyard_server.jobs.schedules")


Run = tuple[float, str | None, str | None]
"""A run's time, what it made (a task or pipeline run id), and why it made none."""


async def start_due(r: "aioredis.Redis", now: float) -> int:
    """Start the runs of every schedule due at ``now``; how many runs made something."""
    made = 0
    for schedule_id, h in await schedules.due_schedules(r, now):
        spec = schedules.spec_of(h)
        try:
            runs = await _start_runs(r, schedule_id, h, now)
            next_due = cron.next_after(spec.cron, spec.tz, max(now, runs[-1][0] if runs else now))
        except Busy:
            continue  # another replica is starting it: that one advances the schedule
        except Invalid as error:
            # Its cron has no time left (checked at create, so only a stored record
            # changed by hand): one schedule must not stop the others.
            log.error("schedule %s cannot go on: %s", schedule_id, error.detail)
            continue
        if await schedules.advance(r, schedule_id, h["due"], next_due, runs):
            made += sum(1 for _, made_id, _ in runs if made_id)
    return made


async def _start_runs(
    r: "aioredis.Redis", schedule_id: str, h: dict[str, str], now: float
) -> list[Run]:
    spec = schedules.spec_of(h)
    runs: list[Run] = []
    for at in cron.runs_due(spec.cron, spec.tz, float(h["due"]), now, spec.catch_up):
        slot = f"{at:.0f}"
        started = await start(r, spec, h.get("owner"), ("schedule", schedule_id, slot), now)
        if started.error:
            log.warning("schedule %s run %s made none: %s", schedule_id, slot, started.error)
        runs.append((at, started.made, started.error))
    return runs


async def schedule_forever(r: "aioredis.Redis", tick_s: float, stop: asyncio.Event) -> None:
    """Start due runs until ``stop`` is set: at each schedule's next run time, and at
    least every ``tick_s`` (a schedule made or resumed meanwhile). Redis outages are
    waited out."""

    async def step() -> float | None:
        await start_due(r, time.time())
        due, now = await schedules.next_due(r), time.time()
        # One still due was left for now (another replica starts it): a tick, not a spin.
        return None if due is None or due <= now else due - now

    await every("schedules", tick_s, stop, step)
