"""Chunked console output, tail paging, the events stream, the archiver and the audit archiver,
each archive test on the local history store and on an S3 bucket (moto, on loopback)."""

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from runyard.models import LogBatch, LogLine, MetricBatch, MetricPoint
from runyard_server import history_files, log_batch, store
from runyard_server.api.routes.audit import archived_entries
from runyard_server.audit_archive import AuditArchive, LocalAuditArchive, S3AuditArchive
from runyard_server.errors import Conflict
from runyard_server.history_files import HistoryStore, LocalHistory
from runyard_server.jobs import audit_archiver
from runyard_server.jobs.archiver import Archiver
from runyard_server.jobs.audit_archiver import AuditArchiver
from runyard_server.jobs.events import Busy, Event, EventConsumer
from runyard_server.jobs.retention import Retention
from runyard_server.s3_history import S3History
from runyard_server.store import audit, keys
from tests.integration.store_support import PLENTY, T0, client, make_task, make_worker
from tests.s3_server import s3_bucket

pytestmark = pytest.mark.anyio

SIZES = (3, 1, 4, 2, 5)


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis_client = client(redis_url)
    yield redis_client
    await redis_client.aclose()


@pytest.fixture(params=["local", "s3"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    """An empty history store: the data dir's, or a new bucket's (``--storage s3://``)."""
    if request.param == "local":
        yield LocalHistory(tmp_path / "history")
        return
    with s3_bucket(request.getfixturevalue("s3_server")) as bucket:
        yield S3History(bucket)


async def _print(r: aioredis.Redis, task_id: str, sizes: tuple[int, ...], first: int = 0) -> int:
    """Batches of ``sizes`` lines "line N" (N counting from ``first``); the next N."""
    n = first
    for seq, size in enumerate(sizes, start=first):
        lines = [
            LogLine(
                text=f"line {n + i}", ts=T0 + n + i + 0.123, stream="stderr" if i % 2 else "stdout"
            )
            for i in range(size)
        ]
        await store.append_logs(r, task_id, LogBatch(seq=seq, lines=lines))
        n += size
    return n


async def _all_backward(
    r: aioredis.Redis, history: HistoryStore, task_id: str, limit: int
) -> list[str]:
    page = await store.read_logs_before(r, history, task_id, None, limit)
    texts = [line.text for line in page.lines]
    while page.before is not None:
        page = await store.read_logs_before(r, history, task_id, page.before, limit)
        texts = [line.text for line in page.lines] + texts
    return texts


async def _all_forward(
    r: aioredis.Redis, history: HistoryStore, task_id: str, limit: int
) -> list[str]:
    texts: list[str] = []
    cursor = None
    while True:
        page = await store.read_logs(r, history, task_id, cursor, limit)
        if not page.lines:
            return texts
        texts += [line.text for line in page.lines]
        cursor = page.cursor


async def _text(r: aioredis.Redis, history: HistoryStore, task_id: str) -> str:
    return "".join([piece async for piece in store.log_text(r, history, task_id)])


async def test_tail_then_before_pages_give_every_line_once_in_order(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    task = await make_task(r)
    total = await _print(r, task.id, SIZES)
    expected = [f"line {i}" for i in range(total)]

    tail = await store.read_logs_before(r, history, task.id, None, 4)
    for limit in (1, 2, 4, 6, 100):
        assert await _all_backward(r, history, task.id, limit) == expected
        assert await _all_forward(r, history, task.id, limit) == expected
    assert [line.text for line in tail.lines] == expected[-4:]
    assert tail.lines[0].stream == "stderr" and tail.lines[0].ts == T0 + 11 + 0.123
    more = await _print(r, task.id, (2,), first=total)
    follow = await store.read_logs(r, history, task.id, tail.cursor, 100)
    assert [line.text for line in follow.lines] == [f"line {i}" for i in range(total, more)]


async def test_an_empty_log_pages_to_nothing(r: aioredis.Redis, history: HistoryStore) -> None:
    task = await make_task(r)

    tail = await store.read_logs_before(r, history, task.id, None, 10)
    assert tail.lines == [] and tail.before is None
    assert (await store.read_logs(r, history, task.id, tail.cursor, 10)).lines == []
    assert await _text(r, history, task.id) == ""


async def _final_task_with_output(r: aioredis.Redis) -> tuple[str, int]:
    task = await make_task(r)
    total = await _print(r, task.id, SIZES * 3)
    points = [MetricPoint(series="loss", step=i, value=1 / (i + 1), ts=T0 + i) for i in range(5)]
    await store.append_metrics(r, task.id, MetricBatch(points=points))
    await store.abort(r, task.id, T0 + 100)
    return task.id, total


@pytest.mark.parametrize("frame_bytes", [history_files.FRAME_BYTES, 100])
async def test_an_archived_task_reads_the_same_lines_cursors_and_metrics(
    r: aioredis.Redis, history: HistoryStore, frame_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_files, "FRAME_BYTES", frame_bytes)
    task_id, total = await _final_task_with_output(r)
    middle = await store.read_logs(r, history, task_id, None, 7)
    tail = await store.read_logs_before(r, history, task_id, None, 5)
    metrics = await store.read_metrics(r, history, task_id)
    text = await _text(r, history, task_id)

    assert await Archiver(r, history).archive(task_id) == "ok"

    index = history.index(task_id)
    assert index is not None and index.lines == total
    assert (len(index.frames) == 1) == (frame_bytes > 1000)
    assert not await r.exists(keys.task_logs(task_id), keys.task_metrics(task_id))
    assert await r.hget(keys.task(task_id), "history") == "archived"
    rest = await store.read_logs(r, history, task_id, middle.cursor, 1000)
    assert [line.text for line in middle.lines + rest.lines] == [f"line {i}" for i in range(total)]
    assert await store.read_logs_before(r, history, task_id, None, 5) == tail
    expected = [f"line {i}" for i in range(total)]
    for limit in (1, 4, 100):
        assert await _all_backward(r, history, task_id, limit) == expected
        assert await _all_forward(r, history, task_id, limit) == expected
    assert await _text(r, history, task_id) == text == "".join(f"{t}\n" for t in expected)
    assert await store.read_metrics(r, history, task_id) == metrics
    assert await Archiver(r, history).archive(task_id) == "done"
    with pytest.raises(Conflict, match="archived"):
        await store.append_logs(r, task_id, LogBatch(seq=99, lines=[LogLine(text="late", ts=T0)]))


async def test_a_rerun_after_a_kill_between_writing_and_marking_finishes(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    task_id, total = await _final_task_with_output(r)
    # The first run wrote its archive and died before the script: a whole archive and the
    # whole Redis copy. Lines a user posted meanwhile (no lease token) are not lost.
    archiver = Archiver(r, history)
    chunks, points = await archiver._read(task_id)
    history.write(task_id, chunks, points)
    await _print(r, task_id, (2,), first=total)

    assert await archiver.archive(task_id) == "ok"
    assert await _all_forward(r, history, task_id, 1000) == [f"line {i}" for i in range(total + 2)]
    if isinstance(history, LocalHistory):
        assert not list(history.root.glob(".*"))


async def test_a_task_without_output_is_archived_with_nothing_written_to_the_store(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    task = await make_task(r)
    await store.abort(r, task.id, T0 + 100)

    assert await Archiver(r, history).archive(task.id) == "ok"
    assert await r.hget(keys.task(task.id), "history") == "archived"
    assert history.index(task.id) is None and history.task_ids() == []
    assert await _all_forward(r, history, task.id, 10) == []
    assert await _all_backward(r, history, task.id, 10) == []
    assert await _text(r, history, task.id) == ""
    assert (await store.read_metrics(r, history, task.id)).series == {}
    assert await Archiver(r, history).archive(task.id) == "done"
    assert await Archiver(r, history).sweep() == 0
    with pytest.raises(Conflict, match="archived"):
        await store.append_logs(r, task.id, LogBatch(seq=0, lines=[LogLine(text="late", ts=T0)]))


async def test_a_live_task_is_not_archived(r: aioredis.Redis, history: HistoryStore) -> None:
    task = await make_task(r)
    await _print(r, task.id, SIZES)

    assert await Archiver(r, history).archive(task.id) == "live"
    assert await Archiver(r, history).sweep() == 0
    assert await r.exists(keys.task_logs(task.id)) and history.index(task.id) is None


async def test_every_status_change_is_an_event(r: aioredis.Redis) -> None:
    await r.delete(keys.EVENTS)
    task = await make_task(r, queue="q")
    worker = await make_worker(r)
    claim = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    assert claim is not None
    await store.report_end(r, task.id, claim.lease_token, "completed", 0, None, T0 + 1)

    events = [fields for _, fields in await r.xrange(keys.EVENTS)]
    assert events == [
        {"task": task.id, "from": "draft", "to": "queued", "by": "create"},
        {"task": task.id, "from": "queued", "to": "running", "by": "claim"},
        {"task": task.id, "from": "running", "to": "completed", "by": "end"},
    ]


async def test_an_event_whose_handler_failed_is_run_again_by_another_consumer(
    r: aioredis.Redis,
) -> None:
    await r.delete(keys.EVENTS)
    seen: list[tuple[str, str]] = []

    async def failing(event: Event) -> None:
        seen.append(("first", event.task))
        raise OSError("disk full")

    async def working(event: Event) -> None:
        seen.append(("second", event.task))

    first = EventConsumer(r, "test-group", failing, retry_s=0.2, block_s=0.1)
    second = EventConsumer(r, "test-group", working, retry_s=0.2, block_s=0.1)
    second.name += "-b"
    await first.ensure_group()
    task = await make_task(r, queue="q")

    assert await first.poll() == 0
    assert await second.poll() == 0  # not yet due for a retry
    await asyncio.sleep(0.3)
    assert await second.poll() == 1
    assert await second.poll() == 0  # acknowledged: never again
    assert seen == [("first", task.id), ("second", task.id)]
    assert (await r.xpending(keys.EVENTS, "test-group"))["pending"] == 0


async def test_consumers_of_dead_jobs_processes_are_forgotten_unless_they_hold_events(
    r: aioredis.Redis,
) -> None:
    await r.delete(keys.EVENTS)

    async def ignore(event: Event) -> None:
        pass

    async def crash(event: Event) -> None:
        raise OSError("killed mid-event")

    consumers = [
        EventConsumer(r, "test-group", handler, block_s=0.01) for handler in (ignore, crash)
    ]
    for n, consumer in enumerate(consumers):
        consumer.name += f"-{n}"
    await consumers[0].ensure_group()
    await make_task(r, queue="q")
    assert await consumers[0].poll() > 0  # handled and acknowledged: it holds nothing
    await make_task(r, queue="q")
    await consumers[1].poll()  # its events stay pending, as a kill -9 would leave them
    await asyncio.sleep(0.2)
    live = EventConsumer(r, "test-group", ignore, block_s=0.01)

    assert await live.forget_dead_consumers(idle_s=0.1) == [consumers[0].name]
    names = {c["name"] for c in await r.xinfo_consumers(keys.EVENTS, "test-group")}
    assert names == {consumers[1].name}


async def test_retention_drops_output_of_old_tasks_but_keeps_the_record_and_final_metrics(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    archived, _ = await _final_task_with_output(r)
    in_redis, _ = await _final_task_with_output(r)
    await Archiver(r, history).archive(archived)

    assert await Retention(r, history, days=1).run(now=T0 + 100 + 3600) == 0
    assert await Retention(r, history, days=1).run(now=T0 + 100 + 2 * 86400) >= 2

    for task_id in (archived, in_redis):
        assert await r.hget(keys.task(task_id), "history") == "dropped"
        assert history.index(task_id) is None and not await r.exists(keys.task_logs(task_id))
        assert (await store.read_logs(r, history, task_id, None, 10)).lines == []
        metrics = await store.read_metrics(r, history, task_id)
        assert metrics.series == {} and metrics.final == {"loss": 0.2}


async def test_the_sweep_archives_unnamed_final_tasks_and_removes_archives_no_task_owns(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    task_id, total = await _final_task_with_output(r)
    orphan, _ = await _final_task_with_output(r)
    await Archiver(r, history).archive(orphan)
    await r.delete(keys.task(orphan))  # deleted by a process killed before its files went

    assert await Archiver(r, history).sweep() == 1
    assert await r.hget(keys.task(task_id), "history") == "archived"
    assert history.task_ids() == [task_id]
    assert await _all_forward(r, history, task_id, 1000) == [f"line {i}" for i in range(total)]


async def test_a_task_another_archiver_holds_is_left_to_it(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    task_id, _ = await _final_task_with_output(r)
    other = r.lock(keys.archive_lock(task_id), timeout=10)
    assert await other.acquire()

    with pytest.raises(Busy):
        await Archiver(r, history).archive(task_id)
    assert await Archiver(r, history).sweep() == 0
    await other.release()
    assert await Archiver(r, history).archive(task_id) == "ok"
    assert not await r.exists(keys.archive_lock(task_id))


async def test_a_log_stored_line_by_line_by_0_1_reads_and_archives_with_its_cursors(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    task = await make_task(r)
    old = [LogLine(text=f"old {i}", ts=T0 + i, stream="stderr") for i in range(3)]
    ids = [await r.xadd(keys.task_logs(task.id), {"l": line.model_dump_json()}) for line in old]
    await _print(r, task.id, (2,), first=3)

    rest = await store.read_logs(r, history, task.id, ids[0], 10)  # a cursor 0.1 gave out
    assert [line.text for line in rest.lines] == ["old 1", "old 2", "line 3", "line 4"]
    assert rest.lines[0] == old[1]
    await store.abort(r, task.id, T0)
    assert await Archiver(r, history).archive(task.id) == "ok"
    again = await store.read_logs(r, history, task.id, ids[0], 10)
    assert again == rest


NASTY = [
    "",
    'quote " backslash \\ slash /',
    "tab\tcr\rnul\x00esc\x1bdel\x7f",
    "kept its newline\n",
    "two\nlines",
    "naïve café ☃ 𝄞 🙂",
    "line separators \u2028 \u2029 next line \x85 file separator \x1c \x1d \x1e \x0b \x0c",
]


async def test_any_text_reads_back_the_same_live_and_archived(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    task = await make_task(r)
    lines = [
        LogLine(text=text, ts=T0 + i / 8, stream=("stdout", "stderr", "agent")[i % 3])
        for i, text in enumerate(NASTY)
    ]
    # One batch as the route's fast reader reads it, one as pydantic does.
    fast = log_batch.decode(LogBatch(seq=0, lines=lines[:4]).model_dump_json().encode())
    assert fast is not None
    await store.append_logs(r, task.id, fast)
    await store.append_logs(r, task.id, LogBatch(seq=1, lines=lines[4:]))
    text = "".join(t if t.endswith("\n") else f"{t}\n" for t in NASTY)

    for archived in (False, True):
        if archived:
            await store.abort(r, task.id, T0 + 100)
            assert await Archiver(r, history).archive(task.id) == "ok"
        assert (await store.read_logs(r, history, task.id, None, 100)).lines == lines
        assert await _all_forward(r, history, task.id, 3) == NASTY
        assert await _all_backward(r, history, task.id, 3) == NASTY
        assert await _text(r, history, task.id) == text


async def test_pages_over_chunks_of_mixed_sizes_give_every_line_once_in_order(
    r: aioredis.Redis, history: HistoryStore
) -> None:
    # More chunks than one read asks for, of sizes far apart: a page asks for as many
    # chunks as the sizes it saw suggest, and must neither skip nor repeat a line.
    task = await make_task(r)
    sizes = tuple(random.Random(3).choices([1, 2, 5, 40, 300], k=150))
    expected = [f"line {i}" for i in range(await _print(r, task.id, sizes))]
    for archived in (False, True):
        if archived:
            await store.abort(r, task.id, T0 + 100)
            assert await Archiver(r, history).archive(task.id) == "ok"
        for limit in (9, 250, 10_000):
            assert await _all_forward(r, history, task.id, limit) == expected
            assert await _all_backward(r, history, task.id, limit) == expected


def tmp_root(history: HistoryStore) -> Path:
    assert isinstance(history, LocalHistory)
    return history.root.parent


async def _record(r: aioredis.Redis, n: int) -> None:
    for i in range(n):
        await audit.record(
            r,
            {"who": f"u{i % 2}", "method": "POST", "route": "/api/v1/queues", "object": "",
             "status": "201", "rid": f"r{i}", "client": "127.0.0.1"},
        )  # fmt: skip


async def test_audit_archiving_moves_old_entries_in_segments_and_a_listing_finds_each_once(
    r: aioredis.Redis, history: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The audit archive sits beside the history store: its data dir or its bucket.
    archive: AuditArchive = (
        S3AuditArchive(history.bucket)
        if isinstance(history, S3History)
        else LocalAuditArchive(tmp_root(history) / "audit")
    )
    await _record(r, 25)
    monkeypatch.setattr(audit_archiver, "SEGMENT", 10)
    archiver = AuditArchiver(r, archive, live_days=1)
    # Nothing is a day old yet.
    assert await archiver.run() == 0
    assert await r.xlen(keys.AUDIT) == 25
    # A process killed after writing a segment but before trimming: written again.
    first = await audit.older_than(r, int((time.time() + 1) * 1000), 10)
    archive.write(first)
    assert await archiver.run(now=time.time() + 86400 + 1) == 25
    assert await r.xlen(keys.AUDIT) == 0
    assert len(archive.names()) == 3

    found = archived_entries(archive, 0, int(time.time() * 1000) + 1000, None, 100, set())
    assert [e.request_id for e in found] == [f"r{i}" for i in reversed(range(25))]
    theirs = archived_entries(archive, 0, int(time.time() * 1000) + 1000, "u1", 5, set())
    assert [e.request_id for e in theirs] == ["r23", "r21", "r19", "r17", "r15"]
