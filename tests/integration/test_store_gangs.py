"""Multi-node tasks in the store: gangs form all or none, end once, go back whole."""

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from runyard.models import (
    Claim,
    GpuFree,
    Heartbeat,
    HeldTask,
    Resources,
    Task,
    TaskStatus,
    Worker,
)
from runyard_server import store
from runyard_server.store import gangs, keys
from runyard_server.store.claim import claim_or_skip
from runyard_server.store.gangs import GangOffer, Joined
from tests.faults.consistency import problems
from tests.integration.store_support import (
    PLENTY,
    T0,
    StoreRedis,
    make_task,
    make_worker,
    sync_client,
)

pytestmark = pytest.mark.anyio

TIMEOUT_S = 60.0


@pytest.fixture
def sync(store_redis: StoreRedis) -> Iterator["redis.Redis[str]"]:
    """The consistency checker's client of the test's store."""
    client = sync_client(store_redis)
    yield client
    client.close()


def whole(sync: "redis.Redis[str]") -> list[str]:
    return problems(sync, overdue_after_s=None)


def _offer(port: int) -> GangOffer:
    return GangOffer(host="127.0.0.1", port=port, timeout_s=TIMEOUT_S)


async def _gang_task(r: aioredis.Redis, nodes: int = 3, queue: str = "q", **fields: object) -> Task:
    return await make_task(
        r, name=f"gang{nodes}", queue=queue, resources=Resources(nodes=nodes), **fields
    )


async def _workers(r: aioredis.Redis, n: int, queues: tuple[str, ...] = ("q",)) -> list[Worker]:
    return [await make_worker(r, queues=queues, name=f"w{i}") for i in range(n)]


async def _join(
    r: aioredis.Redis, worker: Worker, now: float = T0, queues: list[str] | None = None
) -> Joined:
    got, _ = await claim_or_skip(
        r, worker.id, queues or ["q"], PLENTY, 15, now, offer=_offer(20000 + len(worker.name))
    )
    assert isinstance(got, Joined), got
    return got


async def _seat(r: aioredis.Redis, worker: Worker, joined: Joined, now: float = T0) -> Claim:
    got = await gangs.seat(r, worker.id, joined, now)
    assert isinstance(got, Claim) and got.task is not None and got.gang is not None
    return got


async def _running(
    r: aioredis.Redis, nodes: int = 3, **fields: object
) -> tuple[Task, list[Worker], list[str]]:
    """A gang task formed on ``nodes`` new workers: the task, the workers, their tokens."""
    task = await _gang_task(r, nodes=nodes, **fields)
    workers = await _workers(r, nodes)
    joined = [await _join(r, w) for w in workers]
    claims = [await _seat(r, w, j) for w, j in zip(workers, joined, strict=True)]
    return task, workers, [c.lease_token or "" for c in claims]


async def test_gang_starts_only_once_every_rank_joined(
    r: aioredis.Redis, sync: "redis.Redis[str]"
) -> None:
    task = await _gang_task(r)
    workers = await _workers(r, 4)
    first = await _join(r, workers[0])
    second = await _join(r, workers[1])

    assert await gangs.seat(r, workers[0].id, first, T0) == "forming"
    assert (await store.get_task(r, task.id)).status == TaskStatus.QUEUED
    assert await r.zrange(keys.queue("q"), 0, -1) == [task.id]
    assert await r.zcard(keys.LEASES) == 0
    assert whole(sync) == []

    third = await _join(r, workers[2])
    claims = [await _seat(r, w, j) for w, j in zip(workers, [first, second, third], strict=False)]

    assert [c.gang.rank for c in claims if c.gang] == [0, 1, 2]
    assert {c.gang.world_size for c in claims if c.gang} == {3}
    assert {(c.gang.master_addr, c.gang.master_port) for c in claims if c.gang} == {
        ("127.0.0.1", 20002)
    }
    assert len({c.lease_token for c in claims}) == 3
    running = await store.get_task(r, task.id)
    assert running.status == TaskStatus.RUNNING and running.attempt == 1
    assert [(p.worker, p.rank) for p in running.placement] == [
        (w.id, i) for i, w in enumerate(workers[:3])
    ]
    assert await r.zrange(keys.queue("q"), 0, -1) == []
    assert await r.smembers(keys.worker_running(workers[1].id)) == {task.id}
    assert whole(sync) == []
    # The fourth agent finds nothing: the gang took exactly three.
    got, _ = await claim_or_skip(r, workers[3].id, ["q"], PLENTY, 15, T0, offer=_offer(1))
    assert got is None


async def test_forming_gang_is_released_at_its_deadline_and_keeps_its_place(
    r: aioredis.Redis, sync: "redis.Redis[str]"
) -> None:
    task = await _gang_task(r)
    behind = await make_task(r, name="plain", queue="q")
    workers = await _workers(r, 2)
    joined = await _join(r, workers[0])

    assert await gangs.seat(r, workers[0].id, joined, T0 + TIMEOUT_S + 1) is None
    assert await r.exists(keys.task_gang(task.id)) == 0
    assert await r.zrange(keys.queue("q"), 0, -1) == [task.id, behind.id]
    assert await r.zcard(keys.GANGS) == 0
    assert whole(sync) == []
    # A new claim makes the gang afresh.
    again = await _join(r, workers[1], now=T0 + TIMEOUT_S + 2)
    assert again.task_id == task.id


async def test_member_that_leaves_frees_its_slot(r: aioredis.Redis) -> None:
    await _gang_task(r, nodes=3)
    workers = await _workers(r, 4)
    leaving = await _join(r, workers[0])
    await _join(r, workers[1])

    assert await gangs.seat(r, workers[0].id, leaving, T0, leave=True) is None
    await _join(r, workers[2])
    last = await _join(r, workers[3])
    claim = await _seat(r, workers[3], last)
    assert claim.gang is not None and claim.gang.rank == 2
    assert claim.task is not None  # the member that stayed moved into the leaver's slot
    assert [p.worker for p in claim.task.placement] == [w.id for w in workers[1:]]


async def test_agent_without_an_offer_never_joins_a_gang(r: aioredis.Redis) -> None:
    await _gang_task(r)
    plain = await make_task(r, name="plain", queue="q")
    (worker,) = await _workers(r, 1)

    got, _ = await claim_or_skip(r, worker.id, ["q"], PLENTY, 15, T0)

    assert isinstance(got, Claim) and got.task is not None and got.task.id == plain.id


async def test_older_forming_gang_is_joined_first_across_queues(r: aioredis.Redis) -> None:
    older = await _gang_task(r, nodes=2, queue="a")
    await _gang_task(r, nodes=2, queue="b")
    one, two = await _workers(r, 2, queues=("a", "b"))
    await _join(r, one, queues=["a", "b"])

    # `two` lists queue b first, yet fills the older gang on a.
    joined = await _join(r, two, queues=["b", "a"])

    assert joined.task_id == older.id
    assert (await store.get_task(r, older.id)).status == TaskStatus.RUNNING


async def test_all_ranks_completing_completes_the_task_once(r: aioredis.Redis) -> None:
    task, _, tokens = await _running(r)
    for token in tokens:
        await store.report_started(r, task.id, token, 30, T0 + 1)

    for token in tokens[:2]:
        ended = await store.report_end(r, task.id, token, TaskStatus.COMPLETED, 0, None, T0 + 5)
        assert ended.status == TaskStatus.RUNNING
    done = await store.report_end(r, task.id, tokens[2], TaskStatus.COMPLETED, 0, None, T0 + 6)

    assert done.status == TaskStatus.COMPLETED and done.exit_code == 0
    assert await r.zcard(keys.LEASES) == 0
    assert await r.exists(keys.task_gang(task.id)) == 0
    for worker in done.placement:
        assert await r.smembers(keys.worker_running(worker.worker)) == set()


async def test_failed_rank_stops_the_others_and_the_task_fails_once(
    r: aioredis.Redis, sync: "redis.Redis[str]"
) -> None:
    task, workers, tokens = await _running(r)

    await store.report_end(r, task.id, tokens[1], TaskStatus.FAILED, 3, "script: boom", T0 + 2)
    beat = Heartbeat(running=[HeldTask(task_id=task.id, lease_token=tokens[0])])
    reply = await store.heartbeat(r, workers[0].id, beat, 30, T0 + 3)
    assert reply.abort == [task.id] and reply.lost == []
    assert (await store.get_task(r, task.id)).status == TaskStatus.RUNNING
    assert whole(sync) == []

    for token in (tokens[0], tokens[2]):
        await store.report_end(r, task.id, token, TaskStatus.ABORTED, -15, "aborted", T0 + 4)

    failed = await store.get_task(r, task.id)
    assert failed.status == TaskStatus.FAILED and failed.exit_code == 3
    assert failed.failure_reason == "rank 1: script: boom"
    assert await r.zcard(keys.LEASES) == 0
    events = await r.xrange(keys.EVENTS)
    assert [e[1]["to"] for e in events if e[1]["task"] == task.id].count("failed") == 1
    assert whole(sync) == []


async def test_one_lost_rank_requeues_the_whole_gang(
    r: aioredis.Redis, sync: "redis.Redis[str]"
) -> None:
    task, workers, tokens = await _running(r, max_retries=1)
    for token in tokens:
        await store.report_started(r, task.id, token, 30, T0 + 1)
    # Ranks 0 and 1 keep beating; rank 2's agent went quiet.
    for worker, token in zip(workers[:2], tokens[:2], strict=True):
        beat = Heartbeat(running=[HeldTask(task_id=task.id, lease_token=token)])
        await store.heartbeat(r, worker.id, beat, 30, T0 + 20)

    assert await store.reap_expired(r, T0 + 30) == []
    assert await store.reap_expired(r, T0 + 32) == [task.id]

    requeued = await store.get_task(r, task.id)
    assert requeued.status == TaskStatus.QUEUED
    assert await r.zrange(keys.queue("q"), 0, -1) == [task.id]
    assert await r.exists(keys.task_gang(task.id)) == 0
    assert whole(sync) == []
    for worker, token in zip(workers, tokens, strict=True):
        assert await r.smembers(keys.worker_running(worker.id)) == set()
        beat = Heartbeat(running=[HeldTask(task_id=task.id, lease_token=token)])
        assert (await store.heartbeat(r, worker.id, beat, 30, T0 + 33)).lost == [task.id]


async def test_aborting_a_forming_gang_releases_its_members(r: aioredis.Redis) -> None:
    task = await _gang_task(r)
    (worker,) = await _workers(r, 1)
    joined = await _join(r, worker)

    await store.abort(r, task.id, T0 + 1)

    assert await gangs.seat(r, worker.id, joined, T0 + 1) is None
    assert await r.zcard(keys.GANGS) == 0


async def test_waiting_claims_all_get_their_rank_once_the_last_one_joins(
    r: aioredis.Redis,
) -> None:
    task = await _gang_task(r, nodes=3)
    workers = await _workers(r, 3)

    async def claim(worker: Worker, delay: float) -> Claim | None:
        await asyncio.sleep(delay)

        async def once() -> tuple[Claim | Joined | None, bool]:
            return await claim_or_skip(
                r, worker.id, ["q"], PLENTY, 15, time.time(), offer=_offer(1)
            )

        got, _ = await gangs.claim_settled(r, worker.id, once, time.monotonic() + 10)
        return got

    claims = await asyncio.gather(*(claim(w, 0.3 * i) for i, w in enumerate(workers)))

    assert sorted(c.gang.rank for c in claims if c and c.gang) == [0, 1, 2]
    assert {c.task.id for c in claims if c and c.task} == {task.id}


async def test_a_claim_that_stops_waiting_leaves_the_gang(r: aioredis.Redis) -> None:
    task = await _gang_task(r, nodes=2)
    (worker,) = await _workers(r, 1)

    async def once() -> tuple[Claim | Joined | None, bool]:
        return await claim_or_skip(r, worker.id, ["q"], PLENTY, 15, time.time(), offer=_offer(1))

    got, _ = await gangs.claim_settled(r, worker.id, once, time.monotonic() + 0.3)

    assert got is None
    assert await r.exists(keys.task_gang(task.id)) == 0
    assert (await store.get_task(r, task.id)).status == TaskStatus.QUEUED


async def test_aborting_a_running_gang_stops_every_rank_and_ends_it_aborted_once(
    r: aioredis.Redis, sync: "redis.Redis[str]"
) -> None:
    task, workers, tokens = await _running(r, nodes=2)

    await store.abort(r, task.id, T0 + 1)
    for worker, token in zip(workers, tokens, strict=True):
        beat = Heartbeat(running=[HeldTask(task_id=task.id, lease_token=token)])
        assert (await store.heartbeat(r, worker.id, beat, 30, T0 + 2)).abort == [task.id]
    for token in tokens:
        await store.report_end(r, task.id, token, TaskStatus.ABORTED, -15, "aborted", T0 + 3)

    aborted = await store.get_task(r, task.id)
    assert aborted.status == TaskStatus.ABORTED and aborted.failure_reason == "rank 0: aborted"
    assert whole(sync) == []


async def test_a_plain_task_of_higher_priority_goes_before_a_forming_gang(
    r: aioredis.Redis,
) -> None:
    await _gang_task(r)
    workers = await _workers(r, 2)
    await _join(r, workers[0])
    urgent = await make_task(r, name="urgent", queue="q", priority=5)

    got, _ = await claim_or_skip(r, workers[1].id, ["q"], PLENTY, 15, T0, offer=_offer(1))

    assert isinstance(got, Claim) and got.task is not None and got.task.id == urgent.id


async def test_each_rank_gets_gpus_placed_on_its_own_agent_and_the_gang_holds_its_queue(
    r: aioredis.Redis, sync: "redis.Redis[str]"
) -> None:
    task = await make_task(
        r, name="gpu-gang", queue="q", resources=Resources(nodes=2, gpus=2, gpu_model="A100*")
    )
    a100 = [GpuFree(index=i, name="NVIDIA A100-SXM4-80GB", memory_gb=80, free=1) for i in range(4)]
    busy_first = [a100[0].model_copy(update={"free": 0}), *a100[1:]]
    h100 = [GpuFree(index=i, name="NVIDIA H100 80GB HBM3", memory_gb=80, free=1) for i in range(4)]
    workers = await _workers(r, 3)
    offers = {workers[0].id: a100, workers[1].id: h100, workers[2].id: busy_first}
    joined = []
    for worker in workers:
        got, unfit = await claim_or_skip(
            r, worker.id, ["q"], PLENTY, 15, T0, gpus=offers[worker.id], offer=_offer(20001)
        )
        if worker is workers[1]:
            assert got is None and unfit  # H100s do not match A100*
        else:
            assert isinstance(got, Joined), got
            joined.append((worker, got))
    claims = [await _seat(r, w, j) for w, j in joined]

    running = await store.get_task(r, task.id)
    assert [(p.worker, p.rank, p.gpu_indices) for p in running.placement] == [
        (workers[0].id, 0, [0, 1]),
        (workers[2].id, 1, [1, 2]),
    ]
    assert {c.task.id for c in claims if c.task} == {task.id}
    # The gang holds nodes x gpus of its queue's GPUs.
    assert await r.zscore(keys.queue_running("q"), task.id) == 4.0
    assert whole(sync) == []


async def test_a_whole_gang_offer_takes_every_rank_under_one_lease(
    r: aioredis.Redis, sync: "redis.Redis[str]"
) -> None:
    task = await make_task(
        r, name="whole", queue="q", resources=Resources(nodes=2, gpus=1), max_retries=0
    )
    # One agent waits in the task's forming gang; the whole offer lets it go.
    (member,) = await _workers(r, 1)
    await _join(r, member)
    slurm = await make_worker(r, name="slurm")
    whole_offer = GangOffer(host="", port=0, timeout_s=TIMEOUT_S, whole=True)

    got, _ = await claim_or_skip(r, slurm.id, ["q"], PLENTY, 15, T0, offer=whole_offer)

    # A plain claim: no gang forms, the one worker holds the task and both nodes' GPUs.
    assert isinstance(got, Claim) and got.task is not None and got.gang is None
    assert got.task.id == task.id and got.task.status is TaskStatus.RUNNING
    assert got.task.worker == slurm.id and got.lease_token is not None
    assert not await r.exists(keys.task_gang(task.id))
    assert await r.zscore(keys.queue_running("q"), task.id) == 2
    assert whole(sync) == []
    held = Heartbeat(running=[HeldTask(task_id=task.id, lease_token=got.lease_token)])
    assert (await store.heartbeat(r, slurm.id, held, 30, T0 + 5)).lost == []
    await store.report_end(r, task.id, got.lease_token, TaskStatus.COMPLETED, 0, None, T0 + 9)
    assert (await store.get_task(r, task.id)).status is TaskStatus.COMPLETED
    assert whole(sync) == []
