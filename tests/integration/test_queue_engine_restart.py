"""Durability: a Redis crash (kill -9) with appendfsync always loses no queued task."""

from collections.abc import Callable

import pytest

from runyard_server import store
from runyard_server.embedded import EmbeddedRedis
from runyard_server.store import keys
from tests.integration.store_support import PLENTY, T0, client, make_task, make_worker

pytestmark = pytest.mark.anyio


async def test_queued_and_running_tasks_survive_a_redis_crash(
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    server = redis_factory(fsync="always")
    r = client(server.url)
    queued = [(await make_task(r, name=f"t{i}", queue="q", priority=i % 3)).id for i in range(50)]
    worker = await make_worker(r)
    running = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    assert running is not None and running.task is not None
    order_before = await r.zrange(keys.queue("q"), 0, -1)
    await r.aclose()

    server.kill()
    restarted = redis_factory(data_dir=server.data_dir, fsync="always")
    r = client(restarted.url)
    try:
        assert await r.zrange(keys.queue("q"), 0, -1) == order_before
        assert len(order_before) == 49 and set(order_before) | {running.task.id} == set(queued)
        for task_id in map(str, order_before):
            assert (await store.get_task(r, task_id)).status == "queued"
        assert (await store.get_task(r, running.task.id)).status == "running"
        assert await store.reap_expired(r, T0 + 100) == [running.task.id]
        claimed = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0 + 101)
        assert claimed is not None and claimed.task is not None
        assert claimed.task.id == running.task.id
    finally:
        await r.aclose()
