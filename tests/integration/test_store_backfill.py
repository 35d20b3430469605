"""A store written by 0.1 (no listing indexes) is indexed at server start, once."""

import pytest
import redis.asyncio as aioredis

from runyard.models import MetricBatch, MetricPoint, SortOrder
from runyard_server import store
from runyard_server.store import keys, listing
from runyard_server.store.backfill import backfill_indexes
from runyard_server.store.short_ids import resolve_task_id
from tests.faults.consistency import problems
from tests.integration.store_support import T0, StoreRedis, make_task, sync_client

pytestmark = pytest.mark.anyio


async def _as_written_by_0_1(r: aioredis.Redis) -> None:
    """Drop every key 0.1 did not keep (the scripts of 0.2 wrote them as they went)."""
    gone = [keys.TASK_IDS, keys.STARTED_INDEX, keys.FINISHED_INDEX, keys.NAME_INDEX]
    gone += [keys.METRIC_SERIES, *[k async for k in r.scan_iter(f"{keys.NAMES_PREFIX}*")]]
    for pattern in keys.metric_indexes("*"):
        gone += [k async for k in r.scan_iter(pattern)]
    await r.delete(*gone)


async def test_a_0_1_store_is_indexed_once_and_sorts_searches_and_resolves_prefixes(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    tasks = [await make_task(r, name=f"Run {i}", now=T0 + i) for i in range(7)]
    for i, task in enumerate(tasks[:4]):
        point = MetricPoint(series="val/acc", step=0, value=i / 10, ts=T0)
        await store.append_metrics(r, task.id, MetricBatch(points=[point]))
        await store.abort(r, task.id, T0 + 100 + i)
    before = await listing.list_tasks(r, sort="metric:val/acc", order=SortOrder.DESC, limit=10)
    await _as_written_by_0_1(r)

    assert await backfill_indexes(r) == 7
    assert await backfill_indexes(r) == 0  # a second start finds nothing to do

    after = await listing.list_tasks(r, sort="metric:val/acc", order=SortOrder.DESC, limit=10)
    assert [t.id for t in after.items] == [t.id for t in before.items]
    assert [t.id for t in after.items][:4] == [t.id for t in reversed(tasks[:4])]
    finished = await listing.list_tasks(r, sort="finished", order=SortOrder.ASC, limit=10)
    assert [t.id for t in finished.items][:4] == [t.id for t in tasks[:4]]
    found = await listing.list_tasks(r, q="RUN 6", limit=10)
    assert [t.id for t in found.items] == [tasks[6].id]
    assert await resolve_task_id(r, tasks[2].id[:8]) == tasks[2].id
    with sync_client(store_redis) as sync:
        assert problems(sync, overdue_after_s=None) == []
