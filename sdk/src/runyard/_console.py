"""Copying a local run's console output to its task's log while it still prints normally."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

from runyard.models import LogLine

Stream = Literal["stdout", "stderr"]
_MAX_LINE_CHARS = 16_384


class Tee:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through, and hands on each line.

    ``\\r`` ends a line like ``\\n`` does, so a progress bar becomes one line per update,
    as the agent logs it. Everything else (``fileno``, ``isatty``, ``buffer``...) is the
    wrapped stream's.
    """

    def __init__(self, stream: TextIO, name: Stream, sink: Callable[[LogLine], None]) -> None:
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
        for line in lines:
            if line:
                self._sink(LogLine(stream=self._name, text=line[:_MAX_LINE_CHARS], ts=time.time()))
        return written

    def flush(self) -> None:
        self.wrapped.flush()

    def drain(self) -> None:
        """Hand on a last line printed without a newline."""
        with self._lock:
            rest, self._partial = self._partial, ""
        if rest:
            self._sink(LogLine(stream=self._name, text=rest[:_MAX_LINE_CHARS], ts=time.time()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)
