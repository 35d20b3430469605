"""Priority preemption decided on real Redis: whom ``preempt.lua`` picks, when it waits,
what it never touches, and how a preempted task goes back (``store/preemption.py``)."""

import pytest
import redis.asyncio as aioredis

from runyard.models import (
    Gpu,
    Heartbeat,
    HeldTask,
    QueueUpdate,
    Resources,
    Task,
    TaskStatus,
    WorkerRegister,
)
from runyard_server import store
from runyard_server.store import keys
from runyard_server.store.preemption import PreemptPolicy, preempt_for, preempt_waiting
from runyard_server.store.preemption_fleet import Running
from runyard_server.store.queue_settings import update_settings
from tests.integration.store_support import T0, make_task

pytestmark = pytest.mark.anyio

POLICY = PreemptPolicy(after_s=5, window_s=1800, hold_s=120)
ALIVE_S = 90.0
LATER = T0 + 10  # past POLICY.after_s


async def _worker(
    r: aioredis.Redis, gpus: int, slots: int | None = None, name: str = "w", model: str = "GPU"
) -> str:
    body = WorkerRegister(
        name=name,
        queues=["high", "low"],
        resources=Resources(gpus=gpus, cpus=64, memory_gb=512),
        gpus=[Gpu(index=i, name=model, memory_gb=80) for i in range(gpus)],
        slots=slots if slots is not None else max(1, gpus),
    )
    return (await store.register_worker(r, body, T0)).id


async def _queues(r: aioredis.Redis, low_preemptible: bool = True) -> None:
    for name in ("high", "low"):
        await store.create_queue(r, name)
    await update_settings(r, "low", QueueUpdate(preemptible=low_preemptible))


async def _running(
    r: aioredis.Redis, worker_id: str, priority: int, gpus: int, started: float, queue: str = "low"
) -> tuple[Task, str]:
    """A task of ``queue`` claimed by the worker and started at ``started``."""
    task = await make_task(
        r, name=f"p{priority}", queue=queue, priority=priority, resources=Resources(gpus=gpus)
    )
    found = await store.claim(
        r, worker_id, [queue], Resources(gpus=8, cpus=64, memory_gb=512), 15, T0
    )
    assert found is not None and found.task is not None and found.task.id == task.id
    assert found.lease_token is not None
    await store.report_started(r, task.id, found.lease_token, 30, started)
    return task, found.lease_token


async def _waiting(r: aioredis.Redis, priority: int, gpus: int, now: float = T0) -> Task:
    return await make_task(
        r, name="urgent", queue="high", priority=priority, resources=Resources(gpus=gpus), now=now
    )


async def _preempt_marks(
    r: aioredis.Redis, worker_id: str, held: list[tuple[Task, str]]
) -> dict[str, str]:
    running = [HeldTask(task_id=task.id, lease_token=token) for task, token in held]
    reply = await store.heartbeat(r, worker_id, Heartbeat(running=running), 30, LATER)
    return reply.preempt


async def test_one_victim_the_lowest_priority_then_the_most_recently_started(
    r: aioredis.Redis,
) -> None:
    await _queues(r)
    w = await _worker(r, gpus=3)
    old = await _running(r, w, priority=0, gpus=1, started=T0 + 1)
    new = await _running(r, w, priority=0, gpus=1, started=T0 + 2)
    higher = await _running(r, w, priority=1, gpus=1, started=T0 + 3)
    urgent = await _waiting(r, priority=5, gpus=1)

    marked = await preempt_waiting(r, POLICY, LATER, ALIVE_S)

    assert [(d.task_id, d.worker, d.victims) for d in marked] == [(urgent.id, w, [new[0].id])]
    assert await _preempt_marks(r, w, [old, new, higher]) == {new[0].id: urgent.id}
    # Its victim still stopping, the next pass preempts nothing more.
    assert await preempt_waiting(r, POLICY, LATER + 1, ALIVE_S) == []
    assert (await preempt_for(r, urgent.id, [w], POLICY, LATER + 1)).outcome == "pending"


async def test_a_task_waits_its_turn_before_preempting(r: aioredis.Redis) -> None:
    await _queues(r)
    w = await _worker(r, gpus=1)
    await _running(r, w, priority=0, gpus=1, started=T0)
    urgent = await _waiting(r, priority=5, gpus=1, now=T0 + 8)

    assert await preempt_waiting(r, POLICY, T0 + 10, ALIVE_S) == []
    assert (await preempt_for(r, urgent.id, [w], POLICY, T0 + 10)).outcome == "early"
    assert [d.task_id for d in await preempt_waiting(r, POLICY, T0 + 14, ALIVE_S)] == [urgent.id]


async def test_nothing_is_preempted_where_a_worker_has_room(r: aioredis.Redis) -> None:
    await _queues(r)
    busy = await _worker(r, gpus=1, name="busy")
    roomy = await _worker(r, gpus=1, name="roomy")
    await _running(r, busy, priority=0, gpus=1, started=T0)
    urgent = await _waiting(r, priority=5, gpus=1)

    assert await preempt_waiting(r, POLICY, LATER, ALIVE_S) == []
    decision = await preempt_for(r, urgent.id, [busy, roomy], POLICY, LATER)
    assert (decision.outcome, decision.worker) == ("fits", roomy)


async def test_a_queue_not_marked_preemptible_is_never_preempted(r: aioredis.Redis) -> None:
    await _queues(r, low_preemptible=False)
    w = await _worker(r, gpus=1)
    await _running(r, w, priority=0, gpus=1, started=T0)
    urgent = await _waiting(r, priority=9, gpus=1)

    assert await preempt_waiting(r, POLICY, LATER, ALIVE_S) == []
    assert (await preempt_for(r, urgent.id, [w], POLICY, LATER)).outcome == "none"


async def test_equal_or_higher_priority_work_is_never_preempted(r: aioredis.Redis) -> None:
    await _queues(r)
    w = await _worker(r, gpus=1)
    await _running(r, w, priority=5, gpus=1, started=T0)
    urgent = await _waiting(r, priority=5, gpus=1)

    assert await preempt_waiting(r, POLICY, LATER, ALIVE_S) == []
    assert (await preempt_for(r, urgent.id, [w], POLICY, LATER)).outcome == "none"


async def test_the_fewest_victims_that_make_room(r: aioredis.Redis) -> None:
    await _queues(r)
    w = await _worker(r, gpus=4)
    small = await _running(r, w, priority=0, gpus=1, started=T0 + 3)
    big = await _running(r, w, priority=1, gpus=2, started=T0 + 1)
    other = await _running(r, w, priority=2, gpus=1, started=T0 + 2)
    urgent = await _waiting(r, priority=5, gpus=2)

    [decision] = await preempt_waiting(r, POLICY, LATER, ALIVE_S)
    assert decision.task_id == urgent.id
    # The lowest priority alone frees 1 GPU of the 2 asked: one bigger victim beats two.
    assert decision.victims == [big[0].id]
    assert set(await _preempt_marks(r, w, [small, big, other])) == {big[0].id}


async def test_several_victims_when_no_single_one_makes_room(r: aioredis.Redis) -> None:
    await _queues(r)
    w = await _worker(r, gpus=3)
    a = await _running(r, w, priority=0, gpus=1, started=T0 + 1)
    b = await _running(r, w, priority=1, gpus=1, started=T0 + 2)
    c = await _running(r, w, priority=2, gpus=1, started=T0 + 3)
    urgent = await _waiting(r, priority=5, gpus=2)

    [decision] = await preempt_waiting(r, POLICY, LATER, ALIVE_S)

    assert sorted(decision.victims) == sorted([a[0].id, b[0].id])
    assert await _preempt_marks(r, w, [a, b, c]) == {a[0].id: urgent.id, b[0].id: urgent.id}


async def test_a_preempted_task_goes_back_to_the_head_uncounted_and_the_preemptor_gets_the_worker(
    r: aioredis.Redis,
) -> None:
    await _queues(r)
    w = await _worker(r, gpus=1)
    victim, token = await _running(r, w, priority=0, gpus=1, started=T0)
    behind = await make_task(r, name="behind", queue="low", resources=Resources(gpus=1))
    urgent = await _waiting(r, priority=5, gpus=1)
    await preempt_waiting(r, POLICY, LATER, ALIVE_S)

    back = await store.requeue(r, victim.id, token, LATER + 3)

    assert back.status == "queued" and back.attempt == 0
    assert (back.preempted, back.preempted_by) == (1, urgent.id)
    assert back.preempted_at is not None and back.preempted_at.timestamp() == LATER + 3
    assert await r.hget(keys.STATS, "preempted") == "1"  # GET /metrics: runyard_preemptions
    assert await r.zrange(keys.queue("low"), 0, -1) == [victim.id, behind.id]
    # Held for the preemptor, the worker's claim skips its own queue order ("low" first).
    free = Resources(gpus=1, cpus=64, memory_gb=512)
    found = await store.claim(r, w, ["low", "high"], free, 15, LATER + 4)
    assert found is not None and found.task is not None and found.task.id == urgent.id


async def test_a_mark_left_by_an_earlier_attempt_stops_nothing(r: aioredis.Redis) -> None:
    await _queues(r)
    w = await _worker(r, gpus=1)
    victim, _ = await _running(r, w, priority=0, gpus=1, started=T0)
    await _waiting(r, priority=5, gpus=1)
    await preempt_waiting(r, POLICY, LATER, ALIVE_S)
    # The agent died instead of stopping it: the reaper requeues it, another claim runs it.
    await store.reap_expired(r, LATER + 100)
    w2 = await _worker(r, gpus=1, name="w2")
    found = await store.claim(r, w2, ["low"], Resources(gpus=1), 15, LATER + 101)
    assert found is not None and found.task is not None and found.lease_token is not None

    assert await _preempt_marks(r, w2, [(victim, found.lease_token)]) == {}


async def test_a_task_preempted_twice_in_the_window_is_not_preempted_again(
    r: aioredis.Redis,
) -> None:
    await _queues(r)
    w = await _worker(r, gpus=1)
    victim, token = await _running(r, w, priority=0, gpus=1, started=T0)
    now, alive = LATER, 1e9  # no heartbeats here: every worker counts as alive
    known: dict[str, Running] = {}  # kept across passes, as the jobs process keeps it
    for round_ in range(2):
        urgent = await _waiting(r, priority=5, gpus=1, now=now - 10)
        [decision] = await preempt_waiting(r, POLICY, now, alive, known)
        assert decision.victims == [victim.id], round_
        await store.requeue(r, victim.id, token, now + 1)
        await store.claim(r, w, ["high"], Resources(gpus=1), 15, now + 2)  # the preemptor
        await _finish(r, urgent.id, w, now + 3)
        found = await store.claim(r, w, ["low"], Resources(gpus=1), 15, now + 4)
        assert found is not None and found.task is not None and found.task.id == victim.id
        assert found.lease_token is not None
        token = found.lease_token
        now += 60

    third = await _waiting(r, priority=5, gpus=1, now=now - 10)
    assert await preempt_waiting(r, POLICY, now, alive, known) == []
    assert (await preempt_for(r, third.id, [w], POLICY, now)).outcome == "none"
    # Out of the window, it may be preempted again.
    later = now + POLICY.window_s
    assert [d.task_id for d in await preempt_waiting(r, POLICY, later, alive, known)] == [third.id]
    assert (await store.get_task(r, victim.id)).preempted == 2


async def _finish(r: aioredis.Redis, task_id: str, worker_id: str, now: float) -> None:
    token = await store.current_lease_token(r, task_id)
    assert token is not None
    assert task_id in await r.smembers(keys.worker_running(worker_id))
    await store.report_end(r, task_id, token, TaskStatus.COMPLETED, 0, None, now)


async def test_a_victim_its_agent_never_stops_is_not_waited_for_past_the_hold(
    r: aioredis.Redis,
) -> None:
    await _queues(r)
    w = await _worker(r, gpus=2)
    stuck = await _running(r, w, priority=0, gpus=1, started=T0 + 1)
    other = await _running(r, w, priority=1, gpus=1, started=T0 + 2)
    urgent = await _waiting(r, priority=5, gpus=1)
    [first] = await preempt_waiting(r, POLICY, LATER, ALIVE_S)
    assert first.victims == [stuck[0].id]
    assert (await preempt_for(r, urgent.id, [w], POLICY, LATER + 60)).outcome == "pending"

    after_hold = LATER + POLICY.hold_s + 1
    decision = await preempt_for(r, urgent.id, [w], POLICY, after_hold)

    assert (decision.outcome, decision.victims) == ("marked", [other[0].id])


async def test_multi_node_tasks_neither_preempt_nor_are_preempted(r: aioredis.Redis) -> None:
    await _queues(r)
    w = await _worker(r, gpus=1)
    gang_rank, _ = await _running(r, w, priority=0, gpus=1, started=T0)
    # ``nodes`` as a multi-node task's hash holds it (one rank runs here).
    await r.hset(keys.task(gang_rank.id), "nodes", "2")
    urgent = await _waiting(r, priority=5, gpus=1)
    assert await preempt_waiting(r, POLICY, LATER, ALIVE_S) == []
    assert (await preempt_for(r, urgent.id, [w], POLICY, LATER)).outcome == "none"

    await r.hset(keys.task(gang_rank.id), "nodes", "1")
    await r.hset(keys.task(urgent.id), "nodes", "2")
    assert await preempt_waiting(r, POLICY, LATER, ALIVE_S) == []
    assert (await preempt_for(r, urgent.id, [w], POLICY, LATER)).outcome == "none"


async def test_victims_only_on_workers_with_gpus_of_the_kind_asked_for(r: aioredis.Redis) -> None:
    await _queues(r)
    t4 = await _worker(r, gpus=1, name="t4", model="Tesla T4")
    idle_t4 = await _worker(r, gpus=1, name="idle-t4", model="Tesla T4")
    a100 = await _worker(r, gpus=1, name="a100", model="NVIDIA A100-SXM4-80GB")
    await _running(r, t4, priority=0, gpus=1, started=T0 + 2)
    on_a100, _ = await _running(r, a100, priority=1, gpus=1, started=T0 + 1)
    urgent = await _waiting(r, priority=5, gpus=1)
    # As a typed request stores it: the model glob as given.
    await r.hset(keys.task(urgent.id), mapping={"gpu_model": "A100*", "gpu_mem": "40"})

    # The idle T4 has room, but not of the kind asked for: it does not stop a preemption.
    [decision] = await preempt_waiting(r, POLICY, LATER, ALIVE_S)

    assert (decision.worker, decision.victims) == (a100, [on_a100.id])
    # preempt.lua counts room only: the kind is judged before it is asked.
    assert (await preempt_for(r, urgent.id, [idle_t4], POLICY, LATER)).outcome == "fits"


async def test_a_task_its_own_queue_holds_back_preempts_nothing(r: aioredis.Redis) -> None:
    await _queues(r)
    w = await _worker(r, gpus=1)
    await _running(r, w, priority=0, gpus=1, started=T0)
    urgent = await _waiting(r, priority=5, gpus=1)
    # One task of "high" runs elsewhere (as the claim records it) and the queue allows one.
    await r.zadd(keys.queue_running("high"), {"elsewhere": 1})
    await update_settings(r, "high", QueueUpdate(max_running=1))
    assert await preempt_waiting(r, POLICY, LATER, ALIVE_S) == []
    await update_settings(r, "high", QueueUpdate(max_running=None, max_gpus=1.5))
    assert await preempt_waiting(r, POLICY, LATER, ALIVE_S) == []

    await update_settings(r, "high", QueueUpdate(max_gpus=2))
    assert [d.task_id for d in await preempt_waiting(r, POLICY, LATER, ALIVE_S)] == [urgent.id]
