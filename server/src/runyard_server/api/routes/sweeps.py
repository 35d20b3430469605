"""Sweeps: create (checked against the base task), read, trials, curves, log, stop,
resume and clone the best. The controller in the jobs process does the rest."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from runyard.models import (
    CloneBestRequest,
    CloneRequest,
    OverrideError,
    Sweep,
    SweepCreate,
    SweepCurves,
    SweepEvents,
    SweepPage,
    SweepStatus,
    SweepStop,
    SweepTrials,
    Task,
    TrialStatus,
    checked_overrides,
)
from runyard.models.limits import MAX_PAGE
from runyard_server import store
from runyard_server.api.deps import HistoryDep, PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.auth import Principal
from runyard_server.errors import Conflict, Invalid, NotFound
from runyard_server.jobs.controllers import locked
from runyard_server.jobs.events import Busy
from runyard_server.permissions import authorize
from runyard_server.store import keys
from runyard_server.store.sweep_trials import abort_live, curve_of, read_trials, trials_page
from runyard_server.store.sweeps import (
    KIND,
    create_sweep,
    end_sweep,
    get_sweep,
    list_sweeps,
    read_log,
    resume_sweep,
)

router = APIRouter(prefix="/sweeps", tags=["sweeps"], route_class=FiniteJSONRoute)


def _check_params(body: SweepCreate, recorded: dict[str, Any]) -> None:
    """Every searched param exists in the base and takes each kind of value its
    distribution gives (the ends of a range, each choice); else a 422 naming it."""
    for path, dist in body.space().items():
        samples: list[Any] = dist.choices if dist.kind == "choice" else [dist.low, dist.high]
        if dist.kind == "int":
            samples = [int(v) for v in samples]
        for sample in samples:
            try:
                checked_overrides(recorded, {path: sample}, {})
            except OverrideError as error:
                raise Invalid(f"param {path!r} ({body.params[path]}): {error}") from None


@router.post("", status_code=201)
async def create(body: SweepCreate, r: RedisDep, who: PrincipalDep) -> Sweep:
    """Start a sweep of clones of ``base``; trials are owned by the caller."""
    who.require("user")
    base = await store.get_task(r, body.base)
    await authorize(r, who, "create", base.project, queue=body.queue)
    if not await r.sismember(keys.QUEUES, body.queue):
        raise NotFound(f"queue {body.queue} does not exist; create it first")
    missing = base.script.missing_code()
    if missing:
        raise Invalid(f"base task {base.id}: {missing}; a sweep cannot queue its clones")
    _check_params(body, base.params)
    name = body.name or f"sweep of {base.name}"
    return await create_sweep(
        r, body, name=name, project=base.project, owner=who.owner, now=time.time()
    )


@router.get("")
async def list_all(
    r: RedisDep,
    who: PrincipalDep,
    project: str | None = None,
    status: SweepStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> SweepPage:
    """Newest first."""
    who.require("user")
    return await list_sweeps(r, project=project, status=status, limit=limit, cursor=cursor)


@router.get("/{sweep_id}")
async def get(sweep_id: str, r: RedisDep, who: PrincipalDep) -> Sweep:
    who.require("user")
    return await get_sweep(r, sweep_id)


@router.get("/{sweep_id}/trials")
async def trials(sweep_id: str, r: RedisDep, who: PrincipalDep) -> SweepTrials:
    """Every trial by number, with its params, status, objective and step reached."""
    who.require("user")
    return SweepTrials(trials=await trials_page(r, sweep_id))


@router.get("/{sweep_id}/curves")
async def curves(sweep_id: str, r: RedisDep, who: PrincipalDep, history: HistoryDep) -> SweepCurves:
    """Each trial's objective by step: a trial in flight as logged so far."""
    who.require("user")
    sweep = await get_sweep(r, sweep_id)
    found = []
    for record in await read_trials(r, sweep_id):
        points = [(int(step), float(value)) for step, value in record.get("curve") or []]
        if not TrialStatus(record["status"]).is_final and record.get("task_id"):
            metrics = await store.read_metrics(r, history, record["task_id"])
            series = metrics.series.get(sweep.objective, [])
            points = [(p.step, p.value) for p in series if p.step is not None]
        found.append(curve_of(record, points))
    return SweepCurves(objective=sweep.objective, curves=found)


@router.get("/{sweep_id}/events")
async def events(sweep_id: str, r: RedisDep, who: PrincipalDep) -> SweepEvents:
    """What the controller did and why, oldest first."""
    who.require("user")
    return SweepEvents(events=await read_log(r, sweep_id))


async def _changeable(r: RedisDep, who: Principal, sweep_id: str) -> Sweep:
    who.require("user")
    sweep = await get_sweep(r, sweep_id)
    await authorize(r, who, "change", sweep.project, owner=sweep.owner)
    return sweep


@router.post("/{sweep_id}/stop")
async def stop(sweep_id: str, body: SweepStop, r: RedisDep, who: PrincipalDep) -> Sweep:
    """No new trials; the trials in flight are aborted (they do not count: a resume
    runs others in their place)."""
    await _changeable(r, who, sweep_id)
    now = time.time()
    reason = body.reason or f"stopped by {who.user or 'a user'}"
    ended = False

    async def act() -> None:
        nonlocal ended
        ended = await end_sweep(r, sweep_id, SweepStatus.STOPPED, reason, now)
        if ended:
            await abort_live(r, sweep_id, now)

    # Under the sweep's lock, so no trial the controller is spawning escapes the stop.
    try:
        await locked(r, KIND, sweep_id, act)
    except Busy:
        raise Conflict(f"sweep {sweep_id} is busy with its controller; retry") from None
    if not ended:
        raise Conflict(f"sweep {sweep_id} is not running")
    return await get_sweep(r, sweep_id)


@router.post("/{sweep_id}/resume")
async def resume(sweep_id: str, r: RedisDep, who: PrincipalDep) -> Sweep:
    """A stopped or failed sweep runs on toward its trials (``max_time_s`` counts afresh)."""
    await _changeable(r, who, sweep_id)
    return await resume_sweep(r, sweep_id, time.time())


@router.post("/{sweep_id}/clone-best", status_code=201)
async def clone_best(sweep_id: str, body: CloneBestRequest, r: RedisDep, who: PrincipalDep) -> Task:
    """A normal clone of the best trial's task (enqueued when ``queue`` is given)."""
    who.require("user")
    sweep = await get_sweep(r, sweep_id)
    if sweep.best is None:
        raise Conflict(f"sweep {sweep_id} has no completed trial yet")
    await authorize(r, who, "create", sweep.project, queue=body.queue)
    name = body.name or f"best of {sweep.name} (trial {sweep.best.number})"
    clone = CloneRequest(name=name, queue=body.queue, priority=body.priority)
    return await store.clone_task(
        r, sweep.best.task_id, clone, time.time(), require_code=True, owner=who.owner
    )
