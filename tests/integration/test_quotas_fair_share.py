"""Quotas and fair share in the claim, on a real Redis (plain and Cluster, scripts that
fail on any key they were not given): a user with 5 tasks behind another's 100 starts
them within the first 10 claims; priority still comes first; user and project quotas
hold under 8 concurrent claimers and heal on every way a task stops running."""

import asyncio
from collections import defaultdict

import pytest
import redis.asyncio as aioredis

from runyard.models import QuotaKind, QuotaUpdate, TaskCreate, TaskStatus
from runyard_server import store
from runyard_server.store import keys, quotas
from runyard_server.store.claim import claim_or_skip
from tests.faults.consistency import problems
from tests.integration.store_support import (
    PLENTY,
    T0,
    StoreRedis,
    claim_and_end,
    make_worker,
    sync_client,
)

pytestmark = pytest.mark.anyio


async def _task(
    r: aioredis.Redis, owner: str | None, *, project: str = "default", **fields: object
) -> str:
    body = TaskCreate.model_validate({"queue": "q", "project": project, **fields})
    return (await store.create_task(r, body, T0, owner=owner)).id


async def _claim(r: aioredis.Redis, worker_id: str, now: float = T0) -> tuple[str, str] | None:
    found = await store.claim(r, worker_id, ["q"], PLENTY, 60, now)
    if found is None or found.task is None or found.lease_token is None:
        return None
    return found.task.id, found.lease_token


async def _set(r: aioredis.Redis, kind: QuotaKind, name: str, **limits: object) -> None:
    await quotas.set_quota(r, kind, name, QuotaUpdate.model_validate(limits))


async def test_a_user_behind_another_users_100_tasks_starts_within_10_claims(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    alice = [await _task(r, "alice", name=f"a{i}") for i in range(100)]
    bob = [await _task(r, "bob", name=f"b{i}") for i in range(5)]
    workers = [(await make_worker(r, queues=("q",), name=f"w{i}")).id for i in range(2)]
    # Two agents, one task at a time each: each ends its task and claims the next.
    held: dict[str, tuple[str, str]] = {}
    started: list[str] = []
    for n in range(20):
        worker = workers[n % 2]
        if worker in held:
            task_id, token = held.pop(worker)
            await store.report_end(r, task_id, token, TaskStatus.COMPLETED, 0, None, T0)
        got = await _claim(r, worker)
        assert got is not None
        held[worker] = got
        started.append(got[0])
    assert set(bob) <= set(started[:10])
    # Each user's own tasks still start in their order.
    assert [t for t in started if t in bob] == bob
    assert [t for t in started if t in alice] == alice[:15]
    assert problems(sync_client(store_redis), overdue_after_s=None) == []


async def test_fair_share_never_jumps_a_higher_priority_and_follows_weights(
    r: aioredis.Redis,
) -> None:
    urgent = [await _task(r, "alice", name=f"u{i}", priority=5) for i in range(3)]
    normal = await _task(r, "bob", name="n")
    worker = (await make_worker(r, queues=("q",))).id
    # Alice runs more each time, yet her priority-5 tasks all go before bob's.
    assert [(await _claim(r, worker) or ("", ""))[0] for _ in range(4)] == [*urgent, normal]

    # Weights: carol (weight 3) gets three running tasks for dave's one.
    carol = [await _task(r, "carol", name=f"c{i}") for i in range(6)]
    dave = [await _task(r, "dave", name=f"d{i}") for i in range(6)]
    await _set(r, "user", "carol", weight=3)
    other = (await make_worker(r, queues=("q",), name="w2")).id
    took = [(await _claim(r, other) or ("", ""))[0] for _ in range(8)]
    assert (sum(t in carol for t in took), sum(t in dave for t in took)) == (6, 2)


async def test_a_task_over_its_quota_waits_without_being_unfit(r: aioredis.Redis) -> None:
    first = await _task(r, "alice", name="first", resources={"gpus": 2})
    second = await _task(r, "alice", name="second", resources={"gpus": 1})
    other = await _task(r, "bob", name="other", project="vision", resources={"gpus": 1})
    await _set(r, "user", "alice", max_gpus=2)
    await _set(r, "project", "vision", max_running=0)
    worker = (await make_worker(r, queues=("q",))).id
    got = await _claim(r, worker)
    assert got is not None and got[0] == first
    # alice holds 2 of 2 GPUs and vision may run nothing: both wait, neither is "unfit".
    assert await claim_or_skip(r, worker, ["q"], PLENTY, 60, T0) == (None, False)
    assert await quotas.held_by_quota(r, "alice", "default", 1) == [
        "held by the user quota of alice: 2 of 2 GPUs in use; it waits for them"
    ]
    listed = {(q.kind, q.name): q for q in await quotas.list_quotas(r)}
    assert (listed["user", "alice"].running, listed["user", "alice"].gpus) == (1, 2.0)
    assert listed["project", "vision"].max_running == 0
    await store.report_end(r, got[0], got[1], TaskStatus.COMPLETED, 0, None, T0)
    assert (await _claim(r, worker) or ("", ""))[0] == second
    await _set(r, "project", "vision")  # no limit any more
    assert (await _claim(r, worker) or ("", ""))[0] == other


async def test_quotas_hold_under_8_concurrent_claimers(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    ids = [await _task(r, "alice", name=f"a{i}") for i in range(30)]
    ids += [
        await _task(r, "bob", project="vision", name=f"b{i}", resources={"gpus": 1})
        for i in range(30)
    ]
    await _set(r, "user", "alice", max_running=3)
    await _set(r, "project", "vision", max_gpus=2)
    workers = [(await make_worker(r, queues=("q",), name=f"w{i}")).id for i in range(8)]
    stop = asyncio.Event()
    claimers = [asyncio.create_task(claim_and_end(store_redis, w, ["q"], stop)) for w in workers]
    while await r.zcard(keys.status_index("queued")) or await r.zcard(keys.status_index("running")):
        await asyncio.sleep(0.01)
    stop.set()
    assert sum(await asyncio.gather(*claimers)) == 60

    # Replay every status change in the order Redis made them.
    owner_of = {i: await r.hget(keys.task(i), "owner") for i in ids}
    running: dict[str, set[str]] = defaultdict(set)
    most: dict[str, int] = defaultdict(int)
    for _, event in await r.xrange(keys.EVENTS):
        owner = owner_of[event["task"]]
        if event["to"] == "running":
            running[owner].add(event["task"])
        elif event["from"] == "running":
            running[owner].discard(event["task"])
        most[owner] = max(most[owner], len(running[owner]))
    # Reached, never passed (bob's tasks hold 1 GPU each: 2 GPUs is 2 tasks).
    assert (most["alice"], most["bob"]) == (3, 2)
    assert await r.zcard(keys.QUOTA_RUNNING) == 0
    assert problems(sync_client(store_redis), overdue_after_s=None) == []


async def test_usage_heals_after_lease_expiry_requeue_and_abort(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    for i in range(4):
        await _task(r, "alice", name=f"t{i}", max_retries=3)
    await _set(r, "user", "alice", max_running=2)
    worker = (await make_worker(r, queues=("q",))).id
    assert await _claim(r, worker) and await _claim(r, worker)
    assert await _claim(r, worker) is None

    # The agent is lost: the reaper puts both back and alice has room again.
    assert len(await store.reap_expired(r, T0 + 61)) == 2
    assert await r.zcard(keys.QUOTA_RUNNING) == 0
    aborted, given_back = [await _claim(r, worker, T0 + 62) for _ in range(2)]
    assert aborted and given_back
    await store.abort(r, aborted[0], T0 + 63)
    await store.report_end(r, *aborted, TaskStatus.ABORTED, None, "aborted", T0 + 64)
    await store.requeue(r, *given_back, T0 + 64)
    assert await r.zcard(keys.QUOTA_RUNNING) == 0
    assert problems(sync_client(store_redis), overdue_after_s=None) == []
    assert await _claim(r, worker, T0 + 65) and await _claim(r, worker, T0 + 65)
    assert (await quotas.list_quotas(r, "user", "alice"))[0].running == 2


async def test_owners_queued_before_the_counts_are_counted_at_start(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    for i in range(3):
        await _task(r, "alice", name=f"a{i}")
    bob = await _task(r, "bob", name="b")
    await r.delete(keys.queue_owners("q"))  # as a store written before them
    assert await quotas.backfill_owners(r) == 1
    assert await r.hgetall(keys.queue_owners("q")) == {"alice": "3", "bob": "1"}
    assert await quotas.backfill_owners(r) == 0  # they add up now: nothing to do
    worker = (await make_worker(r, queues=("q",))).id
    assert await _claim(r, worker) and (await _claim(r, worker) or ("", ""))[0] == bob
    assert problems(sync_client(store_redis), overdue_after_s=None) == []


async def test_a_claimer_held_by_a_quota_is_woken_when_the_owners_task_ends_elsewhere(
    r: aioredis.Redis,
) -> None:
    await _task(r, "alice", name="first", queue="a")
    held = await _task(r, "alice", name="second", queue="b")
    await _set(r, "user", "alice", max_running=1)
    first = await make_worker(r, queues=("a",), name="wa")
    found = await store.claim(r, first.id, ["a"], PLENTY, 60, T0)
    assert found is not None and found.task is not None and found.lease_token is not None
    other = await make_worker(r, queues=("b",), name="wb")
    dispatcher = store.Dispatcher(r)
    await dispatcher.start()
    try:
        waiting = asyncio.create_task(
            store.claim_wait(r, dispatcher, other.id, ["b"], PLENTY, 60, 30.0, lambda: T0)
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()  # held by alice's quota
        await store.report_end(
            r, found.task.id, found.lease_token, TaskStatus.COMPLETED, 0, None, T0
        )
        got = await asyncio.wait_for(waiting, 5)
        assert got is not None and got.task is not None and got.task.id == held
    finally:
        await dispatcher.stop()
