"""One task's log: pipe readers, the spool and the sender, started and ended together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import IO, Protocol

from runyard.errors import ApiError, AuthError
from runyard.logship import Chunk, Sender, SpoolSettings
from runyard_agent.logs import LogBuffer, PipeReaders

log = logging.getLogger(__name__)

_PIPE_EOF_TIMEOUT_S = 10.0
# A silent task's sender sleeps this long between ticks (a line wakes it at once): a
# slurm agent follows hundreds of queued jobs that print nothing for hours.
_IDLE_S = 5.0

PostBody = Callable[[bytes], object]
"""Posts one encoded ``LogBatch`` body to the task's log."""


class OutputPipes(Protocol):
    """What :meth:`TaskLog.attach` reads: a local process or a container."""

    @property
    def stdout(self) -> IO[bytes]: ...

    @property
    def stderr(self) -> IO[bytes]: ...


class TaskLog:
    """Collects a task's output and the agent's notes about it, and ships them as they come.

    ``on_lost`` is called when the server says the lease is gone, ``on_auth`` when it
    refuses the agent's token; shipping stops in both cases. ``prefix`` starts every
    line (a rank of a multi-node task: ``[rank 1] ``). ``first_seq`` numbers the first
    batch: an agent carrying on a task another agent shipped batches for starts above them.
    """

    def __init__(
        self,
        send: PostBody,
        lease_token: str,
        *,
        on_lost: Callable[[], None],
        on_auth: Callable[[AuthError], None],
        flush_s: float = 0.5,
        spool: SpoolSettings | None = None,
        max_backoff_s: float = 30.0,
        prefix: str = "",
        first_seq: int = 0,
    ) -> None:
        self.buffer = LogBuffer(spool, prefix=prefix)
        self.readers = PipeReaders(self.buffer, progress_interval_s=flush_s)
        self._send, self._lease_token = send, lease_token
        self._on_lost, self._on_auth = on_lost, on_auth
        self.sender = Sender(
            self.buffer,
            self._post,
            flush_s=flush_s,
            max_backoff_s=max_backoff_s,
            idle_s=_IDLE_S,
            before_flush=self.readers.flush_progress,
            on_down=lambda exc: log.warning("log batch not delivered, retrying: %s", exc),
            on_fatal=self._refused_for_good,
            on_refused=lambda exc: log.error("log batch dropped, the server refused it: %s", exc),
        )
        self.sender.next_seq = first_seq
        self.sender.start()

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

    def finish(self, stall_s: float) -> bool:
        """Read the pipes to their end and ship everything; False when the server took
        no batch for ``stall_s`` seconds and lines were left unsent."""
        self.readers.join(_PIPE_EOF_TIMEOUT_S)
        done = self.sender.finish(stall_s)
        self.buffer.close()
        return done

    def abandon(self) -> None:
        """Stop shipping at once (lease lost, or the agent is stopping)."""
        self.sender.abandon()
        self.buffer.close()

    def _post(self, chunk: Chunk, seq: int) -> object:
        return self._send(chunk.body(seq, self._lease_token))

    def _refused_for_good(self, exc: ApiError) -> None:
        if isinstance(exc, AuthError):
            self._on_auth(exc)
        else:
            log.warning("log batch refused: the task's lease is gone")
            self._on_lost()
