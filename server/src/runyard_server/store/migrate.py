"""Bring a store written before the hash tag to the key names of ``keys.py``.

Runyard 0.1 and early 0.2 named every key ``ry:...``; the names are now ``{ry}:...``
with the same rest (the tag keeps every key in one Redis Cluster slot). The API and
the jobs process each run this at start, before they touch the store: every key still
named ``ry:...`` is renamed with RENAMENX, which is atomic per key, keeps a stream's
consumer groups, and never overwrites. So it is idempotent (a later start finds no old
key), a start killed halfway is finished by the next one, and processes starting
together only race to rename a key once (the loser's "no such key" is skipped); when
one process returns, every old key it saw is renamed by it or by another.

Stop the old servers before starting new ones: an old server still running would go
on writing ``ry:...`` keys the new ones never read. A key whose new name exists too
(both versions wrote at once) is left under its old name and logged. A Redis Cluster
never held a store without the tag (its scripts could not run there), so a cluster is
not scanned.
"""

import logging
from typing import TYPE_CHECKING, cast

from runyard_server.store import keys

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("runyard_server")

BATCH = 1000
"""Keys per SCAN step and per pipeline of renames."""


async def rename_untagged_keys(r: "aioredis.Redis") -> int:
    """Rename every ``ry:...`` key to its ``{ry}:...`` name; returns how many it renamed."""
    renamed = 0
    batch: list[str] = []
    async for old in r.scan_iter(match=f"{keys.OLD_PREFIX}*", count=BATCH):
        batch.append(str(old))
        if len(batch) == BATCH:
            renamed += await _rename(r, batch)
            batch = []
    if batch:
        renamed += await _rename(r, batch)
    return renamed


async def _rename(r: "aioredis.Redis", old_keys: list[str]) -> int:
    async with r.pipeline(transaction=False) as pipe:
        for old in old_keys:
            pipe.renamenx(old, keys.PREFIX + old.removeprefix(keys.OLD_PREFIX))
        replies = cast(list[object], await pipe.execute(raise_on_error=False))
    renamed = 0
    for old, reply in zip(old_keys, replies, strict=True):
        if isinstance(reply, Exception):
            continue  # another process starting at the same time renamed it first
        if reply:
            renamed += 1
        else:
            log.warning(
                "kept %s: %s exists too (two Runyard versions wrote this Redis at once?)",
                old,
                keys.PREFIX + old.removeprefix(keys.OLD_PREFIX),
            )
    return renamed
