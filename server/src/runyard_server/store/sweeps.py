"""Sweep records: create, read, list, stop and resume (the key schema is ``keys``'s).

A sweep's state is all in Redis (its hash, its trial records, the set of trials in
flight and its log), so any jobs process can carry it on after another died. Every
change here and in ``sweep_trials.py`` is one ``MULTI`` under ``WATCH`` of the sweep's
hash, and each bumps nothing a reader could see half-done.
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from runyard.models import (
    Sweep,
    SweepBest,
    SweepCounts,
    SweepCreate,
    SweepEvent,
    SweepPage,
    SweepStatus,
    TrialStatus,
)
from runyard.models.limits import MAX_PAGE
from runyard_server.errors import Conflict, Invalid, NotFound
from runyard_server.store import keys, notify
from runyard_server.store.records import flatten, number

MAX_LOG = 10_000
KIND = "sweep"
"""The controller kind of a sweep: its trials' origin starts with it, its lock is named by it."""
NOTIFIED = (SweepStatus.DONE, SweepStatus.FAILED)
"""The ends webhooks hear of (``sweep.done``, ``sweep.failed``); a stop is a person's."""
"""Lines a sweep's log keeps (the newest)."""
MAX_WATCH_TRIES = 50

Writes = Callable[[Any], None]
"""Queues a change's commands on a ``MULTI`` pipeline."""


def _time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None


def log_entry(now: float, kind: str, message: str, trial: int | None = None) -> str:
    """One line of a sweep's log, as stored."""
    event = SweepEvent(
        time=datetime.fromtimestamp(now, UTC), kind=kind, message=message, trial=trial
    )
    return event.model_dump_json()


def queue_log(pipe: Any, sweep_id: str, line: str) -> None:
    """Append ``line`` (``log_entry``) to the sweep's log on a pipeline, keeping the newest."""
    pipe.rpush(keys.sweep_log(sweep_id), line)
    pipe.ltrim(keys.sweep_log(sweep_id), -MAX_LOG, -1)


async def watched(
    r: "aioredis.Redis", sweep_id: str, read: Callable[[Any, dict[str, str]], Awaitable[Writes]]
) -> dict[str, str]:
    """Apply one change of a sweep atomically: ``read`` sees its hash (watched) and
    returns what to write; if the hash changed meanwhile the change is read again.
    Returns the hash as ``read`` saw it."""
    for _ in range(MAX_WATCH_TRIES):
        async with r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(keys.sweep(sweep_id))
                h = cast(dict[str, str], await pipe.hgetall(keys.sweep(sweep_id)))
                if not h:
                    raise NotFound(f"sweep {sweep_id} does not exist")
                writes = await read(pipe, h)
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                writes(pipe)
                await pipe.execute()
                return h
            except WatchError:
                continue
    raise Conflict(f"sweep {sweep_id} kept changing while it was being changed; retry")


async def create_sweep(
    r: "aioredis.Redis",
    body: SweepCreate,
    *,
    name: str,
    project: str,
    owner: str | None,
    now: float,
) -> Sweep:
    """Store a new running sweep; the controller spawns its first trials on its next tick."""
    sweep_id = uuid.uuid4().hex
    fields = {
        "spec": body.model_dump_json(exclude={"name"}),
        "name": name,
        "project": project,
        "owner": owner or "",
        "status": SweepStatus.RUNNING.value,
        "created": number(now),
        "clock": number(now),
        "next": "0",
        "rev": "0",
    }
    line = log_entry(
        now, "created", f"{body.trials} trials of {body.base}, {body.parallel} at once"
    )
    async with r.pipeline(transaction=True) as pipe:
        pipe.hset(keys.sweep(sweep_id), items=flatten(fields))
        pipe.zadd(keys.SWEEPS, {sweep_id: now})
        pipe.sadd(keys.RUNNING_SWEEPS, sweep_id)
        queue_log(pipe, sweep_id, line)
        await pipe.execute()
    return await get_sweep(r, sweep_id)


def sweep_from_hash(sweep_id: str, h: dict[str, str], best: dict[str, Any] | None) -> Sweep:
    """The ``Sweep`` of a stored hash, with its best trial's record (None: none yet)."""
    counts = SweepCounts(**{s.value: int(h.get(f"n:{s.value}", 0)) for s in TrialStatus})
    top = None
    if best is not None:
        top = SweepBest(
            number=best["number"], task_id=best["task_id"], value=best["value"],
            params=best["params"],
        )  # fmt: skip
    return Sweep.model_validate(
        {
            **json.loads(h["spec"]),
            "id": sweep_id,
            "name": h["name"],
            "project": h["project"],
            "owner": h.get("owner") or None,
            "status": h["status"],
            "reason": h.get("reason") or None,
            "created": _time(h["created"]),
            "finished": _time(h.get("finished")),
            "counts": counts,
            "best": top,
        }
    )


def spec_of(h: dict[str, str]) -> SweepCreate:
    """The ``SweepCreate`` a stored sweep was made with."""
    return SweepCreate.model_validate_json(h["spec"])


async def get_sweep(r: "aioredis.Redis", sweep_id: str) -> Sweep:
    """The sweep, or NotFound."""
    h = cast(dict[str, str], await r.hgetall(keys.sweep(sweep_id)))
    if not h:
        raise NotFound(f"sweep {sweep_id} does not exist")
    best = None
    if h.get("best"):
        raw = await r.hget(keys.sweep_trials(sweep_id), h["best"])
        best = json.loads(raw) if raw else None
    return sweep_from_hash(sweep_id, h, best)


async def list_sweeps(
    r: "aioredis.Redis",
    *,
    project: str | None = None,
    status: SweepStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SweepPage:
    """Sweeps newest first, filtered; ``cursor`` is the creation time to continue below."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be 1 to {MAX_PAGE}")
    top: str = "+inf"
    if cursor is not None:
        try:
            top = f"({float(cursor)!r}"
        except ValueError:
            raise Invalid(f"cursor {cursor!r} is not one a sweep page gave") from None
    found: list[Sweep] = []
    offset = 0
    while len(found) < limit:
        page = cast(
            list[tuple[str, float]],
            await r.zrevrangebyscore(
                keys.SWEEPS, top, "-inf", start=offset, num=limit * 2, withscores=True
            ),
        )
        if not page:
            break
        offset += len(page)
        for sweep_id, _ in page:
            try:
                sweep = await get_sweep(r, sweep_id)
            except NotFound:
                continue
            if (project is None or sweep.project == project) and (
                status is None or sweep.status == status
            ):
                found.append(sweep)
                if len(found) == limit:
                    break
    more = len(found) == limit
    return SweepPage(
        sweeps=found, next_cursor=repr(found[-1].created.timestamp()) if more else None
    )


async def read_log(r: "aioredis.Redis", sweep_id: str) -> list[SweepEvent]:
    """The sweep's log, oldest first."""
    if not await r.exists(keys.sweep(sweep_id)):
        raise NotFound(f"sweep {sweep_id} does not exist")
    lines = cast(list[str], await r.lrange(keys.sweep_log(sweep_id), 0, -1))
    return [SweepEvent.model_validate_json(line) for line in lines]


async def end_sweep(
    r: "aioredis.Redis",
    sweep_id: str,
    status: SweepStatus,
    reason: str,
    now: float,
    *,
    only_if_running: bool = True,
) -> bool:
    """running → ``status`` (stopped, done or failed) with ``reason``; False (nothing
    changed) when it was not running and ``only_if_running``."""
    if status is SweepStatus.RUNNING:
        raise ValueError("end_sweep ends a sweep; resume_sweep starts one")
    changed = False

    async def read(_pipe: Any, h: dict[str, str]) -> Writes:
        nonlocal changed
        changed = h["status"] == SweepStatus.RUNNING or not only_if_running
        if not changed:
            return lambda pipe: None

        def writes(pipe: Any) -> None:
            pipe.hset(
                keys.sweep(sweep_id),
                mapping={"status": status.value, "reason": reason, "finished": number(now)},
            )
            pipe.srem(keys.RUNNING_SWEEPS, sweep_id)
            queue_log(pipe, sweep_id, log_entry(now, status.value, reason))
            if status in NOTIFIED:
                payload: dict[str, str | None] = {"id": sweep_id, "project": h["project"]}
                payload |= {"name": h["name"], "status": status.value, "reason": reason}
                payload["best"] = h.get("best")
                notify.queue_event(pipe, f"sweep.{status.value}", payload)

        return writes

    await watched(r, sweep_id, read)
    return changed


async def resume_sweep(r: "aioredis.Redis", sweep_id: str, now: float) -> Sweep:
    """stopped or failed → running (its ``max_time_s`` counts afresh); a done or running
    sweep is a Conflict."""

    async def read(_pipe: Any, h: dict[str, str]) -> Writes:
        if h["status"] not in (SweepStatus.STOPPED, SweepStatus.FAILED):
            raise Conflict(
                f"sweep {sweep_id} is {h['status']}; only a stopped or failed one resumes"
            )

        def writes(pipe: Any) -> None:
            pipe.hset(
                keys.sweep(sweep_id),
                mapping={"status": SweepStatus.RUNNING.value, "clock": number(now)},
            )
            pipe.hdel(keys.sweep(sweep_id), "reason", "finished")
            pipe.sadd(keys.RUNNING_SWEEPS, sweep_id)
            queue_log(pipe, sweep_id, log_entry(now, "resumed", "resumed"))

        return writes

    await watched(r, sweep_id, read)
    return await get_sweep(r, sweep_id)
