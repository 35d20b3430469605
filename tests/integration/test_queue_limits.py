"""Queue limits in the claim, on a real Redis (plain and Cluster): max_running and
max_gpus hold under 8 concurrent claimers, and the running sets heal on every way a
task stops running (end, requeue, reaper, abort)."""

import asyncio
from collections import defaultdict

import pytest
import redis.asyncio as aioredis

from runyard.models import QueueUpdate, TaskStatus
from runyard_server import store
from runyard_server.store import keys
from runyard_server.store.claim import claim_or_skip
from runyard_server.store.queue_settings import backfill_running
from tests.faults.consistency import problems
from tests.integration.store_support import (
    PLENTY,
    T0,
    StoreRedis,
    claim_and_end,
    make_task,
    make_worker,
    most_running_at_once,
    sync_client,
)

pytestmark = pytest.mark.anyio

LIMITS = {"a": ("max_running", 3), "g": ("max_gpus", 2)}


async def _limited(r: aioredis.Redis, queue: str, **settings: object) -> None:
    await store.set_queue(r, queue, QueueUpdate.model_validate(settings), T0)


async def _running(r: aioredis.Redis) -> dict[str, tuple[int, float]]:
    """Per queue, the tasks the records show running and the GPUs they hold. The ids
    are read at one instant; one that ended since is not counted, so this never counts
    more than were running at that instant."""
    ids = await r.zrange(keys.status_index("running"), 0, -1)
    rows = [await r.hmget(keys.task(i), "status", "queue", "gpus") for i in ids]
    found: dict[str, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    for status, queue, gpus in rows:
        if status == "running":
            n, held = found[queue]
            found[queue] = (n + 1, held + float(gpus))
    return found


async def test_limits_hold_under_8_concurrent_claimers(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    ids = [(await make_task(r, name=f"a{i}", queue="a")).id for i in range(40)]
    ids += [
        (await make_task(r, name=f"g{i}", queue="g", resources={"gpus": 1})).id for i in range(30)
    ]
    await _limited(r, "a", max_running=3)
    await _limited(r, "g", max_gpus=2)
    workers = [await make_worker(r, queues=("a", "g"), name=f"w{i}") for i in range(8)]
    stop = asyncio.Event()
    claimers = [
        asyncio.create_task(claim_and_end(store_redis, w.id, ["a", "g"], stop)) for w in workers
    ]

    samples = 0
    while await r.zcard(keys.status_index("queued")) or await r.zcard(keys.status_index("running")):
        seen = await _running(r)
        assert seen["a"][0] <= 3, seen
        assert seen["g"][1] <= 2, seen
        for queue in await store.list_queues(r, T0):
            if queue.name == "a":
                assert queue.running <= 3
            if queue.name == "g":
                assert queue.gpus_in_use <= 2
        samples += 1
        await asyncio.sleep(0.005)
    stop.set()
    ran = await asyncio.gather(*claimers)

    assert sum(ran) == len(ids) == 70
    assert sum(1 for n in ran if n) > 1
    events = await r.xrange(keys.EVENTS)
    queue_of = {i: await r.hget(keys.task(i), "queue") for i in ids}
    gpus_of = {i: float(await r.hget(keys.task(i), "gpus")) for i in ids}
    most = most_running_at_once(events, queue_of, gpus_of)
    # Reached, never passed: the limit holds tasks back, and only as far as it says.
    assert most["a"][0] == 3
    assert most["g"][1] == 2
    assert samples > 0
    for name in ("a", "g"):
        assert await r.zcard(keys.queue_running(name)) == 0
    assert problems(sync_client(store_redis), overdue_after_s=None) == []


async def _claim_id(r: aioredis.Redis, worker_id: str, now: float = T0) -> tuple[str, str]:
    found = await store.claim(r, worker_id, ["a"], PLENTY, 60, now)
    assert found is not None and found.task is not None and found.lease_token is not None
    return found.task.id, found.lease_token


async def test_a_full_queue_holds_its_tasks_without_calling_them_unfit(r: aioredis.Redis) -> None:
    first = await make_task(r, name="first", queue="a")
    second = await make_task(r, name="second", queue="a")
    await _limited(r, "a", max_running=1)
    worker = await make_worker(r, queues=("a",))
    task_id, token = await _claim_id(r, worker.id)
    assert task_id == first.id

    # Held by the queue's limit: no task, and no "too big for you" for the agent.
    assert await claim_or_skip(r, worker.id, ["a"], PLENTY, 60, T0) == (None, False)
    await store.report_end(r, task_id, token, TaskStatus.COMPLETED, 0, None, T0)
    assert (await _claim_id(r, worker.id))[0] == second.id
    # max_running 0 pauses the queue; clearing the limit lets it run again.
    third = await make_task(r, name="third", queue="a")
    await _limited(r, "a", max_running=0)
    assert await store.claim(r, worker.id, ["a"], PLENTY, 60, T0) is None
    await _limited(r, "a", max_running=None)
    assert (await _claim_id(r, worker.id))[0] == third.id


async def test_running_sets_heal_after_lease_expiry_requeue_and_abort(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    for i in range(4):
        await make_task(r, name=f"t{i}", queue="a", max_retries=3)
    await _limited(r, "a", max_running=2)
    worker = await make_worker(r, queues=("a",))
    await _claim_id(r, worker.id)
    await _claim_id(r, worker.id)
    assert await store.claim(r, worker.id, ["a"], PLENTY, 60, T0) is None

    # The agent is lost: the reaper puts both back and the queue has room again.
    assert len(await store.reap_expired(r, T0 + 61)) == 2
    assert await r.zcard(keys.queue_running("a")) == 0
    held = [await _claim_id(r, worker.id, T0 + 62) for _ in range(2)]
    assert (await store.get_queue(r, "a", T0 + 62)).running == 2

    # An abort: the agent stops the task and reports it; a requeue gives one back.
    (aborted, token), (given_back, token2) = held
    await store.abort(r, aborted, T0 + 63)
    assert (await store.get_queue(r, "a", T0 + 63)).running == 2  # still running
    await store.report_end(r, aborted, token, TaskStatus.ABORTED, None, "aborted", T0 + 64)
    await store.requeue(r, given_back, token2, T0 + 64)
    assert (await store.get_queue(r, "a", T0 + 64)).running == 0
    assert problems(sync_client(store_redis), overdue_after_s=None) == []
    assert len([await _claim_id(r, worker.id, T0 + 65) for _ in range(2)]) == 2


async def test_max_gpus_sums_what_each_running_task_holds(r: aioredis.Redis) -> None:
    two = await make_task(r, name="two", queue="a", resources={"gpus": 2})
    one = await make_task(r, name="one", queue="a", resources={"gpus": 1})
    none = await make_task(r, name="none", queue="a")
    await _limited(r, "a", max_gpus=2.5)
    worker = await make_worker(r, queues=("a",))
    assert (await _claim_id(r, worker.id))[0] == two.id
    # 2 + 1 > 2.5: the 1-GPU task waits; one without GPUs adds none and runs.
    assert (await _claim_id(r, worker.id))[0] == none.id
    queue = await store.get_queue(r, "a", T0)
    assert (queue.running, queue.gpus_in_use, [e.task_id for e in queue.entries]) == (
        2,
        2.0,
        [one.id],
    )


async def test_a_claimer_waiting_on_a_full_queue_is_woken_when_a_task_ends(
    r: aioredis.Redis,
) -> None:
    await make_task(r, name="first", queue="a")
    second = await make_task(r, name="second", queue="a")
    await _limited(r, "a", max_running=1)
    worker = await make_worker(r, queues=("a",))
    task_id, token = await _claim_id(r, worker.id)
    dispatcher = store.Dispatcher(r)
    await dispatcher.start()
    try:
        waiting = asyncio.create_task(
            store.claim_wait(r, dispatcher, worker.id, ["a"], PLENTY, 60, 30.0, lambda: T0)
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await store.report_end(r, task_id, token, TaskStatus.COMPLETED, 0, None, T0)
        found = await asyncio.wait_for(waiting, 5)
    finally:
        await dispatcher.stop()
    assert found is not None and found.task is not None and found.task.id == second.id


async def test_tasks_running_before_the_running_sets_existed_are_counted_at_start(
    r: aioredis.Redis,
) -> None:
    ids = [
        (await make_task(r, name=f"t{i}", queue="a", resources={"gpus": 1})).id for i in range(3)
    ]
    worker = await make_worker(r, queues=("a",))
    for _ in range(2):
        await _claim_id(r, worker.id)
    await r.delete(keys.queue_running("a"))  # as a store of the release before them
    await _limited(r, "a", max_running=2)

    assert await backfill_running(r) == 2
    assert await backfill_running(r) == 0  # again: nothing to add
    queue = await store.get_queue(r, "a", T0)
    assert (queue.running, queue.gpus_in_use, queue.depth) == (2, 2.0, 1)
    assert await store.claim(r, worker.id, ["a"], PLENTY, 60, T0) is None
    assert ids[2] in await r.zrange(keys.queue("a"), 0, -1)
