"""``GET /tasks?sort=param:Section/key``: tasks ordered by a parameter's value.

No index holds parameter values (any key of any section can be asked for), so a
page reads the ``params`` field of every task matching the filters (ZINTER of the
filter indexes, or every task), sorts them here and cuts the page. That is a bounded
scan: at most ``MAX_SCAN`` candidates (about 25 ms per 1,000 tasks of small params),
else a 4xx asks for a filter. Numbers sort before strings, then booleans, then other
JSON; tasks without the parameter come last, newest first, in either order.

The cursor names the last task given and its place; the next page continues after
that task wherever it now sorts (or at the same place if it was deleted).
"""

import base64
import binascii
import json
from typing import Any, cast

import redis.asyncio as aioredis

from runyard.models import PARAM_SORT
from runyard_server.errors import Invalid
from runyard_server.store import keys
from runyard_server.store.names import fold

MAX_SCAN = 20_000
"""The most tasks one page of a parameter sort reads."""


def param_path(field: str) -> list[str]:
    """["Section", "key", ...] of ``param:Section/key``, or Invalid."""
    parts = field.removeprefix(PARAM_SORT).split("/")
    if len(parts) < 2 or not all(parts) or len(field) > 500:
        raise Invalid(f"sort {field!r}: name a parameter as param:Section/key (param:General/lr)")
    return parts


def _lookup(params: Any, path: list[str]) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(params, dict) or part not in params:
            return False, None
        params = params[part]
    return True, params


def _key(value: Any) -> tuple[int, Any]:
    """A sort key that orders values of mixed JSON types without comparing across types."""
    if isinstance(value, bool):
        return 2, value
    if isinstance(value, int | float):
        return 0, value
    if isinstance(value, str):
        return 1, value
    return 3, json.dumps(value, sort_keys=True)


def _encode(field: str, descending: bool, last_id: str, position: int) -> str:
    text = json.dumps([field, descending, last_id, position], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, field: str, descending: bool) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_field, got_desc, last_id, position = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise Invalid(f"cursor {cursor!r} is not one this server gave out") from None
    if (got_field, got_desc) != (field, descending):
        raise Invalid("this cursor belongs to another sort: start again without a cursor")
    if not isinstance(last_id, str) or not isinstance(position, int) or position < 0:
        raise Invalid(f"cursor {cursor!r} is not one this server gave out")
    return last_id, position


async def _candidates(r: "aioredis.Redis", filters: list[str]) -> list[tuple[str, float]]:
    if len(filters) == 1:
        total = await r.zcard(filters[0])
    elif filters:
        rows = cast(list[tuple[str, float]], await r.zinter(filters, withscores=True))
        total = len(rows)
    else:
        total = await r.zcard(keys.ALL_TASKS)
    if total > MAX_SCAN:
        raise Invalid(
            f"a sort by a parameter reads every matching task: {total} match, at most "
            f"{MAX_SCAN}; filter by project, tag, status or queue first"
        )
    if len(filters) > 1:
        return rows
    source = filters[0] if filters else keys.ALL_TASKS
    return cast(list[tuple[str, float]], await r.zrange(source, 0, -1, withscores=True))


async def page_by_param(
    r: "aioredis.Redis",
    field: str,
    descending: bool,
    filters: list[str],
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[str], str | None]:
    """The ids of one page sorted by the parameter ``field`` names, and the next cursor."""
    path = param_path(field)
    candidates = await _candidates(r, filters)
    async with r.pipeline(transaction=False) as pipe:
        for task_id, _ in candidates:
            pipe.hmget(keys.task(task_id), "params", "name")
        rows = await pipe.execute()
    legacy = [i for i, row in enumerate(rows) if row[0] is None and row[1] is not None]
    if legacy:  # stored before params had their own field: read them from the spec
        async with r.pipeline(transaction=False) as pipe:
            for i in legacy:
                pipe.hget(keys.task(candidates[i][0]), "spec")
            for i, spec in zip(legacy, await pipe.execute(), strict=True):
                rows[i] = [json.dumps(json.loads(spec or "{}").get("params", {})), rows[i][1]]
    needle = fold(q) if q else None
    present: list[tuple[tuple[int, Any], float, str]] = []
    missing: list[tuple[float, str]] = []
    for (task_id, num), (params, name) in zip(candidates, rows, strict=True):
        if name is None or (needle is not None and needle not in fold(name)):
            continue  # deleted since the index was read, or not a search match
        found, value = _lookup(json.loads(params or "{}"), path)
        if found:
            present.append((_key(value), num, task_id))
        else:
            missing.append((num, task_id))
    # Newest first among equal values, in either order (a stable sort keeps it).
    present.sort(key=lambda row: -row[1])
    present.sort(key=lambda row: row[0], reverse=descending)
    missing.sort(reverse=True)
    ordered = [task_id for _, _, task_id in present] + [task_id for _, task_id in missing]
    start = 0
    if cursor is not None:
        last_id, position = _decode(cursor, field, descending)
        start = ordered.index(last_id) + 1 if last_id in ordered else position
    ids = ordered[start : start + limit]
    more = start + limit < len(ordered)
    next_cursor = _encode(field, descending, ids[-1], start + len(ids)) if more and ids else None
    return ids, next_cursor
