"""What the agent installed for a task: the ``installed`` field of its hash.

Kept beside the spec, not in it: the spec is what a user asked for and a clone copies;
this is what one attempt's agent found after building, and each attempt replaces it.
"""

import json
from typing import Any

import redis.asyncio as aioredis

from runyard.models import InstalledPackage, Task, TaskStatus
from runyard_server.errors import StaleLease
from runyard_server.store import keys
from runyard_server.store.tasks import Writes, get_task, watched_edit


async def record_installed(
    r: "aioredis.Redis", task_id: str, token: str, packages: list[InstalledPackage]
) -> Task:
    """Store ``packages`` as the running task's ``environment.installed``.

    Only the attempt holding the lease may: StaleLease otherwise, NotFound for no task.
    """
    value = json.dumps([package.model_dump(mode="json") for package in packages])

    async def read(pipe: Any) -> Writes:
        task = await get_task(pipe, task_id)
        current = await pipe.hget(keys.task(task_id), "token")
        # A rank of a multi-node task holds a token of its own (store/gangs.py).
        rank = current != token and await pipe.hexists(keys.task_gang(task_id), f"r:{token}")
        if task.status is not TaskStatus.RUNNING or (current != token and not rank):
            raise StaleLease(
                f"task {task_id} is {task.status} and this lease token is no longer its own: "
                "stop the process and report nothing more"
            )

        async def writes(pipe: Any) -> None:
            pipe.hset(keys.task(task_id), "installed", value)

        return writes

    await watched_edit(r, task_id, read)
    return await get_task(r, task_id)
