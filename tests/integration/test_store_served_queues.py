"""Which queues live workers serve, as the create and enqueue routes ask it."""

import pytest
import redis.asyncio as aioredis

from runyard_server import store
from tests.integration.store_support import T0, make_worker

pytestmark = pytest.mark.anyio


async def _count_hmget(r: aioredis.Redis) -> int:
    stats = await r.info("commandstats")
    return int(stats.get("cmdstat_hmget", {}).get("calls", 0))


async def test_a_served_queue_is_not_read_again_within_the_refresh_time(
    r: aioredis.Redis,
) -> None:
    for i in range(50):
        await make_worker(r, ("gpu",), name=f"w{i}")
    served = store.ServedQueues(alive_after_s=90, refresh_s=2)

    assert await served.unserved(r, "gpu", T0) is None
    before = await _count_hmget(r)
    for step in range(20):
        assert await served.unserved(r, "gpu", T0 + step * 0.1) is None

    assert await _count_hmget(r) == before


async def test_an_unserved_queue_is_read_afresh_so_a_new_worker_counts_at_once(
    r: aioredis.Redis,
) -> None:
    await make_worker(r, ("gpu", "big"))
    served = store.ServedQueues(alive_after_s=90, refresh_s=2)

    assert await served.unserved(r, "cpu", T0) == {"gpu", "big"}
    await make_worker(r, ("cpu",), name="cpu-box")

    assert await served.unserved(r, "cpu", T0 + 0.1) is None


async def test_a_served_queue_whose_workers_went_quiet_is_unserved_after_the_refresh(
    r: aioredis.Redis,
) -> None:
    await make_worker(r, ("gpu",))
    served = store.ServedQueues(alive_after_s=90, refresh_s=2)
    assert await served.unserved(r, "gpu", T0) is None

    assert await served.unserved(r, "gpu", T0 + 91) == set()
