"""Console output: one chunk per batch (``log_chunks.py``), read from Redis or the archive.

A task's chunks are in its Redis stream until the archiver moves them to the history
store and sets the task's ``history`` field, in one script. Every read of chunks
asks Redis for that field and the chunks in one transaction, so each read sees the
task either before the move (the stream) or after it (the archive), never between;
a cursor names the same line in both.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import anyio.to_thread
import redis.asyncio as aioredis

from runyard.models import LogAck, LogPage
from runyard.models.limits import MAX_LOG_BATCH_BYTES
from runyard_server.errors import Conflict, NotFound, StaleLease, TooLarge
from runyard_server.history_files import HistoryStore
from runyard_server.log_chunks import (
    START,
    Chunk,
    ChunkId,
    Line,
    PageLine,
    Position,
    encode,
    format_id,
    legacy_chunk,
    models,
    page_json,
    parse_cursor,
    parse_id,
)
from runyard_server.store import keys, script_keys, scripts

CHUNKS_PER_READ = 64
"""Chunks asked for at once at most; a batch holds up to 10,000 lines, most hold far fewer."""
FIRST_READ = 2
"""Chunks a page asks for first, before it knows how many lines a chunk of this task holds."""


class Batch(Protocol):
    """A batch to store: a ``LogBatch``, or the ``FastBatch`` of ``log_batch.py``."""

    @property
    def lease_token(self) -> str | None: ...
    @property
    def seq(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def lines(self) -> Sequence[Line]: ...


async def append_logs(r: "aioredis.Redis", task_id: str, batch: Batch) -> LogAck:
    """Store a batch as one chunk; ``accepted`` is False when this seq was stored before.

    A batch with a lease token is keyed by that token and seq, so a rerun of the task
    numbering from 0 again is stored too; the token must be the task's current one.
    An empty batch only records its seq.
    """
    payload = encode(batch.lines) if batch.lines else ""
    if len(payload) > MAX_LOG_BATCH_BYTES:
        raise TooLarge(
            f"log batch is {len(payload)} bytes as stored, over the {MAX_LOG_BATCH_BYTES}-byte "
            "limit: send smaller batches"
        )
    args = (task_id, batch.lease_token or "", batch.seq, batch.dropped, payload, len(batch.lines))
    declared = {**script_keys.task_output(task_id), "stats": keys.STATS}
    reply = await scripts.run(r, "logs", declared, *args)
    if reply[0] == "missing":
        raise NotFound(f"task {task_id} does not exist")
    if reply[0] == "stale":
        raise StaleLease(
            f"task {task_id} is {reply[1]} and this lease token is no longer its own: "
            "stop the process and report nothing more"
        )
    if reply[0] == "archived":
        raise Conflict(
            f"task {task_id} is {reply[1]} and its output is archived: it takes no more lines"
        )
    return LogAck(accepted=reply[0] == "ok")


class LogSource:
    """A task's chunks wherever they are now: its Redis stream or its archive."""

    def __init__(self, r: "aioredis.Redis", history: HistoryStore, task_id: str) -> None:
        self.r, self.history, self.task_id = r, history, task_id

    async def _redis(self, read: str, start: str, end: str, count: int) -> list[Chunk] | None:
        """Chunks from the stream, or None when the task is archived."""
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hmget(keys.task(self.task_id), "status", "history")
            getattr(pipe, read)(keys.task_logs(self.task_id), start, end, count=count)
            (status, history), entries = await pipe.execute()
        if status is None:
            raise NotFound(f"task {self.task_id} does not exist")
        if history is not None:
            return None
        return [_chunk(entry) for entry in cast(list[tuple[str, dict[str, str]]], entries)]

    async def forward(self, start: ChunkId, count: int) -> list[Chunk]:
        """Up to ``count`` chunks at or after ``start``, oldest first."""
        chunks = await self._redis("xrange", format_id(start), "+", count)
        if chunks is not None:
            return chunks
        return await anyio.to_thread.run_sync(self.history.chunks_from, self.task_id, start, count)

    async def backward(self, end: ChunkId | None, count: int) -> list[Chunk]:
        """Up to ``count`` chunks at or before ``end`` (the newest when None), newest first."""
        chunks = await self._redis("xrevrange", "+" if end is None else format_id(end), "-", count)
        if chunks is not None:
            return chunks
        return await anyio.to_thread.run_sync(self.history.chunks_before, self.task_id, end, count)


def _chunk(entry: tuple[str, dict[str, str]]) -> Chunk:
    chunk_id, fields = parse_id(entry[0]), entry[1]
    if "c" in fields:
        return Chunk(chunk_id, fields["c"])
    return legacy_chunk(chunk_id, fields["l"])


@dataclass
class _Reads:
    """How many chunks a page asks for next: enough for the lines it still needs at the
    sizes of the chunks it has seen, plus one. A page of 10,000 lines in chunks of 2,000
    reads 6 chunks, where 64 at once moved ten times its size out of Redis."""

    chunks: int = 0
    lines: int = 0

    def saw(self, chunk: Chunk) -> None:
        self.chunks += 1
        self.lines += len(chunk)

    def count(self, need: int) -> int:
        if not self.chunks:
            return FIRST_READ
        per_chunk = max(1, self.lines // self.chunks)
        return min(CHUNKS_PER_READ, -(-need // per_chunk) + 1)


@dataclass
class LinePage:
    """A page: serialized to JSON at once (``json``) for the route, or made models (``model``)."""

    lines: list[PageLine]
    cursor: str
    before: str | None

    def model(self) -> LogPage:
        return LogPage(lines=models(self.lines), cursor=self.cursor, before=self.before)

    def json(self) -> bytes:
        return page_json(self.lines, self.cursor, self.before)


async def read_logs(
    r: "aioredis.Redis", history: HistoryStore, task_id: str, after: str | None, limit: int
) -> LogPage:
    """Up to ``limit`` lines after the cursor ``after`` (from the start when None).

    ``cursor`` names the page's last line (``after`` again when no line came), to
    pass back as ``after``; ``before`` names its first line, to page backward.
    """
    return (await page_after(r, history, task_id, after, limit)).model()


async def page_after(
    r: "aioredis.Redis", history: HistoryStore, task_id: str, after: str | None, limit: int
) -> LinePage:
    """:func:`read_logs` as a ``LinePage``."""
    source = LogSource(r, history, task_id)
    since = parse_cursor(after) if after else Position(START, None)
    lines: list[PageLine] = []
    first, last = None, since
    start, reads = since.chunk, _Reads()
    while len(lines) < limit:
        count = reads.count(limit - len(lines))
        chunks = await source.forward(start, count)
        for chunk in chunks:
            reads.saw(chunk)
            begin = 0
            if chunk.id == since.chunk:
                begin = len(chunk) if since.index is None else since.index + 1
            stop = min(len(chunk), begin + limit - len(lines))
            if stop <= begin:
                continue
            lines += chunk.page_lines(begin, stop)
            first = first or Position(chunk.id, begin)
            last = Position(chunk.id, stop - 1)
            if len(lines) == limit:
                break
        if len(chunks) < count:
            break
        start = (chunks[-1].id[0], chunks[-1].id[1] + 1)
    from_start = since == Position(START, None)
    return LinePage(
        lines=lines,
        cursor=str(last) if lines else (after or "0-0"),
        before=str(first) if first and not from_start else None,
    )


async def read_logs_before(
    r: "aioredis.Redis", history: HistoryStore, task_id: str, before: str | None, limit: int
) -> LogPage:
    """Up to ``limit`` lines before the cursor ``before`` (the log's last lines when None).

    ``before`` in the page names its first line (None when it is the log's first),
    ``cursor`` its last line (where a follower goes on with ``after``).
    """
    return (await page_before(r, history, task_id, before, limit)).model()


async def page_before(
    r: "aioredis.Redis", history: HistoryStore, task_id: str, before: str | None, limit: int
) -> LinePage:
    """:func:`read_logs_before` as a ``LinePage``."""
    source = LogSource(r, history, task_id)
    until = parse_cursor(before) if before else None
    segments: list[list[PageLine]] = []
    first: Position | None = None
    last: Position | None = None
    need, end = limit, until.chunk if until else None
    exhausted, reads = False, _Reads()
    while need > 0 and not exhausted:
        count = reads.count(need)
        chunks = await source.backward(end, count)
        exhausted = len(chunks) < count
        for chunk in chunks:
            reads.saw(chunk)
            stop = len(chunk)
            if until is not None and chunk.id == until.chunk:
                stop = len(chunk) - 1 if until.index is None else until.index
            begin = max(0, stop - need)
            if stop <= begin:
                continue
            segments.append(chunk.page_lines(begin, stop))
            last = last or Position(chunk.id, stop - 1)
            first = Position(chunk.id, begin)
            need -= stop - begin
            if need == 0:
                break
        if chunks:
            oldest = chunks[-1].id
            end = (oldest[0], oldest[1] - 1) if oldest[1] else (oldest[0] - 1, 2**63 - 1)
    lines = [line for segment in reversed(segments) for line in segment]
    at_start = need > 0 or first is None
    cursor = str(last) if last else (before or "0-0")
    return LinePage(lines=lines, cursor=cursor, before=None if at_start else str(first))


async def log_text(r: "aioredis.Redis", history: HistoryStore, task_id: str) -> AsyncIterator[str]:
    """The whole log as plain text, one line per line, in pieces of whole chunks."""
    source = LogSource(r, history, task_id)
    start = START
    while True:
        chunks = await source.forward(start, CHUNKS_PER_READ)
        if chunks:
            yield "".join([_text(chunk.texts()) for chunk in chunks])
        if len(chunks) < CHUNKS_PER_READ:
            return
        start = (chunks[-1].id[0], chunks[-1].id[1] + 1)


def _text(texts: list[str]) -> str:
    # As ``runyard task logs`` prints a line: a text that kept its newline gets no second.
    # Joined at once when no text holds a newline (counted in C), as nearly always.
    joined = "\n".join(texts) + "\n"
    if joined.count("\n") == len(texts):
        return joined
    return "".join([text if text.endswith("\n") else text + "\n" for text in texts])


async def check_task(r: "aioredis.Redis", task_id: str) -> None:
    """NotFound unless the task exists (a route checks before its 200 goes out)."""
    if not await r.exists(keys.task(task_id)):
        raise NotFound(f"task {task_id} does not exist")
