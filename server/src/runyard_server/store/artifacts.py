"""Artifact records of a task (the files live in ``runyard_server.artifact_files``)."""

import json
from datetime import UTC, datetime
from typing import cast

import redis.asyncio as aioredis

from runyard.models import Artifact
from runyard_server.errors import NotFound
from runyard_server.store import keys


async def record_artifact(
    r: "aioredis.Redis", task_id: str, name: str, size: int, sha256: str, now: float
) -> Artifact:
    """Record a stored file as the task's artifact ``name`` (replacing an older one)."""
    artifact = Artifact(
        name=name, size=size, sha256=sha256, created=datetime.fromtimestamp(now, UTC)
    )
    await r.hset(
        keys.task_artifacts(task_id),
        name,
        json.dumps({"size": size, "sha256": sha256, "created": now}),
    )
    return artifact


async def list_artifacts(r: "aioredis.Redis", task_id: str) -> list[Artifact]:
    """The task's artifacts by name."""
    if not await r.exists(keys.task(task_id)):
        raise NotFound(f"task {task_id} does not exist")
    raw = cast(dict[str, str], await r.hgetall(keys.task_artifacts(task_id)))
    return [_artifact(name, data) for name, data in sorted(raw.items())]


async def get_artifact(r: "aioredis.Redis", task_id: str, name: str) -> Artifact:
    """One artifact's record; NotFound names what exists."""
    raw = cast(str | None, await r.hget(keys.task_artifacts(task_id), name))
    if raw is None:
        if not await r.exists(keys.task(task_id)):
            raise NotFound(f"task {task_id} does not exist")
        raise NotFound(f"task {task_id} has no artifact {name!r}")
    return _artifact(name, raw)


def _artifact(name: str, raw: str) -> Artifact:
    data = json.loads(raw)
    created = datetime.fromtimestamp(data["created"], UTC)
    return Artifact(name=name, size=data["size"], sha256=data["sha256"], created=created)
