"""Quotas and fair share: per-user and per-project limits on running tasks and GPUs,
and per-user fair-share weights.

Stored as fields of one hash, ``ry:quotas`` (``keys.py``), which ``lua/claim.lua``
reads on every claim: a limit set here holds from the next claim on. The claim holds a
task over its owner's or project's quota queued (it is not refused at create or
enqueue, and not "unfit"); what each name runs is ``ry:quota-running``, which the claim
and ``release`` keep (``lua/common.lua``). Within a queue where several owners wait,
the claim gives the next fitting task of the top priority to the owner with the least
running share (GPUs, then tasks, over the weight).
"""

from collections import defaultdict
from typing import cast

import redis.asyncio as aioredis

from runyard.models import Quota, QuotaKind, QuotaUpdate
from runyard_server.errors import Invalid
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.dispatch import publish_work
from runyard_server.store.records import number

_PREFIX: dict[QuotaKind, str] = {"user": "u", "project": "p"}
_KIND = {prefix: kind for kind, prefix in _PREFIX.items()}
_FIELDS = ("max_running", "max_gpus", "weight")


def _field(kind: QuotaKind, field: str, name: str) -> str:
    return f"{_PREFIX[kind]}:{field}:{name}"


async def set_quota(r: "aioredis.Redis", kind: QuotaKind, name: str, body: QuotaUpdate) -> Quota:
    """Replace the quota of user or project ``name`` (absent fields: no limit) and wake
    the claimers, as tasks held by a lower limit may start now. Invalid for a project's
    weight (fair share is among users)."""
    if kind == "project" and body.weight is not None:
        raise Invalid("weight is a user's fair-share weight; a project has none")
    values = {"max_running": body.max_running, "max_gpus": body.max_gpus, "weight": body.weight}
    async with r.pipeline(transaction=True) as pipe:
        for field, value in values.items():
            if value is None:
                pipe.hdel(keys.QUOTAS, _field(kind, field, name))
            else:
                stored = str(value) if field == "max_running" else number(float(value))
                pipe.hset(keys.QUOTAS, _field(kind, field, name), stored)
        await pipe.execute()
    for queue in sorted(cast(set[str], await r.smembers(keys.QUEUES))):
        await publish_work(r, queue)
    quota = await list_quotas(r, kind, name)
    return quota[0] if quota else Quota(kind=kind, name=name)


def _usage(members: list[str]) -> dict[tuple[QuotaKind, str], tuple[int, float]]:
    """(kind, name) → tasks running and GPUs held, from ``ry:quota-running``'s members
    ``{kind}:{len}:{name}:{id}:{gpus}``."""
    usage: dict[tuple[QuotaKind, str], tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    for member in members:
        prefix, length, rest = member.split(":", 2)
        name, tail = rest[: int(length)], rest[int(length) + 1 :]
        key = (_KIND[prefix], name)
        running, gpus = usage[key]
        usage[key] = (running + 1, gpus + float(tail.rsplit(":", 1)[1]))
    return usage


async def list_quotas(
    r: "aioredis.Redis", kind: QuotaKind | None = None, name: str | None = None
) -> list[Quota]:
    """Every user and project with a quota or a running task (of ``kind``, named
    ``name`` when given), sorted by kind and name. The user "" is tasks without an owner."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.QUOTAS)
        pipe.zrange(keys.QUOTA_RUNNING, 0, -1)
        stored, members = cast(tuple[dict[str, str], list[str]], await pipe.execute())
    usage = _usage(members)
    limits: dict[tuple[QuotaKind, str], dict[str, str]] = defaultdict(dict)
    for field, value in stored.items():
        prefix, what, who = field.split(":", 2)
        limits[(_KIND[prefix], who)][what] = value
    found = []
    for key in sorted(set(limits) | set(usage)):
        if (kind is not None and key[0] != kind) or (name is not None and key[1] != name):
            continue
        limit = limits.get(key, {})
        running, gpus = usage.get(key, (0, 0.0))
        found.append(
            Quota(
                kind=key[0],
                name=key[1],
                max_running=int(limit["max_running"]) if "max_running" in limit else None,
                max_gpus=float(limit["max_gpus"]) if "max_gpus" in limit else None,
                weight=float(limit.get("weight", 1)),
                running=running,
                gpus=gpus,
            )
        )
    return found


def _lex_range(kind: QuotaKind, name: str) -> tuple[str, str]:
    """The ``ZRANGEBYLEX`` bounds of one name's members of ``ry:quota-running``."""
    prefix = f"{_PREFIX[kind]}:{len(name.encode())}:{name}"
    return f"[{prefix}:", f"({prefix};"


async def held_by_quota(
    r: "aioredis.Redis", owner: str | None, project: str, gpus: float
) -> list[str]:
    """What holds a queued task of ``owner`` and ``project`` holding ``gpus`` back now:
    one line per quota it is over (empty when none), for the task's warnings."""
    names: list[tuple[QuotaKind, str]] = [("user", owner or ""), ("project", project)]
    fields = [_field(kind, f, name) for kind, name in names for f in _FIELDS[:2]]
    limits = cast(list[str | None], await r.hmget(keys.QUOTAS, fields))
    held = []
    for (kind, name), max_running, max_gpus in zip(names, limits[::2], limits[1::2], strict=True):
        if max_running is None and max_gpus is None:
            continue
        members = cast(list[str], await r.zrangebylex(keys.QUOTA_RUNNING, *_lex_range(kind, name)))
        running, used = _usage(members).get((kind, name), (0, 0.0))
        who = f"the {kind} quota of {name or 'tasks without an owner'}"
        if max_running is not None and running >= int(max_running):
            held.append(
                f"held by {who}: {running} of {max_running} running; it waits for one to end"
            )
        elif max_gpus is not None and gpus > 0 and used + gpus > float(max_gpus):
            held.append(
                f"held by {who}: {used:g} of {float(max_gpus):g} GPUs in use; it waits for them"
            )
    return held


async def backfill_owners(r: "aioredis.Redis") -> int:
    """Count afresh the waiting owners of each queue whose counts do not add up to its
    depth (tasks queued before the counts existed), at server start; how many queues."""
    names = sorted(cast(set[str], await r.smembers(keys.QUEUES)))
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcard(keys.queue(name))
            pipe.hvals(keys.queue_owners(name))
        rows = await pipe.execute()
    counted = 0
    for name, depth, counts in zip(names, rows[::2], rows[1::2], strict=True):
        if depth == sum(int(n) for n in counts):
            continue

        async def plan(name: str = name) -> script_keys.Declared:
            waiting = cast(list[str], await r.zrange(keys.queue(name), 0, -1))
            declared = script_keys.queue(name)
            for task_id in waiting:
                declared |= script_keys.task(task_id)
            return declared

        await scripts.run_planned(r, "queue_owners", plan, name)
        counted += 1
    return counted
