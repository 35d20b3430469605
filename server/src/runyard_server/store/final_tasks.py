"""Walking every final task with a few of its fields (the archiver's sweep, retention, purge)."""

from collections.abc import AsyncIterator
from typing import cast

import redis.asyncio as aioredis

from runyard.models import TaskStatus
from runyard_server.store import keys

FINAL = tuple(sorted(s.value for s in TaskStatus if s.is_final))
_BATCH = 1000


async def final_tasks(
    r: "aioredis.Redis", *fields: str, project: str | None = None
) -> AsyncIterator[tuple[str, list[str | None]]]:
    """Each final task (of ``project`` when given) with the values of ``fields``,
    read a thousand at a time; a task deleted meanwhile has all values None."""
    for status in FINAL:
        index = keys.status_index(status)
        if project is None:
            ids = cast(list[str], await r.zrange(index, 0, -1))
        else:
            ids = cast(list[str], await r.zinter([index, keys.project_index(project)]))
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            async with r.pipeline(transaction=False) as pipe:
                for task_id in batch:
                    pipe.hmget(keys.task(task_id), *fields)
                rows = await pipe.execute()
            for task_id, values in zip(batch, rows, strict=True):
                yield task_id, values
