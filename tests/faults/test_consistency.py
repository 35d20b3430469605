"""The consistency checker passes a store in every task state and names each kind of damage."""

from collections.abc import Iterator

import pytest
import redis

from runyard.models import CloneRequest, TaskStatus
from runyard_server import store
from runyard_server.store import keys
from tests.faults.consistency import problems
from tests.integration.store_support import PLENTY, T0, client, make_task, make_worker

pytestmark = pytest.mark.anyio


@pytest.fixture
def sync(redis_url: str) -> Iterator["redis.Redis[str]"]:
    r: redis.Redis[str] = redis.Redis.from_url(redis_url, decode_responses=True)
    yield r
    r.close()


async def _every_state(url: str) -> dict[str, str]:
    r = client(url)
    try:
        ids = {"draft": (await make_task(r, name="d", tags=["x"])).id}
        for name in ("a", "b", "c"):
            ids[name] = (await make_task(r, name=name, queue="q", priority=1)).id
        worker = await make_worker(r)
        claimed = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
        assert claimed is not None and claimed.task is not None and claimed.lease_token
        ids["running"] = claimed.task.id
        done = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
        assert done is not None and done.task is not None and done.lease_token
        await store.report_end(r, done.task.id, done.lease_token, TaskStatus.COMPLETED, 0, None, T0)
        ids["completed"] = done.task.id
        request = CloneRequest(queue="other", create_queue=True)
        clone = await store.clone_task(r, ids["draft"], request, T0)
        ids["clone"] = clone.id
        return ids
    finally:
        await r.aclose()


async def test_checker_passes_every_state_and_names_damage(
    redis_url: str, sync: "redis.Redis[str]"
) -> None:
    ids = await _every_state(redis_url)
    assert problems(sync) == []
    sync.hdel(keys.task(ids["draft"]), "spec")
    sync.zrem(keys.queue("q"), ids["c"])
    sync.zadd(keys.queue("q"), {"ghost": 1})
    sync.zrem(keys.LEASES, ids["running"])
    sync.zadd(keys.status_index("failed"), {ids["clone"]: 1})
    found = "\n".join(problems(sync))
    assert f"task {ids['draft']}: half-written hash" in found
    assert f"task {ids['c']}: queued but not in ry:queue:q" in found
    assert "ry:queue:q: 1 member(s) that do not belong, e.g. ['ghost']" in found
    assert f"task {ids['running']}: running on" in found
    assert "ry:idx:status:failed: 1 member(s)" in found
