"""The sweep controller: keeps ``parallel`` trials in flight, tells Optuna how each ended,
prunes from the intermediate objective, and ends the sweep.

Threading and state: this is one ``Controller`` (``jobs/controllers.py``) in the jobs
process, called on the process's one event loop — ``on_task_event`` for each status
change of a trial's task (the consumer holds the sweep's lock), ``tick`` every
``tick_s`` for each running sweep (it takes the lock itself, skipping a sweep another
process holds). No state outlives a call but the Optuna studies it caches
(``sweep_study.py``), which are rebuilt from Redis whenever they are not current, so a
``kill -9`` of the jobs process, a restart or a second replica loses nothing.

Spawning exactly once: a trial is recorded (number, params) before its task exists,
then cloned from the base with the idempotency key of (sweep, number) and the task's
``origin`` naming the trial; a process killed in between leaves a recorded trial with
no task, and the next tick clones it under the same key — the same task if the first
clone got through. A trial whose task is requeued after its agent was lost stays the
same trial (its task keeps its id); only the task's end decides the trial's.

Fencing the decisions: the tick also repairs what an event missed (a trial whose task
ended while no consumer ran), so every decision reads the task's status itself rather
than trusting the event's ``to``.
"""

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import redis.asyncio as aioredis

from runyard.models import (
    CloneRequest,
    PrunerKind,
    SamplerKind,
    SweepCreate,
    SweepStatus,
    TaskStatus,
    TrialStatus,
)
from runyard.models.limits import MAX_TAGS, MAX_TASK_NAME_CHARS
from runyard_server import store
from runyard_server.errors import Conflict, RunyardServerError
from runyard_server.history_files import HistoryStore
from runyard_server.jobs.controllers import locked, origin, spawn_idem
from runyard_server.jobs.events import Busy, Event
from runyard_server.jobs.sweep_study import RULES, SweepStudy, grid_size, rebuild
from runyard_server.store import keys
from runyard_server.store.sweep_trials import (
    abort_live,
    change_trial,
    read_live,
    read_trials_at,
    record_asked,
)
from runyard_server.store.sweeps import KIND, end_sweep, spec_of

log = logging.getLogger("runyard_server.jobs.sweeps")

BROKEN_AFTER = 3
"""Trials that all failed, with none completed or pruned, before a sweep stops as broken."""
REASON_CHARS = 500
"""How much of a failed trial's reason its record keeps (the task keeps all of it)."""


def sweep_tag(sweep_id: str) -> str:
    """The tag every trial of the sweep carries."""
    return f"sweep:{sweep_id}"


class SweepController:
    """The ``Controller`` of kind ``sweep``."""

    kind = KIND
    # A trial's record follows its task through every status (queued again after a lost
    # agent, running, each end); only a draft, which a trial never is, is left out.
    reacts_to = frozenset({"queued", "running", "completed", "failed", "aborted"})

    def __init__(
        self,
        r: "aioredis.Redis",
        history: HistoryStore,
        tick_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.r, self.history, self.tick_s, self.clock = r, history, tick_s, clock
        self.studies: dict[str, SweepStudy] = {}
        self.specs: dict[str, SweepCreate] = {}
        """Each sweep's spec, parsed once: it never changes."""

    async def on_task_event(self, object_id: str, slot: str, event: Event) -> None:
        """A trial's task changed status: bring its trial along and, when that ended it,
        fill the freed slot."""
        raw = await self.r.hget(keys.sweep_trials(object_id), slot) if slot.isdigit() else None
        if raw is None:
            return
        record: dict[str, Any] = json.loads(raw)
        if TrialStatus(record["status"]).is_final:
            return
        if record.get("task_id") == event.task and record["status"] == event.to:
            return  # the spawn's own event, or one seen before: nothing new
        h = await self._sweep(object_id)
        if h is not None and await self._sync(object_id, h, record, event.task):
            await self._fill(object_id)

    async def tick(self) -> None:
        """Each running sweep: deadline, repairs, pruning, slots."""
        for sweep_id in sorted(cast(set[str], await self.r.smembers(keys.RUNNING_SWEEPS))):
            try:
                await locked(self.r, KIND, sweep_id, partial(self._tick_one, sweep_id), 0)
            except Busy:
                continue  # another process acts for it now; next tick
        # Studies of sweeps that ended are not needed again (a resume rebuilds).
        running = cast(set[str], await self.r.smembers(keys.RUNNING_SWEEPS))
        for gone in set(self.studies) - running:
            del self.studies[gone]
        if len(self.specs) > len(running) + 100:
            self.specs.clear()

    async def _tick_one(self, sweep_id: str) -> None:
        h = await self._sweep(sweep_id)
        if h is None:
            return
        spec = self._spec(h)
        now = self.clock()
        late = spec.max_time_s is not None and now - float(h["clock"]) >= spec.max_time_s
        if h["status"] == SweepStatus.RUNNING and late:
            await self.stop(sweep_id, f"max_time_s {spec.max_time_s:g} reached", now)
            return
        live = await read_live(self.r, sweep_id)
        async with self.r.pipeline(transaction=False) as pipe:
            for record in live:
                pipe.hget(keys.task(record.get("task_id") or "-"), "status")
            statuses = await pipe.execute()
        for record, status in zip(live, statuses, strict=True):
            # Only a trial its events left behind (one not spawned, one whose task
            # moved while no consumer ran) needs more than this one read.
            if record.get("task_id") is None or status != record["status"]:
                await self._sync(sweep_id, h, record, record.get("task_id"))
        if spec.pruner is not PrunerKind.NONE:
            await self._prune(sweep_id, h, spec)
        await self._fill(sweep_id)

    async def stop(self, sweep_id: str, reason: str, now: float) -> None:
        """Stop the sweep and abort its trials in flight (their tasks end as aborted)."""
        await end_sweep(self.r, sweep_id, SweepStatus.STOPPED, reason, now)
        await abort_live(self.r, sweep_id, now)

    def _spec(self, h: dict[str, str]) -> SweepCreate:
        spec = self.specs.get(h["spec"])
        if spec is None:
            spec = self.specs[h["spec"]] = spec_of(h)
        return spec

    async def _sweep(self, sweep_id: str) -> dict[str, str] | None:
        h = cast(dict[str, str], await self.r.hgetall(keys.sweep(sweep_id)))
        return h or None

    async def _sync(
        self, sweep_id: str, h: dict[str, str], record: dict[str, Any], task_id: str | None
    ) -> bool:
        """Bring trial ``record`` in line with its task (spawning it first when it has
        none yet); True when the trial ended."""
        number = record["number"]
        if record.get("task_id") is None:
            if h["status"] != SweepStatus.RUNNING:
                await self._end(sweep_id, record, TrialStatus.ABORTED, "the sweep ended first")
                return True
            if task_id is None:
                await self._spawn(sweep_id, h, record)
                return False
            await self._change(sweep_id, number, {"task_id": task_id}, self.clock())
            record["task_id"] = task_id
        fields = await self.r.hmget(keys.task(record["task_id"]), "status", "failure_reason")
        status, failure = cast(list[str | None], fields)
        if status is None:
            await self._end(sweep_id, record, TrialStatus.FAILED, "its task was deleted")
        elif TaskStatus(status).is_final:
            await self._ended(sweep_id, h, record, TaskStatus(status), failure)
        elif status == TaskStatus.DRAFT:
            await self._end(sweep_id, record, TrialStatus.ABORTED, "its task was dequeued")
        else:
            if status != record["status"]:
                await self._change(sweep_id, number, {"status": status}, self.clock())
            return False
        return True

    async def _ended(
        self,
        sweep_id: str,
        h: dict[str, str],
        record: dict[str, Any],
        status: TaskStatus,
        failure: str | None,
    ) -> None:
        """The trial's task ended: record the trial's result and tell the study."""
        spec = self._spec(h)
        metrics = await store.read_metrics(self.r, self.history, record["task_id"])
        series = metrics.series.get(spec.objective, [])
        curve = [(point.step, point.value) for point in series]
        value = metrics.final.get(spec.objective)
        update: dict[str, Any] = {"curve": curve, "step": curve[-1][0] if curve else None}
        if status is TaskStatus.COMPLETED and value is not None:
            await self._end(sweep_id, record, TrialStatus.COMPLETED, None, value=value, **update)
        elif status is TaskStatus.COMPLETED:
            why = f"it completed without logging {spec.objective}"
            await self._end(sweep_id, record, TrialStatus.FAILED, why, **update)
            await self._check_broken(sweep_id, why)
        elif status is TaskStatus.ABORTED and record.get("prune"):
            await self._end(sweep_id, record, TrialStatus.PRUNED, record["prune"], **update)
        elif status is TaskStatus.ABORTED:
            why = "aborted" if h["status"] == SweepStatus.RUNNING else "aborted: the sweep ended"
            await self._end(sweep_id, record, TrialStatus.ABORTED, why, **update)
        else:
            why = (failure or "its task failed").strip()[-REASON_CHARS:]
            await self._end(sweep_id, record, TrialStatus.FAILED, why, **update)
            await self._check_broken(sweep_id, why)

    async def _end(
        self,
        sweep_id: str,
        record: dict[str, Any],
        status: TrialStatus,
        reason: str | None,
        **update: Any,
    ) -> None:
        now = self.clock()
        update |= {"status": status.value, "reason": reason, "finished": now}
        said = f"trial {record['number']} {status.value}"
        if update.get("value") is not None:
            said += f": {update['value']:g}"
        elif reason:
            said += f": {reason}"
        await self._change(sweep_id, record["number"], update, now, (f"trial.{status.value}", said))

    async def _change(
        self,
        sweep_id: str,
        number: int,
        update: dict[str, Any],
        now: float,
        log: tuple[str, str] | None = None,
    ) -> None:
        """Change a trial's record, and the cached study with it: an ended trial is told;
        a study that missed a change is dropped (the next decision rebuilds it)."""
        change = await change_trial(self.r, sweep_id, number, update, now, log)
        cached = self.studies.get(sweep_id)
        if change is None or cached is None:
            return
        if cached.rev != change.rev - 1:
            del self.studies[sweep_id]
            return
        if TrialStatus(change.trial["status"]).is_final:
            cached.tell(change.trial)
        cached.rev = change.rev

    async def _check_broken(self, sweep_id: str, why: str) -> None:
        """Stop a sweep whose first trials all failed: its base is broken."""
        h = await self._sweep(sweep_id)
        if h is None or h["status"] != SweepStatus.RUNNING:
            return
        failed = int(h.get("n:failed", 0))
        worked = int(h.get("n:completed", 0)) + int(h.get("n:pruned", 0))
        enough = min(BROKEN_AFTER, self._spec(h).trials)
        if worked == 0 and failed >= enough:
            reason = (
                f"the first {failed} trials all failed (is the base task broken?); the last: {why}"
            )
            now = self.clock()
            await end_sweep(self.r, sweep_id, SweepStatus.FAILED, reason, now)
            await abort_live(self.r, sweep_id, now)

    async def _study(self, sweep_id: str, spec: SweepCreate, rev: int | None = None) -> SweepStudy:
        """The sweep's study, current as of its ``rev`` (as just read, or read now; the
        study is rebuilt when it has not seen that ``rev``)."""
        if rev is None:
            rev = int(await self.r.hget(keys.sweep(sweep_id), "rev") or 0)
        cached = self.studies.get(sweep_id)
        if cached is not None and cached.rev == rev:
            return cached
        rev, records = await read_trials_at(self.r, sweep_id)
        cached = self.studies[sweep_id] = rebuild(spec, records, rev)
        return cached

    async def _fill(self, sweep_id: str) -> None:
        """Spawn trials until ``parallel`` are in flight or none are left to run; end the
        sweep when every trial has a result."""
        while True:
            h = await self._sweep(sweep_id)
            if h is None or h["status"] != SweepStatus.RUNNING:
                return
            spec = self._spec(h)
            live = int(await self.r.scard(keys.sweep_live(sweep_id)))
            counted = sum(int(h.get(f"n:{s.value}", 0)) for s in TrialStatus if s.counts)
            left = spec.trials - counted - live
            if spec.sampler is SamplerKind.GRID:
                left = min(left, grid_size(spec) - int(h["next"]))
            if left <= 0 and live == 0:
                await end_sweep(self.r, sweep_id, SweepStatus.DONE, _done(h, counted), self.clock())
                return
            if left <= 0 or live >= spec.parallel:
                return
            record = await self._ask(sweep_id, h, spec)
            if record is None:
                return
            await self._spawn(sweep_id, h, record)
            if live + 1 >= spec.parallel or left == 1:
                return  # no slot left to fill: spare the next round's reads

    async def _ask(
        self, sweep_id: str, h: dict[str, str], spec: SweepCreate
    ) -> dict[str, Any] | None:
        """Sample the next trial and record it (before its task exists)."""
        cached = await self._study(sweep_id, spec, int(h.get("rev", 0)))
        trial = cached.ask()
        number = int(h["next"])
        if trial.number != number:
            # The study is not what Redis holds (it cannot be, but a rebuild costs little).
            del self.studies[sweep_id]
            log.warning(
                "sweep %s: study at trial %d, records at %d", sweep_id, trial.number, number
            )
            return None
        try:
            change = await record_asked(
                self.r, sweep_id, number, trial.params, cached.attrs(number), self.clock()
            )
        except Conflict:
            del self.studies[sweep_id]
            return None
        cached.rev = change.rev
        return change.trial

    async def _spawn(self, sweep_id: str, h: dict[str, str], record: dict[str, Any]) -> None:
        """Clone the base for trial ``record`` (exactly once) and note its task."""
        spec, number = self._spec(h), record["number"]
        base = await self.r.hget(keys.task(spec.base), "tags")
        tags = list(json.loads(base)) if base else []
        tag = sweep_tag(sweep_id)
        if tag not in tags and len(tags) < MAX_TAGS:
            tags.append(tag)
        body = CloneRequest(
            name=f"{h['name']} #{number}"[:MAX_TASK_NAME_CHARS],
            overrides=record["params"],
            queue=spec.queue,
            priority=spec.priority,
            tags=tags,
        )
        now = self.clock()
        try:
            task = await store.clone_task(
                self.r, spec.base, body, now,
                require_code=True,
                idem=spawn_idem(KIND, sweep_id, number),
                owner=h.get("owner") or None,
                origin=origin(KIND, sweep_id, number),
            )  # fmt: skip
        except RunyardServerError as error:
            why = f"its task could not be made: {error.detail}"
            await self._end(sweep_id, record, TrialStatus.FAILED, why)
            await self._check_broken(sweep_id, why)
            return
        params = ", ".join(f"{k}={v!r}" for k, v in record["params"].items())
        said = f"trial {number} spawned as task {task.id} ({params})"
        await self._change(sweep_id, number, {"task_id": task.id}, now, ("trial.spawned", said))

    async def _prune(self, sweep_id: str, h: dict[str, str], spec: SweepCreate) -> None:
        """Feed the running trials' new objective points to the pruner; abort those it
        prunes (SIGTERM with grace, through the task's abort)."""
        cached = await self._study(sweep_id, spec)
        for record in await read_live(self.r, sweep_id):
            number, task_id = record["number"], record.get("task_id")
            if record["status"] != TrialStatus.RUNNING or not task_id or record.get("prune"):
                continue
            start = cached.read_upto.get(number, 0)
            entries = cast(list[str], await self.r.lrange(keys.task_metrics(task_id), start, -1))
            cached.read_upto[number] = start + len(entries)
            for entry in entries:
                series, step, value, _ = json.loads(entry)
                if series == spec.objective and step is not None:
                    cached.report(number, int(step), float(value))
            if not cached.should_prune(number):
                continue
            step = cached.reported[number]
            reason = f"pruned at step {step} by {RULES[spec.pruner]}"
            now = self.clock()
            said = f"trial {number} {reason}"
            await self._change(sweep_id, number, {"prune": reason}, now, ("trial.pruning", said))
            try:
                await store.abort(self.r, task_id, now)
            except Conflict:
                continue  # it ended meanwhile; its event brings the end


def _done(h: dict[str, str], counted: int) -> str:
    return f"{counted} trials have results" + (
        f"; the best is trial {h['best']}" if h.get("best") else "; none completed"
    )
