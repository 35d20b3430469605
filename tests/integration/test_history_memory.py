"""Redis memory: a finished task costs its record, whatever it printed (issue 10)."""

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from runyard.models import LogBatch, LogLine
from runyard_server import store
from runyard_server.history_files import LocalHistory
from runyard_server.jobs.archiver import Archiver
from tests.integration.store_support import T0, client, make_task

pytestmark = pytest.mark.anyio

TASKS, LINES, PER_BATCH = 500, 10_000, 1000
ALLOWED = 5 * 1024 * 1024


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis_client = client(redis_url)
    yield redis_client
    await redis_client.aclose()


async def _finished_tasks(r: aioredis.Redis, history: LocalHistory, lines: int) -> int:
    """``TASKS`` tasks that printed ``lines`` lines each, ended and archived; the memory
    of Redis's dataset."""
    archiver = Archiver(r, history)
    batch = [
        LogLine(text=f"epoch 3 step {i}/{PER_BATCH} loss {1 / (i + 1):.6f} lr 0.001", ts=T0 + i)
        for i in range(PER_BATCH)
    ]
    for _ in range(TASKS):
        task = await make_task(r)
        for seq in range(lines // PER_BATCH):
            await store.append_logs(r, task.id, LogBatch(seq=seq, lines=batch))
        await store.abort(r, task.id, T0)
        assert await archiver.archive(task.id) == "ok"
    # The dataset only: used_memory also counts Redis's own overhead (client buffers, the
    # buffer of an AOF rewrite that the session Redis may be running, scripts cached by
    # earlier tests), which CI saw swell by 10 MB during the printed phase.
    used = int((await r.info("memory"))["used_memory_dataset"])
    await r.flushall()
    return used


async def test_finished_tasks_with_10k_lines_cost_redis_what_empty_ones_do(
    r: aioredis.Redis, history: LocalHistory
) -> None:
    await r.flushall()
    empty = await _finished_tasks(r, history, 0)
    printed = await _finished_tasks(r, history, LINES)

    print(f"Redis dataset: {empty} B for {TASKS} empty tasks, {printed} B with {LINES} lines")
    assert printed - empty < ALLOWED
