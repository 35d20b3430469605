"""Triggers: when a task ends a certain way, clone a task and enqueue the clone
(``jobs/triggers.py`` fires them)."""

import time

from fastapi import APIRouter, Response

from runyard.models import Trigger, TriggerCreate
from runyard_server.api.deps import PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.api.routes.run_targets import authorize_change, checked_target
from runyard_server.permissions import authorize
from runyard_server.store import triggers

router = APIRouter(prefix="/triggers", tags=["triggers"], route_class=FiniteJSONRoute)


@router.post("", status_code=201)
async def create_trigger(body: TriggerCreate, r: RedisDep, who: PrincipalDep) -> Trigger:
    """Checks the target as a schedule's; watching a project needs member rights there,
    and watching every project (neither ``watch_project`` nor ``watch_tag``) an admin."""
    who.require("user")
    project = await checked_target(r, who, body)
    if body.watch_project is None and body.watch_tag is None:
        await authorize(r, who, "admin", None)
    elif body.watch_project is not None:
        await authorize(r, who, "create", body.watch_project)
    return await triggers.create_trigger(r, body, project, who.owner, time.time())


@router.get("")
async def list_triggers(r: RedisDep, who: PrincipalDep) -> list[Trigger]:
    who.require("user")
    return await triggers.list_triggers(r)


@router.get("/{trigger_id}")
async def get_trigger(trigger_id: str, r: RedisDep, who: PrincipalDep) -> Trigger:
    who.require("user")
    return await triggers.get_trigger(r, trigger_id)


@router.post("/{trigger_id}/pause")
async def pause_trigger(trigger_id: str, r: RedisDep, who: PrincipalDep) -> Trigger:
    who.require("user")
    await authorize_change(r, who, triggers.KIND, trigger_id)
    return await triggers.set_paused(r, trigger_id, True)


@router.post("/{trigger_id}/resume")
async def resume_trigger(trigger_id: str, r: RedisDep, who: PrincipalDep) -> Trigger:
    who.require("user")
    await authorize_change(r, who, triggers.KIND, trigger_id)
    return await triggers.set_paused(r, trigger_id, False)


@router.delete("/{trigger_id}", status_code=204)
async def delete_trigger(trigger_id: str, r: RedisDep, who: PrincipalDep) -> Response:
    who.require("user")
    await authorize_change(r, who, triggers.KIND, trigger_id)
    await triggers.delete_trigger(r, trigger_id)
    return Response(status_code=204)
