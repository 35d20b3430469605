"""Console output: batches from the agent, pages for readers."""

from typing import Literal

from pydantic import BaseModel, Field

from runyard.models.limits import MAX_LOG_LINES_PER_BATCH
from runyard.models.strict import Strict


class LogLine(Strict):
    stream: Literal["stdout", "stderr", "agent"] = "stdout"
    text: str
    ts: float = Field(description="unix time the line was read")


class LogBatch(Strict):
    """``POST /tasks/{id}/logs``.

    ``seq`` numbers batches per task and attempt from 0, so a retried batch is stored once.
    """

    lease_token: str | None = Field(default=None, max_length=128)
    seq: int = Field(ge=0)
    lines: list[LogLine] = Field(max_length=MAX_LOG_LINES_PER_BATCH)
    dropped: int = Field(
        default=0,
        ge=0,
        le=10**12,
        description="lines the sender dropped just before this batch (its spool was full); "
        "added to the task's logs_dropped",
    )


class LogAck(BaseModel):
    accepted: bool = Field(description="False when this seq was stored before (a retry)")


class LogPage(BaseModel):
    """``GET /tasks/{id}/logs?after=CURSOR`` (or ``?tail=N``, ``?before=CURSOR``).

    Pass ``cursor`` back as ``after`` for the lines that follow, ``before`` back as
    ``before`` for the lines that came earlier (None: the page starts the log).
    """

    lines: list[LogLine]
    cursor: str
    before: str | None = None


class StreamTicket(BaseModel):
    """``POST /tasks/{id}/logs/stream-ticket``: pass ``ticket`` to the log stream as
    ``?ticket=``. It opens that task's stream only, for ``expires_in`` seconds; a
    browser's ``EventSource`` cannot send a token, and a ticket in a URL (and so in a
    proxy's access log) is worth little once it expires."""

    ticket: str
    expires_in: int
