"""Status changes a user asks for (enqueue, dequeue, abort) and the agent's reports.

Each is one Lua script, so the status check and the change are atomic. Agent
reports carry the lease token from the claim; a token that is no longer the
running task's own is refused with StaleLease.
"""

import json
from typing import cast

import redis.asyncio as aioredis

from runyard.models import EndReport, FailureKind, Script, Task, TaskStatus
from runyard_server.errors import Invalid, NoCode, NotFound, StaleLease
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.dispatch import publish_work
from runyard_server.store.queue_settings import wake_if_held
from runyard_server.store.records import task_from_hash
from runyard_server.store.stops import publish_stop

_FINAL = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.ABORTED)

# The scripts that take a task off its queue or worker: they are given those keys as
# read just before (``scripts.run_planned``).
_MOVING = {"enqueue", "dequeue", "abort", "end", "requeue", "move_queue"}

# The scripts that put a task on the queue named by their first argument.
_ONTO_QUEUE = {"enqueue", "move_queue"}


async def _task(r: "aioredis.Redis", task_id: str, rule: str, name: str, *args: object) -> Task:
    return task_from_hash(task_id, await _transition(r, task_id, rule, name, *args))


async def _transition(
    r: "aioredis.Redis", task_id: str, rule: str, name: str, *args: object
) -> dict[str, str]:
    """Run script ``name`` on the task; its hash as the script left it."""
    target = str(args[0]) if name in _ONTO_QUEUE else None

    async def plan() -> script_keys.Declared:
        queue: str | None = None
        workers: list[str | None] = []
        if name in _MOVING:
            queue, worker, gang = cast(
                list[str | None],
                await r.hmget(keys.task(task_id), "queue", "worker", "gang_workers"),
            )
            workers = [worker, *(gang or "").split()]
        return script_keys.transition([task_id], [queue, target], workers)

    reply = await scripts.run_planned(r, name, plan, task_id, *(str(a) for a in args))
    return scripts.task_reply(reply, task_id, rule)


async def enqueue(
    r: "aioredis.Redis",
    task_id: str,
    queue: str,
    priority: int,
    now: float,
    *,
    create_queue: bool = True,
    require_code: bool = False,
) -> Task:
    """draft → queued at the tail of ``priority`` on ``queue``; a missing queue is
    created with ``create_queue``, else NotFound. With ``require_code`` (the HTTP API)
    a task without code is NoCode.

    The code is checked before the script runs: only a PATCH of the draft can change
    it, so a race lets through no more than the user's own concurrent edit.
    """
    spec = await r.hget(keys.task(task_id), "spec") if require_code else None
    if spec is not None:
        missing = Script.model_validate(json.loads(spec).get("script", {})).missing_code()
        if missing:
            raise NoCode(missing)
    rule = "only a draft task can be enqueued"
    task = await _task(r, task_id, rule, "enqueue", queue, priority, now, int(create_queue))
    await publish_work(r, queue)
    return task


async def move_to_queue(
    r: "aioredis.Redis",
    task_id: str,
    queue: str,
    priority: int | None,
    now: float,
    *,
    create_queue: bool = False,
) -> Task:
    """A queued task onto another ``queue`` in one step (at the tail of ``priority``,
    its own when None); a missing queue is created with ``create_queue``, else NotFound.
    Its code was checked when it was enqueued and cannot have changed since."""
    rule = "only a queued task can be moved to another queue"
    keep = "" if priority is None else priority
    task = await _task(r, task_id, rule, "move_queue", queue, keep, now, int(create_queue))
    await publish_work(r, queue)
    return task


async def dequeue(r: "aioredis.Redis", task_id: str) -> Task:
    """queued → draft, taken off its queue."""
    return await _task(r, task_id, "only a queued task can be dequeued", "dequeue")


async def abort(r: "aioredis.Redis", task_id: str, now: float) -> Task:
    """draft/queued → aborted at once; running → ``abort_requested`` (the agent stops it,
    told at once through its stop watch)."""
    task = await _task(r, task_id, "a finished task cannot be aborted", "abort", now)
    if task.status is TaskStatus.RUNNING and task.worker:
        await publish_stop(r, task.worker)
    return task


async def start_local_run(
    r: "aioredis.Redis", task_id: str, token: str, lease_s: float, now: float
) -> Task:
    """draft → running as a run on the user's own machine, reported by the script itself.

    Its lease lasts ``lease_s`` and each :func:`ping` extends it; a run whose process
    died stops pinging, and the reaper fails it.
    """
    rule = "only a draft task can start as a local run"
    return await _task(r, task_id, rule, "local_start", token, now, now + lease_s)


async def ping(r: "aioredis.Redis", task_id: str, token: str, lease_s: float, now: float) -> Task:
    """A local run is alive: extend its lease to ``now + lease_s``."""
    return await _task(r, task_id, "", "ping", token, now + lease_s)


async def report_started(
    r: "aioredis.Redis", task_id: str, token: str, lease_s: float, now: float
) -> Task:
    """The agent started the task: record the time and extend the lease to ``now + lease_s``."""
    return await _task(r, task_id, "", "started", token, now, now + lease_s)


async def report_end(
    r: "aioredis.Redis",
    task_id: str,
    token: str,
    status: TaskStatus,
    exit_code: int | None,
    reason: str | None,
    now: float,
) -> Task:
    """running → ``status`` (completed, failed or aborted); the lease and worker are released."""
    return task_from_hash(task_id, await _end(r, task_id, token, status, exit_code, reason, now))


async def _end(
    r: "aioredis.Redis",
    task_id: str,
    token: str,
    status: TaskStatus,
    exit_code: int | None,
    reason: str | None,
    now: float,
) -> dict[str, str]:
    if status not in _FINAL:
        raise Invalid(f"a task ends as completed, failed or aborted, not {status}")
    code = "" if exit_code is None else str(exit_code)
    h = await _transition(r, task_id, "", "end", token, now, str(status), code, reason or "")
    if h.get("queue"):
        await wake_if_held(r, h["queue"])
    return h


def failure_reason(kind: FailureKind, reason: str) -> str:
    """The ``failure_reason`` a failed report records."""
    return f"{kind}: {reason}"


async def report_ends(r: "aioredis.Redis", reports: list[EndReport], now: float) -> list[str]:
    """Apply each report as :func:`report_end` does; the ids of those refused.

    A report the task already shows (its lease, its final status: a claim sent again
    after its reply was lost) is taken, not refused. Refused: the lease is no longer
    the reporter's, or the task is gone.
    """
    refused = []
    for report in reports:
        reason = {
            TaskStatus.FAILED: failure_reason(report.kind, report.reason or ""),
            TaskStatus.ABORTED: "aborted",
        }.get(report.status)
        try:
            # Not made a Task: the claim that carried the report answers only refusals.
            await _end(
                r, report.task_id, report.lease_token, report.status, report.exit_code, reason, now
            )
        except (StaleLease, NotFound):
            status, token = await r.hmget(keys.task(report.task_id), "status", "token")
            if (status, token) != (report.status, report.lease_token):
                refused.append(report.task_id)
    return refused


async def requeue(r: "aioredis.Redis", task_id: str, token: str, now: float) -> Task:
    """running → queued at the head of its queue; this claim does not count as an attempt.

    A task a user asked to abort ends ``aborted`` instead: giving it back would rerun it.
    """
    task = await _task(r, task_id, "", "requeue", token, now)
    if task.queue and task.status is TaskStatus.QUEUED:
        await publish_work(r, task.queue)
    return task
