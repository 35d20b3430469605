"""The min/max indexes the metrics script keeps as points arrive."""

import pytest
import redis.asyncio as aioredis

from runyard.models import MetricBatch, MetricPoint
from runyard_server import store
from runyard_server.errors import TooLarge
from runyard_server.store import keys
from runyard_server.store import metrics as metric_store
from tests.integration.store_support import T0, make_task

pytestmark = pytest.mark.anyio


def batch(*points: tuple[str, float]) -> MetricBatch:
    return MetricBatch(
        points=[MetricPoint(series=s, value=v, step=i, ts=T0) for i, (s, v) in enumerate(points)]
    )


async def scores(r: aioredis.Redis, series: str, task_id: str) -> tuple[float | None, ...]:
    return tuple([await r.zscore(index, task_id) for index in keys.metric_indexes(series)])


async def test_each_series_keeps_its_last_min_and_max_across_batches(r: aioredis.Redis) -> None:
    task = await make_task(r)
    precise = 0.12345678901234567  # more digits than Lua prints a number with

    await store.append_metrics(
        r, task.id, batch(("loss", 2.0), ("acc", 0.5), ("loss", precise), ("loss", 1.5))
    )
    assert await scores(r, "loss", task.id) == (1.5, precise, 2.0)
    assert await scores(r, "acc", task.id) == (0.5, 0.5, 0.5)

    await store.append_metrics(r, task.id, batch(("loss", 3.0), ("acc", -1.0), ("acc", 0.25)))
    assert await scores(r, "loss", task.id) == (3.0, precise, 3.0)
    assert await scores(r, "acc", task.id) == (0.25, -1.0, 0.5)
    assert await r.hgetall(keys.task_final_metrics(task.id)) == {"loss": "3.0", "acc": "0.25"}
    assert await r.smembers(keys.METRIC_SERIES) == {"loss", "acc"}


async def test_a_refused_batch_leaves_min_and_max_alone(
    r: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = await make_task(r)
    await store.append_metrics(r, task.id, batch(("loss", 1.0)))
    monkeypatch.setattr(metric_store, "MAX_METRIC_POINTS_PER_TASK", 2)

    with pytest.raises(TooLarge):
        await store.append_metrics(r, task.id, batch(("loss", -5.0), ("loss", 9.0)))

    assert await scores(r, "loss", task.id) == (1.0, 1.0, 1.0)
