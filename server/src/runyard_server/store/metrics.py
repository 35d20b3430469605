"""Metric series of a task: points appended in logging order, the last value of each."""

import json
from typing import cast

import anyio.to_thread
import redis.asyncio as aioredis

from runyard.models import MetricBatch, MetricValue, TaskMetrics
from runyard.models.limits import MAX_METRIC_POINTS_PER_TASK
from runyard_server.errors import Conflict, NotFound, TooLarge
from runyard_server.history_files import HistoryStore
from runyard_server.store import keys, script_keys, scripts


async def append_metrics(r: "aioredis.Redis", task_id: str, batch: MetricBatch) -> int:
    """Store every point of ``batch`` or none; returns how many were stored."""
    args: list[str] = []
    for point in batch.points:
        entry = json.dumps([point.series, point.step, point.value, point.ts])
        args += [point.series, entry, repr(point.value)]
    declared = {
        **script_keys.task_output(task_id),
        **script_keys.metric_indexes([point.series for point in batch.points]),
        "metric_series": keys.METRIC_SERIES,
    }
    reply = await scripts.run(r, "metrics", declared, task_id, MAX_METRIC_POINTS_PER_TASK, *args)
    if reply[0] == "missing":
        raise NotFound(f"task {task_id} does not exist")
    if reply[0] == "archived":
        raise Conflict(
            f"task {task_id} is {reply[1]} and its metrics are archived: it takes no more"
        )
    if reply[0] == "full":
        raise TooLarge(
            f"task {task_id} has {reply[1]} metric points; {MAX_METRIC_POINTS_PER_TASK} is "
            "the limit per task: log less often"
        )
    return int(reply[1])


async def read_metrics(r: "aioredis.Redis", history: HistoryStore, task_id: str) -> TaskMetrics:
    """Every series of the task with its points (from the archive once archived), and
    each one's last value (always in Redis, which retention keeps)."""
    async with r.pipeline(transaction=True) as pipe:
        pipe.hget(keys.task(task_id), "status")
        pipe.hget(keys.task(task_id), "history")
        pipe.lrange(keys.task_metrics(task_id), 0, -1)
        pipe.hgetall(keys.task_final_metrics(task_id))
        status, archived, entries, final = await pipe.execute()
    if status is None:
        raise NotFound(f"task {task_id} does not exist")
    if archived is not None:
        entries = await anyio.to_thread.run_sync(history.metric_points, task_id)
    series: dict[str, list[MetricValue]] = {}
    for raw in cast(list[str], entries):
        name, step, value, ts = json.loads(raw)
        series.setdefault(name, []).append(MetricValue(step=step, value=value, ts=ts))
    last = {name: float(value) for name, value in cast(dict[str, str], final).items()}
    return TaskMetrics(series=series, final=last)
