"""Copying a local run's console output to its task's log while it still prints normally."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal, TextIO

Stream = Literal["stdout", "stderr"]
_MAX_LINE_CHARS = 16_384


class Tee:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through, and hands on each line.

    ``\\r`` ends a line like ``\\n`` does, so a progress bar becomes one line per update,
    as the agent logs it. Everything else (``fileno``, ``isatty``, ``buffer``...) is the
    wrapped stream's.
    """

    def __init__(
        self, stream: TextIO, name: Stream, sink: Callable[[Stream, list[str]], None]
    ) -> None:
        self.wrapped = stream
        self._name: Stream = name
        self._sink = sink
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        written = self.wrapped.write(text)
        with self._lock:
            pending = (self._partial + text).replace("\r\n", "\n").replace("\r", "\n")
            *lines, self._partial = pending.split("\n")
        kept = [line[:_MAX_LINE_CHARS] for line in lines if line]
        if kept:
            self._sink(self._name, kept)
        return written

    def flush(self) -> None:
        self.wrapped.flush()

    def drain(self) -> None:
        """Hand on a last line printed without a newline."""
        with self._lock:
            rest, self._partial = self._partial, ""
        if rest:
            self._sink(self._name, [rest[:_MAX_LINE_CHARS]])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)
