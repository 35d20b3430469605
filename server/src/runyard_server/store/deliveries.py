"""Webhook deliveries: one record per (webhook, event), its attempts, and the due set
senders take the next attempts from.

A delivery is made once per event and webhook (its id is theirs, and the create is a
``WATCH``/``MULTI`` that leaves an existing one alone), so an event the fan-out runs
twice is sent once more only if the first send is not known to have succeeded: at
least once, with the event id for the receiver to dedupe on. A sender claims a due
delivery by moving its score ``lease_s`` ahead in the same ``MULTI`` that read it, so
two jobs processes never send one attempt together, and one killed mid-send leaves
the delivery due again after the lease.
"""

import random
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from runyard.models import WebhookDelivery
from runyard_server.store import automation, keys

KEEP_S = 7 * 86400
"""How long a finished delivery stays in the log."""
LOG_SIZE = 1000
"""Deliveries each webhook's log keeps (the newest)."""
MAX_DELAY_S = 3600.0
"""The longest wait between two attempts."""

Fields = dict[str, str]


def delivery_id(webhook_id: str, event_id: str) -> str:
    return f"{webhook_id}-{event_id}"


def delivery_of(found_id: str, h: Fields) -> WebhookDelivery:
    """The wire form of a stored delivery."""
    code = h.get("response_code")
    pending = h["status"] == "pending"
    return WebhookDelivery(
        id=found_id,
        webhook=h["webhook"],
        event_id=h["event_id"],
        event=h["event"],
        status=h["status"],
        attempts=int(h.get("attempts", 0)),
        created=automation.at(h["created"]),
        last_attempt=automation.time_of(h.get("last_attempt")),
        next_attempt=automation.time_of(h.get("next_attempt") if pending else None),
        response_code=int(code) if code else None,
        error=h.get("error"),
    )


async def add(
    r: "aioredis.Redis", webhook_id: str, event_id: str, kind: str, body: str, now: float
) -> bool:
    """Record the delivery of event ``event_id`` to the webhook, due now, unless it
    exists; whether it was added."""
    found_id = delivery_id(webhook_id, event_id)
    record = keys.delivery(found_id)
    log = keys.webhook_deliveries(webhook_id)
    fields = {
        "webhook": webhook_id,
        "event_id": event_id,
        "event": kind,
        "body": body,
        "status": "pending",
        "attempts": "0",
        "created": repr(now),
        "next_attempt": repr(now),
    }
    async with r.pipeline(transaction=True) as pipe:
        try:
            # Reads go through the client: a cluster pipeline may queue them after WATCH.
            await pipe.watch(record)
            if await r.exists(record):
                return False
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.hset(record, mapping=dict(fields.items()))
            pipe.zadd(keys.DELIVERIES_DUE, {found_id: now})
            pipe.zadd(log, {found_id: now})
            pipe.zremrangebyrank(log, 0, -LOG_SIZE - 1)
            await pipe.execute()
        except WatchError:
            return False  # another fan-out of the same event added it just now
    return True


async def claim(r: "aioredis.Redis", now: float, lease_s: float, limit: int) -> list[str]:
    """Up to ``limit`` deliveries whose next attempt is due, each now held for
    ``lease_s`` (no other sender takes it until then)."""
    async with r.pipeline(transaction=True) as pipe:
        try:
            # Reads go through the client: a cluster pipeline may queue them after WATCH.
            await pipe.watch(keys.DELIVERIES_DUE)
            ids = cast(list[str], await r.zrangebyscore(keys.DELIVERIES_DUE, "-inf", now, 0, limit))
            if not ids:
                return []
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.zadd(keys.DELIVERIES_DUE, dict.fromkeys(ids, now + lease_s))
            await pipe.execute()
        except WatchError:
            return []  # another sender claimed meanwhile; the next tick tries again
    return ids


async def load(r: "aioredis.Redis", found_id: str) -> Fields:
    return cast(Fields, await r.hgetall(keys.delivery(found_id)))


def next_delay(attempts: int, base_s: float) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from ``base_s`` up to an hour,
    each between half and all of that (so receivers back up do not get every retry at
    once when they return)."""
    delay = min(base_s * 2 ** (attempts - 1), MAX_DELAY_S)
    return float(delay / 2 + random.uniform(0, delay / 2))


async def record_attempt(
    r: "aioredis.Redis",
    found_id: str,
    now: float,
    *,
    code: int | None,
    error: str | None,
    retry_at: float | None,
) -> None:
    """Record one attempt: delivered (a 2xx ``code``), due again at ``retry_at``, or
    failed for good (neither)."""
    record = keys.delivery(found_id)
    delivered = code is not None and 200 <= code < 300
    status = "delivered" if delivered else "pending" if retry_at is not None else "failed"
    fields = {"status": status, "last_attempt": repr(now)}
    if code is not None:
        fields["response_code"] = str(code)
    async with r.pipeline(transaction=True) as pipe:
        pipe.hincrby(record, "attempts", 1)
        pipe.hset(record, mapping=dict(fields.items()))
        if error is None:
            pipe.hdel(record, "error")
        else:
            pipe.hset(record, "error", error[:500])
        if status == "pending":
            pipe.hset(record, "next_attempt", repr(retry_at))
            pipe.zadd(keys.DELIVERIES_DUE, {found_id: cast(float, retry_at)})
        else:
            pipe.zrem(keys.DELIVERIES_DUE, found_id)
            pipe.expire(record, KEEP_S)
        await pipe.execute()


async def list_deliveries(
    r: "aioredis.Redis", webhook_id: str, limit: int
) -> list[WebhookDelivery]:
    """The webhook's newest ``limit`` deliveries, newest first."""
    ids = cast(list[str], await r.zrevrange(keys.webhook_deliveries(webhook_id), 0, limit - 1))
    async with r.pipeline(transaction=False) as pipe:
        for found_id in ids:
            pipe.hgetall(keys.delivery(found_id))
        hashes = cast(list[Fields], await pipe.execute())
    return [delivery_of(i, h) for i, h in zip(ids, hashes, strict=True) if h]
