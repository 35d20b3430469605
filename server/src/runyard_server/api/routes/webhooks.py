"""Webhooks: a signed JSON POST per event to a URL, and each webhook's delivery log.

A webhook shows its URL (which may hold a receiver's token, as Slack's do), so reading
one, like changing it, is for its owner, a maintainer of its project or an admin; a
webhook of every project is an admin's.
"""

import time
from typing import Annotated

from fastapi import APIRouter, Query, Response

from runyard.models import Webhook, WebhookCreate, WebhookCreated, WebhookDelivery
from runyard_server.api.deps import PrincipalDep, RedisDep, SettingsDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.api.routes.run_targets import authorize_change
from runyard_server.errors import Forbidden
from runyard_server.permissions import authorize
from runyard_server.store import deliveries, webhooks
from runyard_server.webhook_urls import resolve

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=FiniteJSONRoute)


@router.post("", status_code=201)
async def create_webhook(
    body: WebhookCreate, r: RedisDep, who: PrincipalDep, settings: SettingsDep
) -> WebhookCreated:
    """The answer holds the signing secret, shown this once. Refused (422, naming the
    address) for a URL that is not http(s) or whose host resolves to a loopback,
    link-local or private address, unless the server runs with
    ``--webhook-allow-private``."""
    who.require("user")
    await authorize(r, who, "create" if body.project else "admin", body.project)
    await resolve(body.url, settings.webhook_allow_private)
    return await webhooks.create_webhook(r, body, who.owner, time.time())


@router.get("")
async def list_webhooks(r: RedisDep, who: PrincipalDep) -> list[Webhook]:
    """The webhooks the caller may read (all of them, for an admin), oldest first."""
    who.require("user")
    shown = []
    for webhook in await webhooks.list_webhooks(r):
        try:
            await authorize_change(r, who, webhooks.KIND, webhook.id)
        except Forbidden:
            continue
        shown.append(webhook)
    return shown


@router.get("/{webhook_id}")
async def get_webhook(webhook_id: str, r: RedisDep, who: PrincipalDep) -> Webhook:
    who.require("user")
    await authorize_change(r, who, webhooks.KIND, webhook_id)
    return await webhooks.get_webhook(r, webhook_id)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, r: RedisDep, who: PrincipalDep) -> Response:
    who.require("user")
    await authorize_change(r, who, webhooks.KIND, webhook_id)
    await webhooks.delete_webhook(r, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries")
async def list_deliveries(
    webhook_id: str,
    r: RedisDep,
    who: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[WebhookDelivery]:
    """The webhook's newest deliveries first: each event's status, attempts, last
    response code or error, and next attempt."""
    who.require("user")
    await authorize_change(r, who, webhooks.KIND, webhook_id)
    return await deliveries.list_deliveries(r, webhook_id, limit)
