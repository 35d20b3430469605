"""Claim: exactly once under concurrency, priority then FIFO, resource matching."""

import asyncio

import pytest
import redis.asyncio as aioredis

from runyard.models import Resources
from runyard_server import store
from runyard_server.errors import NotFound
from runyard_server.store import keys
from runyard_server.store.claim import FIRST_LOOK
from tests.integration.store_support import (
    PLENTY,
    T0,
    StoreRedis,
    client,
    make_task,
    make_worker,
)

pytestmark = pytest.mark.anyio


async def _claim_all(target: StoreRedis, worker_id: str) -> list[str]:
    claimer = client(target)
    claimed = []
    try:
        while (found := await store.claim(claimer, worker_id, ["q"], PLENTY, 15, T0)) is not None:
            assert found.task is not None
            claimed.append(found.task.id)
    finally:
        await claimer.aclose()
    return claimed


async def test_each_task_is_claimed_exactly_once_by_concurrent_claimers(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    ids = {(await make_task(r, name=f"t{i}", queue="q")).id for i in range(2000)}
    workers = [await make_worker(r, name=f"w{i}") for i in range(8)]

    results = await asyncio.gather(*(_claim_all(store_redis, w.id) for w in workers))

    claimed = [task_id for per_worker in results for task_id in per_worker]
    assert len(claimed) == len(set(claimed)) == 2000
    assert set(claimed) == ids
    assert sum(1 for per_worker in results if per_worker) > 1
    assert await r.zcard(keys.queue("q")) == 0
    assert await r.zcard(keys.status_index("running")) == 2000
    assert await r.zcard(keys.LEASES) == 2000


async def test_claim_takes_higher_priority_first_then_first_in_first_out(
    r: aioredis.Redis,
) -> None:
    low1 = await make_task(r, name="low1", queue="q", priority=0)
    high = await make_task(r, name="high", queue="q", priority=5)
    low2 = await make_task(r, name="low2", queue="q", priority=0)
    negative = await make_task(r, name="neg", queue="q", priority=-3)
    high2 = await make_task(r, name="high2", queue="q", priority=5)
    worker = await make_worker(r)

    order = []
    while (found := await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)) is not None:
        assert found.task is not None
        order.append(found.task.id)

    assert order == [high.id, high2.id, low1.id, low2.id, negative.id]


async def test_claim_scans_queues_in_the_agents_order(r: aioredis.Redis) -> None:
    in_b = await make_task(r, name="b", queue="b", priority=100)
    in_a = await make_task(r, name="a", queue="a")
    worker = await make_worker(r, queues=("a", "b"))

    first = await store.claim(r, worker.id, ["a", "b"], PLENTY, 15, T0)
    second = await store.claim(r, worker.id, ["a", "b"], PLENTY, 15, T0)

    assert first is not None and first.task is not None and first.task.id == in_a.id
    assert second is not None and second.task is not None and second.task.id == in_b.id


async def test_task_needing_more_gpus_than_free_is_skipped_without_blocking_the_next(
    r: aioredis.Redis,
) -> None:
    big = await make_task(r, name="big", queue="q", resources=Resources(gpus=2))
    small = await make_task(r, name="small", queue="q", resources=Resources(gpus=0))
    worker = await make_worker(r)
    one_gpu = Resources(gpus=1, cpus=8, memory_gb=32)

    found = await store.claim(r, worker.id, ["q"], one_gpu, 15, T0)
    nothing = await store.claim(r, worker.id, ["q"], one_gpu, 15, T0)

    assert found is not None and found.task is not None and found.task.id == small.id
    assert nothing is None
    assert (await store.get_task(r, big.id)).status == "queued"
    assert await r.zrange(keys.queue("q"), 0, -1) == [big.id]


async def test_cpu_and_memory_needs_are_matched_too(r: aioredis.Redis) -> None:
    await make_task(r, name="cpu", queue="q", resources=Resources(cpus=16))
    await make_task(r, name="mem", queue="q", resources=Resources(memory_gb=64))
    worker = await make_worker(r)

    assert await store.claim(r, worker.id, ["q"], Resources(cpus=8, memory_gb=128), 15, T0)
    assert not await store.claim(r, worker.id, ["q"], Resources(cpus=8, memory_gb=128), 15, T0)


async def test_claim_marks_the_task_running_with_a_lease_and_a_fresh_token(
    r: aioredis.Redis,
) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)

    found = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)

    assert found is not None and found.task is not None and found.lease_token
    assert found.task.status == "running"
    assert found.task.worker == worker.id
    assert found.task.attempt == 1
    assert await r.zscore(keys.LEASES, task.id) == T0 + 15
    assert await r.smembers(keys.worker_running(worker.id)) == {task.id}
    listed = await store.list_workers(r, T0, 90)
    assert listed[0].running == [task.id]


async def test_claim_scan_is_bounded_per_queue(r: aioredis.Redis) -> None:
    for i in range(5):
        await make_task(r, name=f"big{i}", queue="q", resources=Resources(gpus=4))
    small = await make_task(r, name="small", queue="q")
    worker = await make_worker(r)

    blocked = await store.claim(r, worker.id, ["q"], Resources(), 15, T0, scan_per_queue=5)
    found = await store.claim(r, worker.id, ["q"], Resources(), 15, T0, scan_per_queue=6)

    assert blocked is None
    assert found is not None and found.task is not None and found.task.id == small.id


async def test_a_fitting_task_behind_more_than_the_first_look_is_claimed(
    r: aioredis.Redis,
) -> None:
    """The claim first gives its script the keys of FIRST_LOOK tasks per queue; one
    that walks past them is planned again with ``scan_per_queue``."""
    for i in range(FIRST_LOOK + 4):
        await make_task(r, name=f"big{i}", queue="q", resources=Resources(gpus=4))
    small = await make_task(r, name="small", queue="q")
    worker = await make_worker(r)

    found = await store.claim(r, worker.id, ["q"], Resources(), 15, T0)

    assert found is not None and found.task is not None and found.task.id == small.id


async def test_claim_by_an_unknown_worker_is_not_found(r: aioredis.Redis) -> None:
    await make_task(r, queue="q")

    with pytest.raises(NotFound, match="not registered"):
        await store.claim(r, "nobody", ["q"], PLENTY, 15, T0)
    assert await r.zcard(keys.queue("q")) == 1


async def test_claim_from_an_empty_or_unknown_queue_returns_none(r: aioredis.Redis) -> None:
    worker = await make_worker(r)

    assert await store.claim(r, worker.id, ["q", "missing"], PLENTY, 15, T0) is None
