"""Projects, tags and metric series, found from their filter indexes for the UI's project view and
filter suggestions.

Neither has a set of its own: the names are read with ``SCAN MATCH`` over the
``{ry}:idx:project:*`` / ``{ry}:idx:tag:*`` keys. SCAN walks the whole keyspace (about
six keys per task), so a call costs a few milliseconds per 10,000 tasks; it is a
page view, never on the agents' path.
"""

from datetime import UTC, datetime
from typing import cast

import redis.asyncio as aioredis

from runyard.models import Project, ProjectRun
from runyard_server.store import keys

SCAN_COUNT = 1_000
"""Keys SCAN looks at per round trip."""

MAX_NAMES = 1_000
"""The most project or tag names one call returns (sorted; the rest are left out)."""


async def _names(r: "aioredis.Redis", index: str) -> list[str]:
    """The values ``x`` for which the key ``index.replace("*", x)`` exists."""
    prefix, _, suffix = index.partition("*")
    found: set[str] = set()
    async for key in r.scan_iter(match=index, count=SCAN_COUNT):
        name = cast(str, key)[len(prefix) : len(key) - len(suffix)]
        found.add(name)
    return sorted(found)[:MAX_NAMES]


async def list_tags(r: "aioredis.Redis") -> list[str]:
    """Every tag some task has, sorted."""
    return await _names(r, keys.tag_index("*"))


async def list_metric_series(r: "aioredis.Redis") -> list[str]:
    """Every metric series some task has a last value of, sorted."""
    return sorted(cast(set[str], await r.smembers(keys.METRIC_SERIES)))[:MAX_NAMES]


async def list_projects(r: "aioredis.Redis", latest: int) -> list[Project]:
    """Every project with its task count and its ``latest`` newest tasks."""
    names = await _names(r, keys.project_index("*"))
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcard(keys.project_index(name))
            pipe.zrevrange(keys.project_index(name), 0, latest - 1)
        replies = await pipe.execute()
    counts, newest = replies[::2], cast(list[list[str]], replies[1::2])
    async with r.pipeline(transaction=False) as pipe:
        for ids in newest:
            for task_id in ids:
                pipe.hmget(keys.task(task_id), "name", "status", "created")
        rows = iter(await pipe.execute())
    projects = []
    for name, count, ids in zip(names, counts, newest, strict=True):
        runs = []
        for task_id in ids:
            task_name, status, created = next(rows)
            if status is not None:  # deleted since the index was read
                when = datetime.fromtimestamp(float(created), tz=UTC)
                runs.append(ProjectRun(id=task_id, name=task_name, status=status, created=when))
        if count:
            projects.append(Project(name=name, tasks=count, latest=runs))
    return projects
