"""The audit trail in Redis: ``ry:audit``, one stream entry per state-changing request.

Appends are one ``XADD`` without trimming: the jobs process trims only what it has
archived (``jobs/audit_archiver.py``). Reads walk the stream newest first and filter
by caller in Python, a batch at a time, so a ``user`` filter never loads the stream whole.
"""

from typing import cast

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from runyard.models import AuditEntry
from runyard_server.store import keys

_BATCH = 500
"""Stream entries read per round trip while filtering."""

Fields = dict[str, str]


def entry_of(entry_id: str, fields: Fields) -> AuditEntry:
    """The wire form of one stream entry (stored short, as the stream keeps every field name)."""
    return AuditEntry(
        id=entry_id,
        at=int(entry_id.partition("-")[0]) / 1000,
        who=fields["who"],
        method=fields["method"],
        route=fields["route"],
        object=fields.get("object", ""),
        status=int(fields["status"]),
        request_id=fields["rid"],
        client=fields.get("client", ""),
    )


async def record(r: "aioredis.Redis", fields: Fields) -> None:
    """Append one entry; Redis gives it an id from its clock, so ids order the entries."""
    entry: dict[FieldT, EncodableT] = dict(fields.items())
    await r.xadd(keys.AUDIT, entry)


async def newest(
    r: "aioredis.Redis", since_ms: int, who: str | None, limit: int
) -> tuple[list[AuditEntry], bool]:
    """Up to ``limit`` entries at or after ``since_ms``, newest first, of caller ``who``
    (all when None); and whether the stream ran out before ``since_ms`` (older entries
    may then be in the archive)."""
    found: list[AuditEntry] = []
    upper = "+"
    while len(found) < limit:
        batch = cast(
            list[tuple[str, Fields]],
            await r.xrevrange(keys.AUDIT, upper, f"{since_ms}-0", count=_BATCH),
        )
        found += [entry_of(i, f) for i, f in batch if who is None or f.get("who") == who][
            : limit - len(found)
        ]
        if len(batch) < _BATCH:
            return found, True
        upper = f"({batch[-1][0]}"
    return found, False


async def older_than(r: "aioredis.Redis", cutoff_ms: int, count: int) -> list[AuditEntry]:
    """The oldest ``count`` entries from before ``cutoff_ms``, oldest first."""
    batch = cast(
        list[tuple[str, Fields]],
        await r.xrange(keys.AUDIT, "-", f"({cutoff_ms}-0", count=count),
    )
    return [entry_of(i, f) for i, f in batch]


async def trim_through(r: "aioredis.Redis", last_id: str) -> int:
    """Remove every entry up to and including ``last_id``; returns how many went."""
    ms, _, seq = last_id.partition("-")
    # Exact: an approximate trim keeps a node's entries until all of them are due.
    return await r.xtrim(keys.AUDIT, minid=f"{ms}-{int(seq) + 1}", approximate=False)
