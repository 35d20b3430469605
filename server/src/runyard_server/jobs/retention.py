"""History retention: the operator's ``--retention-days`` applied by the jobs process.

Tasks finished more than that many days ago keep their record and final metrics;
their console output and metric series go, from Redis and from the history store.
The Redis side goes first (one script marks ``history=dropped``), so readers never
look for an archive that is half deleted; an archive left behind by a kill between
the two steps is removed by the next run.
"""

import logging
import time

import anyio.to_thread
import redis.asyncio as aioredis

from runyard_server.history_files import HistoryStore
from runyard_server.store import script_keys, scripts
from runyard_server.store.final_tasks import final_tasks

log = logging.getLogger("runyard_server.jobs.retention")


class Retention:
    """Drops the history of tasks finished more than ``days`` ago."""

    def __init__(self, r: "aioredis.Redis", history: HistoryStore, days: float) -> None:
        self.r, self.history, self.days = r, history, days

    async def run(self, now: float | None = None) -> int:
        """One pass; returns how many tasks' history was dropped."""
        cutoff = (time.time() if now is None else now) - self.days * 86400
        dropped = 0
        async for task_id, (finished, mark) in final_tasks(self.r, "finished", "history"):
            if finished is None or float(finished) >= cutoff:
                continue
            if mark != "dropped":
                await scripts.run(self.r, "drop_history", script_keys.task_output(task_id), task_id)
                dropped += 1
            await anyio.to_thread.run_sync(self.history.delete, task_id)
        if dropped:
            log.info("retention dropped the history of %d task(s)", dropped)
        return dropped
