"""``GET /audit``: the audit trail, newest first, from Redis and then the archive.

Readable with a user token (the role that may do anything today; an admin role once
named users exist); agent, task and metrics tokens get 403.
"""

import time
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query

from runyard.models import AuditEntry, AuditPage
from runyard_server.api.deps import AuditArchiveDep, PrincipalDep, RedisDep
from runyard_server.audit_archive import AuditArchive, overlapping
from runyard_server.store import audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
async def list_audit(
    r: RedisDep,
    archive: AuditArchiveDep,
    who: PrincipalDep,
    since: Annotated[
        float | None,
        Query(
            ge=0,
            le=1e11,  # past year 5000: a larger float would overflow the ms id
            description="unix seconds; entries at or after it (default: a day ago)",
        ),
    ] = None,
    user: Annotated[
        str | None, Query(max_length=200, description="only this caller's entries")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> AuditPage:
    who.require("user")
    who.require_admin()
    since_ms = int((time.time() - 86400 if since is None else since) * 1000)
    found, exhausted = await audit.newest(r, since_ms, user, limit)
    if exhausted and len(found) < limit:
        before_ms = int(found[-1].id.partition("-")[0]) if found else int(time.time() * 1000) + 1
        older = await anyio.to_thread.run_sync(
            archived_entries,
            archive,
            since_ms,
            before_ms,
            user,
            limit - len(found),
            {e.id for e in found},
        )
        found += older
    return AuditPage(entries=found)


def archived_entries(
    archive: AuditArchive,
    since_ms: int,
    before_ms: int,
    user: str | None,
    limit: int,
    seen: set[str],
) -> list[AuditEntry]:
    """Up to ``limit`` archived entries in [since_ms, before_ms], newest first, skipping
    ``seen`` ids and repeats (segments may overlap)."""
    found: list[AuditEntry] = []
    for name in overlapping(archive.names(), since_ms, before_ms + 1):
        for entry in reversed(archive.read(name)):
            if entry.id in seen or entry.at * 1000 < since_ms:
                continue
            if user is not None and entry.who != user:
                continue
            seen.add(entry.id)
            found.append(entry)
    found.sort(key=lambda e: tuple(int(p) for p in e.id.split("-")), reverse=True)
    return found[:limit]
