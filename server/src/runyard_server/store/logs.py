"""Console output: a Redis stream per task, batches stored once per lease and seq."""

from typing import cast

import redis.asyncio as aioredis

from runyard.models import LogAck, LogBatch, LogLine, LogPage
from runyard.models.limits import MAX_LOG_BATCH_BYTES
from runyard_server.errors import Invalid, NotFound, StaleLease, TooLarge
from runyard_server.store import keys, scripts


async def append_logs(r: "aioredis.Redis", task_id: str, batch: LogBatch) -> LogAck:
    """Store a batch; ``accepted`` is False when this seq was stored before (a retry).

    A batch with a lease token is keyed by that token and seq, so a rerun of the task
    numbering from 0 again is stored too; the token must be the task's current one.
    """
    lines = [line.model_dump_json() for line in batch.lines]
    size = sum(len(line) for line in lines)
    if size > MAX_LOG_BATCH_BYTES:
        raise TooLarge(
            f"log batch is {size} bytes, over the {MAX_LOG_BATCH_BYTES}-byte limit: "
            "send smaller batches"
        )
    token = batch.lease_token or ""
    reply = await scripts.run(r, "logs", task_id, token, batch.seq, batch.dropped, *lines)
    if reply[0] == "missing":
        raise NotFound(f"task {task_id} does not exist")
    if reply[0] == "stale":
        raise StaleLease(
            f"task {task_id} is {reply[1]} and this lease token is no longer its own: "
            "stop the process and report nothing more"
        )
    return LogAck(accepted=reply[0] == "ok")


async def read_logs(r: "aioredis.Redis", task_id: str, after: str | None, limit: int) -> LogPage:
    """Up to ``limit`` lines after the cursor ``after`` (from the start when None).

    The returned cursor is the last line's stream id (``after`` again when no line
    came), to pass back as ``after``.
    """
    if not await r.exists(keys.task(task_id)):
        raise NotFound(f"task {task_id} does not exist")
    start = f"({after}" if after else "-"
    try:
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await r.xrange(keys.task_logs(task_id), min=start, max="+", count=limit),
        )
    except aioredis.ResponseError as error:
        raise Invalid(f"log cursor {after!r} is not one this server gave out") from error
    lines = [LogLine.model_validate_json(fields["l"]) for _, fields in entries]
    cursor = entries[-1][0] if entries else (after or "0-0")
    return LogPage(lines=lines, cursor=cursor)
