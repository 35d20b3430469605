"""Bring a store written by Runyard 0.1 up to the listing indexes of 0.2.

0.1 kept no ``ry:ids`` (short ids), ``ry:idx:started``/``finished``/``name``,
``ry:names:*`` or ``ry:idx:metric:*``; the scripts that change a task keep them from 0.2
on. The server runs this at start: it is a no-op once every task is in ``ry:ids``, and
``lua/backfill.lua`` skips a task that is already there, so replicas starting together
or a run killed halfway do no harm.
"""

from typing import TYPE_CHECKING, cast

from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.names import fold

if TYPE_CHECKING:
    import redis.asyncio as aioredis

BATCH = 500
"""Tasks per script call: short enough that Redis never stalls on one."""


async def backfill_indexes(r: "aioredis.Redis") -> int:
    """Index every task the listing indexes lack; returns how many were indexed."""
    if await r.zcard(keys.TASK_IDS) >= await r.zcard(keys.ALL_TASKS):
        return 0
    done = 0
    ids: list[str] = []
    async for task_id, _ in r.zscan_iter(keys.ALL_TASKS, count=BATCH):
        ids.append(task_id)
        if len(ids) == BATCH:
            done += await _index(r, ids)
            ids = []
    if ids:
        done += await _index(r, ids)
    return done


async def _index(r: "aioredis.Redis", ids: list[str]) -> int:
    args: list[str] = []
    declared = {**script_keys.SINGLETONS}
    async with r.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hmget(keys.task(task_id), "name", "started", "finished", "num")
            pipe.hkeys(keys.task_final_metrics(task_id))
        replies = await pipe.execute()
    rows = cast(list[list[str | None]], replies[::2])
    finals = cast(list[list[str]], replies[1::2])
    for task_id, (name, started, finished, num), series in zip(ids, rows, finals, strict=True):
        if name is None or num is None:
            continue  # deleted meanwhile
        args += [task_id, name, fold(name), started or "", finished or ""]
        declared |= script_keys.task_output(task_id)
        declared |= script_keys.names_for(int(num))
        declared |= script_keys.metric_indexes(series)
    if not args:
        return 0
    return int(await scripts.run(r, "backfill", declared, *args))
