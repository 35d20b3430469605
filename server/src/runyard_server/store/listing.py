"""``list_tasks``: filters, a name search and a sort over every task, cursor-paged.

One Lua script (``scripts/list.lua``) plans and runs each page inside Redis:

- A name search scans ``ry:names:{n}``, a few strings of ``{folded name}\\t{id}``
  records, with a plain substring find (≈1-10 ms for 100,000 names, instead of
  reading 20,000 name hashes from Python per request).
- The sort index is walked in order from the cursor; each row is kept when it is in
  every filter index (ZSCORE) and among the search's matches. Dense filters fill a
  page after a few rows.
- A sparse source (a filter or the matches, at most ``GATHER`` tasks) is gathered
  instead: its rows are ordered by their rank in the sort index and the page is cut.
  A walk that finds too little in ``WALK_BUDGET(_SETS)`` rows (filters that rarely meet,
  or tasks mostly missing the sort value) gathers too: for a sort by a time, a
  metric or creation Redis intersects the sort index with the filters itself
  (ZINTER, and ZDIFF for the tasks without the value), already in order; for a sort
  by name the candidates are gathered when they are at most ``GATHER_AFTER_WALK``,
  else the walk goes on.

Sort indexes: creation is the ``num`` score every filter index has; ``started``,
``finished`` and each metric series have their own sorted sets; ``name`` is a
lexicographic set (see ``keys``). Tasks without the sort value (not started, without
the metric) come after the others, newest first, in either order.

A cursor names the last row given (its sort value and id), not a position, so a
task created, deleted or moved between two pages never makes a later page repeat or
skip another task.
"""

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from runyard.models import (
    METRIC_MAX_SORT,
    METRIC_MIN_SORT,
    METRIC_SORT,
    PARAM_SORT,
    SORT_FIELDS,
    SortOrder,
    Task,
    TaskPage,
    TaskSummary,
    TaskSummaryPage,
    is_valid_series,
    is_valid_task_id,
)
from runyard_server.errors import Conflict, Invalid
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.names import fold
from runyard_server.store.param_sort import page_by_param
from runyard_server.store.records import task_from_hash

GATHER = 500
"""A source of at most this many candidates is gathered and sorted at once."""

WALK_BUDGET = 5_000
"""Rows a walk of the name index looks at before it may gather the candidates instead."""

WALK_BUDGET_SETS = 1_000
"""The same for the other sorts, whose gathering Redis does in C (ZINTER, ZDIFF)."""

GATHER_AFTER_WALK = 10_000
"""The most candidates gathered after a walk's budget; with more, the walk goes on."""


@dataclass(frozen=True)
class Sort:
    """How a page is ordered: the script's sort kind and index, and the direction."""

    field: str
    kind: str
    index: str
    descending: bool

    @property
    def phases(self) -> tuple[str, ...]:
        """The cursor phases of this sort: 'b' is the tail of tasks without a value."""
        return ("a", "b") if self.kind == "score" else ("a",)


_INDEXES = {
    "created": ("num", keys.ALL_TASKS),
    "started": ("score", keys.STARTED_INDEX),
    "finished": ("score", keys.FINISHED_INDEX),
    "name": ("lex", keys.NAME_INDEX),
}


_METRIC_INDEXES = {
    METRIC_SORT: keys.metric_index,
    METRIC_MIN_SORT: keys.metric_min_index,
    METRIC_MAX_SORT: keys.metric_max_index,
}
"""Each metric sort's prefix and the index of its value (last, smallest, largest)."""

COLUMN_INDEXES = {
    "metrics": keys.metric_index,
    "metrics_min": keys.metric_min_index,
    "metrics_max": keys.metric_max_index,
}
"""The summary's metric fields (``TaskSummary``) and the index each one's values are in."""


def _metric_sort(field: str) -> str | None:
    """The index a metric sort ``field`` walks, None when it is no metric sort."""
    for prefix, index in _METRIC_INDEXES.items():
        if field.startswith(prefix):
            series = field.removeprefix(prefix)
            if not is_valid_series(series):
                raise Invalid(f"sort {field!r}: {series!r} is not a metric series name")
            return index(series)
    return None


def parse_sort(field: str, order: SortOrder | None) -> Sort:
    """The Sort for ``GET /tasks?sort=field&order=order``, or Invalid naming the problem."""
    metric = _metric_sort(field)
    if metric is not None:
        kind, index = "score", metric
    elif field in _INDEXES:
        kind, index = _INDEXES[field]
    else:
        choices = ", ".join(SORT_FIELDS)
        raise Invalid(
            f"sort {field!r}: use one of {choices}, metric:SERIES (metric:val/acc; its "
            "last value), metric_min:SERIES, metric_max:SERIES (its smallest, largest) "
            "or param:Section/key (param:General/lr)"
        )
    if order is None:
        order = SortOrder.ASC if field == "name" else SortOrder.DESC
    return Sort(field, kind, index, order == SortOrder.DESC)


def _encode(sort: Sort, row: list[str]) -> str:
    text = json.dumps([sort.field, sort.descending, *row], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str | None, sort: Sort) -> tuple[str, str, str]:
    """(phase, value, id) of a cursor this server gave out for the same sort."""
    if cursor is None:
        return "", "", ""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        field, descending, phase, value, task_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise Invalid(f"cursor {cursor!r} is not one this server gave out") from None
    if (field, descending) != (sort.field, sort.descending):
        raise Invalid("this cursor belongs to another sort: start again without a cursor")
    if not (phase in sort.phases and _valid_value(sort, phase, value) and _valid_id(task_id)):
        raise Invalid(f"cursor {cursor!r} is not one this server gave out")
    return phase, value, task_id


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and is_valid_task_id(value)


def _valid_value(sort: Sort, phase: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if sort.kind == "lex" and phase == "a":
        return True
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _filter_keys(
    project: str | None,
    status: str | None,
    queue: str | None,
    tag: str | None,
    parent: str | None,
    owner: str | None,
) -> list[str]:
    wanted = [
        (project, keys.project_index),
        (status, keys.status_index),
        (queue, keys.queue_index),
        (tag, keys.tag_index),
        (parent, keys.parent_index),
        (owner, keys.owner_index),
    ]
    return [index(str(value)) for value, index in wanted if value is not None]


async def list_tasks(
    r: "aioredis.Redis",
    *,
    project: str | None = None,
    status: str | None = None,
    queue: str | None = None,
    tag: str | None = None,
    parent: str | None = None,
    owner: str | None = None,
    q: str | None = None,
    sort: str = "created",
    order: SortOrder | None = None,
    limit: int = 50,
    cursor: str | None = None,
    summary: bool = False,
    metrics: dict[str, tuple[str, ...]] | None = None,
) -> TaskPage | TaskSummaryPage:
    """Tasks matching every filter given, in ``sort`` order (newest first by default);
    ``q`` is a name substring (case-insensitive). ``sort`` is created, started,
    finished, name, ``metric:SERIES`` (``metric_min:``, ``metric_max:``) or
    ``param:Section/key`` (a bounded scan, see ``param_sort``). Pass ``next_cursor``
    back as ``cursor``. With ``summary`` the items are summaries carrying, for each
    field of ``metrics`` (a key of ``COLUMN_INDEXES``), the values of its series."""
    metrics = metrics or {}
    for field, names in metrics.items():
        for series in names:
            if not is_valid_series(series):
                raise Invalid(f"{field}: {series!r} is not a metric series name")
    filters = _filter_keys(project, status, queue, tag, parent, owner)
    if sort.startswith(PARAM_SORT):
        descending = order != SortOrder.ASC
        by_param = await page_by_param(r, sort, descending, filters, q, limit, cursor)
        return await _shaped(r, *by_param, None, summary, metrics)
    how = parse_sort(sort, order)
    phase, value, last_id = _decode(cursor, how)
    args = (
        limit,
        how.kind,
        len(filters),
        "1" if how.descending else "0",
        phase,
        value,
        last_id,
        fold(q) if q else "",
        WALK_BUDGET if how.kind == "lex" else WALK_BUDGET_SETS,
        GATHER,
        GATHER_AFTER_WALK,
    )
    named: script_keys.Declared = {}

    async def plan() -> script_keys.Declared:
        declared = {**script_keys.SINGLETONS, "sorted": how.index, **named}
        declared |= {f"filter:{i}": key for i, key in enumerate(filters, 1)}
        if q:
            declared |= script_keys.names_upto(int(await r.get(keys.TASK_SEQ) or 0))
        return declared

    for _ in range(scripts.MAX_PLAN_TRIES):
        reply = await scripts.run_planned(r, "list", plan, *args)
        if reply[0] != "tasks":
            break
        # A sort by name gathered candidates: their hashes hold the names it ranks by.
        for task_id in reply[1]:
            named |= script_keys.task(task_id)
    else:
        raise Conflict("the tasks kept changing while a page was gathered; retry")
    ids: list[str] = reply[0]
    row: list[str] = reply[1] if len(reply) > 1 else []
    metric = how.index if _metric_sort(how.field) is not None else None
    return await _shaped(r, ids, _encode(how, row) if row else None, metric, summary, metrics)


async def _shaped(
    r: "aioredis.Redis",
    ids: list[str],
    next_cursor: str | None,
    metric: str | None,
    summary: bool,
    metrics: dict[str, tuple[str, ...]],
) -> TaskPage | TaskSummaryPage:
    """The page of ``ids``: whole tasks, or summaries with their metric columns."""
    items, found = await _page(r, ids, metric)
    if not summary:
        return TaskPage(items=items, next_cursor=next_cursor, metric_values=found)
    columns = await _metric_columns(r, [task.id for task in items], metrics)
    return TaskSummaryPage(
        items=[TaskSummary.of(task, columns.get(task.id)) for task in items],
        next_cursor=next_cursor,
        metric_values=found,
    )


async def _page(
    r: "aioredis.Redis", ids: list[str], metric: str | None
) -> tuple[list[Task], dict[str, float]]:
    """The tasks of ``ids`` still there, and their values in the ``metric`` index."""
    async with r.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hgetall(keys.task(task_id))
        if metric is not None:
            for task_id in ids:
                pipe.zscore(metric, task_id)
        replies = await pipe.execute()
    hashes, values = replies[: len(ids)], replies[len(ids) :]
    # A task deleted since the script ran is left out.
    items: list[Task] = [
        task_from_hash(task_id, h) for task_id, h in zip(ids, hashes, strict=True) if h
    ]
    shown = {task.id for task in items}
    found = {
        task_id: float(value)
        for task_id, value in zip(ids, values, strict=False)
        if value is not None and task_id in shown
    }
    return items, found


async def _metric_columns(
    r: "aioredis.Redis", ids: list[str], metrics: dict[str, tuple[str, ...]]
) -> dict[str, dict[str, dict[str, float]]]:
    """task id → summary field → {series: value} for the series each task has, one
    ZSCORE each."""
    wanted = [
        (field, series, COLUMN_INDEXES[field](series))
        for field, names in metrics.items()
        for series in names
    ]
    if not wanted or not ids:
        return {}
    async with r.pipeline(transaction=False) as pipe:
        for _, _, index in wanted:
            for task_id in ids:
                pipe.zscore(index, task_id)
        replies = iter(await pipe.execute())
    columns: dict[str, dict[str, dict[str, float]]] = {}
    for field, series, _ in wanted:
        for task_id in ids:
            value = next(replies)
            if value is not None:
                columns.setdefault(task_id, {}).setdefault(field, {})[series] = float(value)
    return columns
