"""list_tasks sorted across pages, with a name search: checked against a model in Python.

The paging tests run once per plan the script can take (see ``plan``): every plan
must give the same pages.
"""

import itertools
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from runyard.models import MetricBatch, MetricPoint, SortOrder, TaskCreate, TaskStatus, TaskUpdate
from runyard_server import store
from runyard_server.errors import Invalid
from runyard_server.store import keys, listing, scripts
from runyard_server.store.tasks import queue_create
from tests.faults.consistency import problems
from tests.integration.store_support import T0, StoreRedis, make_task, sync_client

pytestmark = pytest.mark.anyio

SORTS = [
    "created",
    "started",
    "finished",
    "name",
    "metric:val/acc",
    "metric_min:val/acc",
    "metric_max:val/acc",
]


@pytest.fixture
def checked(store_redis: StoreRedis) -> Iterator[None]:
    """The test ends with the store's indexes whole (the consistency checker)."""
    yield
    with sync_client(store_redis) as sync:
        # Leases here run on the tests' clock (T0, 2023), not Redis's: no reaper to judge.
        assert problems(sync, overdue_after_s=None) == []


@pytest.fixture(params=["gather", "walk", "walk-then-gather", "walk-past-budget"])
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The script's ways to a page: gather a small source at once, walk the sort index,
    start walking and gather the candidates when the walk finds too little, or walk on
    past the budget when the candidates are too many to gather."""
    if request.param != "gather":
        monkeypatch.setattr(listing, "GATHER", 0)
    if request.param.startswith("walk-"):
        monkeypatch.setattr(listing, "WALK_BUDGET", 2)
        monkeypatch.setattr(listing, "WALK_BUDGET_SETS", 2)
    if request.param == "walk-past-budget":
        monkeypatch.setattr(listing, "GATHER_AFTER_WALK", 0)
    return str(request.param)


@dataclass
class Row:
    """What the model knows of one task."""

    id: str
    num: int
    name: str
    project: str
    tags: list[str]
    started: float | None = None
    finished: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    lowest: dict[str, float] = field(default_factory=dict)
    highest: dict[str, float] = field(default_factory=dict)


def sort_value(row: Row, sort: str) -> object:
    if sort == "created":
        return row.num
    if sort == "name":
        return row.name.encode().lower().replace(b"\0", b"\1") + b"\0" + row.id.encode()
    kind, _, series = sort.partition(":")
    if kind in ("metric", "metric_min", "metric_max"):
        values = {"metric": row.metrics, "metric_min": row.lowest, "metric_max": row.highest}
        return values[kind].get(series)
    return getattr(row, sort)


def expected(rows: list[Row], sort: str, desc: bool, keep: object = None) -> list[str]:
    """Rows with a value by (value, id), reversed when descending; then the rest, newest first."""
    chosen = [row for row in rows if keep is None or keep(row)]  # type: ignore[operator]
    valued = sorted(
        (row for row in chosen if sort_value(row, sort) is not None),
        key=lambda row: (sort_value(row, sort), row.id),
        reverse=desc,
    )
    missing = [row for row in chosen if sort_value(row, sort) is None]
    missing.sort(key=lambda row: -row.num)
    return [row.id for row in valued + missing]


async def walk(r: aioredis.Redis, limit: int, **query: object) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(1000):
        page = await store.list_tasks(r, limit=limit, cursor=cursor, **query)  # type: ignore[arg-type]
        seen += [task.id for task in page.items]
        if (cursor := page.next_cursor) is None:
            return seen
    raise AssertionError("paging did not end")


async def remove(r: aioredis.Redis, task_id: str) -> None:
    """Delete a task, stopping it first when it runs."""
    if (await store.get_task(r, task_id)).status == TaskStatus.RUNNING:
        await store.abort(r, task_id, T0 + 900)
    await store.delete_task(r, task_id)


async def log_metric(r: aioredis.Redis, task_id: str, series: str, value: float) -> None:
    point = MetricPoint(series=series, value=value, step=0, ts=T0)
    await store.append_metrics(r, task_id, MetricBatch(points=[point]))


NAMES = ["ResNet-50", "resnet-18", "ViT-B/16", "Straße", "bert", "BERT", "vit x", "zeta", "äpfel"]


async def history(r: aioredis.Redis, n: int = 36) -> list[Row]:
    """``n`` tasks: names with case and accents, two projects, some started, finished,
    with ties and gaps in ``val/acc``; a few deleted again."""
    rows: list[Row] = []
    for i in range(n):
        name = f"{NAMES[i % len(NAMES)]}-{i // len(NAMES)}"
        project = "p" if i % 3 else "q"
        tags = ["even"] if i % 2 == 0 else []
        task = await make_task(r, T0 + i, name=name, project=project, tags=tags)
        row = Row(task.id, i, name, project, tags)
        if i % 4 != 3:  # a local run: started now, finished a little later
            token = secrets.token_hex(16)
            row.started = T0 + 100 + (i * 7) % 13  # repeats: ties on started
            await store.start_local_run(r, task.id, token, 60, row.started)
            if i % 5 != 4:
                row.finished = T0 + 200 + i
                done = TaskStatus.COMPLETED
                await store.report_end(r, task.id, token, done, 0, None, row.finished)
        elif i % 8 == 7:
            row.finished = T0 + 300 + i
            await store.abort(r, task.id, row.finished)
        if i % 6 != 5:
            value = [0.5, 0.25, 0.75, 0.5, -1.0][i % 5]  # ties on 0.5
            await log_metric(r, task.id, "val/acc", 0.0)
            await log_metric(r, task.id, "val/acc", value)  # the last value counts
            row.metrics["val/acc"] = value
            row.lowest["val/acc"], row.highest["val/acc"] = min(0.0, value), max(0.0, value)
        rows.append(row)
    for gone in [rows[i] for i in (3, 8, 30) if i < n]:
        await store.delete_task(r, gone.id)
        rows.remove(gone)
    return rows


QUERIES: list[tuple[dict[str, object], object]] = [
    ({}, None),
    ({"project": "p"}, lambda row: row.project == "p"),
    ({"q": "RES"}, lambda row: "res" in row.name.casefold()),
    ({"q": "STRASSE"}, lambda row: "strasse" in row.name.casefold()),
    (
        {"project": "p", "tag": "even", "q": "e"},
        lambda row: row.project == "p" and "even" in row.tags and "e" in row.name.casefold(),
    ),
]


async def test_every_sort_pages_through_all_matches_in_order(
    r: aioredis.Redis, plan: str, checked: None
) -> None:
    rows = await history(r)

    for sort, order, (query, keep), limit in itertools.product(
        SORTS, SortOrder, QUERIES, (1, 4, 50)
    ):
        desc = order == SortOrder.DESC
        got = await walk(r, limit, sort=sort, order=order, **query)
        assert got == expected(rows, sort, desc, keep), (plan, sort, order, query, limit)


async def test_default_order_is_newest_first_and_names_a_to_z(r: aioredis.Redis) -> None:
    rows = await history(r, 12)

    assert await walk(r, 5) == expected(rows, "created", True)
    assert await walk(r, 5, sort="name") == expected(rows, "name", False)
    assert await walk(r, 5, sort="finished") == expected(rows, "finished", True)


async def test_a_page_resumes_after_its_last_row_whatever_changed_between(
    r: aioredis.Redis, plan: str, checked: None
) -> None:
    rows = await history(r)
    before = expected(rows, "metric:val/acc", True)
    first = await store.list_tasks(r, sort="metric:val/acc", limit=5)
    assert [task.id for task in first.items] == before[:5]

    # The cursor's own row (inside the tie on 0.5) is deleted, an earlier row too, and a
    # new task sorts before the cursor: the next pages neither repeat nor skip.
    await remove(r, before[4])
    await remove(r, before[0])
    newcomer = await make_task(r, T0 + 999, name="newcomer")
    await log_metric(r, newcomer.id, "val/acc", 0.99)
    rest: list[str] = []
    cursor = first.next_cursor
    while cursor is not None:
        page = await store.list_tasks(r, sort="metric:val/acc", limit=3, cursor=cursor)
        rest += [task.id for task in page.items]
        cursor = page.next_cursor

    assert rest == before[5:]


async def test_a_renamed_draft_is_found_and_sorted_by_its_new_name(
    r: aioredis.Redis, checked: None
) -> None:
    draft = await make_task(r, name="old-name")
    await make_task(r, name="middle")

    await store.update_task(r, draft.id, TaskUpdate(name="Zz-new"))

    assert await walk(r, 10, q="old") == []
    assert await walk(r, 10, q="z-NEW") == [draft.id]
    assert (await walk(r, 10, sort="name"))[-1] == draft.id


async def test_search_matches_names_only_never_ids(r: aioredis.Redis) -> None:
    task = await make_task(r, name="plain")
    other = await make_task(r, name="other")

    assert await walk(r, 10, q=task.id[3:9]) == []
    assert await walk(r, 10, q=other.id) == []
    assert await walk(r, 10, q="LAIN") == [task.id]


async def test_deleted_tasks_leave_every_index(r: aioredis.Redis, checked: None) -> None:
    rows = await history(r)
    for row in rows:
        await remove(r, row.id)

    for sort in SORTS:
        assert await walk(r, 7, sort=sort) == []
    assert await walk(r, 7, q="e") == []
    assert await r.zcard(keys.NAME_INDEX) == 0
    assert await r.zcard(keys.STARTED_INDEX) == await r.zcard(keys.FINISHED_INDEX) == 0
    for index in keys.metric_indexes("val/acc"):
        assert await r.zcard(index) == 0
    assert await r.exists(f"{keys.NAMES_PREFIX}0") == 0


async def test_metric_sort_survives_the_series_leaving_redis(r: aioredis.Redis) -> None:
    rows = await history(r, 12)

    # What the history archiver does to a final task: its series move out of Redis.
    for row in rows:
        await r.delete(keys.task_metrics(row.id), keys.task_final_metrics(row.id))

    assert await walk(r, 5, sort="metric:val/acc") == expected(rows, "metric:val/acc", True)


async def test_sorts_and_cursors_that_do_not_fit_are_invalid(r: aioredis.Redis) -> None:
    for i in range(3):
        await make_task(r, name=f"t{i}")
    by_name = await store.list_tasks(r, sort="name", limit=1)
    assert by_name.next_cursor is not None

    with pytest.raises(Invalid, match="another sort"):
        await store.list_tasks(r, sort="created", cursor=by_name.next_cursor)
    with pytest.raises(Invalid, match="another sort"):
        await store.list_tasks(r, sort="name", order=SortOrder.DESC, cursor=by_name.next_cursor)
    with pytest.raises(Invalid, match="use one of"):
        await store.list_tasks(r, sort="size")
    with pytest.raises(Invalid, match="metric series"):
        await store.list_tasks(r, sort="metric: bad name")
    for forged in ("W10", "WyJjcmVhdGVkIix0cnVlLCJiIiwiMSIsInh4Il0", "%%%"):
        with pytest.raises(Invalid, match="not one this server gave out"):
            await store.list_tasks(r, cursor=forged)


async def test_search_spans_every_names_string(r: aioredis.Redis, checked: None) -> None:
    """Past ``NAMES_PER_KEY`` tasks the search copy of the names goes on in a new string;
    deleting and renaming edit the right one."""
    count = keys.NAMES_PER_KEY + 50
    create = await scripts.load(r, "create")
    async with r.pipeline(transaction=False) as pipe:
        for i in range(count):
            body = TaskCreate(name=f"Run-{i:05d}-x")
            queue_create(pipe, create, uuid.uuid4().hex, body, T0, i + 1)
        await pipe.execute()
    first, last = await walk(r, 1, q="run-00001-"), await walk(r, 1, q=f"RUN-{count - 1:05d}")
    assert len(first) == 1 and len(last) == 1

    await store.delete_task(r, first[0])
    await store.update_task(r, last[0], TaskUpdate(name="renamed"))

    assert await walk(r, 1000, q="run-00001-") == []
    assert await walk(r, 1000, q="renamed") == last
    assert len(await walk(r, 1000, q="-X")) == count - 2
