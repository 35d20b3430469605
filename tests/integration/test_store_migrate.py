"""A store written before the {ry} hash tag (keys ``ry:...``) is renamed at start, once.

Plain Redis only: a Redis Cluster never held such a store (its scripts could not run).
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from runyard.models import MetricBatch, MetricPoint
from runyard_server import store
from runyard_server.store import keys
from runyard_server.store.migrate import rename_untagged_keys
from tests.faults.consistency import problems
from tests.integration.store_support import (
    PLENTY,
    T0,
    StoreRedis,
    client,
    make_task,
    make_worker,
    sync_client,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def plain(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis_client = client(redis_url)
    yield redis_client
    await redis_client.aclose()


async def _a_store(r: aioredis.Redis) -> list[str]:
    """Tasks in every state the keys know (queued, running with a lease, archived
    metrics, events with a consumer group); their ids."""
    worker = await make_worker(r)
    done = await make_task(r, name="done", queue="q", tags=["a"])
    claimed = await store.claim(r, worker.id, ["q"], PLENTY, 30, T0)
    assert claimed is not None
    point = MetricPoint(series="val/acc", step=0, value=0.5, ts=T0)
    await store.append_metrics(r, done.id, MetricBatch(points=[point]))
    waiting = await make_task(r, name="waiting", queue="q", project="p")
    await r.xgroup_create(keys.EVENTS, "archiver", id="0")
    return [done.id, waiting.id]


async def _untag(r: aioredis.Redis, share: float = 1.0) -> int:
    """Rename ``share`` of the keys to the names they had before the tag."""
    tagged = sorted([key async for key in r.scan_iter(match=f"{keys.PREFIX}*")])
    chosen = tagged[: int(len(tagged) * share)]
    for key in chosen:
        await r.rename(key, keys.OLD_PREFIX + key.removeprefix(keys.PREFIX))
    return len(tagged)


async def test_an_untagged_store_is_renamed_once_and_reads_as_before(
    plain: aioredis.Redis, redis_url: str
) -> None:
    ids = await _a_store(plain)
    before = [t.id for t in (await store.list_tasks(plain)).items]
    total = await _untag(plain)
    assert await plain.exists(keys.TASK_SEQ) == 0

    assert await rename_untagged_keys(plain) == total
    assert await rename_untagged_keys(plain) == 0  # the next start finds nothing

    assert [t.id for t in (await store.list_tasks(plain)).items] == before
    assert (await store.get_task(plain, ids[1])).queue == "q"
    assert [g["name"] for g in await plain.xinfo_groups(keys.EVENTS)] == ["archiver"]
    assert [key async for key in plain.scan_iter(match=f"{keys.OLD_PREFIX}*")] == []
    with sync_client(StoreRedis(redis_url, cluster=False)) as sync:
        assert problems(sync, overdue_after_s=None) == []


async def test_a_migration_cut_short_is_finished_by_the_next_start(
    plain: aioredis.Redis,
) -> None:
    await _a_store(plain)
    total = await _untag(plain)
    await rename_untagged_keys(plain)
    await _untag(plain, share=0.5)  # as if the first start had renamed only half

    assert await rename_untagged_keys(plain) == total // 2
    assert [key async for key in plain.scan_iter(match=f"{keys.OLD_PREFIX}*")] == []


async def test_servers_starting_together_rename_each_key_once(
    plain: aioredis.Redis, redis_url: str
) -> None:
    await _a_store(plain)
    total = await _untag(plain)
    others = [client(redis_url) for _ in range(3)]
    try:
        counts = await asyncio.gather(*(rename_untagged_keys(r) for r in others))
    finally:
        for other in others:
            await other.aclose()

    assert sum(counts) == total
    assert [key async for key in plain.scan_iter(match=f"{keys.OLD_PREFIX}*")] == []


async def test_a_key_under_both_names_is_kept_under_both(plain: aioredis.Redis) -> None:
    await plain.set(keys.OLD_PREFIX + "stats-copy", "old")
    await plain.set(keys.PREFIX + "stats-copy", "new")

    assert await rename_untagged_keys(plain) == 0
    assert await plain.get(keys.OLD_PREFIX + "stats-copy") == "old"
    assert await plain.get(keys.PREFIX + "stats-copy") == "new"
