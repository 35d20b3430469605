"""The pipeline controller: steps start as soon as their parents complete.

There is no process per run. A run is one Redis hash (``store/pipelines.py``) and one
function, :func:`advance`, takes it a step forward: it reads the run, reads the status of
each step's task, then decides and acts — a completed task completes its step (and
records its cache key), a failed one is retried while the step has retries left, a
step whose parents all completed is resolved and either served from the cache or
spawned; a failed step fails the run, whose waiting steps are skipped and whose queued
(and, by policy, running) tasks are aborted. It writes what it decided in one
``MULTI``; when the run changed meanwhile it runs again from the new state.

``advance`` is idempotent, which makes everything else simple: it runs when a step's
task ends (``ControllerHub``, holding the run's lock; that pass reads only that step's
task), on each tick for every run still active (reading every live step's task, in one
script call: it records which steps run, and an event lost to a ``kill -9`` delays a
step by one tick, never loses it), when a run starts (the API spawns the first steps at
once) and when it is aborted. A step is spawned through ``spawn_idem`` (run, step,
attempt), so an advance killed between spawning and writing spawns nothing new when it
runs again: it gets the same task back and records it then.
"""

import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis

from runyard.models import (
    FailurePolicy,
    Pipeline,
    PipelineRun,
    RunStatus,
    StepSpec,
    StepState,
    StepStatus,
    TaskStatus,
)
from runyard_server import store
from runyard_server.errors import Conflict, NotFound
from runyard_server.jobs.controllers import locked
from runyard_server.jobs.events import Busy, Event
from runyard_server.jobs.pipeline_steps import KIND, StepError, prepare, spawn
from runyard_server.store import keys, pipeline_cache
from runyard_server.store.pipelines import (
    Changes,
    RunRecord,
    active_runs,
    create_run,
    edit_run,
    get_pipeline,
    run_params,
    task_statuses,
)

log = logging.getLogger("runyard_server.jobs.pipelines")

TICK_S = 2.0
ABORT_SENT = "the run ended; its task was told to stop"

_FROM_TASK = {
    TaskStatus.DRAFT: StepStatus.QUEUED,
    TaskStatus.QUEUED: StepStatus.QUEUED,
    TaskStatus.RUNNING: StepStatus.RUNNING,
}


class Advance:
    """One pass over one run; ``abort`` (a reason) aborts it first; with ``follow`` (a
    step name) only that step's task is read (its event's pass), else every live one."""

    def __init__(
        self,
        r: "aioredis.Redis",
        now: float,
        abort: str | None = None,
        follow: str | None = None,
    ) -> None:
        self.r, self.now, self.abort, self.follow = r, now, abort, follow
        self.at = datetime.fromtimestamp(now, UTC)
        """``now`` as the steps' ``started`` and ``finished`` take it."""

    async def __call__(self, record: RunRecord) -> Changes:
        self.record, self.changes = record, Changes()
        self.specs = record.spec.by_name()
        # The record's own map: what this pass decides is what later steps resolve from.
        self.steps = record.steps
        run = record.run
        status, reason = run.status, run.reason
        await self._follow_tasks()
        if status is RunStatus.RUNNING and self.abort:
            status, reason = RunStatus.ABORTED, self.abort
        if status is RunStatus.RUNNING:
            status, reason = await self._start_ready()
        if status in (RunStatus.FAILED, RunStatus.ABORTED):
            await self._wind_down(status, record.spec.on_failure)
        self.changes.status, self.changes.reason = status, reason
        self.changes.settled = status.is_final and all(
            s.status.is_final for s in self.steps.values()
        )
        return self.changes

    def _put(self, step: StepState, **update: Any) -> StepState:
        new = step.model_copy(update=update)
        self.steps[new.name] = self.changes.steps[new.name] = new
        return new

    async def _follow_tasks(self) -> None:
        # An event's pass reads its own step's task only: reading all of a 200-step
        # fan-out's on each of their events was most of the controller's work.
        one = self.steps.get(self.follow or "")
        candidates = list(self.steps.values()) if one is None else [one]
        live = [s for s in candidates if s.task and not s.status.is_final and not s.cache_hit]
        found = await task_statuses(self.r, [cast(str, step.task) for step in live])
        for step, (status, reason) in zip(live, found, strict=True):
            await self._follow(step, status, reason)

    async def _follow(self, step: StepState, status: str | None, reason: str | None) -> None:
        ended = {"finished": self.at}
        if status is None:
            self._put(step, status=StepStatus.FAILED, reason=f"task {step.task} is gone", **ended)
        elif status == TaskStatus.COMPLETED:
            self._put(step, status=StepStatus.COMPLETED, **ended)
            if step.cache_key:
                self.changes.cached[step.cache_key] = cast(str, step.task)
        elif status in (TaskStatus.FAILED, TaskStatus.ABORTED):
            spec = self.specs[step.name]
            running = self.record.run.status is RunStatus.RUNNING and not self.abort
            if status == TaskStatus.FAILED and running and step.attempts <= spec.retries:
                await self._retry(step, spec, reason)
            else:
                why = reason or f"its task was {status}"
                self._put(step, status=StepStatus(status), reason=why, **ended)
        elif _FROM_TASK.get(TaskStatus(status)) not in (None, step.status):
            self._put(step, status=_FROM_TASK[TaskStatus(status)])

    async def _retry(self, step: StepState, spec: StepSpec, reason: str | None) -> None:
        why = f"attempt {step.attempts} failed: {reason or 'no reason given'}"
        try:
            prepared = await prepare(self.r, self.record, spec)
            task = await spawn(self.r, self.record, spec, prepared, step.attempts, self.now)
        except StepError as error:
            self._put(step, status=StepStatus.FAILED, reason=f"{why}; {error}", finished=self.at)
            return
        self._put(
            step,
            status=StepStatus.QUEUED,
            task=task.id,
            attempts=step.attempts + 1,
            tasks=[*step.tasks, task.id],
            reason=why,
        )

    async def _start_ready(self) -> tuple[RunStatus, str | None]:
        """Spawn (or serve from the cache) every waiting step whose parents completed, in
        DAG order, so a cache hit's children start in the same pass."""
        for name in self.record.spec.order:
            step, spec = self.steps[name], self.specs[name]
            # Waiting first: a fan-in's parents are read only while it waits.
            if step.status is StepStatus.WAITING and all(
                self.steps[p].status is StepStatus.COMPLETED for p in spec.parents
            ):
                await self._start(step, spec)
        failed = [s for s in self.steps.values() if s.status in _BAD]
        if failed:
            first = failed[0]
            return RunStatus.FAILED, f"step {first.name} {first.status.value}: {first.reason}"
        if all(s.status is StepStatus.COMPLETED for s in self.steps.values()):
            return RunStatus.COMPLETED, None
        return RunStatus.RUNNING, None

    async def _start(self, step: StepState, spec: StepSpec) -> None:
        try:
            prepared = await prepare(self.r, self.record, spec)
        except StepError as error:
            self._put(step, status=StepStatus.FAILED, reason=str(error), finished=self.at)
            return
        common = {"cache_key": prepared.cache_key, "params": prepared.overrides}
        use_cache = spec.cache and not self.record.run.no_cache
        hit = await pipeline_cache.lookup(self.r, prepared.cache_key) if use_cache else None
        if hit is not None:
            self._put(
                step,
                status=StepStatus.COMPLETED,
                task=hit,
                cache_hit=True,
                cached_from=hit,
                started=self.at,
                finished=self.at,
                **common,
            )
            return
        try:
            task = await spawn(self.r, self.record, spec, prepared, 0, self.now)
        except StepError as error:
            self._put(step, status=StepStatus.FAILED, reason=str(error), finished=self.at)
            return
        self._put(
            step,
            status=StepStatus.QUEUED,
            task=task.id,
            attempts=1,
            tasks=[task.id],
            started=self.at,
            **common,
        )

    async def _wind_down(self, status: RunStatus, policy: FailurePolicy) -> None:
        """Skip what never started; abort what is queued, and what runs when the run was
        aborted or the policy says so."""
        stop_running = status is RunStatus.ABORTED or policy is FailurePolicy.ABORT
        for step in list(self.steps.values()):
            if step.status is StepStatus.WAITING:
                self._put(step, status=StepStatus.SKIPPED, reason=f"the run {status.value}")
                continue
            queued = step.status is StepStatus.QUEUED
            running = step.status is StepStatus.RUNNING and stop_running
            if (queued or running) and step.reason != ABORT_SENT and step.task:
                await self._stop(step)

    async def _stop(self, step: StepState) -> None:
        try:
            task = await store.abort(self.r, cast(str, step.task), self.now)
        except (Conflict, NotFound):
            # It ended meanwhile: the next pass reads how.
            return
        if task.status is TaskStatus.ABORTED:
            why = "the run ended before it started"
            self._put(step, status=StepStatus.ABORTED, reason=why, finished=self.at)
        else:
            self._put(step, reason=ABORT_SENT)


_BAD = (StepStatus.FAILED, StepStatus.ABORTED)
_ENDS = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.ABORTED)


async def advance(
    r: "aioredis.Redis",
    run_id: str,
    now: float,
    abort: str | None = None,
    follow: str | None = None,
) -> PipelineRun:
    """Take the run as far as it can go now (see the module docstring); with ``abort``
    (the reason), abort it first; ``follow`` as :class:`Advance` takes it. The caller
    holds the run's lock."""
    return (await edit_run(r, run_id, Advance(r, now, abort, follow), now)).run


async def advance_locked(
    r: "aioredis.Redis", run_id: str, now: float, abort: str | None = None
) -> PipelineRun:
    """:func:`advance` holding the run's lock; Conflict when another process keeps it."""
    done: list[PipelineRun] = []

    async def act() -> None:
        done.append(await advance(r, run_id, now, abort))

    try:
        await locked(r, KIND, run_id, act)
    except Busy as error:
        raise Conflict(f"{error}; retry") from None
    return done[0]


async def start_run(
    r: "aioredis.Redis",
    pipeline: Pipeline | str,
    params: dict[str, Any],
    owner: str | None,
    now: float,
    *,
    no_cache: bool = False,
    cloned_from: PipelineRun | None = None,
) -> PipelineRun:
    """Start a run of ``pipeline`` (or its id) with pipeline ``params`` over the defaults
    (over ``cloned_from``'s params for a clone), owned by ``owner``; its first steps are
    spawned before this returns. Schedules and triggers call this too.

    Invalid for an undeclared parameter, NotFound for an unknown pipeline or a step's
    queue that does not exist (a typo would otherwise leave the step queued forever).
    """
    if isinstance(pipeline, str):
        pipeline = await get_pipeline(r, pipeline)
    base = cloned_from.params if cloned_from else pipeline.params
    values = run_params(pipeline, params, base)
    queues = sorted({step.queue or pipeline.queue for step in pipeline.steps})
    known = await r.smismember(keys.QUEUES, queues)
    missing = [queue for queue, ok in zip(queues, known, strict=True) if not ok]
    if missing:
        raise NotFound(f"queue {missing[0]} does not exist: create it, or name another queue")
    run = await create_run(
        r,
        pipeline,
        values,
        now,
        owner=owner,
        no_cache=no_cache,
        cloned_from=cloned_from.id if cloned_from else None,
    )
    return await advance_locked(r, run.id, now)


async def abort_run(r: "aioredis.Redis", run_id: str, who: str, now: float) -> PipelineRun:
    """Abort a running run: its waiting steps are skipped, its tasks aborted. Conflict
    when it has ended already."""
    run = await advance_locked(r, run_id, now, abort=f"aborted by {who}")
    if run.status is not RunStatus.ABORTED:
        raise Conflict(f"pipeline run {run_id} is {run.status.value}; only a running run aborts")
    return run


class PipelineController:
    """The ``Controller`` of pipeline runs (``jobs/controllers.py``)."""

    kind = KIND
    tick_s = TICK_S
    # A spawn is recorded by the pass that made it, a start shows as the step's "running"
    # at the next tick, a requeue changes no step: only ends take a run forward (a pass per
    # start was half of what the controller spent on a 200-step run).
    reacts_to: frozenset[str] = frozenset(_ENDS)

    def __init__(self, r: "aioredis.Redis", clock: Callable[[], float] = time.time) -> None:
        self.r, self.clock = r, clock

    async def on_task_event(self, object_id: str, slot: str, event: Event) -> None:
        """A step's task changed status: take its run forward."""
        try:
            await advance(self.r, object_id, self.clock(), follow=slot)
        except NotFound:
            log.warning("task %s names pipeline run %s, which is gone", event.task, object_id)

    async def tick(self) -> None:
        """Reconcile every active run that no other process is handling now."""
        for run_id in await active_runs(self.r):
            try:
                await locked(
                    self.r, KIND, run_id, functools.partial(self._reconcile, run_id), wait_s=0.01
                )
            except Busy:
                continue

    async def _reconcile(self, run_id: str) -> None:
        try:
            await advance(self.r, run_id, self.clock())
        except NotFound:
            await self.r.srem(keys.ACTIVE_PIPELINE_RUNS, run_id)
