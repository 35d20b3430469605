"""One task's log: pipe readers, the bounded buffer and the shipper, started and ended together."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Protocol

from runyard.errors import AuthError
from runyard_agent.log_shipper import LogShipper, SendBatch
from runyard_agent.logs import LogBuffer, PipeReaders

_PIPE_EOF_TIMEOUT_S = 10.0


class OutputPipes(Protocol):
    """What :meth:`TaskLog.attach` reads: a local process or a container."""

    @property
    def stdout(self) -> IO[bytes]: ...

    @property
    def stderr(self) -> IO[bytes]: ...


class TaskLog:
    """Collects a task's output and the agent's notes about it, and ships them as they come."""

    def __init__(
        self,
        send: SendBatch,
        lease_token: str,
        *,
        on_lost: Callable[[], None],
        on_auth: Callable[[AuthError], None],
        flush_s: float = 0.5,
    ) -> None:
        self.buffer = LogBuffer()
        self.readers = PipeReaders(self.buffer, progress_interval_s=flush_s)
        self.shipper = LogShipper(
            self.buffer,
            send,
            lease_token,
            flush_s=flush_s,
            on_lost=on_lost,
            on_auth=on_auth,
            before_flush=self.readers.flush_progress,
        )
        self.shipper.start()

    def agent_line(self, text: str) -> None:
        """Add a line from the agent (environment build steps, stop requests)."""
        self.buffer.put("agent", text)

    def attach(self, process: OutputPipes) -> None:
        """Read the process's stdout and stderr until they close."""
        self.readers.attach("stdout", process.stdout)
        self.readers.attach("stderr", process.stderr)

    def tail(self) -> list[str]:
        """The last lines the task printed (stdout and stderr, in arrival order)."""
        return self.buffer.tail()

    def finish(self, timeout: float) -> bool:
        """Read the pipes to their end and ship everything; False when not all made it in time."""
        self.readers.join(_PIPE_EOF_TIMEOUT_S)
        return self.shipper.finish(timeout)

    def abandon(self) -> None:
        """Stop shipping at once (lease lost, or the agent is stopping)."""
        self.shipper.abandon()
