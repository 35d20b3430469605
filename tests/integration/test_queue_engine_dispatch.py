"""Long-poll claims: one pub/sub connection per process wakes every waiter."""

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from runyard.models import Resources
from runyard_server import store
from tests.integration.store_support import PLENTY, T0, client, make_task, make_worker

pytestmark = pytest.mark.anyio


async def _clients(r: aioredis.Redis) -> int:
    listed = await r.client_list()
    return len(listed)


async def test_a_waiter_is_woken_by_an_enqueue_within_milliseconds(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    waiting = asyncio.create_task(dispatcher.wait(["q"], timeout=5))
    await asyncio.sleep(0.05)

    began = time.perf_counter()
    await make_task(r, queue="q")
    woken = await waiting
    elapsed = time.perf_counter() - began

    assert woken
    assert elapsed < 0.05


async def test_a_waiter_is_not_woken_by_work_on_other_queues(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    waiting = asyncio.create_task(dispatcher.wait(["q"], timeout=0.3))
    await asyncio.sleep(0.05)

    await make_task(r, queue="elsewhere")

    assert not await waiting
    assert dispatcher.waiting == 0


async def test_claim_wait_returns_a_task_enqueued_while_it_waits(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    worker = await make_worker(r)
    waiting = asyncio.create_task(
        store.claim_wait(r, dispatcher, worker.id, ["q"], PLENTY, 15, 5.0, lambda: T0)
    )
    await asyncio.sleep(0.05)

    began = time.perf_counter()
    task = await make_task(r, queue="q")
    found = await waiting

    assert found is not None and found.task is not None and found.task.id == task.id
    assert time.perf_counter() - began < 0.1


async def test_claim_wait_gives_up_after_wait_s(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    worker = await make_worker(r)
    await make_task(r, queue="q", resources=Resources(gpus=4))

    began = time.perf_counter()
    found = await store.claim_wait(
        r, dispatcher, worker.id, ["q"], Resources(gpus=1), 15, 0.3, lambda: T0
    )

    assert found is None
    assert 0.25 < time.perf_counter() - began < 1.0
    assert dispatcher.waiting == 0


async def test_two_hundred_waiters_share_one_pubsub_connection(redis_url: str) -> None:
    r = client(redis_url)
    before = await _clients(r)
    dispatcher = store.Dispatcher(r, max_concurrent_claims=8)
    await dispatcher.start()
    workers = [await make_worker(r, name=f"w{i}") for i in range(200)]
    waiters = [
        asyncio.create_task(
            store.claim_wait(r, dispatcher, w.id, ["q"], PLENTY, 15, 10.0, lambda: T0)
        )
        for w in workers
    ]
    try:
        for _ in range(100):
            if dispatcher.waiting == 200:
                break
            await asyncio.sleep(0.05)
        assert dispatcher.waiting == 200
        # Other tests' clients may still be connected: count only what this one added,
        # the subscription plus at most one connection per concurrent claim.
        assert await _clients(r) - before <= 1 + 8
        for i in range(200):
            await make_task(r, name=f"t{i}", queue="q")
        claims = await asyncio.wait_for(asyncio.gather(*waiters), timeout=10)
    finally:
        await dispatcher.stop()
        await r.aclose()

    ids = [c.task.id for c in claims if c is not None and c.task is not None]
    assert len(ids) == len(set(ids)) == 200


async def test_stopping_the_dispatcher_releases_waiters(r: aioredis.Redis) -> None:
    dispatcher = store.Dispatcher(r)
    await dispatcher.start()
    waiting = asyncio.create_task(dispatcher.wait(["q"], timeout=5))
    await asyncio.sleep(0.05)

    await dispatcher.stop()

    assert await asyncio.wait_for(waiting, timeout=1)


async def test_waiters_are_woken_when_the_subscription_drops(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    waiting = asyncio.create_task(dispatcher.wait(["q"], timeout=5))
    await asyncio.sleep(0.05)

    await r.client_kill_filter(_type="pubsub")

    assert await asyncio.wait_for(waiting, timeout=2)
    await asyncio.sleep(0.7)
    again = asyncio.create_task(dispatcher.wait(["q"], timeout=5))
    await asyncio.sleep(0.05)
    await make_task(r, queue="q")
    assert await asyncio.wait_for(again, timeout=2)


async def test_one_new_task_wakes_one_waiter_not_all(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    waiters = [asyncio.create_task(dispatcher.wait(["q"], timeout=1.0)) for _ in range(20)]
    await asyncio.sleep(0.05)

    await make_task(r, queue="q")
    await asyncio.sleep(0.2)

    assert sum(1 for w in waiters if w.done()) == 1
    results = await asyncio.gather(*waiters)
    assert results.count(True) == 1


async def test_a_wake_up_that_does_not_fit_is_passed_to_an_agent_it_fits(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    small = (await make_worker(r, name="small")).id
    big = (await make_worker(r, name="big")).id

    async def claim_for(worker_id: str, gpus: int) -> str | None:
        free = Resources(gpus=gpus, cpus=64, memory_gb=256)
        got = await store.claim_wait(r, dispatcher, worker_id, ["q"], free, 10, 5.0)
        return got.task.id if got is not None and got.task is not None else None

    first_in_line = asyncio.create_task(claim_for(small, 0))
    await asyncio.sleep(0.05)
    second_in_line = asyncio.create_task(claim_for(big, 2))
    await asyncio.sleep(0.05)

    began = time.perf_counter()
    task = await make_task(r, queue="q", resources={"gpus": 2})
    assert await second_in_line == task.id
    assert time.perf_counter() - began < 1.0
    first_in_line.cancel()
