"""The history store: console chunks and metric points of final tasks, out of Redis.

``HistoryStore`` is the seam (as ``ArtifactStore`` is for artifacts); ``LocalHistory``
keeps each task's archive in a folder ``root/<task id>/`` (``s3_history.S3History``
keeps the same files in a bucket):

* ``logs.zst`` — zstd frames, each a run of whole chunks (about ``FRAME_BYTES`` of
  chunk records ``"<chunk id> <payload>\\n"``), so a page reads one frame, not the log;
* ``metrics.zst`` — the metric points (one zstd frame of a JSON list);
* ``index.json`` — per frame its first and last chunk id, offset, size, line count and
  sha256, and the sha256 of ``metrics.zst``: every read checks what it read.

An archive is written whole or not at all: the files go to a temporary folder, each
is fsynced, the folder is renamed into place and its parent fsynced. A folder under
its final name is therefore always complete; a temporary one (a writer killed or a
full disk) is removed by the next write. Readers never see a half archive.
"""

import bisect
import errno
import hashlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import IO, Protocol

import zstandard
from pydantic import BaseModel

from runyard_server.errors import Damaged
from runyard_server.log_chunks import Chunk, ChunkId, format_id, parse_id

FRAME_BYTES = 1024 * 1024
"""Raw bytes per compressed frame: large enough to compress well, small to read a page."""
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_LEVEL = 6
"""zstd level: typical training logs shrink ~10x; decompression speed barely changes with level."""


class Frame(BaseModel):
    first: str
    last: str
    offset: int
    size: int
    lines: int
    sha256: str = ""
    """Of the compressed frame; "" in archives written before it was kept (not checked)."""


class ArchiveIndex(BaseModel):
    """What ``index.json`` holds; ``last_chunk`` is "" for a task that printed nothing."""

    chunks: int
    lines: int
    last_chunk: str
    metric_points: int
    frames: list[Frame]
    metrics_sha256: str = ""


class HistoryStore(Protocol):
    """Where final tasks' output lives; implementations must make ``write`` all-or-nothing."""

    def write(self, task_id: str, chunks: Iterable[Chunk], points: list[str]) -> ArchiveIndex:
        """Archive the chunks (in id order) and metric points (JSON strings), replacing any."""
        ...

    def index(self, task_id: str) -> ArchiveIndex | None:
        """The archive's index, or None when the task has none."""
        ...

    def chunks_from(self, task_id: str, start: ChunkId, count: int) -> list[Chunk]:
        """Up to ``count`` chunks with ids at or after ``start``, oldest first."""
        ...

    def chunks_before(self, task_id: str, end: ChunkId | None, count: int) -> list[Chunk]:
        """Up to ``count`` chunks with ids at or before ``end`` (the last when None),
        newest first."""
        ...

    def metric_points(self, task_id: str) -> list[str]:
        """The archived metric points, in logging order."""
        ...

    def delete(self, task_id: str) -> None:
        """Remove the task's archive (retention, purge, delete); nothing when there is none."""
        ...

    def task_ids(self) -> list[str]:
        """The tasks that have an archive."""
        ...


class FramedHistory(ABC):
    """Paging through an archive's frames, whatever keeps the bytes."""

    @abstractmethod
    def index(self, task_id: str) -> ArchiveIndex | None: ...

    @abstractmethod
    def _chunks_of(self, task_id: str, index: ArchiveIndex, number: int) -> tuple[Chunk, ...]:
        """The chunks of frame ``number``."""

    def chunks_from(self, task_id: str, start: ChunkId, count: int) -> list[Chunk]:
        index = self.index(task_id)
        lasts = _frame_lasts(index)
        found: list[Chunk] = []
        for number in range(bisect.bisect_left(lasts, start), len(lasts)):
            assert index is not None
            found += [c for c in self._chunks_of(task_id, index, number) if c.id >= start]
            if len(found) >= count:
                break
        return found[:count]

    def chunks_before(self, task_id: str, end: ChunkId | None, count: int) -> list[Chunk]:
        index = self.index(task_id)
        lasts = _frame_lasts(index)
        first = (
            len(lasts) - 1 if end is None else min(bisect.bisect_left(lasts, end), len(lasts) - 1)
        )
        found: list[Chunk] = []
        for number in range(first, -1, -1):
            assert index is not None
            chunks = self._chunks_of(task_id, index, number)
            found += [c for c in reversed(chunks) if end is None or c.id <= end]
            if len(found) >= count:
                break
        return found[:count]


def _frame_lasts(index: ArchiveIndex | None) -> list[ChunkId]:
    return [] if index is None else [parse_id(frame.last) for frame in index.frames]


class LocalHistory(FramedHistory):
    """A ``HistoryStore`` in a local folder (the server's data dir by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Paging through a long log reads each frame several times; keep a few decoded.
        self._frame = lru_cache(maxsize=16)(self._read_frame)

    def write(self, task_id: str, chunks: Iterable[Chunk], points: list[str]) -> ArchiveIndex:
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_leftovers(task_id)
        temp = Path(tempfile.mkdtemp(prefix=f".tmp-{task_id}-", dir=self.root))
        try:
            with open(temp / "logs.zst", "wb") as out:
                index = write_logs(out, chunks, len(points))
                out.flush()
                os.fsync(out.fileno())
            metrics = encode_metrics(points, index)
            _write_durably(temp / "metrics.zst", metrics)
            _write_durably(temp / "index.json", index.model_dump_json().encode())
            _fsync_dir(temp)
            final = self.root / task_id
            if final.exists():
                # A rerun replacing an archive that Redis never acknowledged: move the
                # old one aside first, so a crash leaves one of the two, never a mix.
                final.rename(self.root / f".old-{task_id}")
            temp.rename(final)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        shutil.rmtree(self.root / f".old-{task_id}", ignore_errors=True)
        self._frame.cache_clear()
        return index

    def _remove_leftovers(self, task_id: str) -> None:
        for stale in self.root.glob(f".tmp-{task_id}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(self.root / f".old-{task_id}", ignore_errors=True)

    def index(self, task_id: str) -> ArchiveIndex | None:
        try:
            return ArchiveIndex.model_validate_json(
                (self.root / task_id / "index.json").read_bytes()
            )
        except FileNotFoundError:
            return None

    def _read_frame(self, task_id: str, number: int) -> tuple[Chunk, ...]:
        index = self.index(task_id)
        assert index is not None
        frame = index.frames[number]
        with open(self.root / task_id / "logs.zst", "rb") as file:
            file.seek(frame.offset)
            return decode_frame(file.read(frame.size), frame, f"task {task_id}'s archived log")

    def _chunks_of(self, task_id: str, index: ArchiveIndex, number: int) -> tuple[Chunk, ...]:
        return self._frame(task_id, number)

    def metric_points(self, task_id: str) -> list[str]:
        index = self.index(task_id)
        try:
            raw = (self.root / task_id / "metrics.zst").read_bytes()
        except FileNotFoundError:
            return []
        assert index is not None
        return decode_metrics(raw, index, f"task {task_id}'s archived metrics")

    def task_ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return [entry.name for entry in self.root.iterdir() if not entry.name.startswith(".")]

    def delete(self, task_id: str) -> None:
        self._remove_leftovers(task_id)
        shutil.rmtree(self.root / task_id, ignore_errors=True)
        self._frame.cache_clear()


class _FrameWriter:
    """Appends chunk records to a file as zstd frames of about FRAME_BYTES each."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.compressor = zstandard.ZstdCompressor(level=_LEVEL)
        self.frames: list[Frame] = []
        self.records: list[bytes] = []
        self.size = self.lines = self.offset = 0
        self.first = self.last = ""

    def add(self, chunk: Chunk) -> int:
        """Add a chunk; returns its line count."""
        self.last = format_id(chunk.id)
        self.first = self.first or self.last
        record = f"{self.last} {chunk.payload}\n".encode()
        self.records.append(record)
        lines = len(chunk.texts())
        self.size += len(record)
        self.lines += lines
        if self.size >= FRAME_BYTES:
            self.flush()
        return lines

    def flush(self) -> None:
        if not self.records:
            return
        data = self.compressor.compress(b"".join(self.records))
        self.out.write(data)
        frame = Frame(
            first=self.first,
            last=self.last,
            offset=self.offset,
            size=len(data),
            lines=self.lines,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        self.frames.append(frame)
        self.offset += len(data)
        self.records.clear()
        self.size = self.lines = 0
        self.first = ""


def write_logs(out: IO[bytes], chunks: Iterable[Chunk], metric_points: int) -> ArchiveIndex:
    """Write ``logs.zst`` to ``out``; returns the index (``metrics_sha256`` still unset)."""
    total_chunks = total_lines = 0
    writer = _FrameWriter(out)
    for chunk in chunks:
        total_lines += writer.add(chunk)
        total_chunks += 1
    writer.flush()
    return ArchiveIndex(
        chunks=total_chunks,
        lines=total_lines,
        last_chunk=writer.last,
        metric_points=metric_points,
        frames=writer.frames,
    )


def encode_metrics(points: list[str], index: ArchiveIndex) -> bytes:
    """``metrics.zst``; its sha256 goes into ``index``."""
    data = zstandard.ZstdCompressor(level=_LEVEL).compress(json.dumps(points).encode())
    index.metrics_sha256 = hashlib.sha256(data).hexdigest()
    return data


def decode_frame(data: bytes, frame: Frame, what: str) -> tuple[Chunk, ...]:
    """The chunks of one compressed frame, checked against its recorded sha256."""
    _check(data, frame.sha256, what)
    raw = zstandard.ZstdDecompressor().decompress(data)
    chunks = []
    # Records end in "\n" alone: a payload holds U+2028, U+0085 and the like unescaped,
    # which ``splitlines`` would also split at.
    for record in raw.decode().split("\n")[:-1]:
        name, _, payload = record.partition(" ")
        chunks.append(Chunk(parse_id(name), payload))
    return tuple(chunks)


def decode_metrics(data: bytes, index: ArchiveIndex, what: str) -> list[str]:
    _check(data, index.metrics_sha256, what)
    points: list[str] = json.loads(zstandard.ZstdDecompressor().decompress(data))
    return points


def _check(data: bytes, sha256: str, what: str) -> None:
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise Damaged(f"{what} is damaged in the history store (sha256 mismatch)")


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
