"""Task records: create, edit, delete, clone, transitions and their conflicts."""

from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from runyard.models import CloneRequest, Resources, TaskUpdate
from runyard_server import store
from runyard_server.errors import Conflict, Invalid, NotFound
from runyard_server.store import keys
from runyard_server.store.tasks import MAX_WATCH_TRIES, watched_edit
from tests.integration.store_support import (
    PLENTY,
    T0,
    StoreRedis,
    client,
    make_task,
    make_worker,
)

pytestmark = pytest.mark.anyio


async def test_created_task_reads_back_with_its_spec_and_json_types(r: aioredis.Redis) -> None:
    params = {"General": {"lr": 0.01, "epochs": 10, "name": "x", "on": True, "ids": [1, 2]}}
    created = await make_task(
        r,
        project="vision",
        name="resnet",
        tags=["a", "b"],
        params=params,
        resources=Resources(gpus=2, cpus=4.5, memory_gb=16),
        max_retries=3,
    )

    task = await store.get_task(r, created.id)

    assert task == created
    assert task.status == "draft" and task.queue is None
    assert task.params == params
    assert task.resources == Resources(gpus=2, cpus=4.5, memory_gb=16)
    assert task.created.timestamp() == T0 and task.max_retries == 3


async def test_create_with_a_queue_enqueues_at_once(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="gpu", priority=7)

    assert task.status == "queued" and task.queue == "gpu" and task.priority == 7
    assert await r.zrange(keys.queue("gpu"), 0, -1) == [task.id]
    assert [q.name for q in await store.list_queues(r, T0)] == ["gpu"]


async def test_unknown_task_is_not_found(r: aioredis.Redis) -> None:
    with pytest.raises(NotFound):
        await store.get_task(r, "0" * 32)
    with pytest.raises(NotFound):
        await store.enqueue(r, "0" * 32, "q", 0, T0)


async def test_update_changes_a_draft_and_its_indexes(r: aioredis.Redis) -> None:
    task = await make_task(r, project="old", tags=["keep", "drop"], name="n")

    updated = await store.update_task(
        r, task.id, TaskUpdate(project="new", tags=["keep", "added"], params={"S": {"k": 1}})
    )

    assert updated.project == "new" and updated.name == "n"
    assert updated.params == {"S": {"k": 1}}
    assert [t.id for t in (await store.list_tasks(r, project="new")).items] == [task.id]
    assert (await store.list_tasks(r, project="old")).items == []
    assert (await store.list_tasks(r, tag="drop")).items == []
    assert [t.id for t in (await store.list_tasks(r, tag="added")).items] == [task.id]


async def test_update_is_refused_unless_draft(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")

    with pytest.raises(Conflict, match=f"task {task.id} is queued"):
        await store.update_task(r, task.id, TaskUpdate(name="other"))


async def test_an_edit_of_a_task_that_keeps_changing_gives_up_with_a_conflict(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    task = await make_task(r, name="n")
    other = client(store_redis)
    reads = 0

    async def read(pipe: Any) -> Callable[[Any], None]:
        nonlocal reads
        reads += 1
        await other.hset(keys.task(task.id), "comment", str(reads))  # a concurrent writer
        return lambda pipe: pipe.hset(keys.task(task.id), "name", "lost")

    try:
        with pytest.raises(Conflict, match="kept changing"):
            await watched_edit(r, task.id, read)
    finally:
        await other.aclose()
    assert reads == MAX_WATCH_TRIES
    assert (await store.get_task(r, task.id)).name == "n"


async def test_delete_removes_the_task_its_indexes_and_logs(r: aioredis.Redis) -> None:
    parent = await make_task(r)
    task = await make_task(r, tags=["t"], parent=parent.id, queue="q")
    await store.dequeue(r, task.id)
    await store.enqueue(r, task.id, "q", 0, T0)
    await store.abort(r, task.id, T0)

    await store.delete_task(r, task.id)

    with pytest.raises(NotFound):
        await store.get_task(r, task.id)
    assert [t.id for t in (await store.list_tasks(r)).items] == [parent.id]
    for key in await r.keys(f"{keys.PREFIX}idx:*"):
        assert await r.zscore(key, task.id) is None
    assert not await r.exists(keys.task_logs(task.id))


async def test_delete_is_refused_while_queued_or_running(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")
    with pytest.raises(Conflict, match="queued; dequeue or abort"):
        await store.delete_task(r, task.id)
    worker = await make_worker(r)
    await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    with pytest.raises(Conflict, match="running"):
        await store.delete_task(r, task.id)


async def test_enqueue_conflict_names_the_current_status(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)

    with pytest.raises(
        Conflict, match=f"task {task.id} is running; only a draft task can be enqueued"
    ):
        await store.enqueue(r, task.id, "q", 0, T0)
    with pytest.raises(Conflict, match="is running; only a queued task can be dequeued"):
        await store.dequeue(r, task.id)


async def test_dequeue_returns_a_queued_task_to_draft(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")

    draft = await store.dequeue(r, task.id)

    assert draft.status == "draft" and draft.queue is None
    assert await r.zcard(keys.queue("q")) == 0
    assert (await store.list_tasks(r, queue="q")).items == []
    assert [t.id for t in (await store.list_tasks(r, status="draft")).items] == [task.id]


async def test_abort_of_a_queued_task_takes_it_off_the_queue(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")

    aborted = await store.abort(r, task.id, T0 + 5)

    assert aborted.status == "aborted" and aborted.finished is not None
    assert await r.zcard(keys.queue("q")) == 0
    assert (await store.get_queue(r, "q", T0)).depth == 0


async def test_clone_copies_the_spec_and_applies_overrides_keeping_types(
    r: aioredis.Redis,
) -> None:
    source = await make_task(
        r,
        name="base",
        tags=["x"],
        params={"General": {"lr": 0.1, "epochs": 10}, "Args": {"data/dir": "/a"}},
        resources=Resources(gpus=1),
    )
    overrides = {"General/lr": 0.01, "General/epochs": 20, "Args/data/dir": "/b"}
    new_params = {"General/debug": False, "Model/head/layers": [64, 32]}
    request = CloneRequest(overrides=overrides, new_params=new_params)

    clone = await store.clone_task(r, source.id, request, T0 + 1)

    assert clone.id != source.id and clone.parent == source.id
    assert clone.status == "draft" and clone.name == "base" and clone.tags == ["x"]
    assert clone.resources.gpus == 1
    assert clone.params == {
        "General": {"lr": 0.01, "epochs": 20, "debug": False},
        "Args": {"data/dir": "/b"},
        "Model": {"head": {"layers": [64, 32]}},
    }
    assert (await store.get_task(r, source.id)).params["General"]["lr"] == 0.1
    assert [t.id for t in (await store.list_tasks(r, parent=source.id)).items] == [clone.id]


async def test_clone_with_a_queue_is_enqueued_with_its_new_name(r: aioredis.Redis) -> None:
    source = await make_task(r, name="base")

    clone = await store.clone_task(
        r,
        source.id,
        CloneRequest(name="rerun", queue="q", create_queue=True, priority=3, tags=["y"]),
        T0,
    )

    assert clone.status == "queued" and clone.queue == "q" and clone.priority == 3
    assert clone.name == "rerun" and clone.tags == ["y"]


async def test_clone_override_through_a_plain_value_is_invalid(r: aioredis.Redis) -> None:
    source = await make_task(r, params={"General": {"lr": 0.1}})

    with pytest.raises(Invalid, match="General/lr/x"):
        await store.clone_task(r, source.id, CloneRequest(overrides={"General/lr/x": 1}), T0)
