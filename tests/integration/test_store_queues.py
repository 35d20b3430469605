"""Queues: create, list, show, delete, and moving a waiting task."""

import pytest
import redis.asyncio as aioredis

from runyard.models import TaskStatus
from runyard_server import store
from runyard_server.errors import Conflict, Invalid, NotFound
from tests.integration.store_support import PLENTY, T0, make_task, make_worker

pytestmark = pytest.mark.anyio


async def _order(r: aioredis.Redis, name: str = "q") -> list[str]:
    return [entry.task_id for entry in (await store.get_queue(r, name, T0)).entries]


async def test_created_queue_is_listed_and_a_second_create_conflicts(r: aioredis.Redis) -> None:
    created = await store.create_queue(r, "cpu")

    assert created.name == "cpu" and created.depth == 0
    assert [q.name for q in await store.list_queues(r, T0)] == ["cpu"]
    with pytest.raises(Conflict, match="already exists"):
        await store.create_queue(r, "cpu")
    with pytest.raises(Invalid):
        await store.create_queue(r, "no spaces")


async def test_queue_shows_depth_oldest_wait_and_entries_in_claim_order(
    r: aioredis.Redis,
) -> None:
    first = await make_task(r, T0, name="first", project="p", queue="q")
    urgent = await make_task(r, T0 + 10, name="urgent", queue="q", priority=9)

    detail = await store.get_queue(r, "q", T0 + 25)

    assert detail.depth == 2 and detail.oldest_wait_s == 25
    assert [e.task_id for e in detail.entries] == [urgent.id, first.id]
    assert detail.entries[1].name == "first" and detail.entries[1].project == "p"
    assert detail.entries[0].priority == 9 and detail.entries[0].enqueued == T0 + 10
    assert len((await store.get_queue(r, "q", T0, limit=1)).entries) == 1
    assert (await store.list_queues(r, T0 + 25))[0].oldest_wait_s == 25


async def test_unknown_queue_is_not_found(r: aioredis.Redis) -> None:
    with pytest.raises(NotFound):
        await store.get_queue(r, "missing", T0)
    with pytest.raises(NotFound):
        await store.delete_queue(r, "missing")


async def test_queue_with_waiting_tasks_cannot_be_deleted(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")

    with pytest.raises(Conflict, match="1 waiting"):
        await store.delete_queue(r, "q")
    await store.dequeue(r, task.id)
    await store.delete_queue(r, "q")

    assert await store.list_queues(r, T0) == []


async def test_registering_a_worker_creates_its_queues(r: aioredis.Redis) -> None:
    await make_worker(r, queues=("gpu", "cpu"))

    assert [q.name for q in await store.list_queues(r, T0)] == ["cpu", "gpu"]


async def test_move_top_bottom_up_and_down(r: aioredis.Redis) -> None:
    a, b, c, d = [(await make_task(r, name=n, queue="q")).id for n in "abcd"]

    assert await _order(r) == [a, b, c, d]
    await store.move(r, "q", c, "top", T0)
    assert await _order(r) == [c, a, b, d]
    await store.move(r, "q", c, "bottom", T0)
    assert await _order(r) == [a, b, d, c]
    await store.move(r, "q", d, "up", T0)
    assert await _order(r) == [a, d, b, c]
    moved = await store.move(r, "q", a, "down", T0)
    assert [e.task_id for e in moved.entries] == [d, a, b, c]


async def test_move_at_the_edges_changes_nothing(r: aioredis.Redis) -> None:
    a, b = [(await make_task(r, name=n, queue="q")).id for n in "ab"]

    await store.move(r, "q", a, "top", T0)
    await store.move(r, "q", a, "up", T0)
    await store.move(r, "q", b, "bottom", T0)
    await store.move(r, "q", b, "down", T0)

    assert await _order(r) == [a, b]


async def test_moved_order_is_the_claim_order(r: aioredis.Redis) -> None:
    a, b = [(await make_task(r, name=n, queue="q", priority=5 - i)).id for i, n in enumerate("ab")]
    worker = await make_worker(r)
    await store.move(r, "q", b, "top", T0)

    found = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)

    assert found is not None and found.task is not None and found.task.id == b
    assert await _order(r) == [a]


async def test_moving_a_task_not_waiting_there_is_not_found(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="other")

    with pytest.raises(NotFound, match="not waiting in queue q"):
        await store.move(r, "q", task.id, "top", T0)


async def test_a_queued_task_moves_to_another_queue_in_one_step(r: aioredis.Redis) -> None:
    await store.create_queue(r, "gpu")
    waiting = await make_task(r, T0, name="waiting", queue="gpu", priority=3)
    moved = await make_task(r, T0 + 1, name="moved", queue="q", priority=3)
    stays = await make_task(r, T0 + 2, name="stays", queue="q")
    worker = await make_worker(r, ("gpu",))

    task = await store.move_to_queue(r, moved.id, "gpu", None, T0 + 50)

    assert task.status == TaskStatus.QUEUED and task.queue == "gpu" and task.priority == 3
    entries = (await store.get_queue(r, "gpu", T0 + 50)).entries
    assert [e.enqueued for e in entries if e.task_id == moved.id] == [T0 + 50]
    assert await _order(r, "q") == [stays.id]
    assert await _order(r, "gpu") == [waiting.id, moved.id]  # the tail of its priority
    assert [t.id for t in (await store.list_tasks(r, queue="gpu")).items] == [moved.id, waiting.id]
    assert [t.id for t in (await store.list_tasks(r, queue="q")).items] == [stays.id]
    claimed = [await store.claim(r, worker.id, ["gpu"], PLENTY, 15, T0 + 60) for _ in range(2)]
    assert [c.task.id for c in claimed if c and c.task] == [waiting.id, moved.id]


async def test_a_move_may_set_a_priority_and_create_the_queue(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q", priority=1)

    with pytest.raises(NotFound, match="queue new does not exist"):
        await store.move_to_queue(r, task.id, "new", None, T0)
    assert await _order(r, "q") == [task.id]  # a refused move leaves it where it was
    moved = await store.move_to_queue(r, task.id, "new", 7, T0, create_queue=True)

    assert moved.queue == "new" and moved.priority == 7
    assert "new" in [q.name for q in await store.list_queues(r, T0)]


async def test_only_a_queued_task_moves_and_never_onto_its_own_queue(r: aioredis.Redis) -> None:
    await store.create_queue(r, "gpu")
    draft = await make_task(r)
    queued = await make_task(r, queue="q")

    with pytest.raises(Conflict, match="is draft; only a queued task can be moved"):
        await store.move_to_queue(r, draft.id, "gpu", None, T0)
    with pytest.raises(Conflict, match="on queue q already"):
        await store.move_to_queue(r, queued.id, "q", None, T0)
    with pytest.raises(NotFound):
        await store.move_to_queue(r, "0" * 32, "gpu", None, T0)
    assert (await store.get_task(r, draft.id)).status == TaskStatus.DRAFT
    assert await _order(r, "q") == [queued.id]
