"""Console output as chunks: one per stored batch, and the cursors that address a line.

A chunk is one Redis stream entry (and, once the task is archived, one record of
its history file) holding every line of one batch, so storing a batch is one
``XADD`` whatever its size. Its payload is compact JSON,
``[base_ms, [dt_ms, ...], "streams", [text, ...]]``: times in milliseconds from
the first line's, one letter per line for its stream (``o`` stdout, ``e``
stderr, ``a`` agent), then the texts. A line costs its text and about eight bytes,
where a ``LogLine`` JSON costs about fifty: live output stays near its own size in
Redis memory. Times keep millisecond precision.

A chunk is named by its stream entry id (``"<ms>-<n>"``); the archive keeps those
ids, so a cursor means the same line before and after a task is archived. A cursor
``"<chunk id>:<i>"`` names line ``i`` of that chunk; a bare ``"<chunk id>"`` (what
the per-line stream of 0.1 handed out) names that chunk's last line, and ``"0-0"``
the point before the first line.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, Protocol

import msgspec
from pydantic import TypeAdapter

from runyard.models import LogLine
from runyard_server.errors import Invalid

ChunkId = tuple[int, int]
"""A stream entry id as numbers, so ids compare in stream order."""

Stream = Literal["stdout", "stderr", "agent"]
_STREAM_CODES = {"stdout": "o", "stderr": "e", "agent": "a"}
_STREAM_NAMES: dict[str, Stream] = {"o": "stdout", "e": "stderr", "a": "agent"}
START: ChunkId = (0, 0)
LINES = TypeAdapter(list[LogLine])
"""Validating a page's lines at once (in pydantic's core) is the cheapest way to models."""
_MAX_MS = 2**53
"""Times beyond this many ms would lose precision as the doubles readers parse them into."""

_ENCODER = msgspec.json.Encoder()
_COLUMNS = msgspec.json.Decoder(tuple[int, list[int], str, list[str]])


class Line(Protocol):
    """A line to store: a ``LogLine``, or the ``FastLine`` of ``log_batch.py``."""

    @property
    def stream(self) -> Stream: ...
    @property
    def text(self) -> str: ...
    @property
    def ts(self) -> float: ...


class PageLine(msgspec.Struct):
    """A line read back, as ``LogLine`` writes it in JSON (built and encoded in C)."""

    stream: Stream
    text: str
    ts: float


def encode(lines: Sequence[Line]) -> str:
    """The chunk payload of a batch (at least one line); Invalid for a time past year 280,000."""
    try:
        stamps = [round(line.ts * 1000) for line in lines]
    except (OverflowError, ValueError):  # inf, or NaN
        raise Invalid("a log line's ts is not a unix time in seconds") from None
    if max(stamps) > _MAX_MS or min(stamps) < -_MAX_MS:
        raise Invalid("a log line's ts is not a unix time in seconds")
    base = stamps[0]
    streams = "".join([_STREAM_CODES[line.stream] for line in lines])
    texts = [line.text for line in lines]
    return _ENCODER.encode([base, [s - base for s in stamps], streams, texts]).decode()


@dataclass(frozen=True, eq=False)
class Chunk:
    """One stored batch: its id and its lines' times, streams and texts, decoded lazily."""

    id: ChunkId
    payload: str

    @cached_property
    def _columns(self) -> tuple[int, list[int], str, list[str]]:
        return _COLUMNS.decode(self.payload)

    def __len__(self) -> int:
        return len(self._columns[3])

    def texts(self) -> list[str]:
        return self._columns[3]

    def page_lines(self, start: int = 0, stop: int | None = None) -> list[PageLine]:
        """Lines ``start`` to ``stop`` (exclusive; the end when None)."""
        base, deltas, streams, texts = self._columns
        end = len(texts) if stop is None else stop
        stamps = [(base + delta) / 1000 for delta in deltas[start:end]]
        names = map(_STREAM_NAMES.__getitem__, streams[start:end])
        return list(map(PageLine, names, texts[start:end], stamps))


def models(lines: list[PageLine]) -> list[LogLine]:
    """Lines read back as ``LogLine`` models."""
    return LINES.validate_python(msgspec.to_builtins(lines))


def page_json(lines: list[PageLine], cursor: str, before: str | None) -> bytes:
    """A ``LogPage`` as JSON."""
    return _ENCODER.encode({"lines": lines, "cursor": cursor, "before": before})


def dump_line(line: PageLine) -> str:
    """A ``LogLine`` as JSON."""
    return _ENCODER.encode(line).decode()


def legacy_chunk(chunk_id: ChunkId, line_json: str) -> Chunk:
    """A 0.1 stream entry (one ``LogLine`` JSON) as a chunk of one line."""
    return Chunk(chunk_id, encode([LogLine.model_validate_json(line_json)]))


@dataclass(frozen=True)
class Position:
    """A line: ``index`` in chunk ``chunk``; ``index`` None means the chunk's last line."""

    chunk: ChunkId
    index: int | None = None

    def __str__(self) -> str:
        name = format_id(self.chunk)
        return name if self.index is None else f"{name}:{self.index}"


def format_id(chunk: ChunkId) -> str:
    return f"{chunk[0]}-{chunk[1]}"


def parse_id(text: str) -> ChunkId:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def parse_cursor(cursor: str) -> Position:
    """A cursor this server gave out; Invalid for anything else."""
    name, sep, index = cursor.partition(":")
    try:
        chunk = parse_id(name)
        position = Position(chunk, int(index) if sep else None)
    except ValueError:
        raise Invalid(f"log cursor {cursor!r} is not one this server gave out") from None
    if not (0 <= chunk[0] < 2**64 and 0 <= chunk[1] < 2**64) or (position.index or 0) < 0:
        raise Invalid(f"log cursor {cursor!r} is not one this server gave out")
    return position
