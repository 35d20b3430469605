"""Queue settings: the limits the claim enforces, the preemptible flag and who may
use the queue (``permissions.py`` checks the last).

Stored in ``ry:queue:{name}:settings`` (``keys.py``); ``lua/claim.lua`` reads the same
hash, so a limit set here holds from the next claim on.
"""

from typing import cast

import redis.asyncio as aioredis

from runyard.models import QueueSettings, QueueUpdate
from runyard_server.errors import NotFound
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.dispatch import publish_work
from runyard_server.store.records import number

BACKFILL_BATCH = 500
"""Running tasks per script call in :func:`backfill_running`."""


def settings_from_hash(h: dict[str, str]) -> QueueSettings:
    """The settings stored in a queue's settings hash (absent fields: no limit)."""
    max_running = h.get("max_running")
    max_gpus = h.get("max_gpus")
    return QueueSettings(
        max_running=int(max_running) if max_running is not None else None,
        max_gpus=float(max_gpus) if max_gpus is not None else None,
        preemptible=h.get("preemptible") == "1",
        allowed_projects=names_of(h.get("allowed_projects")),
        allowed_users=names_of(h.get("allowed_users")),
    )


def names_of(joined: str | None) -> list[str]:
    """A stored comma-joined name list (names never hold a comma)."""
    return joined.split(",") if joined else []


async def read_settings(r: "aioredis.Redis", names: list[str]) -> dict[str, QueueSettings]:
    """The settings of each named queue (a queue that does not exist reads as no limits)."""
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.queue_settings(name))
        rows = cast(list[dict[str, str]], await pipe.execute())
    return {name: settings_from_hash(h) for name, h in zip(names, rows, strict=True)}


async def get_settings(r: "aioredis.Redis", name: str) -> QueueSettings:
    """The queue's settings; NotFound if there is no such queue."""
    if not await r.sismember(keys.QUEUES, name):
        raise NotFound(f"queue {name} does not exist")
    return (await read_settings(r, [name]))[name]


def _stored(field: str, value: int | float | bool | list[str] | None) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(sorted(set(value)))
    if field == "preemptible":
        return "1" if value else ""
    return number(float(value)) if field == "max_gpus" else str(int(value))


async def update_settings(r: "aioredis.Redis", name: str, body: QueueUpdate) -> QueueSettings:
    """Change the fields sent in ``body`` (null clears a limit); NotFound for an unknown
    queue. The other fields keep their values."""
    args: list[str] = []
    for field in sorted(body.model_fields_set):
        args += [field, _stored(field, getattr(body, field))]
    declared = {"queues": keys.QUEUES, **script_keys.queue(name)}
    reply = await scripts.run(r, "queue_settings", declared, name, *args)
    if reply[0] == "missing":
        raise NotFound(f"queue {name} does not exist")
    return settings_from_hash(scripts.pairs(reply[1]))


async def wake_if_held(r: "aioredis.Redis", queue: str) -> None:
    """A task of ``queue`` stopped running: when the queue has a limit and tasks wait in
    it, one may fit now, so wake a claimer (none would try before its long poll ends).
    While any user or project has a quota, every queue where tasks wait is woken."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.queue_settings(queue), "max_running", "max_gpus")
        pipe.zcard(keys.queue(queue))
        pipe.exists(keys.QUOTAS)
        limits, waiting, quotas = await pipe.execute()
    if quotas:
        # A quota holds its owner's and project's tasks on every queue: wake them all.
        names = sorted(cast(set[str], await r.smembers(keys.QUEUES)))
        async with r.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.zcard(keys.queue(name))
            depths = await pipe.execute()
        for name, depth in zip(names, depths, strict=True):
            if depth:
                await publish_work(r, name)
    elif waiting and any(limit is not None for limit in limits):
        await publish_work(r, queue)


async def backfill_running(r: "aioredis.Redis") -> int:
    """Put running tasks claimed before the queues' running sets existed into them (at
    server start); how many were missing. Running again adds nothing."""
    running = cast(list[str], await r.zrange(keys.status_index("running"), 0, -1))
    added = 0
    for start in range(0, len(running), BACKFILL_BATCH):
        ids = running[start : start + BACKFILL_BATCH]
        async with r.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hget(keys.task(task_id), "queue")
            queues = cast(list[str | None], await pipe.execute())
        declared = script_keys.transition(ids, list(set(queues)), [])
        added += int(await scripts.run(r, "hold_running", declared, *ids))
    return added
