"""A script that touches a key it was not given fails, on a plain Redis and a cluster."""

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from runyard.models import TaskStatus
from runyard_server import store
from runyard_server.store import keys, script_keys, scripts
from tests.integration.store_support import PLENTY, T0, StoreRedis, make_task, make_worker
from tests.strict_keys import STRICT

pytestmark = pytest.mark.anyio


async def test_a_label_the_caller_did_not_declare_is_refused_before_any_write(
    r: aioredis.Redis,
) -> None:
    task = await make_task(r)
    await store.abort(r, task.id, T0)
    declared = {**script_keys.task(task.id), "stats": keys.STATS}  # not its console

    with pytest.raises(scripts.Undeclared, match=f"undeclared key logs:{task.id}"):
        await scripts.run(r, "archive", declared, task.id, "", 0, 0, 0)

    assert await r.hget(keys.task(task.id), "history") is None


async def test_a_key_built_inside_a_script_is_refused_in_tests(r: aioredis.Redis) -> None:
    """Every key shares the {ry} slot, so a cluster would run this; the tests' check
    (tests/strict_keys.py) does not."""
    built_inside = STRICT + "return redis.call('GET', KEYS[1] .. ':logs')"

    with pytest.raises(ResponseError, match="strict keys: GET on undeclared key"):
        await r.eval(built_inside, 1, keys.task("t"))  # type: ignore[misc]


async def test_a_cluster_refuses_a_script_key_of_another_slot(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    """What Redis itself checks on a cluster: an untagged key lives in another slot."""
    untagged = "return redis.call('GET', 'ry:task:t')"
    if not store_redis.cluster:
        assert await r.eval(untagged, 1, keys.task("t")) is None  # type: ignore[misc]
        return
    with pytest.raises(ResponseError, match=r"slot|non local key"):
        await r.eval(untagged, 1, keys.task("t"))  # type: ignore[misc]


async def test_a_report_for_a_task_that_moved_since_it_was_read_changes_nothing(
    r: aioredis.Redis,
) -> None:
    """``end`` was given no key of the task's worker (as if it was read before the
    claim): it refuses before its first write, and the caller's plan reads again."""
    await make_task(r, queue="q")
    worker = await make_worker(r)
    claimed = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    assert claimed is not None and claimed.task is not None and claimed.lease_token
    task_id = claimed.task.id
    stale = script_keys.transition([task_id], ["q"], [None])

    with pytest.raises(scripts.Undeclared, match="the task moved"):
        await scripts.run(r, "end", stale, task_id, claimed.lease_token, T0, "completed", "0", "")

    assert await r.zscore(keys.LEASES, task_id) == T0 + 15
    assert await r.hget(keys.task(task_id), "status") == "running"
    ended = await store.report_end(
        r, task_id, claimed.lease_token, TaskStatus.COMPLETED, 0, None, T0
    )
    assert ended.status is TaskStatus.COMPLETED


async def test_the_reaper_leaves_a_lease_whose_task_moved_for_its_next_round(
    r: aioredis.Redis,
) -> None:
    await make_task(r, queue="q")
    worker = await make_worker(r)
    claimed = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    assert claimed is not None and claimed.task is not None
    task_id = claimed.task.id
    stale = script_keys.transition([task_id], ["q"], [None])

    assert await scripts.run(r, "reap", stale, T0 + 16, task_id) == [0]
    assert await r.hget(keys.task(task_id), "status") == "running"
    assert await store.reap_expired(r, T0 + 16) == [task_id]
