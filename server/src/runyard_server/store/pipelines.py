"""Pipeline definitions and the records of their runs.

A definition never changes once stored (a changed pipeline is a new one), so a run
reads the spec it started with. A run is one hash (``keys.pipeline_run``): the run's
fixed facts, its status and one field per step; its spec is a key of its own, read
once per process. Every change of a run goes through
:func:`edit_run` (``WATCH``/``MULTI`` on that hash): the controller reads the run,
acts (spawns, aborts; each idempotent) and writes what it decided; when the run changed
meanwhile (an abort from the API) the whole pass is tried again from the new state.
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

from runyard.models import (
    Pipeline,
    PipelineCreate,
    PipelineRun,
    PipelineSpec,
    RunStatus,
    StepState,
)
from runyard_server.errors import Conflict, Invalid, NotFound
from runyard_server.store import keys, notify, script_keys, scripts

MAX_EDIT_TRIES = 50
_STEP = "s:"
_FIXED = "run"


def _time(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=UTC)


async def create_pipeline(
    r: "aioredis.Redis", body: PipelineCreate, now: float, owner: str | None
) -> Pipeline:
    """Store a new pipeline definition owned by ``owner``."""
    pipeline = Pipeline(**body.model_dump(), id=uuid.uuid4().hex, owner=owner, created=_time(now))
    async with r.pipeline(transaction=True) as pipe:
        pipe.set(keys.pipeline(pipeline.id), pipeline.model_dump_json())
        pipe.zadd(keys.PIPELINES, {pipeline.id: now})
        await pipe.execute()
    return pipeline


async def get_pipeline(r: "aioredis.Redis", pipeline_id: str) -> Pipeline:
    """The pipeline, or NotFound."""
    raw = await r.get(keys.pipeline(pipeline_id))
    if raw is None:
        raise NotFound(f"pipeline {pipeline_id} does not exist")
    return Pipeline.model_validate_json(raw)


async def list_pipelines(r: "aioredis.Redis", limit: int) -> list[Pipeline]:
    """The newest ``limit`` pipelines, newest first."""
    ids = cast(list[str], await r.zrevrange(keys.PIPELINES, 0, limit - 1))
    raws = cast(list[str | None], await r.mget([keys.pipeline(i) for i in ids])) if ids else []
    return [Pipeline.model_validate_json(raw) for raw in raws if raw is not None]


def run_params(spec: PipelineSpec, given: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The pipeline parameters of a new run: ``base`` (the defaults, or a cloned run's)
    with ``given`` in place; Invalid for a name the pipeline does not declare."""
    unknown = sorted(set(given) - set(spec.params))
    if unknown:
        declared = ", ".join(sorted(spec.params)) or "none"
        raise Invalid(f"pipeline parameter {unknown[0]!r} is not declared (declared: {declared})")
    return {**base, **given}


@dataclass
class RunRecord:
    """A run as stored: the run (steps included) and the spec it runs."""

    run: PipelineRun
    spec: PipelineSpec
    steps: dict[str, StepState] = field(default_factory=dict)
    """The run's steps by name (the same objects as ``run.steps``)."""


async def create_run(
    r: "aioredis.Redis",
    pipeline: Pipeline,
    params: dict[str, Any],
    now: float,
    *,
    owner: str | None,
    no_cache: bool = False,
    cloned_from: str | None = None,
) -> PipelineRun:
    """Store a new run of ``pipeline`` (every step waiting) and mark it active; the
    controller spawns its first steps."""
    spec = PipelineSpec.model_validate(pipeline.model_dump(include=set(PipelineSpec.model_fields)))
    run = PipelineRun(
        id=uuid.uuid4().hex,
        pipeline=pipeline.id,
        name=pipeline.name,
        project=pipeline.project,
        owner=owner,
        status=RunStatus.RUNNING,
        params=params,
        no_cache=no_cache,
        cloned_from=cloned_from,
        created=_time(now),
        steps=[StepState(name=step.name) for step in spec.steps],
        parents=spec.graph(),
    )
    fields: dict[FieldT, EncodableT] = {
        _FIXED: run.model_dump_json(exclude={"steps", "status", "reason", "finished"}),
        "status": run.status.value,
        **{_STEP + step.name: step.model_dump_json() for step in run.steps},
    }
    async with r.pipeline(transaction=True) as pipe:
        pipe.set(keys.pipeline_run_spec(run.id), spec.model_dump_json())
        pipe.hset(keys.pipeline_run(run.id), mapping=fields)
        pipe.zadd(keys.PIPELINE_RUNS, {run.id: now})
        pipe.zadd(keys.pipeline_runs_of(pipeline.id), {run.id: now})
        pipe.sadd(keys.ACTIVE_PIPELINE_RUNS, run.id)
        await pipe.execute()
    return run


@dataclass
class _Parsed:
    """What this process has parsed of one run: its spec (it never changes), its fixed
    part, and each step as last seen, by the JSON it was read from. A pass reads all of
    a run's steps but changes one or two: parsing and checking the 200 steps of a
    fan-out on each of their events was most of the controller's work. The objects are
    shared between reads, so nothing may change them (a pass copies a step it changes)."""

    spec: PipelineSpec
    fixed: tuple[str, PipelineRun] | None = None
    steps: dict[str, tuple[str, StepState]] = field(default_factory=dict)

    def run(self, text: str) -> PipelineRun:
        if self.fixed is None or self.fixed[0] != text:
            # The status is a placeholder: ``_record`` puts the stored one in its copy.
            run = PipelineRun.model_validate({**json.loads(text), "status": RunStatus.RUNNING})
            self.fixed = (text, run)
        return self.fixed[1]

    def step(self, name: str, text: str) -> StepState:
        seen = self.steps.get(name)
        if seen is None or seen[0] != text:
            seen = self.steps[name] = (text, StepState.model_validate_json(text))
        return seen[1]


_PARSED: dict[str, _Parsed] = {}
_PARSED_KEPT = 256


async def _parsed(r: "aioredis.Redis", run_id: str) -> _Parsed:
    """This process's parse of run ``run_id``, its spec read and checked on first use."""
    parsed = _PARSED.get(run_id)
    if parsed is None:
        text = await r.get(keys.pipeline_run_spec(run_id))
        if text is None:
            raise NotFound(f"pipeline run {run_id} does not exist")
        parsed = _Parsed(PipelineSpec.model_validate_json(text))
        if len(_PARSED) >= _PARSED_KEPT:
            del _PARSED[next(iter(_PARSED))]
        _PARSED[run_id] = parsed
    return parsed


def _record(h: dict[str, str], parsed: _Parsed) -> RunRecord:
    finished = _time(float(h["finished"])) if "finished" in h else None
    steps = [parsed.step(step.name, h[_STEP + step.name]) for step in parsed.spec.steps]
    update = {"status": RunStatus(h["status"]), "reason": h.get("reason"), "finished": finished}
    run = parsed.run(h[_FIXED]).model_copy(update={**update, "steps": steps})
    return RunRecord(run, parsed.spec, {step.name: step for step in steps})


async def read_run(r: "aioredis.Redis", run_id: str) -> RunRecord:
    """The run with its spec, or NotFound."""
    h = cast(dict[str, str], await r.hgetall(keys.pipeline_run(run_id)))
    if not h:
        raise NotFound(f"pipeline run {run_id} does not exist")
    return _record(h, await _parsed(r, run_id))


async def get_run(r: "aioredis.Redis", run_id: str) -> PipelineRun:
    """The run, or NotFound."""
    return (await read_run(r, run_id)).run


async def list_runs(
    r: "aioredis.Redis", limit: int, pipeline_id: str | None = None
) -> list[PipelineRun]:
    """The newest ``limit`` runs (of one pipeline, when given), newest first."""
    index = keys.pipeline_runs_of(pipeline_id) if pipeline_id else keys.PIPELINE_RUNS
    ids = cast(list[str], await r.zrevrange(index, 0, limit - 1))
    async with r.pipeline(transaction=False) as pipe:
        for run_id in ids:
            pipe.hgetall(keys.pipeline_run(run_id))
        hashes = cast(list[dict[str, str]], await pipe.execute())
    return [
        _record(h, await _parsed(r, run_id)).run for run_id, h in zip(ids, hashes, strict=True) if h
    ]


@dataclass
class Changes:
    """What one pass over a run decided: steps to rewrite, the run's new status (with its
    reason), and cache entries of steps that completed."""

    steps: dict[str, StepState] = field(default_factory=dict)
    status: RunStatus | None = None
    reason: str | None = None
    cached: dict[str, str] = field(default_factory=dict)
    """cache key → task id."""
    settled: bool = False
    """Every step is final: the run leaves the active set."""


Decide = Callable[[RunRecord], Awaitable[Changes]]


async def edit_run(r: "aioredis.Redis", run_id: str, decide: Decide, now: float) -> RunRecord:
    """Read the run under ``WATCH``, let ``decide`` act and say what changes, and write
    that atomically (with the ``pipeline.*`` event when the run ends); a run changed
    meanwhile is read and decided again. Returns the run as written."""
    key = keys.pipeline_run(run_id)
    for _ in range(MAX_EDIT_TRIES):
        async with r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                h = cast(dict[str, str], await pipe.hgetall(key))
                if not h:
                    raise NotFound(f"pipeline run {run_id} does not exist")
                record = _record(h, await _parsed(r, run_id))
                changes = await decide(record)
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                await _write(pipe, record, changes, now)
                await pipe.execute()
            except WatchError:
                continue
        return record
    raise Conflict(f"pipeline run {run_id} kept changing while it was being updated; retry")


async def _write(pipe: Any, record: RunRecord, changes: Changes, now: float) -> None:
    run, key = record.run, keys.pipeline_run(record.run.id)
    if changes.steps:
        pipe.hset(key, mapping={_STEP + n: s.model_dump_json() for n, s in changes.steps.items()})
        record.steps.update(changes.steps)
        run.steps = [record.steps[step.name] for step in record.spec.steps]
    if changes.cached:
        pipe.hset(keys.PIPELINE_CACHE, mapping=changes.cached)
    if changes.status is not None and changes.status is not run.status:
        run.status, run.reason, run.finished = changes.status, changes.reason, _time(now)
        ended = {"status": run.status.value, "finished": repr(now)}
        pipe.hset(key, mapping={**ended, **({"reason": run.reason} if run.reason else {})})
        await notify.emit(pipe, f"pipeline.{run.status.value}", _payload(run))
    if changes.settled:
        pipe.srem(keys.ACTIVE_PIPELINE_RUNS, run.id)


def _payload(run: PipelineRun) -> dict[str, Any]:
    failed = [s.name for s in run.steps if s.status.value in ("failed", "aborted")]
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "name": run.name,
        "project": run.project,
        "status": run.status.value,
        "reason": run.reason,
        "failed_steps": failed,
    }


async def active_runs(r: "aioredis.Redis") -> list[str]:
    """The runs with a step not final yet."""
    return sorted(cast(set[str], await r.smembers(keys.ACTIVE_PIPELINE_RUNS)))


async def task_statuses(
    r: "aioredis.Redis", task_ids: list[str]
) -> list[tuple[str | None, str | None]]:
    """Each task's status and failure reason (None, None for a task that is gone), in one
    script call."""
    if not task_ids:
        return []
    declared: script_keys.Declared = {}
    for task_id in task_ids:
        declared |= script_keys.task(task_id)
    reply = cast(list[list[str | None]], await scripts.run(r, "task_statuses", declared, *task_ids))
    return [(status, reason) for status, reason in reply]
