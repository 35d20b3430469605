"""list_tasks: filters through the sorted-set indexes, newest first, cursor paging."""

import time
import uuid

import pytest
import redis.asyncio as aioredis

from runyard.models import TaskCreate
from runyard_server import store
from runyard_server.errors import Invalid
from runyard_server.store import scripts
from runyard_server.store.tasks import queue_create
from tests.integration.store_support import T0, make_task

pytestmark = pytest.mark.anyio


async def test_list_is_newest_first_and_pages_by_cursor(r: aioredis.Redis) -> None:
    ids = [(await make_task(r, name=f"t{i}")).id for i in range(7)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.list_tasks(r, limit=3, cursor=cursor)
        seen += [t.id for t in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == ids[::-1]
    assert pages == 3


async def test_exact_page_leaves_no_cursor(r: aioredis.Redis) -> None:
    for i in range(3):
        await make_task(r, name=f"t{i}")

    page = await store.list_tasks(r, limit=3)

    assert len(page.items) == 3 and page.next_cursor is None


async def test_filters_combine(r: aioredis.Redis) -> None:
    wanted = await make_task(r, project="p", tags=["best"], name="Resnet-50", queue="gpu")
    await make_task(r, project="p", tags=["best"], name="resnet-18")
    await make_task(r, project="p", name="RESNET-101", queue="gpu")
    await make_task(r, project="other", tags=["best"], name="resnet", queue="gpu")

    page = await store.list_tasks(
        r, project="p", tag="best", status="queued", queue="gpu", q="resnet"
    )

    assert [t.id for t in page.items] == [wanted.id]
    assert len((await store.list_tasks(r, q="RESNET")).items) == 4
    assert len((await store.list_tasks(r, project="p", q="50")).items) == 1
    assert (await store.list_tasks(r, status="running")).items == []


async def test_filtered_pages_cover_every_match_once(r: aioredis.Redis) -> None:
    matching = []
    for i in range(30):
        task = await make_task(r, name=f"t{i}", project="p" if i % 3 == 0 else "other")
        if i % 3 == 0:
            matching.append(task.id)

    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_tasks(r, project="p", q="t", limit=4, cursor=cursor)
        seen += [t.id for t in page.items]
        if (cursor := page.next_cursor) is None:
            break

    assert seen == matching[::-1]


async def test_a_cursor_that_was_not_given_out_is_invalid(r: aioredis.Redis) -> None:
    with pytest.raises(Invalid):
        await store.list_tasks(r, cursor="not-a-cursor")


async def test_listing_stays_fast_behind_many_tasks(r: aioredis.Redis) -> None:
    """A filtered page walks the smallest index, so its cost does not grow with the
    number of tasks (20,000 here keeps the test quick; the work per page is the same)."""
    body = TaskCreate(name="bulk", project="bulk")
    create = await scripts.load(r, "create")
    async with r.pipeline(transaction=False) as pipe:
        for i in range(20_000):
            queue_create(pipe, create, uuid.uuid4().hex, body, T0 + i, i + 1)
            if i % 5000 == 4999:
                await pipe.execute()
        await pipe.execute()
    rare = await make_task(r, name="needle", project="rare", tags=["rare"])

    began = time.perf_counter()
    newest = await store.list_tasks(r, limit=50)
    by_project = await store.list_tasks(r, project="rare")
    by_tag_and_status = await store.list_tasks(r, tag="rare", status="draft")
    deep = await store.list_tasks(r, project="bulk", limit=50, cursor=newest.next_cursor)
    elapsed = time.perf_counter() - began

    assert len(newest.items) == 50 and newest.items[0].id == rare.id
    assert [t.id for t in by_project.items] == [rare.id]
    assert [t.id for t in by_tag_and_status.items] == [rare.id]
    assert len(deep.items) == 50
    assert elapsed < 1.0
