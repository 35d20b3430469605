"""A sweep's trial records: asked, spawned, running, ended — each change one ``MULTI``.

A trial is recorded (number, params) *before* its task is cloned, and the clone is made
with an idempotency key derived from the sweep and the number, so a controller killed
between the two makes the same task when it tries again: a trial is never lost and
never spawned twice. Each change bumps the sweep's ``rev`` (see ``keys``), which tells a
controller whether the Optuna study it holds in memory has seen every change.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis

from runyard.models import SweepStatus, SweepTrial, TrialCurve, TrialStatus
from runyard_server.errors import Conflict, NotFound, RunyardServerError
from runyard_server.store import keys
from runyard_server.store.sweeps import Writes, log_entry, queue_log, watched
from runyard_server.store.transitions import abort


@dataclass(frozen=True, slots=True)
class Change:
    """What became of one trial, and the sweep's ``rev`` after it."""

    trial: dict[str, Any]
    rev: int


def public(record: dict[str, Any]) -> SweepTrial:
    """The wire view of a stored trial record."""
    return SweepTrial.model_validate(
        {
            **record,
            "created": datetime.fromtimestamp(record["created"], UTC),
            "finished": (
                datetime.fromtimestamp(record["finished"], UTC) if record.get("finished") else None
            ),
        }
    )


async def read_trials(r: "aioredis.Redis", sweep_id: str) -> list[dict[str, Any]]:
    """Every trial record of the sweep, by number."""
    return (await read_trials_at(r, sweep_id))[1]


async def read_trials_at(r: "aioredis.Redis", sweep_id: str) -> tuple[int, list[dict[str, Any]]]:
    """The sweep's ``rev`` and every trial record as of that ``rev`` (one snapshot)."""
    async with r.pipeline(transaction=True) as pipe:
        pipe.hget(keys.sweep(sweep_id), "rev")
        pipe.hgetall(keys.sweep_trials(sweep_id))
        rev, raw = await pipe.execute()
    records = sorted((json.loads(v) for v in raw.values()), key=lambda t: int(t["number"]))
    return int(rev or 0), records


async def read_live(r: "aioredis.Redis", sweep_id: str) -> list[dict[str, Any]]:
    """The records of the trials in flight (queued or running), by number."""
    numbers = sorted(int(n) for n in cast(set[str], await r.smembers(keys.sweep_live(sweep_id))))
    if not numbers:
        return []
    raw = cast(list[str | None], await r.hmget(keys.sweep_trials(sweep_id), numbers))
    return [json.loads(v) for v in raw if v]


async def trials_page(r: "aioredis.Redis", sweep_id: str) -> list[SweepTrial]:
    """``GET /sweeps/{id}/trials``."""
    if not await r.exists(keys.sweep(sweep_id)):
        raise NotFound(f"sweep {sweep_id} does not exist")
    return [public(t) for t in await read_trials(r, sweep_id)]


def curve_of(record: dict[str, Any], points: list[tuple[int, float]]) -> TrialCurve:
    """The wire view of a trial's intermediate objective."""
    return TrialCurve(
        number=record["number"], task_id=record.get("task_id"), status=record["status"],
        points=points,
    )  # fmt: skip


async def record_asked(
    r: "aioredis.Redis",
    sweep_id: str,
    trial_number: int,
    params: dict[str, Any],
    attrs: dict[str, Any],
    now: float,
) -> Change:
    """Record trial ``trial_number`` (the sweep's next) as queued with ``params``, before
    its task exists. A Conflict when another controller asked it first or the sweep is
    no longer running."""
    record: dict[str, Any] = {
        "number": trial_number, "task_id": None, "params": params,
        "status": TrialStatus.QUEUED.value, "created": now, "attrs": attrs,
    }  # fmt: skip

    async def read(_pipe: Any, h: dict[str, str]) -> Writes:
        if int(h["next"]) != trial_number or h["status"] != SweepStatus.RUNNING:
            raise Conflict(f"sweep {sweep_id} moved on before trial {trial_number} was asked")

        def writes(pipe: Any) -> None:
            pipe.hset(keys.sweep_trials(sweep_id), str(trial_number), json.dumps(record))
            pipe.hset(keys.sweep(sweep_id), "next", trial_number + 1)
            pipe.hincrby(keys.sweep(sweep_id), "n:queued", 1)
            pipe.hincrby(keys.sweep(sweep_id), "rev", 1)
            pipe.sadd(keys.sweep_live(sweep_id), trial_number)

        return writes

    h = await watched(r, sweep_id, read)
    return Change(record, int(h["rev"]) + 1)


async def change_trial(
    r: "aioredis.Redis",
    sweep_id: str,
    trial_number: int,
    update: dict[str, Any],
    now: float,
    log: tuple[str, str] | None = None,
) -> Change | None:
    """Apply ``update`` to trial ``trial_number``'s record (its status, task, value, ...),
    moving the counts, the set in flight and the best with it; ``log`` (kind, message)
    is appended to the sweep's log in the same step. None when the trial already ended
    (an event seen twice changes nothing)."""
    found: dict[str, Any] = {}

    async def read(pipe: Any, h: dict[str, str]) -> Writes:
        raw = await pipe.hget(keys.sweep_trials(sweep_id), str(trial_number))
        if raw is None:
            raise NotFound(f"sweep {sweep_id} has no trial {trial_number}")
        old = json.loads(raw)
        if TrialStatus(old["status"]).is_final:
            return lambda pipe: None
        new = {**old, **update}
        found["trial"] = new
        best = await _better(pipe, sweep_id, h, new)

        def writes(pipe: Any) -> None:
            sweep = keys.sweep(sweep_id)
            pipe.hset(keys.sweep_trials(sweep_id), str(trial_number), json.dumps(new))
            if new["status"] != old["status"]:
                pipe.hincrby(sweep, f"n:{old['status']}", -1)
                pipe.hincrby(sweep, f"n:{new['status']}", 1)
            if TrialStatus(new["status"]).is_final:
                pipe.srem(keys.sweep_live(sweep_id), trial_number)
            if best:
                pipe.hset(sweep, "best", trial_number)
            pipe.hincrby(sweep, "rev", 1)
            if log is not None:
                queue_log(pipe, sweep_id, log_entry(now, log[0], log[1], trial_number))

        return writes

    h = await watched(r, sweep_id, read)
    if not found:
        return None
    return Change(found["trial"], int(h["rev"]) + 1)


async def _better(pipe: Any, sweep_id: str, h: dict[str, str], trial: dict[str, Any]) -> bool:
    """True when ``trial`` completed with a value better than the sweep's best so far."""
    if trial["status"] != TrialStatus.COMPLETED or trial.get("value") is None:
        return False
    if not h.get("best"):
        return True
    raw = await pipe.hget(keys.sweep_trials(sweep_id), h["best"])
    if raw is None:
        return True
    best = json.loads(raw)["value"]
    maximize = json.loads(h["spec"])["direction"] == "max"
    return bool(trial["value"] > best if maximize else trial["value"] < best)


async def abort_live(r: "aioredis.Redis", sweep_id: str, now: float) -> None:
    """Abort the tasks of the sweep's trials in flight (a queued one at once, a running
    one by its agent, SIGTERM then SIGKILL after the grace)."""
    for record in await read_live(r, sweep_id):
        if record.get("task_id"):
            try:
                await abort(r, record["task_id"], now)
            except RunyardServerError:
                continue  # it ended or went meanwhile: its event brings the end
