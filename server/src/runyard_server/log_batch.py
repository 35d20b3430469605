"""The hot ``POST /tasks/{id}/logs`` body read by msgspec, at a fifth of pydantic's CPU.

``LogBatch`` (pydantic) stays the schema the API documents and the judge of a body:
:func:`decode` returns a batch only for a body msgspec reads strictly, which
``LogBatch`` reads to the same values, and None for anything else (a string where
a number goes, a number out of range, a malformed body), which the route then reads
with pydantic as before, so every refusal keeps its status and message.
``tests/unit/test_log_batch.py`` holds the two to the same answers.
"""

from typing import Annotated, Literal

import msgspec

from runyard.models.limits import MAX_LOG_LINES_PER_BATCH


class FastLine(msgspec.Struct, forbid_unknown_fields=True):
    """``LogLine``; msgspec reads a JSON ``ts`` past a double's range as an error, so
    a line here always has a finite ``ts``."""

    text: str
    ts: float
    stream: Literal["stdout", "stderr", "agent"] = "stdout"


class FastBatch(msgspec.Struct, forbid_unknown_fields=True):
    """``LogBatch``, its limits included."""

    seq: Annotated[int, msgspec.Meta(ge=0)]
    lines: Annotated[list[FastLine], msgspec.Meta(max_length=MAX_LOG_LINES_PER_BATCH)]
    lease_token: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    dropped: Annotated[int, msgspec.Meta(ge=0, le=10**12)] = 0


_DECODER = msgspec.json.Decoder(FastBatch)


def decode(body: bytes) -> FastBatch | None:
    """The body as a batch, or None: read it with ``LogBatch`` instead."""
    try:
        return _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
