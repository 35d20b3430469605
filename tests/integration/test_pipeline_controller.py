"""The pipeline controller on a real Redis (plain and Cluster), with the agent's side
played through the store (claim, metrics, artifacts, end): steps start when their
parents complete, references resolve, the cache reuses exactly the steps whose content
is unchanged, retries, failure and abort cascades, and exactly-once spawning."""

import hashlib
import json
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from runyard.models import (
    MetricBatch,
    MetricPoint,
    PipelineCreate,
    PipelineRun,
    RunStatus,
    StepStatus,
    TaskStatus,
)
from runyard_server import store
from runyard_server.errors import Conflict, Invalid, NotFound
from runyard_server.jobs.pipeline_steps import artifact_path
from runyard_server.jobs.pipelines import Advance, abort_run, advance, start_run
from runyard_server.store import keys
from runyard_server.store.pipelines import create_pipeline, get_run, read_run
from tests.integration.store_support import PLENTY, T0, make_task, make_worker

pytestmark = pytest.mark.anyio


async def _base(r: aioredis.Redis, **params: Any) -> str:
    task = await make_task(
        r,
        params={"Args": {"lr": 0.01, "data": "", "acc": 0.0, **params}},
        script={"repository": "/repo", "commit": "c0ffee", "entry_point": "step.py"},
    )
    return task.id


DATA = "${prepare.artifacts.data}"


async def _diamond(r: aioredis.Redis, retries: int = 0, on_failure: str = "finish") -> str:
    base = await _base(r)
    await store.create_queue(r, "q")
    spec = PipelineCreate.model_validate(
        {
            "name": "diamond",
            "params": {"lr_a": 0.1, "lr_b": 0.2},
            "queue": "q",
            "on_failure": on_failure,
            "steps": [
                {"name": "prepare", "base": base},
                {
                    "name": "train_a",
                    "base": base,
                    "parents": ["prepare"],
                    "params": {"Args/lr": "${params.lr_a}", "Args/data": DATA},
                    "retries": retries,
                },
                {
                    "name": "train_b",
                    "base": base,
                    "parents": ["prepare"],
                    "params": {"Args/lr": "${params.lr_b}", "Args/data": DATA},
                },
                {
                    "name": "evaluate",
                    "base": base,
                    "parents": ["train_a", "train_b"],
                    "params": {"Args/acc": "${train_b.metrics.val/acc}"},
                },
            ],
        }
    )
    return (await create_pipeline(r, spec, T0, owner="ann")).id


async def _end_next(
    r: aioredis.Redis,
    status: TaskStatus = TaskStatus.COMPLETED,
    metrics: dict[str, float] | None = None,
    artifacts: dict[str, bytes] | None = None,
) -> str:
    """Claim the next queued task as an agent would and end it as ``status``."""
    worker = await make_worker(r, name="w")
    found = await store.claim(r, worker.id, ["q"], PLENTY, 60, T0)
    assert found is not None and found.task is not None and found.lease_token is not None
    task_id = found.task.id
    points = [MetricPoint(series=s, value=v, ts=T0) for s, v in (metrics or {}).items()]
    if points:
        await store.append_metrics(r, task_id, MetricBatch(points=points))
    for name, content in (artifacts or {}).items():
        digest = hashlib.sha256(content).hexdigest()
        await store.record_artifact(r, task_id, name, len(content), digest, T0)
    await store.report_end(r, task_id, found.lease_token, status, 0, "boom", T0)
    return task_id


async def _notified(r: aioredis.Redis) -> list[tuple[str, dict[str, Any]]]:
    """The webhook events emitted so far: (kind, payload)."""
    entries = cast(list[tuple[str, dict[str, str]]], await r.xrange(keys.NOTIFY))
    return [(fields["kind"], json.loads(fields["payload"])) for _, fields in entries]


def _steps(run: PipelineRun) -> dict[str, StepStatus]:
    return {step.name: step.status for step in run.steps}


async def _run_diamond(r: aioredis.Redis, pipeline: str, lr_b: float, acc: float) -> PipelineRun:
    run = await start_run(r, pipeline, {"lr_b": lr_b}, "ann", T0)
    if run.steps[0].status is StepStatus.QUEUED:
        await _end_next(r, artifacts={"data": b"rows"})
    run = await advance(r, run.id, T0)
    for step in ("train_a", "train_b"):
        if next(s for s in run.steps if s.name == step).status is StepStatus.QUEUED:
            await _end_next(r, metrics={"val/acc": acc})
            run = await advance(r, run.id, T0)
    if run.steps[3].status is StepStatus.QUEUED:
        await _end_next(r)
    return await advance(r, run.id, T0)


async def test_diamond_runs_each_step_after_its_parents_with_references_resolved(
    r: aioredis.Redis,
) -> None:
    pipeline = await _diamond(r)
    run = await start_run(r, pipeline, {}, "ann", T0)
    assert _steps(run) == {
        "prepare": StepStatus.QUEUED,
        "train_a": StepStatus.WAITING,
        "train_b": StepStatus.WAITING,
        "evaluate": StepStatus.WAITING,
    }
    prepare = await _end_next(r, artifacts={"data": b"rows"})
    run = await advance(r, run.id, T0)
    assert _steps(run)["train_a"] is _steps(run)["train_b"] is StepStatus.QUEUED
    train_a = await store.get_task(r, run.steps[1].task or "")
    assert train_a.params["Args"]["lr"] == 0.1
    assert train_a.params["Args"]["data"] == artifact_path(run.id, "prepare", "data")
    assert train_a.origin == f"pipeline:{run.id}:train_a" and train_a.owner == "ann"

    await _end_next(r, metrics={"val/acc": 0.5})
    await _end_next(r, metrics={"val/acc": 0.75})
    run = await advance(r, run.id, T0)
    evaluate = await store.get_task(r, run.steps[3].task or "")
    assert evaluate.params["Args"]["acc"] == 0.75
    await _end_next(r)
    run = await advance(r, run.id, T0)

    assert run.status is RunStatus.COMPLETED
    assert all(step.status is StepStatus.COMPLETED for step in run.steps)
    assert run.steps[0].task == prepare and not any(step.cache_hit for step in run.steps)
    assert not await r.sismember(keys.ACTIVE_PIPELINE_RUNS, run.id)
    events = await _notified(r)
    assert [kind for kind, _ in events] == ["pipeline.completed"]
    assert events[0][1]["id"] == run.id


async def test_rerun_with_one_changed_param_reuses_only_the_unchanged_steps(
    r: aioredis.Redis,
) -> None:
    pipeline = await _diamond(r)
    first = await _run_diamond(r, pipeline, lr_b=0.2, acc=0.5)
    second = await _run_diamond(r, pipeline, lr_b=0.3, acc=0.6)

    assert first.status is second.status is RunStatus.COMPLETED, second.reason
    hits = {step.name: step.cached_from for step in second.steps if step.cache_hit}
    # train_b's lr changed; evaluate reads train_b's new metric, so it runs again too.
    assert hits == {"prepare": first.steps[0].task, "train_a": first.steps[1].task}
    unchanged = await _run_diamond(r, pipeline, lr_b=0.3, acc=0.6)
    assert all(step.cache_hit for step in unchanged.steps)
    fresh = await start_run(r, pipeline, {"lr_b": 0.3}, "ann", T0, no_cache=True)
    assert fresh.steps[0].status is StepStatus.QUEUED and not fresh.steps[0].cache_hit


async def test_a_failing_step_is_retried_then_fails_the_run_and_skips_the_rest(
    r: aioredis.Redis,
) -> None:
    pipeline = await _diamond(r, retries=1)
    run = await start_run(r, pipeline, {}, "ann", T0)
    await _end_next(r, artifacts={"data": b"rows"})
    run = await advance(r, run.id, T0)
    first_a = run.steps[1].task
    await _end_next(r, TaskStatus.FAILED)  # train_a, first attempt
    run = await advance(r, run.id, T0)
    step_a = run.steps[1]
    assert step_a.status is StepStatus.QUEUED and step_a.attempts == 2
    assert step_a.task != first_a and step_a.tasks == [first_a, step_a.task]
    assert step_a.reason is not None and "attempt 1 failed" in step_a.reason

    await _end_next(r)  # train_b completes
    await _end_next(r, TaskStatus.FAILED)  # train_a, second attempt
    run = await advance(r, run.id, T0)

    assert run.status is RunStatus.FAILED
    assert run.reason is not None and run.reason.startswith("step train_a failed")
    assert _steps(run) == {
        "prepare": StepStatus.COMPLETED,
        "train_a": StepStatus.FAILED,
        "train_b": StepStatus.COMPLETED,
        "evaluate": StepStatus.SKIPPED,
    }
    assert [kind for kind, _ in await _notified(r)] == ["pipeline.failed"]


async def test_a_failure_aborts_the_queued_steps(r: aioredis.Redis) -> None:
    pipeline = await _diamond(r)
    run = await start_run(r, pipeline, {}, "ann", T0)
    await _end_next(r, artifacts={"data": b"rows"})
    run = await advance(r, run.id, T0)
    await _end_next(r, TaskStatus.FAILED)  # train_a; train_b is still queued
    run = await advance(r, run.id, T0)

    assert run.status is RunStatus.FAILED
    assert _steps(run)["train_b"] is StepStatus.ABORTED
    assert (await store.get_task(r, run.steps[2].task or "")).status is TaskStatus.ABORTED


@pytest.mark.parametrize("policy", ["finish", "abort"])
async def test_a_failure_lets_running_steps_finish_or_aborts_them_by_policy(
    r: aioredis.Redis, policy: str
) -> None:
    pipeline = await _diamond(r, on_failure=policy)
    run = await start_run(r, pipeline, {}, "ann", T0)
    await _end_next(r, artifacts={"data": b"rows"})
    run = await advance(r, run.id, T0)
    worker = await make_worker(r, name="w2")
    running = await store.claim(r, worker.id, ["q"], PLENTY, 60, T0)  # train_a runs
    assert running is not None and running.task is not None
    await _end_next(r, TaskStatus.FAILED)  # train_b fails

    run = await advance(r, run.id, T0)

    assert run.status is RunStatus.FAILED
    stopped = (await store.get_task(r, running.task.id)).abort_requested
    assert stopped is (policy == "abort")
    assert _steps(run)["train_a"] is StepStatus.RUNNING
    assert _steps(run)["evaluate"] is StepStatus.SKIPPED
    assert running.lease_token is not None
    await store.report_end(
        r, running.task.id, running.lease_token, TaskStatus.COMPLETED, 0, None, T0
    )
    run = await advance(r, run.id, T0)
    assert _steps(run)["train_a"] is StepStatus.COMPLETED and run.status is RunStatus.FAILED
    assert not await r.sismember(keys.ACTIVE_PIPELINE_RUNS, run.id)


async def test_aborting_a_run_aborts_its_tasks_and_skips_waiting_steps(r: aioredis.Redis) -> None:
    pipeline = await _diamond(r)
    run = await start_run(r, pipeline, {}, "ann", T0)
    await _end_next(r, artifacts={"data": b"rows"})
    run = await advance(r, run.id, T0)
    worker = await make_worker(r, name="w2")
    claimed = await store.claim(r, worker.id, ["q"], PLENTY, 60, T0)  # train_a runs
    assert claimed is not None and claimed.task is not None

    run = await abort_run(r, run.id, "ann", T0)

    assert run.status is RunStatus.ABORTED and run.reason == "aborted by ann"
    assert _steps(run)["train_b"] is StepStatus.ABORTED
    assert _steps(run)["evaluate"] is StepStatus.SKIPPED
    running = await store.get_task(r, claimed.task.id)
    assert running.status is TaskStatus.RUNNING and running.abort_requested
    assert claimed.lease_token is not None
    await store.report_end(r, running.id, claimed.lease_token, TaskStatus.ABORTED, None, None, T0)
    run = await advance(r, run.id, T0)
    assert _steps(run)["train_a"] is StepStatus.ABORTED
    assert not await r.sismember(keys.ACTIVE_PIPELINE_RUNS, run.id)
    with pytest.raises(Conflict, match="only a running run aborts"):
        await abort_run(r, (await start_and_fail(r, pipeline)).id, "ann", T0)


async def start_and_fail(r: aioredis.Redis, pipeline: str) -> PipelineRun:
    run = await start_run(r, pipeline, {}, "ann", T0)
    await _end_next(r, TaskStatus.FAILED)
    return await advance(r, run.id, T0)


async def test_a_pass_killed_before_its_write_spawns_the_same_task_again(
    r: aioredis.Redis,
) -> None:
    pipeline = await _diamond(r)
    run = await start_run(r, pipeline, {}, "ann", T0)
    await _end_next(r, artifacts={"data": b"rows"})
    # A pass that spawned train_a and train_b but died before writing them down.
    lost = await Advance(r, T0)(await read_run(r, run.id))
    spawned = {name: step.task for name, step in lost.steps.items() if step.task}

    run = await advance(r, run.id, T0)

    assert {s.name: s.task for s in run.steps if s.name.startswith("train")} == {
        "train_a": spawned["train_a"],
        "train_b": spawned["train_b"],
    }
    assert await r.zcard(keys.queue("q")) == 2


async def test_a_run_refuses_unknown_params_and_queues(r: aioredis.Redis) -> None:
    pipeline = await _diamond(r)
    with pytest.raises(Invalid, match="'lr_c' is not declared"):
        await start_run(r, pipeline, {"lr_c": 1}, "ann", T0)
    await store.delete_queue(r, "q")
    with pytest.raises(NotFound, match="queue q does not exist"):
        await start_run(r, pipeline, {}, "ann", T0)
    with pytest.raises(NotFound):
        await get_run(r, "0" * 32)
