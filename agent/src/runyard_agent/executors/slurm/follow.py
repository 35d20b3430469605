"""Follows a file a job writes on the shared filesystem, into a pipe the agent reads.

The agent tails the job's output files instead of the job shipping its own output:
the console then goes through the agent's one log shipper (seq-numbered batches, the
disk spool while the server is away, the lease token that fences a stale attempt),
the compute node needs no lease token, and the files outlive the agent, so the next
agent carries on from the offset this one shipped up to. A pipe keeps the reading
side (:class:`runyard_agent.logs.PipeReaders`) the same as for a local process.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

_POLL_S = 0.25
_READ_BYTES = 256 * 1024


class FileFollower:
    """Copies what is appended to ``path`` (from ``offset`` on) into :attr:`read_end`.

    Nothing is read before :meth:`start` (a pending job writes nothing: hundreds of
    them cost no polling). :meth:`finish` reads to the file's current end, then closes
    the pipe (end of file for the reader); :meth:`stop` closes it where it is.
    :attr:`offset` is how far was copied.
    """

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        read_fd, self._write_fd = os.pipe()
        self.read_end = os.fdopen(read_fd, "rb", buffering=0)
        self._finish = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"follow-{path.name}", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start copying (the job runs); once, later calls do nothing."""
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def finish(self, timeout: float = 30.0) -> None:
        """Copy the rest of the file (the job ended), then close the pipe."""
        self._finish.set()
        self.start()
        self._thread.join(timeout)

    def stop(self) -> None:
        """Stop copying now and close the pipe; :attr:`offset` says how far it got."""
        self._stop.set()
        self.start()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                last_round = self._finish.is_set()
                copied = self._copy()
                if last_round and not copied:
                    return
                if not copied:
                    self._finish.wait(_POLL_S)
        finally:
            os.close(self._write_fd)

    def _copy(self) -> bool:
        """Copy what is new; True when anything was."""
        try:
            with self.path.open("rb") as src:
                src.seek(self.offset)
                data = src.read(_READ_BYTES)
        except FileNotFoundError:
            return False
        if not data:
            return False
        view = memoryview(data)
        while view and not self._stop.is_set():
            with contextlib.suppress(InterruptedError):
                written = os.write(self._write_fd, view)
                view = view[written:]
                self.offset += written
        return True
