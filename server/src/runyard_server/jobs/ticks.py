"""A loop that does one step every interval and outlives Redis outages.

The reaper and the preemption loop share it: a refused or failed Redis call is logged
once per outage and the step is tried again on the next tick, since nothing else
does their work while Redis restarts, runs out of memory or is cut off.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

log = logging.getLogger("runyard_server.jobs")


async def every(
    what: str,
    interval_s: float,
    stop: asyncio.Event,
    step: Callable[[], Awaitable[float | None]],
) -> None:
    """Run ``step`` every ``interval_s`` seconds until ``stop`` is set; sooner when
    ``step`` answers how many seconds until it has work again (the schedule loop: the
    next run time)."""
    failing = False
    while not stop.is_set():
        wait_s = interval_s
        try:
            sooner = await step()
        except RedisError as exc:
            if not failing:
                log.warning("%s: Redis failed, retrying every %gs: %s", what, interval_s, exc)
            failing = True
        else:
            if failing:
                log.info("%s: Redis answers again", what)
            failing = False
            if sooner is not None:
                wait_s = min(interval_s, max(0.0, sooner))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait_s)
