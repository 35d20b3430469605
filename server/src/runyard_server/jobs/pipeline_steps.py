"""Spawning one pipeline step: its references resolved, its cache key, its task.

A step's params are resolved when its parents have completed: a metric reference
reads the parent task's final value, an artifact reference becomes the API path the
step's SDK downloads with its own task token (``api/routes/pipelines.py`` serves it to
the tasks of the run). What cannot be resolved (a metric never logged, an artifact
never uploaded, a base task deleted, an override the base has no param for) fails the
step with a :class:`StepError` that says so, instead of running it with a hole.
"""

import json
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from pydantic import ValidationError

from runyard.models import (
    API_PREFIX,
    CloneRequest,
    Environment,
    OverrideError,
    Reference,
    Resources,
    StepSpec,
    Task,
    TaskCreate,
    apply_overrides,
    checked_overrides,
    references,
    substitute,
)
from runyard_server import store
from runyard_server.errors import RunyardServerError
from runyard_server.jobs.controllers import origin, spawn_idem
from runyard_server.store import keys
from runyard_server.store.pipeline_cache import cache_key
from runyard_server.store.pipelines import RunRecord
from runyard_server.store.records import spec_of

KIND = "pipeline"


class StepError(Exception):
    """Raised when a step cannot be spawned; the message says why, and the step fails
    with it."""


@dataclass(frozen=True)
class Prepared:
    """A step ready to spawn: its overrides with references resolved, and its cache key."""

    overrides: dict[str, Any]
    cache_key: str


def artifact_path(run_id: str, step: str, name: str) -> str:
    """Where the tasks of run ``run_id`` download artifact ``name`` of ``step``."""
    return f"{API_PREFIX}/pipelines/runs/{run_id}/artifacts/{step}/{name}"


async def prepare(r: "aioredis.Redis", record: RunRecord, step: StepSpec) -> Prepared:
    """Resolve the step's references and compute its cache key (StepError when it cannot)."""
    overrides, keyed, inputs = await _resolve(r, record, step)
    if step.base is not None:
        try:
            spec = spec_of(await store.get_task(r, step.base))
            checked_overrides(spec.params, overrides, {})
            params = checked_overrides(spec.params, keyed, {})
        except (RunyardServerError, OverrideError) as error:
            raise StepError(f"base task {step.base}: {error}") from None
        script, environment = spec.script, spec.environment
    else:
        assert step.script is not None  # StepSpec holds a base or a script
        params = apply_overrides({}, keyed)
        script, environment = step.script, step.environment or Environment()
    return Prepared(overrides, cache_key(script, environment, params, inputs))


async def _resolve(
    r: "aioredis.Redis", record: RunRecord, step: StepSpec
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The step's overrides resolved; the same as the cache key reads them (an artifact
    by its reference, as its path names the run and its content is in the inputs); and
    the inputs: each artifact reference's sha256."""
    refs = [ref for ref in references(step.params) if ref.step is not None]
    async with r.pipeline(transaction=False) as pipe:
        for ref in refs:
            task_id = record.steps[cast(str, ref.step)].task or ""
            if ref.kind == "metrics":
                pipe.hget(keys.task_final_metrics(task_id), ref.name)
            else:
                pipe.hget(keys.task_artifacts(task_id), ref.name)
        found = cast(list[str | None], await pipe.execute())
    values: dict[str, Any] = {}
    inputs: dict[str, str] = {}
    for ref, raw in zip(refs, found, strict=True):
        if raw is None:
            what = "logged no metric" if ref.kind == "metrics" else "uploaded no artifact"
            raise StepError(f"{ref.text}: step {ref.step} {what} {ref.name!r}")
        if ref.kind == "metrics":
            values[ref.text] = float(raw)
        else:
            values[ref.text] = artifact_path(record.run.id, cast(str, ref.step), ref.name)
            inputs[ref.text] = json.loads(raw)["sha256"]

    def resolve(ref: Reference) -> Any:
        return record.run.params[ref.name] if ref.kind == "params" else values[ref.text]

    def keyed(ref: Reference) -> Any:
        return ref.text if ref.kind == "artifacts" else resolve(ref)

    return substitute(step.params, resolve), substitute(step.params, keyed), inputs


async def spawn(
    r: "aioredis.Redis",
    record: RunRecord,
    step: StepSpec,
    prepared: Prepared,
    attempt: int,
    now: float,
) -> Task:
    """The step's task for ``attempt`` (0 first), queued; made once per attempt however
    often this runs (``spawn_idem``). StepError when the server refuses it."""
    run = record.run
    queue = step.queue or record.spec.queue
    idem = spawn_idem(KIND, run.id, step.name, attempt)
    made_by = origin(KIND, run.id, step.name)
    name = f"{run.name} / {step.name}"
    try:
        if step.base is not None:
            body = CloneRequest(
                name=name, overrides=prepared.overrides, queue=queue, resources=step.resources
            )
            return await store.clone_task(
                r, step.base, body, now, require_code=True, idem=idem, owner=run.owner,
                origin=made_by,
            )  # fmt: skip
        assert step.script is not None
        create = TaskCreate(
            project=run.project,
            name=name,
            script=step.script,
            environment=step.environment or Environment(),
            params=apply_overrides({}, prepared.overrides),
            resources=step.resources or Resources(),
            queue=queue,
        )
        return await store.create_task(
            r, create, now, require_code=True, idem=idem, owner=run.owner, origin=made_by
        )
    except (RunyardServerError, ValidationError) as error:
        raise StepError(f"its task could not be made: {error}") from None
