"""Schedules: records (``store/automation.py``) plus ``ry:schedules:due``, the next run
time of each running schedule.

Starting a run is the jobs process's (``jobs/schedules.py``): it reads the due
schedules, makes each run's clone under a key of the schedule and the run's time (so a
clone is made once however often that is tried) and then moves ``due`` on with
:func:`advance`, a compare-and-set on the stored ``due``: of two replicas that start
the same run, one advances it, and the other's clone was the same task.
"""

import json
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from runyard.models import Schedule, ScheduleCreate
from runyard_server import cron
from runyard_server.store import automation, keys

KIND = "schedule"
SHOWN_RUNS = 3
"""Next run times a schedule shows."""


def schedule_of(schedule_id: str, h: automation.Fields) -> Schedule:
    """The wire form of a stored schedule."""
    spec = ScheduleCreate.model_validate_json(h["spec"])
    due = h.get("due")
    nexts = [] if due is None else [float(due), *cron.upcoming(spec.cron, spec.tz, float(due), 2)]
    return Schedule(
        **spec.model_dump(),
        id=schedule_id,
        project=h.get("project", ""),
        owner=h.get("owner"),
        created=automation.at(h["created"]),
        paused=h.get("paused") == "1",
        next_runs=[automation.at(t) for t in nexts[:SHOWN_RUNS]],
        last_run=automation.time_of(h.get("last_run")),
        last_task=h.get("last_task"),
        last_error=h.get("last_error"),
        runs=int(h.get("runs", 0)),
    )


async def create_schedule(
    r: "aioredis.Redis", body: ScheduleCreate, project: str, owner: str | None, now: float
) -> Schedule:
    """Store a running schedule whose first run is the first cron time after ``now``."""
    cron.check(body.cron, body.tz)
    due = cron.next_after(body.cron, body.tz, now)
    schedule_id = automation.new_id()
    fields = {"spec": body.model_dump_json(), "project": project, "due": repr(due), "runs": "0"}
    if owner is not None:
        fields["owner"] = owner
    await automation.save(r, KIND, schedule_id, fields, now, {keys.SCHEDULES_DUE: due})
    return await get_schedule(r, schedule_id)


async def get_schedule(r: "aioredis.Redis", schedule_id: str) -> Schedule:
    return schedule_of(schedule_id, await automation.load(r, KIND, schedule_id))


async def list_schedules(r: "aioredis.Redis") -> list[Schedule]:
    return [schedule_of(i, h) for i, h in await automation.load_all(r, KIND)]


async def delete_schedule(r: "aioredis.Redis", schedule_id: str) -> None:
    await automation.remove(r, KIND, schedule_id, (keys.SCHEDULES_DUE,))


async def set_paused(r: "aioredis.Redis", schedule_id: str, paused: bool, now: float) -> Schedule:
    """Pause (no run starts until resumed) or resume a schedule. A resumed schedule
    runs next at the first cron time after ``now``: the runs it missed while paused
    are not made up."""
    record = keys.automation(KIND, schedule_id)
    async with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                # Reads go through the client: a cluster pipeline may queue them after WATCH.
                await pipe.watch(record)
                h = cast(automation.Fields, await r.hgetall(record))
                if not h:
                    return await get_schedule(r, schedule_id)  # its NotFound
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                if paused:
                    pipe.hset(record, "paused", "1")
                    pipe.hdel(record, "due")
                    pipe.zrem(keys.SCHEDULES_DUE, schedule_id)
                elif h.get("paused") == "1":
                    spec = ScheduleCreate.model_validate_json(h["spec"])
                    due = cron.next_after(spec.cron, spec.tz, now)
                    pipe.hdel(record, "paused")
                    pipe.hset(record, "due", repr(due))
                    pipe.zadd(keys.SCHEDULES_DUE, {schedule_id: due})
                await pipe.execute()
                break
            except WatchError:
                continue
    return await get_schedule(r, schedule_id)


async def due_schedules(
    r: "aioredis.Redis", now: float, limit: int = 100
) -> list[tuple[str, automation.Fields]]:
    """Up to ``limit`` running schedules whose next run time is at or before ``now``,
    with their records."""
    ids = cast(list[str], await r.zrangebyscore(keys.SCHEDULES_DUE, "-inf", now, 0, limit))
    async with r.pipeline(transaction=False) as pipe:
        for schedule_id in ids:
            pipe.hgetall(keys.automation(KIND, schedule_id))
        hashes = cast(list[automation.Fields], await pipe.execute())
    return [(i, h) for i, h in zip(ids, hashes, strict=True) if h.get("due")]


async def next_due(r: "aioredis.Redis") -> float | None:
    """The earliest next run time of any running schedule (None: there is none)."""
    first = cast(list[tuple[str, float]], await r.zrange(keys.SCHEDULES_DUE, 0, 0, withscores=True))
    return first[0][1] if first else None


async def advance(
    r: "aioredis.Redis",
    schedule_id: str,
    due: str,
    next_due: float,
    runs: list[tuple[float, str | None, str | None]],
) -> bool:
    """Move the schedule's next run from ``due`` (as stored) to ``next_due`` and record
    ``runs`` (each run's time and the task it made or why it made none). False, with
    nothing changed, when ``due`` is no longer what is stored (another replica advanced
    it, or it was paused or deleted)."""
    record = keys.automation(KIND, schedule_id)
    async with r.pipeline(transaction=True) as pipe:
        try:
            # Reads go through the client: a cluster pipeline may queue them after WATCH.
            await pipe.watch(record)
            if await r.hget(record, "due") != due:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.hset(record, "due", repr(next_due))
            pipe.zadd(keys.SCHEDULES_DUE, {schedule_id: next_due})
            if runs:
                at, task_id, error = runs[-1]
                pipe.hset(record, "last_run", repr(at))
                pipe.hincrby(record, "runs", sum(1 for _, made, _ in runs if made))
                if task_id is not None:
                    pipe.hset(record, "last_task", task_id)
                    pipe.hdel(record, "last_error")
                else:
                    pipe.hset(record, "last_error", error or "")
            await pipe.execute()
        except WatchError:
            return False
    return True


def spec_of(h: automation.Fields) -> ScheduleCreate:
    """The create body a stored schedule was made with."""
    return ScheduleCreate.model_validate(json.loads(h["spec"]))
