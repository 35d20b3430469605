"""``list_tasks``: newest first through the ``ry:idx:*`` sorted sets.

The smallest index among the filters drives the walk (newest first, by ``num``);
each candidate is checked against the other filters with ZSCORE and, for ``q``,
its name. A call looks at no more than ``SCAN_BUDGET`` candidates, so a filter
that matches little among 100,000 tasks may give a short page with a cursor.
"""

from typing import cast

import redis.asyncio as aioredis

from runyard.models import Task, TaskPage
from runyard_server.errors import Invalid
from runyard_server.store import keys
from runyard_server.store.records import task_from_hash

CHUNK = 500
SCAN_BUDGET = 20_000


def _filter_keys(
    project: str | None,
    status: str | None,
    queue: str | None,
    tag: str | None,
    parent: str | None,
) -> list[str]:
    wanted = [
        (project, keys.project_index),
        (status, keys.status_index),
        (queue, keys.queue_index),
        (tag, keys.tag_index),
        (parent, keys.parent_index),
    ]
    return [index(str(value)) for value, index in wanted if value is not None]


def _upper_bound(cursor: str | None) -> str:
    if cursor is None:
        return "+inf"
    # isascii: str.isdigit() also accepts digits like '²' that Redis cannot parse.
    if not (cursor.isascii() and cursor.isdigit()):
        raise Invalid(f"cursor {cursor!r} is not one this server gave out")
    return f"({cursor}"


async def _matches(
    r: "aioredis.Redis", ids: list[str], others: list[str], q: str | None
) -> list[bool]:
    async with r.pipeline(transaction=False) as pipe:
        for task_id in ids:
            for other in others:
                pipe.zscore(other, task_id)
            if q is not None:
                pipe.hget(keys.task(task_id), "name")
        replies = await pipe.execute()
    per_task = len(others) + (q is not None)
    result = []
    for i in range(len(ids)):
        row = replies[i * per_task : (i + 1) * per_task]
        ok = all(score is not None for score in row[: len(others)])
        if q is not None:
            ok = ok and row[-1] is not None and q.lower() in row[-1].lower()
        result.append(ok)
    return result


async def list_tasks(
    r: "aioredis.Redis",
    *,
    project: str | None = None,
    status: str | None = None,
    queue: str | None = None,
    tag: str | None = None,
    parent: str | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TaskPage:
    """Tasks matching every filter given, newest first; ``q`` is a name substring
    (case-insensitive). Pass ``next_cursor`` back as ``cursor`` for the next page."""
    filters = _filter_keys(project, status, queue, tag, parent) or [keys.ALL_TASKS]
    sizes = [await r.zcard(key) for key in filters]
    driver = filters[sizes.index(min(sizes))]
    others = [key for key in filters if key != driver]
    upper = _upper_bound(cursor)
    found: list[tuple[str, int]] = []
    examined = 0
    last = 0.0
    while len(found) <= limit:
        if examined >= SCAN_BUDGET:
            return await _page(r, found, str(int(last)))
        chunk = cast(
            list[tuple[str, float]],
            await r.zrevrangebyscore(driver, upper, "-inf", start=0, num=CHUNK, withscores=True),
        )
        if not chunk:
            return await _page(r, found, None)
        ids = [task_id for task_id, _ in chunk]
        for (task_id, score), ok in zip(chunk, await _matches(r, ids, others, q), strict=True):
            examined += 1
            last = score
            if ok:
                found.append((task_id, int(score)))
                if len(found) > limit:
                    break
        upper = f"({int(last)}"
    return await _page(r, found[:limit], str(found[limit - 1][1]))


async def _page(r: "aioredis.Redis", found: list[tuple[str, int]], cursor: str | None) -> TaskPage:
    async with r.pipeline(transaction=False) as pipe:
        for task_id, _ in found:
            pipe.hgetall(keys.task(task_id))
        hashes = await pipe.execute()
    items: list[Task] = [
        task_from_hash(task_id, h) for (task_id, _), h in zip(found, hashes, strict=True) if h
    ]
    return TaskPage(items=items, next_cursor=cursor)
