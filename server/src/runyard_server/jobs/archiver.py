"""The archiver: moves a final task's console chunks and metric points to the history store.

It reacts to ``ry:events`` (group ``archiver``): a change to a final status archives
that task. Each archive is three steps, and a kill between any two leaves a state
the next run finishes:

1. read the task's chunks and points from Redis (nothing changes yet);
2. write them to the history store, all-or-nothing (write, fsync, rename);
3. one script checks that Redis still ends where the archive does, marks the task
   ``history=archived`` and deletes the Redis copy.

Killed in 1 or 2: the Redis copy is whole and the event is still pending, so it runs
again (and removes a half-written temporary folder). Killed after 2: a whole archive
and the whole Redis copy; the rerun writes the archive again and finishes 3. Readers
go by the ``history`` field, so they read Redis until 3, the archive after it.
A full disk fails step 2: the Redis copy stays and the event is retried. An archiver
holds a lock on the task (``ry:lock:archive:{id}``, extended while it works, lapsing
``LOCK_S`` after its holder died), so two jobs processes never write one archive.

Most tasks of a sweep or a pipeline print nothing the agent ships and log no metric:
for those the script of step 3 alone runs first, told the task has no output. It marks
the task archived with no archive in the store (readers of an archive that is not there
read no lines and no points), or answers ``changed`` when the task has output, which
then takes the three steps. No lock, no file, no fsync: an archive of nothing cost the
jobs process as much CPU as the API spent on the task's whole life.

A sweep (at start and every ``sweep_s``) archives final tasks that no event named
(finished before this version, or an event trimmed unread) and removes archives
whose task is gone or whose history retention dropped.
"""

import asyncio
import logging
from typing import cast

import anyio.to_thread
import redis.asyncio as aioredis
from redis.asyncio.lock import Lock

from runyard_server.history_files import FULL_ERRNOS, HistoryStore
from runyard_server.jobs.events import Busy, Event
from runyard_server.log_chunks import Chunk
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.final_tasks import FINAL, final_tasks
from runyard_server.store.logs import LogSource

log = logging.getLogger("runyard_server.jobs.archiver")

GROUP = "archiver"
_READ = 1000
LOCK_S = 10.0
_ATTEMPTS = 3
"""Writes tried while tokenless lines keep arriving after the end (each rereads Redis)."""


async def _keep(lock: Lock) -> None:
    """Extend the lock while its holder works (a killed holder's lock lapses in LOCK_S)."""
    while True:
        await asyncio.sleep(LOCK_S / 3)
        await lock.extend(LOCK_S, replace_ttl=True)


class Archiver:
    """Archives final tasks into ``history``; every method is safe to run twice."""

    def __init__(self, r: "aioredis.Redis", history: HistoryStore) -> None:
        self.r, self.history = r, history

    async def on_event(self, event: Event) -> None:
        """The event handler: archive the task once it is final."""
        if event.to in FINAL:
            await self.archive(event.task)

    async def archive(self, task_id: str) -> str:
        """Archive one task; returns what the store said (ok, done, live, missing).

        Raises ``Busy`` while another archiver (another jobs process) holds the task."""
        outcome = await self._mark(task_id, "", 0, 0, 0)
        if outcome != "changed":
            return outcome
        lock = self.r.lock(keys.archive_lock(task_id), timeout=LOCK_S, blocking=False)
        if not await lock.acquire():
            raise Busy(f"task {task_id} is being archived by another process")
        keeper = asyncio.create_task(_keep(lock))
        try:
            return await self._archive(task_id)
        finally:
            keeper.cancel()
            await lock.release()

    async def _archive(self, task_id: str) -> str:
        for _ in range(_ATTEMPTS):
            status, history = await self.r.hmget(keys.task(task_id), "status", "history")
            if status is None:
                await anyio.to_thread.run_sync(self.history.delete, task_id)
                return "missing"
            if history is not None:
                return "done"
            if status not in FINAL:
                return "live"
            chunks, points = await self._read(task_id)
            try:
                index = await anyio.to_thread.run_sync(self.history.write, task_id, chunks, points)
            except OSError as error:
                if error.errno in FULL_ERRNOS:
                    log.warning("history store full, task %s stays in Redis: %s", task_id, error)
                raise
            last = f"{chunks[-1].id[0]}-{chunks[-1].id[1]}" if chunks else ""
            outcome = await self._mark(task_id, last, len(points), index.lines, index.chunks)
            if outcome != "changed":
                return outcome
        raise RuntimeError(f"task {task_id} kept taking lines while being archived")

    async def _mark(self, task_id: str, last: str, points: int, lines: int, chunks: int) -> str:
        """Step 3: the task is archived, if Redis still ends at chunk ``last`` (``""``:
        none) and ``points``; what the script said (``changed``: it does not)."""
        declared = {**script_keys.task_output(task_id), "stats": keys.STATS}
        reply = await scripts.run(self.r, "archive", declared, task_id, last, points, lines, chunks)
        if reply[0] == "missing":
            await anyio.to_thread.run_sync(self.history.delete, task_id)
        return str(reply[0])

    async def _read(self, task_id: str) -> tuple[list[Chunk], list[str]]:
        source = LogSource(self.r, self.history, task_id)
        chunks: list[Chunk] = []
        start = (0, 0)
        while True:
            got = await source.forward(start, _READ)
            chunks += got
            if len(got) < _READ:
                break
            start = (got[-1].id[0], got[-1].id[1] + 1)
        points = cast(list[str], await self.r.lrange(keys.task_metrics(task_id), 0, -1))
        return chunks, points

    async def sweep(self) -> int:
        """Archive every final task not yet archived, and remove archives no task owns
        (deleted, or dropped by retention, by a process killed before it removed them);
        returns how many were archived."""
        archived = 0
        async for task_id, (status, mark) in final_tasks(self.r, "status", "history"):
            if status is None or mark is not None:
                continue
            try:
                outcome = await self.archive(task_id)
            except Busy:
                continue  # another process is on it
            if outcome == "ok":
                archived += 1
        for task_id in await anyio.to_thread.run_sync(self.history.task_ids):
            owner = await self.r.hmget(keys.task(task_id), "status", "history")
            if owner[0] is None or owner[1] == "dropped":
                await anyio.to_thread.run_sync(self.history.delete, task_id)
        if archived:
            log.info("sweep archived %d task(s)", archived)
        return archived
