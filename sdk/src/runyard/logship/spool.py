"""The ordered queue of console lines between the threads that produce them and the sender.

Lines are encoded on arrival (:func:`~runyard.logship.wire.encode_line`) into an open
batch; a batch that reaches the server's line or byte limit is sealed into a
:class:`~runyard.logship.wire.Chunk`. Sealed chunks wait in memory up to
``memory_bytes``; past that (the server is away or slower than the output) they are
appended to segment files in a private directory, up to ``quota_bytes`` of disk; past
the quota a chunk is dropped and counted, and the next chunk kept starts with a line
that says how many were dropped there and carries the count for the task's record.
Producers never wait on the network or on each other for long: one lock, no I/O but
an append to a local file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runyard.logship.wire import BATCH_BYTES, BATCH_LINES, Chunk, encode_lines, measure, to_bytes

_MARKER_ROOM = 1024  # bytes kept free in a batch for the "lines dropped here" line
_SEGMENT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SpoolSettings:
    """Where lines wait when the server does not take them as fast as they come.

    ``directory`` holds the spool's private folder (the system temp dir when None);
    ``quota_bytes`` bounds it on disk (0: memory only); ``memory_bytes`` bounds the
    batches kept in memory before any go to disk.
    """

    directory: Path | None = None
    quota_bytes: int = 1024 * 1024 * 1024
    memory_bytes: int = 4 * 1024 * 1024


@dataclass
class _Entry:
    count: int
    size: int
    dropped: int
    data: bytes | None = None  # in memory, else on disk at (segment, offset)
    segment: int = -1
    offset: int = 0


class _Segments:
    """Append-only files that hold chunks past the memory budget; a file goes when all its
    chunks were sent. Created on first need, removed by :meth:`close`."""

    def __init__(self, parent: Path | None, quota_bytes: int) -> None:
        self.parent = parent
        self.quota_bytes = quota_bytes
        self.directory: Path | None = None
        self.error: str | None = None
        self._sizes: dict[int, int] = {}
        self._live: dict[int, int] = {}
        self._current = -1
        self._next = 0

    @property
    def used(self) -> int:
        return sum(self._sizes.values())

    def where(self) -> str:
        return str(self.directory or self.parent or tempfile.gettempdir())

    def write(self, entry: _Entry, data: bytes) -> bool:
        """Move ``data`` to disk for ``entry``; False when over the quota or the disk failed."""
        if self.used + len(data) > self.quota_bytes:
            return False
        try:
            if self.directory is None:
                if self.parent is not None:
                    self.parent.mkdir(parents=True, exist_ok=True)
                self.directory = Path(tempfile.mkdtemp(prefix="runyard-spool-", dir=self.parent))
            if self._current < 0 or self._sizes[self._current] >= _SEGMENT_BYTES:
                self._current, self._next = self._next, self._next + 1
                self._sizes[self._current], self._live[self._current] = 0, 0
            with open(self._path(self._current), "ab") as file:
                file.write(data)
        except OSError as exc:
            self.error = str(exc)
            return False
        entry.segment, entry.offset = self._current, self._sizes[self._current]
        self._sizes[self._current] += len(data)
        self._live[self._current] += 1
        return True

    def read(self, entry: _Entry) -> bytes:
        with open(self._path(entry.segment), "rb") as file:
            file.seek(entry.offset)
            return file.read(entry.size)

    def release(self, entry: _Entry) -> None:
        """Chunks are released in the order they were written: a file whose last chunk
        went holds nothing more, and the next write starts a new one."""
        segment = entry.segment
        self._live[segment] -= 1
        if self._live[segment] == 0:
            del self._live[segment], self._sizes[segment]
            with contextlib.suppress(OSError):
                os.unlink(self._path(segment))
            if segment == self._current:
                self._current = -1

    def close(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _path(self, segment: int) -> Path:
        assert self.directory is not None
        return self.directory / f"{segment:06d}.jsonl"


class Spool:
    """Thread-safe, ordered, bounded queue of encoded lines, handed out as chunks.

    Waiters on :attr:`changed` are woken when a chunk is sealed and when lines arrive in
    an empty spool, not for every line.
    """

    def __init__(
        self,
        settings: SpoolSettings | None = None,
        *,
        max_lines: int = BATCH_LINES,
        max_bytes: int = BATCH_BYTES,
    ) -> None:
        self.settings = settings or SpoolSettings()
        self.max_lines = max_lines
        self._capacity = max_bytes - _MARKER_ROOM
        self.changed = threading.Condition()
        self._open: list[str] = []
        self._open_bytes = 0
        self._open_since = 0.0
        self._chunks: deque[_Entry] = deque()
        self._memory = 0
        self._lines = 0
        self._segments = _Segments(self.settings.directory, self.settings.quota_bytes)
        self._dropping = 0
        self.dropped = 0
        """Lines dropped past the quota so far."""
        self._finishing = False
        self._closed = False

    def put(self, stream: str, text: str) -> None:
        """Add one line."""
        self.put_many(stream, [text])

    def put_many(self, stream: str, texts: Iterable[str], ts: float | None = None) -> None:
        """Add lines read together (one timestamp, ``ts`` or now, and one lock for them all)."""
        when = time.time() if ts is None else ts
        encoded = encode_lines(stream, texts, when)
        if not encoded:
            return
        with self.changed:
            wake = not self._open and not self._chunks
            for line in encoded:
                size = measure(line)
                if self._open and (
                    len(self._open) >= self.max_lines or self._open_bytes + size > self._capacity
                ):
                    self._seal()
                    wake = True
                if not self._open:
                    self._open_since = time.monotonic()
                self._open.append(line)
                self._open_bytes += size
            self._lines += len(encoded)
            if wake:
                self.changed.notify_all()

    def next_chunk(self, flush_s: float, wait_s: float | None = None) -> Chunk | None:
        """The oldest chunk not yet released, waiting for one at most ``wait_s``
        (default ``flush_s``).

        The open batch is sealed once its oldest line has waited ``flush_s`` (at once
        after :meth:`finish`). None when no line came in ``wait_s``.
        """
        deadline = time.monotonic() + (flush_s if wait_s is None else wait_s)
        with self.changed:
            while not self._closed:
                if self._chunks:
                    return self._load(self._chunks[0])
                now = time.monotonic()
                if self._open or (self._finishing and self._dropping):
                    due = self._open_since + flush_s
                    if self._finishing or now >= due:
                        self._seal()
                        continue
                    self.changed.wait(due - now)
                elif self._finishing or now >= deadline:
                    return None
                else:
                    self.changed.wait(deadline - now)
            return None

    def release(self) -> None:
        """Forget the chunk :meth:`next_chunk` returned: the server has it."""
        with self.changed:
            entry = self._chunks.popleft()
            self._lines -= entry.count
            if entry.data is not None:
                self._memory -= entry.size
            else:
                self._segments.release(entry)
            self.changed.notify_all()

    def finish(self) -> None:
        """No more waiting for batches to fill: seal what is open as soon as it is asked for."""
        with self.changed:
            self._finishing = True
            self.changed.notify_all()

    @property
    def finishing(self) -> bool:
        return self._finishing

    def pending(self) -> int:
        """How many lines wait to be sent (a drop note counts as one)."""
        return self._lines + (1 if self._dropping else 0)

    def where(self) -> str:
        """The folder that holds (or would hold) the spool's files."""
        return self._segments.where()

    def close(self) -> None:
        """Remove the spool's files; what they held is gone."""
        with self.changed:
            self._closed = True
            self._segments.close()
            self.changed.notify_all()

    def _seal(self) -> None:
        """Turn the open batch into a chunk kept in memory or on disk, or drop it."""
        lines, count = self._open, len(self._open)
        self._open, self._open_bytes = [], 0
        if self._dropping:
            note = f"[runyard] {self._dropping} lines dropped here: the server took output "
            note += f"slower than it came and the spool at {self.where()} reached its quota "
            note += f"of {self.settings.quota_bytes} bytes"
            if self._segments.error:
                note += f" or could not be written ({self._segments.error})"
            lines[:0] = encode_lines("agent", [note], time.time())
            self._lines += 1
        data = to_bytes(",".join(lines))
        entry = _Entry(len(lines), len(data), self._dropping)
        # A chunk that is only the drop note is always kept: it says what was lost.
        if not count or self._memory + len(data) <= self.settings.memory_bytes:
            entry.data = data
            self._memory += len(data)
        elif not self._segments.write(entry, data):
            self._lines -= len(lines)
            self._dropping += count
            self.dropped += count
            return
        self._dropping = 0
        self._chunks.append(entry)

    def _load(self, entry: _Entry) -> Chunk:
        if entry.data is not None:
            return Chunk(entry.data, entry.count, entry.dropped)
        try:
            return Chunk(self._segments.read(entry), entry.count, entry.dropped)
        except OSError as exc:  # the file went (a temp cleaner) or the disk failed
            self.dropped += entry.count
            note = f"[runyard] {entry.count} lines lost here: the spool file could not be "
            note += f"read back ({exc})"
            data = to_bytes(encode_lines("agent", [note], time.time())[0])
            return Chunk(data, 1, entry.dropped + entry.count)
