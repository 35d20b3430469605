"""Artifact files of a task: upload, list, download."""

import time

import redis.asyncio as aioredis
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from runyard.models import Artifact, is_valid_name, is_valid_task_id
from runyard.models.limits import MAX_ARTIFACT_BYTES
from runyard_server import store
from runyard_server.api.deps import ArtifactFilesDep, PrincipalDep, RedisDep, TaskIdDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.artifact_files import ArtifactStore
from runyard_server.errors import Invalid, NotFound
from runyard_server.permissions import authorize_task

router = APIRouter(prefix="/tasks", tags=["artifacts"], route_class=FiniteJSONRoute)


@router.get("/{task_id}/artifacts")
async def list_artifacts(task_id: TaskIdDep, r: RedisDep, who: PrincipalDep) -> list[Artifact]:
    who.require_task(task_id, "user")
    return await store.list_artifacts(r, task_id)


@router.post("/{task_id}/artifacts/{name}", status_code=201)
async def upload_artifact(
    task_id: TaskIdDep,
    name: str,
    request: Request,
    r: RedisDep,
    who: PrincipalDep,
    files: ArtifactFilesDep,
) -> Artifact:
    """The request body is the file itself (any content type); a same-named one is replaced."""
    who.require_task(task_id, "user")
    await authorize_task(r, who, "change", task_id)
    _check_names(task_id, name)
    await store.get_task(r, task_id)
    size, sha256 = await files.save(task_id, name, request.stream(), MAX_ARTIFACT_BYTES)
    return await store.record_artifact(r, task_id, name, size, sha256, time.time())


@router.get("/{task_id}/artifacts/{name}", response_class=FileResponse)
async def download_artifact(
    task_id: TaskIdDep, name: str, r: RedisDep, who: PrincipalDep, files: ArtifactFilesDep
) -> Response:
    who.require_task(task_id, "user")
    return await send_artifact(r, files, task_id, name)


async def send_artifact(
    r: "aioredis.Redis", files: ArtifactStore, task_id: str, name: str
) -> Response:
    """The file of task ``task_id``'s artifact ``name``, with its sha256 in ``x-sha256``
    (the caller checked who may read it)."""
    _check_names(task_id, name)
    artifact = await store.get_artifact(r, task_id, name)
    found = await files.open(task_id, name, artifact.sha256)
    if found is None:
        raise NotFound(f"artifact {name!r} of task {task_id} is recorded but its file is gone")
    return found.response(name, {"x-sha256": artifact.sha256})


def _check_names(task_id: str, name: str) -> None:
    if not is_valid_task_id(task_id):
        raise NotFound(f"task {task_id!r} does not exist")
    if not is_valid_name(name):
        raise Invalid(
            f"artifact name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-'"
        )
