"""The audit archiver on real Redis, into the data dir and into an S3 bucket (moto on
loopback): entries leave the stream only once archived, a repeated pass (a kill between
archiving and trimming) leaves overlapping segments, and a listing finds every entry once."""

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from runyard_server.api.routes.audit import archived_entries
from runyard_server.audit_archive import AuditArchive, LocalAuditArchive, S3AuditArchive
from runyard_server.jobs import audit_archiver
from runyard_server.jobs.audit_archiver import AuditArchiver
from runyard_server.store import audit, keys
from tests.integration.store_support import client
from tests.s3_server import s3_bucket

pytestmark = pytest.mark.anyio


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis_client = client(redis_url)
    yield redis_client
    await redis_client.aclose()


@pytest.fixture(params=["local", "s3"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditArchive]:
    if request.param == "local":
        yield LocalAuditArchive(tmp_path / "audit")
        return
    with s3_bucket(request.getfixturevalue("s3_server")) as bucket:
        yield S3AuditArchive(bucket)


async def _record(r: aioredis.Redis, n: int) -> None:
    for i in range(n):
        await audit.record(
            r,
            {"who": f"u{i % 2}", "method": "POST", "route": "/api/v1/queues", "object": "",
             "status": "201", "rid": f"r{i}", "client": "127.0.0.1"},
        )  # fmt: skip


async def test_archiving_moves_old_entries_in_segments_and_a_listing_finds_each_once(
    r: aioredis.Redis, archive: AuditArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _record(r, 25)
    monkeypatch.setattr(audit_archiver, "SEGMENT", 10)
    archiver = AuditArchiver(r, archive, live_days=1)
    # Nothing is a day old yet.
    assert await archiver.run() == 0
    assert await r.xlen(keys.AUDIT) == 25
    # A process killed after writing a segment but before trimming: written again.
    first = await audit.older_than(r, int((time.time() + 1) * 1000), 10)
    archive.write(first)
    assert await archiver.run(now=time.time() + 86400 + 1) == 25
    assert await r.xlen(keys.AUDIT) == 0
    assert len(archive.names()) == 3

    found = archived_entries(archive, 0, int(time.time() * 1000) + 1000, None, 100, set())
    assert [e.request_id for e in found] == [f"r{i}" for i in reversed(range(25))]
    theirs = archived_entries(archive, 0, int(time.time() * 1000) + 1000, "u1", 5, set())
    assert [e.request_id for e in theirs] == ["r23", "r21", "r19", "r17", "r15"]
