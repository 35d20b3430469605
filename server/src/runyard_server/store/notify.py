"""Events for webhooks that are not task status changes: ``sweep.done``,
``pipeline.failed`` and the rest of ``runyard.models.EVENT_KINDS`` beyond ``task.*``.

A controller calls :func:`emit` when its object reaches the state the event names. The
entry goes to ``ry:notify``; the webhooks consumer (``jobs/webhooks.py``) reads it
through its own consumer group and makes one delivery per matching webhook, keyed by
the entry id, so a receiver sees that id on every retry of the event (its dedup key).

Call it in the same ``MULTI`` (or ``Pipeline``) as the state change, so the event is
recorded exactly when the change is: a handler that runs twice (at-least-once events)
and finds the change already made must not emit again. ``task.*`` events are not
emitted here; the webhooks consumer reads them from ``ry:events``.
"""

import json
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.typing import EncodableT, FieldT

from runyard.models import EVENT_KINDS
from runyard_server.store import keys

KINDS = tuple(kind for kind in EVENT_KINDS if not kind.startswith("task."))
"""What :func:`emit` takes (``task.*`` come from ``ry:events``)."""

MAX_ENTRIES = 100_000
"""``ry:notify`` is trimmed to about this many entries (weeks of sweeps and pipelines;
the webhooks consumer reads an entry within a second of its append)."""


async def emit(
    r: "aioredis.Redis | Pipeline | ClusterPipeline", kind: str, payload: dict[str, Any]
) -> str | None:
    """Record event ``kind`` with ``payload`` (JSON: the object's ``id``, its
    ``project`` when it has one, which webhooks filter on, and what a receiver should
    see, e.g. ``status``, ``best``). Returns the event id, or None when ``r`` is a
    pipeline (the id comes with its ``execute``). ValueError for an unknown ``kind``."""
    reply = r.xadd(keys.NOTIFY, _fields(kind, payload), maxlen=MAX_ENTRIES, approximate=True)
    if isinstance(reply, Pipeline | ClusterPipeline):
        # Queued. Not awaited: awaiting a cluster pipeline initializes it, which drops
        # every command queued so far (the caller's state change with this event).
        return None
    return str(await reply)


def queue_event(pipe: "Pipeline | ClusterPipeline", kind: str, payload: dict[str, Any]) -> None:
    """:func:`emit` on a ``MULTI`` a caller builds without awaiting (a store's writes
    function)."""
    pipe.xadd(keys.NOTIFY, _fields(kind, payload), maxlen=MAX_ENTRIES, approximate=True)


def _fields(kind: str, payload: dict[str, Any]) -> dict[FieldT, EncodableT]:
    if kind not in KINDS:
        raise ValueError(f"unknown event {kind!r}; expected one of {', '.join(KINDS)}")
    return {"kind": kind, "payload": json.dumps(payload)}
