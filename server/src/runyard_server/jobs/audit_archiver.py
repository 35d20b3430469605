"""Moves audit entries past their live window from ``ry:audit`` to the audit archive.

Each pass copies the entries older than ``live_days``, a segment at a time, and trims
the stream only through the last entry it wrote: an entry leaves Redis only once it
is archived. A process killed between the two steps (or two jobs processes at once)
archives some entries twice; readers drop the repeats by id.
"""

import logging
import time

import anyio.to_thread
import redis.asyncio as aioredis

from runyard_server.audit_archive import AuditArchive
from runyard_server.store import audit

log = logging.getLogger("runyard_server.jobs.audit")

SEGMENT = 10_000
"""Entries per archived segment (about 1 MB before compression)."""


class AuditArchiver:
    def __init__(self, r: "aioredis.Redis", archive: AuditArchive, live_days: float) -> None:
        self.r, self.archive, self.live_days = r, archive, live_days

    async def run(self, now: float | None = None) -> int:
        """One pass; returns how many entries moved to the archive."""
        cutoff_ms = int(((time.time() if now is None else now) - self.live_days * 86400) * 1000)
        moved = 0
        while entries := await audit.older_than(self.r, cutoff_ms, SEGMENT):
            await anyio.to_thread.run_sync(self.archive.write, entries)
            moved += len(entries)
            if not await audit.trim_through(self.r, entries[-1].id):
                break  # trimmed meanwhile by another jobs process: the next pass goes on
        if moved:
            log.info("archived %d audit entries", moved)
        return moved
