"""Pipelines: define one, run it, follow, abort or clone a run; the artifacts a run's
steps pass each other.

Who may: reads are any user's; defining a pipeline needs ``create`` in its project;
running it (or cloning a run) needs ``create`` in its project and in every base task's
project, and the right to use every queue its steps go to (``permissions.can``); an
abort needs ``change`` on the run (its owner, or a maintainer of its project). A
step's task token may download the artifacts of its own run's steps, which is how a
``${STEP.artifacts.NAME}`` reference reaches the step's SDK.
"""

import time
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from runyard.models import (
    Pipeline,
    PipelineCreate,
    PipelinePage,
    PipelineRun,
    PipelineRunPage,
    PipelineRunRequest,
    is_valid_task_id,
)
from runyard.models.limits import MAX_PAGE
from runyard.models.overrides import param_paths
from runyard_server import store
from runyard_server.api.deps import ArtifactFilesDep, PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.api.routes.artifacts import send_artifact
from runyard_server.auth import Principal
from runyard_server.errors import Forbidden, Invalid, NotFound
from runyard_server.jobs.pipelines import abort_run, start_run
from runyard_server.permissions import authorize
from runyard_server.store import pipelines

router = APIRouter(prefix="/pipelines", tags=["pipelines"], route_class=FiniteJSONRoute)

_NOT_ITS_RUN = Forbidden("a task token reads only the artifacts of its own pipeline run")
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.post("", status_code=201)
async def create_pipeline(body: PipelineCreate, r: RedisDep, who: PrincipalDep) -> Pipeline:
    """Store a pipeline; each base task must exist and have every param a step sets."""
    who.require("user")
    await authorize(r, who, "create", body.project)
    await _check_bases(r, body)
    return await pipelines.create_pipeline(r, body, time.time(), who.user)


@router.get("")
async def list_pipelines(r: RedisDep, who: PrincipalDep, limit: Limit = 100) -> PipelinePage:
    who.require("user")
    return PipelinePage(items=await pipelines.list_pipelines(r, limit))


@router.get("/runs")
async def list_runs(
    r: RedisDep,
    who: PrincipalDep,
    pipeline: Annotated[str | None, Query(description="only this pipeline's runs")] = None,
    limit: Limit = 100,
) -> PipelineRunPage:
    """Runs, newest first."""
    who.require("user")
    return PipelineRunPage(items=await pipelines.list_runs(r, limit, pipeline))


@router.get("/runs/{run_id}")
async def get_run(run_id: str, r: RedisDep, who: PrincipalDep) -> PipelineRun:
    who.require("user")
    return await pipelines.get_run(r, _checked_id(run_id, "pipeline run"))


@router.post("/runs/{run_id}/abort")
async def abort(run_id: str, r: RedisDep, who: PrincipalDep) -> PipelineRun:
    """Abort a running run: waiting steps are skipped, queued and running tasks aborted."""
    who.require("user")
    run = await pipelines.get_run(r, _checked_id(run_id, "pipeline run"))
    await authorize(r, who, "change", run.project, owner=run.owner)
    return await abort_run(r, run.id, who.user or "a user", time.time())


@router.post("/runs/{run_id}/clone", status_code=201)
async def clone_run(
    run_id: str, body: PipelineRunRequest, r: RedisDep, who: PrincipalDep
) -> PipelineRun:
    """Run the run's pipeline again with its parameters, ``body.params`` in their place."""
    who.require("user")
    source = await pipelines.get_run(r, _checked_id(run_id, "pipeline run"))
    pipeline = await pipelines.get_pipeline(r, source.pipeline)
    await authorize_run(r, who, pipeline)
    return await start_run(
        r, pipeline, body.params, who.user, time.time(), no_cache=body.no_cache, cloned_from=source
    )


@router.get("/runs/{run_id}/artifacts/{step}/{name}", response_class=FileResponse)
async def step_artifact(
    run_id: str, step: str, name: str, r: RedisDep, who: PrincipalDep, files: ArtifactFilesDep
) -> Response:
    """Artifact ``name`` of the run's step ``step`` (the task the step ran, or reused)."""
    if who.role != "task":
        who.require("user")
    try:
        run = await pipelines.get_run(r, _checked_id(run_id, "pipeline run"))
    except NotFound:
        if who.role == "task":
            raise _NOT_ITS_RUN from None
        raise
    if who.role == "task" and not any(who.task_id in s.tasks for s in run.steps):
        raise _NOT_ITS_RUN
    found = next((s for s in run.steps if s.name == step), None)
    if found is None or found.task is None:
        raise NotFound(f"step {step!r} of pipeline run {run.id} has no task (yet)")
    return await send_artifact(r, files, found.task, name)


@router.get("/{pipeline_id}")
async def get_pipeline(pipeline_id: str, r: RedisDep, who: PrincipalDep) -> Pipeline:
    who.require("user")
    return await pipelines.get_pipeline(r, _checked_id(pipeline_id, "pipeline"))


@router.post("/{pipeline_id}/runs", status_code=201)
async def run_pipeline(
    pipeline_id: str, body: PipelineRunRequest, r: RedisDep, who: PrincipalDep
) -> PipelineRun:
    """Start a run with ``body.params`` over the pipeline's defaults; its first steps
    are queued (or served from the cache) before this answers."""
    who.require("user")
    pipeline = await pipelines.get_pipeline(r, _checked_id(pipeline_id, "pipeline"))
    await authorize_run(r, who, pipeline)
    return await start_run(r, pipeline, body.params, who.user, time.time(), no_cache=body.no_cache)


def _checked_id(value: str, what: str) -> str:
    if not is_valid_task_id(value):
        raise NotFound(f"{what} {value!r} does not exist")
    return value


async def authorize_run(r: "aioredis.Redis", who: Principal, pipeline: Pipeline) -> None:
    await authorize(r, who, "create", pipeline.project)
    project_of = {
        base: (await store.get_task(r, base)).project
        for base in {step.base for step in pipeline.steps if step.base is not None}
    }
    targets = {
        (project_of.get(step.base or "", pipeline.project), step.queue or pipeline.queue)
        for step in pipeline.steps
    }
    for project, queue in sorted(targets):
        await authorize(r, who, "create", project, queue=queue)


async def _check_bases(r: "aioredis.Redis", body: PipelineCreate) -> None:
    """A base task that is gone, or a param path it does not have, would fail the run
    hours in, at that step: refuse the pipeline now, naming it."""
    known_of: dict[str, set[str]] = {}
    for step in body.steps:
        if step.base is None:
            continue
        if step.base not in known_of:
            try:
                base = await store.get_task(r, step.base)
            except NotFound:
                raise NotFound(f"step {step.name}: base task {step.base} does not exist") from None
            known_of[step.base] = set(param_paths(base.params))
        known = known_of[step.base]
        for path in step.params:
            if path not in known and not any(k.startswith(f"{path}/") for k in known):
                raise Invalid(
                    f"step {step.name}: base task {step.base} has no param {path!r} "
                    "(a step sets only params its base task records)"
                )
