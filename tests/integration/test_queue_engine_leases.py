"""Leases: expiry requeues then fails, stale tokens are refused, heartbeats extend."""

import pytest
import redis.asyncio as aioredis

from runyard.models import Claim, Heartbeat, HeldTask, LogBatch, LogLine, Task, TaskStatus
from runyard_server import store
from runyard_server.errors import Conflict, NotFound, StaleLease
from runyard_server.store import keys
from tests.integration.store_support import PLENTY, T0, make_task, make_worker

pytestmark = pytest.mark.anyio


async def _claim(r: aioredis.Redis, worker_id: str, now: float = T0) -> tuple[Task, str]:
    found: Claim | None = await store.claim(r, worker_id, ["q"], PLENTY, 15, now)
    assert found is not None and found.task is not None and found.lease_token is not None
    return found.task, found.lease_token


async def test_expired_lease_requeues_at_head_once_then_fails_as_worker_lost(
    r: aioredis.Redis,
) -> None:
    task = await make_task(r, name="lost", queue="q", max_retries=1)
    worker = await make_worker(r)
    await _claim(r, worker.id)
    behind = await make_task(r, name="behind", queue="q")

    assert await store.reap_expired(r, T0 + 14) == []
    assert await store.reap_expired(r, T0 + 16) == [task.id]

    requeued = await store.get_task(r, task.id)
    assert requeued.status == "queued" and requeued.worker is None
    assert await r.zrange(keys.queue("q"), 0, -1) == [task.id, behind.id]
    assert await r.smembers(keys.worker_running(worker.id)) == set()

    again, _ = await _claim(r, worker.id, now=T0 + 20)
    assert again.id == task.id and again.attempt == 2
    assert await store.reap_expired(r, T0 + 40) == [task.id]

    failed = await store.get_task(r, task.id)
    assert failed.status == "failed"
    assert failed.failure_reason == "worker lost"
    assert failed.finished is not None
    assert await r.zcard(keys.LEASES) == 0
    assert await r.zscore(keys.status_index("failed"), task.id) is not None
    assert await r.zscore(keys.status_index("running"), task.id) is None


async def test_expired_lease_with_no_retries_fails_at_once(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q", max_retries=0)
    worker = await make_worker(r)
    await _claim(r, worker.id)

    await store.reap_expired(r, T0 + 100)

    assert (await store.get_task(r, task.id)).status == "failed"


async def test_reaper_handles_more_expired_leases_than_one_batch(r: aioredis.Redis) -> None:
    worker = await make_worker(r)
    for i in range(7):
        await make_task(r, name=f"t{i}", queue="q")
        await _claim(r, worker.id)

    reaped = await store.reap_expired(r, T0 + 100, batch=3)

    assert len(reaped) == 7
    assert await r.zcard(keys.queue("q")) == 7


async def test_every_report_with_a_stale_lease_token_is_refused(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    _, old_token = await _claim(r, worker.id)
    await store.reap_expired(r, T0 + 100)
    _, new_token = await _claim(r, worker.id, now=T0 + 101)
    assert new_token != old_token

    with pytest.raises(StaleLease):
        await store.report_started(r, task.id, old_token, 30, T0 + 102)
    for status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.ABORTED):
        with pytest.raises(StaleLease):
            await store.report_end(r, task.id, old_token, status, 0, None, T0 + 102)
    with pytest.raises(StaleLease):
        await store.requeue(r, task.id, old_token, T0 + 102)
    with pytest.raises(StaleLease):
        batch = LogBatch(lease_token=old_token, seq=0, lines=[LogLine(text="x", ts=T0)])
        await store.append_logs(r, task.id, batch)

    current = await store.get_task(r, task.id)
    assert current.status == "running" and current.attempt == 2


async def test_reports_after_the_task_ended_are_refused(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    _, token = await _claim(r, worker.id)
    await store.report_end(r, task.id, token, TaskStatus.COMPLETED, 0, None, T0 + 5)

    with pytest.raises(StaleLease, match="completed"):
        await store.report_end(r, task.id, token, TaskStatus.FAILED, 1, "late", T0 + 6)
    with pytest.raises(NotFound):
        await store.report_started(r, "0" * 32, token, 30, T0)


async def test_started_report_extends_the_short_first_lease(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    _, token = await _claim(r, worker.id)

    started = await store.report_started(r, task.id, token, 30, T0 + 2)

    assert started.started is not None and started.started.timestamp() == T0 + 2
    assert await r.zscore(keys.LEASES, task.id) == T0 + 32
    assert await store.reap_expired(r, T0 + 20) == []


async def test_report_end_records_the_outcome_and_releases_the_worker(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    _, token = await _claim(r, worker.id)

    ended = await store.report_end(
        r, task.id, token, TaskStatus.FAILED, 3, "script: Traceback", T0 + 9
    )

    assert ended.status == "failed" and ended.exit_code == 3
    assert ended.failure_reason == "script: Traceback"
    assert ended.finished is not None and ended.finished.timestamp() == T0 + 9
    assert await r.zscore(keys.LEASES, task.id) is None
    assert await r.smembers(keys.worker_running(worker.id)) == set()


async def test_requeue_puts_the_task_at_the_head_without_counting_the_attempt(
    r: aioredis.Redis,
) -> None:
    task = await make_task(r, name="first", queue="q")
    worker = await make_worker(r)
    _, token = await _claim(r, worker.id)
    later = await make_task(r, name="later", queue="q")

    requeued = await store.requeue(r, task.id, token, T0 + 3)

    assert requeued.status == "queued" and requeued.attempt == 0
    assert await r.zrange(keys.queue("q"), 0, -1) == [task.id, later.id]
    assert await r.zscore(keys.LEASES, task.id) is None
    again, _ = await _claim(r, worker.id)
    assert again.id == task.id and again.attempt == 1


async def test_heartbeat_extends_held_leases_and_reports_lost_and_abort(
    r: aioredis.Redis,
) -> None:
    kept = await make_task(r, name="kept", queue="q")
    stopped = await make_task(r, name="stopped", queue="q")
    worker = await make_worker(r)
    _, kept_token = await _claim(r, worker.id)
    _, stopped_token = await _claim(r, worker.id)
    await store.abort(r, stopped.id, T0 + 1)
    held = [
        HeldTask(task_id=kept.id, lease_token=kept_token),
        HeldTask(task_id=stopped.id, lease_token=stopped_token),
        HeldTask(task_id="f" * 32, lease_token="gone"),
        HeldTask(task_id=kept.id, lease_token="an-old-token"),
    ]

    reply = await store.heartbeat(r, worker.id, Heartbeat(running=held), 30, T0 + 10)

    assert reply.abort == [stopped.id]
    assert reply.lost == ["f" * 32, kept.id]
    assert reply.lease_s == 30
    assert await r.zscore(keys.LEASES, kept.id) == T0 + 40
    assert await store.reap_expired(r, T0 + 39) == []
    workers = await store.list_workers(r, T0 + 20, alive_after_s=15)
    assert workers[0].alive and workers[0].last_heartbeat.timestamp() == T0 + 10


async def test_heartbeat_from_another_worker_does_not_extend_the_lease(
    r: aioredis.Redis,
) -> None:
    task = await make_task(r, queue="q")
    owner = await make_worker(r, name="owner")
    other = await make_worker(r, name="other")
    _, token = await _claim(r, owner.id)

    reply = await store.heartbeat(
        r, other.id, Heartbeat(running=[HeldTask(task_id=task.id, lease_token=token)]), 30, T0 + 5
    )

    assert reply.lost == [task.id]
    assert await r.zscore(keys.LEASES, task.id) == T0 + 15


async def test_heartbeat_sets_and_clears_the_state_detail_of_the_current_lease_only(
    r: aioredis.Redis,
) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    _, token = await _claim(r, worker.id)
    pending = "pending in Slurm: Resources (job 42)"

    def beat(lease_token: str, detail: str | None) -> Heartbeat:
        held = HeldTask(task_id=task.id, lease_token=lease_token, state_detail=detail)
        return Heartbeat(running=[held])

    await store.heartbeat(r, worker.id, beat(token, pending), 30, T0 + 1)
    assert (await store.get_task(r, task.id)).state_detail == pending
    # A stale token's word is not recorded: the lease is the fence.
    reply = await store.heartbeat(r, worker.id, beat("an-old-token", "pending: other"), 30, T0 + 2)
    assert reply.lost == [task.id]
    assert (await store.get_task(r, task.id)).state_detail == pending
    await store.heartbeat(r, worker.id, beat(token, None), 30, T0 + 3)
    assert (await store.get_task(r, task.id)).state_detail is None
    assert not await r.hexists(keys.task(task.id), "state_detail")


async def test_the_state_detail_goes_when_the_attempt_stops_running(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    _, token = await _claim(r, worker.id)
    held = HeldTask(task_id=task.id, lease_token=token, state_detail="pending in Slurm: Priority")
    await store.heartbeat(r, worker.id, Heartbeat(running=[held]), 30, T0 + 1)

    requeued = await store.requeue(r, task.id, token, T0 + 2)
    assert requeued.status == "queued" and requeued.state_detail is None
    _, token = await _claim(r, worker.id, now=T0 + 3)
    held = HeldTask(task_id=task.id, lease_token=token, state_detail="pending in Slurm: Priority")
    await store.heartbeat(r, worker.id, Heartbeat(running=[held]), 30, T0 + 4)
    ended = await store.report_end(r, task.id, token, TaskStatus.COMPLETED, 0, None, T0 + 5)
    assert ended.status == "completed" and ended.state_detail is None


async def test_heartbeat_of_an_unknown_worker_is_not_found(r: aioredis.Redis) -> None:
    with pytest.raises(NotFound):
        await store.heartbeat(r, "nobody", Heartbeat(), 30, T0)


async def test_abort_of_a_running_task_is_requested_then_reported(r: aioredis.Redis) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    _, token = await _claim(r, worker.id)

    flagged = await store.abort(r, task.id, T0 + 1)
    assert flagged.status == "running" and flagged.abort_requested
    ended = await store.report_end(r, task.id, token, TaskStatus.ABORTED, -15, None, T0 + 2)

    assert ended.status == "aborted" and ended.abort_requested
    with pytest.raises(Conflict, match="aborted"):
        await store.abort(r, task.id, T0 + 3)


async def test_worker_list_marks_silent_workers_dead_and_delete_forgets_them(
    r: aioredis.Redis,
) -> None:
    worker = await make_worker(r)

    assert not (await store.list_workers(r, T0 + 100, alive_after_s=90))[0].alive
    await store.delete_worker(r, worker.id)

    assert await store.list_workers(r, T0, 90) == []
    with pytest.raises(NotFound):
        await store.heartbeat(r, worker.id, Heartbeat(), 30, T0)


async def test_abort_requested_before_the_lease_expires_ends_aborted_not_rerun(
    r: aioredis.Redis,
) -> None:
    task = await make_task(r, queue="q", max_retries=2)
    worker = await make_worker(r)
    await _claim(r, worker.id)
    await store.abort(r, task.id, T0 + 1)

    assert await store.reap_expired(r, T0 + 100) == [task.id]

    ended = await store.get_task(r, task.id)
    assert ended.status == "aborted" and ended.finished is not None
    assert ended.failure_reason is None
    assert await r.zscore(keys.FINISHED_INDEX, task.id) == T0 + 100  # sortable by finish
    assert await r.zcard(keys.queue("q")) == 0
    assert await r.zscore(keys.LEASES, task.id) is None
    assert await r.smembers(keys.worker_running(worker.id)) == set()
    assert await r.hget(keys.STATS, "lease_expired_aborted") == "1"
    assert await store.claim(r, worker.id, ["q"], PLENTY, 15, T0 + 101) is None


async def test_requeue_of_a_task_with_an_abort_requested_ends_it_aborted(
    r: aioredis.Redis,
) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    _, token = await _claim(r, worker.id)
    await store.abort(r, task.id, T0 + 1)

    ended = await store.requeue(r, task.id, token, T0 + 2)

    assert ended.status == "aborted" and ended.attempt == 1
    assert await r.zscore(keys.FINISHED_INDEX, task.id) == T0 + 2
    assert await r.zcard(keys.queue("q")) == 0
    assert await store.claim(r, worker.id, ["q"], PLENTY, 15, T0 + 3) is None


async def test_claim_never_runs_a_queued_task_whose_abort_is_pending(r: aioredis.Redis) -> None:
    # What an older server's reaper left behind: requeued with the abort flag still set.
    pending = await make_task(r, name="pending", queue="q")
    runnable = await make_task(r, name="runnable", queue="q")
    await r.hset(keys.task(pending.id), "abort_requested", "1")
    worker = await make_worker(r)

    claimed, _ = await _claim(r, worker.id, now=T0 + 5)

    assert claimed.id == runnable.id
    assert (await store.get_task(r, pending.id)).status == "aborted"
    assert await r.zscore(keys.FINISHED_INDEX, pending.id) == T0 + 5
