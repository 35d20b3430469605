"""Console logs: idempotent batches, cursor paging, limits and lease checks."""

import pytest
import redis.asyncio as aioredis

from runyard.models import LogBatch, LogLine
from runyard.models.limits import MAX_LOG_BATCH_BYTES
from runyard_server import store
from runyard_server.errors import Invalid, NotFound, StaleLease, TooLarge
from runyard_server.history_files import LocalHistory
from tests.integration.store_support import PLENTY, T0, make_task, make_worker

pytestmark = pytest.mark.anyio


def _batch(seq: int, *texts: str, token: str | None = None) -> LogBatch:
    lines = [
        LogLine(text=text, ts=T0, stream="stderr" if "err" in text else "stdout") for text in texts
    ]
    return LogBatch(lease_token=token, seq=seq, lines=lines)


async def test_a_retried_batch_is_stored_once(r: aioredis.Redis, history: LocalHistory) -> None:
    task = await make_task(r)

    first = await store.append_logs(r, task.id, _batch(0, "a", "b"))
    retry = await store.append_logs(r, task.id, _batch(0, "a", "b"))
    second = await store.append_logs(r, task.id, _batch(1, "err c"))

    assert first.accepted and not retry.accepted and second.accepted
    page = await store.read_logs(r, history, task.id, None, 100)
    assert [line.text for line in page.lines] == ["a", "b", "err c"]
    assert page.lines[2].stream == "stderr"


async def test_pages_continue_from_the_cursor(r: aioredis.Redis, history: LocalHistory) -> None:
    task = await make_task(r)
    await store.append_logs(r, task.id, _batch(0, *(f"line {i}" for i in range(5))))

    first = await store.read_logs(r, history, task.id, None, 3)
    rest = await store.read_logs(r, history, task.id, first.cursor, 3)
    empty = await store.read_logs(r, history, task.id, rest.cursor, 3)

    assert [line.text for line in first.lines] == ["line 0", "line 1", "line 2"]
    assert [line.text for line in rest.lines] == ["line 3", "line 4"]
    assert empty.lines == [] and empty.cursor == rest.cursor


async def test_a_rerun_numbering_from_zero_again_is_stored(
    r: aioredis.Redis, history: LocalHistory
) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    first = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    assert first is not None and first.lease_token is not None
    await store.append_logs(r, task.id, _batch(0, "run 1", token=first.lease_token))
    await store.requeue(r, task.id, first.lease_token, T0)
    second = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    assert second is not None and second.lease_token is not None

    ack = await store.append_logs(r, task.id, _batch(0, "run 2", token=second.lease_token))

    assert ack.accepted
    with pytest.raises(StaleLease):
        await store.append_logs(r, task.id, _batch(1, "zombie", token=first.lease_token))
    lines = (await store.read_logs(r, history, task.id, None, 10)).lines
    assert [line.text for line in lines] == ["run 1", "run 2"]


async def test_output_of_an_expired_lease_is_refused_before_any_new_claim(
    r: aioredis.Redis, history: LocalHistory
) -> None:
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    claim = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    assert claim is not None and claim.lease_token is not None
    await store.append_logs(r, task.id, _batch(0, "before", token=claim.lease_token))
    assert await store.reap_expired(r, T0 + 100) == [task.id]

    with pytest.raises(StaleLease):
        await store.append_logs(r, task.id, _batch(1, "after", token=claim.lease_token))

    lines = (await store.read_logs(r, history, task.id, None, 10)).lines
    assert [line.text for line in lines] == ["before"]


async def test_a_batch_over_the_limit_is_too_large(r: aioredis.Redis) -> None:
    task = await make_task(r)
    big = "x" * (MAX_LOG_BATCH_BYTES // 2)

    with pytest.raises(TooLarge, match=str(MAX_LOG_BATCH_BYTES)):
        await store.append_logs(r, task.id, _batch(0, big, big, big))


async def test_logs_of_an_unknown_task_are_not_found(
    r: aioredis.Redis, history: LocalHistory
) -> None:
    with pytest.raises(NotFound):
        await store.append_logs(r, "0" * 32, _batch(0, "a"))
    with pytest.raises(NotFound):
        await store.read_logs(r, history, "0" * 32, None, 10)


async def test_a_malformed_cursor_is_invalid(r: aioredis.Redis, history: LocalHistory) -> None:
    task = await make_task(r)

    with pytest.raises(Invalid):
        await store.read_logs(r, history, task.id, "nonsense", 10)
