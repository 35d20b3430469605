"""Schedules: clone a task and enqueue the clone on a cron, in a time zone
(``jobs/schedules.py`` starts the runs)."""

import time

from fastapi import APIRouter, Response

from runyard.models import Schedule, ScheduleCreate
from runyard_server.api.deps import PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.api.routes.run_targets import authorize_change, checked_target
from runyard_server.store import schedules

router = APIRouter(prefix="/schedules", tags=["schedules"], route_class=FiniteJSONRoute)


@router.post("", status_code=201)
async def create_schedule(body: ScheduleCreate, r: RedisDep, who: PrincipalDep) -> Schedule:
    """A running schedule; its first run is the first cron time from now. Refused when
    the caller may not make tasks in the task's project on the queue, the queue does
    not exist, the task has no code, or the cron or zone does not parse (each named)."""
    who.require("user")
    project = await checked_target(r, who, body)
    return await schedules.create_schedule(r, body, project, who.owner, time.time())


@router.get("")
async def list_schedules(r: RedisDep, who: PrincipalDep) -> list[Schedule]:
    """Every schedule, oldest first, with its next run times."""
    who.require("user")
    return await schedules.list_schedules(r)


@router.get("/{schedule_id}")
async def get_schedule(schedule_id: str, r: RedisDep, who: PrincipalDep) -> Schedule:
    who.require("user")
    return await schedules.get_schedule(r, schedule_id)


@router.post("/{schedule_id}/pause")
async def pause_schedule(schedule_id: str, r: RedisDep, who: PrincipalDep) -> Schedule:
    """Start no run until resumed."""
    who.require("user")
    await authorize_change(r, who, schedules.KIND, schedule_id)
    return await schedules.set_paused(r, schedule_id, True, time.time())


@router.post("/{schedule_id}/resume")
async def resume_schedule(schedule_id: str, r: RedisDep, who: PrincipalDep) -> Schedule:
    """Run again from the next cron time (runs missed while paused are not made up)."""
    who.require("user")
    await authorize_change(r, who, schedules.KIND, schedule_id)
    return await schedules.set_paused(r, schedule_id, False, time.time())


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, r: RedisDep, who: PrincipalDep) -> Response:
    who.require("user")
    await authorize_change(r, who, schedules.KIND, schedule_id)
    await schedules.delete_schedule(r, schedule_id)
    return Response(status_code=204)
