"""Queues: list with depth and oldest wait, create, inspect in claim order, change the
settings (limits, preemptible, who may use it: admins only), reorder, delete (admins)."""

import time
from typing import Annotated

from fastapi import APIRouter, Query, Response

from runyard.models import MoveRequest, Queue, QueueCreate, QueueDetail, QueueUpdate
from runyard_server import store
from runyard_server.api.deps import PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.permissions import authorize, authorize_task

router = APIRouter(prefix="/queues", tags=["queues"], route_class=FiniteJSONRoute)


@router.get("")
async def list_queues(r: RedisDep, who: PrincipalDep) -> list[Queue]:
    who.require("user")
    return await store.list_queues(r, time.time())


@router.post("", status_code=201)
async def create_queue(body: QueueCreate, r: RedisDep, who: PrincipalDep) -> Queue:
    who.require("user")
    return await store.create_queue(r, body.name)


@router.get("/{name}")
async def get_queue(
    name: str,
    r: RedisDep,
    who: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[
        int, Query(ge=0, le=2**31, description="place of the first entry (0: next)")
    ] = 0,
) -> QueueDetail:
    who.require("user")
    return await store.get_queue(r, name, time.time(), limit, offset)


@router.patch("/{name}")
async def update_queue(name: str, body: QueueUpdate, r: RedisDep, who: PrincipalDep) -> Queue:
    who.require("user")
    await authorize(r, who, "admin", None)
    return await store.set_queue(r, name, body, time.time())


@router.delete("/{name}", status_code=204)
async def delete_queue(name: str, r: RedisDep, who: PrincipalDep) -> Response:
    who.require("user")
    await authorize(r, who, "admin", None)
    await store.delete_queue(r, name)
    return Response(status_code=204)


@router.post("/{name}/move")
async def move_task(name: str, body: MoveRequest, r: RedisDep, who: PrincipalDep) -> QueueDetail:
    who.require("user")
    await authorize_task(r, who, "change", body.task_id)
    return await store.move(r, name, body.task_id, body.to, time.time())
