"""Webhooks in the jobs process: fan-out of events to deliveries, and the sender.

Fan-out: two consumer groups named ``webhooks``, one on ``ry:events`` (a task that
ended is ``task.completed``/``failed``/``aborted``) and one on ``ry:notify`` (what the
sweep and pipeline controllers emit, ``store/notify.py``). For each event, one
delivery per webhook that asked for it (``store/deliveries.add``, once per event and
webhook), with the body fixed then, so every retry sends the same bytes under the same
event id. These groups only write records, so a receiver that hangs or fails holds no
other consumer and no other webhook.

Sender: as soon as the fan-out made deliveries, and every ``TICK_S``, it claims the due
deliveries (a lease per delivery, so two jobs processes never send one attempt together)
and sends each in its own asyncio task, at most ``CONCURRENCY`` at once, with the
HMAC-SHA256 of the body under the webhook's secret in ``X-Runyard-Signature``. A 2xx is
delivered; anything else (an error, a timeout, a refused address) is retried with
doubling delays until ``give_up_s`` after the event, then the delivery is failed. Before
each attempt the URL's address is checked again and the request goes to that address
(``webhook_urls.py``).
"""

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runyard.models import Task, Webhook
from runyard_server.config import Settings
from runyard_server.errors import Invalid, NotFound
from runyard_server.jobs.events import Event
from runyard_server.store import deliveries, get_task, webhooks
from runyard_server.webhook_urls import resolve

log = logging.getLogger("runyard_server.jobs.webhooks")

GROUP = "webhooks"
TICK_S = 0.2
"""How often the sender looks for due deliveries."""
CONCURRENCY = 32
"""Deliveries in flight at once per jobs process."""
ENDED = {"completed", "failed", "aborted"}


def task_data(task: Task) -> dict[str, Any]:
    """What a ``task.*`` event says about the task."""
    return task.model_dump(
        mode="json",
        include={
            "id", "name", "project", "status", "queue", "tags", "owner", "parent",
            "origin", "exit_code", "failure_reason", "created", "started", "finished",
        },
    )  # fmt: skip


def body_of(webhook: Webhook, event_id: str, kind: str, at: float, data: dict[str, Any]) -> str:
    """The JSON a webhook receives: ``{id, event, at, data}``, or with ``format`` slack
    a message Slack's incoming webhooks take (``{"text": ...}``)."""
    if webhook.format == "slack":
        name = data.get("name") or data.get("id", "")
        where = f" in {data['project']}" if data.get("project") else ""
        why = f": {data['failure_reason']}" if data.get("failure_reason") else ""
        return json.dumps({"text": f"Runyard {kind}: {name}{where}{why} (event {event_id})"})
    when = datetime.fromtimestamp(at, tz=UTC).isoformat()
    return json.dumps({"id": event_id, "event": kind, "at": when, "data": data})


def signature(secret: str, body: bytes) -> str:
    """``X-Runyard-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def fan_out(
    r: "aioredis.Redis", event_id: str, kind: str, project: str | None, data: dict[str, Any]
) -> int:
    """Add the event's delivery to every webhook that asked for it; how many were new."""
    at = int(event_id.split("-")[1]) / 1000
    added = 0
    for webhook, _ in await webhooks.subscribed(r, kind, project):
        body = body_of(webhook, event_id, kind, at, data)
        added += await deliveries.add(r, webhook.id, event_id, kind, body, time.time())
    return added


class FanOut:
    """The handlers of the two ``webhooks`` groups; ``added`` runs after an event made
    deliveries (the sender's ``step``, so they go out now rather than at its next tick)."""

    def __init__(self, r: "aioredis.Redis", added: Callable[[], Awaitable[None]]) -> None:
        self.r, self.added = r, added

    async def _fan_out(
        self, event_id: str, kind: str, project: str | None, data: dict[str, Any]
    ) -> None:
        if await fan_out(self.r, event_id, kind, project, data):
            await self.added()

    async def on_task_event(self, event: Event) -> None:
        if event.to not in ENDED:
            return
        try:
            task = await get_task(self.r, event.task)
        except NotFound:
            return  # deleted since
        await self._fan_out(f"t-{event.id}", f"task.{event.to}", task.project, task_data(task))

    async def on_notification(self, entry: tuple[str, dict[str, str]]) -> None:
        entry_id, fields = entry
        data = json.loads(fields["payload"])
        await self._fan_out(f"n-{entry_id}", fields["kind"], data.get("project"), data)


def notification(entry_id: str, fields: dict[str, str]) -> tuple[str, dict[str, str]]:
    """How the ``ry:notify`` consumer passes an entry on: as it is."""
    return entry_id, fields


class Sender:
    """Sends due deliveries (see the module's docstring)."""

    def __init__(self, r: "aioredis.Redis", settings: Settings) -> None:
        self.r, self.settings = r, settings
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False)
        self.running: set[asyncio.Task[None]] = set()

    async def step(self) -> None:
        """Start sending what is due, as far as free slots allow."""
        free = CONCURRENCY - len(self.running)
        if free <= 0:
            return
        lease_s = self.settings.webhook_timeout_s + 30
        for found_id in await deliveries.claim(self.r, time.time(), lease_s, free):
            sending = asyncio.create_task(self.send(found_id))
            self.running.add(sending)
            sending.add_done_callback(self.running.discard)

    async def close(self) -> None:
        for sending in list(self.running):
            sending.cancel()
        await self.http.aclose()

    async def send(self, found_id: str) -> None:
        """One attempt of one delivery, and its record."""
        try:
            h = await deliveries.load(self.r, found_id)
            if h.get("status") != "pending":
                return
            found = await webhooks.secret_of(self.r, h["webhook"])
            code: int | None = None
            error: str | None = "the webhook was deleted"
            retry_at: float | None = None
            if found is not None:
                code, error = await self._post(h, *found)
                delay = deliveries.next_delay(int(h["attempts"]) + 1, self.settings.webhook_retry_s)
                retry_at = time.time() + delay
                if retry_at - float(h["created"]) > self.settings.webhook_give_up_s:
                    retry_at = None  # a day of retries: it failed
            await deliveries.record_attempt(
                self.r, found_id, time.time(), code=code, error=error, retry_at=retry_at
            )
        except RedisError:
            # Left claimed: it is due again when its lease ends.
            log.exception("webhook delivery %s: recording the attempt failed", found_id)

    async def _post(
        self, h: dict[str, str], webhook: Webhook, secret: str
    ) -> tuple[int | None, str | None]:
        """The receiver's status code (and its answer when not a 2xx), or why there is
        none."""
        try:
            target = await resolve(webhook.url, self.settings.webhook_allow_private)
        except Invalid as error:
            return None, error.detail
        body = h["body"].encode()
        url = httpx.URL(webhook.url)
        headers = {
            "Host": url.netloc.decode(),
            "Content-Type": "application/json",
            "User-Agent": "runyard-webhooks",
            "X-Runyard-Event": h["event"],
            "X-Runyard-Event-Id": h["event_id"],
            "X-Runyard-Delivery": f"{h['webhook']}-{h['event_id']}",
            "X-Runyard-Signature": signature(secret, body),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            reply = await self.http.post(
                url.copy_with(host=target.address),
                content=body,
                headers=headers,
                extensions=extensions,
            )
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"
        return reply.status_code, None if reply.is_success else reply.text[:200]
