"""Log lines as the server measures them, and batches (chunks) as they go on the wire.

The server stores a :class:`~runyard.models.LogBatch` only when the JSON of its lines
adds up to at most ``MAX_LOG_BATCH_BYTES`` (it measures ``LogLine.model_dump_json()``
of each line). Encoding each line once, here, to that same JSON gives a size that is
never below the server's (UTF-8 bytes, not characters), so a batch cut by it is never
refused as too large, and the body of a batch is those encodings joined: no model is
built or dumped per line on the sending side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from json.encoder import encode_basestring  # C, like ensure_ascii=False: escapes "\\ and controls

from runyard.models.limits import MAX_LOG_BATCH_BYTES, MAX_LOG_LINES_PER_BATCH

BATCH_BYTES = MAX_LOG_BATCH_BYTES
"""The most line bytes in one batch: exactly the server's limit."""
BATCH_LINES = MAX_LOG_LINES_PER_BATCH


def encode_lines(stream: str, texts: Iterable[str], ts: float) -> list[str]:
    """``LogLine`` JSON for each text, all with one ``stream`` and ``ts`` (a chunk read
    together): text, not yet bytes, so a batch is encoded to UTF-8 once."""
    head = f'{{"stream":"{stream}","text":'
    tail = f',"ts":{ts!r}}}'
    return [head + encode_basestring(text) + tail for text in texts]


def measure(line: str) -> int:
    """The bytes ``line`` (one of :func:`encode_lines`) takes in a batch body."""
    return len(line) if line.isascii() else len(line.encode(errors="surrogatepass"))


def to_bytes(text: str) -> bytes:
    """UTF-8, a lone surrogate (from surrogateescape) becoming ``?``: it has no UTF-8 form."""
    return text.encode(errors="replace")


def encode_line(stream: str, text: str, ts: float) -> bytes:
    """One ``LogLine`` as the JSON the server measures (``stream`` is a LogLine stream name)."""
    return to_bytes(encode_lines(stream, [text], ts)[0])


@dataclass
class Chunk:
    """A batch of encoded lines, in order, waiting to be sent.

    ``lines`` is the encodings joined with commas; ``dropped`` counts the lines lost
    (past the spool's quota) just before this chunk's first line.
    """

    lines: bytes
    count: int
    dropped: int = 0

    def body(self, seq: int, lease_token: str | None) -> bytes:
        """The ``LogBatch`` JSON for this chunk as batch ``seq``."""
        token = b"null" if lease_token is None else to_bytes(encode_basestring(lease_token))
        dropped = b',"dropped":%d' % self.dropped if self.dropped else b""
        return b'{"lease_token":%s,"seq":%d,"lines":[%s]%s}' % (token, seq, self.lines, dropped)

    def halves(self) -> tuple[Chunk, Chunk]:
        """This chunk as two, for a server that measured it over its limit after all."""
        lines = split_lines(self.lines)
        half = len(lines) // 2
        first = Chunk(b",".join(lines[:half]), half, self.dropped)
        return first, Chunk(b",".join(lines[half:]), len(lines) - half)


def split_lines(joined: bytes) -> list[bytes]:
    """The line encodings of a chunk's ``lines`` (each is one JSON object)."""
    if not joined:
        return []
    decoded = json.loads(b"[" + joined + b"]")
    return [encode_line(item["stream"], item["text"], item["ts"]) for item in decoded]
