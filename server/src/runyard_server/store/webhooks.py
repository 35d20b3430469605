"""Webhook records (``store/automation.py``): the create body, the owner and the secret
each delivery is signed with (kept in Redis: signing needs it, unlike a token, which
is stored only as its hash)."""

import secrets
from typing import cast

import redis.asyncio as aioredis

from runyard.models import Webhook, WebhookCreate, WebhookCreated
from runyard_server.store import automation, keys

KIND = "webhook"


def webhook_of(webhook_id: str, h: automation.Fields) -> Webhook:
    """The wire form of a stored webhook (without its secret)."""
    spec = WebhookCreate.model_validate_json(h["spec"])
    created = automation.at(h["created"])
    return Webhook(**spec.model_dump(), id=webhook_id, owner=h.get("owner"), created=created)


async def create_webhook(
    r: "aioredis.Redis", body: WebhookCreate, owner: str | None, now: float
) -> WebhookCreated:
    """Store a webhook with a fresh secret, which only this answer shows."""
    webhook_id, secret = automation.new_id(), secrets.token_urlsafe(32)
    fields = {"spec": body.model_dump_json(), "secret": secret}
    if body.project is not None:
        fields["project"] = body.project
    if owner is not None:
        fields["owner"] = owner
    await automation.save(r, KIND, webhook_id, fields, now)
    shown = webhook_of(webhook_id, {**fields, "created": repr(now)})
    return WebhookCreated(**shown.model_dump(), secret=secret)


async def get_webhook(r: "aioredis.Redis", webhook_id: str) -> Webhook:
    return webhook_of(webhook_id, await automation.load(r, KIND, webhook_id))


async def list_webhooks(r: "aioredis.Redis") -> list[Webhook]:
    return [webhook_of(i, h) for i, h in await automation.load_all(r, KIND)]


async def delete_webhook(r: "aioredis.Redis", webhook_id: str) -> None:
    """Delete the webhook; its pending deliveries fail at their next attempt."""
    await automation.remove(r, KIND, webhook_id)
    await r.delete(keys.webhook_deliveries(webhook_id))


async def subscribed(
    r: "aioredis.Redis", kind: str, project: str | None
) -> list[tuple[Webhook, str]]:
    """The webhooks that asked for event ``kind`` of ``project``, with their secrets."""
    found = []
    for webhook_id, h in await automation.load_all(r, KIND):
        webhook = webhook_of(webhook_id, h)
        if kind in webhook.events and webhook.project in (None, project):
            found.append((webhook, h["secret"]))
    return found


async def secret_of(r: "aioredis.Redis", webhook_id: str) -> tuple[Webhook, str] | None:
    """The webhook and its secret; None when it was deleted."""
    h = cast(automation.Fields, await r.hgetall(keys.automation(KIND, webhook_id)))
    return (webhook_of(webhook_id, h), h["secret"]) if h else None
