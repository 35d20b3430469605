"""Schedules on real Redis with the test's clock: runs start on time, missed runs follow
the catch-up policy, and two jobs processes starting the same run make one task."""

import asyncio

import pytest
import redis.asyncio as aioredis

from runyard.models import CatchUp, ScheduleCreate, Script, TaskStatus
from runyard.models.pipelines import PipelineCreate
from runyard_server import store
from runyard_server.jobs.schedules import start_due
from runyard_server.store import schedules
from runyard_server.store.pipelines import create_pipeline, list_runs
from tests.integration.store_support import T0, make_task

pytestmark = pytest.mark.anyio

EVERY_SECOND = "* * * * * *"


async def _schedule(r: aioredis.Redis, catch_up: CatchUp = "once") -> str:
    await store.create_queue(r, "gpu")
    base = await make_task(r, project="nightly", name="train", script=Script(entry_point="t.py"))
    body = ScheduleCreate(task=base.id, cron=EVERY_SECOND, queue="gpu", catch_up=catch_up)
    made = await schedules.create_schedule(r, body, "nightly", "ann", T0)
    return made.id


async def _runs(r: aioredis.Redis) -> list[tuple[str, str]]:
    """(status, name) of the tasks the schedule made, oldest first."""
    page = await store.list_tasks(r, project="nightly", limit=1000)
    return [(t.status.value, t.id) for t in reversed(page.items) if t.parent]


async def test_each_run_starts_when_due_as_a_queued_clone(r: aioredis.Redis) -> None:
    schedule_id = await _schedule(r)
    assert await start_due(r, T0 + 0.5) == 0
    assert await start_due(r, T0 + 1.0) == 1
    assert await start_due(r, T0 + 1.5) == 0
    assert await start_due(r, T0 + 2.01) == 1
    runs = await _runs(r)
    assert [status for status, _ in runs] == [TaskStatus.QUEUED.value] * 2
    origins = [(await store.get_task(r, task_id)).origin for _, task_id in runs]
    assert origins == [
        f"schedule:{schedule_id}:{T0 + 1:.0f}",
        f"schedule:{schedule_id}:{T0 + 2:.0f}",
    ]
    shown = await schedules.get_schedule(r, schedule_id)
    assert shown.runs == 2 and shown.last_task == runs[-1][1]
    assert [t.timestamp() for t in shown.next_runs] == [T0 + 3, T0 + 4, T0 + 5]


@pytest.mark.parametrize(("catch_up", "made"), [("once", 1), ("all", 8), ("skip", 0)])
async def test_runs_missed_while_down_follow_the_catch_up_policy(
    r: aioredis.Redis, catch_up: CatchUp, made: int
) -> None:
    schedule_id = await _schedule(r, catch_up)
    assert await start_due(r, T0 + 1.1) == 1
    # Down from T0 + 1.1 until T0 + 9.5: the runs due at T0 + 2 … T0 + 9 were missed.
    assert await start_due(r, T0 + 9.5) == made
    assert await start_due(r, T0 + 9.9) == 0
    assert len(await _runs(r)) == 1 + made
    shown = await schedules.get_schedule(r, schedule_id)
    assert shown.next_runs[0].timestamp() == T0 + 10


async def test_two_jobs_processes_starting_one_run_make_one_task(r: aioredis.Redis) -> None:
    await _schedule(r)
    made = await asyncio.gather(*(start_due(r, T0 + 1.2) for _ in range(4)))
    assert sum(made) >= 1
    assert len(await _runs(r)) == 1


async def test_a_paused_schedule_starts_nothing_and_resumes_without_making_up(
    r: aioredis.Redis,
) -> None:
    schedule_id = await _schedule(r)
    paused = await schedules.set_paused(r, schedule_id, True, T0)
    assert paused.paused and paused.next_runs == []
    assert await start_due(r, T0 + 5.5) == 0
    resumed = await schedules.set_paused(r, schedule_id, False, T0 + 5.5)
    assert resumed.next_runs[0].timestamp() == T0 + 6
    assert await start_due(r, T0 + 6.0) == 1


async def test_a_run_whose_task_is_gone_records_why_and_moves_on(r: aioredis.Redis) -> None:
    schedule_id = await _schedule(r)
    base = (await schedules.get_schedule(r, schedule_id)).task
    await store.delete_task(r, base)
    assert await start_due(r, T0 + 1.0) == 0
    shown = await schedules.get_schedule(r, schedule_id)
    assert shown.last_error and base in shown.last_error
    assert shown.next_runs[0].timestamp() == T0 + 2


async def test_a_schedule_starts_one_pipeline_run_per_due_time(r: aioredis.Redis) -> None:
    await store.create_queue(r, "q")
    base = await make_task(r, project="etl", name="step", script=Script(entry_point="s.py"))
    spec = PipelineCreate.model_validate(
        {"name": "nightly", "project": "etl", "queue": "q", "params": {"day": ""},
         "steps": [{"name": "prepare", "base": base.id}]}
    )  # fmt: skip
    pipeline = await create_pipeline(r, spec, T0, owner="ann")
    body = ScheduleCreate(pipeline=pipeline.id, cron=EVERY_SECOND, params={"day": "mon"})
    schedule = await schedules.create_schedule(r, body, "etl", "ann", T0)
    # Two replicas at the same due time, and one of them again: one run.
    made = await asyncio.gather(start_due(r, T0 + 1.0), start_due(r, T0 + 1.0))
    assert (await schedules.get_schedule(r, schedule.id)).last_error is None
    assert sum(made) == 1 and await start_due(r, T0 + 1.2) == 0
    [run] = (await list_runs(r, 10, pipeline.id)).copy()
    assert (run.params, run.owner) == ({"day": "mon"}, "ann")
    shown = await schedules.get_schedule(r, schedule.id)
    assert shown.last_task == run.id
    steps = await store.list_tasks(r, project="etl", limit=10)
    assert [t.origin for t in steps.items if t.parent] == [f"pipeline:{run.id}:prepare"]
