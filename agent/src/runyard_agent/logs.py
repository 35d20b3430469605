"""Reading a task's console output into lines, without ever blocking the task.

Reader threads drain the stdout and stderr pipes as fast as the task writes; lines go
into the task's spool (:class:`LogBuffer`, a :class:`runyard.logship.Spool`) that a
:class:`runyard.logship.Sender` empties in batches. Past its memory budget the spool
goes to disk, past its quota lines are dropped and counted, rather than slowing the
task down. Carriage-return progress bars are kept readable: a line
rewritten with ``\\r`` is shipped as its last state, at most once per flush.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import IO, Literal

from runyard.logship import Spool, SpoolSettings

Stream = Literal["stdout", "stderr", "agent"]

MAX_LINE_CHARS = 64 * 1024
_READ_BYTES = 64 * 1024
_PIPE_BYTES = 1024 * 1024


def _visible(segment_text: str) -> str:
    """What a terminal shows for text rewritten with ``\\r``: its last non-empty segment."""
    for segment in reversed(segment_text.split("\r")):
        if segment:
            return segment
    return ""


class LineSplitter:
    """Turns chunks of bytes into lines: UTF-8 (bad bytes replaced), split on ``\\n``.

    Text between ``\\n`` rewritten with ``\\r`` keeps only what a terminal would show.
    Lines longer than ``max_chars`` are cut into pieces.
    """

    def __init__(self, max_chars: int = MAX_LINE_CHARS) -> None:
        self.max_chars = max_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._progress_changed = False
        self._last_progress: str | None = None

    def feed(self, data: bytes) -> list[str]:
        """Complete lines found after adding ``data``."""
        return self._split(self._decoder.decode(data))

    def close(self) -> list[str]:
        """The lines left at end of input, including an unterminated last line."""
        lines = self._split(self._decoder.decode(b"", final=True))
        rest = _visible(self._partial)
        self._partial = ""
        if rest and rest != self._last_progress:
            lines.extend(self._cut(rest))
        return lines

    def progress(self) -> str | None:
        """The current state of a ``\\r`` progress line if it changed since the last call."""
        if not self._progress_changed:
            return None
        self._progress_changed = False
        text = _visible(self._partial)[: self.max_chars]
        if not text or text == self._last_progress:
            return None
        self._last_progress = text
        return text

    def _split(self, text: str) -> list[str]:
        if not text:
            return []
        parts = (self._partial + text).split("\n")
        self._partial = parts.pop()
        lines: list[str] = []
        for part in parts:
            line = _visible(part) if "\r" in part else part
            if "\r" in part and line == self._last_progress:
                line = ""  # already shipped as this progress line's last state
            elif line or not part:
                lines.extend(self._cut(line))
            self._last_progress = None
        if "\r" in self._partial:
            self._partial = self._collapse_partial(self._partial)
            self._progress_changed = True
        else:
            while len(self._partial) > self.max_chars:
                lines.append(self._partial[: self.max_chars])
                self._partial = self._partial[self.max_chars :]
        return lines

    @staticmethod
    def _collapse_partial(partial: str) -> str:
        # Keep only the state a terminal shows, plus a leading or trailing "\r" so text
        # that arrives next still overwrites (or continues) the right segment.
        if partial.endswith("\r"):
            return _visible(partial) + "\r"
        return "\r" + partial.rsplit("\r", 1)[1]

    def _cut(self, line: str) -> list[str]:
        if len(line) <= self.max_chars:
            return [line]
        return [line[i : i + self.max_chars] for i in range(0, len(line), self.max_chars)]


class LogBuffer(Spool):
    """A task's spool (:class:`runyard.logship.Spool`) that also keeps the last
    ``tail_lines`` lines the task printed, for failure reasons, whether shipped or not.

    ``prefix`` starts every shipped line (``[rank 1] `` for a rank of a multi-node task,
    whose ranks' lines interleave in one log); the tail is kept without it."""

    def __init__(
        self, settings: SpoolSettings | None = None, tail_lines: int = 20, prefix: str = ""
    ) -> None:
        super().__init__(settings)
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._tail_lock = threading.Lock()
        self._prefix = prefix

    def put_many(self, stream: str, texts: Iterable[str], ts: float | None = None) -> None:
        texts = list(texts)
        if stream != "agent":
            with self._tail_lock:
                self._tail.extend(texts[-(self._tail.maxlen or 0) :])
        if self._prefix:
            texts = [self._prefix + text for text in texts]
        super().put_many(stream, texts, ts)

    def tail(self) -> list[str]:
        """The last task output lines, oldest first."""
        with self._tail_lock:
            return list(self._tail)


class PipeReaders:
    """Threads that read a task's stdout and stderr pipes into a :class:`LogBuffer`."""

    def __init__(self, buffer: LogBuffer, progress_interval_s: float = 0.5) -> None:
        self.buffer = buffer
        self.progress_interval_s = progress_interval_s
        self._threads: list[threading.Thread] = []
        self._splitters: dict[Stream, LineSplitter] = {}
        self._lock = threading.Lock()
        self._last_progress_at: dict[Stream, float] = {}

    def attach(self, stream: Stream, pipe: IO[bytes]) -> None:
        """Start a thread that reads ``pipe`` until end of file."""
        splitter = LineSplitter()
        self._splitters[stream] = splitter
        _grow_pipe(pipe.fileno())
        thread = threading.Thread(
            target=self._read, args=(stream, pipe, splitter), name=f"log-{stream}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def flush_progress(self) -> None:
        """Ship the latest state of any ``\\r`` progress line (once per flush)."""
        for stream, splitter in self._splitters.items():
            self._emit_progress(stream, splitter, force=True)

    def join(self, timeout: float) -> bool:
        """Wait for every pipe to reach end of file; False when some did not in ``timeout``."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _read(self, stream: Stream, pipe: IO[bytes], splitter: LineSplitter) -> None:
        fd = pipe.fileno()
        try:
            while data := os.read(fd, _READ_BYTES):
                with self._lock:
                    lines = splitter.feed(data)
                self.buffer.put_many(stream, lines)
                self._emit_progress(stream, splitter, force=False)
            with self._lock:
                lines = splitter.close()
            self.buffer.put_many(stream, lines)
        finally:
            pipe.close()

    def _emit_progress(self, stream: Stream, splitter: LineSplitter, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress_at.get(stream, 0.0) < self.progress_interval_s:
            return
        with self._lock:
            text = splitter.progress()
        if text is not None:
            self._last_progress_at[stream] = now
            self.buffer.put(stream, text)


def _grow_pipe(fd: int) -> None:
    """Give a pipe a bigger kernel buffer (Linux; 64 KiB by default), best effort.

    A task printing fast fills 64 KiB in a few milliseconds, and then waits until the
    reader thread gets the GIL back from the shipper; a bigger buffer absorbs that wait.
    """
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
