"""The content-addressed step cache.

A step's key is the sha256 of what decides its results: the code (repository, commit,
the uncommitted diff, entry point, working dir, args, bundle), the environment (python,
requirements, lock file, image, variables; not what an agent reported installing),
the params with every reference resolved, and the sha256 of each input artifact a
reference names. A completed step records its key → task in ``keys.PIPELINE_CACHE``
(written with the step's state); a later step with the same key is not run: it
reuses that task's metrics and artifacts. A key whose task is gone or no longer
completed is a miss, so deleting a task can never feed a step stale results.
"""

import hashlib
import json
from typing import Any, cast

import redis.asyncio as aioredis

from runyard.models import Environment, Script, TaskStatus
from runyard_server.store import keys


def cache_key(
    script: Script, environment: Environment, params: dict[str, Any], inputs: dict[str, str]
) -> str:
    """The step's key; ``inputs`` maps each artifact reference to the artifact's sha256."""
    content = {
        "script": script.model_dump(mode="json"),
        "environment": environment.model_dump(mode="json", exclude={"installed"}),
        "params": params,
        "inputs": inputs,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def lookup(r: "aioredis.Redis", key: str) -> str | None:
    """The completed task recorded under ``key``, or None."""
    task_id = cast(str | None, await r.hget(keys.PIPELINE_CACHE, key))
    if task_id is None:
        return None
    status = cast(str | None, await r.hget(keys.task(task_id), "status"))
    return task_id if status == TaskStatus.COMPLETED else None
